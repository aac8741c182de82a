// Inner TCP/UDP checksum helpers: verify, and complete a partial checksum (csum_start/csum_offset).
// Expected checksums come from the RFC 1071 sum in ./helpers, not from the code under test.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createKernels, useBackend, backendName } from '../../src/index';
import type { BackendName } from '../../src/wasm/abi';
import { simdSupported } from '../../src/wasm/loader';
import { completeInnerChecksum, verifyInnerChecksum } from '../../src/batch/index';
import { innerFrame, prng } from './helpers';

const BACKENDS: BackendName[] = simdSupported() ? ['wasm-simd', 'wasm-scalar', 'reference'] : ['wasm-scalar', 'reference'];

const SPECS = [
  { ipVersion: 4, protocol: 6, payloadLen: 0 }, { ipVersion: 4, protocol: 6, payloadLen: 1401 },
  { ipVersion: 4, protocol: 17, payloadLen: 3 }, { ipVersion: 6, protocol: 6, payloadLen: 999, vlan: true },
  { ipVersion: 6, protocol: 17, payloadLen: 1452 },
] as const;

for (const backend of BACKENDS) {
  test(`${backend}: verify says valid, bad, none or unsupported`, () => {
    const previous = backendName();
    useBackend(backend);
    try {
      for (const spec of SPECS) {
        assert.is(verifyInnerChecksum(innerFrame(spec).bytes), 'valid', JSON.stringify(spec));
        assert.is(verifyInnerChecksum(innerFrame({ ...spec, corrupt: true }).bytes), 'bad', JSON.stringify(spec));
        const frame = innerFrame(spec).bytes;
        assert.is(verifyInnerChecksum(frame.subarray(0, frame.length - 1)), 'unsupported', 'IP length beyond the bytes');
      }
      assert.is(verifyInnerChecksum(innerFrame({ ipVersion: 4, protocol: 17, payloadLen: 9, zeroUdpChecksum: true }).bytes), 'none');
      const arp = new Uint8Array(42);
      arp[12] = 0x08;
      arp[13] = 0x06;
      assert.is(verifyInnerChecksum(arp), 'unsupported');
      assert.is(verifyInnerChecksum(new Uint8Array(3)), 'unsupported');
      // Ethernet padding after a short IP packet is not part of the segment.
      const padded = new Uint8Array(80);
      const small = innerFrame({ ipVersion: 4, protocol: 17, payloadLen: 2 }).bytes;
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
        const partial = innerFrame({ ...spec, partial: true });
        completeInnerChecksum(partial.bytes, partial.csumStart, partial.csumOffset);
        assert.equal([...partial.bytes], [...innerFrame(spec).bytes], JSON.stringify(spec));
      }
      const frame = innerFrame(SPECS[0]).bytes;
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
