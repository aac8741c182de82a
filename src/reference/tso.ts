/**
 * The pure-TS twin of assembly/tso.ts: split a TAP super-frame (after its virtio_net_hdr) into
 * segments, straight into PacketBatch slots. Written for clarity; the oracle in tests and the
 * differential fuzz target. See assembly/tso.ts for the rules (and why hdr_len is not read).
 */
import {
  BATCH_INVALID, GSO_ECN, GSO_TCPV4, GSO_TCPV6, GSO_UDP_L4, META_CSUM_OFFSET, META_CSUM_START, META_FRAME_LEN, META_FRAME_OFFSET,
  META_LEN, META_PEER, RESULT_INNER, RESULT_INNER_LEN, SLOT_HEADROOM, TSO_LAST, TSO_MALFORMED, TSO_OVERSIZE,
} from '../wasm/abi';
import { onesComplementSum } from './checksum';
import { readU16, readU32, writeU16, writeU32 } from '../wire/fields';
import { findL3, l4ChecksumOf, setIpLength, TCP_CHECKSUM } from './inner';

/** TCP header fields (RFC 9293 §3.1), as assembly/tso.ts names them. */
export const TCP_SEQUENCE = 4;
export const TCP_DATA_OFFSET = 12;
export const TCP_FLAGS = 13;
export const TCP_FLAG_FIN = 0x01;
export const TCP_FLAG_PSH = 0x08;
export const TCP_FLAG_ACK = 0x10;
export const TCP_FLAG_CWR = 0x80;
const TCP = 6;
const UDP = 17;

function fits(bytes: Uint8Array, ptr: number, count: number, size: number): boolean {
  return ptr + count * size <= bytes.length;
}

