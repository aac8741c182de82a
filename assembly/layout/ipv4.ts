// IPv4 header, RFC 791 §3.1 (with the TOS byte split into DSCP and ECN, RFC 2474 / RFC 3168).
// The same diagram and offsets, under the same names, as src/wire/ipv4.ts (test/abi.test.ts
// checks both).
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |Version|  IHL  |   DSCP    |ECN|          Total Length         |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |         Identification        |R|D|M|      Fragment Offset    |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  Time to Live |    Protocol   |         Header Checksum       |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                       Source Address                          |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                    Destination Address                        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                    Options (IHL*4 - 20 bytes)                 |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// R is reserved ("must be zero", RFC 791). D = Don't Fragment, M = More Fragments.

export const IPV4_VERSION_IHL: usize = 0;
export const IPV4_DSCP_ECN: usize = 1;
export const IPV4_TOTAL_LENGTH: usize = 2;
export const IPV4_IDENTIFICATION: usize = 4;
export const IPV4_FLAGS_FRAGMENT_OFFSET: usize = 6;
export const IPV4_TTL: usize = 8;
export const IPV4_PROTOCOL: usize = 9;
export const IPV4_CHECKSUM: usize = 10;
export const IPV4_SOURCE: usize = 12;
export const IPV4_DESTINATION: usize = 16;
export const IPV4_OPTIONS: usize = 20;
export const IPV4_MIN_HEADER_LEN: usize = 20;
/** IHL is 4 bits: at most 15 words = 60 bytes, so at most 40 bytes of options. */
export const IPV4_MAX_OPTIONS_LEN: usize = 40;

/** In the 16-bit flags + fragment offset word. */
export const IPV4_FLAG_DONT_FRAGMENT: u32 = 0x4000;
export const IPV4_FLAG_MORE_FRAGMENTS: u32 = 0x2000;
export const IPV4_FRAGMENT_OFFSET_MASK: u32 = 0x1fff;

// IP protocol numbers (IpProtocol in src/wire/protocols.ts).
export const IPPROTO_TCP: u32 = 6;
export const IPPROTO_UDP: u32 = 17;

// Kernel-only encodings, as loads read them.
/** Version 4, header length 5 words (no options): the first byte of almost every IPv4 header. */
export const VERSION_IHL_5: u32 = 0x45;
/** The MF flag and fragment offset bits as a little-endian 16-bit load of the field reads them. */
export const FRAGMENT_BITS_LE: u32 = 0xff3f;
