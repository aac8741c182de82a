/**
 * The single-frame object API: checksums, `encapsulate` and `decapsulate`. Each call copies its
 * bytes into the active backend's workspace, runs one kernel, and reads the answer back; the
 * zero-copy batch API in src/batch/ avoids even that copy.
 */
import { DecodeError } from './errors';
import type { DecapOptions, TunnelOptions, VxlanFrame } from './types';
import {
  DECAP_ALLOW_ZERO_UDP_CHECKSUM_IPV6, DECAP_CHECK_VNI, DECAP_GBP, DECAP_STRICT, DECAP_VERIFY_CHECKSUMS,
  RESULT_INNER, RESULT_INNER_LEN, RESULT_IP_VERSION, RESULT_L3, RESULT_L4, RESULT_LAYER, RESULT_OFFSET,
  RESULT_LEN, RESULT_STATUS, RESULT_VXLAN, TEMPLATE_NEXT_ID,
} from './wasm/abi';
import { HEADROOM, MAX_FRAME_LEN, workspace } from './backend';
import { buildTunnelTemplate, optionalBoolean, type TunnelTemplate } from './batch/template';
import * as ethernet from './wire/ethernet';
import * as ipv4 from './wire/ipv4';
import * as ipv6 from './wire/ipv6';
import * as udp from './wire/udp';
import * as vxlan from './wire/vxlan';

export const DEFAULT_VXLAN_PORTS: readonly number[] = [4789, 8472];

/**
 * `data` must be a Uint8Array whose buffer is still there. A view of a transferred (detached)
 * ArrayBuffer reads as empty and fails later with an engine message; it has length 0, so only
 * empty views pay for the check. Node 20 has no `ArrayBuffer.prototype.detached`, but making a
 * view of a detached buffer throws.
 */
