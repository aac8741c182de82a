/**
 * The reading itself, shared by the reader worker (reader-thread.ts, one thread per port) and the
 * InlineReader (inline-reader.ts, a queue worker reading its ports itself): a ReaderCore reads what
 * is waiting on one nonblocking fd straight into a Ring's cells without waiting, and publishes it.
 *
 * - 'frames' (a TAP): one read() per frame, one frame per cell, until EAGAIN or the limit.
 * - 'datagrams' (a UDP socket): recvmmsg() with one mmsghdr and iovec per cell, built once, the
 *   iovecs pointing into the cells and msg_name into each cell's source record. With UDP_GRO on
 *   the socket (`gro`) each entry also gets a control buffer: a datagram the kernel coalesced from
 *   one flow's burst arrives whole in one cell, with a UDP_GRO control message giving the segment
 *   size, which is stored in the cell's source record (word GRO_SEGMENT_WORD: the bytes after a
 *   sockaddr_in6, which msg_namelen keeps the kernel from writing); 0 there means one datagram.
 * - 'packed' (the tunnel TAP): one read() per frame, as many frames per cell as fit (see ReaderKind).
 *
 * The memory it reads into never moves (a SharedArrayBuffer, or an ArrayBuffer kept by its Ring),
 * so the kernel is given addresses once. An unexpected error is thrown with its errno; the caller
 * (the worker, or the InlinePoller) ends reading and reports it.
 */
import * as C from './libc';
import { CTRL_DROPPED, CTRL_ERRORS, RingProducer, type RingLayout } from './ring';

/**
 * 'frames': one read() per frame, one frame per cell (TAP). 'datagrams': recvmmsg() with sources
 * (UDP). 'packed': one read() per frame, as many frames per cell as fit with room for the largest
 * (PACKED_FRAME_READ) left: each a record [i32 length (-1: cut), frame, padding to 4 bytes], the
 * cell's length the bytes used. Big cells, few of them: a 64 KB frame takes a cell, a thousand
 * small ones take a few, so the ring stays small enough to be warm in the cache either way.
 */
export type ReaderKind = 'frames' | 'datagrams' | 'packed';

/** The most a 'packed' read asks for: a 64 KB IP packet, Ethernet and a 24-byte virtio-net header, and one byte to see a cut. */
export const PACKED_FRAME_READ = 24 + 14 + 65535 + 1;
/** A 'packed' record's length word, in front of its frame. */
export const PACKED_RECORD_HEADER = 4;
/**
 * With `gro`: the i32 of a cell's 32-byte source record (SOCKADDR_ROOM) holding the UDP_GRO segment
 * size (0: not coalesced). Bytes 28..31 follow a sockaddr_in6 and the kernel is never given them.
 */
export const GRO_SEGMENT_WORD = 7;
/** Datagrams asked of one recvmmsg() call. */
const RECV_BATCH = 64;
/** Room for one entry's control messages (a UDP_GRO cmsg is CMSG_SPACE_INT bytes). */
const CONTROL_ROOM = 64;
const TWO_32 = 4294967296;
/** recvmmsg errors that are about an earlier send (ICMP reported on the socket), not the socket. */
const TRANSIENT: readonly number[] = [C.ENETUNREACH, C.ECONNREFUSED, C.EHOSTUNREACH, C.EHOSTDOWN];

/** A failed call, with its errno, as the reader reports it ("read failed on fd 7: errno 5"). */
function failed(what: string, fd: number): never {
  const code = C.errno();
  const error = new Error(`${what} failed on fd ${fd}: errno ${code}`) as Error & { errno: number };
  error.errno = code;
  throw error;
}

export class ReaderCore {
  /** The producer's position: cells read so far (free-running, as the Ring's counters). */
  head = 0;
  readonly producer: RingProducer;
  private readonly libc = C.libc();
  private readonly cellsAddress: number;
  private readonly cellSize: number;
  private readonly readLength: number;
  private readonly cells: number;
  // 'datagrams': the mmsghdr array with the iovecs after it, as u32 words, and its address.
  private readonly mm: Uint32Array | undefined;
  private readonly mmAddress: number = 0;
  // With gro: a control buffer per cell, and the source records as i32s (for the GRO word).
  private readonly control: Int32Array | undefined;
  private readonly groWords: Int32Array | undefined;
  /** The source room given to the kernel: a sockaddr_in6 at most with `gro`, so the GRO word stays ours. */
  private readonly nameRoom: number;
  // 'packed': the cells as i32s, for the records' length words (cells and records are 4-aligned).
  private readonly cellWords: Int32Array | undefined;

