/**
 * The agent's side of the CNI plugin: the calls of protocol.ts turned into etcd transactions (on a
 * HostAgent) and links, each refusal a CNI error with a sentence.
 *
 *   ADD    network joined on first use (bridge, TAP, name server: the Docker code's LocalNetwork;
 *          or the bridge the Docker driver already made for it) → address claimed in etcd →
 *          veth pair, host end in the bridge → container end moved into CNI_NETNS as CNI_IFNAME,
 *          MAC and address set, up → endpoint registered (its name: the container's) → result.
 *          A step that fails undoes the earlier ones: nothing half-made in the netns or etcd.
 *   CHECK  the endpoint is served, its host end exists, the container's interface has its MAC and
 *          address and is up, and prevResult lists that address
 *   DEL    endpoint and address removed from etcd, the veth pair deleted; success for anything
 *          already gone (a netns that vanished, a network never joined, an unknown container)
 *   GC     this network's CNI endpoints on this host that the runtime does not list: removed
 *
 * A network this service set up itself is left (etcd membership, bridge, TAP, name server) once
 * DEL, GC or the reaper removed its last endpoint on this host, and set up again by the next ADD;
 * one the Docker driver set up is the driver's to leave (onEndpointRemoved).
 *   STATUS the agent has etcd and the network exists
 *
 * Endpoint ids are derived from (network, container id, ifname), so DEL and CHECK find what ADD
 * made without any state of their own, and a restarted agent finds its endpoints in etcd (their
 * durable `served/` copies, told apart from the Docker driver's by the `cni.` prefix).
 *
 * Routes: the container gets its subnet's route (from its address) and no default route: the
 * overlay has no way out to other networks (no NAT on the host), so a default route would only
 * send traffic where it dies. The gateway in the result is the network's DNS address.
 */
import { createHash } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import { HostAgentError, type HostAgent } from '../control/host-agent';
import { ENDPOINT_NAME, type EndpointRecord, type NetworkRecord, type ServedRecord } from '../control/keys';
import { poolsOf, type AddressPool } from '../control/address-pool';
import { addressesOf } from '../control/host-agent';
import { getNetwork } from '../control/networks';
import { isUnavailable } from '../control/store';
import { silentLogger, type AgentLogger } from '../control/logger';
import { startReaping } from '../control/reaper';
import { macForAddress } from '../docker/driver';
import { linkNames, type Links } from '../docker/links';
import type { LocalNetwork, OpenLocalNetwork } from '../docker/local-network';
import type { Handler } from '../docker/plugin-server';
import type { Json } from '../docker/protocol';
import type { ContainerNetns } from './netns';
import type { AgentAttachment, AgentRequest } from './protocol';
import { CNI_CODES, CniError, type CniResult } from './spec';
import type { CallResult, CniCallTally } from './metrics';

export interface CniServiceOptions {
  host: HostAgent;
  client: Etcd3;
  links: Links;
  netns: ContainerNetns;
  openNetwork: OpenLocalNetwork;
  /** The MTU of container interfaces. */
  mtu: number;
  tally?: CniCallTally;
  logger?: AgentLogger;
  /** How often endpoints are checked for a vanished veth (default 5000 ms; 0: never). */
  reapIntervalMs?: number;
  /**
   * Called after DEL, GC or the reaper removed an endpoint of `network`: with --docker too, the
   * Docker driver releases a network it kept for CNI containers once the last of them is gone.
   */
  onEndpointRemoved?: (network: string) => Promise<unknown>;
}

interface CniNetwork {
  record: NetworkRecord;
  /** One per family the network has, IPv4 first. */
  pools: AddressPool[];
  bridge: string;
  /** Ours to close; undefined when another runtime adapter (the Docker driver) set the network up. */
  local?: LocalNetwork;
}

const ENDPOINT_PREFIX = 'cni.';

/** The endpoint id of one attachment: stable, so DEL and CHECK need no state of their own. */
export function endpointIdFor(network: string, containerId: string, ifname: string): string {
  return ENDPOINT_PREFIX + createHash('sha256').update(`${network}\u0000${containerId}\u0000${ifname}`).digest('hex');
}

/** Host end and the container end's name before it is moved and renamed (15 bytes at most). */
export const cniLinkNames = {
  host: (endpointId: string) => `vwn${endpointId.slice(ENDPOINT_PREFIX.length, ENDPOINT_PREFIX.length + 11)}`,
  container: (endpointId: string) => `vwm${endpointId.slice(ENDPOINT_PREFIX.length, ENDPOINT_PREFIX.length + 11)}`,
};

