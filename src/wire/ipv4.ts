/**
 * IPv4 header, RFC 791 §3.1 (with the TOS byte split into DSCP and ECN, RFC 2474 / RFC 3168).
 * The same diagram and offsets, under the same names, as the kernels' assembly/layout/ipv4.ts
 * (test/abi.test.ts checks both).
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |Version|  IHL  |   DSCP    |ECN|          Total Length         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |         Identification        |R|D|M|      Fragment Offset    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Time to Live |    Protocol   |         Header Checksum       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       Source Address                          |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Destination Address                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Options (IHL*4 - 20 bytes)                 |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * R is reserved ("must be zero", RFC 791): decode ignores it, encode writes 0. D = Don't
 * Fragment, M = More Fragments.
 *
 * `decode` checks structure only (version, IHL, bytes present). It does not verify the checksum
 * nor compare Total Length with the bytes present: that is the caller's policy (DecapOptions).
 */

import { DecodeError } from '../errors';
import type { Ipv4Header } from '../types';
import { formatIpv4, writeIpv4 } from './address';
import { checkUint, readU16, writeU16, checkRoom } from './fields';

export type { Ipv4Header };

export const IPV4_VERSION_IHL = 0;
export const IPV4_DSCP_ECN = 1;
export const IPV4_TOTAL_LENGTH = 2;
export const IPV4_IDENTIFICATION = 4;
export const IPV4_FLAGS_FRAGMENT_OFFSET = 6;
export const IPV4_TTL = 8;
export const IPV4_PROTOCOL = 9;
export const IPV4_CHECKSUM = 10;
export const IPV4_SOURCE = 12;
export const IPV4_DESTINATION = 16;
export const IPV4_OPTIONS = 20;
export const IPV4_MIN_HEADER_LEN = IPV4_OPTIONS;
/** IHL is 4 bits: at most 15 words = 60 bytes, so at most 40 bytes of options. */
export const IPV4_MAX_OPTIONS_LEN = 15 * 4 - IPV4_MIN_HEADER_LEN;

/** In the 16-bit flags + fragment offset word. */
export const IPV4_FLAG_DONT_FRAGMENT = 0x4000;
export const IPV4_FLAG_MORE_FRAGMENTS = 0x2000;
export const IPV4_FRAGMENT_OFFSET_MASK = 0x1fff;

export function decode(buf: Uint8Array, offset = 0): Ipv4Header {
  if (offset < 0 || offset + IPV4_MIN_HEADER_LEN > buf.length) throw new DecodeError('TRUNCATED', 'ipv4', offset);
  const version = buf[offset + IPV4_VERSION_IHL] >> 4;
  if (version !== 4) throw new DecodeError('BAD_IP_VERSION', 'ipv4', offset, `version nibble is ${version}`);
  const ihl = buf[offset + IPV4_VERSION_IHL] & 0x0f;
  if (ihl < 5) throw new DecodeError('BAD_IHL', 'ipv4', offset, `IHL is ${ihl}`);
  const headerLen = ihl * 4;
  if (offset + headerLen > buf.length) throw new DecodeError('TRUNCATED', 'ipv4', offset);

  const flagsAndOffset = readU16(buf, offset + IPV4_FLAGS_FRAGMENT_OFFSET);
  return {
    version: 4,
    ihl,
    dscp: buf[offset + IPV4_DSCP_ECN] >> 2,
    ecn: buf[offset + IPV4_DSCP_ECN] & 0x03,
    totalLength: readU16(buf, offset + IPV4_TOTAL_LENGTH),
    identification: readU16(buf, offset + IPV4_IDENTIFICATION),
    dontFragment: (flagsAndOffset & IPV4_FLAG_DONT_FRAGMENT) !== 0,
    moreFragments: (flagsAndOffset & IPV4_FLAG_MORE_FRAGMENTS) !== 0,
    fragmentOffset: flagsAndOffset & IPV4_FRAGMENT_OFFSET_MASK,
    ttl: buf[offset + IPV4_TTL],
    protocol: buf[offset + IPV4_PROTOCOL],
    checksum: readU16(buf, offset + IPV4_CHECKSUM),
    source: formatIpv4(buf, offset + IPV4_SOURCE),
    destination: formatIpv4(buf, offset + IPV4_DESTINATION),
    options: buf.subarray(offset + IPV4_OPTIONS, offset + headerLen),
  };
}

