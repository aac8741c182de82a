/*
 * A fast native RFC 1071 checksum, the physical reference for the WASM kernel: the same work on
 * data already in memory, compiled with gcc -O3 -march=native. Written for this bench.
 *
 * Usage: checksum.out SAMPLE_MS WARMUP_MS < data   (data: at least 9000 bytes)
 * For each length in 64, 1500, 9000 it checksums the first LENGTH bytes of the data, then prints
 *   LENGTH CHECKSUM NS_PER_OP
 * (CHECKSUM in decimal, the value for a header field), and a last line "impl avx2|scalar".
 *
 * The sum is byte-order independent (RFC 1071 §2(B)): 16-bit words are added as loaded
 * (little-endian) and the folded result is byte-swapped once.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

static uint32_t internet_checksum(const uint8_t *p, size_t len) {
  uint64_t sum = sum_little_endian(p, len);
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  uint32_t swapped = (uint32_t)(((sum & 0xff) << 8) | (sum >> 8));
  return ~swapped & 0xffff;
}

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static uint32_t sink;

/* Time `iterations` checksums; the empty asm with a memory clobber makes the compiler assume
 * the buffer may have changed, so the loop-invariant checksum is recomputed every time. */
static double time_loop(const uint8_t *p, size_t len, long iterations) {
  double start = now_ns();
  for (long i = 0; i < iterations; i++) {
    __asm__ volatile("" : : "r"(p) : "memory");
    sink ^= internet_checksum(p, len);
  }
  return (now_ns() - start) / (double)iterations;
}

int main(int argc, char **argv) {
  double sample_ms = argc > 1 ? atof(argv[1]) : 20;
  double warmup_ms = argc > 2 ? atof(argv[2]) : 5;
  static uint8_t data[9000 + 64] __attribute__((aligned(64)));
  size_t have = fread(data, 1, 9000, stdin);
  if (have < 9000) {
    fprintf(stderr, "need 9000 bytes of data on stdin, got %zu\n", have);
    return 2;
  }
  const size_t lengths[] = {64, 1500, 9000};
  for (int k = 0; k < 3; k++) {
    size_t len = lengths[k];
    long iterations = 64;
    double ns = 0, spent = 0;
    while (spent < warmup_ms * 1e6) {
      ns = time_loop(data, len, iterations);
      spent += ns * (double)iterations;
      if (ns * (double)iterations < 1e6) iterations *= 2;
    }
    iterations = (long)(sample_ms * 1e6 / (ns > 0 ? ns : 1)) + 1;
    ns = time_loop(data, len, iterations);
    printf("%zu %u %.3f\n", len, internet_checksum(data, len), ns);
  }
#ifdef __AVX2__
  printf("impl avx2 %u\n", sink & 1);
#else
  printf("impl scalar %u\n", sink & 1);
#endif
  return 0;
}
