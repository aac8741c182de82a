/**
 * The forwarder's remote endpoints (VTEPs) by small integer id: what the data path, the FDB and
 * the underlay name a VTEP by, so no address text is made per datagram.
 *
 * Every change is O(1), whatever the number of endpoints (a cluster of thousands of hosts): an id
 * is counted as long as something refers to it (a network's flood list, an FDB entry) and freed
 * when the last reference goes; freed ids are reused from a stack; sources matched by address alone
 * find their endpoint through an address index, not a scan. An id made for a source admitted by CIDR
 * starts with no reference: if no FDB entry takes it (a frame dropped before learning), `sweep`
 * frees it (the forwarder's ageing timer calls it), so spoofed sources cannot grow memory.
 */
import { canonicalIp } from './address-set';
import type { Endpoint } from './contracts';

/** What an FDB tells the table about the endpoints its entries point at. */
export interface EndpointReferences {
  ref(id: number): void;
  unref(id: number): void;
}

const keyOf = (address: string, port: number): string => `${address}|${port}`;

export class EndpointTable implements EndpointReferences {
  private readonly endpoints: (Endpoint | undefined)[] = [];
  private readonly refs: number[] = [];
  private readonly ids = new Map<string, number>();
  /** Canonical address → the ids of endpoints at it (several when forwarders share an address). */
  private readonly byAddress = new Map<string, Set<number>>();
  private readonly free: number[] = [];
  /** Ids nothing refers to yet (made for an admitted source): freed by `sweep` unless taken meanwhile. */
  private readonly unreferenced = new Set<number>();

  /** `changed` hears every id made or freed (the underlay keeps its own table of them). */
  constructor(private readonly changed: (id: number, endpoint: Endpoint | undefined) => void) {}

  /** Endpoints known now. */
  get size(): number {
    return this.ids.size;
  }

  get(id: number): Endpoint | undefined {
    return this.endpoints[id];
  }

  /** The id of exactly this address and port, or -1. */
  find(endpoint: Endpoint): number {
    return this.ids.get(keyOf(canonicalIp(endpoint.address), endpoint.port)) ?? -1;
  }

  /** Some endpoint at `address` (canonical), or -1. */
  findByAddress(address: string): number {
    const set = this.byAddress.get(address);
    if (set === undefined) return -1;
    for (const id of set) return id;
    return -1;
  }

  /** The id of `endpoint`, made if new (with no reference: take one with `ref`, or `sweep` frees it). */
  idOf(endpoint: Endpoint): number {
    const address = canonicalIp(endpoint.address);
    const key = keyOf(address, endpoint.port);
    const known = this.ids.get(key);
    if (known !== undefined) return known;
    const id = this.free.pop() ?? this.endpoints.length;
    const entry = { address, port: endpoint.port };
    this.endpoints[id] = entry;
    this.refs[id] = 0;
    this.ids.set(key, id);
    let set = this.byAddress.get(address);
    if (set === undefined) this.byAddress.set(address, (set = new Set()));
    set.add(id);
    this.unreferenced.add(id);
    this.changed(id, entry);
    return id;
  }

  ref(id: number): void {
    this.refs[id]++;
    this.unreferenced.delete(id);
  }

  /** Drop a reference; the last one frees the id. */
  unref(id: number): void {
    if (--this.refs[id] === 0) this.release(id);
  }

  /** Free the ids made for sources that nothing took. */
  sweep(): void {
    for (const id of this.unreferenced) if (this.refs[id] === 0) this.release(id);
    this.unreferenced.clear();
  }

  private release(id: number): void {
    const endpoint = this.endpoints[id];
    if (endpoint === undefined) return;
    this.ids.delete(keyOf(endpoint.address, endpoint.port));
    const set = this.byAddress.get(endpoint.address)!;
    set.delete(id);
    if (set.size === 0) this.byAddress.delete(endpoint.address);
    this.endpoints[id] = undefined;
    this.unreferenced.delete(id);
    this.free.push(id);
    this.changed(id, undefined);
  }
}

/**
 * A VNI's flood list: endpoint ids in a typed array the flood loop reads (`ids[0..count)`), with
 * an index for O(1) membership, addition and removal (the last id moves into the hole).
 */
export class FloodList {
  ids = new Int32Array(4);
  count = 0;
  private readonly positions = new Map<number, number>();

  has(id: number): boolean {
    return this.positions.has(id);
  }

  /** Add `id`; false when it is there already. */
  add(id: number): boolean {
    if (this.positions.has(id)) return false;
    if (this.count === this.ids.length) {
      const grown = new Int32Array(this.ids.length * 2);
      grown.set(this.ids);
      this.ids = grown;
    }
    this.positions.set(id, this.count);
    this.ids[this.count++] = id;
    return true;
  }

  /** Remove `id`; false when it was not there. */
  delete(id: number): boolean {
    const at = this.positions.get(id);
    if (at === undefined) return false;
    this.positions.delete(id);
    const last = this.ids[--this.count];
    if (at !== this.count) {
      this.ids[at] = last;
      this.positions.set(last, at);
    }
    return true;
  }

  /** The ids, in flood order. */
  list(): number[] {
    return Array.from(this.ids.subarray(0, this.count));
  }
}
