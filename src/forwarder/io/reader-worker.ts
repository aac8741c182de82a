/**
 * The reader worker: one thread per port that waits in poll() on a nonblocking fd and reads what
 * arrives straight into a Ring's cells, many per wake-up (a TAP: one read() per frame until
 * EAGAIN or a full ring; a UDP socket: recvmmsg() with iovecs pointing into the cells and
 * msg_name into each cell's source area). It publishes the head and tells the main thread once
 * per wake-up, and only when the main thread said it had drained the ring (CTRL_WANT), so a busy
 * port costs no message per batch and the main thread never polls.
 *
 * With UDP_GRO on the socket (`gro`), each recvmmsg entry also gets a control buffer: a datagram
 * the kernel coalesced from one flow's burst arrives whole in one cell, with a UDP_GRO control
 * message giving the segment size, which the worker stores in the cell's source record (word 7:
 * the bytes after a sockaddr_in6, which msg_namelen keeps the kernel from writing). 0 there means
 * one plain datagram. The consumer splits the cell back into datagrams.
 *
 * poll() has a 100 ms timeout so the stop flag is seen within 100 ms (closing the fd under a
 * thread blocked in read() would not wake it). Any unexpected error ends the worker with an
 * exception; the main thread reports it through `onFail` unless it asked the worker to stop.
 *
 * The worker's code is a string (an eval worker): it works alike from src/ under tsx and from the
 * bundled dist/ ESM and CJS, with no worker file to find at run time.
 */
import { Worker } from 'node:worker_threads';
import * as C from './libc';
import { CTRL_DROPPED, CTRL_ERRORS, RING_PRODUCER_SOURCE, type Ring } from './ring';

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

/** The wait in poll(): how soon a stop request is seen. */
export const POLL_TIMEOUT_MS = 100;
/** Datagrams asked of one recvmmsg() call. */
const RECV_BATCH = 64;
/**
 * With `gro`: the i32 of a cell's 32-byte source record (SOCKADDR_ROOM) holding the UDP_GRO segment
 * size (0: not coalesced). Bytes 28..31 follow a sockaddr_in6 and the kernel is never given them.
 */
export const GRO_SEGMENT_WORD = 7;

export const READER_CONSTANTS = {
  POLLIN: C.POLLIN, POLLERR: C.POLLERR, POLLHUP: C.POLLHUP, POLLNVAL: C.POLLNVAL,
  EAGAIN: C.EAGAIN, EINTR: C.EINTR, EFAULT: C.EFAULT, EMSGSIZE: C.EMSGSIZE,
  MSG_DONTWAIT: C.MSG_DONTWAIT, MSG_TRUNC: C.MSG_TRUNC,
  MMSGHDR_SIZE: C.MMSGHDR_SIZE, IOVEC_SIZE: C.IOVEC_SIZE, SOCKADDR_ROOM: C.SOCKADDR_ROOM,
  MSG_NAME: C.MSG_NAME, MSG_NAMELEN: C.MSG_NAMELEN, MSG_IOV: C.MSG_IOV, MSG_IOVLEN: C.MSG_IOVLEN,
  MSG_FLAGS: C.MSG_FLAGS, MSG_LEN: C.MSG_LEN, IOV_BASE: C.IOV_BASE, IOV_LEN: C.IOV_LEN,
  MSG_CONTROL: C.MSG_CONTROL, MSG_CONTROLLEN: C.MSG_CONTROLLEN, SOCKADDR_IN6_SIZE: C.SOCKADDR_IN6_SIZE,
  SOL_UDP: C.SOL_UDP, UDP_GRO: C.UDP_GRO, CMSG_LEVEL: C.CMSG_LEVEL, CMSG_TYPE: C.CMSG_TYPE, CMSG_DATA: C.CMSG_DATA,
  CONTROL_ROOM: 64, GRO_WORD: GRO_SEGMENT_WORD,
  CTRL_DROPPED, CTRL_ERRORS, POLL_TIMEOUT_MS, RECV_BATCH, PACKED_FRAME_READ, PACKED_RECORD_HEADER,
  /** recvmmsg errors that are about an earlier send (ICMP reported on the socket), not the socket. */
  TRANSIENT: [C.ENETUNREACH, C.ECONNREFUSED, C.EHOSTUNREACH, C.EHOSTDOWN],
};

