// Inner TCP/UDP checksum helpers: verify, and complete a partial checksum (csum_start/csum_offset).
// Expected checksums come from the RFC 1071 sum in ./helpers, not from the code under test.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createKernels, useBackend, backendName } from '../../src/index';
import { completeInnerChecksum, verifyInnerChecksum } from '../../src/batch/index';
import { BACKENDS } from '../helpers/backends';
import { buildInnerFrame, innerFrame, type InnerSpec } from '../helpers/frames';
import { prng } from '../helpers/random';

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
      const completed = kernels.completeInnerChecksum(region, len, Math.floor(random() * 5000) - 10, Math.floor(random() * 5000) - 10);
      assert.ok(completed === 0 || completed === -1);
    }
  });
}

test.run();
