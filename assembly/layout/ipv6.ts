// IPv6 fixed header (RFC 8200 §3) and the extension headers walked to reach the upper layer.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |Version| Traffic Class |           Flow Label                  |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |         Payload Length        |  Next Header  |   Hop Limit   |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                Source Address (16 bytes)                      |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |             Destination Address (16 bytes)                    |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Extension headers (RFC 8200 §4): Next Header at byte 0 and, except for the fixed 8-byte
// Fragment header, Hdr Ext Len at byte 1 in 8-octet units not counting the first 8 octets.

export const IPV6_VERSION_CLASS_FLOW: usize = 0;
export const IPV6_PAYLOAD_LENGTH: usize = 4;
export const IPV6_NEXT_HEADER: usize = 6;
export const IPV6_HOP_LIMIT: usize = 7;
export const IPV6_SOURCE: usize = 8;
export const IPV6_DESTINATION: usize = 24;
export const IPV6_HEADER_LEN: usize = 40;

export const EXT_NEXT_HEADER: usize = 0;
export const EXT_LENGTH: usize = 1;
export const EXT_MIN_LEN: usize = 8;
/** The decoders walk at most this many extension headers. */
export const MAX_EXTENSION_HEADERS: i32 = 8;

export const IPPROTO_HOPOPTS: u32 = 0;
export const IPPROTO_ROUTING: u32 = 43;
export const IPPROTO_FRAGMENT: u32 = 44;
export const IPPROTO_DSTOPTS: u32 = 60;
