/**
 * ARP for the host's IPv4 address (RFC 826, Ethernet and IPv4 only): requests for it are
 * answered, their senders learned; ARP for other hosts only refreshes what the cache already
 * knows. `resolve` finds a MAC by broadcast requests, retried until a time limit.
 */
import { readU16, readU32 } from '../../../wire/fields';
import { EtherType } from '../../../wire/protocols';
import { ARP_LEN, ARP_REPLY, ARP_REQUEST, ARP_SHA, ARP_SPA, ARP_TPA, writeArp } from '../../neighbour-messages';
import type { UserspaceHostCounters } from './counters';
import type { NeighbourCache } from './neighbour-cache';
import { ETH_HEADER_LEN, ipv4Text, type HostAddresses } from './options';
import type { Outbox } from './outbox';
import type { Waits, Wakeable } from './waits';

export const BROADCAST_MAC = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
const ZERO_MAC = new Uint8Array(6);

export class Arp {
  constructor(
    private readonly name: string,
    private readonly self: HostAddresses,
    private readonly counters: UserspaceHostCounters,
    private readonly outbox: Outbox,
    private readonly cache: NeighbourCache,
    private readonly waits: Waits,
  ) {}

  /** An ARP body of `available` bytes at `bytes[p]`, from a frame addressed to us or broadcast. */
  handle(bytes: Uint8Array, p: number, available: number): void {
    const counters = this.counters;
    if (available < ARP_LEN) {
      counters.malformed++;
      return;
    }
    // Ethernet hardware, IPv4 protocol addresses: the only ARP this host speaks.
    if (readU16(bytes, p) !== 1 || readU16(bytes, p + 2) !== EtherType.IPv4 || bytes[p + 4] !== 6 || bytes[p + 5] !== 4) {
      counters.unsupported++;
      return;
    }
    const op = readU16(bytes, p + 6);
    if (op === ARP_REQUEST) counters.arpRequestsIn++;
    else if (op === ARP_REPLY) counters.arpRepliesIn++;
    else {
      counters.unsupported++;
      return;
    }
    const senderIp = readU32(bytes, p + ARP_SPA);
    const targetIp = readU32(bytes, p + ARP_TPA);
    const senderUsable = senderIp !== 0 && senderIp !== this.self.ip && (bytes[p + ARP_SHA] & 1) === 0;
    if (targetIp !== this.self.ip) {
      // RFC 826: refresh what we already know, learn nothing new from other hosts' ARP.
      counters.arpIgnored++;
      if (senderUsable) this.cache.refresh(senderIp, bytes, p + ARP_SHA);
      return;
    }
    if (senderUsable) this.cache.learn(senderIp, bytes, p + ARP_SHA);
    if (op === ARP_REQUEST) {
      const at = this.outbox.reserveOrDrop();
      if (at < 0) return;
      const out = this.outbox.bytes;
      this.outbox.writeEthernet(out, at, undefined, EtherType.ARP);
      for (let i = 0; i < 6; i++) out[at + i] = bytes[p + ARP_SHA + i];
      writeArp(out, at + ETH_HEADER_LEN, ARP_REPLY, this.self.mac, 0, this.self.ip, bytes, p + ARP_SHA, senderIp);
      this.outbox.commit(ETH_HEADER_LEN + ARP_LEN);
      counters.arpRepliesOut++;
    }
  }

  /** The MAC for `ip` (a copy): from the cache, else by ARP requests every timeoutMs/4 (10..250 ms) until timeoutMs. */
  async resolve(ip: number, timeoutMs: number): Promise<Uint8Array> {
    const known = this.cache.get(ip);
    if (known !== undefined) return known.slice();
    const started = performance.now();
    const retryMs = Math.max(10, Math.min(250, Math.floor(timeoutMs / 4)));
    const waiter: Wakeable = {};
    this.cache.addWaiter(ip, waiter);
    let requests = 0;
    try {
      for (;;) {
        const mac = this.cache.get(ip);
        if (mac !== undefined) return mac.slice();
        const left = timeoutMs - (performance.now() - started);
        if (left <= 0) {
          throw new Error(`${this.name}: no ARP reply from ${ipv4Text(ip)} within ${timeoutMs} ms (${requests} requests)`);
        }
        this.waits.checkOpen();
        this.request(ip);
        requests++;
        await this.waits.delay(Math.max(1, Math.min(retryMs, Math.ceil(left))), waiter);
      }
    } finally {
      this.cache.removeWaiter(ip, waiter);
    }
  }

  private request(target: number): void {
    const at = this.outbox.reserveOrDrop();
    if (at < 0) return;
    const out = this.outbox.bytes;
    this.outbox.writeEthernet(out, at, BROADCAST_MAC, EtherType.ARP);
    writeArp(out, at + ETH_HEADER_LEN, ARP_REQUEST, this.self.mac, 0, this.self.ip, ZERO_MAC, 0, target);
    this.outbox.commit(ETH_HEADER_LEN + ARP_LEN);
    this.counters.arpRequestsOut++;
  }
}
