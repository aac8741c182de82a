/**
 * A host with many networks and many endpoints per network, for container runtimes (the Docker
 * driver today): one lease for the host, and per network it has joined a host record, its
 * endpoints and its address claims under that lease, a NetworkView watching the network and a
 * Reconciler programming one shared forwarder (each network its own VNI).
 *
 *   start    grant the lease (kept alive by the client)
 *   join     network read → host record put under the lease, in a transaction that requires the
 *            network to exist → the view syncs and watches
 *   claim    an address: `net/NAME/ipam/IP` created under the lease only if absent (the gateway
 *            never), so no two endpoints anywhere share one; a few hashed guesses first (one
 *            transaction each, nothing read), the whole claim list only when they miss
 *   add      an endpoint: its record under the lease AND a durable copy in `served/HOSTID/…`, in
 *            one transaction that requires its address to be claimed by this host
 *   restore  after a restart: the durable copies put back under the new lease (their claims
 *            with them) — Docker never calls CreateEndpoint again for a running container
 *   trouble  (lease lost, keepalive failed, a watch broke, our record vanished) → forwarding
 *            continues on the last state; a loop with backoff re-grants the lease if needed,
 *            puts back everything this host holds (host records, claims, endpoints) and resyncs
 *            every view. The same code as a start.
 *   close    revoke the lease (leave): every other host drops this host's endpoints at once;
 *            a host that dies instead is dropped when its lease expires.
 *
 * Nothing here knows Docker: the runtime adapter turns its requests into these calls.
 */
import { EventEmitter } from 'node:events';
import type { Etcd3 } from 'etcd3';
import { HostLease } from './host-lease';
import { Recovery } from './recovery';
import type { Endpoint } from '../forwarder/contracts';
import {
  keys, parseServedRecord, type EndpointRecord, type HostRecord, type NetworkRecord, type ServedRecord,
} from './keys';
import { familyOf, poolsOf, type AddressPool, type Family } from './address-pool';
import { refuseOldLayout } from './layout';
import { canonicalIp } from '../forwarder/address-set';
import { getNetwork } from './networks';
import { NetworkView, withTimeout } from './network-view';
import { Reconciler, type ForwarderControl } from './reconcile';
import { silentLogger, type AgentLogger } from './logger';

export class HostAgentError extends Error {
  override readonly name = 'HostAgentError';
  constructor(message: string, readonly code: 'NETWORK_NOT_FOUND' | 'NOT_JOINED' | 'ADDRESS_TAKEN' | 'NO_ADDRESS' | 'NOT_IN_SUBNET' | 'NOT_CLAIMED' | 'NETWORK_GONE' | 'CLOSED') {
    super(message);
  }
}

export interface HostAgentOptions {
  client: Etcd3;
  hostId: string;
  /** Where the other hosts send VXLAN to reach this one. */
  vtep: Endpoint;
  forwarder: ForwarderControl;
  /** The lease's TTL (default 10 s): how long a dead host's endpoints stay visible to the others at most. */
  ttlSeconds?: number;
  logger?: AgentLogger;
  /** Resync backoff: first wait and cap (default 200 ms, 2000 ms). */
  retryMinMs?: number;
  retryMaxMs?: number;
  watchTimeoutMs?: number;
}

export interface JoinOptions {
  /** Told every endpoint of the network as it comes, changes and goes (the name server's table). */
  onEndpoint?: (endpointId: string, record: EndpointRecord | undefined) => void;
  /** Neighbour entries for this host's own endpoints too (they share a bridge with the TAP). Default true. */
  localNeighbours?: boolean;
}

interface Joined {
  network: NetworkRecord;
  /** The network key's create revision: a network removed and made again is another network. */
  revision: string;
  /** One pool per family the network has (IPv4, IPv6 or both). */
  pools: AddressPool[];
  reconciler: Reconciler;
  view: NetworkView;
  /** This host's endpoints in the network, as served. */
  endpoints: Map<string, ServedRecord>;
  /** Addresses this host claimed in the network (endpoints' and those handed out but not yet used). */
  claims: Set<string>;
}

/** The events a HostAgent emits, typed. */
export interface HostAgentEvents {
  connected: [];
  disconnected: [];
  /** A joined network was removed from etcd (or made again under the same name): left. */
  networkGone: [network: string, error: HostAgentError];
  /** An endpoint of this host that could not be put back after trouble (its address taken meanwhile). */
  endpointLost: [network: string, served: ServedRecord];
}