export function tsoSplit(
  bytes: Uint8Array, src: number, len: number, gsoType: number, gsoSize: number, csumStart: number,
  slots: number, slotStride: number, meta: number, firstSlot: number, maxSlots: number, firstSegment: number,
): number {
  // The WASM kernel's parameters are i32/u32: the same conversions here.
  src >>>= 0; len |= 0; gsoType >>>= 0; gsoSize |= 0; csumStart |= 0;
  slots >>>= 0; slotStride |= 0; meta >>>= 0; firstSlot |= 0; maxSlots |= 0; firstSegment |= 0;
  if (len < 0 || slotStride < SLOT_HEADROOM || firstSlot < 0 || maxSlots < 0 || firstSegment < 0) return BATCH_INVALID;
  const slotCount = firstSlot + maxSlots;
  if (slotCount > 0x7fffffff || !fits(bytes, src, 1, len) || !fits(bytes, slots, slotCount, slotStride) || !fits(bytes, meta, slotCount, META_LEN)) {
    return BATCH_INVALID;
  }
  const { l3, etherType } = findL3(bytes, src, len);
  if (l3 === 0) return TSO_MALFORMED;
  const type = gsoType & ~GSO_ECN;
  const ipVersion = etherType === 0x0800 ? 4 : etherType === 0x86dd ? 6 : 0;
  if (ipVersion === 0) return TSO_MALFORMED;
  let protocol: number;
  if (type === GSO_TCPV4 && ipVersion === 4) protocol = TCP;
  else if (type === GSO_TCPV6 && ipVersion === 6) protocol = TCP;
  else if (type === GSO_UDP_L4) protocol = UDP;
  else return TSO_MALFORMED;
  const l4 = csumStart >>> 0;
  if (ipVersion === 4) {
    if (len < l3 + 20) return TSO_MALFORMED;
    const versionIhl = bytes[src + l3];
    if (versionIhl >> 4 !== 4 || l4 !== l3 + (versionIhl & 0x0f) * 4 || (versionIhl & 0x0f) < 5) return TSO_MALFORMED;
    if (readU16(bytes, src + l3 + 6) & 0x3fff) return TSO_MALFORMED;
    if (bytes[src + l3 + 9] !== protocol) return TSO_MALFORMED;
  } else {
    if (len < l3 + 40) return TSO_MALFORMED;
    if (bytes[src + l3] >> 4 !== 6 || l4 !== l3 + 40) return TSO_MALFORMED;
    if (bytes[src + l3 + 6] !== protocol) return TSO_MALFORMED;
  }
  let headerLen: number;
  if (protocol === TCP) {
    if (len < l4 + 20) return TSO_MALFORMED;
    headerLen = l4 + (bytes[src + l4 + TCP_DATA_OFFSET] >> 4) * 4;
    if (headerLen < l4 + 20 || headerLen > len) return TSO_MALFORMED;
  } else {
    headerLen = l4 + 8;
    if (headerLen > len) return TSO_MALFORMED;
  }
  if (gsoSize <= 0) return TSO_MALFORMED;
  const payloadLen = len - headerLen;
  const segments = payloadLen === 0 ? 1 : Math.floor((payloadLen - 1) / gsoSize) + 1;
  if (firstSegment >= segments) return BATCH_INVALID;
  const longest = headerLen + Math.min(payloadLen, gsoSize);
  if (longest - l3 - (ipVersion === 4 ? 0 : 40) > 0xffff) return TSO_MALFORMED;
  if (longest > slotStride - SLOT_HEADROOM) return TSO_OVERSIZE;

  const firstId = ipVersion === 4 ? readU16(bytes, src + l3 + 4) : 0;
  const firstSequence = protocol === TCP ? readU32(bytes, src + l4 + TCP_SEQUENCE) : 0;
  const flags = protocol === TCP ? bytes[src + l4 + TCP_FLAGS] : 0;
  const metaWords = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let written = 0;
  let segment = firstSegment;
  for (; segment < segments && written < maxSlots; segment++, written++) {
    const slotIndex = firstSlot + written;
    const dst = slots + slotIndex * slotStride + SLOT_HEADROOM;
    const offset = headerLen + segment * gsoSize;
    const chunk = Math.min(len - offset, gsoSize);
    const segmentLen = headerLen + chunk;
    bytes.copyWithin(dst, src, src + headerLen);
    bytes.copyWithin(dst + headerLen, src + offset, src + offset + chunk);
    const l4Len = segmentLen - l4;
    if (ipVersion === 4) writeU16(bytes, dst + l3 + 4, (firstId + segment) & 0xffff);
    const pseudo = setIpLength(bytes, dst, l3, l4, segmentLen, ipVersion, protocol);
    if (protocol === TCP) {
      writeU32(bytes, dst + l4 + TCP_SEQUENCE, (firstSequence + segment * gsoSize) >>> 0);
      let segmentFlags = flags;
      if (segment !== 0) segmentFlags &= ~TCP_FLAG_CWR;
      if (segment !== segments - 1) segmentFlags &= ~(TCP_FLAG_FIN | TCP_FLAG_PSH);
      bytes[dst + l4 + TCP_FLAGS] = segmentFlags;
      writeU16(bytes, dst + l4 + TCP_CHECKSUM, 0);
      writeU16(bytes, dst + l4 + TCP_CHECKSUM, ~onesComplementSum(bytes, dst + l4, l4Len, pseudo) & 0xffff);
    } else {
      writeU16(bytes, dst + l4 + 4, l4Len);
      writeU16(bytes, dst + l4 + 6, 0);
      writeU16(bytes, dst + l4 + 6, l4ChecksumOf(onesComplementSum(bytes, dst + l4, l4Len, pseudo)));
    }
    const record = meta + slotIndex * META_LEN;
    metaWords.setInt32(record + META_FRAME_OFFSET, SLOT_HEADROOM, true);
    metaWords.setInt32(record + META_FRAME_LEN, segmentLen, true);
    metaWords.setInt32(record + RESULT_INNER, 0, true);
    metaWords.setInt32(record + RESULT_INNER_LEN, segmentLen, true);
    metaWords.setInt32(record + META_PEER, 0, true);
    metaWords.setInt32(record + META_CSUM_START, 0, true);
    metaWords.setInt32(record + META_CSUM_OFFSET, 0, true);
  }
  return segment === segments ? written | TSO_LAST : written;
}
