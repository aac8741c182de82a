/**
 * UserspaceHost, the Device: a tiny host plugged into the forwarder's Ethernet port. Frames the
 * forwarder transmits to it are handled synchronously, each by the component for its protocol;
 * whatever the host sends waits in its outbox until the forwarder receives it. This file wires the
 * components together and holds the Device contract (src/forwarder/contracts.ts): start,
 * receive, transmit, close.
 */
import type { PacketBatch } from '../../../batch/packet-batch';
import { formatMac } from '../../../wire/address';
import { checkInteger, readU16 } from '../../../wire/fields';
import { EtherType } from '../../../wire/protocols';
import type { Device, DeviceEvents } from '../../contracts';
import { Arp, BROADCAST_MAC } from './arp';
import type { HostContext } from './context';
import { zeroCounters, type UserspaceHostCounters } from './counters';
import { IcmpEcho } from './icmp-echo';
import { Ipv4Identification } from './ipv4-header';
import { Ipv4Input } from './ipv4-input';
import { Ipv6Input } from './ipv6-input';
import { NeighbourCache } from './neighbour-cache';
import { NeighbourDiscovery } from './neighbour-discovery';
import { ETH_HEADER_LEN, hostSettings, ipv4Number, type HostAddresses, type UserspaceHostOptions } from './options';
import { Outbox } from './outbox';
import { Pinger, type PingOptions, type PingResult } from './ping';
import { UdpReceiver, type ArrivalWaiter } from './udp-receiver';
import { UdpStreamSender, type UdpStreamOptions, type UdpStreamResult } from './udp-stream';
import type { UdpPortStats } from './udp-stream-tally';
import { Waits } from './waits';

export class UserspaceHost implements Device {
  readonly name: string;
  readonly maxFrameLength: number;
  readonly mtu: number;
  /** The host's addresses as text (for logs; the handlers use the bytes). */
  readonly macText: string;
  readonly ipText: string;
  readonly counters: UserspaceHostCounters = zeroCounters();

  private readonly self: HostAddresses;
  private readonly outbox: Outbox;
  private readonly waits = new Waits(() => new Error(`UserspaceHost ${this.name} closed`));
  private readonly neighbours: NeighbourCache;
  private readonly arp: Arp;
  private readonly ipv4: Ipv4Input;
  /** Undefined without an IPv6 address: IPv6 frames are then unsupported. */
  private readonly ipv6: Ipv6Input | undefined;
  private readonly udp: UdpReceiver;
  private readonly pinger: Pinger;
  private readonly streams: UdpStreamSender;
  private started = false;

  constructor(options: UserspaceHostOptions) {
    const settings = hostSettings(options);
    this.name = settings.name;
    this.mtu = settings.mtu;
    this.maxFrameLength = settings.maxFrameLength;
    this.macText = settings.macText;
    this.ipText = settings.ipText;
    const self = (this.self = settings.addresses);
    this.outbox = new Outbox(settings.queueCapacity, this.maxFrameLength, self.mac, this.counters);
    const host: HostContext = { name: this.name, self, mtu: this.mtu, counters: this.counters, outbox: this.outbox, waits: this.waits };
    this.neighbours = new NeighbourCache(settings.neighbourLimit);
    this.arp = new Arp(host, this.neighbours);
    const ids = new Ipv4Identification();
    this.pinger = new Pinger(host, ids, this.arp);
    this.udp = new UdpReceiver(this.counters);
    this.ipv4 = new Ipv4Input(host, this.udp, new IcmpEcho(host, ids, this.pinger));
    const ip6 = self.ip6;
    this.ipv6 = ip6 === undefined ? undefined : new Ipv6Input(host, ip6, new NeighbourDiscovery(host, ip6));
    this.streams = new UdpStreamSender(host, this.arp);
  }

  // ------------------------------------------------------------------------------ Device

  start(events: DeviceEvents): void {
    if (typeof events !== 'object' || events === null || typeof events.wake !== 'function' || typeof events.fail !== 'function') {
      throw new TypeError('events must be an object with wake() and fail() functions');
    }
    if (this.started) throw new Error(`device ${this.name} was already started`);
    if (this.waits.closed) throw new Error(`device ${this.name} is closed`);
    this.started = true;
    this.outbox.attach(events);
  }