function text(body: Json, field: string, required = true): string {
  const value = body[field];
  if (value === undefined && !required) return '';
  if (typeof value !== 'string') throw new CniError(CNI_CODES.DECODING_FAILURE, `the plugin's request has no ${field} text`, 'run the same version of vxlan-wasm for the plugin and the agent');
  return value;
}

function agentRequest(body: Json): AgentRequest {
  const aliases = Array.isArray(body.aliases) ? body.aliases.filter((alias): alias is string => typeof alias === 'string') : [];
  return {
    network: text(body, 'network'), containerId: text(body, 'containerId'), netns: text(body, 'netns', false), ifname: text(body, 'ifname'),
    containerName: text(body, 'containerName', false), aliases, prevResult: body.prevResult as CniResult | undefined,
  };
}

export class CniService {
  private readonly networks = new Map<string, CniNetwork>();
  private readonly logger: AgentLogger;
  private reaper: NodeJS.Timeout | undefined;
  /** ADDs under way, by network: a network is not left under an ADD that has not put its endpoint yet. */
  private readonly adding = new Map<string, number>();
  /** Networks being left: an ADD waits for it, then sets the network up again. */
  private readonly leaving = new Map<string, Promise<void>>();

  constructor(private readonly options: CniServiceOptions) {
    this.logger = options.logger ?? silentLogger;
  }

  /** The socket's calls, by path; every refusal is `{error}` in the spec's codes. */
  handlers(): Record<string, Handler> {
    const wrap = (command: string, handle: (body: Json) => Promise<Json>): Handler => async (body) => {
      let result: CallResult = 'ok';
      try {
        return await handle(body);
      } catch (error) {
        const refusal = this.refusal(error);
        result = `${refusal.code}`;
        this.logger.warn({ command, code: refusal.code, err: refusal.message }, 'CNI call refused');
        return { error: { code: refusal.code, msg: refusal.message, ...(refusal.details === '' ? {} : { details: refusal.details }) } };
      } finally {
        this.options.tally?.record(command, result);
      }
    };
    return {
      'Cni.Add': wrap('ADD', (body) => this.add(agentRequest(body))),
      'Cni.Check': wrap('CHECK', (body) => this.check(agentRequest(body))),
      'Cni.Del': wrap('DEL', (body) => this.del(agentRequest(body))),
      'Cni.Gc': wrap('GC', (body) => this.gc(text(body, 'network'), Array.isArray(body.attachments) ? (body.attachments as AgentAttachment[]) : [])),
      'Cni.Status': wrap('STATUS', (body) => this.status(text(body, 'network'))),
    };
  }

  /** Any error as the spec's refusal, with a sentence. */
  private refusal(error: unknown): CniError {
    if (error instanceof CniError) return error;
    if (isUnavailable(error)) return new CniError(CNI_CODES.TRY_AGAIN_LATER, 'the vxlan-wasm agent cannot reach etcd', 'check etcd and the agent\'s --etcd; the call can be retried once etcd answers');
    if (error instanceof HostAgentError) {
      if (error.code === 'NETWORK_NOT_FOUND' || error.code === 'NETWORK_GONE') return this.noNetwork(error.message);
      if (error.code === 'CLOSED') return new CniError(CNI_CODES.TRY_AGAIN_LATER, 'the vxlan-wasm agent is stopping', 'try again once it runs');
      return new CniError(CNI_CODES.AGENT_FAILED, error.message);
    }
    const message = (error as Error).message ?? String(error);
    const known = ['LinkError', 'NetnsError', 'NetworkError', 'DnsError'].includes((error as Error).name);
    return new CniError(CNI_CODES.AGENT_FAILED, known ? message : `internal error: ${message}`, known ? '' : 'a bug in the agent; see its log');
  }

  private noNetwork(why: string): CniError {
    return new CniError(CNI_CODES.NO_SUCH_NETWORK, why, 'create it once for all hosts with `vxlan-wasm network create NAME --subnet CIDR`, or set "network" in the CNI configuration to an existing one');
  }

