/**
 * IPv6 neighbour discovery for the host's own address (RFC 4861): a solicitation for it, checked
 * as §7.1.1 asks, gets an advertisement with the host's MAC (§7.2.4), written by the same
 * writer as the forwarder's neighbour table uses.
 */
import { EtherType } from '../../../wire/protocols';
import { writeU32 } from '../../../wire/fields';
import {
  IPV6_HEADER_LEN, ND_ADVERTISEMENT_LEN, ND_FLAG_OVERRIDE, ND_FLAG_SOLICITED, ND_HOP_LIMIT, ND_MESSAGE_LEN,
  writeNeighbourAdvertisement,
} from '../../neighbour-messages';
import type { HostContext } from './context';
import { addressEquals, isUnspecified } from './ipv6-addresses';
import { ETH_HEADER_LEN } from './options';

const ALL_NODES = new Uint8Array([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
const ALL_NODES_MAC = new Uint8Array([0x33, 0x33, 0, 0, 0, 1]);
/** A source link-layer address option: type 1, length 1 unit of 8 bytes, then the MAC. */
const OPTION_SOURCE_LINK_LAYER = 1;

export class NeighbourDiscovery {
  constructor(private readonly host: HostContext, private readonly ip6: Uint8Array) {}

  /** A solicitation of `payload` bytes (checksum verified) in the IPv6 packet at `bytes[ip]`, in the frame at `bytes[frame]`. */
  handleSolicitation(bytes: Uint8Array, frame: number, ip: number, payload: number): void {
    const counters = this.host.counters;
    const l4 = ip + IPV6_HEADER_LEN;
    if (bytes[ip + 7] !== ND_HOP_LIMIT || payload < ND_MESSAGE_LEN) {
      counters.malformed++;
      return;
    }
    const self = this.ip6;
    if (!addressEquals(bytes, l4 + 8, self)) {
      counters.ndIgnored++;
      return;
    }
    // The source link-layer address option, if any, says where to answer; every option's length must be non-zero.
    let linkLayer = frame + 6;
    for (let option = l4 + ND_MESSAGE_LEN; option < l4 + payload;) {
      if (option + 2 > l4 + payload || bytes[option + 1] === 0 || option + bytes[option + 1] * 8 > l4 + payload) {
        counters.malformed++;
        return;
      }
      if (bytes[option] === OPTION_SOURCE_LINK_LAYER && bytes[option + 1] === 1) linkLayer = option + 2;
      option += bytes[option + 1] * 8;
    }
    const unspecified = isUnspecified(bytes, ip + 8);
    // From the unspecified address (duplicate address detection): answer all nodes, not solicited.
    const at = unspecified
      ? this.host.outbox.startFrame(ALL_NODES_MAC, 0, EtherType.IPv6)
      : this.host.outbox.startFrame(bytes, linkLayer, EtherType.IPv6);
    if (at < 0) return;
    const out = this.host.outbox.bytes;
    const replyIp = at + ETH_HEADER_LEN;
    writeU32(out, replyIp, 0x60000000);
    const flags = (unspecified ? 0 : ND_FLAG_SOLICITED) | ND_FLAG_OVERRIDE;
    if (unspecified) writeNeighbourAdvertisement(out, replyIp, flags, self, 0, this.host.self.mac, 0, ALL_NODES, 0);
    else writeNeighbourAdvertisement(out, replyIp, flags, self, 0, this.host.self.mac, 0, bytes, ip + 8);
    this.host.outbox.commit(ETH_HEADER_LEN + IPV6_HEADER_LEN + ND_ADVERTISEMENT_LEN);
    counters.ndAdvertisementsOut++;
  }
}
