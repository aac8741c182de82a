/*
 * Native twins of the batch kernels (assembly/encap-batch.ts, assembly/decap-batch.ts): the same
 * work on the same memory layout, compiled with gcc -O3 -march=native, as the physical limit the
 * WASM kernels are held to. Written for this bench.
 *
 * Same layout: slots of SLOT_STRIDE bytes with SLOT_HEADROOM (128) bytes of room before each inner
 * frame, a 96-byte metadata record per slot whose first 64 bytes are decapFrame's result record
 * (RESULT_* offsets), a 256-byte tunnel template with the header right-aligned at its end
 * (TEMPLATE_* offsets), a fixed 64-byte header block copied in front of each IPv4 inner frame.
 * Same checks: the batch geometry, each slot's peer and inner length against the run's limit,
 * the partial-checksum request, the fast-path shape of the inner frame; on decap the fast path's
 * every test (EtherType, IHL, lengths, fragments, protocol, UDP port, strict VXLAN flags and
 * reserved bits, IPv4 header checksum, UDP checksum with the pseudo-header).
 *
 * What it leaves out: the general paths (VLAN-tagged or IPv6 frames, IP options, partial inner
 * checksums, inner frames off the fast path). The WASM kernels send those to their general loop;
 * this twin marks such a slot NOT_IN_TWIN (-4) so that validation fails loudly if a benchmarked
 * frame ever needed them. Every frame the bench times takes the fast path in both.
 *
 * Usage:
 *   batch.out validate < cases        one run of each kernel per case, results as text (below)
 *   batch.out time SAMPLE_MS WARMUP_MS < cases   "CASE_ID NS_PER_PACKET" per case
 * cases (little-endian): u32 count, then per inner size: u32 innerLen, u32 slotStride,
 *   50 bytes of outer header (a frame encapsulate() made: its per-packet fields are zeroed here),
 *   64 inner frames, 64 outer frames with a UDP checksum, 64 without.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "internet-sum.h"

#define BATCH 64
#define SLOT_HEADROOM 128
#define OUTER_HEADER_LEN 50 /* Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8 */
#define HEADER_BLOCK_LEN_IPV4 64

/* The result record (assembly/decap.ts RESULT_*) and the batch record (assembly/batch.ts META_*). */
enum {
  RESULT_STATUS = 0, RESULT_LAYER = 4, RESULT_OFFSET = 8, RESULT_L3 = 12, RESULT_L4 = 16, RESULT_VXLAN = 20,
  RESULT_INNER = 24, RESULT_INNER_LEN = 28, RESULT_VNI = 32, RESULT_IP_VERSION = 36, RESULT_SOURCE_PORT = 40,
  META_FRAME_OFFSET = 44, META_FRAME_LEN = 48, META_PEER = 52, META_SOURCE_IP = 56, META_CSUM_START = 60,
  META_CSUM_OFFSET = 64, META_LEN = 96,
};
/* The template descriptor (assembly/encap.ts TEMPLATE_*). */
enum {
  TEMPLATE_HEADER_LEN = 0, TEMPLATE_L3 = 4, TEMPLATE_L4 = 8, TEMPLATE_IP_VERSION = 12, TEMPLATE_UDP_CHECKSUM_MODE = 16,
  TEMPLATE_PORT_LOW = 20, TEMPLATE_PORT_HIGH = 24, TEMPLATE_FIXED_SOURCE_PORT = 28, TEMPLATE_IPV4_BASE_SUM = 32,
  TEMPLATE_PSEUDO_BASE_SUM = 36, TEMPLATE_NEXT_ID = 40, TEMPLATE_RUN_LENGTH_SPAN = 44, TEMPLATE_RUN_UDP_SUM = 48,
  TEMPLATE_RUN_KEY = 56, TEMPLATE_RUN_RECORD = 64, TEMPLATE_LEN = 256,
};
enum { MODE_ZERO = 0, MODE_FULL = 1, MODE_OFFLOAD = 2 };
/* Statuses: DecodeStatus codes (src/errors.ts) and the batch ones (assembly/batch.ts). */
enum { OK = 0, BAD_IPV4_CHECKSUM = 5, BAD_UDP_CHECKSUM = 10, SLOT_INVALID = -1, SLOT_NO_PEER = -2, NOT_IN_TWIN = -4 };
#define COUNTER_COUNT 32
#define COUNTER_INVALID_SLOT 31
#define DECAP_STRICT 1u
#define DECAP_VERIFY_CHECKSUMS 2u
/* Accepted VXLAN ports, packed as the Decapsulator packs its defaults [4789, 8472]. */
#define PORTS_LOW (4789u | (8472u << 16))
#define PORTS_HIGH 0u

