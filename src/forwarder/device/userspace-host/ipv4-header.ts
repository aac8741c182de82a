/**
 * The IPv4 header of the host's own packets: 20 bytes, checksum filled in, an identification
 * number, don't fragment (the host never fragments), TTL 64.
 */
import { writeU16, writeU32 } from '../../../wire/fields';
import { ipv4HeaderChecksum } from '../../../wire/ipv4';

export const IPV4_HEADER_LEN = 20;
/** The hop limit of the host's own packets, IPv4 and IPv6. */
export const DEFAULT_TTL = 64;

/** A 20-byte IPv4 header, checksum filled in. */
export function writeIpv4Header(out: Uint8Array, at: number, source: number, destination: number, protocol: number, totalLength: number, id: number): void {
  out[at] = 0x45;
  out[at + 1] = 0;
  writeU16(out, at + 2, totalLength);
  writeU16(out, at + 4, id);
  writeU16(out, at + 6, 0x4000);
  out[at + 8] = DEFAULT_TTL;
  out[at + 9] = protocol;
  writeU16(out, at + 10, 0);
  writeU32(out, at + 12, source);
  writeU32(out, at + 16, destination);
  writeU16(out, at + 10, ipv4HeaderChecksum(out, at, IPV4_HEADER_LEN));
}

/** Identification numbers for the host's ICMP packets, one sequence for all of them. */
export class Ipv4Identification {
  private nextId = 1;

  next(): number {
    const id = this.nextId;
    this.nextId = (id + 1) & 0xffff;
    return id;
  }
}
