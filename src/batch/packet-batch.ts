/**
 * PacketBatch: a fixed set of packet slots in a kernels instance's memory (WASM linear memory,
 * or the reference backend's buffer), with one metadata record per slot. Frames are written
 * straight into their slots, so the batch kernels work in place: encapsulation writes the outer
 * headers into the headroom in front of the inner frame, decapsulation records where the inner
 * frame is. Nothing is copied and nothing is allocated per packet.
 *
 *   slot i:  [ headroom (SLOT_HEADROOM = 128) | payload (slotSize bytes) ]   (slotStride apart)
 *
 * Two ways in: `payload(i)` + `setInner(i, length, peer)` for an inner frame to encapsulate
 * (a TAP read lands there), `slot(i)` + `setFrame(i, length)` for a received outer frame to
 * decapsulate. Two ways out: views (`frame(i)`, `inner(i)`) or, allocation-free, absolute
 * offsets into `bytes` (`frameStart(i)`/`frameLength(i)`, `innerStart(i)`/`innerLength(i)`).
 *
 * Views are rebuilt whenever the memory has grown (growing detaches every view of the old
 * buffer): take them from the batch again after anything that reserves memory.
 */
import { checkBytes } from '../wire/fields';
import { DecodeError, statusName } from '../errors';
import type { Kernels } from '../wasm/abi';
import {
  INNER_CHECKSUM_BAD, INNER_CHECKSUM_NONE, INNER_CHECKSUM_VALID, META_CSUM_OFFSET, META_CSUM_START, META_FRAME_LEN,
  META_FRAME_OFFSET, META_LEN, META_PEER, META_SOURCE_IP, RESULT_INNER, RESULT_INNER_LEN, RESULT_IP_VERSION,
  RESULT_LAYER, RESULT_OFFSET, RESULT_SOURCE_PORT, RESULT_STATUS, RESULT_VNI, SLOT_HEADROOM, SLOT_INVALID, SLOT_NO_PEER,
} from '../wasm/abi';
import { kernelsOption, reserveMemory } from '../backend';
import { formatIpv4, formatIpv6 } from '../wire/address';
import { checkInteger } from '../wire/fields';

export { SLOT_HEADROOM };
export const DEFAULT_CAPACITY = 256;
/** Room for a 1500-byte-MTU Ethernet frame with an 802.1Q tag (1522 bytes), rounded up. */
export const DEFAULT_SLOT_SIZE = 1536;
/** Room for a 9000-byte-MTU jumbo frame with tags: pass as `slotSize`. */
export const JUMBO_SLOT_SIZE = 9216;
/** Slots start on cache-line boundaries. */
const SLOT_ALIGN = 64;
const META_WORDS = META_LEN / 4;

export interface PacketBatchOptions {
  /** Number of slots; default 256. */
  capacity?: number;
  /** Bytes for an inner frame in each slot; default 1536 (JUMBO_SLOT_SIZE for jumbo frames). */
  slotSize?: number;
  /** The kernels whose memory holds the batch; default the object API's active backend. */
  kernels?: Kernels;
}

/** Status of a slot: a DecodeStatus code, or SLOT_INVALID / SLOT_NO_PEER (the caller's error). */
export function slotStatusName(status: number): string {
  if (status === SLOT_INVALID) return 'SLOT_INVALID';
  if (status === SLOT_NO_PEER) return 'SLOT_NO_PEER';
  return statusName(status);
}

export type InnerChecksumState = 'valid' | 'bad' | 'none' | 'unsupported';

export function innerChecksumState(result: number): InnerChecksumState {
  if (result === INNER_CHECKSUM_VALID) return 'valid';
  if (result === INNER_CHECKSUM_BAD) return 'bad';
  if (result === INNER_CHECKSUM_NONE) return 'none';
  return 'unsupported';
}

export class PacketBatch {
  readonly kernels: Kernels;
  readonly capacity: number;
  /** Bytes available to an inner frame in each slot. */
  readonly slotSize: number;
  /** Distance between slots: SLOT_HEADROOM + slotSize, rounded up to 64. */
  readonly slotStride: number;
  /** Pointer to slot 0 in the kernels' memory. */
  readonly slotsPtr: number;
  /** Pointer to the metadata records (META_LEN bytes each). */
  readonly metaPtr: number;

  /** Always an ArrayBuffer: WebAssembly.Memory's buffer is one (no shared memory), so is the reference's. */
  private buffer: ArrayBuffer;
  /** The kernels' `bytes` view our views were made from. */
  private viewsOf!: Uint8Array;
  private metaWords!: Int32Array;
  private payloads: (Uint8Array<ArrayBuffer> | undefined)[] = [];
  private slots: (Uint8Array<ArrayBuffer> | undefined)[] = [];

