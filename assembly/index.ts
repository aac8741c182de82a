// The exported ABI of the WASM module, and nothing else. Every function takes plain numbers
// (pointers into this module's memory, lengths, option bits) and returns a number: no
// exceptions, no allocation after `reserve` has been called at init.

export { onesComplementSum, internetChecksum, updateChecksum, ipv4PseudoHeaderSum, ipv6PseudoHeaderSum } from './checksum';
export { decapFrame } from './decap';
export { encapFrame } from './encap';
export { flowHash, sourcePortFromHash } from './flowhash';

/** Reserve `size` bytes of linear memory (16-byte aligned) for the caller; called at init only. */
export function reserve(size: usize): usize {
  return heap.alloc(size);
}

/** 1 when this build uses v128 SIMD, so TypeScript can assert which build it loaded. */
export function simdEnabled(): i32 {
  return ASC_FEATURE_SIMD ? 1 : 0;
}
export { encapBatch } from './encap-batch';
export { decapBatch } from './decap-batch';
export { verifyInnerChecksum, completeInnerChecksum, finishPartialChecksum } from './inner';
export { tsoSplit } from './tso';
export { groMerge } from './gro';
