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
 * Room for offloads: `vnetHeaderLength` (0 today) is where a virtio-net header will sit in front
 * of each frame read, once IFF_VNET_HDR is enabled (the next issue); receive() already skips it.
 */
import { existsSync } from 'node:fs';
import type { PacketBatch } from '../../batch/packet-batch';
import { SLOT_HEADROOM } from '../../wasm/abi';
import { formatMac } from '../../wire/address';
import type { Device, PortEvents } from '../contracts';
import * as C from '../io/libc';
import { ReaderWorker } from '../io/reader-worker';
import { CTRL_DROPPED, Ring } from '../io/ring';

export interface TapDeviceOptions {
  /** The interface name (1..15 characters). */
  name: string;
  /** Set the MTU (68..65521); default: keep the interface's MTU (1500 for a new TAP). */
  mtu?: number;
  /** Create the TAP when it does not exist (default true); false: it must exist already. */
  create?: boolean;
  /** Cells in the receive ring (a power of two); default 512. */
  ringCells?: number;
}

/** Counts a TapDevice keeps (the forwarder counts its own drops as well). */
export interface TapCounters {
  received: number;
  sent: number;
  /** Frames longer than the batch slot or the ring cell: dropped, never truncated. */
  oversize: number;
  /** Frames the TAP refused on write (EAGAIN with a full queue, EIO while down, …). */
  writeErrors: number;
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

function ifreq(name: string): Uint8Array {
  const request = new Uint8Array(C.IFREQ_SIZE);
  for (let i = 0; i < name.length; i++) request[i] = name.charCodeAt(i);
  return request;
}

export class TapDevice implements Device {
  readonly name: string;
  readonly mtu: number;
  readonly maxFrameLength: number;
  /** The TAP's MAC address (text, lower case). */
  readonly mac: string;
  /** True when this process created the TAP (it disappears on close); false for a persistent TAP that existed. */
  readonly created: boolean;
  /** Bytes of virtio-net header in front of each frame (0 until IFF_VNET_HDR is enabled). */
  readonly vnetHeaderLength: number;
  readonly counters: TapCounters = { received: 0, sent: 0, oversize: 0, writeErrors: 0 };
  /** The TAP's fd (for diagnostics and tests; the forwarder never needs it). */
  readonly fd: number;

  private readonly ring: Ring;
  private events: PortEvents | undefined;
  private reader: ReaderWorker | undefined;
  private closing: Promise<void> | undefined;

  private constructor(fd: number, name: string, mtu: number, mac: string, created: boolean, ringCells: number) {
    this.fd = fd;
    this.name = name;
    this.mtu = mtu;
    this.mac = mac;
    this.created = created;
    this.vnetHeaderLength = 0;
    this.maxFrameLength = mtu + FRAME_OVERHEAD;
    // One byte more than the largest frame: a read that fills the cell was cut, and is dropped.
    this.ring = new Ring(ringCells, this.vnetHeaderLength + this.maxFrameLength + 1);
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
    const ringCells = options.ringCells ?? 512;
    const existed = existsSync(`/sys/class/net/${name}`);
    if (options.create === false && !existed) throw tapError(name, `opening it (create is false and no interface ${name} exists)`, C.ENODEV);
    const libc = C.libc();
    const fd = libc.open(TUN_PATH, C.O_RDWR | C.O_NONBLOCK | C.O_CLOEXEC, 0);
    if (fd < 0) throw tapError(name, `opening ${TUN_PATH}`, C.errno());
    let control = -1;
    try {
      const request = ifreq(name);
      new DataView(request.buffer).setUint16(16, C.IFF_TAP | C.IFF_NO_PI, true);
      if (libc.ioctl(fd, C.TUNSETIFF, request) !== 0) {
        const code = C.errno();
        // EINVAL here: an interface of that name that is not a TAP, or a TAP with other flags.
        if (code === C.EINVAL) throw tapError(name, `TUNSETIFF (an interface ${name} exists and is not a TAP without packet info)`, code);
        throw tapError(name, 'TUNSETIFF', code);
      }
      control = libc.socket(C.AF_INET, C.SOCK_DGRAM | C.SOCK_CLOEXEC, 0);
      if (control < 0) throw tapError(name, 'socket(AF_INET) for its ioctls', C.errno());
      const call = (request: number, what: string, fill?: (view: DataView) => void): DataView => {
        const bytes = ifreq(name);
        const view = new DataView(bytes.buffer);
        fill?.(view);
        if (libc.ioctl(control, request, bytes) !== 0) throw tapError(name, what, C.errno());
        return view;
      };
      if (mtu !== undefined) call(C.SIOCSIFMTU, `setting MTU ${mtu}`, (view) => view.setInt32(16, mtu, true));
      const actualMtu = call(C.SIOCGIFMTU, 'reading the MTU').getInt32(16, true);
      const flags = call(C.SIOCGIFFLAGS, 'reading the flags').getUint16(16, true);
      if ((flags & C.IFF_UP) === 0) call(C.SIOCSIFFLAGS, 'bringing it up', (view) => view.setUint16(16, flags | C.IFF_UP, true));
      const hw = call(C.SIOCGIFHWADDR, 'reading the MAC');
      const mac = formatMac(new Uint8Array(hw.buffer), 18);
      return new TapDevice(fd, name, actualMtu, mac, !existed, ringCells);
    } catch (error) {
      libc.close(fd);
      throw error;
    } finally {
      if (control >= 0) libc.close(control);
    }
  }

