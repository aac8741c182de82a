// Encapsulation: write the outer Ethernet/IP/UDP/VXLAN headers in front of an inner frame that
// already sits in memory, from a template built once per tunnel.
//
// The template is a descriptor followed by the header bytes with every per-packet field zero
// (lengths, IPv4 identification and checksum, UDP source port and checksum). Per packet we copy
// the header, then fill those fields; the IPv4 header checksum is completed from a sum of the
// constant fields precomputed in the template (RFC 1624 style), so the header is not re-summed.
//
// The header bytes are right-aligned: they end at TEMPLATE_LEN. Every field then sits at a fixed
// distance before the inner frame whatever the outer Ethernet header holds (the IP header starts
// headerLen - l3 bytes before it, the UDP header 16), and the batch kernel can copy a fixed-size
// block ending at the inner frame with no loop (see encapRun in batch.ts).

import { onesComplementSum, fold16, fold16Small, loadBe16, storeBe16, swap16 } from './checksum';
import { flowHash, flowHashCommonIpv4, sourcePortFromHash } from './flowhash';
import { ETH_TYPE, ETH_HEADER_LEN, ETHERTYPE_IPV4_IHL_5_LE } from './layout/ethernet';
import {
  IPV4_TOTAL_LENGTH, IPV4_FLAGS_FRAGMENT, IPV4_PROTOCOL, IPV4_CHECKSUM, IPV4_MIN_HEADER_LEN, IPPROTO_TCP, IPPROTO_UDP,
  VERSION_IHL_5, FRAGMENT_BITS_LE,
} from './layout/ipv4';
import { IPV6_PAYLOAD_LENGTH, IPV6_HEADER_LEN } from './layout/ipv6';
import { UDP_SOURCE_PORT, UDP_LENGTH, UDP_CHECKSUM, UDP_HEADER_LEN } from './layout/udp';
import { VXLAN_HEADER_LEN } from './layout/vxlan';
import { locateInnerL4, innerSegmentStart, innerSegmentEnd, innerSegmentPseudoSum, TCP_MIN_HEADER_LEN } from './inner';

/** Where an untagged inner IPv4 frame without options has its TCP/UDP header. */
const COMMON_INNER_L4: usize = ETH_HEADER_LEN + IPV4_MIN_HEADER_LEN;

// Template descriptor: i32 fields at these byte offsets (TEMPLATE_* in src/wasm/abi.ts).
export const TEMPLATE_HEADER_LEN: usize = 0;
export const TEMPLATE_L3: usize = 4;
export const TEMPLATE_L4: usize = 8;
export const TEMPLATE_IP_VERSION: usize = 12;
export const TEMPLATE_UDP_CHECKSUM_MODE: usize = 16;
export const TEMPLATE_PORT_LOW: usize = 20;
export const TEMPLATE_PORT_HIGH: usize = 24;
/** A fixed source port, or -1 to hash the inner flow. */
export const TEMPLATE_FIXED_SOURCE_PORT: usize = 28;
/** Folded sum of the IPv4 header with the per-packet fields zero. */
export const TEMPLATE_IPV4_BASE_SUM: usize = 32;
/** Folded pseudo-header sum without the length (addresses and protocol). */
export const TEMPLATE_PSEUDO_BASE_SUM: usize = 36;
/** Next IPv4 identification; incremented per packet. */
export const TEMPLATE_NEXT_ID: usize = 40;
// Run fields: written by encapBatch from the checked descriptor once per run of slots and read
// by its loop, so that V8 neither recomputes them per packet nor spills them.
/** The largest inner length of the run (slot size and 16-bit outer lengths), minus ETH_HEADER_LEN. */
export const TEMPLATE_RUN_LENGTH_SPAN: usize = 44;
/** udpBaseSum(template). */
export const TEMPLATE_RUN_UDP_SUM: usize = 48;
/** u64: which peer index and slot stride the run fields were written for (0: none yet). */
export const TEMPLATE_RUN_KEY: usize = 56;
/** The metadata record every slot of the run gets (META_LEN's first 64 bytes), before its own fields. */
export const TEMPLATE_RUN_RECORD: usize = 64;
/** Start of the room for the header bytes, which end at TEMPLATE_LEN (128 bytes of room). */
export const TEMPLATE_HEADER_AREA: usize = 128;
export const TEMPLATE_LEN: usize = 256;