/**
 * The reading itself, shared by the reader worker (below) and the InlineReader (inline-reader.ts,
 * which runs it in the consuming thread): with koffi, the libc functions `f`, and the ring (`sab`,
 * `layout`), `fd`, `kind`, the constants `c` and `gro` in scope, it defines readFrames(limit) and
 * readDatagrams(limit), which read at most `limit` frames or datagrams into the ring without
 * waiting (and readPacked(limit), frames into 'packed' cells), `head` (the producer's position)
 * and the poll() buffer for this fd.
 */
export const READER_CORE_SOURCE = `
${RING_PRODUCER_SOURCE}
const TWO_32 = 4294967296;
const ringAddress = Number(koffi.address(new Uint8Array(sab)));
const cellsAddress = ringAddress + layout.cellsOffset;
const sourcesAddress = ringAddress + layout.sourcesOffset;

// struct pollfd in memory that never moves (a SharedArrayBuffer), passed by address.
const pollBuffer = new SharedArrayBuffer(8);
new Int32Array(pollBuffer, 0, 1)[0] = fd;
new Int16Array(pollBuffer, 4, 2)[0] = c.POLLIN;
const pollRevents = new Int16Array(pollBuffer, 4, 2);
const pollAddress = Number(koffi.address(new Uint8Array(pollBuffer)));

function failed(what) {
  const code = koffi.errno();
  const error = new Error(what + ' failed on fd ' + fd + ': errno ' + code);
  error.errno = code;
  throw error;
}

// UDP: one mmsghdr and one iovec per cell, built once. recvmmsg fills cell k through entry k.
let mm = null;
let mmAddress = 0;
// With gro: a control buffer per cell (in memory that never moves) and the source records as i32s.
let control = null;
let groWords = null;
function put(byteOffset, value) {
  mm[byteOffset >>> 2] = value % TWO_32;
  mm[(byteOffset >>> 2) + 1] = Math.floor(value / TWO_32);
}
if (kind === 'datagrams') {
  const mmBuffer = new SharedArrayBuffer(layout.cells * (c.MMSGHDR_SIZE + c.IOVEC_SIZE));
  mm = new Uint32Array(mmBuffer);
  mmAddress = Number(koffi.address(new Uint8Array(mmBuffer)));
  const iovs = layout.cells * c.MMSGHDR_SIZE;
  for (let k = 0; k < layout.cells; k++) {
    const m = k * c.MMSGHDR_SIZE;
    put(m + c.MSG_NAME, sourcesAddress + k * c.SOCKADDR_ROOM);
    put(m + c.MSG_IOV, mmAddress + iovs + k * c.IOVEC_SIZE);
    put(m + c.MSG_IOVLEN, 1);
    put(iovs + k * c.IOVEC_SIZE + c.IOV_BASE, cellsAddress + k * layout.cellSize);
    put(iovs + k * c.IOVEC_SIZE + c.IOV_LEN, layout.readLength);
  }
  if (gro) {
    const controlBuffer = new SharedArrayBuffer(layout.cells * c.CONTROL_ROOM);
    control = new Int32Array(controlBuffer);
    const controlAddress = Number(koffi.address(new Uint8Array(controlBuffer)));
    for (let k = 0; k < layout.cells; k++) put(k * c.MMSGHDR_SIZE + c.MSG_CONTROL, controlAddress + k * c.CONTROL_ROOM);
    groWords = new Int32Array(sab, layout.sourcesOffset, (layout.cells * c.SOCKADDR_ROOM) >>> 2);
  }
}
// The source room given to the kernel: a sockaddr_in6 at most, so the GRO word stays ours.
const nameRoom = gro ? c.SOCKADDR_IN6_SIZE : c.SOCKADDR_ROOM;

/** The UDP_GRO segment size in entry k's control messages, or 0. */
function groSegment(k) {
  const m = (k * c.MMSGHDR_SIZE + c.MSG_CONTROLLEN) >>> 2;
  const length = mm[m];
  const w = (k * c.CONTROL_ROOM) >>> 2;
  let at = 0;
  while (at + c.CMSG_DATA + 4 <= length) {
    const cmsgLength = control[w + (at >>> 2)];
    if (cmsgLength < c.CMSG_DATA) return 0;
    if (control[w + ((at + c.CMSG_LEVEL) >>> 2)] === c.SOL_UDP && control[w + ((at + c.CMSG_TYPE) >>> 2)] === c.UDP_GRO) {
      return control[w + ((at + c.CMSG_DATA) >>> 2)];
    }
    at += (cmsgLength + 7) & ~7;
  }
  return 0;
}

let head = 0;

function readFrames(limit) {
  let room = Math.min(ringRoom(head, 0), limit);
  while (room > 0) {
    const k = head & ringMask;
    const n = f.readAt(fd, cellsAddress + k * layout.cellSize, layout.readLength);
    if (n < 0) {
      const code = koffi.errno();
      if (code === c.EAGAIN) return;
      if (code === c.EINTR) continue;
      // The TAP driver drops a frame longer than the buffer and says EFAULT: count it, go on.
      if (code === c.EFAULT || code === c.EMSGSIZE) { Atomics.add(ringControl, c.CTRL_DROPPED, 1); continue; }
      failed('read');
    }
    // A frame that filled the size asked (readLength, not the rounded cell) may have been cut:
    // marked oversize, never delivered cut.
    ringLengths[k] = n >= layout.readLength ? -1 : n;
    head = (head + 1) | 0;
    room--;
  }
}

// 'packed': the cells as i32s, for the records' length words (cells and records are 4-aligned).
const cellWords = kind === 'packed' ? new Int32Array(sab, layout.cellsOffset, (layout.cells * layout.cellSize) >>> 2) : null;

function readPacked(limit) {
  let room = ringRoom(head, 0);
  let frames = 0;
  while (room > 0 && frames < limit) {
    const k = head & ringMask;
    const cell = k * layout.cellSize;
    let used = 0;
    let drained = false;
    while (frames < limit && used + c.PACKED_RECORD_HEADER + c.PACKED_FRAME_READ <= layout.cellSize) {
      const n = f.readAt(fd, cellsAddress + cell + used + c.PACKED_RECORD_HEADER, c.PACKED_FRAME_READ);
      if (n < 0) {
        const code = koffi.errno();
        if (code === c.EAGAIN) { drained = true; break; }
        if (code === c.EINTR) continue;
        if (code === c.EFAULT || code === c.EMSGSIZE) { Atomics.add(ringControl, c.CTRL_DROPPED, 1); continue; }
        failed('read');
      }
      const cut = n >= c.PACKED_FRAME_READ;
      cellWords[(cell + used) >>> 2] = cut ? -1 : n;
      used += c.PACKED_RECORD_HEADER + ((n + 3) & ~3);
      frames++;
    }
    if (used === 0) return;
    ringLengths[k] = used;
    head = (head + 1) | 0;
    room--;
    if (drained) return;
  }
}

function readDatagrams(limit) {
  let room = Math.min(ringRoom(head, 0), limit);
  while (room > 0) {
    const k = head & ringMask;
    const vlen = Math.min(room, layout.cells - k, c.RECV_BATCH);
    // msg_namelen (and msg_controllen) are in/out: give each entry the room again.
    for (let j = 0; j < vlen; j++) mm[((k + j) * c.MMSGHDR_SIZE + c.MSG_NAMELEN) >>> 2] = nameRoom;
    if (gro) for (let j = 0; j < vlen; j++) put((k + j) * c.MMSGHDR_SIZE + c.MSG_CONTROLLEN, c.CONTROL_ROOM);
    const r = f.recvmmsgAt(fd, mmAddress + k * c.MMSGHDR_SIZE, vlen, c.MSG_DONTWAIT, 0);
    if (r < 0) {
      const code = koffi.errno();
      if (code === c.EAGAIN) return;
      if (code === c.EINTR) continue;
      if (c.TRANSIENT.includes(code)) { Atomics.add(ringControl, c.CTRL_ERRORS, 1); continue; }
      failed('recvmmsg');
    }
    for (let j = 0; j < r; j++) {
      const m = ((k + j) * c.MMSGHDR_SIZE) >>> 2;
      ringLengths[k + j] = (mm[m + (c.MSG_FLAGS >>> 2)] & c.MSG_TRUNC) !== 0 ? -1 : mm[m + (c.MSG_LEN >>> 2)];
      if (gro) groWords[(((k + j) * c.SOCKADDR_ROOM) >>> 2) + c.GRO_WORD] = groSegment(k + j);
    }
    head = (head + r) | 0;
    room -= r;
    if (r < vlen) return;
  }
}
`;

