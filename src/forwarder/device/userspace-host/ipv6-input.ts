/**
 * IPv6 for the host, when it has an IPv6 address: packets to that address or to its
 * solicited-node group that carry ICMPv6 right after the fixed header (no extension headers) are
 * checked (lengths, the ICMPv6 checksum) and answered: neighbour solicitations (see
 * neighbour-discovery.ts) and echo requests. The host does not ping over IPv6 itself.
 */
import { readU16, writeU16, writeU32 } from '../../../wire/fields';
import { EtherType, IpProtocol } from '../../../wire/protocols';
import { icmpv6Sum, IPV6_HEADER_LEN, ND_NEIGHBOR_SOLICITATION, writeIcmpv6Checksum } from '../../neighbour-messages';
import type { HostContext } from './context';
import { ICMP_HEADER_LEN } from './icmp-echo';
import { DEFAULT_TTL } from './ipv4-header';
import { addressEquals, isSolicitedNode } from './ipv6-addresses';
import type { NeighbourDiscovery } from './neighbour-discovery';
import { ETH_HEADER_LEN } from './options';

const ICMPV6_ECHO_REQUEST = 128;
const ICMPV6_ECHO_REPLY = 129;

export class Ipv6Input {
  constructor(private readonly host: HostContext, private readonly ip6: Uint8Array, private readonly discovery: NeighbourDiscovery) {}

  /** The IPv6 packet in the Ethernet frame of `length` bytes at `bytes[frame]`. */
  handle(bytes: Uint8Array, frame: number, length: number): void {
    const counters = this.host.counters;
    const ip = frame + ETH_HEADER_LEN;
    if (length - ETH_HEADER_LEN < IPV6_HEADER_LEN || bytes[ip] >>> 4 !== 6) {
      counters.malformed++;
      return;
    }
    const payload = readU16(bytes, ip + 4);
    if (payload > length - ETH_HEADER_LEN - IPV6_HEADER_LEN) {
      counters.malformed++;
      return;
    }
    const toSelf = addressEquals(bytes, ip + 24, this.ip6);
    if (!toSelf && !isSolicitedNode(bytes, ip + 24, this.ip6)) {
      counters.notForMe++;
      return;
    }
    if (bytes[ip + 6] !== IpProtocol.ICMPv6) {
      counters.unsupported++;
      return;
    }
    const l4 = ip + IPV6_HEADER_LEN;
    if (payload < ICMP_HEADER_LEN) {
      counters.malformed++;
      return;
    }
    if (icmpv6Sum(bytes, ip, payload) !== 0xffff) {
      counters.badChecksum++;
      return;
    }
    const type = bytes[l4];
    if (bytes[l4 + 1] !== 0) {
      counters.unsupported++;
    } else if (type === ND_NEIGHBOR_SOLICITATION) {
      counters.ndSolicitationsIn++;
      this.discovery.handleSolicitation(bytes, frame, ip, payload);
    } else if (type === ICMPV6_ECHO_REQUEST && toSelf) {
      counters.echoRequestsIn++;
      this.echoReply(bytes, frame, ip, payload);
    } else if (type === ICMPV6_ECHO_REPLY) {
      // This host does not ping over IPv6: no reply is awaited.
      counters.echoRepliesIn++;
      counters.echoRepliesUnmatched++;
    } else {
      counters.unsupported++;
    }
  }

  /** Back to the sender's MAC and address, the request's message with type 129. */
  private echoReply(bytes: Uint8Array, frame: number, ip: number, payload: number): void {
    const at = this.host.outbox.startFrame(bytes, frame + 6, EtherType.IPv6);
    if (at < 0) return;
    const out = this.host.outbox.bytes;
    const replyIp = at + ETH_HEADER_LEN;
    const reply = replyIp + IPV6_HEADER_LEN;
    out.set(bytes.subarray(ip + IPV6_HEADER_LEN, ip + IPV6_HEADER_LEN + payload), reply);
    out[reply] = ICMPV6_ECHO_REPLY;
    writeU32(out, replyIp, 0x60000000);
    writeU16(out, replyIp + 4, payload);
    out[replyIp + 6] = IpProtocol.ICMPv6;
    out[replyIp + 7] = DEFAULT_TTL;
    out.set(this.ip6, replyIp + 8);
    for (let i = 0; i < 16; i++) out[replyIp + 24 + i] = bytes[ip + 8 + i];
    writeIcmpv6Checksum(out, replyIp, payload);
    this.host.outbox.commit(ETH_HEADER_LEN + IPV6_HEADER_LEN + payload);
    this.host.counters.echoRepliesOut++;
  }
}