static inline uint32_t ld32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint16_t ld16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline uint64_t ld64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline void st32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline int32_t geti(const uint8_t *p, int at) { int32_t v; memcpy(&v, p + at, 4); return v; }
static inline void seti(uint8_t *p, int at, int32_t v) { memcpy(p + at, &v, 4); }
static inline uint32_t be16(const uint8_t *p) { return ((uint32_t)p[0] << 8) | p[1]; }
static inline void stbe16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline uint32_t swap16(uint32_t v) { return ((v & 0xff) << 8) | ((v >> 8) & 0xff); }
static inline uint32_t fold16_small(uint32_t s) { s = (s & 0xffff) + (s >> 16); return (s & 0xffff) + (s >> 16); }
static inline uint32_t fold16(uint64_t s) {
  s = (s & 0xffffffffu) + (s >> 32);
  s = (s & 0xffffffffu) + (s >> 32);
  uint32_t t = (uint32_t)s;
  t = (t & 0xffff) + (t >> 16);
  return (t & 0xffff) + (t >> 16);
}
/* Folded network-order ones' complement sum of [p, p+len) plus `seed` (assembly/checksum.ts onesComplementSum). */
static inline uint32_t ones_sum(const uint8_t *p, size_t len, uint32_t seed) {
  return fold16_small(swap16(fold16(sum_little_endian(p, len))) + seed);
}

/* ---- Flow hash (assembly/flowhash.ts flowHashFastIpv4, sourcePortFromHash) ---- */
#define SEED 0x9747b28cu
static inline uint32_t term(uint32_t i, uint32_t word) { return word * (0x9e3779b1u + i * 0x7f4a7c16u); }
static inline int has_ports(uint32_t protocol) { return protocol == 6 || protocol == 17 || protocol == 132; }
#define FRAGMENT_BITS_LE 0xff3fu
static inline uint32_t flow_hash_fast_ipv4(const uint8_t *inner) {
  const uint8_t *ip = inner + 14;
  uint32_t fragment_and_protocol = ld32(ip + 6);
  uint32_t protocol = fragment_and_protocol >> 24;
  uint32_t h = SEED ^ term(0, ld32(ip + 12)) ^ term(1, ld32(ip + 16)) ^ term(2, protocol);
  if ((fragment_and_protocol & FRAGMENT_BITS_LE) == 0 && has_ports(protocol)) h ^= term(3, ld32(ip + 20));
  return h;
}
static inline uint32_t source_port_from_hash(uint32_t hash, uint32_t low, uint32_t high) {
  hash ^= hash << 16;
  return (uint32_t)(((uint64_t)hash * (uint64_t)(high - low + 1)) >> 32) + low;
}

