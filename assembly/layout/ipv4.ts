// IPv4 header (RFC 791 §3.1).
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |Version|  IHL  |   DSCP    |ECN|          Total Length         |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |         Identification        |0|D|M|      Fragment Offset    |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  Time to Live |    Protocol   |         Header Checksum       |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                       Source Address                          |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                    Destination Address                        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                    Options (IHL > 5)                          |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

export const IPV4_VERSION_IHL: usize = 0;
export const IPV4_TOS: usize = 1;
export const IPV4_TOTAL_LENGTH: usize = 2;
export const IPV4_IDENTIFICATION: usize = 4;
export const IPV4_FLAGS_FRAGMENT: usize = 6;
export const IPV4_TTL: usize = 8;
export const IPV4_PROTOCOL: usize = 9;
export const IPV4_CHECKSUM: usize = 10;
export const IPV4_SOURCE: usize = 12;
export const IPV4_DESTINATION: usize = 16;
export const IPV4_MIN_HEADER_LEN: usize = 20;

export const IPV4_FLAG_DF: u32 = 0x4000;
export const IPV4_FLAG_MF: u32 = 0x2000;
export const IPV4_FRAGMENT_OFFSET_MASK: u32 = 0x1fff;

/** Version 4, header length 5 words (no options): the first byte of almost every IPv4 header. */
export const VERSION_IHL_5: u32 = 0x45;
/** The MF flag and fragment offset bits as a little-endian 16-bit load of the field reads them. */
export const FRAGMENT_BITS_LE: u32 = 0xff3f;
export const IPPROTO_TCP: u32 = 6;
export const IPPROTO_UDP: u32 = 17;
