/**
 * UdpUnderlay: VXLAN datagrams over a plain UDP socket (IPv4 or IPv6), made and driven through
 * koffi. The kernel writes the outer IP and UDP headers; the batch kernels only the 8-byte VXLAN
 * header in front of each inner frame.
 *
 * Receiving: a reader worker takes datagrams off the nonblocking socket with recvmmsg() straight
 * into a Ring in a SharedArrayBuffer (payload and source sockaddr per cell); `receive` copies
 * them into PacketBatch slots and turns each source into the endpoint id the forwarder gave it,
 * through a Map keyed by a small integer hash of the source (verified byte for byte against the
 * endpoint), so no address text is made per datagram. Sources the forwarder refused are
 * remembered in a bounded cache (cleared when full), so garbage from many sources costs a hash
 * and a lookup each and never grows memory without bound.
 *
 * Sending: `transmit` makes ONE sendmmsg() per call (per SEND_CAPACITY datagrams) on the main
 * thread, with iovecs pointing straight into the batch's memory (its address is taken per call:
 * WASM memory moves when it grows) and msg_name pointing at the destination's sockaddr, built
 * once in setEndpoint. The mmsghdr and iovec arrays are built once; only a few words per datagram
 * are written per call.
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
import { GSO_TCPV4, GSO_TCPV6, SLOT_HEADROOM, TSO_LAST, type Kernels } from '../../wasm/abi';
import { formatIpv4, formatIpv6, parseIp } from '../../wire/address';
import {
  VXLAN_HEADER_LEN, datagramLength, datagramStart,
  emptySuperFrame, type Endpoint, type SuperFrame, type Underlay, type UnderlayCounters, type UnderlayEvents,
} from '../contracts';
import * as C from '../io/libc';
import { GRO_SEGMENT_WORD, PACKED_FRAME_READ, PACKED_RECORD_HEADER } from '../io/reader-worker';
import { ReaderPort } from '../io/reader-port';
import type { InlinePoller } from '../io/inline-reader';
import { CTRL_ERRORS, Ring } from '../io/ring';
import { TUNNEL_BAD_CHECKSUM, TUNNEL_PACKET, parseTunnelPacket, type TunnelGsoTap, type TunnelPacket } from './tunnel-gso';

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

/** GSO and GRO counters (datagrams are counted in `counters` as usual). */
export interface UdpOffloadCounters {
  /** Messages sent with UDP_SEGMENT (each carries 2..GSO_MAX_SEGMENTS datagrams). */
  gsoMessages: number;
  /** Datagrams those messages carried. */
  gsoDatagrams: number;
  /** GSO messages the kernel refused, sent again as plain datagrams. */
  gsoFallbacks: number;
  /** Coalesced datagrams received (UDP_GRO) and the datagrams split out of them. */
  groMessages: number;
  groDatagrams: number;
  /** Whole UDP-tunnel GSO packets received (a peer on this host that nothing cut), split here. */
  superPackets: number;
}

/** Datagrams one sendmmsg() call carries (a larger transmit makes more calls). */
export const SEND_CAPACITY = 256;
/** Refused sources remembered before the cache is cleared. */
export const REFUSED_CACHE_LIMIT = 4096;
/** Accepted sources (address and source port) remembered before the cache is cleared. */
export const ACCEPTED_CACHE_LIMIT = 65_536;
/** Datagrams in one GSO message: the kernel's UDP_MAX_SEGMENTS is 64 on older kernels (128 later). */
export const GSO_MAX_SEGMENTS = 64;
/** Bytes in one GSO message: the largest UDP payload over IPv4 (65535 - 20 - 8). */
export const GSO_MAX_BYTES = 65507;
/** A receive cell with GRO holds any coalesced datagram (at most 65527 bytes of UDP payload). */
const GRO_CELL_SIZE = 65536;
/** Where a received datagram starts in its slot: the VXLAN header right in front of the inner frame (datagramStart). */
const DATAGRAM_OFFSET = SLOT_HEADROOM - VXLAN_HEADER_LEN;

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
 * A super-packet being split into slots, per ring it came from (the socket's, a tunnel TAP's): the
 * segments delivered so far (a batch that fills up leaves the rest for the next receive), and the
 * staging area in each kernels' memory its inner frame is copied to for tsoSplit.
 */
interface SplitState {
  progress: number;
  stagedFor: Kernels | undefined;
  stagings: Map<Kernels, number>;
}

function splitState(): SplitState {
  return { progress: 0, stagedFor: undefined, stagings: new Map() };
}