/* ---- Inner frames on the fast path (assembly/inner-fast.ts) ---- */
static inline int is_fast_ipv4_inner(const uint8_t *inner, uint32_t len) {
  return len >= 38 && (ld32(inner + 12) & 0x00ffffff) == 0x450008;
}
static inline int fast_segment_has_checksum_ipv4(const uint8_t *inner, uint32_t len) {
  const uint8_t *l3 = inner + 14;
  if (ld16(l3 + 2) != swap16(len - 14)) return 0;
  uint32_t fragment_and_protocol = ld32(l3 + 6);
  if ((fragment_and_protocol & FRAGMENT_BITS_LE) != 0) return 0;
  uint32_t protocol = fragment_and_protocol >> 24;
  uint32_t segment_len = len - 34;
  if (protocol == 6) return segment_len >= 20;
  if (protocol != 17 || segment_len < 8) return 0;
  uint32_t length_and_checksum = ld32(inner + 34 + 4);
  return (length_and_checksum & 0xffff) == swap16(segment_len) && (length_and_checksum >> 16) != 0;
}
static inline uint32_t fast_headers_sum_ipv4(const uint8_t *inner, uint32_t len) {
  uint64_t little = (uint64_t)ld32(inner) + ld32(inner + 4) + ld32(inner + 8) + ld32(inner + 12) + ld32(inner + 16) +
    ld32(inner + 20) + ld16(inner + 24);
  uint32_t protocol = inner[14 + 9];
  uint32_t segment_len = len - 34;
  return swap16(fold16(little)) + (0xffff - protocol) + (0xffff - segment_len);
}

/* ---- Template (src/batch/template.ts buildTunnelTemplate, IPv4 only) ---- */
static void build_template(uint8_t *t, const uint8_t *frame, int mode) {
  memset(t, 0, TEMPLATE_LEN);
  uint8_t *h = t + TEMPLATE_LEN - OUTER_HEADER_LEN;
  memcpy(h, frame, OUTER_HEADER_LEN);
  memset(h + 14 + 2, 0, 4);  /* total length, identification */
  memset(h + 14 + 10, 0, 2); /* header checksum */
  memset(h + 34, 0, 2);      /* source port */
  memset(h + 34 + 4, 0, 4);  /* UDP length, checksum */
  seti(t, TEMPLATE_HEADER_LEN, OUTER_HEADER_LEN);
  seti(t, TEMPLATE_L3, 14);
  seti(t, TEMPLATE_L4, 34);
  seti(t, TEMPLATE_IP_VERSION, 4);
  seti(t, TEMPLATE_UDP_CHECKSUM_MODE, mode);
  seti(t, TEMPLATE_PORT_LOW, 49152);
  seti(t, TEMPLATE_PORT_HIGH, 65535);
  seti(t, TEMPLATE_FIXED_SOURCE_PORT, -1);
  seti(t, TEMPLATE_IPV4_BASE_SUM, (int32_t)ones_sum(h + 14, 20, 0));
  /* Pseudo-header without the length: both addresses and protocol 17. */
  seti(t, TEMPLATE_PSEUDO_BASE_SUM, (int32_t)ones_sum(h + 14 + 12, 8, 17));
}

/* ---- encapBatch ---- */
static void prepare_run(uint8_t *t, int peer, int stride) {
  uint64_t key = (1ull << 63) | ((uint64_t)(uint32_t)peer << 32) | (uint32_t)stride;
  if (ld64(t + TEMPLATE_RUN_KEY) == key) return;
  memcpy(t + TEMPLATE_RUN_KEY, &key, 8);
  int header_len = geti(t, TEMPLATE_HEADER_LEN), l3 = geti(t, TEMPLATE_L3), l4 = geti(t, TEMPLATE_L4);
  int limit = stride - SLOT_HEADROOM;
  if (0xffff - (header_len - l3) < limit) limit = 0xffff - (header_len - l3);
  seti(t, TEMPLATE_RUN_LENGTH_SPAN, limit - 14);
  const uint8_t *h = t + TEMPLATE_LEN - header_len;
  seti(t, TEMPLATE_RUN_UDP_SUM, (int32_t)ones_sum(h + l4, 16, (uint32_t)geti(t, TEMPLATE_PSEUDO_BASE_SUM)));
  uint8_t *r = t + TEMPLATE_RUN_RECORD;
  memset(r, 0, 64);
  seti(r, RESULT_L3, l3);
  seti(r, RESULT_L4, l4);
  seti(r, RESULT_VXLAN, l4 + 8);
  seti(r, RESULT_INNER, header_len);
  const uint8_t *vni = t + TEMPLATE_LEN - 8 + 4;
  seti(r, RESULT_VNI, (int32_t)((be16(vni) << 8) | vni[2]));
  seti(r, RESULT_IP_VERSION, 4);
  seti(r, META_FRAME_OFFSET, SLOT_HEADROOM - header_len);
  seti(r, META_PEER, peer);
  seti(r, META_SOURCE_IP, l3 + 12);
}

