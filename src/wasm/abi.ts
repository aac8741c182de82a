/**
 * The ABI shared by the WASM kernels (assembly/) and their pure-TS twin (src/reference/):
 * the kernel list, option bits, record and template layouts, and the `Kernels` interface both
 * implement. Every number here has the same name in assembly/ (decap.ts, encap.ts, batch.ts,
 * inner.ts); test/abi.test.ts reads those files and checks both sides name by name.
 */

/** Every backend, best first: the one list tests, benchmarks and the loader iterate. */
export const BACKEND_NAMES = ['wasm-simd', 'wasm-scalar', 'reference'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

/** decapFrame option bits. */
export const DECAP_STRICT = 1;
export const DECAP_VERIFY_CHECKSUMS = 2;
export const DECAP_ALLOW_ZERO_UDP_CHECKSUM_IPV6 = 4;
export const DECAP_GBP = 8;
export const DECAP_CHECK_VNI = 16;

/** decapFrame result record: i32 fields at these byte offsets. */
export const RESULT_STATUS = 0;
export const RESULT_LAYER = 4;
export const RESULT_OFFSET = 8;
export const RESULT_L3 = 12;
export const RESULT_L4 = 16;
export const RESULT_VXLAN = 20;
export const RESULT_INNER = 24;
export const RESULT_INNER_LEN = 28;
export const RESULT_VNI = 32;
export const RESULT_IP_VERSION = 36;
export const RESULT_SOURCE_PORT = 40;
export const RESULT_LEN = 64;

/** encapFrame template descriptor: i32 fields at these byte offsets, header bytes after. */
export const TEMPLATE_HEADER_LEN = 0;
export const TEMPLATE_L3 = 4;
export const TEMPLATE_L4 = 8;
export const TEMPLATE_IP_VERSION = 12;
export const TEMPLATE_UDP_CHECKSUM_MODE = 16;
export const TEMPLATE_PORT_LOW = 20;
export const TEMPLATE_PORT_HIGH = 24;
export const TEMPLATE_FIXED_SOURCE_PORT = 28;
export const TEMPLATE_IPV4_BASE_SUM = 32;
export const TEMPLATE_PSEUDO_BASE_SUM = 36;
export const TEMPLATE_NEXT_ID = 40;
/** The outer UDP checksum's sum of what the template fixes (pseudo-header addresses and protocol, UDP and VXLAN headers), for encapFrame. */
export const TEMPLATE_UDP_BASE_SUM = 52;
/** Run fields: encapBatch's scratch, written from the descriptor once per run of slots (assembly/encap.ts). */
export const TEMPLATE_RUN_LENGTH_SPAN = 44;
export const TEMPLATE_RUN_UDP_SUM = 48;
export const TEMPLATE_RUN_KEY = 56;
export const TEMPLATE_RUN_RECORD = 64;
/** The header bytes sit right-aligned in [TEMPLATE_HEADER_AREA, TEMPLATE_LEN): they end at TEMPLATE_LEN. */
export const TEMPLATE_HEADER_AREA = 128;
export const TEMPLATE_LEN = 256;
/** encapBatch copies this many bytes ending at TEMPLATE_LEN in front of each inner frame (the header and filler). */
export const HEADER_BLOCK_LEN = 80;
/** The same for a tunnel over IPv4, whose header is shorter. */
export const HEADER_BLOCK_LEN_IPV4 = 64;

export const UDP_CHECKSUM_ZERO = 0;
export const UDP_CHECKSUM_FULL = 1;
/** Outer UDP checksum from the headers when the inner TCP/UDP checksum is valid (Linux's local checksum offload). */
export const UDP_CHECKSUM_OFFLOAD = 2;

/** verifyInnerChecksum results (assembly/inner.ts). */
export const INNER_CHECKSUM_BAD = 0;
export const INNER_CHECKSUM_VALID = 1;
export const INNER_CHECKSUM_NONE = 2;
export const INNER_CHECKSUM_UNSUPPORTED = -1;
/** finishPartialChecksum results (assembly/inner.ts). */
export const PARTIAL_UNTOUCHED = 0;
export const PARTIAL_FINISHED = 1;

/**
 * Batch geometry (assembly/batch.ts): slots of `slotStride` bytes, the inner frame to
 * encapsulate at SLOT_HEADROOM; one metadata record of META_LEN bytes per slot, which starts with
 * the RESULT_* fields (offsets relative to the frame) followed by these i32 fields.
 */
export const SLOT_HEADROOM = 128;
export const META_FRAME_OFFSET = 44;
export const META_FRAME_LEN = 48;
export const META_PEER = 52;
export const META_SOURCE_IP = 56;
export const META_CSUM_START = 60;
export const META_CSUM_OFFSET = 64;
export const META_LEN = 96;
/** Slot statuses beyond DecodeStatus: the slot's lengths do not fit it; its peer has no template. */
export const SLOT_INVALID = -1;
export const SLOT_NO_PEER = -2;
/** Inside one batch kernel call only: a slot left to the kernel's general loop (after the fast loop). No slot keeps it. */
export const SLOT_DEFERRED = -3;
/** A batch kernel's return value when the geometry it was given does not fit in memory. */
export const BATCH_INVALID = -1;
/** decapBatch counters: COUNTER_COUNT u64s indexed by status; SLOT_INVALID counts at COUNTER_INVALID_SLOT. */
export const COUNTER_COUNT = 32;
export const COUNTER_INVALID_SLOT = 31;

/**
 * TAP offloads (assembly/tso.ts, gro.ts): the virtio_net_hdr a TAP opened with IFF_VNET_HDR puts
 * in front of every frame, both ways (little-endian u16 fields at these offsets), and its values.
 */
export const VNET_HDR_LEN = 10;
export const VNET_FLAGS = 0;
export const VNET_GSO_TYPE = 1;
export const VNET_HDR_LEN_FIELD = 2;
export const VNET_GSO_SIZE = 4;
export const VNET_CSUM_START = 6;
export const VNET_CSUM_OFFSET = 8;
export const VNET_F_NEEDS_CSUM = 1;
export const VNET_F_DATA_VALID = 2;
export const GSO_NONE = 0;
export const GSO_TCPV4 = 1;
export const GSO_UDP = 3;
export const GSO_TCPV6 = 4;
export const GSO_UDP_L4 = 5;
export const GSO_ECN = 0x80;
/** tsoSplit: or-ed into its count when the super-frame's last segment was written; its errors. */
export const TSO_LAST = 0x40000000;
export const TSO_MALFORMED = -2;
export const TSO_OVERSIZE = -3;
/** groMerge's result record (i32s): bytes written at `out` (0: not merged), the gso_size. */
export const GRO_RESULT_LEN = 0;
export const GRO_RESULT_GSO_SIZE = 4;
export const GRO_RESULT_RECORD_LEN = 16;
/** groMerge keeps a super-frame's IP length within 16 bits. */
export const GRO_MAX_IP_LEN = 65535;

/**
 * Every kernel, in the order the WASM module exports them: the one list the loader binds, the
 * reference implements and test/abi.test.ts compares with the WASM module's exports (which add
 * only `memory`, `reserve` and `simdEnabled`).
 */
export const KERNEL_NAMES = [
  'onesComplementSum', 'internetChecksum', 'updateChecksum', 'ipv4PseudoHeaderSum', 'ipv6PseudoHeaderSum',
  'decapFrame', 'encapFrame', 'flowHash', 'sourcePortFromHash', 'encapBatch', 'decapBatch',
  'verifyInnerChecksum', 'completeInnerChecksum', 'finishPartialChecksum', 'tsoSplit', 'groMerge',
] as const;
export type KernelName = (typeof KERNEL_NAMES)[number];

/** The signature of each kernel. Pointers are byte offsets into the backend's memory. */
export interface KernelSignatures {
  onesComplementSum(ptr: number, len: number, seed: number): number;
  internetChecksum(ptr: number, len: number): number;
  updateChecksum(oldChecksum: number, oldWord: number, newWord: number): number;
  ipv4PseudoHeaderSum(srcPtr: number, dstPtr: number, protocol: number, length: number): number;
  ipv6PseudoHeaderSum(srcPtr: number, dstPtr: number, protocol: number, length: number): number;
  decapFrame(frame: number, len: number, options: number, expectedVni: number, portsLow: number, portsHigh: number, out: number): number;
  encapFrame(template: number, inner: number, innerLen: number): number;
  flowHash(frame: number, len: number): number;
  sourcePortFromHash(hash: number, low: number, high: number): number;
  /** Encapsulate slots [0, count) in place; returns how many succeeded, or BATCH_INVALID. */
  encapBatch(templates: number, templateCount: number, slots: number, slotStride: number, meta: number, count: number): number;
  /** Validate slots [0, count); counts each slot's status; returns how many are valid, or BATCH_INVALID. */
  decapBatch(
    slots: number, slotStride: number, meta: number, count: number, options: number,
    vniSet: number, vniCount: number, portsLow: number, portsHigh: number, counters: number,
  ): number;
  /** One of INNER_CHECKSUM_*. */
  verifyInnerChecksum(frame: number, len: number): number;
  /** Complete a partial TCP/UDP checksum; 0, or -1 when the field is outside the frame. */
  completeInnerChecksum(frame: number, len: number, csumStart: number, csumOffset: number): number;
  /**
   * Finish a TCP/UDP checksum a Linux sender left partial (the field holds the pseudo-header sum and
   * the segment does not verify); PARTIAL_FINISHED, or PARTIAL_UNTOUCHED for every other frame.
   */
  finishPartialChecksum(frame: number, len: number): number;
  /**
   * Split the TAP super-frame at [src, src+len) (after its vnet header) into slots
   * firstSlot..firstSlot+maxSlots-1 from segment `firstSegment` on; returns the segments written,
   * or-ed with TSO_LAST when the last was among them, or TSO_MALFORMED / TSO_OVERSIZE / BATCH_INVALID.
   */
  tsoSplit(
    src: number, len: number, gsoType: number, gsoSize: number, csumStart: number,
    slots: number, slotStride: number, meta: number, firstSlot: number, maxSlots: number, firstSegment: number,
  ): number;
  /**
   * Coalesce the TCP segments in the slots listed at `list` (i32 indices) from the first on into a
   * vnet header + super-frame at `out`; returns how many entries it took (≥ 1 when count > 0),
   * with GRO_RESULT_LEN at `result` 0 when the first is to be written alone; or BATCH_INVALID.
   */
  groMerge(slots: number, slotStride: number, meta: number, list: number, count: number, out: number, outCapacity: number, result: number): number;
}

/** The kernels KERNEL_NAMES lists (a name without a signature above does not type-check). */
export type KernelFunctions = Pick<KernelSignatures, KernelName>;

/**
 * The kernels, over one linear memory. Pointers are byte offsets into `bytes`. Both the WASM
 * builds and the reference implement this exactly, so one conformance suite runs against each.
 */
export interface Kernels extends KernelFunctions {
  readonly name: BackendName;
  /** The whole linear memory. Re-read it after `reserve`: a grown memory is a new buffer. */
  readonly bytes: Uint8Array;
  /** Reserve `size` bytes (16-byte aligned); at init only. */
  reserve(size: number): number;
}
