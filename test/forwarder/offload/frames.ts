/**
 * TCP and UDP frames for the offload kernels' tests, built byte by byte here (the shared
 * test/helpers/frames.ts has no sequence numbers, flags or TCP options): a super-frame as a TAP
 * with TSO hands it over (its L4 checksum field holding the folded pseudo-header sum, a
 * CHECKSUM_PARTIAL), and segments as a peer sends them (checksums in full). Checksums come from
 * test/helpers/bytes.ts's naiveSum, never from the code under test.
 */
import { naiveSum } from '../../helpers/bytes';

export interface SegmentSpec {
  ipVersion?: 4 | 6;
  transport?: 'tcp' | 'udp';
  payload: Uint8Array;
  /** TCP sequence number; default 1000. */
  sequence?: number;
  /** TCP flags byte; default ACK (0x10). */
  flags?: number;
  /** TCP option bytes (a multiple of 4); default none. */
  options?: number[];
  /** IPv4 identification; default 0x1234. */
  identification?: number;
  /** An 802.1Q tag with this VLAN id. */
  vlan?: number;
  sourcePort?: number;
  destinationPort?: number;
  /** IPv4 TOS / IPv6 traffic class; default 0. */
  tos?: number;
  /** 'full' (default): a valid checksum; 'partial': the pseudo-header sum (CHECKSUM_PARTIAL); 'bad': full + 1. */
  checksum?: 'full' | 'partial' | 'bad';
  /** TCP ack number; default 77. */
  ack?: number;
  /** TCP window; default 500. */
  window?: number;
}

export interface BuiltSegment {
  bytes: Uint8Array;
  l3: number;
  l4: number;
  headerLen: number;
}

const SOURCE_V4 = [10, 9, 0, 1];
const DESTINATION_V4 = [10, 9, 0, 2];
const SOURCE_V6 = [0xfd, 9, ...new Array(13).fill(0), 1];
const DESTINATION_V6 = [0xfd, 9, ...new Array(13).fill(0), 2];

function put16(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = (value >> 8) & 0xff;
  bytes[at + 1] = value & 0xff;
}

function put32(bytes: Uint8Array, at: number, value: number): void {
  put16(bytes, at, Math.floor(value / 0x10000) & 0xffff);
  put16(bytes, at + 2, value & 0xffff);
}

export function get16(bytes: Uint8Array, at: number): number {
  return (bytes[at] << 8) | bytes[at + 1];
}

export function get32(bytes: Uint8Array, at: number): number {
  return get16(bytes, at) * 0x10000 + get16(bytes, at + 2);
}

/** The naive pseudo-header sum of the segment in `frame` (L4 length from the frame's end). */
export function pseudoSum(frame: Uint8Array, l3: number, l4: number, protocol: number, end = frame.length): number {
  const l4Len = end - l4;
  const v4 = frame[l3] >> 4 === 4;
  const addresses = v4 ? frame.subarray(l3 + 12, l3 + 20) : frame.subarray(l3 + 8, l3 + 40);
  return naiveSum(addresses, protocol + (l4Len >>> 16) + (l4Len & 0xffff));
}

export function buildSegment(spec: SegmentSpec): BuiltSegment {
  const v4 = (spec.ipVersion ?? 4) === 4;
  const tcp = (spec.transport ?? 'tcp') === 'tcp';
  const options = spec.options ?? [];
  const l3 = spec.vlan === undefined ? 14 : 18;
  const l4 = l3 + (v4 ? 20 : 40);
  const headerLen = l4 + (tcp ? 20 + options.length : 8);
  const bytes = new Uint8Array(headerLen + spec.payload.length);
  bytes.set([0x52, 0x54, 0, 0, 0, 2, 0x52, 0x54, 0, 0, 0, 1]);
  if (spec.vlan !== undefined) bytes.set([0x81, 0x00, (spec.vlan >> 8) & 0x0f, spec.vlan & 0xff], 12);
  put16(bytes, l3 - 2, v4 ? 0x0800 : 0x86dd);
  const protocol = tcp ? 6 : 17;
  if (v4) {
    bytes[l3] = 0x45;
    bytes[l3 + 1] = spec.tos ?? 0;
    put16(bytes, l3 + 2, bytes.length - l3);
    put16(bytes, l3 + 4, spec.identification ?? 0x1234);
    put16(bytes, l3 + 6, 0x4000);
    bytes[l3 + 8] = 64;
    bytes[l3 + 9] = protocol;
    bytes.set(SOURCE_V4, l3 + 12);
    bytes.set(DESTINATION_V4, l3 + 16);
    put16(bytes, l3 + 10, ~naiveSum(bytes.subarray(l3, l4)) & 0xffff);
  } else {
    const tc = spec.tos ?? 0;
    bytes[l3] = 0x60 | (tc >> 4);
    bytes[l3 + 1] = (tc & 0x0f) << 4;
    put16(bytes, l3 + 4, bytes.length - l4);
    bytes[l3 + 6] = protocol;
    bytes[l3 + 7] = 64;
    bytes.set(SOURCE_V6, l3 + 8);
    bytes.set(DESTINATION_V6, l3 + 24);
  }
  put16(bytes, l4, spec.sourcePort ?? 40000);
  put16(bytes, l4 + 2, spec.destinationPort ?? 5201);
  if (tcp) {
    put32(bytes, l4 + 4, spec.sequence ?? 1000);
    put32(bytes, l4 + 8, spec.ack ?? 77);
    bytes[l4 + 12] = ((20 + options.length) / 4) << 4;
    bytes[l4 + 13] = spec.flags ?? 0x10;
    put16(bytes, l4 + 14, spec.window ?? 500);
    bytes.set(options, l4 + 20);
  } else {
    put16(bytes, l4 + 4, bytes.length - l4);
  }
  bytes.set(spec.payload, headerLen);
  const field = l4 + (tcp ? 16 : 6);
  const pseudo = pseudoSum(bytes, l3, l4, protocol);
  const mode = spec.checksum ?? 'full';
  if (mode === 'partial') {
    put16(bytes, field, pseudo);
  } else {
    let checksum = ~naiveSum(bytes.subarray(l4), pseudo) & 0xffff;
    if (checksum === 0 && !tcp) checksum = 0xffff;
    if (mode === 'bad') checksum = checksum === 0xfffe ? 0x0001 : (checksum + 1) & 0xffff;
    put16(bytes, field, checksum);
  }
  return { bytes, l3, l4, headerLen };
}

/** Payload bytes that differ from segment to segment (byte i is (i * 7 + seed) mod 251). */
export function payloadOf(length: number, seed = 0): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 7 + seed) % 251;
  return bytes;
}

/** The segment's L4 checksum is valid (the naive sum over the pseudo-header and the segment). */
export function l4ChecksumValid(frame: Uint8Array, l3: number, l4: number, protocol: number, end = frame.length): boolean {
  return naiveSum(frame.subarray(l4, end), pseudoSum(frame, l3, l4, protocol, end)) === 0xffff;
}

export function ipv4HeaderValid(frame: Uint8Array, l3: number): boolean {
  return naiveSum(frame.subarray(l3, l3 + (frame[l3] & 0x0f) * 4)) === 0xffff;
}