  constructor(options: PacketBatchOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    this.capacity = checkInteger(options.capacity ?? DEFAULT_CAPACITY, 'capacity', 1, 65536);
    this.slotSize = checkInteger(options.slotSize ?? DEFAULT_SLOT_SIZE, 'slotSize', 64, 65535);
    this.slotStride = Math.ceil((SLOT_HEADROOM + this.slotSize) / SLOT_ALIGN) * SLOT_ALIGN;
    this.kernels = kernelsOption(options.kernels);
    // One reservation for the slots, then the metadata: checked against the memory's limits
    // before anything is reserved (the product can exceed 4 GiB; past the limits reserve() would
    // trap or wrap), and all or nothing. Slots and metadata are plain numbers far below 2^53.
    const slotsLen = this.capacity * this.slotStride;
    const reserved = reserveMemory(
      this.kernels, SLOT_ALIGN + slotsLen + this.capacity * META_LEN,
      `a PacketBatch of ${this.capacity} slots of ${this.slotSize} bytes (${this.slotStride} apart, ${META_LEN} bytes of metadata each)`,
    );
    // reserve() aligns to 16; align the slots to a cache line. The metadata follows the last
    // slot, on a cache line too (slotStride is a multiple of SLOT_ALIGN).
    this.slotsPtr = Math.ceil(reserved / SLOT_ALIGN) * SLOT_ALIGN;
    this.metaPtr = this.slotsPtr + slotsLen;
    // Fresh memory is zero, but the reference backend's buffer may be reused: start clean.
    this.kernels.bytes.fill(0, this.metaPtr, this.metaPtr + this.capacity * META_LEN);
    this.buffer = this.bytes.buffer;
    this.rebuildViews();
  }

  /**
   * Growth replaces the kernels' `bytes` view (WASM: a new buffer after reserve(); reference: a
   * larger copy), so comparing that object is the test. Comparing `bytes.buffer` would also work
   * but reading `.buffer` of a view over WASM memory costs ~20 ns, too much per call.
   */
  private stale(): boolean {
    return this.kernels.bytes !== this.viewsOf;
  }

  private rebuildViews(): void {
    this.viewsOf = this.kernels.bytes;
    this.buffer = this.bytes.buffer;
    this.metaWords = new Int32Array(this.buffer, this.kernels.bytes.byteOffset + this.metaPtr, this.capacity * META_WORDS);
    this.payloads = [];
    this.slots = [];
  }

  /** The whole memory of the kernels (re-read after growth); offsets from frameStart() etc. index it. */
  get bytes(): Uint8Array<ArrayBuffer> {
    return this.kernels.bytes as Uint8Array<ArrayBuffer>;
  }

  /** The metadata records as i32s: slot i's field F (a META_* / RESULT_* byte offset) is at i * META_LEN/4 + F/4. */
  get meta(): Int32Array {
    if (this.stale()) this.rebuildViews();
    return this.metaWords;
  }

  private field(index: number, offset: number): number {
    this.checkIndex(index);
    return this.meta[index * META_WORDS + offset / 4];
  }

  private setField(index: number, offset: number, value: number): void {
    this.meta[index * META_WORDS + offset / 4] = value;
  }

  /**
   * A peer index as the kernels store it (an i32): refused here when it is not one, because the
   * store would silently make another number of it (2^32 + 1 → 1, 'x' → 0, 1.9 → 1) and the
   * frame would go to that peer. Whether the Encapsulator has that many peers is known only at
   * run(): a slot whose peer is not one of its tunnels gets SLOT_NO_PEER.
   */
  private checkPeer(peer: number): void {
    if (typeof peer !== 'number') throw new TypeError(`peer must be a number (an Encapsulator tunnel index), got ${typeof peer}`);
    if (!(Number.isInteger(peer) && peer >= 0 && peer <= 0x7fffffff)) {
      throw new RangeError(`peer must be an integer in 0..2147483647 (an Encapsulator tunnel index), got ${String(peer)}`);
    }
  }

  private checkIndex(index: number): void {
    if (!(index >= 0 && index < this.capacity && Number.isInteger(index))) {
      throw new RangeError(`slot index must be an integer in 0..${this.capacity - 1}, got ${String(index)}`);
    }
  }

  /** Pointer (offset into `bytes`) of slot `index`'s first byte. */
  slotPointer(index: number): number {
    this.checkIndex(index);
    return this.slotsPtr + index * this.slotStride;
  }

