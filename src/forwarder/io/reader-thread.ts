/**
 * A reader worker's thread (started by ReaderWorker in reader-worker.ts; built as
 * dist/reader-thread.mjs): it waits in poll() on one nonblocking fd and reads what arrives straight
 * into a Ring's cells with a ReaderCore, many per wake-up, publishes the head, and tells the
 * consuming thread once per wake-up, only when it said it had drained the ring (CTRL_WANT), so a
 * busy port costs no message per batch and the consumer never polls.
 *
 * poll() waits at most POLL_TIMEOUT_MS so the stop flag is seen that soon (closing the fd under a
 * thread blocked in read() would not wake it). Any unexpected error ends the thread with an
 * exception; ReaderWorker reports it through its `fail` unless it asked the thread to stop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as C from './libc';
import { ReaderCore } from './reader-core';
import { POLL_TIMEOUT_MS, type ReaderThreadData } from './reader-worker';

const { buffer, layout, fd, kind, gro } = workerData as ReaderThreadData;
const core = new ReaderCore(buffer, layout, fd, kind, gro);
const producer = core.producer;
const libc = C.libc();
// struct pollfd in memory that never moves (a SharedArrayBuffer), passed by address.
const pollBuffer = new SharedArrayBuffer(C.POLLFD_SIZE);
new Int32Array(pollBuffer, 0, 1)[0] = fd;
const pollHalves = new Int16Array(pollBuffer, 4, 2);
pollHalves[0] = C.POLLIN;
const pollAddress = C.addressOf(new Uint8Array(pollBuffer));
// Read everything waiting in one wake-up (a packed ring's limit is its cells' room).
const limit = kind === 'packed' ? 1 << 30 : layout.cells;

while (!producer.stopping) {
  // Full ring: wait for room (bounded, so the stop flag is seen), read nothing meanwhile.
  if (producer.room(core.head, POLL_TIMEOUT_MS) <= 0) continue;
  const ready = libc.pollAt(pollAddress, 1, POLL_TIMEOUT_MS);
  if (ready < 0) {
    if (C.errno() === C.EINTR) continue;
    throw C.syscallError(`poll on fd ${fd}`, C.errno());
  }
  if (ready === 0) continue;
  const revents = pollHalves[1];
  if ((revents & C.POLLNVAL) !== 0) throw new Error(`poll: fd ${fd} is not open (POLLNVAL)`);
  if (kind !== 'datagrams' && (revents & (C.POLLERR | C.POLLHUP)) !== 0 && (revents & C.POLLIN) === 0) {
    throw new Error(`poll: the device on fd ${fd} reported ${(revents & C.POLLERR) !== 0 ? 'POLLERR' : 'POLLHUP'}`);
  }
  if (core.read(limit) && core.publish()) parentPort!.postMessage(0);
}
