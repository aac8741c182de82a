/**
 * Networks in etcd: create (one transaction: the name, the VNI and the subnet all unclaimed, and no
 * other network created or removed since the overlap check read them), find by subnet (Docker's
 * way in), list, inspect (the network, its live hosts and its endpoints), remove (refused while
 * hosts are joined, unless forced).
 */
import type { Etcd3 } from 'etcd3';
import {
  keys, NETWORK_NAME, parseEndpointRecord, parseHostRecord, parseNetworkRecord,
  type EndpointRecord, type HostRecord, type NetworkRecord,
} from './keys';
import { ipv4Number, ipv4Text, parseSubnet, type Subnet } from './ipam';
import { defaultGateway6, overlaps6, parseSubnet6, unusableSubnet6Reason, type Subnet6 } from './ipam6';
import { refuseOldLayout } from './layout';

/** A refusal with one sentence (name, VNI or subnet taken, no such network, hosts still joined, bad input). */
export class NetworkError extends Error {
  override readonly name = 'NetworkError';
  constructor(message: string, readonly code: 'EXISTS' | 'NOT_FOUND' | 'IN_USE' | 'INVALID' | 'OVERLAP' | 'MISMATCH') {
    super(message);
  }
}

export function checkNetworkName(name: string): void {
  if (!NETWORK_NAME.test(name)) {
    throw new NetworkError(`${JSON.stringify(name)} is not a network name (1..63 of a-z, 0-9, '_', '.', '-', starting with a letter or digit)`, 'INVALID');
  }
}

function subnetOf(text: string): Subnet {
  try {
    return parseSubnet(text);
  } catch (error) {
    throw new NetworkError((error as Error).message, 'INVALID');
  }
}

/** Address blocks no overlay can use (RFC 6890): a subnet that touches one is refused, saying which. */
const RESERVED_BLOCKS: readonly { base: string; prefixLength: number; what: string }[] = [
  { base: '0.0.0.0', prefixLength: 8, what: '"this network" (0.0.0.0/8), which no host may use as a source' },
  { base: '127.0.0.0', prefixLength: 8, what: 'loopback (127.0.0.0/8), which never leaves a host' },
  { base: '169.254.0.0', prefixLength: 16, what: 'link-local (169.254.0.0/16), which routers do not forward and hosts use for themselves' },
  { base: '224.0.0.0', prefixLength: 4, what: 'multicast (224.0.0.0/4), which is no host address' },
  { base: '240.0.0.0', prefixLength: 4, what: 'reserved (240.0.0.0/4, and the broadcast address), which hosts refuse' },
];

/**
 * Why a subnet cannot serve an overlay (undefined when it can): too small for a gateway, the DNS
 * address and one container (a /31 or /32), or inside a block no host address may come from.
 */
export function unusableSubnetReason(subnet: Subnet): string | undefined {
  if (subnet.prefixLength > 30) return `subnet ${subnet.cidr} is too small: an overlay needs a gateway (its DNS address) and addresses for endpoints, so at most a /30`;
  for (const block of RESERVED_BLOCKS) {
    if (overlaps({ base: ipv4Number(block.base), prefixLength: block.prefixLength }, subnet)) return `subnet ${subnet.cidr} is in ${block.what}`;
  }
  return undefined;
}

/** Whether two subnets share an address. */
export function overlaps(a: Pick<Subnet, 'base' | 'prefixLength'>, b: Pick<Subnet, 'base' | 'prefixLength'>): boolean {
  const aEnd = a.base + 2 ** (32 - a.prefixLength);
  const bEnd = b.base + 2 ** (32 - b.prefixLength);
  return a.base < bEnd && b.base < aEnd;
}

/** The gateway (and DNS) address of a subnet: its first usable address. */
export function defaultGateway(subnet: Subnet): string {
  return ipv4Text(subnet.first);
}

export interface CreateNetworkInput {
  name: string;
  vni: number;
  /** One subnet (IPv4 or IPv6), as before dual stack. */
  subnet?: string;
  /** Subnets: at most one IPv4 and one IPv6 (with `subnet`, all of them count). */
  subnets?: readonly string[];
  internal?: boolean;
}

