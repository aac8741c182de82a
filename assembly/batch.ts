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
  decapFrame, acceptCommonIpv4, commonVni, commonSourcePort, COMMON_L3, COMMON_L4, COMMON_VXLAN, COMMON_INNER, DECAP_CHECK_VNI, RESULT_STATUS, RESULT_LAYER, RESULT_OFFSET, RESULT_L3, RESULT_L4, RESULT_VXLAN,
  RESULT_INNER, RESULT_INNER_LEN, RESULT_VNI, RESULT_IP_VERSION, RESULT_SOURCE_PORT,
} from './decap';
import {
  fillPacketFields, isFastSlot, udpBaseSum, TEMPLATE_HEADER_LEN, TEMPLATE_L3, TEMPLATE_L4, TEMPLATE_IP_VERSION,
  TEMPLATE_LEN, TEMPLATE_UDP_CHECKSUM_MODE, TEMPLATE_NEXT_ID, TEMPLATE_RUN_KEY, TEMPLATE_RUN_LENGTH_SPAN, TEMPLATE_RUN_UDP_SUM, TEMPLATE_RUN_RECORD,
  UDP_CHECKSUM_ZERO, UDP_CHECKSUM_FULL, UDP_CHECKSUM_OFFLOAD,
} from './encap';
import { completeInnerChecksum, partialChecksumFits } from './inner';
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
  for (let at = RESULT_L3; at <= RESULT_SOURCE_PORT; at += 4) store<i32>(record + at, 0); // memory.fill would be a call into V8
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

/**
 * The template is one buildTunnelTemplate made: its offsets keep every write inside the headroom
 * and the outer IP header has no options or extension headers (fillPacketFields relies on it).
 */
function isUsableTemplate(template: usize): bool {
  const headerLen = load<i32>(template + TEMPLATE_HEADER_LEN);
  const l3 = load<i32>(template + TEMPLATE_L3);
  const l4 = load<i32>(template + TEMPLATE_L4);
  const ipVersion = load<i32>(template + TEMPLATE_IP_VERSION);
  const mode = load<i32>(template + TEMPLATE_UDP_CHECKSUM_MODE);
  const ipHeaderLen = ipVersion == 4 ? <i32>IPV4_MIN_HEADER_LEN : ipVersion == 6 ? <i32>IPV6_HEADER_LEN : -1;
  return ipHeaderLen > 0 && l3 >= <i32>ETH_HEADER_LEN && l4 == l3 + ipHeaderLen &&
    headerLen == l4 + <i32>(UDP_HEADER_LEN + VXLAN_HEADER_LEN) &&
    headerLen <= <i32>(ipVersion == 4 ? HEADER_BLOCK_LEN_IPV4 : HEADER_BLOCK_LEN) &&
    (mode == UDP_CHECKSUM_ZERO || mode == UDP_CHECKSUM_FULL || mode == UDP_CHECKSUM_OFFLOAD);
}

/**
 * Each slot gets the last HEADER_BLOCK_LEN bytes of its template copied in front of the inner
 * frame: the header (right-aligned in the template) and, before it, template bytes that land in
 * the unused part of the headroom. A fixed-size copy needs no loop and no length test.
 */
export const HEADER_BLOCK_LEN: usize = 80; // > the longest header: Ethernet + 802.1Q + IPv6 + UDP + VXLAN = 74
/** The part of the block an IPv4 header lies in (Ethernet + 802.1Q + IPv4 + UDP + VXLAN = 54). */
export const HEADER_BLOCK_LEN_IPV4: usize = 64;

/** The top bit of TEMPLATE_RUN_KEY: set once the run fields are written. */
const RUN_KEY_SET: u64 = 1;

/** encapBatch's mark, inside one call, for a slot left to its second loop. Never seen outside. */
const SLOT_DEFERRED: i32 = -3;

/**
 * Encapsulate slots [0, count): slot i's inner frame (RESULT_INNER_LEN bytes at slot +
 * SLOT_HEADROOM) with template META_PEER of the `templateCount` templates at `templates`.
 * A slot with META_CSUM_START set first has its partial inner checksum completed. Each record
 * gets the status and where the outer frame is. Returns the number of slots encapsulated, or
 * BATCH_INVALID when the geometry does not fit in memory.
 */
