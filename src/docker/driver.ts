/**
 * Docker's remote network driver and IPAM driver, on a HostAgent: each call turned into etcd
 * transactions and local links, each refusal a sentence Docker shows the user.
 *
 * How two hosts' `docker network create` meet in etcd: by the SUBNET. Docker sends a driver no
 * network name and each daemon has its own network id, but every host gives the same --subnet,
 * and `subnets/CIDR` in etcd names one network. The etcd name is `-o vxlan-wasm.network=NAME`
 * when given, else one derived from the subnet ("10.0.9.0-24"). Asking the daemon's API for the
 * name was the other way, but CreateNetwork arrives before the daemon lists the network, and a
 * name would let two hosts' different subnets collide under one name. The first host creates the
 * network (VNI from `-o vxlan-wasm.vni=N`, else the lowest free from 4096); every later one
 * joins it and is refused if its VNI, name or internal flag disagrees.
 *
 * IPAM: RequestPool checks the subnet against every other network (an overlap is refused);
 * RequestAddress claims in etcd, so no two containers anywhere share an address; the gateway
 * request gets the subnet's first address (the network's DNS address), which no container gets.
 *
 * Dual stack (`docker network create --ipv6 --subnet 10.0.9.0/24 --subnet fd00:9::/64`): Docker
 * asks this IPAM driver for a V6 pool as well; the etcd network (still found by its IPv4 subnet:
 * Docker 20.10 always has one) carries both subnets, every host must give the same IPv6 one;
 * endpoints get AddressIPv6 from the same claims in etcd, and Join answers GatewayIPv6 (the
 * network's IPv6 gateway and DNS address, on every host's bridge). An IPv6 pool from another
 * IPAM driver is refused: its addresses would not be claimed in etcd.
 *
 * Restarts: what Docker will not tell again lives in etcd without a lease (`docker/HOSTID/NETID`
 * → network, `served/HOSTID/…` → endpoints): `restore()` sets the networks up again, puts the
 * endpoints back under the new lease, and reaps those whose container is gone — found by the
 * host end of its veth: a veth pair dies with the container's network namespace, so a joined
 * endpoint whose host end is gone has no container any more (a crash, a daemon restart that
 * killed its containers, a Leave that never came). The same check runs every `reapIntervalMs`.
 */
import type { Etcd3 } from 'etcd3';
import { startReaping } from '../control/reaper';
import { ENDPOINT_NAME, keys, type EndpointRecord, type NetworkRecord, type ServedRecord } from '../control/keys';
import { contains, ipv4Text, parseSubnet } from '../control/ipam';
import { contains6, defaultGateway6, overlaps6, parseSubnet6, unusableSubnet6Reason } from '../control/ipam6';
import type { HostAgent } from '../control/host-agent';
import { createNetwork, findNetworkBySubnet, freeVni, getNetwork, listNetworks, NetworkError, overlaps } from '../control/networks';
import { formatMac, parseIpv4 } from '../wire/address';
import { canonicalIp } from '../forwarder/address-set';
import { createHash } from 'node:crypto';
import { silentLogger, type AgentLogger } from '../control/logger';
import type { LocalNetwork, OpenLocalNetwork } from './local-network';
import { linkNames, type Links } from './links';
import type { EndpointNames, NameLookup } from './docker-api';
import {
  array, DRIVER_NAME, GATEWAY_REQUEST, genericOptions, id, object, OPTION_INTERNAL, OPTION_NETWORK, OPTION_VNI,
  ProtocolError, splitCidr, text, type Json,
} from './protocol';
import type { Handler } from './plugin-server';

/** A subnet asked for as a pool: why it cannot serve (undefined: it can), and whether another network's subnet overlaps it. */
interface PoolSubnet {
  cidr: string;
  unusable: string | undefined;
  overlaps(other: string): boolean;
}

/** What RequestPool does differently per family: the sentence for a missing subnet, the parse, the record's field. */
const POOL_FAMILIES: Record<4 | 6, { missing: string; parse(text: string): PoolSubnet; of(network: NetworkRecord): string | undefined }> = {
  4: {
    missing: `${DRIVER_NAME} needs --subnet: the subnet is how the hosts of one network find each other (give every host the same one, e.g. --subnet 10.0.9.0/24)`,
    parse(pool) {
      const subnet = parseSubnet(pool);
      return {
        cidr: subnet.cidr,
        unusable: subnet.count < 2 ? `subnet ${subnet.cidr} is too small: it needs a gateway address and at least one more` : undefined,
        overlaps: (other) => overlaps(parseSubnet(other), subnet),
      };
    },
    of: (network) => network.subnet,
  },
  6: {
    missing: `${DRIVER_NAME} needs an IPv6 --subnet with --ipv6 (give every host the same one, e.g. --subnet fd00:9::/64)`,
    parse(pool) {
      const subnet = parseSubnet6(pool);
      return { cidr: subnet.cidr, unusable: unusableSubnet6Reason(subnet), overlaps: (other) => overlaps6(parseSubnet6(other), subnet) };
    },
    of: (network) => network.subnet6,
  },
};

