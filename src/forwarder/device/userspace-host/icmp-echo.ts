/**
 * ICMP echo over IPv4 (RFC 792): requests to the host are answered with the same identifier,
 * sequence number and data; replies go to the ping that waits for them.
 */
import { internetChecksum, updateChecksum } from '../../../reference/checksum';
import { readU16, readU32, writeU16 } from '../../../wire/fields';
import { EtherType, IpProtocol } from '../../../wire/protocols';
import type { HostContext } from './context';
import { IPV4_HEADER_LEN, writeIpv4Header, type Ipv4Identification } from './ipv4-header';
import { ETH_HEADER_LEN } from './options';

export const ICMP_HEADER_LEN = 8;
export const ICMP_ECHO_REPLY = 0;
export const ICMP_ECHO_REQUEST = 8;

/** Who takes echo replies: true when one was awaited (and is now counted), false when nobody waits for it. */
export interface EchoReplies {
  takeReply(id: number, seq: number): boolean;
}

export class IcmpEcho {
  constructor(private readonly host: HostContext, private readonly ids: Ipv4Identification, private readonly replies: EchoReplies) {}

  /** The ICMP message of the IPv4 packet at `bytes[ip]` (header verified, `total` bytes in all) in the frame at `bytes[frame]`. */
  handle(bytes: Uint8Array, frame: number, ip: number, headerLength: number, total: number): void {
    const counters = this.host.counters;
    const l4 = ip + headerLength;
    const messageLength = total - headerLength;
    if (messageLength < ICMP_HEADER_LEN) {
      counters.malformed++;
      return;
    }
    // A message with a correct checksum sums (with its checksum) to 0xffff: its checksum comes out 0.
    if (internetChecksum(bytes, l4, messageLength) !== 0) {
      counters.badChecksum++;
      return;
    }
    const type = bytes[l4];
    if (bytes[l4 + 1] !== 0) {
      counters.unsupported++;
      return;
    }
    if (type === ICMP_ECHO_REQUEST) {
      counters.echoRequestsIn++;
      this.reply(bytes, frame, ip, l4, messageLength);
    } else if (type === ICMP_ECHO_REPLY) {
      counters.echoRepliesIn++;
      if (!this.replies.takeReply(readU16(bytes, l4 + 4), readU16(bytes, l4 + 6))) counters.echoRepliesUnmatched++;
    } else {
      counters.unsupported++;
    }
  }

  /** Back to the sender's MAC and address, the request's message with type 0; IP options are not echoed. */
  private reply(bytes: Uint8Array, frame: number, ip: number, l4: number, messageLength: number): void {
    const at = this.host.outbox.startFrame(bytes, frame + 6, EtherType.IPv4);
    if (at < 0) return;
    const out = this.host.outbox.bytes;
    writeIpv4Header(out, at + ETH_HEADER_LEN, this.host.self.ip, readU32(bytes, ip + 12), IpProtocol.ICMP, IPV4_HEADER_LEN + messageLength, this.ids.next());
    const reply = at + ETH_HEADER_LEN + IPV4_HEADER_LEN;
    out.set(bytes.subarray(l4, l4 + messageLength), reply);
    out[reply] = ICMP_ECHO_REPLY;
    // Only the type changed (8 → 0): RFC 1624 update of the request's (verified) checksum.
    writeU16(out, reply + 2, updateChecksum(readU16(bytes, l4 + 2), ICMP_ECHO_REQUEST << 8, ICMP_ECHO_REPLY << 8));
    this.host.outbox.commit(ETH_HEADER_LEN + IPV4_HEADER_LEN + messageLength);
    this.host.counters.echoRepliesOut++;
  }
}