/** The staging area in `kernels`' memory, reserved on first use (ask before reading batch.bytes: reserving may grow the memory). */
function stagingFor(state: SplitState, kernels: Kernels): number {
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
/** Whole super-packets (up to 64 KB each) a receive hands the forwarder before it returns. */
const WHOLE_PER_RECEIVE = 16;
/** Default ring cells with GRO: each cell may hold up to 64 datagrams, and is 64 KiB. */
const GRO_RING_CELLS = 512;
/**
 * Ring cells when an InlinePoller reads the socket: what it reads (one recvmmsg, 64 datagrams) is
 * switched before it reads again, so a small ring is enough and stays in the core's cache. A ring
 * sized for a reader thread running ahead (512 cells of 64 KiB: 32 MiB) made every read land in
 * cold memory; with 128, forwarder ↔ forwarder moved 4–10% more in an interleaved A/B.
 */
const INLINE_RING_CELLS = 128;
/** Endpoint ids are small integers: 0..MAX_ENDPOINT_ID. */
export const MAX_ENDPOINT_ID = 1 << 20;
const ENDPOINT_CHUNK = 64;
const DEFAULT_SOCKET_BUFFER = 4 << 20;
const DEFAULT_MAX_DATAGRAM = 9216 + VXLAN_HEADER_LEN;

/** A 31-bit keyed hash of a source (address words, port): a small-integer Map key, never a heap number or string. */
function sourceHash(seed: number, w0: number, w1: number, w2: number, w3: number, port: number): number {
  let h = Math.imul(seed ^ w0, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 15) ^ w1, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ w2, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ w3, 0x27d4eb2f);
  h = Math.imul(h ^ (h >>> 15) ^ port, 0x165667b1);
  return (h ^ (h >>> 16)) & 0x7fffffff;
}

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
  private gsoOn: boolean;
  /** Runs of segments longer than this go as plain datagrams (lowered when the kernel says EINVAL). */
  private gsoSegmentLimit = GSO_MAX_BYTES;
  private readonly onNotice: ((message: string) => void) | undefined;
  private readonly maxDatagram: number;
  /** Of the cell at the ring's tail: the offset of the next datagram to split out (GRO), or 0. */
  private cellOffset = 0;

  private readonly ring: Ring;
  private readonly sockaddrLength: number;
  private readonly seed = (Math.random() * 0x7fffffff) | 0;
  /** The fd, the ring and the reader worker's life cycle. */
  private readonly port: ReaderPort<UnderlayEvents>;

  // The send arena, in memory that never moves: SEND_CAPACITY mmsghdrs, as many iovecs, as many
  // UDP_SEGMENT control messages (one per mmsghdr, its msg_control, given a length only when used).
  private readonly arenaWords: Uint32Array;
  private readonly arenaAddress: number;
  /** Per message of the send being made: its datagrams, and the position in `slots` of its first. */
  private readonly messageDatagrams = new Int32Array(SEND_CAPACITY);
  private readonly messageStart = new Int32Array(SEND_CAPACITY);
  /** Set by flush() when the kernel refused a GSO message: the position to send again from, or -1. */
  private resumeAt = -1;

  // Endpoints by id: the address of the destination sockaddr in the pool (what transmit sends to).
  private readonly endpointChunks: { bytes: Uint8Array; address: number }[] = [];
  private readonly endpointAddress: number[] = [];
  /**
   * Sources seen, by hash: the id the forwarder gave each and its exact words (address, port) to
   * check the hash against. A source is not an endpoint's destination: a Linux VTEP sends from a
   * per-flow source port, so many sources map to one id, whose destination port stays the VXLAN
   * port. Bounded: cleared when full, then refilled by admit() on the next datagrams.
   */
  private readonly accepted = new Map<number, { id: number; words: Int32Array }>();
  private readonly refused = new Map<number, true>();
  private readonly poller: InlinePoller | undefined;
  /** Whole super-packets being split: the socket's, the tunnel TAP's. */
  private readonly socketSplit = splitState();
  private readonly tunnelSplit = splitState();
  /** The tunnel TAP read alongside the socket (attachTunnel), and what parseTunnelPacket found in its first waiting packet. */
  private tunnel: TunnelGsoTap | undefined;
  /** Of the tunnel ring's first waiting cell: the offset of the next record to take. */
  private tunnelOffset = 0;
  /** How far into the current tunnel packet's burst (USO) the datagrams were taken; 0: not started. */
  private tunnelBurstOffset = 0;
  /** Slots the last deliverRun filled. */
  private runDelivered = 0;
  private readonly tunnelPacket: TunnelPacket = { vxlanAt: 0, payloadLength: 0, sourceAt: 0, sourcePort: 0, gsoType: 0, gsoSize: 0, csumStart: -1, csumOffset: 0, udpSeed: -1, burstSegment: 0 };
  /** What superPacket() is offered (one object, refilled per super-packet). */
  private readonly offered: SuperFrame = emptySuperFrame();

  private constructor(fd: number, family: 4 | 6, localAddress: string, localPort: number, ringCells: number, cellSize: number,
    offload: { gso: boolean; gro: boolean; maxDatagram: number; onNotice?: (message: string) => void; poller?: InlinePoller }) {
    this.fd = fd;
    this.family = family;
    this.localAddress = localAddress;
    this.localPort = localPort;
    this.gsoOn = offload.gso;
    this.gro = offload.gro;
    this.maxDatagram = offload.maxDatagram;
    this.onNotice = offload.onNotice;
    this.poller = offload.poller;
    this.sockaddrLength = family === 4 ? C.SOCKADDR_IN_SIZE : C.SOCKADDR_IN6_SIZE;
    this.ring = new Ring(ringCells, cellSize, offload.poller === undefined);
    this.port = new ReaderPort(fd, this.ring, `UdpUnderlay ${localAddress}:${localPort}`);
    const arena = new SharedArrayBuffer(SEND_CAPACITY * (C.MMSGHDR_SIZE + C.IOVEC_SIZE + C.CMSG_SPACE_INT));
    this.arenaWords = new Uint32Array(arena);
    this.arenaAddress = C.addressOf(new Uint8Array(arena));
    const iovs = SEND_CAPACITY * C.MMSGHDR_SIZE;
    const cmsgs = iovs + SEND_CAPACITY * C.IOVEC_SIZE;
    for (let k = 0; k < SEND_CAPACITY; k++) {
      const m = k * C.MMSGHDR_SIZE;
      C.writePointer(this.arenaWords, m + C.MSG_IOV, this.arenaAddress + iovs + k * C.IOVEC_SIZE);
      C.writePointer(this.arenaWords, m + C.MSG_IOVLEN, 1);
      // Each message's UDP_SEGMENT cmsg, fixed but for the u16 size; msg_controllen 0 leaves it unused.
      const cm = cmsgs + k * C.CMSG_SPACE_INT;
      C.writePointer(this.arenaWords, m + C.MSG_CONTROL, this.arenaAddress + cm);
      C.writePointer(this.arenaWords, cm + C.CMSG_LEN_OFFSET, C.CMSG_DATA + 2);
      this.arenaWords[(cm + C.CMSG_LEVEL) >>> 2] = C.SOL_UDP;
      this.arenaWords[(cm + C.CMSG_TYPE) >>> 2] = C.UDP_SEGMENT;
    }
  }

  /** UDP GSO is in use (false when turned off, unsupported, or refused by the kernel at run time). */
  get gso(): boolean {
    return this.gsoOn;
  }

  /** Make, tune and bind the socket. Throws an Error with the errno's name as `code` (EADDRINUSE, …). */
  static open(options: UdpUnderlayOptions): UdpUnderlay {
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    const { address, port } = options;
    if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) throw new RangeError(`port must be an integer in 0..65535, got ${String(port)}`);
    const parsed = parseIp(address);
    const maxDatagram = options.maxDatagramLength ?? DEFAULT_MAX_DATAGRAM;
    if (!(Number.isInteger(maxDatagram) && maxDatagram >= 64 && maxDatagram <= 65535)) {
      throw new RangeError(`maxDatagramLength must be an integer in 64..65535, got ${String(maxDatagram)}`);
    }
    const socketBuffer = options.socketBuffer ?? DEFAULT_SOCKET_BUFFER;
    const libc = C.libc();
    const domain = parsed.version === 4 ? C.AF_INET : C.AF_INET6;
    const fd = libc.socket(domain, C.SOCK_DGRAM | C.SOCK_NONBLOCK | C.SOCK_CLOEXEC, 0);
    if (fd < 0) throw C.syscallError('socket(UDP)', C.errno());
    try {
      const value = new Uint8Array(4);
      const setInt = (level: number, name: number, v: number): boolean => {
        new DataView(value.buffer).setInt32(0, v, true);
        return libc.setsockopt(fd, level, name, value, 4) === 0;
      };
      // IPv6 only: an IPv4 source would arrive as ::ffff:a.b.c.d, of the other family.
      if (parsed.version === 6) setInt(C.IPPROTO_IPV6, C.IPV6_V6ONLY, 1);
      if (options.reusePort === true && !setInt(C.SOL_SOCKET, C.SO_REUSEPORT, 1)) throw C.syscallError('setsockopt(SO_REUSEPORT)', C.errno());
      // Bigger buffers ride out bursts while the main thread is busy; FORCE passes rmem_max as root.
      if (!setInt(C.SOL_SOCKET, C.SO_RCVBUFFORCE, socketBuffer)) setInt(C.SOL_SOCKET, C.SO_RCVBUF, socketBuffer);
      if (!setInt(C.SOL_SOCKET, C.SO_SNDBUFFORCE, socketBuffer)) setInt(C.SOL_SOCKET, C.SO_SNDBUF, socketBuffer);
      const sockaddr = new Uint8Array(C.SOCKADDR_ROOM);
      const length = C.writeSockaddr(sockaddr, 0, parsed.bytes, port);
      if (libc.bind(fd, sockaddr, length) !== 0) {
        const code = C.errno();
        const error = C.syscallError(`binding UDP ${parsed.version === 6 ? `[${address}]` : address}:${port}`, code);
        throw error;
      }
      const bound = new Uint8Array(C.SOCKADDR_ROOM);
      const boundLength = new Uint32Array([C.SOCKADDR_ROOM]);
      if (libc.getsockname(fd, bound, boundLength) !== 0) throw C.syscallError('getsockname', C.errno());
      const localPort = (bound[2] << 8) | bound[3];
      // GSO: the kernel has UDP_SEGMENT when it answers for the option (an older one would ignore
      // the cmsg and send a run as one long datagram). GRO: the option is taken.
      let gso = options.gso !== false;
      if (gso) {
        const out = new Uint8Array(4);
        gso = libc.getsockopt(fd, C.SOL_UDP, C.UDP_SEGMENT, out, new Uint32Array([4])) === 0;
      }
      const gro = options.gro !== false && setInt(C.SOL_UDP, C.UDP_GRO, 1);
      // A cell holds 64 KiB even without GRO: the kernel hands a UDP-tunnel GSO packet from a peer
      // on this host (a kernel vxlan whose veth has Linux's default offloads) to any UDP socket
      // whole, not cut (udp_unexpected_gso), and a smaller cell would truncate, so lose, it.
      const ringCells = options.ringCells ?? (options.poller !== undefined ? INLINE_RING_CELLS : GRO_RING_CELLS);
      return new UdpUnderlay(fd, parsed.version, address, localPort, ringCells, GRO_CELL_SIZE,
        { gso, gro, maxDatagram, onNotice: options.onNotice, poller: options.poller });
    } catch (error) {
      libc.close(fd);
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
    if (this.port.events !== undefined) throw new Error('attachTunnel must be called before start');
    if (tap.family !== this.family) throw new Error(`the tunnel TAP carries IPv${tap.family} VXLAN; this underlay is IPv${this.family}`);
    this.tunnel = tap;
  }

  start(events: UnderlayEvents): void {
    this.port.start(events, 'datagrams', `udp ${this.localAddress}:${this.localPort}`, { gro: this.gro, poller: this.poller });
    this.tunnel?.start(events);
  }

  setEndpoint(id: number, endpoint: Endpoint | undefined): void {
    if (!(Number.isInteger(id) && id >= 0 && id <= MAX_ENDPOINT_ID)) {
      throw new RangeError(`endpoint id must be an integer in 0..${MAX_ENDPOINT_ID}, got ${String(id)}`);
    }
    if (this.endpointAddress[id]) {
      // Forget every source that mapped to this id: the id may be given to another endpoint.
      for (const [hash, source] of this.accepted) if (source.id === id) this.accepted.delete(hash);
      this.endpointAddress[id] = 0;
    }
    if (endpoint === undefined) return;
    const parsed = parseIp(endpoint.address);
    if (parsed.version !== this.family) {
      throw new Error(`endpoint ${endpoint.address} is IPv${parsed.version} but this underlay is IPv${this.family} (${this.localAddress})`);
    }
    const port = endpoint.port;
    if (!(Number.isInteger(port) && port >= 1 && port <= 65535)) throw new RangeError(`endpoint port must be an integer in 1..65535, got ${String(port)}`);
    const chunkIndex = Math.floor(id / ENDPOINT_CHUNK);
    while (this.endpointChunks.length <= chunkIndex) {
      // Stable memory for the sockaddrs sendmmsg points at: a SharedArrayBuffer never moves.
      const bytes = new Uint8Array(new SharedArrayBuffer(ENDPOINT_CHUNK * C.SOCKADDR_ROOM));
      this.endpointChunks.push({ bytes, address: C.addressOf(bytes) });
    }
    const chunk = this.endpointChunks[chunkIndex];
    const offset = (id % ENDPOINT_CHUNK) * C.SOCKADDR_ROOM;
    C.writeSockaddr(chunk.bytes, offset, parsed.bytes, port);
    // The same words receive() reads from a source sockaddr (little-endian i32s of the address).
    const view = new DataView(chunk.bytes.buffer, offset, C.SOCKADDR_ROOM);
    const words = new Int32Array(5);
    if (this.family === 4) words[0] = view.getInt32(4, true);
    else for (let j = 0; j < 4; j++) words[j] = view.getInt32(8 + 4 * j, true);
    words[4] = port;
    this.endpointAddress[id] = chunk.address + offset;
    this.remember(sourceHash(this.seed, words[0], words[1], words[2], words[3], port), id, words);
  }

  /** Map a source (its hash and exact words) to an endpoint id for later datagrams. */
  private remember(hash: number, id: number, words: Int32Array): void {
    if (this.accepted.size >= ACCEPTED_CACHE_LIMIT) this.accepted.clear();
    this.accepted.set(hash, { id, words });
    this.refused.delete(hash);
  }

  receive(batch: PacketBatch, first: number, max: number, sources: Int32Array): number {
    const count = this.receiveSocket(batch, first, max, sources);
    return this.tunnel === undefined || count === max ? count : count + this.receiveTunnel(this.tunnel, batch, first + count, max - count, sources);
  }

  private receiveSocket(batch: PacketBatch, first: number, max: number, sources: Int32Array): number {
    const ring = this.ring;
    const available = ring.available();
    const limit = Math.min(this.maxDatagram, batch.slotStride - DATAGRAM_OFFSET);
    if (this.gro && available > 0) stagingFor(this.socketSplit, batch.kernels);
    const bytes = batch.bytes;
    const segmentWords = ring.sourceWords;
    const gro = this.gro;
    const recordWords = C.SOCKADDR_ROOM >>> 2;
    let groMessages = 0;
    let groDatagrams = 0;
    let count = 0;
    let consumed = 0;
    while (count < max && consumed < available) {
      const k = ring.index(consumed);
      const length = ring.lengths[k];
      const segment = gro ? segmentWords[k * recordWords + GRO_SEGMENT_WORD] : 0;
      const superType = length > limit || (segment > 0 && segment < length) ? tunnelSuperPacket(ring.bytes, ring.cellStart(k), length) : 0;
      if (superType !== 0) {
        // One whole VXLAN super-packet (see splitSuperPacket), not a run of datagrams.
        const id = this.sourceId(k);
        if (id < 0) {
          this.counters.unknownSource++;
          consumed++;
          continue;
        }
        const written = this.splitSuperPacket(this.socketSplit, ring, batch, ring.cellStart(k), length, superType, segment, id, first + count, max - count, sources);
        count += written;
        if (this.socketSplit.progress !== 0) break; // the slots ran out: the rest goes first next time
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
        offset = this.deliverRun(ring, batch, ring.cellStart(k), length, offset, segment, limit, id, first + count, max - count, sources);
        count += this.runDelivered;
        groDatagrams += this.runDelivered;
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
      this.deliver(ring, batch, bytes, first + count, ring.cellStart(k), length, id, sources);
      count++;
    }
    this.offloadCounters.groMessages += groMessages;
    this.offloadCounters.groDatagrams += groDatagrams;
    this.counters.received += count;
    this.port.release(consumed);
    return count;
  }

  /**
   * A UDP-tunnel GSO packet that reached the socket whole: a peer on this host sent it (a kernel
   * vxlan whose veth has tx offload on, or a forwarder with --tunnel-gso) and nothing cut it. Its
   * payload is one VXLAN header and one TCP super-frame whose checksum is the pseudo-header sum.
   * The kernel gives no segment size for it (no UDP_GRO message), so the segments are as large as
   * a datagram may be (an inner IP packet of at most the MTU). They are made here (tsoSplit, as for a TAP
   * super-frame), each behind a copy of the VXLAN header, so the forwarder sees datagrams as
   * usual. Returns the slots filled; `state.progress` holds the segments done while slots run out.
   */
  private splitSuperPacket(
    state: SplitState, ring: Ring, batch: PacketBatch, start: number, length: number, gsoType: number, segment: number,
    id: number, slot: number, room: number, sources: Int32Array,
  ): number {
    const kernels = batch.kernels;
    const innerLength = length - VXLAN_HEADER_LEN;
    const staging = stagingFor(state, kernels);
    const bytes = batch.bytes;
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
    const result = kernels.tsoSplit(
      staging, innerLength, gsoType, gsoSize, l4,
      batch.slotsPtr, batch.slotStride, batch.metaPtr, slot, room, state.progress,
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
      sources[i] = id;
    }
    state.progress = (result & TSO_LAST) !== 0 ? 0 : state.progress + written;
    if (state.progress === 0) this.offloadCounters.superPackets++;
    return written;
  }

  /**
   * Packets from the tunnel TAP (see attachTunnel): the outer headers checked (parseTunnelPacket),
   * a super-packet offered whole to the forwarder or else split, a plain packet into a slot as its
   * UDP payload, its outer UDP checksum verified or its inner partial checksum completed as the
   * virtio-net header says. Returns the slots filled.
   */
  private receiveTunnel(tap: TunnelGsoTap, batch: PacketBatch, first: number, max: number, sources: Int32Array): number {
    const ring = tap.ring;
    const available = ring.available();
    const kernels = batch.kernels;
    if (available > 0) stagingFor(this.tunnelSplit, kernels);
    // After the staging area is reserved (that may grow, so move, the memory).
    const bytes = batch.bytes;
    const limit = Math.min(this.maxDatagram, batch.slotStride - DATAGRAM_OFFSET);
    const packet = this.tunnelPacket;
    const counters = tap.counters;
    const events = this.port.events;
    let count = 0;
    let consumed = 0;
    let whole = 0;
    // Whole super-packets take no slot: at most WHOLE_PER_RECEIVE a call, so the other direction gets its turn.
    while (count < max && consumed < available && whole < WHOLE_PER_RECEIVE) {
      // The ring is 'packed': records [length, packet] one after another in each cell.
      const k = ring.index(consumed);
      if (this.tunnelOffset >= ring.lengths[k]) {
        consumed++;
        this.tunnelOffset = 0;
        continue;
      }
      const record = ring.cellStart(k) + this.tunnelOffset;
      const length = ring.bytes.readInt32LE(record);
      // Where the next record starts: taken once this packet is done with.
      const next = this.tunnelOffset + PACKED_RECORD_HEADER + (((length < 0 ? PACKED_FRAME_READ : length) + 3) & ~3);
      if (this.tunnelSplit.progress === 0 && this.tunnelBurstOffset === 0) {
        // A new packet (one split or taken part-way was parsed already).
        // A negative length: the reader could not fit the packet in its cell (read cut short).
        if (length < 0) {
          this.counters.oversize++;
          this.tunnelOffset = next;
          continue;
        }
        const verdict = parseTunnelPacket(ring.bytes, record + PACKED_RECORD_HEADER, length, tap.local, this.localPort, packet);
        if (verdict !== TUNNEL_PACKET) {
          if (verdict === TUNNEL_BAD_CHECKSUM) counters.badChecksum++;
          else counters.malformed++;
          this.tunnelOffset = next;
          continue;
        }
        counters.received++;
      }
      const source = packet.sourceAt;
      const b = ring.bytes;
      // The address words as a sockaddr's are read (little-endian i32s); IPv4 has the first only.
      const id = this.family === 4
        ? this.lookupSource(b.readInt32LE(source), 0, 0, 0, packet.sourcePort, b, source)
        : this.lookupSource(b.readInt32LE(source), b.readInt32LE(source + 4), b.readInt32LE(source + 8), b.readInt32LE(source + 12), packet.sourcePort, b, source);
      if (id < 0) {
        this.counters.unknownSource++;
        this.tunnelSplit.progress = 0;
        this.tunnelBurstOffset = 0;
        this.tunnelOffset = next;
        continue;
      }
      if (packet.burstSegment > 0) {
        // A burst: one slot per datagram, as the socket's GRO cells are split; a batch that fills
        // up leaves the rest for the next call (tunnelBurstOffset).
        if (this.tunnelBurstOffset === 0) counters.bursts++;
        const offset = this.deliverRun(ring, batch, packet.vxlanAt, packet.payloadLength, this.tunnelBurstOffset, packet.burstSegment, limit, id, first + count, max - count, sources);
        count += this.runDelivered;
        if (offset < packet.payloadLength) {
          this.tunnelBurstOffset = offset;
          break;
        }
        this.tunnelBurstOffset = 0;
        this.tunnelOffset = next;
        continue;
      }
      if (packet.gsoType !== 0) {
        if (this.tunnelSplit.progress === 0) {
          counters.receivedWhole++;
          if (events?.superPacket !== undefined && events.superPacket(this.offer(ring, packet), packet.vxlanAt, id)) {
            this.tunnelOffset = next;
            whole++;
            continue;
          }
        }
        count += this.splitSuperPacket(this.tunnelSplit, ring, batch, packet.vxlanAt, packet.payloadLength, packet.gsoType & 0x7f, packet.gsoSize, id, first + count, max - count, sources);
        if (this.tunnelSplit.progress !== 0) break; // the slots ran out: the rest goes first next time
        this.tunnelOffset = next;
        continue;
      }
      this.tunnelOffset = next;
      if (packet.payloadLength > limit) {
        this.counters.oversize++;
        continue;
      }
      const slot = first + count;
      this.deliver(ring, batch, bytes, slot, packet.vxlanAt, packet.payloadLength, id, sources);
      const at = datagramStart(batch, slot);
      if (packet.udpSeed >= 0 && kernels.onesComplementSum(at, packet.payloadLength, packet.udpSeed) !== 0xffff) {
        counters.badChecksum++;
        continue;
      }
      if (packet.csumStart >= 0 && kernels.completeInnerChecksum(at + VXLAN_HEADER_LEN, packet.payloadLength - VXLAN_HEADER_LEN, packet.csumStart, packet.csumOffset) !== 0) {
        counters.malformed++;
        continue;
      }
      count++;
    }
    this.counters.received += count;
    tap.port.release(consumed);
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

  /**
   * A run of datagrams of `segment` bytes each (the last may be shorter) in `length` bytes at
   * `start` in `ring` (a GRO cell, a tunnel TAP burst), from `offset` on: each into the next of
   * `room` slots from `slot`, from endpoint `id`; one longer than `limit` is counted oversize.
   * Returns where it stopped (`length` when all were taken); `runDelivered` is the slots filled.
   */
  private deliverRun(
    ring: Ring, batch: PacketBatch, start: number, length: number, offset: number, segment: number, limit: number,
    id: number, slot: number, room: number, sources: Int32Array,
  ): number {
    const bytes = batch.bytes;
    let filled = 0;
    while (offset < length && filled < room) {
      const piece = Math.min(segment, length - offset);
      if (piece > limit) {
        this.counters.oversize++;
      } else {
        this.deliver(ring, batch, bytes, slot + filled, start + offset, piece, id, sources);
        filled++;
      }
      offset += piece;
    }
    this.runDelivered = filled;
    return offset;
  }

  /** Copy `length` bytes at `start` in `ring` into slot `slot` as its datagram, from endpoint `id`. */
  private deliver(ring: Ring, batch: PacketBatch, bytes: Uint8Array, slot: number, start: number, length: number, id: number, sources: Int32Array): void {
    ring.bytes.copy(bytes, datagramStart(batch, slot), start, start + length);
    batch.setFrame(slot, length, DATAGRAM_OFFSET);
    sources[slot] = id;
  }

  /** The id of cell k's source, or -1 (refused). Text is made only for a source never seen. */
  private sourceId(k: number): number {
    const ring = this.ring;
    const o = k * C.SOCKADDR_ROOM;
    const b = ring.sourceBytes;
    const w = ring.sourceWords;
    const wi = o >>> 2;
    const port = (b[o + 2] << 8) | b[o + 3];
    let w0: number;
    let w1 = 0;
    let w2 = 0;
    let w3 = 0;
    if (this.family === 4) {
      w0 = w[wi + 1];
    } else {
      w0 = w[wi + 2];
      w1 = w[wi + 3];
      w2 = w[wi + 4];
      w3 = w[wi + 5];
    }
    return this.lookupSource(w0, w1, w2, w3, port, b, this.family === 4 ? o + 4 : o + 8);
  }

  /**
   * The id of the source with address words w0..w3 (the address bytes as little-endian i32s, as a
   * sockaddr's are read) and `port`, or -1; its address bytes are at `addressAt` in `addressBytes`.
   */
  private lookupSource(w0: number, w1: number, w2: number, w3: number, port: number, addressBytes: Uint8Array, addressAt: number): number {
    const hash = sourceHash(this.seed, w0, w1, w2, w3, port);
    const source = this.accepted.get(hash);
    if (source !== undefined) {
      const e = source.words;
      if (e[0] === w0 && e[1] === w1 && e[2] === w2 && e[3] === w3 && e[4] === port) return source.id;
    }
    if (this.refused.has(hash)) return -1;
    return this.admit(hash, Int32Array.of(w0, w1, w2, w3, port), addressBytes, addressAt);
  }

  private admit(hash: number, words: Int32Array, b: Uint8Array, at: number): number {
    const port = words[4];
    const address = this.family === 4 ? formatIpv4(b, at) : formatIpv6(b, at);
    const endpoint: Endpoint = { address, port };
    const events = this.port.events;
    const id = events === undefined ? -1 : events.admit(endpoint);
    if (Number.isInteger(id) && id >= 0) {
      // Only the source is remembered: the endpoint's destination (set by the forwarder through
      // setEndpoint) keeps its own port, whatever port this datagram came from.
      this.remember(hash, id, words);
      return id;
    }
    if (this.refused.size >= REFUSED_CACHE_LIMIT) this.refused.clear();
    this.refused.set(hash, true);
    return -1;
  }

  transmit(batch: PacketBatch, slots: Int32Array, destinations: Int32Array, count: number): number {
    if (this.port.closed) {
      this.counters.sendErrors += count;
      return 0;
    }
    // Per call, not per datagram: WASM memory moves when it grows.
    const base = C.addressOf(batch.bytes);
    let taken = 0;
    let n = 0;
    // Positions below this were looked at already (a send resumed after a GSO refusal goes over
    // some again): their missing endpoints are counted once.
    let seen = 0;
    while (n < count) {
      const messages = this.prepare(batch, base, slots, destinations, n, count, seen);
      const end = this.preparedEnd;
      if (end > seen) seen = end;
      n = end;
      if (messages === 0) continue;
      taken += this.flush(messages);
      if (this.resumeAt >= 0) {
        n = this.resumeAt;
        this.resumeAt = -1;
      }
    }
    this.counters.sent += taken;
    return taken;
  }

  /** Where prepare() stopped in `slots` (a field, so no object is made per call). */
  private preparedEnd = 0;

  /**
   * Fill the arena with messages for positions from..count of `slots` (as many as SEND_CAPACITY
   * iovecs hold); returns the messages made and sets preparedEnd. With GSO, a run of datagrams to
   * one destination of one length (the last may be shorter) becomes one message of several iovecs.
   */
  private prepare(batch: PacketBatch, base: number, slots: Int32Array, destinations: Int32Array, from: number, count: number, seen: number): number {
    const words = this.arenaWords;
    const iovs = SEND_CAPACITY * C.MMSGHDR_SIZE;
    const nameLength = this.sockaddrLength;
    const gso = this.gsoOn;
    const segmentLimit = this.gsoSegmentLimit;
    let k = 0; // messages
    let v = 0; // iovecs
    let runName = 0;
    let runSegment = 0;
    let runBytes = 0;
    let runOpen = false; // the current message may take more datagrams
    let n = from;
    for (; n < count && v < SEND_CAPACITY; n++) {
      const i = slots[n];
      const name = this.endpointAddress[destinations[n]];
      if (!name) {
        if (n >= seen) this.counters.sendErrors++;
        continue;
      }
      const length = datagramLength(batch, i);
      if (runOpen && name === runName && length <= runSegment && runBytes + length <= GSO_MAX_BYTES) {
        const m = k - 1;
        this.messageDatagrams[m]++;
        runBytes += length;
        // A shorter datagram ends the run, as does the segment cap.
        if (length < runSegment || this.messageDatagrams[m] === GSO_MAX_SEGMENTS) runOpen = false;
      } else {
        if (k > 0) this.closeMessage(k - 1, runSegment);
        const m = k * C.MMSGHDR_SIZE;
        C.writePointer(words, m + C.MSG_NAME, name);
        words[(m + C.MSG_NAMELEN) >>> 2] = nameLength;
        C.writePointer(words, m + C.MSG_IOV, this.arenaAddress + iovs + v * C.IOVEC_SIZE);
        this.messageDatagrams[k] = 1;
        this.messageStart[k] = n;
        k++;
        runName = name;
        runSegment = length;
        runBytes = length;
        runOpen = gso && length <= segmentLimit;
      }
      const o = iovs + v * C.IOVEC_SIZE;
      C.writePointer(words, o + C.IOV_BASE, base + datagramStart(batch, i));
      words[(o + C.IOV_LEN) >>> 2] = length;
      words[((o + C.IOV_LEN) >>> 2) + 1] = 0;
      v++;
    }
    if (k > 0) this.closeMessage(k - 1, runSegment);
    this.preparedEnd = n;
    return k;
  }

  /** Message m's iovec count, and its UDP_SEGMENT cmsg when it carries more than one datagram. */
  private closeMessage(m: number, segment: number): void {
    const words = this.arenaWords;
    const at = m * C.MMSGHDR_SIZE;
    const datagrams = this.messageDatagrams[m];
    C.writePointer(words, at + C.MSG_IOVLEN, datagrams);
    if (datagrams > 1) {
      const cm = SEND_CAPACITY * (C.MMSGHDR_SIZE + C.IOVEC_SIZE) + m * C.CMSG_SPACE_INT;
      words[(cm + C.CMSG_DATA) >>> 2] = segment; // the u16, and two bytes of padding
      C.writePointer(words, at + C.MSG_CONTROLLEN, C.CMSG_SPACE_INT);
    } else {
      C.writePointer(words, at + C.MSG_CONTROLLEN, 0);
    }
  }

  /**
   * sendmmsg the first n prepared messages; returns the datagrams the kernel took and counts the
   * rest. A GSO message the kernel refuses stops the flush with resumeAt set to its first datagram.
   */
  private flush(n: number): number {
    const libc = C.libc();
    let done = 0;
    let sent = 0;
    while (done < n) {
      const r = libc.sendmmsgAt(this.fd, this.arenaAddress + done * C.MMSGHDR_SIZE, n - done, 0);
      if (r > 0) {
        for (let m = done; m < done + r; m++) {
          const datagrams = this.messageDatagrams[m];
          sent += datagrams;
          if (datagrams > 1) {
            this.offloadCounters.gsoMessages++;
            this.offloadCounters.gsoDatagrams += datagrams;
          }
        }
        done += r;
        continue;
      }
      const code = C.errno();
      if (code === C.EINTR) continue;
      if (code === C.EAGAIN || code === C.ENOBUFS) {
        // The socket buffer is full: the rest of this call is refused, not waited for.
        for (let m = done; m < n; m++) this.counters.sendErrors += this.messageDatagrams[m];
        break;
      }
      if (this.messageDatagrams[done] > 1 && (code === C.EIO || code === C.EINVAL || code === C.ENOPROTOOPT || code === C.EOPNOTSUPP)) {
        this.gsoRefused(code, done);
        this.resumeAt = this.messageStart[done];
        break;
      }
      // This message was refused (EMSGSIZE, EHOSTUNREACH, …): count it, send the rest.
      this.counters.sendErrors += this.messageDatagrams[done];
      done++;
    }
    return sent;
  }

  /** The kernel refused GSO message m: remember it (no retry per batch) and say so once. */
  private gsoRefused(code: number, m: number): void {
    this.offloadCounters.gsoFallbacks++;
    const words = this.arenaWords;
    const segment = words[(SEND_CAPACITY * (C.MMSGHDR_SIZE + C.IOVEC_SIZE) + m * C.CMSG_SPACE_INT + C.CMSG_DATA) >>> 2] & 0xffff;
    if (code === C.EINVAL && segment > 1 && this.gsoSegmentLimit === GSO_MAX_BYTES) {
      // A segment longer than the route's MTU allows: smaller ones may still go as GSO. A second
      // EINVAL (a smaller size refused too) is taken as GSO refused altogether.
      this.gsoSegmentLimit = Math.min(this.gsoSegmentLimit, segment - 1);
      this.onNotice?.(`UDP GSO refused for ${segment}-byte datagrams (EINVAL: longer than the path MTU allows?): `
        + `datagrams of ${segment} bytes or more go one by one from now on`);
    } else {
      this.gsoOn = false;
      this.onNotice?.(`UDP GSO refused by the kernel (${C.errnoName(code)}${code === C.EIO ? ': the route\'s device has no transmit checksum offload?' : ''}): `
        + 'sending datagrams one by one from now on');
    }
  }

  close(): Promise<void> {
    return this.port.close();
  }
}
