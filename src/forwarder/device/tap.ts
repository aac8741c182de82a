/**
 * TapDevice: a Linux TAP interface as a forwarder Device, through koffi (no compiler, no `ip`).
 *
 * open(): `/dev/net/tun` (nonblocking), TUNSETIFF with IFF_TAP | IFF_NO_PI, then MTU, up and the
 * MAC through ioctls on an AF_INET datagram socket. A TAP made by TUNSETIFF without
 * TUNSETPERSIST lives as long as its fd: that is how a TAP this process created is removed on
 * close (or exit, or crash), while a persistent TAP the user made beforehand is left alone.
 *
 * Frames: a reader worker polls the fd and read()s frame after frame straight into a Ring in a
 * SharedArrayBuffer; `receive` copies them into the batch's payload areas. `transmit` writes each
 * frame from the batch's memory with write() on the main thread (the TAP takes it at once or
 * refuses it: a refused frame is counted, never waited for).
 *
 * Offloads (`offloads`, on unless false): the TAP is opened with IFF_VNET_HDR, and TUNSETOFFLOAD lets the
 * kernel hand over TCP super-frames of up to 64 KB (and USO datagrams where it takes TUN_F_USO4/6)
 * with partial checksums, and take them back. Every read and write then carries a 10-byte
 * virtio_net_hdr in front of the frame. The forwarder sees none of it (the Device contract is
 * unchanged, segments fit its slots):
 * - receive: a super-frame is copied once from the ring into a staging area in the batch's kernel
 *   memory, and tsoSplit (WASM) writes its segments straight into the slots, headers and
 *   checksums fixed; one that does not fit the slots left is finished in the next receive (never
 *   dropped). A plain frame with a partial checksum gets it completed (completeInnerChecksum).
 * - transmit: groMerge (WASM) coalesces consecutive TCP segments of one flow into one super-frame
 *   with its vnet header (GSO_TCPV4/6, NEEDS_CSUM): one write() for up to 64 KB. Every other frame
 *   goes out with an all-zero vnet header, written into the slot's headroom in front of it (the
 *   headroom holds only the spent outer headers by then), so it is still one write() and no copy.
 *
 * The header is 10 bytes (struct virtio_net_hdr), not 12 (virtio_net_hdr_mrg_rxbuf): 10 is the
 * TAP's default, and num_buffers means nothing to a TAP. Its fields are in the host's byte order
 * (a TAP without TUNSETVNETLE/BE); the kernels read them little-endian, so offloads are refused on
 * a big-endian host.
 */
import { existsSync } from 'node:fs';
import { endianness } from 'node:os';
import type { PacketBatch } from '../../batch/packet-batch';
import {
  GRO_RESULT_LEN, GRO_RESULT_RECORD_LEN, GSO_ECN, GSO_NONE, SLOT_HEADROOM, TSO_LAST, TSO_OVERSIZE, VNET_F_NEEDS_CSUM, VNET_HDR_LEN,
  type Kernels,
} from '../../wasm/abi';
import { formatMac } from '../../wire/address';
import { emptySuperFrame, superFrameSegments, type Device, type DeviceEvents, type SuperFrame, type SuperFrameWrite } from '../contracts';
import { HeadedWrite } from '../io/headed-write';
import * as C from '../io/libc';
import { FdReader } from '../io/fd-reader';
import type { InlinePoller } from '../io/inline-reader';
import { CTRL_DROPPED, Ring } from '../io/ring';
import { decodeVnetHeader, emptyVnetHeader, storeSuperFrameHeader } from './vnet-header';

export interface TapDeviceOptions {
  /** The interface name (1..15 characters). */
  name: string;
  /** Set the MTU (68..65521); default: keep the interface's MTU (1500 for a new TAP). */
  mtu?: number;
  /** Create the TAP when it does not exist (default true); false: it must exist already. */
  create?: boolean;
  /**
   * Cells in the receive ring (a power of two); default 512, 256 with offloads (each cell then
   * holds 64 KB), INLINE_RING_CELLS when read by a `poller`.
   */
  ringCells?: number;
  /**
   * TSO/GRO with the kernel: IFF_VNET_HDR and TUNSETOFFLOAD, segments split and merged in WASM
   * (see above). Default true (false: plain frames, one per read and write). What the kernel
   * refused is in `offloadFlags` and said once through `log`.
   */
  offloads?: boolean;
  /** Where to say, once, that the kernel refused some offload (default: nowhere). */
  log?: (message: string) => void;
  /**
   * Open one queue of a multi-queue TAP (IFF_MULTI_QUEUE): every open of the same name with this
   * set attaches another queue, and the kernel spreads the host's flows over them (one flow, one
   * queue). All queues of a TAP must agree on it. Default false.
   */
  multiQueue?: boolean;
  /** Read the TAP in the calling thread with this poller instead of a reader worker (a queue worker's run to completion). */
  poller?: InlinePoller;
}

