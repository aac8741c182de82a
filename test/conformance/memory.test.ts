// Conformance, memory growth: a grown WebAssembly memory detaches every old view (ARCHITECTURE.md,
// "The WASM boundary": if it ever grows, every view is rebuilt). After reserve() grows it, `bytes` must be a
// new, larger view and the kernels, and the object API on top of them, must still answer right.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { checksum, createKernels, decapsulate, encapsulate, onesComplementSum, useBackend } from '../../src/index';
import { workspace } from '../../src/backend';
import { DECAP_STRICT, DECAP_VERIFY_CHECKSUMS, RESULT_INNER, RESULT_INNER_LEN, RESULT_LEN, RESULT_STATUS } from '../../src/wasm/abi';
import { BACKENDS } from '../helpers/backends';
import { hex, naiveSum } from '../helpers/bytes';
import { innerFrame, ipv4Frame, ipv6Tunnel } from '../helpers/frames';

const MiB = 1 << 20;

function pattern(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 131 + seed * 17 + (i >> 8)) & 0xff;
  return bytes;
}

for (const backend of BACKENDS) {
  const test = suite(`conformance/memory [${backend}]`);
  const wasm = backend !== 'reference';

  test('createKernels gives the build asked for', () => {
    const kernels = createKernels(backend) as { name: string; simd?: boolean };
    assert.is(kernels.name, backend);
    if (wasm) assert.is(kernels.simd, backend === 'wasm-simd', 'simdEnabled() says which build this is');
  });

  test('reserve() of a few MiB grows the memory: new, larger view; the old one detached (WASM)', () => {
    const kernels = createKernels(backend);
    const before = kernels.bytes;
    const oldBuffer = before.buffer;
    const oldLength = before.length;
    const ptr = kernels.reserve(4 * MiB);
    const after = kernels.bytes;
    assert.ok(after.length >= ptr + 4 * MiB, 'the reservation fits in the new view');
    assert.ok(after.length > oldLength, `the memory grew (${oldLength} → ${after.length})`);
    assert.is.not(after.buffer, oldBuffer, 'bytes is rebuilt over the new buffer');
    if (wasm) {
      assert.is(oldBuffer.byteLength, 0, 'a grown WebAssembly.Memory detaches the old ArrayBuffer');
      assert.is(before.length, 0, 'so the old view is empty');
    }
    // The kernels see the new memory: sum bytes written beyond the old end.
    const data = pattern(3 * MiB + 1, 3);
    const at = ptr + MiB - 1; // odd address, reaching past the old size
    after.set(data, at);
    assert.ok(at + data.length > oldLength);
    assert.is(kernels.onesComplementSum(at, data.length, 0), naiveSum(data));
    assert.is(kernels.internetChecksum(at + 1, 1500), ~naiveSum(data.subarray(1, 1501)) & 0xffff);
    // And decapFrame reads a frame and writes its record there too.
    const frame = ipv4Frame({ inner: innerFrame(200, 4) });
    const frameAt = ptr + 4 * MiB - frame.length;
    const out = kernels.reserve(RESULT_LEN);
    kernels.bytes.set(frame, frameAt);
    const status = kernels.decapFrame(frameAt, frame.length, DECAP_STRICT | DECAP_VERIFY_CHECKSUMS, 0, 4789 | (8472 << 16), 0, out);
    const record = new DataView(kernels.bytes.buffer, out, RESULT_LEN);
    assert.is(status, 0);
    assert.is(record.getInt32(RESULT_STATUS, true), 0);
    assert.is(record.getInt32(RESULT_INNER, true), 50);
    assert.is(record.getInt32(RESULT_INNER_LEN, true), 200);
  });

  test('the object API keeps working after its own memory grows', () => {
    useBackend(backend);
    const frame = ipv4Frame({ inner: innerFrame(300, 8) });
    const expected = JSON.stringify({ ...decapsulate(frame), inner: undefined, ip: undefined });
    const { kernels } = workspace();
    const oldBuffer = kernels.bytes.buffer;
    kernels.reserve(8 * MiB);
    assert.is.not(kernels.bytes.buffer, oldBuffer, 'grown');
    if (wasm) assert.is(oldBuffer.byteLength, 0, 'old buffer detached');
    const decoded = decapsulate(frame);
    assert.is(JSON.stringify({ ...decoded, inner: undefined, ip: undefined }), expected, 'decapsulate reads its result record from the new memory');
    assert.is(hex(decoded.inner), hex(innerFrame(300, 8)));
    const data = pattern(70_001, 9);
    assert.is(checksum(data), ~naiveSum(data) & 0xffff);
    assert.is(onesComplementSum(data, 5), naiveSum(data, 5));
    const v6 = encapsulate(innerFrame(99), ipv6Tunnel());
    assert.is(decapsulate(v6).inner.length, 99);
    // Grow once more, between two decodes of failing frames, and decode again.
    kernels.reserve(2 * MiB);
    assert.throws(() => decapsulate(frame.subarray(0, 20)), /TRUNCATED/);
    assert.is(decapsulate(frame).vxlan.vni, 0x123456);
  });

  test.run();
}