  constructor(buffer: SharedArrayBuffer | ArrayBuffer, layout: RingLayout, readonly fd: number, readonly kind: ReaderKind, readonly gro: boolean) {
    this.producer = new RingProducer(buffer, layout);
    const ringAddress = C.addressOf(new Uint8Array(buffer));
    this.cellsAddress = ringAddress + layout.cellsOffset;
    this.cellSize = layout.cellSize;
    this.readLength = layout.readLength;
    this.cells = layout.cells;
    this.nameRoom = gro ? C.SOCKADDR_IN6_SIZE : C.SOCKADDR_ROOM;
    if (kind === 'packed') this.cellWords = new Int32Array(buffer, layout.cellsOffset, (layout.cells * layout.cellSize) >>> 2);
    if (kind !== 'datagrams') return;
    // One mmsghdr and one iovec per cell, built once: recvmmsg fills cell k through entry k.
    const mmBuffer = new SharedArrayBuffer(layout.cells * (C.MMSGHDR_SIZE + C.IOVEC_SIZE));
    const mm = new Uint32Array(mmBuffer);
    this.mm = mm;
    this.mmAddress = C.addressOf(new Uint8Array(mmBuffer));
    const sourcesAddress = ringAddress + layout.sourcesOffset;
    const iovs = layout.cells * C.MMSGHDR_SIZE;
    for (let k = 0; k < layout.cells; k++) {
      const m = k * C.MMSGHDR_SIZE;
      this.put(m + C.MSG_NAME, sourcesAddress + k * C.SOCKADDR_ROOM);
      this.put(m + C.MSG_IOV, this.mmAddress + iovs + k * C.IOVEC_SIZE);
      this.put(m + C.MSG_IOVLEN, 1);
      this.put(iovs + k * C.IOVEC_SIZE + C.IOV_BASE, this.cellsAddress + k * layout.cellSize);
      this.put(iovs + k * C.IOVEC_SIZE + C.IOV_LEN, layout.readLength);
    }
    if (gro) {
      const controlBuffer = new SharedArrayBuffer(layout.cells * CONTROL_ROOM);
      this.control = new Int32Array(controlBuffer);
      const controlAddress = C.addressOf(new Uint8Array(controlBuffer));
      for (let k = 0; k < layout.cells; k++) this.put(k * C.MMSGHDR_SIZE + C.MSG_CONTROL, controlAddress + k * CONTROL_ROOM);
      this.groWords = new Int32Array(buffer, layout.sourcesOffset, (layout.cells * C.SOCKADDR_ROOM) >>> 2);
    }
  }

  /**
   * Read what is waiting (at most `limit` frames or datagrams) into the ring, without waiting and
   * without publishing it; true when something was read. 'frames' stop early once `bytes` have
   * been read (small frames come many to a pass, 64 KB ones few).
   */
  read(limit: number, bytes = Infinity): boolean {
    const before = this.head;
    if (this.kind === 'frames') this.readFrames(limit, bytes);
    else if (this.kind === 'packed') this.readPacked(limit);
    else this.readDatagrams(limit);
    return this.head !== before;
  }

  /** Publish what was read; true when the consumer asked to be told. */
  publish(): boolean {
    return this.producer.publish(this.head);
  }

  /** A 64-bit value (an address, a length) at `byteOffset` of the mmsghdr array, as two u32 words. */
  private put(byteOffset: number, value: number): void {
    const mm = this.mm!;
    mm[byteOffset >>> 2] = value % TWO_32;
    mm[(byteOffset >>> 2) + 1] = Math.floor(value / TWO_32);
  }

  private readFrames(limit: number, bytes: number): void {
    const producer = this.producer;
    let room = Math.min(producer.room(this.head, 0), limit);
    let left = bytes;
    while (room > 0 && left > 0) {
      const k = this.head & producer.mask;
      const n = this.libc.readAt(this.fd, this.cellsAddress + k * this.cellSize, this.readLength);
      if (n < 0) {
        const code = C.errno();
        if (code === C.EAGAIN) return;
        if (code === C.EINTR) continue;
        // The TAP driver drops a frame longer than the buffer and says EFAULT: count it, go on.
        if (code === C.EFAULT || code === C.EMSGSIZE) {
          producer.count(CTRL_DROPPED);
          continue;
        }
        failed('read', this.fd);
      }
      // A frame that filled the size asked (readLength, not the rounded cell) may have been cut:
      // marked oversize, never delivered cut.
      producer.lengths[k] = n >= this.readLength ? -1 : n;
      this.head = (this.head + 1) | 0;
      room--;
      left -= n;
    }
  }

