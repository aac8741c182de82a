/**
 * UdpUnderlay: VXLAN datagrams over a plain UDP socket (IPv4 or IPv6), made and driven through
 * koffi. The kernel writes the outer IP and UDP headers; the batch kernels only the 8-byte VXLAN
 * header in front of each inner frame.
 *
 * This class wires the components: the socket's set-up (udp-socket.ts), the endpoint ids ↔
 * sockaddrs (source-table.ts), the send path with GSO (udp-send.ts), the receive paths from the
 * socket (udp-receive.ts) and from a tunnel TAP (tunnel-receive.ts).
 *
 * Receiving: a reader worker takes datagrams off the nonblocking socket with recvmmsg() straight
 * into a Ring in a SharedArrayBuffer (payload and source sockaddr per cell); `receive` copies
 * them into PacketBatch slots and turns each source into the endpoint id the forwarder gave it
 * (SourceTable).
 *
 * Sending: `transmit` makes ONE sendmmsg() per call (per SEND_CAPACITY datagrams) on the main
 * thread, with iovecs pointing straight into the batch's memory (UdpSender).
 *
 * UDP GSO (`gso`, on by default where the kernel has UDP_SEGMENT): a run of consecutive datagrams
 * to one destination with one length (the last may be shorter), up to GSO_MAX_SEGMENTS and
 * GSO_MAX_BYTES, is ONE message: its iovecs point at each datagram (the kernel concatenates
 * them) and a UDP_SEGMENT control message gives the length, so the kernel builds one big skb and
 * cuts it into datagrams late (in the NIC, or once in software): a TCP stream's MSS-sized frames
 * cost one pass through the stack per 64 instead of per frame. Where the kernel refuses it (EIO: the
 * route's device has no checksum offload; EINVAL: a segment longer than the path MTU allows;
 * ENOPROTOOPT/EOPNOTSUPP), the message goes again as plain datagrams, `gsoFallbacks` counts it
 * and the refusal is remembered (GSO off; after a first EINVAL, off from that segment size up,
 * and off altogether on a second) so it is not retried: at most two refusals, two notices.
 *
 * UDP GRO (`gro`, on by default where the kernel has UDP_GRO): the kernel may hand one flow's burst
 * over as one coalesced datagram with its segment size (see ReaderWorker); `receive` splits it
 * back into one slot per datagram, all from the same source.
 *
 * A tunnel TAP (`attachTunnel`, `forward --tunnel-gso`): VXLAN packets the kernel redirects there
 * (see ingress-redirect.ts) are read from it too. A plain one becomes a datagram in a slot, as if
 * the socket had received it; a whole super-packet is offered to the forwarder
 * (`UnderlayEvents.superPacket`), which writes it to its TAP whole, and is split only if it declines.
 */
import type { PacketBatch } from '../../batch/packet-batch';
import { parseIp } from '../../wire/address';
import { VXLAN_HEADER_LEN, type Endpoint, type Underlay, type UnderlayCounters, type UnderlayEvents } from '../contracts';
import * as C from '../io/libc';
import { FdReader } from '../io/fd-reader';
import type { InlinePoller } from '../io/inline-reader';
import { CTRL_ERRORS, Ring } from '../io/ring';
import { SourceTable } from './source-table';
import { UdpSender } from './udp-send';
import { openUdpSocket } from './udp-socket';
import type { TunnelGsoTap } from './tunnel-gso';
import { TunnelReceiver } from './tunnel-receive';
import type { UdpOffloadCounters } from './udp-counters';
import { Delivery, GRO_CELL_SIZE, SocketReceiver } from './udp-receive';

