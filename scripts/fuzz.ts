// The long differential fuzz run: `npx tsx scripts/fuzz.ts [count]` (default 1,000,000 cases;
// FUZZ_SEED=n to replay). Each case is a valid frame from random TunnelOptions, mutated (bit
// flips, byte sets, truncation, insertion, deletion), or random bytes, judged with random
// DecapOptions by the decapFrame kernel of all three backends (wasm-simd, wasm-scalar, reference),
// and by each backend's decapBatch on a one-slot batch (which has its own fast path; an expected
// VNI becomes a one-member VNI set). All six must agree on the whole result record (status,
// layer, offset, or every header offset, lengths, VNI and source port); no kernel may trap; and
// every accepted frame must really be valid (test/helpers/fuzz.ts acceptedFrameProblem).
// Prints the count and every disagreement.
// Calling the kernels directly (not useBackend + decapsulate) keeps it at ~10 µs a case.
import fc from 'fast-check';
import { decapSettings, decapsulate, encapsulate } from '../src/api';
import { createKernels, MAX_FRAME_LEN, useBackend } from '../src/backend';
import { COUNTER_COUNT, DECAP_CHECK_VNI, META_FRAME_LEN, META_FRAME_OFFSET, META_LEN, RESULT_LEN, type Kernels } from '../src/wasm/abi';
import { BACKENDS } from '../test/helpers/backends';
import { hex } from '../test/helpers/bytes';
import { acceptedFrameProblem, decapOptionsFor, mutate, mutationsArbitrary, tunnelArbitrary } from '../test/helpers/fuzz';
import type { DecapOptions } from '../src/types';

const count = Number(process.argv[2] ?? 1_000_000);
if (!Number.isInteger(count) || count < 1) {
  console.error('usage: npx tsx scripts/fuzz.ts [count]');
  process.exit(2);
}
const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);

interface Instance { name: string; kernels: Kernels; frame: number; out: number; slot: number; meta: number; vniSet: number; counters: number }
const instances: Instance[] = BACKENDS.map((name) => {
  const kernels = createKernels(name);
  const out = kernels.reserve(RESULT_LEN);
  const frame = kernels.reserve(MAX_FRAME_LEN);
  // A one-slot batch for decapBatch: the frame at the slot's start, MAX_FRAME_LEN of room.
  const slot = kernels.reserve(MAX_FRAME_LEN);
  const meta = kernels.reserve(META_LEN);
  const vniSet = kernels.reserve(4);
  const counters = kernels.reserve(COUNTER_COUNT * 8);
  return { name, kernels, frame, out, slot, meta, vniSet, counters };
});
useBackend('wasm-simd'); // the object API, for the oracle on accepted frames

/** The whole record as text: the comparison unit between backends. */
function judge(instance: Instance, frame: Uint8Array, options: DecapOptions): { status: number; text: string } {
  const settings = decapSettings(options);
  const { kernels } = instance;
  kernels.bytes.set(frame, instance.frame);
  let status: number;
  try {
    status = kernels.decapFrame(instance.frame, frame.length, settings.optionBits, settings.vni, settings.portsLow, settings.portsHigh, instance.out);
  } catch (error) {
    return { status: -1, text: `THREW ${String(error)}` };
  }
  return { status, text: recordText(kernels, instance.out, status) };
}

/** The same frame as slot 0 of a one-slot batch, through decapBatch. */
function judgeBatch(instance: Instance, frame: Uint8Array, options: DecapOptions): { status: number; text: string } {
  const settings = decapSettings(options);
  const { kernels } = instance;
  kernels.bytes.set(frame, instance.slot);
  const meta = new DataView(kernels.bytes.buffer, kernels.bytes.byteOffset + instance.meta, META_LEN);
  meta.setInt32(META_FRAME_OFFSET, 0, true);
  meta.setInt32(META_FRAME_LEN, frame.length, true);
  const checkVni = (settings.optionBits & DECAP_CHECK_VNI) !== 0;
  new DataView(kernels.bytes.buffer).setInt32(kernels.bytes.byteOffset + instance.vniSet, settings.vni, true);
  let valid: number;
  try {
    valid = kernels.decapBatch(instance.slot, MAX_FRAME_LEN, instance.meta, 1, settings.optionBits, instance.vniSet, checkVni ? 1 : 0,
      settings.portsLow, settings.portsHigh, instance.counters);
  } catch (error) {
    return { status: -1, text: `THREW ${String(error)}` };
  }
  const status = meta.getInt32(0, true);
  if (valid !== (status === 0 ? 1 : 0)) return { status, text: `decapBatch returned ${valid} with status ${status}` };
  return { status, text: recordText(kernels, instance.meta, status) };
}

