// Running the real tools the interop suites compare against (tshark, scapy, ip, tcpdump), and
// saying loudly when a suite cannot run, so that nothing passes without having run.
import { execFileSync, spawnSync } from 'node:child_process';
import { checksum } from '../../src/index';

/** Debian's python3-scapy is installed for /usr/bin/python3, not for a pyenv python on PATH. */
export const PYTHON = '/usr/bin/python3';

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

export function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', name], { encoding: 'utf8' }).status === 0;
}

/** Run a command and return its stdout; throws (with stderr in the message) on a non-zero exit. */
export function run(command: string, args: string[], input?: string): string {
  return execFileSync(command, args, { encoding: 'utf8', input, maxBuffer: 256 * 1024 * 1024, stdio: ['pipe', 'pipe', 'pipe'] });
}

/**
 * Why a suite that needs `commands` cannot run here, or undefined when it can. As root (CI) a
 * missing tool is a failure, not a skip: `.ci/run` installs them (apt-get: tshark python3-scapy
 * tcpdump iproute2 iputils-ping ethtool).
 */
export function missingTools(suiteName: string, commands: string[]): string | undefined {
  const missing = commands.filter((name) => !hasCommand(name));
  if (missing.length === 0) return undefined;
  const reason = `${suiteName}: ${missing.join(', ')} not installed`;
  if (isRoot) throw new Error(`${reason}; as root this is a failure (.ci/run installs them with apt-get)`);
  return reason;
}

/**
 * Print, loudly and once per test, that these tests did not run: uvu counts only what ran, so
 * the only trace of a skip is this message. `kind` is e.g. 'needs root' or 'needs tshark'.
 */
export function warnSkipped(kind: string, testNames: string[], reason: string): void {
  const bar = '*'.repeat(100);
  const lines = testNames.map((name) => `SKIPPED (${kind}): ${name}`);
  console.warn(`\n${bar}\n${lines.join('\n')}\n  why: ${reason}\n  These tests were NOT run and did NOT pass.\n${bar}\n`);
}

/**
 * Whether network namespaces can be made here: root is not enough inside some containers (no
 * CAP_SYS_ADMIN, no /run/netns mount). Returns why not, or undefined. Probes with a namespace
 * named after this process, removed at once.
 */
export function netnsUnusable(): string | undefined {
  if (!isRoot) return `not root (uid ${process.getuid?.()})`;
  for (const command of ['ip', 'tcpdump', 'ethtool', 'ping']) {
    if (!hasCommand(command)) return `${command} not installed`;
  }
  const probe = `vxprobe${process.pid}`;
  const added = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  spawnSync('ip', ['netns', 'del', probe]);
  if (added.status !== 0) return `\`ip netns add\` failed: ${added.stderr.trim()}`;
  return undefined;
}

export const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
export const fromHex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'));

/** The addresses every inner frame built here carries, so tests can name them. */
export const INNER = {
  sourceMac: '52:54:00:00:00:01',
  destinationMac: '52:54:00:00:00:02',
  ipv4: { source: '10.9.0.1', destination: '10.9.0.2' },
  ipv6: { source: 'fd09::1', destination: 'fd09::2' },
  sourcePort: 12345,
  destinationPort: 8080,
} as const;

export interface InnerSpec {
  ipVersion?: 4 | 6;
  transport?: 'udp' | 'tcp';
  /** Bytes after the TCP/UDP header. */
  payloadLen: number;
  /** Raw IPv4 option bytes (a multiple of 4). */
  ipOptions?: number[];
  /** Varies the payload pattern. */
  seed?: number;
  /** 'zero' is a UDP checksum of 0 ("none"); 'bad' is a valid one plus one. Default 'valid'. */
  l4Checksum?: 'valid' | 'zero' | 'bad';
  /** An 802.1Q tag on the inner Ethernet header with this VLAN id. */
  vlan?: number;
}

const TCP_HEADER_LEN = 20;
const UDP_HEADER_LEN = 8;

