// Fakes for the Docker driver's unit tests: a forwarder serving many VNIs (plain maps per VNI,
// removePeer also dropping the FDB entries behind the peer, as the real one does), Linux links
// kept in a set, and local networks that keep the name table as a map.
import type { Endpoint } from '../../src/forwarder/contracts';
import type { ForwarderControl } from '../../src/control/reconcile';
import type { EndpointRecord, NetworkRecord } from '../../src/control/keys';
import type { Links } from '../../src/docker/links';
import { linkNames } from '../../src/docker/links';
import type { LocalNetwork, OpenLocalNetwork } from '../../src/docker/local-network';

const key = (endpoint: Endpoint) => `${endpoint.address}:${endpoint.port}`;

export class MultiForwarder implements ForwarderControl {
  readonly vnis = new Map<number, { peers: Set<string>; fdb: Map<string, string>; neighbours: Map<string, string> }>();
  private of(vni: number) {
    let state = this.vnis.get(vni);
    if (state === undefined) this.vnis.set(vni, (state = { peers: new Set(), fdb: new Map(), neighbours: new Map() }));
    return state;
  }
  addPeer(vni: number, endpoint: Endpoint): void {
    this.of(vni).peers.add(key(endpoint));
  }
  removePeer(vni: number, endpoint: Endpoint): boolean {
    const state = this.of(vni);
    for (const [mac, target] of state.fdb) if (target === key(endpoint)) state.fdb.delete(mac);
    return state.peers.delete(key(endpoint));
  }
  addFdbEntry(vni: number, mac: string, endpoint: Endpoint): void {
    this.of(vni).fdb.set(mac, key(endpoint));
  }
  removeFdbEntry(vni: number, mac: string): boolean {
    return this.of(vni).fdb.delete(mac);
  }
  addNeighbour(vni: number, ip: string, mac: string): void {
    this.of(vni).neighbours.set(ip, mac);
  }
  removeNeighbour(vni: number, ip: string): boolean {
    return this.of(vni).neighbours.delete(ip);
  }
  state(vni: number) {
    const state = this.of(vni);
    return {
      peers: [...state.peers].sort(),
      fdb: [...state.fdb].map(([mac, target]) => `${mac}@${target}`).sort(),
      neighbours: [...state.neighbours].map(([ip, mac]) => `${ip}=${mac}`).sort(),
    };
  }
}

export class FakeLinks implements Links {
  readonly links = new Map<string, string | undefined>();
  readonly calls: string[] = [];
  createBridge(name: string): string {
    this.calls.push(`bridge ${name}`);
    this.links.set(name, undefined);
    return '02:00:00:00:be:ef';
  }
  attach(name: string, bridge: string, options: { mac?: string } = {}): void {
    this.calls.push(`attach ${name} ${bridge}${options.mac === undefined ? '' : ` ${options.mac}`}`);
    this.links.set(name, bridge);
  }
  createVeth(hostName: string, peerName: string, options: { mac: string; bridge: string }): void {
    this.calls.push(`veth ${hostName} ${peerName} ${options.mac}`);
    this.links.set(hostName, options.bridge);
    this.links.set(peerName, undefined);
  }
  remove(name: string): void {
    this.calls.push(`remove ${name}`);
    this.links.delete(name);
    // A veth pair goes together.
    if (name.startsWith('vwh')) this.links.delete(`vwc${name.slice(3)}`);
  }
  exists(name: string): boolean {
    return this.links.has(name);
  }
}

export interface FakeLocal extends LocalNetwork {
  names: Map<string, string[]>;
  closed: boolean;
}

/** Local networks over FakeLinks (a bridge each), their name tables as maps; `failNext` makes the next open fail. */
export function fakeOpener(links: FakeLinks): OpenLocalNetwork & { opened: FakeLocal[]; failNext?: Error } {
  const opener = (async (network: NetworkRecord) => {
    if (opener.failNext !== undefined) {
      const error = opener.failNext;
      opener.failNext = undefined;
      throw error;
    }
    const bridge = linkNames.bridge(network.vni);
    links.createBridge(bridge);
    const local: FakeLocal = {
      network, bridge, names: new Map(), closed: false,
      setEndpoint(endpointId: string, record: EndpointRecord | undefined) {
        if (record === undefined) local.names.delete(endpointId);
        else local.names.set(endpointId, [record.name, ...record.aliases].filter((n) => n !== ''));
      },
      dnsCounters: () => ({ answered: 0, forwarded: 0, refused: 0, failed: 0, malformed: 0 }),
      async close() {
        local.closed = true;
        links.remove(bridge);
      },
    };
    opener.opened.push(local);
    return local;
  }) as unknown as OpenLocalNetwork & { opened: FakeLocal[]; failNext?: Error };
  opener.opened = [];
  return opener;
}