/** A network's subnets, parsed and checked: at least one, at most one per family. */
export interface NetworkSubnets {
  v4?: Subnet;
  v6?: Subnet6;
}

/**
 * Parse the subnets of a new network: each IPv4 (8..30 usable, see unusableSubnetReason) or IPv6
 * (48..120, see ipam6.ts), at most one of each family, at least one. NetworkError INVALID with a
 * sentence for every mistake.
 */
export function parseNetworkSubnets(texts: readonly string[]): NetworkSubnets {
  if (texts.length === 0) throw new NetworkError('a network needs a subnet (IPv4, IPv6 or one of each)', 'INVALID');
  const result: NetworkSubnets = {};
  for (const text of texts) {
    if (typeof text === 'string' && text.includes(':')) {
      let subnet: Subnet6;
      try {
        subnet = parseSubnet6(text);
      } catch (error) {
        throw new NetworkError((error as Error).message, 'INVALID');
      }
      if (result.v6 !== undefined) throw new NetworkError(`a network has at most one IPv6 subnet, not ${result.v6.cidr} and ${subnet.cidr}`, 'INVALID');
      const unusable = unusableSubnet6Reason(subnet);
      if (unusable !== undefined) throw new NetworkError(unusable, 'INVALID');
      result.v6 = subnet;
    } else {
      const subnet = subnetOf(text);
      if (result.v4 !== undefined) throw new NetworkError(`a network has at most one IPv4 subnet, not ${result.v4.cidr} and ${subnet.cidr}`, 'INVALID');
      const unusable = unusableSubnetReason(subnet);
      if (unusable !== undefined) throw new NetworkError(unusable, 'INVALID');
      result.v4 = subnet;
    }
  }
  return result;
}

/** The first network of `existing` whose subnet of the same family overlaps one of `subnets`, and which. */
function findOverlap(existing: readonly NetworkRecord[], subnets: NetworkSubnets): { network: NetworkRecord; theirs: string; ours: string } | undefined {
  for (const network of existing) {
    if (subnets.v4 !== undefined && network.subnet !== undefined && overlaps(parseSubnet(network.subnet), subnets.v4)) {
      return { network, theirs: network.subnet, ours: subnets.v4.cidr };
    }
    if (subnets.v6 !== undefined && network.subnet6 !== undefined && overlaps6(parseSubnet6(network.subnet6), subnets.v6)) {
      return { network, theirs: network.subnet6, ours: subnets.v6.cidr };
    }
  }
  return undefined;
}

/**
 * Create a network. Refused when the name, the VNI or a subnet is taken (EXISTS) or a subnet
 * overlaps another network's of the same family (OVERLAP), decided by etcd in one transaction; a create that raced
 * another one reads again and decides again.
 */
