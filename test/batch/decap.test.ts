// Decapsulator over PacketBatch: per-slot verdicts equal decapsulate()'s (the object API) and
// across backends on random, mutated batches; VNI sets; counters; slots that do not fit.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DecodeError, DecodeStatus, createKernels, decapsulate, encapsulate } from '../../src/index';
import type { Kernels } from '../../src/wasm/abi';
import { META_LEN, SLOT_INVALID } from '../../src/wasm/abi';
import { Decapsulator, PacketBatch } from '../../src/batch/index';
import type { DecapsulatorOptions } from '../../src/batch/index';
import { BACKENDS } from '../helpers/backends';
import { hex } from '../helpers/bytes';
import { innerFrame, PEERS } from '../helpers/frames';
import { prng, randomInt } from '../helpers/random';


/** Valid frames from the object API, then damaged: bit flips, truncation, trailing bytes, garbage. */
function randomFrames(seed: number, count: number): Uint8Array[] {
  const random = prng(seed);
  return Array.from({ length: count }, (_, i) => {
    const tunnel = PEERS[randomInt(random, 0, PEERS.length - 1)];
    const inner = innerFrame({ ipVersion: random() < 0.5 ? 4 : 6, transport: random() < 0.5 ? 'tcp' : 'udp', payloadLen: randomInt(random, 0, 400), payload: 'random', seed: i });
    let frame = encapsulate(inner, tunnel);
    const damage = random();
    if (damage < 0.3) {
      frame = frame.slice();
      const flips = randomInt(random, 1, 3);
      for (let f = 0; f < flips; f++) frame[randomInt(random, 0, Math.min(frame.length - 1, 100))] ^= 1 << randomInt(random, 0, 7);
    } else if (damage < 0.45) {
      frame = frame.slice(0, randomInt(random, 0, frame.length));
    } else if (damage < 0.5) {
      const longer = new Uint8Array(frame.length + randomInt(random, 1, 8));
      longer.set(frame);
      frame = longer;
    } else if (damage < 0.55) {
      frame = Uint8Array.from({ length: randomInt(random, 0, 200) }, () => randomInt(random, 0, 255));
    }
    return frame;
  });
}

interface Verdict { status: number; layer: string; offset: number; inner?: string; vni?: number; sourcePort?: number; source?: string }

function objectApiVerdict(frame: Uint8Array, options: DecapsulatorOptions): Verdict {
  try {
    const decoded = decapsulate(frame, options);
    return { status: 0, layer: 'ethernet', offset: 0, inner: hex(decoded.inner), vni: decoded.vxlan.vni, sourcePort: decoded.udp.sourcePort, source: decoded.ip.source };
  } catch (error) {
    if (!(error instanceof DecodeError)) throw error;
    return { status: DecodeStatus[error.code], layer: error.layer, offset: error.offset };
  }
}

function batchVerdict(batch: PacketBatch, i: number): Verdict {
  const status = batch.status(i);
  if (status !== 0) {
    const error = batch.error(i)!;
    return { status, layer: error.layer, offset: error.offset };
  }
  return { status, layer: 'ethernet', offset: 0, inner: hex(batch.inner(i)), vni: batch.vni(i), sourcePort: batch.sourcePort(i), source: batch.sourceAddressText(i) };
}

const OPTION_SETS: DecapsulatorOptions[] = [{}, { strict: false }, { gbp: true }, { verifyChecksums: false, allowZeroUdpChecksumIpv6: true }, { vni: 42 }, { ports: [4789] }];

for (const backend of BACKENDS) {
  test(`${backend}: every slot's verdict equals decapsulate()'s; counters add up`, () => {
    const kernels = createKernels(backend);
    const batch = new PacketBatch({ capacity: 64, kernels });
    for (const [n, options] of OPTION_SETS.entries()) {
      const frames = randomFrames(100 + n, 64);
      const decapsulator = new Decapsulator({ ...options, kernels });
      frames.forEach((frame, i) => batch.writeFrame(i, frame));
      const expected = frames.map((frame) => objectApiVerdict(frame, options));
      const valid = decapsulator.run(batch, 64);
      assert.is(valid, expected.filter((verdict) => verdict.status === 0).length);
      expected.forEach((verdict, i) => assert.equal(batchVerdict(batch, i), verdict, `options ${JSON.stringify(options)} slot ${i}`));
      const counters = decapsulator.counters();
      for (const [name, code] of Object.entries(DecodeStatus)) {
        assert.is(counters[name as keyof typeof DecodeStatus], expected.filter((verdict) => verdict.status === code).length, name);
      }
      assert.ok(expected.some((verdict) => verdict.status === 0) && expected.some((verdict) => verdict.status !== 0), 'the batch mixes good and bad frames');
    }
  });
}

test('random batches: every backend writes the same records and counters', () => {
  for (let seed = 1; seed <= 5; seed++) {
    const frames = randomFrames(seed, 64);
    const options = OPTION_SETS[seed % OPTION_SETS.length];
    const results = BACKENDS.map((backend) => {
      const kernels = createKernels(backend);
      const batch = new PacketBatch({ capacity: 64, kernels });
      const decapsulator = new Decapsulator({ ...options, vnis: seed % 2 ? [42, 7, 0xffffff] : undefined, vni: undefined, kernels });
      frames.forEach((frame, i) => batch.writeFrame(i, frame));
      decapsulator.run(batch, 64);
      return { meta: hex(batch.bytes.subarray(batch.metaPtr, batch.metaPtr + 64 * META_LEN)), counters: decapsulator.counters() };
    });
    for (const result of results.slice(1)) {
      assert.is(result.meta, results[0].meta, `seed ${seed}`);
      assert.equal(result.counters, results[0].counters);
    }
  }
});

