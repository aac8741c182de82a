/**
 * UDP header, RFC 768. The same diagram and offsets, under the same names, as the kernels'
 * assembly/layout/udp.ts (test/abi.test.ts checks both).
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |          Source Port          |       Destination Port        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |            Length             |           Checksum            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Length counts the header and the payload. A checksum of 0 means "none" (RFC 768), which over
 * IPv6 is allowed only for tunnels that ask for it (RFC 6935); the codec reads and writes the
 * field as it is and leaves that policy to the caller.
 */

import { DecodeError } from '../errors';
import type { UdpHeader } from '../types';
import { checkUint, readU16, writeU16, checkRoom } from './fields';

export type { UdpHeader };

export const UDP_SOURCE_PORT = 0;
export const UDP_DESTINATION_PORT = 2;
export const UDP_LENGTH = 4;
export const UDP_CHECKSUM = 6;
export const UDP_HEADER_LEN = 8;

/** IANA's VXLAN port (RFC 7348 §5), and the one Linux used before it was assigned. */
export const VXLAN_PORT = 4789;
export const VXLAN_PORT_LINUX_LEGACY = 8472;

export function decode(buf: Uint8Array, offset = 0): UdpHeader {
  if (offset < 0 || offset + UDP_HEADER_LEN > buf.length) throw new DecodeError('TRUNCATED', 'udp', offset);
  return {
    sourcePort: readU16(buf, offset + UDP_SOURCE_PORT),
    destinationPort: readU16(buf, offset + UDP_DESTINATION_PORT),
    length: readU16(buf, offset + UDP_LENGTH),
    checksum: readU16(buf, offset + UDP_CHECKSUM),
  };
}

export function encodingLength(_fields?: UdpHeader): number {
  return UDP_HEADER_LEN;
}

/** Writes the 8 bytes as given; the checksum (which covers the payload) is the caller's to fill in. */
export function encodeInto(fields: UdpHeader, buf: Uint8Array, offset = 0): number {
  checkUint('sourcePort', fields.sourcePort, 0xffff);
  checkUint('destinationPort', fields.destinationPort, 0xffff);
  checkUint('length', fields.length, 0xffff);
  checkUint('checksum', fields.checksum, 0xffff);
  checkRoom(buf, offset, UDP_HEADER_LEN, 'the UDP header');
  writeU16(buf, offset + UDP_SOURCE_PORT, fields.sourcePort);
  writeU16(buf, offset + UDP_DESTINATION_PORT, fields.destinationPort);
  writeU16(buf, offset + UDP_LENGTH, fields.length);
  writeU16(buf, offset + UDP_CHECKSUM, fields.checksum);
  return UDP_HEADER_LEN;
}

/**
 * A zero-copy view: getters and setters straight over the bytes, for code that touches one or
 * two fields per packet. The constructor checks the 8 bytes are there; the accessors then read
 * without checks. Setters write the low 16 bits of what they are given.
 */
export class UdpView {
  constructor(readonly buf: Uint8Array, readonly offset = 0) {
    if (offset < 0 || offset + UDP_HEADER_LEN > buf.length) throw new DecodeError('TRUNCATED', 'udp', offset);
  }
  get sourcePort(): number { return readU16(this.buf, this.offset + UDP_SOURCE_PORT); }
  set sourcePort(value: number) { writeU16(this.buf, this.offset + UDP_SOURCE_PORT, value & 0xffff); }
  get destinationPort(): number { return readU16(this.buf, this.offset + UDP_DESTINATION_PORT); }
  set destinationPort(value: number) { writeU16(this.buf, this.offset + UDP_DESTINATION_PORT, value & 0xffff); }
  get length(): number { return readU16(this.buf, this.offset + UDP_LENGTH); }
  set length(value: number) { writeU16(this.buf, this.offset + UDP_LENGTH, value & 0xffff); }
  get checksum(): number { return readU16(this.buf, this.offset + UDP_CHECKSUM); }
  set checksum(value: number) { writeU16(this.buf, this.offset + UDP_CHECKSUM, value & 0xffff); }
}
