/**
 * The reference backend: the kernels in plain TypeScript over an ArrayBuffer that plays the
 * part of WASM linear memory. The oracle in tests, and the fallback where WebAssembly is absent.
 */
import type { Kernels } from '../wasm/abi';
import * as checksum from './checksum';
import { decapFrame } from './decap';
import { encapFrame } from './encap';
import { flowHash, sourcePortFromHash } from './flowhash';
import { decapBatch, encapBatch } from './batch';
import { completeInnerChecksum, finishPartialChecksum, verifyInnerChecksum } from './inner';
import { tsoSplit } from './tso';
import { groMerge } from './gro';

export class ReferenceKernels implements Kernels {
  readonly name = 'reference' as const;
  bytes: Uint8Array = new Uint8Array(64 * 1024);
  /** Bump pointer; 0 stays unused so that no pointer is ever null. */
  private top = 16;

  reserve(size: number): number {
    const ptr = this.top;
    this.top = (ptr + size + 15) & ~15;
    if (this.top > this.bytes.length) {
      // Grow like WASM memory does: a new, larger buffer (views of the old one go stale).
      const grown = new Uint8Array(Math.max(this.top, this.bytes.length * 2));
      grown.set(this.bytes);
      this.bytes = grown;
    }
    return ptr;
  }

  onesComplementSum(ptr: number, len: number, seed: number) {
    return checksum.onesComplementSum(this.bytes, ptr, len, seed);
  }
  internetChecksum(ptr: number, len: number) {
    return checksum.internetChecksum(this.bytes, ptr, len);
  }
  updateChecksum(oldChecksum: number, oldWord: number, newWord: number) {
    return checksum.updateChecksum(oldChecksum, oldWord, newWord);
  }
  ipv4PseudoHeaderSum(srcPtr: number, dstPtr: number, protocol: number, length: number) {
    return checksum.ipv4PseudoHeaderSum(this.bytes, srcPtr, dstPtr, protocol, length);
  }
  ipv6PseudoHeaderSum(srcPtr: number, dstPtr: number, protocol: number, length: number) {
    return checksum.ipv6PseudoHeaderSum(this.bytes, srcPtr, dstPtr, protocol, length);
  }
  decapFrame(frame: number, len: number, options: number, expectedVni: number, portsLow: number, portsHigh: number, out: number) {
    return decapFrame(this.bytes, frame, len, options, expectedVni, portsLow, portsHigh, out);
  }
  encapFrame(template: number, inner: number, innerLen: number) {
    return encapFrame(this.bytes, template, inner, innerLen);
  }
  flowHash(frame: number, len: number) {
    return flowHash(this.bytes, frame, len);
  }
  sourcePortFromHash(hash: number, low: number, high: number) {
    return sourcePortFromHash(hash, low, high);
  }
  encapBatch(templates: number, templateCount: number, slots: number, slotStride: number, meta: number, count: number) {
    return encapBatch(this.bytes, templates, templateCount, slots, slotStride, meta, count);
  }
  decapBatch(
    slots: number, slotStride: number, meta: number, count: number, options: number,
    vniSet: number, vniCount: number, portsLow: number, portsHigh: number, counters: number,
  ) {
    return decapBatch(this.bytes, slots, slotStride, meta, count, options, vniSet, vniCount, portsLow, portsHigh, counters);
  }
  verifyInnerChecksum(frame: number, len: number) {
    return verifyInnerChecksum(this.bytes, frame, len);
  }
  completeInnerChecksum(frame: number, len: number, csumStart: number, csumOffset: number) {
    return completeInnerChecksum(this.bytes, frame, len, csumStart, csumOffset);
  }
  finishPartialChecksum(frame: number, len: number) {
    return finishPartialChecksum(this.bytes, frame, len);
  }
  tsoSplit(
    src: number, len: number, gsoType: number, gsoSize: number, csumStart: number,
    slots: number, slotStride: number, meta: number, firstSlot: number, maxSlots: number, firstSegment: number,
  ) {
    return tsoSplit(this.bytes, src, len, gsoType, gsoSize, csumStart, slots, slotStride, meta, firstSlot, maxSlots, firstSegment);
  }
  groMerge(slots: number, slotStride: number, meta: number, list: number, count: number, out: number, outCapacity: number, result: number) {
    return groMerge(this.bytes, slots, slotStride, meta, list, count, out, outCapacity, result);
  }
}
