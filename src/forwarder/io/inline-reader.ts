/**
 * Reading in the consuming thread: an InlinePoller waits in one poll() over the fds of several
 * ports and reads what arrived into their Rings itself (with the reader worker's very code, a
 * ReaderCore), and hands it to the forwarder's pump.
 * Run to completion: a frame is read, switched and sent by one thread, while its bytes are still
 * in that core's cache, with no reader thread, no wake-up message and no cross-core copy.
 *
 * poll() blocks the thread, so this is for a thread that does nothing else: a MultiQueueForwarder's
 * queue worker. It waits at most INLINE_POLL_TIMEOUT_MS when idle (timers and messages run between
 * waits) and not at all while frames keep coming. A read takes at most a few frames per port
 * (FILL_LIMIT), so what is read is switched before it leaves the cache.
 *
 * A lone frame leaves at once: with a `drain` (the Forwarder's pumpNow) what a pass read is
 * switched and sent in that pass, and the loop polls again straight away, so the answer to what
 * was just sent (a peer on this host answers within the send itself) is read and written in the
 * same burst. The event loop turns at least every INLINE_TURN_MS while frames keep coming (two
 * passes or more that drained something), never between a read and its send, nor between a lone
 * frame's send and the look for its answer: a turn (libuv's poll, timers, immediates, a promise)
 * costs more than the frame's own work when the thread wakes cold.
 *
 * Busy polling (`run`'s `busyPollUs`): after a pass that read something, the loop keeps looking for
 * that long before it sleeps in poll(): it polls without waiting and, between looks, yields the
 * CPU (sched_yield) to any other thread that wants it. A frame that comes in that window (the
 * reply to what was just sent, the next segment of a stream) is read without a wake-up: on a VM
 * whose idle vCPU halts, a wake-up costs 40-50 µs and runs the thread cold. It is what the kernel's
 * haltpoll does for a whole guest and NAPI busy polling for a socket; it costs CPU only while
 * nobody else wants it, at most `busyPollUs` after each burst.
 *
 * Idle wakes (`run`'s `idleWakeMs`, with a doorbell): for IDLE_WAKE_SPAN_MS after the last frame,
 * the loop wakes every few milliseconds while nothing comes, only to poll again. A wake after a
 * long sleep is slow on a shared VM: the thread's code and data, V8's and the kernel's poll path (a
 * few hundred KB, where a forwarder in C touches a few pages) have left the caches within 10-20 ms,
 * and the first pass then runs several times slower. An empty wake costs about 50 µs of CPU on a
 * quiet hour, 1% of a core every 5 ms (a worker pinged every 100 ms on a busy hour used 5% of a
 * core, wakes and pings together); it keeps the next frame's pass warm (BENCHMARKS.md, "Idle
 * wakes"). A forwarder that carries nothing for longer sleeps, and costs nothing.
 *
 * Without a doorbell the loop also turns before every wait, and waits at most
 * INLINE_POLL_TIMEOUT_MS, so messages and timers run soon. With one (`run`'s `doorbell`: the fd a
 * queue's owner rings after each message it posts) the loop turns when the bell rings, and
 * otherwise only every `idleTurnMs` (timers: counters, FDB refresh and ageing); between a burst
 * and the next frame it does nothing but wait in poll(). That is what a request/response exchange
 * meets: the next request is read the moment it comes, not after a turn; and an idle queue turns
 * its event loop ten times a second, not 50 (its idle wakes, above, only poll).
 */
// Imported, not the global: the global `performance` is an accessor that runs a check on every use.
import { performance } from 'node:perf_hooks';
import * as C from './libc';
import { ReaderCore, type ReaderKind } from './reader-core';
import type { ReaderEvents } from './reader-worker';
import type { Ring } from './ring';

/** The longest wait in poll() when nothing arrives: how late a timer or message may run. */
export const INLINE_POLL_TIMEOUT_MS = 20;
/** While frames keep coming, the event loop still turns (timers, messages) at least this often (ms). */
export const INLINE_TURN_MS = 1;
/** With a doorbell: the event loop turns at least this often when nothing rings it (timers, ms). */
export const INLINE_IDLE_TURN_MS = 100;
/** Idle wakes (`idleWakeMs`) go on this long after the last pass that read something (ms). */
export const IDLE_WAKE_SPAN_MS = 1000;
/**
 * Frames (a TAP) or datagrams (one recvmmsg) read per port per pass. A TAP's frames stop at
 * FRAME_FILL_BYTES too: four 64 KB super-frames with offloads, as many as the ring takes (32 cells)
 * of small ones, where four frames a pass made a 64-byte frame pay a poll() and a quarter of a
 * sendmmsg() and of a pump run.
 */
const FILL_LIMIT: Record<ReaderKind, number> = { frames: 32, datagrams: 64, packed: 32 };
const FRAME_FILL_BYTES = 4 * 65_536;
/** Ports one poller reads at most (its poll set holds one more: the doorbell). */
const MAX_FDS = 64;