function recordText(kernels: Kernels, at: number, status: number): string {
  const record = new Int32Array(kernels.bytes.buffer, kernels.bytes.byteOffset + at, 11);
  // On failure only status, layer and offset are defined; on success all 11 fields.
  const fields = status === 0 ? Array.from(record) : Array.from(record.subarray(0, 3));
  return `${status} [${fields.join(',')}]`;
}

const tunnelCase = tunnelArbitrary.chain((tunnel) => fc.tuple(
  fc.constant(tunnel), fc.uint8Array({ minLength: 14, maxLength: 200 }), mutationsArbitrary, decapOptionsFor(tunnel.vni),
));
const caseArbitrary: fc.Arbitrary<[Uint8Array, DecapOptions]> = fc.oneof(
  { weight: 6, arbitrary: tunnelCase.map(([t, inner, m, o]): [Uint8Array, DecapOptions] => [mutate(encapsulate(inner, t), m), o]) },
  { weight: 2, arbitrary: tunnelCase.map(([t, inner, , o]): [Uint8Array, DecapOptions] => [encapsulate(inner, t), o]) },
  { weight: 2, arbitrary: fc.tuple(fc.uint8Array({ maxLength: 200 }), decapOptionsFor(0)) },
);

const started = Date.now();
const statusCounts = new Map<number, number>();
let done = 0;
let disagreements = 0;
const BATCH = 10_000;
while (done < count) {
  const cases = fc.sample(caseArbitrary, { numRuns: Math.min(BATCH, count - done), seed: seed + done });
  for (const [frame, options] of cases) {
    const answers = instances.map((instance) => judge(instance, frame, options));
    const batchAnswers = instances.map((instance) => judgeBatch(instance, frame, options));
    let problem: string | undefined;
    if (answers.some((a) => a.text !== answers[0].text)) {
      problem = `backends disagree:\n${answers.map((a, i) => `  ${instances[i].name}: ${a.text}`).join('\n')}`;
    } else if (batchAnswers.some((a) => a.text !== answers[0].text)) {
      problem = `decapBatch disagrees with decapFrame (${answers[0].text}):\n${batchAnswers.map((a, i) => `  ${instances[i].name}: ${a.text}`).join('\n')}`;
    } else if (answers[0].status < 0) {
      problem = `every kernel threw: ${answers[0].text}`;
    } else if (answers[0].status === 0) {
      problem = acceptedFrameProblem(frame, decapsulate(frame, options), options);
    }
    if (problem !== undefined) {
      disagreements++;
      if (disagreements <= 20) console.log(`case ${done}: ${problem}\n  frame ${hex(frame)}\n  options ${JSON.stringify(options)}`);
    }
    statusCounts.set(answers[0].status, (statusCounts.get(answers[0].status) ?? 0) + 1);
    done++;
  }
  if (done % 100_000 === 0 || done === count) {
    console.log(`${done} cases, ${disagreements} disagreements, ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
}
const histogram = [...statusCounts].sort(([a], [b]) => a - b).map(([status, n]) => `${status}:${n}`).join(' ');
console.log(`fuzz: ${done} cases over ${BACKENDS.join(', ')} (seed ${seed}); statuses ${histogram}; ${disagreements} disagreement(s)`);
process.exitCode = disagreements === 0 ? 0 : 1;
