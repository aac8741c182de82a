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
#include "internet-sum.h"

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
