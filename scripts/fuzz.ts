// The long fuzz run: `npm run fuzz [-- count]` (default 1,000,000 cases). Each case is a valid
// frame from random tunnel options, mutated, or plain random bytes, decoded by all three backends
// with random options: every answer must be a DecodeError or a success, and all must agree.
import fc from 'fast-check';
import { agreeingOutcome, decapOptionsArbitrary, innerArbitrary, mutate, mutationArbitrary, tunnelArbitrary } from '../test/helpers/fuzzing';
import { encapsulate } from '../src/index';

const count = Number(process.argv[2] ?? 1_000_000);
if (!Number.isInteger(count) || count < 1) throw new RangeError('usage: fuzz.ts [count]');

const caseArbitrary = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(tunnelArbitrary, fc.uint8Array({ minLength: 14, maxLength: 300 }), mutationArbitrary).map(([t, inner, m]) => mutate(encapsulate(inner, t), m)) },
  { weight: 1, arbitrary: fc.tuple(tunnelArbitrary, innerArbitrary).map(([t, inner]) => encapsulate(inner, t)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }) },
);

const started = Date.now();
let decoded = 0;
let rejected = 0;
let done = 0;
const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
const batch = 10_000;
try {
  while (done < count) {
    const runs = Math.min(batch, count - done);
    fc.assert(fc.property(caseArbitrary, decapOptionsArbitrary, (frame, options) => {
      if (agreeingOutcome(frame, options).startsWith('error')) rejected++;
      else decoded++;
    }), { numRuns: runs, seed: seed + done });
    done += runs;
    if (done % 100_000 === 0 || done === count) {
      console.log(`${done} cases, ${decoded} decoded, ${rejected} rejected, ${((Date.now() - started) / 1000).toFixed(0)} s`);
    }
  }
  console.log(`fuzz: ${done} cases over 3 backends, no disagreement and no exception other than DecodeError (seed ${seed})`);
} catch (error) {
  console.error(`fuzz: FAILED after ${done} cases (seed ${seed}):\n${(error as Error).message}`);
  process.exitCode = 1;
}
