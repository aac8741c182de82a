/**
 * The UDP underlay's endpoint table, both ways: endpoint ids → the destination sockaddrs sendmmsg
 * points at (in memory that never moves), and datagram sources → endpoint ids, through a Map
 * keyed by a small integer hash of the source (verified word for word), so no address text is
 * made per datagram. Sources the forwarder refused are remembered in a bounded cache (cleared
 * when full), so garbage from many sources costs a hash and a lookup each and never grows memory
 * without bound.
 */
import { formatIpv4, formatIpv6, parseIp } from '../../wire/address';
import type { Endpoint } from '../contracts';
import * as C from '../io/libc';

/** Refused sources remembered before the cache is cleared. */
export const REFUSED_CACHE_LIMIT = 4096;
/** Accepted sources (address and source port) remembered before the cache is cleared. */
export const ACCEPTED_CACHE_LIMIT = 65_536;
/** Endpoint ids are small integers: 0..MAX_ENDPOINT_ID. */
export const MAX_ENDPOINT_ID = 1 << 20;
const ENDPOINT_CHUNK = 64;

/** A 31-bit keyed hash of a source (address words, port): a small-integer Map key, never a heap number or string. */
function sourceHash(seed: number, w0: number, w1: number, w2: number, w3: number, port: number): number {
  let h = Math.imul(seed ^ w0, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 15) ^ w1, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ w2, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ w3, 0x27d4eb2f);
  h = Math.imul(h ^ (h >>> 15) ^ port, 0x165667b1);
  return (h ^ (h >>> 16)) & 0x7fffffff;
}

export class SourceTable {
  /** By endpoint id: the address of its destination sockaddr (what transmit sends to), or 0. */
  readonly endpointAddress: number[] = [];
  private readonly endpointChunks: { bytes: Uint8Array; address: number }[] = [];
  /**
   * Sources seen, by hash: the id the forwarder gave each and its exact words (address, port) to
   * check the hash against. A source is not an endpoint's destination: a Linux VTEP sends from a
   * per-flow source port, so many sources map to one id, whose destination port stays the VXLAN
   * port. Bounded: cleared when full, then refilled by admit() on the next datagrams.
   */
  private readonly accepted = new Map<number, { id: number; words: Int32Array }>();
  private readonly refused = new Map<number, true>();
  private readonly seed = (Math.random() * 0x7fffffff) | 0;

  /**
   * @param family the underlay's: endpoints of the other are refused.
   * @param localAddress named in that refusal.
   * @param admit asked for an id for a source never seen (the forwarder's admit), or -1 while none can be given.
   */
  constructor(
    private readonly family: 4 | 6,
    private readonly localAddress: string,
    private readonly admitEndpoint: (endpoint: Endpoint) => number,
  ) {}

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
    // The same words a source sockaddr is read as (little-endian i32s of the address).
    const view = new DataView(chunk.bytes.buffer, offset, C.SOCKADDR_ROOM);
    const words = new Int32Array(5);
    if (this.family === 4) words[0] = view.getInt32(4, true);
    else for (let j = 0; j < 4; j++) words[j] = view.getInt32(8 + 4 * j, true);
    words[4] = port;
    this.endpointAddress[id] = chunk.address + offset;
    this.remember(sourceHash(this.seed, words[0], words[1], words[2], words[3], port), id, words);
  }

  /**
   * The id of the source in the sockaddr at `o` in `b` (as the reader stores them: `w` its
   * words), or -1 (refused). Text is made only for a source never seen.
   */
  sourceOfSockaddr(b: Uint8Array, w: Int32Array, o: number): number {
    const wi = o >>> 2;
    const port = (b[o + 2] << 8) | b[o + 3];
    if (this.family === 4) return this.lookupSource(w[wi + 1], 0, 0, 0, port, b, o + 4);
    return this.lookupSource(w[wi + 2], w[wi + 3], w[wi + 4], w[wi + 5], port, b, o + 8);
  }

  /**
   * The id of the source with address words w0..w3 (the address bytes as little-endian i32s, as a
   * sockaddr's are read) and `port`, or -1; its address bytes are at `addressAt` in `addressBytes`.
   */
  lookupSource(w0: number, w1: number, w2: number, w3: number, port: number, addressBytes: Uint8Array, addressAt: number): number {
    const hash = sourceHash(this.seed, w0, w1, w2, w3, port);
    const source = this.accepted.get(hash);
    if (source !== undefined) {
      const e = source.words;
      if (e[0] === w0 && e[1] === w1 && e[2] === w2 && e[3] === w3 && e[4] === port) return source.id;
    }
    if (this.refused.has(hash)) return -1;
    return this.admit(hash, Int32Array.of(w0, w1, w2, w3, port), addressBytes, addressAt);
  }

  /** Map a source (its hash and exact words) to an endpoint id for later datagrams. */
  private remember(hash: number, id: number, words: Int32Array): void {
    if (this.accepted.size >= ACCEPTED_CACHE_LIMIT) this.accepted.clear();
    this.accepted.set(hash, { id, words });
    this.refused.delete(hash);
  }

  private admit(hash: number, words: Int32Array, b: Uint8Array, at: number): number {
    const port = words[4];
    const address = this.family === 4 ? formatIpv4(b, at) : formatIpv6(b, at);
    const id = this.admitEndpoint({ address, port });
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
}
