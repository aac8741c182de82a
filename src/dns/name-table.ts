/**
 * The names of ONE overlay network: which endpoint (a container's interface) answers to which
 * names, and with which addresses. The name server reads it on every query; the agent writes it
 * as endpoints come and go in etcd.
 *
 * - Names are compared as DNS compares them: ASCII case-insensitively, and `web.` is `web` (the
 *   trailing dot of a fully qualified name is dropped).
 * - One name may belong to several endpoints: a service alias with replicas. `resolve` returns the
 *   addresses of every endpoint behind it, each once, in an order that rotates by one on every
 *   query, so clients that take the first address spread over the replicas (Docker's embedded DNS
 *   does the same for a service in DNS round-robin mode). A and AAAA rotate separately: resolvers
 *   (glibc's getaddrinfo) ask both for every lookup, and one shared cursor would then move by two
 *   per lookup, which with two replicas would never rotate the A answers at all.
 * - `has` says whether a name is known at all, so the server can tell NODATA (a known name without
 *   addresses of the type asked) from NXDOMAIN (which it never says itself: unknown names are
 *   forwarded upstream).
 * - Every change costs O(names of that endpoint) and a query O(endpoints behind that name): a
 *   map from name to the set of endpoint ids behind it, never a scan of all entries.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { DnsError, DnsErrorCode } from './errors';

export type AddressType = 'A' | 'AAAA';

/** What `set` takes for one endpoint. */
export interface NameEntry {
  /** The container's name and its aliases. */
  names: string[];
  ipv4?: string[];
  ipv6?: string[];
}

interface StoredEntry {
  /** Normalised, each once. */
  readonly names: readonly string[];
  readonly ipv4: readonly string[];
  readonly ipv6: readonly string[];
}

interface NameRecord {
  /** Endpoint ids, in the order they took the name. */
  readonly endpoints: Set<string>;
  /** How many A / AAAA queries this name has answered: where the next answer starts. */
  cursorA: number;
  cursorAAAA: number;
}

/** RFC 1035 §2.3.4: a label is 1..63 bytes, a name at most 255 on the wire, so 253 as text. */
const MAX_LABEL_LEN = 63;
const MAX_NAME_LEN = 253;

/**
 * The form a name is stored and looked up in: lower case (ASCII only: RFC 4343 leaves other bytes
 * alone), without one trailing dot. Returns undefined for text that is no DNS name.
 */
export function normaliseName(name: string): string | undefined {
  let text = name.endsWith('.') ? name.slice(0, -1) : name;
  text = text.replace(/[A-Z]+/g, (upper) => upper.toLowerCase());
  if (text.length === 0 || text.length > MAX_NAME_LEN) return undefined;
  for (const label of text.split('.')) {
    if (label.length === 0 || label.length > MAX_LABEL_LEN) return undefined;
  }
  return text;
}

/** Each item once, keeping the first one's place. */
function unique(items: Iterable<string>): string[] {
  return [...new Set(items)];
}

export class NameTable {
  private readonly entries = new Map<string, StoredEntry>();
  private readonly byName = new Map<string, NameRecord>();

  /** How many endpoints the table holds. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Give an endpoint its names and addresses, replacing what it had (so a container renamed or an
   * alias dropped stops resolving at once). Throws DnsError (BAD_NAME, BAD_ADDRESS) and changes
   * nothing when any name or address is invalid.
   */
  set(endpointId: string, entry: NameEntry): void {
    const names = unique(
      entry.names.map((name) => {
        const normal = normaliseName(name);
        if (normal === undefined) throw new DnsError(DnsErrorCode.BAD_NAME, `endpoint ${endpointId}: ${JSON.stringify(name)} is not a DNS name`);
        return normal;
      }),
    );
    const ipv4 = unique(entry.ipv4 ?? []);
    const ipv6 = unique((entry.ipv6 ?? []).map((address) => address.toLowerCase()));
    for (const address of ipv4) {
      if (!isIPv4(address)) throw new DnsError(DnsErrorCode.BAD_ADDRESS, `endpoint ${endpointId}: ${JSON.stringify(address)} is not an IPv4 address`);
    }
    for (const address of ipv6) {
      if (!isIPv6(address)) throw new DnsError(DnsErrorCode.BAD_ADDRESS, `endpoint ${endpointId}: ${JSON.stringify(address)} is not an IPv6 address`);
    }
    this.delete(endpointId);
    this.entries.set(endpointId, { names, ipv4, ipv6 });
    for (const name of names) {
      let record = this.byName.get(name);
      if (record === undefined) {
        record = { endpoints: new Set(), cursorA: 0, cursorAAAA: 0 };
        this.byName.set(name, record);
      }
      record.endpoints.add(endpointId);
    }
  }

  /** Remove an endpoint and its names; false when it was not there. */
  delete(endpointId: string): boolean {
    const entry = this.entries.get(endpointId);
    if (entry === undefined) return false;
    this.entries.delete(endpointId);
    for (const name of entry.names) {
      const record = this.byName.get(name);
      if (record === undefined) continue;
      record.endpoints.delete(endpointId);
      if (record.endpoints.size === 0) this.byName.delete(name);
    }
    return true;
  }

  clear(): void {
    this.entries.clear();
    this.byName.clear();
  }

  /** Whether any endpoint answers to this name (with addresses of either type or none). */
  has(name: string): boolean {
    const normal = normaliseName(name);
    return normal !== undefined && this.byName.has(normal);
  }

  /**
   * The addresses of `type` of every endpoint named `name`, each once, rotated by one place per
   * call for this name and type. Empty for an unknown name and for a known one without addresses
   * of that type (use `has` to tell them apart).
   */
  resolve(name: string, type: AddressType): string[] {
    const normal = normaliseName(name);
    const record = normal === undefined ? undefined : this.byName.get(normal);
    if (record === undefined) return [];
    const seen = new Set<string>();
    for (const endpointId of record.endpoints) {
      const entry = this.entries.get(endpointId);
      if (entry === undefined) continue;
      for (const address of type === 'A' ? entry.ipv4 : entry.ipv6) seen.add(address);
    }
    const addresses = [...seen];
    if (addresses.length < 2) return addresses;
    let start: number;
    if (type === 'A') {
      start = record.cursorA % addresses.length;
      record.cursorA = (record.cursorA + 1) % Number.MAX_SAFE_INTEGER;
    } else {
      start = record.cursorAAAA % addresses.length;
      record.cursorAAAA = (record.cursorAAAA + 1) % Number.MAX_SAFE_INTEGER;
    }
    return start === 0 ? addresses : [...addresses.slice(start), ...addresses.slice(0, start)];
  }
}
