/**
 * Inner frames for the batch tests, built byte by byte here (not by the code under test):
 * Ethernet + IPv4/IPv6 + TCP/UDP with checksums from the RFC 1071 definition in this file.
 * A seeded PRNG makes every "random" batch reproducible; a failure prints its seed.
 */
import type { TunnelOptions } from '../../src/types';

/** xorshift32: small, fast, reproducible. */
export function prng(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 2 ** 32;
  };
}

export function randomInt(random: () => number, low: number, high: number): number {
  return low + Math.floor(random() * (high - low + 1));
}

/** RFC 1071 sum of network-order 16-bit words, folded; an odd last byte is padded with zero. */
export function sum16(bytes: Uint8Array, start = 0, end = bytes.length, seed = 0): number {
  let sum = seed;
  for (let i = start; i < end; i += 2) sum += (bytes[i] << 8) | (i + 1 < end ? bytes[i + 1] : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

export interface InnerFrameSpec {
  ipVersion: 4 | 6;
  protocol: 6 | 17;
  payloadLen: number;
  /** Leave the L4 checksum partial (the pseudo-header sum), as a TAP with offload hands it over. */
  partial?: boolean;
  /** Break the L4 checksum. */
  corrupt?: boolean;
  /** UDP over IPv4 only: send no checksum (zero). */
  zeroUdpChecksum?: boolean;
  vlan?: boolean;
  seed?: number;
}

export interface InnerFrame {
  bytes: Uint8Array;
  /** Where the L4 header starts, and the checksum field's offset inside it (virtio csum_start/csum_offset). */
  csumStart: number;
  csumOffset: number;
}

export function innerFrame(spec: InnerFrameSpec): InnerFrame {
  const random = prng(spec.seed ?? 7);
  const l4HeaderLen = spec.protocol === 6 ? 20 : 8;
  const l2Len = spec.vlan ? 18 : 14;
  const l3Len = spec.ipVersion === 4 ? 20 : 40;
  const l4Len = l4HeaderLen + spec.payloadLen;
  const frame = new Uint8Array(l2Len + l3Len + l4Len);
  frame.set([0x02, 0, 0, 0, 0, 0xaa, 0x02, 0, 0, 0, 0, 0xbb]);
  let at = 12;
  if (spec.vlan) {
    frame.set([0x81, 0x00, 0x00, 0x64], at); // 802.1Q, VID 100
    at += 4;
  }
  frame.set(spec.ipVersion === 4 ? [0x08, 0x00] : [0x86, 0xdd], at);
  const l3 = l2Len;
  const l4 = l3 + l3Len;
  let pseudo: number;
  if (spec.ipVersion === 4) {
    const total = l3Len + l4Len;
    frame.set([0x45, 0, total >> 8, total & 0xff, 0x12, 0x34, 0x40, 0, 64, spec.protocol, 0, 0, 192, 168, 1, 10, 192, 168, 1, 20], l3);
    const headerChecksum = ~sum16(frame, l3, l3 + 20) & 0xffff;
    frame[l3 + 10] = headerChecksum >> 8;
    frame[l3 + 11] = headerChecksum & 0xff;
    pseudo = sum16(frame, l3 + 12, l3 + 20, spec.protocol + l4Len);
  } else {
    frame.set([0x60, 0, 0, 0, l4Len >> 8, l4Len & 0xff, spec.protocol, 64], l3);
    frame.set([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a], l3 + 8);
    frame.set([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x14], l3 + 24);
    pseudo = sum16(frame, l3 + 8, l3 + 40, spec.protocol + l4Len);
  }
  frame.set([0x9c, 0x40, 0x13, 0x89], l4); // ports 40000 → 5001
  if (spec.protocol === 6) {
    frame.set([0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff], l4 + 4); // seq, ack, offset 5, PSH|ACK, window
  } else {
    frame[l4 + 4] = l4Len >> 8;
    frame[l4 + 5] = l4Len & 0xff;
  }
  for (let i = l4 + l4HeaderLen; i < frame.length; i++) frame[i] = Math.floor(random() * 256);
  const csumOffset = spec.protocol === 6 ? 16 : 6;
  const field = l4 + csumOffset;
  let value: number;
  if (spec.zeroUdpChecksum) value = 0;
  else if (spec.partial) value = pseudo;
  else {
    value = ~sum16(frame, l4, frame.length, pseudo) & 0xffff;
    if (value === 0) value = 0xffff;
    if (spec.corrupt) value ^= 0x0101;
  }
  frame[field] = value >> 8;
  frame[field + 1] = value & 0xff;
  return { bytes: frame, csumStart: l4, csumOffset };
}

/** A frame of random bytes (not IP): the flow hash and checksums still apply. */
export function randomBytesFrame(random: () => number, length: number): Uint8Array {
  const frame = new Uint8Array(length);
  for (let i = 0; i < length; i++) frame[i] = Math.floor(random() * 256);
  return frame;
}

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