export function encapBatch(templates: usize, templateCount: i32, slots: usize, slotStride: i32, meta: usize, count: i32): i32 {
  if (count < 0 || templateCount < 0 || slotStride < SLOT_HEADROOM + <i32>ETH_HEADER_LEN) return BATCH_INVALID;
  if (!fitsInMemory(slots, count, slotStride) || !fitsInMemory(meta, count, <i32>META_LEN) ||
    !fitsInMemory(templates, templateCount, <i32>TEMPLATE_LEN)) return BATCH_INVALID;
  let done = 0;
  // Slots come in runs that go to one peer (often the whole batch): each run is checked and
  // prepared once, then encapsulated by a loop made for its IP version and checksum mode.
  let first = 0;
  while (first < count) {
    const peer = load<i32>(meta + <usize>first * META_LEN + META_PEER);
    let end = first + 1;
    while (end < count && load<i32>(meta + <usize>end * META_LEN + META_PEER) == peer) end++;
    const template = templates + <usize>peer * TEMPLATE_LEN;
    const slot = slots + <usize>first * <usize>slotStride;
    const record = meta + <usize>first * META_LEN;
    const runLen = end - first;
    if (peer < 0 || peer >= templateCount || !isUsableTemplate(template)) {
      for (let i = 0; i < runLen; i++) refuseSlot(record + <usize>i * META_LEN, SLOT_NO_PEER);
    } else {
      prepareRun(template, peer, slotStride);
      const mode = load<i32>(template + TEMPLATE_UDP_CHECKSUM_MODE);
      const ipv4 = load<i32>(template + TEMPLATE_IP_VERSION) == 4;
      if (mode == UDP_CHECKSUM_ZERO) done += ipv4 ? encapIpv4Zero(template, slot, slotStride, record, runLen) : encapIpv6Zero(template, slot, slotStride, record, runLen);
      else if (mode == UDP_CHECKSUM_FULL) done += ipv4 ? encapIpv4Full(template, slot, slotStride, record, runLen) : encapIpv6Full(template, slot, slotStride, record, runLen);
      else done += ipv4 ? encapIpv4Offload(template, slot, slotStride, record, runLen) : encapIpv6Offload(template, slot, slotStride, record, runLen);
    }
    first = end;
  }
  return done;
}

// One loop per IP version and checksum mode: each is encapSlots with those constant, so it keeps
// only its own branches and V8 has fewer values to keep in registers.
function encapIpv4Zero(template: usize, slot: usize, slotStride: i32, record: usize, count: i32): i32 {
  return encapSlots(template, slot, slotStride, record, count, 4, UDP_CHECKSUM_ZERO);
}
function encapIpv4Full(template: usize, slot: usize, slotStride: i32, record: usize, count: i32): i32 {
  return encapSlots(template, slot, slotStride, record, count, 4, UDP_CHECKSUM_FULL);
}
function encapIpv4Offload(template: usize, slot: usize, slotStride: i32, record: usize, count: i32): i32 {
  return encapSlots(template, slot, slotStride, record, count, 4, UDP_CHECKSUM_OFFLOAD);
}
function encapIpv6Zero(template: usize, slot: usize, slotStride: i32, record: usize, count: i32): i32 {
  return encapSlots(template, slot, slotStride, record, count, 6, UDP_CHECKSUM_ZERO);
}
function encapIpv6Full(template: usize, slot: usize, slotStride: i32, record: usize, count: i32): i32 {
  return encapSlots(template, slot, slotStride, record, count, 6, UDP_CHECKSUM_FULL);
}
function encapIpv6Offload(template: usize, slot: usize, slotStride: i32, record: usize, count: i32): i32 {
  return encapSlots(template, slot, slotStride, record, count, 6, UDP_CHECKSUM_OFFLOAD);
}

/**
 * Write the template's run fields (TEMPLATE_RUN_*) for a run of slots to `peer` in slots of
 * `slotStride` bytes, unless the last run left them for the same two. A template written anew
 * (Encapsulator.setTunnel) has a zero TEMPLATE_RUN_KEY, which no run has.
 */
