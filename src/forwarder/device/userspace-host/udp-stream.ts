/**
 * Numbered UDP streams from the host: each datagram's payload starts with its sequence number
 * (big-endian u32), so the receiver can tell loss, reordering and duplicates apart. Streams to the
 * same address and port continue the numbering. The queue's backpressure paces an unpaced stream;
 * a stream that finds the queue full for stallTimeoutMs gives up (nobody receives from the device).
 */
import { fold16, ipv4PseudoHeaderSum, onesComplementSum } from '../../../reference/checksum';
import { checkInteger, writeU16, writeU32 } from '../../../wire/fields';
import { ipv4HeaderChecksum } from '../../../wire/ipv4';
import { EtherType, IpProtocol } from '../../../wire/protocols';
import type { Arp } from './arp';
import type { HostContext } from './context';
import { IPV4_HEADER_LEN, writeIpv4Header } from './ipv4-header';
import { ETH_HEADER_LEN, ipv4Number, ipv4Text } from './options';
import type { Wakeable } from './waits';

export const UDP_HEADER_LEN = 8;
/** Bytes of sequence number at the start of a stream datagram's payload (big-endian u32). */
export const UDP_SEQUENCE_LEN = 4;

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

export class UdpStreamSender {
  /** Next sequence number per destination (ip * 65536 + port), so successive streams continue the numbering. */
  private readonly nextSequences = new Map<number, number>();

  constructor(private readonly host: HostContext, private readonly arp: Arp) {}

  async send(ip: string, port: number, options: UdpStreamOptions): Promise<UdpStreamResult> {
    const target = ipv4Number(ip, 'ip');
    checkInteger(port, 'port', 1, 65535);
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object with count');
    const count = checkInteger(options.count, 'count', 0, 2 ** 31);
    const payloadLength = checkInteger(options.payloadLength ?? 64, 'payloadLength', UDP_SEQUENCE_LEN, this.host.mtu - IPV4_HEADER_LEN - UDP_HEADER_LEN);
    const rate = options.ratePerSecond;
    if (rate !== undefined && !(typeof rate === 'number' && Number.isFinite(rate) && rate > 0)) {
      throw new RangeError(`ratePerSecond must be a positive number, got ${String(rate)}`);
    }
    const sourcePort = checkInteger(options.sourcePort ?? 40000, 'sourcePort', 1, 65535);
    const timeoutMs = checkInteger(options.timeoutMs ?? 1000, 'timeoutMs', 1, 3_600_000);
    const stallTimeoutMs = checkInteger(options.stallTimeoutMs ?? 5000, 'stallTimeoutMs', 1, 3_600_000);
    this.host.waits.checkOpen();
    const mac = await this.arp.resolve(target, timeoutMs);

    // One template frame per stream; each datagram is a copy of it with its sequence number, IP
    // identification and both checksums patched in (RFC 1624 incremental updates from sums
    // computed once, with those fields zero).
    const frameLength = ETH_HEADER_LEN + IPV4_HEADER_LEN + UDP_HEADER_LEN + payloadLength;
    const template = new Uint8Array(frameLength);
    this.host.outbox.writeEthernet(template, 0, mac, 0, EtherType.IPv4);
    writeIpv4Header(template, ETH_HEADER_LEN, this.host.self.ip, target, IpProtocol.UDP, IPV4_HEADER_LEN + UDP_HEADER_LEN + payloadLength, 0);
    const l4 = ETH_HEADER_LEN + IPV4_HEADER_LEN;
    writeU16(template, l4, sourcePort);
    writeU16(template, l4 + 2, port);
    writeU16(template, l4 + 4, UDP_HEADER_LEN + payloadLength);
    for (let i = UDP_SEQUENCE_LEN; i < payloadLength; i++) template[l4 + UDP_HEADER_LEN + i] = i & 0xff;
    const ipBaseSum = ~ipv4HeaderChecksum(template, ETH_HEADER_LEN, IPV4_HEADER_LEN) & 0xffff;
    const pseudo = ipv4PseudoHeaderSum(template, ETH_HEADER_LEN + 12, ETH_HEADER_LEN + 16, IpProtocol.UDP, UDP_HEADER_LEN + payloadLength);
    const udpBaseSum = onesComplementSum(template, l4, UDP_HEADER_LEN + payloadLength, pseudo);

    const key = target * 65536 + port;
    const firstSequence = this.nextSequences.get(key) ?? 0;
    const outbox = this.host.outbox;
    const out = outbox.bytes;
    const started = performance.now();
    let sent = 0;
    const emit = (allowed: number): number => {
      let n = 0;
      while (n < allowed) {
        const at = outbox.reserve();
        if (at < 0) break;
        const seq = (firstSequence + sent + n) >>> 0;
        out.set(template, at);
        writeU32(out, at + l4 + UDP_HEADER_LEN, seq);
        const id = seq & 0xffff;
        writeU16(out, at + ETH_HEADER_LEN + 4, id);
        writeU16(out, at + ETH_HEADER_LEN + 10, ~fold16(ipBaseSum + id) & 0xffff);
        // A computed zero goes out as all ones (RFC 768): zero would mean "no checksum".
        const udpSum = ~fold16(udpBaseSum + (seq >>> 16) + (seq & 0xffff)) & 0xffff;
        writeU16(out, at + l4 + 6, udpSum === 0 ? 0xffff : udpSum);
        outbox.commit(frameLength);
        n++;
      }
      return n;
    };

    const space: Wakeable = {};
    outbox.spaceWaiters.add(space);
    try {
      while (sent < count) {
        this.host.waits.checkOpen();
        let allowed = count - sent;
        if (rate !== undefined) allowed = Math.min(allowed, Math.floor(((performance.now() - started) * rate) / 1000) + 1 - sent);
        const n = allowed > 0 ? emit(allowed) : 0;
        sent += n;
        this.host.counters.udpOut += n;
        this.nextSequences.set(key, (firstSequence + sent) >>> 0);
        if (sent >= count) break;
        if (outbox.full) {
          if (!(await this.host.waits.delay(stallTimeoutMs, space))) {
            throw new Error(`${this.host.name}: UDP stream to ${ipv4Text(target)}:${port} stalled: the device queue stayed full for ${stallTimeoutMs} ms (is anything receiving from it?)`);
          }
        } else if (rate !== undefined) {
          const due = started + ((sent + 1) * 1000) / rate;
          await this.host.waits.delay(Math.max(1, Math.ceil(due - performance.now())));
        }
      }
    } finally {
      outbox.spaceWaiters.delete(space);
    }
    return { sent, elapsedMs: performance.now() - started, firstSequence };
  }
}