/** Counts a TapDevice keeps (the forwarder counts its own drops as well). */
export interface TapCounters {
  received: number;
  sent: number;
  /** Frames longer than the batch slot or the ring cell: dropped, never truncated. */
  oversize: number;
  /** Frames the TAP refused on write (EAGAIN with a full queue, EIO while down, …). */
  writeErrors: number;
  /** Offloads: super-frames read and split (tsoSplit), and the segments they gave (part of `received`). */
  superFramesIn: number;
  segmentsIn: number;
  /** Offloads: super-frames written (groMerge), and the frames merged into them (part of `sent`). */
  superFramesOut: number;
  segmentsOut: number;
  /** Offloads: frames read whose vnet header or headers the kernels refused (dropped, counted). */
  malformed: number;
  /** Offloads: super-frames the forwarder took whole (DeviceEvents.superFrame: `--tunnel-gso`), never split here. */
  superFramesWhole: number;
}

/** The offload bits asked for, best first; the first set the kernel takes is kept. */
const OFFLOAD_PROBES = [
  C.TUN_F_CSUM | C.TUN_F_TSO4 | C.TUN_F_TSO6 | C.TUN_F_TSO_ECN | C.TUN_F_USO4 | C.TUN_F_USO6,
  C.TUN_F_CSUM | C.TUN_F_TSO4 | C.TUN_F_TSO6 | C.TUN_F_TSO_ECN,
  C.TUN_F_CSUM,
  0,
];

/** The largest frame a TAP with TSO hands over: an IP length of 65535, Ethernet and one tag. */
const MAX_SUPER_FRAME = 65535 + 18;
/**
 * Ring cells when an InlinePoller reads the TAP: it reads a few frames (its FILL_LIMIT) and they
 * are switched before it reads again, so 32 cells are plenty, and 2 MiB of them stay in cache
 * where 256 cells of 64 KB (for a reader thread running ahead) made every read land in cold memory.
 */
const INLINE_RING_CELLS = 32;
/** Slots listed to groMerge per call. */
const GRO_LIST_MAX = 256;
/** A Scratch's views before first use. */
const EMPTY_WORDS = new Int32Array(0);

/** The areas a TapDevice reserves in a batch's kernel memory (once per kernels object). */
interface Scratch {
  /** A super-frame read from the ring, for tsoSplit. */
  staging: number;
  /** groMerge's output: a vnet header and a super-frame. */
  out: number;
  outCapacity: number;
  /** groMerge's slot list (i32s) and result record. */
  list: number;
  result: number;
  /** The list and the result record as i32s, over `viewsOf` (rebuilt when the kernels' bytes change, as PacketBatch.meta is). */
  listWords: Int32Array;
  resultWords: Int32Array;
  viewsOf: Uint8Array | undefined;
}

const TUN_PATH = '/dev/net/tun';
/** Ethernet header and one 802.1Q tag on top of the MTU. */
const FRAME_OVERHEAD = 18;
const NAME_PATTERN = /^[A-Za-z0-9_.-]{1,15}$/;

export type TapError = Error & { code: 'TAP_PERMISSION' | 'TAP_ERROR'; errno?: number };

/**
 * The Error for a failed step of opening `name`: no /dev/net/tun or no permission (EPERM,
 * EACCES, ENOENT) → code TAP_PERMISSION and one sentence saying what is needed; anything else →
 * TAP_ERROR with the errno's name.
 */