static inline void refuse(uint8_t *record, int status) {
  seti(record, RESULT_STATUS, status);
  seti(record, RESULT_LAYER, 0);
  seti(record, RESULT_OFFSET, 0);
  seti(record, META_FRAME_LEN, 0);
}

/*
 * Encapsulate slots [0, count) with the templates at `templates` (IPv4 ones only). Returns how
 * many were encapsulated, or -1 when the geometry does not fit the memory of `memory_len` bytes.
 */
__attribute__((noinline)) static int encap_batch(uint8_t *memory, size_t memory_len, uint8_t *templates, int template_count,
                                                 size_t slots, int stride, size_t meta, int count) {
  if (count < 0 || template_count < 0 || stride < SLOT_HEADROOM + 14) return -1;
  if (slots + (size_t)count * (size_t)stride > memory_len || meta + (size_t)count * META_LEN > memory_len) return -1;
  int done = 0;
  for (int first = 0; first < count;) {
    uint8_t *rec0 = memory + meta + (size_t)first * META_LEN;
    int peer = geti(rec0, META_PEER);
    int end = first + 1;
    while (end < count && geti(memory + meta + (size_t)end * META_LEN, META_PEER) == peer) end++;
    uint8_t *t = templates + (size_t)peer * TEMPLATE_LEN;
    if (peer < 0 || peer >= template_count || geti(t, TEMPLATE_IP_VERSION) != 4 || geti(t, TEMPLATE_HEADER_LEN) != OUTER_HEADER_LEN) {
      for (int i = first; i < end; i++) refuse(memory + meta + (size_t)i * META_LEN, SLOT_NO_PEER);
      first = end;
      continue;
    }
    prepare_run(t, peer, stride);
    const int mode = geti(t, TEMPLATE_UDP_CHECKSUM_MODE);
    const uint32_t span = (uint32_t)geti(t, TEMPLATE_RUN_LENGTH_SPAN);
    const uint32_t udp_sum = (uint32_t)geti(t, TEMPLATE_RUN_UDP_SUM);
    const uint32_t ip_base = (uint32_t)geti(t, TEMPLATE_IPV4_BASE_SUM);
    const uint32_t port_low = (uint32_t)geti(t, TEMPLATE_PORT_LOW), port_high = (uint32_t)geti(t, TEMPLATE_PORT_HIGH);
    const int32_t fixed_port = geti(t, TEMPLATE_FIXED_SOURCE_PORT);
    const uint8_t *block = t + TEMPLATE_LEN - HEADER_BLOCK_LEN_IPV4;
    const uint8_t *run_record = t + TEMPLATE_RUN_RECORD;
    uint32_t id = (uint32_t)geti(t, TEMPLATE_NEXT_ID) & 0xffff;
    int run_done = 0;
    for (int i = first; i < end; i++) {
      uint8_t *record = memory + meta + (size_t)i * META_LEN;
      uint8_t *inner = memory + slots + (size_t)i * (size_t)stride + SLOT_HEADROOM;
      int32_t inner_len = geti(record, RESULT_INNER_LEN);
      if ((uint32_t)(inner_len - 14) > span) { refuse(record, SLOT_INVALID); continue; }
      uint32_t len = (uint32_t)inner_len;
      /* The general loop's cases (a partial checksum, an inner frame off the fast path) are not in this twin. */
      int fast = mode == MODE_OFFLOAD ? is_fast_ipv4_inner(inner, len) && fast_segment_has_checksum_ipv4(inner, len)
                                      : is_fast_ipv4_inner(inner, len);
      if (geti(record, META_CSUM_START) != 0 || !fast) { refuse(record, NOT_IN_TWIN); continue; }
      memcpy(inner - HEADER_BLOCK_LEN_IPV4, block, HEADER_BLOCK_LEN_IPV4);
      uint8_t *ip = inner - 36, *udp = inner - 16;
      uint32_t total_length = len + 36, udp_length = len + 16;
      st32(ip + 2, __builtin_bswap32((total_length << 16) | id));
      stbe16(ip + 10, ~fold16_small(ip_base + total_length + id));
      uint32_t port = fixed_port >= 0 ? (uint32_t)fixed_port : source_port_from_hash(flow_hash_fast_ipv4(inner), port_low, port_high);
      stbe16(udp, port);
      uint32_t checksum = 0;
      if (mode != MODE_ZERO) {
        uint32_t header_sum = udp_sum + port + (udp_length << 1);
        checksum = mode == MODE_OFFLOAD ? ~fold16_small(header_sum + fast_headers_sum_ipv4(inner, len)) & 0xffff
                                        : ~ones_sum(inner, len, header_sum) & 0xffff;
        if (checksum == 0) checksum = 0xffff;
      }
      st32(udp + 4, __builtin_bswap32((udp_length << 16) | checksum));
      memcpy(record, run_record, 64);
      seti(record, RESULT_INNER_LEN, inner_len);
      seti(record, RESULT_SOURCE_PORT, (int32_t)port);
      seti(record, META_FRAME_LEN, OUTER_HEADER_LEN + inner_len);
      id = (id + 1) & 0xffff;
      run_done++;
    }
    seti(t, TEMPLATE_NEXT_ID, (int32_t)id);
    done += run_done;
    first = end;
  }
  return done;
}

