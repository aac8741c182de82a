// The SPSC ring between a reader worker and the main thread: the producer side is the same
// RingProducer the reader threads use (src/forwarder/io/ring.ts, loaded through tsx), here in a
// worker that writes sequence numbers instead of reading an fd. Order kept, nothing lost, a full
// ring waits (never overwrites), the stop flag ends a producer that is waiting for room.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { CTRL_FULL, Ring, ringLayout } from '../../../src/forwarder/io/ring';

const RING_MODULE = fileURLToPath(new URL('../../../src/forwarder/io/ring.ts', import.meta.url));

const PRODUCER = `'use strict';
require('tsx/cjs');
const { RingProducer } = require(${JSON.stringify(RING_MODULE)});
const { workerData, parentPort } = require('node:worker_threads');
const { sab, layout, total } = workerData;
const producer = new RingProducer(sab, layout);
const words = new Int32Array(sab, layout.cellsOffset, (layout.cells * layout.cellSize) / 4);
let head = 0;
let seq = 0;
while (!producer.stopping && seq < total) {
  const room = producer.room(head, 100);
  if (room <= 0) continue;
  const n = Math.min(room, total - seq, 7);
  for (let j = 0; j < n; j++) {
    const k = head & producer.mask;
    words[(k * layout.cellSize) / 4] = seq;
    words[(k * layout.cellSize) / 4 + 1] = ~seq;
    producer.lengths[k] = 8 + (seq % 50);
    seq++;
    head = (head + 1) | 0;
  }
  if (producer.publish(head)) parentPort.postMessage('wake');
}
parentPort.postMessage({ produced: seq });
`;

function producer(ring: Ring, total: number): Worker {
  return new Worker(PRODUCER, { eval: true, workerData: { sab: ring.buffer, layout: ring.layout, total } });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('layout: power-of-two cells, 64-byte aligned cells, bad sizes refused', () => {
  const layout = ringLayout(8, 100);
  assert.is(layout.cellSize, 128);
  assert.is(layout.cellsOffset % 64, 0);
  assert.is(layout.byteLength, layout.cellsOffset + 8 * 128);
  assert.throws(() => ringLayout(6, 100), /power of two/);
  assert.throws(() => ringLayout(8, 10), /cellSize/);
});

test('a slow consumer: every item arrives once, in order; the full ring made the producer wait', async () => {
  const ring = new Ring(8, 64);
  const total = 20000;
  const worker = producer(ring, total);
  let wakes = 0;
  let resolveWake: (() => void) | undefined;
  let produced = -1;
  worker.on('message', (m) => {
    if (m === 'wake') wakes++;
    else produced = m.produced;
    resolveWake?.();
  });
  const exited = new Promise((resolve) => worker.on('exit', resolve));
  const words = new Int32Array(ring.buffer);
  let expected = 0;
  let bursts = 0;
  try {
    while (expected < total) {
      const available = ring.available();
      assert.ok(available <= 8, 'never more than the ring holds');
      for (let j = 0; j < available; j++) {
        const k = ring.index(j);
        const at = ring.cellStart(k) / 4;
        assert.is(words[at], expected, 'in order, none lost, none twice');
        assert.is(words[at + 1], ~expected);
        assert.is(ring.lengths[k], 8 + (expected % 50));
        expected++;
      }
      ring.release(available);
      if (++bursts % 50 === 0) await sleep(1); // let it fill up now and then
      if (ring.available() === 0 && !ring.idle()) {
        await Promise.race([new Promise<void>((resolve) => { resolveWake = resolve; }), sleep(50)]);
      }
    }
    await exited;
    assert.is(produced, total);
    assert.ok(Atomics.load(ring.control, CTRL_FULL) > 0, 'the producer found the ring full and waited');
    assert.ok(wakes > 0 && wakes < total / 2, `messages only when the consumer asked (${wakes} for ${total} items)`);
  } finally {
    await worker.terminate();
  }
});

test('the stop flag ends a producer waiting for room within its wait timeout', async () => {
  const ring = new Ring(4, 64);
  const worker = producer(ring, 1e9);
  const exited = new Promise<number>((resolve) => worker.on('exit', resolve));
  try {
    const deadline = Date.now() + 3000;
    while (ring.available() < 4 && Date.now() < deadline) await sleep(10);
    assert.is(ring.available(), 4, 'full, nothing overwritten');
    await sleep(150);
    assert.is(ring.available(), 4);
    const started = Date.now();
    ring.stop();
    assert.is(await exited, 0);
    assert.ok(Date.now() - started < 500, `stopped in ${Date.now() - started} ms`);
  } finally {
    await worker.terminate();
  }
});

test('copyOut copies a cell exactly, short and long (memcpy out of shared memory), shared or not', () => {
  for (const shared of [true, false]) {
    const ring = new Ring(4, 65_600, shared);
    assert.is(ring.buffer instanceof SharedArrayBuffer, shared);
    const start = ring.cellStart(1);
    for (let i = 0; i < 65_600; i++) ring.bytes[start + i] = (i * 13 + 5) & 0xff;
    for (const length of [1, 100, 4095, 4096, 65_500]) {
      const target = new Uint8Array(65_600).fill(0xee);
      ring.copyOut(start + 3, length, target, 7);
      assert.ok(Buffer.from(target.subarray(7, 7 + length)).equals(ring.bytes.subarray(start + 3, start + 3 + length)), `${length} bytes, shared ${shared}`);
      assert.is(target[6], 0xee, 'nothing written before');
      assert.is(target[7 + length], 0xee, 'nothing written after');
    }
  }
});

test.run();
