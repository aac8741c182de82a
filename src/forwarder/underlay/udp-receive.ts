/**
 * The UDP underlay's receive path from its socket, and what the tunnel TAP's path
 * (tunnel-receive.ts) shares with it: a Delivery, the slots one receive fills, which takes a
 * datagram, a run of them (a GRO cell, a USO burst) or a whole super-packet split with tsoSplit.
 *
 * The socket's ring holds one datagram per cell, or with UDP_GRO a coalesced burst of datagrams
 * of one size from one source (split back here, one slot each), or a UDP-tunnel GSO packet that a
 * peer on this host sent and nothing cut (split here: see Delivery.splitSuperPacket).
 */
import type { PacketBatch } from '../../batch/packet-batch';
import { GSO_TCPV4, GSO_TCPV6, SLOT_HEADROOM, TSO_LAST, type Kernels } from '../../wasm/abi';
import { VXLAN_HEADER_LEN, datagramStart, type UnderlayCounters, type UnderlayEvents } from '../contracts';
import * as C from '../io/libc';
import type { FdReader } from '../io/fd-reader';
import { GRO_SEGMENT_WORD } from '../io/reader-worker';
import type { Ring } from '../io/ring';
import type { SourceTable } from './source-table';
import type { UdpOffloadCounters } from './udp-counters';

/** A receive cell with GRO holds any coalesced datagram (at most 65527 bytes of UDP payload). */
export const GRO_CELL_SIZE = 65536;
/** Where a received datagram starts in its slot: the VXLAN header right in front of the inner frame (datagramStart). */
export const DATAGRAM_OFFSET = SLOT_HEADROOM - VXLAN_HEADER_LEN;

/**
 * A super-packet being split into slots, per ring it came from (the socket's, a tunnel TAP's): the
 * segments delivered so far (a batch that fills up leaves the rest for the next receive), and the
 * staging area in each kernels' memory its inner frame is copied to for tsoSplit.
 */
export interface SplitState {
  progress: number;
  stagedFor: Kernels | undefined;
  stagings: Map<Kernels, number>;
}

export function splitState(): SplitState {
  return { progress: 0, stagedFor: undefined, stagings: new Map() };
}

/** The staging area in `kernels`' memory, reserved on first use (ask before reading batch.bytes: reserving may grow the memory). */
export function stagingFor(state: SplitState, kernels: Kernels): number {
  let staging = state.stagings.get(kernels);
  if (staging === undefined) {
    staging = kernels.reserve(GRO_CELL_SIZE);
    state.stagings.set(kernels, staging);
  }
  return staging;
}

/** Where the TCP header of the staged inner frame starts (tsoSplit's csum_start): after Ethernet and the IP header. */
function superPacketL4Offset(bytes: Uint8Array, staged: number, gsoType: number): number {
  return 14 + (gsoType === GSO_TCPV4 ? (bytes[staged + 14] & 0x0f) * 4 : 40);
}

/**
 * Whether the `length` bytes at `at` are one VXLAN header and one TCP super-frame whose IP length
 * covers all of it (a UDP-tunnel GSO packet received whole), rather than coalesced datagrams,
 * whose first inner IP length covers the first datagram only: its GSO type (TCPV4 or TCPV6), or 0.
 */
function tunnelSuperPacket(bytes: Uint8Array, at: number, length: number): number {
  const inner = at + VXLAN_HEADER_LEN;
  if (length < VXLAN_HEADER_LEN + 14 + 40 || (bytes[at] & 0x08) === 0) return 0;
  const ethertype = (bytes[inner + 12] << 8) | bytes[inner + 13];
  const ip = inner + 14;
  if (ethertype === 0x0800 && (bytes[ip] >>> 4) === 4 && bytes[ip + 9] === 6) {
    return ((bytes[ip + 2] << 8) | bytes[ip + 3]) + 14 + VXLAN_HEADER_LEN === length ? GSO_TCPV4 : 0;
  }
  if (ethertype === 0x86dd && bytes[ip + 6] === 6) {
    return ((bytes[ip + 4] << 8) | bytes[ip + 5]) + 40 + 14 + VXLAN_HEADER_LEN === length ? GSO_TCPV6 : 0;
  }
  return 0;
}

/**
 * The slots one receive fills (one object per underlay, set by `begin` per receive): datagrams go
 * into `slot`, which advances, up to `end`; each from endpoint `id`. The slots filled are
 * `slot` minus where it began, so no call needs a second result.
 */