  /** The network on this host, set up on first use. */
  private async network(name: string): Promise<CniNetwork> {
    const { host, client } = this.options;
    await this.leaving.get(name);
    const known = this.networks.get(name);
    // One the Docker driver set up is borrowed: once it left (docker network rm), set it up anew.
    if (known !== undefined && (known.local !== undefined || host.network(name) !== undefined)) return known;
    this.networks.delete(name);
    const joined = host.network(name);
    if (joined !== undefined) {
      // Another adapter (the Docker driver) set it up: its bridge is the one to use.
      const network: CniNetwork = { record: joined, pools: poolsOf(joined), bridge: linkNames.bridge(joined.vni) };
      this.networks.set(name, network);
      return network;
    }
    const found = await getNetwork(client, name);
    if (found === undefined) throw this.noNetwork(`no overlay network named ${name} in etcd`);
    const { revision: _revision, ...record } = found;
    const local = await this.options.openNetwork(record);
    try {
      await host.join(name, { onEndpoint: (endpointId, endpoint) => local.setEndpoint(endpointId, endpoint) });
    } catch (error) {
      await local.close().catch(() => undefined);
      throw error;
    }
    const network: CniNetwork = { record, pools: poolsOf(record), bridge: local.bridge, local };
    this.networks.set(name, network);
    this.logger.info({ network: name, vni: record.vni, subnet: record.subnet, subnet6: record.subnet6 }, 'network set up for CNI');
    return network;
  }

  private served(network: string, endpointId: string): ServedRecord | undefined {
    return this.options.host.served(network).find((served) => served.endpoint.endpointId === endpointId);
  }

  private async add(request: AgentRequest): Promise<Json> {
    this.adding.set(request.network, (this.adding.get(request.network) ?? 0) + 1);
    try {
      return await this.addTo(request);
    } finally {
      const left = (this.adding.get(request.network) ?? 1) - 1;
      if (left > 0) this.adding.set(request.network, left);
      else this.adding.delete(request.network);
      // A failed ADD may have set up a network nothing uses.
      if (left === 0) await this.leaveIfUnused(request.network);
    }
  }

  private async addTo(request: AgentRequest): Promise<Json> {
    const { host, links, netns, mtu } = this.options;
    const network = await this.network(request.network);
    const endpointId = endpointIdFor(request.network, request.containerId, request.ifname);
    if (this.served(request.network, endpointId) !== undefined) {
      throw new CniError(CNI_CODES.ALREADY_ATTACHED, `container ${request.containerId.slice(0, 12)} has ${request.ifname} on network ${request.network} already`, 'the spec allows one ADD per container and interface: DEL it first (or give another CNI_IFNAME)');
    }
    if (!netns.exists(request.netns)) throw new CniError(CNI_CODES.UNKNOWN_CONTAINER, `the network namespace ${request.netns} does not exist`, 'the container is gone or not started; start it again');
    if (netns.has(request.netns, request.ifname)) throw new CniError(CNI_CODES.AGENT_FAILED, `the container has an interface named ${request.ifname} already`, 'give another CNI_IFNAME, or remove the other network first');

    const undo: (() => Promise<unknown> | unknown)[] = [];
    try {
      // One address per family the network has, all or none.
      const claimed = await host.claimAll(request.network);
      const ips = addressesOf(claimed);
      undo.push(async () => {
        for (const ip of ips) await host.release(request.network, ip);
      });
      const mac = macForAddress(ips[0]);
      const hostEnd = cniLinkNames.host(endpointId);
      const containerEnd = cniLinkNames.container(endpointId);
      links.createVeth(hostEnd, containerEnd, { mac, mtu, bridge: network.bridge });
      undo.push(() => links.remove(hostEnd));
      const assigned = network.pools.map((pool) => ({ pool, address: `${pool.family === 4 ? claimed.ipv4 : claimed.ipv6}/${pool.prefixLength}` }));
      // IPv6: a default route through the network's IPv6 gateway (the container's IPv6 world is
      // the overlay); IPv4 keeps its subnet route only, as before.
      const routes = network.pools.filter((pool) => pool.family === 6).map((pool) => ({ dst: '::/0', gw: pool.gateway }));
      netns.attach(containerEnd, request.netns, { ifname: request.ifname, addresses: assigned.map(({ address }) => address), routes });
      const name = ENDPOINT_NAME.test(request.containerName) ? request.containerName : request.containerId.slice(0, 12);
      const endpoint: EndpointRecord = { endpointId, hostId: host.hostId, mac, ...claimed, name, aliases: request.aliases.filter((alias) => ENDPOINT_NAME.test(alias)) };
      await host.putEndpoint(request.network, { network: request.network, endpoint, link: hostEnd });
      this.logger.info({ network: request.network, containerId: request.containerId.slice(0, 12), ifname: request.ifname, ips, mac, name }, 'CNI endpoint added');
      const result: CniResult = {
        cniVersion: '1.0.0',
        interfaces: [{ name: hostEnd }, { name: request.ifname, mac, mtu, sandbox: request.netns }],
        ips: assigned.map(({ pool, address }) => ({ address, gateway: pool.gateway, interface: 1 })),
        routes,
        dns: { nameservers: network.pools.map((pool) => pool.gateway) },
      };
      return { result };
    } catch (error) {
      for (const step of undo.reverse()) {
        try {
          await step();
        } catch (undoError) {
          this.logger.warn({ err: (undoError as Error).message }, 'could not undo a step of a failed ADD');
        }
      }
      throw error;
    }
  }

