/**
 * Protocol numbers as open tables: the names this library knows, and a `name()` helper per table
 * that passes unknown values through as hex (`0x1234`), because a decoder meets numbers nobody
 * registered and must still say something useful about them.
 */

/** IEEE 802 EtherType values (and VLAN tag protocol identifiers, which share the field). */
export const EtherType = {
  IPv4: 0x0800,
  ARP: 0x0806,
  WakeOnLan: 0x0842,
  RARP: 0x8035,
  /** IEEE 802.1Q customer VLAN tag (C-tag). */
  VLAN: 0x8100,
  IPv6: 0x86dd,
  MPLS: 0x8847,
  MPLSMulticast: 0x8848,
  PPPoEDiscovery: 0x8863,
  PPPoESession: 0x8864,
  /** IEEE 802.1ad service VLAN tag (S-tag, "QinQ"). */
  QinQ: 0x88a8,
  LLDP: 0x88cc,
  MACsec: 0x88e5,
  /** Pre-standard double tagging that some switches still send. */
  VLANDoubleTagged: 0x9100,
} as const;

/** IANA "Assigned Internet Protocol Numbers": IPv4 Protocol / IPv6 Next Header. */
export const IpProtocol = {
  /** IPv6 Hop-by-Hop Options extension header (RFC 8200 §4.3). */
  HopByHop: 0,
  ICMP: 1,
  IGMP: 2,
  /** IPv4 in IP (RFC 2003). */
  IPIP: 4,
  TCP: 6,
  UDP: 17,
  /** IPv6 in IP (RFC 2473). */
  IPv6: 41,
  /** IPv6 Routing extension header (RFC 8200 §4.4). */
  Routing: 43,
  /** IPv6 Fragment extension header (RFC 8200 §4.5). */
  Fragment: 44,
  GRE: 47,
  ESP: 50,
  AH: 51,
  ICMPv6: 58,
  /** IPv6 "No Next Header" (RFC 8200 §4.7). */
  NoNextHeader: 59,
  /** IPv6 Destination Options extension header (RFC 8200 §4.6). */
  DestinationOptions: 60,
  SCTP: 132,
  UDPLite: 136,
} as const;

function reverse(table: Record<string, number>): Map<number, string> {
  const names = new Map<number, string>();
  for (const [name, value] of Object.entries(table)) names.set(value, name);
  return names;
}

const etherTypeNames = reverse(EtherType);
const ipProtocolNames = reverse(IpProtocol);

function hex(value: number, digits: number): string {
  return `0x${value.toString(16).padStart(digits, '0')}`;
}

/** `etherTypeName(0x0800)` → `'IPv4'`; an unknown value → `'0x1234'`. */
export function etherTypeName(value: number): string {
  return etherTypeNames.get(value) ?? hex(value, 4);
}

/** `ipProtocolName(17)` → `'UDP'`; an unknown value → `'0xfd'`. */
export function ipProtocolName(value: number): string {
  return ipProtocolNames.get(value) ?? hex(value, 2);
}
