/**
 * The forwarding database of one VNI: which remote VTEP (an endpoint id) each inner MAC address
 * sits behind. It behaves like the Linux `vxlan` device's FDB:
 * - static entries (configured, or programmed by an agent) are never moved or aged by learning;
 * - learned entries come from the outer source of decapsulated frames, are refreshed by every
 *   frame, move when the MAC shows up behind another VTEP, and age out after `ageingMs` (300 s);
 * - when `maxEntries` is reached nothing more is learned (counted), as with the device's `maxaddress`.
 *
 * MAC addresses are keys of type number (48 bits fit exactly in a double), read straight from the
 * frame with `macKeyAt`, so a lookup on the data path makes no string and no object.
 */
import { formatMac, parseMac } from '../wire/address';

export const DEFAULT_AGEING_MS = 300_000;
export const DEFAULT_MAX_ENTRIES = 16_384;

/** The MAC address at `offset` in `bytes` as a 48-bit number. */
export function macKeyAt(bytes: Uint8Array, offset: number): number {
  return (bytes[offset] * 0x10000 + (bytes[offset + 1] << 8 | bytes[offset + 2])) * 0x1000000
    + (bytes[offset + 3] << 16 | bytes[offset + 4] << 8 | bytes[offset + 5]);
}

export function macKey(mac: string): number {
  return macKeyAt(parseMac(mac), 0);
}

