/**
 * Every frame the tests and the benchmarks build. Inner frames are made by hand, byte by byte,
 * with checksums from the RFC 1071 oracle in ./bytes.ts and addresses parsed here: the code under
 * test plays no part, so such a frame is independent evidence. Only ipv4Frame/ipv6Frame (valid
 * VXLAN frames to start from) call `encapsulate`, on the active backend.
 *
 *   innerFrame({ payloadLen: 100 })                 Ethernet/IPv4/UDP, every checksum right
 *   innerFrame({ ipVersion: 6, transport: 'tcp', payloadLen: 9, vlan: 7, l4Checksum: 'partial' })
 *   innerFrame({ transport: 'icmp', identifier: 1, sequence: 2, payloadLen: 33 })   echo request
 *   innerFrame({ etherType: 0x88b5, payloadLen: 46 })  no IP: the payload follows Ethernet
 *   innerFrame(60, seed)                            shorthand: a 60-byte non-IP frame per seed
 *   buildInnerFrame(spec)                           the same bytes, and where each layer starts
 *
 *   ipv4Frame({ vlan: { vid: 7 } })                 a valid IPv4 VXLAN frame (defaults: ipv4Tunnel())
 *   ipv6Frame({ inner: innerFrame(100) })            a valid IPv6 VXLAN frame (defaults: ipv6Tunnel())
 *
 * Also here: innerArpRequest(), the tunnels tests share (ipv4Tunnel, ipv6Tunnel, PEERS), header
 * lengths, and checksum fix-ups for tests that edit a header field.
 */
import { encapsulate } from '../../src/api';
import type { TunnelOptions } from '../../src/types';
import { naiveSum } from './bytes';
import { prng, randomBytes } from './random';

// Suites that loop backends while building frames import the list from here too.
export { BACKENDS } from './backends';

/** Header lengths of an untagged frame (add 4 per VLAN tag). */
export const ETH_LEN = 14;
export const IPV4_LEN = 20;
export const IPV6_LEN = 40;
export const UDP_LEN = 8;
export const VXLAN_LEN = 8;
const TCP_LEN = 20;
const ICMP_LEN = 8;

/** The addresses and ports an inner frame carries unless its spec says otherwise. */
export const INNER = {
  sourceMac: '52:54:00:00:00:01',
  destinationMac: '52:54:00:00:00:02',
  ipv4: { source: '10.9.0.1', destination: '10.9.0.2' },
  ipv6: { source: 'fd09::1', destination: 'fd09::2' },
  sourcePort: 12345,
  destinationPort: 8080,
} as const;

export interface InnerSpec {
  /** Bytes after the TCP/UDP/ICMP header (after the Ethernet header when `etherType` is set). */
  payloadLen: number;
  /** A frame without IP: this EtherType, then the payload. Not with any IP or transport field. */
  etherType?: number;
  /** Default 4. */
  ipVersion?: 4 | 6;
  /** Default 'udp'. 'icmp' is an echo request (ICMP over IPv4, ICMPv6 over IPv6). */
  transport?: 'udp' | 'tcp' | 'icmp';
  /** An 802.1Q tag (TPID 0x8100, PCP 0) with this VLAN id. */
  vlan?: number;
  sourceMac?: string;
  destinationMac?: string;
  /** Dotted IPv4 or IPv6 text of the inner IP version; defaults from INNER. */
  sourceIp?: string;
  destinationIp?: string;
  /** IPv4 identification; default 1 (always with DF, TTL 64). */
  identification?: number;
  /** Raw IPv4 option bytes (whole 32-bit words). */
  ipOptions?: number[];
  /** TCP/UDP ports; defaults from INNER. */
  sourcePort?: number;
  destinationPort?: number;
  /** ICMP echo identifier and sequence number; default 0 and 1. */
  identifier?: number;
  sequence?: number;
  /**
   * 'pattern' (default): byte i of the frame is (31 i + 7 seed) mod 256.
   * 'random': randomBytes(payloadLen, seed) (xorshift32, ./random.ts).
   */
  payload?: 'pattern' | 'random';
  /** Varies the payload (and, for the shorthand, the source MAC); default 0. */
  seed?: number;
  /**
   * 'valid' (default); 'zero' (UDP only: "no checksum"); 'bad' (the valid value plus one, never 0);
   * 'partial' (TCP/UDP: the folded pseudo-header sum, as a sender with checksum offload leaves it
   * for the device: virtio-net's csum_start/csum_offset, see BuiltInnerFrame).
   */
  l4Checksum?: 'valid' | 'zero' | 'bad' | 'partial';
}

