/**
 * The ABI shared by the WASM kernels (assembly/) and their pure-TS twin (src/reference/):
 * option bits, record layouts, and the `Kernels` interface both implement. The numbers mirror
 * the constants in assembly/decap.ts and assembly/encap.ts; test/abi.test.ts checks they agree.
 */

export type BackendName = 'wasm-simd' | 'wasm-scalar' | 'reference';

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
export const TEMPLATE_HEADER = 64;
export const TEMPLATE_LEN = 160;

export const UDP_CHECKSUM_ZERO = 0;
export const UDP_CHECKSUM_FULL = 1;

/**
 * The kernels, over one linear memory. Pointers are byte offsets into `bytes`. Both the WASM
 * builds and the reference implement this exactly, so one conformance suite runs against each.
 */
export interface Kernels {
  readonly name: BackendName;
  /** The whole linear memory. Re-read it after `reserve`: a grown memory is a new buffer. */
  readonly bytes: Uint8Array;
  /** Reserve `size` bytes (16-byte aligned); at init only. */
  reserve(size: number): number;
  onesComplementSum(ptr: number, len: number, seed: number): number;
  internetChecksum(ptr: number, len: number): number;
  updateChecksum(oldChecksum: number, oldWord: number, newWord: number): number;
  ipv4PseudoHeaderSum(srcPtr: number, dstPtr: number, protocol: number, length: number): number;
  ipv6PseudoHeaderSum(srcPtr: number, dstPtr: number, protocol: number, length: number): number;
  decapFrame(frame: number, len: number, options: number, expectedVni: number, portsLow: number, portsHigh: number, out: number): number;
  encapFrame(template: number, inner: number, innerLen: number): number;
  flowHash(frame: number, len: number): number;
  sourcePortFromHash(hash: number, low: number, high: number): number;
}
