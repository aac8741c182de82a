/**
 * The pure-TS twin of assembly/inner.ts: locate the inner frame's TCP/UDP segment, verify its
 * checksum, complete a partial one (csum_start/csum_offset, as a TAP with offload hands it over).
 */
import { INNER_CHECKSUM_BAD, INNER_CHECKSUM_NONE, INNER_CHECKSUM_UNSUPPORTED, INNER_CHECKSUM_VALID } from '../wasm/abi';
import { ipv4PseudoHeaderSum, ipv6PseudoHeaderSum, onesComplementSum } from './checksum';
import { readU16, writeU16 } from '../wire/fields';
import { isVlanTpid, MAX_VLAN_TAGS } from '../wire/ethernet';
import { UDP_CHECKSUM } from '../wire/udp';
import { IpProtocol } from '../wire/protocols';

const TCP = IpProtocol.TCP;
const UDP = IpProtocol.UDP;
/** TCP header (RFC 9293 §3.1): checksum at byte 16, at least 20 bytes (TCP_* in assembly/inner.ts). */
export const TCP_CHECKSUM = 16;
const TCP_MIN_HEADER_LEN = 20;

/** Where locateInnerL4 found the segment (offsets from the frame) and its pseudo-header sum. */
export const innerSegment = { start: 0, end: 0, pseudoSum: 0 };

/** The segment's protocol (6 or 17), filling `innerSegment`; 0 when there is none to checksum. */
export function locateInnerL4(bytes: Uint8Array, frame: number, len: number): number {
  if (len < 14) return 0;
  let typeOffset = 12;
  let etherType = readU16(bytes, frame + typeOffset);
  for (let tags = 0; tags < MAX_VLAN_TAGS && isVlanTpid(etherType); tags++) {
    if (typeOffset + 4 + 2 > len) return 0;
    typeOffset += 4;
    etherType = readU16(bytes, frame + typeOffset);
  }
  const l3 = typeOffset + 2;
  if (l3 > len) return 0;
  const available = len - l3;
  let protocol: number;
  let start: number;
  let end: number;
  let pseudo: number;
  if (etherType === 0x0800) {
    if (available < 20) return 0;
    const headerLen = (bytes[frame + l3] & 0x0f) * 4;
    if (bytes[frame + l3] >> 4 !== 4 || headerLen < 20) return 0;
    const totalLength = readU16(bytes, frame + l3 + 2);
    if (totalLength < headerLen || totalLength > available) return 0;
    if (readU16(bytes, frame + l3 + 6) & 0x3fff) return 0; // MF or a fragment offset
    protocol = bytes[frame + l3 + 9];
    start = l3 + headerLen;
    end = l3 + totalLength;
    pseudo = ipv4PseudoHeaderSum(bytes, frame + l3 + 12, frame + l3 + 16, protocol, end - start);
  } else if (etherType === 0x86dd) {
    if (available < 40) return 0;
    if (bytes[frame + l3] >> 4 !== 6) return 0;
    const payloadLength = readU16(bytes, frame + l3 + 4);
    if (payloadLength > available - 40) return 0;
    protocol = bytes[frame + l3 + 6];
    start = l3 + 40;
    end = start + payloadLength;
    pseudo = ipv6PseudoHeaderSum(bytes, frame + l3 + 8, frame + l3 + 24, protocol, payloadLength);
  } else {
    return 0;
  }
  if (protocol === TCP) {
    if (end - start < TCP_MIN_HEADER_LEN) return 0;
  } else if (protocol === UDP) {
    if (end - start < 8 || readU16(bytes, frame + start + 4) !== end - start) return 0;
  } else {
    return 0;
  }
  innerSegment.start = start;
  innerSegment.end = end;
  innerSegment.pseudoSum = pseudo;
  return protocol;
}

export function l4ChecksumField(protocol: number): number {
  return protocol === TCP ? TCP_CHECKSUM : UDP_CHECKSUM;
}

export function verifyInnerChecksum(bytes: Uint8Array, frame: number, len: number): number {
  if (len < 0) return INNER_CHECKSUM_UNSUPPORTED;
  const protocol = locateInnerL4(bytes, frame, len);
  if (protocol === 0) return INNER_CHECKSUM_UNSUPPORTED;
  const { start, end, pseudoSum } = innerSegment;
  if (protocol === UDP && readU16(bytes, frame + start + UDP_CHECKSUM) === 0) return INNER_CHECKSUM_NONE;
  return onesComplementSum(bytes, frame + start, end - start, pseudoSum) === 0xffff ? INNER_CHECKSUM_VALID : INNER_CHECKSUM_BAD;
}

export function completeInnerChecksum(bytes: Uint8Array, frame: number, len: number, csumStart: number, csumOffset: number): number {
  if (len < 0 || csumStart < 0 || csumOffset < 0 || csumStart > len || csumOffset > len - csumStart - 2) return -1;
  const checksum = ~onesComplementSum(bytes, frame + csumStart, len - csumStart, 0) & 0xffff;
  // UDP sends a computed zero as all ones (RFC 768); for TCP both mean the same sum.
  writeU16(bytes, frame + csumStart + csumOffset, checksum === 0 ? 0xffff : checksum);
  return 0;
}
