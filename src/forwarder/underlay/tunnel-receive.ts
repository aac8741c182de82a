/**
 * The UDP underlay's receive path from a tunnel TAP (UdpUnderlay.attachTunnel, `forward
 * --tunnel-gso`): the VXLAN packets an IngressRedirect hands the TAP, read beside the socket's.
 * Each packet's outer headers are checked (parseTunnelPacket, as the IP and UDP stack would);
 * then a plain packet goes into a slot as its UDP payload (its outer UDP checksum verified, or its
 * inner partial checksum completed as the virtio-net header says), a burst (USO) into one slot
 * per datagram, and a super-packet is offered whole to the forwarder, or else split.
 */
import { VXLAN_HEADER_LEN, datagramStart, emptySuperFrame, type SuperFrame, type UnderlayCounters, type UnderlayEvents } from '../contracts';
import { PACKED_FRAME_READ, PACKED_RECORD_HEADER } from '../io/reader-worker';
import type { Ring } from '../io/ring';
import type { SourceTable } from './source-table';
import { TUNNEL_BAD_CHECKSUM, TUNNEL_PACKET, parseTunnelPacket, type TunnelGsoTap, type TunnelPacket } from './tunnel-gso';
import { splitState, type Delivery } from './udp-receive';

/** Whole super-packets (up to 64 KB each) a receive hands the forwarder before it returns. */
const WHOLE_PER_RECEIVE = 16;

export class TunnelReceiver {
  /** Of the tunnel ring's first waiting cell: the offset of the next record to take. */
  private offset = 0;
  /** How far into the current packet's burst (USO) the datagrams were taken; 0: not started. */
  private burstOffset = 0;
  private readonly split = splitState();
  /** What parseTunnelPacket found in the first waiting packet. */
  private readonly packet: TunnelPacket = { vxlanAt: 0, payloadLength: 0, sourceAt: 0, sourcePort: 0, gsoType: 0, gsoSize: 0, csumStart: -1, csumOffset: 0, udpSeed: -1, burstSegment: 0 };
  /** What superPacket() is offered (one object, refilled per super-packet). */
  private readonly offered: SuperFrame = emptySuperFrame();

  /**
   * @param localPort the underlay's, which a packet's UDP destination must be.
   * @param counters the underlay's (received, unknown sources, oversize); the TAP counts its own drops.
   * @param events the forwarder's, once started (superPacket is offered whole super-packets).
   */
  constructor(
    private readonly tap: TunnelGsoTap,
    private readonly family: 4 | 6,
    private readonly localPort: number,
    private readonly sourceTable: SourceTable,
    private readonly counters: UnderlayCounters,
    private readonly events: () => UnderlayEvents | undefined,
  ) {}