export class HostAgent extends EventEmitter<HostAgentEvents> {
  readonly client: Etcd3;
  readonly hostId: string;
  readonly vtep: Endpoint;
  readonly ttlSeconds: number;
  private readonly options: HostAgentOptions;
  private readonly logger: AgentLogger;
  private readonly joined = new Map<string, Joined>();
  private readonly hostLease: HostLease;
  private readonly recovery: Recovery;
  private closed = false;
  private readonly joinedAt = new Date().toISOString();
  /** Varies the first address guesses from one claim to the next. */
  private claimSeed = 0;
  /** Recoveries from trouble, and leases granted after the first (the previous one was lost). */
  get counts(): { resyncs: number; leaseRegrants: number } {
    return { resyncs: this.recovery.resyncs, leaseRegrants: this.hostLease.regrants };
  }

  constructor(options: HostAgentOptions) {
    super();
    this.options = options;
    this.client = options.client;
    this.hostId = options.hostId;
    this.vtep = options.vtep;
    this.ttlSeconds = options.ttlSeconds ?? 10;
    this.hostLease = new HostLease(this.client, this.ttlSeconds, (why) => this.trouble(why));
    this.logger = options.logger ?? silentLogger;
    this.recovery = new Recovery({
      logger: this.logger, retryMinMs: options.retryMinMs, retryMaxMs: options.retryMaxMs,
      onConnected: (connected) => this.emit(connected ? 'connected' : 'disconnected'),
      onTrouble: () => {
        for (const joined of this.joined.values()) joined.view.dropWatcher();
      },
      attempt: () => this.putBack(),
    });
  }

  get isConnected(): boolean {
    return this.recovery.connected;
  }

  /** The networks joined, by name. */
  networks(): NetworkRecord[] {
    return [...this.joined.values()].map((joined) => joined.network);
  }

  network(name: string): NetworkRecord | undefined {
    return this.joined.get(name)?.network;
  }

  /** Every endpoint of a joined network known now (this host's and the others'). */
  endpoints(name: string): EndpointRecord[] {
    return this.joined.get(name)?.reconciler.endpoints() ?? [];
  }

  /** This host's endpoints in a joined network. */
  served(name: string): ServedRecord[] {
    return [...(this.joined.get(name)?.endpoints.values() ?? [])];
  }

  /** Remote hosts programmed for a joined network. */
  hosts(name: string): HostRecord[] {
    return this.joined.get(name)?.reconciler.hosts() ?? [];
  }

  /** Grant the lease. Rejects when etcd is unreachable or holds the old layout. */
  async start(): Promise<void> {
    await refuseOldLayout(this.client);
    await this.grant();
    this.recovery.setConnected(true);
  }

  private grant(): Promise<void> {
    return this.hostLease.ensure();
  }

  private checkOpen(): void {
    if (this.closed) throw new HostAgentError('the agent is closing', 'CLOSED');
  }

  private joinedOrThrow(name: string): Joined {
    const joined = this.joined.get(name);
    if (joined === undefined) throw new HostAgentError(`network ${name} is not set up on this host`, 'NOT_JOINED');
    return joined;
  }

  /** Join a network (idempotent): register this host in it and program the forwarder with it. */
  async join(name: string, options: JoinOptions = {}): Promise<NetworkRecord> {
    this.checkOpen();
    const existing = this.joined.get(name);
    if (existing !== undefined) return existing.network;
    const found = await getNetwork(this.client, name);
    if (found === undefined) throw new HostAgentError(`no network named ${name} in etcd`, 'NETWORK_NOT_FOUND');
    const { revision, ...network } = found;
    const reconciler = new Reconciler(this.options.forwarder, network.vni, this.hostId, {
      localNeighbours: options.localNeighbours ?? true,
      onInvalid: (id, error) => this.logger.warn({ network: name, id, err: error.message }, 'a record the forwarder refused; ignored until it changes'),
    });
    const view = new NetworkView({
      client: this.client, network: name, reconciler, selfHostId: this.hostId, selfLease: () => this.hostLease.id,
      watchTimeoutMs: this.options.watchTimeoutMs, onTrouble: (reason) => this.trouble(`${name}: ${reason}`),
      onEndpoint: options.onEndpoint,
    });
    const joined: Joined = { network, revision, pools: poolsOf(network), reconciler, view, endpoints: new Map(), claims: new Set() };
    await this.putHost(joined);
    this.joined.set(name, joined);
    try {
      await view.sync();
    } catch (error) {
      this.joined.delete(name);
      view.close();
      await this.client.delete().key(keys.host(name, this.hostId)).exec().catch(() => undefined);
      throw error;
    }
    this.logger.info({ network: name, vni: network.vni, hosts: reconciler.size, endpoints: reconciler.endpoints().length }, 'joined network');
    return network;
  }