/* ---- decapBatch (fast path: acceptFastIpv4 with strict flags and checksums verified) ---- */
static inline int port_accepted(uint32_t port) {
  return port != 0 && (port == (PORTS_LOW & 0xffff) || port == (PORTS_LOW >> 16) || port == (PORTS_HIGH & 0xffff) || port == (PORTS_HIGH >> 16));
}

/* The status of the frame: OK, a checksum fault, or NOT_IN_TWIN (the general path would judge it). */
static inline int decap_fast_ipv4(const uint8_t *frame, uint32_t len, uint32_t options, uint32_t *udp_length_out) {
  if (len < 64) return NOT_IN_TWIN;
  if (ld16(frame + 12) != 0x0008 || frame[14] != 0x45) return NOT_IN_TWIN;
  uint32_t total_length = be16(frame + 14 + 2), available = len - 14;
  if (total_length > available || ((options & DECAP_STRICT) && total_length != available)) return NOT_IN_TWIN;
  if (total_length < 50) return NOT_IN_TWIN;
  if ((ld16(frame + 14 + 6) & FRAGMENT_BITS_LE) != 0 || frame[14 + 9] != 17) return NOT_IN_TWIN;
  uint32_t udp_length = be16(frame + 34 + 4);
  if (udp_length != total_length - 20) return NOT_IN_TWIN;
  if (!port_accepted(be16(frame + 34 + 2))) return NOT_IN_TWIN;
  uint64_t vxlan = ld64(frame + 42);
  if ((options & DECAP_STRICT) ? (vxlan & 0xff000000ffffffffull) != 0x08 : (vxlan & 0x08) == 0) return NOT_IN_TWIN;
  if (options & DECAP_VERIFY_CHECKSUMS) {
    const uint8_t *h = frame + 14;
    uint64_t sum = (uint64_t)ld32(h) + ld32(h + 4) + ld32(h + 8) + ld32(h + 12) + ld32(h + 16);
    if (fold16(sum) != 0xffff) return BAD_IPV4_CHECKSUM;
    if (ld16(frame + 34 + 6) != 0) {
      uint32_t pseudo = ones_sum(frame + 14 + 12, 8, 17 + udp_length);
      if (ones_sum(frame + 34, udp_length, pseudo) != 0xffff) return BAD_UDP_CHECKSUM;
    }
  }
  *udp_length_out = udp_length;
  return OK;
}