/** One port's fd and ring, read by an InlinePoller (or by a test, through `fill`). */
export class InlineReader {
  private readonly core: ReaderCore;
  constructor(readonly fd: number, readonly kind: ReaderKind, readonly events: ReaderEvents, ring: Ring, gro: boolean, readonly fillLimit: number) {
    this.core = new ReaderCore(ring.buffer, ring.layout, fd, kind, gro);
  }

  /** Read what is waiting (at most `limit`) into the ring and publish it; true when something was read. */
  fill(limit: number): boolean {
    if (!this.core.read(limit, this.kind === 'frames' ? FRAME_FILL_BYTES : Infinity)) return false;
    this.core.publish();
    return true;
  }
}

/** What an InlinePoller's loop did: how the frames it read were moved (tests and benchmarks read it). */
export interface InlinePollerCounters {
  /** poll() calls that could wait (nothing read since the last wait), and those that ended with nothing ready. */
  waits: number;
  timeouts: number;
  /** Passes that read something. */
  reads: number;
  /** Drains that left work (more than a pump's worth was waiting): drained again before the next poll. */
  drainsBusy: number;
  /** Turns of the event loop the loop made (timers, messages, immediates), and how often the doorbell rang. */
  turns: number;
  rings: number;
  /** Looks made while busy polling (see InlineRunOptions.busyPollUs), and those that found something: a sleep and a wake-up saved. */
  busyPolls: number;
  busyPollHits: number;
}

/** How an InlinePoller's loop runs (see run). */
export interface InlineRunOptions {
  /** An fd (eventfd, see doorbell.ts) the thread's message senders ring: the loop turns the event loop when it is readable. */
  doorbell?: number;
  /** With a doorbell, the event loop turns at least this often (ms; default INLINE_IDLE_TURN_MS). */
  idleTurnMs?: number;
  /** After a pass that read something, keep looking (yielding the CPU between looks) this long before sleeping in poll() (µs; default 0: sleep at once). */
  busyPollUs?: number;
  /** With a doorbell: while idle, wake at least this often just to poll again, keeping the frame path warm (ms; default 0: sleep until a frame, the bell or a timer). */
  idleWakeMs?: number;
  /** How long after the last read idle wakes go on (ms; default IDLE_WAKE_SPAN_MS). */
  idleWakeSpanMs?: number;
}

export class InlinePoller {
  readonly counters: InlinePollerCounters = { waits: 0, timeouts: 0, reads: 0, drainsBusy: 0, turns: 0, rings: 0, busyPolls: 0, busyPollHits: 0 };
  private readers: InlineReader[] = [];
  private readonly pollBuffer = new SharedArrayBuffer((MAX_FDS + 1) * C.POLLFD_SIZE);
  private readonly pollWords = new Int32Array(this.pollBuffer);
  private readonly pollHalves = new Int16Array(this.pollBuffer);
  private readonly pollAddress = C.addressOf(new Uint8Array(this.pollBuffer));
  /**
   * Where the doorbell's count is read to. Kept in a field: the kernel writes there, so the buffer
   * must live as long as the poller (a buffer only a local held could be collected and its memory
   * reused while read() still wrote into it), and shared memory never moves.
   */
  private readonly bellBuffer = new SharedArrayBuffer(8);
  private readonly bellAddress = C.addressOf(new Uint8Array(this.bellBuffer));
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

  /**
   * Poll and read until stop(); resolves once stopped. Reading errors go to the port's `fail`.
   * `drain`, called after every pass that read something and after every turn of the event loop,
   * moves what was read (the Forwarder's pumpNow) and returns true when work is left; without it
   * the ports' `wake` alone moves it, on the event loop's next turn.
   */
  run(drain?: () => boolean, options: InlineRunOptions = {}): Promise<void> {
    this.running ??= this.loop(drain, options);
    return this.running;
  }