export function checkBytes(data: unknown, name: string): asserts data is Uint8Array {
  if (!(data instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (data.byteLength === 0 && isDetached(data.buffer)) {
    throw new TypeError(`${name} is detached: its ArrayBuffer was transferred (postMessage, structuredClone) and holds no bytes`);
  }
}

function isDetached(buffer: ArrayBufferLike): boolean {
  const detached = (buffer as { detached?: unknown }).detached;
  if (typeof detached === 'boolean') return detached;
  try {
    new Uint8Array(buffer, 0, 0);
    return false;
  } catch {
    return true;
  }
}

/** Sum `data` through the kernel in scratch-sized pieces; each piece but the last has an even length. */
function sumInPieces(data: Uint8Array, seed: number): number {
  const { kernels, scratch, scratchLen } = workspace();
  const pieceLen = scratchLen & ~1;
  let sum = seed;
  for (let at = 0; at < data.length; at += pieceLen) {
    const piece = data.subarray(at, at + pieceLen);
    kernels.bytes.set(piece, scratch);
    sum = kernels.onesComplementSum(scratch, piece.length, sum);
  }
  return sum;
}

/** Folded 16-bit ones' complement sum of `data` (network-order words) plus `seed`; not complemented. */
export function onesComplementSum(data: Uint8Array, seed = 0): number {
  checkBytes(data, 'data');
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError('seed must be an integer in 0..2^32-1');
  const { kernels, scratch, scratchLen } = workspace();
  if (data.length > scratchLen) return sumInPieces(data, seed);
  kernels.bytes.set(data, scratch);
  return kernels.onesComplementSum(scratch, data.length, seed);
}

/** The RFC 1071 Internet checksum of `data`: the value to put in a header (0..0xffff). */
export function checksum(data: Uint8Array): number {
  const { kernels, scratch, scratchLen } = workspace();
  // The common case first and lean: one copy into WASM memory, one call. Empty data (perhaps a
  // detached view) takes the checked way.
  if (data instanceof Uint8Array && data.length <= scratchLen && data.length !== 0) {
    kernels.bytes.set(data, scratch);
    return kernels.internetChecksum(scratch, data.length);
  }
  checkBytes(data, 'data');
  return ~sumInPieces(data, 0) & 0xffff;
}

/** RFC 1624 eqn. 3: the new checksum after one 16-bit word of the data changes from oldWord to newWord. */
export function updateChecksum(oldChecksum: number, oldWord: number, newWord: number): number {
  for (const [name, value] of [['oldChecksum', oldChecksum], ['oldWord', oldWord], ['newWord', newWord]] as const) {
    if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new RangeError(`${name} must be an integer in 0..65535`);
  }
  return workspace().kernels.updateChecksum(oldChecksum, oldWord, newWord);
}

let nextIdentification = 0;

/** Every field of TunnelOptions, flattened: two equal keys build the same template. */
function tunnelKey(tunnel: TunnelOptions): unknown[] {
  const { source, destination, sourcePortRange: range, gbp, vlan } = tunnel;
  return [
    tunnel.vni, source?.mac, source?.ip, source?.port, destination?.mac, destination?.ip, destination?.port,
    tunnel.ttl, tunnel.tos, tunnel.dontFragment, tunnel.udpChecksum, range?.[0], range?.[1], range?.length,
    tunnel.flowLabel, gbp?.group, gbp?.dontLearn, gbp?.policyApplied, vlan?.vid, vlan?.pcp,
  ];
}

/**
 * Building a template parses and validates every option (microseconds); callers usually pass
 * the same tunnel object again and again, so keep its template while its fields are unchanged.
 */
const templates = new WeakMap<TunnelOptions, { key: unknown[]; template: TunnelTemplate }>();

function templateFor(tunnel: TunnelOptions): TunnelTemplate {
  if (typeof tunnel !== 'object' || tunnel === null) return buildTunnelTemplate(tunnel);
  const key = tunnelKey(tunnel);
  const cached = templates.get(tunnel);
  if (cached !== undefined && cached.key.every((value, i) => Object.is(value, key[i]))) return cached.template;
  const template = buildTunnelTemplate(tunnel);
  templates.set(tunnel, { key, template });
  return template;
}

/**
 * Build the whole outer frame (Ethernet, IP, UDP, VXLAN, then `inner`) with every length and
 * checksum: a fresh array over its own ArrayBuffer (so DOM APIs such as Blob take it as it is).
 */
export function encapsulate(inner: Uint8Array, tunnel: TunnelOptions): Uint8Array<ArrayBuffer> {
  checkBytes(inner, 'inner');
  const template = templateFor(tunnel);
  if (inner.length < 14) throw new RangeError(`inner frame must hold an Ethernet header (14 bytes), got ${inner.length}`);
  if (inner.length > template.maxInnerLen) {
    throw new RangeError(`inner frame of ${inner.length} bytes is too large: the outer lengths allow ${template.maxInnerLen}`);
  }
  const { kernels, template: templatePtr, scratch } = workspace();
  const memory = kernels.bytes;
  memory.set(template.bytes, templatePtr);
  // The IPv4 identification counts across calls (RFC 6864: unique per source, destination, protocol).
  writeInt32LittleEndian(memory, templatePtr + TEMPLATE_NEXT_ID, nextIdentification);
  nextIdentification = (nextIdentification + 1) & 0xffff;
  const innerPtr = scratch + HEADROOM;
  memory.set(inner, innerPtr);
  const frameLen = kernels.encapFrame(templatePtr, innerPtr, inner.length);
  const frameAt = innerPtr - template.headerLen;
  return memory.slice(frameAt, frameAt + frameLen);
}

function writeInt32LittleEndian(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value & 0xff;
  bytes[at + 1] = (value >>> 8) & 0xff;
  bytes[at + 2] = (value >>> 16) & 0xff;
  bytes[at + 3] = (value >>> 24) & 0xff;
}

/** DecapOptions validated and packed as decapFrame and decapBatch take them. */
export interface DecapSettings {
  /** DECAP_* bits (strict, verify checksums, check VNI, …): the kernels' `options` argument. */
  optionBits: number;
  /** The VNI to accept when DECAP_CHECK_VNI is set. */
  vni: number;
  portsLow: number;
  portsHigh: number;
}

export function decapSettings(options: DecapOptions = {}, strictDefault = true): DecapSettings {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const ports = options.ports ?? DEFAULT_VXLAN_PORTS;
  if (!Array.isArray(ports) || ports.length === 0 || ports.length > 4) throw new RangeError('ports must list 1 to 4 UDP ports');
  for (const port of ports) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`ports: ${String(port)} is not a port in 1..65535`);
  }
  // Booleans only: `strict: 'false'` is truthy and would silently mean the opposite.
  let bits = 0;
  if (optionalBoolean(options.strict, 'strict', strictDefault)) bits |= DECAP_STRICT;
  if (optionalBoolean(options.verifyChecksums, 'verifyChecksums', true)) bits |= DECAP_VERIFY_CHECKSUMS;
  if (optionalBoolean(options.allowZeroUdpChecksumIpv6, 'allowZeroUdpChecksumIpv6', false)) bits |= DECAP_ALLOW_ZERO_UDP_CHECKSUM_IPV6;
  if (optionalBoolean(options.gbp, 'gbp', false)) bits |= DECAP_GBP;
  let vni = 0;
  if (options.vni !== undefined) {
    if (!Number.isInteger(options.vni) || options.vni < 0 || options.vni > 0xffffff) throw new RangeError('vni must be an integer in 0..16777215');
    vni = options.vni;
    bits |= DECAP_CHECK_VNI;
  }
  const port = (i: number) => ports[i] ?? 0;
  return { optionBits: bits, vni, portsLow: port(0) | (port(1) << 16), portsHigh: (port(2) | (port(3) << 16)) >>> 0 };
}

