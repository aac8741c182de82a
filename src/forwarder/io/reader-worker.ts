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
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
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
  const here = import.meta.url;
  const module = 'reader-thread';
  if (here.endsWith('.ts')) {
    const file = fileURLToPath(new URL(`./${module}.ts`, here));
    return new Worker(`require('tsx/cjs'); require(${JSON.stringify(file)});`, {
      eval: true,
      // The eval'd source is CommonJS (it calls require). A worker inherits the process's
      // execArgv, and with `node --input-type=module` that would make it an ES module.
      execArgv: process.execArgv.filter((arg) => !arg.startsWith('--input-type')),
      workerData,
      name,
    });
  }
  for (const candidate of [`./${module}.mjs`, `../${module}.mjs`]) {
    const url = new URL(candidate, here);
    if (existsSync(url)) return new Worker(url, { workerData, name });
  }
  throw new Error(`the reader thread's module (${module}.mjs) is missing next to ${fileURLToPath(here)}: is dist/ complete?`);
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
