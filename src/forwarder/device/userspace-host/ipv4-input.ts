/**
 * IPv4 to the host: packets to its address pass the header checks (version, lengths, header
 * checksum; no fragments: it does not reassemble) and go to UDP or ICMP.
 */
import type { PacketBatch } from '../../../batch/packet-batch';
import { readU16, readU32 } from '../../../wire/fields';
import { ipv4HeaderChecksum } from '../../../wire/ipv4';
import { IpProtocol } from '../../../wire/protocols';
import type { HostContext } from './context';
import type { IcmpEcho } from './icmp-echo';
import { IPV4_HEADER_LEN } from './ipv4-header';
import { ETH_HEADER_LEN } from './options';
import type { UdpReceiver } from './udp-receiver';

export class Ipv4Input {
  constructor(private readonly host: HostContext, private readonly udp: UdpReceiver, private readonly icmp: IcmpEcho) {}

  /** The IPv4 packet in the Ethernet frame of `length` bytes at `bytes[frame]` (slot `slot` of `batch`). */
  handle(batch: PacketBatch, slot: number, bytes: Uint8Array, frame: number, length: number): void {
    const counters = this.host.counters;
    const ip = frame + ETH_HEADER_LEN;
    const available = length - ETH_HEADER_LEN;
    if (available < IPV4_HEADER_LEN || bytes[ip] >>> 4 !== 4) {
      counters.malformed++;
      return;
    }
    const headerLength = (bytes[ip] & 15) * 4;
    const total = readU16(bytes, ip + 2);
    if (headerLength < IPV4_HEADER_LEN || total < headerLength || total > available) {
      counters.malformed++;
      return;
    }
    if (ipv4HeaderChecksum(bytes, ip, headerLength) !== readU16(bytes, ip + 10)) {
      counters.badChecksum++;
      return;
    }
    if (readU32(bytes, ip + 16) !== this.host.self.ip) {
      counters.notForMe++;
      return;
    }
    // More-fragments or a fragment offset: this host does not reassemble.
    if ((readU16(bytes, ip + 6) & 0x3fff) !== 0) {
      counters.unsupported++;
      return;
    }
    const protocol = bytes[ip + 9];
    if (protocol === IpProtocol.UDP) this.udp.handle(batch, slot, bytes, ip, headerLength, total);
    else if (protocol === IpProtocol.ICMP) this.icmp.handle(bytes, frame, ip, headerLength, total);
    else counters.unsupported++;
  }
}