export function encodingLength(fields: Ipv4Header): number {
  return IPV4_MIN_HEADER_LEN + (fields.options?.length ?? 0);
}

const EMPTY = new Uint8Array(0);
/** Both addresses, parsed before anything is written (reused: encoding never allocates). */
const addressScratch = new Uint8Array(8);

/**
 * Writes the header and its options. The checksum is written as given: fill it in afterwards
 * with `ipv4HeaderChecksum(buf, offset, headerLen)`, or let the caller's kernel do it.
 */
export function encodeInto(fields: Ipv4Header, buf: Uint8Array, offset = 0): number {
  const options = fields.options ?? EMPTY;
  if (options.length % 4 !== 0 || options.length > IPV4_MAX_OPTIONS_LEN) {
    throw new RangeError(`options must be a multiple of 4 bytes, at most ${IPV4_MAX_OPTIONS_LEN} (got ${options.length})`);
  }
  const headerLen = IPV4_MIN_HEADER_LEN + options.length;
  if (fields.version !== 4) throw new RangeError(`version must be 4 (got ${String(fields.version)})`);
  if (fields.ihl !== headerLen / 4) {
    throw new RangeError(`ihl must be ${headerLen / 4} for ${options.length} bytes of options (got ${String(fields.ihl)})`);
  }
  checkUint('dscp', fields.dscp, 63);
  checkUint('ecn', fields.ecn, 3);
  checkUint('totalLength', fields.totalLength, 0xffff);
  checkUint('identification', fields.identification, 0xffff);
  checkUint('fragmentOffset', fields.fragmentOffset, IPV4_FRAGMENT_OFFSET_MASK);
  checkUint('ttl', fields.ttl, 255);
  checkUint('protocol', fields.protocol, 255);
  checkUint('checksum', fields.checksum, 0xffff);
  checkRoom(buf, offset, headerLen, 'the IPv4 header');
  writeIpv4(fields.source, addressScratch, 0);
  writeIpv4(fields.destination, addressScratch, 4);

  const flagsAndOffset =
    (fields.dontFragment ? IPV4_FLAG_DONT_FRAGMENT : 0) | (fields.moreFragments ? IPV4_FLAG_MORE_FRAGMENTS : 0) | fields.fragmentOffset;
  buf[offset + IPV4_VERSION_IHL] = (4 << 4) | fields.ihl;
  buf[offset + IPV4_DSCP_ECN] = (fields.dscp << 2) | fields.ecn;
  writeU16(buf, offset + IPV4_TOTAL_LENGTH, fields.totalLength);
  writeU16(buf, offset + IPV4_IDENTIFICATION, fields.identification);
  writeU16(buf, offset + IPV4_FLAGS_FRAGMENT_OFFSET, flagsAndOffset);
  buf[offset + IPV4_TTL] = fields.ttl;
  buf[offset + IPV4_PROTOCOL] = fields.protocol;
  writeU16(buf, offset + IPV4_CHECKSUM, fields.checksum);
  buf.set(addressScratch, offset + IPV4_SOURCE);
  // set() copes with overlap, so `options` may be a view into `buf` itself (a decoded header re-encoded).
  buf.set(options, offset + IPV4_OPTIONS);
  return headerLen;
}

/**
 * The RFC 1071 header checksum of the `headerLen` bytes at `offset`, computed as if the checksum
 * field were zero, so the same call both fills in a new header and verifies a received one
 * (`ipv4HeaderChecksum(buf, at, len) === decoded.checksum`). Plain TS: headers are at most
 * 60 bytes, and the hot path has its own in WASM.
 */
export function ipv4HeaderChecksum(buf: Uint8Array, offset: number, headerLen: number): number {
  if (!Number.isInteger(headerLen) || headerLen < IPV4_MIN_HEADER_LEN || headerLen > 60 || headerLen % 4 !== 0) {
    throw new RangeError(`headerLen must be a multiple of 4 in 20..60 (got ${String(headerLen)})`);
  }
  checkRoom(buf, offset, headerLen, 'the IPv4 header');
  let sum = 0;
  for (let at = offset; at < offset + headerLen; at += 2) {
    if (at !== offset + IPV4_CHECKSUM) sum += readU16(buf, at);
  }
  // At most 30 words of 16 bits: the sum fits in 21 bits, two folds are enough.
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
