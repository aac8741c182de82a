/**
 * A single-producer/single-consumer ring of fixed-size cells in one SharedArrayBuffer: a reader
 * worker (the producer, RingProducer) reads frames or datagrams straight into the cells, the main
 * thread (the consumer, Ring) copies them into PacketBatch slots. It never grows and never overwrites: when it is
 * full the producer waits (Atomics.wait on the tail, with a timeout so it still sees the stop
 * flag) and the kernel's own queue absorbs, then drops, the excess.
 *
 *   [ control: 16 × i32 | lengths: cells × i32 | sources: cells × 32 bytes | cells × cellSize ]
 *
 * Cells are the asked size rounded up to 64 (cache lines) apart (layout.cellSize), but the
 * producer reads at most the size asked (layout.readLength), so a caller's "asked = largest + 1,
 * a read that fills it was cut" holds exactly, whatever the rounding.
 *
 * head and tail are free-running i32 counters (wrapping at 2^31 is harmless: `(head - tail) | 0`
 * is the fill, `counter & (cells - 1)` the index, cells a power of two). A cell's length is -1
 * when what arrived did not fit (counted as oversize by the consumer, never truncated).
 */
import * as C from './libc';
import { SOCKADDR_ROOM } from './libc';

/** Copies at least this long out of a shared ring use memcpy (see Ring.copyOut). */
const NATIVE_COPY_MIN = 4096;

export const CTRL_HEAD = 0;
export const CTRL_TAIL = 1;
/** Set by the consumer to stop the producer; the producer sees it within its poll timeout. */
export const CTRL_STOP = 2;
/** 1 when the consumer found the ring empty and wants a message on the next publish. */
export const CTRL_WANT = 3;
/** Times the producer found the ring full (diagnostics). */
export const CTRL_FULL = 4;
/** What the producer dropped because it did not fit a cell (a TAP read that failed with EFAULT/EMSGSIZE). */
export const CTRL_DROPPED = 5;
/** Transient receive errors the producer skipped (ICMP errors reported on a UDP socket). */
export const CTRL_ERRORS = 6;
const CTRL_WORDS = 16;
const CELL_ALIGN = 64;
/** The largest cell: room for two 64 KB frames in a 'packed' ring (see ReaderKind). */
const MAX_CELL_SIZE = 262144 + CELL_ALIGN;

/** Everything a producer in another thread needs to find its way in the buffer. */
export interface RingLayout {
  cells: number;
  /** Bytes from one cell to the next: the size asked rounded up to 64 (cache lines). */
  cellSize: number;
  /** The size asked: the producer reads at most this many bytes into a cell, and marks a read that fills it as cut. */
  readLength: number;
  lengthsOffset: number;
  sourcesOffset: number;
  cellsOffset: number;
  byteLength: number;
}

export function ringLayout(cells: number, cellSize: number): RingLayout {
  if (!(Number.isInteger(cells) && cells >= 2 && cells <= 65536 && (cells & (cells - 1)) === 0)) {
    throw new RangeError(`ring cells must be a power of two in 2..65536, got ${String(cells)}`);
  }
  if (!(Number.isInteger(cellSize) && cellSize >= 64 && cellSize <= MAX_CELL_SIZE)) {
    throw new RangeError(`ring cellSize must be an integer in 64..${MAX_CELL_SIZE}, got ${String(cellSize)}`);
  }
  const stride = Math.ceil(cellSize / CELL_ALIGN) * CELL_ALIGN;
  const lengthsOffset = CTRL_WORDS * 4;
  const sourcesOffset = Math.ceil((lengthsOffset + cells * 4) / CELL_ALIGN) * CELL_ALIGN;
  const cellsOffset = Math.ceil((sourcesOffset + cells * SOCKADDR_ROOM) / CELL_ALIGN) * CELL_ALIGN;
  return { cells, cellSize: stride, readLength: cellSize, lengthsOffset, sourcesOffset, cellsOffset, byteLength: cellsOffset + cells * stride };
}

/** The consumer's side (main thread). */
export class Ring {
  readonly layout: RingLayout;
  readonly buffer: SharedArrayBuffer | ArrayBuffer;
  readonly control: Int32Array;
  readonly lengths: Int32Array;
  /** The whole buffer as a Buffer: `copy(target, at, start, end)` copies a cell without making a view per packet. */
  readonly bytes: Buffer;
  /** The source sockaddr of each cell (UDP), as bytes and as i32 words for cheap keys. */
  readonly sourceBytes: Uint8Array;
  readonly sourceWords: Int32Array;
  readonly mask: number;
  /** layout.cellsOffset and layout.cellSize, as fields: cellStart() runs per packet. */
  private readonly cellsOffset: number;
  private readonly cellSize: number;
  /** The buffer's address (taken on first use). */
  private baseAddress: number | undefined;
  /** The consumer's tail (mirrors control[CTRL_TAIL], which only the consumer writes). */
  private tail = 0;

