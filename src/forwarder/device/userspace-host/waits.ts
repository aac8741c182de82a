/**
 * The host's timed waits (ARP retries, ping intervals, a stream's pacing or a full queue), and the
 * close that ends them: close() rejects every pending wait, so nothing awaits a closed host.
 */

/** Set by delay() while it waits, for a caller that wants to end the wait early (a reply arrived, the queue drained). */
export interface Wakeable {
  wake?: () => void;
}

/** A timer that close() can cancel: the promise waiting on it is rejected. */
interface Pending {
  timer: ReturnType<typeof setTimeout>;
  reject(error: Error): void;
}

export class Waits {
  private readonly pending = new Set<Pending>();
  private closedBy: Error | undefined;

  constructor(private readonly closedError: () => Error) {}

  get closed(): boolean {
    return this.closedBy !== undefined;
  }

  /** Throw the closed error once close() ran. */
  checkOpen(): void {
    if (this.closedBy !== undefined) throw this.closedError();
  }

  /** Wait `ms`; resolves true when ended early through `early.wake()`, false on time. */
  delay(ms: number, early?: Wakeable): Promise<boolean> {
    if (this.closedBy !== undefined) return Promise.reject(this.closedError());
    return new Promise<boolean>((resolve, reject) => {
      const entry: Pending = {
        timer: setTimeout(() => {
          this.pending.delete(entry);
          if (early !== undefined) early.wake = undefined;
          resolve(false);
        }, ms),
        reject: (error: Error) => {
          clearTimeout(entry.timer);
          this.pending.delete(entry);
          if (early !== undefined) early.wake = undefined;
          reject(error);
        },
      };
      this.pending.add(entry);
      if (early !== undefined) {
        early.wake = () => {
          early.wake = undefined;
          if (this.pending.delete(entry)) {
            clearTimeout(entry.timer);
            resolve(true);
          }
        };
      }
    });
  }

  /** Reject every pending wait and every later one. */
  close(): void {
    if (this.closedBy !== undefined) return;
    this.closedBy = this.closedError();
    for (const entry of [...this.pending]) entry.reject(this.closedBy);
    this.pending.clear();
  }
}
