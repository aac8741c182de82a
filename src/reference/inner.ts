/**
 * The pure-TS twin of assembly/inner.ts: locate the inner frame's TCP/UDP segment, verify its
 * checksum, complete a partial one (csum_start/csum_offset, as a TAP with offload hands it over).
 */
import {
  INNER_CHECKSUM_BAD, INNER_CHECKSUM_NONE, INNER_CHECKSUM_UNSUPPORTED, INNER_CHECKSUM_VALID, PARTIAL_FINISHED, PARTIAL_UNTOUCHED,
} from '../wasm/abi';
import { internetChecksum, ipv4PseudoHeaderSum, ipv6PseudoHeaderSum, onesComplementSum } from './checksum';
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

/** The L3 offset of the Ethernet frame at [frame, frame+len) and its EtherType, or l3 0 when too short. */
export function findL3(bytes: Uint8Array, frame: number, len: number): { l3: number; etherType: number } {
  if (len < 14) return { l3: 0, etherType: 0 };
  let typeOffset = 12;
  let etherType = readU16(bytes, frame + typeOffset);
  for (let tags = 0; tags < MAX_VLAN_TAGS && isVlanTpid(etherType); tags++) {
    if (typeOffset + 4 + 2 > len) return { l3: 0, etherType: 0 };
    typeOffset += 4;
    etherType = readU16(bytes, frame + typeOffset);
  }
  return { l3: typeOffset + 2, etherType };
}

/** The pseudo-header sum of an L4 segment of `l4Len` bytes behind the IPv4 or IPv6 header at `ip`. */
export function pseudoHeaderSumAt(bytes: Uint8Array, ip: number, ipVersion: number, protocol: number, l4Len: number): number {
  return ipVersion === 4
    ? ipv4PseudoHeaderSum(bytes, ip + 12, ip + 16, protocol, l4Len)
    : ipv6PseudoHeaderSum(bytes, ip + 8, ip + 24, protocol, l4Len);
}

/**
 * The IP length of a segment built from another (tsoSplit, groMerge): IPv4 total length and a
 * fresh header checksum, or IPv6 payload length; returns the pseudo-header sum of its L4 segment.
 */
export function setIpLength(bytes: Uint8Array, frame: number, ip: number, l4: number, frameLen: number, ipVersion: number, protocol: number): number {
  const l4Len = frameLen - l4;
  if (ipVersion === 4) {
    writeU16(bytes, frame + ip + 2, frameLen - ip);
    writeU16(bytes, frame + ip + 10, 0);
    writeU16(bytes, frame + ip + 10, internetChecksum(bytes, frame + ip, l4 - ip));
  } else {
    writeU16(bytes, frame + ip + 4, l4Len);
  }
  return pseudoHeaderSumAt(bytes, frame + ip, ipVersion, protocol, l4Len);
}

/** The checksum to store for a segment summing to `sum`: a computed zero goes as all ones (RFC 768; for TCP the same sum). */
export function l4ChecksumOf(sum: number): number {
  const checksum = ~sum & 0xffff;
  return checksum === 0 ? 0xffff : checksum;
}

/** The segment's protocol (6 or 17), filling `innerSegment`; 0 when there is none to checksum. */
export function locateInnerL4(bytes: Uint8Array, frame: number, len: number): number {
  const { l3, etherType } = findL3(bytes, frame, len);
  if (l3 === 0) return 0;
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
  writeU16(bytes, frame + csumStart + csumOffset, l4ChecksumOf(onesComplementSum(bytes, frame + csumStart, len - csumStart, 0)));
  return 0;
}

/** Twin of finishPartialChecksum in assembly/inner.ts (the reasoning is written there). */
export function finishPartialChecksum(bytes: Uint8Array, frame: number, len: number): number {
  if (len < 0) return PARTIAL_UNTOUCHED;
  const protocol = locateInnerL4(bytes, frame, len);
  if (protocol === 0) return PARTIAL_UNTOUCHED;
  const { start, end, pseudoSum } = innerSegment;
  const field = frame + start + l4ChecksumField(protocol);
  const value = readU16(bytes, field);
  if (protocol === UDP && value === 0) return PARTIAL_UNTOUCHED;
  const same = value === pseudoSum || ((value | pseudoSum) === 0xffff && (value === 0 || pseudoSum === 0));
  if (!same) return PARTIAL_UNTOUCHED;
  if (onesComplementSum(bytes, frame + start, end - start, pseudoSum) === 0xffff) return PARTIAL_UNTOUCHED;
  writeU16(bytes, field, l4ChecksumOf(onesComplementSum(bytes, frame + start, end - start, 0)));
  return PARTIAL_FINISHED;
}