export interface BuiltInnerFrame {
  bytes: Uint8Array;
  /** Where the IP header starts (the payload, without IP). */
  l3: number;
  /** Where the TCP/UDP/ICMP header starts (virtio-net csum_start); -1 without IP. */
  l4: number;
  /** The L4 checksum field's offset inside the L4 header (virtio-net csum_offset); -1 without IP. */
  checksumOffset: number;
}

const IP_FIELDS = ['ipVersion', 'transport', 'sourceIp', 'destinationIp', 'identification', 'ipOptions', 'sourcePort', 'destinationPort', 'identifier', 'sequence', 'l4Checksum'] as const;

/** The inner frame `spec` describes; see buildInnerFrame. */
export function innerFrame(spec: InnerSpec): Uint8Array;
/**
 * Shorthand: an inner frame of `length` bytes (at least 14) without IP: destination
 * 02:00:00:00:00:bb, source 02:00:<seed, 3 bytes>:aa, EtherType 0x88b5 (IEEE local experimental),
 * then the pattern. Different seeds give different source MACs, hence different flows.
 */
export function innerFrame(length: number, seed?: number): Uint8Array;
export function innerFrame(spec: InnerSpec | number, seed = 1): Uint8Array {
  if (typeof spec !== 'number') return buildInnerFrame(spec).bytes;
  if (!Number.isInteger(spec) || spec < ETH_LEN) throw new RangeError(`innerFrame: length must be an integer of at least 14 (an Ethernet header), got ${spec}`);
  const sourceMac = [0x02, 0, (seed >>> 16) & 0xff, (seed >>> 8) & 0xff, seed & 0xff, 0xaa].map((byte) => byte.toString(16).padStart(2, '0')).join(':');
  return buildInnerFrame({ etherType: 0x88b5, payloadLen: spec - ETH_LEN, destinationMac: '02:00:00:00:00:bb', sourceMac, seed }).bytes;
}

/**
 * Ethernet (optionally one 802.1Q tag), then IPv4 (with options) or IPv6, then UDP, TCP or an
 * ICMP echo request with the checksum asked for; or, with `etherType`, an opaque payload.
 */