/** Where the header bytes of a template with `headerLen` bytes of header start. */
// @ts-ignore: decorator
@inline export function templateHeader(template: usize, headerLen: usize): usize {
  return template + TEMPLATE_LEN - headerLen;
}

export const UDP_CHECKSUM_ZERO: i32 = 0;
export const UDP_CHECKSUM_FULL: i32 = 1;
/**
 * Local checksum offload (Linux's lco_csum): when the inner frame carries a TCP/UDP segment with
 * a valid checksum, the outer UDP checksum follows from the headers alone; otherwise it is summed
 * in full. An inner segment with a wrong checksum gets a wrong outer checksum, so the receiver
 * drops the packet, as it would have dropped the inner one.
 */
export const UDP_CHECKSUM_OFFLOAD: i32 = 2;

/**
 * Copy `len` bytes (16 ≤ len) from the template to the frame with wide loads and stores: V8
 * compiles memory.copy to a call into the runtime, which costs more than the copy itself at
 * these sizes. The last chunk ends exactly at `len` and may overlap the one before it, which is
 * harmless (same bytes) and keeps the inner frame after the header untouched.
 */
// @ts-ignore: decorator
@inline function copyHeader(destination: usize, source: usize, len: usize): void {
  if (ASC_FEATURE_SIMD) {
    let at: usize = 0;
    for (; at + 16 <= len; at += 16) v128.store(destination + at, v128.load(source + at));
    if (at < len) v128.store(destination + len - 16, v128.load(source + len - 16));
  } else {
    let at: usize = 0;
    for (; at + 8 <= len; at += 8) store<u64>(destination + at, load<u64>(source + at));
    if (at < len) store<u64>(destination + len - 8, load<u64>(source + len - 8));
  }
}

/**
 * Folded sum of what a template fixes in the outer UDP checksum: the pseudo-header's addresses
 * and protocol, the destination port and the VXLAN header (the template's source port, length
 * and checksum are zero). Per packet the source port and the UDP length (twice: field and
 * pseudo-header) are added, so the checksum never reads back the header just written.
 */
export function udpBaseSum(template: usize): u32 {
  const headerLen = <usize>load<i32>(template + TEMPLATE_HEADER_LEN);
  const l4 = <usize>load<i32>(template + TEMPLATE_L4);
  return onesComplementSum(templateHeader(template, headerLen) + l4, UDP_HEADER_LEN + VXLAN_HEADER_LEN, load<u32>(template + TEMPLATE_PSEUDO_BASE_SUM));
}

/**
 * Encapsulate the inner frame at [inner, inner+innerLen) in the bytes just before it, which the
 * caller reserved (at least the template's header length). Returns the outer frame's length; the
 * frame starts at inner - header length. The object API's one-frame kernel: encapBatch does the
 * same per slot with what it needs from the template prepared once per run of slots.
 */
export function encapFrame(template: usize, inner: usize, innerLen: usize): usize {
  const headerLen = <usize>load<i32>(template + TEMPLATE_HEADER_LEN);
  copyHeader(inner - headerLen, templateHeader(template, headerLen), headerLen);
  const id = <u32>load<i32>(template + TEMPLATE_NEXT_ID) & 0xffff;
  store<i32>(template + TEMPLATE_NEXT_ID, <i32>((id + 1) & 0xffff));
  fillPacketFields(
    template, inner, <u32>innerLen, load<i32>(template + TEMPLATE_IP_VERSION), load<i32>(template + TEMPLATE_UDP_CHECKSUM_MODE),
    udpBaseSum(template), id, false,
  );
  return headerLen + innerLen;
}

// Distances from the inner frame back to the outer headers: UDP + VXLAN is 16 bytes, and the IP
// header right before them has no options (IPv4) or extension headers (IPv6).
const UDP_FROM_INNER: usize = UDP_HEADER_LEN + VXLAN_HEADER_LEN;
const IPV4_FROM_INNER: usize = IPV4_MIN_HEADER_LEN + UDP_FROM_INNER;
const IPV6_FROM_INNER: usize = IPV6_HEADER_LEN + UDP_FROM_INNER;

