/**
 * The two sides of a forwarder, as interfaces with written contracts. The forwarder never sees a
 * file descriptor: a Device is an Ethernet interface on this host (a Linux TAP, the in-process
 * UserspaceHost, or one an embedding agent supplies); an Underlay carries VXLAN datagrams to and
 * from the other hosts (a UDP socket). Tests plug in-memory fakes into both.
 *
 * Both are pull-based and batch-shaped: each side calls `wake()` when something is waiting, and the
 * forwarder then asks it to move what is waiting straight into PacketBatch slots. Frames never
 * become per-frame objects on the way.
 *
 *   slot i:  [ .... headroom .... | VXLAN (8) | inner Ethernet frame ............ ]
 *            ^ slotPointer(i)      ^ datagramStart   ^ slotPointer(i) + SLOT_HEADROOM
 *
 * An inner frame always starts at SLOT_HEADROOM (the payload area), so a frame read from a device
 * is encapsulated in place, and a datagram received from the underlay lands 8 bytes earlier, so
 * its inner frame is where a device write expects it.
 */
import type { PacketBatch } from '../batch/packet-batch';
import { SLOT_HEADROOM } from '../wasm/abi';
import { VXLAN_HEADER_LEN as WIRE_VXLAN_HEADER_LEN } from '../wire/vxlan';

/** What became of a super-frame offered to a device whole (Device.transmitSuperFrame). */
export type SuperFrameWrite = 'written' | 'failed' | 'declined';

/**
 * Bytes of the VXLAN header (RFC 7348 §5), which a UDP underlay sends in front of each inner
 * frame: the wire codec's constant. A constant of its own here, not a re-export: re-exported,
 * rollup-plugin-dts declared the wire codecs' type names as values in dist/index.d.mts (TS2693).
 */
export const VXLAN_HEADER_LEN = WIRE_VXLAN_HEADER_LEN;

/**
 * A TCP super-frame (TSO, up to 64 KB) a device read whole, as its virtio-net header describes it.
 * The device reuses one object: read it inside the `superFrame` call only.
 */
export interface SuperFrame {
  /** The frame's bytes are `bytes[start .. start + length)`, at memory address `address` (for a write without a copy). */
  bytes: Uint8Array;
  start: number;
  length: number;
  address: number;
  /** virtio-net header fields (linux/virtio_net.h): GSO type (TCPV4 1, TCPV6 4, ECN 0x80), segment size, where the checksum starts and sits, header length. */
  gsoType: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
  headerLength: number;
}

/** A fresh SuperFrame for a device to refill per super-frame. */
export function emptySuperFrame(): SuperFrame {
  return { bytes: new Uint8Array(0), start: 0, length: 0, address: 0, gsoType: 0, gsoSize: 0, csumStart: 0, csumOffset: 0, headerLength: 0 };
}

/** The segments a super-frame carries (what the kernel cuts it into): frame counts mean the same whether frames travel whole or split. */
export function superFrameSegments(frame: SuperFrame): number {
  return frame.gsoSize > 0 ? Math.max(1, Math.ceil((frame.length - frame.headerLength) / frame.gsoSize)) : 1;
}

/** The bytes of those segments (each with its own copy of the headers): byte counts mean the same whether frames travel whole or split. */
export function superFrameSegmentBytes(frame: SuperFrame): number {
  return frame.length + (superFrameSegments(frame) - 1) * frame.headerLength;
}

/** Callbacks a device (or the underlay) uses to reach the forwarder. Both are cheap and may be called from any event-loop tick. */
export interface DeviceEvents {
  /** Something is waiting: the forwarder will call `receive` (soon, not inside this call). Calling it again before that is harmless. */
  wake(): void;
  /** The device broke for good (its worker died, its fd failed): the forwarder stops, loudly. */
  fail(error: Error): void;
  /**
   * Optional, devices with TSO only: a super-frame is offered whole before it is split into slots;
   * `true` means it was sent on (the device drops it from its queue), `false` that the device
   * should split it as usual. Synchronous: the bytes are the device's until it returns.
   */
  superFrame?(frame: SuperFrame): boolean;
}

/**
 * An Ethernet device (the host side). Contract:
 * - `start` is called once; frames may be delivered only after it.
 * - `receive(batch, first, max)` moves up to `max` waiting frames into slots first..first+count-1:
 *   for each, the frame's bytes go to `batch.payload(i)` and `batch.setInner(i, length, 0)` is
 *   called. It returns `count` and never blocks. A frame longer than the slot is dropped and
 *   counted by the device (`oversize`), never truncated.
 * - `transmit(batch, slots, count)` writes the inner frames of slots `slots[0..count)` (bytes
 *   `batch.innerStart(i)` .. `+ batch.innerLength(i)`) out of the device, before it returns; the
 *   slots are reused right after. It returns how many the device took; the rest are counted by the
 *   forwarder as `DEVICE_ERROR` drops.
 * - `close()` stops delivery and releases everything (a TAP it created is removed). Idempotent.
 */
