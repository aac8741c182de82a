/**
 * ping over IPv4: resolve the MAC by ARP, send numbered ICMP echo requests, and measure each
 * reply's round trip with performance.now(). Each ping has its own identifier; ids differ
 * between hosts of one process, so one host's replies are never taken for another's.
 */
import { internetChecksum } from '../../../reference/checksum';
import { checkInteger, readU16, writeU16 } from '../../../wire/fields';
import { EtherType, IpProtocol } from '../../../wire/protocols';
import type { Arp } from './arp';
import type { HostContext } from './context';
import { ICMP_ECHO_REQUEST, ICMP_HEADER_LEN, type EchoReplies } from './icmp-echo';
import { IPV4_HEADER_LEN, writeIpv4Header, type Ipv4Identification } from './ipv4-header';
import { ETH_HEADER_LEN, ipv4Number } from './options';
import type { Wakeable } from './waits';

export interface PingOptions {
  /** Echo requests to send; default 1. */
  count?: number;
  /** Between requests; default 100 ms. */
  intervalMs?: number;
  /** ARP resolution limit, and how long to wait for replies after the last request; default 1000 ms. */
  timeoutMs?: number;
  /** ICMP data bytes; default 56. */
  payloadLength?: number;
}

export interface PingResult {
  sent: number;
  received: number;
  /** One per reply, in arrival order, measured with performance.now(). */
  rttMs: number[];
}

/** One running ping: when each request went, which replies came. */
interface PingState {
  sent: number;
  received: number;
  sentAt: Float64Array;
  got: Uint8Array;
  rttMs: number[];
  /** Woken by the last reply, to end the final wait early. */
  waiter: Wakeable;
}

export class Pinger implements EchoReplies {
  private readonly pings = new Map<number, PingState>();
  private nextPingId: number;

  constructor(private readonly host: HostContext, private readonly ids: Ipv4Identification, private readonly arp: Arp) {
    const { ip, mac } = host.self;
    this.nextPingId = (ip ^ (ip >>> 16) ^ readU16(mac, 4)) & 0xffff;
  }

  async ping(ip: string, options: PingOptions = {}): Promise<PingResult> {
    const target = ipv4Number(ip, 'ip');
    if (options !== undefined && (typeof options !== 'object' || options === null)) throw new TypeError('options must be an object');
    const count = checkInteger(options.count ?? 1, 'count', 1, 1_000_000);
    const intervalMs = checkInteger(options.intervalMs ?? 100, 'intervalMs', 0, 3_600_000);
    const timeoutMs = checkInteger(options.timeoutMs ?? 1000, 'timeoutMs', 1, 3_600_000);
    const payloadLength = checkInteger(options.payloadLength ?? 56, 'payloadLength', 0, this.host.mtu - IPV4_HEADER_LEN - ICMP_HEADER_LEN);
    this.host.waits.checkOpen();
    const mac = await this.arp.resolve(target, timeoutMs);
    const id = this.allocatePingId();
    const state: PingState = { sent: 0, received: 0, sentAt: new Float64Array(count), got: new Uint8Array(count), rttMs: [], waiter: {} };
    this.pings.set(id, state);
    try {
      for (let seq = 0; seq < count; seq++) {
        this.host.waits.checkOpen();
        state.sentAt[seq] = performance.now();
        if (this.sendRequest(mac, target, id, seq, payloadLength)) state.sent++;
        if (seq + 1 < count && intervalMs > 0) await this.host.waits.delay(intervalMs);
      }
      if (state.received < state.sent) await this.host.waits.delay(timeoutMs, state.waiter);
      return { sent: state.sent, received: state.received, rttMs: state.rttMs };
    } finally {
      this.pings.delete(id);
    }
  }

  takeReply(id: number, seq: number): boolean {
    const ping = this.pings.get(id);
    if (ping === undefined || seq >= ping.sent || ping.got[seq] !== 0) return false;
    ping.got[seq] = 1;
    ping.received++;
    ping.rttMs.push(performance.now() - ping.sentAt[seq]);
    // Every reply in: end the final wait early (wake is set only during that wait).
    if (ping.received === ping.sent) ping.waiter.wake?.();
    return true;
  }

  private allocatePingId(): number {
    for (let tries = 0; tries < 0x10000; tries++) {
      const id = this.nextPingId;
      this.nextPingId = (this.nextPingId + 1) & 0xffff;
      if (!this.pings.has(id)) return id;
    }
    throw new Error(`${this.host.name}: every ICMP echo id is in use`);
  }

  /** Queue one echo request; false (a counted drop) when the queue is full. */
  private sendRequest(mac: Uint8Array, target: number, id: number, seq: number, payloadLength: number): boolean {
    const at = this.host.outbox.startFrame(mac, 0, EtherType.IPv4);
    if (at < 0) return false;
    const out = this.host.outbox.bytes;
    const messageLength = ICMP_HEADER_LEN + payloadLength;
    writeIpv4Header(out, at + ETH_HEADER_LEN, this.host.self.ip, target, IpProtocol.ICMP, IPV4_HEADER_LEN + messageLength, this.ids.next());
    const icmp = at + ETH_HEADER_LEN + IPV4_HEADER_LEN;
    out[icmp] = ICMP_ECHO_REQUEST;
    out[icmp + 1] = 0;
    writeU16(out, icmp + 2, 0);
    writeU16(out, icmp + 4, id);
    writeU16(out, icmp + 6, seq);
    for (let i = 0; i < payloadLength; i++) out[icmp + ICMP_HEADER_LEN + i] = (0x10 + i) & 0xff;
    writeU16(out, icmp + 2, internetChecksum(out, icmp, messageLength));
    this.host.outbox.commit(ETH_HEADER_LEN + IPV4_HEADER_LEN + messageLength);
    this.host.counters.echoRequestsOut++;
    return true;
  }
}