  receive(batch: PacketBatch, first: number, max: number): number {
    if (!this.started || this.waits.closed || this.outbox.count === 0) return 0;
    return this.outbox.drainInto(batch, first, max);
  }

  transmit(batch: PacketBatch, slots: Int32Array, count: number): number {
    if (this.waits.closed) return 0;
    for (let k = 0; k < count; k++) {
      const slot = slots[k];
      this.handleFrame(batch, slot, batch.innerStart(slot), batch.innerLength(slot));
    }
    return count;
  }

  /** Stops timers, rejects pending pings and streams, forgets queued frames. Idempotent. */
  async close(): Promise<void> {
    if (this.waits.closed) return;
    this.outbox.close();
    this.waits.close();
  }

  // ------------------------------------------------------------------------------ inspection

  /** Frames waiting for the forwarder. */
  get waiting(): number {
    return this.outbox.count;
  }

  /** The MAC learned for `ip`, as text, or undefined. */
  neighbour(ip: string): string | undefined {
    const mac = this.neighbours.get(ipv4Number(ip, 'ip'));
    return mac === undefined ? undefined : formatMac(mac);
  }

  get neighbourCount(): number {
    return this.neighbours.size;
  }

  /** What arrived on UDP port `port` (a copy; zeros before the first datagram). */
  udpReceived(port: number): UdpPortStats {
    checkInteger(port, 'port', 0, 65535);
    return this.udp.stats(port);
  }

  /**
   * Wait until `count` datagrams in all have arrived on UDP port `port` (at once when they have):
   * true then, false when `timeoutMs` passed first. A sender in the same process keeps a window
   * with it, woken by the arrival itself rather than polling.
   */
  async udpArrival(port: number, count: number, timeoutMs: number): Promise<boolean> {
    checkInteger(port, 'port', 0, 65535);
    checkInteger(count, 'count', 0, 2 ** 53);
    checkInteger(timeoutMs, 'timeoutMs', 1, 3_600_000);
    if (this.udp.stats(port).count >= count) return true;
    const waiter: ArrivalWaiter = { port, count };
    this.udp.arrivalWaiters.add(waiter);
    try {
      return await this.waits.delay(timeoutMs, waiter);
    } finally {
      this.udp.arrivalWaiters.delete(waiter);
    }
  }

  // ------------------------------------------------------------------------------ sending

  /** Resolve `ip` by ARP, send `count` echo requests, and measure each reply's round trip. */
  ping(ip: string, options: PingOptions = {}): Promise<PingResult> {
    return this.pinger.ping(ip, options);
  }

  /** Send `options.count` numbered UDP datagrams to `ip`:`port` (see udp-stream.ts). */
  sendUdpStream(ip: string, port: number, options: UdpStreamOptions): Promise<UdpStreamResult> {
    return this.streams.send(ip, port, options);
  }

  // ------------------------------------------------------------------------------ receive path

  private handleFrame(batch: PacketBatch, slot: number, at: number, length: number): void {
    const counters = this.counters;
    counters.framesIn++;
    counters.bytesIn += length;
    if (length > this.maxFrameLength) {
      counters.oversize++;
      return;
    }
    if (length < ETH_HEADER_LEN) {
      counters.malformed++;
      return;
    }
    const bytes = batch.bytes;
    const self = this.self;
    if (!macEquals(bytes, at, self.mac) && !macEquals(bytes, at, BROADCAST_MAC)
      && (self.solicitedMac === undefined || !macEquals(bytes, at, self.solicitedMac))) {
      counters.notForMe++;
      return;
    }
    const type = readU16(bytes, at + 12);
    if (type === EtherType.ARP) this.arp.handle(bytes, at + ETH_HEADER_LEN, length - ETH_HEADER_LEN);
    else if (type === EtherType.IPv4) this.ipv4.handle(batch, slot, bytes, at, length);
    else if (type === EtherType.IPv6 && this.ipv6 !== undefined) this.ipv6.handle(bytes, at, length);
    else counters.unsupported++;
  }
}

function macEquals(buf: Uint8Array, at: number, mac: Uint8Array): boolean {
  return buf[at] === mac[0] && buf[at + 1] === mac[1] && buf[at + 2] === mac[2]
    && buf[at + 3] === mac[3] && buf[at + 4] === mac[4] && buf[at + 5] === mac[5];
}