export function tapError(name: string, step: string, errno: number): TapError {
  let error: TapError;
  if (errno === C.EPERM || errno === C.EACCES) {
    error = new Error(`creating TAP ${name} needs root or CAP_NET_ADMIN: ${step} failed with ${C.errnoName(errno)}`) as TapError;
    error.code = 'TAP_PERMISSION';
  } else if (errno === C.ENOENT && step.includes(TUN_PATH)) {
    error = new Error(`creating TAP ${name} needs ${TUN_PATH}, which this system does not have (load the tun module, or give a container the device)`) as TapError;
    error.code = 'TAP_PERMISSION';
  } else if (errno === C.EBUSY) {
    error = new Error(`TAP ${name} is in use by another process (${step}: EBUSY)`) as TapError;
    error.code = 'TAP_ERROR';
  } else {
    error = new Error(`TAP ${name}: ${step} failed with ${C.errnoName(errno)}`) as TapError;
    error.code = 'TAP_ERROR';
  }
  error.errno = errno;
  return error;
}

export function ifreq(name: string): Uint8Array {
  const request = new Uint8Array(C.IFREQ_SIZE);
  for (let i = 0; i < name.length; i++) request[i] = name.charCodeAt(i);
  return request;
}

/**
 * Set an interface's MTU (if given) and bring it up, through ioctls on an AF_INET datagram socket;
 * returns its MTU and MAC. Errors are TapErrors naming the step.
 */
export function bringUp(name: string, mtu?: number, txQueueLength?: number): { mtu: number; mac: string } {
  const libc = C.libc();
  const control = libc.socket(C.AF_INET, C.SOCK_DGRAM | C.SOCK_CLOEXEC, 0);
  if (control < 0) throw tapError(name, 'socket(AF_INET) for its ioctls', C.errno());
  try {
    const call = (request: number, what: string, fill?: (view: DataView) => void): DataView => {
      const bytes = ifreq(name);
      const view = new DataView(bytes.buffer);
      fill?.(view);
      if (libc.ioctl(control, request, bytes) !== 0) throw tapError(name, what, C.errno());
      return view;
    };
    if (mtu !== undefined) call(C.SIOCSIFMTU, `setting MTU ${mtu}`, (view) => view.setInt32(16, mtu, true));
    if (txQueueLength !== undefined) call(C.SIOCSIFTXQLEN, `setting txqueuelen ${txQueueLength}`, (view) => view.setInt32(16, txQueueLength, true));
    const actualMtu = call(C.SIOCGIFMTU, 'reading the MTU').getInt32(16, true);
    const flags = call(C.SIOCGIFFLAGS, 'reading the flags').getUint16(16, true);
    if ((flags & C.IFF_UP) === 0) call(C.SIOCSIFFLAGS, 'bringing it up', (view) => view.setUint16(16, flags | C.IFF_UP, true));
    const hw = call(C.SIOCGIFHWADDR, 'reading the MAC');
    return { mtu: actualMtu, mac: formatMac(new Uint8Array(hw.buffer), 18) };
  } finally {
    libc.close(control);
  }
}

export class TapDevice implements Device {
  readonly name: string;
  readonly mtu: number;
  readonly maxFrameLength: number;
  /** The TAP's MAC address (text, lower case). */
  readonly mac: string;
  /** True when this process created the TAP (it disappears on close); false for a persistent TAP that existed. */
  readonly created: boolean;
  /** Read in the calling thread (see TapDeviceOptions.poller). */
  private readonly poller: InlinePoller | undefined;
  /** Bytes of virtio-net header in front of each frame read and written: VNET_HDR_LEN with offloads, else 0. */
  readonly vnetHeaderLength: number;
  /** The TUN_F_* bits the kernel took (0 without offloads). */
  readonly offloadFlags: number;
  readonly counters: TapCounters = {
    received: 0, sent: 0, oversize: 0, writeErrors: 0, superFramesIn: 0, segmentsIn: 0, superFramesOut: 0, segmentsOut: 0, malformed: 0, superFramesWhole: 0,
  };
  /** What superFrame() is offered (one object, refilled per super-frame). */
  private readonly offered: SuperFrame = emptySuperFrame();
  /** The virtio-net header of the frame being received (one object, refilled per frame). */
  private readonly vnet = emptyVnetHeader();
  /** The TAP's fd (for diagnostics and tests; the forwarder never needs it). */
  readonly fd: number;

