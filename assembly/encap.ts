// Encapsulation: write the outer Ethernet/IP/UDP/VXLAN headers in front of an inner frame that
// already sits in memory, from a template built once per tunnel.
//
// The template is a descriptor followed by the header bytes with every per-packet field zero
// (lengths, IPv4 identification and checksum, UDP source port and checksum). Per packet we copy
// the header, then fill those fields; the IPv4 header checksum is completed from a sum of the
// constant fields precomputed in the template (RFC 1624 style), so the header is not re-summed.

import { onesComplementSum, fold16, loadBe16, storeBe16 } from './checksum';
import { flowHash, sourcePortFromHash } from './flowhash';
import { IPV4_TOTAL_LENGTH, IPV4_IDENTIFICATION, IPV4_CHECKSUM, IPPROTO_UDP } from './layout/ipv4';
import { IPV6_PAYLOAD_LENGTH } from './layout/ipv6';
import { UDP_SOURCE_PORT, UDP_LENGTH, UDP_CHECKSUM } from './layout/udp';
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
export const TEMPLATE_HEADER: usize = 64;
export const TEMPLATE_LEN: usize = 160;

export const UDP_CHECKSUM_ZERO: i32 = 0;
export const UDP_CHECKSUM_FULL: i32 = 1;
/**
 * Local checksum offload (Linux's lco_csum): when the inner frame carries a TCP/UDP segment with
 * a valid checksum, the outer UDP checksum follows from the headers alone; otherwise it is summed
 * in full. An inner segment with a wrong checksum gets a wrong outer checksum, so the receiver
 * drops the packet, as it would have dropped the inner one.
 */
export const UDP_CHECKSUM_OFFLOAD: i32 = 2;

let sourcePortWritten: i32 = 0;

/** The UDP source port the last encapFrame call wrote (so callers need not read it back). */
// @ts-ignore: decorator
@inline export function lastSourcePort(): i32 {
  return sourcePortWritten;
}

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
 * Write the outer headers for the inner frame at [inner, inner+innerLen) into the bytes just
 * before it, which the caller reserved (headroom ≥ header length). Returns the outer frame's
 * length; the frame starts at inner - header length.
 */
export function encapFrame(template: usize, inner: usize, innerLen: usize): usize {
  return writeOuterHeaders(
    template, inner, innerLen,
    <usize>load<i32>(template + TEMPLATE_HEADER_LEN), <usize>load<i32>(template + TEMPLATE_L3),
    <usize>load<i32>(template + TEMPLATE_L4), load<i32>(template + TEMPLATE_IP_VERSION),
  );
}

/**
 * encapFrame with the template's layout fields already read: encapBatch reads them once per
 * run of slots sharing a template instead of once per packet.
 */
// @ts-ignore: decorator
@inline export function writeOuterHeaders(
  template: usize, inner: usize, innerLen: usize, headerLen: usize, l3: usize, l4: usize, ipVersion: i32,
): usize {
  const frame = inner - headerLen;
  copyHeader(frame, template + TEMPLATE_HEADER, headerLen);

  const udpLength = <u32>(headerLen - l4 + innerLen);
  if (ipVersion == 4) {
    const totalLength = <u32>(headerLen - l3 + innerLen);
    const id = <u32>load<i32>(template + TEMPLATE_NEXT_ID) & 0xffff;
    store<i32>(template + TEMPLATE_NEXT_ID, <i32>((id + 1) & 0xffff));
    storeBe16(frame + l3 + IPV4_TOTAL_LENGTH, totalLength);
    storeBe16(frame + l3 + IPV4_IDENTIFICATION, id);
    const sum = <u64>load<u32>(template + TEMPLATE_IPV4_BASE_SUM) + <u64>totalLength + <u64>id;
    storeBe16(frame + l3 + IPV4_CHECKSUM, ~fold16(sum) & 0xffff);
  } else {
    storeBe16(frame + l3 + IPV6_PAYLOAD_LENGTH, udpLength);
  }
  storeBe16(frame + l4 + UDP_LENGTH, udpLength);

  let sourcePort = load<i32>(template + TEMPLATE_FIXED_SOURCE_PORT);
  if (sourcePort < 0) {
    sourcePort = <i32>sourcePortFromHash(
      flowHash(inner, innerLen),
      <u32>load<i32>(template + TEMPLATE_PORT_LOW),
      <u32>load<i32>(template + TEMPLATE_PORT_HIGH),
    );
  }
  storeBe16(frame + l4 + UDP_SOURCE_PORT, <u32>sourcePort);
  sourcePortWritten = sourcePort;

  const mode = load<i32>(template + TEMPLATE_UDP_CHECKSUM_MODE);
  if (mode == UDP_CHECKSUM_FULL || mode == UDP_CHECKSUM_OFFLOAD) {
    // The template's checksum field is zero, so summing the datagram as it stands is right.
    const seed = fold16(<u64>load<u32>(template + TEMPLATE_PSEUDO_BASE_SUM) + <u64>udpLength);
    let checksum: u32;
    if (mode == UDP_CHECKSUM_OFFLOAD && canSumFromHeaders(inner, innerLen)) {
      // A valid inner segment sums to ~(its pseudo-header sum): add that instead of its bytes.
      // The headers before it have an even length (16 + Ethernet + 4·IHL or 40), so the
      // 16-bit words of both parts line up.
      const headersLen = headerLen - l4 + innerSegmentStart();
      const headersSum = onesComplementSum(frame + l4, headersLen, seed);
      checksum = ~fold16(<u64>headersSum + <u64>(~innerSegmentPseudoSum() & 0xffff)) & 0xffff;
    } else {
      checksum = ~onesComplementSum(frame + l4, udpLength, seed) & 0xffff;
    }
    // RFC 768: a computed zero is sent as all ones, since zero means "no checksum".
    if (checksum == 0) checksum = 0xffff;
    storeBe16(frame + l4 + UDP_CHECKSUM, checksum);
  }
  return headerLen + innerLen;
}

/**
 * Whether the outer checksum may be taken from the headers: the inner frame ends with a TCP/UDP
 * segment (no padding after it) that carries a checksum. Sets the inner segment's position.
 */
function canSumFromHeaders(inner: usize, innerLen: usize): bool {
  const protocol = locateInnerL4(inner, innerLen);
  if (protocol == 0 || innerSegmentEnd() != innerLen) return false;
  // RFC 768: a UDP checksum of zero means none was computed, so the segment's sum says nothing.
  return !(protocol == IPPROTO_UDP && loadBe16(inner + innerSegmentStart() + UDP_CHECKSUM) == 0);
}