export class Delivery {
  batch!: PacketBatch;
  /** batch.bytes, read again after a staging area is reserved (that may grow, so move, the memory). */
  bytes!: Uint8Array;
  sources!: Int32Array;
  /** The next slot to fill, and the end of those this receive may fill. */
  slot = 0;
  end = 0;
  /** The largest datagram a slot takes (longer ones are counted oversize). */
  limit = 0;
  /** The endpoint id of what is delivered next. */
  id = -1;

  constructor(
    private readonly counters: UnderlayCounters,
    private readonly offloadCounters: UdpOffloadCounters,
    private readonly maxDatagram: number,
  ) {}

  /** Start a receive into `max` slots of `batch` from `first`. */
  begin(batch: PacketBatch, first: number, max: number, sources: Int32Array): void {
    this.batch = batch;
    this.bytes = batch.bytes;
    this.sources = sources;
    this.slot = first;
    this.end = first + max;
    this.limit = Math.min(this.maxDatagram, batch.slotStride - DATAGRAM_OFFSET);
  }

  /** Slots left. */
  get room(): number {
    return this.end - this.slot;
  }

  /** Reserve `state`'s staging area in the batch's memory if not yet done (then batch.bytes again). */
  stage(state: SplitState): void {
    stagingFor(state, this.batch.kernels);
    this.bytes = this.batch.bytes;
  }

  /** Copy `length` bytes at `start` in `ring` into the next slot as its datagram, from endpoint `id`. */
  deliver(ring: Ring, start: number, length: number): void {
    const batch = this.batch;
    const slot = this.slot++;
    ring.bytes.copy(this.bytes, datagramStart(batch, slot), start, start + length);
    batch.setFrame(slot, length, DATAGRAM_OFFSET);
    this.sources[slot] = this.id;
  }

  /**
   * A run of datagrams of `segment` bytes each (the last may be shorter) in `length` bytes at
   * `start` in `ring` (a GRO cell, a tunnel TAP burst), from `offset` on, each into the next slot
   * while there is room; one longer than `limit` is counted oversize. Returns where it stopped
   * (`length` when all were taken).
   */
  deliverRun(ring: Ring, start: number, length: number, offset: number, segment: number): number {
    while (offset < length && this.slot < this.end) {
      const piece = Math.min(segment, length - offset);
      if (piece > this.limit) this.counters.oversize++;
      else this.deliver(ring, start + offset, piece);
      offset += piece;
    }
    return offset;
  }

  /**
   * A UDP-tunnel GSO packet that reached the socket whole: a peer on this host sent it (a kernel
   * vxlan whose veth has tx offload on, or a forwarder with --tunnel-gso) and nothing cut it. Its
   * payload (`length` bytes at `start` in `ring`) is one VXLAN header and one TCP super-frame
   * (`gsoType`) whose checksum is the pseudo-header sum. Without a segment size from the kernel
   * (`segment` 0: no UDP_GRO message) the segments are as large as a datagram may be (an inner IP
   * packet of at most the MTU). They are made here (tsoSplit, as for a TAP super-frame), each
   * behind a copy of the VXLAN header, so the forwarder sees datagrams as usual. Returns the slots
   * filled; `state.progress` holds the segments done while slots run out.
   */
  splitSuperPacket(state: SplitState, ring: Ring, start: number, length: number, gsoType: number, segment: number): number {
    const batch = this.batch;
    const kernels = batch.kernels;
    const innerLength = length - VXLAN_HEADER_LEN;
    const staging = stagingFor(state, kernels);
    const bytes = batch.bytes;
    this.bytes = bytes; // reserving may have moved the memory
    if (state.progress === 0 || state.stagedFor !== kernels) {
      state.progress = 0;
      ring.copyOut(start + VXLAN_HEADER_LEN, innerLength, bytes, staging);
      state.stagedFor = kernels;
    }
    const l4 = superPacketL4Offset(bytes, staging, gsoType);
    // Inner frame ≤ the largest datagram less the VXLAN header and room for a VLAN tag (IP ≤ MTU),
    // and ≤ a slot: without a UDP_GRO size (a peer on this host sent it whole) the sender's MSS is
    // unknown, and any size the device takes makes the same TCP stream.
    const frameRoom = Math.min(this.maxDatagram - VXLAN_HEADER_LEN, batch.slotStride - SLOT_HEADROOM);
    const largest = frameRoom - 4 - l4 - (bytes[staging + l4 + 12] >>> 4) * 4;
    const gsoSize = segment > 0 ? Math.min(segment, largest) : largest;
    const slot = this.slot;
    const result = kernels.tsoSplit(
      staging, innerLength, gsoType, gsoSize, l4,
      batch.slotsPtr, batch.slotStride, batch.metaPtr, slot, this.end - slot, state.progress,
    );
    if (result < 0) {
      this.counters.oversize++;
      state.progress = 0;
      return 0;
    }
    const written = result & ~TSO_LAST;
    const header = ring.bytes.subarray(start, start + VXLAN_HEADER_LEN);
    for (let i = slot; i < slot + written; i++) {
      bytes.set(header, datagramStart(batch, i));
      batch.setFrame(i, VXLAN_HEADER_LEN + batch.innerLength(i), DATAGRAM_OFFSET);
      this.sources[i] = this.id;
    }
    this.slot = slot + written;
    state.progress = (result & TSO_LAST) !== 0 ? 0 : state.progress + written;
    if (state.progress === 0) this.offloadCounters.superPackets++;
    return written;
  }
}

