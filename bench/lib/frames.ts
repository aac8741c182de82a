/**
 * The frames the decap and batch suites work on: an inner Ethernet/IPv4/UDP frame of a chosen
 * length (the kind of frame a TAP device hands a VTEP), and the tunnel that carries it.
 */
import { internetChecksum, ipv4PseudoHeaderSum, onesComplementSum } from '../../src/reference/checksum';
import type { TunnelOptions } from '../../src/types';
import { benchBytes } from './data';

/** Inner frame lengths: a minimum frame, one that makes a 1500-byte outer frame, a jumbo frame. */
export const INNER_SIZES = [64, 1450, 9000] as const;

/** Outer Ethernet (14) + IPv4 (20) + UDP (8) + VXLAN (8). */
export const IPV4_OVERHEAD = 50;

export const TUNNEL: TunnelOptions = {
  vni: 4242,
  source: { mac: '02:42:ac:11:00:02', ip: '192.0.2.1' },
  destination: { mac: '02:42:ac:11:00:03', ip: '192.0.2.2' },
  udpChecksum: true,
};

/**
 * An inner Ethernet II frame of `length` bytes: 10.1.0.1:40000 → 10.1.0.2:5201 UDP, valid IPv4
 * header checksum, pseudo-random payload. The inner UDP checksum is left 0 ("none", legal over
 * IPv4) unless `udpChecksum` is true; then it is computed (RFC 768, with the pseudo-header), as a
 * sender's stack would: the batch suite needs it valid, since 'offload' mode derives the outer UDP
 * checksum from the inner one and only equals 'full' when the inner checksum is right.
 */
export function innerFrame(length: number, seed = length, udpChecksum = false): Uint8Array {
  const frame = benchBytes(length, seed);
  frame.set([0x02, 0, 0, 0, 0, 0x0b, 0x02, 0, 0, 0, 0, 0x0a, 0x08, 0x00], 0);
  const ipLength = length - 14;
  const ip = [0x45, 0, ipLength >> 8, ipLength & 0xff, 0x12, 0x34, 0x40, 0, 64, 17, 0, 0, 10, 1, 0, 1, 10, 1, 0, 2];
  frame.set(ip, 14);
  const ipChecksum = internetChecksum(frame, 14, 20);
  frame[24] = ipChecksum >> 8;
  frame[25] = ipChecksum & 0xff;
  const udpLength = ipLength - 20;
  frame.set([40000 >> 8, 40000 & 0xff, 5201 >> 8, 5201 & 0xff, udpLength >> 8, udpLength & 0xff, 0, 0], 34);
  if (udpChecksum) {
    // Pseudo-header (source, destination, protocol 17, UDP length) + the datagram, checksum field 0.
    const pseudo = ipv4PseudoHeaderSum(frame, 14 + 12, 14 + 16, 17, udpLength);
    // A computed 0 is sent as 0xffff: 0 would mean "no checksum" (RFC 768).
    const sum = ~onesComplementSum(frame, 34, udpLength, pseudo) & 0xffff || 0xffff;
    frame[40] = sum >> 8;
    frame[41] = sum & 0xff;
  }
  return frame;
}

/** Whether an inner frame from innerFrame() carries a UDP checksum that verifies (RFC 768). */
export function innerUdpChecksumValid(frame: Uint8Array): boolean {
  const udpLength = (frame[38] << 8) | frame[39];
  const pseudo = ipv4PseudoHeaderSum(frame, 14 + 12, 14 + 16, 17, udpLength);
  return (frame[40] | frame[41]) !== 0 && onesComplementSum(frame, 34, udpLength, pseudo) === 0xffff;
}
