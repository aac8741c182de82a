/**
 * Suite `checksum`: the RFC 1071 Internet checksum (issue 2's figures).
 *
 * Two tables. "JS heap": the input is an ordinary Uint8Array, as a caller has it, so the WASM
 * contenders pay for the copy into linear memory inside `checksum()`. "WASM memory": the data
 * already lives in linear memory (written once at a reserved pointer), so only the kernel call is
 * timed, next to a native C build of the same algorithm.
 */
import { createRequire } from 'node:module';
// Timed code comes from the built package ('vxlan-wasm' resolves to dist/index.mjs through
// package.json "exports": what users run), never from src/ through tsx: see bench/lib/dist.ts.
// The tests' naive RFC 1071 sum is only the validation oracle.
import { checksum, createKernels, useBackend } from 'vxlan-wasm';
import { naiveSum } from '../../test/helpers/bytes';
import { fastJsChecksum } from '../contenders/fast-js-checksum';
import { naiveJsChecksum } from '../contenders/naive-js-checksum';
import { nativeChecksumContender } from '../native/native';
import { caseId, CHECKSUM_API, NATIVE } from '../lib/cases';
import { benchBytes, SIZES } from '../lib/data';
import { pairedRatio } from '../lib/harness';
import type { CaseDef, CaseRunner, CreateContender, SuiteDef, SuiteResult, TargetResult } from '../lib/types';

const heapCase = caseId.checksumHeap;
const memoryCase = caseId.checksumMemory;

const SIMD_API = CHECKSUM_API;
const SCALAR_API = 'checksum() wasm-scalar';
const REFERENCE_API = 'checksum() reference';
const FAST_JS = 'fastest pure TS';
const NAIVE_JS = 'naive JS byte loop';
const RAW_SOCKET = 'raw-socket createChecksum';
const SIMD_KERNEL = 'kernel wasm-simd';
const SCALAR_KERNEL = 'kernel wasm-scalar';
const EMPTY = 'loop overhead';

/** The 9000 bytes every contender sums (a prefix of them for 64 and 1500). */
const DATA = benchBytes(9000);

/** Extra inputs every contender must also get right: odd lengths, carries, a misaligned view. */
function validationInputs(): Uint8Array[] {
  const inputs: Uint8Array[] = [];
  for (const length of [1, 2, 3, 5, 7, 63, 65, 1499, 1501, 8999]) inputs.push(benchBytes(length, length * 7919));
  inputs.push(new Uint8Array(9000).fill(0xff)); // every carry at once
  inputs.push(benchBytes(1600, 42).subarray(3, 1503)); // starts at an odd, unaligned offset
  return inputs;
}

/** Every contender against the tests' RFC 1071 oracle (test/helpers/bytes.ts), not against one of the contenders. */
function checkAgainstOracle(compute: (input: Uint8Array) => number, inputs: Uint8Array[]): string | null {
  for (const input of inputs) {
    const expected = ~naiveSum(input) & 0xffff;
    const got = compute(input);
    if (got !== expected) return `length ${input.length} (byteOffset ${input.byteOffset}): got ${got}, oracle ${expected}`;
  }
  return null;
}

const cases: CaseDef[] = [
  ...SIZES.map((size) => ({ id: heapCase(size), group: 'Input in the JS heap (an ordinary Uint8Array; copy into WASM memory included)', label: `${size} B`, bytes: size, baseline: SIMD_API })),
  ...SIZES.map((size) => ({ id: memoryCase(size), group: 'Input already in WASM memory (kernel call only) vs native C', label: `${size} B`, bytes: size, baseline: SIMD_KERNEL })),
];

/**
 * raw-socket is no dependency of the package (a native addon that compiles at install, which no
 * user of the codec should get): bench/run.ts installs it, unsaved, for a full run, and it is absent
 * where that failed (no compiler) or in a quick run. Then it is NOT RUN, loudly, and
 * its target is not measured; everything else runs. Only resolved here, never loaded: it is not
 * context-aware, so it loads in one thread per process ("Module did not self-register" in any
 * other), and that thread must be its own worker.
 */
const rawSocketMissing: string | undefined = (() => {
  try {
    createRequire(import.meta.url).resolve('raw-socket');
    return undefined;
  } catch (error) {
    return `raw-socket is not installed (a native addon, installed unsaved by full runs of bench/run.ts: npm install --no-save raw-socket): ${(error as Error).message.split('\n')[0]}`;
  }
})();

const allHeapContenders: Record<string, { description: string; make: () => (input: Uint8Array) => number }> = {
  [SIMD_API]: { description: '`checksum()` from dist/index.mjs on the wasm-simd backend (the default)', make: () => (useBackend('wasm-simd'), checksum) },
  [SCALAR_API]: { description: '`checksum()` after `useBackend(\'wasm-scalar\')`', make: () => (useBackend('wasm-scalar'), checksum) },
  [REFERENCE_API]: { description: '`checksum()` after `useBackend(\'reference\')` (pure-TS twin, written for clarity)', make: () => (useBackend('reference'), checksum) },
  [FAST_JS]: { description: 'bench/contenders/fast-js-checksum.ts: cached Int32Array view, Σw and Σhi int32 accumulators', make: () => fastJsChecksum },
  [NAIVE_JS]: { description: 'bench/contenders/naive-js-checksum.ts: one byte pair per iteration', make: () => naiveJsChecksum },
  [RAW_SOCKET]: {
    description: 'raw-socket (npm, native addon) `createChecksum(buffer)`; its input is a Buffer made once, outside timing',
    make: () => {
      const raw = createRequire(import.meta.url)('raw-socket') as { createChecksum(...buffers: Buffer[]): number };
      return (input) => raw.createChecksum(Buffer.from(input.buffer, input.byteOffset, input.byteLength));
    },
  },
};
const heapContenders = allHeapContenders;

