/**
 * Suite `decap`: the single-frame object API per backend. `decapsulate()` of an IPv4 VXLAN frame
 * (strict, with IPv4 and UDP checksum verification: the defaults) and `encapsulate()` of an inner
 * frame (IPv4, UDP checksum computed), for 64-, 1450- and 9000-byte inner frames (114-, 1500- and
 * 9050-byte outer frames). Both include what a caller of the object API pays: the copy into WASM
 * memory, option parsing, and building the result object (decap) or the output array (encap).
 */
// Timed code comes from the built package ('vxlan-wasm' resolves to dist/index.mjs through
// package.json "exports"), never from src/ through tsx: see bench/lib/dist.ts.
import { decapsulate, DecodeError, encapsulate, useBackend, type BackendName } from 'vxlan-wasm';
import { BACKENDS } from '../../test/helpers/backends';
import { hex, naiveSum } from '../../test/helpers/bytes';
import { canonical, firstDifference } from '../lib/data';
import { INNER_SIZES, innerFrame, IPV4_OVERHEAD, TUNNEL } from '../lib/frames';
import type { CaseDef, CaseRunner, CreateContender, SuiteDef } from '../lib/types';

const decapCase = (innerLen: number) => `decap-${innerLen}`;
const encapCase = (innerLen: number) => `encap-${innerLen}`;
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
  }
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

const cases: CaseDef[] = [
  ...INNER_SIZES.map((n) => ({ id: decapCase(n), group: '`decapsulate(frame)`: strict, IPv4 and UDP checksums verified, VxlanFrame object built', label: label(n), bytes: n + IPV4_OVERHEAD, baseline: 'wasm-simd' })),
  ...INNER_SIZES.map((n) => ({ id: encapCase(n), group: '`encapsulate(inner, tunnel)`: IPv4, UDP checksum computed, new output array', label: label(n), bytes: n + IPV4_OVERHEAD, baseline: 'wasm-simd' })),
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
};
