/**
 * Reading in the consuming thread: an InlinePoller waits in one poll() over the fds of several
 * ports and reads what arrived into their Rings itself (the reader worker's very code,
 * READER_CORE_SOURCE), then lets the event loop turn so the forwarder's pump takes it from there.
 * Run to completion: a frame is read, switched and sent by one thread, while its bytes are still
 * in that core's cache, with no reader thread, no wake-up message and no cross-core copy.
 *
 * poll() blocks the thread, so this is for a thread that does nothing else: a MultiQueueForwarder's
 * queue worker. It waits at most INLINE_POLL_TIMEOUT_MS when idle (timers and messages run between
 * waits) and not at all while frames keep coming. A read takes at most a few frames per port
 * (FILL_LIMIT), so what is read is switched before it leaves the cache.
 */
import * as C from './libc';
import { READER_CONSTANTS, READER_CORE_SOURCE, type ReaderEvents, type ReaderKind } from './reader-worker';
import type { Ring } from './ring';

/** The longest wait in poll() when nothing arrives: how late a timer or message may run. */
export const INLINE_POLL_TIMEOUT_MS = 20;
/** Frames (a TAP, each up to 64 KB with offloads) or datagrams (one recvmmsg) read per port per turn. */
const FILL_LIMIT: Record<ReaderKind, number> = { frames: 4, datagrams: 64, packed: 32 };
const MAX_FDS = 64;

interface ReaderCore {
  /** Read what is waiting (at most `limit`) into the ring and publish it; true when something was read. */
  fill(limit: number): boolean;
}

type CoreFactory = (koffi: unknown, f: unknown, sab: SharedArrayBuffer | ArrayBuffer, layout: Ring['layout'], fd: number, kind: ReaderKind, c: typeof READER_CONSTANTS, gro: boolean) => ReaderCore;

let coreFactory: CoreFactory | undefined;

/** READER_CORE_SOURCE as a function in this thread (compiled once). */
function makeCore(ring: Ring, fd: number, kind: ReaderKind, gro: boolean): ReaderCore {
  // eslint-disable-next-line no-new-func -- the same source the reader worker runs, compiled here
  coreFactory ??= new Function('koffi', 'f', 'sab', 'layout', 'fd', 'kind', 'c', 'gro', `'use strict';
${READER_CORE_SOURCE}
return {
  fill(limit) {
    const before = head;
    if (kind === 'frames') readFrames(limit); else if (kind === 'packed') readPacked(limit); else readDatagrams(limit);
    if (head === before) return false;
    ringPublish(head);
    return true;
  },
};`) as CoreFactory;
  return coreFactory(C.koffi(), C.libc(), ring.buffer, ring.layout, fd, kind, READER_CONSTANTS, gro);
}

/** One port's fd and ring, read by an InlinePoller. */
export class InlineReader {
  /** @internal */
  readonly core: ReaderCore;
  constructor(readonly fd: number, readonly kind: ReaderKind, readonly events: ReaderEvents, ring: Ring, gro: boolean, readonly fillLimit: number) {
    this.core = makeCore(ring, fd, kind, gro);
  }
}

export class InlinePoller {
  private readers: InlineReader[] = [];
  private readonly pollBuffer = new SharedArrayBuffer(MAX_FDS * C.POLLFD_SIZE);
  private readonly pollWords = new Int32Array(this.pollBuffer);
  private readonly pollHalves = new Int16Array(this.pollBuffer);
  private readonly pollAddress = C.addressOf(new Uint8Array(this.pollBuffer));
  private running: Promise<void> | undefined;
  private stopping = false;

  /**
   * Read `fd` into `ring` from now on; `events.wake()` after each read, `events.fail()` if reading
   * breaks. `fillLimit`: frames or datagrams read per turn (default FILL_LIMIT of the kind).
   */
  add(fd: number, ring: Ring, kind: ReaderKind, events: ReaderEvents, options: { gro?: boolean; fillLimit?: number } = {}): InlineReader {
    if (this.readers.length >= MAX_FDS) throw new RangeError(`an InlinePoller reads at most ${MAX_FDS} fds`);
    const reader = new InlineReader(fd, kind, events, ring, options.gro === true, options.fillLimit ?? FILL_LIMIT[kind]);
    this.readers.push(reader);
    return reader;
  }

  /** Stop reading a port (before its fd is closed). */
  remove(reader: InlineReader): void {
    this.readers = this.readers.filter((candidate) => candidate !== reader);
  }

  /** Poll and read until stop(); resolves once stopped. Reading errors go to the port's `fail`. */
  run(): Promise<void> {
    this.running ??= this.loop();
    return this.running;
  }

  /** Stop the loop (within INLINE_POLL_TIMEOUT_MS). */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
  }

  private async loop(): Promise<void> {
    const libc = C.libc();
    let busy = false;
    while (!this.stopping) {
      const readers = this.readers;
      for (let i = 0; i < readers.length; i++) {
        this.pollWords[i * 2] = readers[i].fd;
        this.pollHalves[i * 4 + 2] = C.POLLIN;
        this.pollHalves[i * 4 + 3] = 0;
      }
      // Busy (something was read last time): only look. Idle: wait, but not past the next turn's timers.
      const ready = readers.length === 0 ? 0 : libc.pollAt(this.pollAddress, readers.length, busy ? 0 : INLINE_POLL_TIMEOUT_MS);
      busy = false;
      if (ready < 0 && C.errno() !== C.EINTR) throw C.syscallError('poll', C.errno());
      for (let i = 0; ready > 0 && i < readers.length; i++) {
        const revents = this.pollHalves[i * 4 + 3];
        if (revents === 0) continue;
        const reader = readers[i];
        try {
          if ((revents & C.POLLNVAL) !== 0) throw new Error(`poll: fd ${reader.fd} is not open (POLLNVAL)`);
          if (reader.kind !== 'datagrams' && (revents & (C.POLLERR | C.POLLHUP)) !== 0 && (revents & C.POLLIN) === 0) {
            throw new Error(`poll: the device on fd ${reader.fd} reported ${(revents & C.POLLERR) !== 0 ? 'POLLERR' : 'POLLHUP'}`);
          }
          if (reader.core.fill(reader.fillLimit)) {
            busy = true;
            reader.events.wake();
          }
        } catch (error) {
          this.remove(reader);
          reader.events.fail(error as Error);
        }
      }
      // The pump (woken above), timers and messages run now; then poll again.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
}
