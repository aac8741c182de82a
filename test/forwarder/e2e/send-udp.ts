// A UDP sender for the end-to-end tests, run inside a test's namespace (`ip netns exec NS node
// --import tsx test/forwarder/e2e/send-udp.ts '<json>'`): sends given datagrams, or a bounded burst
// of garbage VXLAN (seeded, so a failure replays), from a bound address to a forwarder. Prints one
// JSON line: {"sent":n,"ms":t,"kinds":{…}}.
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { prng } from '../../helpers/random';

export interface SendConfig {
  /** Source address to bind (an address of this namespace), and port (default 0: any). */
  bind: string;
  bindPort?: number;
  to: string;
  toPort?: number;
  /** Datagrams (UDP payloads) as hex, each sent `repeat` times (default 1). */
  datagrams?: string[];
  repeat?: number;
  /** A burst of malformed and mutated VXLAN: at most `count` datagrams, for at most `seconds`. */
  garbage?: { count: number; seconds: number; seed: number; vni: number };
}

/** The kinds of garbage, in turn; the forwarder's drop reason for each is in the comment. */
export const GARBAGE_KINDS = [
  'short', //               < 8 bytes: TRUNCATED
  'noIFlag', //             flags without I: VXLAN_I_FLAG_MISSING
  'reserved', //            I plus reserved bits: VXLAN_RESERVED_BITS
  'otherVni', //            well formed, a VNI not served: UNKNOWN_VNI
  'innerShort', //          the VNI served, inner < 14 bytes: INNER_TOO_SHORT
  'innerMulticastSource', // inner source MAC multicast: INNER_SOURCE_MULTICAST
  'random', //              random bytes of random length: mostly I flag missing or reserved bits
  'randomInner', //         a valid header and random inner bytes (unicast source): forwarded, learned
] as const;

/** One garbage datagram of `kind` into `out`; returns its length. */
export function garbage(kind: (typeof GARBAGE_KINDS)[number], random: () => number, vni: number, out: Uint8Array): number {
  const byte = () => (random() * 256) | 0;
  const header = (flags: number, v: number) => {
    out[0] = flags;
    out[1] = 0;
    out[2] = 0;
    out[3] = 0;
    out[4] = (v >> 16) & 0xff;
    out[5] = (v >> 8) & 0xff;
    out[6] = v & 0xff;
    out[7] = 0;
  };
  const fill = (from: number, to: number) => {
    for (let i = from; i < to; i++) out[i] = byte();
  };
  switch (kind) {
    case 'short': {
      const length = (random() * 8) | 0;
      fill(0, length);
      return length;
    }
    case 'noIFlag': {
      header(byte() & ~0x08, vni);
      fill(8, 72);
      return 72;
    }
    case 'reserved': {
      header(0x08, vni);
      out[1 + ((random() * 3) | 0)] = byte() | 1;
      fill(8, 72);
      return 72;
    }
    case 'otherVni': {
      header(0x08, (vni + 1 + ((random() * 1000) | 0)) & 0xffffff);
      fill(8, 72);
      out[14] &= 0xfe;
      return 72;
    }
    case 'innerShort': {
      header(0x08, vni);
      const length = 8 + ((random() * 14) | 0);
      fill(8, length);
      return length;
    }
    case 'innerMulticastSource': {
      header(0x08, vni);
      fill(8, 72);
      out[8 + 6] |= 0x01;
      return 72;
    }
    case 'random': {
      const length = (random() * 1500) | 0;
      fill(0, length);
      return length;
    }
    case 'randomInner': {
      header(0x08, vni);
      const length = 8 + 14 + ((random() * 1400) | 0);
      fill(8, length);
      // A unicast, locally administered destination nobody has (the TAP's kernel drops it) and a
      // unicast source (learned: the FDB must stay bounded however many there are).
      out[8] = 0x02 | (out[8] & 0xfc);
      out[8 + 6] &= 0xfe;
      return length;
    }
    default:
      throw new Error(`unknown kind ${kind as string}`);
  }
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as SendConfig;
  const socket = createSocket({ type: config.to.includes(':') ? 'udp6' : 'udp4', sendBufferSize: 4 << 20 });
  socket.bind({ address: config.bind, port: config.bindPort ?? 0 });
  await once(socket, 'listening');
  const toPort = config.toPort ?? 4789;
  const started = performance.now();
  let sent = 0;
  let errors = 0;
  let pending = 0;
  let drained: (() => void) | undefined;
  const kinds: Record<string, number> = {};
  // dgram sends are asynchronous: yield to the event loop every few hundred so they drain.
  const send = async (bytes: Uint8Array) => {
    pending++;
    socket.send(bytes, toPort, config.to, (error) => {
      if (error) errors++;
      if (--pending === 0) drained?.();
    });
    sent++;
    // Bounded memory: never more than a few thousand sends in flight.
    if (pending >= 4096) await new Promise<void>((resolve) => { drained = resolve; });
    else if (sent % 256 === 0) await new Promise((resolve) => setImmediate(resolve));
  };
  for (const hex of config.datagrams ?? []) {
    const bytes = Buffer.from(hex, 'hex');
    for (let r = 0; r < (config.repeat ?? 1); r++) await send(bytes);
  }
  if (config.garbage !== undefined) {
    const { count, seconds, seed, vni } = config.garbage;
    const random = prng(seed);
    const deadline = started + seconds * 1000;
    for (let i = 0; i < count && performance.now() < deadline; i++) {
      const kind = GARBAGE_KINDS[i % GARBAGE_KINDS.length];
      // Each datagram in its own buffer: dgram may still hold the previous one.
      const out = new Uint8Array(1600);
      const length = garbage(kind, random, vni, out);
      kinds[kind] = (kinds[kind] ?? 0) + 1;
      await send(out.subarray(0, length));
    }
  }
  // A send completes asynchronously (after an address lookup): closing before would drop it.
  if (pending > 0) await new Promise<void>((resolve) => { drained = resolve; });
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  process.stdout.write(`${JSON.stringify({ sent, errors, ms: Math.round(performance.now() - started), kinds })}\n`);
}

// Run only as the script (the tests import GARBAGE_KINDS from here too).
if (process.argv[1]?.endsWith('send-udp.ts')) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