  /**
   * `shared` false: the producer is this thread (an InlineReader), so the memory need not be a
   * SharedArrayBuffer, and copying out of it is a plain memcpy: V8 copies out of shared memory
   * with relaxed atomic loads, several times slower.
   */
  constructor(cells: number, cellSize: number, shared = true) {
    this.layout = ringLayout(cells, cellSize);
    this.buffer = shared ? new SharedArrayBuffer(this.layout.byteLength) : new ArrayBuffer(this.layout.byteLength);
    this.control = new Int32Array(this.buffer, 0, CTRL_WORDS);
    this.lengths = new Int32Array(this.buffer, this.layout.lengthsOffset, cells);
    this.bytes = Buffer.from(this.buffer);
    this.sourceBytes = new Uint8Array(this.buffer, this.layout.sourcesOffset, cells * SOCKADDR_ROOM);
    this.sourceWords = new Int32Array(this.buffer, this.layout.sourcesOffset, (cells * SOCKADDR_ROOM) / 4);
    this.mask = cells - 1;
    this.cellsOffset = this.layout.cellsOffset;
    this.cellSize = this.layout.cellSize;
    // The consumer starts out waiting: the producer's first publish sends a message.
    this.control[CTRL_WANT] = 1;
  }

  /** Cells published and not yet consumed. */
  available(): number {
    return (Atomics.load(this.control, CTRL_HEAD) - this.tail) | 0;
  }

  /** Index of the k-th waiting cell (k < available()). */
  index(k: number): number {
    return (this.tail + k) & this.mask;
  }

  /** Byte offset of cell `index` in the buffer. */
  cellStart(index: number): number {
    return this.cellsOffset + index * this.cellSize;
  }

  /**
   * Copy `length` bytes from `start` in the ring to `target` at `at`. Out of shared memory V8
   * copies with relaxed atomic loads, which measured several times slower than memcpy on frames
   * fresh from another thread (a 64 KB super-frame's copy was 11–18% of the forwarder's main
   * thread): long copies out of a shared ring go through libc's memcpy instead. Short ones stay in
   * JS, where a native call would cost more than it saves.
   */
  copyOut(start: number, length: number, target: Uint8Array, at: number): void {
    if (length >= NATIVE_COPY_MIN && this.buffer instanceof SharedArrayBuffer) {
      C.libc().memcpyAt(C.addressOf(target) + at, this.address(start), length);
    } else {
      this.bytes.copy(target, at, start, start + length);
    }
  }

  /** The memory address of byte `offset` of the ring (its buffer never moves), for writes straight from a cell. */
  address(offset: number): number {
    this.baseAddress ??= C.addressOf(this.bytes);
    return this.baseAddress + offset;
  }

  /** Hand `count` cells back to the producer and wake it if it waits for room. */
  release(count: number): void {
    if (count === 0) return;
    this.tail = (this.tail + count) | 0;
    Atomics.store(this.control, CTRL_TAIL, this.tail);
    Atomics.notify(this.control, CTRL_TAIL);
  }

  /**
   * After draining: ask for a message on the next publish. Returns true when something was
   * published meanwhile and nobody will be told (the caller must then wake itself). The two
   * sides' sequentially consistent atomics make either the producer see WANT=1 or us see its head.
   */
  idle(): boolean {
    Atomics.store(this.control, CTRL_WANT, 1);
    if (this.available() === 0) return false;
    return Atomics.exchange(this.control, CTRL_WANT, 0) === 1;
  }

  stop(): void {
    Atomics.store(this.control, CTRL_STOP, 1);
    Atomics.notify(this.control, CTRL_TAIL);
  }

  get stopped(): boolean {
    return Atomics.load(this.control, CTRL_STOP) !== 0;
  }
}

/**
 * The producer's side: the thread that reads the fd into the cells (a reader worker, or an
 * InlineReader in the consumer's own thread, where the memory may be a plain ArrayBuffer: it then
 * never waits, `room(head, 0)`). Only the producer moves the head; it waits for the consumer's
 * tail only when the ring is full.
 */
export class RingProducer {
  readonly control: Int32Array;
  /** Each cell's length as the producer wrote it (-1: what arrived did not fit). */
  readonly lengths: Int32Array;
  readonly mask: number;
  private readonly cells: number;

  constructor(buffer: SharedArrayBuffer | ArrayBuffer, layout: RingLayout) {
    this.control = new Int32Array(buffer, 0, CTRL_WORDS);
    this.lengths = new Int32Array(buffer, layout.lengthsOffset, layout.cells);
    this.cells = layout.cells;
    this.mask = layout.cells - 1;
  }

  /** The consumer asked the producer to stop. */
  get stopping(): boolean {
    return Atomics.load(this.control, CTRL_STOP) !== 0;
  }

  /**
   * Free cells from `head` on. When the ring is full, wait up to `waitMs` for the consumer to move
   * the tail (it notifies), never overwrite: 0 when still full (or `waitMs` is 0).
   */
  room(head: number, waitMs: number): number {
    let tail = Atomics.load(this.control, CTRL_TAIL);
    const used = (head - tail) | 0;
    if (used < this.cells || waitMs === 0) return this.cells - used;
    Atomics.add(this.control, CTRL_FULL, 1);
    Atomics.wait(this.control, CTRL_TAIL, tail, waitMs);
    tail = Atomics.load(this.control, CTRL_TAIL);
    return this.cells - ((head - tail) | 0);
  }

  /** Publish every cell up to `head`; returns true when the consumer asked to be told (CTRL_WANT). */
  publish(head: number): boolean {
    Atomics.store(this.control, CTRL_HEAD, head);
    return Atomics.exchange(this.control, CTRL_WANT, 0) === 1;
  }

  /** Count one item the producer dropped (CTRL_DROPPED) or one transient error it skipped (CTRL_ERRORS). */
  count(word: typeof CTRL_DROPPED | typeof CTRL_ERRORS): void {
    Atomics.add(this.control, word, 1);
  }
}
