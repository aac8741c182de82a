/**
 * What arrived for one UDP destination port of the host: datagrams, payload bytes, and the order
 * of their sequence numbers (the numbered streams sendUdpStream sends), told apart as in order,
 * late or repeated within a window of the last SEQUENCE_WINDOW numbers.
 */

/** Late datagrams within this many sequence numbers of the highest seen are told apart from duplicates. */
const SEQUENCE_WINDOW = 1024;

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

/** One per destination port, made at its first datagram. */
export class UdpStreamTally {
  count = 0;
  bytes = 0;
  lastSequence = -1;
  highest = -1;
  outOfOrder = 0;
  duplicates = 0;
  /** Bit s % SEQUENCE_WINDOW: sequence s (within the window below `highest`) has arrived. */
  private readonly seen = new Uint32Array(SEQUENCE_WINDOW / 32);

  /** A datagram of `payloadBytes` arrived; `sequence` is its number, or -1 when it carries none. */
  add(payloadBytes: number, sequence: number): void {
    this.count++;
    this.bytes += payloadBytes;
    if (sequence >= 0) this.record(sequence);
  }

  /** A copy for callers, under the public field names. */
  snapshot(): UdpPortStats {
    return {
      count: this.count, bytes: this.bytes, lastSequence: this.lastSequence, highestSequence: this.highest,
      outOfOrder: this.outOfOrder, duplicates: this.duplicates,
    };
  }

  private record(seq: number): void {
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

  private bit(seq: number): boolean {
    const k = seq % SEQUENCE_WINDOW;
    return (this.seen[k >>> 5] & (1 << (k & 31))) !== 0;
  }

  private mark(seq: number, on: boolean): void {
    const k = seq % SEQUENCE_WINDOW;
    if (on) this.seen[k >>> 5] |= 1 << (k & 31);
    else this.seen[k >>> 5] &= ~(1 << (k & 31));
  }
}

export const NO_DATAGRAMS: Readonly<UdpPortStats> = { count: 0, bytes: 0, lastSequence: -1, highestSequence: -1, outOfOrder: 0, duplicates: 0 };