export function buildInnerFrame(spec: InnerSpec): BuiltInnerFrame {
  if (!Number.isInteger(spec.payloadLen) || spec.payloadLen < 0) throw new RangeError(`innerFrame: payloadLen must be a non-negative integer, got ${spec.payloadLen}`);
  const seed = spec.seed ?? 0;
  const l2Len = spec.vlan === undefined ? ETH_LEN : ETH_LEN + 4;
  const ethernet = [...mac(spec.destinationMac ?? INNER.destinationMac), ...mac(spec.sourceMac ?? INNER.sourceMac)];
  if (spec.vlan !== undefined) ethernet.push(0x81, 0x00, (spec.vlan >> 8) & 0x0f, spec.vlan & 0xff);

  if (spec.etherType !== undefined) {
    const mixed = IP_FIELDS.filter((field) => spec[field] !== undefined);
    if (mixed.length > 0) throw new TypeError(`innerFrame: etherType makes a frame without IP; ${mixed.join(', ')} cannot apply`);
    const frame = new Uint8Array(l2Len + spec.payloadLen);
    frame.set([...ethernet, spec.etherType >> 8, spec.etherType & 0xff]);
    fillPayload(frame, l2Len, spec.payload, seed);
    return { bytes: frame, l3: l2Len, l4: -1, checksumOffset: -1 };
  }

  const ipVersion = spec.ipVersion ?? 4;
  const transport = spec.transport ?? 'udp';
  const ipOptions = spec.ipOptions ?? [];
  if (ipOptions.length % 4 !== 0 || ipOptions.length > 40 || (ipVersion === 6 && ipOptions.length > 0)) {
    throw new RangeError('innerFrame: ipOptions are IPv4 only, whole 32-bit words, at most 40 bytes');
  }
  const checksumKind = spec.l4Checksum ?? 'valid';
  if (checksumKind === 'zero' && transport !== 'udp') throw new RangeError('innerFrame: only UDP has a "no checksum" value (l4Checksum "zero")');
  if (checksumKind === 'partial' && transport === 'icmp') throw new RangeError('innerFrame: ICMP has no pseudo-header, hence no partial checksum');
  const protocol = transport === 'udp' ? 17 : transport === 'tcp' ? 6 : ipVersion === 4 ? 1 : 58;
  const l4HeaderLen = transport === 'udp' ? UDP_LEN : transport === 'tcp' ? TCP_LEN : ICMP_LEN;
  const ipHeaderLen = ipVersion === 4 ? IPV4_LEN + ipOptions.length : IPV6_LEN;
  const segmentLen = l4HeaderLen + spec.payloadLen;
  const l3 = l2Len;
  const l4 = l3 + ipHeaderLen;
  const frame = new Uint8Array(l4 + segmentLen);
  frame.set([...ethernet, ...(ipVersion === 4 ? [0x08, 0x00] : [0x86, 0xdd])]);

  const addresses = ipVersion === 4 ? INNER.ipv4 : INNER.ipv6;
  const parse = ipVersion === 4 ? ipv4 : ipv6;
  const source = parse(spec.sourceIp ?? addresses.source);
  const destination = parse(spec.destinationIp ?? addresses.destination);
  let pseudo: number;
  if (ipVersion === 4) {
    const totalLen = ipHeaderLen + segmentLen;
    const id = spec.identification ?? 1;
    // Version 4, IHL, TOS 0, total length, identification, DF, TTL 64, protocol, checksum (below).
    frame.set([0x40 | (ipHeaderLen / 4), 0, totalLen >> 8, totalLen & 0xff, (id >> 8) & 0xff, id & 0xff, 0x40, 0, 64, protocol, 0, 0,
      ...source, ...destination, ...ipOptions], l3);
    put16(frame, l3 + 10, ~naiveSum(frame.subarray(l3, l4)) & 0xffff);
    // RFC 768 / RFC 9293 pseudo-header: source, destination, zero, protocol, segment length.
    pseudo = naiveSum(frame.subarray(l3 + 12, l3 + 20), protocol + segmentLen);
  } else {
    // Version 6, traffic class 0, flow label 0, payload length, next header, hop limit 64.
    frame.set([0x60, 0, 0, 0, segmentLen >> 8, segmentLen & 0xff, protocol, 64, ...source, ...destination], l3);
    // RFC 8200 §8.1 pseudo-header: source, destination, 32-bit length, next header.
    pseudo = naiveSum(frame.subarray(l3 + 8, l3 + 40), protocol + segmentLen);
  }
  // ICMP over IPv4 sums the message alone (RFC 792); ICMPv6 includes the pseudo-header (RFC 4443).
  if (protocol === 1) pseudo = 0;

  const ports = [spec.sourcePort ?? INNER.sourcePort, spec.destinationPort ?? INNER.destinationPort].flatMap((port) => [port >> 8, port & 0xff]);
  let checksumOffset: number;
  if (transport === 'udp') {
    frame.set([...ports, segmentLen >> 8, segmentLen & 0xff, 0, 0], l4);
    checksumOffset = 6;
  } else if (transport === 'tcp') {
    // Sequence 1, acknowledgment 1, data offset 5 words, PSH|ACK, window 65535, checksum (below), urgent 0.
    frame.set([...ports, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0], l4);
    checksumOffset = 16;
  } else {
    // Echo request: type 8 (ICMP) or 128 (ICMPv6), code 0, checksum (below), identifier, sequence.
    const identifier = spec.identifier ?? 0;
    const sequence = spec.sequence ?? 1;
    frame.set([ipVersion === 4 ? 8 : 128, 0, 0, 0, identifier >> 8, identifier & 0xff, sequence >> 8, sequence & 0xff], l4);
    checksumOffset = 2;
  }
  fillPayload(frame, l4 + l4HeaderLen, spec.payload, seed);

  let value: number;
  if (checksumKind === 'zero') value = 0;
  else if (checksumKind === 'partial') value = pseudo;
  else {
    // RFC 768: a computed checksum of zero is transmitted as all ones (harmless for TCP and ICMP).
    value = ~naiveSum(frame.subarray(l4), pseudo) & 0xffff || 0xffff;
    // Off by one, and never 0 (which would mean "none" for UDP).
    if (checksumKind === 'bad') value = value === 0xffff ? 0x0001 : value + 1;
  }
  put16(frame, l4 + checksumOffset, value);
  return { bytes: frame, l3, l4, checksumOffset };
}

