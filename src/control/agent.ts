/**
 * The agent's control loop (`agent --network`): join a network in etcd with one endpoint, the
 * host's TAP, and keep a Forwarder programmed with the network's other hosts and endpoints.
 * Device-agnostic: it programs anything with the ForwarderControl methods, so the
 * CLI gives it a real Forwarder over a TAP, the tests a fake, the scale bench hundreds of them.
 *
 *   start   read the network → grant a lease (kept alive by the client) → claim an address and
 *           write this host's record and its TAP's endpoint, all under the lease, in one
 *           transaction → sync
 *   sync    read net/NAME/ at revision R → reconcile (forwarder := desired) → watch from R+1;
 *           each event is applied with the same idempotent reconcile step (network-view.ts)
 *   trouble (the watch broke or was cancelled by a compaction, a keepalive failed, the lease was
 *           lost, our own record vanished) → "disconnected": the forwarder keeps its last state,
 *           and a loop with backoff re-registers if needed and runs sync again. There is no
 *           other recovery path: a resync IS a start minus the first read of the network.
 *   close   cancel the watch, revoke the lease (leave): every other host drops this one at once.
 *           A host that dies instead is dropped when its lease expires (within the TTL): liveness
 *           is etcd's lease, never a timer here.
 */
import { EventEmitter } from 'node:events';
import type { Etcd3 } from 'etcd3';
import { HostLease } from './host-lease';
import { Recovery } from './recovery';
import type { Endpoint } from '../forwarder/contracts';
import { keys, parseEndpointRecord, parseHostRecord, type EndpointRecord, type HostRecord, type NetworkRecord } from './keys';
import { poolsOf, type AddressPool } from './address-pool';
import { getNetwork, NetworkError } from './networks';
import { Reconciler, type ApplyResult, type ForwarderControl, type ResyncResult } from './reconcile';
import { refuseOldLayout } from './layout';
import { NetworkView, withTimeout } from './network-view';
import { silentLogger, type AgentLogger } from './logger';

/** The endpoint id of an agent's TAP. */
export const tapEndpointId = (hostId: string) => `tap.${hostId}`;

export type { AgentLogger } from './logger';

export interface AgentOptions {
  client: Etcd3;
  network: string;
  hostId: string;
  /** Where the other hosts send VXLAN to reach this one. */
  vtep: Endpoint;
  /** This host's endpoint (the TAP) MAC. */
  mac: string;
  forwarder: ForwarderControl;
  /** The lease's TTL (default 10 s): how long a dead host stays visible to the others at most. */
  ttlSeconds?: number;
  /** Try this address first (e.g. the one this host had before; either family); default: the host id's own start. */
  preferredIp?: string;
  /**
   * Called with each address IPAM gave (one per family the network has) and its pool, before the
   * first sync; again if a later re-registration had to take another.
   */
  onAddress?: (ip: string, pool: AddressPool) => void | Promise<void>;
  logger?: AgentLogger;
  /** Resync backoff: first wait and cap (default 200 ms, 2000 ms). */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Deadline for creating a watch (default 3000 ms). */
  watchTimeoutMs?: number;
}

/** Refusals that stopping and restarting will not fix: no free address, host id in use, network gone. */
export class AgentError extends Error {
  override readonly name = 'AgentError';
  constructor(message: string, readonly code: 'NO_ADDRESS' | 'HOST_ID_IN_USE' | 'NETWORK_GONE' | 'NETWORK_NOT_FOUND' | 'INVALID') {
    super(message);
  }
}

export interface AgentStatus {
  connected: boolean;
  /** Remote hosts programmed into the forwarder. */
  hosts: number;
  ip?: string;
  /** Store revision the desired state is current to. */
  revision: number;
  /** Successful syncs after the first (each a recovery from trouble). */
  resyncs: number;
  /** Watch events applied. */
  events: number;
  /** Host records that did not parse or that the forwarder refused. */
  invalidRecords: number;
  /** Leases granted after the first (the old one was lost). */
  leaseRegrants: number;
  /** When the agent last lost etcd (ms, Date.now), while disconnected. */
  disconnectedSince?: number;
}

