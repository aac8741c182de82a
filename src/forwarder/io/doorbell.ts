/**
 * A doorbell: an eventfd one thread rings after it posts a message to a thread that waits in
 * poll() (a queue worker's InlinePoller), so that thread turns its event loop for the message then,
 * not on a timer. With it the poller need not turn the event loop before every wait (a turn costs
 * more than a lone frame's own work when the thread wakes cold) nor wake every few milliseconds to
 * look for messages while idle.
 *
 * The ringing side makes it and closes it (after the waiting thread has exited): the fd number is
 * never closed under a thread that might still write it, so a ring cannot land in a reused fd.
 */
import * as C from './libc';

/**
 * The u64 1 written by ring(), in a SharedArrayBuffer: its bytes never move. (A typed array this
 * small over a plain ArrayBuffer lives inside V8's heap, which the garbage collector moves: an
 * address taken once would go stale.)
 */
const ONE = new Uint32Array(new SharedArrayBuffer(8));
ONE[0] = 1;

export class Doorbell {
  readonly fd: number;
  private open = true;

  constructor() {
    this.fd = C.libc().eventfd(0, C.EFD_NONBLOCK | C.EFD_CLOEXEC);
    if (this.fd < 0) throw C.syscallError('eventfd', C.errno());
  }

  /** Wake the thread polling the fd (a no-op once closed). A full counter (EAGAIN) already rings. */
  ring(): void {
    if (this.open) C.libc().writeAt(this.fd, C.addressOf(ONE), 8);
  }

  /** Close the fd, once the thread that polls it is gone. Idempotent. */
  close(): void {
    if (!this.open) return;
    this.open = false;
    C.libc().close(this.fd);
  }
}
