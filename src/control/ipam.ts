/**
 * Address management over a network's IPv4 subnet, as pure functions: which addresses a subnet
 * offers, and in which order a host tries them. The claim itself is an etcd transaction (see
 * agent.ts): `ipam/NAME/IP` is created only if absent, so two hosts can never hold one address.
 *
 * A host starts its search at a point derived from its host id (a hash), not at the subnet's
 * first address: a host that restarts with the same id finds its old address first, and hosts
 * joining at once mostly try different addresses instead of all racing for the lowest free one.
 */
import { createHash } from 'node:crypto';
import { formatIpv4, formatMac, parseIp } from '../wire/address';
import { parseCidr, type Prefix } from '../forwarder/address-set';
import { ipv4Key } from '../forwarder/neighbours';

export interface Subnet {
  /** Canonical CIDR text (host bits zero). */
  cidr: string;
  /** The network address as a 32-bit unsigned number. */
  base: number;
  prefixLength: number;
  /** First usable address and how many there are (network and broadcast excluded below /31). */
  first: number;
  count: number;
  /** The netmask as dotted text (for SIOCSIFNETMASK and logs). */
  netmask: string;
}

const toBytes = (value: number) => Uint8Array.of(value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);

export function ipv4Text(value: number): string {
  return formatIpv4(toBytes(value >>> 0));
}

export function ipv4Number(text: string): number {
  const ip = parseIp(text);
  if (ip.version !== 4) throw new RangeError(`${text} is not an IPv4 address`);
  return ipv4Key(ip.bytes, 0);
}

/**
 * Parse an overlay subnet: IPv4 `A.B.C.D/N` with N in 8..32. Host bits must be zero (a typo like
 * 10.1.2.3/24 is refused rather than silently meaning 10.1.2.0/24). Throws RangeError with a sentence.
 */
export function parseSubnet(text: string): Subnet {
  const notSubnet = () => new RangeError(`${JSON.stringify(text)} is not an IPv4 subnet like 10.42.0.0/24`);
  const badLength = () => new RangeError(`subnet ${text}: the prefix length must be 8..32`);
  // parseCidr also takes IPv6 and a bare address (a host prefix); a subnet is IPv4 with its length.
  if (!/^[0-9.]+\/[0-9]{1,2}$/.test(text)) throw notSubnet();
  let prefix: Prefix;
  try {
    prefix = parseCidr(text, 'subnet');
  } catch (error) {
    // Digits and dots that are no address (300.1.1.0) are a TypeError, a length past 32 a RangeError.
    throw error instanceof RangeError ? badLength() : notSubnet();
  }
  const base = ipv4Key(prefix.bytes, 0);
  const prefixLength = prefix.length;
  if (prefixLength < 8) throw badLength();
  const mask = (0xffffffff << (32 - prefixLength)) >>> 0; // 8..32: the shift is 0..24
  if ((base & ~mask) >>> 0 !== 0) {
    throw new RangeError(`subnet ${text} has host bits set; did you mean ${ipv4Text(base & mask)}/${prefixLength}?`);
  }
  const size = 2 ** (32 - prefixLength);
  // RFC 3021: a /31 has no network or broadcast address; a /32 is one host.
  const first = size <= 2 ? base : base + 1;
  const count = size <= 2 ? size : size - 2;
  return { cidr: `${ipv4Text(base)}/${prefixLength}`, base, prefixLength, first, count, netmask: ipv4Text(mask) };
}

export function contains(subnet: Subnet, ip: string): boolean {
  let value: number;
  try {
    value = ipv4Number(ip);
  } catch {
    return false;
  }
  return value >= subnet.first && value < subnet.first + subnet.count;
}

/** Where a host id starts its search, 0..count-1 (stable across runs and machines). */
export function startIndex(hostId: string, count: number): number {
  const digest = createHash('sha256').update(hostId).digest();
  return digest.readUInt32BE(0) % count;
}

/**
 * The address this host should try: `preferred` if it is in the subnet and free, else the first
 * free one from the host id's start, wrapping around; undefined when all are taken. `taken` holds
 * address text. Cost: O(taken + 1) probes from the start, never a walk over a whole /8.
 */
export function chooseAddress(subnet: Subnet, hostId: string, taken: ReadonlySet<string>, preferred?: string): string | undefined {
  if (preferred !== undefined && contains(subnet, preferred) && !taken.has(preferred)) return preferred;
  const start = startIndex(hostId, subnet.count);
  // At most taken.size + 1 probes find a free address if there is one.
  const probes = Math.min(subnet.count, taken.size + 1);
  for (let i = 0; i < probes; i++) {
    const ip = ipv4Text(subnet.first + ((start + i) % subnet.count));
    if (!taken.has(ip)) return ip;
  }
  return undefined;
}

/** A stable, locally administered unicast MAC for a host id (02:xx:…): the same after a restart, so peers' ARP caches stay right. */
export function macForHost(hostId: string, network: string): string {
  const digest = createHash('sha256').update(`${network}\n${hostId}`).digest();
  return formatMac(Uint8Array.of(0x02, digest[0], digest[1], digest[2], digest[3], digest[4]));
}