  start(events: PortEvents): void {
    if (this.events !== undefined) throw new Error('TapDevice.start called twice');
    if (this.closing !== undefined) throw new Error(`TapDevice ${this.name} is closed`);
    this.events = events;
    this.reader = new ReaderWorker(this.ring, this.fd, 'frames', `tap ${this.name}`, events);
  }

  /** Frames the reader dropped because they did not fit its buffer (the TAP said EFAULT). */
  private get readerDropped(): number {
    return Atomics.load(this.ring.control, CTRL_DROPPED);
  }

  receive(batch: PacketBatch, first: number, max: number): number {
    const ring = this.ring;
    const available = ring.available();
    const limit = batch.slotStride - SLOT_HEADROOM;
    const skip = this.vnetHeaderLength;
    const bytes = batch.bytes;
    let count = 0;
    let consumed = 0;
    while (count < max && consumed < available) {
      const k = ring.index(consumed++);
      const length = ring.lengths[k] - skip;
      if (length < 0 || length > limit) {
        this.counters.oversize++;
        continue;
      }
      const slot = first + count;
      const start = ring.cellStart(k) + skip;
      ring.bytes.copy(bytes, batch.slotPointer(slot) + SLOT_HEADROOM, start, start + length);
      batch.setInner(slot, length, 0);
      count++;
    }
    ring.release(consumed);
    this.counters.received += count;
    if (ring.available() > 0 || ring.idle()) this.events?.wake();
    return count;
  }

  transmit(batch: PacketBatch, slots: Int32Array, count: number): number {
    if (this.closing !== undefined) {
      this.counters.writeErrors += count;
      return 0;
    }
    const libc = C.libc();
    // Per call, not per frame: WASM memory moves when it grows.
    const base = C.addressOf(batch.bytes);
    let taken = 0;
    for (let n = 0; n < count; n++) {
      const i = slots[n];
      const length = batch.innerLength(i);
      let written = libc.writeAt(this.fd, base + batch.innerStart(i), length);
      if (written < 0 && C.errno() === C.EINTR) written = libc.writeAt(this.fd, base + batch.innerStart(i), length);
      if (written === length) taken++;
      else this.counters.writeErrors++;
    }
    this.counters.sent += taken;
    return taken;
  }

  /** Stop the reader, close the fd: a TAP this process created disappears with it. Idempotent. */
  close(): Promise<void> {
    if (this.closing === undefined) {
      this.closing = (async () => {
        try {
          if (this.reader !== undefined) await this.reader.stop();
        } finally {
          this.counters.oversize += this.readerDropped;
          C.libc().close(this.fd);
        }
      })();
    }
    return this.closing;
  }
}
