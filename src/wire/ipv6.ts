/**
 * IPv6 fixed header, RFC 8200 §3, and the walk over its extension headers (§4). The same diagram
 * and offsets, under the same names, as the kernels' assembly/layout/ipv6.ts (test/abi.test.ts
 * checks both).
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |Version| Traffic Class |           Flow Label                  |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |         Payload Length        |  Next Header  |   Hop Limit   |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                                                               |
 * +                         Source Address                        +  16 bytes
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                                                               |
 * +                      Destination Address                      +  16 bytes
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Extension headers walked here (Hop-by-Hop 0, Routing 43, Fragment 44, Destination Options 60)
 * all start the same way:
 *
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Next Header  |  Hdr Ext Len  |                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * "Hdr Ext Len: Length of the header in 8-octet units, not including the first 8 octets"
 * (RFC 8200 §4.3). The Fragment header has no length: it is always 8 bytes, and its second
 * byte is reserved (§4.5).
 */

import { DecodeError } from '../errors';
import type { Ipv6ExtensionHeader, Ipv6Header } from '../types';
import { formatIpv6, writeIpv6 } from './address';
import { IpProtocol } from './protocols';
import { checkUint, checkRoom } from './fields';

export type { Ipv6ExtensionHeader, Ipv6Header };

export const IPV6_VERSION_CLASS_FLOW = 0;
export const IPV6_PAYLOAD_LENGTH = 4;
export const IPV6_NEXT_HEADER = 6;
export const IPV6_HOP_LIMIT = 7;
export const IPV6_SOURCE = 8;
export const IPV6_DESTINATION = 24;
export const IPV6_HEADER_LEN = 40;

/** Within an extension header, relative to its start. */
export const EXT_NEXT_HEADER = 0;
export const EXT_LENGTH = 1;
/** The unit of Hdr Ext Len. */
export const EXT_UNIT = 8;
/** The shortest extension header: Hdr Ext Len 0. */
export const EXT_MIN_LEN = 8;
export const FRAGMENT_HEADER_LEN = 8;
/** Longer chains are refused rather than walked: real traffic has one or two. */
export const MAX_EXTENSION_HEADERS = 8;

export function isExtensionHeader(protocol: number): boolean {
  return (
    protocol === IpProtocol.HopByHop ||
    protocol === IpProtocol.Routing ||
    protocol === IpProtocol.Fragment ||
    protocol === IpProtocol.DestinationOptions
  );
}

export interface UpperLayer {
  /** The first Next Header value that is not an extension header walked here (17 for UDP). */
  protocol: number;
  /** Where that protocol's header starts in `buf`. */
  offset: number;
}

/**
 * Walk the extension headers of the IPv6 packet at `offset`, pushing each onto `found` if given.
 * A chain that runs past the buffer or past MAX_EXTENSION_HEADERS is BAD_IPV6_EXTENSION, with
 * the offset of the extension header at fault.
 */
function walk(buf: Uint8Array, offset: number, found?: Ipv6ExtensionHeader[]): UpperLayer {
  if (offset < 0 || offset + IPV6_HEADER_LEN > buf.length) throw new DecodeError('TRUNCATED', 'ipv6', offset);
  const version = buf[offset + IPV6_VERSION_CLASS_FLOW] >> 4;
  if (version !== 6) throw new DecodeError('BAD_IP_VERSION', 'ipv6', offset, `version nibble is ${version}`);

  let protocol = buf[offset + IPV6_NEXT_HEADER];
  let at = offset + IPV6_HEADER_LEN;
  for (let count = 0; isExtensionHeader(protocol); count++) {
    if (count === MAX_EXTENSION_HEADERS) {
      throw new DecodeError('BAD_IPV6_EXTENSION', 'ipv6', at, `more than ${MAX_EXTENSION_HEADERS} extension headers`);
    }
    // Every extension header is at least 8 bytes, so its two leading bytes are readable after this.
    if (at + EXT_MIN_LEN > buf.length) throw new DecodeError('BAD_IPV6_EXTENSION', 'ipv6', at, 'runs past the end of the packet');
    const length = protocol === IpProtocol.Fragment ? FRAGMENT_HEADER_LEN : (buf[at + EXT_LENGTH] + 1) * EXT_UNIT;
    if (at + length > buf.length) throw new DecodeError('BAD_IPV6_EXTENSION', 'ipv6', at, 'runs past the end of the packet');
    found?.push({ type: protocol, length });
    protocol = buf[at + EXT_NEXT_HEADER];
    at += length;
  }
  return { protocol, offset: at };
}

