/*
 * The native RFC 1071 sum shared by the native twins (checksum.c, batch.c): 16-bit words added
 * as loaded (little-endian) into a 64-bit accumulator, AVX2 where the compiler targets it
 * (gcc -march=native). The sum is byte-order independent (RFC 1071 section 2(B)): fold it and
 * byte-swap once for the network-order value. Written for this bench.
 */
#ifndef VXLAN_BENCH_INTERNET_SUM_H
#define VXLAN_BENCH_INTERNET_SUM_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef __AVX2__
#include <immintrin.h>
#endif

static uint64_t sum_little_endian(const uint8_t *p, size_t len) {
  uint64_t acc = 0;
#ifdef __AVX2__
  /*
   * Each 16-bit word x is biased to the signed x - 32768 (xor 0x8000) so that vpmaddwd, which
   * multiplies signed words by 1 and adds adjacent pairs, gives (a + b - 65536) per 32-bit lane
   * with no overflow. The bias (16 words * 32768 per 32-byte vector) is added back per chunk.
   * Four accumulators keep four vpmaddwd/vpaddd chains in flight. A chunk of at most 2048
   * vectors keeps the sum of all 32 lanes within +-2^31 (2048 * 16 words * 65536 / 2 = 2^30),
   * so the accumulators can be added lane-wise and then across lanes in int32.
   */
  const __m256i bias = _mm256_set1_epi16((short)0x8000);
  const __m256i ones = _mm256_set1_epi16(1);
  while (len >= 32) {
    size_t vectors = len / 32;
    if (vectors > 2048) vectors = 2048;
    len -= vectors * 32;
    const int64_t chunk_bias = (int64_t)vectors << 19;
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (; vectors >= 4; vectors -= 4, p += 128) {
      a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_xor_si256(_mm256_loadu_si256((const __m256i *)p), bias), ones));
      a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(p + 32)), bias), ones));
      a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(_mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(p + 64)), bias), ones));
      a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(_mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(p + 96)), bias), ones));
    }
    for (; vectors > 0; vectors--, p += 32) {
      a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_xor_si256(_mm256_loadu_si256((const __m256i *)p), bias), ones));
    }
    __m256i s8 = _mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(1, 0, 3, 2)));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(2, 3, 0, 1)));
    const int64_t biased = _mm_cvtsi128_si32(s4);
    acc += (uint64_t)(biased + chunk_bias);
  }
#endif
  /* Scalar: 32-bit words into 64-bit accumulators (no carry is lost below 2^32 words). */
  uint64_t b = 0;
  for (; len >= 8; len -= 8, p += 8) {
    uint32_t w0, w1;
    memcpy(&w0, p, 4);
    memcpy(&w1, p + 4, 4);
    acc += w0;
    b += w1;
  }
  acc += b;
  if (len >= 4) {
    uint32_t w;
    memcpy(&w, p, 4);
    acc += w;
    p += 4;
    len -= 4;
  }
  if (len >= 2) {
    uint16_t w;
    memcpy(&w, p, 2);
    acc += w;
    p += 2;
    len -= 2;
  }
  /* An odd last byte is the high byte of a zero-padded network-order word: a little-endian low byte. */
  if (len) acc += *p;
  return acc;
}

#endif
