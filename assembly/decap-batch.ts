// decapBatch: validate every slot of a PacketBatch in one call (see batch.ts for the geometry).

import { OK, TRUNCATED, VNI_MISMATCH, LAYER_INNER, LAYER_VXLAN } from './status';
import { loadBe16 } from './checksum';
import {
  decapFrame, storeSuccess, acceptFastIpv4, isFastIpv4UdpChecksumValid, fastIpv4Vni, fastIpv4SourcePort, FAST_UDP_CHECKSUM_PENDING,
  FAST_L3, FAST_IPV4_L4, FAST_IPV4_VXLAN, FAST_IPV4_INNER, DECAP_CHECK_VNI,
  RESULT_STATUS, RESULT_LAYER, RESULT_OFFSET, RESULT_L3, RESULT_VXLAN, RESULT_VNI, RESULT_IP_VERSION, RESULT_SOURCE_PORT,
} from './decap';
import {
  META_FRAME_OFFSET, META_FRAME_LEN, META_SOURCE_IP, META_LEN, SLOT_INVALID, BATCH_INVALID, COUNTER_COUNT, COUNTER_INVALID_SLOT,
  SLOT_DEFERRED, fitsInMemory, clearRecord,
} from './batch';
import { IPV4_SOURCE } from './layout/ipv4';
import { IPV6_SOURCE } from './layout/ipv6';
import { UDP_LENGTH } from './layout/udp';
import { VXLAN_VNI, VXLAN_HEADER_LEN } from './layout/vxlan';

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
 * As in encapBatch, the fast loop has no calls: it accepts a fast-path IPv4 frame (acceptFastIpv4)
 * and marks every other slot for the general loop after it: a fast-path frame with a UDP checksum
 * to verify gets just that there (a call), anything else decapFrame. Frames are independent here,
 * so the order of the two loops changes nothing.
 */
export function decapBatch(
  slots: usize, slotStride: i32, meta: usize, count: i32, options: u32,
  vniSet: usize, vniCount: i32, portsLow: u32, portsHigh: u32, counters: usize,
): i32 {
  if (count < 0 || slotStride < 0 || vniCount < 0) return BATCH_INVALID;
  if (!fitsInMemory(slots, count, slotStride) || !fitsInMemory(meta, count, <i32>META_LEN) ||
    !fitsInMemory(vniSet, vniCount, 4) || !fitsInMemory(counters, COUNTER_COUNT, 8)) return BATCH_INVALID;
  const frameOptions = options & ~DECAP_CHECK_VNI;
  let valid = 0;
  let deferred = 0;
  let slot = slots;
  let record = meta;
  for (let i = 0; i < count; i++, slot += <usize>slotStride, record += META_LEN) {
    const frameOffset = load<i32>(record + META_FRAME_OFFSET);
    const frameLen = load<i32>(record + META_FRAME_LEN);
    const frame = slot + <usize>frameOffset;
    const fits = frameOffset >= 0 && frameLen >= 0 && frameOffset <= slotStride - frameLen;
    const accepted: usize = fits ? acceptFastIpv4(frame, <usize>frameLen, frameOptions, 0, portsLow, portsHigh, true) : 0;
    if (accepted >= FAST_UDP_CHECKSUM_PENDING) {
      store<i32>(record + RESULT_STATUS, SLOT_DEFERRED_CHECKSUM);
      deferred++;
    } else if (accepted != 0 && (vniCount == 0 || containsVni(vniSet, vniCount, <i32>fastIpv4Vni(frame)))) {
      storeFastIpv4Success(record, frame, accepted);
      valid++;
    } else {
      store<i32>(record + RESULT_STATUS, SLOT_DEFERRED);
      deferred++;
    }
  }
  if (deferred > 0) {
    slot = slots;
    record = meta;
    for (let i = 0; i < count; i++, slot += <usize>slotStride, record += META_LEN) {
      const mark = load<i32>(record + RESULT_STATUS);
      if (mark == SLOT_DEFERRED_CHECKSUM) {
        // A fast-path frame but for its UDP checksum: verify that alone, as decapFrame would next.
        const frame = slot + <usize>load<i32>(record + META_FRAME_OFFSET);
        const udpLength = <usize>loadBe16(frame + FAST_IPV4_L4 + UDP_LENGTH);
        if (isFastIpv4UdpChecksumValid(frame, udpLength) && (vniCount == 0 || containsVni(vniSet, vniCount, <i32>fastIpv4Vni(frame)))) {
          storeFastIpv4Success(record, frame, udpLength);
          valid++;
          continue;
        }
        // Otherwise decapFrame names the fault.
      } else if (mark != SLOT_DEFERRED) {
        continue;
      }
      const status = decapSlot(slot, slotStride, record, frameOptions, vniSet, vniCount, portsLow, portsHigh);
      if (status == OK) valid++;
      else {
        const counter = counters + (<usize>(status < 0 || status >= COUNTER_INVALID_SLOT ? COUNTER_INVALID_SLOT : status) << 3);
        store<u64>(counter, load<u64>(counter) + 1);
      }
    }
  }
  // One add for every valid frame, not a load and store per frame.
  store<u64>(counters + (<usize>OK << 3), load<u64>(counters + (<usize>OK << 3)) + <u64>valid);
  return valid;
}

/** decapBatch's mark for a fast-path frame whose UDP checksum is left to its general loop. */
const SLOT_DEFERRED_CHECKSUM: i32 = SLOT_DEFERRED - 1;

/** The record of a frame acceptFastIpv4 accepted with this UDP length. */
// @ts-ignore: decorator
@inline function storeFastIpv4Success(record: usize, frame: usize, udpLength: usize): void {
  const innerLen = FAST_IPV4_L4 + udpLength - FAST_IPV4_INNER;
  if (ASC_FEATURE_SIMD) {
    // RESULT_STATUS..RESULT_L3 and RESULT_L4..RESULT_INNER_LEN as two vectors, then the rest.
    v128.store(record, i32x4(OK, 0, 0, <i32>FAST_L3));
    v128.store(record, i32x4(<i32>FAST_IPV4_L4, <i32>FAST_IPV4_VXLAN, <i32>FAST_IPV4_INNER, <i32>innerLen), 16);
    store<i32>(record + RESULT_VNI, <i32>fastIpv4Vni(frame));
    store<i32>(record + RESULT_IP_VERSION, 4);
    store<i32>(record + RESULT_SOURCE_PORT, <i32>fastIpv4SourcePort(frame));
  } else {
    storeSuccess(record, FAST_L3, FAST_IPV4_L4, FAST_IPV4_VXLAN, FAST_IPV4_INNER, innerLen, fastIpv4Vni(frame), 4, fastIpv4SourcePort(frame));
  }
  store<i32>(record + META_SOURCE_IP, <i32>(FAST_L3 + IPV4_SOURCE));
}

/** decapBatch's general loop for one slot: the general decapFrame, then the VNI set. Returns the status. */
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
