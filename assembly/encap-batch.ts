// encapBatch: encapsulate every slot of a PacketBatch in place, in one call (see batch.ts for
// the geometry). Slots come in runs that go to one peer's template; each run is checked and
// prepared once, then taken by a loop made for its IP version and checksum mode.

import { OK } from './status';
import { loadBe16 } from './checksum';
import {
  RESULT_STATUS, RESULT_L3, RESULT_L4, RESULT_VXLAN, RESULT_INNER, RESULT_INNER_LEN, RESULT_VNI, RESULT_IP_VERSION, RESULT_SOURCE_PORT,
} from './decap';
import {
  fillPacketFields, isFastSlot, udpBaseSum, TEMPLATE_HEADER_LEN, TEMPLATE_L3, TEMPLATE_L4, TEMPLATE_IP_VERSION,
  TEMPLATE_LEN, TEMPLATE_UDP_CHECKSUM_MODE, TEMPLATE_NEXT_ID, TEMPLATE_RUN_KEY, TEMPLATE_RUN_LENGTH_SPAN, TEMPLATE_RUN_UDP_SUM,
  TEMPLATE_RUN_RECORD, UDP_CHECKSUM_ZERO, UDP_CHECKSUM_FULL, UDP_CHECKSUM_OFFLOAD,
} from './encap';
import {
  SLOT_HEADROOM, META_FRAME_OFFSET, META_FRAME_LEN, META_PEER, META_SOURCE_IP, META_CSUM_START, META_CSUM_OFFSET, META_LEN,
  SLOT_INVALID, SLOT_NO_PEER, BATCH_INVALID, HEADER_BLOCK_LEN, HEADER_BLOCK_LEN_IPV4, SLOT_DEFERRED, fitsInMemory, refuseSlot,
} from './batch';
import { completeInnerChecksum, partialChecksumFits } from './inner';
import { ETH_HEADER_LEN } from './layout/ethernet';
import { IPV4_SOURCE, IPV4_MIN_HEADER_LEN } from './layout/ipv4';
import { IPV6_SOURCE, IPV6_HEADER_LEN } from './layout/ipv6';
import { UDP_HEADER_LEN } from './layout/udp';
import { VXLAN_VNI, VXLAN_HEADER_LEN } from './layout/vxlan';

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

/** The top bit of TEMPLATE_RUN_KEY: set once the run fields are written. */
const RUN_KEY_SET: u64 = 1;

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
 * The fast loop has no calls: around a call V8 spills every register of the loop. Slots that
 * need one (a partial inner checksum to complete, an inner frame off the fast path (isFastSlot),
 * every slot in `full` mode, which sums each datagram) are marked SLOT_DEFERRED and done by the
 * general loop after it, with the IPv4 identification they would have had in order. With SIMD the
 * header block and the run's record are held in vectors (registers) across the fast loop.
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
 * Where a slot goes in encapSlots' fast loop: its inner length when it can be encapsulated there;
 * SLOT_DEFERRED (marked in its record) when it needs the general loop; SLOT_INVALID (refused) when
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
