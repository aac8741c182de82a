// Differential fuzzing of the offload kernels: tsoSplit on random super-frames (IPv4/IPv6, TCP
// with options or UDP, a VLAN tag or not, random gso_size, slots and first segment, then random
// mutations of the bytes and of csum_start/gso_type), and groMerge on random runs of segments
// (split from a super-frame, then some edited, reordered or corrupted). Every backend must return
// the same number and leave the same bytes in the slots, metadata, output and result record;
// and a split that succeeded, merged back, gives the super-frame's bytes.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createKernels } from '../../src/backend';
import { PacketBatch } from '../../src/batch/packet-batch';
import { GSO_TCPV4, GSO_TCPV6, GSO_UDP_L4, GSO_ECN, META_LEN, TSO_LAST, VNET_HDR_LEN, GRO_RESULT_LEN, type BackendName, type Kernels } from '../../src/wasm/abi';
import { BACKENDS } from '../helpers/backends';
import { hex } from '../helpers/bytes';
import { mutate, mutationsArbitrary } from '../helpers/fuzz';
import { buildSegment, payloadOf, type SegmentSpec } from '../forwarder/offload/frames';

const CAPACITY = 48;
const SLOT_SIZE = 1600;
const OUT = VNET_HDR_LEN + 65_536 + 64;

interface Harness {
  name: BackendName;
  kernels: Kernels;
  batch: PacketBatch;
  staging: number;
  list: number;
  out: number;
  result: number;
}

// One set of kernels per backend for the whole file: fresh memory per case would be slow.
const harnesses: Harness[] = BACKENDS.map((name) => {
  const kernels = createKernels(name);
  const batch = new PacketBatch({ capacity: CAPACITY, slotSize: SLOT_SIZE, kernels });
  return { name, kernels, batch, staging: kernels.reserve(70_000), list: kernels.reserve(CAPACITY * 4), out: kernels.reserve(OUT), result: kernels.reserve(16) };
});

const counts = { split: 0, splitRefused: 0, merged: 0, single: 0 };
process.on('exit', () => console.log(`offload fuzz: ${counts.split} splits (${counts.splitRefused} refused), ${counts.merged} merges, ${counts.single} single`));

/** Everything a kernel may write: slots, metadata, output, result. */
function state(h: Harness): Buffer {
  const bytes = h.kernels.bytes;
  return Buffer.concat([
    bytes.subarray(h.batch.slotsPtr, h.batch.metaPtr + CAPACITY * META_LEN), bytes.subarray(h.out, h.out + OUT), bytes.subarray(h.result, h.result + 16),
  ]);
}

/** Where two states first differ, for the message. */
function firstDifference(a: Buffer, b: Buffer): string {
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return `at byte ${i} of the slots|metadata|output|result image: ${hex(a.subarray(i, i + 16))} vs ${hex(b.subarray(i, i + 16))}`;
}

function reset(h: Harness): void {
  const bytes = h.kernels.bytes;
  bytes.fill(0xa5, h.batch.slotsPtr, h.batch.metaPtr + CAPACITY * META_LEN);
  bytes.fill(0x5a, h.out, h.out + OUT);
  bytes.fill(0, h.result, h.result + 16);
}

const specArbitrary: fc.Arbitrary<SegmentSpec & { gsoSize: number }> = fc.record({
  ipVersion: fc.constantFrom(4 as const, 6 as const),
  transport: fc.constantFrom('tcp' as const, 'tcp' as const, 'udp' as const),
  payloadLen: fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 64_000 })),
  seed: fc.integer({ min: 0, max: 250 }),
  sequence: fc.nat({ max: 2 ** 32 - 1 }),
  flags: fc.constantFrom(0x10, 0x18, 0x19, 0x90, 0x98, 0x11, 0x12, 0x50),
  options: fc.constantFrom<number[]>([], [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], [2, 4, 5, 0xb4]),
  identification: fc.nat({ max: 0xffff }),
  vlan: fc.option(fc.integer({ min: 1, max: 4094 }), { nil: undefined }),
  gsoSize: fc.oneof(fc.integer({ min: 1, max: 1500 }), fc.constantFrom(1448, 1388, 1428, 536)),
}).map(({ payloadLen, seed, ...rest }) => ({ ...rest, payload: payloadOf(payloadLen, seed) }));

const tsoInput = fc.record({
  spec: specArbitrary,
  mutations: fc.oneof({ arbitrary: fc.constant([]), weight: 3 }, { arbitrary: mutationsArbitrary, weight: 1 }),
  csumDelta: fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: -8, max: 8 })),
  ecn: fc.boolean(),
  wrongType: fc.oneof({ arbitrary: fc.constant(undefined), weight: 5 }, { arbitrary: fc.integer({ min: 0, max: 7 }), weight: 1 }),
  firstSlot: fc.integer({ min: 0, max: CAPACITY - 1 }),
  maxSlots: fc.integer({ min: 0, max: CAPACITY }),
  firstSegment: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, { arbitrary: fc.integer({ min: 0, max: 60 }), weight: 1 }),
});

