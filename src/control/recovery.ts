/**
 * The recovery from trouble that the single-network Agent and the many-network HostAgent share
 * (trouble: the lease lost, a keepalive failed, a watch broke, our own record vanished). The
 * forwarder keeps its last state while attempts run, each putting back what the agent holds and
 * resyncing; a failed attempt is retried after a doubling wait (retryMinMs, default 200 ms, up to
 * retryMaxMs, default 2 s), until one succeeds, the agent closes, or one fails in a way retrying
 * cannot mend (the agent says which). Trouble during a recovery joins it: one loop at a time.
 * What an attempt does is the agent's; when to try, the connection state and its log lines are here.
 */
import type { AgentLogger } from './logger';

export interface RecoveryOptions {
  logger: AgentLogger;
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Told every change of connection (the agents emit 'connected' / 'disconnected'). */
  onConnected: (connected: boolean) => void;
  /** Trouble begins: the watchers are dropped (a resync makes them again). */
  onTrouble: () => void;
  /** One attempt: put back what the agent holds and resync; its fields go into the "resynced" line. */
  attempt: () => Promise<object>;
  /** An error retrying will not mend: the loop stops and it goes to onFatal. */
  isFatal?: (error: unknown) => boolean;
  onFatal?: (error: Error) => void;
  /** More fields for the "lost etcd" line (e.g. how many hosts the forwarder keeps). */
  describe?: () => object;
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class Recovery {
  private connectedNow = false;
  private recovering = false;
  private closed = false;
  /** Successful recoveries. */
  resyncs = 0;
  /** When etcd was last lost (ms, Date.now), while disconnected. */
  disconnectedSince: number | undefined;

  constructor(private readonly options: RecoveryOptions) {}

  get connected(): boolean {
    return this.connectedNow;
  }

  /** Connected after the start (or not): told to onConnected once per change. */
  setConnected(connected: boolean): void {
    if (this.connectedNow === connected) return;
    this.connectedNow = connected;
    this.disconnectedSince = connected ? undefined : Date.now();
    this.options.onConnected(connected);
  }

  /** Something broke: keep forwarding on the last state, and recover until it works again. */
  trouble(reason: string): void {
    if (this.closed || this.recovering) return;
    this.recovering = true;
    if (this.connectedNow) this.options.logger.warn({ reason, ...this.options.describe?.() }, 'lost etcd; forwarding continues on the last known state');
    this.setConnected(false);
    this.options.onTrouble();
    void this.recover(reason);
  }

  /** No more attempts (the one under way finishes). */
  close(): void {
    this.closed = true;
  }

  private async recover(reason: string): Promise<void> {
    const { logger } = this.options;
    let wait = this.options.retryMinMs ?? 200;
    let attempts = 0;
    while (!this.closed) {
      await delay(wait);
      if (this.closed) break;
      attempts++;
      try {
        const fields = await this.options.attempt();
        this.resyncs++;
        this.recovering = false;
        this.setConnected(true);
        logger.info({ reason, attempts, ...fields }, 'resynced with etcd');
        return;
      } catch (error) {
        if (this.options.isFatal?.(error) === true) {
          this.recovering = false;
          this.options.onFatal?.(error as Error);
          return;
        }
        logger.debug({ err: (error as Error).message, attempts }, 'resync failed; retrying');
        wait = Math.min(wait * 2, this.options.retryMaxMs ?? 2000);
      }
    }
    this.recovering = false;
  }
}
