/**
 * A network's address pools, one per family it has (IPv4, IPv6 or both), behind one interface so
 * that claiming an address (agent.ts, host-agent.ts) is one piece of code for both families.
 * The arithmetic is ipam.ts's (32-bit numbers) and ipam6.ts's (bigint).
 */
import { chooseAddress, contains, ipv4Text, parseSubnet, startIndex } from './ipam';
import { chooseAddress6, contains6, ipv6Text, parseSubnet6, startIndex6 } from './ipam6';
import type { NetworkRecord } from './keys';

export type Family = 4 | 6;

export interface AddressPool {
  family: Family;
  cidr: string;
  prefixLength: number;
  /** The gateway and DNS address: never an endpoint's. */
  gateway: string;
  /** Usable addresses, as text ("254", "18446744073709551615"). */
  size: string;
  contains(ip: string): boolean;
  /** One hashed guess (O(1), nothing read): where `seed` lands in the subnet. */
  guess(seed: string): string;
  /** The first free address from `seed`'s start (preferred first if free); undefined when full. */
  choose(seed: string, taken: ReadonlySet<string>, preferred?: string): string | undefined;
}

export function ipv4Pool(cidr: string, gateway: string): AddressPool {
  const subnet = parseSubnet(cidr);
  return {
    family: 4, cidr: subnet.cidr, prefixLength: subnet.prefixLength, gateway, size: String(subnet.count),
    contains: (ip) => contains(subnet, ip),
    guess: (seed) => ipv4Text(subnet.first + startIndex(seed, subnet.count)),
    choose: (seed, taken, preferred) => chooseAddress(subnet, seed, taken, preferred),
  };
}

export function ipv6Pool(cidr: string, gateway: string): AddressPool {
  const subnet = parseSubnet6(cidr);
  return {
    family: 6, cidr: subnet.cidr, prefixLength: subnet.prefixLength, gateway, size: String(subnet.count),
    contains: (ip) => contains6(subnet, ip),
    guess: (seed) => ipv6Text(subnet.first + startIndex6(seed, subnet.count)),
    choose: (seed, taken, preferred) => chooseAddress6(subnet, seed, taken, preferred),
  };
}

/** The pools of a network record (throws RangeError when a stored subnet does not parse). */
export function poolsOf(network: NetworkRecord): AddressPool[] {
  const pools: AddressPool[] = [];
  if (network.subnet !== undefined && network.gateway !== undefined) pools.push(ipv4Pool(network.subnet, network.gateway));
  if (network.subnet6 !== undefined && network.gateway6 !== undefined) pools.push(ipv6Pool(network.subnet6, network.gateway6));
  return pools;
}

/** The family of address text (a colon only IPv6 has). */
export const familyOf = (ip: string): Family => (ip.includes(':') ? 6 : 4);

/** A network's subnets as one text: "10.0.9.0/24, fd00:9::/64". */
export function subnetsText(network: Pick<NetworkRecord, 'subnet' | 'subnet6'>): string {
  return [network.subnet, network.subnet6].filter((cidr) => cidr !== undefined).join(', ');
}

/** An endpoint's addresses as one text. */
export function addressesText(endpoint: { ipv4?: string; ipv6?: string }): string {
  return [endpoint.ipv4, endpoint.ipv6].filter((ip) => ip !== undefined).join(',') || '-';
}