test('tsoSplit: every backend returns the same and writes the same bytes (random and mutated super-frames, 400 cases)', () => {
  fc.assert(fc.property(tsoInput, ({ spec, mutations, csumDelta, ecn, wrongType, firstSlot, maxSlots, firstSegment }) => {
    const built = buildSegment({ ...spec, checksum: 'partial' });
    const frame = mutate(built.bytes, mutations);
    if (frame.length > 70_000) return;
    const type = wrongType ?? ((spec.transport === 'udp' ? GSO_UDP_L4 : spec.ipVersion === 4 ? GSO_TCPV4 : GSO_TCPV6) | (ecn ? GSO_ECN : 0));
    const max = Math.min(maxSlots, CAPACITY - firstSlot);
    const results = harnesses.map((h) => {
      reset(h);
      h.kernels.bytes.set(frame, h.staging);
      const result = h.kernels.tsoSplit(h.staging, frame.length, type, spec.gsoSize, built.l4 + csumDelta,
        h.batch.slotsPtr, h.batch.slotStride, h.batch.metaPtr, firstSlot, max, firstSegment);
      return { result, state: state(h) };
    });
    for (let i = 1; i < results.length; i++) {
      assert.is(results[i].result, results[0].result, `${harnesses[i].name} vs ${harnesses[0].name}: result`);
      assert.ok(results[i].state.equals(results[0].state), `${harnesses[i].name} vs ${harnesses[0].name}: ${firstDifference(results[i].state, results[0].state)}`);
    }
    if (results[0].result >= 0) counts.split++;
    else counts.splitRefused++;
  }), { numRuns: 400 });
});

const groInput = fc.record({
  spec: specArbitrary.filter((s) => s.transport === 'tcp' && s.payload.length > 0),
  edits: fc.array(fc.record({
    at: fc.nat({ max: CAPACITY - 1 }),
    kind: fc.constantFrom('swap', 'flip', 'truncate', 'flags', 'drop'),
    value: fc.nat({ max: 10_000 }),
  }), { maxLength: 4 }),
  outCapacity: fc.oneof(fc.constant(OUT), fc.integer({ min: 0, max: OUT })),
});

test('groMerge: every backend takes the same run and builds the same super-frame; clean runs round-trip (300 cases)', () => {
  fc.assert(fc.property(groInput, ({ spec, edits, outCapacity }) => {
    const built = buildSegment({ ...spec, checksum: 'partial' });
    const type = spec.ipVersion === 4 ? GSO_TCPV4 : GSO_TCPV6;
    let count = 0;
    let whole = false;
    let list: number[] = [];
    for (const h of harnesses) {
      reset(h);
      h.kernels.bytes.set(built.bytes, h.staging);
      const result = h.kernels.tsoSplit(h.staging, built.bytes.length, type, spec.gsoSize, built.l4, h.batch.slotsPtr, h.batch.slotStride, h.batch.metaPtr, 0, CAPACITY, 0);
      count = result & ~TSO_LAST;
      whole = (result & TSO_LAST) !== 0;
      list = [...Array(count).keys()];
    }
    if (count === 0) return;
    const clean = whole && edits.length === 0 && outCapacity === OUT && (count * spec.gsoSize < 65_000 || spec.ipVersion === 6);
    for (const edit of edits) {
      const k = edit.at % count;
      for (const h of harnesses) {
        const start = h.batch.innerStart(k);
        const length = h.batch.innerLength(k);
        const bytes = h.kernels.bytes;
        if (edit.kind === 'flip') bytes[start + (edit.value % length)] ^= 1 << (edit.value % 8);
        if (edit.kind === 'truncate') h.batch.setInner(k, edit.value % (length + 1));
        if (edit.kind === 'flags') bytes[start + built.l4 + 13] = edit.value & 0xff;
      }
      if (edit.kind === 'swap') [list[k], list[(k + 1) % count]] = [list[(k + 1) % count], list[k]];
      if (edit.kind === 'drop') list.splice(k, 1);
    }
    const results = harnesses.map((h) => {
      const view = new DataView(h.kernels.bytes.buffer, h.kernels.bytes.byteOffset);
      list.forEach((slot, k) => view.setInt32(h.list + 4 * k, slot, true));
      const taken = h.kernels.groMerge(h.batch.slotsPtr, h.batch.slotStride, h.batch.metaPtr, h.list, list.length, h.out, outCapacity, h.result);
      return { taken, state: state(h), length: view.getInt32(h.result + GRO_RESULT_LEN, true) };
    });
    for (let i = 1; i < results.length; i++) {
      assert.is(results[i].taken, results[0].taken, `${harnesses[i].name} vs ${harnesses[0].name}: taken`);
      assert.ok(results[i].state.equals(results[0].state), `${harnesses[i].name} vs ${harnesses[0].name}: ${firstDifference(results[i].state, results[0].state)}`);
    }
    if (results[0].length > 0) counts.merged++;
    else counts.single++;
    // A clean run of a super-frame whose flags GRO takes (ACK, PSH on the last) merges whole, back into the same bytes.
    if (clean && count > 1 && (spec.flags! & ~0x08) === 0x10) {
      const h = harnesses[0];
      assert.is(results[0].taken, count, 'a clean run merges whole');
      assert.equal(h.kernels.bytes.slice(h.out + VNET_HDR_LEN, h.out + results[0].length), built.bytes, 'round trip');
    }
  }), { numRuns: 300 });
});

test.run();