  private readonly ring: Ring;
  /** The fd, the ring and the reader worker's life cycle. */
  private readonly reader: FdReader<DeviceEvents>;
  /** Per kernels object (a forwarder has one): the areas reserved in its memory. */
  private readonly scratches = new WeakMap<Kernels, Scratch>();
  /** transmitSuperFrame's writev: its virtio-net header, then the frame where it lies. */
  private wholeWrite: HeadedWrite | undefined;
  /** Segments of the ring's first super-frame already delivered (it is finished in the next receive). */
  private splitProgress = 0;
  /** The kernels whose staging area holds that super-frame. */
  private stagedFor: Kernels | undefined;

  private constructor(
    fd: number, name: string, mtu: number, mac: string, created: boolean, ringCells: number, offloadFlags: number,
    poller: InlinePoller | undefined,
  ) {
    this.fd = fd;
    this.name = name;
    this.mtu = mtu;
    this.mac = mac;
    this.created = created;
    const offloads = offloadFlags >= 0;
    this.vnetHeaderLength = offloads ? VNET_HDR_LEN : 0;
    this.offloadFlags = offloads ? offloadFlags : 0;
    this.maxFrameLength = mtu + FRAME_OVERHEAD;
    // One byte more than the largest frame: a read that fills the cell was cut, and is dropped.
    // With offloads, frames up to 64 KB (super-frames) arrive whatever the MTU.
    const largest = offloads ? Math.max(MAX_SUPER_FRAME, this.maxFrameLength) : this.maxFrameLength;
    this.poller = poller;
    this.ring = new Ring(ringCells, this.vnetHeaderLength + largest + 1, poller === undefined);
    this.reader = new FdReader(fd, this.ring, `TapDevice ${name}`);
  }

