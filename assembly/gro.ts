// groMerge: coalesce consecutive TCP segments of one flow (slots of a PacketBatch, in the order a
// list gives) into one super-frame behind a virtio_net_hdr, for one write() to a TAP opened with
// IFF_VNET_HDR. The rules follow Linux's tcp_gro_receive, made stricter where that is cheap:
//
// - every segment is Ethernet (+ VLAN tags) + IPv4 (no fragment) or IPv6 (no extension header) +
//   TCP, with a payload, and flags ACK alone, or ACK|PSH on the last segment of the run;
// - the headers are byte for byte those of the first segment, except the IPv4 total length,
//   identification and header checksum, the IPv6 payload length, and the TCP sequence number,
//   flags (PSH) and checksum; so the addresses, ports, TOS/ECN, TTL, ack, window and options match;
// - sequence numbers follow on, every payload is the first one's size (gso_size) but the last,
//   which may be shorter, and the IP length stays within 16 bits;
// - every segment's IPv4 header checksum and TCP checksum are valid: the super-frame goes out
//   with a partial checksum (NEEDS_CSUM), which the receiving stack trusts, so a corrupt segment
//   (a VXLAN datagram over IPv4 may carry no UDP checksum) must not be hidden inside one. A
//   segment that fails ends the run before it; alone it is written as it is and the stack drops it.

import { loadBe16, storeBe16, onesComplementSum, internetChecksum } from './checksum';
import { META_FRAME_OFFSET, META_LEN, BATCH_INVALID, fitsInMemory } from './batch';
import { RESULT_INNER, RESULT_INNER_LEN } from './decap';
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from './layout/ethernet';
import {
  IPV4_TOTAL_LENGTH, IPV4_IDENTIFICATION, IPV4_FLAGS_FRAGMENT_OFFSET, IPV4_PROTOCOL, IPV4_CHECKSUM,
  IPV4_MIN_HEADER_LEN, IPV4_FLAG_MORE_FRAGMENTS, IPV4_FRAGMENT_OFFSET_MASK, IPPROTO_TCP,
} from './layout/ipv4';
import { IPV6_PAYLOAD_LENGTH, IPV6_NEXT_HEADER, IPV6_HEADER_LEN } from './layout/ipv6';
import { TCP_CHECKSUM, TCP_MIN_HEADER_LEN, findL3, pseudoHeaderSumAt, setIpLength } from './inner';
import {
  VNET_HDR_LEN, VNET_FLAGS, VNET_GSO_TYPE, VNET_HDR_LEN_FIELD, VNET_GSO_SIZE, VNET_CSUM_START, VNET_CSUM_OFFSET,
  VNET_F_NEEDS_CSUM, GSO_TCPV4, GSO_TCPV6, TCP_SEQUENCE, TCP_DATA_OFFSET, TCP_FLAGS, TCP_FLAG_ACK, TCP_FLAG_PSH,
} from './tso';

// groMerge's result record: i32 fields at these byte offsets.
/** Bytes written at `out` (vnet header + super-frame), 0 when the first slot is not merged. */
export const GRO_RESULT_LEN: usize = 0;
/** The super-frame's gso_size (the first segment's payload), 0 when not merged. */
export const GRO_RESULT_GSO_SIZE: usize = 4;
export const GRO_RESULT_RECORD_LEN: usize = 16;
/** The largest super-frame groMerge builds: the IP length must fit 16 bits. */
export const GRO_MAX_IP_LEN: i32 = 65535;

// The segment parseSegment read last (offsets from its frame). Module state: read at once.
let segFrame: usize = 0;
let segL3: usize = 0;
let segL4: usize = 0;
let segHeaderLen: usize = 0;
let segPayloadLen: u32 = 0;
let segIpVersion: i32 = 0;

/**
 * Parse slot `index`'s inner frame as a TCP segment GRO could take; false when it is not one (or
 * its record's offsets do not fit the slot). Checksums are not checked here (see verifySegment).
 */