/** A refusal of a well-formed request (Err back to Docker). */
export class DriverError extends Error {
  override readonly name = 'DriverError';
}

export interface DockerDriverOptions {
  host: HostAgent;
  client: Etcd3;
  links: Links;
  openNetwork: OpenLocalNetwork;
  /** The MTU of container interfaces. */
  mtu: number;
  /** Container names and aliases (default: none, endpoints are known by address only). */
  lookupNames?: NameLookup;
  logger?: AgentLogger;
  /** How often joined endpoints are checked for a vanished container (default 5000 ms; 0: never). */
  reapIntervalMs?: number;
  /** How long names are looked up after a Join before giving up (default 15 000 ms). */
  namesTimeoutMs?: number;
}

interface DockerNetwork {
  networkId: string;
  name: string;
  record: NetworkRecord;
  local: LocalNetwork;
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Docker's own MAC scheme for an address (02:42 and the IPv4 bytes): stable, unique where addresses
 * are. An IPv6-only endpoint's is from a hash of its address (locally administered, 02 and five
 * bytes): its low 32 bits alone would repeat across a /64's hashed picks far sooner.
 */
export function macForAddress(ip: string): string {
  if (ip.includes(':')) return formatMac(Uint8Array.of(0x02, ...createHash('sha256').update(canonicalIp(ip)).digest().subarray(0, 5)));
  return formatMac(Uint8Array.of(0x02, 0x42, ...parseIpv4(ip)));
}

/** The etcd name of a network made without -o vxlan-wasm.network. */
export const nameForSubnet = (cidr: string) => cidr.replace('/', '-');

function parseVni(value: string): number {
  if (!/^[0-9]{1,8}$/.test(value) || Number(value) > 0xffffff) throw new DriverError(`-o ${OPTION_VNI}=${value} is not a VNI (an integer in 0..16777215)`);
  return Number(value);
}

function flag(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === '' || value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new DriverError(`-o ${OPTION_INTERNAL}=${value} is not true or false`);
}