export async function createNetwork(client: Etcd3, input: CreateNetworkInput): Promise<NetworkRecord> {
  checkNetworkName(input.name);
  if (!Number.isInteger(input.vni) || input.vni < 0 || input.vni > 0xffffff) throw new NetworkError(`VNI ${input.vni} is not in 0..16777215`, 'INVALID');
  const subnets = parseNetworkSubnets([...(input.subnet !== undefined ? [input.subnet] : []), ...(input.subnets ?? [])]);
  await refuseOldLayout(client);
  const record: NetworkRecord = {
    name: input.name, vni: input.vni,
    ...(subnets.v4 !== undefined ? { subnet: subnets.v4.cidr, gateway: defaultGateway(subnets.v4) } : {}),
    ...(subnets.v6 !== undefined ? { subnet6: subnets.v6.cidr, gateway6: defaultGateway6(subnets.v6) } : {}),
    internal: input.internal === true, created: new Date().toISOString(),
  };
  const cidrs = [subnets.v4?.cidr, subnets.v6?.cidr].filter((cidr) => cidr !== undefined);
  for (let attempt = 0; attempt < 8; attempt++) {
    // The guard first, then the networks: a create that commits after the guard was read changes
    // it (this transaction then fails and reads again); one that committed before is in the list.
    // Read together (Promise.all), the list could come first and miss a network whose create then
    // moved the guard to the revision read next: two overlapping subnets both created.
    const guard = await client.get(keys.networksGuard).exec();
    const guardRevision = guard.kvs[0]?.mod_revision ?? '0';
    const existing = await listNetworks(client);
    const byName = existing.find((network) => network.name === input.name);
    if (byName !== undefined) throw new NetworkError(`a network named ${input.name} exists already`, 'EXISTS');
    const byVni = existing.find((network) => network.vni === input.vni);
    if (byVni !== undefined) throw new NetworkError(`VNI ${input.vni} is taken by network ${byVni.name}`, 'EXISTS');
    const overlap = findOverlap(existing, subnets);
    if (overlap !== undefined) {
      throw new NetworkError(`subnet ${overlap.ours} overlaps network ${overlap.network.name}'s subnet ${overlap.theirs}`, overlap.theirs === overlap.ours ? 'EXISTS' : 'OVERLAP');
    }
    let transaction = client
      .if(keys.network(input.name), 'Create', '==', 0)
      .and(keys.vni(input.vni), 'Create', '==', 0)
      .and(keys.networksGuard, 'Mod', '==', guardRevision);
    for (const cidr of cidrs) transaction = transaction.and(keys.subnet(cidr), 'Create', '==', 0);
    const result = await transaction
      .then(
        client.put(keys.network(input.name)).value(JSON.stringify(record)),
        client.put(keys.vni(input.vni)).value(input.name),
        ...cidrs.map((cidr) => client.put(keys.subnet(cidr)).value(input.name)),
        client.put(keys.networksGuard).value(record.created),
      )
      .commit();
    if (result.succeeded) return record;
  }
  throw new NetworkError(`networks kept changing while ${input.name} was being created; try again`, 'IN_USE');
}

export async function listNetworks(client: Etcd3): Promise<NetworkRecord[]> {
  await refuseOldLayout(client);
  const values = await client.getAll().prefix(keys.networksPrefix).strings();
  return Object.values(values)
    .map(parseNetworkRecord)
    .filter((record): record is NetworkRecord => record !== undefined)
    .sort((a, b) => a.name.localeCompare(b.name));
}

export async function getNetwork(client: Etcd3, name: string): Promise<(NetworkRecord & { revision: string }) | undefined> {
  const response = await client.get(keys.network(name)).exec();
  const kv = response.kvs[0];
  if (kv === undefined) return undefined;
  const record = parseNetworkRecord(kv.value.toString());
  if (record === undefined) throw new NetworkError(`the record of network ${name} in etcd is not valid (${keys.network(name)})`, 'INVALID');
  return { ...record, revision: kv.create_revision };
}

/** The network whose subnet (of either family) is exactly `cidr`, if any. */
export async function findNetworkBySubnet(client: Etcd3, cidr: string): Promise<(NetworkRecord & { revision: string }) | undefined> {
  const name = await client.get(keys.subnet(cidr)).string();
  if (name === null) return undefined;
  return getNetwork(client, name);
}

/** The lowest VNI at or above `from` that no network holds (Docker's `docker network create` without `-o vxlan-wasm.vni`). */
export async function freeVni(client: Etcd3, from = 4096): Promise<number> {
  const taken = new Set((await listNetworks(client)).map((network) => network.vni));
  let vni = from;
  while (taken.has(vni)) vni++;
  if (vni > 0xffffff) throw new NetworkError('no free VNI', 'IN_USE');
  return vni;
}

export interface LiveHost extends HostRecord {
  /** The etcd lease it is attached to (hex) and the seconds it has left. */
  lease: string;
  ttlSeconds: number;
}

export interface NetworkInspection {
  network: NetworkRecord;
  hosts: LiveHost[];
  endpoints: EndpointRecord[];
  /** Keys under the network that did not parse (shown, so a bad writer is noticed). */
  invalidKeys: string[];
}

