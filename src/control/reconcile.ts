/**
 * The reconciler: what the forwarder should hold for the other hosts of a network, made true.
 *
 * Desired state is a map host id → HostRecord (read from etcd at a revision, then kept current
 * by the watch). For each remote host the forwarder holds three things, all for the network's VNI:
 *   - its VTEP as a peer (floods go there),
 *   - a static FDB entry: its MAC is behind its VTEP (unicast goes straight there, never learned),
 *   - a neighbour entry: its overlay IP is at its MAC (ARP / ND answered locally).
 *
 * Every operation is idempotent: `apply(id, record)` for a record already programmed changes
 * nothing, `apply(id, undefined)` for a host never seen changes nothing, and `resync(desired)`
 * with the whole desired map brings any starting point to the same end state. That is why a
 * start, a watch event, a replayed event and a resync after a lost watch or a compaction are all
 * the same code.
 *
 * A piece (peer, MAC, IP) is removed only when no remaining host needs it, so two records that
 * share one (a misconfiguration, or the moment a host re-registers under a new id) never
 * remove it from under each other.
 */
import type { Endpoint } from '../forwarder/contracts';
import type { HostRecord } from './keys';

/** The part of the Forwarder's runtime API the control plane programs. */
export interface ForwarderControl {
  addPeer(vni: number, endpoint: Endpoint): void;
  removePeer(vni: number, endpoint: Endpoint): boolean;
  addFdbEntry(vni: number, mac: string, endpoint: Endpoint): void;
  removeFdbEntry(vni: number, mac: string): boolean;
  addNeighbour(vni: number, ip: string, mac: string): void;
  removeNeighbour(vni: number, ip: string): boolean;
}

export type ApplyResult = 'added' | 'changed' | 'removed' | 'unchanged' | 'invalid';

export interface ResyncResult {
  added: number;
  changed: number;
  removed: number;
  unchanged: number;
  invalid: number;
}

const endpointKey = (endpoint: Endpoint) => `${endpoint.address}|${endpoint.port}`;

function sameRecord(a: HostRecord, b: HostRecord): boolean {
  return a.mac === b.mac && a.ip === b.ip && a.vtep.address === b.vtep.address && a.vtep.port === b.vtep.port;
}

export class Reconciler {
  /** What is programmed now, per remote host id. */
  private readonly programmed = new Map<string, HostRecord>();
  /** Records the forwarder refused (e.g. an IPv6 VTEP on an IPv4 underlay): counted, not retried until they change. */
  invalid = 0;

  constructor(
    private readonly forwarder: ForwarderControl,
    readonly vni: number,
    /** This host's own id: its record is never programmed (it is not its own peer). */
    readonly selfHostId: string,
    /** Told about every record the forwarder refused (for a log line). */
    private readonly onInvalid: (hostId: string, error: Error) => void = () => undefined,
  ) {}

  /** Remote hosts programmed. */
  get size(): number {
    return this.programmed.size;
  }

  hosts(): HostRecord[] {
    return [...this.programmed.values()];
  }

  has(hostId: string): boolean {
    return this.programmed.has(hostId);
  }

  /** Make host `hostId` be `record` (undefined: gone). Idempotent. */
  apply(hostId: string, record: HostRecord | undefined): ApplyResult {
    if (hostId === this.selfHostId) return 'unchanged';
    const old = this.programmed.get(hostId);
    if (record === undefined) {
      if (old === undefined) return 'unchanged';
      this.programmed.delete(hostId);
      this.unprogram(old);
      return 'removed';
    }
    if (old !== undefined && sameRecord(old, record)) return 'unchanged';
    this.programmed.set(hostId, record);
    if (old !== undefined) this.unprogram(old);
    try {
      this.forwarder.addPeer(this.vni, record.vtep);
      this.forwarder.addFdbEntry(this.vni, record.mac, record.vtep);
      this.forwarder.addNeighbour(this.vni, record.ip, record.mac);
    } catch (error) {
      // Whatever part went in comes out again: a record is programmed whole or not at all.
      this.programmed.delete(hostId);
      try {
        this.unprogram(record);
      } catch {
        // It failed going in; what cannot be taken out was never there.
      }
      this.invalid++;
      this.onInvalid(hostId, error as Error);
      return 'invalid';
    }
    return old === undefined ? 'added' : 'changed';
  }

  /** Make the programmed state exactly `desired` (remote hosts by id). Idempotent. */
  resync(desired: ReadonlyMap<string, HostRecord>): ResyncResult {
    const result: ResyncResult = { added: 0, changed: 0, removed: 0, unchanged: 0, invalid: 0 };
    for (const hostId of [...this.programmed.keys()]) {
      if (!desired.has(hostId)) result[this.apply(hostId, undefined)]++;
    }
    for (const [hostId, record] of desired) {
      if (hostId !== this.selfHostId) result[this.apply(hostId, record)]++;
    }
    return result;
  }

  /** Take out what `record` put in, except pieces another programmed host still needs. */
  private unprogram(record: HostRecord): void {
    let ipUsed = false;
    let macUsed = false;
    let vtepUsed = false;
    const vtep = endpointKey(record.vtep);
    for (const other of this.programmed.values()) {
      if (other.ip === record.ip) ipUsed = true;
      if (other.mac === record.mac) macUsed = true;
      if (endpointKey(other.vtep) === vtep) vtepUsed = true;
    }
    // Neighbour, then FDB, then peer: removePeer also drops FDB entries that point at the VTEP.
    if (!ipUsed) this.forwarder.removeNeighbour(this.vni, record.ip);
    if (!macUsed) this.forwarder.removeFdbEntry(this.vni, record.mac);
    if (!vtepUsed) this.forwarder.removePeer(this.vni, record.vtep);
  }
}
