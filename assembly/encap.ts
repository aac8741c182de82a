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
// block ending at the inner frame with no loop (HEADER_BLOCK_LEN in batch.ts, encapSlot in
// encap-batch.ts).

import { onesComplementSum, fold16Small, loadBe16, storeBe16, swap16 } from './checksum';
import { flowHash, flowHashFastIpv4, flowHashFastIpv6, sourcePortFromHash } from './flowhash';
import { fastInnerIpVersion, isFastIpv4Inner, fastSegmentHasChecksum, fastHeadersSum } from './inner-fast';
import { IPV4_TOTAL_LENGTH, IPV4_CHECKSUM, IPV4_MIN_HEADER_LEN, IPPROTO_UDP } from './layout/ipv4';
import { IPV6_PAYLOAD_LENGTH, IPV6_HEADER_LEN } from './layout/ipv6';
import { UDP_SOURCE_PORT, UDP_LENGTH, UDP_CHECKSUM, UDP_HEADER_LEN } from './layout/udp';
import { VXLAN_HEADER_LEN } from './layout/vxlan';
import { locateInnerL4, innerSegmentStart, innerSegmentEnd, innerSegmentPseudoSum } from './inner';

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
/** udpBaseSum(template), written where the template is built (src/batch/template.ts): encapFrame's, read per frame. */
export const TEMPLATE_UDP_BASE_SUM: usize = 52;
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
 *
 * As fast per frame as encapBatch per slot: the UDP base sum comes from the template
 * (TEMPLATE_UDP_BASE_SUM, written where it is built), and each IP version and checksum mode
 * gets its own copy of fillPacketFields (encapFrameWith) with those constant, so the frame
 * takes only its own branches and the fixed-offset readers of inner-fast.ts.
 */
export function encapFrame(template: usize, inner: usize, innerLen: usize): usize {
  const headerLen = <usize>load<i32>(template + TEMPLATE_HEADER_LEN);
  copyFrameHeader(inner - headerLen, templateHeader(template, headerLen), headerLen);
  const ipv4 = load<i32>(template + TEMPLATE_IP_VERSION) == 4;
  const mode = load<i32>(template + TEMPLATE_UDP_CHECKSUM_MODE);
  // The single-frame API's tunnels: IPv4 with or without the UDP checksum, IPv6 (always with it).
  if (ipv4 && mode == UDP_CHECKSUM_FULL) encapFrameIpv4Full(template, inner, <u32>innerLen);
  else if (ipv4 && mode == UDP_CHECKSUM_ZERO) encapFrameIpv4Zero(template, inner, <u32>innerLen);
  else if (!ipv4 && mode == UDP_CHECKSUM_FULL) encapFrameIpv6Full(template, inner, <u32>innerLen);
  else encapFrameWith(template, inner, <u32>innerLen, ipv4 ? 4 : 6, mode);
  return headerLen + innerLen;
}

// encapFrameWith with the IP version and mode constant, each its own function: inlined into one
// body, the optimiser would merge the copies back into one that tests both per packet.
function encapFrameIpv4Full(template: usize, inner: usize, innerLen: u32): void {
  encapFrameWith(template, inner, innerLen, 4, UDP_CHECKSUM_FULL);
}
function encapFrameIpv4Zero(template: usize, inner: usize, innerLen: u32): void {
  encapFrameWith(template, inner, innerLen, 4, UDP_CHECKSUM_ZERO);
}
function encapFrameIpv6Full(template: usize, inner: usize, innerLen: u32): void {
  encapFrameWith(template, inner, innerLen, 6, UDP_CHECKSUM_FULL);
}

/**
 * encapFrame's per-packet fields for a template of IP version `ipVersion` and checksum `mode`
 * (constants where encapFrame inlines it). Only an IPv4 header has an identification to advance,
 * as in encapBatch and the reference.
 */
// @ts-ignore: decorator
@inline function encapFrameWith(template: usize, inner: usize, innerLen: u32, ipVersion: i32, mode: i32): void {
  let id: u32 = 0;
  if (ipVersion == 4) {
    id = <u32>load<i32>(template + TEMPLATE_NEXT_ID) & 0xffff;
    store<i32>(template + TEMPLATE_NEXT_ID, <i32>((id + 1) & 0xffff));
  }
  fillPacketFields(template, inner, innerLen, ipVersion, mode, load<u32>(template + TEMPLATE_UDP_BASE_SUM), id, false);
}