/**
 * An inner Ethernet frame carrying IPv4 or IPv6 and UDP or TCP with checksums as asked. Built by
 * hand here (only RFC 1071 summing comes from the library) rather than by the code under test, so
 * that tshark finding the inner checksums good is independent evidence the payload came through.
 */
export function innerFrame(spec: InnerSpec): Uint8Array {
  const ipVersion = spec.ipVersion ?? 4;
  const transport = spec.transport ?? 'udp';
  const ipOptions = spec.ipOptions ?? [];
  if (ipOptions.length % 4 !== 0 || (ipVersion === 6 && ipOptions.length > 0)) throw new RangeError('IPv4 options must fill whole 32-bit words');
  const l2Len = spec.vlan === undefined ? 14 : 18;
  const ipHeaderLen = ipVersion === 4 ? 20 + ipOptions.length : 40;
  const l4HeaderLen = transport === 'udp' ? UDP_HEADER_LEN : TCP_HEADER_LEN;
  const segmentLen = l4HeaderLen + spec.payloadLen;
  const frame = new Uint8Array(l2Len + ipHeaderLen + segmentLen);
  const protocol = transport === 'udp' ? 17 : 6;
  frame.set([0x52, 0x54, 0, 0, 0, 2, 0x52, 0x54, 0, 0, 0, 1]);
  const etherType = ipVersion === 4 ? [0x08, 0x00] : [0x86, 0xdd];
  frame.set(spec.vlan === undefined ? etherType : [0x81, 0x00, spec.vlan >> 8, spec.vlan & 0xff, ...etherType], 12);

  const l3 = l2Len;
  let pseudo: Uint8Array;
  if (ipVersion === 4) {
    const totalLen = ipHeaderLen + segmentLen;
    // Version 4, IHL, TOS 0, total length, id 1, DF, TTL 64, protocol, checksum (below), 10.9.0.1 → 10.9.0.2.
    frame.set([0x40 | (ipHeaderLen / 4), 0, totalLen >> 8, totalLen & 0xff, 0, 1, 0x40, 0, 64, protocol, 0, 0,
      10, 9, 0, 1, 10, 9, 0, 2, ...ipOptions], l3);
    const ipChecksum = checksum(frame.subarray(l3, l3 + ipHeaderLen));
    frame[l3 + 10] = ipChecksum >> 8;
    frame[l3 + 11] = ipChecksum & 0xff;
    // RFC 768 / RFC 9293 pseudo-header: source, destination, zero, protocol, segment length.
    pseudo = new Uint8Array(12);
    pseudo.set(frame.subarray(l3 + 12, l3 + 20));
    pseudo.set([0, protocol, segmentLen >> 8, segmentLen & 0xff], 8);
  } else {
    // Version 6, traffic class 0, flow label 0, payload length, next header, hop limit 64, fd09::1 → fd09::2.
    frame.set([0x60, 0, 0, 0, segmentLen >> 8, segmentLen & 0xff, protocol, 64], l3);
    frame.set([0xfd, 0x09, ...new Array(13).fill(0), 1], l3 + 8);
    frame.set([0xfd, 0x09, ...new Array(13).fill(0), 2], l3 + 24);
    // RFC 8200 §8.1 pseudo-header: source, destination, 32-bit length, three zero bytes, next header.
    pseudo = new Uint8Array(40);
    pseudo.set(frame.subarray(l3 + 8, l3 + 40));
    pseudo.set([segmentLen >>> 24, (segmentLen >> 16) & 0xff, segmentLen >> 8 & 0xff, segmentLen & 0xff, 0, 0, 0, protocol], 32);
  }

  const l4 = l3 + ipHeaderLen;
  const ports = [INNER.sourcePort >> 8, INNER.sourcePort & 0xff, INNER.destinationPort >> 8, INNER.destinationPort & 0xff];
  let checksumAt: number;
  if (transport === 'udp') {
    frame.set([...ports, segmentLen >> 8, segmentLen & 0xff, 0, 0], l4);
    checksumAt = l4 + 6;
  } else {
    // Sequence 1, acknowledgment 1, data offset 5 words, PSH|ACK, window 65535, checksum (below), urgent 0.
    frame.set([...ports, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0], l4);
    checksumAt = l4 + 16;
  }
  for (let i = 0; i < spec.payloadLen; i++) frame[l4 + l4HeaderLen + i] = (i * 31 + (spec.seed ?? 0)) & 0xff;
  const summed = new Uint8Array(pseudo.length + segmentLen);
  summed.set(pseudo);
  summed.set(frame.subarray(l4), pseudo.length);
  // RFC 768: "If the computed checksum is zero, it is transmitted as all ones."
  let l4Checksum = checksum(summed) || 0xffff;
  if (spec.l4Checksum === 'zero') {
    if (transport !== 'udp') throw new RangeError('only UDP has a "no checksum" value');
    l4Checksum = 0;
  } else if (spec.l4Checksum === 'bad') {
    // Off by one, and never 0 (which would mean "none" for UDP).
    l4Checksum = l4Checksum === 0xffff ? 0x0001 : l4Checksum + 1;
  }
  frame[checksumAt] = l4Checksum >> 8;
  frame[checksumAt + 1] = l4Checksum & 0xff;
  return frame;
}