/** The events an Agent emits, typed (`agent.on('error', (error) => …)` needs no annotation). */
export interface AgentEvents {
  /** A remote host came, changed or went, and what the forwarder made of it. */
  host: [hostId: string, result: string, host: HostRecord | undefined];
  /** IPAM gave this host its overlay address (again after a re-registration that had to take another). */
  address: [ip: string];
  /** The forwarder matches the store at a revision (after the start and after every recovery). */
  synced: [result: ResyncResult];
  connected: [];
  disconnected: [];
  /** A refusal that stopping and restarting will not fix (the network removed, the host id taken). */
  error: [error: AgentError | NetworkError];
}

export class Agent extends EventEmitter<AgentEvents> {
  readonly client: Etcd3;
  readonly networkName: string;
  readonly hostId: string;
  readonly vtep: Endpoint;
  readonly mac: string;
  readonly ttlSeconds: number;
  network: NetworkRecord | undefined;
  /** One per family the network has, IPv4 first. */
  pools: AddressPool[] = [];
  /** This host's addresses by family (its TAP's), and the first of them (IPv4 if the network has it). */
  addresses: { ipv4?: string; ipv6?: string } = {};
  ip: string | undefined;

  private readonly options: AgentOptions;
  private readonly logger: AgentLogger;
  private reconciler: Reconciler | undefined;
  private view: NetworkView | undefined;
  private networkRevision = '0';
  private readonly hostLease: HostLease;
  private joined = '';
  private readonly recovery: Recovery;
  private closed = false;

  constructor(options: AgentOptions) {
    super();
    this.options = options;
    this.client = options.client;
    this.networkName = options.network;
    this.hostId = options.hostId;
    this.vtep = options.vtep;
    this.mac = options.mac.toLowerCase();
    this.ttlSeconds = options.ttlSeconds ?? 10;
    this.hostLease = new HostLease(this.client, this.ttlSeconds, (why) => this.trouble(why));
    this.logger = options.logger ?? silentLogger;
    this.recovery = new Recovery({
      logger: this.logger, retryMinMs: options.retryMinMs, retryMaxMs: options.retryMaxMs,
      onConnected: (connected) => this.emit(connected ? 'connected' : 'disconnected'),
      onTrouble: () => this.view?.dropWatcher(),
      describe: () => ({ hosts: this.reconciler?.size ?? 0 }),
      // A recovery is a start minus the first read of the network.
      attempt: async () => {
        await this.ensureRegistered();
        const result = await this.sync();
        return { ...result, hosts: this.reconciler!.size, revision: this.view!.revision };
      },
      // Retrying will not help: the network is gone or the host cannot register. Stop loudly.
      isFatal: (error) => error instanceof AgentError || error instanceof NetworkError,
      onFatal: (error) => {
        this.logger.error({ err: error.message }, 'cannot rejoin the network');
        this.emit('error', error as AgentError | NetworkError); // (isFatal let only these through)
      },
    });
  }

  status(): AgentStatus {
    return {
      connected: this.recovery.connected, hosts: this.reconciler?.size ?? 0, ip: this.ip, revision: this.view?.revision ?? 0,
      resyncs: this.recovery.resyncs, events: this.view?.events ?? 0, invalidRecords: (this.view?.invalid ?? 0) + (this.reconciler?.invalid ?? 0),
      leaseRegrants: this.hostLease.regrants, disconnectedSince: this.recovery.disconnectedSince,
    };
  }

  /** The remote hosts programmed now. */
  hosts(): HostRecord[] {
    return this.reconciler?.hosts() ?? [];
  }

  /** The network's endpoints known now (this host's TAP among them). */
  endpoints(): EndpointRecord[] {
    return this.reconciler?.endpoints() ?? [];
  }