  /** The payload area of a slot (slotSize bytes after the headroom): write an inner frame here. */
  payload(index: number): Uint8Array<ArrayBuffer> {
    this.checkIndex(index);
    if (this.stale()) this.rebuildViews();
    let view = this.payloads[index];
    if (view === undefined) {
      const at = this.kernels.bytes.byteOffset + this.slotsPtr + index * this.slotStride + SLOT_HEADROOM;
      view = this.payloads[index] = new Uint8Array(this.buffer, at, this.slotStride - SLOT_HEADROOM);
    }
    return view;
  }

  /** The whole slot (slotStride bytes): receive an outer frame here. */
  slot(index: number): Uint8Array<ArrayBuffer> {
    this.checkIndex(index);
    if (this.stale()) this.rebuildViews();
    let view = this.slots[index];
    if (view === undefined) {
      const at = this.kernels.bytes.byteOffset + this.slotsPtr + index * this.slotStride;
      view = this.slots[index] = new Uint8Array(this.buffer, at, this.slotStride);
    }
    return view;
  }

  /**
   * Declare that payload(index) holds an inner frame of `length` bytes, to go to `peer` (an
   * Encapsulator tunnel index). A peer that is not an integer in 0..2^31-1 is refused here
   * (TypeError/RangeError); one the Encapsulator has no tunnel for gives the slot SLOT_NO_PEER.
   */
  setInner(index: number, length: number, peer = 0): void {
    this.checkIndex(index);
    this.checkPeer(peer);
    if (!(Number.isInteger(length) && length >= 0 && length <= this.slotStride - SLOT_HEADROOM)) {
      throw new RangeError(`length must be an integer in 0..${this.slotStride - SLOT_HEADROOM}, got ${String(length)}`);
    }
    const meta = this.meta;
    const base = index * META_WORDS;
    meta[base + META_FRAME_OFFSET / 4] = SLOT_HEADROOM;
    meta[base + META_FRAME_LEN / 4] = length;
    meta[base + RESULT_INNER / 4] = 0;
    meta[base + RESULT_INNER_LEN / 4] = length;
    meta[base + META_PEER / 4] = peer;
    meta[base + META_CSUM_START / 4] = 0;
    meta[base + META_CSUM_OFFSET / 4] = 0;
  }

  /** Copy `frame` into slot `index`'s payload and setInner (a convenience: the zero-copy way is payload()). `peer` as in setInner. */
  writeInner(index: number, frame: Uint8Array, peer = 0): void {
    checkBytes(frame, 'frame');
    this.setInner(index, frame.length, peer);
    this.payload(index).set(frame);
  }

  /** Choose the peer (Encapsulator tunnel index) for slot `index`; checked as in setInner. */
  setPeer(index: number, peer: number): void {
    this.checkIndex(index);
    this.checkPeer(peer);
    this.setField(index, META_PEER, peer);
  }

  peer(index: number): number {
    return this.field(index, META_PEER);
  }

  /**
   * The inner frame's TCP/UDP checksum is partial (a TAP with IFF_VNET_HDR hands such frames over
   * with VIRTIO_NET_HDR_F_NEEDS_CSUM): `csumStart` from the inner frame's start, `csumOffset` from
   * there. The Encapsulator completes it before encapsulating. Call after setInner.
   */
  setPartialChecksum(index: number, csumStart: number, csumOffset: number): void {
    this.checkIndex(index);
    if (!Number.isInteger(csumStart) || csumStart < 1) throw new RangeError(`csumStart must be a positive integer, got ${String(csumStart)}`);
    if (!Number.isInteger(csumOffset) || csumOffset < 0) throw new RangeError(`csumOffset must be a non-negative integer, got ${String(csumOffset)}`);
    // The 2-byte checksum field must lie inside the inner frame, or the run refuses the slot
    // (SLOT_INVALID) long after the caller could say which argument was wrong.
    const innerLength = this.field(index, RESULT_INNER_LEN);
    if (csumStart + 2 > innerLength) {
      throw new RangeError(`csumStart ${csumStart} leaves no room for a checksum in slot ${index}'s ${innerLength}-byte inner frame (call setInner first)`);
    }
    if (csumStart + csumOffset + 2 > innerLength) {
      throw new RangeError(`csumOffset ${csumOffset} puts the checksum field (csumStart ${csumStart} + csumOffset) past the end of slot ${index}'s ${innerLength}-byte inner frame`);
    }
    this.setField(index, META_CSUM_START, csumStart);
    this.setField(index, META_CSUM_OFFSET, csumOffset);
  }

