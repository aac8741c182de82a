// Inner TCP/UDP checksum helpers: verify, complete a partial checksum (csum_start/csum_offset), and
// recognise and finish one a Linux sender left partial (finishPartialChecksum).
// Expected checksums come from the RFC 1071 sum in ./helpers, not from the code under test.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createKernels, useBackend, backendName } from '../../src/index';
import { completeInnerChecksum, verifyInnerChecksum } from '../../src/batch/index';
import { BACKENDS } from '../helpers/backends';
import { buildInnerFrame, innerFrame, type InnerSpec } from '../helpers/frames';
import { prng } from '../helpers/random';
import { PARTIAL_FINISHED, PARTIAL_UNTOUCHED } from '../../src/wasm/abi';

const SPECS: InnerSpec[] = [
  { ipVersion: 4, transport: 'tcp', payloadLen: 0 }, { ipVersion: 4, transport: 'tcp', payloadLen: 1401 },
  { ipVersion: 4, transport: 'udp', payloadLen: 3 }, { ipVersion: 6, transport: 'tcp', payloadLen: 999, vlan: 100 },
  { ipVersion: 6, transport: 'udp', payloadLen: 1452 },
];

for (const backend of BACKENDS) {
  test(`${backend}: verify says valid, bad, none or unsupported`, () => {
    const previous = backendName();
    useBackend(backend);
    try {
      for (const spec of SPECS) {
        assert.is(verifyInnerChecksum(innerFrame(spec)), 'valid', JSON.stringify(spec));
        assert.is(verifyInnerChecksum(innerFrame({ ...spec, l4Checksum: 'bad' })), 'bad', JSON.stringify(spec));
        const frame = innerFrame(spec);
        assert.is(verifyInnerChecksum(frame.subarray(0, frame.length - 1)), 'unsupported', 'IP length beyond the bytes');
      }
      assert.is(verifyInnerChecksum(innerFrame({ ipVersion: 4, transport: 'udp', payloadLen: 9, l4Checksum: 'zero' })), 'none');
      const arp = new Uint8Array(42);
      arp[12] = 0x08;
      arp[13] = 0x06;
      assert.is(verifyInnerChecksum(arp), 'unsupported');
      assert.is(verifyInnerChecksum(new Uint8Array(3)), 'unsupported');
      // Ethernet padding after a short IP packet is not part of the segment.
      const padded = new Uint8Array(80);
      const small = innerFrame({ ipVersion: 4, transport: 'udp', payloadLen: 2 });
      padded.set(small);
      assert.is(verifyInnerChecksum(padded), 'valid');
    } finally {
      useBackend(previous);
    }
  });

  test(`${backend}: completing a partial checksum gives the full checksum`, () => {
    const previous = backendName();
    useBackend(backend);
    try {
      for (const spec of SPECS) {
        const partial = buildInnerFrame({ ...spec, l4Checksum: 'partial' });
        completeInnerChecksum(partial.bytes, partial.l4, partial.checksumOffset);
        assert.equal([...partial.bytes], [...innerFrame(spec)], JSON.stringify(spec));
      }
      const frame = innerFrame(SPECS[0]);
      assert.throws(() => completeInnerChecksum(frame, frame.length - 1, 0), RangeError);
      assert.throws(() => completeInnerChecksum(frame, -1, 0), RangeError);
    } finally {
      useBackend(previous);
    }
  });

  test(`${backend}: finishPartialChecksum finishes what a Linux sender left partial, and nothing else`, () => {
    const kernels = createKernels(backend);
    const region = kernels.reserve(4096);
    const run = (frame: Uint8Array): { verdict: number; bytes: Uint8Array } => {
      kernels.bytes.set(frame, region);
      const verdict = kernels.finishPartialChecksum(region, frame.length);
      return { verdict, bytes: kernels.bytes.slice(region, region + frame.length) };
    };
    for (const spec of SPECS) {
      const what = JSON.stringify(spec);
      const partial = run(innerFrame({ ...spec, l4Checksum: 'partial' }));
      assert.is(partial.verdict, PARTIAL_FINISHED, `partial: ${what}`);
      assert.equal([...partial.bytes], [...innerFrame(spec)], `finished to the full checksum: ${what}`);
      const valid = run(innerFrame(spec));
      assert.is(valid.verdict, PARTIAL_UNTOUCHED, `valid: ${what}`);
      assert.equal([...valid.bytes], [...innerFrame(spec)], `valid left as it was: ${what}`);
      const bad = run(innerFrame({ ...spec, l4Checksum: 'bad' }));
      assert.is(bad.verdict, PARTIAL_UNTOUCHED, `bad: ${what}`);
      assert.equal([...bad.bytes], [...innerFrame({ ...spec, l4Checksum: 'bad' })], `a wrong checksum stays wrong: ${what}`);
      // A segment cut short (its IP length beyond the bytes) is not touched.
      const truncated = innerFrame({ ...spec, l4Checksum: 'partial' });
      assert.is(run(truncated.subarray(0, truncated.length - 1)).verdict, PARTIAL_UNTOUCHED, `IP length beyond the bytes: ${what}`);
    }
    const zero = innerFrame({ ipVersion: 4, transport: 'udp', payloadLen: 9, l4Checksum: 'zero' });
    assert.is(run(zero).verdict, PARTIAL_UNTOUCHED, 'a UDP checksum of zero means none');
    assert.is(run(new Uint8Array(60)).verdict, PARTIAL_UNTOUCHED, 'not IP');
    assert.is(kernels.finishPartialChecksum(region, -5), PARTIAL_UNTOUCHED, 'a negative length');
  });

  test(`${backend}: finishPartialChecksum leaves a valid segment whose checksum equals its pseudo-header sum`, () => {
    // Rare (2^-16) but real: a complete checksum that happens to hold the pseudo-header sum. Found by
    // trying payload words until the full checksum of the segment equals the partial one's field.
    const kernels = createKernels(backend);
    const region = kernels.reserve(4096);
    const spec: InnerSpec = { ipVersion: 4, transport: 'tcp', payloadLen: 20 };
    let found: Uint8Array | undefined;
    for (let word = 0; word < 0x10000 && found === undefined; word++) {
      const built = buildInnerFrame({ ...spec, l4Checksum: 'partial' });
      const field = built.l4 + built.checksumOffset;
      const pseudo = built.bytes[field] << 8 | built.bytes[field + 1];
      const payload = built.bytes.length - 2;
      built.bytes[payload] = word >> 8;
      built.bytes[payload + 1] = word & 0xff;
      // The valid frame with this payload word: the field set to the full checksum.
      const valid = built.bytes.slice();
      kernels.bytes.set(valid, region);
      kernels.completeInnerChecksum(region, valid.length, built.l4, built.checksumOffset);
      const full = kernels.bytes[region + field] << 8 | kernels.bytes[region + field + 1];
      if (full === pseudo) found = kernels.bytes.slice(region, region + valid.length);
    }
    assert.ok(found !== undefined, 'some payload word gives a checksum equal to the pseudo-header sum');
    kernels.bytes.set(found!, region);
    assert.is(kernels.verifyInnerChecksum(region, found!.length), 1, 'the constructed segment is valid');
    assert.is(kernels.finishPartialChecksum(region, found!.length), PARTIAL_UNTOUCHED);
    assert.equal([...kernels.bytes.slice(region, region + found!.length)], [...found!], 'left as it was');
  });

  test(`${backend}: the raw kernels never trap on random arguments`, () => {
    const kernels = createKernels(backend);
    const region = kernels.reserve(8192);
    const random = prng(17);
    for (let round = 0; round < 2000; round++) {
      for (let i = 0; i < 64; i++) kernels.bytes[region + Math.floor(random() * 4096)] = Math.floor(random() * 256);
      if (round % 3 === 0) kernels.bytes.set([0x08, 0x00, 0x45], region + 12);
      const len = Math.floor(random() * 4096) - 8;
      const verdict = kernels.verifyInnerChecksum(region, len);
      assert.ok([-1, 0, 1, 2].includes(verdict));
      assert.ok([PARTIAL_UNTOUCHED, PARTIAL_FINISHED].includes(kernels.finishPartialChecksum(region, len)));
      const completed = kernels.completeInnerChecksum(region, len, Math.floor(random() * 5000) - 10, Math.floor(random() * 5000) - 10);
      assert.ok(completed === 0 || completed === -1);
    }
  });
}

test.run();