  /**
   * Join: read the network, register under a lease with an address, program the forwarder with
   * every other host, and watch. Rejects (nothing left registered) when etcd is unreachable, the
   * network does not exist, no address is free or the host id is taken by another live VTEP.
   */
  async start(): Promise<{ network: NetworkRecord; ip: string }> {
    await refuseOldLayout(this.client);
    const network = await getNetwork(this.client, this.networkName);
    if (network === undefined) throw new AgentError(`no network named ${this.networkName} in etcd (create it with: vxlan-wasm network create ${this.networkName} --vni N --subnet CIDR)`, 'NETWORK_NOT_FOUND');
    const { revision, ...record } = network;
    this.network = record;
    this.networkRevision = revision;
    try {
      this.pools = poolsOf(record);
    } catch (error) {
      throw new AgentError(`network ${record.name} has an unusable subnet: ${(error as Error).message}`, 'INVALID');
    }
    this.reconciler = new Reconciler(this.options.forwarder, record.vni, this.hostId, {
      onInvalid: (id, error) => this.logger.warn({ id, err: error.message }, 'a record the forwarder refused; ignored until it changes'),
    });
    this.view = new NetworkView({
      client: this.client, network: this.networkName, reconciler: this.reconciler, selfHostId: this.hostId,
      selfLease: () => this.hostLease.id, watchTimeoutMs: this.options.watchTimeoutMs,
      onTrouble: (reason) => this.trouble(reason),
      onHost: (hostId, host, result) => {
        this.logger.debug({ hostId, result, vtep: host?.vtep }, 'host changed');
        this.emit('host', hostId, result, host);
      },
    });
    try {
      await this.register();
      await this.sync();
    } catch (error) {
      await this.close({ leave: true });
      throw error;
    }
    this.recovery.setConnected(true);
    return { network: record, ip: this.ip! };
  }