/**
 * copyHeader written out for the header lengths a template has (more than 48 bytes, at most 80:
 * Ethernet, an optional VLAN tag, IPv4 or IPv6, UDP, VXLAN): three or four fixed stores and one
 * ending at `len`, no loop. Any other length takes copyHeader.
 */
// @ts-ignore: decorator
@inline function copyFrameHeader(destination: usize, source: usize, len: usize): void {
  if (ASC_FEATURE_SIMD && len - 49 < 32) {
    v128.store(destination, v128.load(source));
    v128.store(destination, v128.load(source, 16), 16);
    v128.store(destination, v128.load(source, 32), 32);
    if (len > 64) v128.store(destination, v128.load(source, 48), 48);
    v128.store(destination + len - 16, v128.load(source + len - 16));
  } else {
    copyHeader(destination, source, len);
  }
}

// Distances from the inner frame back to the outer headers: UDP + VXLAN is 16 bytes, and the IP
// header right before them has no options (IPv4) or extension headers (IPv6).
const UDP_FROM_INNER: usize = UDP_HEADER_LEN + VXLAN_HEADER_LEN;
const IPV4_FROM_INNER: usize = IPV4_MIN_HEADER_LEN + UDP_FROM_INNER;
const IPV6_FROM_INNER: usize = IPV6_HEADER_LEN + UDP_FROM_INNER;

/**
 * Fill the per-packet fields of the outer headers already copied in front of `inner`: lengths,
 * IPv4 identification and header checksum, UDP source port and checksum. Returns the source port.
 * Reads the template's descriptor and the inner frame, never the header bytes just written (a
 * load of freshly stored bytes waits for the stores), and stores each field once.
 *
 * With `fast` (a constant where encapBatch inlines it) the caller has checked isFastSlot: the
 * inner frame is a fast-path IPv4 one (or, in `zero` mode with a fixed source port, need not be
 * parsed), so this form has no call: around a call V8 spills every register of the loop.
 * Otherwise fast-path IPv4 and IPv6 inner frames still take the fixed-offset readers of
 * inner-fast.ts, and only the rest the general parsers.
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
    const version = fast ? 4 : fastInnerIpVersion(inner, innerLen);
    const hash = version == 4 ? flowHashFastIpv4(inner) : version == 6 ? flowHashFastIpv6(inner) : flowHash(inner, innerLen);
    sourcePort = sourcePortFromHash(hash, <u32>load<i32>(template + TEMPLATE_PORT_LOW), <u32>load<i32>(template + TEMPLATE_PORT_HIGH));
  }
  storeBe16(udp + UDP_SOURCE_PORT, sourcePort);

  let checksum: u32 = 0;
  if (mode != UDP_CHECKSUM_ZERO) {
    // The header's share: what the template fixes, the source port, the UDP length twice.
    const headerSum = udpSum + sourcePort + (udpLength << 1);
    const version = fast ? 4 : mode == UDP_CHECKSUM_OFFLOAD ? fastInnerIpVersion(inner, innerLen) : 0;
    if (mode == UDP_CHECKSUM_OFFLOAD && (fast || version != 0 && fastSegmentHasChecksum(inner, innerLen, version))) {
      checksum = ~fold16Small(headerSum + fastHeadersSum(inner, innerLen, version)) & 0xffff;
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
 * mode, a fixed source port or a fast-path IPv4 inner frame to hash and, for `offload`, a
 * fast-path IPv4 frame whose segment carries a checksum. (`full` always sums the datagram: a call
 * anyway.) IPv6 inner frames go to the general form, which reads them at fixed offsets too:
 * keeping their code out of encapBatch's fast loop keeps the IPv4 one a nanosecond faster.
 */
// @ts-ignore: decorator
@inline export function isFastSlot(template: usize, inner: usize, innerLen: u32, mode: i32): bool {
  if (mode == UDP_CHECKSUM_OFFLOAD) return isFastIpv4Inner(inner, innerLen) && fastSegmentHasChecksum(inner, innerLen, 4);
  return load<i32>(template + TEMPLATE_FIXED_SOURCE_PORT) >= 0 || isFastIpv4Inner(inner, innerLen);
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