  private async putHost(joined: Joined): Promise<void> {
    const name = joined.network.name;
    const record: HostRecord = { hostId: this.hostId, vtep: this.vtep, joined: this.joinedAt };
    const result = await this.client
      .if(keys.network(name), 'Create', '==', joined.revision)
      .then(this.client.put(keys.host(name, this.hostId)).value(JSON.stringify(record)).lease(this.hostLease.id))
      .commit();
    if (!result.succeeded) throw new HostAgentError(`network ${name} was removed (or removed and made again) in etcd`, 'NETWORK_GONE');
  }

  /**
   * Leave a network: this host's record, endpoints, claims and durable copies in it are deleted
   * (one transaction); the view stops. The forwarder's VNI is the caller's to remove.
   */
  async leave(name: string): Promise<void> {
    const joined = this.joined.get(name);
    if (joined === undefined) return;
    joined.view.close();
    this.joined.delete(name);
    await this.client
      // All of it whether or not the host record is still there (a lost lease took it): the durable copies must go too.
      .if(keys.host(name, this.hostId), 'Create', '>', -1)
      .then(
        this.client.delete().key(keys.host(name, this.hostId)),
        ...[...joined.endpoints.keys()].map((id) => this.client.delete().key(keys.endpoint(name, id))),
        this.client.delete().prefix(`${keys.servedPrefix(this.hostId)}${name}/`),
        ...[...joined.claims].map((ip) => this.client.delete().key(keys.ipam(name, ip))),
      )
      .commit();
  }

  /** The address families of a joined network (4, 6 or both). */
  families(name: string): Family[] {
    return this.joinedOrThrow(name).pools.map((pool) => pool.family);
  }

  /**
   * Claim one address of each family the network has (see claim); all or none: a failure releases
   * what was claimed before it.
   */
  async claimAll(name: string, requested: { ipv4?: string; ipv6?: string } = {}): Promise<{ ipv4?: string; ipv6?: string }> {
    const claimed: { ipv4?: string; ipv6?: string } = {};
    try {
      for (const family of this.families(name)) {
        const ip = await this.claim(name, family === 4 ? requested.ipv4 : requested.ipv6, family);
        if (family === 4) claimed.ipv4 = ip;
        else claimed.ipv6 = ip;
      }
    } catch (error) {
      for (const ip of [claimed.ipv4, claimed.ipv6]) if (ip !== undefined) await this.release(name, ip).catch(() => undefined);
      throw error;
    }
    return claimed;
  }

  /**
   * Claim an address in a joined network: `requested` (taken by another: ADDRESS_TAKEN) or any
   * free one of `family` (default: the requested address's, else the network's first: IPv4 when
   * it has one) (none: NO_ADDRESS). The gateway is never handed out.
   */
  async claim(name: string, requested?: string, family?: Family): Promise<string> {
    this.checkOpen();
    const joined = this.joinedOrThrow(name);
    const wanted = family ?? (requested !== undefined ? familyOf(requested) : joined.pools[0].family);
    const pool = joined.pools.find((candidate) => candidate.family === wanted);
    if (pool === undefined) {
      throw new HostAgentError(`network ${name} has no IPv${wanted} subnet${requested !== undefined ? ` for address ${requested}` : ''}`, 'NOT_IN_SUBNET');
    }
    if (requested !== undefined) {
      if (!pool.contains(requested)) throw new HostAgentError(`address ${requested} is not in network ${name}'s subnet ${pool.cidr}`, 'NOT_IN_SUBNET');
      requested = canonicalIp(requested);
      if (requested === pool.gateway) throw new HostAgentError(`address ${requested} is network ${name}'s gateway and DNS address`, 'ADDRESS_TAKEN');
    }
    const tryClaim = async (ip: string): Promise<boolean> => {
      const result = await this.client
        .if(keys.ipam(name, ip), 'Create', '==', 0)
        .then(this.client.put(keys.ipam(name, ip)).value(this.hostId).lease(this.hostLease.id))
        .commit();
      if (result.succeeded) joined.claims.add(ip);
      return result.succeeded;
    };
    // O(1) while the subnet has room: a few candidates spread by a hash, each one transaction,
    // nothing read. Only when they are all taken is every claim read to find a free one.
    if (requested === undefined) {
      for (let guess = 0; guess < 3; guess++) {
        const ip = pool.guess(`${this.hostId}/${this.claimSeed++}`);
        if (ip !== pool.gateway && await tryClaim(ip)) return ip;
      }
    }
    for (let attempt = 0; attempt < 16; attempt++) {
      const ipam = await this.client.getAll().prefix(keys.ipamPrefix(name)).strings();
      const taken = new Set<string>([pool.gateway]);
      for (const key of Object.keys(ipam)) taken.add(key.slice(keys.ipamPrefix(name).length));
      let ip: string | undefined;
      if (requested !== undefined) {
        if (taken.has(requested)) throw new HostAgentError(`address ${requested} is taken in network ${name} (by host ${ipam[keys.ipam(name, requested)] ?? 'the gateway'})`, 'ADDRESS_TAKEN');
        ip = requested;
      } else {
        // Each attempt starts somewhere else, so hosts racing for addresses mostly try different ones.
        ip = pool.choose(`${this.hostId}/${attempt}/${taken.size}`, taken);
        if (ip === undefined) throw new HostAgentError(`no free address in network ${name}'s subnet ${pool.cidr}: all ${BigInt(pool.size) - 1n} (the gateway aside) are taken`, 'NO_ADDRESS');
      }
      if (await tryClaim(ip)) return ip;
    }
    throw new HostAgentError(`could not claim an address in network ${name} after 16 tries (heavy contention)`, 'NO_ADDRESS');
  }

