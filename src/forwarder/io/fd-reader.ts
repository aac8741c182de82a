/**
 * What every fd the forwarder reads shares (the TAP device, the UDP underlay): its fd and
 * Ring, a start that spawns the worker once, the end of each receive (cells released, the
 * forwarder woken again when it should be) and a close that stops the worker before it closes
 * the fd. The device or underlay keeps its own receive and transmit; this holds the life cycle around them.
 */
import * as C from './libc';
import { ReaderWorker, type ReaderEvents, type ReaderKind } from './reader-worker';
import type { InlinePoller, InlineReader } from './inline-reader';
import type { Ring } from './ring';

export class FdReader<Events extends ReaderEvents> {
  /** The events given to start(), undefined before. */
  events: Events | undefined;
  private reader: ReaderWorker | undefined;
  private inline: { poller: InlinePoller; reader: InlineReader } | undefined;
  private closing: Promise<void> | undefined;

  /** `owner` names the port in errors ("TapDevice vxtap0"). */
  constructor(readonly fd: number, readonly ring: Ring, private readonly owner: string) {}

  /** close() has been called: transmit refuses, start throws. */
  get closed(): boolean {
    return this.closing !== undefined;
  }

  /**
   * Start reading the fd: in a reader worker (`name` names its thread), or with `poller` in this
   * thread (see inline-reader.ts). Once only, never after close.
   */
  start(events: Events, kind: ReaderKind, name: string, options: { gro?: boolean; poller?: InlinePoller; fillLimit?: number } = {}): void {
    if (this.events !== undefined) throw new Error(`${this.owner}: start called twice`);
    if (this.closing !== undefined) throw new Error(`${this.owner} is closed`);
    this.events = events;
    if (options.poller !== undefined) this.inline = { poller: options.poller, reader: options.poller.add(this.fd, this.ring, kind, events, options) };
    else this.reader = new ReaderWorker(this.ring, this.fd, kind, name, events, options);
  }

  /**
   * The end of a receive that took `consumed` cells: release them, and wake the forwarder again
   * when more are waiting than it asked for, or when the ring is drained (the worker then sends a
   * message for the next frame, which it does only when the consumer said it wants one).
   */
  release(consumed: number): void {
    const ring = this.ring;
    ring.release(consumed);
    if (ring.available() > 0 || ring.idle()) this.events?.wake();
  }

  /**
   * Stop the reader worker, then close the fd (the worker polls it: a number closed under it could
   * be reused by a new fd it would then read). `stopped` runs in between, for the reader's last
   * counters. Idempotent: every call returns the same promise.
   */
  close(stopped?: () => void): Promise<void> {
    if (this.closing === undefined) {
      this.closing = (async () => {
        try {
          if (this.reader !== undefined) await this.reader.stop();
          this.inline?.poller.remove(this.inline.reader);
        } finally {
          try {
            stopped?.();
          } finally {
            C.libc().close(this.fd);
          }
        }
      })();
    }
    return this.closing;
  }
}
