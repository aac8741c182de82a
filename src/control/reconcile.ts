/**
 * The reconciler: what the forwarder should hold for one network's hosts and endpoints, made true.
 *
 * Desired state is two maps, read from etcd at a revision and kept current by the watch:
 * host id → HostRecord (where its VTEP is) and endpoint id → EndpointRecord (MAC, address, host).
 * For the network's VNI the forwarder holds:
 *   - each remote host's VTEP as a peer (floods go there);
 *   - for each remote endpoint whose host is known: a static FDB entry (its MAC is behind its
 *     host's VTEP: unicast goes straight there, never learned) and a neighbour entry (its address
 *     is at its MAC: ARP / ND answered locally, never across the underlay);
 *   - with `localNeighbours`, a neighbour entry for each of this host's own endpoints too (a
 *     Docker host: its containers share a bridge with the TAP, so their ARP for each other also
 *     reaches the forwarder, which must answer it rather than flood it; their frames to each other
 *     are switched by the bridge, so no FDB entry).
 *
 * Every operation is idempotent (`setHost`/`setEndpoint` with what is programmed changes nothing;
 * a delete of something unknown changes nothing), and `resync(hosts, endpoints)` brings any
 * starting point to the same end state: a start, a watch event, a replayed event and a resync
 * after a lost watch or a compaction are all the same code.
 *
 * Cost: a change touches only what it changes. Endpoints are indexed by host (a host coming or
 * going re-evaluates its own endpoints, nothing else), and every programmed piece (a peer, a MAC,
 * an address) knows which records hold it, so one record's removal never scans the others; a
 * piece two records share (a misconfiguration, or a host re-registering under a new id) stays
 * while either holds it and is programmed from the one that remains.
 */
import type { Endpoint } from '../forwarder/contracts';
import type { EndpointRecord, HostRecord } from './keys';

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

export interface ReconcilerOptions {
  /** Program neighbour entries for this host's own endpoints as well (see above). Default false. */
  localNeighbours?: boolean;
  /** Told about every record the forwarder refused (for a log line). */
  onInvalid?: (id: string, error: Error) => void;
}

const endpointKey = (endpoint: Endpoint) => `${endpoint.address}|${endpoint.port}`;

/** What one endpoint puts into the forwarder: a neighbour always, an FDB entry when it is remote. */
interface Programmed {
  mac: string;
  /** Its addresses (IPv4, IPv6 or both: ARP and ND both answered locally). */
  ips: string[];
  vtep?: Endpoint;
}

/** Holders of one programmed piece, in the order they came (the first is what the forwarder holds). */
class Holders<V> {
  private readonly map = new Map<string, Map<string, V>>();
  /** Add a holder; true when it is the piece's first. */
  add(piece: string, holder: string, value: V): boolean {
    let holders = this.map.get(piece);
    if (holders === undefined) this.map.set(piece, (holders = new Map()));
    holders.set(holder, value);
    return holders.size === 1;
  }
  /** Remove a holder; the value the piece should now have, null when no holder is left. */
  remove(piece: string, holder: string): V | null {
    const holders = this.map.get(piece);
    if (holders === undefined) return null;
    holders.delete(holder);
    if (holders.size === 0) {
      this.map.delete(piece);
      return null;
    }
    return holders.values().next().value as V;
  }
}

export class Reconciler {
  /** Desired state, as last given. */
  private readonly desiredHosts = new Map<string, HostRecord>();
  private readonly desiredEndpoints = new Map<string, EndpointRecord>();
  /** Endpoint ids by host id (of every desired endpoint, whether its host is known or not). */
  private readonly byHost = new Map<string, Set<string>>();
  /** What is programmed now. */
  private readonly peers = new Map<string, HostRecord>();
  private readonly programmed = new Map<string, Programmed>();
  private readonly peerHolders = new Holders<Endpoint>();
  private readonly macHolders = new Holders<Endpoint>();
  private readonly ipHolders = new Holders<string>();
  private readonly localNeighbours: boolean;
  private readonly onInvalid: (id: string, error: Error) => void;
  /** Records the forwarder refused (e.g. an IPv6 VTEP on an IPv4 underlay): counted, not retried until they change. */
  invalid = 0;