  /** Stop: no more watching; `leave` (default) revokes the lease so the others drop this host now. */
  async close(options: { leave?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.recovery.close();
    this.view?.close();
    await this.hostLease.end(options.leave !== false, this.logger);
  }

  // ---- registration ------------------------------------------------------------------------

  private async register(): Promise<void> {
    await this.hostLease.ensure();
    const previous = this.addresses;
    const addresses = await this.claim();
    this.addresses = addresses;
    this.ip = addresses.ipv4 ?? addresses.ipv6;
    for (const pool of this.pools) {
      const ip = pool.family === 4 ? addresses.ipv4! : addresses.ipv6!;
      const before = pool.family === 4 ? previous.ipv4 : previous.ipv6;
      if (ip === before) continue;
      if (before !== undefined) this.logger.warn({ previous: before, ip }, 'this host had to take another address (its old one was taken while it was away)');
      await this.options.onAddress?.(ip, pool);
      this.emit('address', ip);
    }
  }

  /**
   * Claim an address and write this host's record, under the lease, in one transaction that
   * requires the network to be the one joined and the address to be free (or already ours:
   * `ipam/NAME/IP` = our host id, e.g. left by our previous run whose lease has not expired yet).
   * A lost race reads again and tries the next candidate.
   */
  private async claim(): Promise<{ ipv4?: string; ipv6?: string }> {
    const name = this.networkName;
    for (let attempt = 0; attempt < 16; attempt++) {
      const [network, host, ipam, tap] = await Promise.all([
        this.client.get(keys.network(name)).exec(),
        this.client.get(keys.host(name, this.hostId)).exec(),
        this.client.getAll().prefix(keys.ipamPrefix(name)).exec(),
        this.client.get(keys.endpoint(name, tapEndpointId(this.hostId))).string(),
      ]);
      if (network.kvs[0]?.create_revision !== this.networkRevision) {
        throw new AgentError(`network ${name} was removed (or removed and made again) while this agent was joining or joined`, 'NETWORK_GONE');
      }
      const existing = host.kvs[0] === undefined ? undefined : parseHostRecord(host.kvs[0].value.toString());
      if (existing !== undefined && host.kvs[0].lease !== this.hostLease.id
          && (existing.vtep.address !== this.vtep.address || existing.vtep.port !== this.vtep.port)) {
        throw new AgentError(`host id ${this.hostId} is registered in network ${name} by a live agent at VTEP ${existing.vtep.address}:${existing.vtep.port}; give this host another --host-id (or, if that agent is gone, wait up to ${this.ttlSeconds} s for its lease to expire)`, 'HOST_ID_IN_USE');
      }
      // The gateway (and DNS) addresses are on every Docker host's bridge: never an endpoint's.
      const taken = new Set<string>(this.pools.map((pool) => pool.gateway));
      const mine: string[] = [];
      for (const kv of ipam.kvs) {
        const ip = kv.key.toString().slice(keys.ipamPrefix(name).length);
        if (kv.value.toString() === this.hostId) mine.push(ip);
        else taken.add(ip);
      }
      // Ours and worth keeping: the addresses our TAP's endpoint had (a restart whose old lease still lives).
      const old = tap === null ? undefined : parseEndpointRecord(tap);
      // One address per family: ours if we hold one (the one we had first), else a free one.
      const chosen: { pool: AddressPool; ip: string; ours: boolean }[] = [];
      for (const pool of this.pools) {
        // The address this run has, else the one asked for, else the one the TAP's record had.
        const wished = this.options.preferredIp !== undefined && pool.contains(this.options.preferredIp) ? this.options.preferredIp : undefined;
        const preferred = pool.family === 4 ? this.addresses.ipv4 ?? wished ?? old?.ipv4 : this.addresses.ipv6 ?? wished ?? old?.ipv6;
        const held = mine.filter((ip) => pool.contains(ip));
        const ours = held.find((ip) => ip === preferred) ?? held[0];
        const ip = ours ?? pool.choose(this.hostId, taken, preferred);
        if (ip === undefined) {
          throw new AgentError(`no free address in network ${name}'s subnet ${pool.cidr}: all ${BigInt(pool.size) - 1n} (the gateway aside) are taken by live endpoints`, 'NO_ADDRESS');
        }
        chosen.push({ pool, ip, ours: ours !== undefined });
      }
      const addresses: { ipv4?: string; ipv6?: string } = {};
      for (const { pool, ip } of chosen) addresses[pool.family === 4 ? 'ipv4' : 'ipv6'] = ip;
      this.joined ||= existing?.joined || new Date().toISOString();
      const record: HostRecord = { hostId: this.hostId, vtep: this.vtep, joined: this.joined };
      const endpoint: EndpointRecord = { endpointId: tapEndpointId(this.hostId), hostId: this.hostId, mac: this.mac, ...addresses, name: this.hostId, aliases: [] };
      const keep = new Set(chosen.map(({ ip }) => ip));
      const stale = mine.filter((other) => !keep.has(other)).map((other) => this.client.delete().key(keys.ipam(name, other)));
      let transaction = this.client.if(keys.network(name), 'Create', '==', this.networkRevision);
      for (const { ip, ours } of chosen) transaction = transaction.and(keys.ipam(name, ip), ours ? 'Value' : 'Create', '==', ours ? this.hostId : 0);
      const result = await transaction
        .then(
          ...chosen.map(({ ip }) => this.client.put(keys.ipam(name, ip)).value(this.hostId).lease(this.hostLease.id)),
          this.client.put(keys.host(name, this.hostId)).value(JSON.stringify(record)).lease(this.hostLease.id),
          this.client.put(keys.endpoint(name, endpoint.endpointId)).value(JSON.stringify(endpoint)).lease(this.hostLease.id),
          ...stale,
        )
        .commit();
      if (result.succeeded) {
        this.logger.debug({ ...addresses, attempt, revision: result.header.revision }, 'registered');
        return addresses;
      }
      this.logger.debug({ ips: chosen.map(({ ip }) => ip), attempt }, 'lost the race for an address; trying again');
    }
    throw new AgentError(`could not claim an address in network ${name} after 16 tries (heavy contention)`, 'NO_ADDRESS');
  }

  /** Registered now, under the current lease, with the record we mean? If not, register again. */
  private async ensureRegistered(): Promise<void> {
    if (!this.hostLease.live) {
      await this.register();
      return;
    }
    const [hostResponse, tapResponse] = await Promise.all([
      this.client.get(keys.host(this.networkName, this.hostId)).exec(),
      this.client.get(keys.endpoint(this.networkName, tapEndpointId(this.hostId))).exec(),
    ]);
    const kv = hostResponse.kvs[0];
    const tap = tapResponse.kvs[0] === undefined ? undefined : parseEndpointRecord(tapResponse.kvs[0].value.toString());
    if (kv === undefined || kv.lease !== this.hostLease.id || tapResponse.kvs[0]?.lease !== this.hostLease.id || tap?.ipv4 !== this.addresses.ipv4 || tap?.ipv6 !== this.addresses.ipv6 || tap?.mac !== this.mac) await this.register();
  }

  // ---- desired state -----------------------------------------------------------------------

  /** Read the network at one revision, reconcile, then watch from the next revision. */
  private async sync(): Promise<ResyncResult> {
    const result = await this.view!.sync();
    this.logger.debug({ revision: this.view!.revision, ...result, hosts: this.reconciler!.size }, 'synced with etcd');
    this.emit('synced', result);
    return result;
  }

  // ---- trouble and recovery ----------------------------------------------------------------

  /** Something broke (after the start): the shared recovery resyncs until it works again. */
  private trouble(reason: string): void {
    if (this.reconciler !== undefined) this.recovery.trouble(reason);
  }
}
