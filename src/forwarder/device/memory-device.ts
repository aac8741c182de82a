/**
 * In-memory Ethernet ports for tests and demos, and the frame queue they share with the
 * UserspaceHost device:
 *
 * - `FrameQueue`: a bounded FIFO of frames in one preallocated buffer (a ring of fixed-size
 *   cells). A frame is written straight into its cell, so queueing costs no allocation, and a
 *   flood can never grow it: a full queue refuses and the caller counts a drop.
 * - `MemoryDevice`: a Device whose far side is the test itself: `inject(frame)` queues a frame for
 *   the forwarder to receive, and frames the forwarder transmits are kept (bounded) for
 *   inspection or handed to a callback.
 * - `connectDevices(a, b)`: a wire joining two Devices back to back without a forwarder. It moves
 *   what one port has waiting, through a PacketBatch, into the other's transmit, as the forwarder
 *   would, so two UserspaceHosts can talk to each other in a unit test.
 */
import { PacketBatch } from '../../batch/packet-batch';
import { checkInteger } from '../../wire/fields';
import type { Device, DeviceEvents } from '../contracts';

/** Default queue bound: frames, not bytes, because each cell holds one frame of maxFrameLength. */
export const DEFAULT_QUEUE_CAPACITY = 1024;

/**
 * A bounded FIFO of Ethernet frames in one buffer of `capacity` cells of `cellSize` bytes.
 * Writing in place: `reserve()` gives the offset of the next free cell in `bytes` (or -1 when
 * full), the caller writes the frame there and calls `commit(length)`. Reading: `peekOffset()` /
 * `peekLength()` for the oldest frame, then `shift()`.
 */
export class FrameQueue {
  readonly capacity: number;
  readonly cellSize: number;
  /** All cells, cell k at k * cellSize. */
  readonly bytes: Uint8Array;
  private readonly lengths: Int32Array;
  private head = 0;
  private size = 0;

  constructor(capacity: number, cellSize: number) {
    this.capacity = checkInteger(capacity, 'queueCapacity', 1, 65536);
    this.cellSize = checkInteger(cellSize, 'cellSize', 1, 65535);
    this.bytes = new Uint8Array(this.capacity * this.cellSize);
    this.lengths = new Int32Array(this.capacity);
  }

  get count(): number {
    return this.size;
  }

  get full(): boolean {
    return this.size === this.capacity;
  }

  /** Offset in `bytes` of the cell the next frame goes to, or -1 when the queue is full. */
  reserve(): number {
    if (this.size === this.capacity) return -1;
    const tail = (this.head + this.size) % this.capacity;
    return tail * this.cellSize;
  }

  /** Queue the frame written at the last reserve()'s offset. */
  commit(length: number): void {
    const tail = (this.head + this.size) % this.capacity;
    this.lengths[tail] = length;
    this.size++;
  }

  /** Copy `length` bytes of `source` from `start` into the queue; false (nothing queued) when full or too long. */
  push(source: Uint8Array, start: number, length: number): boolean {
    if (length > this.cellSize || length < 0) return false;
    const at = this.reserve();
    if (at < 0) return false;
    this.bytes.set(source.subarray(start, start + length), at);
    this.commit(length);
    return true;
  }

  /** Offset in `bytes` of the oldest frame (queue not empty). */
  peekOffset(): number {
    return this.head * this.cellSize;
  }

  peekLength(): number {
    return this.lengths[this.head];
  }

  shift(): void {
    if (this.size === 0) return;
    this.head = (this.head + 1) % this.capacity;
    this.size--;
  }

  clear(): void {
    this.head = 0;
    this.size = 0;
  }

  /**
   * Move up to `max` frames into slots first.. of `batch` (payload + setInner, peer 0), as
   * Device.receive does. Frames longer than the batch's slots are dropped (counted in
   * `stats.oversize`), never truncated; `stats.bytes` gains the bytes delivered. Returns how many
   * slots were filled.
   */
  drainInto(batch: PacketBatch, first: number, max: number, stats: { oversize: number; bytes: number }): number {
    let filled = 0;
    while (filled < max && this.size > 0) {
      const length = this.lengths[this.head];
      if (length > batch.slotSize) {
        stats.oversize++;
      } else {
        stats.bytes += length;
        const slot = first + filled;
        const at = this.head * this.cellSize;
        batch.payload(slot).set(this.bytes.subarray(at, at + length));
        batch.setInner(slot, length, 0);
        filled++;
      }
      this.head = (this.head + 1) % this.capacity;
      this.size--;
    }
    return filled;
  }
}

