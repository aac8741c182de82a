// Ethernet II header (IEEE 802.3 clause 3) with any number (up to 8) of IEEE 802.1Q / 802.1ad
// VLAN tags. The same diagram and offsets, under the same names, as src/wire/ethernet.ts
// (test/abi.test.ts checks both).
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                 Destination MAC Address                       |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  | Destination (cont.)           |       Source MAC Address      |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                     Source (cont.)                            |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  TPID (0x8100, 0x88a8, 0x9100)| PCP |D|        VLAN ID        |  0..8 tags, outermost first
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |          EtherType            |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// A tag sits where the EtherType would be: its TPID says "a tag follows", and the real EtherType
// comes after the last tag.

export const ETH_DESTINATION: usize = 0;
export const ETH_SOURCE: usize = 6;
/** The EtherType, or the first tag's TPID. */
export const ETH_TYPE: usize = 12;
export const ETH_HEADER_LEN: usize = 14;
/** Within a tag, from its start: TPID, then TCI = PCP(3) | DEI(1) | VID(12). */
export const VLAN_TPID: usize = 0;
export const VLAN_TCI: usize = 2;
export const VLAN_TAG_LEN: usize = 4;
/** The decoders walk at most this many tags. */
export const MAX_VLAN_TAGS: i32 = 8;

// EtherTypes and TPIDs (EtherType in src/wire/protocols.ts).
export const ETHERTYPE_IPV4: u32 = 0x0800;
export const ETHERTYPE_IPV6: u32 = 0x86dd;
export const TPID_8021Q: u32 = 0x8100;
export const TPID_8021AD: u32 = 0x88a8;
/** Pre-standard QinQ S-tag, still seen in the wild. */
export const TPID_QINQ_LEGACY: u32 = 0x9100;

// Kernel-only encodings of the above, as little-endian loads read them.
/** ETHERTYPE_IPV4 as a little-endian 16-bit load of its bytes (08 00) reads it. */
export const ETHERTYPE_IPV4_LE: u32 = 0x0008;
/** ETHERTYPE_IPV4 followed by an IPv4 header without options (45), as the low three bytes of a little-endian 32-bit load. */
export const ETHERTYPE_IPV4_IHL_5_LE: u32 = 0x450008;

// @ts-ignore: decorator
@inline export function isVlanTpid(type: u32): bool {
  return type == TPID_8021Q || type == TPID_8021AD || type == TPID_QINQ_LEGACY;
}