/**
 * Fill the per-packet fields of the outer headers already copied in front of `inner`: lengths,
 * IPv4 identification and header checksum, UDP source port and checksum. Returns the source port.
 * encapBatch calls it with `ipVersion`, `mode` and `fast` constant, and the inlined copies keep
 * only their own branches; with `fast` the caller has checked isFastSlot, so the general parsers
 * (calls, which make V8 spill the loop's registers) drop out. Reads the template's descriptor and
 * the inner frame, never the header bytes just written (a load of freshly stored bytes waits for
 * the stores), and stores each field once.
 */
// @ts-ignore: decorator
@inline export function fillPacketFields(
  template: usize, inner: usize, innerLen: u32, ipVersion: i32, mode: i32, udpSum: u32, id: u32, fast: bool,
): u32 {
  const udp = inner - UDP_FROM_INNER;
  const udpLength = innerLen + <u32>UDP_FROM_INNER;
  if (ipVersion == 4) {
    const ip = inner - IPV4_FROM_INNER;
    const totalLength = innerLen + <u32>IPV4_FROM_INNER;
    // Total length then identification, network order, in one store: the byte swap of
    // (totalLength << 16 | id) is swap16(id) << 16 | swap16(totalLength).
    store<u32>(ip + IPV4_TOTAL_LENGTH, bswap<u32>((totalLength << 16) | id));
    // The base sum and two 16-bit values stay below 2^18.
    storeBe16(ip + IPV4_CHECKSUM, ~fold16Small(load<u32>(template + TEMPLATE_IPV4_BASE_SUM) + totalLength + id));
  } else {
    storeBe16(inner - IPV6_FROM_INNER + IPV6_PAYLOAD_LENGTH, udpLength);
  }

  let sourcePort = <u32>load<i32>(template + TEMPLATE_FIXED_SOURCE_PORT);
  if (<i32>sourcePort < 0) {
    const hash = fast || isCommonIpv4(inner, innerLen) ? flowHashCommonIpv4(inner) : flowHash(inner, innerLen);
    sourcePort = sourcePortFromHash(hash, <u32>load<i32>(template + TEMPLATE_PORT_LOW), <u32>load<i32>(template + TEMPLATE_PORT_HIGH));
  }
  storeBe16(udp + UDP_SOURCE_PORT, sourcePort);

  let checksum: u32 = 0;
  if (mode != UDP_CHECKSUM_ZERO) {
    // The header's share: what the template fixes, the source port, the UDP length twice.
    const headerSum = udpSum + sourcePort + (udpLength << 1);
    if (mode == UDP_CHECKSUM_OFFLOAD && (fast || isCommonIpv4(inner, innerLen) && commonSegmentHasChecksum(inner, innerLen))) {
      checksum = ~fold16Small(headerSum + commonIpv4HeadersSum(inner, innerLen)) & 0xffff;
    } else if (mode == UDP_CHECKSUM_OFFLOAD && canSumFromHeaders(inner, innerLen)) {
      // A valid inner segment sums to ~(its pseudo-header sum): add that instead of its bytes.
      const headersSum = onesComplementSum(inner, innerSegmentStart(), headerSum);
      checksum = ~fold16Small(headersSum + (~innerSegmentPseudoSum() & 0xffff)) & 0xffff;
    } else {
      checksum = ~onesComplementSum(inner, innerLen, headerSum) & 0xffff;
    }
    // RFC 768: a computed zero is sent as all ones, since zero means "no checksum".
    if (checksum == 0) checksum = 0xffff;
  }
  // Length then checksum, network order, in one store (as the IPv4 length and identification).
  store<u32>(udp + UDP_LENGTH, bswap<u32>((udpLength << 16) | checksum));
  return sourcePort;
}

/**
 * Whether fillPacketFields may take its `fast` form for this inner frame: in `zero` and `offload`
 * mode, a fixed source port or a common IPv4 inner frame to hash and, for `offload`, a common
 * frame whose segment carries a checksum. (`full` always sums the datagram: a call anyway.)
 */
