// The "upstream resolver" of the Docker test hosts (test/helpers/docker-hosts.ts): a UDP server
// that answers every query at once with NXDOMAIN (the question echoed, no records).
//
// Why it is needed: Docker's embedded DNS (127.0.0.11 in a container on a user-defined network)
// forwards a name it does not know to the resolvers of the host's resolv.conf, and when none
// answers (nothing listening: ICMP port unreachable; or no route back) it sends the container
// nothing at all, so every lookup of a name not (yet) known waits out the client's ~5 s timeout.
// A test that polls for a name to appear, or looks up one that left, would measure that timeout.
//
//   node --import tsx test/helpers/dns-nxdomain.ts ADDRESS [PORT]     (prints "listening" when bound)
import { createSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import dnsPacket from 'dns-packet';
import type { DecodedPacket } from 'dns-packet';

const NXDOMAIN = 3;

/** The NXDOMAIN answer to `query`, or undefined when it is not a query we can read (then it is dropped). */
export function nxdomainFor(query: Buffer): Buffer | undefined {
  let decoded: DecodedPacket;
  try {
    decoded = dnsPacket.decode(query);
  } catch {
    return undefined;
  }
  if (decoded.type !== 'query') return undefined;
  return dnsPacket.encode({
    type: 'response',
    id: decoded.id,
    // RD copied from the query, RA set, the response code in the low four bits.
    flags: (decoded.flag_rd ? dnsPacket.RECURSION_DESIRED : 0) | dnsPacket.RECURSION_AVAILABLE | NXDOMAIN,
    questions: decoded.questions,
  });
}

/** Serve on `address:port` (UDP) until the process ends; resolves once bound. */
export function serveNxdomain(address: string, port = 53): Promise<() => void> {
  const socket = createSocket(address.includes(':') ? 'udp6' : 'udp4');
  socket.on('message', (message, peer) => {
    const answer = nxdomainFor(message);
    if (answer !== undefined) socket.send(answer, peer.port, peer.address);
  });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, address, () => resolve(() => socket.close()));
  });
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [address, port] = process.argv.slice(2);
  if (address === undefined) {
    console.error('usage: node --import tsx test/helpers/dns-nxdomain.ts ADDRESS [PORT]');
    process.exit(2);
  }
  // No top-level await: tests load this file as CommonJS (uvu -r tsx) for nxdomainFor.
  serveNxdomain(address, port === undefined ? 53 : Number(port)).then(
    () => {
      console.log('listening');
      for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => process.exit(0));
    },
    (error: Error) => {
      console.error(`dns-nxdomain: ${error.message}`);
      process.exit(1);
    },
  );
}