/** The socket's receive path: its ring's cells into slots (datagrams, GRO cells, whole super-packets). */
export class SocketReceiver {
  /** Of the cell at the ring's tail: the offset of the next datagram to split out (GRO), or 0. */
  private cellOffset = 0;
  private readonly split = splitState();

  constructor(
    private readonly ring: Ring,
    private readonly reader: FdReader<UnderlayEvents>,
    private readonly sourceTable: SourceTable,
    /** UDP_GRO is on: cells may hold coalesced datagrams. */
    private readonly gro: boolean,
    private readonly counters: UnderlayCounters,
    private readonly offloadCounters: UdpOffloadCounters,
  ) {}

  /** Fill `d`'s slots from the socket's ring; returns the slots filled. */
  receive(d: Delivery): number {
    const ring = this.ring;
    const available = ring.available();
    if (this.gro && available > 0) d.stage(this.split);
    const first = d.slot;
    const limit = d.limit;
    const segmentWords = ring.sourceWords;
    const gro = this.gro;
    const recordWords = C.SOCKADDR_ROOM >>> 2;
    let groMessages = 0;
    let groDatagrams = 0;
    let consumed = 0;
    while (d.slot < d.end && consumed < available) {
      const k = ring.index(consumed);
      const length = ring.lengths[k];
      const segment = gro ? segmentWords[k * recordWords + GRO_SEGMENT_WORD] : 0;
      const superType = length > limit || (segment > 0 && segment < length) ? tunnelSuperPacket(ring.bytes, ring.cellStart(k), length) : 0;
      if (superType !== 0) {
        // One whole VXLAN super-packet (see Delivery.splitSuperPacket), not a run of datagrams.
        const id = this.sourceId(k);
        if (id < 0) {
          this.counters.unknownSource++;
          consumed++;
          continue;
        }
        d.id = id;
        d.splitSuperPacket(this.split, ring, ring.cellStart(k), length, superType, segment);
        if (this.split.progress !== 0) break; // the slots ran out: the rest goes first next time
        consumed++;
        continue;
      }
      if (segment > 0 && segment < length) {
        // A coalesced burst: one slot per segment, all from one source; a batch that fills up
        // leaves the rest of the cell for the next call (cellOffset).
        const id = this.sourceId(k);
        let offset = this.cellOffset;
        if (offset === 0) groMessages++;
        if (id < 0) {
          this.counters.unknownSource += Math.ceil((length - offset) / segment);
          offset = length;
        }
        d.id = id;
        const before = d.slot;
        offset = d.deliverRun(ring, ring.cellStart(k), length, offset, segment);
        groDatagrams += d.slot - before;
        if (offset < length) {
          this.cellOffset = offset;
          break;
        }
        this.cellOffset = 0;
        consumed++;
        continue;
      }
      consumed++;
      if (length < 0 || length > limit) {
        this.counters.oversize++;
        continue;
      }
      const id = this.sourceId(k);
      if (id < 0) {
        this.counters.unknownSource++;
        continue;
      }
      d.id = id;
      d.deliver(ring, ring.cellStart(k), length);
    }
    const count = d.slot - first;
    this.offloadCounters.groMessages += groMessages;
    this.offloadCounters.groDatagrams += groDatagrams;
    this.counters.received += count;
    this.reader.release(consumed);
    return count;
  }

  /** The id of cell k's source, or -1 (refused). */
  private sourceId(k: number): number {
    const ring = this.ring;
    return this.sourceTable.sourceOfSockaddr(ring.sourceBytes, ring.sourceWords, k * C.SOCKADDR_ROOM);
  }
}
