/**
 * Suite `decap`: the single-frame object API per backend. `decapsulate()` of an IPv4 VXLAN frame
 * (strict, with IPv4 and UDP checksum verification: the defaults), `encapsulate()` and
 * `encapsulateInto()` of an inner frame (IPv4, UDP checksum computed), for 64-, 1450- and
 * 9000-byte inner frames (114-, 1500- and 9050-byte outer frames). Each includes what a caller of
 * the object API pays: the copy into WASM memory, option checks, and the result view (decap,
 * whose `inner` is read) or the output array (encap; encapsulateInto copies into the caller's).
 *
 * In the same run, for the ratios the object API is held to: the batch path on the same frames
 * (Decapsulator.run / Encapsulator.run 'full' over 64 slots, ns per packet), and decapsulate
 * with every header read (what the eager form used to build every time).
 */
// Timed code comes from the built package ('vxlan-wasm' resolves to dist/index.mjs through
// package.json "exports"), never from src/ through tsx: see bench/lib/dist.ts.
import {
  createKernels, decapsulate, Decapsulator, DecodeError, encapsulate, encapsulateInto, Encapsulator, PacketBatch, useBackend,
  type BackendName,
} from 'vxlan-wasm';
import { hex, naiveSum } from '../../test/helpers/bytes';
import { BACKENDS, BATCH_SIZE, caseId, INNER_SIZES, IPV4_OVERHEAD, TUNNEL } from '../lib/cases';
import { canonical, firstDifference } from '../lib/data';
import { innerFrame } from '../lib/frames';
import { find, median, pairedRatio } from '../lib/harness';
import type { CaseDef, CaseRunner, CreateContender, SuiteDef, SuiteResult, TargetResult } from '../lib/types';

const decapCase = caseId.singleDecap;
const encapCase = caseId.singleEncap;
const encapIntoCase = caseId.singleEncapInto;
/** decapsulate with every header read, 1500-byte frame. */
const DECAP_READ_ALL_CASE = 'decap-read-all-1450';
/** The batch path on the same 1500-byte frame / 1450-byte inner frame, ns per packet. */
const BATCH_DECAP_CASE = 'batch-decap-1450';
const BATCH_ENCAP_CASE = 'batch-encap-full-1450';
const label = (innerLen: number) => `inner ${innerLen} B (frame ${innerLen + IPV4_OVERHEAD} B)`;

/** What the reference backend makes of each frame: the oracle every backend is checked against. */
interface Expected {
  inner: Uint8Array;
  frame: Uint8Array;
  decoded: string;
}

/** Bytes 4–5 (identification) and 10–11 (header checksum) of the outer IPv4 header vary per call. */
function maskPerCallFields(frame: Uint8Array): string {
  const copy = frame.slice();
  copy.fill(0, 14 + 4, 14 + 6);
  copy.fill(0, 14 + 10, 14 + 12);
  return hex(copy);
}

function buildExpected(): Record<number, Expected> {
  useBackend('reference');
  const expected: Record<number, Expected> = {};
  for (const innerLen of INNER_SIZES) {
    const inner = innerFrame(innerLen);
    const frame = encapsulate(inner, TUNNEL);
    expected[innerLen] = { inner, frame, decoded: canonical(decapsulate(frame)) };
  }
  return expected;
}

function validateDecap(expected: Expected): string | null {
  const got = canonical(decapsulate(expected.frame));
  if (got !== expected.decoded) return `decoded frame differs from the reference's ${firstDifference(got, expected.decoded)}`;
  // Verification must really happen: one flipped payload bit must be caught by the UDP checksum.
  const corrupted = expected.frame.slice();
  corrupted[corrupted.length - 1] ^= 0x01;
  try {
    decapsulate(corrupted);
    return 'accepted a frame whose payload was corrupted (no UDP checksum verification?)';
  } catch (error) {
    if (!(error instanceof DecodeError) || error.code !== 'BAD_UDP_CHECKSUM') return `corrupted frame: expected BAD_UDP_CHECKSUM, got ${String(error)}`;
  }
  return null;
}

function validateEncap(expected: Expected): string | null {
  const frame = encapsulate(expected.inner, TUNNEL);
  if (naiveSum(frame.subarray(14, 34)) !== 0xffff) return 'outer IPv4 header checksum does not verify';
  const got = maskPerCallFields(frame);
  const want = maskPerCallFields(expected.frame);
  if (got !== want) return `frame differs from the reference's (identification and IPv4 checksum masked) ${firstDifference(got, want)}`;
  return null;
}

