/**
 * ARP for the host's IPv4 address (RFC 826, Ethernet and IPv4 only): requests for it are
 * answered, their senders learned; ARP for other hosts only refreshes what the cache already
 * knows. `resolve` finds a MAC by broadcast requests, retried until a time limit.
 */
import { readU16, readU32 } from '../../../wire/fields';
import { EtherType } from '../../../wire/protocols';
import { ARP_LEN, ARP_OP, ARP_REPLY, ARP_REQUEST, ARP_SHA, ARP_SPA, ARP_TPA, writeArp } from '../../neighbour-messages';
import type { HostContext } from './context';
import type { NeighbourCache } from './neighbour-cache';
import { ETH_HEADER_LEN, ipv4Text } from './options';
import type { Wakeable } from './waits';

export const BROADCAST_MAC = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
const ZERO_MAC = new Uint8Array(6);
/** The longest wait between two ARP requests for one address. */
const MAX_RETRY_MS = 1000;

export class Arp {
  constructor(private readonly host: HostContext, private readonly cache: NeighbourCache) {}

  /** An ARP body of `available` bytes at `bytes[p]`, from a frame addressed to us or broadcast. */
  handle(bytes: Uint8Array, p: number, available: number): void {
    const counters = this.host.counters;
    if (available < ARP_LEN) {
      counters.malformed++;
      return;
    }
    // Ethernet hardware, IPv4 protocol addresses: the only ARP this host speaks.
    if (readU16(bytes, p) !== 1 || readU16(bytes, p + 2) !== EtherType.IPv4 || bytes[p + 4] !== 6 || bytes[p + 5] !== 4) {
      counters.unsupported++;
      return;
    }
    const op = readU16(bytes, p + ARP_OP);
    if (op === ARP_REQUEST) counters.arpRequestsIn++;
    else if (op === ARP_REPLY) counters.arpRepliesIn++;
    else {
      counters.unsupported++;
      return;
    }
    const senderIp = readU32(bytes, p + ARP_SPA);
    const targetIp = readU32(bytes, p + ARP_TPA);
    const senderUsable = senderIp !== 0 && senderIp !== this.host.self.ip && (bytes[p + ARP_SHA] & 1) === 0;
    if (targetIp !== this.host.self.ip) {
      // RFC 826: refresh what we already know, learn nothing new from other hosts' ARP.
      counters.arpIgnored++;
      if (senderUsable) this.cache.refresh(senderIp, bytes, p + ARP_SHA);
      return;
    }
    if (senderUsable) this.cache.learn(senderIp, bytes, p + ARP_SHA);
    if (op === ARP_REQUEST) {
      const at = this.host.outbox.startFrame(bytes, p + ARP_SHA, EtherType.ARP);
      if (at < 0) return;
      writeArp(this.host.outbox.bytes, at + ETH_HEADER_LEN, ARP_REPLY, this.host.self.mac, 0, this.host.self.ip, bytes, p + ARP_SHA, senderIp);
      this.host.outbox.commit(ETH_HEADER_LEN + ARP_LEN);
      counters.arpRepliesOut++;
    }
  }

  /**
   * The MAC for `ip` (a copy): from the cache, else by ARP requests until timeoutMs. The first
   * retry comes after timeoutMs/4 (10..250 ms), each next one twice as late, up to one a second
   * (RFC 1122 2.3.2.1: at most one a second per address is recommended): a peer that answers only
   * after seconds (its reader thread still starting on a busy machine) is not sent dozens.
   */
  async resolve(ip: number, timeoutMs: number): Promise<Uint8Array> {
    const known = this.cache.get(ip);
    if (known !== undefined) return known.slice();
    const started = performance.now();
    let retryMs = Math.max(10, Math.min(250, Math.floor(timeoutMs / 4)));
    const waiter: Wakeable = {};
    this.cache.addWaiter(ip, waiter);
    let requests = 0;
    try {
      for (;;) {
        const mac = this.cache.get(ip);
        if (mac !== undefined) return mac.slice();
        const left = timeoutMs - (performance.now() - started);
        if (left <= 0) {
          throw new Error(`${this.host.name}: no ARP reply from ${ipv4Text(ip)} within ${timeoutMs} ms (${requests} requests)`);
        }
        this.host.waits.checkOpen();
        this.request(ip);
        requests++;
        await this.host.waits.delay(Math.max(1, Math.min(retryMs, Math.ceil(left))), waiter);
        retryMs = Math.min(MAX_RETRY_MS, retryMs * 2);
      }
    } finally {
      this.cache.removeWaiter(ip, waiter);
    }
  }

  private request(target: number): void {
    const at = this.host.outbox.startFrame(BROADCAST_MAC, 0, EtherType.ARP);
    if (at < 0) return;
    writeArp(this.host.outbox.bytes, at + ETH_HEADER_LEN, ARP_REQUEST, this.host.self.mac, 0, this.host.self.ip, ZERO_MAC, 0, target);
    this.host.outbox.commit(ETH_HEADER_LEN + ARP_LEN);
    this.host.counters.arpRequestsOut++;
  }
}
