// Views into kernel memory survive its growth: growing detaches every old view (WASM) or leaves
// it on a stale copy (reference); the batch rebuilds its views and the bytes are all still there.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createKernels, decapsulate } from '../../src/index';
import { DEFAULT_CAPACITY, DEFAULT_SLOT_SIZE, Decapsulator, Encapsulator, JUMBO_SLOT_SIZE, PacketBatch } from '../../src/batch/index';
import { BACKENDS } from '../helpers/backends';
import { innerFrame, TUNNEL_V4 } from '../helpers/frames';

for (const backend of BACKENDS) {
  test(`${backend}: views are rebuilt after the memory grows, contents intact, kernels still right`, () => {
    const kernels = createKernels(backend);
    const batch = new PacketBatch({ capacity: 4, kernels });
    const encapsulator = new Encapsulator(TUNNEL_V4, { kernels });
    const inner = innerFrame({ ipVersion: 4, transport: 'udp', payloadLen: 100 });
    const oldPayload = batch.payload(0);
    oldPayload.set(inner);
    batch.setInner(0, inner.length);
    const oldMeta = batch.meta;
    const bufferBefore = kernels.bytes.buffer;

    kernels.reserve(8 * 1024 * 1024); // forces growth: well beyond what is reserved so far
    assert.ok(kernels.bytes.buffer !== bufferBefore, 'the memory grew into a new buffer');
    if (backend !== 'reference') assert.is(oldPayload.byteLength, 0, 'a grown WASM memory detaches old views');

    const payload = batch.payload(0);
    assert.ok(payload.buffer === kernels.bytes.buffer, 'payload() returns a view of the new buffer');
    assert.ok(batch.meta !== oldMeta && batch.meta.buffer === kernels.bytes.buffer);
    assert.equal([...payload.subarray(0, inner.length)], [...inner]);
    assert.is(batch.innerLength(0), inner.length);

    assert.is(encapsulator.run(batch, 1), 1);
    const frame = batch.frame(0);
    assert.ok(frame.buffer === kernels.bytes.buffer);
    assert.equal([...decapsulate(frame.slice()).inner], [...inner]);

    // And the other way: receive that frame after another growth, decapsulate in place.
    const received = frame.slice();
    kernels.reserve(16 * 1024 * 1024);
    batch.writeFrame(1, received);
    const decapsulator = new Decapsulator({ kernels });
    assert.is(decapsulator.run(batch, 2), 2, 'slot 1 (received) and slot 0 (the frame encapsulated in place) both decapsulate');
    assert.equal([...batch.inner(0)], [...inner]);
    assert.equal([...batch.inner(1)], [...inner]);
    assert.is(batch.sourceAddressText(1), TUNNEL_V4.source.ip);
  });
}

test('defaults and options: 256 slots of 1536 bytes, jumbo slots on request, bad options refused', () => {
  const kernels = createKernels('reference');
  const batch = new PacketBatch({ kernels });
  assert.is(batch.capacity, DEFAULT_CAPACITY);
  assert.is(batch.capacity, 256);
  assert.is(batch.slotSize, DEFAULT_SLOT_SIZE);
  assert.ok(batch.slotStride >= 128 + 1536 && batch.slotStride % 64 === 0);
  assert.is(batch.payload(255).length, batch.slotStride - 128);
  const jumbo = new PacketBatch({ kernels, capacity: 2, slotSize: JUMBO_SLOT_SIZE });
  const inner = innerFrame({ ipVersion: 6, transport: 'tcp', payloadLen: 9000 - 40 - 20 });
  jumbo.writeInner(1, inner);
  assert.is(new Encapsulator(TUNNEL_V4, { kernels }).run(jumbo, 2), 1, 'slot 0 is empty (length 0), slot 1 carries a 9014-byte frame');
  assert.is(jumbo.frameLength(1), inner.length + 50);
  assert.throws(() => new PacketBatch({ kernels, capacity: 0 }), RangeError);
  assert.throws(() => new PacketBatch({ kernels, slotSize: 1.5 }), RangeError);
  assert.throws(() => batch.payload(256), RangeError);
  assert.throws(() => batch.setInner(0, batch.slotStride), RangeError);
  assert.throws(() => batch.writeFrame(0, new Uint8Array(batch.slotStride + 1)), RangeError);
});

test('replicate copies one inner frame to other slots for other peers', () => {
  const kernels = createKernels('wasm-scalar');
  const peers = [TUNNEL_V4, { ...TUNNEL_V4, destination: { ...TUNNEL_V4.destination, ip: '10.1.0.9' } }];
  const encapsulator = new Encapsulator(peers, { kernels });
  const batch = new PacketBatch({ capacity: 2, kernels });
  const inner = innerFrame({ ipVersion: 4, transport: 'tcp', payloadLen: 64 });
  batch.writeInner(0, inner, 0);
  batch.replicate(0, 1, 1);
  assert.is(encapsulator.run(batch, 2), 2);
  assert.is(decapsulate(batch.frame(0).slice()).ip.destination, '10.1.0.2');
  assert.is(decapsulate(batch.frame(1).slice()).ip.destination, '10.1.0.9');
  assert.equal([...decapsulate(batch.frame(1).slice()).inner], [...inner]);
});

test.run();