export const createContender: CreateContender = (name, data) => {
  const expected = data as Record<number, Expected>;
  useBackend(name as BackendName); // instantiation is init: done here, never timed
  const runners: Record<string, CaseRunner> = {};
  for (const innerLen of INNER_SIZES) {
    const { frame, inner } = expected[innerLen];
    const options = {}; // the defaults: strict, verify checksums
    runners[decapCase(innerLen)] = { run: () => decapsulate(frame, options).inner.length, validate: () => validateDecap(expected[innerLen]) };
    runners[encapCase(innerLen)] = { run: () => encapsulate(inner, TUNNEL).length, validate: () => validateEncap(expected[innerLen]) };
    const out = new Uint8Array(innerLen + IPV4_OVERHEAD);
    runners[encapIntoCase(innerLen)] = {
      run: () => encapsulateInto(inner, TUNNEL, out, 0),
      validate: () => {
        const written = encapsulateInto(inner, TUNNEL, out, 0);
        if (written !== out.length) return `encapsulateInto returned ${written}, expected ${out.length}`;
        const want = maskPerCallFields(expected[innerLen].frame);
        return maskPerCallFields(out) === want ? null : `frame differs from the reference's ${firstDifference(maskPerCallFields(out), want)}`;
      },
    };
  }
  const { frame: frame1500, inner: inner1450, decoded: decoded1500 } = expected[1450];
  // Every header read, address text included: all the eager form built, now built on demand.
  const readAll = (frame: { ethernet: { source: string }; ip: { source: string; destination: string }; udp: { checksum: number }; vxlan: { vni: number }; inner: Uint8Array }) =>
    frame.ethernet.source.length + frame.ip.source.length + frame.ip.destination.length + frame.udp.checksum + frame.vxlan.vni + frame.inner.length;
  runners[DECAP_READ_ALL_CASE] = {
    run: () => readAll(decapsulate(frame1500)),
    validate: () => (canonical(decapsulate(frame1500)) === decoded1500 ? null : 'decoded frame differs from the reference\'s'),
  };
  // The batch path on its own kernels (as the batch suite does), 64 copies of the same frame.
  const kernels = createKernels(name as BackendName);
  const decapBatch = new PacketBatch({ capacity: BATCH_SIZE, kernels });
  for (let slot = 0; slot < BATCH_SIZE; slot++) decapBatch.writeFrame(slot, frame1500);
  const decapsulator = new Decapsulator({ strict: true, verifyChecksums: true, kernels });
  runners[BATCH_DECAP_CASE] = {
    run: () => decapsulator.run(decapBatch, BATCH_SIZE),
    validate: () => {
      if (decapsulator.run(decapBatch, BATCH_SIZE) !== BATCH_SIZE) return `Decapsulator.run accepted fewer than ${BATCH_SIZE} frames`;
      const corrupted = frame1500.slice();
      corrupted[corrupted.length - 1] ^= 0x01;
      decapBatch.writeFrame(0, corrupted);
      decapsulator.run(decapBatch, 1);
      const code = decapBatch.error(0)?.code;
      decapBatch.writeFrame(0, frame1500);
      return code === 'BAD_UDP_CHECKSUM' ? null : `a corrupted payload gave ${String(code)}, expected BAD_UDP_CHECKSUM`;
    },
  };
  const encapBatch = new PacketBatch({ capacity: BATCH_SIZE, kernels });
  for (let slot = 0; slot < BATCH_SIZE; slot++) encapBatch.writeInner(slot, inner1450, 0);
  const encapsulator = new Encapsulator(TUNNEL, { udpChecksumMode: 'full', kernels });
  runners[BATCH_ENCAP_CASE] = {
    run: () => encapsulator.run(encapBatch, BATCH_SIZE),
    validate: () => {
      if (encapsulator.run(encapBatch, BATCH_SIZE) !== BATCH_SIZE) return `Encapsulator.run encapsulated fewer than ${BATCH_SIZE} slots`;
      const want = maskPerCallFields(frame1500);
      const got = maskPerCallFields(encapBatch.frame(0));
      return got === want ? null : `slot 0 differs from the reference's ${firstDifference(got, want)}`;
    },
  };
  if (name === 'wasm-simd') {
    // What encapsulate() pays the first time it sees a tunnel object: validating TunnelOptions and
    // building the header template from address text (src/batch/template.ts). Later calls with
    // the same, unchanged object reuse the cached template. buildTunnelTemplate itself is not
    // exported from dist, so this times encapsulate() of the 64-byte frame with a fresh copy of
    // the tunnel object each call (a cache miss every time); subtract the 64 B row for the
    // template alone.
    const { inner, frame } = expected[64];
    const want = maskPerCallFields(frame);
    runners[TEMPLATE_CASE] = {
      run: () => encapsulate(inner, { ...TUNNEL }).length,
      validate: () => {
        const got = encapsulate(inner, { ...TUNNEL });
        return maskPerCallFields(got) === want ? null : `frame differs from the reference's ${firstDifference(maskPerCallFields(got), want)}`;
      },
    };
  }
  return runners;
};

const TEMPLATE_CASE = 'encap-template';

const SAME_RUN_GROUP = 'For the ratios: every header read, and the batch path on the same frames (own `createKernels(name)`)';

