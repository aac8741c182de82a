// tsoSplit: TCP segmentation (and UDP segmentation) of a TAP super-frame, straight into slots.
//
// A TAP opened with IFF_VNET_HDR and TUNSETOFFLOAD(TSO4|TSO6|USO) hands over frames of up to
// 64 KB behind a virtio_net_hdr (virtio spec §5.1.6):
//
//   0        1         2           4           6             8              10
//   +--------+---------+-----------+-----------+-------------+--------------+
//   | flags  | gso_type| hdr_len   | gso_size  | csum_start  | csum_offset  |   little-endian u16s
//   +--------+---------+-----------+-----------+-------------+--------------+
//
// The frame's headers are those of its first segment; its L4 checksum field holds the folded
// pseudo-header sum (CHECKSUM_PARTIAL), and its IP length fields may not be trusted. Each segment
// is the headers then gso_size bytes of payload (the last one the rest), with per segment (as
// Linux's tcp_gso_segment / __udp_gso_segment do): the IPv4 identification + i, the IPv4 total
// length or IPv6 payload length, the IPv4 header checksum, the TCP sequence number + i * gso_size,
// FIN and PSH on the last segment only, CWR on the first only (RFC 3168 §6.1.2: CWR is set on
// the first new segment after a reduction), the UDP length, and the L4 checksum in full.
//
// hdr_len is not read: Linux fills it with the length of the skb's linear part, which can hold
// payload as well, so the header length is derived from csum_start and the TCP data offset.

import { loadBe16, storeBe16, onesComplementSum } from './checksum';
import { SLOT_HEADROOM, META_FRAME_OFFSET, META_FRAME_LEN, META_PEER, META_CSUM_START, META_CSUM_OFFSET, META_LEN, BATCH_INVALID, fitsInMemory } from './batch';
import { RESULT_INNER, RESULT_INNER_LEN } from './decap';
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from './layout/ethernet';
import {
  IPV4_IDENTIFICATION, IPV4_FLAGS_FRAGMENT_OFFSET, IPV4_PROTOCOL, IPV4_MIN_HEADER_LEN, IPV4_FLAG_MORE_FRAGMENTS, IPV4_FRAGMENT_OFFSET_MASK,
  IPPROTO_TCP, IPPROTO_UDP,
} from './layout/ipv4';
import { IPV6_NEXT_HEADER, IPV6_HEADER_LEN } from './layout/ipv6';
import { UDP_LENGTH, UDP_CHECKSUM, UDP_HEADER_LEN } from './layout/udp';
import { TCP_CHECKSUM, TCP_MIN_HEADER_LEN, findL3, setIpLength, l4ChecksumOf } from './inner';


/** struct virtio_net_hdr (no num_buffers): the TAP's default vnet header size. */
export const VNET_HDR_LEN: i32 = 10;
export const VNET_FLAGS: usize = 0;
export const VNET_GSO_TYPE: usize = 1;
export const VNET_HDR_LEN_FIELD: usize = 2;
export const VNET_GSO_SIZE: usize = 4;
export const VNET_CSUM_START: usize = 6;
export const VNET_CSUM_OFFSET: usize = 8;
/** flags: the L4 checksum is partial, to complete from csum_start (the field at csum_offset). */
export const VNET_F_NEEDS_CSUM: u32 = 1;
/** flags (to the reader only): the checksum was verified. */
export const VNET_F_DATA_VALID: u32 = 2;
export const GSO_NONE: u32 = 0;
export const GSO_TCPV4: u32 = 1;
/** UFO (IP fragmentation of UDP): never negotiated here, refused. */
export const GSO_UDP: u32 = 3;
export const GSO_TCPV6: u32 = 4;
/** USO: UDP segmentation, one datagram per gso_size bytes. */
export const GSO_UDP_L4: u32 = 5;
/** A bit of gso_type: the sender does ECN (CWR handling is the same either way here). */
export const GSO_ECN: u32 = 0x80;

/** TCP header fields beyond inner.ts's (RFC 9293 §3.1). */
export const TCP_SEQUENCE: usize = 4;
export const TCP_DATA_OFFSET: usize = 12;
export const TCP_FLAGS: usize = 13;
export const TCP_FLAG_FIN: u32 = 0x01;
export const TCP_FLAG_SYN: u32 = 0x02;
export const TCP_FLAG_RST: u32 = 0x04;
export const TCP_FLAG_PSH: u32 = 0x08;
export const TCP_FLAG_ACK: u32 = 0x10;
export const TCP_FLAG_URG: u32 = 0x20;
export const TCP_FLAG_ECE: u32 = 0x40;
export const TCP_FLAG_CWR: u32 = 0x80;

