// Checksums of the inner frame's TCP/UDP segment: locate it, verify it, complete a partial one.
//
// A TAP device with checksum offload (IFF_VNET_HDR) hands over frames whose TCP/UDP checksum is
// "partial" (CHECKSUM_PARTIAL in Linux): the checksum field holds the folded pseudo-header sum,
// not complemented, and the virtio-net header says where the sum starts (csum_start) and where
// the field is (csum_offset). Completing it is one sum from csum_start to the end of the frame.
//
// A frame whose inner checksum is valid lets encapsulation compute the outer UDP checksum from
// the headers alone (Linux's local checksum offload, lco_csum): a valid segment sums, with its
// pseudo-header, to -0, so the segment's own sum is the complement of the pseudo-header sum.

import { onesComplementSum, internetChecksum, ipv4PseudoHeaderSum, ipv6PseudoHeaderSum, loadBe16, storeBe16 } from './checksum';
import { ETH_TYPE, ETH_HEADER_LEN, VLAN_TAG_LEN, MAX_VLAN_TAGS, ETHERTYPE_IPV4, ETHERTYPE_IPV6, isVlanTpid } from './layout/ethernet';
import {
  IPV4_TOTAL_LENGTH, IPV4_FLAGS_FRAGMENT_OFFSET, IPV4_PROTOCOL, IPV4_CHECKSUM, IPV4_SOURCE, IPV4_DESTINATION, IPV4_MIN_HEADER_LEN,
  IPV4_FLAG_MORE_FRAGMENTS, IPV4_FRAGMENT_OFFSET_MASK, IPPROTO_TCP, IPPROTO_UDP,
} from './layout/ipv4';
import { IPV6_PAYLOAD_LENGTH, IPV6_NEXT_HEADER, IPV6_SOURCE, IPV6_DESTINATION, IPV6_HEADER_LEN } from './layout/ipv6';
import { UDP_LENGTH, UDP_CHECKSUM, UDP_HEADER_LEN } from './layout/udp';

/** TCP header (RFC 9293 §3.1): the checksum is the ninth 16-bit word; the header is at least 20 bytes. */
export const TCP_CHECKSUM: usize = 16;
export const TCP_MIN_HEADER_LEN: usize = 20;

// verifyInnerChecksum results (INNER_CHECKSUM_* in src/wasm/abi.ts).
export const INNER_CHECKSUM_BAD: i32 = 0;
export const INNER_CHECKSUM_VALID: i32 = 1;
/** A UDP checksum of zero: "no checksum" (RFC 768). */
export const INNER_CHECKSUM_NONE: i32 = 2;
/** Not an unfragmented TCP/UDP segment right after an IPv4/IPv6 header, or truncated. */
export const INNER_CHECKSUM_UNSUPPORTED: i32 = -1;

// finishPartialChecksum results (PARTIAL_* in src/wasm/abi.ts).
/** Nothing done: no TCP/UDP segment, a checksum that does not look partial, or one that verifies as it is. */
export const PARTIAL_UNTOUCHED: i32 = 0;
/** The field held the unfinished pseudo-header sum and the segment did not verify: finished in place. */
export const PARTIAL_FINISHED: i32 = 1;

// Where locateInnerL4 found the segment (offsets from the frame), and its pseudo-header sum.
// Module state rather than a record: the hot path calls it once per packet and reads it at once.
let segmentStart: usize = 0;
let segmentEnd: usize = 0;
let segmentPseudoSum: u32 = 0;

/**
 * Where the L3 header of the Ethernet frame at [frame, frame+len) starts, after up to
 * MAX_VLAN_TAGS tags; 0 when the frame is too short. Its EtherType is the 16 bits before it
 * (loadBe16(frame + l3 - 2)). Shared by every parser of inner frames (locateInnerL4, tsoSplit,
 * groMerge); inlined, so each keeps the straight-line code it had.
 */
// @ts-ignore: decorator
@inline export function findL3(frame: usize, len: usize): usize {
  if (len < ETH_HEADER_LEN) return 0;
  let typeOffset = ETH_TYPE;
  let etherType = loadBe16(frame + typeOffset);
  for (let tags = 0; tags < MAX_VLAN_TAGS && isVlanTpid(etherType); tags++) {
    if (typeOffset + VLAN_TAG_LEN + 2 > len) return 0;
    typeOffset += VLAN_TAG_LEN;
    etherType = loadBe16(frame + typeOffset);
  }
  return typeOffset + 2;
}

/** The folded pseudo-header sum of an L4 segment of `l4Len` bytes behind the IPv4 or IPv6 header at `ip`. */
// @ts-ignore: decorator
@inline export function pseudoHeaderSumAt(ip: usize, ipVersion: i32, protocol: u32, l4Len: u32): u32 {
  return ipVersion == 4
    ? ipv4PseudoHeaderSum(ip + IPV4_SOURCE, ip + IPV4_DESTINATION, protocol, l4Len)
    : ipv6PseudoHeaderSum(ip + IPV6_SOURCE, ip + IPV6_DESTINATION, protocol, l4Len);
}

