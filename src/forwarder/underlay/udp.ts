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
 * once in setEndpoint. The mmsghdr and iovec arrays are built once; only four words per datagram
 * are written per call.
 */
import type { PacketBatch } from '../../batch/packet-batch';
import { SLOT_HEADROOM } from '../../wasm/abi';
import { formatIpv4, formatIpv6, parseIp } from '../../wire/address';
import {
  VXLAN_HEADER_LEN, datagramLength, datagramStart,
  type Endpoint, type Underlay, type UnderlayCounters, type UnderlayEvents,
} from '../contracts';
import * as C from '../io/libc';
import { ReaderWorker } from '../io/reader-worker';
import { CTRL_ERRORS, Ring } from '../io/ring';

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
}

/** Datagrams one sendmmsg() call carries (a larger transmit makes more calls). */
export const SEND_CAPACITY = 256;
/** Refused sources remembered before the cache is cleared. */
export const REFUSED_CACHE_LIMIT = 4096;
/** Accepted sources (address and source port) remembered before the cache is cleared. */
export const ACCEPTED_CACHE_LIMIT = 65_536;
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

  private readonly ring: Ring;
  private readonly sockaddrLength: number;
  private readonly seed = (Math.random() * 0x7fffffff) | 0;
  private events: UnderlayEvents | undefined;
  private reader: ReaderWorker | undefined;
  private closing: Promise<void> | undefined;

  // The send arena: SEND_CAPACITY mmsghdrs then as many iovecs, in memory that never moves.
  private readonly arenaWords: Uint32Array;
  private readonly arenaAddress: number;

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

  private constructor(fd: number, family: 4 | 6, localAddress: string, localPort: number, ringCells: number, cellSize: number) {
    this.fd = fd;
    this.family = family;
    this.localAddress = localAddress;
    this.localPort = localPort;
    this.sockaddrLength = family === 4 ? C.SOCKADDR_IN_SIZE : C.SOCKADDR_IN6_SIZE;
    this.ring = new Ring(ringCells, cellSize);
    const arena = new SharedArrayBuffer(SEND_CAPACITY * (C.MMSGHDR_SIZE + C.IOVEC_SIZE));
    this.arenaWords = new Uint32Array(arena);
    this.arenaAddress = C.addressOf(new Uint8Array(arena));
    const iovs = SEND_CAPACITY * C.MMSGHDR_SIZE;
    for (let k = 0; k < SEND_CAPACITY; k++) {
      C.writePointer(this.arenaWords, k * C.MMSGHDR_SIZE + C.MSG_IOV, this.arenaAddress + iovs + k * C.IOVEC_SIZE);
      C.writePointer(this.arenaWords, k * C.MMSGHDR_SIZE + C.MSG_IOVLEN, 1);
    }
  }

  /** Make, tune and bind the socket. Throws an Error with the errno's name as `code` (EADDRINUSE, …). */
  static open(options: UdpUnderlayOptions): UdpUnderlay {
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    const { address, port } = options;
    if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) throw new RangeError(`port must be an integer in 0..65535, got ${String(port)}`);
    const parsed = parseIp(address);
    const ringCells = options.ringCells ?? 1024;
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
      // The cell holds the largest datagram plus one byte, so a datagram that fills it is known to be cut.
      return new UdpUnderlay(fd, parsed.version, address, localPort, ringCells, maxDatagram + 1);
    } catch (error) {
      libc.close(fd);
      throw error;
    }
  }

  /** Datagrams the kernel reported errors for on receive (ICMP errors of earlier sends), skipped. */
  get receiveErrors(): number {
    return Atomics.load(this.ring.control, CTRL_ERRORS);
  }

  start(events: UnderlayEvents): void {
    if (this.events !== undefined) throw new Error('UdpUnderlay.start called twice');
    if (this.closing !== undefined) throw new Error('UdpUnderlay is closed');
    this.events = events;
    this.reader = new ReaderWorker(this.ring, this.fd, 'datagrams', `udp ${this.localAddress}:${this.localPort}`, events);
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
    const ring = this.ring;
    const available = ring.available();
    const limit = batch.slotStride - (SLOT_HEADROOM - VXLAN_HEADER_LEN);
    const bytes = batch.bytes;
    let count = 0;
    let consumed = 0;
    while (count < max && consumed < available) {
      const k = ring.index(consumed++);
      const length = ring.lengths[k];
      if (length < 0 || length > limit) {
        this.counters.oversize++;
        continue;
      }
      const id = this.sourceId(k);
      if (id < 0) {
        this.counters.unknownSource++;
        continue;
      }
      const slot = first + count;
      const at = batch.slotPointer(slot) + SLOT_HEADROOM - VXLAN_HEADER_LEN;
      const start = ring.cellStart(k);
      ring.bytes.copy(bytes, at, start, start + length);
      batch.setFrame(slot, length, SLOT_HEADROOM - VXLAN_HEADER_LEN);
      sources[slot] = id;
      count++;
    }
    ring.release(consumed);
    this.counters.received += count;
    // More waiting than asked for: wake again. Drained: ask the worker for a message next time.
    if (ring.available() > 0 || ring.idle()) this.events?.wake();
    return count;
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
    const hash = sourceHash(this.seed, w0, w1, w2, w3, port);
    const source = this.accepted.get(hash);
    if (source !== undefined) {
      const e = source.words;
      if (e[0] === w0 && e[1] === w1 && e[2] === w2 && e[3] === w3 && e[4] === port) return source.id;
    }
    if (this.refused.has(hash)) return -1;
    return this.admit(o, hash, Int32Array.of(w0, w1, w2, w3, port));
  }

  private admit(o: number, hash: number, words: Int32Array): number {
    const port = words[4];
    const b = this.ring.sourceBytes;
    const address = this.family === 4 ? formatIpv4(b, o + 4) : formatIpv6(b, o + 8);
    const endpoint: Endpoint = { address, port };
    const id = this.events === undefined ? -1 : this.events.admit(endpoint);
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
    if (this.closing !== undefined) {
      this.counters.sendErrors += count;
      return 0;
    }
    const words = this.arenaWords;
    const iovs = SEND_CAPACITY * C.MMSGHDR_SIZE;
    // Per call, not per datagram: WASM memory moves when it grows.
    const base = C.addressOf(batch.bytes);
    const nameLength = this.sockaddrLength;
    let taken = 0;
    let k = 0;
    for (let n = 0; n < count; n++) {
      const i = slots[n];
      const name = this.endpointAddress[destinations[n]];
      if (!name) {
        this.counters.sendErrors++;
        continue;
      }
      const m = k * C.MMSGHDR_SIZE;
      C.writePointer(words, m + C.MSG_NAME, name);
      words[(m + C.MSG_NAMELEN) >>> 2] = nameLength;
      const v = iovs + k * C.IOVEC_SIZE;
      C.writePointer(words, v + C.IOV_BASE, base + datagramStart(batch, i));
      words[(v + C.IOV_LEN) >>> 2] = datagramLength(batch, i);
      words[((v + C.IOV_LEN) >>> 2) + 1] = 0;
      if (++k === SEND_CAPACITY) {
        taken += this.flush(k);
        k = 0;
      }
    }
    if (k > 0) taken += this.flush(k);
    this.counters.sent += taken;
    return taken;
  }

  /** sendmmsg the first n prepared datagrams; returns how many the kernel took, counts the rest. */
  private flush(n: number): number {
    const libc = C.libc();
    let done = 0;
    let sent = 0;
    while (done < n) {
      const r = libc.sendmmsgAt(this.fd, this.arenaAddress + done * C.MMSGHDR_SIZE, n - done, 0);
      if (r > 0) {
        done += r;
        sent += r;
        continue;
      }
      const code = C.errno();
      if (code === C.EINTR) continue;
      if (code === C.EAGAIN || code === 105 /* ENOBUFS */) {
        // The socket buffer is full: the rest of this call is refused, not waited for.
        this.counters.sendErrors += n - done;
        break;
      }
      // This datagram was refused (EMSGSIZE, EHOSTUNREACH, …): count it, send the rest.
      this.counters.sendErrors++;
      done++;
    }
    return sent;
  }

  close(): Promise<void> {
    if (this.closing === undefined) {
      this.closing = (async () => {
        try {
          if (this.reader !== undefined) await this.reader.stop();
        } finally {
          C.libc().close(this.fd);
        }
      })();
    }
    return this.closing;
  }
}
