// The encapsulation fast path's inner frames, read at fixed offsets: untagged Ethernet carrying
// IPv4 without options or IPv6 without extension headers, long enough to hold the ports.
// encapBatch takes them without the general parsers (flowHash, locateInnerL4), which are calls;
// every answer here is the one the general parsers would give, which the differential tests check.

import { fold16, swap16 } from './checksum';
import { ETH_TYPE, ETH_HEADER_LEN, ETHERTYPE_IPV4_IHL_5_LE } from './layout/ethernet';
import {
  IPV4_TOTAL_LENGTH, IPV4_FLAGS_FRAGMENT_OFFSET, IPV4_PROTOCOL, IPV4_MIN_HEADER_LEN, IPPROTO_TCP, IPPROTO_UDP, FRAGMENT_BITS_LE,
} from './layout/ipv4';
import { IPV6_PAYLOAD_LENGTH, IPV6_NEXT_HEADER, IPV6_HEADER_LEN } from './layout/ipv6';
import { UDP_LENGTH, UDP_HEADER_LEN } from './layout/udp';
import { TCP_MIN_HEADER_LEN } from './inner';

/** Where the TCP/UDP header of a fast-path IPv4 / IPv6 inner frame starts. */
const IPV4_L4: usize = ETH_HEADER_LEN + IPV4_MIN_HEADER_LEN;
const IPV6_L4: usize = ETH_HEADER_LEN + IPV6_HEADER_LEN;
/** The EtherType 86 dd and the version nibble 6, as the masked low three bytes of a little-endian load. */
const ETHERTYPE_IPV6_VERSION_LE: u32 = 0x60dd86;

/** Whether the frame is a fast-path IPv4 inner frame (fastInnerIpVersion would say 4), in one test. */
// @ts-ignore: decorator
@inline export function isFastIpv4Inner(inner: usize, innerLen: u32): bool {
  // EtherType and the IP version/header length byte in one load: bytes 08 00 45.
  return innerLen >= <u32>(IPV4_L4 + 4) && (load<u32>(inner + ETH_TYPE) & 0x00ffffff) == ETHERTYPE_IPV4_IHL_5_LE;
}

/**
 * 4 or 6 when the frame is a fast-path IPv4 / IPv6 inner frame with room for the ports after the IP
 * header, else 0. The EtherType and the IP version byte come from one load.
 */
// @ts-ignore: decorator
@inline export function fastInnerIpVersion(inner: usize, innerLen: u32): u32 {
  const typeAndVersion = load<u32>(inner + ETH_TYPE);
  if ((typeAndVersion & 0x00ffffff) == ETHERTYPE_IPV4_IHL_5_LE) return innerLen >= <u32>(IPV4_L4 + 4) ? 4 : 0;
  if ((typeAndVersion & 0x00f0ffff) == ETHERTYPE_IPV6_VERSION_LE) return innerLen >= <u32>(IPV6_L4 + 4) ? 6 : 0;
  return 0;
}

/**
 * For a fast-path inner frame of IP version `version`: whether it ends with a TCP/UDP segment that
 * carries a checksum (an unfragmented one, for IPv4), exactly as canSumFromHeaders would decide.
 */
// @ts-ignore: decorator
@inline export function fastSegmentHasChecksum(inner: usize, innerLen: u32, version: u32): bool {
  const l3 = inner + ETH_HEADER_LEN;
  let protocol: u32;
  let l4: usize;
  if (version == 4) {
    if (<u32>load<u16>(l3 + IPV4_TOTAL_LENGTH) != swap16(innerLen - <u32>ETH_HEADER_LEN)) return false;
    // Flags, fragment offset, TTL and protocol in one load: the fragment bits, then the top byte.
    const fragmentAndProtocol = load<u32>(l3 + IPV4_FLAGS_FRAGMENT_OFFSET);
    if ((fragmentAndProtocol & FRAGMENT_BITS_LE) != 0) return false;
    protocol = fragmentAndProtocol >> 24;
    l4 = IPV4_L4;
  } else {
    if (<u32>load<u16>(l3 + IPV6_PAYLOAD_LENGTH) != swap16(innerLen - <u32>IPV6_L4)) return false;
    protocol = <u32>load<u8>(l3 + IPV6_NEXT_HEADER);
    l4 = IPV6_L4;
  }
  const segmentLen = innerLen - <u32>l4;
  if (protocol == IPPROTO_TCP) return segmentLen >= <u32>TCP_MIN_HEADER_LEN;
  if (protocol != IPPROTO_UDP || segmentLen < <u32>UDP_HEADER_LEN) return false;
  // UDP length and checksum in one load: the length must be the segment's, the checksum not 0.
  const lengthAndChecksum = load<u32>(inner + l4 + UDP_LENGTH);
  return (lengthAndChecksum & 0xffff) == swap16(segmentLen) && (lengthAndChecksum >> 16) != 0;
}

/**
 * For a fast-path inner frame whose segment's checksum is valid: the ones' complement sum of the
 * inner Ethernet and IP headers plus the segment's own sum, ~(its pseudo-header sum). The
 * addresses appear in both with opposite signs and cancel, so this is the sum of the bytes
 * before the addresses (Ethernet header and the IP header's first 12 bytes for IPv4, 8 for IPv6)
 * minus the protocol and the segment length.
 */
// @ts-ignore: decorator
@inline export function fastHeadersSum(inner: usize, innerLen: u32, version: u32): u32 {
  let little = <u64>load<u32>(inner) + <u64>load<u32>(inner, 4) + <u64>load<u32>(inner, 8) +
    <u64>load<u32>(inner, 12) + <u64>load<u32>(inner, 16);
  let protocol: u32;
  let segmentLen: u32;
  if (version == 4) {
    little += <u64>load<u32>(inner, 20) + <u64>load<u16>(inner, 24); // 26 bytes
    protocol = <u32>load<u8>(inner + ETH_HEADER_LEN + IPV4_PROTOCOL);
    segmentLen = innerLen - <u32>IPV4_L4;
  } else {
    little += <u64>load<u16>(inner, 20); // 22 bytes
    protocol = <u32>load<u8>(inner + ETH_HEADER_LEN + IPV6_NEXT_HEADER);
    segmentLen = innerLen - <u32>IPV6_L4;
  }
  // -x in ones' complement is ~x (0xffff - x).
  return swap16(fold16(little)) + (0xffff - protocol) + (0xffff - segmentLen);
}