// @ts-ignore: decorator
@inline export function isFastSlot(template: usize, inner: usize, innerLen: u32, mode: i32): bool {
  if (mode == UDP_CHECKSUM_OFFLOAD) return isCommonIpv4(inner, innerLen) && commonSegmentHasChecksum(inner, innerLen);
  return load<i32>(template + TEMPLATE_FIXED_SOURCE_PORT) >= 0 || isCommonIpv4(inner, innerLen);
}

/**
 * The common inner frame, handled without the general parsers: untagged Ethernet, IPv4 without
 * options, room for the ports. Anything else takes the general path, which gives the same results.
 */
// @ts-ignore: decorator
@inline function isCommonIpv4(inner: usize, innerLen: u32): bool {
  // EtherType and the IP version/header length byte in one load: bytes 08 00 45.
  return innerLen >= <u32>(COMMON_INNER_L4 + 4) && (load<u32>(inner + ETH_TYPE) & 0x00ffffff) == ETHERTYPE_IPV4_IHL_5_LE;
}

/**
 * For a common inner frame (isCommonIpv4): whether it ends with an unfragmented TCP/UDP segment
 * that carries a checksum, exactly as canSumFromHeaders would decide.
 */
// @ts-ignore: decorator
@inline function commonSegmentHasChecksum(inner: usize, innerLen: u32): bool {
  const l3 = inner + ETH_HEADER_LEN;
  if (<u32>load<u16>(l3 + IPV4_TOTAL_LENGTH) != swap16(innerLen - <u32>ETH_HEADER_LEN)) return false;
  // Flags, fragment offset, TTL and protocol in one load: the fragment bits, then the top byte.
  const fragmentAndProtocol = load<u32>(l3 + IPV4_FLAGS_FRAGMENT);
  if ((fragmentAndProtocol & FRAGMENT_BITS_LE) != 0) return false;
  const protocol = fragmentAndProtocol >> 24;
  const segmentLen = innerLen - <u32>COMMON_INNER_L4;
  if (protocol == IPPROTO_TCP) return segmentLen >= <u32>TCP_MIN_HEADER_LEN;
  if (protocol != IPPROTO_UDP || segmentLen < <u32>UDP_HEADER_LEN) return false;
  // UDP length and checksum in one load: the length must be the segment's, the checksum not 0.
  const lengthAndChecksum = load<u32>(inner + COMMON_INNER_L4 + UDP_LENGTH);
  return (lengthAndChecksum & 0xffff) == swap16(segmentLen) && (lengthAndChecksum >> 16) != 0;
}

/**
 * For a common inner frame whose segment's checksum is valid: the ones' complement sum of the
 * inner Ethernet and IP headers plus the segment's own sum, ~(its pseudo-header sum). The
 * addresses appear in both with opposite signs and cancel, so this is the sum of the first 26
 * bytes (Ethernet header and IP header up to the addresses) minus the protocol and segment length.
 */
// @ts-ignore: decorator
@inline function commonIpv4HeadersSum(inner: usize, innerLen: u32): u32 {
  const little = <u64>load<u32>(inner) + <u64>load<u32>(inner, 4) + <u64>load<u32>(inner, 8) +
    <u64>load<u32>(inner, 12) + <u64>load<u32>(inner, 16) + <u64>load<u32>(inner, 20) + <u64>load<u16>(inner, 24);
  const protocol = <u32>load<u8>(inner + ETH_HEADER_LEN + IPV4_PROTOCOL);
  // -x in ones' complement is ~x (0xffff - x).
  return swap16(fold16(little)) + (0xffff - protocol) + (0xffff - (innerLen - <u32>COMMON_INNER_L4));
}

/**
 * Whether the outer checksum may be taken from the headers: the inner frame ends with a TCP/UDP
 * segment (no padding after it) that carries a checksum. Sets the inner segment's position.
 */
function canSumFromHeaders(inner: usize, innerLen: u32): bool {
  const protocol = locateInnerL4(inner, <usize>innerLen);
  if (protocol == 0 || innerSegmentEnd() != <usize>innerLen) return false;
  // RFC 768: a UDP checksum of zero means none was computed, so the segment's sum says nothing.
  return !(protocol == IPPROTO_UDP && loadBe16(inner + innerSegmentStart() + UDP_CHECKSUM) == 0);
}
