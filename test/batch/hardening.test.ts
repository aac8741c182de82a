// The batch API under hostile sizes and values: batches too big for 32-bit memory are refused
// before anything is reserved, peer indexes are integers or refused, and every bad argument gets
// a TypeError/RangeError that names it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createKernels, decapsulate } from '../../src/index';
import { reserveMemory } from '../../src/backend';
import { Decapsulator, Encapsulator, PacketBatch, SLOT_NO_PEER } from '../../src/batch/index';
import type { Kernels } from '../../src/wasm/abi';
import { BACKENDS, innerFrame, ipv4Tunnel } from '../helpers/frames';

const TWO_PEERS = [ipv4Tunnel(), ipv4Tunnel({ destination: { mac: '02:00:00:00:00:03', ip: '198.51.100.3' } })];

/** RangeError whose message says how much memory is needed and what the limit is. */
function assertRefusedForSize(make: () => unknown, needed: string): void {
  try {
    make();
  } catch (error) {
    assert.instance(error, RangeError, String(error));
    const message = (error as Error).message;
    assert.ok(message.includes(`needs ${needed} bytes of memory`), message);
    assert.match(message, /at most [\d,]+ bytes|limited to [\d,]+ bytes/);
    return;
  }
  assert.unreachable('the size was accepted');
}

/** Encapsulating and decapsulating one frame still works in these kernels. */
function assertKernelsStillWork(kernels: Kernels): void {
  const batch = new PacketBatch({ capacity: 2, kernels });
  const inner = innerFrame(100);
  batch.writeInner(0, inner);
  assert.is(new Encapsulator(ipv4Tunnel(), { kernels }).run(batch, 1), 1);
  assert.equal([...decapsulate(batch.frame(0).slice()).inner], [...inner]);
}

for (const backend of BACKENDS) {
  test(`${backend}: a batch beyond 32-bit memory is refused with its size and the limit, nothing reserved`, () => {
    const kernels = createKernels(backend);
    const before = kernels.bytes.length;
    // 65536 slots 65664 bytes apart: 4,303,355,904 bytes of slots, 6,291,456 of metadata, 64 of alignment.
    assertRefusedForSize(() => new PacketBatch({ capacity: 65536, slotSize: 65535, kernels }), '4,309,647,424');
    // 2,151,677,952 + 3,145,728 + 64: past the WASM runtime's largest block and the reference's 2 GiB.
    assertRefusedForSize(() => new PacketBatch({ capacity: 32768, slotSize: 65535, kernels }), '2,154,823,744');
    assert.is(kernels.bytes.length, before, 'nothing was reserved');
    assertKernelsStillWork(kernels);
  });

  test(`${backend}: a large batch that fits keeps its slots and metadata apart`, () => {
    const kernels = createKernels(backend);
    const batch = new PacketBatch({ capacity: 1024, slotSize: 65535, kernels });
    for (let i = 0; i < batch.capacity; i++) batch.setInner(i, 100, i % 2);
    const last = batch.capacity - 1;
    batch.slot(last).fill(0xff);
    batch.slot(0).fill(0xff);
    assert.ok(batch.metaPtr >= batch.slotPointer(last) + batch.slotStride, 'the metadata starts after the last slot');
    for (let i = 0; i < batch.capacity; i++) {
      assert.is(batch.status(i), 0);
      assert.is(batch.innerLength(i), 100);
      assert.is(batch.peer(i), i % 2);
    }
  });

  test(`${backend}: reserveMemory refuses what reserve() cannot give, and the instance keeps working`, () => {
    const kernels = createKernels(backend);
    const before = kernels.bytes.length;
    for (const size of [2 ** 31, 2 ** 32 + 16, 2 ** 40]) {
      assertRefusedForSize(() => reserveMemory(kernels, size, 'a test block'), size.toLocaleString('en-US'));
    }
    for (const size of [-1, 1.5, Number.NaN]) {
      assert.throws(() => reserveMemory(kernels, size, 'a test block'), (error: unknown) => error instanceof RangeError && /a test block/.test(String(error)));
    }
    assert.is(kernels.bytes.length, before);
    assertKernelsStillWork(kernels);
  });

  test(`${backend}: an Encapsulator or Decapsulator reserves through the same checks`, () => {
    const kernels = createKernels(backend);
    const encapsulator = new Encapsulator(TWO_PEERS, { kernels });
    const decapsulator = new Decapsulator({ vnis: [1, 2, 3, 4, 5], kernels });
    assert.is(decapsulator.counter(0), 0);
    const batch = new PacketBatch({ capacity: 4, kernels });
    for (let i = 0; i < 4; i++) batch.writeInner(i, innerFrame(80, i), i % 2);
    assert.is(encapsulator.run(batch, 4), 4);
    const received = new PacketBatch({ capacity: 4, kernels });
    for (let i = 0; i < 4; i++) received.writeFrame(i, batch.frame(i).slice());
    assert.is(new Decapsulator({ kernels }).run(received, 4), 4);
    assert.is(decapsulator.run(received, 4), 0, 'VNI 0x123456 is not in the set');
    assert.is(decapsulator.counter(14), 4, 'four VNI_MISMATCH counted, in counters apart from the VNI set');
  });
}

