/**
 * RFC 1071 / RFC 1624 in plain TypeScript, written for clarity: the oracle for
 * assembly/checksum.ts. Operates on a byte array and offsets, like the kernel does on memory.
 */

/** Fold a ones' complement sum of any size (below 2^53) to 16 bits with end-around carry. */
export function fold16(sum: number): number {
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/** Folded sum of bytes [ptr, ptr+len) as network-order 16-bit words, plus `seed`. */
export function onesComplementSum(bytes: Uint8Array, ptr: number, len: number, seed: number): number {
  let sum = seed;
  const end = ptr + len;
  let i = ptr;
  for (; i + 1 < end; i += 2) {
    sum += (bytes[i] << 8) | bytes[i + 1];
    if (sum > 0x7fffffff) sum = fold16(sum); // keep the number small and exact
  }
  // An odd last byte is padded with a zero byte on the right (RFC 1071 §4.1).
  if (i < end) sum += bytes[i] << 8;
  return fold16(sum);
}

export function internetChecksum(bytes: Uint8Array, ptr: number, len: number): number {
  return ~onesComplementSum(bytes, ptr, len, 0) & 0xffff;
}

/** RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'). */
export function updateChecksum(oldChecksum: number, oldWord: number, newWord: number): number {
  return ~fold16((~oldChecksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff)) & 0xffff;
}


export function ipv4PseudoHeaderSum(bytes: Uint8Array, srcPtr: number, dstPtr: number, protocol: number, length: number): number {
  return fold16(onesComplementSum(bytes, srcPtr, 4, 0) + onesComplementSum(bytes, dstPtr, 4, 0) + protocol + length);
}

export function ipv6PseudoHeaderSum(bytes: Uint8Array, srcPtr: number, dstPtr: number, protocol: number, length: number): number {
  const lengthWords = Math.floor(length / 0x10000) + (length % 0x10000);
  return fold16(onesComplementSum(bytes, srcPtr, 16, 0) + onesComplementSum(bytes, dstPtr, 16, 0) + protocol + lengthWords);
}
