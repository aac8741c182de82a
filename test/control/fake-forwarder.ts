// A fake of the forwarder's runtime API (ForwarderControl) for the control plane's unit tests:
// it keeps peers, static FDB entries and neighbours per VNI in plain maps, with the real
// forwarder's rules that matter here (addPeer idempotent, removePeer also drops the FDB entries
// that point at the peer), and can be told to refuse an endpoint.
import type { Endpoint } from '../../src/forwarder/contracts';
import type { ForwarderControl } from '../../src/control/reconcile';

const key = (endpoint: Endpoint) => `${endpoint.address}:${endpoint.port}`;

export class FakeForwarder implements ForwarderControl {
  readonly peers = new Set<string>();
  readonly fdb = new Map<string, string>();
  readonly neighbours = new Map<string, string>();
  /** Every call, in order. */
  readonly calls: string[] = [];
  /** Addresses addPeer throws on (as the real one does for an IPv6 VTEP on an IPv4 underlay). */
  readonly refuse = new Set<string>();

  constructor(readonly vni = 42) {}

  private check(vni: number): void {
    if (vni !== this.vni) throw new RangeError(`vni ${vni} is not served by this forwarder`);
  }

  addPeer(vni: number, endpoint: Endpoint): void {
    this.check(vni);
    this.calls.push(`addPeer ${key(endpoint)}`);
    if (this.refuse.has(endpoint.address)) throw new TypeError(`peer ${endpoint.address} refused`);
    this.peers.add(key(endpoint));
  }

  removePeer(vni: number, endpoint: Endpoint): boolean {
    this.check(vni);
    this.calls.push(`removePeer ${key(endpoint)}`);
    for (const [mac, target] of this.fdb) if (target === key(endpoint)) this.fdb.delete(mac);
    return this.peers.delete(key(endpoint));
  }

  addFdbEntry(vni: number, mac: string, endpoint: Endpoint): void {
    this.check(vni);
    this.calls.push(`addFdbEntry ${mac} ${key(endpoint)}`);
    this.fdb.set(mac, key(endpoint));
  }

  removeFdbEntry(vni: number, mac: string): boolean {
    this.check(vni);
    this.calls.push(`removeFdbEntry ${mac}`);
    return this.fdb.delete(mac);
  }

  addNeighbour(vni: number, ip: string, mac: string): void {
    this.check(vni);
    this.calls.push(`addNeighbour ${ip} ${mac}`);
    this.neighbours.set(ip, mac);
  }

  removeNeighbour(vni: number, ip: string): boolean {
    this.check(vni);
    this.calls.push(`removeNeighbour ${ip}`);
    return this.neighbours.delete(ip);
  }

  /** Everything it holds, sorted: equal states compare equal. */
  state(): { peers: string[]; fdb: string[]; neighbours: string[] } {
    return {
      peers: [...this.peers].sort(),
      fdb: [...this.fdb].map(([mac, target]) => `${mac}@${target}`).sort(),
      neighbours: [...this.neighbours].map(([ip, mac]) => `${ip}=${mac}`).sort(),
    };
  }
}