/**
 * A wake that runs after the current call stack: a port never calls into the forwarder while the
 * forwarder is calling it (transmit → reply → wake → receive would re-enter the forwarder).
 * One callback object per port, so scheduling allocates nothing.
 */
export class DeferredWake {
  private scheduled = false;
  private events: DeviceEvents | undefined;
  private readonly fire = (): void => {
    this.scheduled = false;
    if (this.events !== undefined && this.pending()) this.events.wake();
  };

  constructor(private readonly pending: () => boolean) {}

  attach(events: DeviceEvents | undefined): void {
    this.events = events;
  }

  schedule(): void {
    if (this.scheduled || this.events === undefined) return;
    this.scheduled = true;
    queueMicrotask(this.fire);
  }
}

function checkEvents(events: DeviceEvents): void {
  if (typeof events !== 'object' || events === null || typeof events.wake !== 'function' || typeof events.fail !== 'function') {
    throw new TypeError('events must be an object with wake() and fail() functions');
  }
}

export interface MemoryDeviceOptions {
  name?: string;
  /** Largest frame taken or delivered, Ethernet header included; default 1514. */
  maxFrameLength?: number;
  /** Frames waiting to be received, at most; default 1024. */
  queueCapacity?: number;
  /** How many transmitted frames to keep for `takeTransmitted()` (oldest dropped first); default 1024, 0 keeps none. */
  keep?: number;
  /** Called for every transmitted frame with a view valid only during the call. */
  onTransmit?: (frame: Uint8Array) => void;
}

export interface MemoryDeviceCounters {
  injected: number;
  delivered: number;
  transmitted: number;
  /** inject() refused: queue full, closed, or frame over maxFrameLength. */
  injectDrops: number;
  /** Queued frames longer than the receiving batch's slots (dropped, never truncated). */
  oversize: number;
  /** Transmitted frames over maxFrameLength: taken and dropped. */
  transmitOversize: number;
}

/** A Device for forwarder unit tests: the test injects frames and inspects what the forwarder transmits. */
export class MemoryDevice implements Device {
  readonly name: string;
  readonly maxFrameLength: number;
  readonly counters: MemoryDeviceCounters = { injected: 0, delivered: 0, transmitted: 0, injectDrops: 0, oversize: 0, transmitOversize: 0 };
  private readonly queue: FrameQueue;
  private readonly keep: number;
  private readonly onTransmit: ((frame: Uint8Array) => void) | undefined;
  private kept: Uint8Array[] = [];
  private readonly wake = new DeferredWake(() => this.queue.count > 0);
  private readonly drained = { oversize: 0, bytes: 0 };
  private started = false;
  private closed = false;

  constructor(options: MemoryDeviceOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    const name = options.name ?? 'memory0';
    if (typeof name !== 'string' || name.length === 0) throw new TypeError('name must be a non-empty string');
    this.name = name;
    this.maxFrameLength = checkInteger(options.maxFrameLength ?? 1514, 'maxFrameLength', 14, 65535);
    this.queue = new FrameQueue(checkInteger(options.queueCapacity ?? DEFAULT_QUEUE_CAPACITY, 'queueCapacity', 1, 65536), this.maxFrameLength);
    this.keep = checkInteger(options.keep ?? 1024, 'keep', 0, 1 << 20);
    if (options.onTransmit !== undefined && typeof options.onTransmit !== 'function') throw new TypeError('onTransmit must be a function');
    this.onTransmit = options.onTransmit;
  }

  /** Queue a frame for the forwarder (copied). False when refused: full queue, too long, closed. */
  inject(frame: Uint8Array): boolean {
    if (!(frame instanceof Uint8Array)) throw new TypeError('frame must be a Uint8Array');
    const wasEmpty = this.queue.count === 0;
    if (this.closed || !this.queue.push(frame, 0, frame.length)) {
      this.counters.injectDrops++;
      return false;
    }
    this.counters.injected++;
    if (wasEmpty) this.wake.schedule();
    return true;
  }

  /** Frames waiting to be received. */
  get waiting(): number {
    return this.queue.count;
  }

  /** The kept transmitted frames (copies), oldest first; the device forgets them. */
  takeTransmitted(): Uint8Array[] {
    const frames = this.kept;
    this.kept = [];
    return frames;
  }

