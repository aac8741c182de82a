/**
 * A set of IPv4/IPv6 prefixes (CIDRs) for the forwarder's source filter: VXLAN is accepted from
 * configured peers and from addresses inside these prefixes only. Consulted once per new source
 * (the underlay caches the answer), so a linear scan over a handful of prefixes is plenty.
 */
import { formatIpv4, formatIpv6, parseIp, type ParsedIp } from '../wire/address';

export interface Prefix {
  version: 4 | 6;
  bytes: Uint8Array;
  length: number;
}

/** Address text in its one canonical form (RFC 5952 for IPv6), so equal addresses compare equal as text. */
export function canonicalIp(text: string): string {
  const ip = parseIp(text);
  return ip.version === 4 ? formatIpv4(ip.bytes) : formatIpv6(ip.bytes);
}

/** Parse `ADDRESS/LENGTH` (a bare address is a host prefix). Throws TypeError/RangeError naming `what`. */
export function parseCidr(text: string, what = 'CIDR'): Prefix {
  if (typeof text !== 'string') throw new TypeError(`${what} must be text like "10.0.0.0/8", got ${typeof text}`);
  const [address, lengthText, extra] = text.split('/');
  if (extra !== undefined) throw new TypeError(`${what}: "${text}" is not ADDRESS/LENGTH`);
  let ip: ParsedIp;
  try {
    ip = parseIp(address);
  } catch (error) {
    throw new TypeError(`${what}: ${(error as Error).message}`);
  }
  const max = ip.version === 4 ? 32 : 128;
  const length = lengthText === undefined ? max : Number(lengthText);
  if (!(Number.isInteger(length) && length >= 0 && length <= max && (lengthText === undefined || /^\d+$/.test(lengthText)))) {
    throw new RangeError(`${what}: prefix length of "${text}" must be an integer in 0..${max}`);
  }
  return { version: ip.version, bytes: ip.bytes, length };
}

function contains(prefix: Prefix, ip: ParsedIp): boolean {
  if (prefix.version !== ip.version) return false;
  let bits = prefix.length;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((prefix.bytes[i] & mask) !== (ip.bytes[i] & mask)) return false;
  }
  return true;
}

export class AddressSet {
  private readonly prefixes: Prefix[];

  constructor(cidrs: Iterable<string>, what = 'CIDR') {
    this.prefixes = [...cidrs].map((cidr) => parseCidr(cidr, what));
  }

  get size(): number {
    return this.prefixes.length;
  }

  has(address: string): boolean {
    if (this.prefixes.length === 0) return false;
    const ip = parseIp(address);
    return this.prefixes.some((prefix) => contains(prefix, ip));
  }
}