/** Write a 48-bit MAC key at `offset` in `bytes` (the inverse of macKeyAt). */
export function writeMacKey(bytes: Uint8Array, offset: number, key: number): void {
  let rest = key;
  for (let i = 5; i >= 0; i--) {
    bytes[offset + i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
}

export function macText(key: number): string {
  const bytes = new Uint8Array(6);
  writeMacKey(bytes, 0, key);
  return formatMac(bytes);
}

/** Group bit (I/G) set: broadcast or multicast. */
export function isMulticastAt(bytes: Uint8Array, offset: number): boolean {
  return (bytes[offset] & 1) === 1;
}

interface Entry {
  endpoint: number;
  isStatic: boolean;
  /** Clock time (ms) the entry was last confirmed, for ageing; unused for static entries. */
  seenAt: number;
  /**
   * When a frame here last confirmed it (-Infinity: only ever told by another instance, see
   * `learn`'s `heard`): what is passed on to the other instances, so that entries they told us
   * about are not told back to them and kept alive by each other forever.
   */
  heardAt: number;
}

export type LearnResult = 'refreshed' | 'learned' | 'moved' | 'static' | 'full';

/** One FDB change, reported to the embedding agent in batches (never one event per frame). */
export interface FdbEvent {
  type: 'learned' | 'moved' | 'aged';
  vni: number;
  mac: string;
  /** The endpoint id the MAC is behind now (learned, moved) or was behind (aged). */
  endpoint: number;
}

export interface FdbEntrySnapshot {
  mac: string;
  endpoint: number;
  static: boolean;
  /** Milliseconds since the entry was last confirmed (learned entries only). */
  ageMs?: number;
}

export interface FdbOptions {
  ageingMs?: number;
  maxEntries?: number;
}

/** What an Fdb tells about the endpoints its entries point at (EndpointTable counts them). */
export interface FdbReferences {
  ref(endpoint: number): void;
  unref(endpoint: number): void;
}

const NO_REFERENCES: FdbReferences = { ref() {}, unref() {} };

export class Fdb {
  readonly ageingMs: number;
  readonly maxEntries: number;
  private readonly entries = new Map<number, Entry>();
  /** Endpoint → the MACs behind it: a peer's entries go in O(its entries), not a scan of the table. */
  private readonly byEndpoint = new Map<number, Set<number>>();
  private readonly references: FdbReferences;

  /** `references` hears every entry that starts or stops pointing at an endpoint. */
  constructor(options: FdbOptions = {}, references: FdbReferences = NO_REFERENCES) {
    this.references = references;
    this.ageingMs = options.ageingMs ?? DEFAULT_AGEING_MS;
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    if (!(this.ageingMs > 0)) throw new RangeError(`ageingMs must be positive, got ${String(options.ageingMs)}`);
    if (!(Number.isInteger(this.maxEntries) && this.maxEntries >= 0)) {
      throw new RangeError(`maxEntries must be a non-negative integer, got ${String(options.maxEntries)}`);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  /** The endpoint id behind `mac`, or -1 when unknown. */
  lookup(mac: number): number {
    const entry = this.entries.get(mac);
    return entry === undefined ? -1 : entry.endpoint;
  }

  /**
   * A frame from `mac` arrived from `endpoint` at time `now`; with `heard` false, another instance
   * serving the same VTEP saw it (the entry is learned, refreshed or moved all the same).
   */
  learn(mac: number, endpoint: number, now: number, heard = true): LearnResult {
    const entry = this.entries.get(mac);
    if (entry !== undefined) {
      if (entry.isStatic) return 'static';
      entry.seenAt = now;
      if (heard) entry.heardAt = now;
      if (entry.endpoint === endpoint) return 'refreshed';
      this.point(mac, entry, endpoint);
      return 'moved';
    }
    if (this.entries.size >= this.maxEntries) return 'full';
    this.insert(mac, { endpoint, isStatic: false, seenAt: now, heardAt: heard ? now : -Infinity });
    return 'learned';
  }

  /** Add or replace a static entry (it replaces a learned one; static entries do not count against maxEntries). */
  setStatic(mac: number, endpoint: number): void {
    const entry = this.entries.get(mac);
    if (entry === undefined) {
      this.insert(mac, { endpoint, isStatic: true, seenAt: 0, heardAt: -Infinity });
      return;
    }
    entry.isStatic = true;
    entry.seenAt = 0;
    entry.heardAt = -Infinity;
    if (entry.endpoint !== endpoint) this.point(mac, entry, endpoint);
  }

  /** Remove an entry, static or learned. Returns whether there was one. */
  delete(mac: number): boolean {
    const entry = this.entries.get(mac);
    if (entry === undefined) return false;
    this.remove(mac, entry);
    return true;
  }

  /** Remove every entry behind `endpoint` (a peer that went away). Returns how many. */
  deleteEndpoint(endpoint: number): number {
    const macs = this.byEndpoint.get(endpoint);
    if (macs === undefined) return 0;
    const removed = macs.size;
    for (const mac of [...macs]) this.remove(mac, this.entries.get(mac)!);
    return removed;
  }

  /** Remove every entry (the network goes away): each endpoint it pointed at hears it. */
  clear(): void {
    for (const [mac, entry] of [...this.entries]) this.remove(mac, entry);
  }

  private insert(mac: number, entry: Entry): void {
    this.entries.set(mac, entry);
    this.index(mac, entry.endpoint);
    this.references.ref(entry.endpoint);
  }

  /** Point an existing entry at another endpoint: the new one referred to before the old is let go. */
  private point(mac: number, entry: Entry, endpoint: number): void {
    const old = entry.endpoint;
    this.references.ref(endpoint);
    this.unindex(mac, old);
    entry.endpoint = endpoint;
    this.index(mac, endpoint);
    this.references.unref(old);
  }

  private remove(mac: number, entry: Entry): void {
    this.entries.delete(mac);
    this.unindex(mac, entry.endpoint);
    this.references.unref(entry.endpoint);
  }

  private index(mac: number, endpoint: number): void {
    let macs = this.byEndpoint.get(endpoint);
    if (macs === undefined) this.byEndpoint.set(endpoint, (macs = new Set()));
    macs.add(mac);
  }

  private unindex(mac: number, endpoint: number): void {
    const macs = this.byEndpoint.get(endpoint)!;
    macs.delete(mac);
    if (macs.size === 0) this.byEndpoint.delete(endpoint);
  }

  /** Call `visit` with the endpoint of every entry. */
  forEachEndpoint(visit: (endpoint: number) => void): void {
    for (const entry of this.entries.values()) visit(entry.endpoint);
  }

  /** Call `visit` with every learned entry's MAC, endpoint and when a frame here last confirmed it (-Infinity: never). */
  forEachLearned(visit: (mac: number, endpoint: number, heardAt: number) => void): void {
    for (const [mac, entry] of this.entries) if (!entry.isStatic) visit(mac, entry.endpoint, entry.heardAt);
  }

  /** Remove learned entries not confirmed within ageingMs of `now`; returns their MACs and endpoints. */
  age(now: number): { mac: number; endpoint: number }[] {
    const aged: { mac: number; endpoint: number }[] = [];
    for (const [mac, entry] of this.entries) {
      if (!entry.isStatic && now - entry.seenAt >= this.ageingMs) {
        this.remove(mac, entry);
        aged.push({ mac, endpoint: entry.endpoint });
      }
    }
    return aged;
  }

  snapshot(now: number): FdbEntrySnapshot[] {
    return [...this.entries].map(([mac, entry]) => entry.isStatic
      ? { mac: macText(mac), endpoint: entry.endpoint, static: true }
      : { mac: macText(mac), endpoint: entry.endpoint, static: false, ageMs: now - entry.seenAt });
  }
}