  /**
   * Copy slot `from`'s inner frame into slot `to`'s payload for `peer`: head-end replication of
   * one frame to several peers. Call before encapsulating `from` (or after, on its inner view).
   */
  replicate(from: number, to: number, peer: number): void {
    this.checkPeer(peer);
    const source = this.inner(from);
    const length = source.length;
    this.setInner(to, length, peer);
    this.bytes.copyWithin(this.slotPointer(to) + SLOT_HEADROOM, source.byteOffset - this.bytes.byteOffset, source.byteOffset - this.bytes.byteOffset + length);
    this.setField(to, META_CSUM_START, this.field(from, META_CSUM_START));
    this.setField(to, META_CSUM_OFFSET, this.field(from, META_CSUM_OFFSET));
  }

  /** Declare that slot(index) holds a received frame of `length` bytes starting at `offset`. */
  setFrame(index: number, length: number, offset = 0): void {
    this.checkIndex(index);
    if (!(Number.isInteger(offset) && offset >= 0 && offset <= this.slotStride)) {
      throw new RangeError(`offset must be an integer in 0..${this.slotStride}, got ${String(offset)}`);
    }
    if (!(Number.isInteger(length) && length >= 0 && length <= this.slotStride - offset)) {
      throw new RangeError(`length must be an integer in 0..${this.slotStride - offset}, got ${String(length)}`);
    }
    this.setField(index, META_FRAME_OFFSET, offset);
    this.setField(index, META_FRAME_LEN, length);
  }

  /** Copy a received frame into slot `index` and setFrame. Longer than the slot: RangeError. */
  writeFrame(index: number, frame: Uint8Array): void {
    checkBytes(frame, 'frame');
    this.setFrame(index, frame.length, 0);
    this.slot(index).set(frame);
  }

  /** The slot's status after a run: 0 (OK), a DecodeStatus code, SLOT_INVALID or SLOT_NO_PEER. */
  status(index: number): number {
    return this.field(index, RESULT_STATUS);
  }

  /** The DecodeError for a slot that failed decapsulation (undefined when OK or not a frame error). */
  error(index: number): DecodeError | undefined {
    const status = this.status(index);
    if (status <= 0) return undefined;
    return DecodeError.fromStatus(status, this.field(index, RESULT_LAYER), this.field(index, RESULT_OFFSET));
  }

  /** Offset into `bytes` of the slot's frame (the outer frame after encapsulation, the received frame for decapsulation). */
  frameStart(index: number): number {
    return this.slotPointer(index) + this.field(index, META_FRAME_OFFSET);
  }

  frameLength(index: number): number {
    return this.field(index, META_FRAME_LEN);
  }

  /** A view of the slot's frame. */
  frame(index: number): Uint8Array<ArrayBuffer> {
    const start = this.frameStart(index);
    return this.bytes.subarray(start, start + this.frameLength(index));
  }

  /** Offset into `bytes` of the inner frame (after decapsulation, or the frame to encapsulate). */
  innerStart(index: number): number {
    return this.frameStart(index) + this.field(index, RESULT_INNER);
  }

  innerLength(index: number): number {
    return this.field(index, RESULT_INNER_LEN);
  }

  /** A view of the inner frame. */
  inner(index: number): Uint8Array<ArrayBuffer> {
    const start = this.innerStart(index);
    return this.bytes.subarray(start, start + this.innerLength(index));
  }

  /** After a successful run: the VNI. */
  vni(index: number): number {
    return this.field(index, RESULT_VNI);
  }

  /** After a successful run: the outer IP version (4 or 6). */
  ipVersion(index: number): number {
    return this.field(index, RESULT_IP_VERSION);
  }

  /** After a successful run: the outer UDP source port. */
  sourcePort(index: number): number {
    return this.field(index, RESULT_SOURCE_PORT);
  }

  /** Offset into `bytes` of the outer source IP address (4 or 16 bytes, per ipVersion). */
  sourceAddressStart(index: number): number {
    return this.frameStart(index) + this.field(index, META_SOURCE_IP);
  }

  /** A view of the outer source IP address bytes. */
  sourceAddress(index: number): Uint8Array<ArrayBuffer> {
    const start = this.sourceAddressStart(index);
    return this.bytes.subarray(start, start + (this.ipVersion(index) === 6 ? 16 : 4));
  }

  /** The outer source IP address as text (allocates: not for the per-packet path). */
  sourceAddressText(index: number): string {
    const address = this.sourceAddress(index);
    return address.length === 16 ? formatIpv6(address) : formatIpv4(address);
  }

  /** Check the inner frame's TCP/UDP checksum in place. */
  innerChecksum(index: number): InnerChecksumState {
    return innerChecksumState(this.kernels.verifyInnerChecksum(this.innerStart(index), this.innerLength(index)));
  }
}