export interface UdpUnderlayOptions {
  /** The local address to bind (IPv4 or IPv6 text; 0.0.0.0 or :: for any). */
  address: string;
  /** The local UDP port; 0 for any (see `localPort` for the one the kernel chose). */
  port: number;
  /** Cells in the receive ring (a power of two); default 1024. */
  ringCells?: number;
  /** The largest datagram taken (VXLAN header + inner frame); longer ones are counted oversize. Default 9224 (a 9216-byte slot). */
  maxDatagramLength?: number;
  /** SO_RCVBUF and SO_SNDBUF in bytes (SO_*BUFFORCE first, which works as root); default 4 MiB. */
  socketBuffer?: number;
  /** Send runs of equal-sized datagrams as one UDP_SEGMENT message (default true where the kernel has it). */
  gso?: boolean;
  /** Take coalesced datagrams with UDP_GRO and split them (default true where the kernel has it). */
  gro?: boolean;
  /** Told once per kind of event worth a log line (GSO refused by the kernel, …); never per packet. */
  onNotice?: (message: string) => void;
  /**
   * SO_REUSEPORT: several sockets (of this process) bind the same address and port, and the kernel
   * spreads the datagrams over them by their addresses and ports (one remote flow, one socket).
   * Every socket sharing the port must set it. Default false.
   */
  reusePort?: boolean;
  /** Read the socket in the calling thread with this poller instead of a reader worker (a queue worker's run to completion). */
  poller?: InlinePoller;
}

export type { UdpOffloadCounters } from './udp-counters';

export { GSO_MAX_BYTES, GSO_MAX_SEGMENTS, SEND_CAPACITY } from './udp-send';
export { ACCEPTED_CACHE_LIMIT, MAX_ENDPOINT_ID, REFUSED_CACHE_LIMIT } from './source-table';

/** Default ring cells with GRO: each cell may hold up to 64 datagrams, and is 64 KiB. */
const GRO_RING_CELLS = 512;
/**
 * Ring cells when an InlinePoller reads the socket: what it reads (one recvmmsg, 64 datagrams) is
 * switched before it reads again, so a small ring is enough and stays in the core's cache. A ring
 * sized for a reader thread running ahead (512 cells of 64 KiB: 32 MiB) puts every read in cold
 * memory: forwarder ↔ forwarder TCP moves 4–10% more with 128 cells than with 512 (interleaved runs).
 */
const INLINE_RING_CELLS = 128;
const DEFAULT_SOCKET_BUFFER = 4 << 20;
const DEFAULT_MAX_DATAGRAM = 9216 + VXLAN_HEADER_LEN;

export class UdpUnderlay implements Underlay {
  readonly family: 4 | 6;
  readonly localAddress: string;
  readonly localPort: number;
  readonly counters: UnderlayCounters = { received: 0, sent: 0, unknownSource: 0, oversize: 0, sendErrors: 0 };
  /** The socket (for diagnostics and tests; the forwarder never needs it). */
  readonly fd: number;
  readonly offloadCounters: UdpOffloadCounters = { gsoMessages: 0, gsoDatagrams: 0, gsoFallbacks: 0, groMessages: 0, groDatagrams: 0, superPackets: 0 };
  /** UDP_GRO is on: received cells may hold coalesced datagrams. */
  readonly gro: boolean;
  private readonly ring: Ring;
  /** The fd, the ring and the reader worker's life cycle. */
  private readonly reader: FdReader<UnderlayEvents>;

  private readonly poller: InlinePoller | undefined;
  /** Endpoint ids ↔ sockaddrs. */
  private readonly sources: SourceTable;
  /** The send path. */
  private readonly sender: UdpSender;
  /** The receive paths: the socket's, the tunnel TAP's (attachTunnel), and the slots a receive fills. */
  private readonly socketReceiver: SocketReceiver;
  private tunnelReceiver: TunnelReceiver | undefined;
  private tunnel: TunnelGsoTap | undefined;
  private readonly delivery: Delivery;

  private constructor(fd: number, family: 4 | 6, localAddress: string, localPort: number, ringCells: number, cellSize: number,
    offload: { gso: boolean; gro: boolean; maxDatagram: number; onNotice?: (message: string) => void; poller?: InlinePoller }) {
    this.fd = fd;
    this.family = family;
    this.localAddress = localAddress;
    this.localPort = localPort;
    this.gro = offload.gro;
    this.poller = offload.poller;
    this.ring = new Ring(ringCells, cellSize, offload.poller === undefined);
    this.reader = new FdReader(fd, this.ring, `UdpUnderlay ${localAddress}:${localPort}`);
    this.sources = new SourceTable(family, localAddress, (endpoint) => {
      const events = this.reader.events;
      return events === undefined ? -1 : events.admit(endpoint);
    });
    const sockaddrLength = family === 4 ? C.SOCKADDR_IN_SIZE : C.SOCKADDR_IN6_SIZE;
    this.socketReceiver = new SocketReceiver(this.ring, this.reader, this.sources, offload.gro, this.counters, this.offloadCounters);
    this.delivery = new Delivery(this.counters, this.offloadCounters, offload.maxDatagram);
    this.sender = new UdpSender(fd, sockaddrLength, offload.gso, this.sources.endpointAddress, this.counters, this.offloadCounters, offload.onNotice);
  }