const cases: CaseDef[] = [
  ...INNER_SIZES.map((n) => ({ id: decapCase(n), group: '`decapsulate(frame)`: strict, IPv4 and UDP checksums verified, VxlanFrame object built', label: label(n), bytes: n + IPV4_OVERHEAD, baseline: 'wasm-simd' })),
  ...INNER_SIZES.map((n) => ({ id: encapCase(n), group: '`encapsulate(inner, tunnel)`: IPv4, UDP checksum computed, new output array', label: label(n), bytes: n + IPV4_OVERHEAD, baseline: 'wasm-simd' })),
  ...INNER_SIZES.map((n) => ({ id: encapIntoCase(n), group: '`encapsulateInto(inner, tunnel, out, 0)`: IPv4, UDP checksum computed, into the caller\'s array', label: label(n), bytes: n + IPV4_OVERHEAD, baseline: 'wasm-simd' })),
  { id: DECAP_READ_ALL_CASE, group: SAME_RUN_GROUP, label: '`decapsulate(frame)` with every header read (addresses as text), frame 1500 B', bytes: 1500, baseline: 'wasm-simd' },
  { id: BATCH_DECAP_CASE, group: SAME_RUN_GROUP, label: '`Decapsulator.run(batch, 64)`, strict, IPv4 + UDP checksum verified, frame 1500 B, per packet', bytes: 1500, baseline: 'wasm-simd', opsPerCall: BATCH_SIZE },
  { id: BATCH_ENCAP_CASE, group: SAME_RUN_GROUP, label: '`Encapsulator.run(batch, 64)`, full UDP checksum, inner 1450 B, per packet', bytes: 1500, baseline: 'wasm-simd', opsPerCall: BATCH_SIZE },
  { id: TEMPLATE_CASE, group: 'First-call cost: `encapsulate(inner, { ...tunnel })`, a new tunnel object each call, so the template is built every time (later calls with the same object reuse it)', label: 'inner 64 B, IPv4 tunnel, no VLAN', bytes: 0, baseline: 'wasm-simd' },
];

export const suite: SuiteDef = {
  name: 'decap',
  title: 'single-frame object API: decapsulate and encapsulate',
  method: [
    'One worker per backend; each calls `useBackend(name)` once before timing. Frames are built in the main thread',
    'with the reference backend, which is also the oracle: a backend must decode each frame to the same object,',
    'reject the frame with one payload bit flipped (BAD_UDP_CHECKSUM), and encapsulate to the same bytes',
    '(IPv4 identification and checksum masked, as the identification counts up per call) with a valid IPv4 checksum.',
  ].join(' '),
  cases,
  contenders: BACKENDS.map((name) => ({ name, description: `\`useBackend('${name}')\`, then the object API` })),
  workerData: buildExpected,
  targets,
};

/** Median over rounds of (case a's ns / case b's ns) for one contender: both were timed in every round. */
function pairedCaseRatio(result: SuiteResult, a: string, b: string, contender: string): number | undefined {
  const x = find(result, a, contender)?.samplesNs;
  const y = find(result, b, contender)?.samplesNs;
  if (!x || !y || x.length !== y.length) return undefined;
  return median(x.map((ns, round) => ns / y[round]));
}

function targets(result: SuiteResult): TargetResult[] {
  const rows: TargetResult[] = [];
  const notMeasured = (target: string) => rows.push({ target, measured: 'not measured (a case has no wasm-simd figure)', met: null });
  for (const [target, single, batch] of [
    ['`decapsulate`, 1500-byte frame, every checksum verified: ≤ 2.5× the batch path per packet (wasm-simd)', decapCase(1450), BATCH_DECAP_CASE],
    ['`encapsulateInto`, inner 1450 B, full UDP checksum: ≤ 2.5× the batch path\'s `full` per packet (wasm-simd)', encapIntoCase(1450), BATCH_ENCAP_CASE],
  ] as const) {
    const ratio = pairedCaseRatio(result, single, batch, 'wasm-simd');
    if (ratio === undefined) { notMeasured(target); continue; }
    const ns = (id: string) => find(result, id, 'wasm-simd')?.stats?.medianNs.toFixed(1);
    rows.push({ target, measured: `${ratio.toFixed(2)}× (${ns(single)} vs ${ns(batch)} ns)`, met: ratio <= 2.5 });
  }
  for (const [target, id] of [
    ['`decapsulate`, 114-byte frame: ≥ 4× faster than the pure-TS reference', decapCase(64)],
    ['`encapsulateInto`, inner 64 B: ≥ 4× faster than the pure-TS reference', encapIntoCase(64)],
  ] as const) {
    const speedup = pairedRatio(result, id, 'reference', 'wasm-simd');
    if (speedup === undefined) { notMeasured(target); continue; }
    rows.push({ target, measured: `reference ${speedup.toFixed(1)}× slower`, met: speedup >= 4 });
  }
  return rows;
}
