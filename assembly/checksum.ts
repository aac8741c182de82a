// RFC 1071 Internet checksum, the IPv4/IPv6 pseudo-header sums and the RFC 1624 incremental
// update. Pointer-based: every function reads linear memory and allocates nothing.
//
// The ones' complement sum is byte-order independent (RFC 1071 §2(B)): we add the data as
// little-endian 16-bit words, which is what the machine loads natively, and swap the bytes of
// the folded result once at the end to get the network-order value.

/** Sum of [ptr, ptr+len) as little-endian 16-bit words, not yet folded. */
function sumLittleEndian(ptr: usize, len: usize): u64 {
  let acc: u64 = 0;
  // Below 64 bytes (an IPv4 header, say) the vector set-up costs more than it saves.
  if (ASC_FEATURE_SIMD && len >= 64) {
    // Each 16-bit word x is biased to the signed value x - 32768 (xor 0x8000), then
    // i32x4.dot_i16x8_s (one pmaddwd on x86) multiplies by 1 and adds pairs: each i32 lane
    // gains (a + b - 65536), in [-65536, 65534]. That is one instruction fewer per vector than
    // an unsigned pairwise add; the bias, 65536 per pair of words, is added back per chunk.
    // Four accumulators let consecutive adds overlap. A chunk of at most 16384 blocks keeps
    // each lane within ±2^28 and the sum of the four within ±2^30.
    const bias = i16x8.splat(-32768);
    const ones = i16x8.splat(1);
    while (len >= 16) {
      let blocks = len >> 4;
      if (blocks > 16384) blocks = 16384;
      len -= blocks << 4;
      const chunkBias = <i64>blocks << 18; // 4 pairs of words per 16-byte block
      let a0 = i32x4.splat(0);
      let a1 = i32x4.splat(0);
      let a2 = i32x4.splat(0);
      let a3 = i32x4.splat(0);
      for (; blocks >= 4; blocks -= 4) {
        a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.xor(v128.load(ptr), bias), ones));
        a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v128.xor(v128.load(ptr, 16), bias), ones));
        a2 = i32x4.add(a2, i32x4.dot_i16x8_s(v128.xor(v128.load(ptr, 32), bias), ones));
        a3 = i32x4.add(a3, i32x4.dot_i16x8_s(v128.xor(v128.load(ptr, 48), bias), ones));
        ptr += 64;
      }
      for (; blocks > 0; blocks--) {
        a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.xor(v128.load(ptr), bias), ones));
        ptr += 16;
      }
      const s = i32x4.add(i32x4.add(a0, a1), i32x4.add(a2, a3));
      const biased: i64 =
        <i64>i32x4.extract_lane(s, 0) + <i64>i32x4.extract_lane(s, 1) +
        <i64>i32x4.extract_lane(s, 2) + <i64>i32x4.extract_lane(s, 3);
      acc += <u64>(biased + chunkBias); // the true, non-negative sum of the chunk
    }
  }
  // Scalar: 32-bit words into a 64-bit accumulator (no carry is lost below 2^32 words).
  // Two accumulators let consecutive adds proceed in parallel.
  let b: u64 = 0;
  while (len >= 16) {
    acc += <u64>load<u32>(ptr) + <u64>load<u32>(ptr, 4);
    b += <u64>load<u32>(ptr, 8) + <u64>load<u32>(ptr, 12);
    ptr += 16;
    len -= 16;
  }
  acc += b;
  while (len >= 4) {
    acc += <u64>load<u32>(ptr);
    ptr += 4;
    len -= 4;
  }
  if (len >= 2) {
    acc += <u64>load<u16>(ptr);
    ptr += 2;
    len -= 2;
  }
  // An odd last byte is the high byte of a network-order word padded with zero, which is the
  // low byte of a little-endian word.
  if (len) acc += <u64>load<u8>(ptr);
  return acc;
}

/** Fold a wide ones' complement sum to 16 bits (end-around carry). */
// @ts-ignore: decorator
@inline export function fold16(sum: u64): u32 {
  sum = (sum & 0xffffffff) + (sum >> 32);
  sum = (sum & 0xffffffff) + (sum >> 32);
  let s = <u32>sum;
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return s;
}

// @ts-ignore: decorator
@inline export function swap16(x: u32): u32 {
  // For x < 2^16, x * 0x10001 holds x twice; bits 8-23 are then x's low byte over its high byte.
  // Three instructions where the shift-and-or form takes five (V8 emits no byte swap for either).
  return ((x * 0x10001) >> 8) & 0xffff;
}

/** Fold a sum below 2^32 to 16 bits (end-around carry): cheaper than fold16 when that is known. */
// @ts-ignore: decorator
@inline export function fold16Small(sum: u32): u32 {
  sum = (sum & 0xffff) + (sum >> 16);
  return (sum & 0xffff) + (sum >> 16);
}

/**
 * Folded 16-bit ones' complement sum of [ptr, ptr+len) as network-order words, plus `seed`
 * (a folded or unfolded network-order partial sum). Not complemented.
 */
export function onesComplementSum(ptr: usize, len: usize, seed: u32): u32 {
  const little = fold16(sumLittleEndian(ptr, len));
  return fold16(<u64>swap16(little) + <u64>seed);
}

/** RFC 1071 checksum of [ptr, ptr+len): the value to store in a header. */
export function internetChecksum(ptr: usize, len: usize): u32 {
  return ~onesComplementSum(ptr, len, 0) & 0xffff;
}

/** RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), when one 16-bit word changes from m to m'. */
export function updateChecksum(oldChecksum: u32, oldWord: u32, newWord: u32): u32 {
  const sum = <u64>(~oldChecksum & 0xffff) + <u64>(~oldWord & 0xffff) + <u64>(newWord & 0xffff);
  return ~fold16(sum) & 0xffff;
}

/** Network-order 16-bit load. */
// @ts-ignore: decorator
@inline export function loadBe16(ptr: usize): u32 {
  return swap16(<u32>load<u16>(ptr));
}

// @ts-ignore: decorator
@inline export function storeBe16(ptr: usize, value: u32): void {
  // The u16 store keeps bits 0-15, so swap16's mask is not needed here.
  store<u16>(ptr, <u16>(((value & 0xffff) * 0x10001) >> 8));
}

/** IPv4 pseudo-header sum (RFC 768): addresses at srcPtr/dstPtr (4 bytes each), protocol, length. */
export function ipv4PseudoHeaderSum(srcPtr: usize, dstPtr: usize, protocol: u32, length: u32): u32 {
  const sum =
    <u64>loadBe16(srcPtr) + <u64>loadBe16(srcPtr + 2) +
    <u64>loadBe16(dstPtr) + <u64>loadBe16(dstPtr + 2) +
    <u64>protocol + <u64>length;
  return fold16(sum);
}

/** IPv6 pseudo-header sum (RFC 8200 §8.1): 16-byte addresses, 32-bit length, next header. */
export function ipv6PseudoHeaderSum(srcPtr: usize, dstPtr: usize, protocol: u32, length: u32): u32 {
  let sum: u64 = <u64>protocol + <u64>(length >> 16) + <u64>(length & 0xffff);
  for (let i: usize = 0; i < 16; i += 2) {
    sum += <u64>loadBe16(srcPtr + i) + <u64>loadBe16(dstPtr + i);
  }
  return fold16(sum);
}
