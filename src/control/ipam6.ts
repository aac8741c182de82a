/**
 * Address management over a network's IPv6 subnet, as pure functions (the IPv4 twin is ipam.ts).
 * Addresses are 128-bit numbers (bigint) here; text only at the edges.
 *
 * What differs from IPv4: there is no broadcast address, and the subnet's base address is the
 * subnet-router anycast address (RFC 4291 §2.6.1), never a host's; so the usable range is base+1
 * (the gateway and DNS address, as on IPv4) to the last address. A /64 holds 2^64 addresses: a
 * host's search starts at a hash and walks at most as many addresses as are taken, never the
 * subnet, exactly as ipam.ts does for a /8.
 */
import { createHash } from 'node:crypto';
import { formatIpv6, parseIp } from '../wire/address';
import { parseCidr, type Prefix } from '../forwarder/address-set';

/** Prefix lengths an IPv6 overlay may have: /48 (a site) to /120 (255 addresses). */
export const MIN_PREFIX6 = 48;
export const MAX_PREFIX6 = 120;

export interface Subnet6 {
  /** Canonical CIDR text (RFC 5952, host bits zero). */
  cidr: string;
  base: bigint;
  prefixLength: number;
  /** First usable address (base + 1) and how many there are (all but the subnet-router anycast). */
  first: bigint;
  count: bigint;
}

export function ipv6Number(text: string): bigint {
  const ip = parseIp(text);
  if (ip.version !== 6) throw new RangeError(`${text} is not an IPv6 address`);
  return bytesToBigint(ip.bytes);
}

function bytesToBigint(bytes: Uint8Array): bigint {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return value;
}

export function ipv6Text(value: bigint): string {
  const bytes = new Uint8Array(16);
  let rest = value;
  for (let i = 15; i >= 0; i--) {
    bytes[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  return formatIpv6(bytes);
}

/**
 * Parse an IPv6 overlay subnet `ADDR/N` with N in 48..120 and host bits zero. Throws RangeError
 * with a sentence.
 */
export function parseSubnet6(text: string): Subnet6 {
  const notSubnet = () => new RangeError(`${JSON.stringify(text)} is not an IPv6 subnet like fd00:9::/64`);
  const badLength = () => new RangeError(`subnet ${text}: the prefix length of an IPv6 overlay must be ${MIN_PREFIX6}..${MAX_PREFIX6}`);
  if (!/^[0-9A-Fa-f:.]+\/[0-9]{1,3}$/.test(text) || !text.includes(':')) throw notSubnet();
  let prefix: Prefix;
  try {
    prefix = parseCidr(text, 'subnet');
  } catch (error) {
    throw error instanceof RangeError ? badLength() : notSubnet();
  }
  if (prefix.version !== 6) throw notSubnet();
  const prefixLength = prefix.length;
  if (prefixLength < MIN_PREFIX6 || prefixLength > MAX_PREFIX6) throw badLength();
  const value = bytesToBigint(prefix.bytes);
  const hostBits = BigInt(128 - prefixLength);
  const base = (value >> hostBits) << hostBits;
  if (base !== value) throw new RangeError(`subnet ${text} has host bits set; did you mean ${ipv6Text(base)}/${prefixLength}?`);
  const size = 1n << hostBits;
  return { cidr: `${ipv6Text(base)}/${prefixLength}`, base, prefixLength, first: base + 1n, count: size - 1n };
}

export function contains6(subnet: Subnet6, ip: string): boolean {
  let value: bigint;
  try {
    value = ipv6Number(ip);
  } catch {
    return false;
  }
  return value >= subnet.first && value < subnet.first + subnet.count;
}

/** Whether two IPv6 prefixes share an address. */
export function overlaps6(a: Pick<Subnet6, 'base' | 'prefixLength'>, b: Pick<Subnet6, 'base' | 'prefixLength'>): boolean {
  const aEnd = a.base + (1n << BigInt(128 - a.prefixLength));
  const bEnd = b.base + (1n << BigInt(128 - b.prefixLength));
  return a.base < bEnd && b.base < aEnd;
}

/** Where a seed (a host id, with a counter) starts its search: 0..count-1, stable across runs and machines. */
export function startIndex6(seed: string, count: bigint): bigint {
  const digest = createHash('sha256').update(seed).digest();
  return digest.readBigUInt64BE(0) % count;
}

/** The gateway (and DNS) address: the first usable one. */
export function defaultGateway6(subnet: Subnet6): string {
  return ipv6Text(subnet.first);
}

/**
 * The address to try: `preferred` if in the subnet and free, else the first free one from the
 * seed's start, wrapping; undefined when all are taken. At most taken.size + 1 probes.
 */
export function chooseAddress6(subnet: Subnet6, seed: string, taken: ReadonlySet<string>, preferred?: string): string | undefined {
  if (preferred !== undefined && contains6(subnet, preferred) && !taken.has(ipv6Text(ipv6Number(preferred)))) return ipv6Text(ipv6Number(preferred));
  const start = startIndex6(seed, subnet.count);
  const probes = BigInt(taken.size + 1) < subnet.count ? BigInt(taken.size + 1) : subnet.count;
  for (let i = 0n; i < probes; i++) {
    const ip = ipv6Text(subnet.first + ((start + i) % subnet.count));
    if (!taken.has(ip)) return ip;
  }
  return undefined;
}

/** Address blocks no IPv6 overlay can use (RFC 4291, RFC 6890): a subnet that touches one is refused, saying which. */
const RESERVED_BLOCKS6: readonly { cidr: string; what: string }[] = [
  { cidr: '::/96', what: 'the unspecified, loopback and IPv4-compatible addresses (::/96), which no host may use on a link' },
  { cidr: '::ffff:0:0/96', what: 'IPv4-mapped addresses (::ffff:0:0/96), which stand for IPv4 hosts inside a host\'s stack' },
  { cidr: '64:ff9b::/96', what: 'the NAT64 well-known prefix (64:ff9b::/96, RFC 6052), whose addresses stand for IPv4 hosts behind a translator' },
  { cidr: 'fe80::/10', what: 'link-local (fe80::/10), which every interface makes for itself and routers do not forward' },
  { cidr: 'ff00::/8', what: 'multicast (ff00::/8), which is no host address' },
];

/**
 * Why an IPv6 subnet cannot serve an overlay (undefined when it can). The documentation prefix
 * 2001:db8::/32 is allowed, as IPv4's TEST-NETs are: it is never routed on the Internet, so an
 * overlay using it clashes with no one's real addresses (fd00::/8 is the usual choice).
 */
export function unusableSubnet6Reason(subnet: Subnet6): string | undefined {
  for (const block of RESERVED_BLOCKS6) {
    const [address, length] = block.cidr.split('/');
    if (overlaps6({ base: ipv6Number(address), prefixLength: Number(length) }, subnet)) return `subnet ${subnet.cidr} is in ${block.what}`;
  }
  return undefined;
}