function fillPayload(frame: Uint8Array, from: number, kind: InnerSpec['payload'], seed: number): void {
  if (kind === 'random') frame.set(randomBytes(frame.length - from, seed), from);
  else for (let i = from; i < frame.length; i++) frame[i] = (i * 31 + seed * 7) & 0xff;
}

/** A 42-byte inner ARP request (who-has 10.9.0.2 tell 10.9.0.1), broadcast: a frame with no IP in it. */
export function innerArpRequest(): Uint8Array {
  return new Uint8Array([
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, ...mac(INNER.sourceMac), 0x08, 0x06,
    // Ethernet, IPv4, 6- and 4-byte addresses, request; sender MAC and IP, target MAC (unknown) and IP.
    0, 1, 0x08, 0x00, 6, 4, 0, 1, ...mac(INNER.sourceMac), ...ipv4(INNER.ipv4.source), 0, 0, 0, 0, 0, 0, ...ipv4(INNER.ipv4.destination),
  ]);
}

/** A frame of random bytes from `random` (not IP): the flow hash and checksums still apply. */
export function randomBytesFrame(random: () => number, length: number): Uint8Array {
  return randomBytes(length, random);
}

// Address text, parsed here rather than by src/wire/address.ts (the code under test).
function mac(text: string): number[] {
  const parts = text.split(':');
  if (parts.length !== 6 || parts.some((part) => !/^[0-9a-fA-F]{2}$/.test(part))) throw new TypeError(`innerFrame: not a MAC address: ${text}`);
  return parts.map((part) => parseInt(part, 16));
}

function ipv4(text: string): number[] {
  const parts = text.split('.').map(Number);
  if (parts.length !== 4 || parts.some((part) => !Number.isInteger(part) || part < 0 || part > 255)) throw new TypeError(`innerFrame: not an IPv4 address: ${text}`);
  return parts;
}

function ipv6(text: string): number[] {
  const [head, tail, extra] = text.split('::');
  const groups = (part: string | undefined) => (part ? part.split(':') : []);
  const missing = 8 - groups(head).length - groups(tail).length;
  const all = tail === undefined ? groups(head) : [...groups(head), ...new Array<string>(missing).fill('0'), ...groups(tail)];
  if (extra !== undefined || all.length !== 8 || all.some((group) => !/^[0-9a-fA-F]{1,4}$/.test(group))) throw new TypeError(`innerFrame: not an IPv6 address: ${text}`);
  return all.flatMap((group) => [parseInt(group, 16) >> 8, parseInt(group, 16) & 0xff]);
}

// ---------------------------------------------------------------------------------------------
// Tunnels

export function ipv4Tunnel(overrides: Partial<TunnelOptions> = {}): TunnelOptions {
  return {
    vni: 0x123456,
    source: { mac: '02:00:00:00:00:01', ip: '192.0.2.1', port: 50000 },
    destination: { mac: '02:00:00:00:00:02', ip: '198.51.100.2' },
    ...overrides,
  };
}

export function ipv6Tunnel(overrides: Partial<TunnelOptions> = {}): TunnelOptions {
  return {
    vni: 0xabcdef,
    source: { mac: '02:00:00:00:00:01', ip: '2001:db8::1', port: 50000 },
    destination: { mac: '02:00:00:00:00:02', ip: '2001:db8::2' },
    ...overrides,
  };
}

