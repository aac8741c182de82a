/**
 * A host's lease in etcd: what makes its records live (liveness is the lease, never a timer of
 * ours). Granted when there is none or the last was lost (a re-grant counted), kept alive by the
 * client; a lost lease or a failed keepalive is trouble, told to the agent that owns it, which then
 * re-registers everything it holds under a new one. At the end it is revoked (the host leaves:
 * every other host drops its records at once) or released (they stay until the lease expires).
 * One component for the single-network Agent and the many-network HostAgent alike.
 */
import type { Etcd3, Lease } from 'etcd3';
import { withTimeout } from './network-view';

export class HostLease {
  private lease: Lease | undefined;
  private lost = false;
  /** The current lease's id ('' before the first grant): what records are put under. */
  id = '';
  /** Leases granted after the first (the previous one was lost). */
  regrants = 0;

  constructor(
    private readonly client: Etcd3,
    private readonly ttlSeconds: number,
    /** Told when the lease is lost or a keepalive fails (the owner's recovery starts there). */
    private readonly trouble: (why: string) => void,
  ) {}

  /** A lease is held and not known lost. */
  get live(): boolean {
    return this.lease !== undefined && !this.lost;
  }

  /** A live lease: the one held, or a new one granted (rejects when etcd cannot grant it). */
  async ensure(): Promise<void> {
    if (this.live) return;
    if (this.lease !== undefined) {
      this.lease.release();
      this.regrants++;
    }
    const lease = this.client.lease(this.ttlSeconds, { autoKeepAlive: true });
    this.lease = lease;
    this.lost = false;
    lease.on('lost', (error: Error) => {
      if (this.lease !== lease) return;
      this.lost = true;
      this.trouble(`the lease was lost (${error.message})`);
    });
    // (typed as a response by etcd3; it is the error)
    lease.on('keepaliveFailed', (error) => {
      if (this.lease === lease) this.trouble(`a lease keepalive failed (${(error as unknown as Error).message})`);
    });
    try {
      this.id = await lease.grant();
    } catch (error) {
      this.lost = true;
      throw error;
    }
  }

  /**
   * Let go of the lease: `leave` revokes it (the other hosts drop this one now; with etcd away it
   * expires by itself within the TTL, so shutdown never hangs on it), else it is only released.
   */
  async end(leave: boolean, logger: { warn(object: object, message: string): void }): Promise<void> {
    const lease = this.lease;
    this.lease = undefined;
    if (lease === undefined) return;
    if (!leave) {
      lease.release();
      return;
    }
    await withTimeout(lease.revoke(), 1500, 'revoking the lease').catch((error: Error) => {
      logger.warn({ err: error.message }, 'could not revoke the lease; the other hosts drop this one when it expires');
    });
  }
}