for (const backend of BACKENDS) {
  test(`${backend}: a VNI set accepts its members only, judged where a single VNI is`, () => {
    const kernels = createKernels(backend);
    const batch = new PacketBatch({ capacity: 8, kernels });
    const inner = innerFrame({ ipVersion: 4, transport: 'udp', payloadLen: 50 });
    const frames = PEERS.map((tunnel) => encapsulate(inner, tunnel));
    frames.forEach((frame, i) => batch.writeFrame(i, frame));
    // A frame whose inner frame is too short and whose VNI is wrong: VNI_MISMATCH, as decapsulate says.
    const short = encapsulate(inner, PEERS[0]).slice(0, 50 + 10);
    short[16] = 0;
    short[17] = 60 - 14; // IPv4 total length
    short[38] = 0;
    short[39] = 60 - 34; // UDP length
    short[24] = 0;
    short[25] = 0;
    const headerChecksum = (() => {
      let sum = 0;
      for (let i = 14; i < 34; i += 2) sum += (short[i] << 8) | short[i + 1];
      while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
      return ~sum & 0xffff;
    })();
    short[24] = headerChecksum >> 8;
    short[25] = headerChecksum & 0xff;
    short[40] = 0;
    short[41] = 0; // no UDP checksum
    batch.writeFrame(5, short);
    const decapsulator = new Decapsulator({ kernels, gbp: true, vnis: [7, 100, 0xffffff] });
    decapsulator.run(batch, 6);
    assert.equal([0, 1, 2, 3, 4].map((i) => batch.status(i)), [DecodeStatus.VNI_MISMATCH, 0, 0, 0, DecodeStatus.VNI_MISMATCH]);
    assert.equal(batchVerdict(batch, 5), objectApiVerdict(short, { gbp: true, vni: 7 }));
    assert.is(batch.status(5), DecodeStatus.VNI_MISMATCH);
    assert.equal(batchVerdict(batch, 0), objectApiVerdict(frames[0], { gbp: true, vni: 7 }));
    // In the set, the short frame is TRUNCATED at the inner frame, as decapsulate says.
    const accepting = new Decapsulator({ kernels, gbp: true, vnis: [42] });
    accepting.run(batch, 6);
    assert.is(batch.status(5), DecodeStatus.TRUNCATED);
    assert.equal(batchVerdict(batch, 5), objectApiVerdict(short, { gbp: true, vni: 42 }));
    assert.is(accepting.counter(DecodeStatus.OK), 1);
    assert.is(accepting.counter(DecodeStatus.VNI_MISMATCH), 4);
  });

  test(`${backend}: slots whose frame does not fit are SLOT_INVALID and counted; the raw kernel never traps`, () => {
    const kernels: Kernels = createKernels(backend);
    const batch = new PacketBatch({ capacity: 3, slotSize: 256, kernels });
    const frame = encapsulate(innerFrame({ ipVersion: 4, transport: 'tcp', payloadLen: 10 }), PEERS[0]);
    for (let i = 0; i < 3; i++) batch.writeFrame(i, frame);
    const words = META_LEN / 4;
    batch.meta[1 * words + 44 / 4] = -4; // frame offset
    batch.meta[2 * words + 48 / 4] = batch.slotStride + 1; // frame length
    const decapsulator = new Decapsulator({ kernels });
    assert.is(decapsulator.run(batch, 3), 1);
    assert.equal([0, 1, 2].map((i) => batch.status(i)), [0, SLOT_INVALID, SLOT_INVALID]);
    assert.is(decapsulator.counters().INVALID_SLOT, 2);
    assert.is(batch.error(1), undefined);
    decapsulator.resetCounters();
    assert.is(decapsulator.counter(0), 0);

    const end = kernels.bytes.length;
    assert.is(kernels.decapBatch(end - 10, 100, 16, 1, 3, 16, 0, 4789, 0, 16), -1);
    assert.is(kernels.decapBatch(16, 100, 16, 1, 3, 16, 0, 4789, 0, end - 8), -1);
    const random = prng(5);
    const region = kernels.reserve(64 * 1024);
    for (let round = 0; round < 300; round++) {
      for (let i = 0; i < 2048; i++) kernels.bytes[region + randomInt(random, 0, 65535)] = randomInt(random, 0, 255);
      const count = randomInt(random, 0, 8);
      const result = kernels.decapBatch(region + 8192, randomInt(random, 0, 4096), region + randomInt(random, 0, 2048), count,
        randomInt(random, 0, 31), region + 4096, randomInt(random, 0, 16), randomInt(random, 0, 0xffffffff) >>> 0, 0, region + 6144);
      assert.ok(result >= -1 && result <= count);
    }
  });
}

test('Decapsulator options are validated', () => {
  assert.throws(() => new Decapsulator({ vni: 1, vnis: [2] }), RangeError);
  assert.throws(() => new Decapsulator({ vnis: [] }), RangeError);
  assert.throws(() => new Decapsulator({ vnis: [1 << 24] }), RangeError);
  assert.throws(() => new Decapsulator({ ports: [] }), RangeError);
  assert.equal(new Decapsulator({ vnis: new Set([9, 3, 9]) }).vnis, [3, 9]);
});

test.run();