/** tsoSplit: or-ed into the count when the super-frame's last segment was written. */
export const TSO_LAST: i32 = 0x40000000;
/** tsoSplit: not a super-frame this code can split (wrong type, bad offsets, truncated). */
export const TSO_MALFORMED: i32 = -2;
/** tsoSplit: a segment is longer than a slot's payload area. */
export const TSO_OVERSIZE: i32 = -3;

// @ts-ignore: decorator
@inline function loadBe32(ptr: usize): u32 {
  return bswap<u32>(load<u32>(ptr));
}

// @ts-ignore: decorator
@inline function storeBe32(ptr: usize, value: u32): void {
  store<u32>(ptr, bswap<u32>(value));
}

/**
 * Split the super-frame at [src, src+len) (the frame after the vnet header) into segments of
 * `gsoSize` payload bytes, from segment `firstSegment` on, into the payload areas of slots
 * firstSlot.. (at most `maxSlots`), each slot's record set as PacketBatch.setInner does (frame at
 * SLOT_HEADROOM, inner offset 0, peer 0, no partial checksum). Returns the number of segments
 * written, or-ed with TSO_LAST when the last one was among them; TSO_MALFORMED, TSO_OVERSIZE, or
 * BATCH_INVALID when the geometry does not fit in memory or firstSegment is past the last.
 * Nothing is written to a slot unless every check passed.
 */