/** An inner Ethernet/IPv4/UDP frame with valid checksums and `payloadLen` payload bytes. */
export function innerUdpFrame(payloadLen: number, options: { ipOptions?: number[]; seed?: number } = {}): Uint8Array {
  return innerFrame({ payloadLen, ...options });
}

/** A 42-byte inner ARP request (who-has 10.9.0.2 tell 10.9.0.1), broadcast: a frame with no IP in it. */
export function innerArpRequest(): Uint8Array {
  return new Uint8Array([
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0, 0, 0, 1, 0x08, 0x06,
    0, 1, 0x08, 0x00, 6, 4, 0, 1, 0x52, 0x54, 0, 0, 0, 1, 10, 9, 0, 1, 0, 0, 0, 0, 0, 0, 10, 9, 0, 2,
  ]);
}

/**
 * An inner Ethernet/IPv4/ICMP echo request (type 8) with a valid ICMP checksum, as `ping` sends:
 * identifier, sequence number, and `payloadLen` bytes of pattern.
 */
export function innerIcmpEchoRequest(options: {
  sourceMac: string; destinationMac: string; sourceIp: string; destinationIp: string;
  identifier: number; sequence: number; payloadLen: number;
}): Uint8Array {
  const mac = (text: string) => text.split(':').map((part) => parseInt(part, 16));
  const ip = (text: string) => text.split('.').map(Number);
  const icmpLen = 8 + options.payloadLen;
  const totalLen = 20 + icmpLen;
  const frame = new Uint8Array(14 + totalLen);
  frame.set([...mac(options.destinationMac), ...mac(options.sourceMac), 0x08, 0x00]);
  // Version 4, IHL 5, TOS 0, total length, id 0, DF, TTL 64, protocol 1 (ICMP), checksum (below).
  frame.set([0x45, 0, totalLen >> 8, totalLen & 0xff, 0, 0, 0x40, 0, 64, 1, 0, 0, ...ip(options.sourceIp), ...ip(options.destinationIp)], 14);
  const ipChecksum = checksum(frame.subarray(14, 34));
  frame[24] = ipChecksum >> 8;
  frame[25] = ipChecksum & 0xff;
  // RFC 792 echo: type 8, code 0, checksum over the whole ICMP message, identifier, sequence.
  frame.set([8, 0, 0, 0, options.identifier >> 8, options.identifier & 0xff, options.sequence >> 8, options.sequence & 0xff], 34);
  for (let i = 0; i < options.payloadLen; i++) frame[42 + i] = (0x10 + i) & 0xff;
  const icmpChecksum = checksum(frame.subarray(34));
  frame[36] = icmpChecksum >> 8;
  frame[37] = icmpChecksum & 0xff;
  return frame;
}
