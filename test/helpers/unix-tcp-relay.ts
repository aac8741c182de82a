// A relay from a unix socket to a TCP address, run inside a network namespace, so that a process
// outside it (a test, in the root namespace) reaches a server inside it (the Docker hosts' etcd,
// on the underlay's bridge): unix sockets are files, which every network namespace sees alike.
// test/helpers/docker-hosts.ts pairs it with a loopback TCP listener in the test's own process.
//
//   ip netns exec NS node --import tsx test/helpers/unix-tcp-relay.ts SOCKET HOST PORT   (prints "listening")
import { connect, createServer, type Server, type Socket } from 'node:net';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Pipe two sockets both ways; either one closing or failing ends both. */
export function splice(a: Socket, b: Socket): void {
  a.pipe(b);
  b.pipe(a);
  const end = () => {
    a.destroy();
    b.destroy();
  };
  a.on('error', end).on('close', end);
  b.on('error', end).on('close', end);
}

/** Listen on `listen` (a unix socket path, or a port on 127.0.0.1 when a number), relaying each connection to `target`. */
export function relay(listen: string | number, target: { path: string } | { host: string; port: number }): Promise<Server> {
  const server = createServer((client) => splice(client, connect(target)));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    if (typeof listen === 'number') server.listen(listen, '127.0.0.1', () => resolve(server));
    else server.listen(listen, () => resolve(server));
  });
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [socket, host, port] = process.argv.slice(2);
  if (port === undefined) {
    console.error('usage: node --import tsx test/helpers/unix-tcp-relay.ts SOCKET HOST PORT');
    process.exit(2);
  }
  rmSync(socket, { force: true });
  // No top-level await: a test may load this file as CommonJS (uvu -r tsx) for relay().
  relay(socket, { host, port: Number(port) }).then(
    () => {
      console.log('listening');
      for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => process.exit(0));
    },
    (error: Error) => {
      console.error(`unix-tcp-relay: ${error.message}`);
      process.exit(1);
    },
  );
}