function prepareRun(template: usize, peer: i32, slotStride: i32): void {
  const key = (<u64>RUN_KEY_SET << 63) | (<u64><u32>peer << 32) | <u64><u32>slotStride;
  if (load<u64>(template + TEMPLATE_RUN_KEY) == key) return;
  store<u64>(template + TEMPLATE_RUN_KEY, key);
  const headerLen = load<i32>(template + TEMPLATE_HEADER_LEN);
  const l3 = load<i32>(template + TEMPLATE_L3);
  const l4 = load<i32>(template + TEMPLATE_L4);
  const ipVersion = load<i32>(template + TEMPLATE_IP_VERSION);
  // The outer length fields are 16 bits: IPv4 total length from l3, IPv6 payload length from l4.
  const lengthLimit = min(slotStride - SLOT_HEADROOM, 0xffff - (headerLen - (ipVersion == 4 ? l3 : l4)));
  store<i32>(template + TEMPLATE_RUN_LENGTH_SPAN, lengthLimit - <i32>ETH_HEADER_LEN);
  store<u32>(template + TEMPLATE_RUN_UDP_SUM, udpBaseSum(template));
  const vniAt = template + TEMPLATE_LEN - VXLAN_HEADER_LEN + VXLAN_VNI;
  const record = template + TEMPLATE_RUN_RECORD;
  for (let at: usize = 0; at < 64; at += 8) store<u64>(record + at, 0); // memory.fill would be a call into V8
  store<i32>(record + RESULT_STATUS, OK);
  store<i32>(record + RESULT_L3, l3);
  store<i32>(record + RESULT_L4, l4);
  store<i32>(record + RESULT_VXLAN, l4 + <i32>UDP_HEADER_LEN);
  store<i32>(record + RESULT_INNER, headerLen);
  store<i32>(record + RESULT_VNI, <i32>((loadBe16(vniAt) << 8) | <u32>load<u8>(vniAt + 2)));
  store<i32>(record + RESULT_IP_VERSION, ipVersion);
  store<i32>(record + META_FRAME_OFFSET, SLOT_HEADROOM - headerLen);
  store<i32>(record + META_PEER, peer);
  store<i32>(record + META_SOURCE_IP, l3 + <i32>(ipVersion == 4 ? IPV4_SOURCE : IPV6_SOURCE));
}

/**
 * Encapsulate `count` consecutive slots with one prepared template. Inlined with `ipVersion` and
 * `mode` constant, so each copy keeps only its own branches.
 *
 * The first loop has no calls: around a call V8 spills every register of the loop. Slots that
 * need one (a partial inner checksum to complete, an inner frame the fast parsers do not take,
 * every slot in `full` mode, which sums each datagram) are marked SLOT_DEFERRED and done by a
 * second loop with the IPv4 identification they would have had in order. With SIMD the header
 * block and the run's record are held in vectors (registers) across the first loop.
 */
