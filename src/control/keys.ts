/**
 * The control plane's key layout in etcd, version 2. Everything lives under one prefix with the
 * layout's version in it; a store that still holds version 1 keys is refused with a sentence
 * (see layout.ts), never read as if it were version 2.
 *
 *   /vxlan-wasm/v2/networks/NAME                 {"name","vni","subnet"?,"gateway"?,"subnet6"?,"gateway6"?,"internal","created"}   no lease
 *   /vxlan-wasm/v2/networks-changed              a counter every create and remove bumps (see networks.ts)  no lease
 *   /vxlan-wasm/v2/vni/VNI                       NAME: a VNI names one network                       no lease
 *   /vxlan-wasm/v2/subnets/A.B.C.D_N             NAME: a subnet names one network (Docker finds a
 *   /vxlan-wasm/v2/subnets/fd00:9::_64           network by its subnet: it sends drivers no name)     no lease
 *   /vxlan-wasm/v2/net/NAME/hosts/HOSTID         {"hostId","vtep":{"address","port"},"joined"}       the host's lease
 *   /vxlan-wasm/v2/net/NAME/endpoints/ENDPOINTID {"endpointId","hostId","mac","ipv4"?,"ipv6"?,"name","aliases"} the host's lease
 *   /vxlan-wasm/v2/net/NAME/ipam/IP              HOSTID: that overlay address (IPv4 or IPv6) is taken  the host's lease
 *   /vxlan-wasm/v2/served/HOSTID/NAME/ENDPOINTID {"endpoint":{…},"link"?}: what a host serves       no lease
 *   /vxlan-wasm/v2/docker/HOSTID/NETWORKID       NAME: this host's Docker network id → network       no lease
 *
 * Liveness is the host's lease: a host's record, its endpoints and its address claims are all
 * under it, so a host that stops (revoke) or dies (the lease expires) vanishes everywhere at once,
 * endpoints and addresses with it. What must survive an agent restart is kept per host without a
 * lease (`served/`, `docker/`): Docker does not call CreateEndpoint again for a running container,
 * so a restarted agent puts its endpoints and claims back under its new lease from `served/`.
 * An agent watches one prefix per network (`net/NAME/`): hosts, endpoints and claims.
 *
 * Dual stack: a network has an IPv4 subnet, an IPv6 subnet, or both (`subnet`/`gateway` are the
 * IPv4 pair, `subnet6`/`gateway6` the IPv6 one), so a record written before IPv6 existed (with
 * `subnet`/`gateway` only) reads as the IPv4 network it is. An endpoint has an address of each
 * family its network has.
 *
 * Values are JSON (or plain text for the index keys); a value that does not parse is ignored
 * and counted by whoever reads it, never trusted.
 */
import { parseIp, parseMac } from '../wire/address';
import { canonicalIp } from '../forwarder/address-set';
import type { Endpoint } from '../forwarder/contracts';

export const LAYOUT_VERSION = 2;
export const ROOT = `/vxlan-wasm/v${LAYOUT_VERSION}/`;
/** The previous layout's prefix: its presence alone is refused (layout.ts). */
export const V1_ROOT = '/vxlan-wasm/v1/';

/** Network names: DNS-label-like, so they are safe in keys, logs and interface-name suggestions. */
export const NETWORK_NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
/** Host ids: letters, digits, '_', '.', '-' (no slash: it is a key segment). */
export const HOST_ID = /^[A-Za-z0-9_.-]{1,64}$/;
/** Endpoint ids (Docker's are 64 hex digits; the agent's TAP is `tap.HOSTID`). */
export const ENDPOINT_ID = /^[A-Za-z0-9_.-]{1,80}$/;
/** Names and aliases of endpoints: DNS names (labels of letters, digits, '-', '_', dots between). */
export const ENDPOINT_NAME = /^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*$/;

