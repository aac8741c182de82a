/**
 * The frames the decap and batch suites work on: an inner Ethernet/IPv4/UDP frame of a chosen
 * length (the kind of frame a TAP device hands a VTEP), and the tunnel that carries it. Built by
 * the one inner-frame builder the tests use (test/helpers/frames.ts), which makes every byte by
 * hand, so a benchmark's input does not depend on the code it measures.
 */
import { naiveSum } from '../../test/helpers/bytes';
import { innerFrame as buildInner } from '../../test/helpers/frames';

// Sizes and the tunnel are defined once, in cases.ts.
export { INNER_SIZES, IPV4_OVERHEAD, TUNNEL } from './cases';

/** Inner Ethernet (14) + IPv4 (20) + UDP (8). */
const INNER_HEADERS = 42;

/**
 * An inner Ethernet II frame of `length` bytes: IPv4/UDP between the builder's default addresses
 * and ports, valid IPv4 header checksum, pseudo-random payload (xorshift32 from `seed`). The
 * inner UDP checksum is left 0 ("none", legal over IPv4) unless `udpChecksum` is true; then it is
 * computed (RFC 768, with the pseudo-header), as a sender's stack would: the batch suite needs it
 * valid, since 'offload' mode derives the outer UDP checksum from the inner one and only equals
 * 'full' when the inner checksum is right.
 */
export function innerFrame(length: number, seed = length, udpChecksum = false): Uint8Array {
  return buildInner({ payloadLen: length - INNER_HEADERS, payload: 'random', seed, l4Checksum: udpChecksum ? 'valid' : 'zero' });
}

/** Whether an inner frame from innerFrame() carries a UDP checksum that verifies (RFC 768). */
export function innerUdpChecksumValid(frame: Uint8Array): boolean {
  const udpLength = (frame[38] << 8) | frame[39];
  // Pseudo-header: source and destination addresses, protocol 17, UDP length; then the datagram.
  const pseudo = naiveSum(frame.subarray(14 + 12, 14 + 20), 17 + udpLength);
  return (frame[40] | frame[41]) !== 0 && naiveSum(frame.subarray(34, 34 + udpLength), pseudo) === 0xffff;
}