  /** Release a claim of this host (idempotent; another host's claim is never touched). */
  async release(name: string, ip: string): Promise<void> {
    const joined = this.joined.get(name);
    joined?.claims.delete(ip);
    await this.client.if(keys.ipam(name, ip), 'Value', '==', this.hostId).then(this.client.delete().key(keys.ipam(name, ip))).commit();
  }

  /**
   * Add (or update) one of this host's endpoints: its record under the lease and its durable
   * copy, in one transaction that requires its address to be claimed by this host. With
   * `update`, only if it is still served (false otherwise: it was removed meanwhile).
   */
  async putEndpoint(name: string, served: ServedRecord, options: { update?: boolean } = {}): Promise<boolean> {
    this.checkOpen();
    const joined = this.joinedOrThrow(name);
    const { endpoint } = served;
    if (endpoint.hostId !== this.hostId) throw new RangeError(`endpoint ${endpoint.endpointId} is served by ${endpoint.hostId}, not this host`);
    const servedKey = keys.served(this.hostId, name, endpoint.endpointId);
    if (options.update === true) {
      // An update (names found later) must not bring back an endpoint removed meanwhile: it
      // requires the durable copy that a removal deletes in the same transaction as the record.
      if (!joined.endpoints.has(endpoint.endpointId)) return false;
      let update = this.client.if(servedKey, 'Create', '>', 0);
      for (const ip of addressesOf(endpoint)) update = update.and(keys.ipam(name, ip), 'Value', '==', this.hostId);
      const result = await update
        .then(
          this.client.put(keys.endpoint(name, endpoint.endpointId)).value(JSON.stringify(endpoint)).lease(this.hostLease.id),
          this.client.put(servedKey).value(JSON.stringify(served)),
        )
        .commit();
      if (!result.succeeded || !joined.endpoints.has(endpoint.endpointId)) return false;
      joined.endpoints.set(endpoint.endpointId, served);
      return true;
    }
    const ips = addressesOf(endpoint);
    if (ips.length === 0) throw new RangeError(`endpoint ${endpoint.endpointId} has no address`);
    let add = this.client.if(keys.ipam(name, ips[0]), 'Value', '==', this.hostId);
    for (const ip of ips.slice(1)) add = add.and(keys.ipam(name, ip), 'Value', '==', this.hostId);
    const result = await add
      .then(
        this.client.put(keys.endpoint(name, endpoint.endpointId)).value(JSON.stringify(endpoint)).lease(this.hostLease.id),
        this.client.put(keys.served(this.hostId, name, endpoint.endpointId)).value(JSON.stringify(served)),
      )
      .commit();
    if (!result.succeeded) throw new HostAgentError(`address ${ips.join(' or ')} is not claimed by this host in network ${name}`, 'NOT_CLAIMED');
    joined.endpoints.set(endpoint.endpointId, served);
    for (const ip of ips) joined.claims.add(ip);
    return true;
  }