// @ts-ignore: decorator
@inline function encapSlots(
  template: usize, slot: usize, slotStride: i32, record: usize, count: i32, ipVersion: i32, mode: i32,
): i32 {
  const firstSlot = slot;
  const firstRecord = record;
  const firstId = <u32>load<i32>(template + TEMPLATE_NEXT_ID) & 0xffff;
  const udpSum = load<u32>(template + TEMPLATE_RUN_UDP_SUM);
  const headerLen = load<i32>(template + TEMPLATE_HEADER_LEN);
  let id = firstId;
  let done = 0;
  let deferred = 0;
  if (ASC_FEATURE_SIMD) {
    const block = template + TEMPLATE_LEN - HEADER_BLOCK_LEN;
    const header0 = v128.load(block);
    const header1 = v128.load(block, 16);
    const header2 = v128.load(block, 32);
    const header3 = v128.load(block, 48);
    const header4 = v128.load(block, 64);
    const runRecord = template + TEMPLATE_RUN_RECORD;
    const record0 = v128.load(runRecord);
    const record1 = v128.load(runRecord, 16);
    const record2 = v128.load(runRecord, 32);
    const record3 = v128.load(runRecord, 48);
    for (let i = 0; i < count; i++, slot += <usize>slotStride, record += META_LEN) {
      const inner = slot + <usize>SLOT_HEADROOM;
      const innerLen = routeSlot(template, record, inner, mode);
      if (innerLen >= 0) {
        const at = inner - HEADER_BLOCK_LEN;
        if (ipVersion == 6) v128.store(at, header0); // an IPv4 header lies in the block's last 64 bytes
        v128.store(at, header1, 16);
        v128.store(at, header2, 32);
        v128.store(at, header3, 48);
        v128.store(at, header4, 64);
        const sourcePort = fillPacketFields(template, inner, <u32>innerLen, ipVersion, mode, udpSum, id, true);
        // The run's record, with the slot's fields in their lanes (META_* order, four per vector).
        v128.store(record, record0);
        v128.store(record, i32x4.replace_lane(record1, 3, innerLen), 16); // RESULT_INNER_LEN
        v128.store(record, i32x4.replace_lane(record2, 2, <i32>sourcePort), 32); // RESULT_SOURCE_PORT
        v128.store(record, i32x4.replace_lane(record3, 0, headerLen + innerLen), 48); // META_FRAME_LEN
        done++;
      } else if (innerLen == SLOT_DEFERRED) {
        deferred++;
      } else {
        continue; // refused: takes no identification
      }
      if (ipVersion == 4) id = (id + 1) & 0xffff;
    }
  } else {
    for (let i = 0; i < count; i++, slot += <usize>slotStride, record += META_LEN) {
      const inner = slot + <usize>SLOT_HEADROOM;
      const innerLen = routeSlot(template, record, inner, mode);
      if (innerLen >= 0) {
        encapSlot(template, inner, innerLen, record, ipVersion, mode, udpSum, id, true);
        done++;
      } else if (innerLen == SLOT_DEFERRED) {
        deferred++;
      } else {
        continue;
      }
      if (ipVersion == 4) id = (id + 1) & 0xffff;
    }
  }
  if (deferred > 0) {
    slot = firstSlot;
    record = firstRecord;
    id = firstId;
    for (let i = 0; i < count; i++, slot += <usize>slotStride, record += META_LEN) {
      const status = load<i32>(record + RESULT_STATUS);
      if (status == SLOT_INVALID) continue;
      if (status == SLOT_DEFERRED) {
        const inner = slot + <usize>SLOT_HEADROOM;
        const innerLen = load<i32>(record + RESULT_INNER_LEN);
        const csumStart = load<i32>(record + META_CSUM_START);
        if (csumStart != 0) {
          completeInnerChecksum(inner, innerLen, csumStart, load<i32>(record + META_CSUM_OFFSET)); // routeSlot checked the offsets
          // The bytes now hold the complete checksum; completing it again would corrupt it.
          store<i32>(record + META_CSUM_START, 0);
        }
        encapSlot(template, inner, innerLen, record, ipVersion, mode, udpSum, id, false);
        done++;
      }
      if (ipVersion == 4) id = (id + 1) & 0xffff;
    }
  }
  if (ipVersion == 4) store<i32>(template + TEMPLATE_NEXT_ID, <i32>((firstId + <u32>done) & 0xffff));
  return done;
}

/**
 * Where a slot goes in encapSlots' first loop: its inner length when it can be encapsulated there;
 * SLOT_DEFERRED (marked in its record) when it needs the second loop; SLOT_INVALID (refused) when
 * its length does not fit the run or its partial checksum's offsets do not fit the frame.
 */
// @ts-ignore: decorator
@inline function routeSlot(template: usize, record: usize, inner: usize, mode: i32): i32 {
  const innerLen = load<i32>(record + RESULT_INNER_LEN);
  // ETH_HEADER_LEN ≤ innerLen ≤ the run's limit, in one unsigned comparison.
  if (<u32>(innerLen - <i32>ETH_HEADER_LEN) > load<u32>(template + TEMPLATE_RUN_LENGTH_SPAN)) {
    refuseSlot(record, SLOT_INVALID);
    return SLOT_INVALID;
  }
  const csumStart = load<i32>(record + META_CSUM_START);
  if (csumStart != 0 && !partialChecksumFits(innerLen, csumStart, load<i32>(record + META_CSUM_OFFSET))) {
    refuseSlot(record, SLOT_INVALID);
    return SLOT_INVALID;
  }
  if (mode == UDP_CHECKSUM_FULL || csumStart != 0 || !isFastSlot(template, inner, <u32>innerLen, mode)) {
    store<i32>(record + RESULT_STATUS, SLOT_DEFERRED);
    return SLOT_DEFERRED;
  }
  return innerLen;
}

/**
 * Encapsulate one slot whose checks passed: the header block in front of the inner frame, its
 * fields, and the record (the run's, with the slot's own fields over it).
 */