function parseSegment(slots: usize, slotStride: i32, meta: usize, index: i32): bool {
  if (index < 0) return false;
  const slot = slots + <usize>index * <usize>slotStride;
  const record = meta + <usize>index * META_LEN;
  if (!fitsInMemory(slot, 1, slotStride) || !fitsInMemory(record, 1, <i32>META_LEN)) return false;
  const start = <i64>load<i32>(record + META_FRAME_OFFSET) + <i64>load<i32>(record + RESULT_INNER);
  const len = load<i32>(record + RESULT_INNER_LEN);
  if (start < 0 || len < 0 || start + <i64>len > <i64>slotStride) return false;
  const frame = slot + <usize>start;
  const l3 = findL3(frame, <usize>len);
  if (l3 == 0) return false;
  const available = <usize>len - l3;
  let l4: usize;
  let ipEnd: usize;
  const etherType = loadBe16(frame + l3 - 2);
  if (etherType == ETHERTYPE_IPV4) {
    if (available < IPV4_MIN_HEADER_LEN) return false;
    const versionIhl = <u32>load<u8>(frame + l3);
    const ihl = <usize>(versionIhl & 0x0f) << 2;
    if ((versionIhl >> 4) != 4 || ihl < IPV4_MIN_HEADER_LEN) return false;
    if (<u32>load<u8>(frame + l3 + IPV4_PROTOCOL) != IPPROTO_TCP) return false;
    if ((loadBe16(frame + l3 + IPV4_FLAGS_FRAGMENT_OFFSET) & (IPV4_FLAG_MORE_FRAGMENTS | IPV4_FRAGMENT_OFFSET_MASK)) != 0) return false;
    const totalLength = <usize>loadBe16(frame + l3 + IPV4_TOTAL_LENGTH);
    if (totalLength > available || totalLength < ihl + TCP_MIN_HEADER_LEN) return false;
    l4 = l3 + ihl;
    ipEnd = l3 + totalLength;
    segIpVersion = 4;
  } else if (etherType == ETHERTYPE_IPV6) {
    if (available < IPV6_HEADER_LEN + TCP_MIN_HEADER_LEN) return false;
    if ((<u32>load<u8>(frame + l3) >> 4) != 6 || <u32>load<u8>(frame + l3 + IPV6_NEXT_HEADER) != IPPROTO_TCP) return false;
    const payloadLength = <usize>loadBe16(frame + l3 + IPV6_PAYLOAD_LENGTH);
    if (payloadLength > available - IPV6_HEADER_LEN || payloadLength < TCP_MIN_HEADER_LEN) return false;
    l4 = l3 + IPV6_HEADER_LEN;
    ipEnd = l4 + payloadLength;
    segIpVersion = 6;
  } else {
    return false;
  }
  const headerLen = l4 + (<usize>(load<u8>(frame + l4 + TCP_DATA_OFFSET) >> 4) << 2);
  if (headerLen < l4 + TCP_MIN_HEADER_LEN || headerLen >= ipEnd) return false; // no payload: nothing to merge
  const flags = <u32>load<u8>(frame + l4 + TCP_FLAGS);
  if ((flags & ~TCP_FLAG_PSH) != TCP_FLAG_ACK) return false;
  segFrame = frame;
  segL3 = l3;
  segL4 = l4;
  segHeaderLen = headerLen;
  segPayloadLen = <u32>(ipEnd - headerLen);
  return true;
}

/** Whether [a+from, a+to) and [b+from, b+to) hold the same bytes. */
function sameBytes(a: usize, b: usize, from: usize, to: usize): bool {
  for (let i = from; i < to; i++) if (load<u8>(a + i) != load<u8>(b + i)) return false;
  return true;
}

/** The IPv4 header checksum (if any) and the TCP checksum of the segment at `frame` are valid. */
function verifySegment(frame: usize, l3: usize, l4: usize, end: usize, ipVersion: i32): bool {
  const l4Len = <u32>(end - l4);
  if (ipVersion == 4 && internetChecksum(frame + l3, l4 - l3) != 0) return false;
  const pseudo = pseudoHeaderSumAt(frame + l3, ipVersion, IPPROTO_TCP, l4Len);
  return onesComplementSum(frame + l4, <usize>l4Len, pseudo) == 0xffff;
}

/**
 * Coalesce the slots listed at `list` (i32 slot indices, `count` of them) from the first on:
 * returns how many list entries it took (at least 1 when count > 0). When two or more were
 * merged, `out` holds a virtio_net_hdr (NEEDS_CSUM, GSO_TCPV4/6, gso_size, hdr_len, csum_start,
 * csum_offset) and the super-frame, whose TCP checksum field holds the pseudo-header sum, and
 * the record at `result` says how many bytes (GRO_RESULT_LEN) and the gso_size; otherwise
 * GRO_RESULT_LEN is 0 and the first slot is to be written as it is. BATCH_INVALID when the list,
 * the output or the record does not fit in memory.
 */
