// UDP header, RFC 768. The same diagram and offsets, under the same names, as src/wire/udp.ts
// (test/abi.test.ts checks both).
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |          Source Port          |       Destination Port        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |            Length             |           Checksum            |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Length counts the header and the payload. A checksum of 0 means "none" (RFC 768).

export const UDP_SOURCE_PORT: usize = 0;
export const UDP_DESTINATION_PORT: usize = 2;
export const UDP_LENGTH: usize = 4;
export const UDP_CHECKSUM: usize = 6;
export const UDP_HEADER_LEN: usize = 8;

/** IANA's VXLAN port (RFC 7348 §5), and the one Linux used before it was assigned. */
export const VXLAN_PORT: u32 = 4789;
export const VXLAN_PORT_LINUX_LEGACY: u32 = 8472;