export function tsoSplit(
  src: usize, len: i32, gsoType: u32, gsoSize: i32, csumStart: i32,
  slots: usize, slotStride: i32, meta: usize, firstSlot: i32, maxSlots: i32, firstSegment: i32,
): i32 {
  if (len < 0 || slotStride < SLOT_HEADROOM || firstSlot < 0 || maxSlots < 0 || firstSegment < 0) return BATCH_INVALID;
  const slotCount = <i64>firstSlot + <i64>maxSlots;
  if (slotCount > 0x7fffffff || !fitsInMemory(src, 1, len) ||
    !fitsInMemory(slots, <i32>slotCount, slotStride) || !fitsInMemory(meta, <i32>slotCount, <i32>META_LEN)) return BATCH_INVALID;
  const l3 = findL3(src, <usize>len);
  if (l3 == 0) return TSO_MALFORMED;
  const type = gsoType & ~GSO_ECN;
  const etherType = loadBe16(src + l3 - 2);
  let ipVersion = 0;
  if (etherType == ETHERTYPE_IPV4) ipVersion = 4;
  else if (etherType == ETHERTYPE_IPV6) ipVersion = 6;
  else return TSO_MALFORMED;
  let protocol: u32;
  if (type == GSO_TCPV4 && ipVersion == 4) protocol = IPPROTO_TCP;
  else if (type == GSO_TCPV6 && ipVersion == 6) protocol = IPPROTO_TCP;
  else if (type == GSO_UDP_L4) protocol = IPPROTO_UDP;
  else return TSO_MALFORMED;
  // The L4 header right after the IP header (no IPv4 fragments, no IPv6 extension headers).
  const l4 = <usize>csumStart;
  if (ipVersion == 4) {
    if (<usize>len < l3 + IPV4_MIN_HEADER_LEN) return TSO_MALFORMED;
    const versionIhl = <u32>load<u8>(src + l3);
    if ((versionIhl >> 4) != 4 || l4 != l3 + (<usize>(versionIhl & 0x0f) << 2) || (versionIhl & 0x0f) < 5) return TSO_MALFORMED;
    if ((loadBe16(src + l3 + IPV4_FLAGS_FRAGMENT_OFFSET) & (IPV4_FLAG_MORE_FRAGMENTS | IPV4_FRAGMENT_OFFSET_MASK)) != 0) return TSO_MALFORMED;
    if (<u32>load<u8>(src + l3 + IPV4_PROTOCOL) != protocol) return TSO_MALFORMED;
  } else {
    if (<usize>len < l3 + IPV6_HEADER_LEN) return TSO_MALFORMED;
    if ((<u32>load<u8>(src + l3) >> 4) != 6 || l4 != l3 + IPV6_HEADER_LEN) return TSO_MALFORMED;
    if (<u32>load<u8>(src + l3 + IPV6_NEXT_HEADER) != protocol) return TSO_MALFORMED;
  }
  let headerLen: usize;
  if (protocol == IPPROTO_TCP) {
    if (<usize>len < l4 + TCP_MIN_HEADER_LEN) return TSO_MALFORMED;
    headerLen = l4 + (<usize>(load<u8>(src + l4 + TCP_DATA_OFFSET) >> 4) << 2);
    if (headerLen < l4 + TCP_MIN_HEADER_LEN || headerLen > <usize>len) return TSO_MALFORMED;
  } else {
    headerLen = l4 + UDP_HEADER_LEN;
    if (headerLen > <usize>len) return TSO_MALFORMED;
  }
  if (gsoSize <= 0) return TSO_MALFORMED;
  const payloadLen = <i32>(<usize>len - headerLen);
  // (payloadLen - 1) / gsoSize + 1 rounds up without overflowing for any gsoSize.
  const segments = payloadLen == 0 ? 1 : (payloadLen - 1) / gsoSize + 1;
  if (firstSegment >= segments) return BATCH_INVALID;
  // The longest segment: its IP length must fit 16 bits, and the whole of it a slot.
  const longest = <i32>headerLen + (payloadLen < gsoSize ? payloadLen : gsoSize);
  if (longest - <i32>l3 - (ipVersion == 4 ? 0 : <i32>IPV6_HEADER_LEN) > 0xffff) return TSO_MALFORMED;
  if (longest > slotStride - SLOT_HEADROOM) return TSO_OVERSIZE;

  const firstId = ipVersion == 4 ? loadBe16(src + l3 + IPV4_IDENTIFICATION) : 0;
  const firstSequence = protocol == IPPROTO_TCP ? loadBe32(src + l4 + TCP_SEQUENCE) : 0;
  const flags = protocol == IPPROTO_TCP ? <u32>load<u8>(src + l4 + TCP_FLAGS) : 0;
  let written = 0;
  let segment = firstSegment;
  for (; segment < segments && written < maxSlots; segment++, written++) {
    const slotIndex = <usize>(firstSlot + written);
    const dst = slots + slotIndex * <usize>slotStride + <usize>SLOT_HEADROOM;
    const offset = <i32>headerLen + segment * gsoSize;
    const remaining = len - offset;
    const chunk = remaining < gsoSize ? remaining : gsoSize;
    const segmentLen = <i32>headerLen + chunk;
    memory.copy(dst, src, headerLen);
    memory.copy(dst + headerLen, src + <usize>offset, <usize>chunk);
    const l4Len = <u32>(segmentLen - <i32>l4);
    if (ipVersion == 4) storeBe16(dst + l3 + IPV4_IDENTIFICATION, (firstId + <u32>segment) & 0xffff);
    const pseudo = setIpLength(dst, l3, l4, <u32>segmentLen, ipVersion, protocol);
    if (protocol == IPPROTO_TCP) {
      storeBe32(dst + l4 + TCP_SEQUENCE, firstSequence + <u32>segment * <u32>gsoSize);
      let segmentFlags = flags;
      if (segment != 0) segmentFlags &= ~TCP_FLAG_CWR;
      if (segment != segments - 1) segmentFlags &= ~(TCP_FLAG_FIN | TCP_FLAG_PSH);
      store<u8>(dst + l4 + TCP_FLAGS, <u8>segmentFlags);
      store<u16>(dst + l4 + TCP_CHECKSUM, 0);
      storeBe16(dst + l4 + TCP_CHECKSUM, ~onesComplementSum(dst + l4, <usize>l4Len, pseudo) & 0xffff);
    } else {
      storeBe16(dst + l4 + UDP_LENGTH, l4Len);
      store<u16>(dst + l4 + UDP_CHECKSUM, 0);
      storeBe16(dst + l4 + UDP_CHECKSUM, l4ChecksumOf(onesComplementSum(dst + l4, <usize>l4Len, pseudo)));
    }
    const record = meta + slotIndex * META_LEN;
    store<i32>(record + META_FRAME_OFFSET, SLOT_HEADROOM);
    store<i32>(record + META_FRAME_LEN, segmentLen);
    store<i32>(record + RESULT_INNER, 0);
    store<i32>(record + RESULT_INNER_LEN, segmentLen);
    store<i32>(record + META_PEER, 0);
    store<i32>(record + META_CSUM_START, 0);
    store<i32>(record + META_CSUM_OFFSET, 0);
  }
  return segment == segments ? written | TSO_LAST : written;
}
