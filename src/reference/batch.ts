/**
 * The pure-TS twin of assembly/encap-batch.ts and decap-batch.ts (geometry in batch.ts): the
 * same geometry checks, the same per-slot steps in the same order, the same metadata record and
 * counters. It has one loop per kernel: the WASM kernels' fast loop is a speed-up that must give
 * the same results, and this twin is what checks that.
 */
import {
  BATCH_INVALID, COUNTER_COUNT, COUNTER_INVALID_SLOT, DECAP_CHECK_VNI, META_CSUM_OFFSET, META_CSUM_START,
  META_FRAME_LEN, META_FRAME_OFFSET, META_LEN, META_PEER, META_SOURCE_IP, RESULT_INNER, RESULT_INNER_LEN,
  RESULT_IP_VERSION, RESULT_L3, RESULT_L4, RESULT_LAYER, RESULT_OFFSET, RESULT_SOURCE_PORT, RESULT_STATUS,
  RESULT_VNI, RESULT_VXLAN, SLOT_HEADROOM, SLOT_INVALID, SLOT_NO_PEER, TEMPLATE_HEADER_LEN, HEADER_BLOCK_LEN, HEADER_BLOCK_LEN_IPV4, TEMPLATE_UDP_CHECKSUM_MODE,
  UDP_CHECKSUM_FULL, UDP_CHECKSUM_OFFLOAD, UDP_CHECKSUM_ZERO,
  TEMPLATE_IP_VERSION, TEMPLATE_L3, TEMPLATE_L4, TEMPLATE_LEN,
} from '../wasm/abi';
import { DecodeStatus as S, Layer } from '../errors';
import { readU16 } from '../wire/fields';
import { decapFrame } from './decap';
import { encapFrame } from './encap';
import { completeInnerChecksum } from './inner';

function fitsInMemory(bytes: Uint8Array, ptr: number, count: number, size: number): boolean {
  return ptr + count * size <= bytes.length;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function clearRecord(memory: DataView, record: number, status: number, layer: number, offset: number): void {
  memory.setInt32(record + RESULT_STATUS, status, true);
  memory.setInt32(record + RESULT_LAYER, layer, true);
  memory.setInt32(record + RESULT_OFFSET, offset, true);
  for (let at = RESULT_L3; at <= RESULT_SOURCE_PORT; at += 4) memory.setInt32(record + at, 0, true);
  memory.setInt32(record + META_SOURCE_IP, 0, true);
}

function refuseSlot(memory: DataView, record: number, status: number): void {
  memory.setInt32(record + RESULT_STATUS, status, true);
  memory.setInt32(record + RESULT_LAYER, 0, true);
  memory.setInt32(record + RESULT_OFFSET, 0, true);
  memory.setInt32(record + META_FRAME_LEN, 0, true);
}

function readVni(bytes: Uint8Array, at: number): number {
  return (bytes[at] << 16) | (bytes[at + 1] << 8) | bytes[at + 2];
}

function isUsableTemplate(memory: DataView, template: number): boolean {
  const headerLen = memory.getInt32(template + TEMPLATE_HEADER_LEN, true);
  const l3 = memory.getInt32(template + TEMPLATE_L3, true);
  const l4 = memory.getInt32(template + TEMPLATE_L4, true);
  const ipVersion = memory.getInt32(template + TEMPLATE_IP_VERSION, true);
  const mode = memory.getInt32(template + TEMPLATE_UDP_CHECKSUM_MODE, true);
  const ipHeaderLen = ipVersion === 4 ? 20 : ipVersion === 6 ? 40 : -1;
  return ipHeaderLen > 0 && l3 >= 14 && l4 === l3 + ipHeaderLen && headerLen === l4 + 16 &&
    headerLen <= (ipVersion === 4 ? HEADER_BLOCK_LEN_IPV4 : HEADER_BLOCK_LEN) &&
    (mode === UDP_CHECKSUM_ZERO || mode === UDP_CHECKSUM_FULL || mode === UDP_CHECKSUM_OFFLOAD);
}

export function encapBatch(
  bytes: Uint8Array, templates: number, templateCount: number, slots: number, slotStride: number, meta: number, count: number,
): number {
  if (count < 0 || templateCount < 0 || slotStride < SLOT_HEADROOM + 14) return BATCH_INVALID;
  if (!fitsInMemory(bytes, slots, count, slotStride) || !fitsInMemory(bytes, meta, count, META_LEN) ||
    !fitsInMemory(bytes, templates, templateCount, TEMPLATE_LEN)) return BATCH_INVALID;
  const memory = view(bytes);
  const maxInnerLen = slotStride - SLOT_HEADROOM;
  let done = 0;
  for (let i = 0; i < count; i++) {
    const record = meta + i * META_LEN;
    const inner = slots + i * slotStride + SLOT_HEADROOM;
    const peer = memory.getInt32(record + META_PEER, true);
    if (peer < 0 || peer >= templateCount) {
      refuseSlot(memory, record, SLOT_NO_PEER);
      continue;
    }
    const template = templates + peer * TEMPLATE_LEN;
    if (!isUsableTemplate(memory, template)) {
      refuseSlot(memory, record, SLOT_NO_PEER);
      continue;
    }
    const headerLen = memory.getInt32(template + TEMPLATE_HEADER_LEN, true);
    const l3 = memory.getInt32(template + TEMPLATE_L3, true);
    const l4 = memory.getInt32(template + TEMPLATE_L4, true);
    const ipVersion = memory.getInt32(template + TEMPLATE_IP_VERSION, true);
    const lengthLimit = 0xffff - (headerLen - (ipVersion === 4 ? l3 : l4));
    const innerLen = memory.getInt32(record + RESULT_INNER_LEN, true);
    if (innerLen < 14 || innerLen > maxInnerLen || innerLen > lengthLimit) {
      refuseSlot(memory, record, SLOT_INVALID);
      continue;
    }
    const csumStart = memory.getInt32(record + META_CSUM_START, true);
    if (csumStart !== 0) {
      if (completeInnerChecksum(bytes, inner, innerLen, csumStart, memory.getInt32(record + META_CSUM_OFFSET, true)) !== 0) {
        refuseSlot(memory, record, SLOT_INVALID);
        continue;
      }
      memory.setInt32(record + META_CSUM_START, 0, true);
    }
    // The WASM kernel copies a fixed block ending at the inner frame (header and filler before it):
    // 64 bytes in front of an IPv4 header, 80 in front of an IPv6 one.
    const block = ipVersion === 4 ? HEADER_BLOCK_LEN_IPV4 : HEADER_BLOCK_LEN;
    bytes.copyWithin(inner - block, template + TEMPLATE_LEN - block, template + TEMPLATE_LEN);
    const frameLen = encapFrame(bytes, template, inner, innerLen);
    const frame = inner - headerLen;
    for (const [field, value] of [
      [RESULT_STATUS, S.OK], [RESULT_LAYER, 0], [RESULT_OFFSET, 0], [RESULT_L3, l3], [RESULT_L4, l4],
      [RESULT_VXLAN, l4 + 8], [RESULT_INNER, headerLen], [RESULT_VNI, readVni(bytes, frame + headerLen - 8 + 4)],
      [RESULT_IP_VERSION, ipVersion], [RESULT_SOURCE_PORT, readU16(bytes, frame + l4)],
      [META_FRAME_OFFSET, SLOT_HEADROOM - headerLen], [META_FRAME_LEN, frameLen],
      [META_SOURCE_IP, l3 + (ipVersion === 4 ? 12 : 8)],
    ]) memory.setInt32(record + field, value, true);
    done++;
  }
  return done;
}

function containsVni(memory: DataView, set: number, count: number, vni: number): boolean {
  let low = 0;
  let high = count - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    const value = memory.getInt32(set + middle * 4, true);
    if (value === vni) return true;
    if (value < vni) low = middle + 1;
    else high = middle - 1;
  }
  return false;
}

