// IPv6 fixed header, RFC 8200 §3, and the extension headers walked to reach the upper layer (§4).
// The same diagram and offsets, under the same names, as src/wire/ipv6.ts (test/abi.test.ts
// checks both).
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |Version| Traffic Class |           Flow Label                  |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |         Payload Length        |  Next Header  |   Hop Limit   |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                                                               |
//  +                         Source Address                        +  16 bytes
//  |                                                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                                                               |
//  +                      Destination Address                      +  16 bytes
//  |                                                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Extension headers walked here (Hop-by-Hop 0, Routing 43, Fragment 44, Destination Options 60)
// all start the same way:
//
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  Next Header  |  Hdr Ext Len  |                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// "Hdr Ext Len: Length of the header in 8-octet units, not including the first 8 octets"
// (RFC 8200 §4.3). The Fragment header has no length: it is always 8 bytes (§4.5).

export const IPV6_VERSION_CLASS_FLOW: usize = 0;
export const IPV6_PAYLOAD_LENGTH: usize = 4;
export const IPV6_NEXT_HEADER: usize = 6;
export const IPV6_HOP_LIMIT: usize = 7;
export const IPV6_SOURCE: usize = 8;
export const IPV6_DESTINATION: usize = 24;
export const IPV6_HEADER_LEN: usize = 40;

/** Within an extension header, from its start. */
export const EXT_NEXT_HEADER: usize = 0;
export const EXT_LENGTH: usize = 1;
/** The unit of Hdr Ext Len. */
export const EXT_UNIT: usize = 8;
/** The shortest extension header: Hdr Ext Len 0. */
export const EXT_MIN_LEN: usize = 8;
export const FRAGMENT_HEADER_LEN: usize = 8;
/** The decoders walk at most this many extension headers. */
export const MAX_EXTENSION_HEADERS: i32 = 8;

// Extension header types (IpProtocol in src/wire/protocols.ts).
export const IPPROTO_HOPOPTS: u32 = 0;
export const IPPROTO_ROUTING: u32 = 43;
export const IPPROTO_FRAGMENT: u32 = 44;
export const IPPROTO_DSTOPTS: u32 = 60;
