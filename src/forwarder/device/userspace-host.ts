/**
 * UserspaceHost: a Device that is a tiny IPv4 host plugged into the forwarder's Ethernet port,
 * for the rootless demo and the tests (no TAP, no root). It has a MAC and an IPv4 address, and:
 *
 * - answers ARP requests for its address, and keeps a small bounded neighbour cache learned from
 *   ARP addressed to it (RFC 826: entries it already has are refreshed by any ARP);
 * - answers ICMP echo requests, and pings: `ping(ip, …)` resolves the MAC by ARP (broadcast
 *   requests, retried, time-limited), sends echo requests and measures RTTs with performance.now();
 * - sends numbered UDP streams (`sendUdpStream`) and counts what arrives per destination port
 *   (`udpReceived`), after verifying the IPv4 header checksum, the UDP length and checksum;
 * - with an IPv6 address (optional), answers neighbour solicitations for it (RFC 4861) and
 *   ICMPv6 echo requests (it does not ping over IPv6 itself);
 * - counts everything, including frames it does not understand; bad input never throws.
 *
 * Device contract (src/forwarder/contracts.ts): frames the host emits wait in a bounded
 * FrameQueue (full → counted drop, or backpressure for a UDP stream) and are built in place in
 * it; `receive` copies them into batch slots. `transmit` handles each frame synchronously; replies
 * are queued and the forwarder is woken afterwards (a deferred wake), never from inside transmit.
 *
 * Frames are handled as offsets into the batch's memory: no per-frame objects, no address text.
 */
import { checksum, onesComplementSum, updateChecksum } from '../../api';
import type { PacketBatch } from '../../batch/packet-batch';
import { formatIpv4, formatMac, parseIpv4, parseIpv6, parseMac } from '../../wire/address';
import { ipv4HeaderChecksum } from '../../wire/ipv4';
import { EtherType, IpProtocol } from '../../wire/protocols';
import { checkInteger, readU16, writeU16 } from '../../wire/fields';
import type { Device, PortEvents } from '../contracts';
import { DEFAULT_QUEUE_CAPACITY, DeferredWake, FrameQueue } from './memory-port';

