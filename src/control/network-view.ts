/**
 * One network as a host sees it: everything under `net/NAME/` read at one revision, handed to a
 * Reconciler (which programs the forwarder), then watched from the next revision, each event
 * applied with the same idempotent step. Both kinds of agent use it: `agent --network` (one per
 * agent) and `agent --docker` (one per network Docker made on this host).
 *
 * It owns no recovery: when the watch breaks (a lost stream, a compaction) or this host's own
 * record vanishes, it calls `onTrouble` and the owner runs `sync()` again when it can — a resync
 * IS a start.
 *
 * Endpoint changes are also told to `onEndpoint` (the name server's table), as a diff after a
 * sync and one by one from the watch.
 */
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import {
  endpointIdOfKey, hostIdOfKey, keys, parseEndpointRecord, parseHostRecord,
  type EndpointRecord, type HostRecord,
} from './keys';
import type { Reconciler, ResyncResult } from './reconcile';

export interface NetworkViewOptions {
  client: Etcd3;
  network: string;
  reconciler: Reconciler;
  selfHostId: string;
  /** The lease this host's record must be under (hex or decimal text as etcd3 gives it). */
  selfLease: () => string;
  onTrouble: (reason: string) => void;
  onEndpoint?: (endpointId: string, record: EndpointRecord | undefined) => void;
  onHost?: (hostId: string, record: HostRecord | undefined, result: string) => void;
  /** Deadline for creating a watch (default 3000 ms). */
  watchTimeoutMs?: number;
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export class NetworkView {
  /** The store revision the programmed state is current to. */
  revision = 0;
  events = 0;
  /** Records under the prefix that did not parse. */
  invalid = 0;
  private watcher: Watcher | undefined;
  private closed = false;
  private readonly endpoints = new Map<string, EndpointRecord>();

  constructor(private readonly options: NetworkViewOptions) {}

  get reconciler(): Reconciler {
    return this.options.reconciler;
  }

  /** Read every host and endpoint at one revision, reconcile, then watch from the next revision. */
  async sync(): Promise<ResyncResult> {
    const { client, network, selfHostId } = this.options;
    const response = await client.getAll().prefix(keys.networkPrefix(network)).exec();
    const revision = Number(response.header.revision);
    const hosts = new Map<string, HostRecord>();
    const endpoints = new Map<string, EndpointRecord>();
    let self: IKeyValue | undefined;
    for (const kv of response.kvs) {
      const key = kv.key.toString();
      const hostId = hostIdOfKey(network, key);
      if (hostId !== undefined) {
        const record = parseHostRecord(kv.value.toString());
        if (record === undefined || record.hostId !== hostId) this.invalid++;
        else hosts.set(hostId, record);
        if (hostId === selfHostId) self = kv;
        continue;
      }
      const endpointId = endpointIdOfKey(network, key);
      if (endpointId !== undefined) {
        const record = parseEndpointRecord(kv.value.toString());
        if (record === undefined || record.endpointId !== endpointId) this.invalid++;
        else endpoints.set(endpointId, record);
      } else if (key.startsWith(keys.hostsPrefix(network)) || key.startsWith(keys.endpointsPrefix(network))) this.invalid++;
    }
    if (self === undefined || !sameLease(self.lease, this.options.selfLease())) throw new Error('this host\'s own record is missing from the snapshot');
    const result = this.reconciler.resync(hosts, endpoints);
    for (const [id, record] of this.endpoints) if (!endpoints.has(id)) this.tellEndpoint(id, undefined);
    for (const [id, record] of endpoints) {
      const old = this.endpoints.get(id);
      if (old === undefined || JSON.stringify(old) !== JSON.stringify(record)) this.tellEndpoint(id, record);
    }
    this.revision = revision;
    this.dropWatcher();
    const watcher = await withTimeout(
      client.watch().prefix(keys.networkPrefix(network)).startRevision(String(revision + 1)).create(),
      this.options.watchTimeoutMs ?? 3000, 'creating the watch',
    );
    if (this.closed) {
      void watcher.cancel().catch(() => undefined);
      return result;
    }
    this.watcher = watcher;
    watcher.on('put', (kv: IKeyValue) => this.onChange(kv, false));
    watcher.on('delete', (kv: IKeyValue) => this.onChange(kv, true));
    watcher.on('data', (response: { header: { revision: string } }) => {
      this.revision = Math.max(this.revision, Number(response.header.revision));
    });
    // A broken stream or a watch etcd cancelled (its start revision compacted away): resync.
    watcher.on('disconnected', (error: Error) => this.options.onTrouble(`the watch was disconnected (${error.message})`));
    watcher.on('error', (error: Error) => this.options.onTrouble(`the watch failed (${error.message})`));
    return result;
  }

  /** Stop watching (the forwarder keeps what it holds: the owner removes the network). */
  close(): void {
    this.closed = true;
    this.dropWatcher();
  }

  dropWatcher(): void {
    const watcher = this.watcher;
    this.watcher = undefined;
    if (watcher === undefined) return;
    watcher.removeAllListeners();
    // An error from cancelling a dead stream has nowhere useful to go.
    watcher.on('error', () => undefined);
    void watcher.cancel().catch(() => undefined);
  }

  private tellEndpoint(id: string, record: EndpointRecord | undefined): void {
    if (record === undefined) this.endpoints.delete(id);
    else this.endpoints.set(id, record);
    this.options.onEndpoint?.(id, record);
  }

  private onChange(kv: IKeyValue, deleted: boolean): void {
    if (this.closed || this.watcher === undefined) return;
    const { network, selfHostId } = this.options;
    const key = kv.key.toString();
    const hostId = hostIdOfKey(network, key);
    if (hostId !== undefined) {
      this.events++;
      if (hostId === selfHostId && (deleted || !sameLease(kv.lease, this.options.selfLease()))) {
        this.options.onTrouble('this host\'s own record was deleted or replaced');
        return;
      }
      const record = deleted ? undefined : parseHostRecord(kv.value.toString());
      if (!deleted && (record === undefined || record.hostId !== hostId)) this.invalid++;
      const result = this.reconciler.setHost(hostId, record?.hostId === hostId ? record : undefined);
      if (result !== 'unchanged') this.options.onHost?.(hostId, record, result);
      return;
    }
    const endpointId = endpointIdOfKey(network, key);
    if (endpointId === undefined) return;
    this.events++;
    let record = deleted ? undefined : parseEndpointRecord(kv.value.toString());
    if (!deleted && (record === undefined || record.endpointId !== endpointId)) {
      this.invalid++;
      record = undefined;
    }
    this.reconciler.setEndpoint(endpointId, record);
    const old = this.endpoints.get(endpointId);
    if (record === undefined ? old !== undefined : old === undefined || JSON.stringify(old) !== JSON.stringify(record)) this.tellEndpoint(endpointId, record);
  }
}

/** etcd3 gives leases as decimal strings; compare as numbers. */
export function sameLease(a: string, b: string): boolean {
  try {
    return BigInt(a) === BigInt(b);
  } catch {
    return false;
  }
}