/** @deprecated Use DeviceEvents: this name stays only so that code written against 0.1 compiles. */
export type PortEvents = DeviceEvents;

export interface Device {
  /** For logs and metrics, e.g. the TAP's interface name. */
  readonly name: string;
  /** The largest frame (Ethernet header included, no FCS) the device delivers or takes. */
  readonly maxFrameLength: number;
  start(events: DeviceEvents): void;
  receive(batch: PacketBatch, first: number, max: number): number;
  transmit(batch: PacketBatch, slots: Int32Array, count: number): number;
  /**
   * Optional, devices with TSO only: write one TCP super-frame whole (its virtio-net fields say how
   * the kernel cuts it), before returning: 'written'; 'failed' (the write failed: the forwarder
   * counts it); 'declined' (this device cannot take super-frames now: the caller splits it instead).
   */
  transmitSuperFrame?(frame: SuperFrame): SuperFrameWrite;
  close(): Promise<void>;
}

/** A remote VTEP's underlay address: `address` is IPv4 or IPv6 text, `port` its VXLAN UDP port. */
export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

export interface UnderlayEvents extends DeviceEvents {
  /**
   * A datagram came from an endpoint that has no id yet. Return the id it gets from now on (the
   * forwarder then calls `setEndpoint(id, endpoint)` itself), or -1 to refuse it: the datagram is
   * dropped and counted (`unknownSource`). The underlay remembers the answer for that source, in a
   * bounded cache, so this is called once per new source, not once per datagram. `endpoint` is
   * the datagram's source address and source port; the forwarder matches VTEPs by address (they
   * send from per-flow source ports), so many source ports may map to one id.
   */
  admit(endpoint: Endpoint): number;
  /**
   * Optional: a whole VXLAN super-packet arrived (UDP-tunnel GSO, read whole from a tunnel TAP):
   * `frame` is its inner frame, a TCP super-frame, and its VXLAN header is the 8 bytes at
   * `frame.bytes[vxlanAt]`; `source` is the sender's endpoint id. `true`: taken (written to a
   * device whole, or dropped and counted); `false`: the underlay splits it into datagrams as usual.
   * Synchronous: the bytes are the underlay's until it returns.
   */
  superPacket?(frame: SuperFrame, vxlanAt: number, source: number): boolean;
}

/** Datagram and drop counts an underlay keeps. */
export interface UnderlayCounters {
  received: number;
  sent: number;
  /** Datagrams from sources the forwarder refused. */
  unknownSource: number;
  /** Datagrams longer than a slot (never truncated). */
  oversize: number;
  /** Sends the kernel refused (EAGAIN with a full socket buffer, EHOSTUNREACH, …). */
  sendErrors: number;
}

/**
 * VXLAN datagrams to and from the other hosts. Contract:
 * - Endpoints are named by small integer ids the forwarder assigns (`setEndpoint`); a datagram's
 *   source is reported as such an id, so no address text is made per datagram.
 * - `receive(batch, first, max, sources)` moves up to `max` waiting datagrams (UDP payload: VXLAN
 *   header then inner frame) into slots first..first+count-1 with
 *   `batch.setFrame(i, length, SLOT_HEADROOM - VXLAN_HEADER_LEN)` after writing the bytes at
 *   `batch.slot(i)` from that offset, and the source's id into `sources[i]`. Datagrams from refused
 *   sources are dropped inside the underlay. Returns count; never blocks.
 * - `transmit(batch, slots, destinations, count)` sends, for each k < count, slot `slots[k]`'s
 *   datagram (`datagramStart(batch, i)`, `datagramLength(batch, i)`) to endpoint
 *   `destinations[k]`, before it returns. Returns how many the kernel took.
 * - `close()` stops delivery and closes the socket. Idempotent.
 */
export interface Underlay {
  /** 4 or 6: the family of the local address and of every endpoint. */
  readonly family: 4 | 6;
  readonly localAddress: string;
  /** The bound UDP port (the real one when 0 was asked for). */
  readonly localPort: number;
  readonly counters: UnderlayCounters;
  start(events: UnderlayEvents): void;
  /** Give `id` an address to send to (or forget it with `undefined`); receive reports it as `id` from then on. */
  setEndpoint(id: number, endpoint: Endpoint | undefined): void;
  receive(batch: PacketBatch, first: number, max: number, sources: Int32Array): number;
  transmit(batch: PacketBatch, slots: Int32Array, destinations: Int32Array, count: number): number;
  close(): Promise<void>;
}

/** Where slot i's VXLAN datagram starts in `batch.bytes`: the 8 bytes in front of the inner frame. */
export function datagramStart(batch: PacketBatch, index: number): number {
  return batch.slotPointer(index) + SLOT_HEADROOM - VXLAN_HEADER_LEN;
}

/** The datagram's length: the VXLAN header plus the inner frame. */
export function datagramLength(batch: PacketBatch, index: number): number {
  return VXLAN_HEADER_LEN + batch.innerLength(index);
}
