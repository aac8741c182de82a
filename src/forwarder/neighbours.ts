/**
 * A neighbour table (overlay IP → MAC) that answers ARP requests and IPv6 neighbour solicitations
 * locally, as the Linux `vxlan` device's `proxy` option and Docker's overlay driver do: a request
 * whose answer the control plane already knows never crosses the underlay.
 *
 * The answer is written in place over the request, in its slot, so nothing is allocated:
 *
 *   ARP (RFC 826), Ethernet + IPv4:  op 1 → 2; sender := the neighbour; target := the requester.
 *   ND (RFC 4861 §4.3/§4.4):  Neighbor Solicitation (ICMPv6 135) → Neighbor Advertisement (136)
 *   from the target address, Solicited and Override set, with a Target Link-Layer Address option.
 *
 * Requests the table cannot answer, gratuitous ARP, and duplicate address detection (an NS from
 * the unspecified address) are left alone: the forwarder floods them as before.
 */
import { fold16, onesComplementSum } from '../reference/checksum';
import { formatIpv4, formatIpv6, parseIp } from '../wire/address';
import { macKey, macKeyAt, macText, writeMacKey } from './fdb';

const ETHERTYPE_ARP = 0x0806;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERNET_LEN = 14;
/** ARP for Ethernet and IPv4: htype 1, ptype 0x0800, hlen 6, plen 4, then op, sha, spa, tha, tpa. */
const ARP_LEN = 28;
const ARP_OP = 6;
const ARP_SHA = 8;
const ARP_SPA = 14;
const ARP_THA = 18;
const ARP_TPA = 24;
const IPV6_LEN = 40;
const IPV6_PAYLOAD_LENGTH = 4;
const IPV6_NEXT_HEADER = 6;
const IPV6_HOP_LIMIT = 7;
const IPV6_SOURCE = 8;
const IPV6_DESTINATION = 24;
const ICMPV6 = 58;
const ND_NEIGHBOR_SOLICITATION = 135;
const ND_NEIGHBOR_ADVERTISEMENT = 136;
/** Type, code, checksum, flags/reserved, target address. */
const ND_MESSAGE_LEN = 24;
/** Target Link-Layer Address option: type 2, length 1 (8 bytes), the MAC. */
const ND_OPTION_LEN = 8;
const ND_ADVERTISEMENT_LEN = ETHERNET_LEN + IPV6_LEN + ND_MESSAGE_LEN + ND_OPTION_LEN;
/** Solicited (S) and Override (O) flags of a Neighbor Advertisement. */
const ND_FLAGS_SOLICITED_OVERRIDE = 0x60;

export interface NeighbourCounters {
  /** ARP requests answered from the table. */
  arpAnswered: number;
  /** IPv6 neighbour solicitations answered from the table. */
  ndAnswered: number;
  /** ARP requests the table could not answer (flooded as before). */
  arpFlooded: number;
  /** Neighbour solicitations the table could not answer, DAD included (flooded as before). */
  ndFlooded: number;
}

/** The IPv4 address at `offset` as one unsigned 32-bit number (a map key, or a number to count with). */
export function ipv4Key(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset] << 24) | (bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) | bytes[offset + 3]) >>> 0;
}

/** IPv6 addresses as text keys: made only for a solicitation, which is rare next to data. */
function ipv6Key(bytes: Uint8Array, offset: number): string {
  return formatIpv6(bytes, offset);
}

export class NeighbourTable {
  private readonly ipv4 = new Map<number, number>();
  private readonly ipv6 = new Map<string, number>();

  get size(): number {
    return this.ipv4.size + this.ipv6.size;
  }

  /** `ip` (IPv4 or IPv6 text) is at `mac`. Replaces an earlier binding of the same address. */
  set(ip: string, mac: string): void {
    const parsed = parseIp(ip);
    const key = macKey(mac);
    if (parsed.version === 4) this.ipv4.set(ipv4Key(parsed.bytes, 0), key);
    else this.ipv6.set(ipv6Key(parsed.bytes, 0), key);
  }

  delete(ip: string): boolean {
    const parsed = parseIp(ip);
    return parsed.version === 4 ? this.ipv4.delete(ipv4Key(parsed.bytes, 0)) : this.ipv6.delete(ipv6Key(parsed.bytes, 0));
  }

  list(): { ip: string; mac: string }[] {
    const address = new Uint8Array(4);
    const v4 = [...this.ipv4].map(([ip, mac]) => {
      new DataView(address.buffer).setUint32(0, ip);
      return { ip: formatIpv4(address), mac: macText(mac) };
    });
    return [...v4, ...[...this.ipv6].map(([ip, mac]) => ({ ip, mac: macText(mac) }))];
  }

  /**
   * If the frame at `bytes[start .. start + length)` is an ARP request or a neighbour solicitation
   * this table answers, rewrite it in place into the answer and return the answer's length (the
   * room after `start` must hold ND_ADVERTISEMENT_LEN bytes). Otherwise return 0 and change nothing.
   */
  answer(bytes: Uint8Array, start: number, length: number, counters: NeighbourCounters): number {
    if (length < ETHERNET_LEN + ARP_LEN) return 0;
    const etherType = (bytes[start + 12] << 8) | bytes[start + 13];
    if (etherType === ETHERTYPE_ARP) return this.answerArp(bytes, start, length, counters);
    if (etherType === ETHERTYPE_IPV6) return this.answerSolicitation(bytes, start, length, counters);
    return 0;
  }