const ETH_HEADER = 14;
const ARP_LEN = 28;
const IPV4_HEADER = 20;
const UDP_HEADER = 8;
const ICMP_HEADER = 8;
const ARP_REQUEST = 1;
const ARP_REPLY = 2;
const ICMP_ECHO_REPLY = 0;
const ICMP_ECHO_REQUEST = 8;
const IPV6_HEADER = 40;
const ICMPV6_ECHO_REQUEST = 128;
const ICMPV6_ECHO_REPLY = 129;
const ND_SOLICITATION = 135;
const ND_ADVERTISEMENT = 136;
/** Neighbour discovery messages travel with hop limit 255, so that one from off-link is recognisable (RFC 4861 §7.1). */
const ND_HOP_LIMIT = 255;
/** Advertisement: type, code, checksum, flags (4), target (16), target link-layer address option (8). */
const ND_ADVERTISEMENT_LEN = 32;
const ND_FLAG_SOLICITED = 0x40;
const ND_FLAG_OVERRIDE = 0x20;
const ALL_NODES = new Uint8Array([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
const ALL_NODES_MAC = new Uint8Array([0x33, 0x33, 0, 0, 0, 1]);
const TTL = 64;
/** Bytes of sequence number at the start of a stream datagram's payload (big-endian u32). */
export const UDP_SEQUENCE_LEN = 4;
/** Late datagrams within this many sequence numbers of the highest seen are told apart from duplicates. */
const SEQUENCE_WINDOW = 1024;

const BROADCAST_MAC = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
const ZERO_MAC = new Uint8Array(6);

export interface UserspaceHostOptions {
  /** For logs and metrics. */
  name: string;
  /** Unicast MAC text, e.g. `02:00:00:00:00:01`. */
  mac: string;
  /** IPv4 address text, e.g. `10.0.0.1`. */
  ip: string;
  /** An IPv6 address (text) the host answers neighbour solicitations and echo requests for; default none. */
  ipv6?: string;
  /** IP MTU; frames are at most mtu + 14 bytes. Default 1500. */
  mtu?: number;
  /** Frames waiting for the forwarder, at most; default 1024. */
  queueCapacity?: number;
  /** Neighbour cache entries, at most (oldest evicted); default 256. */
  neighbourLimit?: number;
}

export interface UserspaceHostCounters {
  /** Frames the forwarder transmitted to the host, and their bytes. */
  framesIn: number;
  bytesIn: number;
  /** Frames the forwarder received from the host, and their bytes. */
  framesOut: number;
  bytesOut: number;
  arpRequestsIn: number;
  arpRepliesIn: number;
  arpRequestsOut: number;
  arpRepliesOut: number;
  /** ARP for another host's address (seen on broadcast, not answered). */
  arpIgnored: number;
  ndSolicitationsIn: number;
  ndAdvertisementsOut: number;
  /** Neighbour solicitations for another address (on our solicited-node group, not answered). */
  ndIgnored: number;
  echoRequestsIn: number;
  echoRepliesOut: number;
  echoRequestsOut: number;
  echoRepliesIn: number;
  /** Echo replies no running ping waits for (late, duplicate, unknown id). */
  echoRepliesUnmatched: number;
  udpIn: number;
  udpOut: number;
  /** UDP datagrams dropped: length field wrong or checksum wrong. */
  udpBad: number;
  /** UDP datagrams accepted without a checksum (0 in the field, allowed over IPv4). */
  udpNoChecksum: number;
  /** Frames to another MAC, or IPv4 packets to another address. */
  notForMe: number;
  /** Truncated or inconsistent headers (short frame, IPv4 length or header length wrong, short ARP/ICMP). */
  malformed: number;
  /** IPv4 header or ICMP checksums that do not verify. */
  badChecksum: number;
  /** Well-formed frames the host does not speak (other EtherTypes, IP protocols, ICMP types, fragments, non-Ethernet ARP). */
  unsupported: number;
  /** Frames over maxFrameLength given to transmit, or queued frames longer than the receiving batch's slots. */
  oversize: number;
  /** Frames the host wanted to send while its queue was full (replies, requests). */
  queueDrops: number;
}

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

export interface UdpStreamOptions {
  count: number;
  /** UDP payload bytes (at least the 4-byte sequence number); default 64. */
  payloadLength?: number;
  /** Datagrams per second; default as fast as the forwarder takes them (backpressure from the queue). */
  ratePerSecond?: number;
  /** Default 40000. */
  sourcePort?: number;
  /** ARP resolution limit; default 1000 ms. */
  timeoutMs?: number;
  /** Give up when the queue stays full this long (nobody receives from the device); default 5000 ms. */
  stallTimeoutMs?: number;
}

export interface UdpStreamResult {
  sent: number;
  /** From the first datagram queued to the last. */
  elapsedMs: number;
  /** The sequence number of the first datagram (streams to the same address and port continue the numbering). */
  firstSequence: number;
}

export interface UdpPortStats {
  /** Datagrams (verified) to this port, and their payload bytes. */
  count: number;
  bytes: number;
  /** Sequence number of the last datagram that arrived, -1 before any. */
  lastSequence: number;
  /** The highest sequence number seen, -1 before any. */
  highestSequence: number;
  /** Datagrams that arrived after a higher sequence number (late, not repeated). */
  outOfOrder: number;
  duplicates: number;
}

/** Per-port receive state; one object per port, made at its first datagram. */
class PortState {
  count = 0;
  bytes = 0;
  lastSequence = -1;
  highest = -1;
  outOfOrder = 0;
  duplicates = 0;
  /** Bit s % SEQUENCE_WINDOW: sequence s (within the window below `highest`) has arrived. */
  private readonly seen = new Uint32Array(SEQUENCE_WINDOW / 32);

  private bit(seq: number): boolean {
    const k = seq % SEQUENCE_WINDOW;
    return (this.seen[k >>> 5] & (1 << (k & 31))) !== 0;
  }

  private mark(seq: number, on: boolean): void {
    const k = seq % SEQUENCE_WINDOW;
    if (on) this.seen[k >>> 5] |= 1 << (k & 31);
    else this.seen[k >>> 5] &= ~(1 << (k & 31));
  }

  record(seq: number): void {
    this.lastSequence = seq;
    if (this.highest < 0 || seq > this.highest) {
      if (this.highest < 0 || seq - this.highest >= SEQUENCE_WINDOW) this.seen.fill(0);
      else for (let s = this.highest + 1; s < seq; s++) this.mark(s, false);
      this.highest = seq;
      this.mark(seq, true);
    } else if (this.highest - seq >= SEQUENCE_WINDOW) {
      // Too old to tell a late datagram from a repeated one: counted as late.
      this.outOfOrder++;
    } else if (this.bit(seq)) {
      this.duplicates++;
    } else {
      this.mark(seq, true);
      this.outOfOrder++;
    }
  }
}

/** A timer that close() can cancel: the promise waiting on it is rejected. */
interface Pending {
  timer: ReturnType<typeof setTimeout>;
  reject(error: Error): void;
}

/** Set by delay() when the caller wants to end the wait early (a reply arrived, the queue drained). */
interface Wakeable {
  wake?: () => void;
}

interface PingState {
  count: number;
  sent: number;
  received: number;
  sentAt: Float64Array;
  got: Uint8Array;
  rttMs: number[];
  waiter: Wakeable;
}

function readU32(buf: Uint8Array, at: number): number {
  return ((buf[at] << 24) | (buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3]) >>> 0;
}

function writeU32(buf: Uint8Array, at: number, value: number): void {
  buf[at] = value >>> 24;
  buf[at + 1] = (value >>> 16) & 0xff;
  buf[at + 2] = (value >>> 8) & 0xff;
  buf[at + 3] = value & 0xff;
}

function macEquals(buf: Uint8Array, at: number, mac: Uint8Array): boolean {
  return buf[at] === mac[0] && buf[at + 1] === mac[1] && buf[at + 2] === mac[2]
    && buf[at + 3] === mac[3] && buf[at + 4] === mac[4] && buf[at + 5] === mac[5];
}

function addressEquals(buf: Uint8Array, at: number, address: Uint8Array, from: number): boolean {
  for (let i = 0; i < 16; i++) if (buf[at + i] !== address[from + i]) return false;
  return true;
}

function isZero(buf: Uint8Array, at: number, length: number): boolean {
  for (let i = 0; i < length; i++) if (buf[at + i] !== 0) return false;
  return true;
}

/** ff02::1:ffXX:XXXX, the solicited-node group of `self` (RFC 4291 §2.7.1). */
function isSolicitedNode(buf: Uint8Array, at: number, self: Uint8Array): boolean {
  if (buf[at] !== 0xff || buf[at + 1] !== 0x02 || buf[at + 11] !== 1 || buf[at + 12] !== 0xff) return false;
  for (let i = 2; i < 11; i++) if (buf[at + i] !== 0) return false;
  return buf[at + 13] === self[13] && buf[at + 14] === self[14] && buf[at + 15] === self[15];
}

/** The folded ICMPv6 pseudo-header sum (RFC 8200 §8.1): both addresses, the upper-layer length and next header 58. */
function pseudoSum6(source: Uint8Array, sourceAt: number, destination: Uint8Array, destinationAt: number, length: number): number {
  let sum = length + IpProtocol.ICMPv6;
  for (let i = 0; i < 16; i += 2) sum += readU16(source, sourceAt + i) + readU16(destination, destinationAt + i);
  return fold(sum);
}

function fold(sum: number): number {
  sum = (sum & 0xffff) + (sum >>> 16);
  return (sum & 0xffff) + (sum >>> 16);
}

function checkIp(text: unknown, field: string): number {
  if (typeof text !== 'string') throw new TypeError(`${field} must be IPv4 address text, got ${typeof text}`);
  let bytes: Uint8Array;
  try {
    bytes = parseIpv4(text);
  } catch {
    throw new TypeError(`${field} must be IPv4 address text, got ${JSON.stringify(text)}`);
  }
  return readU32(bytes, 0);
}

function checkOptions(options: unknown, field: string): void {
  if (options !== undefined && (typeof options !== 'object' || options === null)) throw new TypeError(`${field} must be an object`);
}

export class UserspaceHost implements Device {
  readonly name: string;
  readonly maxFrameLength: number;
  readonly mtu: number;
  /** The host's addresses as text (for logs; the hot path uses the bytes). */
  readonly macText: string;
  readonly ipText: string;
  readonly counters: UserspaceHostCounters = {
    framesIn: 0, bytesIn: 0, framesOut: 0, bytesOut: 0,
    arpRequestsIn: 0, arpRepliesIn: 0, arpRequestsOut: 0, arpRepliesOut: 0, arpIgnored: 0,
    ndSolicitationsIn: 0, ndAdvertisementsOut: 0, ndIgnored: 0,
    echoRequestsIn: 0, echoRepliesOut: 0, echoRequestsOut: 0, echoRepliesIn: 0, echoRepliesUnmatched: 0,
    udpIn: 0, udpOut: 0, udpBad: 0, udpNoChecksum: 0,
    notForMe: 0, malformed: 0, badChecksum: 0, unsupported: 0, oversize: 0, queueDrops: 0,
  };

  private readonly mac: Uint8Array;
  private readonly ip: number;
  /** The IPv6 address, or undefined; its solicited-node group's MAC (33:33:ff + its last 24 bits). */
  private readonly ip6: Uint8Array | undefined;
  private readonly solicitedMac: Uint8Array | undefined;
  private readonly queue: FrameQueue;
  private readonly neighbourLimit: number;
  /** IPv4 (u32) → MAC. Map order is insertion order: the first key is the oldest, evicted when full. */
  private readonly neighbours = new Map<number, Uint8Array>();
  /** ARP resolutions in progress: woken when the address is learned. */
  private readonly arpWaiters = new Map<number, Set<Wakeable>>();
  private readonly pings = new Map<number, PingState>();
  private readonly ports = new Map<number, PortState>();
  /** Next sequence number per destination (ip * 65536 + port), so successive streams continue the numbering. */
  private readonly streamSequences = new Map<number, number>();
  /** UDP streams waiting for the queue to drain. */
  private readonly spaceWaiters = new Set<Wakeable>();
  private readonly pending = new Set<Pending>();
  private readonly wake = new DeferredWake(() => this.queue.count > 0);
  /** drainInto's running totals, one object for every receive. */
  private readonly drained = { oversize: 0, bytes: 0 };
  private nextPingId: number;
  private nextIpId = 1;
  private started = false;
  private closed = false;

  constructor(options: UserspaceHostOptions) {
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    const { name, mac, ip } = options;
    if (typeof name !== 'string' || name.length === 0) throw new TypeError('name must be a non-empty string');
    this.name = name;
    if (typeof mac !== 'string') throw new TypeError(`mac must be MAC address text, got ${typeof mac}`);
    try {
      this.mac = parseMac(mac);
    } catch {
      throw new TypeError(`mac must be MAC address text like 02:00:00:00:00:01, got ${JSON.stringify(mac)}`);
    }
    if ((this.mac[0] & 1) !== 0) throw new RangeError(`mac must be a unicast address (the group bit is set in ${mac})`);
    if (this.mac.every((b) => b === 0)) throw new RangeError('mac must not be 00:00:00:00:00:00');
    this.ip = checkIp(ip, 'ip');
    const first = this.ip >>> 24;
    if (this.ip === 0 || this.ip === 0xffffffff || (first >= 224 && first <= 239) || first === 127) {
      throw new RangeError(`ip must be a unicast host address, got ${ip}`);
    }
    if (options.ipv6 === undefined) {
      this.ip6 = undefined;
      this.solicitedMac = undefined;
    } else {
      if (typeof options.ipv6 !== 'string') throw new TypeError(`ipv6 must be IPv6 address text, got ${typeof options.ipv6}`);
      try {
        this.ip6 = parseIpv6(options.ipv6);
      } catch {
        throw new TypeError(`ipv6 must be IPv6 address text, got ${JSON.stringify(options.ipv6)}`);
      }
      if (this.ip6[0] === 0xff || this.ip6.every((b) => b === 0)) throw new RangeError(`ipv6 must be a unicast address, got ${options.ipv6}`);
      this.solicitedMac = new Uint8Array([0x33, 0x33, 0xff, this.ip6[13], this.ip6[14], this.ip6[15]]);
    }
    this.macText = mac.toLowerCase().replace(/-/g, ':');
    this.ipText = ip;
    this.mtu = checkInteger(options.mtu ?? 1500, 'mtu', 68, 9000);
    this.maxFrameLength = this.mtu + ETH_HEADER;
    this.queue = new FrameQueue(checkInteger(options.queueCapacity ?? DEFAULT_QUEUE_CAPACITY, 'queueCapacity', 1, 65536), this.maxFrameLength);
    this.neighbourLimit = checkInteger(options.neighbourLimit ?? 256, 'neighbourLimit', 1, 65536);
    // Ping ids differ between hosts of one process (one host's replies are never taken for another's).
    this.nextPingId = (this.ip ^ (this.ip >>> 16) ^ readU16(this.mac, 4)) & 0xffff;
    // The checksum helpers reserve their workspace at first use, which may grow the kernels'
    // memory and detach a batch's views; reserve it now, not in the middle of a transmit.
    checksum(new Uint8Array(2));
  }

  // ------------------------------------------------------------------------------ Device

  start(events: PortEvents): void {
    if (typeof events !== 'object' || events === null || typeof events.wake !== 'function' || typeof events.fail !== 'function') {
      throw new TypeError('events must be an object with wake() and fail() functions');
    }
    if (this.started) throw new Error(`device ${this.name} was already started`);
    if (this.closed) throw new Error(`device ${this.name} is closed`);
    this.started = true;
    this.wake.attach(events);
    if (this.queue.count > 0) this.wake.schedule();
  }

  receive(batch: PacketBatch, first: number, max: number): number {
    if (!this.started || this.closed || this.queue.count === 0) return 0;
    const queue = this.queue;
    const drained = this.drained;
    drained.oversize = this.counters.oversize;
    drained.bytes = this.counters.bytesOut;
    const filled = queue.drainInto(batch, first, max, drained);
    this.counters.oversize = drained.oversize;
    this.counters.bytesOut = drained.bytes;
    this.counters.framesOut += filled;
    if (queue.count > 0) this.wake.schedule();
    if (this.spaceWaiters.size > 0 && queue.count <= queue.capacity >>> 1) {
      for (const waiter of this.spaceWaiters) waiter.wake?.();
    }
    return filled;
  }

  transmit(batch: PacketBatch, slots: Int32Array, count: number): number {
    if (this.closed) return 0;
    for (let k = 0; k < count; k++) {
      const slot = slots[k];
      this.handleFrame(batch, slot, batch.innerStart(slot), batch.innerLength(slot));
    }
    return count;
  }

  /** Stops timers, rejects pending pings and streams, forgets queued frames. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wake.attach(undefined);
    this.queue.clear();
    const error = this.closedError();
    for (const entry of [...this.pending]) entry.reject(error);
    this.pending.clear();
  }

  // ------------------------------------------------------------------------------ inspection

  /** Frames waiting for the forwarder. */
  get waiting(): number {
    return this.queue.count;
  }

  /** The MAC learned for `ip`, as text, or undefined. */
  neighbour(ip: string): string | undefined {
    const mac = this.neighbours.get(checkIp(ip, 'ip'));
    if (mac === undefined) return undefined;
    return formatMac(mac);
  }

  get neighbourCount(): number {
    return this.neighbours.size;
  }

  /** What arrived on UDP port `port` (a copy; zeros before the first datagram). */
  udpReceived(port: number): UdpPortStats {
    checkInteger(port, 'port', 0, 65535);
    const state = this.ports.get(port);
    if (state === undefined) return { count: 0, bytes: 0, lastSequence: -1, highestSequence: -1, outOfOrder: 0, duplicates: 0 };
    return {
      count: state.count, bytes: state.bytes, lastSequence: state.lastSequence, highestSequence: state.highest,
      outOfOrder: state.outOfOrder, duplicates: state.duplicates,
    };
  }

  // ------------------------------------------------------------------------------ ping

  async ping(ip: string, options: PingOptions = {}): Promise<PingResult> {
    const target = checkIp(ip, 'ip');
    checkOptions(options, 'options');
    const count = checkInteger(options.count ?? 1, 'count', 1, 1_000_000);
    const intervalMs = checkInteger(options.intervalMs ?? 100, 'intervalMs', 0, 3_600_000);
    const timeoutMs = checkInteger(options.timeoutMs ?? 1000, 'timeoutMs', 1, 3_600_000);
    const payloadLength = checkInteger(options.payloadLength ?? 56, 'payloadLength', 0, this.mtu - IPV4_HEADER - ICMP_HEADER);
    this.checkOpen();
    const mac = await this.resolve(target, timeoutMs);
    const id = this.allocatePingId();
    const state: PingState = {
      count, sent: 0, received: 0, sentAt: new Float64Array(count), got: new Uint8Array(count), rttMs: [], waiter: {},
    };
    this.pings.set(id, state);
    try {
      for (let seq = 0; seq < count; seq++) {
        this.checkOpen();
        state.sentAt[seq] = performance.now();
        if (this.emitEchoRequest(mac, target, id, seq, payloadLength)) state.sent++;
        if (seq + 1 < count && intervalMs > 0) await this.delay(intervalMs);
      }
      if (state.received < state.sent) await this.delay(timeoutMs, state.waiter);
      return { sent: state.sent, received: state.received, rttMs: state.rttMs };
    } finally {
      this.pings.delete(id);
    }
  }

  private allocatePingId(): number {
    for (let tries = 0; tries < 0x10000; tries++) {
      const id = this.nextPingId;
      this.nextPingId = (this.nextPingId + 1) & 0xffff;
      if (!this.pings.has(id)) return id;
    }
    throw new Error(`${this.name}: every ICMP echo id is in use`);
  }

  // ------------------------------------------------------------------------------ UDP stream

  async sendUdpStream(ip: string, port: number, options: UdpStreamOptions): Promise<UdpStreamResult> {
    const target = checkIp(ip, 'ip');
    checkInteger(port, 'port', 1, 65535);
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object with count');
    const count = checkInteger(options.count, 'count', 0, 2 ** 31);
    const payloadLength = checkInteger(options.payloadLength ?? 64, 'payloadLength', UDP_SEQUENCE_LEN, this.mtu - IPV4_HEADER - UDP_HEADER);
    const rate = options.ratePerSecond;
    if (rate !== undefined && !(typeof rate === 'number' && Number.isFinite(rate) && rate > 0)) {
      throw new RangeError(`ratePerSecond must be a positive number, got ${String(rate)}`);
    }
    const sourcePort = checkInteger(options.sourcePort ?? 40000, 'sourcePort', 1, 65535);
    const timeoutMs = checkInteger(options.timeoutMs ?? 1000, 'timeoutMs', 1, 3_600_000);
    const stallTimeoutMs = checkInteger(options.stallTimeoutMs ?? 5000, 'stallTimeoutMs', 1, 3_600_000);
    this.checkOpen();
    const mac = await this.resolve(target, timeoutMs);

    // One template frame per stream; each datagram is a copy of it with its sequence number, IP
    // identification and both checksums patched in (RFC 1624 incremental updates from sums
    // computed once, with those fields zero).
    const frameLength = ETH_HEADER + IPV4_HEADER + UDP_HEADER + payloadLength;
    const template = new Uint8Array(frameLength);
    this.writeEthernet(template, 0, mac, EtherType.IPv4);
    this.writeIpv4Header(template, ETH_HEADER, IpProtocol.UDP, IPV4_HEADER + UDP_HEADER + payloadLength, target, 0);
    const l4 = ETH_HEADER + IPV4_HEADER;
    writeU16(template, l4, sourcePort);
    writeU16(template, l4 + 2, port);
    writeU16(template, l4 + 4, UDP_HEADER + payloadLength);
    for (let i = UDP_SEQUENCE_LEN; i < payloadLength; i++) template[l4 + UDP_HEADER + i] = i & 0xff;
    const ipBaseSum = ~ipv4HeaderChecksum(template, ETH_HEADER, IPV4_HEADER) & 0xffff;
    const pseudo = (this.ip >>> 16) + (this.ip & 0xffff) + (target >>> 16) + (target & 0xffff) + IpProtocol.UDP + UDP_HEADER + payloadLength;
    const udpBaseSum = onesComplementSum(template.subarray(l4), fold(pseudo));

    const key = target * 65536 + port;
    const firstSequence = this.streamSequences.get(key) ?? 0;
    const queue = this.queue;
    const out = queue.bytes;
    const started = performance.now();
    let sent = 0;
    const emit = (allowed: number): number => {
      let n = 0;
      while (n < allowed) {
        const at = queue.reserve();
        if (at < 0) break;
        const seq = (firstSequence + sent + n) >>> 0;
        out.set(template, at);
        writeU32(out, at + l4 + UDP_HEADER, seq);
        const id = seq & 0xffff;
        writeU16(out, at + ETH_HEADER + 4, id);
        writeU16(out, at + ETH_HEADER + 10, ~fold(ipBaseSum + id) & 0xffff);
        // A computed zero goes out as all ones (RFC 768): zero would mean "no checksum".
        const udpSum = ~fold(udpBaseSum + (seq >>> 16) + (seq & 0xffff)) & 0xffff;
        writeU16(out, at + l4 + 6, udpSum === 0 ? 0xffff : udpSum);
        this.commit(frameLength);
        n++;
      }
      return n;
    };

    const space: Wakeable = {};
    this.spaceWaiters.add(space);
    try {
      while (sent < count) {
        this.checkOpen();
        let allowed = count - sent;
        if (rate !== undefined) allowed = Math.min(allowed, Math.floor(((performance.now() - started) * rate) / 1000) + 1 - sent);
        const n = allowed > 0 ? emit(allowed) : 0;
        sent += n;
        this.counters.udpOut += n;
        this.streamSequences.set(key, (firstSequence + sent) >>> 0);
        if (sent >= count) break;
        if (queue.full) {
          if (!(await this.delay(stallTimeoutMs, space))) {
            throw new Error(`${this.name}: UDP stream to ${formatIpv4(this.ipBytes(target))}:${port} stalled: the device queue stayed full for ${stallTimeoutMs} ms (is anything receiving from it?)`);
          }
        } else if (rate !== undefined) {
          const due = started + ((sent + 1) * 1000) / rate;
          await this.delay(Math.max(1, Math.ceil(due - performance.now())));
        }
      }
    } finally {
      this.spaceWaiters.delete(space);
    }
    return { sent, elapsedMs: performance.now() - started, firstSequence };
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
    if (length < ETH_HEADER) {
      counters.malformed++;
      return;
    }
    const bytes = batch.bytes;
    if (!macEquals(bytes, at, this.mac) && !macEquals(bytes, at, BROADCAST_MAC)
      && (this.solicitedMac === undefined || !macEquals(bytes, at, this.solicitedMac))) {
      counters.notForMe++;
      return;
    }
    const type = readU16(bytes, at + 12);
    if (type === EtherType.ARP) this.handleArp(bytes, at + ETH_HEADER, length - ETH_HEADER);
    else if (type === EtherType.IPv4) this.handleIpv4(batch, slot, bytes, at, length);
    else if (type === EtherType.IPv6 && this.ip6 !== undefined) this.handleIpv6(bytes, at, length, this.ip6);
    else counters.unsupported++;
  }

  private handleArp(bytes: Uint8Array, p: number, available: number): void {
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
    const senderIp = readU32(bytes, p + 14);
    const targetIp = readU32(bytes, p + 24);
    const senderUsable = senderIp !== 0 && senderIp !== this.ip && (bytes[p + 8] & 1) === 0;
    if (targetIp !== this.ip) {
      // RFC 826: refresh what we already know, learn nothing new from other hosts' ARP.
      counters.arpIgnored++;
      if (senderUsable) {
        const known = this.neighbours.get(senderIp);
        if (known !== undefined) for (let i = 0; i < 6; i++) known[i] = bytes[p + 8 + i];
      }
      return;
    }
    if (senderUsable) this.learn(senderIp, bytes, p + 8);
    if (op === ARP_REQUEST) {
      const at = this.reserve();
      if (at < 0) return;
      const out = this.queue.bytes;
      this.writeEthernet(out, at, undefined, EtherType.ARP);
      for (let i = 0; i < 6; i++) out[at + i] = bytes[p + 8 + i];
      this.writeArp(out, at + ETH_HEADER, ARP_REPLY, bytes, p + 8, senderIp);
      this.commit(ETH_HEADER + ARP_LEN);
      counters.arpRepliesOut++;
    }
  }

  private learn(ip: number, bytes: Uint8Array, macAt: number): void {
    let entry = this.neighbours.get(ip);
    if (entry === undefined) {
      if (this.neighbours.size >= this.neighbourLimit) {
        const oldest = this.neighbours.keys().next().value as number;
        this.neighbours.delete(oldest);
      }
      entry = new Uint8Array(6);
      this.neighbours.set(ip, entry);
    }
    for (let i = 0; i < 6; i++) entry[i] = bytes[macAt + i];
    const waiters = this.arpWaiters.get(ip);
    if (waiters !== undefined) for (const waiter of waiters) waiter.wake?.();
  }

  private handleIpv4(batch: PacketBatch, slot: number, bytes: Uint8Array, frame: number, length: number): void {
    const counters = this.counters;
    const ip = frame + ETH_HEADER;
    const available = length - ETH_HEADER;
    if (available < IPV4_HEADER || bytes[ip] >>> 4 !== 4) {
      counters.malformed++;
      return;
    }
    const headerLength = (bytes[ip] & 15) * 4;
    const total = readU16(bytes, ip + 2);
    if (headerLength < IPV4_HEADER || total < headerLength || total > available) {
      counters.malformed++;
      return;
    }
    if (ipv4HeaderChecksum(bytes, ip, headerLength) !== readU16(bytes, ip + 10)) {
      counters.badChecksum++;
      return;
    }
    if (readU32(bytes, ip + 16) !== this.ip) {
      counters.notForMe++;
      return;
    }
    // More-fragments or a fragment offset: this host does not reassemble.
    if ((readU16(bytes, ip + 6) & 0x3fff) !== 0) {
      counters.unsupported++;
      return;
    }
    const protocol = bytes[ip + 9];
    if (protocol === IpProtocol.UDP) this.handleUdp(batch, slot, bytes, ip, headerLength, total);
    else if (protocol === IpProtocol.ICMP) this.handleIcmp(bytes, frame, ip, headerLength, total);
    else counters.unsupported++;
  }

  private handleUdp(batch: PacketBatch, slot: number, bytes: Uint8Array, ip: number, headerLength: number, total: number): void {
    const counters = this.counters;
    const l4 = ip + headerLength;
    const segment = total - headerLength;
    if (segment < UDP_HEADER || readU16(bytes, l4 + 4) !== segment) {
      counters.udpBad++;
      return;
    }
    if (readU16(bytes, l4 + 6) === 0) {
      counters.udpNoChecksum++;
    } else {
      // Verified in place in the batch's memory by the kernels (no copy); the TS sum is the
      // fallback for a frame the kernel's parser does not take.
      const state = batch.innerChecksum(slot);
      if (state === 'bad') {
        counters.udpBad++;
        return;
      }
      if (state !== 'valid') {
        const source = readU32(bytes, ip + 12);
        const pseudo = (source >>> 16) + (source & 0xffff) + (this.ip >>> 16) + (this.ip & 0xffff) + IpProtocol.UDP + segment;
        if (onesComplementSum(bytes.subarray(l4, l4 + segment), fold(pseudo)) !== 0xffff) {
          counters.udpBad++;
          return;
        }
      }
    }
    counters.udpIn++;
    const port = readU16(bytes, l4 + 2);
    let state = this.ports.get(port);
    if (state === undefined) {
      state = new PortState();
      this.ports.set(port, state);
    }
    const payload = segment - UDP_HEADER;
    state.count++;
    state.bytes += payload;
    if (payload >= UDP_SEQUENCE_LEN) state.record(readU32(bytes, l4 + UDP_HEADER));
  }

  private handleIcmp(bytes: Uint8Array, frame: number, ip: number, headerLength: number, total: number): void {
    const counters = this.counters;
    const l4 = ip + headerLength;
    const messageLength = total - headerLength;
    if (messageLength < ICMP_HEADER) {
      counters.malformed++;
      return;
    }
    // A message with a correct checksum sums (with its checksum) to 0xffff: checksum() gives 0.
    if (checksum(bytes.subarray(l4, l4 + messageLength)) !== 0) {
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
      const frameLength = ETH_HEADER + IPV4_HEADER + messageLength;
      const at = this.reserve();
      if (at < 0) return;
      const out = this.queue.bytes;
      // Back to the sender's MAC and address; IP options are not echoed.
      this.writeEthernet(out, at, undefined, EtherType.IPv4);
      for (let i = 0; i < 6; i++) out[at + i] = bytes[frame + 6 + i];
      this.writeIpv4Header(out, at + ETH_HEADER, IpProtocol.ICMP, IPV4_HEADER + messageLength, readU32(bytes, ip + 12), this.nextIpId);
      this.nextIpId = (this.nextIpId + 1) & 0xffff;
      const reply = at + ETH_HEADER + IPV4_HEADER;
      out.set(bytes.subarray(l4, l4 + messageLength), reply);
      out[reply] = ICMP_ECHO_REPLY;
      // Only the type changed (8 → 0): RFC 1624 update of the request's (verified) checksum.
      writeU16(out, reply + 2, updateChecksum(readU16(bytes, l4 + 2), ICMP_ECHO_REQUEST << 8, ICMP_ECHO_REPLY << 8));
      this.commit(frameLength);
      counters.echoRepliesOut++;
    } else if (type === ICMP_ECHO_REPLY) {
      counters.echoRepliesIn++;
      const ping = this.pings.get(readU16(bytes, l4 + 4));
      const seq = readU16(bytes, l4 + 6);
      if (ping === undefined || seq >= ping.sent || ping.got[seq] !== 0) {
        counters.echoRepliesUnmatched++;
        return;
      }
      ping.got[seq] = 1;
      ping.received++;
      ping.rttMs.push(performance.now() - ping.sentAt[seq]);
      // Every reply in: end the final wait early (wake is set only during that wait).
      if (ping.received === ping.sent) ping.waiter.wake?.();
    } else {
      counters.unsupported++;
    }
  }

  private handleIpv6(bytes: Uint8Array, frame: number, length: number, self: Uint8Array): void {
    const counters = this.counters;
    const ip = frame + ETH_HEADER;
    if (length - ETH_HEADER < IPV6_HEADER || bytes[ip] >>> 4 !== 6) {
      counters.malformed++;
      return;
    }
    const payload = readU16(bytes, ip + 4);
    if (payload > length - ETH_HEADER - IPV6_HEADER) {
      counters.malformed++;
      return;
    }
    const toSelf = addressEquals(bytes, ip + 24, self, 0);
    if (!toSelf && !isSolicitedNode(bytes, ip + 24, self)) {
      counters.notForMe++;
      return;
    }
    // ICMPv6 right after the fixed header; extension headers are not spoken here.
    if (bytes[ip + 6] !== IpProtocol.ICMPv6) {
      counters.unsupported++;
      return;
    }
    const l4 = ip + IPV6_HEADER;
    if (payload < ICMP_HEADER) {
      counters.malformed++;
      return;
    }
    if (onesComplementSum(bytes.subarray(l4, l4 + payload), pseudoSum6(bytes, ip + 8, bytes, ip + 24, payload)) !== 0xffff) {
      counters.badChecksum++;
      return;
    }
    const type = bytes[l4];
    if (bytes[l4 + 1] !== 0) {
      counters.unsupported++;
    } else if (type === ND_SOLICITATION) {
      counters.ndSolicitationsIn++;
      this.handleSolicitation(bytes, frame, ip, l4, payload, self);
    } else if (type === ICMPV6_ECHO_REQUEST && toSelf) {
      counters.echoRequestsIn++;
      const at = this.reserve();
      if (at < 0) return;
      const out = this.queue.bytes;
      this.writeEthernet(out, at, undefined, EtherType.IPv6);
      for (let i = 0; i < 6; i++) out[at + i] = bytes[frame + 6 + i];
      const reply = at + ETH_HEADER + IPV6_HEADER;
      out.set(bytes.subarray(l4, l4 + payload), reply);
      out[reply] = ICMPV6_ECHO_REPLY;
      this.writeIpv6Reply(out, at + ETH_HEADER, payload, TTL, self, bytes, ip + 8);
      this.commit(ETH_HEADER + IPV6_HEADER + payload);
      counters.echoRepliesOut++;
    } else if (type === ICMPV6_ECHO_REPLY) {
      // This host does not ping over IPv6: no reply is awaited.
      counters.echoRepliesIn++;
      counters.echoRepliesUnmatched++;
    } else {
      counters.unsupported++;
    }
  }

  /** RFC 4861 §7.1.1 checks, then a solicited advertisement with our MAC (§7.2.4). */
  private handleSolicitation(bytes: Uint8Array, frame: number, ip: number, l4: number, payload: number, self: Uint8Array): void {
    const counters = this.counters;
    if (bytes[ip + 7] !== ND_HOP_LIMIT || payload < 24) {
      counters.malformed++;
      return;
    }
    if (!addressEquals(bytes, l4 + 8, self, 0)) {
      counters.ndIgnored++;
      return;
    }
    // The source link-layer address option, if any, says where to answer; every option's length must be non-zero.
    let linkLayer = frame + 6;
    for (let option = l4 + 24; option < l4 + payload;) {
      if (option + 2 > l4 + payload || bytes[option + 1] === 0 || option + bytes[option + 1] * 8 > l4 + payload) {
        counters.malformed++;
        return;
      }
      if (bytes[option] === 1 && bytes[option + 1] === 1) linkLayer = option + 2;
      option += bytes[option + 1] * 8;
    }
    const unspecified = isZero(bytes, ip + 8, 16);
    const at = this.reserve();
    if (at < 0) return;
    const out = this.queue.bytes;
    // From the unspecified address (duplicate address detection): answer all nodes, not solicited.
    this.writeEthernet(out, at, unspecified ? ALL_NODES_MAC : undefined, EtherType.IPv6);
    if (!unspecified) for (let i = 0; i < 6; i++) out[at + i] = bytes[linkLayer + i];
    const icmp = at + ETH_HEADER + IPV6_HEADER;
    out[icmp] = ND_ADVERTISEMENT;
    out[icmp + 1] = 0;
    out[icmp + 4] = (unspecified ? 0 : ND_FLAG_SOLICITED) | ND_FLAG_OVERRIDE;
    out[icmp + 5] = 0;
    out[icmp + 6] = 0;
    out[icmp + 7] = 0;
    out.set(self, icmp + 8);
    out[icmp + 24] = 2; // target link-layer address option, 1 unit of 8 bytes
    out[icmp + 25] = 1;
    out.set(this.mac, icmp + 26);
    if (unspecified) this.writeIpv6Reply(out, at + ETH_HEADER, ND_ADVERTISEMENT_LEN, ND_HOP_LIMIT, self, ALL_NODES, 0);
    else this.writeIpv6Reply(out, at + ETH_HEADER, ND_ADVERTISEMENT_LEN, ND_HOP_LIMIT, self, bytes, ip + 8);
    this.commit(ETH_HEADER + IPV6_HEADER + ND_ADVERTISEMENT_LEN);
    counters.ndAdvertisementsOut++;
  }

  // ------------------------------------------------------------------------------ send path

  /**
   * An IPv6 header from `self` to the address at `destination[destinationAt]`, in front of the
   * ICMPv6 message already written after it, whose checksum it fills in.
   */
  private writeIpv6Reply(out: Uint8Array, at: number, payload: number, hopLimit: number, self: Uint8Array, destination: Uint8Array, destinationAt: number): void {
    writeU32(out, at, 0x60000000);
    writeU16(out, at + 4, payload);
    out[at + 6] = IpProtocol.ICMPv6;
    out[at + 7] = hopLimit;
    out.set(self, at + 8);
    for (let i = 0; i < 16; i++) out[at + 24 + i] = destination[destinationAt + i];
    const icmp = at + IPV6_HEADER;
    writeU16(out, icmp + 2, 0);
    const sum = onesComplementSum(out.subarray(icmp, icmp + payload), pseudoSum6(out, at + 8, out, at + 24, payload));
    writeU16(out, icmp + 2, ~sum & 0xffff);
  }

  /** Offset of the queue cell for the next frame, or -1 (counted drop) when the queue is full. */
  private reserve(): number {
    const at = this.queue.reserve();
    if (at < 0) this.counters.queueDrops++;
    return at;
  }

  /** Queue the frame written at the last reserve(); wake the forwarder when the queue was empty. */
  private commit(length: number): void {
    const wasEmpty = this.queue.count === 0;
    this.queue.commit(length);
    if (wasEmpty) this.wake.schedule();
  }

  /** Ethernet header from this host; `destination` undefined leaves the destination bytes to the caller. */
  private writeEthernet(out: Uint8Array, at: number, destination: Uint8Array | undefined, type: number): void {
    if (destination !== undefined) out.set(destination, at);
    out.set(this.mac, at + 6);
    writeU16(out, at + 12, type);
  }

  /** A 20-byte IPv4 header from this host, checksum filled in. */
  private writeIpv4Header(out: Uint8Array, at: number, protocol: number, totalLength: number, destination: number, id: number): void {
    out[at] = 0x45;
    out[at + 1] = 0;
    writeU16(out, at + 2, totalLength);
    writeU16(out, at + 4, id);
    writeU16(out, at + 6, 0x4000); // don't fragment: this host never fragments
    out[at + 8] = TTL;
    out[at + 9] = protocol;
    writeU16(out, at + 10, 0);
    writeU32(out, at + 12, this.ip);
    writeU32(out, at + 16, destination);
    writeU16(out, at + 10, ipv4HeaderChecksum(out, at, IPV4_HEADER));
  }

  /** An ARP body: sender = this host, target MAC from `targetMac` at `targetMacAt`. */
  private writeArp(out: Uint8Array, at: number, op: number, targetMac: Uint8Array, targetMacAt: number, targetIp: number): void {
    writeU16(out, at, 1);
    writeU16(out, at + 2, EtherType.IPv4);
    out[at + 4] = 6;
    out[at + 5] = 4;
    writeU16(out, at + 6, op);
    out.set(this.mac, at + 8);
    writeU32(out, at + 14, this.ip);
    for (let i = 0; i < 6; i++) out[at + 18 + i] = targetMac[targetMacAt + i];
    writeU32(out, at + 24, targetIp);
  }

  private emitArpRequest(target: number): void {
    const at = this.reserve();
    if (at < 0) return;
    const out = this.queue.bytes;
    this.writeEthernet(out, at, BROADCAST_MAC, EtherType.ARP);
    this.writeArp(out, at + ETH_HEADER, ARP_REQUEST, ZERO_MAC, 0, target);
    this.commit(ETH_HEADER + ARP_LEN);
    this.counters.arpRequestsOut++;
  }

  private emitEchoRequest(mac: Uint8Array, target: number, id: number, seq: number, payloadLength: number): boolean {
    const at = this.reserve();
    if (at < 0) return false;
    const out = this.queue.bytes;
    const messageLength = ICMP_HEADER + payloadLength;
    this.writeEthernet(out, at, mac, EtherType.IPv4);
    this.writeIpv4Header(out, at + ETH_HEADER, IpProtocol.ICMP, IPV4_HEADER + messageLength, target, this.nextIpId);
    this.nextIpId = (this.nextIpId + 1) & 0xffff;
    const icmp = at + ETH_HEADER + IPV4_HEADER;
    out[icmp] = ICMP_ECHO_REQUEST;
    out[icmp + 1] = 0;
    writeU16(out, icmp + 2, 0);
    writeU16(out, icmp + 4, id);
    writeU16(out, icmp + 6, seq);
    for (let i = 0; i < payloadLength; i++) out[icmp + ICMP_HEADER + i] = (0x10 + i) & 0xff;
    writeU16(out, icmp + 2, checksum(out.subarray(icmp, icmp + messageLength)));
    this.commit(ETH_HEADER + IPV4_HEADER + messageLength);
    this.counters.echoRequestsOut++;
    return true;
  }

  // ------------------------------------------------------------------------------ waiting

  /** The MAC for `ip`: from the cache, else by ARP requests every timeoutMs/4 (10..250 ms) until timeoutMs. */
  private async resolve(ip: number, timeoutMs: number): Promise<Uint8Array> {
    const known = this.neighbours.get(ip);
    if (known !== undefined) return known.slice();
    const started = performance.now();
    const retryMs = Math.max(10, Math.min(250, Math.floor(timeoutMs / 4)));
    const waiter: Wakeable = {};
    let waiters = this.arpWaiters.get(ip);
    if (waiters === undefined) this.arpWaiters.set(ip, (waiters = new Set()));
    waiters.add(waiter);
    let requests = 0;
    try {
      for (;;) {
        const mac = this.neighbours.get(ip);
        if (mac !== undefined) return mac.slice();
        const left = timeoutMs - (performance.now() - started);
        if (left <= 0) {
          throw new Error(`${this.name}: no ARP reply from ${formatIpv4(this.ipBytes(ip))} within ${timeoutMs} ms (${requests} requests)`);
        }
        this.checkOpen();
        this.emitArpRequest(ip);
        requests++;
        await this.delay(Math.max(1, Math.min(retryMs, Math.ceil(left))), waiter);
      }
    } finally {
      waiters.delete(waiter);
      if (waiters.size === 0) this.arpWaiters.delete(ip);
    }
  }

  /**
   * Wait `ms`; resolves true when ended early through `early.wake()`, false on time. close()
   * rejects it, so nothing awaits a closed host.
   */
  private delay(ms: number, early?: Wakeable): Promise<boolean> {
    if (this.closed) return Promise.reject(this.closedError());
    return new Promise<boolean>((resolve, reject) => {
      const entry: Pending = {
        timer: setTimeout(() => {
          this.pending.delete(entry);
          if (early !== undefined) early.wake = undefined;
          resolve(false);
        }, ms),
        reject: (error: Error) => {
          clearTimeout(entry.timer);
          this.pending.delete(entry);
          if (early !== undefined) early.wake = undefined;
          reject(error);
        },
      };
      this.pending.add(entry);
      if (early !== undefined) {
        early.wake = () => {
          early.wake = undefined;
          if (this.pending.delete(entry)) {
            clearTimeout(entry.timer);
            resolve(true);
          }
        };
      }
    });
  }

  private checkOpen(): void {
    if (this.closed) throw this.closedError();
  }

  private closedError(): Error {
    return new Error(`UserspaceHost ${this.name} closed`);
  }

  private ipBytes(ip: number): Uint8Array {
    const bytes = new Uint8Array(4);
    writeU32(bytes, 0, ip);
    return bytes;
  }
}
