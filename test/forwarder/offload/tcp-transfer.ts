// One bounded TCP transfer for the offload tests, run inside a namespace: a server and a client,
// one of which sends `bytes` random bytes (fresh from the CSPRNG, so no pattern can hide a
// misplaced segment) while the other receives them; each prints the sha256 of what it sent or
// received, so the test compares the two. Argument: one JSON object (TransferConfig). Output:
// {"event":"listening"} (server), then {"event":"done","role":…,"bytes":…,"sha256":…}.
import { createHash, randomFillSync } from 'node:crypto';
import { createServer, connect, type Socket } from 'node:net';

export interface TransferConfig {
  role: 'server' | 'client';
  address: string;
  port: number;
  /** Bytes to send; the side with `send` sends, the other receives. */
  bytes: number;
  send: boolean;
}

const config = JSON.parse(process.argv[2] ?? '{}') as TransferConfig;
const print = (object: object) => process.stdout.write(`${JSON.stringify(object)}\n`);
const CHUNK = 1 << 20;

function sendAll(socket: Socket): void {
  const hash = createHash('sha256');
  let left = config.bytes;
  const pump = (): void => {
    while (left > 0) {
      const chunk = randomFillSync(Buffer.allocUnsafe(Math.min(CHUNK, left)));
      hash.update(chunk);
      left -= chunk.length;
      if (!socket.write(chunk)) {
        socket.once('drain', pump);
        return;
      }
    }
    socket.end(() => print({ event: 'done', role: config.role, bytes: config.bytes, sha256: hash.digest('hex') }));
  };
  pump();
}

function receiveAll(socket: Socket, done: () => void): void {
  const hash = createHash('sha256');
  let bytes = 0;
  socket.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    bytes += chunk.length;
  });
  socket.on('end', () => {
    print({ event: 'done', role: config.role, bytes, sha256: hash.digest('hex') });
    socket.end();
    done();
  });
}

const fail = (error: Error): never => {
  print({ event: 'error', message: error.message });
  process.exit(1);
};

if (config.role === 'server') {
  const server = createServer((socket) => {
    server.close();
    socket.on('error', fail);
    if (config.send) sendAll(socket);
    else receiveAll(socket, () => undefined);
  });
  server.on('error', fail);
  server.listen(config.port, config.address, () => print({ event: 'listening' }));
} else {
  const socket = connect(config.port, config.address, () => {
    if (config.send) sendAll(socket);
    else receiveAll(socket, () => undefined);
  });
  socket.on('error', fail);
}
