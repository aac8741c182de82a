/**
 * UDP to the host: the length field must match the packet and a checksum, when there is one,
 * must verify; then the datagram is tallied by destination port (UdpStreamTally), and whoever
 * waits for that port's count to reach a number (a sender keeping a window) is woken.
 */
import type { PacketBatch } from '../../../batch/packet-batch';
import { ipv4PseudoHeaderSum, onesComplementSum } from '../../../reference/checksum';
import { readU16, readU32 } from '../../../wire/fields';
import { IpProtocol } from '../../../wire/protocols';
import type { UserspaceHostCounters } from './counters';
import type { Wakeable } from './waits';
import { UDP_HEADER_LEN, UDP_SEQUENCE_LEN } from './udp-stream';
import { NO_DATAGRAMS, UdpStreamTally, type UdpPortStats } from './udp-stream-tally';

/** Someone waiting until `count` datagrams in all have arrived on `port`. */
export interface ArrivalWaiter extends Wakeable {
  port: number;
  count: number;
}

export class UdpReceiver {
  private readonly tallies = new Map<number, UdpStreamTally>();
  /** Woken (and removed) when their port's count reaches theirs; a handful at most. */
  readonly arrivalWaiters = new Set<ArrivalWaiter>();

  constructor(private readonly counters: UserspaceHostCounters) {}

  /** What arrived on `port` (a copy; zeros before the first datagram). */
  stats(port: number): UdpPortStats {
    return this.tallies.get(port)?.snapshot() ?? { ...NO_DATAGRAMS };
  }

  /** The UDP datagram of the IPv4 packet at `bytes[ip]` (header verified, to us, `total` bytes in all). */
  handle(batch: PacketBatch, slot: number, bytes: Uint8Array, ip: number, headerLength: number, total: number): void {
    const counters = this.counters;
    const l4 = ip + headerLength;
    const segment = total - headerLength;
    if (segment < UDP_HEADER_LEN || readU16(bytes, l4 + 4) !== segment) {
      counters.udpBad++;
      return;
    }
    if (readU16(bytes, l4 + 6) === 0) {
      counters.udpNoChecksum++;
    } else {
      // Verified in place in the batch's memory by the batch's kernels (no copy); the TS sum is
      // the fallback for a frame the kernel's parser does not take.
      const state = batch.innerChecksum(slot);
      if (state === 'bad') {
        counters.udpBad++;
        return;
      }
      if (state !== 'valid') {
        const pseudo = ipv4PseudoHeaderSum(bytes, ip + 12, ip + 16, IpProtocol.UDP, segment);
        if (onesComplementSum(bytes, l4, segment, pseudo) !== 0xffff) {
          counters.udpBad++;
          return;
        }
      }
    }
    counters.udpIn++;
    const port = readU16(bytes, l4 + 2);
    let tally = this.tallies.get(port);
    if (tally === undefined) {
      tally = new UdpStreamTally();
      this.tallies.set(port, tally);
    }
    const payload = segment - UDP_HEADER_LEN;
    tally.add(payload, payload >= UDP_SEQUENCE_LEN ? readU32(bytes, l4 + UDP_HEADER_LEN) : -1);
    if (this.arrivalWaiters.size > 0) this.wakeArrivals(port, tally.count);
  }

  private wakeArrivals(port: number, count: number): void {
    for (const waiter of this.arrivalWaiters) {
      if (waiter.port !== port || count < waiter.count) continue;
      this.arrivalWaiters.delete(waiter);
      waiter.wake?.();
    }
  }
}
