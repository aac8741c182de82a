/**
 * The pure-TS twin of assembly/gro.ts: coalesce consecutive TCP segments of one flow (PacketBatch
 * slots, in the order a list gives) into one super-frame behind a virtio_net_hdr. See
 * assembly/gro.ts for the rules; this is the same code, written for clarity.
 */
import {
  BATCH_INVALID, GRO_MAX_IP_LEN, GRO_RESULT_GSO_SIZE, GRO_RESULT_LEN, GRO_RESULT_RECORD_LEN, GSO_TCPV4, GSO_TCPV6, META_FRAME_OFFSET,
  META_LEN, RESULT_INNER, RESULT_INNER_LEN, VNET_CSUM_OFFSET, VNET_CSUM_START, VNET_F_NEEDS_CSUM, VNET_FLAGS, VNET_GSO_SIZE,
  VNET_GSO_TYPE, VNET_HDR_LEN, VNET_HDR_LEN_FIELD,
} from '../wasm/abi';
import { internetChecksum, onesComplementSum } from './checksum';
import { readU16, readU32, writeU16 } from '../wire/fields';
import { findL3, pseudoHeaderSumAt, setIpLength, TCP_CHECKSUM } from './inner';
import { TCP_DATA_OFFSET, TCP_FLAG_ACK, TCP_FLAG_PSH, TCP_FLAGS, TCP_SEQUENCE } from './tso';

interface Segment {
  frame: number;
  l3: number;
  l4: number;
  headerLen: number;
  payloadLen: number;
  ipVersion: number;
}

function fits(bytes: Uint8Array, ptr: number, count: number, size: number): boolean {
  return ptr + count * size <= bytes.length;
}

/** Slot `index`'s inner frame as a TCP segment GRO could take, or undefined. Checksums not checked. */
function parseSegment(bytes: Uint8Array, view: DataView, slots: number, slotStride: number, meta: number, index: number): Segment | undefined {
  if (index < 0) return undefined;
  const slot = slots + index * slotStride;
  const record = meta + index * META_LEN;
  if (!fits(bytes, slot, 1, slotStride) || !fits(bytes, record, 1, META_LEN)) return undefined;
  const start = view.getInt32(record + META_FRAME_OFFSET, true) + view.getInt32(record + RESULT_INNER, true);
  const len = view.getInt32(record + RESULT_INNER_LEN, true);
  if (start < 0 || len < 0 || start + len > slotStride) return undefined;
  const frame = slot + start;
  const { l3, etherType } = findL3(bytes, frame, len);
  if (l3 === 0) return undefined;
  const available = len - l3;
  let l4: number;
  let ipEnd: number;
  let ipVersion: number;
  if (etherType === 0x0800) {
    if (available < 20) return undefined;
    const versionIhl = bytes[frame + l3];
    const ihl = (versionIhl & 0x0f) * 4;
    if (versionIhl >> 4 !== 4 || ihl < 20) return undefined;
    if (bytes[frame + l3 + 9] !== 6) return undefined;
    if (readU16(bytes, frame + l3 + 6) & 0x3fff) return undefined;
    const totalLength = readU16(bytes, frame + l3 + 2);
    if (totalLength > available || totalLength < ihl + 20) return undefined;
    l4 = l3 + ihl;
    ipEnd = l3 + totalLength;
    ipVersion = 4;
  } else if (etherType === 0x86dd) {
    if (available < 60) return undefined;
    if (bytes[frame + l3] >> 4 !== 6 || bytes[frame + l3 + 6] !== 6) return undefined;
    const payloadLength = readU16(bytes, frame + l3 + 4);
    if (payloadLength > available - 40 || payloadLength < 20) return undefined;
    l4 = l3 + 40;
    ipEnd = l4 + payloadLength;
    ipVersion = 6;
  } else {
    return undefined;
  }
  const headerLen = l4 + (bytes[frame + l4 + TCP_DATA_OFFSET] >> 4) * 4;
  if (headerLen < l4 + 20 || headerLen >= ipEnd) return undefined;
  if ((bytes[frame + l4 + TCP_FLAGS] & ~TCP_FLAG_PSH) !== TCP_FLAG_ACK) return undefined;
  return { frame, l3, l4, headerLen, payloadLen: ipEnd - headerLen, ipVersion };
}

function sameBytes(bytes: Uint8Array, a: number, b: number, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (bytes[a + i] !== bytes[b + i]) return false;
  return true;
}

function verifySegment(bytes: Uint8Array, s: Segment): boolean {
  const l4Len = s.headerLen + s.payloadLen - s.l4;
  if (s.ipVersion === 4 && internetChecksum(bytes, s.frame + s.l3, s.l4 - s.l3) !== 0) return false;
  const pseudo = pseudoHeaderSumAt(bytes, s.frame + s.l3, s.ipVersion, 6, l4Len);
  return onesComplementSum(bytes, s.frame + s.l4, l4Len, pseudo) === 0xffff;
}