  /**
   * Open (creating it unless `create` is false) the TAP `name`, set its MTU and bring it up.
   * Errors: code TAP_PERMISSION (not root / no CAP_NET_ADMIN / no /dev/net/tun) or TAP_ERROR.
   */
  static open(options: TapDeviceOptions): TapDevice {
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    const { name, mtu } = options;
    if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
      throw new RangeError(`TAP name must be 1..15 letters, digits, '_', '.' or '-', got ${JSON.stringify(name)}`);
    }
    if (mtu !== undefined && !(Number.isInteger(mtu) && mtu >= 68 && mtu <= 65521)) {
      throw new RangeError(`mtu must be an integer in 68..65521, got ${String(mtu)}`);
    }
    if (options.offloads !== undefined && typeof options.offloads !== 'boolean') throw new TypeError('offloads must be a boolean');
    if (options.multiQueue !== undefined && typeof options.multiQueue !== 'boolean') throw new TypeError('multiQueue must be a boolean');
    const notes: string[] = [];
    let offloads = options.offloads ?? true;
    if (offloads && endianness() !== 'LE') {
      offloads = false;
      notes.push(`TAP ${name}: offloads off: the vnet header is read little-endian and this host is big-endian`);
    }
    const ringCells = options.ringCells ?? (options.poller !== undefined ? INLINE_RING_CELLS : offloads ? 256 : 512);
    const existed = existsSync(`/sys/class/net/${name}`);
    if (options.create === false && !existed) throw tapError(name, `opening it (create is false and no interface ${name} exists)`, C.ENODEV);
    const libc = C.libc();
    const fd = libc.open(TUN_PATH, C.O_RDWR | C.O_NONBLOCK | C.O_CLOEXEC, 0);
    if (fd < 0) throw tapError(name, `opening ${TUN_PATH}`, C.errno());
    try {
      const request = ifreq(name);
      new DataView(request.buffer).setUint16(16, C.IFF_TAP | C.IFF_NO_PI | (offloads ? C.IFF_VNET_HDR : 0) | (options.multiQueue === true ? C.IFF_MULTI_QUEUE : 0), true);
      if (libc.ioctl(fd, C.TUNSETIFF, request) !== 0) {
        const code = C.errno();
        // EINVAL here: an interface of that name that is not a TAP, or a TAP with other flags.
        if (code === C.EINVAL) throw tapError(name, `TUNSETIFF (an interface ${name} exists and is not a TAP without packet info)`, code);
        throw tapError(name, 'TUNSETIFF', code);
      }
      let offloadFlags = -1;
      if (offloads) {
        const size = new Int32Array([VNET_HDR_LEN]);
        if (libc.ioctl(fd, C.TUNSETVNETHDRSZ, size) !== 0) throw tapError(name, `TUNSETVNETHDRSZ ${VNET_HDR_LEN}`, C.errno());
        // Probe: the best set the kernel takes (USO needs Linux 6.2; TSO any Linux of this century).
        for (const flags of OFFLOAD_PROBES) {
          if (libc.ioctlValue(fd, C.TUNSETOFFLOAD, flags) === 0) {
            offloadFlags = flags;
            break;
          }
          const code = C.errno();
          if (code !== C.EINVAL) throw tapError(name, `TUNSETOFFLOAD 0x${flags.toString(16)}`, code);
        }
        if (offloadFlags === -1) throw tapError(name, 'TUNSETOFFLOAD 0', C.EINVAL);
        if (offloadFlags !== OFFLOAD_PROBES[0]) {
          notes.push(`TAP ${name}: the kernel refused offloads 0x${(OFFLOAD_PROBES[0] & ~offloadFlags).toString(16)} (TUNSETOFFLOAD: EINVAL); using 0x${offloadFlags.toString(16)}`);
        }
      }
      const { mtu: actualMtu, mac } = bringUp(name, mtu);
      for (const note of notes) options.log?.(note);
      return new TapDevice(fd, name, actualMtu, mac, !existed, ringCells, offloadFlags, options.poller);
    } catch (error) {
      libc.close(fd);
      throw error;
    }
  }

  start(events: DeviceEvents): void {
    this.reader.start(events, 'frames', `tap ${this.name}`, { poller: this.poller });
  }

  /** Frames the reader dropped because they did not fit its buffer (the TAP said EFAULT). */
  private get readerDropped(): number {
    return Atomics.load(this.ring.control, CTRL_DROPPED);
  }

  receive(batch: PacketBatch, first: number, max: number): number {
    if (this.vnetHeaderLength !== 0) return this.receiveOffloaded(batch, first, max);
    const ring = this.ring;
    const available = ring.available();
    const limit = batch.slotStride - SLOT_HEADROOM;
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
      const slot = first + count;
      const start = ring.cellStart(k);
      ring.bytes.copy(bytes, batch.slotPointer(slot) + SLOT_HEADROOM, start, start + length);
      batch.setInner(slot, length, 0);
      count++;
    }
    this.counters.received += count;
    this.reader.release(consumed);
    return count;
  }

  /** The areas this device uses in `kernels`' memory, reserved on first use (then the memory may grow once). */
  private scratch(kernels: Kernels): Scratch {
    let scratch = this.scratches.get(kernels);
    if (scratch === undefined) {
      const outCapacity = VNET_HDR_LEN + MAX_SUPER_FRAME;
      scratch = {
        staging: kernels.reserve(MAX_SUPER_FRAME),
        out: kernels.reserve(outCapacity),
        outCapacity,
        list: kernels.reserve(GRO_LIST_MAX * 4),
        result: kernels.reserve(GRO_RESULT_RECORD_LEN),
        listWords: EMPTY_WORDS,
        resultWords: EMPTY_WORDS,
        viewsOf: undefined,
      };
      this.scratches.set(kernels, scratch);
    }
    return scratch;
  }

  /** The scratch's i32 views, made again only when the kernels' memory was replaced (grown). */
  private scratchWords(kernels: Kernels, scratch: Scratch): void {
    const bytes = kernels.bytes;
    if (scratch.viewsOf === bytes) return;
    scratch.viewsOf = bytes;
    scratch.listWords = new Int32Array(bytes.buffer, bytes.byteOffset + scratch.list, GRO_LIST_MAX);
    scratch.resultWords = new Int32Array(bytes.buffer, bytes.byteOffset + scratch.result, GRO_RESULT_RECORD_LEN / 4);
  }

  /**
   * receive() with vnet headers: a plain frame is copied into its slot (its partial checksum, if
   * any, completed there); a super-frame is staged in kernel memory and split into the slots.
   */
  private receiveOffloaded(batch: PacketBatch, first: number, max: number): number {
    const ring = this.ring;
    const kernels = batch.kernels;
    const scratch = this.scratch(kernels);
    // After scratch() (reserving may have grown, so moved, the memory); nothing below grows it.
    const bytes = batch.bytes;
    const available = ring.available();
    const limit = batch.slotStride - SLOT_HEADROOM;
    const cells = ring.bytes;
    const counters = this.counters;
    let count = 0;
    let consumed = 0;
    while (count < max && consumed < available) {
      const k = ring.index(consumed);
      const length = ring.lengths[k] - VNET_HDR_LEN;
      if (length < 14) {
        // -1 - VNET_HDR_LEN: cut by the ring (oversize); anything else shorter than Ethernet.
        if (ring.lengths[k] < 0) counters.oversize++;
        else counters.malformed++;
        consumed++;
        this.splitProgress = 0;
        continue;
      }
      const cell = ring.cellStart(k);
      const vnet = decodeVnetHeader(cells, cell, this.vnet);
      const gsoType = vnet.gsoType;
      const csumStart = vnet.csumStart;
      if ((gsoType & ~GSO_ECN) === GSO_NONE) {
        consumed++;
        if (length > limit) {
          counters.oversize++;
          continue;
        }
        const slot = first + count;
        const at = batch.slotPointer(slot) + SLOT_HEADROOM;
        cells.copy(bytes, at, cell + VNET_HDR_LEN, cell + VNET_HDR_LEN + length);
        batch.setInner(slot, length, 0);
        if ((vnet.flags & VNET_F_NEEDS_CSUM) !== 0) {
          if (kernels.completeInnerChecksum(at, length, csumStart, vnet.csumOffset) !== 0) {
            counters.malformed++;
            continue;
          }
        }
        count++;
        continue;
      }
      const gsoSize = vnet.gsoSize;
      // A super-frame the forwarder can send whole (--tunnel-gso) is never split here.
      const events = this.reader.events;
      if (this.splitProgress === 0 && events?.superFrame !== undefined) {
        const offered = this.offered;
        offered.bytes = cells;
        offered.start = cell + VNET_HDR_LEN;
        offered.length = length;
        offered.address = ring.address(cell + VNET_HDR_LEN);
        offered.gsoType = gsoType;
        offered.gsoSize = gsoSize;
        offered.csumStart = csumStart;
        offered.csumOffset = vnet.csumOffset;
        offered.headerLength = vnet.headerLength;
        if (events.superFrame(offered)) {
          counters.superFramesWhole++;
          consumed++;
          continue;
        }
      }
      // A super-frame: staged once (again only if a split was left half done for another memory).
      // It fits the staging area: the ring marks any read longer than MAX_SUPER_FRAME as cut.
      if (this.splitProgress === 0 || this.stagedFor !== kernels) {
        this.splitProgress = 0;
        ring.copyOut(cell + VNET_HDR_LEN, length, bytes, scratch.staging);
        this.stagedFor = kernels;
      }
      const result = kernels.tsoSplit(
        scratch.staging, length, gsoType, gsoSize, csumStart,
        batch.slotsPtr, batch.slotStride, batch.metaPtr, first + count, max - count, this.splitProgress,
      );
      if (result < 0) {
        if (result === TSO_OVERSIZE) counters.oversize++;
        else counters.malformed++;
        this.splitProgress = 0;
        consumed++;
        continue;
      }
      const written = result & ~TSO_LAST;
      count += written;
      counters.segmentsIn += written;
      if ((result & TSO_LAST) === 0) {
        // The slots ran out: the rest of this super-frame goes first in the next receive.
        this.splitProgress += written;
        break;
      }
      this.splitProgress = 0;
      counters.superFramesIn++;
      consumed++;
    }
    counters.received += count;
    this.reader.release(consumed);
    return count;
  }

  transmit(batch: PacketBatch, slots: Int32Array, count: number): number {
    if (this.reader.closed) {
      this.counters.writeErrors += count;
      return 0;
    }
    if (this.vnetHeaderLength !== 0) return this.transmitOffloaded(batch, slots, count);
    const libc = C.libc();
    // Per call, not per frame: WASM memory moves when it grows.
    const base = C.addressOf(batch.bytes);
    let taken = 0;
    for (let n = 0; n < count; n++) {
      const i = slots[n];
      const length = batch.innerLength(i);
      if (this.write(libc, base + batch.innerStart(i), length)) taken++;
      else this.counters.writeErrors++;
    }
    this.counters.sent += taken;
    return taken;
  }

  /**
   * transmit() with vnet headers: runs of TCP segments of one flow go out merged (groMerge), one
   * write() per super-frame; every other frame with a zero vnet header in its slot's headroom.
   */
  private transmitOffloaded(batch: PacketBatch, slots: Int32Array, count: number): number {
    const kernels = batch.kernels;
    const scratch = this.scratch(kernels);
    this.scratchWords(kernels, scratch);
    const list = scratch.listWords;
    const result = scratch.resultWords;
    const libc = C.libc();
    // After scratch(): reserving may have grown (moved) the memory.
    const bytes = batch.bytes;
    const base = C.addressOf(bytes);
    const counters = this.counters;
    let taken = 0;
    for (let position = 0; position < count; position += GRO_LIST_MAX) {
      const chunk = Math.min(GRO_LIST_MAX, count - position);
      list.set(slots.subarray(position, position + chunk));
      let j = 0;
      while (j < chunk) {
        const used = kernels.groMerge(
          batch.slotsPtr, batch.slotStride, batch.metaPtr, scratch.list + 4 * j, chunk - j, scratch.out, scratch.outCapacity, scratch.result,
        );
        const length = used > 1 ? result[GRO_RESULT_LEN / 4] : 0;
        if (length > 0) {
          if (this.write(libc, base + scratch.out, length)) {
            taken += used;
            counters.superFramesOut++;
            counters.segmentsOut += used;
          } else {
            counters.writeErrors += used;
          }
          j += used;
          continue;
        }
        // Alone: a zero vnet header (flags 0, GSO_NONE) right in front of the frame, in the headroom.
        const i = slots[position + j];
        const start = batch.innerStart(i);
        const frameLength = batch.innerLength(i);
        j++;
        if (start - VNET_HDR_LEN < batch.slotPointer(i)) {
          // No room in front (a frame placed at the very start of its slot): through the output area.
          bytes.fill(0, scratch.out, scratch.out + VNET_HDR_LEN);
          bytes.copyWithin(scratch.out + VNET_HDR_LEN, start, start + frameLength);
          if (this.write(libc, base + scratch.out, VNET_HDR_LEN + frameLength)) taken++;
          else counters.writeErrors++;
          continue;
        }
        bytes.fill(0, start - VNET_HDR_LEN, start);
        if (this.write(libc, base + start - VNET_HDR_LEN, VNET_HDR_LEN + frameLength)) taken++;
        else counters.writeErrors++;
      }
    }
    counters.sent += taken;
    return taken;
  }

  /**
   * Write one TCP super-frame whole (a tunnel TAP's super-packet, without its outer headers): its
   * virtio-net header from `frame`, then the frame straight from where it lies (one writev, no
   * copy), and the kernel takes it as the super-frame a TSO device would get. Declined without offloads.
   */
  transmitSuperFrame(frame: SuperFrame): SuperFrameWrite {
    if (this.vnetHeaderLength === 0) return 'declined';
    if (this.reader.closed) {
      this.counters.writeErrors++;
      return 'failed';
    }
    this.wholeWrite ??= new HeadedWrite(VNET_HDR_LEN);
    storeSuperFrameHeader(this.wholeWrite.header, frame, frame.gsoType);
    const segments = superFrameSegments(frame);
    if (!this.wholeWrite.write(this.fd, frame.address, frame.length)) {
      this.counters.writeErrors += segments;
      return 'failed';
    }
    this.counters.superFramesOut++;
    this.counters.segmentsOut += segments;
    this.counters.sent += segments;
    return 'written';
  }

  /** One write() of `length` bytes at `address` (retried once on EINTR); true when the TAP took all of it. */
  private write(libc: C.Libc, address: number, length: number): boolean {
    let written = libc.writeAt(this.fd, address, length);
    if (written < 0 && C.errno() === C.EINTR) written = libc.writeAt(this.fd, address, length);
    return written === length;
  }

  /** Stop the reader, close the fd: a TAP this process created disappears with it. Idempotent. */
  close(): Promise<void> {
    return this.reader.close(() => {
      this.counters.oversize += this.readerDropped;
    });
  }
}