const DEFAULT_SETTINGS = decapSettings();

/**
 * Validate a VXLAN frame and decode every header. `inner` is a view into `frame`, not a copy.
 * Throws DecodeError (with code, layer and byte offset) for any frame that is not valid.
 */
export function decapsulate(frame: Uint8Array, options?: DecapOptions): VxlanFrame {
  return decode(frame, options === undefined ? DEFAULT_SETTINGS : decapSettings(options));
}

/** `decapsulate` that tolerates what Linux would drop but can still be read: reserved bits, trailing bytes. */
export function decapsulateLax(frame: Uint8Array, options?: Omit<DecapOptions, 'strict'>): VxlanFrame {
  return decode(frame, decapSettings({ ...options, strict: false }));
}

/** The result record as i32s, made once per memory (a view of `bytes.buffer` per call costs ~20 ns). */
let recordView: { of: Uint8Array; words: Int32Array } | undefined;

function resultRecord(): Int32Array {
  const { kernels, result } = workspace();
  if (recordView?.of !== kernels.bytes) {
    recordView = { of: kernels.bytes, words: new Int32Array(kernels.bytes.buffer, kernels.bytes.byteOffset + result, RESULT_LEN / 4) };
  }
  return recordView.words;
}

function decode(frame: Uint8Array, settings: DecapSettings): VxlanFrame {
  checkBytes(frame, 'frame');
  const { kernels, scratch, result } = workspace();
  // No valid frame is longer than MAX_FRAME_LEN, and the scratch area has HEADROOM bytes more.
  // A longer frame is judged on its first MAX_FRAME_LEN + 1 bytes: the kernel sees that there is
  // more than any IP length field can cover, so strict mode refuses the trailing bytes just as it
  // would the whole frame's (LENGTH_MISMATCH at the IP length field, after the same header
  // checks); lax mode trims them. Cutting at MAX_FRAME_LEN would hide them from strict mode.
  const len = Math.min(frame.length, MAX_FRAME_LEN + 1);
  kernels.bytes.set(len === frame.length ? frame : frame.subarray(0, len), scratch);
  const status = kernels.decapFrame(scratch, len, settings.optionBits, settings.vni, settings.portsLow, settings.portsHigh, result);
  const record = resultRecord();
  if (status !== 0) {
    throw DecodeError.fromStatus(record[RESULT_STATUS / 4], record[RESULT_LAYER / 4], record[RESULT_OFFSET / 4]);
  }
  // The kernel has checked every header below, so these decoders find what they need.
  const l3 = record[RESULT_L3 / 4];
  const innerAt = record[RESULT_INNER / 4];
  return {
    ethernet: ethernet.decode(frame, 0),
    ip: record[RESULT_IP_VERSION / 4] === 4 ? ipv4.decode(frame, l3) : ipv6.decode(frame, l3),
    udp: udp.decode(frame, record[RESULT_L4 / 4]),
    vxlan: vxlan.decode(frame, record[RESULT_VXLAN / 4]),
    inner: frame.subarray(innerAt, innerAt + record[RESULT_INNER_LEN / 4]),
  };
}