  start(events: DeviceEvents): void {
    checkEvents(events);
    if (this.started) throw new Error(`device ${this.name} was already started`);
    this.started = true;
    this.wake.attach(events);
    if (this.queue.count > 0) this.wake.schedule();
  }

  receive(batch: PacketBatch, first: number, max: number): number {
    if (!this.started || this.closed) return 0;
    const filled = this.queue.drainInto(batch, first, max, this.drained);
    this.counters.delivered += filled;
    this.counters.oversize = this.drained.oversize;
    if (this.queue.count > 0) this.wake.schedule();
    return filled;
  }

  transmit(batch: PacketBatch, slots: Int32Array, count: number): number {
    if (this.closed) return 0;
    const bytes = batch.bytes;
    for (let k = 0; k < count; k++) {
      const slot = slots[k];
      const start = batch.innerStart(slot);
      const length = batch.innerLength(slot);
      if (length > this.maxFrameLength) {
        this.counters.transmitOversize++;
        continue;
      }
      this.counters.transmitted++;
      if (this.onTransmit !== undefined) this.onTransmit(bytes.subarray(start, start + length));
      if (this.keep > 0) {
        if (this.kept.length >= this.keep) this.kept.shift();
        this.kept.push(bytes.slice(start, start + length));
      }
    }
    return count;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.queue.clear();
    this.wake.attach(undefined);
  }
}

export interface WireOptions {
  /** The batch frames cross in; default a new PacketBatch of 64 slots (big enough for both devices' frames). */
  batch?: PacketBatch;
  /** Batches moved per event-loop turn before yielding (so timers and I/O still run under a flood); default 16. */
  burst?: number;
}

export interface WireCounters {
  /** Frames received from a and transmitted into b. */
  aToB: number;
  bToA: number;
  /** Frames a device's transmit did not take. */
  refused: number;
}

/** Two Devices joined back to back: see connectDevices. */
export interface Wire {
  readonly counters: WireCounters;
  /** The first error a device reported through fail(), if any. */
  readonly error: Error | undefined;
  /** Resolves once neither device has anything waiting (after at least one pump). */
  idle(): Promise<void>;
  /** Stops moving frames (does not close the devices). */
  close(): void;
}

/**
 * Join two Devices back to back: whatever one has waiting is received into a PacketBatch and
 * transmitted into the other, exactly as a forwarder hands frames to a port. Starts both devices.
 * Moving happens on setImmediate turns (a bounded burst each), never inside a device's call.
 */
export function connectDevices(a: Device, b: Device, options: WireOptions = {}): Wire {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const batch = options.batch ?? new PacketBatch({ capacity: 64 });
  if (!(batch instanceof PacketBatch)) throw new TypeError('batch must be a PacketBatch');
  const burst = checkInteger(options.burst ?? 16, 'burst', 1, 1 << 20);
  const slots = new Int32Array(batch.capacity);
  for (let i = 0; i < slots.length; i++) slots[i] = i;
  const counters: WireCounters = { aToB: 0, bToA: 0, refused: 0 };
  let error: Error | undefined;
  let scheduled = false;
  let closed = false;
  let idleWaiters: (() => void)[] = [];

  const move = (from: Device, to: Device): number => {
    const n = from.receive(batch, 0, batch.capacity);
    if (n > 0) {
      const taken = to.transmit(batch, slots, n);
      counters.refused += n - taken;
    }
    return n;
  };

  const pump = (): void => {
    scheduled = false;
    if (closed) return;
    for (let round = 0; round < burst; round++) {
      const ab = move(a, b);
      const ba = move(b, a);
      counters.aToB += ab;
      counters.bToA += ba;
      if (ab === 0 && ba === 0) {
        // Nothing moved: both are drained for now (a reply queued by the last transmit wakes us again).
        const waiters = idleWaiters;
        idleWaiters = [];
        for (const resolve of waiters) resolve();
        return;
      }
    }
    schedule();
  };

  const schedule = (): void => {
    if (scheduled || closed) return;
    scheduled = true;
    setImmediate(pump);
  };

  const events: DeviceEvents = {
    wake: schedule,
    fail(failure: Error) {
      error ??= failure;
      closed = true;
    },
  };
  a.start(events);
  b.start(events);
  schedule();

  return {
    counters,
    get error() {
      return error;
    },
    idle() {
      return new Promise<void>((resolve) => {
        idleWaiters.push(resolve);
        schedule();
      });
    },
    close() {
      closed = true;
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const resolve of waiters) resolve();
    },
  };
}
