// Batch kernels: one call encapsulates or validates every slot of a PacketBatch.
//
// A batch is `count` slots of `slotStride` bytes each, contiguous, and a metadata record of
// META_LEN bytes per slot. A slot starts with SLOT_HEADROOM bytes of room for the outer headers;
// an inner frame to encapsulate sits right after it, so encapFrame writes the outer headers in
// place and never copies the payload. A received frame to decapsulate may start anywhere in the
// slot (META_FRAME_OFFSET). Nothing here traps: the geometry is checked against the memory once
// per call, every slot's lengths against the geometry before its bytes are touched.
//
//   slot i:  [ headroom (128) ........ | inner frame (slotStride - 128) ........ ]
//                       ^ outer headers end here after encapsulation
//
// The metadata record starts with decapFrame's result record (RESULT_*: status, layer, offset,
// header offsets, inner offset/length, VNI, IP version, source port), with every offset relative
// to the frame's first byte. After encapBatch a slot's record holds what decapBatch would report
// for the frame it produced.

import { OK, TRUNCATED, VNI_MISMATCH, LAYER_INNER, LAYER_VXLAN } from './status';
import { loadBe16 } from './checksum';
import {
  decapFrame, DECAP_CHECK_VNI, RESULT_STATUS, RESULT_LAYER, RESULT_OFFSET, RESULT_L3, RESULT_L4, RESULT_VXLAN,
  RESULT_INNER, RESULT_INNER_LEN, RESULT_VNI, RESULT_IP_VERSION, RESULT_SOURCE_PORT,
} from './decap';
import {
  writeOuterHeaders, lastSourcePort, TEMPLATE_HEADER_LEN, TEMPLATE_L3, TEMPLATE_L4, TEMPLATE_IP_VERSION, TEMPLATE_HEADER, TEMPLATE_LEN,
} from './encap';
import { completeInnerChecksum } from './inner';
import { ETH_HEADER_LEN } from './layout/ethernet';
import { IPV4_SOURCE, IPV4_MIN_HEADER_LEN } from './layout/ipv4';
import { IPV6_SOURCE, IPV6_HEADER_LEN } from './layout/ipv6';
import { UDP_SOURCE_PORT, UDP_HEADER_LEN } from './layout/udp';
import { VXLAN_VNI, VXLAN_HEADER_LEN } from './layout/vxlan';

/** Room before each slot's inner frame: more than Ethernet + 802.1Q + IPv6 + UDP + VXLAN (74). */
export const SLOT_HEADROOM: i32 = 128;

// Per-slot metadata record: the RESULT_* fields of decap.ts at their offsets, then these i32s.
/** Where the frame starts in the slot. Input of decapBatch; output of encapBatch. */
export const META_FRAME_OFFSET: usize = 44;
/** The frame's length. Input of decapBatch; output of encapBatch. */
export const META_FRAME_LEN: usize = 48;
/** encapBatch input: which template (peer) encapsulates this slot. */
export const META_PEER: usize = 52;
/** Offset of the outer source IP address from the frame start (4 or 16 bytes, per RESULT_IP_VERSION). */
export const META_SOURCE_IP: usize = 56;
/** encapBatch input: where a partial inner checksum starts (from the inner frame), 0 for none. Cleared once completed. */
export const META_CSUM_START: usize = 60;
/** encapBatch input: where the checksum field is, from META_CSUM_START. */
export const META_CSUM_OFFSET: usize = 64;
export const META_LEN: usize = 96;

/** Slot status: its lengths or offsets do not fit the slot (a caller's error, not a packet's). */
export const SLOT_INVALID: i32 = -1;
/** Slot status: its peer index names no template, or that template is malformed. */
export const SLOT_NO_PEER: i32 = -2;
/** What a batch kernel returns when the geometry it was given does not fit in memory. */
export const BATCH_INVALID: i32 = -1;

/** decapBatch counters: one u64 per status code (index = status), SLOT_INVALID at the last index. */
export const COUNTER_COUNT: i32 = 32;
export const COUNTER_INVALID_SLOT: i32 = 31;

// @ts-ignore: decorator
@inline function fitsInMemory(ptr: usize, count: i32, size: i32): bool {
  return <u64>ptr + <u64>count * <u64>size <= (<u64>memory.size() << 16);
}

// @ts-ignore: decorator
@inline function clearRecord(record: usize, status: i32, layer: i32, offset: i32): void {
  store<i32>(record + RESULT_STATUS, status);
  store<i32>(record + RESULT_LAYER, layer);
  store<i32>(record + RESULT_OFFSET, offset);
  // The outputs after the error location; the inputs (frame offset and length) stay.
  memory.fill(record + RESULT_L3, 0, RESULT_SOURCE_PORT + 4 - RESULT_L3);
  store<i32>(record + META_SOURCE_IP, 0);
}

/** An encapBatch slot that was not encapsulated: no frame; its inputs stay for a retry. */
// @ts-ignore: decorator
@inline function refuseSlot(record: usize, status: i32): void {
  store<i32>(record + RESULT_STATUS, status);
  store<i32>(record + RESULT_LAYER, 0);
  store<i32>(record + RESULT_OFFSET, 0);
  store<i32>(record + META_FRAME_LEN, 0);
}