__attribute__((noinline)) static int decap_batch(uint8_t *memory, size_t memory_len, size_t slots, int stride, size_t meta, int count,
                                                 uint32_t options, uint64_t *counters) {
  if (count < 0 || stride < 0) return -1;
  if (slots + (size_t)count * (size_t)stride > memory_len || meta + (size_t)count * META_LEN > memory_len) return -1;
  int valid = 0;
  for (int i = 0; i < count; i++) {
    uint8_t *record = memory + meta + (size_t)i * META_LEN;
    int32_t frame_offset = geti(record, META_FRAME_OFFSET), frame_len = geti(record, META_FRAME_LEN);
    int status;
    uint32_t udp_length = 0;
    const uint8_t *frame = memory + slots + (size_t)i * (size_t)stride + frame_offset;
    if (frame_offset < 0 || frame_len < 0 || frame_offset > stride - frame_len) status = SLOT_INVALID;
    else status = decap_fast_ipv4(frame, (uint32_t)frame_len, options, &udp_length);
    if (status == OK) {
      seti(record, RESULT_STATUS, OK);
      seti(record, RESULT_LAYER, 0);
      seti(record, RESULT_OFFSET, 0);
      seti(record, RESULT_L3, 14);
      seti(record, RESULT_L4, 34);
      seti(record, RESULT_VXLAN, 42);
      seti(record, RESULT_INNER, 50);
      seti(record, RESULT_INNER_LEN, (int32_t)(34 + udp_length - 50));
      seti(record, RESULT_VNI, (int32_t)((be16(frame + 42 + 4) << 8) | frame[42 + 6]));
      seti(record, RESULT_IP_VERSION, 4);
      seti(record, RESULT_SOURCE_PORT, (int32_t)be16(frame + 34));
      seti(record, META_SOURCE_IP, 14 + 12);
      valid++;
    } else {
      seti(record, RESULT_STATUS, status);
      for (int at = RESULT_LAYER; at <= RESULT_SOURCE_PORT; at += 4) seti(record, at, 0);
      seti(record, META_SOURCE_IP, 0);
      counters[status < 0 || status >= COUNTER_INVALID_SLOT ? COUNTER_INVALID_SLOT : status]++;
    }
  }
  counters[OK] += (uint64_t)valid;
  return valid;
}

/* ---- The bench's cases ---- */
typedef struct {
  uint32_t inner_len, stride;
  uint8_t header[OUTER_HEADER_LEN];
  uint8_t *inners, *with_checksum, *without_checksum;
} SizeCase;

static void read_exact(void *to, size_t n) {
  if (fread(to, 1, n, stdin) != n) {
    fprintf(stderr, "batch.out: input ended early (wanted %zu bytes)\n", n);
    exit(2);
  }
}

static uint8_t *memory;
static size_t memory_len;
#define SLOTS_AT 0
static size_t meta_at;
static uint8_t templates[TEMPLATE_LEN] __attribute__((aligned(64)));
static uint64_t counters[COUNTER_COUNT];

static void setup_memory(const SizeCase *c) {
  meta_at = (size_t)c->stride * BATCH;
  memory_len = meta_at + BATCH * META_LEN;
  free(memory);
  if (posix_memalign((void **)&memory, 64, memory_len) != 0) exit(3);
  memset(memory, 0, memory_len);
}