  private async check(request: AgentRequest): Promise<Json> {
    const { links, netns } = this.options;
    const endpointId = endpointIdFor(request.network, request.containerId, request.ifname);
    const served = this.networks.has(request.network) ? this.served(request.network, endpointId) : undefined;
    const what = `container ${request.containerId.slice(0, 12)}'s ${request.ifname} on network ${request.network}`;
    if (served === undefined) throw new CniError(CNI_CODES.UNKNOWN_CONTAINER, `${what} is not known to this host's agent`, 'ADD it again (DEL, then ADD)');
    const wrong = (why: string) => new CniError(CNI_CODES.AGENT_FAILED, `${what}: ${why}`, 'DEL and ADD it again');
    if (served.link !== undefined && !links.exists(served.link)) throw wrong(`its host end ${served.link} is gone`);
    const seen = netns.inspect(request.netns, request.ifname);
    if (seen === undefined) throw wrong(`no interface ${request.ifname} in ${request.netns}`);
    if (seen.mac.toLowerCase() !== served.endpoint.mac) throw wrong(`its MAC is ${seen.mac}, not ${served.endpoint.mac}`);
    for (const pool of this.networks.get(request.network)!.pools) {
      const ip = pool.family === 4 ? served.endpoint.ipv4 : served.endpoint.ipv6;
      const address = `${ip}/${pool.prefixLength}`;
      const has = pool.family === 4 ? seen.ipv4 : seen.ipv6;
      if (!has.includes(address)) throw wrong(`it has ${has.join(', ') || `no IPv${pool.family} address`}, not ${address}`);
      if (request.prevResult !== undefined && !(request.prevResult.ips ?? []).some((listed) => listed.address === address)) throw wrong(`prevResult does not list its address ${address}`);
    }
    if (!seen.up) throw wrong('it is down');
    return {};
  }

  private async del(request: AgentRequest): Promise<Json> {
    const { host, links } = this.options;
    const endpointId = endpointIdFor(request.network, request.containerId, request.ifname);
    const hostEnd = cniLinkNames.host(endpointId);
    // Never set up here (no ADD since the start, no endpoint restored): nothing of ours to remove.
    if (this.networks.has(request.network)) {
      const removed = await host.removeEndpoint(request.network, endpointId, { release: true });
      if (removed !== undefined) this.logger.info({ network: request.network, containerId: request.containerId.slice(0, 12), ifname: request.ifname, ips: addressesOf(removed.endpoint) }, 'CNI endpoint deleted');
    }
    // The pair goes with its host end, whatever namespace the other end is in.
    links.remove(hostEnd);
    if (this.networks.has(request.network)) await this.endpointRemoved(request.network);
    return {};
  }

  private async gc(name: string, attachments: AgentAttachment[]): Promise<Json> {
    if (!this.networks.has(name)) return { removed: 0 };
    const valid = new Set(attachments.map((attachment) => endpointIdFor(name, String(attachment.containerId), String(attachment.ifname))));
    let removed = 0;
    for (const served of this.options.host.served(name)) {
      const { endpointId } = served.endpoint;
      if (!endpointId.startsWith(ENDPOINT_PREFIX) || valid.has(endpointId)) continue;
      await this.options.host.removeEndpoint(name, endpointId, { release: true });
      this.options.links.remove(cniLinkNames.host(endpointId));
      removed++;
      this.logger.info({ network: name, endpointId, ip: served.endpoint.ipv4 }, 'CNI endpoint collected (GC)');
    }
    if (removed > 0) await this.endpointRemoved(name);
    return { removed };
  }

  private async status(name: string): Promise<Json> {
    if (!this.options.host.isConnected) throw new CniError(CNI_CODES.TRY_AGAIN_LATER, 'the vxlan-wasm agent has lost etcd', 'check etcd and the agent\'s --etcd');
    if (!this.networks.has(name) && (await getNetwork(this.options.client, name)) === undefined) throw this.noNetwork(`no overlay network named ${name} in etcd`);
    return {};
  }