/**
 * A segment built from another (tsoSplit's pieces, groMerge's merge) gets its IP length from
 * its size: the IPv4 total length and a fresh header checksum (the header is [ip, l4)), or the
 * IPv6 payload length. `frameLen` counts from the frame's start; `ip` and `l4` are offsets from it.
 * Returns the pseudo-header sum of the `protocol` segment at l4, for its L4 checksum.
 */
// @ts-ignore: decorator
@inline export function setIpLength(frame: usize, ip: usize, l4: usize, frameLen: u32, ipVersion: i32, protocol: u32): u32 {
  const l4Len = frameLen - <u32>l4;
  if (ipVersion == 4) {
    storeBe16(frame + ip + IPV4_TOTAL_LENGTH, frameLen - <u32>ip);
    store<u16>(frame + ip + IPV4_CHECKSUM, 0);
    storeBe16(frame + ip + IPV4_CHECKSUM, internetChecksum(frame + ip, l4 - ip));
  } else {
    storeBe16(frame + ip + IPV6_PAYLOAD_LENGTH, l4Len);
  }
  return pseudoHeaderSumAt(frame + ip, ipVersion, protocol, l4Len);
}

/**
 * The checksum to store for a segment whose ones' complement sum (pseudo-header included) is
 * `sum`: its complement, with a computed zero sent as all ones, since a UDP checksum of zero means
 * "no checksum" (RFC 768); for TCP the two are the same sum.
 */
// @ts-ignore: decorator
@inline export function l4ChecksumOf(sum: u32): u32 {
  const checksum = ~sum & 0xffff;
  return checksum == 0 ? 0xffff : checksum;
}

/**
 * Find the TCP or UDP segment of the Ethernet frame at [frame, frame+len). Returns its protocol
 * (6 or 17) and sets segmentStart/segmentEnd/segmentPseudoSum, or returns 0 when the frame holds
 * no such segment this code can checksum: not IP, an IP fragment, IPv6 extension headers, a length
 * field larger than the bytes, or a UDP length that disagrees with the IP length.
 */
export function locateInnerL4(frame: usize, len: usize): u32 {
  const l3 = findL3(frame, len);
  if (l3 == 0) return 0;
  const etherType = loadBe16(frame + l3 - 2);
  const available = len - l3;
  let protocol: u32 = 0;
  let start: usize = 0;
  let end: usize = 0;
  let pseudo: u32 = 0;
  if (etherType == ETHERTYPE_IPV4) {
    if (available < IPV4_MIN_HEADER_LEN) return 0;
    const versionIhl = <u32>load<u8>(frame + l3);
    const headerLen = <usize>(versionIhl & 0x0f) << 2;
    if ((versionIhl >> 4) != 4 || headerLen < IPV4_MIN_HEADER_LEN) return 0;
    const totalLength = <usize>loadBe16(frame + l3 + IPV4_TOTAL_LENGTH);
    if (totalLength < headerLen || totalLength > available) return 0;
    if ((loadBe16(frame + l3 + IPV4_FLAGS_FRAGMENT_OFFSET) & (IPV4_FLAG_MORE_FRAGMENTS | IPV4_FRAGMENT_OFFSET_MASK)) != 0) return 0;
    protocol = <u32>load<u8>(frame + l3 + IPV4_PROTOCOL);
    start = l3 + headerLen;
    end = l3 + totalLength;
    pseudo = ipv4PseudoHeaderSum(frame + l3 + IPV4_SOURCE, frame + l3 + IPV4_DESTINATION, protocol, <u32>(end - start));
  } else if (etherType == ETHERTYPE_IPV6) {
    if (available < IPV6_HEADER_LEN) return 0;
    if ((<u32>load<u8>(frame + l3) >> 4) != 6) return 0;
    const payloadLength = <usize>loadBe16(frame + l3 + IPV6_PAYLOAD_LENGTH);
    if (payloadLength > available - IPV6_HEADER_LEN) return 0;
    protocol = <u32>load<u8>(frame + l3 + IPV6_NEXT_HEADER);
    start = l3 + IPV6_HEADER_LEN;
    end = start + payloadLength;
    pseudo = ipv6PseudoHeaderSum(frame + l3 + IPV6_SOURCE, frame + l3 + IPV6_DESTINATION, protocol, <u32>payloadLength);
  } else {
    return 0;
  }
  if (protocol == IPPROTO_TCP) {
    if (end - start < TCP_MIN_HEADER_LEN) return 0;
  } else if (protocol == IPPROTO_UDP) {
    if (end - start < UDP_HEADER_LEN || <usize>loadBe16(frame + start + UDP_LENGTH) != end - start) return 0;
  } else {
    return 0;
  }
  segmentStart = start;
  segmentEnd = end;
  segmentPseudoSum = pseudo;
  return protocol;
}

/** Offset of the checksum field inside a TCP or UDP header. */
// @ts-ignore: decorator
@inline export function l4ChecksumField(protocol: u32): usize {
  return protocol == IPPROTO_TCP ? TCP_CHECKSUM : UDP_CHECKSUM;
}