/* Fill the slots as PacketBatch.writeInner does: the inner frame after the headroom, its length, peer 0. */
static void fill_encap(const SizeCase *c, int mode) {
  for (int i = 0; i < BATCH; i++) {
    uint8_t *record = memory + meta_at + (size_t)i * META_LEN;
    memset(record, 0, META_LEN);
    memcpy(memory + (size_t)i * c->stride + SLOT_HEADROOM, c->inners + (size_t)i * c->inner_len, c->inner_len);
    seti(record, RESULT_INNER_LEN, (int32_t)c->inner_len);
    seti(record, META_PEER, 0);
  }
  build_template(templates, c->header, mode);
}

/* Fill the slots as PacketBatch.writeFrame does: the frame after the headroom, its offset and length. */
static void fill_decap(const SizeCase *c, int with_checksum) {
  uint32_t frame_len = c->inner_len + OUTER_HEADER_LEN;
  const uint8_t *frames = with_checksum ? c->with_checksum : c->without_checksum;
  for (int i = 0; i < BATCH; i++) {
    uint8_t *record = memory + meta_at + (size_t)i * META_LEN;
    memset(record, 0, META_LEN);
    memcpy(memory + (size_t)i * c->stride + SLOT_HEADROOM, frames + (size_t)i * frame_len, frame_len);
    seti(record, META_FRAME_OFFSET, SLOT_HEADROOM);
    seti(record, META_FRAME_LEN, (int32_t)frame_len);
  }
  memset(counters, 0, sizeof counters);
}

static const char *MODE_NAMES[] = {"zero", "full", "offload"};
static const int MODES[] = {MODE_ZERO, MODE_OFFLOAD, MODE_FULL};
static const uint32_t OPTIONS = DECAP_STRICT | DECAP_VERIFY_CHECKSUMS;

static void print_record(const uint8_t *record) {
  for (int at = 0; at < META_LEN; at += 4) printf(" %d", geti(record, at));
}

static void validate(const SizeCase *c) {
  for (int m = 0; m < 3; m++) {
    int mode = MODES[m];
    fill_encap(c, mode);
    seti(templates, TEMPLATE_NEXT_ID, 0xffe0);
    int done = encap_batch(memory, memory_len, templates, 1, SLOTS_AT, (int)c->stride, meta_at, BATCH);
    printf("encap %s %u done %d\n", MODE_NAMES[mode], c->inner_len, done);
    for (int i = 0; i < BATCH; i++) {
      const uint8_t *record = memory + meta_at + (size_t)i * META_LEN;
      printf("slot %d record", i);
      print_record(record);
      printf(" frame ");
      int offset = geti(record, META_FRAME_OFFSET), len = geti(record, META_FRAME_LEN);
      const uint8_t *frame = memory + (size_t)i * c->stride + offset;
      for (int k = 0; k < len; k++) printf("%02x", frame[k]);
      printf("\n");
    }
  }
  for (int with_checksum = 0; with_checksum < 2; with_checksum++) {
    const char *name = with_checksum ? "csum" : "nocsum";
    fill_decap(c, with_checksum);
    int valid = decap_batch(memory, memory_len, SLOTS_AT, (int)c->stride, meta_at, BATCH, OPTIONS, counters);
    printf("decap %s %u valid %d counted %llu\n", name, c->inner_len, valid, (unsigned long long)counters[OK]);
    for (int i = 0; i < BATCH; i++) {
      printf("slot %d record", i);
      print_record(memory + meta_at + (size_t)i * META_LEN);
      printf("\n");
    }
    /* One byte flipped in slot 0: the TTL (IPv4 header checksum), then the last payload byte (UDP checksum). */
    uint32_t frame_len = c->inner_len + OUTER_HEADER_LEN;
    uint8_t *frame = memory + SLOT_HEADROOM;
    frame[14 + 8] ^= 1;
    decap_batch(memory, memory_len, SLOTS_AT, (int)c->stride, meta_at, 1, OPTIONS, counters);
    printf("flipped ttl status %d\n", geti(memory + meta_at, RESULT_STATUS));
    frame[14 + 8] ^= 1;
    frame[frame_len - 1] ^= 1;
    decap_batch(memory, memory_len, SLOTS_AT, (int)c->stride, meta_at, 1, OPTIONS, counters);
    printf("flipped payload status %d\n", geti(memory + meta_at, RESULT_STATUS));
    frame[frame_len - 1] ^= 1;
  }
}

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static volatile int sink;