// A WASM memory can reach 4 GiB; past about 3 GiB in use the next gigabyte no longer fits. The
// pages are reserved, not touched, so this costs address space, not RAM.
test('wasm-scalar: the total of reservations stays below 4 GiB', () => {
  const kernels = createKernels('wasm-scalar');
  const block = 2 ** 30 - 4;
  for (let i = 0; i < 3; i++) reserveMemory(kernels, block, 'a gigabyte');
  const before = kernels.bytes.length;
  assert.throws(() => reserveMemory(kernels, block, 'the fourth gigabyte'), (error: unknown) =>
    error instanceof RangeError && /the fourth gigabyte needs 1,073,741,820 bytes of memory, and [\d,]+ bytes of the wasm-scalar backend's memory are in use/.test(String(error)));
  assert.is(kernels.bytes.length, before);
  assertKernelsStillWork(kernels);
});

/** The error a setter throws for `peer`, or undefined when it accepts it. */
function peerError(set: () => void): Error | undefined {
  try {
    set();
    return undefined;
  } catch (error) {
    return error as Error;
  }
}

test('a peer index that is not an integer in 0..2^31-1 is refused by every setter, naming peer, slot untouched', () => {
  const kernels = createKernels('reference');
  const batch = new PacketBatch({ capacity: 2, kernels });
  const inner = innerFrame(60);
  batch.writeInner(0, inner, 1);
  batch.writeInner(1, inner, 0);
  const bad: [unknown, typeof TypeError | typeof RangeError][] = [
    [2 ** 32 + 1, RangeError], [2 ** 31, RangeError], [-1, RangeError], [1.9, RangeError], [Number.NaN, RangeError],
    [Infinity, RangeError], ['x', TypeError], ['1', TypeError], [null, TypeError], [1n, TypeError], [{}, TypeError],
  ];
  for (const [peer, Type] of bad) {
    const setters: [string, () => void][] = [
      ['setInner', () => batch.setInner(0, 60, peer as number)],
      ['writeInner', () => batch.writeInner(0, inner, peer as number)],
      ['setPeer', () => batch.setPeer(0, peer as number)],
      ['replicate', () => batch.replicate(1, 0, peer as number)],
    ];
    for (const [name, set] of setters) {
      const error = peerError(set);
      assert.ok(error instanceof Type, `${name}(${String(peer)}): ${String(error)}`);
      assert.match(error!.message, /^peer must be/);
      assert.is(batch.peer(0), 1, `${name}(${String(peer)}) left the slot's peer as it was`);
    }
  }
  batch.setPeer(0, 2 ** 31 - 1);
  assert.is(batch.peer(0), 2 ** 31 - 1, 'the largest i32 is a valid index');
});

for (const backend of BACKENDS) {
  test(`${backend}: an integer peer the Encapsulator has no tunnel for gives SLOT_NO_PEER, the others go out`, () => {
    const kernels = createKernels(backend);
    const encapsulator = new Encapsulator(TWO_PEERS, { kernels });
    const batch = new PacketBatch({ capacity: 5, kernels });
    const peers = [0, 2, 1, 2 ** 31 - 1, 1];
    peers.forEach((peer, i) => batch.writeInner(i, innerFrame(70, i), peer));
    assert.is(encapsulator.run(batch, 5), 3);
    assert.equal(peers.map((_, i) => batch.status(i)), [0, SLOT_NO_PEER, 0, SLOT_NO_PEER, 0]);
    assert.is(decapsulate(batch.frame(2).slice()).ip.destination, '198.51.100.3', 'slot 2 went to peer 1');
    assert.is(decapsulate(batch.frame(0).slice()).ip.destination, '198.51.100.2', 'slot 0 went to peer 0');
  });
}

test.run();
