/**
 * Link-layer header types (the LINKTYPE_* registry at https://www.tcpdump.org/linktypes.html),
 * shared by classic pcap and pcapng. An open table: values not named here pass through.
 */
export const LinkType = {
  /** BSD loopback: a 4-byte host-order address family, then the packet. */
  NULL: 0,
  /** IEEE 802.3 Ethernet, the frames this library encodes and decodes. */
  ETHERNET: 1,
  /** Raw IPv4 or IPv6: the packet starts with the IP header, the version nibble says which. */
  RAW: 101,
  /** Linux "cooked" capture (tcpdump -i any), 16-byte pseudo header. */
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  /** Linux "cooked" capture v2, 20-byte pseudo header. */
  LINUX_SLL2: 276,
} as const;

const names = new Map<number, string>(Object.entries(LinkType).map(([name, value]) => [value, name]));

/** `'ETHERNET'` for 1, …, or `'LINKTYPE_<n>'` for a value not in the table. */
export function linkTypeName(value: number): string {
  return names.get(value) ?? `LINKTYPE_${value}`;
}
