// Differential fuzzing: mutated valid frames (bit flips, byte sets, truncation, insertion,
// deletion) and random bytes, decoded with random DecapOptions by all three backends. Every
// answer must be a DecodeError or a success; all three must agree exactly (code, layer, offset,
// or every decoded field); an accepted frame must really be valid (acceptedFrameProblem); and the
// backends keep working afterwards.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decapsulate, encapsulate, useBackend, type DecapOptions } from '../../src/index';
import { BACKENDS } from '../helpers/backends';
import { hex } from '../helpers/bytes';
import { innerFrame, ipv4Frame } from '../helpers/frames';
import {
  acceptedFrameProblem, decapOptionsArbitrary, decapOptionsFor, decodeOutcome, describeFrame, mutate, mutationsArbitrary, tunnelArbitrary,
} from '../helpers/fuzz';

const counts = { accepted: 0, rejected: 0 };
// What the cases reached, printed at the end so a too-shallow generator is visible.
process.on('exit', () => console.log(`differential: ${counts.accepted} accepted, ${counts.rejected} rejected; codes ${[...codes].join(' ')}`));
const codes = new Set<string>();

/** Decode on every backend; assert they agree and an accepted frame is valid. */
function differential(frame: Uint8Array, options: DecapOptions): void {
  const outcomes = BACKENDS.map((backend) => {
    useBackend(backend);
    return decodeOutcome(frame, options);
  });
  for (let i = 1; i < outcomes.length; i++) {
    assert.is(outcomes[i].text, outcomes[0].text, `${BACKENDS[i]} vs ${BACKENDS[0]} on ${hex(frame)} with ${JSON.stringify(options)}`);
  }
  const first = outcomes[0];
  if (first.ok) {
    counts.accepted++;
    const problem = acceptedFrameProblem(frame, first.decoded, options);
    assert.is(problem, undefined, `accepted ${hex(frame)} with ${JSON.stringify(options)}: ${problem}`);
  } else {
    counts.rejected++;
    codes.add(first.error.code);
  }
}

const shortInner = fc.uint8Array({ minLength: 14, maxLength: 80 });

test('mutated valid frames: only DecodeErrors, the backends agree, nothing wrong accepted (1,200 cases)', () => {
  const input = tunnelArbitrary.chain((tunnel) => fc.tuple(fc.constant(tunnel), shortInner, mutationsArbitrary, decapOptionsFor(tunnel.vni)));
  fc.assert(fc.property(input, ([tunnel, inner, mutations, options]) => {
    useBackend('reference');
    differential(mutate(encapsulate(inner, tunnel), mutations), options);
  }), { numRuns: 1200 });
});

test('unmutated valid frames with random options: the backends agree (300 cases)', () => {
  const input = tunnelArbitrary.chain((tunnel) => fc.tuple(fc.constant(tunnel), shortInner, decapOptionsFor(tunnel.vni)));
  fc.assert(fc.property(input, ([tunnel, inner, options]) => {
    useBackend('reference');
    differential(encapsulate(inner, tunnel), options);
  }), { numRuns: 300 });
});

test('random bytes, and random bytes behind a plausible Ethernet/IP prefix (800 cases)', () => {
  const prefix = fc.constantFrom(
    [], [0x08, 0x00, 0x45], [0x86, 0xdd, 0x60], [0x81, 0x00, 0x00, 0x01, 0x08, 0x00, 0x45], [0x88, 0xa8, 0, 1, 0x86, 0xdd, 0x60],
  );
  const bytes = fc.tuple(fc.uint8Array({ minLength: 12, maxLength: 12 }), prefix, fc.uint8Array({ maxLength: 150 }))
    .map(([macs, p, rest]) => Uint8Array.from([...macs, ...p, ...rest]));
  fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 120 }), bytes), decapOptionsArbitrary, differential), { numRuns: 800 });
});

test('the fuzzing reached deep: both verdicts and many distinct error codes; every backend still works', () => {
  assert.ok(counts.accepted > 100, `accepted ${counts.accepted}`);
  assert.ok(counts.rejected > 500, `rejected ${counts.rejected}`);
  assert.ok(codes.size >= 10, `distinct error codes seen: ${[...codes].join(', ')}`);
  const frame = ipv4Frame({ inner: innerFrame(64, 3) });
  const texts = BACKENDS.map((backend) => {
    useBackend(backend);
    return describeFrame(decapsulate(frame));
  });
  assert.is(texts[1], texts[0]);
  assert.is(texts[2], texts[0]);
});

test.run();