export const keys = {
  networksPrefix: `${ROOT}networks/`,
  /** Rewritten by every create and remove: a create's transaction requires it unchanged since the overlap check read the networks. */
  networksGuard: `${ROOT}networks-changed`,
  network: (name: string) => `${ROOT}networks/${name}`,
  vni: (vni: number) => `${ROOT}vni/${vni}`,
  subnet: (cidr: string) => `${ROOT}subnets/${cidr.replace('/', '_')}`,
  /** Everything an agent of network NAME watches. */
  networkPrefix: (name: string) => `${ROOT}net/${name}/`,
  hostsPrefix: (name: string) => `${ROOT}net/${name}/hosts/`,
  host: (name: string, hostId: string) => `${ROOT}net/${name}/hosts/${hostId}`,
  endpointsPrefix: (name: string) => `${ROOT}net/${name}/endpoints/`,
  endpoint: (name: string, endpointId: string) => `${ROOT}net/${name}/endpoints/${endpointId}`,
  ipamPrefix: (name: string) => `${ROOT}net/${name}/ipam/`,
  ipam: (name: string, ip: string) => `${ROOT}net/${name}/ipam/${ip}`,
  servedPrefix: (hostId: string) => `${ROOT}served/${hostId}/`,
  served: (hostId: string, name: string, endpointId: string) => `${ROOT}served/${hostId}/${name}/${endpointId}`,
  dockerPrefix: (hostId: string) => `${ROOT}docker/${hostId}/`,
  docker: (hostId: string, networkId: string) => `${ROOT}docker/${hostId}/${networkId}`,
};

/** A network as stored. */
export interface NetworkRecord {
  name: string;
  vni: number;
  /** The IPv4 overlay subnet (CIDR, canonical: host bits zero); absent on an IPv6-only network. */
  subnet?: string;
  /** The IPv4 gateway and DNS address (the subnet's first address): on every host's bridge, never claimed by an endpoint. */
  gateway?: string;
  /** The IPv6 overlay subnet (CIDR, RFC 5952 text); absent on an IPv4-only network. */
  subnet6?: string;
  /** The IPv6 gateway and DNS address (the subnet's first usable address, base + 1). */
  gateway6?: string;
  /** No egress to the outside world (Docker: no docker_gwbridge). */
  internal: boolean;
  /** ISO time of creation (for `network ls`). */
  created: string;
}

/** A host of a network as stored: where its VTEP is. */
export interface HostRecord {
  hostId: string;
  vtep: Endpoint;
  /** ISO time this registration was first written. */
  joined: string;
}

/** One interface on the overlay: a container's, or the agent's TAP. */
export interface EndpointRecord {
  endpointId: string;
  /** The host that serves it (whose VTEP its frames go to). */
  hostId: string;
  /** Lower case. */
  mac: string;
  /** Canonical IPv4 address in the network's IPv4 subnet (absent when the network has none). */
  ipv4?: string;
  /** Canonical IPv6 address in the network's IPv6 subnet (absent when the network has none). */
  ipv6?: string;
  /** The name it answers to in DNS (a container's name), or '' for none. */
  name: string;
  /** More names (Docker's --network-alias); several endpoints may share one (replicas). */
  aliases: string[];
}