  constructor(
    private readonly forwarder: ForwarderControl,
    readonly vni: number,
    /** This host's own id: its record is never a peer (it is not its own peer). */
    readonly selfHostId: string,
    options: ReconcilerOptions = {},
  ) {
    this.localNeighbours = options.localNeighbours ?? false;
    this.onInvalid = options.onInvalid ?? (() => undefined);
  }

  /** Remote hosts programmed. */
  get size(): number {
    return this.peers.size;
  }

  hosts(): HostRecord[] {
    return [...this.peers.values()];
  }

  /** Every desired endpoint, local and remote (programmed or waiting for its host). */
  endpoints(): EndpointRecord[] {
    return [...this.desiredEndpoints.values()];
  }

  endpoint(endpointId: string): EndpointRecord | undefined {
    return this.desiredEndpoints.get(endpointId);
  }

  has(hostId: string): boolean {
    return this.peers.has(hostId);
  }

  /** Make host `hostId` be `record` (undefined: gone). Idempotent. */
  setHost(hostId: string, record: HostRecord | undefined): ApplyResult {
    const old = this.desiredHosts.get(hostId);
    if (record === undefined) {
      if (old === undefined) return 'unchanged';
      this.desiredHosts.delete(hostId);
    } else {
      if (old !== undefined && endpointKey(old.vtep) === endpointKey(record.vtep)) return 'unchanged';
      this.desiredHosts.set(hostId, record);
    }
    if (hostId === this.selfHostId) return old === undefined ? 'added' : record === undefined ? 'removed' : 'changed';
    let result: ApplyResult = record === undefined ? 'removed' : old === undefined ? 'added' : 'changed';
    if (this.peers.has(hostId)) this.unprogramPeer(hostId);
    if (record !== undefined) {
      try {
        this.forwarder.addPeer(this.vni, record.vtep);
        this.peers.set(hostId, record);
        this.peerHolders.add(endpointKey(record.vtep), hostId, record.vtep);
      } catch (error) {
        this.invalid++;
        this.onInvalid(hostId, error as Error);
        result = 'invalid';
      }
    }
    // Its endpoints follow it: programmed toward the new VTEP, or taken out.
    for (const endpointId of this.byHost.get(hostId) ?? []) this.reprogram(endpointId);
    return result;
  }

  /** Make endpoint `endpointId` be `record` (undefined: gone). Idempotent. */
  setEndpoint(endpointId: string, record: EndpointRecord | undefined): ApplyResult {
    const old = this.desiredEndpoints.get(endpointId);
    if (record === undefined && old === undefined) return 'unchanged';
    if (record !== undefined && old !== undefined && sameEndpoint(old, record)) {
      this.desiredEndpoints.set(endpointId, record);
      return 'unchanged';
    }
    if (old !== undefined) {
      this.byHost.get(old.hostId)?.delete(endpointId);
      if (this.byHost.get(old.hostId)?.size === 0) this.byHost.delete(old.hostId);
    }
    if (record === undefined) this.desiredEndpoints.delete(endpointId);
    else {
      this.desiredEndpoints.set(endpointId, record);
      let set = this.byHost.get(record.hostId);
      if (set === undefined) this.byHost.set(record.hostId, (set = new Set()));
      set.add(endpointId);
    }
    const ok = this.reprogram(endpointId);
    if (!ok) return 'invalid';
    return record === undefined ? 'removed' : old === undefined ? 'added' : 'changed';
  }

