/**
 * The answers of address resolution, written by both places that give them: the forwarder's
 * neighbour table (in place over the request, for an address behind another VTEP) and the
 * userspace host (into its frame queue, for its own address). One writer each, so the two answers
 * cannot drift apart.
 *
 *   ARP (RFC 826) for Ethernet and IPv4, 28 bytes:
 *     htype 1 | ptype 0x0800 | hlen 6 | plen 4 | op | sha (6) | spa (4) | tha (6) | tpa (4)
 *   Neighbor Advertisement (RFC 4861 §4.4), ICMPv6 type 136, 32 bytes:
 *     type | code | checksum | flags, reserved (4) | target (16) | option 2, length 1, MAC (8)
 */
import { ipv6PseudoHeaderSum, onesComplementSum } from '../reference/checksum';
import { writeU16, writeU32 } from '../wire/fields';
import { EtherType, IpProtocol } from '../wire/protocols';

/** An ARP body for Ethernet and IPv4, and its fields' offsets. */
export const ARP_LEN = 28;
export const ARP_OP = 6;
export const ARP_SHA = 8;
export const ARP_SPA = 14;
export const ARP_THA = 18;
export const ARP_TPA = 24;
export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;

export const IPV6_HEADER_LEN = 40;
const IPV6_PAYLOAD_LENGTH = 4;
const IPV6_NEXT_HEADER = 6;
const IPV6_HOP_LIMIT = 7;
const IPV6_SOURCE = 8;
const IPV6_DESTINATION = 24;
export const ND_NEIGHBOR_SOLICITATION = 135;
export const ND_NEIGHBOR_ADVERTISEMENT = 136;
/** Neighbour discovery travels with hop limit 255, so that a message from off-link is recognisable (RFC 4861 §7.1). */
export const ND_HOP_LIMIT = 255;
/** Type, code, checksum, flags/reserved and target address: a solicitation's least length too. */
export const ND_MESSAGE_LEN = 24;
/** The message and its Target Link-Layer Address option (type 2, length 1 unit of 8 bytes, the MAC). */
export const ND_ADVERTISEMENT_LEN = ND_MESSAGE_LEN + 8;
export const ND_FLAG_SOLICITED = 0x40;
export const ND_FLAG_OVERRIDE = 0x20;

/**
 * An ARP body at `out[at]`: sender and target MACs copied from `senderMac[senderMacAt]` and
 * `targetMac[targetMacAt]`, the IPv4 addresses as numbers. The MACs may lie in `out` itself
 * (outside the body), which is how the neighbour table answers in place.
 */
export function writeArp(
  out: Uint8Array, at: number, op: number,
  senderMac: Uint8Array, senderMacAt: number, senderIp: number,
  targetMac: Uint8Array, targetMacAt: number, targetIp: number,
): void {
  writeU16(out, at, 1);
  writeU16(out, at + 2, EtherType.IPv4);
  out[at + 4] = 6;
  out[at + 5] = 4;
  writeU16(out, at + ARP_OP, op);
  for (let i = 0; i < 6; i++) out[at + ARP_SHA + i] = senderMac[senderMacAt + i];
  writeU32(out, at + ARP_SPA, senderIp);
  for (let i = 0; i < 6; i++) out[at + ARP_THA + i] = targetMac[targetMacAt + i];
  writeU32(out, at + ARP_TPA, targetIp);
}

/**
 * A Neighbor Advertisement for `target` at `mac`, sent from `target` to `destination`, behind the
 * IPv6 header at `out[ip]`: the header's payload length, next header, hop limit and addresses,
 * then the message and its checksum. The header's first word (version, traffic class, flow
 * label) is the caller's to write or keep.
 *
 * Safe over the solicitation it answers (`out` being the solicitation's bytes): the destination
 * (the solicitation's source) is copied before the source is written, and the target may be read
 * from the solicitation's message, where the advertisement puts it again.
 */
export function writeNeighbourAdvertisement(
  out: Uint8Array, ip: number, flags: number,
  target: Uint8Array, targetAt: number, mac: Uint8Array, macAt: number,
  destination: Uint8Array, destinationAt: number,
): void {
  for (let i = 0; i < 16; i++) out[ip + IPV6_DESTINATION + i] = destination[destinationAt + i];
  for (let i = 0; i < 16; i++) out[ip + IPV6_SOURCE + i] = target[targetAt + i];
  writeU16(out, ip + IPV6_PAYLOAD_LENGTH, ND_ADVERTISEMENT_LEN);
  out[ip + IPV6_NEXT_HEADER] = IpProtocol.ICMPv6;
  out[ip + IPV6_HOP_LIMIT] = ND_HOP_LIMIT;
  const icmp = ip + IPV6_HEADER_LEN;
  out[icmp] = ND_NEIGHBOR_ADVERTISEMENT;
  out[icmp + 1] = 0;
  writeU32(out, icmp + 4, flags << 24);
  // The target, from the source address just written (the caller's `target` may be this very spot).
  out.copyWithin(icmp + 8, ip + IPV6_SOURCE, ip + IPV6_SOURCE + 16);
  const option = icmp + ND_MESSAGE_LEN;
  out[option] = 2;
  out[option + 1] = 1;
  for (let i = 0; i < 6; i++) out[option + 2 + i] = mac[macAt + i];
  writeIcmpv6Checksum(out, ip, ND_ADVERTISEMENT_LEN);
}

/** The ICMPv6 message's ones' complement sum with its pseudo-header (RFC 8200 §8.1): 0xffff when its checksum verifies. */
export function icmpv6Sum(bytes: Uint8Array, ip: number, messageLength: number): number {
  const pseudo = ipv6PseudoHeaderSum(bytes, ip + IPV6_SOURCE, ip + IPV6_DESTINATION, IpProtocol.ICMPv6, messageLength);
  return onesComplementSum(bytes, ip + IPV6_HEADER_LEN, messageLength, pseudo);
}

/** Fill in the checksum of the ICMPv6 message of `messageLength` bytes behind the IPv6 header at `out[ip]`. */
export function writeIcmpv6Checksum(out: Uint8Array, ip: number, messageLength: number): void {
  const checksumAt = ip + IPV6_HEADER_LEN + 2;
  writeU16(out, checksumAt, 0);
  writeU16(out, checksumAt, ~icmpv6Sum(out, ip, messageLength) & 0xffff);
}
