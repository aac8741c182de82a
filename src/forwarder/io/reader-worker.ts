/**
 * A reader worker: one thread per port (reader-thread.ts, run by a ReaderWorker) that waits in
 * poll() on the port's nonblocking fd and reads what arrives straight into its Ring with a
 * ReaderCore (reader-core.ts: a TAP one read() per frame, a UDP socket recvmmsg() into the cells,
 * the tunnel TAP packed), telling the consuming thread once per wake-up when it asked (CTRL_WANT).
 *
 * The thread's module is found as the queue worker's is: reader-thread.ts next to this file when
 * running from the sources (through tsx, registered in the thread), or the built
 * dist/reader-thread.mjs when this code is bundled into dist/ (an entry or a shared chunk).
 */
import type { Worker } from 'node:worker_threads';
import { spawnModuleWorker } from './module-worker';
import type { ReaderKind } from './reader-core';
import type { Ring, RingLayout } from './ring';

export { GRO_SEGMENT_WORD, PACKED_FRAME_READ, PACKED_RECORD_HEADER, type ReaderKind } from './reader-core';

/** The wait in the thread's poll(): how soon a stop request is seen. */
export const POLL_TIMEOUT_MS = 100;

/** What a reader thread is given (structured-cloned; the buffer is shared). */
export interface ReaderThreadData {
  buffer: SharedArrayBuffer;
  layout: RingLayout;
  fd: number;
  kind: ReaderKind;
  gro: boolean;
}

export interface ReaderEvents {
  wake(): void;
  fail(error: Error): void;
}

/** Start reader-thread's module in a worker (see above for where it is found). */
function spawnReaderThread(workerData: ReaderThreadData, name: string): Worker {
  return spawnModuleWorker(import.meta.url, 'reader-thread', { workerData, name, what: 'the reader thread' });
}

/** A running reader worker for one fd and ring. */
export class ReaderWorker {
  private readonly worker: Worker;
  private readonly exited: Promise<number>;
  private stopping = false;
  private failed = false;

  /** `options.gro`: the socket has UDP_GRO on; read each datagram's segment size (see reader-core.ts). */
  constructor(readonly ring: Ring, readonly fd: number, kind: ReaderKind, readonly name: string, events: ReaderEvents, options: { gro?: boolean } = {}) {
    if (!(ring.buffer instanceof SharedArrayBuffer)) throw new TypeError(`the reader of ${name} needs a Ring in shared memory`);
    this.worker = spawnReaderThread({ buffer: ring.buffer, layout: ring.layout, fd, kind, gro: options.gro === true }, `vxlan-wasm reader ${name}`);
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
