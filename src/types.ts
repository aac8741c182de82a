/**
 * The shapes of the public object API, as README.md shows them in use: what `encapsulate`
 * takes and what `decapsulate` returns. Addresses are text here: MAC `"02:00:00:00:00:01"`,
 * dotted IPv4, RFC 5952 IPv6.
 */

export interface VlanTag {
  /** Tag protocol identifier: 0x8100 (802.1Q), 0x88a8 (802.1ad S-tag) or 0x9100. */
  tpid: number;
  /** Priority code point, 0..7. */
  pcp: number;
  /** Drop eligible indicator. */
  dei: boolean;
  /** VLAN id, 0..4095. */
  vid: number;
}

export interface EthernetHeader {
  destination: string;
  source: string;
  /** The EtherType after the last VLAN tag. */
  etherType: number;
  /** Outermost first. */
  vlans: VlanTag[];
}

export interface Ipv4Header {
  version: 4;
  /** Header length in 32-bit words, 5..15. */
  ihl: number;
  dscp: number;
  ecn: number;
  totalLength: number;
  identification: number;
  dontFragment: boolean;
  moreFragments: boolean;
  /** In 8-byte units, as on the wire. */
  fragmentOffset: number;
  ttl: number;
  protocol: number;
  checksum: number;
  source: string;
  destination: string;
  /** Raw option bytes (IHL*4 - 20 of them); a view, not a copy, when decoded. */
  options: Uint8Array;
}

export interface Ipv6ExtensionHeader {
  /** Its protocol number: 0 hop-by-hop, 43 routing, 44 fragment, 60 destination options. */
  type: number;
  /** Its length in bytes, the fixed part included. */
  length: number;
}

export interface Ipv6Header {
  version: 6;
  trafficClass: number;
  flowLabel: number;
  payloadLength: number;
  /** The Next Header field of the fixed header (the first extension header, if any). */
  nextHeader: number;
  hopLimit: number;
  source: string;
  destination: string;
  extensionHeaders: Ipv6ExtensionHeader[];
}

export interface UdpHeader {
  sourcePort: number;
  destinationPort: number;
  length: number;
  checksum: number;
}

export interface GroupPolicy {
  /** Group Policy ID, 16 bits. */
  group: number;
  /** D bit: the egress VTEP must not learn the source address. */
  dontLearn: boolean;
  /** A bit: policy has already been applied. */
  policyApplied: boolean;
}

export interface VxlanHeader {
  /** The first byte: 0x08 (I) for RFC 7348, 0x88 with the Group Policy extension. */
  flags: number;
  vni: number;
  gbp?: GroupPolicy;
}

export interface VxlanFrame {
  ethernet: EthernetHeader;
  ip: Ipv4Header | Ipv6Header;
  udp: UdpHeader;
  vxlan: VxlanHeader;
  /** The inner Ethernet frame: a view into the decoded frame, not a copy. */
  inner: Uint8Array;
}

export interface TunnelEndpoint {
  mac: string;
  ip: string;
  port?: number;
}

export interface TunnelOptions {
  /** VXLAN Network Identifier, 0..2^24-1. */
  vni: number;
  source: TunnelEndpoint;
  /** `port` defaults to 4789 (IANA). */
  destination: TunnelEndpoint;
  /** IPv4 TTL or IPv6 hop limit; default 64. */
  ttl?: number;
  /** IPv4 TOS byte or IPv6 traffic class; default 0. */
  tos?: number;
  /** IPv4 DF bit; default false. */
  dontFragment?: boolean;
  /** Compute the UDP checksum (IPv4 only: over IPv6 it is always computed); default true. */
  udpChecksum?: boolean;
  /** Without `source.port`, the source port is a hash of the inner flow mapped into this range. */
  sourcePortRange?: [number, number];
  /** IPv6 flow label; default 0. */
  flowLabel?: number;
  gbp?: { group: number; dontLearn?: boolean; policyApplied?: boolean };
  /** An 802.1Q tag on the outer Ethernet header. */
  vlan?: { vid: number; pcp?: number };
}

export interface DecapOptions {
  /** Enforce what Linux enforces: I flag set, every other flag bit and reserved field zero. Default true. */
  strict?: boolean;
  /** Verify the IPv4 header checksum and a non-zero UDP checksum. Default true. */
  verifyChecksums?: boolean;
  /** Accept only this VNI. */
  vni?: number;
  /** Accepted UDP destination ports, at most 4. Default [4789, 8472]. */
  ports?: number[];
  /** Accept a zero UDP checksum over IPv6 (RFC 6935). Default false. */
  allowZeroUdpChecksumIpv6?: boolean;
  /** Accept the Group Policy extension bits (G, D, A, group id) in strict mode. Default false. */
  gbp?: boolean;
}