  /** Fill `d`'s slots from the tunnel TAP's ring; returns the slots filled. */
  receive(d: Delivery): number {
    const tap = this.tap;
    const ring = tap.ring;
    const available = ring.available();
    const kernels = d.batch.kernels;
    if (available > 0) d.stage(this.split);
    const first = d.slot;
    const limit = d.limit;
    const packet = this.packet;
    const counters = tap.counters;
    const events = this.events();
    let consumed = 0;
    let whole = 0;
    // Whole super-packets take no slot: at most WHOLE_PER_RECEIVE a call, so the other direction gets its turn.
    while (d.slot < d.end && consumed < available && whole < WHOLE_PER_RECEIVE) {
      // The ring is 'packed': records [length, packet] one after another in each cell.
      const k = ring.index(consumed);
      if (this.offset >= ring.lengths[k]) {
        consumed++;
        this.offset = 0;
        continue;
      }
      const record = ring.cellStart(k) + this.offset;
      const length = ring.bytes.readInt32LE(record);
      // Where the next record starts: taken once this packet is done with.
      const next = this.offset + PACKED_RECORD_HEADER + (((length < 0 ? PACKED_FRAME_READ : length) + 3) & ~3);
      if (this.split.progress === 0 && this.burstOffset === 0) {
        // A new packet (one split or taken part-way was parsed already).
        // A negative length: the reader could not fit the packet in its cell (read cut short).
        if (length < 0) {
          this.counters.oversize++;
          this.offset = next;
          continue;
        }
        const verdict = parseTunnelPacket(ring.bytes, record + PACKED_RECORD_HEADER, length, tap.local, this.localPort, packet);
        if (verdict !== TUNNEL_PACKET) {
          if (verdict === TUNNEL_BAD_CHECKSUM) counters.badChecksum++;
          else counters.malformed++;
          this.offset = next;
          continue;
        }
        counters.received++;
      }
      const source = packet.sourceAt;
      const b = ring.bytes;
      // The address words as a sockaddr's are read (little-endian i32s); IPv4 has the first only.
      const id = this.family === 4
        ? this.sourceTable.lookupSource(b.readInt32LE(source), 0, 0, 0, packet.sourcePort, b, source)
        : this.sourceTable.lookupSource(b.readInt32LE(source), b.readInt32LE(source + 4), b.readInt32LE(source + 8), b.readInt32LE(source + 12), packet.sourcePort, b, source);
      if (id < 0) {
        this.counters.unknownSource++;
        this.split.progress = 0;
        this.burstOffset = 0;
        this.offset = next;
        continue;
      }
      d.id = id;
      if (packet.burstSegment > 0) {
        // A burst: one slot per datagram, as the socket's GRO cells are split; a batch that fills
        // up leaves the rest for the next call (burstOffset).
        if (this.burstOffset === 0) counters.bursts++;
        const offset = d.deliverRun(ring, packet.vxlanAt, packet.payloadLength, this.burstOffset, packet.burstSegment);
        if (offset < packet.payloadLength) {
          this.burstOffset = offset;
          break;
        }
        this.burstOffset = 0;
        this.offset = next;
        continue;
      }
      if (packet.gsoType !== 0) {
        if (this.split.progress === 0) {
          counters.receivedWhole++;
          if (events?.superPacket !== undefined && events.superPacket(this.offer(ring, packet), packet.vxlanAt, id)) {
            this.offset = next;
            whole++;
            continue;
          }
        }
        d.splitSuperPacket(this.split, ring, packet.vxlanAt, packet.payloadLength, packet.gsoType & 0x7f, packet.gsoSize);
        if (this.split.progress !== 0) break; // the slots ran out: the rest goes first next time
        this.offset = next;
        continue;
      }
      this.offset = next;
      if (packet.payloadLength > limit) {
        this.counters.oversize++;
        continue;
      }
      const slot = d.slot;
      d.deliver(ring, packet.vxlanAt, packet.payloadLength);
      const at = datagramStart(d.batch, slot);
      if (packet.udpSeed >= 0 && kernels.onesComplementSum(at, packet.payloadLength, packet.udpSeed) !== 0xffff) {
        counters.badChecksum++;
        d.slot = slot; // the slot is taken back
        continue;
      }
      if (packet.csumStart >= 0 && kernels.completeInnerChecksum(at + VXLAN_HEADER_LEN, packet.payloadLength - VXLAN_HEADER_LEN, packet.csumStart, packet.csumOffset) !== 0) {
        counters.malformed++;
        d.slot = slot;
        continue;
      }
    }
    const count = d.slot - first;
    this.counters.received += count;
    tap.reader.release(consumed);
    return count;
  }

  /** The super-packet `packet` describes, as the SuperFrame offered to the forwarder: its inner frame, straight from the ring. */
  private offer(ring: Ring, packet: TunnelPacket): SuperFrame {
    const frame = this.offered;
    const start = packet.vxlanAt + VXLAN_HEADER_LEN;
    frame.bytes = ring.bytes;
    frame.start = start;
    frame.length = packet.payloadLength - VXLAN_HEADER_LEN;
    frame.address = ring.address(start);
    frame.gsoType = packet.gsoType;
    frame.gsoSize = packet.gsoSize;
    frame.csumStart = packet.csumStart;
    frame.csumOffset = packet.csumOffset;
    // Headers up to the TCP payload: the TCP header's data offset, where the checksum starts.
    frame.headerLength = Math.min(frame.length, packet.csumStart + (ring.bytes[start + packet.csumStart + 12] >>> 4) * 4);
    return frame;
  }
}