/** The template is one buildTunnelTemplate made: its offsets keep every write inside the headroom. */
function isUsableTemplate(template: usize): bool {
  const headerLen = load<i32>(template + TEMPLATE_HEADER_LEN);
  const l3 = load<i32>(template + TEMPLATE_L3);
  const l4 = load<i32>(template + TEMPLATE_L4);
  const ipVersion = load<i32>(template + TEMPLATE_IP_VERSION);
  const ipHeaderLen = ipVersion == 4 ? <i32>IPV4_MIN_HEADER_LEN : ipVersion == 6 ? <i32>IPV6_HEADER_LEN : -1;
  return ipHeaderLen > 0 && l3 >= <i32>ETH_HEADER_LEN && l4 >= l3 + ipHeaderLen &&
    headerLen == l4 + <i32>(UDP_HEADER_LEN + VXLAN_HEADER_LEN) &&
    headerLen <= SLOT_HEADROOM && headerLen <= <i32>(TEMPLATE_LEN - TEMPLATE_HEADER);
}

/**
 * Encapsulate slots [0, count): slot i's inner frame (META_INNER_LEN = RESULT_INNER_LEN bytes at
 * slot + SLOT_HEADROOM) with template META_PEER of the `templateCount` templates at `templates`.
 * A slot with META_CSUM_START set first has its partial inner checksum completed. Each record
 * gets the status and where the outer frame is. Returns the number of slots encapsulated, or
 * BATCH_INVALID when the geometry does not fit in memory.
 */
export function encapBatch(templates: usize, templateCount: i32, slots: usize, slotStride: i32, meta: usize, count: i32): i32 {
  if (count < 0 || templateCount < 0 || slotStride < SLOT_HEADROOM + <i32>ETH_HEADER_LEN) return BATCH_INVALID;
  if (!fitsInMemory(slots, count, slotStride) || !fitsInMemory(meta, count, <i32>META_LEN) ||
    !fitsInMemory(templates, templateCount, <i32>TEMPLATE_LEN)) return BATCH_INVALID;
  const maxInnerLen = slotStride - SLOT_HEADROOM;
  // The template of the current run of slots, checked, with its fields read once per run.
  let checkedTemplate: usize = <usize>-1; // no template can sit at the last byte of memory
  let headerLen = 0;
  let l3 = 0;
  let l4 = 0;
  let ipVersion = 0;
  let lengthLimit = 0;
  let vni: u32 = 0;
  let done = 0;
  for (let i = 0; i < count; i++) {
    const record = meta + <usize>i * META_LEN;
    const inner = slots + <usize>i * <usize>slotStride + <usize>SLOT_HEADROOM;
    const peer = load<i32>(record + META_PEER);
    if (peer < 0 || peer >= templateCount) {
      refuseSlot(record, SLOT_NO_PEER);
      continue;
    }
    const template = templates + <usize>peer * TEMPLATE_LEN;
    // Most batches use one or a few peers in runs: check a template once per run of slots.
    if (template != checkedTemplate) {
      if (!isUsableTemplate(template)) {
        refuseSlot(record, SLOT_NO_PEER);
        continue;
      }
      checkedTemplate = template;
      headerLen = load<i32>(template + TEMPLATE_HEADER_LEN);
      l3 = load<i32>(template + TEMPLATE_L3);
      l4 = load<i32>(template + TEMPLATE_L4);
      ipVersion = load<i32>(template + TEMPLATE_IP_VERSION);
      // The outer length fields are 16 bits: IPv4 total length from l3, IPv6 payload length from l4.
      lengthLimit = 0xffff - (headerLen - (ipVersion == 4 ? l3 : l4));
      const vniAt = template + TEMPLATE_HEADER + <usize>(headerLen - <i32>VXLAN_HEADER_LEN) + VXLAN_VNI;
      vni = (loadBe16(vniAt) << 8) | <u32>load<u8>(vniAt + 2);
    }
    const innerLen = load<i32>(record + RESULT_INNER_LEN);
    if (innerLen < <i32>ETH_HEADER_LEN || innerLen > maxInnerLen || innerLen > lengthLimit) {
      refuseSlot(record, SLOT_INVALID);
      continue;
    }
    const csumStart = load<i32>(record + META_CSUM_START);
    if (csumStart != 0) {
      if (completeInnerChecksum(inner, innerLen, csumStart, load<i32>(record + META_CSUM_OFFSET)) != 0) {
        refuseSlot(record, SLOT_INVALID);
        continue;
      }
      // The bytes now hold the complete checksum; completing it again would corrupt it.
      store<i32>(record + META_CSUM_START, 0);
    }
    const frameLen = <i32>writeOuterHeaders(template, inner, <usize>innerLen, <usize>headerLen, <usize>l3, <usize>l4, ipVersion);
    const frame = inner - <usize>headerLen;
    store<i32>(record + RESULT_STATUS, OK);
    store<i32>(record + RESULT_LAYER, 0);
    store<i32>(record + RESULT_OFFSET, 0);
    store<i32>(record + RESULT_L3, l3);
    store<i32>(record + RESULT_L4, l4);
    store<i32>(record + RESULT_VXLAN, l4 + <i32>UDP_HEADER_LEN);
    store<i32>(record + RESULT_INNER, headerLen);
    store<i32>(record + RESULT_VNI, <i32>vni); // read from the template, not the frame just written
    store<i32>(record + RESULT_IP_VERSION, ipVersion);
    store<i32>(record + RESULT_SOURCE_PORT, <i32>lastSourcePort());
    store<i32>(record + META_FRAME_OFFSET, SLOT_HEADROOM - headerLen);
    store<i32>(record + META_FRAME_LEN, frameLen);
    store<i32>(record + META_SOURCE_IP, l3 + <i32>(ipVersion == 4 ? IPV4_SOURCE : IPV6_SOURCE));
    done++;
  }
  return done;
}

