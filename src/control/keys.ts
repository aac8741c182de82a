/**
 * The control plane's key layout in etcd, version 1. Everything lives under one prefix with the
 * layout's version in it, so a later layout can sit beside this one while agents move over:
 *
 *   /vxlan-wasm/v1/networks/NAME          {"name","vni","subnet","created"}             no lease
 *   /vxlan-wasm/v1/vni/VNI                NAME (decimal VNI): a VNI names one network   no lease
 *   /vxlan-wasm/v1/hosts/NAME/HOSTID      {"hostId","vtep":{"address","port"},"mac","ip","joined"}
 *                                                                                      the host's lease
 *   /vxlan-wasm/v1/ipam/NAME/IP           HOSTID: that overlay address is taken         the host's lease
 *
 * A network and its VNI key are created in one transaction that requires both to be absent
 * (createRevision == 0), so two `network create` never both succeed. A host's two keys are put in
 * one transaction under the host's lease: when the host stops (revoke) or dies (the lease expires)
 * both disappear together, which is how every other host learns it is gone.
 *
 * Values are JSON (or plain text for the two index keys); a value that does not parse is ignored
 * and counted by whoever reads it, never trusted.
 */
import { parseIp, parseMac } from '../wire/address';
import { canonicalIp } from '../forwarder/address-set';
import type { Endpoint } from '../forwarder/contracts';

export const LAYOUT_VERSION = 1;
export const ROOT = `/vxlan-wasm/v${LAYOUT_VERSION}/`;

/** Network names: DNS-label-like, so they are safe in keys, logs and interface-name suggestions. */
export const NETWORK_NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
/** Host ids: letters, digits, '_', '.', '-' (no slash: it is a key segment). */
export const HOST_ID = /^[A-Za-z0-9_.-]{1,64}$/;

export const keys = {
  networksPrefix: `${ROOT}networks/`,
  network: (name: string) => `${ROOT}networks/${name}`,
  vni: (vni: number) => `${ROOT}vni/${vni}`,
  hostsPrefix: (name: string) => `${ROOT}hosts/${name}/`,
  host: (name: string, hostId: string) => `${ROOT}hosts/${name}/${hostId}`,
  ipamPrefix: (name: string) => `${ROOT}ipam/${name}/`,
  ipam: (name: string, ip: string) => `${ROOT}ipam/${name}/${ip}`,
};

/** A network as stored. */
export interface NetworkRecord {
  name: string;
  vni: number;
  /** The overlay subnet (IPv4 CIDR, canonical: host bits zero). */
  subnet: string;
  /** ISO time of creation (for `network ls`). */
  created: string;
}

/** A host of a network as stored: its VTEP, and its endpoint's MAC and overlay address. */
export interface HostRecord {
  hostId: string;
  vtep: Endpoint;
  mac: string;
  /** Overlay IPv4 address (from IPAM). */
  ip: string;
  /** ISO time this registration was written. */
  joined: string;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Parse a network value; undefined when it is not a valid record (ignored, counted by the caller). */
export function parseNetworkRecord(text: string): NetworkRecord | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (!isObject(value)) return undefined;
    const { name, vni, subnet, created } = value;
    if (typeof name !== 'string' || !NETWORK_NAME.test(name)) return undefined;
    if (typeof vni !== 'number' || !Number.isInteger(vni) || vni < 0 || vni > 0xffffff) return undefined;
    if (typeof subnet !== 'string') return undefined;
    return { name, vni, subnet, created: typeof created === 'string' ? created : '' };
  } catch {
    return undefined;
  }
}

/** Parse a host value (addresses canonical, MAC lower case); undefined when invalid. */
export function parseHostRecord(text: string): HostRecord | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (!isObject(value) || !isObject(value.vtep)) return undefined;
    const { hostId, mac, ip, joined } = value;
    const { address, port } = value.vtep;
    if (typeof hostId !== 'string' || !HOST_ID.test(hostId)) return undefined;
    if (typeof address !== 'string' || typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
    if (typeof mac !== 'string' || typeof ip !== 'string') return undefined;
    parseMac(mac);
    if (parseIp(ip).version !== 4) return undefined;
    return {
      hostId, vtep: { address: canonicalIp(address), port }, mac: mac.toLowerCase(), ip: canonicalIp(ip),
      joined: typeof joined === 'string' ? joined : '',
    };
  } catch {
    return undefined;
  }
}

/** The host id from a host key (the last segment), or undefined for a key of another shape. */
export function hostIdOfKey(network: string, key: string): string | undefined {
  const prefix = keys.hostsPrefix(network);
  if (!key.startsWith(prefix)) return undefined;
  const id = key.slice(prefix.length);
  return HOST_ID.test(id) ? id : undefined;
}
