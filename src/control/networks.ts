/**
 * Networks in etcd: create (one transaction: the name and the VNI both unclaimed), list, inspect
 * (the network and its live hosts), remove (refused while hosts are joined, unless forced).
 */
import type { Etcd3 } from 'etcd3';
import { keys, NETWORK_NAME, parseHostRecord, parseNetworkRecord, type HostRecord, type NetworkRecord } from './keys';
import { parseSubnet } from './ipam';

/** A refusal with one sentence (name or VNI taken, no such network, hosts still joined, bad input). */
export class NetworkError extends Error {
  override readonly name = 'NetworkError';
  constructor(message: string, readonly code: 'EXISTS' | 'NOT_FOUND' | 'IN_USE' | 'INVALID') {
    super(message);
  }
}

export function checkNetworkName(name: string): void {
  if (!NETWORK_NAME.test(name)) {
    throw new NetworkError(`${JSON.stringify(name)} is not a network name (1..63 of a-z, 0-9, '_', '.', '-', starting with a letter or digit)`, 'INVALID');
  }
}

/** Create a network. Refused (EXISTS) when the name or the VNI is taken, decided by etcd in one transaction. */
export async function createNetwork(client: Etcd3, input: { name: string; vni: number; subnet: string }): Promise<NetworkRecord> {
  checkNetworkName(input.name);
  if (!Number.isInteger(input.vni) || input.vni < 0 || input.vni > 0xffffff) throw new NetworkError(`VNI ${input.vni} is not in 0..16777215`, 'INVALID');
  let subnet: string;
  try {
    subnet = parseSubnet(input.subnet).cidr;
  } catch (error) {
    throw new NetworkError((error as Error).message, 'INVALID');
  }
  const record: NetworkRecord = { name: input.name, vni: input.vni, subnet, created: new Date().toISOString() };
  const result = await client
    .if(keys.network(input.name), 'Create', '==', 0)
    .and(keys.vni(input.vni), 'Create', '==', 0)
    .then(client.put(keys.network(input.name)).value(JSON.stringify(record)), client.put(keys.vni(input.vni)).value(input.name))
    .commit();
  if (result.succeeded) return record;
  // Lost: say which one is taken (read after the fact, only for the sentence).
  const [byName, byVni] = await Promise.all([client.get(keys.network(input.name)).string(), client.get(keys.vni(input.vni)).string()]);
  if (byName !== null) throw new NetworkError(`a network named ${input.name} exists already`, 'EXISTS');
  throw new NetworkError(`VNI ${input.vni} is taken by network ${byVni ?? '(unknown)'}`, 'EXISTS');
}

export async function listNetworks(client: Etcd3): Promise<NetworkRecord[]> {
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

export interface LiveHost extends HostRecord {
  /** The etcd lease it is attached to (hex) and the seconds it has left. */
  lease: string;
  ttlSeconds: number;
}

export interface NetworkInspection {
  network: NetworkRecord;
  hosts: LiveHost[];
  /** Keys under the network that did not parse (shown, so a bad writer is noticed). */
  invalidKeys: string[];
}

/** The network and its live hosts (VTEP, MAC, address and the lease that keeps it). */
export async function inspectNetwork(client: Etcd3, name: string): Promise<NetworkInspection> {
  checkNetworkName(name);
  const network = await getNetwork(client, name);
  if (network === undefined) throw new NetworkError(`no network named ${name}`, 'NOT_FOUND');
  const response = await client.getAll().prefix(keys.hostsPrefix(name)).exec();
  const invalidKeys: string[] = [];
  const parsed: { record: HostRecord; lease: string }[] = [];
  for (const kv of response.kvs) {
    const record = parseHostRecord(kv.value.toString());
    if (record === undefined) invalidKeys.push(kv.key.toString());
    else parsed.push({ record, lease: kv.lease });
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
  const { revision: _revision, ...record } = network;
  return { network: record, hosts, invalidKeys };
}

/**
 * Remove a network: its record, its VNI key, and (forced) its hosts' and addresses' keys. Without
 * `force`, refused while hosts are joined. The delete is one transaction conditional on the network
 * being the one read (same create revision); an agent joining between the check and the delete is
 * removed with it, and its agent reports the network gone (its join requires the network's key).
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
        client.delete().prefix(keys.hostsPrefix(name)),
        client.delete().prefix(keys.ipamPrefix(name)),
      )
      .commit();
    if (!result.succeeded) continue;
    return { hostsRemoved: hosts.kvs.length };
  }
  throw new NetworkError(`network ${name} kept changing while being removed; try again`, 'IN_USE');
}