/** A plain IPv4 tunnel with a hashed source port: the batch suites' first peer. */
export const TUNNEL_V4: TunnelOptions = {
  vni: 42,
  source: { mac: '02:00:00:00:01:01', ip: '10.1.0.1' },
  destination: { mac: '02:00:00:00:01:02', ip: '10.1.0.2' },
};

/** Peers of every shape: IPv4/IPv6, VLAN, GBP, fixed source port, custom range, DF, TOS. */
export const PEERS: TunnelOptions[] = [
  TUNNEL_V4,
  { vni: 7, source: { mac: '02:00:00:00:01:01', ip: '10.1.0.1' }, destination: { mac: '02:00:00:00:02:02', ip: '10.1.0.3', port: 8472 }, udpChecksum: false, dontFragment: true, tos: 0xb8 },
  { vni: 0xffffff, source: { mac: '02:00:00:00:01:01', ip: 'fd00::1' }, destination: { mac: '02:00:00:00:03:03', ip: 'fd00::3' }, flowLabel: 0x12345, ttl: 9 },
  { vni: 100, source: { mac: '02:00:00:00:01:01', ip: '10.1.0.1', port: 40000 }, destination: { mac: '02:00:00:00:04:04', ip: '10.1.0.4' }, vlan: { vid: 10, pcp: 5 }, gbp: { group: 0x1234, dontLearn: true } },
  { vni: 5, source: { mac: '02:00:00:00:01:01', ip: 'fd00::1' }, destination: { mac: '02:00:00:00:05:05', ip: 'fd00::5' }, vlan: { vid: 4095 }, sourcePortRange: [1000, 1010], gbp: { group: 1, policyApplied: true } },
];

export interface FrameOptions extends Partial<TunnelOptions> {
  /** The inner frame; default innerFrame(60). */
  inner?: Uint8Array;
}

/** A valid IPv4 VXLAN frame, made by `encapsulate` on the active backend. */
export function ipv4Frame(options: FrameOptions = {}): Uint8Array {
  const { inner = innerFrame(60), ...tunnel } = options;
  return encapsulate(inner, ipv4Tunnel(tunnel));
}

/** A valid IPv6 VXLAN frame, made by `encapsulate` on the active backend. */
export function ipv6Frame(options: FrameOptions = {}): Uint8Array {
  const { inner = innerFrame(60), ...tunnel } = options;
  return encapsulate(inner, ipv6Tunnel(tunnel));
}

// ---------------------------------------------------------------------------------------------
// Checksum fix-ups, for tests that edit a header field of a valid frame

const be16 = (bytes: Uint8Array, at: number) => (bytes[at] << 8) | bytes[at + 1];
function put16(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value >> 8;
  bytes[at + 1] = value & 0xff;
}

/** Recompute the IPv4 header checksum at `l3` after a test edited a header field. */
export function fixIpv4Checksum(frame: Uint8Array, l3: number): void {
  put16(frame, l3 + 10, 0);
  put16(frame, l3 + 10, ~naiveSum(frame.subarray(l3, l3 + (frame[l3] & 0x0f) * 4)) & 0xffff);
}

/**
 * Recompute the UDP checksum at `l4` (its length field decides the datagram) after a test edited
 * the datagram; `l3` is the IP header (its version picks the pseudo-header). A zero stays zero
 * (no checksum) unless `force`.
 */
export function fixUdpChecksum(frame: Uint8Array, l3: number, l4: number, force = false): void {
  if (be16(frame, l4 + 6) === 0 && !force) return;
  const udpLen = be16(frame, l4 + 4);
  const v4 = frame[l3] >> 4 === 4;
  const addresses = v4 ? frame.subarray(l3 + 12, l3 + 20) : frame.subarray(l3 + 8, l3 + 40);
  put16(frame, l4 + 6, 0);
  const sum = naiveSum(frame.subarray(l4, l4 + udpLen), naiveSum(addresses, 17 + udpLen));
  put16(frame, l4 + 6, (~sum & 0xffff) || 0xffff);
}