  /** Stop the loop (within INLINE_POLL_TIMEOUT_MS; with a doorbell, once it rings or idleTurnMs have passed). */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
  }

  private async loop(drain: (() => boolean) | undefined, options: InlineRunOptions): Promise<void> {
    const libc = C.libc();
    const counters = this.counters;
    const doorbell = options.doorbell;
    const idleTurnMs = options.idleTurnMs ?? INLINE_IDLE_TURN_MS;
    // Idle wakes: the longest sleep in poll() with a doorbell until wakeUntil (the span after the last read).
    const spanWaitMs = options.idleWakeMs ? Math.min(options.idleWakeMs, idleTurnMs) : idleTurnMs;
    const idleWakeSpanMs = options.idleWakeSpanMs ?? IDLE_WAKE_SPAN_MS;
    let wakeUntil = 0;
    // Something was read in the last pass: poll only looks (no wait), and the event loop turns
    // only when the burst has gone on for INLINE_TURN_MS since the loop last turned or waited.
    let busy = false;
    // The drain left work: drain again before polling (the pump's own turn is a no-op then).
    let workLeft = false;
    // Passes that drained something since the loop last waited or turned. A turn while busy needs
    // two (a burst, not a lone frame): a lone frame's pass that ran long (a cold thread takes a
    // millisecond or more) is not followed by a turn before the answer to what it sent is read.
    let passes = 0;
    // The doorbell rang (or the loop just started): turn the event loop before the next poll.
    let rang = true;
    let turnedAt = performance.now();
    // When the last wait in poll() ended: a burst's first frames are not kept waiting for a turn
    // (an echo sent, its reply already back on the socket, is read and written before any turn).
    let wokeAt = turnedAt;
    // Busy polling: until when the loop keeps looking after the last pass that read something.
    const busyPollMs = (options.busyPollUs ?? 0) / 1000;
    let pollUntil = 0;
    // When the last pass that read something had sent it.
    let sentAt = 0;
    while (!this.stopping) {
      // Without a drain, what was read moves on the pump's turn: the loop turns every pass. Without
      // a doorbell, messages are seen only on a turn: it turns before every wait.
      let now = performance.now();
      // Busy polling: the event loop turns every INLINE_TURN_MS after the last pass, not before each look.
      const polling = !busy && !workLeft && now < pollUntil;
      // Right after a pass, only a burst (two passes or more) turns it.
      const due = busy || workLeft
        ? passes >= 2 && now - Math.max(turnedAt, wokeAt) >= INLINE_TURN_MS
        : polling ? now - Math.max(turnedAt, wokeAt, sentAt) >= INLINE_TURN_MS : doorbell === undefined || now - turnedAt >= idleTurnMs;
      if (drain === undefined || rang || due) {
        // Timers and messages run now (and the pump, without a drain).
        await new Promise<void>((resolve) => setImmediate(resolve));
        turnedAt = performance.now();
        counters.turns++;
        passes = 0;
        rang = false;
        if (this.stopping) break;
        // What the turn woke (a message's change, a port's release) moves now, not after the next read.
        if (drain !== undefined && !workLeft) workLeft = drain();
        now = performance.now();
      }
      const readers = this.readers;
      const count = readers.length;
      for (let i = 0; i < count; i++) {
        this.pollWords[i * 2] = readers[i].fd;
        this.pollHalves[i * 4 + 2] = C.POLLIN;
        this.pollHalves[i * 4 + 3] = 0;
      }
      let fds = count;
      if (doorbell !== undefined) {
        this.pollWords[count * 2] = doorbell;
        this.pollHalves[count * 4 + 2] = C.POLLIN;
        this.pollHalves[count * 4 + 3] = 0;
        fds++;
      }
      // Busy polling: look again instead of sleeping, after letting any thread that wants this CPU have it.
      const busyPolling = polling && !workLeft;
      if (busyPolling) {
        libc.sched_yield();
        counters.busyPolls++;
      }
      // Busy (or busy polling): only look. Idle: wait, but not past the next turn's timers.
      const wait = busy || workLeft || busyPolling ? 0 : doorbell === undefined ? INLINE_POLL_TIMEOUT_MS : Math.max(1, Math.min(now < wakeUntil ? spanWaitMs : idleTurnMs, Math.ceil(idleTurnMs - (now - turnedAt))));
      if (wait !== 0) counters.waits++;
      const ready = fds === 0 ? 0 : libc.pollAt(this.pollAddress, fds, wait);
      if (busyPolling && ready > 0) counters.busyPollHits++;
      if (ready < 0 && C.errno() !== C.EINTR) throw C.syscallError('poll', C.errno());
      if (ready === 0 && wait !== 0) counters.timeouts++;
      if (wait !== 0) {
        wokeAt = performance.now();
        passes = 0;
      }
      busy = false;
      for (let i = 0; ready > 0 && i < count; i++) {
        const revents = this.pollHalves[i * 4 + 3];
        if (revents === 0) continue;
        const reader = readers[i];
        try {
          if ((revents & C.POLLNVAL) !== 0) throw new Error(`poll: fd ${reader.fd} is not open (POLLNVAL)`);
          if (reader.kind !== 'datagrams' && (revents & (C.POLLERR | C.POLLHUP)) !== 0 && (revents & C.POLLIN) === 0) {
            throw new Error(`poll: the device on fd ${reader.fd} reported ${(revents & C.POLLERR) !== 0 ? 'POLLERR' : 'POLLHUP'}`);
          }
          if (reader.fill(reader.fillLimit)) {
            busy = true;
            reader.events.wake();
          }
        } catch (error) {
          this.remove(reader);
          reader.events.fail(error as Error);
        }
      }
      if (ready > 0 && doorbell !== undefined && this.pollHalves[count * 4 + 3] !== 0) {
        // A message waits for the event loop: reset the eventfd, turn before the next poll.
        libc.readAt(doorbell, this.bellAddress, 8);
        counters.rings++;
        rang = true;
      }
      if (busy) counters.reads++;
      if (drain !== undefined && (busy || workLeft)) {
        // Run to completion: what was read is switched and sent now, before the next poll.
        workLeft = drain();
        passes++;
        if (workLeft) counters.drainsBusy++;
      }
      // The window opens once what was read has been sent: a reply can only come after that.
      if (busy) {
        sentAt = performance.now();
        if (busyPollMs > 0) pollUntil = sentAt + busyPollMs;
        wakeUntil = sentAt + idleWakeSpanMs;
      }
    }
  }
}