  private readPacked(limit: number): void {
    const producer = this.producer;
    const cellWords = this.cellWords!;
    let room = producer.room(this.head, 0);
    let frames = 0;
    while (room > 0 && frames < limit) {
      const k = this.head & producer.mask;
      const cell = k * this.cellSize;
      let used = 0;
      let drained = false;
      while (frames < limit && used + PACKED_RECORD_HEADER + PACKED_FRAME_READ <= this.cellSize) {
        const n = this.libc.readAt(this.fd, this.cellsAddress + cell + used + PACKED_RECORD_HEADER, PACKED_FRAME_READ);
        if (n < 0) {
          const code = C.errno();
          if (code === C.EAGAIN) {
            drained = true;
            break;
          }
          if (code === C.EINTR) continue;
          if (code === C.EFAULT || code === C.EMSGSIZE) {
            producer.count(CTRL_DROPPED);
            continue;
          }
          failed('read', this.fd);
        }
        cellWords[(cell + used) >>> 2] = n >= PACKED_FRAME_READ ? -1 : n;
        used += PACKED_RECORD_HEADER + ((n + 3) & ~3);
        frames++;
      }
      if (used === 0) return;
      producer.lengths[k] = used;
      this.head = (this.head + 1) | 0;
      room--;
      if (drained) return;
    }
  }

  private readDatagrams(limit: number): void {
    const producer = this.producer;
    const mm = this.mm!;
    let room = Math.min(producer.room(this.head, 0), limit);
    while (room > 0) {
      const k = this.head & producer.mask;
      const vlen = Math.min(room, this.cells - k, RECV_BATCH);
      // msg_namelen (and msg_controllen) are in/out: give each entry the room again.
      for (let j = 0; j < vlen; j++) mm[((k + j) * C.MMSGHDR_SIZE + C.MSG_NAMELEN) >>> 2] = this.nameRoom;
      if (this.gro) for (let j = 0; j < vlen; j++) this.put((k + j) * C.MMSGHDR_SIZE + C.MSG_CONTROLLEN, CONTROL_ROOM);
      const r = this.libc.recvmmsgAt(this.fd, this.mmAddress + k * C.MMSGHDR_SIZE, vlen, C.MSG_DONTWAIT, 0);
      if (r < 0) {
        const code = C.errno();
        if (code === C.EAGAIN) return;
        if (code === C.EINTR) continue;
        if (TRANSIENT.includes(code)) {
          producer.count(CTRL_ERRORS);
          continue;
        }
        failed('recvmmsg', this.fd);
      }
      for (let j = 0; j < r; j++) {
        const m = ((k + j) * C.MMSGHDR_SIZE) >>> 2;
        producer.lengths[k + j] = (mm[m + (C.MSG_FLAGS >>> 2)] & C.MSG_TRUNC) !== 0 ? -1 : mm[m + (C.MSG_LEN >>> 2)];
        if (this.gro) this.groWords![(((k + j) * C.SOCKADDR_ROOM) >>> 2) + GRO_SEGMENT_WORD] = this.groSegment(k + j);
      }
      this.head = (this.head + r) | 0;
      room -= r;
      if (r < vlen) return;
    }
  }

  /** The UDP_GRO segment size in entry k's control messages, or 0. */
  private groSegment(k: number): number {
    const length = this.mm![(k * C.MMSGHDR_SIZE + C.MSG_CONTROLLEN) >>> 2];
    const control = this.control!;
    const w = (k * CONTROL_ROOM) >>> 2;
    let at = 0;
    while (at + C.CMSG_DATA + 4 <= length) {
      const cmsgLength = control[w + (at >>> 2)];
      if (cmsgLength < C.CMSG_DATA) return 0;
      if (control[w + ((at + C.CMSG_LEVEL) >>> 2)] === C.SOL_UDP && control[w + ((at + C.CMSG_TYPE) >>> 2)] === C.UDP_GRO) {
        return control[w + ((at + C.CMSG_DATA) >>> 2)];
      }
      at += (cmsgLength + 7) & ~7;
    }
    return 0;
  }
}