/** The network, its live hosts (VTEP and the lease that keeps it) and its endpoints. */
export async function inspectNetwork(client: Etcd3, name: string): Promise<NetworkInspection> {
  checkNetworkName(name);
  await refuseOldLayout(client);
  const network = await getNetwork(client, name);
  if (network === undefined) throw new NetworkError(`no network named ${name}`, 'NOT_FOUND');
  const [hostsResponse, endpointsResponse] = await Promise.all([
    client.getAll().prefix(keys.hostsPrefix(name)).exec(),
    client.getAll().prefix(keys.endpointsPrefix(name)).exec(),
  ]);
  const invalidKeys: string[] = [];
  const parsed: { record: HostRecord; lease: string }[] = [];
  for (const kv of hostsResponse.kvs) {
    const record = parseHostRecord(kv.value.toString());
    if (record === undefined) invalidKeys.push(kv.key.toString());
    else parsed.push({ record, lease: kv.lease });
  }
  const endpoints: EndpointRecord[] = [];
  for (const kv of endpointsResponse.kvs) {
    const record = parseEndpointRecord(kv.value.toString());
    if (record === undefined) invalidKeys.push(kv.key.toString());
    else endpoints.push(record);
  }
  // One TTL query per host, all at once (a network of 1,000 hosts is 1,000 small calls).
  const hosts: LiveHost[] = await Promise.all(parsed.map(async ({ record, lease }) => {
    let ttlSeconds = -1;
    if (BigInt(lease) !== 0n) {
      const ttl = await client.leaseClient.leaseTimeToLive({ ID: lease, keys: false }).catch(() => undefined);
      ttlSeconds = ttl === undefined ? -1 : Number(ttl.TTL);
    }
    return { ...record, lease: BigInt(lease).toString(16), ttlSeconds };
  }));
  hosts.sort((a, b) => a.hostId.localeCompare(b.hostId));
  endpoints.sort((a, b) => a.hostId.localeCompare(b.hostId) || a.name.localeCompare(b.name) || a.endpointId.localeCompare(b.endpointId));
  const { revision: _revision, ...record } = network;
  return { network: record, hosts, endpoints, invalidKeys };
}

/**
 * Remove a network: its record, its VNI and subnet keys, and (forced) its hosts', endpoints' and
 * addresses' keys. Without `force`, refused while hosts are joined. The delete is one transaction
 * conditional on the network being the one read (same create revision); an agent joining between
 * the check and the delete is removed with it, and its agent reports the network gone (its join
 * requires the network's key).
 */
export async function removeNetwork(client: Etcd3, name: string, options: { force?: boolean } = {}): Promise<{ hostsRemoved: number }> {
  checkNetworkName(name);
  for (let attempt = 0; attempt < 5; attempt++) {
    const network = await getNetwork(client, name);
    if (network === undefined) throw new NetworkError(`no network named ${name}`, 'NOT_FOUND');
    const hosts = await client.getAll().prefix(keys.hostsPrefix(name)).exec();
    if (hosts.kvs.length > 0 && options.force !== true) {
      const ids = hosts.kvs.map((kv) => kv.key.toString().slice(keys.hostsPrefix(name).length));
      throw new NetworkError(`network ${name} still has ${ids.length} live host(s) (${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', …' : ''}); stop their agents first, or use --force`, 'IN_USE');
    }
    const result = await client
      .if(keys.network(name), 'Create', '==', network.revision)
      .and(keys.vni(network.vni), 'Value', '==', name)
      .then(
        client.delete().key(keys.network(name)),
        client.delete().key(keys.vni(network.vni)),
        ...[network.subnet, network.subnet6].filter((cidr) => cidr !== undefined).map((cidr) => client.delete().key(keys.subnet(cidr))),
        client.delete().prefix(keys.networkPrefix(name)),
        client.put(keys.networksGuard).value(new Date().toISOString()),
      )
      .commit();
    if (!result.succeeded) continue;
    return { hostsRemoved: hosts.kvs.length };
  }
  throw new NetworkError(`network ${name} kept changing while being removed; try again`, 'IN_USE');
}