/** Whether `vni` is in the ascending array of `count` i32s at `set`. */
function containsVni(set: usize, count: i32, vni: i32): bool {
  let low = 0;
  let high = count - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    const value = load<i32>(set + (<usize>middle << 2));
    if (value == vni) return true;
    if (value < vni) low = middle + 1;
    else high = middle - 1;
  }
  return false;
}

/**
 * Validate slots [0, count): slot i's frame is META_FRAME_LEN bytes at slot + META_FRAME_OFFSET.
 * Each record gets decapFrame's result (offsets from the frame start) and META_SOURCE_IP; a
 * failed slot's other fields are zeroed. With `vniCount` > 0, only VNIs in the ascending set at
 * `vniSet` are accepted, checked where decapFrame checks its one expected VNI (the
 * DECAP_CHECK_VNI bit is ignored). Adds one to counters[status] (u64) per slot. Returns the
 * number of valid frames, or BATCH_INVALID when the geometry does not fit in memory.
 */
export function decapBatch(
  slots: usize, slotStride: i32, meta: usize, count: i32, options: u32,
  vniSet: usize, vniCount: i32, portsLow: u32, portsHigh: u32, counters: usize,
): i32 {
  if (count < 0 || slotStride < 0 || vniCount < 0) return BATCH_INVALID;
  if (!fitsInMemory(slots, count, slotStride) || !fitsInMemory(meta, count, <i32>META_LEN) ||
    !fitsInMemory(vniSet, vniCount, 4) || !fitsInMemory(counters, COUNTER_COUNT, 8)) return BATCH_INVALID;
  const frameOptions = options & ~DECAP_CHECK_VNI;
  let done = 0;
  for (let i = 0; i < count; i++) {
    const record = meta + <usize>i * META_LEN;
    const frameOffset = load<i32>(record + META_FRAME_OFFSET);
    const frameLen = load<i32>(record + META_FRAME_LEN);
    let status: i32;
    if (frameOffset < 0 || frameLen < 0 || frameOffset > slotStride - frameLen) {
      status = SLOT_INVALID;
      clearRecord(record, status, 0, 0);
    } else {
      const frame = slots + <usize>i * <usize>slotStride + <usize>frameOffset;
      status = decapFrame(frame, <usize>frameLen, frameOptions, 0, portsLow, portsHigh, record);
      // decapFrame checks the VNI just before the inner frame's length: a frame whose only fault
      // is a short inner frame still has its VNI judged first.
      let vxlan = -1; // where the VXLAN header is, when the VNI is to be judged against the set
      if (vniCount > 0) {
        if (status == OK) vxlan = load<i32>(record + RESULT_VXLAN);
        else if (status == TRUNCATED && load<i32>(record + RESULT_LAYER) == LAYER_INNER) {
          vxlan = load<i32>(record + RESULT_OFFSET) - <i32>VXLAN_HEADER_LEN;
        }
      }
      let vniRejected = false;
      if (vxlan >= 0) {
        const vniAt = frame + <usize>vxlan + VXLAN_VNI;
        vniRejected = !containsVni(vniSet, vniCount, <i32>((loadBe16(vniAt) << 8) | <u32>load<u8>(vniAt + 2)));
      }
      if (vniRejected) {
        status = VNI_MISMATCH;
        clearRecord(record, status, LAYER_VXLAN, vxlan + <i32>VXLAN_VNI);
      } else if (status == OK) {
        const l3 = load<i32>(record + RESULT_L3);
        store<i32>(record + META_SOURCE_IP, l3 + <i32>(load<i32>(record + RESULT_IP_VERSION) == 4 ? IPV4_SOURCE : IPV6_SOURCE));
        done++;
      } else {
        clearRecord(record, status, load<i32>(record + RESULT_LAYER), load<i32>(record + RESULT_OFFSET));
      }
    }
    const counter = counters + (<usize>(status < 0 ? COUNTER_INVALID_SLOT : status < COUNTER_INVALID_SLOT ? status : COUNTER_INVALID_SLOT) << 3);
    store<u64>(counter, load<u64>(counter) + 1);
  }
  return done;
}
