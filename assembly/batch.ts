// Batch geometry shared by the batch kernels (encap-batch.ts, decap-batch.ts): one call
// encapsulates or validates every slot of a PacketBatch.
//
// A batch is `count` slots of `slotStride` bytes each, contiguous, and a metadata record of
// META_LEN bytes per slot. A slot starts with SLOT_HEADROOM bytes of room for the outer headers;
// an inner frame to encapsulate sits right after it, so encapBatch writes the outer headers in
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

import {
  RESULT_STATUS, RESULT_LAYER, RESULT_OFFSET, RESULT_L3, RESULT_SOURCE_PORT,
} from './decap';

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
@inline export function fitsInMemory(ptr: usize, count: i32, size: i32): bool {
  return <u64>ptr + <u64>count * <u64>size <= (<u64>memory.size() << 16);
}

// @ts-ignore: decorator
@inline export function clearRecord(record: usize, status: i32, layer: i32, offset: i32): void {
  store<i32>(record + RESULT_STATUS, status);
  store<i32>(record + RESULT_LAYER, layer);
  store<i32>(record + RESULT_OFFSET, offset);
  // The outputs after the error location; the inputs (frame offset and length) stay.
  for (let at = RESULT_L3; at <= RESULT_SOURCE_PORT; at += 4) store<i32>(record + at, 0); // memory.fill would be a call into V8
  store<i32>(record + META_SOURCE_IP, 0);
}

/** An encapBatch slot that was not encapsulated: no frame; its inputs stay for a retry. */
// @ts-ignore: decorator
@inline export function refuseSlot(record: usize, status: i32): void {
  store<i32>(record + RESULT_STATUS, status);
  store<i32>(record + RESULT_LAYER, 0);
  store<i32>(record + RESULT_OFFSET, 0);
  store<i32>(record + META_FRAME_LEN, 0);
}

/**
 * Each slot gets the last HEADER_BLOCK_LEN bytes of its template copied in front of the inner
 * frame: the header (right-aligned in the template) and, before it, template bytes that land in
 * the unused part of the headroom. A fixed-size copy needs no loop and no length test.
 */
export const HEADER_BLOCK_LEN: usize = 80; // > the longest header: Ethernet + 802.1Q + IPv6 + UDP + VXLAN = 74
/** The part of the block an IPv4 header lies in (Ethernet + 802.1Q + IPv4 + UDP + VXLAN = 54). */
export const HEADER_BLOCK_LEN_IPV4: usize = 64;

/** A batch kernel's mark, inside one call, for a slot left to its general loop (after the fast loop). Never seen outside. */
export const SLOT_DEFERRED: i32 = -3;
