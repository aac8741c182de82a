/**
 * The single-frame object API: checksums, `encapsulate`/`encapsulateInto` and `decapsulate`.
 * Each call copies its bytes into the active backend's workspace, runs one kernel, and reads the
 * answer back (decapsulate as a view whose headers are decoded when first read, src/frame-view.ts);
 * the zero-copy batch API in src/batch/ avoids even that copy, and `decapsulateSlot` decodes a
 * batch slot with this API where it lies.
 */
import { DecodeError } from './errors';
import { checkBytes } from './wire/fields';
import { DEFAULT_VXLAN_PORTS, decapSettings, type DecapSettings } from './batch/decap-settings';
import type { DecapOptions, TunnelOptions } from './types';
import {
  RESULT_INNER_LEN, RESULT_IP_VERSION, RESULT_L3, RESULT_L4, RESULT_LAYER, RESULT_OFFSET,
  RESULT_LEN, RESULT_STATUS, TEMPLATE_NEXT_ID, META_LEN, type Kernels,
} from './wasm/abi';
import { HEADROOM, kernelsOption, MAX_FRAME_LEN, workspace, type Workspace } from './backend';
import { DecodedFrame } from './frame-view';
import type { PacketBatch } from './batch/packet-batch';
import { buildTunnelTemplate, type TunnelTemplate } from './batch/template';

// The object API's names for what lives below it (the batch layer shares them; it never imports this module).
export { checkBytes, DEFAULT_VXLAN_PORTS, decapSettings, type DecapSettings };

/**
 * Uint8Array.prototype.set, taken once and called as `copyBytes.call(target, source, offset)` on
 * the per-call paths. V8 (11.3, Node 20) never caches the lookup of `set` on a typed array: the
 * load site goes megamorphic at its first miss, and optimised code calls the generic LoadIC
 * for it every time (about 4 ns a copy); a call of the function itself needs no lookup.
 */
const copyBytes = Uint8Array.prototype.set;