export function groMerge(
  bytes: Uint8Array, slots: number, slotStride: number, meta: number, list: number, count: number, out: number, outCapacity: number, result: number,
): number {
  slots >>>= 0; slotStride |= 0; meta >>>= 0; list >>>= 0; count |= 0; out >>>= 0; outCapacity |= 0; result >>>= 0;
  if (count < 0 || slotStride < 0 || outCapacity < 0) return BATCH_INVALID;
  if (!fits(bytes, list, count, 4) || !fits(bytes, out, 1, outCapacity) || !fits(bytes, result, 1, GRO_RESULT_RECORD_LEN)) return BATCH_INVALID;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  view.setInt32(result + GRO_RESULT_LEN, 0, true);
  view.setInt32(result + GRO_RESULT_GSO_SIZE, 0, true);
  if (count === 0) return 0;
  const entry = (k: number) => view.getInt32(list + k * 4, true);
  const head = count === 1 ? undefined : parseSegment(bytes, view, slots, slotStride, meta, entry(0));
  if (head === undefined) return 1;
  const { l3, l4, headerLen, ipVersion } = head;
  const gsoSize = head.payloadLen;
  if (bytes[head.frame + l4 + TCP_FLAGS] & TCP_FLAG_PSH) return 1;
  const ipOverhead = ipVersion === 4 ? l3 : l3 + 40;
  let total = headerLen + gsoSize;
  let nextSequence = (readU32(bytes, head.frame + l4 + TCP_SEQUENCE) + gsoSize) >>> 0;
  let taken = 1;
  while (taken < count) {
    const s = parseSegment(bytes, view, slots, slotStride, meta, entry(taken));
    if (s === undefined) break;
    if (s.l3 !== l3 || s.l4 !== l4 || s.headerLen !== headerLen || s.ipVersion !== ipVersion) break;
    if (s.payloadLen > gsoSize) break;
    if (total + s.payloadLen - ipOverhead > GRO_MAX_IP_LEN) break;
    if (VNET_HDR_LEN + total + s.payloadLen > outCapacity) break;
    if (readU32(bytes, s.frame + l4 + TCP_SEQUENCE) !== nextSequence) break;
    const a = head.frame;
    const b = s.frame;
    let same = ipVersion === 4
      ? sameBytes(bytes, a, b, 0, l3 + 2) && sameBytes(bytes, a, b, l3 + 6, l3 + 10) && sameBytes(bytes, a, b, l3 + 12, l4 + TCP_SEQUENCE)
      : sameBytes(bytes, a, b, 0, l3 + 4) && sameBytes(bytes, a, b, l3 + 6, l4 + TCP_SEQUENCE);
    same = same && sameBytes(bytes, a, b, l4 + TCP_SEQUENCE + 4, l4 + TCP_FLAGS) &&
      sameBytes(bytes, a, b, l4 + TCP_FLAGS + 1, l4 + TCP_CHECKSUM) && sameBytes(bytes, a, b, l4 + TCP_CHECKSUM + 2, headerLen);
    if (!same) break;
    total += s.payloadLen;
    nextSequence = (nextSequence + s.payloadLen) >>> 0;
    taken++;
    if (s.payloadLen < gsoSize || bytes[b + l4 + TCP_FLAGS] & TCP_FLAG_PSH) break;
  }
  if (taken < 2) return 1;
  const run: Segment[] = [];
  for (let k = 0; k < taken; k++) {
    const s = parseSegment(bytes, view, slots, slotStride, meta, entry(k))!;
    if (!verifySegment(bytes, s)) break;
    run.push(s);
  }
  if (run.length < 2) return 1;
  const frame = out + VNET_HDR_LEN;
  bytes.copyWithin(frame, head.frame, head.frame + headerLen);
  let at = frame + headerLen;
  for (const s of run) {
    bytes.copyWithin(at, s.frame + headerLen, s.frame + headerLen + s.payloadLen);
    at += s.payloadLen;
  }
  const frameLen = at - frame;
  const pseudo = setIpLength(bytes, frame, l3, l4, frameLen, ipVersion, 6);
  const last = run[run.length - 1];
  bytes[frame + l4 + TCP_FLAGS] = TCP_FLAG_ACK | (bytes[last.frame + l4 + TCP_FLAGS] & TCP_FLAG_PSH);
  // CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum, not complemented.
  writeU16(bytes, frame + l4 + TCP_CHECKSUM, pseudo);
  bytes[out + VNET_FLAGS] = VNET_F_NEEDS_CSUM;
  bytes[out + VNET_GSO_TYPE] = ipVersion === 4 ? GSO_TCPV4 : GSO_TCPV6;
  view.setUint16(out + VNET_HDR_LEN_FIELD, headerLen, true);
  view.setUint16(out + VNET_GSO_SIZE, gsoSize, true);
  view.setUint16(out + VNET_CSUM_START, l4, true);
  view.setUint16(out + VNET_CSUM_OFFSET, TCP_CHECKSUM, true);
  view.setInt32(result + GRO_RESULT_LEN, VNET_HDR_LEN + frameLen, true);
  view.setInt32(result + GRO_RESULT_GSO_SIZE, gsoSize, true);
  return run.length;
}