/** The upper-layer protocol and where its header starts, past any extension headers. */
export function ipv6UpperLayer(buf: Uint8Array, offset = 0): UpperLayer {
  return walk(buf, offset);
}

export function decode(buf: Uint8Array, offset = 0): Ipv6Header {
  const extensionHeaders: Ipv6ExtensionHeader[] = [];
  walk(buf, offset, extensionHeaders); // checks version and that the 40 fixed bytes are present
  const first = (buf[offset] << 24) | (buf[offset + 1] << 16) | (buf[offset + 2] << 8) | buf[offset + 3];
  return {
    version: 6,
    trafficClass: (first >>> 20) & 0xff,
    flowLabel: first & 0xfffff,
    payloadLength: (buf[offset + IPV6_PAYLOAD_LENGTH] << 8) | buf[offset + IPV6_PAYLOAD_LENGTH + 1],
    nextHeader: buf[offset + IPV6_NEXT_HEADER],
    hopLimit: buf[offset + IPV6_HOP_LIMIT],
    source: formatIpv6(buf, offset + IPV6_SOURCE),
    destination: formatIpv6(buf, offset + IPV6_DESTINATION),
    extensionHeaders,
  };
}

/** Always 40: only the fixed header is encoded; extension headers are the caller's to append. */
export function encodingLength(_fields?: Ipv6Header): number {
  return IPV6_HEADER_LEN;
}

/** Both addresses, parsed before anything is written (reused: encoding never allocates). */
const addressScratch = new Uint8Array(32);

/**
 * Writes the 40-byte fixed header. `extensionHeaders` is ignored: `nextHeader` and
 * `payloadLength` are written as given, so a caller adding extension headers sets them to match.
 */
export function encodeInto(fields: Ipv6Header, buf: Uint8Array, offset = 0): number {
  if (fields.version !== 6) throw new RangeError(`version must be 6 (got ${String(fields.version)})`);
  checkUint('trafficClass', fields.trafficClass, 0xff);
  checkUint('flowLabel', fields.flowLabel, 0xfffff);
  checkUint('payloadLength', fields.payloadLength, 0xffff);
  checkUint('nextHeader', fields.nextHeader, 0xff);
  checkUint('hopLimit', fields.hopLimit, 0xff);
  checkRoom(buf, offset, IPV6_HEADER_LEN, 'the IPv6 header');
  writeIpv6(fields.source, addressScratch, 0);
  writeIpv6(fields.destination, addressScratch, 16);

  buf[offset] = (6 << 4) | (fields.trafficClass >> 4);
  buf[offset + 1] = ((fields.trafficClass & 0x0f) << 4) | (fields.flowLabel >> 16);
  buf[offset + 2] = (fields.flowLabel >> 8) & 0xff;
  buf[offset + 3] = fields.flowLabel & 0xff;
  buf[offset + IPV6_PAYLOAD_LENGTH] = fields.payloadLength >> 8;
  buf[offset + IPV6_PAYLOAD_LENGTH + 1] = fields.payloadLength & 0xff;
  buf[offset + IPV6_NEXT_HEADER] = fields.nextHeader;
  buf[offset + IPV6_HOP_LIMIT] = fields.hopLimit;
  buf.set(addressScratch, offset + IPV6_SOURCE);
  return IPV6_HEADER_LEN;
}
