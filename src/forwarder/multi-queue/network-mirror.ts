/**
 * What a MultiQueueForwarder has told its queues about one VNI: the peers, the static FDB entries
 * and the neighbours, so that its queries (`peers`, `staticFdbEntries`, `neighbours`) and the
 * booleans of its `remove*` methods are answered without asking the workers. Every change is O(1):
 * peers and entries are keyed, and each peer's entries are indexed, so a peer's removal takes its
 * entries without a scan (as Forwarder's FDB does).
 */
import type { Endpoint } from '../contracts';

const keyOf = (endpoint: Endpoint): string => `${endpoint.address}|${endpoint.port}`;

export class NetworkMirror {
  private readonly peerSet = new Map<string, Endpoint>();
  /** MAC key → the endpoint of its static entry. */
  private readonly fdb = new Map<number, Endpoint>();
  /** Endpoint key → the MAC keys of the static entries behind it. */
  private readonly fdbByEndpoint = new Map<string, Set<number>>();
  private readonly neighbourMap = new Map<string, string>();

  /** Endpoints and addresses are canonical here: the owner checks and canonicalises first. */
  addPeer(endpoint: Endpoint): boolean {
    const key = keyOf(endpoint);
    if (this.peerSet.has(key)) return false;
    this.peerSet.set(key, endpoint);
    return true;
  }

  /** Remove a peer and, as Forwarder does, the static entries behind it. */
  removePeer(endpoint: Endpoint): boolean {
    const key = keyOf(endpoint);
    if (!this.peerSet.delete(key)) return false;
    for (const mac of this.fdbByEndpoint.get(key) ?? []) this.fdb.delete(mac);
    this.fdbByEndpoint.delete(key);
    return true;
  }

  setFdbEntry(mac: number, endpoint: Endpoint): void {
    this.deleteFdbEntry(mac);
    this.fdb.set(mac, endpoint);
    const key = keyOf(endpoint);
    let macs = this.fdbByEndpoint.get(key);
    if (macs === undefined) this.fdbByEndpoint.set(key, (macs = new Set()));
    macs.add(mac);
  }

  deleteFdbEntry(mac: number): boolean {
    const endpoint = this.fdb.get(mac);
    if (endpoint === undefined) return false;
    this.fdb.delete(mac);
    const key = keyOf(endpoint);
    const macs = this.fdbByEndpoint.get(key)!;
    macs.delete(mac);
    if (macs.size === 0) this.fdbByEndpoint.delete(key);
    return true;
  }

  setNeighbour(ip: string, mac: string): void {
    this.neighbourMap.set(ip, mac);
  }

  deleteNeighbour(ip: string): boolean {
    return this.neighbourMap.delete(ip);
  }

  peers(): Endpoint[] {
    return [...this.peerSet.values()];
  }

  fdbEntries(): [number, Endpoint][] {
    return [...this.fdb];
  }

  neighbours(): [string, string][] {
    return [...this.neighbourMap];
  }
}