export function decapBatch(
  bytes: Uint8Array, slots: number, slotStride: number, meta: number, count: number, options: number,
  vniSet: number, vniCount: number, portsLow: number, portsHigh: number, counters: number,
): number {
  if (count < 0 || slotStride < 0 || vniCount < 0) return BATCH_INVALID;
  if (!fitsInMemory(bytes, slots, count, slotStride) || !fitsInMemory(bytes, meta, count, META_LEN) ||
    !fitsInMemory(bytes, vniSet, vniCount, 4) || !fitsInMemory(bytes, counters, COUNTER_COUNT, 8)) return BATCH_INVALID;
  const memory = view(bytes);
  const frameOptions = options & ~DECAP_CHECK_VNI;
  let done = 0;
  for (let i = 0; i < count; i++) {
    const record = meta + i * META_LEN;
    const frameOffset = memory.getInt32(record + META_FRAME_OFFSET, true);
    const frameLen = memory.getInt32(record + META_FRAME_LEN, true);
    let status: number;
    if (frameOffset < 0 || frameLen < 0 || frameOffset > slotStride - frameLen) {
      status = SLOT_INVALID;
      clearRecord(memory, record, status, 0, 0);
    } else {
      const frame = slots + i * slotStride + frameOffset;
      status = decapFrame(bytes, frame, frameLen, frameOptions, 0, portsLow, portsHigh, record);
      // The VNI is judged where decapFrame judges its one expected VNI: before the inner length.
      let vxlan = -1;
      if (vniCount > 0) {
        if (status === S.OK) vxlan = memory.getInt32(record + RESULT_VXLAN, true);
        else if (status === S.TRUNCATED && memory.getInt32(record + RESULT_LAYER, true) === Layer.inner) {
          vxlan = memory.getInt32(record + RESULT_OFFSET, true) - 8;
        }
      }
      const vniRejected = vxlan >= 0 && !containsVni(memory, vniSet, vniCount, readVni(bytes, frame + vxlan + 4));
      if (vniRejected) {
        status = S.VNI_MISMATCH;
        clearRecord(memory, record, status, Layer.vxlan, vxlan + 4);
      } else if (status === S.OK) {
        const l3 = memory.getInt32(record + RESULT_L3, true);
        memory.setInt32(record + META_SOURCE_IP, l3 + (memory.getInt32(record + RESULT_IP_VERSION, true) === 4 ? 12 : 8), true);
        done++;
      } else {
        clearRecord(memory, record, status, memory.getInt32(record + RESULT_LAYER, true), memory.getInt32(record + RESULT_OFFSET, true));
      }
    }
    const index = status < 0 || status >= COUNTER_INVALID_SLOT ? COUNTER_INVALID_SLOT : status;
    // A u64 counter as two little-endian u32 halves, carried by hand.
    const low = memory.getUint32(counters + index * 8, true);
    if (low === 0xffffffff) {
      memory.setUint32(counters + index * 8, 0, true);
      memory.setUint32(counters + index * 8 + 4, memory.getUint32(counters + index * 8 + 4, true) + 1, true);
    } else {
      memory.setUint32(counters + index * 8, low + 1, true);
    }
  }
  return done;
}