export const createContender: CreateContender = (name) => {
  const runners: Record<string, CaseRunner> = {};
  const extra = validationInputs();
  const heap = heapContenders[name];
  if (heap) {
    const compute = heap.make();
    for (const size of SIZES) {
      const input = DATA.slice(0, size); // its own ArrayBuffer, byteOffset 0, like a fresh frame
      // raw-socket takes a Buffer: make it once here so the Buffer wrapping is not timed.
      const run = name === RAW_SOCKET ? rawSocketRunner(input) : () => compute(input);
      runners[heapCase(size)] = { run, validate: () => checkAgainstOracle(compute, [input, ...extra]) };
    }
    return runners;
  }
  if (name === SIMD_KERNEL || name === SCALAR_KERNEL) {
    // Instantiate and reserve once (init is not timed), write the data once.
    const kernels = createKernels(name === SIMD_KERNEL ? 'wasm-simd' : 'wasm-scalar');
    const ptr = kernels.reserve(16384);
    kernels.bytes.set(DATA, ptr);
    for (const size of SIZES) {
      const run = () => kernels.internetChecksum(ptr, size);
      const compute = (input: Uint8Array) => {
        kernels.bytes.set(input, ptr);
        const value = kernels.internetChecksum(ptr, input.length);
        kernels.bytes.set(DATA, ptr); // put the timed data back
        return value;
      };
      runners[memoryCase(size)] = { run, validate: () => checkAgainstOracle(compute, [DATA.subarray(0, size), ...extra]) };
    }
    return runners;
  }
  if (name === EMPTY) {
    // The cost of the timing loop itself: a call that returns a constant.
    for (const size of SIZES) runners[memoryCase(size)] = { run: () => size, validate: () => null };
    return runners;
  }
  throw new Error(`unknown contender ${name}`);
};

function rawSocketRunner(input: Uint8Array): () => number {
  const raw = createRequire(import.meta.url)('raw-socket') as { createChecksum(...buffers: Buffer[]): number };
  const buffer = Buffer.from(input.buffer, input.byteOffset, input.byteLength); // a view, no copy
  return () => raw.createChecksum(buffer);
}

function target(result: SuiteResult, text: string, caseId: string, slow: string, fast: string, test: (ratio: number) => boolean, unit: string): TargetResult {
  const ratio = pairedRatio(result, caseId, slow, fast);
  if (ratio === undefined) return { target: text, measured: `not measured (${slow} or ${fast} has no figure)`, met: null };
  return { target: text, measured: `${ratio.toFixed(2)}${unit}`, met: test(ratio) };
}

export const suite: SuiteDef = {
  name: 'checksum',
  title: 'RFC 1071 checksum',
  method: [
    'Each contender runs in its own worker thread (own V8 isolate), validated first on the timed input and 12 more',
    '(odd lengths, all-0xff, an unaligned view) against the naive RFC 1071 sum the tests use (`test/helpers/bytes.ts`), then warmed up, then timed in',
    'interleaved rounds. The native C binary is compiled at bench time and runs once per round as a child process.',
  ].join(' '),
  cases,
  contenders: [
    ...Object.entries(heapContenders).map(([name, { description }]) => ({
      name,
      description,
      ...(name === RAW_SOCKET && rawSocketMissing !== undefined ? { notRun: rawSocketMissing, cases: SIZES.map(heapCase) } : {}),
    })),
    { name: SIMD_KERNEL, description: '`createKernels(\'wasm-simd\').internetChecksum(ptr, len)` on data written once at a `reserve()`d pointer' },
    { name: SCALAR_KERNEL, description: 'the same on the scalar build' },
    { name: EMPTY, description: 'the timing loop calling a function that returns a constant: the floor under every figure', throughput: false },
  ],
  external: [nativeChecksumContender(DATA, memoryCase)],
  targets: (result) => [
    target(result, 'WASM `checksum()` ≥ 4× faster than the fastest pure TS (1500 B, JS heap)', heapCase(1500), FAST_JS, SIMD_API, (r) => r >= 4, '×'),
    target(result, 'WASM `checksum()` ≥ 15× faster than raw-socket (1500 B, JS heap)', heapCase(1500), RAW_SOCKET, SIMD_API, (r) => r >= 15, '×'),
    target(result, 'WASM kernel within 2.5× of native C (1500 B, in memory): time ratio ≤ 2.5', memoryCase(1500), SIMD_KERNEL, NATIVE, (r) => r <= 2.5, '× native time'),
  ],
};