export const READER_WORKER_SOURCE = `'use strict';
const { workerData, parentPort } = require('node:worker_threads');
const koffi = require(workerData.koffiPath);
const lib = koffi.load(workerData.soname);
const f = {};
for (const name of Object.keys(workerData.prototypes)) f[name] = lib.func(workerData.prototypes[name]);
const { sab, layout, fd, kind, c, gro } = workerData;
${READER_CORE_SOURCE}
while (!ringStopping()) {
  // Full ring: wait for room (bounded, so the stop flag is seen), read nothing meanwhile.
  if (ringRoom(head, c.POLL_TIMEOUT_MS) <= 0) continue;
  const ready = f.pollAt(pollAddress, 1, c.POLL_TIMEOUT_MS);
  if (ready < 0) {
    if (koffi.errno() === c.EINTR) continue;
    failed('poll');
  }
  if (ready === 0) continue;
  const revents = pollRevents[1];
  if ((revents & c.POLLNVAL) !== 0) throw new Error('poll: fd ' + fd + ' is not open (POLLNVAL)');
  if (kind !== 'datagrams' && (revents & (c.POLLERR | c.POLLHUP)) !== 0 && (revents & c.POLLIN) === 0) {
    throw new Error('poll: the device on fd ' + fd + ' reported ' + ((revents & c.POLLERR) !== 0 ? 'POLLERR' : 'POLLHUP'));
  }
  const before = head;
  if (kind === 'frames') readFrames(layout.cells); else if (kind === 'packed') readPacked(1 << 30); else readDatagrams(layout.cells);
  if (head !== before && ringPublish(head)) parentPort.postMessage(0);
}
`;

