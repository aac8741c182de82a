/**
 * The one definition of what the benchmarks measure: input sizes, the batch size, checksum
 * modes, the tunnel, case ids and contender names. The interleaved harness (bench/run.ts, for the
 * ratios in BENCHMARKS.md) and the benny throughput suites (bench/throughput.ts, for users'
 * packets/s and Gbit/s) both take their cases from here and their runners from the suites'
 * `createContender`, so the two can never measure different things under the same name.
 */
import { DEFAULT_SLOT_SIZE, JUMBO_SLOT_SIZE, type TunnelOptions } from 'vxlan-wasm';
import { BACKENDS } from '../../test/helpers/backends';

/** The three checksum input sizes: a minimum frame, a full Ethernet MTU, a jumbo frame. */
export const CHECKSUM_SIZES = [64, 1500, 9000] as const;

/** Inner frame lengths: a minimum frame, one that makes a 1500-byte outer frame, a jumbo frame. */
export const INNER_SIZES = [64, 1450, 9000] as const;

/** Outer Ethernet (14) + IPv4 (20) + UDP (8) + VXLAN (8). */
export const IPV4_OVERHEAD = 50;

/** Frames per batch call (a typical recvmmsg / TAP read batch). */
export const BATCH_SIZE = 64;

/** The batch Encapsulator's outer UDP checksum modes. */
export const CHECKSUM_MODES = ['zero', 'offload', 'full'] as const;
export type ChecksumMode = (typeof CHECKSUM_MODES)[number];

export const MODE_LABEL: Record<ChecksumMode, string> = {
  zero: 'UDP checksum 0',
  offload: 'UDP checksum offload (from the inner one)',
  full: 'full UDP checksum',
};

/** The IPv4 tunnel every encapsulation case uses. */
export const TUNNEL: TunnelOptions = {
  vni: 4242,
  source: { mac: '02:42:ac:11:00:02', ip: '192.0.2.1' },
  destination: { mac: '02:42:ac:11:00:03', ip: '192.0.2.2' },
  udpChecksum: true,
};

/** Case ids, by suite. */
export const caseId = {
  batchEncap: (mode: ChecksumMode, innerLen: number) => `encap-${mode}-${innerLen}`,
  batchDecap: (udpChecksum: boolean, innerLen: number) => `decap-${udpChecksum ? 'csum' : 'nocsum'}-${innerLen}`,
  singleDecap: (innerLen: number) => `decap-${innerLen}`,
  singleEncap: (innerLen: number) => `encap-${innerLen}`,
  singleEncapInto: (innerLen: number) => `encap-into-${innerLen}`,
  checksumHeap: (size: number) => `heap-${size}`,
  checksumMemory: (size: number) => `wasm-memory-${size}`,
};

/** The backends every API suite runs on (createKernels / useBackend names): the tests' list. */
export { BACKENDS };
/** The default backend: what users get, and every suite's baseline. */
export const DEFAULT_BACKEND = 'wasm-simd';
/** The native C twins' contender name, in every suite that has one. */
export const NATIVE = 'native C (gcc -O3 -march=native)';
/** The checksum suite's contender for the public `checksum()` on the default backend. */
export const CHECKSUM_API = 'checksum() wasm-simd';

/**
 * The user-facing throughput suites (bench/throughput.ts, benny): each is some cases of one
 * interleaved suite, timed on one contender (the default backend unless --backend says
 * otherwise), reported as packets/s and Gbit/s.
 */
export interface ThroughputSuite {
  /** File name under bench/results/throughput/ and benny's suite name. */
  name: string;
  title: string;
  /** The interleaved suite whose cases and `createContender` it uses (bench/suites/NAME.ts). */
  suite: 'decap' | 'batch' | 'checksum';
  cases: string[];
  /** The contender, given the --backend option. */
  contender: (backend: string) => string;
}

const onBackend = (backend: string) => backend;

export const THROUGHPUT_SUITES: ThroughputSuite[] = [
  {
    name: 'encapsulate',
    title: '`encapsulate(inner, tunnel)`: one frame, IPv4, UDP checksum computed',
    suite: 'decap',
    cases: INNER_SIZES.map(caseId.singleEncap),
    contender: onBackend,
  },
  {
    name: 'decapsulate',
    title: '`decapsulate(frame)`: one frame, strict, IPv4 and UDP checksums verified',
    suite: 'decap',
    cases: INNER_SIZES.map(caseId.singleDecap),
    contender: onBackend,
  },
  ...CHECKSUM_MODES.map((mode) => ({
    name: `batch-encap-${mode}`,
    title: `\`Encapsulator.run(batch, ${BATCH_SIZE})\`, ${MODE_LABEL[mode]}`,
    suite: 'batch' as const,
    cases: INNER_SIZES.map((n) => caseId.batchEncap(mode, n)),
    contender: onBackend,
  })),
  {
    name: 'batch-decap',
    title: `\`Decapsulator.run(batch, ${BATCH_SIZE})\`, strict, checksums verified (UDP checksum 0 / present)`,
    suite: 'batch',
    cases: [false, true].flatMap((csum) => INNER_SIZES.map((n) => caseId.batchDecap(csum, n))),
    contender: onBackend,
  },
  {
    name: 'checksum',
    title: '`checksum(data)`: RFC 1071, input in the JS heap',
    suite: 'checksum',
    cases: CHECKSUM_SIZES.map(caseId.checksumHeap),
    contender: (backend) => `checksum() ${backend}`,
  },
];

/** The batch suites' slot size for an inner frame of `innerLen` bytes: the default, or jumbo when the outer frame needs it. */
export function slotSizeFor(innerLen: number): number {
  return innerLen + IPV4_OVERHEAD > DEFAULT_SLOT_SIZE ? JUMBO_SLOT_SIZE : DEFAULT_SLOT_SIZE;
}
