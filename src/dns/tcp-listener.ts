/**
 * DNS over TCP on the server's address (RFC 1035 §4.2.2, RFC 7766): where a client asks again when
 * a UDP answer came back truncated. Each message is preceded by its 16-bit length; a connection may
 * carry several queries, answered as they complete.
 *
 * Bounded like the UDP side: at most `maxConnections` at once (the kernel's backlog holds the rest
 * briefly, then they are refused), a connection idle for `idleTimeoutMs` is closed (RFC 7766 §6.2.3
 * suggests seconds), and a connection buffers at most one message (64 KiB) before it is handled.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Transport } from './responses';

/** What the server does with one message: answer through `reply` (now, later or never). */
export type MessageHandler = (message: Buffer, transport: Transport, reply: (response: Buffer) => void) => void;

export interface TcpListenerOptions {
  address: string;
  port: number;
  maxConnections: number;
  idleTimeoutMs: number;
}

const LENGTH_LEN = 2;

export class TcpListener {
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server) {}

  /** Listen on `address`:`port`; rejects with the system's error (EADDRINUSE, EADDRNOTAVAIL). */
  static async listen(options: TcpListenerOptions, handle: MessageHandler): Promise<TcpListener> {
    const server = createServer({ pauseOnConnect: false });
    server.maxConnections = options.maxConnections;
    const listener = new TcpListener(server);
    server.on('connection', (socket) => listener.serve(socket, options.idleTimeoutMs, handle));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: options.address, port: options.port, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // After listening, an error (EMFILE on accept) must not crash the process.
    server.on('error', () => {});
    return listener;
  }

  private serve(socket: Socket, idleTimeoutMs: number, handle: MessageHandler): void {
    this.sockets.add(socket);
    socket.setTimeout(idleTimeoutMs, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.sockets.delete(socket));
    let buffered = Buffer.alloc(0);
    const reply = (response: Buffer) => {
      if (socket.destroyed || !socket.writable) return;
      const prefix = Buffer.alloc(LENGTH_LEN);
      prefix.writeUInt16BE(response.length);
      socket.write(Buffer.concat([prefix, response]));
    };
    socket.on('data', (chunk) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      // Every complete message in what has arrived; a partial one waits (at most 2 + 65535 bytes).
      while (buffered.length >= LENGTH_LEN) {
        const length = buffered.readUInt16BE(0);
        if (buffered.length < LENGTH_LEN + length) break;
        const message = Buffer.from(buffered.subarray(LENGTH_LEN, LENGTH_LEN + length));
        buffered = buffered.subarray(LENGTH_LEN + length);
        handle(message, 'tcp', reply);
      }
    });
  }

  /** Stop listening and close every connection. */
  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