export interface ReaderEvents {
  wake(): void;
  fail(error: Error): void;
}

/** A running reader worker for one fd and ring. */
export class ReaderWorker {
  private readonly worker: Worker;
  private readonly exited: Promise<number>;
  private stopping = false;
  private failed = false;

  /** `options.gro`: the socket has UDP_GRO on; read each datagram's segment size (see above). */
  constructor(readonly ring: Ring, readonly fd: number, kind: ReaderKind, readonly name: string, events: ReaderEvents, options: { gro?: boolean } = {}) {
    this.worker = new Worker(READER_WORKER_SOURCE, {
      eval: true,
      // The source is CommonJS (it calls require). A worker inherits the process's execArgv, and
      // with `node --input-type=module` that would make the eval'd source an ES module.
      execArgv: process.execArgv.filter((arg) => !arg.startsWith('--input-type')),
      name: `vxlan-wasm reader ${name}`,
      workerData: {
        koffiPath: C.koffiPath(), soname: C.LIBC_SONAME, prototypes: C.LIBC_PROTOTYPES,
        sab: ring.buffer, layout: ring.layout, fd, kind, c: READER_CONSTANTS, gro: options.gro === true,
      },
    });
    const fail = (error: Error): void => {
      if (this.stopping || this.failed) return;
      this.failed = true;
      const wrapped = new Error(`the reader of ${name} failed: ${error.message}`, { cause: error });
      events.fail(wrapped);
    };
    this.worker.on('message', () => events.wake());
    this.worker.on('error', fail);
    this.exited = new Promise((resolve) => {
      this.worker.on('exit', (code) => {
        fail(new Error(`its worker exited with code ${code}`));
        resolve(code);
      });
    });
  }

  /** Stop the worker (it sees the flag within POLL_TIMEOUT_MS) and wait for it to exit. The fd stays open. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.ring.stop();
    const timer = setTimeout(() => void this.worker.terminate(), 10 * POLL_TIMEOUT_MS);
    try {
      await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}