/** Sum `data` through the kernel in scratch-sized pieces; each piece but the last has an even length. */
function sumInPieces(data: Uint8Array, seed: number): number {
  const { kernels, scratch, scratchLen } = workspace();
  const pieceLen = scratchLen & ~1;
  let sum = seed;
  for (let at = 0; at < data.length; at += pieceLen) {
    const piece = data.subarray(at, at + pieceLen);
    copyBytes.call(kernels.bytes, piece, scratch);
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
  copyBytes.call(kernels.bytes, data, scratch);
  return kernels.onesComplementSum(scratch, data.length, seed);
}

/** The RFC 1071 Internet checksum of `data`: the value to put in a header (0..0xffff). */
export function checksum(data: Uint8Array): number {
  const { kernels, scratch, scratchLen } = workspace();
  // The common case first and lean: one copy into WASM memory, one call. Empty data (perhaps a
  // detached view) takes the checked way.
  if (data instanceof Uint8Array && data.length <= scratchLen && data.length !== 0) {
    copyBytes.call(kernels.bytes, data, scratch);
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

/**
 * What a template was built from: every field of TunnelOptions, and the objects that held them.
 * Named fields rather than an array: V8 compares them with fixed-offset loads.
 */
interface TunnelKey {
  vni: unknown; ttl: unknown; tos: unknown; flowLabel: unknown;
  /** booleanCode of each. */
  dontFragment: number; udpChecksum: number;
  source: object; sourceMac: unknown; sourceIp: unknown; sourcePort: unknown;
  destination: object; destinationMac: unknown; destinationIp: unknown; destinationPort: unknown;
  range: unknown; rangeLow: unknown; rangeHigh: unknown; rangeLength: unknown;
  gbp: unknown; gbpGroup: unknown; gbpDontLearn: unknown; gbpPolicyApplied: unknown;
  vlan: unknown; vlanVid: unknown; vlanPcp: unknown;
  /** Whether sourcePortRange, gbp or vlan was given: most tunnels give none, and their check stops at `undefined`. */
  extras: boolean;
}

/**
 * Matches no object a tunnel holds: the key of a source or destination that was not an object
 * when the key was made (only a getter answering differently from one read to the next can do
 * that, as the template was built), so that tunnelUnchanged never reads a field of it.
 */
const NOT_AN_OBJECT: object = {};

function objectOrNone(value: unknown): object {
  return typeof value === 'object' && value !== null ? value : NOT_AN_OBJECT;
}

/**
 * An optional boolean option as a small integer: 0 undefined, 1 true, 2 false, 3 anything else
 * (which no built template has, so it always reads as a change, and the rebuild names the
 * field). V8 11.3 compares two unknown booleans with `===` by a call to its generic StrictEqual
 * (about 3 ns in the per-call tunnel check); against a constant it is one pointer comparison.
 */
function booleanCode(value: unknown): number {
  return value === undefined ? 0 : value === true ? 1 : value === false ? 2 : 3;
}

function tunnelKey(tunnel: TunnelOptions): TunnelKey {
  const { source, destination, sourcePortRange: range, gbp, vlan } = tunnel;
  return {
    vni: tunnel.vni, ttl: tunnel.ttl, tos: tunnel.tos, flowLabel: tunnel.flowLabel,
    dontFragment: booleanCode(tunnel.dontFragment), udpChecksum: booleanCode(tunnel.udpChecksum),
    source: objectOrNone(source), sourceMac: source?.mac, sourceIp: source?.ip, sourcePort: source?.port,
    destination: objectOrNone(destination), destinationMac: destination?.mac, destinationIp: destination?.ip, destinationPort: destination?.port,
    range, rangeLow: range?.[0], rangeHigh: range?.[1], rangeLength: range?.length,
    gbp, gbpGroup: gbp?.group, gbpDontLearn: gbp?.dontLearn, gbpPolicyApplied: gbp?.policyApplied,
    vlan, vlanVid: vlan?.vid, vlanPcp: vlan?.pcp,
    extras: range != null || gbp != null || vlan != null,
  };
}

/**
 * Whether `tunnel` still holds what `key` was made from: the same source, destination,
 * sourcePortRange, gbp and vlan objects (another object, even an equal one, builds the template
 * again), and the same values in them, which may have been edited in place. Small on purpose:
 * V8 inlines it into encapsulateInto only while the whole call stays within its inlining budget,
 * and a call here cost about 10 ns; the rarer sourcePortRange, gbp and vlan fields are compared
 * apart.
 */
function tunnelUnchanged(tunnel: TunnelOptions, key: TunnelKey): boolean {
  const { source, destination } = tunnel;
  return source === key.source && destination === key.destination
    && tunnel.vni === key.vni && tunnel.ttl === key.ttl && tunnel.tos === key.tos && booleanCode(tunnel.dontFragment) === key.dontFragment
    && booleanCode(tunnel.udpChecksum) === key.udpChecksum && tunnel.flowLabel === key.flowLabel
    && source.mac === key.sourceMac && source.ip === key.sourceIp && source.port === key.sourcePort
    && destination.mac === key.destinationMac && destination.ip === key.destinationIp && destination.port === key.destinationPort
    && tunnel.sourcePortRange === key.range && tunnel.gbp === key.gbp && tunnel.vlan === key.vlan
    && (!key.extras || extrasUnchanged(tunnel, key));
}

/** The fields of sourcePortRange, gbp and vlan, once tunnelUnchanged has found the same objects. */
function extrasUnchanged(tunnel: TunnelOptions, key: TunnelKey): boolean {
  const { sourcePortRange: range, gbp, vlan } = tunnel;
  return (range == null || (range[0] === key.rangeLow && range[1] === key.rangeHigh && range.length === key.rangeLength))
    && (gbp == null || (gbp.group === key.gbpGroup && gbp.dontLearn === key.gbpDontLearn && gbp.policyApplied === key.gbpPolicyApplied))
    && (vlan == null || (vlan.vid === key.vlanVid && vlan.pcp === key.vlanPcp));
}

interface TemplateEntry {
  key: TunnelKey;
  template: TunnelTemplate;
}

/**
 * Building a template parses and validates every option (microseconds); callers usually pass
 * the same tunnel object again and again, so keep its template while its fields are unchanged.
 */
const templates = new WeakMap<TunnelOptions, TemplateEntry>();

/** The template entry of `tunnel`, built (and kept) when there is none or its fields changed. */
function templateEntry(tunnel: TunnelOptions): TemplateEntry {
  if (typeof tunnel !== 'object' || tunnel === null) buildTunnelTemplate(tunnel); // throws the TypeError
  let entry = templates.get(tunnel);
  if (entry === undefined || !tunnelUnchanged(tunnel, entry.key)) {
    // The template first: a key is kept only for a tunnel whose template could be built.
    const template = buildTunnelTemplate(tunnel);
    entry = { key: tunnelKey(tunnel), template };
    templates.set(tunnel, entry);
  }
  return entry;
}

/**
 * Everything encapsulateInto reads per call, gathered in one object: the tunnel whose template
 * is in the workspace's template area and the key to see that it is unchanged, the workspace
 * and its memory, and the frame geometry. The common case (same tunnel object, unchanged, same
 * backend and memory) is then a handful of comparisons. `header` is the view of the header
 * bytes encapFrame writes in front of the inner frame (made once per template and memory: a view
 * costs more than copying 50 bytes through it); `frame` a view of the header and an inner frame
 * of `frameLen` bytes, made once a frame length comes twice in a row, so that same-sized frames
 * leave WASM memory in one copy instead of two (each TypedArray.set costs about 15 ns on top of
 * its bytes).
 */
interface LoadedTemplate {
  readonly tunnel: TunnelOptions;
  readonly key: TunnelKey;
  readonly template: TunnelTemplate;
  readonly headerLen: number;
  readonly maxInnerLen: number;
  readonly space: Workspace;
  readonly memory: Uint8Array;
  readonly kernels: Kernels;
  readonly templatePtr: number;
  /** Where encapFrame reads the inner frame: scratch + HEADROOM, right after the header it writes. */
  readonly innerPtr: number;
  readonly header: Uint8Array;
  frame: Uint8Array | undefined;
  frameLen: number;
  /** The previous call's frame length: a view of a length is made when it comes twice in a row. */
  previousFrameLen: number;
}

let loaded: LoadedTemplate | undefined;

/**
 * The next IPv4 identification, kept here only while no template is loaded: the loaded template
 * carries it in WASM memory (encapFrame advances it per call), and it is read back from there
 * when another template takes its place. It counts across calls and tunnels (RFC 6864: unique
 * per source, destination and protocol).
 */
let nextIdentification = 0;

/**
 * Make `entry`'s template, built for `tunnel`, the one in the workspace's template area. The
 * template is copied only when another template (or another backend) was there: encapFrame
 * leaves its bytes as they were, apart from the identification it advances itself, which is
 * read back from the template it replaces. A memory that grew (a new buffer, the old views
 * detached) only gets new views.
 */
function loadTemplate(space: Workspace, tunnel: TunnelOptions, entry: TemplateEntry): LoadedTemplate {
  const { template } = entry;
  const memory = space.kernels.bytes;
  const previous = loaded;
  if (previous === undefined || previous.template !== template || previous.space !== space) {
    if (previous !== undefined) nextIdentification = readInt32LittleEndian(previous.kernels.bytes, previous.templatePtr + TEMPLATE_NEXT_ID);
    memory.set(template.bytes, space.template);
    writeInt32LittleEndian(memory, space.template + TEMPLATE_NEXT_ID, nextIdentification);
  }
  const innerPtr = space.scratch + HEADROOM;
  loaded = {
    tunnel, key: entry.key, template, headerLen: template.headerLen, maxInnerLen: template.maxInnerLen,
    space, memory, kernels: space.kernels, templatePtr: space.template, innerPtr,
    header: memory.subarray(innerPtr - template.headerLen, innerPtr), frame: undefined, frameLen: -1, previousFrameLen: -1,
  };
  return loaded;
}

/** `name` must be an integer offset into `out` (0..out.length). */
function checkOffset(offset: unknown, out: Uint8Array): asserts offset is number {
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0 || offset > out.length) {
    throw new RangeError(`offset must be an integer in 0..${out.length} (the length of out), got ${String(offset)}`);
  }
}

/**
 * Build the whole outer frame (Ethernet, IP, UDP, VXLAN, then `inner`) with every length and
 * checksum into `out` at `offset`; returns its length. Nothing is allocated: the tunnel's
 * template stays in WASM memory while the same, unchanged tunnel object comes back.
 * RangeError, naming both sizes, when the frame does not fit in `out` after `offset`.
 *
 * The common case (the tunnel of the last call, unchanged; arrays and offset that need no
 * message) is all there is here, one guard and the work; anything else, first calls and errors
 * included, takes encapsulateGeneral. Kept apart from encapsulate() on purpose: V8 sizes its
 * inlining by how often each call site was taken, and counts shared by both (encapsulate with a
 * new tunnel object each call loads a template each call) make it inline the template loading
 * here instead of the tunnel check, which then costs about 15 ns a call.
 */
export function encapsulateInto(inner: Uint8Array, tunnel: TunnelOptions, out: Uint8Array, offset = 0): number {
  const state = loaded;
  if (
    state !== undefined && tunnel === state.tunnel && inner instanceof Uint8Array && out instanceof Uint8Array
    && Number.isInteger(offset) && offset >= 0 && tunnelUnchanged(tunnel, state.key)
    && state.space === workspace() && state.memory === state.kernels.bytes
  ) {
    const innerLen = inner.length;
    const frameLen = state.headerLen + innerLen;
    // Also refuses an empty inner frame (perhaps a detached array) and an offset past the end.
    if (innerLen >= 14 && innerLen <= state.maxInnerLen && frameLen <= out.length - offset) {
      const innerPtr = state.innerPtr;
      copyBytes.call(state.memory, inner, innerPtr);
      state.kernels.encapFrame(state.templatePtr, innerPtr, innerLen);
      if (frameLen === state.frameLen) copyBytes.call(out, state.frame!, offset);
      else copyFrameOut(state, inner, out, offset, frameLen);
      return frameLen;
    }
  }
  return encapsulateGeneral(inner, tunnel, out, offset);
}

/** encapsulateInto with every argument checked (errors that name it) and any tunnel. */
function encapsulateGeneral(inner: Uint8Array, tunnel: TunnelOptions, out: Uint8Array, offset: number): number {
  checkBytes(inner, 'inner');
  checkBytes(out, 'out');
  checkOffset(offset, out);
  return encapsulateWith(inner, tunnel, templateEntry(tunnel), out, offset);
}

function encapsulateWith(inner: Uint8Array, tunnel: TunnelOptions, entry: TemplateEntry, out: Uint8Array, offset: number): number {
  const { template } = entry;
  const innerLen = inner.length;
  const frameLen = template.headerLen + innerLen;
  if (innerLen < 14 || innerLen > template.maxInnerLen || frameLen > out.length - offset) throw sizeError(innerLen, template, out, offset);
  const space = workspace();
  let state = loaded;
  if (state === undefined || state.tunnel !== tunnel || state.template !== template || state.space !== space || state.memory !== space.kernels.bytes) {
    state = loadTemplate(space, tunnel, entry);
  }
  copyBytes.call(state.memory, inner, state.innerPtr);
  state.kernels.encapFrame(state.templatePtr, state.innerPtr, innerLen);
  copyFrameOut(state, inner, out, offset, frameLen);
  return frameLen;
}

/**
 * The frame encapFrame wrote, out of WASM memory when its length differs from the view's: the
 * headers from WASM memory, the inner frame from the caller's own array (two copies, and no view
 * made for a length that may not come again). Kept out of encapsulateInto so that V8 inlines
 * the whole call (it inlines only while the bytecode it takes in stays small).
 */
function copyFrameOut(state: LoadedTemplate, inner: Uint8Array, out: Uint8Array, offset: number, frameLen: number): void {
  if (frameLen === state.frameLen) {
    copyBytes.call(out, state.frame!, offset);
    return;
  }
  const headerLen = state.headerLen;
  copyBytes.call(out, state.header, offset);
  copyBytes.call(out, inner, offset + headerLen);
  if (frameLen === state.previousFrameLen) {
    state.frame = state.memory.subarray(state.innerPtr - headerLen, state.innerPtr + inner.length);
    state.frameLen = frameLen;
  }
  state.previousFrameLen = frameLen;
}

/**
 * Why an inner frame of `innerLen` bytes cannot be encapsulated into `out` at `offset`. Built
 * apart from the call that throws it: V8 inlines a caller only while the bytecode it takes in
 * stays small, and these messages would take room the tunnel check needs (about 10 ns a call).
 */
function sizeError(innerLen: number, template: TunnelTemplate, out: Uint8Array, offset: number): RangeError {
  if (innerLen < 14) return new RangeError(`inner frame must hold an Ethernet header (14 bytes), got ${innerLen}`);
  if (innerLen > template.maxInnerLen) {
    return new RangeError(`inner frame of ${innerLen} bytes is too large: the outer lengths allow ${template.maxInnerLen}`);
  }
  const { headerLen } = template;
  return new RangeError(
    `out has ${out.length - offset} bytes after offset ${offset}, and the frame needs ${headerLen + innerLen} (${headerLen} of outer headers + ${innerLen} of inner frame)`,
  );
}

/**
 * Build the whole outer frame (Ethernet, IP, UDP, VXLAN, then `inner`) with every length and
 * checksum: a fresh array over its own ArrayBuffer (so DOM APIs such as Blob take it as it is).
 * `encapsulateInto` writes into the caller's buffer instead.
 */
export function encapsulate(inner: Uint8Array, tunnel: TunnelOptions): Uint8Array<ArrayBuffer> {
  checkBytes(inner, 'inner');
  const entry = templateEntry(tunnel);
  const { template } = entry;
  // Sized for this frame; too small or too large an inner frame is refused inside, before any write.
  const out = new Uint8Array(Math.max(0, Math.min(template.headerLen + inner.length, template.headerLen + template.maxInnerLen)));
  encapsulateWith(inner, tunnel, entry, out, 0);
  return out;
}

function readInt32LittleEndian(bytes: Uint8Array, at: number): number {
  return bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24);
}

function writeInt32LittleEndian(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value & 0xff;
  bytes[at + 1] = (value >>> 8) & 0xff;
  bytes[at + 2] = (value >>> 16) & 0xff;
  bytes[at + 3] = (value >>> 24) & 0xff;
}

const DEFAULT_SETTINGS = decapSettings();

/**
 * Validate a VXLAN frame; its headers are decoded when first read (a DecodedFrame, which is a
 * VxlanFrame). `inner` is a view into `frame`, not a copy. Throws DecodeError (with code, layer
 * and byte offset) for any frame that is not valid, at this call, never later from a header.
 */
export function decapsulate(frame: Uint8Array, options?: DecapOptions): DecodedFrame {
  return decode(frame, settingsOf(options));
}

/**
 * decapSettings(options), without parsing the options object when it sets nothing (`undefined`,
 * `{}`, every field undefined): those are the defaults, and parsing them costs about a tenth of a
 * small frame's decapsulate.
 */
function settingsOf(options: DecapOptions | undefined): DecapSettings {
  if (options === undefined) return DEFAULT_SETTINGS;
  if (
    typeof options === 'object' && options !== null && options.strict === undefined && options.verifyChecksums === undefined
    && options.vni === undefined && options.ports === undefined && options.allowZeroUdpChecksumIpv6 === undefined
    && options.gbp === undefined
  ) {
    return DEFAULT_SETTINGS;
  }
  return decapSettings(options);
}

/** `decapsulate` that tolerates what Linux would drop but can still be read: reserved bits, trailing bytes. */
export function decapsulateLax(frame: Uint8Array, options?: Omit<DecapOptions, 'strict'>): DecodedFrame {
  return decode(frame, decapSettings({ ...options, strict: false }));
}

/**
 * What decode reads per call about the workspace: its kernels, memory, scratch area and the
 * result record as i32s (a view of the memory per call cost about 20 ns), made again only when
 * the backend changes or its memory grows.
 */
interface DecodeSpace {
  readonly space: Workspace;
  readonly memory: Uint8Array;
  readonly kernels: Kernels;
  readonly scratch: number;
  readonly result: number;
  readonly record: Int32Array;
}

let decodeSpace: DecodeSpace | undefined;

function makeDecodeSpace(space: Workspace): DecodeSpace {
  const { kernels, scratch, result } = space;
  const memory = kernels.bytes;
  const record = new Int32Array(memory.buffer, memory.byteOffset + result, RESULT_LEN / 4);
  decodeSpace = { space, memory, kernels, scratch, result, record };
  return decodeSpace;
}

function decode(frame: Uint8Array, settings: DecapSettings): DecodedFrame {
  // checkBytes only when the cheap test fails: an empty array may be a detached one.
  if (!(frame instanceof Uint8Array) || frame.length === 0) checkBytes(frame, 'frame');
  const space = workspace();
  let d = decodeSpace;
  if (d === undefined || d.space !== space || d.memory !== space.kernels.bytes) d = makeDecodeSpace(space);
  // No valid frame is longer than MAX_FRAME_LEN, and the scratch area has HEADROOM bytes more.
  // A longer frame is judged on its first MAX_FRAME_LEN + 1 bytes: the kernel sees that there is
  // more than any IP length field can cover, so strict mode refuses the trailing bytes just as it
  // would the whole frame's (LENGTH_MISMATCH at the IP length field, after the same header
  // checks); lax mode trims them. Cutting at MAX_FRAME_LEN would hide them from strict mode.
  let len = frame.length;
  if (len > MAX_FRAME_LEN + 1) {
    len = MAX_FRAME_LEN + 1;
    copyBytes.call(d.memory, frame.subarray(0, len), d.scratch);
  } else {
    copyBytes.call(d.memory, frame, d.scratch);
  }
  const status = d.kernels.decapFrame(d.scratch, len, settings.optionBits, settings.vni, settings.portsLow, settings.portsHigh, d.result);
  const record = d.record;
  if (status !== 0) {
    throw DecodeError.fromStatus(record[RESULT_STATUS / 4], record[RESULT_LAYER / 4], record[RESULT_OFFSET / 4]);
  }
  // The kernel has checked every header, so the decoders the view calls later find what they need.
  return new DecodedFrame(frame, 0, record[RESULT_L3 / 4], record[RESULT_L4 / 4], record[RESULT_INNER_LEN / 4], record[RESULT_IP_VERSION / 4]);
}

/**
 * Validate and decode the frame in slot `index` of `batch` where it lies, in the batch's kernels
 * memory: no copy. The same checks, options, DecodeError and view as `decapsulate`; the slot's
 * record gets the result too (status(), inner(), vni() … read it as after a Decapsulator run).
 * The view reads the slot when a header is first read: read what you need before the slot is
 * reused (its `inner` is a view into the memory, like `batch.inner(index)`).
 */
export function decapsulateSlot(batch: PacketBatch, index: number, options?: DecapOptions): DecodedFrame {
  if (typeof batch !== 'object' || batch === null || typeof batch.frameStart !== 'function' || typeof batch.metaPtr !== 'number') {
    throw new TypeError('batch must be a PacketBatch');
  }
  kernelsOption(batch.kernels); // kernels from createKernels(), or a TypeError
  const settings = settingsOf(options);
  const start = batch.frameStart(index); // checks index
  const len = batch.frameLength(index);
  const { kernels } = batch;
  const recordAt = batch.metaPtr + index * META_LEN;
  const status = kernels.decapFrame(start, len, settings.optionBits, settings.vni, settings.portsLow, settings.portsHigh, recordAt);
  const record = batch.meta;
  const at = index * (META_LEN / 4);
  if (status !== 0) {
    throw DecodeError.fromStatus(record[at + RESULT_STATUS / 4], record[at + RESULT_LAYER / 4], record[at + RESULT_OFFSET / 4]);
  }
  return new DecodedFrame(
    kernels, start, record[at + RESULT_L3 / 4], record[at + RESULT_L4 / 4], record[at + RESULT_INNER_LEN / 4], record[at + RESULT_IP_VERSION / 4],
  );
}