  /** UDP GSO is in use (false when turned off, unsupported, or refused by the kernel at run time). */
  get gso(): boolean {
    return this.sender.gsoOn;
  }

  /** Make, tune and bind the socket. Throws an Error with the errno's name as `code` (EADDRINUSE, …). */
  static open(options: UdpUnderlayOptions): UdpUnderlay {
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    const { address, port } = options;
    if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) throw new RangeError(`port must be an integer in 0..65535, got ${String(port)}`);
    parseIp(address); // text that is no IP address is refused before a socket is made
    const maxDatagram = options.maxDatagramLength ?? DEFAULT_MAX_DATAGRAM;
    if (!(Number.isInteger(maxDatagram) && maxDatagram >= 64 && maxDatagram <= 65535)) {
      throw new RangeError(`maxDatagramLength must be an integer in 64..65535, got ${String(maxDatagram)}`);
    }
    const socket = openUdpSocket({
      address, port, socketBuffer: options.socketBuffer ?? DEFAULT_SOCKET_BUFFER,
      gso: options.gso !== false, gro: options.gro !== false, reusePort: options.reusePort === true,
    });
    // A cell holds 64 KiB even without GRO: the kernel hands a UDP-tunnel GSO packet from a peer
    // on this host (a kernel vxlan whose veth has Linux's default offloads) to any UDP socket
    // whole, not cut (udp_unexpected_gso), and a smaller cell would truncate, so lose, it.
    const ringCells = options.ringCells ?? (options.poller !== undefined ? INLINE_RING_CELLS : GRO_RING_CELLS);
    try {
      return new UdpUnderlay(socket.fd, socket.family, address, socket.localPort, ringCells, GRO_CELL_SIZE,
        { gso: socket.gso, gro: socket.gro, maxDatagram, onNotice: options.onNotice, poller: options.poller });
    } catch (error) {
      C.libc().close(socket.fd);
      throw error;
    }
  }

  /** Datagrams the kernel reported errors for on receive (ICMP errors of earlier sends), skipped. */
  get receiveErrors(): number {
    return Atomics.load(this.ring.control, CTRL_ERRORS);
  }

  /**
   * Read `tap` too (before start): the VXLAN packets an IngressRedirect hands it. The TAP stays
   * its opener's to close. Of this underlay's family, and the TAP's local address must be this underlay's.
   */
  attachTunnel(tap: TunnelGsoTap): void {
    if (this.reader.events !== undefined) throw new Error('attachTunnel must be called before start');
    if (tap.family !== this.family) throw new Error(`the tunnel TAP carries IPv${tap.family} VXLAN; this underlay is IPv${this.family}`);
    this.tunnel = tap;
    this.tunnelReceiver = new TunnelReceiver(tap, this.family, this.localPort, this.sources, this.counters, () => this.reader.events);
  }

  start(events: UnderlayEvents): void {
    this.reader.start(events, 'datagrams', `udp ${this.localAddress}:${this.localPort}`, { gro: this.gro, poller: this.poller });
    this.tunnel?.start(events);
  }

  setEndpoint(id: number, endpoint: Endpoint | undefined): void {
    this.sources.setEndpoint(id, endpoint);
  }

  receive(batch: PacketBatch, first: number, max: number, sources: Int32Array): number {
    const d = this.delivery;
    d.begin(batch, first, max, sources);
    const count = this.socketReceiver.receive(d);
    return this.tunnelReceiver === undefined || count === max ? count : count + this.tunnelReceiver.receive(d);
  }

  transmit(batch: PacketBatch, slots: Int32Array, destinations: Int32Array, count: number): number {
    if (this.reader.closed) {
      this.counters.sendErrors += count;
      return 0;
    }
    return this.sender.transmit(batch, slots, destinations, count);
  }

  close(): Promise<void> {
    return this.reader.close();
  }
}