  /**
   * After a restart: this host's CNI endpoints put back under the new lease, their networks set up
   * again and their veths put in the new bridges; those whose veth is gone (the container died
   * meanwhile) removed with their address, and a network left with none of them left again.
   */
  async restore(): Promise<{ endpoints: number; reaped: number; lost: number }> {
    const { host, links } = this.options;
    let endpoints = 0;
    let reaped = 0;
    let lost = 0;
    for (const record of await host.readServed()) {
      if (!record.endpoint.endpointId.startsWith(ENDPOINT_PREFIX)) continue;
      let network: CniNetwork;
      try {
        network = await this.network(record.network);
      } catch (error) {
        this.logger.warn({ network: record.network, err: (error as Error).message }, 'a CNI endpoint\'s network could not be set up again; it is not restored');
        lost++;
        continue;
      }
      if (record.link === undefined || !links.exists(record.link)) {
        // Not restored, so the HostAgent does not know its address: released by name.
        await host.removeEndpoint(record.network, record.endpoint.endpointId);
        for (const ip of addressesOf(record.endpoint)) await host.release(record.network, ip);
        reaped++;
        continue;
      }
      if (await host.restore(record)) {
        links.attach(record.link, network.bridge, { mac: record.endpoint.mac });
        endpoints++;
      } else {
        lost++;
        this.logger.error({ network: record.network, ip: record.endpoint.ipv4 }, 'a CNI endpoint\'s address was taken while this agent was away; it is not restored');
      }
    }
    // A network whose every endpoint died while the agent was away is not kept.
    for (const name of [...this.networks.keys()]) await this.leaveIfUnused(name);
    return { endpoints, reaped, lost };
  }

  /**
   * Remove this host's CNI endpoints whose veth is gone: a veth pair dies with the container's
   * network namespace, so such an endpoint's container is gone without a DEL (a runtime that
   * crashed, a namespace deleted by hand). Runs every `reapIntervalMs` once `startReaper` is called.
   */
  async reap(): Promise<number> {
    let reaped = 0;
    for (const name of this.networks.keys()) {
      for (const served of this.options.host.served(name)) {
        const { endpointId } = served.endpoint;
        if (!endpointId.startsWith(ENDPOINT_PREFIX) || served.link === undefined || this.options.links.exists(served.link)) continue;
        await this.options.host.removeEndpoint(name, endpointId, { release: true });
        reaped++;
        this.logger.info({ network: name, endpointId, ip: served.endpoint.ipv4 }, 'reaped a CNI endpoint whose container is gone');
        await this.endpointRemoved(name);
      }
    }
    return reaped;
  }

  /**
   * After an endpoint was removed: a network this service set up is left once it has no endpoint
   * on this host and no ADD under way; then onEndpointRemoved is told (the Docker driver releases
   * a network it kept). Failures are logged, never the call's (the endpoint is gone either way).
   */
  private async endpointRemoved(network: string): Promise<void> {
    await this.leaveIfUnused(network);
    try {
      await this.options.onEndpointRemoved?.(network);
    } catch (error) {
      this.logger.warn({ network, err: (error as Error).message }, 'could not release the network after its endpoint was removed');
    }
  }

  /** Leave a network this service set up (not one it borrowed) when nothing of it is in use here. */
  private async leaveIfUnused(name: string): Promise<void> {
    const network = this.networks.get(name);
    if (network?.local === undefined || (this.adding.get(name) ?? 0) > 0 || this.options.host.served(name).length > 0) return;
    const local = network.local;
    this.networks.delete(name);
    const leaving = (async () => {
      try {
        await this.options.host.leave(name);
      } catch (error) {
        this.logger.warn({ network: name, err: (error as Error).message }, 'could not leave the network in etcd; its lease takes this host\'s record with it');
      }
      await local.close().catch((error: Error) => this.logger.warn({ network: name, err: error.message }, 'could not remove the network\'s links'));
      this.logger.info({ network: name }, 'network left: its last CNI endpoint on this host is gone');
    })();
    this.leaving.set(name, leaving);
    try {
      await leaving;
    } finally {
      if (this.leaving.get(name) === leaving) this.leaving.delete(name);
    }
  }

  startReaper(): void {
    if (this.reaper !== undefined) return;
    this.reaper = startReaping(() => this.reap(), this.options.reapIntervalMs ?? 5000, this.logger);
  }

  /** The local networks this service set up go (bridges, TAPs, name servers); containers' veths stay for the next start. */
  async close(): Promise<void> {
    if (this.reaper !== undefined) clearInterval(this.reaper);
    this.reaper = undefined;
    for (const [name, network] of this.networks) {
      await network.local?.close().catch((error: Error) => this.logger.warn({ network: name, err: error.message }, 'could not remove the network\'s links'));
    }
    this.networks.clear();
  }
}