// @ts-ignore: decorator
@inline function encapSlot(
  template: usize, inner: usize, innerLen: i32, record: usize, ipVersion: i32, mode: i32, udpSum: u32, id: u32, fast: bool,
): void {
  const block = template + TEMPLATE_LEN - HEADER_BLOCK_LEN;
  // An IPv4 header (at most 54 bytes) lies in the block's last 64 bytes.
  const skip: usize = ipVersion == 4 ? HEADER_BLOCK_LEN - HEADER_BLOCK_LEN_IPV4 : 0;
  copy16s(inner - HEADER_BLOCK_LEN + skip, block + skip, HEADER_BLOCK_LEN - skip);
  const sourcePort = fillPacketFields(template, inner, <u32>innerLen, ipVersion, mode, udpSum, id, fast);
  copy16s(record, template + TEMPLATE_RUN_RECORD, 64);
  store<i32>(record + RESULT_INNER_LEN, innerLen);
  store<i32>(record + RESULT_SOURCE_PORT, <i32>sourcePort);
  store<i32>(record + META_FRAME_LEN, load<i32>(template + TEMPLATE_HEADER_LEN) + innerLen);
}

/**
 * Copy `len` bytes, 64 or 80 (known at compile time), written out: vectors, or 64-bit words
 * without SIMD. Binaryen does not unroll a loop here, and V8 would keep its counter and checks.
 */
// @ts-ignore: decorator
@inline function copy16s(destination: usize, source: usize, len: usize): void {
  copy16(destination, source);
  copy16(destination + 16, source + 16);
  copy16(destination + 32, source + 32);
  copy16(destination + 48, source + 48);
  if (len > 64) copy16(destination + 64, source + 64);
}

// @ts-ignore: decorator
@inline function copy16(destination: usize, source: usize): void {
  if (ASC_FEATURE_SIMD) {
    v128.store(destination, v128.load(source));
  } else {
    store<u64>(destination, load<u64>(source));
    store<u64>(destination, load<u64>(source, 8), 8);
  }
}