export function groMerge(
  slots: usize, slotStride: i32, meta: usize, list: usize, count: i32, out: usize, outCapacity: i32, result: usize,
): i32 {
  if (count < 0 || slotStride < 0 || outCapacity < 0) return BATCH_INVALID;
  if (!fitsInMemory(list, count, 4) || !fitsInMemory(out, 1, outCapacity) || !fitsInMemory(result, 1, <i32>GRO_RESULT_RECORD_LEN)) return BATCH_INVALID;
  store<i32>(result + GRO_RESULT_LEN, 0);
  store<i32>(result + GRO_RESULT_GSO_SIZE, 0);
  if (count == 0) return 0;
  if (count == 1 || !parseSegment(slots, slotStride, meta, load<i32>(list))) return 1;
  const head = segFrame;
  const l3 = segL3;
  const l4 = segL4;
  const headerLen = segHeaderLen;
  const gsoSize = segPayloadLen;
  const ipVersion = segIpVersion;
  // PSH ends a run: the first segment cannot have it and still be followed.
  if ((<u32>load<u8>(head + l4 + TCP_FLAGS) & TCP_FLAG_PSH) != 0) return 1;
  const ipOverhead = ipVersion == 4 ? l3 : l3 + IPV6_HEADER_LEN;
  let total = <i64>(headerLen + <usize>gsoSize);
  let nextSequence = bswap<u32>(load<u32>(head + l4 + TCP_SEQUENCE)) + gsoSize;
  let taken = 1;
  let lastFlags = <u32>load<u8>(head + l4 + TCP_FLAGS);
  // First pass: how far the run goes on headers alone.
  while (taken < count) {
    if (!parseSegment(slots, slotStride, meta, load<i32>(list + (<usize>taken << 2)))) break;
    const frame = segFrame;
    if (segL3 != l3 || segL4 != l4 || segHeaderLen != headerLen || segIpVersion != ipVersion) break;
    const payloadLen = segPayloadLen;
    if (payloadLen > gsoSize) break;
    if (total + <i64>payloadLen - <i64>ipOverhead > <i64>GRO_MAX_IP_LEN) break;
    if (<i64>VNET_HDR_LEN + total + <i64>payloadLen > <i64>outCapacity) break;
    if (bswap<u32>(load<u32>(frame + l4 + TCP_SEQUENCE)) != nextSequence) break;
    let same: bool;
    if (ipVersion == 4) {
      same = sameBytes(head, frame, 0, l3 + IPV4_TOTAL_LENGTH) &&
        sameBytes(head, frame, l3 + IPV4_IDENTIFICATION + 2, l3 + IPV4_CHECKSUM) &&
        sameBytes(head, frame, l3 + IPV4_CHECKSUM + 2, l4 + TCP_SEQUENCE);
    } else {
      same = sameBytes(head, frame, 0, l3 + IPV6_PAYLOAD_LENGTH) && sameBytes(head, frame, l3 + IPV6_PAYLOAD_LENGTH + 2, l4 + TCP_SEQUENCE);
    }
    same = same && sameBytes(head, frame, l4 + TCP_SEQUENCE + 4, l4 + TCP_FLAGS) &&
      sameBytes(head, frame, l4 + TCP_FLAGS + 1, l4 + TCP_CHECKSUM) && sameBytes(head, frame, l4 + TCP_CHECKSUM + 2, headerLen);
    if (!same) break;
    total += <i64>payloadLen;
    nextSequence += payloadLen;
    taken++;
    lastFlags = <u32>load<u8>(frame + l4 + TCP_FLAGS);
    // A short segment or PSH ends the run (it is the run's last).
    if (payloadLen < gsoSize || (lastFlags & TCP_FLAG_PSH) != 0) break;
  }
  if (taken < 2) return 1;
  // Second pass: every segment's checksums; the run ends before the first that fails.
  let valid = 0;
  for (; valid < taken; valid++) {
    parseSegment(slots, slotStride, meta, load<i32>(list + (<usize>valid << 2)));
    if (!verifySegment(segFrame, l3, l4, segHeaderLen + <usize>segPayloadLen, ipVersion)) break;
    if (valid > 0) lastFlags = <u32>load<u8>(segFrame + l4 + TCP_FLAGS);
  }
  if (valid < taken) {
    if (valid < 2) return 1;
    taken = valid;
  }
  // Build: the first segment's headers, then every payload.
  const frame = out + <usize>VNET_HDR_LEN;
  memory.copy(frame, head, headerLen);
  let at = frame + headerLen;
  for (let k = 0; k < taken; k++) {
    parseSegment(slots, slotStride, meta, load<i32>(list + (<usize>k << 2)));
    memory.copy(at, segFrame + headerLen, <usize>segPayloadLen);
    at += <usize>segPayloadLen;
  }
  const frameLen = <u32>(at - frame);
  const pseudo = setIpLength(frame, l3, l4, frameLen, ipVersion, IPPROTO_TCP);
  store<u8>(frame + l4 + TCP_FLAGS, <u8>(TCP_FLAG_ACK | (lastFlags & TCP_FLAG_PSH)));
  // CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum, not complemented.
  storeBe16(frame + l4 + TCP_CHECKSUM, pseudo);
  store<u8>(out + VNET_FLAGS, <u8>VNET_F_NEEDS_CSUM);
  store<u8>(out + VNET_GSO_TYPE, <u8>(ipVersion == 4 ? GSO_TCPV4 : GSO_TCPV6));
  store<u16>(out + VNET_HDR_LEN_FIELD, <u16>headerLen);
  store<u16>(out + VNET_GSO_SIZE, <u16>gsoSize);
  store<u16>(out + VNET_CSUM_START, <u16>l4);
  store<u16>(out + VNET_CSUM_OFFSET, <u16>TCP_CHECKSUM);
  store<i32>(result + GRO_RESULT_LEN, VNET_HDR_LEN + <i32>frameLen);
  store<i32>(result + GRO_RESULT_GSO_SIZE, <i32>gsoSize);
  return taken;
}
