// In-memory ports for unit tests of the forwarder's logic: a Device that records what it is given
// and emits what a test queues, and Underlays joined by a Map that stands in for the network.
import type { PacketBatch } from '../../src/batch/packet-batch';
import type { Device, Endpoint, DeviceEvents, SuperFrame, Underlay, UnderlayCounters, UnderlayEvents } from '../../src/forwarder/contracts';
import { datagramLength, datagramStart, emptySuperFrame, VXLAN_HEADER_LEN } from '../../src/forwarder/contracts';
import { SLOT_HEADROOM } from '../../src/wasm/abi';

export class FakeDevice implements Device {
  readonly maxFrameLength = 1514;
  readonly queued: Uint8Array[] = [];
  readonly written: Uint8Array[] = [];
  closed = false;
  private events: DeviceEvents | undefined;
  constructor(readonly name: string) {}
  start(events: DeviceEvents): void {
    this.events = events;
    if (this.queued.length > 0) events.wake();
  }
  /** Queue frames as if they arrived on the port. */
  inject(...frames: Uint8Array[]): void {
    this.queued.push(...frames);
    this.events?.wake();
  }
  receive(batch: PacketBatch, first: number, max: number): number {
    let count = 0;
    while (count < max && this.queued.length > 0) {
      const frame = this.queued.shift()!;
      batch.payload(first + count).set(frame);
      batch.setInner(first + count, frame.length, 0);
      count++;
    }
    return count;
  }
  transmit(batch: PacketBatch, slots: Int32Array, count: number): number {
    for (let k = 0; k < count; k++) this.written.push(batch.inner(slots[k]).slice());
    return count;
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

/** Stands in for the IP network: datagrams to "address|port" land in that underlay's queue. */
export class FakeNetwork {
  readonly underlays = new Map<string, FakeUnderlay>();
  underlay(address: string, port = 4789): FakeUnderlay {
    const underlay = new FakeUnderlay(this, address, port);
    this.underlays.set(`${address}|${port}`, underlay);
    return underlay;
  }
}

export class FakeUnderlay implements Underlay {
  readonly family: 4 | 6;
  readonly counters: UnderlayCounters = { received: 0, sent: 0, unknownSource: 0, oversize: 0, sendErrors: 0 };
  readonly inbox: { from: Endpoint; datagram: Uint8Array }[] = [];
  /** Every datagram sent, with its destination. */
  readonly sentLog: { to: Endpoint; datagram: Uint8Array }[] = [];
  closed = false;
  private events: UnderlayEvents | undefined;
  private readonly endpoints = new Map<number, Endpoint>();
  private readonly ids = new Map<string, number>();
  constructor(private readonly network: FakeNetwork, readonly localAddress: string, readonly localPort: number) {
    this.family = localAddress.includes(':') ? 6 : 4;
  }
  start(events: UnderlayEvents): void {
    this.events = events;
  }
  /** The endpoints the forwarder has told this underlay of (setEndpoint), by address. */
  knownAddresses(): string[] {
    return [...this.endpoints.values()].map((endpoint) => endpoint.address).sort();
  }
  setEndpoint(id: number, endpoint: Endpoint | undefined): void {
    const old = this.endpoints.get(id);
    if (old !== undefined) this.ids.delete(`${old.address}|${old.port}`);
    if (endpoint === undefined) this.endpoints.delete(id);
    else {
      this.endpoints.set(id, endpoint);
      this.ids.set(`${endpoint.address}|${endpoint.port}`, id);
    }
  }
  /**
   * Offer `datagram` (a VXLAN header and a TCP super-frame over IPv4) whole to the forwarder, as a
   * tunnel TAP's super-packet from `from` (UnderlayEvents.superPacket): its answer, or undefined
   * when the forwarder takes none (or refused the source).
   */
  offerWhole(from: Endpoint, datagram: Uint8Array, gsoSize: number): boolean | undefined {
    const id = this.ids.get(`${from.address}|${from.port}`) ?? this.events!.admit(from);
    if (id < 0) return undefined;
    const frame: SuperFrame = {
      ...emptySuperFrame(), bytes: datagram, start: VXLAN_HEADER_LEN, length: datagram.length - VXLAN_HEADER_LEN,
      gsoType: 1, gsoSize, csumStart: 34, csumOffset: 16, headerLength: 54,
    };
    return this.events!.superPacket?.(frame, 0, id);
  }
  /** Deliver a datagram as if `from` had sent it. */
  deliver(from: Endpoint, datagram: Uint8Array): void {
    this.inbox.push({ from, datagram });
    this.events?.wake();
  }
  receive(batch: PacketBatch, first: number, max: number, sources: Int32Array): number {
    let count = 0;
    while (count < max && this.inbox.length > 0) {
      const { from, datagram } = this.inbox.shift()!;
      let id = this.ids.get(`${from.address}|${from.port}`);
      if (id === undefined) {
        id = this.events!.admit(from);
        if (id < 0) {
          this.counters.unknownSource++;
          continue;
        }
      }
      const slot = first + count;
      batch.slot(slot).set(datagram, SLOT_HEADROOM - VXLAN_HEADER_LEN);
      batch.setFrame(slot, datagram.length, SLOT_HEADROOM - VXLAN_HEADER_LEN);
      sources[slot] = id;
      this.counters.received++;
      count++;
    }
    return count;
  }
  transmit(batch: PacketBatch, slots: Int32Array, destinations: Int32Array, count: number): number {
    for (let k = 0; k < count; k++) {
      const to = this.endpoints.get(destinations[k])!;
      const start = datagramStart(batch, slots[k]);
      const datagram = batch.bytes.slice(start, start + datagramLength(batch, slots[k]));
      this.sentLog.push({ to, datagram });
      this.network.underlays.get(`${to.address}|${to.port}`)?.deliver({ address: this.localAddress, port: this.localPort }, datagram);
      this.counters.sent++;
    }
    return count;
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

/** An Ethernet frame: destination, source, EtherType 0x0800, then `payloadLength` bytes of `fill`. */
export function ethernetFrame(destination: string, source: string, payloadLength = 46, fill = 0xab): Uint8Array {
  const frame = new Uint8Array(14 + payloadLength).fill(fill);
  const put = (mac: string, at: number) => mac.split(':').forEach((byte, i) => { frame[at + i] = parseInt(byte, 16); });
  put(destination, 0);
  put(source, 6);
  frame[12] = 0x08;
  frame[13] = 0x00;
  return frame;
}

/** A VXLAN datagram (header + inner frame) as a peer would send it. */
export function vxlanDatagram(vni: number, inner: Uint8Array, flags = 0x08): Uint8Array {
  const datagram = new Uint8Array(8 + inner.length);
  datagram[0] = flags;
  datagram[4] = vni >> 16;
  datagram[5] = (vni >> 8) & 0xff;
  datagram[6] = vni & 0xff;
  datagram.set(inner, 8);
  return datagram;
}

/**
 * Let the pumps run: each hop (device → forwarder → fake network → forwarder → device) is one
 * setImmediate, so waiting a number of event-loop turns, not of milliseconds, makes the tests
 * independent of how fast the machine is.
 */
export async function settle(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
}
