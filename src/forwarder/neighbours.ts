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
 * the unspecified address) are left alone: the forwarder floods them like any broadcast.
 */
import { formatIpv4, formatIpv6, parseIp } from '../wire/address';
import { readU32 } from '../wire/fields';
import { EtherType, IpProtocol } from '../wire/protocols';
import { macKey, macText, writeMacKey } from './fdb';
import {
  ARP_LEN, ARP_OP, ARP_REPLY, ARP_SHA, ARP_SPA, ARP_TPA, IPV6_HEADER_LEN, ND_ADVERTISEMENT_LEN, ND_FLAG_OVERRIDE,
  ND_FLAG_SOLICITED, ND_HOP_LIMIT, ND_MESSAGE_LEN, ND_NEIGHBOR_SOLICITATION, writeArp, writeNeighbourAdvertisement,
} from './neighbour-messages';

const ETHERNET_LEN = 14;
const IPV6_NEXT_HEADER = 6;
const IPV6_HOP_LIMIT = 7;
const IPV6_SOURCE = 8;

export interface NeighbourCounters {
  /** ARP requests answered from the table. */
  arpAnswered: number;
  /** IPv6 neighbour solicitations answered from the table. */
  ndAnswered: number;
  /** ARP requests the table could not answer (flooded, as any broadcast). */
  arpFlooded: number;
  /** Neighbour solicitations the table could not answer, DAD included (flooded, as any multicast). */
  ndFlooded: number;
}

/** The IPv4 address at `offset` as one unsigned 32-bit number (a map key, or a number to count with). */
export function ipv4Key(bytes: Uint8Array, offset: number): number {
  return readU32(bytes, offset);
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
   * room after `start` must hold an Ethernet and IPv6 header and ND_ADVERTISEMENT_LEN bytes). Otherwise return 0 and change nothing.
   */
  answer(bytes: Uint8Array, start: number, length: number, counters: NeighbourCounters): number {
    if (length < ETHERNET_LEN + ARP_LEN) return 0;
    const etherType = (bytes[start + 12] << 8) | bytes[start + 13];
    if (etherType === EtherType.ARP) return this.answerArp(bytes, start, length, counters);
    if (etherType === EtherType.IPv6) return this.answerSolicitation(bytes, start, length, counters);
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
    const requesterIp = ipv4Key(bytes, arp + ARP_SPA);
    // To the requester's MAC (its sender hardware address), from the neighbour's; the ARP body
    // then takes both MACs from this Ethernet header.
    bytes.copyWithin(start, arp + ARP_SHA, arp + ARP_SHA + 6);
    writeMacKey(bytes, start + 6, mac);
    writeArp(bytes, arp, ARP_REPLY, bytes, start + 6, target, bytes, start, requesterIp);
    counters.arpAnswered++;
    // The answer keeps the request's length: its padding (if any) goes back as it came.
    return length;
  }

  private answerSolicitation(bytes: Uint8Array, start: number, length: number, counters: NeighbourCounters): number {
    const ip = start + ETHERNET_LEN;
    const icmp = ip + IPV6_HEADER_LEN;
    // An NS straight after the IPv6 header (RFC 4861 §7.1.1: hop limit 255, code 0, ≥ 24 bytes).
    if (length < ETHERNET_LEN + IPV6_HEADER_LEN + ND_MESSAGE_LEN || bytes[ip + IPV6_NEXT_HEADER] !== IpProtocol.ICMPv6 ||
        bytes[icmp] !== ND_NEIGHBOR_SOLICITATION || bytes[icmp + 1] !== 0 || bytes[ip + IPV6_HOP_LIMIT] !== ND_HOP_LIMIT) return 0;
    let unspecifiedSource = true;
    for (let i = 0; i < 16; i++) if (bytes[ip + IPV6_SOURCE + i] !== 0) unspecifiedSource = false;
    const mac = unspecifiedSource ? undefined : this.ipv6.get(ipv6Key(bytes, icmp + 8));
    // Duplicate address detection (from ::) must reach the real owner: never answered here.
    if (mac === undefined) {
      counters.ndFlooded++;
      return 0;
    }
    // To the requester's MAC, from the neighbour's; the advertisement carries the neighbour's MAC
    // from there. From the target address (where the solicitation names it) to the solicitation's
    // source; the first word of the IPv6 header (version, traffic class, flow label) stays.
    bytes.copyWithin(start, start + 6, start + 12);
    writeMacKey(bytes, start + 6, mac);
    writeNeighbourAdvertisement(bytes, ip, ND_FLAG_SOLICITED | ND_FLAG_OVERRIDE, bytes, icmp + 8, bytes, start + 6, bytes, ip + IPV6_SOURCE);
    counters.ndAnswered++;
    return ETHERNET_LEN + IPV6_HEADER_LEN + ND_ADVERTISEMENT_LEN;
  }
}
