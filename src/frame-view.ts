/**
 * What `decapsulate` returns: a view over a frame the kernel has already checked, whose headers
 * are decoded the first time they are read and kept (smoltcp's view-over-bytes idea). Most
 * callers read `inner` and perhaps `vxlan.vni`; building every header object and four address
 * strings per frame cost them several times the kernel's own time.
 *
 * Each header, once read, is a plain object with its fields as own data properties, exactly as
 * the eager decoders make it, so `{ ...frame.ip }`, `structuredClone(frame.ip)` and
 * `JSON.stringify(frame.ip)` see every field. The frame itself keeps its headers behind getters
 * on its class: `JSON.stringify(frame)` and `console.log(frame)` go through `toJSON()` and show
 * every header, but `{ ...frame }` and `structuredClone(frame)` see no own header fields:
 * `frame.toJSON()` gives the plain object for those. (Own getters defined per object would make
 * spread work, but defining them costs about a microsecond per frame, more than the whole call.)
 *
 * The bytes are read when a header is first read: change them before that and the header shows
 * the new bytes, unchecked (`inner` has always been a view into the frame, with the same rule).
 */
import type { EthernetHeader, Ipv4Header, Ipv6Header, UdpHeader, VxlanFrame, VxlanHeader } from './types';
import type { Kernels } from './wasm/abi';
import * as ethernet from './wire/ethernet';
import * as ipv4 from './wire/ipv4';
import * as ipv6 from './wire/ipv6';
import * as udp from './wire/udp';
import * as vxlan from './wire/vxlan';

/** Node's util.inspect hook, by its registry name, so this module needs no `node:util` (browsers load it too). */
const INSPECT = Symbol.for('nodejs.util.inspect.custom');

/** From the UDP header to the VXLAN header, and from there to the inner frame. */
const VXLAN_AFTER_L4 = udp.UDP_HEADER_LEN;
const INNER_AFTER_L4 = udp.UDP_HEADER_LEN + vxlan.VXLAN_HEADER_LEN;

/**
 * The array whose views innerView makes without subarray, with its buffer and byteOffset: V8
 * reads those two through calls (about 30 ns together), and subarray reads them again on every
 * call (about 40 ns a view, against 25 for `new Uint8Array(buffer, offset, length)`). Callers
 * that decode into the same array again and again (a reused receive buffer, a batch's kernels
 * memory for decapsulateSlot) get the cheaper view; it holds a reference to that one array.
 */
let viewed: { array: Uint8Array; buffer: ArrayBufferLike; byteOffset: number } | undefined;
/** The array of the last inner view made by subarray: an array that comes twice in a row becomes `viewed`. */
let previousArray: Uint8Array | undefined;

/**
 * A view of `length` bytes of `bytes` from `at`: what `bytes.subarray(at, at + length)` gives.
 * Only plain Uint8Arrays take the cached way: subarray of a subclass (Node's Buffer) makes that
 * subclass.
 */
function innerView(bytes: Uint8Array, at: number, length: number): Uint8Array {
  if (viewed !== undefined && bytes === viewed.array) return new Uint8Array(viewed.buffer, viewed.byteOffset + at, length);
  if (bytes === previousArray && Object.getPrototypeOf(bytes) === Uint8Array.prototype) {
    viewed = { array: bytes, buffer: bytes.buffer, byteOffset: bytes.byteOffset };
  }
  previousArray = bytes;
  return bytes.subarray(at, at + length);
}

/**
 * Where each header of a checked frame starts: offsets into the bytes it lives in (a caller's
 * array, or a kernels instance's memory), as decapFrame's result record gives them plus the
 * frame's own start. Few fields, since one is made per decapsulate: VXLAN follows UDP's 8-byte
 * header, and the inner frame VXLAN's 8 bytes, so those two offsets come from the UDP one.
 */
export class DecodedFrame implements VxlanFrame {
  /**
   * The caller's array; or the kernels whose memory holds the frame (a PacketBatch slot), whose
   * `bytes` is read again on each first read, since a memory that has grown since is a new buffer.
   */
  readonly #source: Uint8Array | Kernels;
  readonly #start: number;
  readonly #l3: number;
  readonly #l4: number;
  readonly #innerLen: number;
  readonly #ipVersion: number;
  #ethernet: EthernetHeader | undefined;
  #ip: Ipv4Header | Ipv6Header | undefined;
  #udp: UdpHeader | undefined;
  #vxlan: VxlanHeader | undefined;
  #inner: Uint8Array | undefined;

  /** Offsets l3 and l4 are relative to `start`, as in decapFrame's record. */
  constructor(source: Uint8Array | Kernels, start: number, l3: number, l4: number, innerLen: number, ipVersion: number) {
    this.#source = source;
    this.#start = start;
    this.#l3 = start + l3;
    this.#l4 = start + l4;
    this.#innerLen = innerLen;
    this.#ipVersion = ipVersion;
  }

  #bytes(): Uint8Array {
    const source = this.#source;
    return source instanceof Uint8Array ? source : source.bytes;
  }

  get ethernet(): EthernetHeader {
    return (this.#ethernet ??= ethernet.decode(this.#bytes(), this.#start));
  }
  set ethernet(value: EthernetHeader) {
    this.#ethernet = value;
  }

  get ip(): Ipv4Header | Ipv6Header {
    return (this.#ip ??= this.#ipVersion === 4 ? ipv4.decode(this.#bytes(), this.#l3) : ipv6.decode(this.#bytes(), this.#l3));
  }
  set ip(value: Ipv4Header | Ipv6Header) {
    this.#ip = value;
  }

  get udp(): UdpHeader {
    return (this.#udp ??= udp.decode(this.#bytes(), this.#l4));
  }
  set udp(value: UdpHeader) {
    this.#udp = value;
  }

  get vxlan(): VxlanHeader {
    return (this.#vxlan ??= vxlan.decode(this.#bytes(), this.#l4 + VXLAN_AFTER_L4));
  }
  set vxlan(value: VxlanHeader) {
    this.#vxlan = value;
  }

  /** The inner Ethernet frame: a view into the decoded frame, not a copy. */
  get inner(): Uint8Array {
    return (this.#inner ??= innerView(this.#bytes(), this.#l4 + INNER_AFTER_L4, this.#innerLen));
  }
  set inner(value: Uint8Array) {
    this.#inner = value;
  }

  /** Every header decoded, as a plain object: what JSON.stringify shows, and what spread or structuredClone can copy. */
  toJSON(): VxlanFrame {
    return { ethernet: this.ethernet, ip: this.ip, udp: this.udp, vxlan: this.vxlan, inner: this.inner };
  }

  /** console.log / util.inspect show the plain object, as they did when decapsulate built one. */
  [INSPECT](): VxlanFrame {
    return this.toJSON();
  }
}