/** Whether `vni` is in the ascending array of `count` i32s at `set`. */
// @ts-ignore: decorator
@inline function containsVni(set: usize, count: i32, vni: i32): bool {
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
 *
 * As in encapBatch, the first loop has no calls: it accepts the common frame (acceptCommonIpv4)
 * and marks every other slot SLOT_DEFERRED for the second loop, which runs decapFrame. Frames are
 * independent here, so the order of the two loops changes nothing.
 */
export function decapBatch(
  slots: usize, slotStride: i32, meta: usize, count: i32, options: u32,
  vniSet: usize, vniCount: i32, portsLow: u32, portsHigh: u32, counters: usize,
): i32 {
  if (count < 0 || slotStride < 0 || vniCount < 0) return BATCH_INVALID;
  if (!fitsInMemory(slots, count, slotStride) || !fitsInMemory(meta, count, <i32>META_LEN) ||
    !fitsInMemory(vniSet, vniCount, 4) || !fitsInMemory(counters, COUNTER_COUNT, 8)) return BATCH_INVALID;
  const frameOptions = options & ~DECAP_CHECK_VNI;
  let accepted = 0;
  let deferred = 0;
  let slot = slots;
  let record = meta;
  for (let i = 0; i < count; i++, slot += <usize>slotStride, record += META_LEN) {
    const frameOffset = load<i32>(record + META_FRAME_OFFSET);
    const frameLen = load<i32>(record + META_FRAME_LEN);
    const frame = slot + <usize>frameOffset;
    const fits = frameOffset >= 0 && frameLen >= 0 && frameOffset <= slotStride - frameLen;
    const udpLength: usize = fits ? acceptCommonIpv4(frame, <usize>frameLen, frameOptions, 0, portsLow, portsHigh, true) : 0;
    if (udpLength != 0 && (vniCount == 0 || containsVni(vniSet, vniCount, <i32>commonVni(frame)))) {
      const innerLen = <i32>(COMMON_L4 + udpLength - COMMON_INNER);
      if (ASC_FEATURE_SIMD) {
        // RESULT_STATUS..RESULT_L3 and RESULT_L4..RESULT_INNER_LEN as two vectors.
        v128.store(record, i32x4(OK, 0, 0, <i32>COMMON_L3));
        v128.store(record, i32x4(<i32>COMMON_L4, <i32>COMMON_VXLAN, <i32>COMMON_INNER, innerLen), 16);
      } else {
        store<i32>(record + RESULT_STATUS, OK);
        store<i32>(record + RESULT_LAYER, 0);
        store<i32>(record + RESULT_OFFSET, 0);
        store<i32>(record + RESULT_L3, <i32>COMMON_L3);
        store<i32>(record + RESULT_L4, <i32>COMMON_L4);
        store<i32>(record + RESULT_VXLAN, <i32>COMMON_VXLAN);
        store<i32>(record + RESULT_INNER, <i32>COMMON_INNER);
        store<i32>(record + RESULT_INNER_LEN, innerLen);
      }
      store<i32>(record + RESULT_VNI, <i32>commonVni(frame));
      store<i32>(record + RESULT_IP_VERSION, 4);
      store<i32>(record + RESULT_SOURCE_PORT, <i32>commonSourcePort(frame));
      store<i32>(record + META_SOURCE_IP, <i32>(COMMON_L3 + IPV4_SOURCE));
      accepted++;
    } else {
      store<i32>(record + RESULT_STATUS, SLOT_DEFERRED);
      deferred++;
    }
  }
  // One add for the first loop's valid frames, not a load and store per frame.
  store<u64>(counters + (<usize>OK << 3), load<u64>(counters + (<usize>OK << 3)) + <u64>accepted);
  let done = accepted;
  if (deferred > 0) {
    slot = slots;
    record = meta;
    for (let i = 0; i < count; i++, slot += <usize>slotStride, record += META_LEN) {
      if (load<i32>(record + RESULT_STATUS) != SLOT_DEFERRED) continue;
      const status = decapSlot(slot, slotStride, record, frameOptions, vniSet, vniCount, portsLow, portsHigh);
      if (status == OK) done++;
      const counter = counters + (<usize>(status < 0 ? COUNTER_INVALID_SLOT : status < COUNTER_INVALID_SLOT ? status : COUNTER_INVALID_SLOT) << 3);
      store<u64>(counter, load<u64>(counter) + 1);
    }
  }
  return done;
}

/** decapBatch's second loop for one slot: the general decapFrame, then the VNI set. Returns the status. */
function decapSlot(
  slot: usize, slotStride: i32, record: usize, options: u32, vniSet: usize, vniCount: i32, portsLow: u32, portsHigh: u32,
): i32 {
  const frameOffset = load<i32>(record + META_FRAME_OFFSET);
  const frameLen = load<i32>(record + META_FRAME_LEN);
  if (frameOffset < 0 || frameLen < 0 || frameOffset > slotStride - frameLen) {
    clearRecord(record, SLOT_INVALID, 0, 0);
    return SLOT_INVALID;
  }
  const frame = slot + <usize>frameOffset;
  let status = decapFrame(frame, <usize>frameLen, options, 0, portsLow, portsHigh, record);
  // decapFrame checks the VNI just before the inner frame's length: a frame whose only fault
  // is a short inner frame still has its VNI judged first.
  let vxlan = -1; // where the VXLAN header is, when the VNI is to be judged against the set
  if (vniCount > 0) {
    if (status == OK) vxlan = load<i32>(record + RESULT_VXLAN);
    else if (status == TRUNCATED && load<i32>(record + RESULT_LAYER) == LAYER_INNER) {
      vxlan = load<i32>(record + RESULT_OFFSET) - <i32>VXLAN_HEADER_LEN;
    }
  }
  if (vxlan >= 0) {
    const vniAt = frame + <usize>vxlan + VXLAN_VNI;
    if (!containsVni(vniSet, vniCount, <i32>((loadBe16(vniAt) << 8) | <u32>load<u8>(vniAt + 2)))) {
      clearRecord(record, VNI_MISMATCH, LAYER_VXLAN, vxlan + <i32>VXLAN_VNI);
      return VNI_MISMATCH;
    }
  }
  if (status == OK) {
    const l3 = load<i32>(record + RESULT_L3);
    store<i32>(record + META_SOURCE_IP, l3 + <i32>(load<i32>(record + RESULT_IP_VERSION) == 4 ? IPV4_SOURCE : IPV6_SOURCE));
  } else {
    clearRecord(record, status, load<i32>(record + RESULT_LAYER), load<i32>(record + RESULT_OFFSET));
  }
  return status;
}