  /** Make the programmed state exactly the desired `hosts` and `endpoints`. Idempotent. */
  resync(hosts: ReadonlyMap<string, HostRecord>, endpoints: ReadonlyMap<string, EndpointRecord>): ResyncResult {
    const result: ResyncResult = { added: 0, changed: 0, removed: 0, unchanged: 0, invalid: 0 };
    for (const endpointId of [...this.desiredEndpoints.keys()]) if (!endpoints.has(endpointId)) result[this.setEndpoint(endpointId, undefined)]++;
    for (const hostId of [...this.desiredHosts.keys()]) if (!hosts.has(hostId)) result[this.setHost(hostId, undefined)]++;
    for (const [hostId, record] of hosts) result[this.setHost(hostId, record)]++;
    for (const [endpointId, record] of endpoints) result[this.setEndpoint(endpointId, record)]++;
    return result;
  }

  /** What the endpoint should put in the forwarder now; undefined: nothing. */
  private wanted(endpointId: string): Programmed | undefined {
    const record = this.desiredEndpoints.get(endpointId);
    if (record === undefined) return undefined;
    const ips = [record.ipv4, record.ipv6].filter((ip): ip is string => ip !== undefined);
    if (record.hostId === this.selfHostId) return this.localNeighbours ? { mac: record.mac, ips } : undefined;
    const host = this.peers.get(record.hostId);
    return host === undefined ? undefined : { mac: record.mac, ips, vtep: host.vtep };
  }

  /** Bring one endpoint's programmed pieces to what it wants; false when the forwarder refused them (rolled back). */
  private reprogram(endpointId: string): boolean {
    const want = this.wanted(endpointId);
    const have = this.programmed.get(endpointId);
    if (want === undefined && have === undefined) return true;
    if (want !== undefined && have !== undefined && samePieces(want, have)) return true;
    if (have !== undefined) this.unprogram(endpointId, have);
    if (want === undefined) return true;
    try {
      // The last record to arrive is what the forwarder holds; the others wait in the holders.
      if (want.vtep !== undefined) {
        this.macHolders.add(want.mac, endpointId, want.vtep);
        this.forwarder.addFdbEntry(this.vni, want.mac, want.vtep);
      }
      for (const ip of want.ips) {
        this.ipHolders.add(ip, endpointId, want.mac);
        this.forwarder.addNeighbour(this.vni, ip, want.mac);
      }
      this.programmed.set(endpointId, want);
      return true;
    } catch (error) {
      // A record is programmed whole or not at all.
      try {
        this.unprogram(endpointId, want);
      } catch {
        // It failed going in; what cannot be taken out was never there.
      }
      this.invalid++;
      this.onInvalid(endpointId, error as Error);
      return false;
    }
  }

  private unprogram(endpointId: string, pieces: Programmed): void {
    this.programmed.delete(endpointId);
    for (const ip of pieces.ips) {
      const ipNow = this.ipHolders.remove(ip, endpointId);
      if (ipNow === null) this.forwarder.removeNeighbour(this.vni, ip);
      else this.forwarder.addNeighbour(this.vni, ip, ipNow);
    }
    if (pieces.vtep === undefined) return;
    const macNow = this.macHolders.remove(pieces.mac, endpointId);
    if (macNow === null) this.forwarder.removeFdbEntry(this.vni, pieces.mac);
    else this.forwarder.addFdbEntry(this.vni, pieces.mac, macNow);
  }

  private unprogramPeer(hostId: string): void {
    const record = this.peers.get(hostId)!;
    this.peers.delete(hostId);
    if (this.peerHolders.remove(endpointKey(record.vtep), hostId) === null) this.forwarder.removePeer(this.vni, record.vtep);
  }
}

function sameEndpoint(a: EndpointRecord, b: EndpointRecord): boolean {
  return a.mac === b.mac && a.ipv4 === b.ipv4 && a.ipv6 === b.ipv6 && a.hostId === b.hostId;
}

function samePieces(a: Programmed, b: Programmed): boolean {
  return a.mac === b.mac && a.ips.join() === b.ips.join() && (a.vtep === undefined ? b.vtep === undefined : b.vtep !== undefined && endpointKey(a.vtep) === endpointKey(b.vtep));
}