/** What a host keeps, without a lease, about an endpoint it serves: enough to register it again after a restart. */
export interface ServedRecord {
  network: string;
  endpoint: EndpointRecord;
  /** The host side of the endpoint's veth once joined (gone with the container's namespace: how a dead one is found). */
  link?: string;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function json(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function address(text: unknown, version: 4 | 6): string | undefined {
  if (typeof text !== 'string') return undefined;
  try {
    return parseIp(text).version === version ? canonicalIp(text) : undefined;
  } catch {
    return undefined;
  }
}

/** A CIDR of one family, canonical; undefined when it is not one. */
function cidr(text: unknown, version: 4 | 6): string | undefined {
  if (typeof text !== 'string') return undefined;
  const [ip, length, extra] = text.split('/');
  if (extra !== undefined || length === undefined || !/^[0-9]{1,3}$/.test(length)) return undefined;
  const canonical = address(ip, version);
  return canonical === undefined ? undefined : `${canonical}/${Number(length)}`;
}

function mac(text: unknown): string | undefined {
  if (typeof text !== 'string') return undefined;
  try {
    parseMac(text);
    return text.toLowerCase();
  } catch {
    return undefined;
  }
}

/** Parse a network value; undefined when it is not a valid record (ignored, counted by the caller). */
export function parseNetworkRecord(text: string): NetworkRecord | undefined {
  const value = json(text);
  if (value === undefined) return undefined;
  const { name, vni, created, internal } = value;
  if (typeof name !== 'string' || !NETWORK_NAME.test(name)) return undefined;
  if (typeof vni !== 'number' || !Number.isInteger(vni) || vni < 0 || vni > 0xffffff) return undefined;
  // Each family is both fields or neither; a record with neither family is no network.
  const subnet = cidr(value.subnet, 4);
  const gateway = address(value.gateway, 4);
  const subnet6 = cidr(value.subnet6, 6);
  const gateway6 = address(value.gateway6, 6);
  if ((subnet === undefined) !== (gateway === undefined) || (subnet6 === undefined) !== (gateway6 === undefined)) return undefined;
  if ((value.subnet !== undefined && subnet === undefined) || (value.subnet6 !== undefined && subnet6 === undefined)) return undefined;
  if (subnet === undefined && subnet6 === undefined) return undefined;
  return {
    name, vni, ...(subnet !== undefined ? { subnet, gateway } : {}), ...(subnet6 !== undefined ? { subnet6, gateway6 } : {}),
    internal: internal === true, created: typeof created === 'string' ? created : '',
  };
}

/** Parse a host value (address canonical); undefined when invalid. */
export function parseHostRecord(text: string): HostRecord | undefined {
  const value = json(text);
  if (value === undefined || !isObject(value.vtep)) return undefined;
  const { hostId, joined } = value;
  const { address, port } = value.vtep;
  if (typeof hostId !== 'string' || !HOST_ID.test(hostId)) return undefined;
  if (typeof address !== 'string' || typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  try {
    return { hostId, vtep: { address: canonicalIp(address), port }, joined: typeof joined === 'string' ? joined : '' };
  } catch {
    return undefined;
  }
}

/** Check an endpoint's fields (from etcd or from a runtime); undefined when any is invalid. */
export function checkEndpointRecord(value: unknown): EndpointRecord | undefined {
  if (!isObject(value)) return undefined;
  const { endpointId, hostId, name, aliases } = value;
  if (typeof endpointId !== 'string' || !ENDPOINT_ID.test(endpointId)) return undefined;
  if (typeof hostId !== 'string' || !HOST_ID.test(hostId)) return undefined;
  const ipv4 = address(value.ipv4, 4);
  const ipv6 = address(value.ipv6, 6);
  const hardware = mac(value.mac);
  if (hardware === undefined || (ipv4 === undefined && ipv6 === undefined)) return undefined;
  // A field that is there must be valid: a bad address is not silently dropped.
  if ((value.ipv4 !== undefined && ipv4 === undefined) || (value.ipv6 !== undefined && ipv6 === undefined)) return undefined;
  if (typeof name !== 'string' || (name !== '' && !ENDPOINT_NAME.test(name))) return undefined;
  if (!Array.isArray(aliases) || !aliases.every((alias) => typeof alias === 'string' && ENDPOINT_NAME.test(alias))) return undefined;
  return {
    endpointId, hostId, mac: hardware, ...(ipv4 !== undefined ? { ipv4 } : {}), ...(ipv6 !== undefined ? { ipv6 } : {}), name, aliases: [...aliases] as string[],
  };
}

export function parseEndpointRecord(text: string): EndpointRecord | undefined {
  return checkEndpointRecord(json(text));
}

export function parseServedRecord(text: string): ServedRecord | undefined {
  const value = json(text);
  if (value === undefined || typeof value.network !== 'string' || !NETWORK_NAME.test(value.network)) return undefined;
  const endpoint = checkEndpointRecord(value.endpoint);
  if (endpoint === undefined) return undefined;
  return { network: value.network, endpoint, ...(typeof value.link === 'string' ? { link: value.link } : {}) };
}

/** The last segment of a key under `prefix` if it matches `pattern`, else undefined. */
export function idOfKey(prefix: string, key: string, pattern: RegExp): string | undefined {
  if (!key.startsWith(prefix)) return undefined;
  const id = key.slice(prefix.length);
  return pattern.test(id) ? id : undefined;
}

/** The host id from a host key (the last segment), or undefined for a key of another shape. */
export function hostIdOfKey(network: string, key: string): string | undefined {
  return idOfKey(keys.hostsPrefix(network), key, HOST_ID);
}

export function endpointIdOfKey(network: string, key: string): string | undefined {
  return idOfKey(keys.endpointsPrefix(network), key, ENDPOINT_ID);
}