  /** Remove one of this host's endpoints (idempotent); `release` also gives up its address. */
  async removeEndpoint(name: string, endpointId: string, options: { release?: boolean } = {}): Promise<ServedRecord | undefined> {
    const joined = this.joined.get(name);
    const served = joined?.endpoints.get(endpointId);
    joined?.endpoints.delete(endpointId);
    // Both or neither (a compare that always holds: etcd3 has no bare transaction).
    await this.client.if(keys.endpoint(name, endpointId), 'Create', '>', -1)
      .then(this.client.delete().key(keys.endpoint(name, endpointId)), this.client.delete().key(keys.served(this.hostId, name, endpointId)))
      .commit();
    if (options.release === true && served !== undefined) for (const ip of addressesOf(served.endpoint)) await this.release(name, ip);
    return served;
  }

  /** This host's durable endpoint copies (all networks), as a restart finds them. */
  async readServed(): Promise<ServedRecord[]> {
    const values = await this.client.getAll().prefix(keys.servedPrefix(this.hostId)).strings();
    return Object.values(values).map(parseServedRecord).filter((record): record is ServedRecord => record !== undefined);
  }

  /**
   * Put back a durable endpoint after a restart: its claim (if free or still ours) and its record
   * under the current lease. False when its address was taken by another host meanwhile (the
   * endpoint cannot be restored; its durable copy is dropped and the caller told).
   */
  async restore(served: ServedRecord): Promise<boolean> {
    const name = served.network;
    const joined = this.joinedOrThrow(name);
    const { endpoint } = served;
    const ips = addressesOf(endpoint);
    for (const ip of ips) {
      if (await this.reclaim(name, ip)) continue;
      // One address gone is the endpoint gone: give back the ones put back before it.
      for (const other of ips) if (other !== ip) await this.release(name, other);
      await this.client.delete().key(keys.served(this.hostId, name, endpoint.endpointId)).exec();
      return false;
    }
    for (const ip of ips) joined.claims.add(ip);
    await this.putEndpoint(name, served);
    return true;
  }

  /** Put a claim (back) under the current lease: true when it was free or already this host's. */
  private async reclaim(name: string, ip: string): Promise<boolean> {
    const claim = keys.ipam(name, ip);
    const free = await this.client.if(claim, 'Create', '==', 0).then(this.client.put(claim).value(this.hostId).lease(this.hostLease.id)).commit();
    if (free.succeeded) return true;
    const mine = await this.client.if(claim, 'Value', '==', this.hostId).then(this.client.put(claim).value(this.hostId).lease(this.hostLease.id)).commit();
    return mine.succeeded;
  }

  /** Stop: no more watching; `leave` (default) revokes the lease so the others drop this host now. */
  async close(options: { leave?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.recovery.close();
    for (const joined of this.joined.values()) joined.view.close();
    await this.hostLease.end(options.leave !== false, this.logger);
  }

  // ---- trouble and recovery ----------------------------------------------------------------

  private trouble(reason: string): void {
    this.recovery.trouble(reason);
  }

  /** One recovery attempt: put back everything this host holds (under a new lease if the old one is gone) and resync every view. */
  private async putBack(): Promise<{ networks: number }> {
    await this.grant();
    for (const joined of [...this.joined.values()]) {
      try {
        await this.putHost(joined);
      } catch (error) {
        if (!(error instanceof HostAgentError)) throw error;
        // The network was removed: stop serving it, say so once.
        joined.view.close();
        this.joined.delete(joined.network.name);
        this.emit('networkGone', joined.network.name, error);
        continue;
      }
      for (const ip of [...joined.claims]) {
        if (!await this.reclaim(joined.network.name, ip)) {
          joined.claims.delete(ip);
          this.logger.error({ network: joined.network.name, ip }, 'an address of this host was taken by another while this host was away');
        }
      }
      for (const served of [...joined.endpoints.values()]) {
        if (addressesOf(served.endpoint).every((ip) => joined.claims.has(ip))) await this.putEndpoint(joined.network.name, served);
        else {
          joined.endpoints.delete(served.endpoint.endpointId);
          this.emit('endpointLost', joined.network.name, served);
        }
      }
      await joined.view.sync();
    }
    return { networks: this.joined.size };
  }
}

/** An endpoint's addresses, IPv4 first. */
export function addressesOf(endpoint: Pick<EndpointRecord, 'ipv4' | 'ipv6'>): string[] {
  return [endpoint.ipv4, endpoint.ipv6].filter((ip): ip is string => ip !== undefined);
}