export class DockerDriver {
  private readonly networks = new Map<string, DockerNetwork>();
  /** Endpoint id → Docker network id, for this host's endpoints. */
  private readonly endpointNetworks = new Map<string, string>();
  /**
   * Networks Docker removed while CNI containers (the agent's other side) were on them on this
   * host: their local part (bridge, TAP, name server) is kept for those containers, by network
   * name, until the last of those containers is gone (releaseKeptForCni, which the CNI side calls
   * after each endpoint it removes), Docker creates the network again (then it is Docker's
   * again) or the agent stops.
   */
  private readonly keptForCni = new Map<string, LocalNetwork>();
  private readonly logger: AgentLogger;
  private reaper: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: DockerDriverOptions) {
    this.logger = options.logger ?? silentLogger;
  }

  /** The plugin's calls, by path. */
  handlers(): Record<string, Handler> {
    return {
      'Plugin.Activate': () => ({ Implements: ['NetworkDriver', 'IpamDriver'] }),
      'NetworkDriver.GetCapabilities': () => ({ Scope: 'local', ConnectivityScope: 'global' }),
      'NetworkDriver.CreateNetwork': (body) => this.createNetwork(body),
      'NetworkDriver.DeleteNetwork': (body) => this.deleteNetwork(body),
      'NetworkDriver.CreateEndpoint': (body) => this.createEndpoint(body),
      'NetworkDriver.DeleteEndpoint': (body) => this.deleteEndpoint(body),
      'NetworkDriver.EndpointOperInfo': (body) => this.endpointOperInfo(body),
      'NetworkDriver.Join': (body) => this.join(body),
      'NetworkDriver.Leave': (body) => this.leave(body),
      'NetworkDriver.DiscoverNew': () => ({}),
      'NetworkDriver.DiscoverDelete': () => ({}),
      'NetworkDriver.ProgramExternalConnectivity': (body) => this.known(body),
      'NetworkDriver.RevokeExternalConnectivity': () => ({}),
      'IpamDriver.GetCapabilities': () => ({ RequiresMACAddress: false, RequiresRequestReplay: false }),
      'IpamDriver.GetDefaultAddressSpaces': () => ({ LocalDefaultAddressSpace: `${DRIVER_NAME}-local`, GlobalDefaultAddressSpace: DRIVER_NAME }),
      'IpamDriver.RequestPool': (body) => this.requestPool(body),
      'IpamDriver.ReleasePool': () => ({}),
      'IpamDriver.RequestAddress': (body) => this.requestAddress(body),
      'IpamDriver.ReleaseAddress': (body) => this.releaseAddress(body),
    };
  }

  /** Networks set up on this host, by Docker network id. */
  dockerNetworks(): { networkId: string; name: string; vni: number }[] {
    return [...this.networks.values()].map(({ networkId, name, record }) => ({ networkId, name, vni: record.vni }));
  }

  private network(networkId: string): DockerNetwork {
    const network = this.networks.get(networkId);
    if (network === undefined) throw new DriverError(`network ${networkId.slice(0, 12)} is not a ${DRIVER_NAME} network on this host (was it created before this agent started, or removed?)`);
    return network;
  }

  private byPool(poolId: string): DockerNetwork | undefined {
    for (const network of this.networks.values()) if (network.record.subnet === poolId || network.record.subnet6 === poolId) return network;
    return undefined;
  }

  private known(body: Json): Json {
    this.network(id(body, 'NetworkID'));
    return {};
  }

  // ---- IPAM ---------------------------------------------------------------------------------

  /**
   * A pool: the subnet given (IPv4, or IPv6 with --ipv6), whole, usable, and overlapping no other
   * network's subnet of its family (the same one is another host's share of it).
   */
  private async requestPool(body: Json): Promise<Json> {
    const family = POOL_FAMILIES[body.V6 === true ? 6 : 4];
    const pool = text(body, 'Pool');
    if (pool === '') throw new DriverError(family.missing);
    if (text(body, 'SubPool') !== '') throw new DriverError(`${DRIVER_NAME} does not take --ip-range; addresses come from the whole subnet, through etcd`);
    let subnet: PoolSubnet;
    try {
      subnet = family.parse(pool);
    } catch (error) {
      throw new DriverError((error as Error).message);
    }
    if (subnet.unusable !== undefined) throw new DriverError(subnet.unusable);
    for (const network of await listNetworks(this.options.client)) {
      const theirs = family.of(network);
      if (theirs !== undefined && theirs !== subnet.cidr && subnet.overlaps(theirs)) {
        throw new DriverError(`subnet ${subnet.cidr} overlaps network ${network.name}'s subnet ${theirs}`);
      }
    }
    return { PoolID: subnet.cidr, Pool: subnet.cidr, Data: {} };
  }

  private async requestAddress(body: Json): Promise<Json> {
    const poolId = text(body, 'PoolID');
    const family = poolId.includes(':') ? 6 : 4;
    let subnet: { cidr: string; prefixLength: number; firstText: string };
    try {
      if (family === 4) {
        const parsed = parseSubnet(poolId);
        subnet = { cidr: parsed.cidr, prefixLength: parsed.prefixLength, firstText: ipv4Text(parsed.first) };
      } else {
        const parsed = parseSubnet6(poolId);
        subnet = { cidr: parsed.cidr, prefixLength: parsed.prefixLength, firstText: defaultGateway6(parsed) };
      }
    } catch {
      throw new ProtocolError(`PoolID ${JSON.stringify(poolId)} is not a pool of this driver`);
    }
    const requested = text(body, 'Address');
    const requestedIp = requested === '' ? undefined : splitCidr(requested, 'Address').ip;
    const options = object(body, 'Options');
    if (options.RequestAddressType === GATEWAY_REQUEST) {
      const gatewayOf = (record: NetworkRecord | undefined) => (family === 4 ? record?.gateway : record?.gateway6);
      const gateway = gatewayOf(this.byPool(subnet.cidr)?.record) ?? gatewayOf(await findNetworkBySubnet(this.options.client, subnet.cidr)) ?? subnet.firstText;
      if (requestedIp !== undefined && requestedIp !== gateway) {
        throw new DriverError(`the gateway of a ${DRIVER_NAME} network is its DNS address ${gateway} on every host; leave --gateway out`);
      }
      return { Address: `${gateway}/${subnet.prefixLength}`, Data: {} };
    }
    const network = this.byPool(subnet.cidr);
    if (network === undefined) throw new DriverError(`no ${DRIVER_NAME} network with subnet ${subnet.cidr} is set up on this host`);
    const ip = await this.options.host.claim(network.name, requestedIp, family);
    this.logger.debug({ network: network.name, ip }, 'address claimed');
    return { Address: `${ip}/${subnet.prefixLength}`, Data: {} };
  }

  private async releaseAddress(body: Json): Promise<Json> {
    const poolId = text(body, 'PoolID');
    const { ip } = splitCidr(text(body, 'Address'), 'Address');
    const network = this.byPool(poolId);
    // Unknown pool (the network is gone) or the gateway: nothing of ours to release.
    if (network === undefined || ip === network.record.gateway || ip === network.record.gateway6) return {};
    // An address still used by one of our endpoints is not released (Docker releases after DeleteEndpoint).
    if (this.options.host.served(network.name).some((served) => served.endpoint.ipv4 === ip || served.endpoint.ipv6 === ip)) return {};
    await this.options.host.release(network.name, ip);
    return {};
  }

  // ---- networks -----------------------------------------------------------------------------

  private async createNetwork(body: Json): Promise<Json> {
    const networkId = id(body, 'NetworkID');
    const ipv4 = array(body, 'IPv4Data');
    const ipv6 = array(body, 'IPv6Data');
    if (ipv4.length !== 1) throw new DriverError(`${DRIVER_NAME} needs exactly one IPv4 subnet (got ${ipv4.length})`);
    if (ipv6.length > 1) throw new DriverError(`${DRIVER_NAME} takes at most one IPv6 subnet (got ${ipv6.length})`);
    let subnet6: string | undefined;
    let gateway6 = '';
    if (ipv6.length === 1) {
      const space = text(ipv6[0], 'AddressSpace');
      const pool6 = text(ipv6[0], 'Pool');
      if (space !== DRIVER_NAME && space !== `${DRIVER_NAME}-local`) {
        throw new DriverError(`the IPv6 pool ${pool6} comes from another IPAM driver (address space ${JSON.stringify(space)}), whose addresses etcd does not know; create the network with --ipam-driver ${DRIVER_NAME}`);
      }
      try {
        subnet6 = parseSubnet6(pool6).cidr;
      } catch (error) {
        throw new DriverError((error as Error).message);
      }
      gateway6 = text(ipv6[0], 'Gateway');
    }
    const generic = genericOptions(body);
    for (const key of Object.keys(generic)) {
      if (key.startsWith(`${DRIVER_NAME}.`) && ![OPTION_VNI, OPTION_NETWORK, OPTION_INTERNAL].includes(key)) {
        throw new DriverError(`-o ${key} is not an option of ${DRIVER_NAME} (${OPTION_VNI}, ${OPTION_NETWORK}, ${OPTION_INTERNAL})`);
      }
    }
    const pool = text(ipv4[0], 'Pool');
    const gateway = text(ipv4[0], 'Gateway');
    let subnet;
    try {
      subnet = parseSubnet(pool);
    } catch (error) {
      throw new DriverError((error as Error).message);
    }
    const vni = generic[OPTION_VNI] === undefined ? undefined : parseVni(generic[OPTION_VNI]);
    const internal = flag(generic[OPTION_INTERNAL]) ?? (object(body, 'Options')['com.docker.network.internal'] === true ? true : undefined);
    const name = generic[OPTION_NETWORK];
    const existing = this.networks.get(networkId);
    if (existing !== undefined) return {};
    const twin = this.byPool(subnet.cidr);
    if (twin !== undefined) throw new DriverError(`this host has a ${DRIVER_NAME} network on subnet ${subnet.cidr} already (Docker network ${twin.networkId.slice(0, 12)})`);

    const record = await this.findOrCreate(subnet.cidr, { name, vni, internal, subnet6 });
    if (gateway !== '' && splitCidr(gateway, 'Gateway').ip !== record.gateway) {
      throw new DriverError(`network ${record.name}'s gateway and DNS address is ${record.gateway}, not ${splitCidr(gateway, 'Gateway').ip}`);
    }
    if (gateway6 !== '' && splitCidr(gateway6, 'Gateway').ip !== record.gateway6) {
      throw new DriverError(`network ${record.name}'s IPv6 gateway and DNS address is ${record.gateway6}, not ${splitCidr(gateway6, 'Gateway').ip}`);
    }
    // Removed by Docker while CNI containers were on it, and now created again: Docker's again.
    const kept = this.keptForCni.get(record.name);
    if (kept !== undefined) {
      this.keptForCni.delete(record.name);
      this.networks.set(networkId, { networkId, name: record.name, record, local: kept });
      await this.options.client.put(keys.docker(this.options.host.hostId, networkId)).value(record.name);
      this.logger.info({ networkId, network: record.name }, 'network created again; its bridge kept for CNI containers is Docker\'s again');
      return {};
    }
    // Set up on this host by the agent's CNI side (a podman container joined it first): a second
    // bridge, TAP and name server for the same network would replace the ones its containers are
    // on (seen: the CNI bridge deleted, then "vni … is already served"). Refused, nothing touched.
    if (this.options.host.network(record.name) !== undefined && ![...this.networks.values()].some((network) => network.name === record.name)) {
      throw new DriverError(`network ${record.name} is already set up on this host for CNI containers; on a host that serves both, create the Docker network before the first CNI container joins it (or remove those containers first)`);
    }
    await this.setUp(networkId, record);
    await this.options.client.put(keys.docker(this.options.host.hostId, networkId)).value(record.name);
    this.logger.info({ networkId, network: record.name, vni: record.vni, subnet: record.subnet, subnet6: record.subnet6 }, 'network created');
    return {};
  }

  /** The etcd network of a subnet: checked against what this host asked for, or made. */
  private async findOrCreate(cidr: string, wanted: { name?: string; vni?: number; internal?: boolean; subnet6?: string }): Promise<NetworkRecord> {
    const { client } = this.options;
    for (let attempt = 0; attempt < 5; attempt++) {
      const found = await findNetworkBySubnet(client, cidr);
      if (found !== undefined) {
        const { revision: _revision, ...record } = found;
        if (wanted.vni !== undefined && wanted.vni !== record.vni) throw new DriverError(`network ${record.name} (subnet ${cidr}) has VNI ${record.vni} in etcd, not ${wanted.vni}; give the same -o ${OPTION_VNI} on every host, or none`);
        if (wanted.name !== undefined && wanted.name !== record.name) throw new DriverError(`subnet ${cidr} belongs to network ${record.name} in etcd, not ${wanted.name}`);
        if (wanted.internal !== undefined && wanted.internal !== record.internal) throw new DriverError(`network ${record.name} is ${record.internal ? '' : 'not '}internal in etcd; give the same -o ${OPTION_INTERNAL} on every host`);
        if (wanted.subnet6 !== record.subnet6) {
          throw new DriverError(record.subnet6 === undefined
            ? `network ${record.name} (subnet ${cidr}) has no IPv6 subnet in etcd, not ${wanted.subnet6}; create it the same way on every host (without --ipv6 here)`
            : `network ${record.name} (subnet ${cidr}) has IPv6 subnet ${record.subnet6} in etcd; create it with --ipv6 --subnet ${record.subnet6} on this host too`);
        }
        return record;
      }
      try {
        return await createNetwork(client, {
          name: wanted.name ?? nameForSubnet(cidr), vni: wanted.vni ?? (await freeVni(client)), subnets: [cidr, ...(wanted.subnet6 !== undefined ? [wanted.subnet6] : [])], internal: wanted.internal,
        });
      } catch (error) {
        if (!(error instanceof NetworkError)) throw error;
        // Another host made it meanwhile (same subnet): read it again. Anything else is the user's to fix.
        if (error.code === 'EXISTS' && (await findNetworkBySubnet(client, cidr)) !== undefined) continue;
        if (error.code === 'EXISTS' && wanted.vni === undefined && /^VNI/.test(error.message)) continue;
        throw new DriverError(error.message);
      }
    }
    throw new DriverError(`subnet ${cidr}: networks kept changing in etcd; try again`);
  }

  /** Bridge, TAP, name server, then the host joins in etcd; undone whole if any step fails. */
  private async setUp(networkId: string, record: NetworkRecord): Promise<DockerNetwork> {
    const local = await this.options.openNetwork(record);
    try {
      await this.options.host.join(record.name, { onEndpoint: (endpointId, endpoint) => local.setEndpoint(endpointId, endpoint) });
    } catch (error) {
      await local.close().catch(() => undefined);
      throw error;
    }
    const network: DockerNetwork = { networkId, name: record.name, record, local };
    this.networks.set(networkId, network);
    return network;
  }

  private async deleteNetwork(body: Json): Promise<Json> {
    const networkId = id(body, 'NetworkID');
    const network = this.networks.get(networkId);
    await this.options.client.delete().key(keys.docker(this.options.host.hostId, networkId));
    if (network === undefined) return {};
    this.networks.delete(networkId);
    // Docker's own endpoints only (by now normally none: Docker removes a network without containers).
    const cniServed: ServedRecord[] = [];
    for (const served of this.options.host.served(network.name)) {
      if (!this.endpointNetworks.has(served.endpoint.endpointId)) {
        cniServed.push(served);
        continue;
      }
      this.endpointNetworks.delete(served.endpoint.endpointId);
      if (served.link !== undefined) this.options.links.remove(served.link);
    }
    // CNI containers on its bridge: leaving would cut them off. Docker ignores a driver's refusal
    // here (its network goes anyway), so the local part stays for them instead.
    if (cniServed.length > 0) {
      this.keptForCni.set(network.name, network.local);
      this.logger.info({ networkId, network: network.name, cniEndpoints: cniServed.length }, 'network deleted by Docker on this host; its bridge kept for the CNI containers on it');
      return {};
    }
    await this.options.host.leave(network.name);
    await network.local.close();
    this.logger.info({ networkId, network: network.name }, 'network deleted on this host');
    return {};
  }

  /**
   * A network kept for CNI containers after `docker network rm` is left (etcd, bridge, TAP, name
   * server) once no endpoint is served on it on this host: its last CNI container was deleted.
   * Anything else (a Docker network, one the CNI side set up itself, one still in use) is not the
   * driver's to release. True when it left.
   */
  async releaseKeptForCni(name: string): Promise<boolean> {
    const kept = this.keptForCni.get(name);
    if (kept === undefined || this.options.host.served(name).length > 0) return false;
    this.keptForCni.delete(name);
    await this.options.host.leave(name);
    await kept.close();
    this.logger.info({ network: name }, 'network kept for CNI containers left: its last CNI container is gone');
    return true;
  }

  // ---- endpoints ----------------------------------------------------------------------------

  private servedOf(network: DockerNetwork, endpointId: string): ServedRecord | undefined {
    return this.options.host.served(network.name).find((served) => served.endpoint.endpointId === endpointId);
  }

  private async createEndpoint(body: Json): Promise<Json> {
    const network = this.network(id(body, 'NetworkID'));
    const endpointId = id(body, 'EndpointID');
    const iface = object(body, 'Interface');
    const address6 = text(iface, 'AddressIPv6');
    const { subnet6 } = network.record;
    let ip6: string | undefined;
    if (address6 !== '') {
      ip6 = splitCidr(address6, 'Interface.AddressIPv6').ip;
      if (subnet6 === undefined || !contains6(parseSubnet6(subnet6), ip6)) throw new DriverError(`address ${ip6} is not in network ${network.name}'s IPv6 subnet${subnet6 === undefined ? ' (it has none)' : ` ${subnet6}`}`);
    } else if (subnet6 !== undefined) {
      throw new DriverError(`endpoint ${endpointId.slice(0, 12)} has no IPv6 address on network ${network.name}, which has IPv6 subnet ${subnet6}; create the Docker network with --ipv6 --subnet ${subnet6}`);
    }
    const address = text(iface, 'Address');
    if (address === '') throw new DriverError(`endpoint ${endpointId.slice(0, 12)} has no IPv4 address; use --ipam-driver ${DRIVER_NAME} with this driver`);
    const { ip } = splitCidr(address, 'Interface.Address');
    if (network.record.subnet === undefined || !contains(parseSubnet(network.record.subnet), ip)) throw new DriverError(`address ${ip} is not in network ${network.name}'s subnet ${network.record.subnet}`);
    const given = text(iface, 'MacAddress');
    const existing = this.servedOf(network, endpointId);
    if (existing !== undefined) {
      if (existing.endpoint.ipv4 !== ip || existing.endpoint.ipv6 !== ip6) throw new DriverError(`endpoint ${endpointId.slice(0, 12)} exists with address ${[existing.endpoint.ipv4, existing.endpoint.ipv6].filter(Boolean).join(' and ')}`);
      return given === '' ? { Interface: { MacAddress: existing.endpoint.mac } } : { Interface: {} };
    }
    let mac: string;
    try {
      mac = given === '' ? macForAddress(ip) : formatMac(parseMacStrict(given));
    } catch {
      throw new DriverError(`MacAddress ${JSON.stringify(given)} is not a MAC address`);
    }
    const endpoint: EndpointRecord = { endpointId, hostId: this.options.host.hostId, mac, ipv4: ip, ...(ip6 !== undefined ? { ipv6: ip6 } : {}), name: '', aliases: [] };
    await this.options.host.putEndpoint(network.name, { network: network.name, endpoint });
    this.endpointNetworks.set(endpointId, network.networkId);
    this.logger.info({ network: network.name, endpointId, ip, ip6, mac }, 'endpoint created');
    // Only what Docker did not give (it refuses a driver that sets what it set).
    return given === '' ? { Interface: { MacAddress: mac } } : { Interface: {} };
  }

  private endpointOperInfo(body: Json): Json {
    const network = this.network(id(body, 'NetworkID'));
    const served = this.servedOf(network, id(body, 'EndpointID'));
    if (served === undefined) throw new DriverError(`no endpoint ${text(body, 'EndpointID').slice(0, 12)} in network ${network.name} on this host`);
    return { Value: { ip: served.endpoint.ipv4, ...(served.endpoint.ipv6 !== undefined ? { ip6: served.endpoint.ipv6 } : {}), mac: served.endpoint.mac, name: served.endpoint.name, vxlanNetwork: network.name, vni: network.record.vni } };
  }

  private async deleteEndpoint(body: Json): Promise<Json> {
    const networkId = id(body, 'NetworkID');
    const endpointId = id(body, 'EndpointID');
    const network = this.networks.get(networkId);
    this.endpointNetworks.delete(endpointId);
    if (network === undefined) return {};
    const served = await this.options.host.removeEndpoint(network.name, endpointId);
    if (served?.link !== undefined) this.options.links.remove(served.link);
    if (served !== undefined) this.logger.info({ network: network.name, endpointId, ip: served.endpoint.ipv4 }, 'endpoint deleted');
    return {};
  }

  private async join(body: Json): Promise<Json> {
    const network = this.network(id(body, 'NetworkID'));
    const endpointId = id(body, 'EndpointID');
    const served = this.servedOf(network, endpointId);
    if (served === undefined) throw new DriverError(`no endpoint ${endpointId.slice(0, 12)} in network ${network.name} on this host (Join before CreateEndpoint?)`);
    const hostEnd = linkNames.hostVeth(endpointId);
    const containerEnd = linkNames.containerVeth(endpointId);
    this.options.links.createVeth(hostEnd, containerEnd, { mac: served.endpoint.mac, mtu: this.options.mtu, bridge: network.local.bridge });
    try {
      await this.options.host.putEndpoint(network.name, { ...served, link: hostEnd });
    } catch (error) {
      this.options.links.remove(hostEnd);
      throw error;
    }
    void this.findNames(network, endpointId);
    const answer: Json = { InterfaceName: { SrcName: containerEnd, DstPrefix: 'eth' } };
    // Internal: no docker_gwbridge, no way out. Otherwise Docker adds one for egress, as for its overlay.
    if (network.record.internal) answer.DisableGatewayService = true;
    // IPv6 has no docker_gwbridge: the container's IPv6 default route is the network's IPv6 gateway.
    if (network.record.gateway6 !== undefined) answer.GatewayIPv6 = network.record.gateway6;
    return answer;
  }

  private async leave(body: Json): Promise<Json> {
    const network = this.network(id(body, 'NetworkID'));
    const endpointId = id(body, 'EndpointID');
    const served = this.servedOf(network, endpointId);
    if (served === undefined) return {};
    if (served.link !== undefined) this.options.links.remove(served.link);
    const { link: _link, ...rest } = served;
    await this.options.host.putEndpoint(network.name, rest);
    return {};
  }

  /**
   * Look up the endpoint's container name and aliases until Docker lists it and publish them at
   * once (usually while `docker run` is still starting the container); then once more when the
   * container runs, from its inspect, in case aliases came later (`network connect --alias`).
   */
  private async findNames(network: DockerNetwork, endpointId: string): Promise<void> {
    const lookup = this.options.lookupNames;
    if (lookup === undefined) return;
    const deadline = Date.now() + (this.options.namesTimeoutMs ?? 15_000);
    // Often for the first seconds (each try is two small requests on a local socket).
    for (let tries = 0, wait = 10; Date.now() < deadline && !this.closed; tries++, wait = tries < 100 ? 20 : 250) {
      await delay(wait);
      let names;
      try {
        names = await lookup(network.networkId, endpointId);
      } catch (error) {
        this.logger.debug({ endpointId, err: (error as Error).message }, 'name lookup failed; trying again');
        continue;
      }
      if (names === undefined) continue;
      if (!(await this.publishNames(network, endpointId, names))) return;
      // Docker gives every container on a user-defined network at least one alias (its short
      // id): until the inspect shows one, the container's network settings are not written yet.
      while (Date.now() < deadline && !this.closed) {
        const settled = await lookup(network.networkId, endpointId, { settled: true }).catch(() => undefined);
        if (settled !== undefined && settled.aliases.length > 0) {
          await this.publishNames(network, endpointId, settled);
          return;
        }
        await delay(100);
      }
      return;
    }
    this.logger.warn({ endpointId }, 'Docker did not list the endpoint\'s container in time; it has no name in DNS');
  }

  /** Put names on a served endpoint (nothing when they are what it has); false when it is gone. */
  private async publishNames(network: DockerNetwork, endpointId: string, names: EndpointNames): Promise<boolean> {
    const served = this.servedOf(network, endpointId);
    if (served === undefined) return false;
    const endpoint: EndpointRecord = { ...served.endpoint, name: validName(names.name), aliases: names.aliases.filter((alias) => validName(alias) !== '') };
    if (endpoint.name === served.endpoint.name && endpoint.aliases.join() === served.endpoint.aliases.join()) return true;
    try {
      if (!(await this.options.host.putEndpoint(network.name, { ...served, endpoint }, { update: true }))) return false;
      this.logger.info({ network: network.name, endpointId, name: endpoint.name, aliases: endpoint.aliases }, 'endpoint named');
      return true;
    } catch (error) {
      this.logger.warn({ endpointId, err: (error as Error).message }, 'could not publish the endpoint\'s names');
      return false;
    }
  }

  // ---- restarts and reaping -----------------------------------------------------------------

  /**
   * After a restart: set up every network this host had (from etcd), put its endpoints back
   * under the new lease, and reap those whose container is gone. Returns what it did.
   */
  async restore(): Promise<{ networks: number; endpoints: number; reaped: number; lost: number }> {
    const { client, host } = this.options;
    const mapping = await client.getAll().prefix(keys.dockerPrefix(host.hostId)).strings();
    const served = await host.readServed();
    let endpoints = 0;
    let lost = 0;
    for (const [key, name] of Object.entries(mapping)) {
      const networkId = key.slice(keys.dockerPrefix(host.hostId).length);
      const found = await findNetworkByName(client, name);
      if (found === undefined) {
        this.logger.warn({ networkId, network: name }, 'a network this host had is gone from etcd; not set up again');
        await client.delete().key(key);
        continue;
      }
      const network = await this.setUp(networkId, found);
      for (const record of served.filter((s) => s.network === name)) {
        if (await host.restore(record)) {
          endpoints++;
          this.endpointNetworks.set(record.endpoint.endpointId, networkId);
          // A running container's veth outlived the agent; the bridge is new: put it back in.
          if (record.link !== undefined && this.options.links.exists(record.link)) this.options.links.attach(record.link, network.local.bridge, { mac: record.endpoint.mac });
        } else {
          lost++;
          this.logger.error({ network: name, endpointId: record.endpoint.endpointId, ip: record.endpoint.ipv4 }, 'an endpoint\'s address was taken while this agent was away; it is not restored');
        }
      }
    }
    // Durable copies of endpoints in networks this host no longer has (removed with `network rm
    // --force` while the agent was away, or its Docker network gone): nothing will restore them.
    const restoredNetworks = new Set([...this.networks.values()].map((network) => network.name));
    for (const record of served.filter((s) => !restoredNetworks.has(s.network))) {
      await client.delete().key(keys.served(host.hostId, record.network, record.endpoint.endpointId));
      lost++;
    }
    const reaped = await this.reap();
    this.startReaper();
    return { networks: this.networks.size, endpoints, reaped, lost };
  }

  /** Remove joined endpoints whose veth is gone (their container's namespace is gone). */
  async reap(): Promise<number> {
    let reaped = 0;
    for (const network of [...this.networks.values()]) {
      for (const served of this.options.host.served(network.name)) {
        if (served.link === undefined || this.options.links.exists(served.link)) continue;
        await this.options.host.removeEndpoint(network.name, served.endpoint.endpointId, { release: true });
        this.endpointNetworks.delete(served.endpoint.endpointId);
        reaped++;
        this.logger.info({ network: network.name, endpointId: served.endpoint.endpointId, ip: served.endpoint.ipv4 }, 'reaped an endpoint whose container is gone');
      }
    }
    return reaped;
  }

  private startReaper(): void {
    if (this.reaper !== undefined) return;
    this.reaper = startReaping(() => this.reap(), this.options.reapIntervalMs ?? 5000, this.logger);
  }

  /**
   * Stop the reaper and every network's local part (bridges, TAPs, name servers). The containers'
   * veths stay: their containers keep their interfaces, and the next start puts them in its new
   * bridges. etcd is the HostAgent's to leave.
   */
  async close(): Promise<void> {
    this.closed = true;
    if (this.reaper !== undefined) clearInterval(this.reaper);
    for (const [name, local] of [...[...this.networks.values()].map((network) => [network.name, network.local] as const), ...this.keptForCni]) {
      await local.close().catch((error: Error) => this.logger.warn({ network: name, err: error.message }, 'could not remove the network\'s links'));
    }
    this.networks.clear();
    this.keptForCni.clear();
  }
}

async function findNetworkByName(client: Etcd3, name: string): Promise<NetworkRecord | undefined> {
  const found = await getNetwork(client, name);
  if (found === undefined) return undefined;
  const { revision: _revision, ...record } = found;
  return record;
}

function parseMacStrict(text: string): Uint8Array {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(text)) throw new TypeError('not a MAC');
  return Uint8Array.from(text.split(':').map((part) => parseInt(part, 16)));
}

/** A name an endpoint record takes, or '' (Docker's names are letters, digits, '_', '.', '-'). */
function validName(name: string): string {
  return ENDPOINT_NAME.test(name) ? name : '';
}
