/**
 * The host's frames on their way to the forwarder: a bounded FrameQueue they are built in, in
 * place (a full queue is a counted drop, or backpressure for a UDP stream), and the deferred wake
 * that tells the forwarder there is something to receive, never from inside its transmit call.
 */
import type { PacketBatch } from '../../../batch/packet-batch';
import { writeU16 } from '../../../wire/fields';
import type { DeviceEvents } from '../../contracts';
import { DeferredWake, FrameQueue } from '../memory-device';
import type { UserspaceHostCounters } from './counters';
import type { Wakeable } from './waits';

export class Outbox {
  /** Every cell of the queue: frames are written here at the offsets reserve() gives. */
  readonly bytes: Uint8Array;
  /** UDP streams waiting for the queue to drain (woken when it is at most half full). */
  readonly spaceWaiters = new Set<Wakeable>();
  private readonly queue: FrameQueue;
  private readonly wake = new DeferredWake(() => this.queue.count > 0);
  /** drainInto's running totals, one object for every receive. */
  private readonly drained = { oversize: 0, bytes: 0 };

  constructor(
    capacity: number,
    maxFrameLength: number,
    private readonly mac: Uint8Array,
    private readonly counters: UserspaceHostCounters,
  ) {
    this.queue = new FrameQueue(capacity, maxFrameLength);
    this.bytes = this.queue.bytes;
  }

  /** Frames waiting for the forwarder. */
  get count(): number {
    return this.queue.count;
  }

  get full(): boolean {
    return this.queue.full;
  }

  /** Wake `events` from now on (undefined: nobody); wake at once when frames are already waiting. */
  attach(events: DeviceEvents | undefined): void {
    this.wake.attach(events);
    if (events !== undefined && this.queue.count > 0) this.wake.schedule();
  }

  /**
   * Start the next frame: the offset of its queue cell, with the Ethernet header from this host to
   * the MAC at `destination[destinationAt]` written, or -1 (a counted drop) when the queue is full.
   * Replies and requests start here; the caller writes the rest and commits.
   */
  startFrame(destination: Uint8Array, destinationAt: number, etherType: number): number {
    const at = this.queue.reserve();
    if (at < 0) {
      this.counters.queueDrops++;
      return -1;
    }
    this.writeEthernet(this.bytes, at, destination, destinationAt, etherType);
    return at;
  }

  /** Offset of the queue cell for the next frame, or -1 when the queue is full: the caller waits for space. */
  reserve(): number {
    return this.queue.reserve();
  }

  /** Queue the frame written at the last reserve; wake the forwarder when the queue was empty. */
  commit(length: number): void {
    const wasEmpty = this.queue.count === 0;
    this.queue.commit(length);
    if (wasEmpty) this.wake.schedule();
  }

  /** An Ethernet header from this host to the MAC at `destination[destinationAt]`, at `out[at]`. */
  writeEthernet(out: Uint8Array, at: number, destination: Uint8Array, destinationAt: number, etherType: number): void {
    for (let i = 0; i < 6; i++) out[at + i] = destination[destinationAt + i];
    out.set(this.mac, at + 6);
    writeU16(out, at + 12, etherType);
  }

  /** Device.receive: move waiting frames into the batch's slots, counted; wake again while some wait. */
  drainInto(batch: PacketBatch, first: number, max: number): number {
    const counters = this.counters;
    const drained = this.drained;
    drained.oversize = counters.oversize;
    drained.bytes = counters.bytesOut;
    const filled = this.queue.drainInto(batch, first, max, drained);
    counters.oversize = drained.oversize;
    counters.bytesOut = drained.bytes;
    counters.framesOut += filled;
    if (this.queue.count > 0) this.wake.schedule();
    if (this.spaceWaiters.size > 0 && this.queue.count <= this.queue.capacity >>> 1) {
      for (const waiter of this.spaceWaiters) waiter.wake?.();
    }
    return filled;
  }

  /** Forget every waiting frame and stop waking. */
  close(): void {
    this.wake.attach(undefined);
    this.queue.clear();
  }
}
