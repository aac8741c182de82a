// UDP header (RFC 768).
//
//   0      7 8     15 16    23 24    31
//  +--------+--------+--------+--------+
//  |   Source Port   | Destination Port|
//  +--------+--------+--------+--------+
//  |     Length      |    Checksum     |
//  +--------+--------+--------+--------+

export const UDP_SOURCE_PORT: usize = 0;
export const UDP_DESTINATION_PORT: usize = 2;
export const UDP_LENGTH: usize = 4;
export const UDP_CHECKSUM: usize = 6;
export const UDP_HEADER_LEN: usize = 8;