/* ns per packet over `iterations` batches; the memory clobber keeps every batch's work. */
static double time_batches(const SizeCase *c, int encap, long iterations) {
  double start = now_ns();
  int total = 0;
  for (long n = 0; n < iterations; n++) {
    __asm__ volatile("" : : "r"(memory) : "memory");
    total += encap ? encap_batch(memory, memory_len, templates, 1, SLOTS_AT, (int)c->stride, meta_at, BATCH)
                   : decap_batch(memory, memory_len, SLOTS_AT, (int)c->stride, meta_at, BATCH, OPTIONS, counters);
  }
  sink = total;
  return (now_ns() - start) / (double)iterations / BATCH;
}

static void time_case(const SizeCase *c, int encap, const char *id, double sample_ms, double warmup_ms) {
  long iterations = 16;
  double ns = 0, spent = 0;
  while (spent < warmup_ms * 1e6) {
    ns = time_batches(c, encap, iterations);
    spent += ns * BATCH * (double)iterations;
    if (ns * BATCH * (double)iterations < 1e6) iterations *= 2;
  }
  iterations = (long)(sample_ms * 1e6 / ((ns > 0 ? ns : 1) * BATCH)) + 1;
  printf("%s %.3f\n", id, time_batches(c, encap, iterations));
}

static void time_all(const SizeCase *c, double sample_ms, double warmup_ms) {
  char id[64];
  for (int m = 0; m < 3; m++) {
    fill_encap(c, MODES[m]);
    snprintf(id, sizeof id, "encap-%s-%u", MODE_NAMES[MODES[m]], c->inner_len);
    time_case(c, 1, id, sample_ms, warmup_ms);
  }
  for (int with_checksum = 0; with_checksum < 2; with_checksum++) {
    fill_decap(c, with_checksum);
    snprintf(id, sizeof id, "decap-%s-%u", with_checksum ? "csum" : "nocsum", c->inner_len);
    time_case(c, 0, id, sample_ms, warmup_ms);
  }
}

int main(int argc, char **argv) {
  int timing = argc > 1 && strcmp(argv[1], "time") == 0;
  if (!timing && !(argc > 1 && strcmp(argv[1], "validate") == 0)) {
    fprintf(stderr, "usage: batch.out validate | time SAMPLE_MS WARMUP_MS  (cases on stdin)\n");
    return 2;
  }
  double sample_ms = argc > 2 ? atof(argv[2]) : 20, warmup_ms = argc > 3 ? atof(argv[3]) : 5;
  uint32_t size_count;
  read_exact(&size_count, 4);
  for (uint32_t s = 0; s < size_count; s++) {
    SizeCase c;
    read_exact(&c.inner_len, 4);
    read_exact(&c.stride, 4);
    read_exact(c.header, OUTER_HEADER_LEN);
    size_t frame_len = c.inner_len + OUTER_HEADER_LEN;
    c.inners = malloc((size_t)BATCH * c.inner_len);
    c.with_checksum = malloc(BATCH * frame_len);
    c.without_checksum = malloc(BATCH * frame_len);
    read_exact(c.inners, (size_t)BATCH * c.inner_len);
    read_exact(c.with_checksum, BATCH * frame_len);
    read_exact(c.without_checksum, BATCH * frame_len);
    setup_memory(&c);
    if (timing) time_all(&c, sample_ms, warmup_ms);
    else validate(&c);
    free(c.inners);
    free(c.with_checksum);
    free(c.without_checksum);
  }
#ifdef __AVX2__
  printf("impl avx2\n");
#else
  printf("impl scalar\n");
#endif
  return 0;
}