  private answerArp(bytes: Uint8Array, start: number, length: number, counters: NeighbourCounters): number {
    const arp = start + ETHERNET_LEN;
    // Ethernet (1) and IPv4 (0x0800), 6- and 4-byte addresses, a request (op 1).
    if (bytes[arp] !== 0 || bytes[arp + 1] !== 1 || bytes[arp + 2] !== 0x08 || bytes[arp + 3] !== 0 ||
        bytes[arp + 4] !== 6 || bytes[arp + 5] !== 4 || bytes[arp + ARP_OP] !== 0 || bytes[arp + ARP_OP + 1] !== 1) return 0;
    const target = ipv4Key(bytes, arp + ARP_TPA);
    const mac = this.ipv4.get(target);
    // A gratuitous ARP (sender = target) announces, it does not ask.
    if (mac === undefined || target === ipv4Key(bytes, arp + ARP_SPA)) {
      counters.arpFlooded++;
      return 0;
    }
    const requesterMac = macKeyAt(bytes, arp + ARP_SHA);
    const requesterIp = ipv4Key(bytes, arp + ARP_SPA);
    writeMacKey(bytes, start, requesterMac);
    writeMacKey(bytes, start + 6, mac);
    bytes[arp + ARP_OP + 1] = 2;
    writeMacKey(bytes, arp + ARP_SHA, mac);
    new DataView(bytes.buffer, bytes.byteOffset).setUint32(arp + ARP_SPA, target);
    writeMacKey(bytes, arp + ARP_THA, requesterMac);
    new DataView(bytes.buffer, bytes.byteOffset).setUint32(arp + ARP_TPA, requesterIp);
    counters.arpAnswered++;
    // The answer keeps the request's length: its padding (if any) goes back as it came.
    return length;
  }

  private answerSolicitation(bytes: Uint8Array, start: number, length: number, counters: NeighbourCounters): number {
    const ip = start + ETHERNET_LEN;
    const icmp = ip + IPV6_LEN;
    // An NS straight after the IPv6 header (RFC 4861 §7.1.1: hop limit 255, code 0, ≥ 24 bytes).
    if (length < ETHERNET_LEN + IPV6_LEN + ND_MESSAGE_LEN || bytes[ip + IPV6_NEXT_HEADER] !== ICMPV6 ||
        bytes[icmp] !== ND_NEIGHBOR_SOLICITATION || bytes[icmp + 1] !== 0 || bytes[ip + IPV6_HOP_LIMIT] !== 255) return 0;
    let unspecifiedSource = true;
    for (let i = 0; i < 16; i++) if (bytes[ip + IPV6_SOURCE + i] !== 0) unspecifiedSource = false;
    const mac = unspecifiedSource ? undefined : this.ipv6.get(ipv6Key(bytes, icmp + 8));
    // Duplicate address detection (from ::) must reach the real owner: never answered here.
    if (mac === undefined) {
      counters.ndFlooded++;
      return 0;
    }
    const requesterMac = macKeyAt(bytes, start + 6);
    writeMacKey(bytes, start, requesterMac);
    writeMacKey(bytes, start + 6, mac);
    // From the target address to the solicitation's source.
    bytes.copyWithin(ip + IPV6_DESTINATION, ip + IPV6_SOURCE, ip + IPV6_SOURCE + 16);
    bytes.copyWithin(ip + IPV6_SOURCE, icmp + 8, icmp + 24);
    bytes[ip + IPV6_PAYLOAD_LENGTH] = 0;
    bytes[ip + IPV6_PAYLOAD_LENGTH + 1] = ND_MESSAGE_LEN + ND_OPTION_LEN;
    bytes[ip + IPV6_HOP_LIMIT] = 255;
    bytes[icmp] = ND_NEIGHBOR_ADVERTISEMENT;
    bytes[icmp + 1] = 0;
    bytes[icmp + 2] = 0;
    bytes[icmp + 3] = 0;
    bytes[icmp + 4] = ND_FLAGS_SOLICITED_OVERRIDE;
    bytes[icmp + 5] = 0;
    bytes[icmp + 6] = 0;
    bytes[icmp + 7] = 0;
    const option = icmp + ND_MESSAGE_LEN;
    bytes[option] = 2;
    bytes[option + 1] = 1;
    writeMacKey(bytes, option + 2, mac);
    // ICMPv6 checksum over the pseudo-header (RFC 8200 §8.1) and the message.
    const icmpLength = ND_MESSAGE_LEN + ND_OPTION_LEN;
    let sum = onesComplementSum(bytes, ip + IPV6_SOURCE, 32, 0);
    sum = onesComplementSum(bytes, icmp, icmpLength, sum + icmpLength + ICMPV6);
    const checksum = ~fold16(sum) & 0xffff;
    bytes[icmp + 2] = checksum >> 8;
    bytes[icmp + 3] = checksum & 0xff;
    counters.ndAnswered++;
    return ND_ADVERTISEMENT_LEN;
  }
}