/** Start of the segment found by the last successful locateInnerL4. */
// @ts-ignore: decorator
@inline export function innerSegmentStart(): usize { return segmentStart; }
/** End (exclusive) of the segment found by the last successful locateInnerL4. */
// @ts-ignore: decorator
@inline export function innerSegmentEnd(): usize { return segmentEnd; }
/** Folded pseudo-header sum of the segment found by the last successful locateInnerL4. */
// @ts-ignore: decorator
@inline export function innerSegmentPseudoSum(): u32 { return segmentPseudoSum; }

/** Check the TCP/UDP checksum of the inner frame at [frame, frame+len); one of INNER_CHECKSUM_*. */
export function verifyInnerChecksum(frame: usize, len: i32): i32 {
  if (len < 0) return INNER_CHECKSUM_UNSUPPORTED;
  const protocol = locateInnerL4(frame, <usize>len);
  if (protocol == 0) return INNER_CHECKSUM_UNSUPPORTED;
  if (protocol == IPPROTO_UDP && loadBe16(frame + segmentStart + UDP_CHECKSUM) == 0) return INNER_CHECKSUM_NONE;
  // A correct segment sums, with its pseudo-header, to 0xffff (-0).
  const sum = onesComplementSum(frame + segmentStart, segmentEnd - segmentStart, segmentPseudoSum);
  return sum == 0xffff ? INNER_CHECKSUM_VALID : INNER_CHECKSUM_BAD;
}

/** Whether a partial checksum's field (csumStart + csumOffset, 2 bytes) lies inside a frame of `len` bytes. */
// @ts-ignore: decorator
@inline export function partialChecksumFits(len: i32, csumStart: i32, csumOffset: i32): bool {
  return !(len < 0 || csumStart < 0 || csumOffset < 0 || csumStart > len || csumOffset > len - csumStart - 2);
}

/**
 * Complete a partial checksum: sum [frame+csumStart, frame+len), whose checksum field at
 * csumStart+csumOffset already holds the pseudo-header sum, and store the complement there.
 * Returns 0, or -1 (nothing written) when the field does not lie inside the frame.
 */
export function completeInnerChecksum(frame: usize, len: i32, csumStart: i32, csumOffset: i32): i32 {
  if (!partialChecksumFits(len, csumStart, csumOffset)) return -1;
  const sum = onesComplementSum(frame + <usize>csumStart, <usize>(len - csumStart), 0);
  storeBe16(frame + <usize>csumStart + <usize>csumOffset, l4ChecksumOf(sum));
  return 0;
}

/**
 * Finish a TCP/UDP checksum that a Linux sender left partial (CHECKSUM_PARTIAL) and that reached
 * us through a socket, which keeps no checksum state: a kernel VTEP on the same host or hypervisor
 * (a veth, virtio-net) encapsulates the segment before anything computed its checksum, so the
 * field still holds the folded pseudo-header sum, not complemented (what tcpdump calls
 * "partial"). A TAP's kernel would drop the segment as corrupt.
 *
 * Told apart from a wrong checksum by that signature: the field equals the segment's own
 * pseudo-header sum AND the segment does not verify with it. A segment that verifies is left alone
 * whatever its field holds; a corrupt one whose field happens to equal its pseudo-header sum
 * (2^-16 of corrupt segments, and only those the outer checks let through) would be finished;
 * every other wrong checksum stays wrong, and the receiving stack drops it.
 *
 * Cost: the header parse and one compare per segment; the sum over the segment only when the
 * field matches. Returns PARTIAL_FINISHED or PARTIAL_UNTOUCHED.
 */
export function finishPartialChecksum(frame: usize, len: i32): i32 {
  if (len < 0) return PARTIAL_UNTOUCHED;
  const protocol = locateInnerL4(frame, <usize>len);
  if (protocol == 0) return PARTIAL_UNTOUCHED;
  const field = frame + segmentStart + l4ChecksumField(protocol);
  const value = loadBe16(field);
  // A UDP checksum of zero is "none" (RFC 768), never a partial sum (Linux stores a zero sum as 0xffff).
  if (protocol == IPPROTO_UDP && value == 0) return PARTIAL_UNTOUCHED;
  if (!sameOnesComplement(value, segmentPseudoSum)) return PARTIAL_UNTOUCHED;
  const segment = frame + segmentStart;
  const segmentLen = segmentEnd - segmentStart;
  if (onesComplementSum(segment, segmentLen, segmentPseudoSum) == 0xffff) return PARTIAL_UNTOUCHED;
  // The field holds the pseudo-header sum, so the segment's own sum is the whole sum.
  storeBe16(field, l4ChecksumOf(onesComplementSum(segment, segmentLen, 0)));
  return PARTIAL_FINISHED;
}

/** Two 16-bit ones' complement values are equal (0x0000 and 0xffff are both zero). */
// @ts-ignore: decorator
@inline function sameOnesComplement(a: u32, b: u32): bool {
  return a == b || (a | b) == 0xffff && (a == 0 || b == 0);
}
