/**
 * Forwarder: a userspace VTEP. It switches Ethernet frames between the devices of this host (one
 * per VNI) and the other hosts' VTEPs over an underlay, the way the Linux `vxlan` device does:
 *
 *   device → frames land in PacketBatch slots (payload area)           (Device.receive)
 *     1. Encapsulator.run: the VXLAN header of the device's VNI written in place, in front of
 *        every frame of the batch, in one call
 *     2. per frame: drop a multicast source MAC; answer ARP / neighbour solicitations whose
 *        answer the neighbour table knows, in place, back to the device (never flooded)
 *     3. destination MAC → FDB of the device's VNI → one endpoint, or every peer of the VNI for
 *        broadcast / multicast / unknown unicast (head-end replication: the same slot listed once
 *        per peer, so a UDP underlay sends one datagram to each without a copy)
 *     4. Underlay.transmit: one batched send of the datagrams to their endpoints
 *
 *   underlay → datagrams land in slots, 8 bytes before the payload area (Underlay.receive;
 *              only from admitted sources: configured peers and allowed CIDRs)
 *     1. check the VXLAN header (strict, as Linux: I flag set, reserved bits zero; GBP bits only
 *        with `gbp`), the VNI names a network, the inner frame holds an Ethernet header, its source
 *        MAC is not multicast
 *     2. learn the inner source MAC behind the datagram's source endpoint (static entries stay)
 *     3. Device.transmit of the VNI's device: never back to the underlay (split horizon)
 *
 * With a UDP socket underlay the kernel writes the outer IP and UDP headers (and checks them on
 * receive); the forwarder writes and checks the VXLAN header. Every frame that is not forwarded is
 * counted by reason; nothing on these paths allocates per frame or makes address text.
 */
import { EventEmitter } from 'node:events';
// Imported, not the global: the global `performance` is an accessor that runs a check on every use.
import { performance } from 'node:perf_hooks';
import { Encapsulator } from '../batch/encapsulator';
import { PacketBatch } from '../batch/packet-batch';
import type { Kernels } from '../wasm/abi';
import { PARTIAL_FINISHED, SLOT_HEADROOM } from '../wasm/abi';
import { createKernels, defaultBackendName } from '../backend';
import type { TunnelOptions } from '../types';
import { parseIp } from '../wire/address';
import { checkInteger } from '../wire/fields';
import type { Device, Endpoint, SuperFrame, Underlay } from './contracts';
import { VXLAN_HEADER_LEN, superFrameSegmentBytes, superFrameSegments } from './contracts';
import { Fdb, type FdbEntrySnapshot, type FdbEvent, isMulticastAt, macKey, macKeyAt, macText } from './fdb';
import { AddressSet, canonicalIp } from './address-set';
import { NeighbourTable, type NeighbourCounters } from './neighbours';
import { EndpointTable, FloodList } from './endpoints';

/** Why a frame was not forwarded. */
export const DROP_REASONS = [
  'TRUNCATED', 'VXLAN_I_FLAG_MISSING', 'VXLAN_RESERVED_BITS', 'UNKNOWN_VNI', 'INNER_TOO_SHORT',
  'INNER_SOURCE_MULTICAST', 'NO_PEERS', 'OVERSIZE', 'SLOT_INVALID', 'DEVICE_ERROR', 'SEND_ERROR', 'UNKNOWN_SOURCE',
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export interface NetworkOptions {
  vni: number;
  device: Device;
  /** Remote VTEPs of this VNI: broadcast, multicast and unknown unicast go to each of them. */
  peers?: readonly Endpoint[];
  /** Static FDB entries: this MAC is behind that VTEP (never moved by learning, never aged). */
  fdb?: readonly { mac: string; endpoint: Endpoint }[];
}

export interface ForwarderOptions {
  underlay: Underlay;
  networks?: readonly NetworkOptions[];
  /** Besides the peers, accept VXLAN from sources in these CIDRs (e.g. '10.0.0.0/8'); learned from, never flooded to. */
  allowedSources?: readonly string[];
  /** Learned FDB entries expire after this long without a frame (default 300 000 ms, as Linux). */
  ageingMs?: number;
  /** Learned entries per VNI at most (default 16 384); beyond it nothing is learned (counted). */
  maxFdbEntries?: number;
  /** Accept the Group Policy extension's bits (G, D, A, group) instead of dropping such frames. */
  gbp?: boolean;
  /** UDP port of VTEPs admitted by `allowedSources` (default 4789), as the Linux device's `dstport`. */
  remotePort?: number;
  /** Slots per batch (default 64): how many frames one kernel call and one send handle at most. */
  batchSize?: number;
  /** The kernels to run on (default: a fresh instance of the best backend here). */
  kernels?: Kernels;
  /** Milliseconds, monotonic (default performance.now): tests pass a fake clock. */
  clock?: () => number;
  /**
   * Where TCP super-frames of a device with TSO go whole, when their destination is one known
   * VTEP (a TunnelGsoTap: `forward --tunnel-gso`); the rest is split and sent as datagrams.
   */
  superFrames?: SuperFrameSink;
}

/** Sends a super-frame as one VXLAN packet to a VTEP; false when it cannot (then it is split as usual). */
export interface SuperFrameSink {
  send(frame: SuperFrame, vni: number, address: string, port: number): boolean;
}

export interface DirectionCounters {
  frames: number;
  bytes: number;
}

export interface NetworkCounters {
  vni: number;
  device: string;
  /**
   * Frames from the device sent towards peers (each replica counted). A super-frame sent whole
   * counts as the segments it carries, each with its headers, as if it had been split.
   */
  toUnderlay: DirectionCounters;
  /** Frames from peers written to the device; bytes of the frames handed to it (a refused write is a DEVICE_ERROR drop); a super-frame as above. */
  toDevice: DirectionCounters;
  /** Frames replicated to every peer (broadcast, multicast, unknown unicast). */
  flooded: number;
  fdbEntries: number;
}

export interface ForwarderCounters {
  networks: NetworkCounters[];
  drops: Record<DropReason, number>;
  fdb: { learned: number; moved: number; aged: number; notLearnedFull: number };
  /** ARP and IPv6 neighbour solicitations answered locally, or flooded for want of an answer. */
  neighbours: NeighbourCounters;
  /** Batches handled and the frames they held: frames / batches is the mean batch size. */
  batches: { fromDevice: number; fromDeviceFrames: number; fromUnderlay: number; fromUnderlayFrames: number };
  /**
   * Inner checksums from peers: TCP/UDP segments a Linux sender on this host or hypervisor left
   * partial (the field holds the pseudo-header sum), finished before the device write.
   */
  checksums: { partialFinished: number };
}

interface Network {
  readonly vni: number;
  readonly device: Device;
  /** The Encapsulator tunnel that carries this VNI. */
  readonly tunnel: number;
  readonly fdb: Fdb;
  /** Overlay IP → MAC bindings the control plane knows: ARP and ND answered locally from them. */
  readonly neighbours: NeighbourTable;
  /** Endpoint ids of the peers, in a typed array for the flood loop (O(1) to add or remove one). */
  readonly peers: FloodList;
  readonly counters: NetworkCounters;
  /** Slots of the receive batch to write to this device, gathered per batch. */
  readonly deviceSlots: Int32Array;
  deviceSlotCount: number;
}

/** Encapsulator tunnels reserved up front: one per VNI, so adding a network never reserves memory. */
const MAX_NETWORKS = 256;
/** Remote endpoints known at once (peers, FDB targets, admitted sources). */
const MAX_ENDPOINTS = 65_536;
/** Pump rounds per event-loop turn before yielding to timers and I/O callbacks. */
const ROUNDS_PER_TURN = 16;
/** VXLAN flag bits (RFC 7348 §5, GBP draft). */
const FLAG_I = 0x08;
const FLAG_G = 0x80;
const GBP_D_A = 0x48;

/**
 * The events a Forwarder emits, typed: `forwarder.on('fdb', (events) => …)` needs no annotation.
 * 'fdb': learned, moved and aged entries, in batches (at most one per pump turn, never one per
 * frame). 'error': the device or the underlay broke; the forwarder has closed itself.
 */
export interface ForwarderEvents {
  fdb: [events: FdbEvent[]];
  error: [error: Error];
}

export class Forwarder extends EventEmitter<ForwarderEvents> {
  readonly underlay: Underlay;
  readonly kernels: Kernels;
  readonly batchSize: number;
  readonly remotePort: number;
  private readonly gbp: boolean;
  private readonly clock: () => number;
  private readonly superFrames: SuperFrameSink | undefined;
  private readonly fdbOptions: { ageingMs: number | undefined; maxEntries: number | undefined };
  private readonly allowed: AddressSet;

  private readonly networks = new Map<number, Network>();
  private readonly encapsulator: Encapsulator;
  private readonly placeholderTunnel: TunnelOptions;
  private readonly txBatch: PacketBatch;
  private readonly rxBatch: PacketBatch;
  private readonly txDestinations: Int32Array;
  private readonly txSlots: Int32Array;
  private readonly rxSources: Int32Array;

  /** Remote VTEPs by id, counted by what refers to them (flood lists, FDB entries). */
  private readonly endpoints: EndpointTable;

  private readonly drops = Object.fromEntries(DROP_REASONS.map((reason) => [reason, 0])) as Record<DropReason, number>;
  private readonly fdbCounters = { learned: 0, moved: 0, aged: 0, notLearnedFull: 0 };
  private readonly neighbourCounters: NeighbourCounters = { arpAnswered: 0, ndAnswered: 0, arpFlooded: 0, ndFlooded: 0 };
  /** Slots of the device batch holding answers to write back to the device. */
  private readonly answerSlots: Int32Array;
  private readonly batchCounters = { fromDevice: 0, fromDeviceFrames: 0, fromUnderlay: 0, fromUnderlayFrames: 0 };
  private readonly checksumCounters = { partialFinished: 0 };
  private pendingEvents: FdbEvent[] = [];

  private started = false;
  private closing: Promise<void> | undefined;
  private pumpScheduled = false;
  /** The caller runs the pump (pumpedByCaller): a wake only marks it due, nothing is scheduled. */
  private callerPumps = false;
  /**
   * Pump runs that moved frames: `inline` run by pumpNow right after the reads that brought them,
   * `deferred` on a later turn of the event loop (every run for sides read by worker threads, and a
   * busy run's continuation). With pumpNow, a lone frame at idle is always moved inline.
   * `scheduled`: pump runs put on the event loop (setImmediate); none once pumpedByCaller.
   */
  readonly pumpCounters = { inline: 0, deferred: 0, scheduled: 0 };
  private ageingTimer: NodeJS.Timeout | undefined;

  constructor(options: ForwarderOptions) {
    super();
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    if (typeof options.underlay !== 'object' || options.underlay === null) throw new TypeError('underlay must be an Underlay');
    this.underlay = options.underlay;
    this.batchSize = checkInteger(options.batchSize ?? 64, 'batchSize', 1, 1024);
    this.remotePort = checkInteger(options.remotePort ?? 4789, 'remotePort', 1, 65535);
    this.gbp = options.gbp === true;
    this.clock = options.clock ?? (() => performance.now());
    this.superFrames = options.superFrames;
    this.fdbOptions = { ageingMs: options.ageingMs, maxEntries: options.maxFdbEntries };
    new Fdb(this.fdbOptions); // validates both before anything is reserved
    this.allowed = new AddressSet(options.allowedSources ?? [], 'allowedSources');
    const networks = options.networks ?? [];
    for (const network of networks) this.checkNetwork(network);

    this.endpoints = new EndpointTable((id, endpoint) => this.underlay.setEndpoint(id, endpoint));
    this.kernels = options.kernels ?? createKernels(defaultBackendName());
    // The Encapsulator writes a whole outer header; over a UDP socket only its last 8 bytes (the
    // VXLAN header) are sent, so the outer addresses are placeholders of the underlay's family.
    const ip = this.underlay.family === 4 ? '192.0.2.1' : '2001:db8::1';
    this.placeholderTunnel = {
      vni: 0, source: { mac: '02:00:00:00:00:00', ip, port: 4789 }, destination: { mac: '02:00:00:00:00:00', ip },
    };
    this.encapsulator = new Encapsulator(new Array(MAX_NETWORKS).fill(this.placeholderTunnel), {
      kernels: this.kernels, udpChecksumMode: this.underlay.family === 4 ? 'zero' : 'offload',
    });
    const slotSize = Math.max(1536, ...networks.map((network) => network.device.maxFrameLength));
    this.txBatch = new PacketBatch({ capacity: this.batchSize, slotSize, kernels: this.kernels });
    this.rxBatch = new PacketBatch({ capacity: this.batchSize, slotSize, kernels: this.kernels });
    // Room for a whole batch flooded to a few peers before a send must be made mid-batch.
    this.txDestinations = new Int32Array(this.batchSize * 4);
    this.txSlots = new Int32Array(this.batchSize * 4);
    this.rxSources = new Int32Array(this.batchSize);
    this.answerSlots = new Int32Array(this.batchSize);
    for (const network of networks) this.addNetwork(network);
  }

  private checkNetwork(network: NetworkOptions): void {
    if (typeof network !== 'object' || network === null) throw new TypeError('each network must be an object { vni, device, peers?, fdb? }');
    checkInteger(network.vni, 'vni', 0, 0xffffff);
    if (typeof network.device !== 'object' || network.device === null) throw new TypeError(`vni ${network.vni}: device must be a Device`);
    for (const peer of network.peers ?? []) this.checkEndpoint(peer, `vni ${network.vni}: peer`);
    for (const entry of network.fdb ?? []) {
      macKey(entry.mac);
      this.checkEndpoint(entry.endpoint, `vni ${network.vni}: fdb entry for ${entry.mac}`);
    }
  }

  private checkEndpoint(endpoint: Endpoint, what: string): void {
    if (typeof endpoint !== 'object' || endpoint === null) throw new TypeError(`${what} must be { address, port }`);
    const ip = parseIp(endpoint.address);
    if (ip.version !== this.underlay.family) {
      throw new TypeError(`${what} ${endpoint.address} is IPv${ip.version} but the underlay is IPv${this.underlay.family}`);
    }
    checkInteger(endpoint.port, `${what} port`, 1, 65535);
  }

  // ---- endpoints ---------------------------------------------------------------------------

  /** The endpoint an id names (ids appear in FDB snapshots and events). */
  endpoint(id: number): Endpoint | undefined {
    return this.endpoints.get(id);
  }

  /**
   * Which endpoint a datagram from `source` came from. VTEPs send from per-flow source ports (RFC
   * 7348 §5; Linux picks one per inner flow), so a source is matched by its address; the exact
   * address and port decide only when several endpoints share an address (forwarders on one
   * loopback address, as in the demo).
   */
  private admit(source: Endpoint): number {
    const address = canonicalIp(source.address);
    const exact = this.endpoints.find({ address, port: source.port });
    if (exact !== -1) return exact;
    const byAddress = this.endpoints.findByAddress(address);
    if (byAddress !== -1) return byAddress;
    // Sources admitted by CIDR get ids too, reached at the VXLAN port as Linux does for learned
    // remotes; ids nothing refers to are freed by the ageing sweep, and there are never more than
    // MAX_ENDPOINTS, so spoofed sources cannot grow memory.
    if (!this.allowed.has(address) || this.endpoints.size >= MAX_ENDPOINTS) return -1;
    return this.endpoints.idOf({ address, port: this.remotePort });
  }

  // ---- runtime control ---------------------------------------------------------------------

  /** Serve another VNI on its own device. */
  addNetwork(options: NetworkOptions): void {
    this.checkNetwork(options);
    if (this.networks.has(options.vni)) throw new RangeError(`vni ${options.vni} is already served`);
    if (options.device.maxFrameLength > this.txBatch.slotSize) {
      throw new RangeError(`vni ${options.vni}: device frames of ${options.device.maxFrameLength} bytes do not fit the forwarder's ${this.txBatch.slotSize}-byte slots`);
    }
    // The lowest Encapsulator tunnel no served VNI holds.
    const taken = new Set([...this.networks.values()].map((network) => network.tunnel));
    let tunnel = 0;
    while (taken.has(tunnel)) tunnel++;
    if (tunnel >= MAX_NETWORKS) throw new RangeError(`at most ${MAX_NETWORKS} VNIs per forwarder`);
    this.encapsulator.setTunnel(tunnel, { ...this.placeholderTunnel, vni: options.vni });
    const network: Network = {
      vni: options.vni, device: options.device, tunnel, fdb: new Fdb(this.fdbOptions, this.endpoints), neighbours: new NeighbourTable(), peers: new FloodList(),
      counters: { vni: options.vni, device: options.device.name, toUnderlay: { frames: 0, bytes: 0 }, toDevice: { frames: 0, bytes: 0 }, flooded: 0, fdbEntries: 0 },
      deviceSlots: new Int32Array(this.batchSize), deviceSlotCount: 0,
    };
    this.networks.set(options.vni, network);
    for (const peer of options.peers ?? []) this.addPeer(options.vni, peer);
    for (const entry of options.fdb ?? []) this.addFdbEntry(options.vni, entry.mac, entry.endpoint);
    if (this.started) this.startDevice(network);
  }

  /** Stop serving a VNI; its device is closed. */
  async removeNetwork(vni: number): Promise<void> {
    const network = this.network(vni);
    this.networks.delete(vni);
    // Its flood list and FDB let go of the endpoints they held (the last holder frees each).
    for (const id of network.peers.list()) {
      network.peers.delete(id);
      this.endpoints.unref(id);
    }
    network.fdb.clear();
    await network.device.close();
  }

  /** The VNIs served. */
  vnis(): number[] {
    return [...this.networks.keys()];
  }

  private network(vni: number): Network {
    const network = this.networks.get(vni);
    if (network === undefined) throw new RangeError(`vni ${String(vni)} is not served by this forwarder`);
    return network;
  }

  /** Add a remote VTEP to a VNI's flood list (idempotent). */
  addPeer(vni: number, endpoint: Endpoint): void {
    const network = this.network(vni);
    this.checkEndpoint(endpoint, 'peer');
    const id = this.endpoints.idOf(endpoint);
    if (network.peers.add(id)) this.endpoints.ref(id);
  }

  /** Remove a remote VTEP from a VNI: no more floods to it, its learned and static entries go too. */
  removePeer(vni: number, endpoint: Endpoint): boolean {
    const network = this.network(vni);
    const id = this.endpoints.find(endpoint);
    if (id === -1 || !network.peers.delete(id)) return false;
    // Its entries first, while the flood list still holds the endpoint; then the list lets go.
    network.fdb.deleteEndpoint(id);
    this.endpoints.unref(id);
    return true;
  }

  /** The peers of a VNI. */
  peers(vni: number): Endpoint[] {
    return this.network(vni).peers.list().map((id) => this.endpoints.get(id)!);
  }

  /** A static FDB entry: `mac` is behind `endpoint` (replaces a learned one; never moved or aged). */
  addFdbEntry(vni: number, mac: string, endpoint: Endpoint): void {
    const network = this.network(vni);
    this.checkEndpoint(endpoint, `fdb entry for ${mac}`);
    network.fdb.setStatic(macKey(mac), this.endpoints.idOf(endpoint));
  }

  removeFdbEntry(vni: number, mac: string): boolean {
    return this.network(vni).fdb.delete(macKey(mac));
  }

  /** Every FDB entry of a VNI (static and learned), with the endpoint's address. */
  fdbEntries(vni: number): (FdbEntrySnapshot & { address: string; port: number })[] {
    return this.network(vni).fdb.snapshot(this.clock()).map((entry) => ({ ...entry, ...this.endpoints.get(entry.endpoint)! }));
  }

  /**
   * `mac` was learned behind `endpoint` by another instance serving the same VTEP (the queue
   * workers of a MultiQueueForwarder tell each other what they learn this way): it becomes a
   * learned entry here too, or is refreshed or moved, as a frame from there would do, but without
   * an 'fdb' event or a learning counter (the instance that saw the frame counted it). A static
   * entry stays; when the VNI's table is full nothing is added.
   */
  learnedElsewhere(vni: number, mac: string, endpoint: Endpoint): void {
    const network = this.network(vni);
    this.checkEndpoint(endpoint, `learned entry for ${mac}`);
    network.fdb.learn(macKey(mac), this.endpoints.idOf(endpoint), this.clock(), false);
  }

  /**
   * Learned entries of every VNI a frame to this instance confirmed within the last `withinMs`,
   * for `learnedElsewhere` on the other instances (what they told this one is not among them).
   */
  recentlyLearned(withinMs: number): { vni: number; mac: string; endpoint: Endpoint }[] {
    const recent: { vni: number; mac: string; endpoint: Endpoint }[] = [];
    const now = this.clock();
    for (const network of this.networks.values()) {
      network.fdb.forEachLearned((mac, endpoint, heardAt) => {
        if (now - heardAt <= withinMs) recent.push({ vni: network.vni, mac: macText(mac), endpoint: this.endpoints.get(endpoint)! });
      });
    }
    return recent;
  }

  /**
   * `ip` (an overlay IPv4 or IPv6 address) is at `mac`: ARP requests and neighbour solicitations
   * for it from the VNI's device are answered locally, never flooded (the `proxy` of Linux's device).
   */
  addNeighbour(vni: number, ip: string, mac: string): void {
    this.network(vni).neighbours.set(ip, mac);
  }

  removeNeighbour(vni: number, ip: string): boolean {
    return this.network(vni).neighbours.delete(ip);
  }

  /** The VNI's neighbour table. */
  neighbours(vni: number): { ip: string; mac: string }[] {
    return this.network(vni).neighbours.list();
  }

  /** A snapshot of every counter (a copy: safe to keep). */
  counters(): ForwarderCounters {
    return structuredClone({
      networks: [...this.networks.values()].map((network) => ({ ...network.counters, fdbEntries: network.fdb.size })),
      // Refused sources and datagrams longer than a slot are dropped inside the underlay, before
      // any slot: it keeps those counts.
      drops: { ...this.drops, UNKNOWN_SOURCE: this.underlay.counters.unknownSource, OVERSIZE: this.underlay.counters.oversize },
      fdb: this.fdbCounters,
      neighbours: this.neighbourCounters,
      batches: this.batchCounters,
      checksums: this.checksumCounters,
    });
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  /** Start moving frames. Both sides fail loudly: a broken device or underlay closes the forwarder and emits 'error'. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.underlay.start({
      wake: () => this.schedulePump(),
      fail: (error) => this.fail(error),
      admit: (endpoint) => this.admit(endpoint),
      superPacket: (frame, vxlanAt, source) => this.receiveWhole(frame, vxlanAt, source),
    });
    for (const network of this.networks.values()) this.startDevice(network);
    const interval = Math.min(10_000, Math.max(10, (this.fdbOptions.ageingMs ?? 300_000) / 10));
    this.ageingTimer = setInterval(() => this.age(), interval);
    this.ageingTimer.unref();
  }

  private startDevice(network: Network): void {
    const sink = this.superFrames;
    network.device.start({
      wake: () => this.schedulePump(),
      fail: (error) => this.fail(error),
      ...(sink === undefined ? {} : { superFrame: (frame: SuperFrame) => this.sendWhole(network, frame, sink) }),
    });
  }

  /**
   * A device's TCP super-frame, before it is split: sent whole when its destination MAC is behind
   * one known VTEP (the sink declines what it cannot take: too long, IPv6); broadcast, unknown
   * unicast and answers the neighbour table makes go the usual way.
   */
  private sendWhole(network: Network, frame: SuperFrame, sink: SuperFrameSink): boolean {
    const bytes = frame.bytes;
    const start = frame.start;
    if (frame.length < 14 || isMulticastAt(bytes, start) || isMulticastAt(bytes, start + 6)) return false;
    const id = network.fdb.lookup(macKeyAt(bytes, start));
    const endpoint = id === -1 ? undefined : this.endpoints.get(id);
    if (endpoint === undefined || !sink.send(frame, network.vni, endpoint.address, endpoint.port)) return false;
    // Counted as the segments the kernel will make of it, so frame and byte counts mean the same either way.
    network.counters.toUnderlay.frames += superFrameSegments(frame);
    network.counters.toUnderlay.bytes += superFrameSegmentBytes(frame);
    return true;
  }

  private fail(error: Error): void {
    if (this.closing !== undefined) return;
    void this.close().finally(() => this.emit('error', error));
  }

  /** Stop: devices and underlay closed (a TAP the forwarder's device created is removed). Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.ageingTimer !== undefined) clearInterval(this.ageingTimer);
      this.flushEvents();
      await Promise.all([this.underlay.close(), ...[...this.networks.values()].map((network) => network.device.close())]);
    })();
    return this.closing;
  }

  /** Expire learned entries now (the ageing timer calls this; tests with a fake clock too). */
  age(): void {
    const now = this.clock();
    for (const network of this.networks.values()) {
      for (const { mac, endpoint } of network.fdb.age(now)) {
        this.fdbCounters.aged++;
        this.pendingEvents.push({ type: 'aged', vni: network.vni, mac: macText(mac), endpoint });
      }
    }
    // Ids made for admitted sources that no entry took.
    this.endpoints.sweep();
    this.flushEvents();
  }

  private flushEvents(): void {
    if (this.pendingEvents.length === 0) return;
    const events = this.pendingEvents;
    this.pendingEvents = [];
    this.emit('fdb', events);
  }

  /**
   * The device or the underlay woke the forwarder: pump on the next turn of the event loop, unless
   * pumpNow runs it first; once pumpedByCaller, only marked due for the caller's next pumpNow.
   */
  private schedulePump(): void {
    if (this.pumpScheduled || this.closing !== undefined) return;
    this.pumpScheduled = true;
    if (this.callerPumps) return;
    this.pumpCounters.scheduled++;
    setImmediate(this.deferredPump);
  }

  /**
   * From now on the caller runs the pump: it calls pumpNow after every read of the forwarder's
   * sides and after every turn of the event loop (where a control call or a released ring may
   * wake it), and again while pumpNow says work is left: a queue worker's InlinePoller does. A
   * wake then costs no setImmediate (an allocation, a ref toggle, and a run that finds nothing on
   * the next turn) on a lone frame's way.
   */
  pumpedByCaller(): void {
    this.callerPumps = true;
  }

  /** The scheduled pump; nothing to do when pumpNow has run it since (it clears the flag). */
  private readonly deferredPump = (): void => {
    if (this.pumpScheduled) this.pump(false);
  };

  /**
   * Run the pump now, in this call, when a side has woken it since it last ran; returns true when
   * work is left (the pump is then scheduled again). For a thread that reads its device and underlay itself (a
   * queue worker's InlinePoller, whose loop calls this right after its reads): a frame that
   * arrives alone is switched and sent before the thread polls again, with no turn of the event
   * loop in between. Without it the pump runs on the next turn, as for sides read by workers.
   */
  pumpNow(): boolean {
    if (!this.pumpScheduled || this.closing !== undefined) return false;
    this.pump(true);
    return this.pumpScheduled;
  }

  /**
   * Move what is waiting, a batch at a time, alternating directions so neither starves the other;
   * after ROUNDS_PER_TURN rounds with work left, yield to the event loop and come back. `inline`:
   * run by pumpNow (counted apart in pumpCounters).
   */
  private pump(inline: boolean): void {
    this.pumpScheduled = false;
    if (this.closing !== undefined) return;
    let busy = true;
    let moved = 0;
    for (let round = 0; busy && round < ROUNDS_PER_TURN; round++) {
      const fromUnderlay = this.fromUnderlay();
      moved += fromUnderlay;
      busy = fromUnderlay === this.batchSize;
      for (const network of this.networks.values()) {
        const fromDevice = this.fromDevice(network);
        moved += fromDevice;
        if (fromDevice === this.batchSize) busy = true;
      }
    }
    if (moved > 0) {
      if (inline) this.pumpCounters.inline++;
      else this.pumpCounters.deferred++;
    }
    this.flushEvents();
    if (busy) this.schedulePump();
  }

  // ---- device → underlay -------------------------------------------------------------------

  /** One batch from a device: returns how many frames it read. */
  private fromDevice(network: Network): number {
    const batch = this.txBatch;
    const read = network.device.receive(batch, 0, this.batchSize);
    if (read === 0) return 0;
    this.batchCounters.fromDevice++;
    this.batchCounters.fromDeviceFrames += read;
    for (let i = 0; i < read; i++) batch.setPeer(i, network.tunnel);
    this.encapsulator.run(batch, read);
    const bytes = batch.bytes;
    // A UDP underlay sends the same datagram to several endpoints without copying it: a flooded
    // frame is one slot listed once per peer (head-end replication).
    let queued = 0;
    let answers = 0;
    for (let i = 0; i < read; i++) {
      if (batch.status(i) !== 0) {
        this.drops.SLOT_INVALID++;
        continue;
      }
      const start = batch.slotPointer(i) + SLOT_HEADROOM;
      const length = batch.innerLength(i);
      if (this.droppedInner(bytes, start, length)) continue;
      // An ARP request or neighbour solicitation the table answers becomes its answer, in place.
      const answerLength = network.neighbours.answer(bytes, start, length, this.neighbourCounters);
      if (answerLength > 0) {
        batch.setInner(i, answerLength, network.tunnel);
        this.answerSlots[answers++] = i;
        continue;
      }
      const known = isMulticastAt(bytes, start) ? -1 : network.fdb.lookup(macKeyAt(bytes, start));
      if (known !== -1) {
        if (queued === this.txSlots.length) queued = this.sendQueued(network, queued);
        this.txSlots[queued] = i;
        this.txDestinations[queued++] = known;
        continue;
      }
      const peers = network.peers.ids;
      const peerCount = network.peers.count;
      if (peerCount === 0) {
        this.drops.NO_PEERS++;
        continue;
      }
      network.counters.flooded++;
      for (let p = 0; p < peerCount; p++) {
        if (queued === this.txSlots.length) queued = this.sendQueued(network, queued);
        this.txSlots[queued] = i;
        this.txDestinations[queued++] = peers[p];
      }
    }
    this.sendQueued(network, queued);
    if (answers > 0) this.drops.DEVICE_ERROR += answers - network.device.transmit(batch, this.answerSlots, answers);
    return read;
  }

  /** Send the queued datagrams (txSlots/txDestinations[0..count)); returns 0, the new queue length. */
  private sendQueued(network: Network, count: number): number {
    if (count === 0) return 0;
    const batch = this.txBatch;
    const sent = this.underlay.transmit(batch, this.txSlots, this.txDestinations, count);
    network.counters.toUnderlay.frames += sent;
    for (let k = 0; k < sent; k++) network.counters.toUnderlay.bytes += batch.innerLength(this.txSlots[k]);
    this.drops.SEND_ERROR += count - sent;
    return 0;
  }

  // ---- underlay → device -------------------------------------------------------------------

  /** One batch from the underlay: returns how many datagrams it read. */
  private fromUnderlay(): number {
    const batch = this.rxBatch;
    const read = this.underlay.receive(batch, 0, this.batchSize, this.rxSources);
    if (read === 0) return 0;
    this.batchCounters.fromUnderlay++;
    this.batchCounters.fromUnderlayFrames += read;
    const bytes = batch.bytes;
    const kernels = this.kernels;
    const now = this.clock();
    for (let i = 0; i < read; i++) {
      const length = batch.frameLength(i);
      const at = batch.slotPointer(i) + SLOT_HEADROOM - VXLAN_HEADER_LEN;
      if (length < VXLAN_HEADER_LEN) {
        this.drops.TRUNCATED++;
        continue;
      }
      const network = this.vxlanNetwork(bytes, at);
      if (network === undefined) continue;
      const innerLength = length - VXLAN_HEADER_LEN;
      const inner = at + VXLAN_HEADER_LEN;
      if (this.droppedInner(bytes, inner, innerLength)) continue;
      // A socket keeps no checksum state: a Linux VTEP on this host or hypervisor may have sent the
      // segment with its checksum still partial, which the device's kernel would drop as corrupt.
      if (kernels.finishPartialChecksum(inner, innerLength) === PARTIAL_FINISHED) this.checksumCounters.partialFinished++;
      if (this.learnsFrom(bytes, at)) this.learn(network, macKeyAt(bytes, inner + 6), this.rxSources[i], now);
      batch.setInner(i, innerLength, 0);
      network.deviceSlots[network.deviceSlotCount++] = i;
      network.counters.toDevice.bytes += innerLength;
    }
    for (const network of this.networks.values()) {
      const count = network.deviceSlotCount;
      if (count === 0) continue;
      network.deviceSlotCount = 0;
      const written = network.device.transmit(batch, network.deviceSlots, count);
      network.counters.toDevice.frames += written;
      this.drops.DEVICE_ERROR += count - written;
    }
    return read;
  }

  /**
   * The network of the VXLAN header at `at`, or undefined when it is dropped (and counted): no I
   * flag, reserved bits set (strict, as Linux: only I, and with gbp G, D, A and the group id, may
   * be set), or a VNI this forwarder does not serve.
   */
  private vxlanNetwork(bytes: Uint8Array, at: number): Network | undefined {
    const flags = bytes[at];
    if ((flags & FLAG_I) === 0) {
      this.drops.VXLAN_I_FLAG_MISSING++;
      return undefined;
    }
    const reserved = this.gbp
      ? (flags & ~(FLAG_I | FLAG_G)) | (bytes[at + 1] & ~GBP_D_A) | bytes[at + 7]
      : (flags & ~FLAG_I) | bytes[at + 1] | bytes[at + 2] | bytes[at + 3] | bytes[at + 7];
    if (reserved !== 0) {
      this.drops.VXLAN_RESERVED_BITS++;
      return undefined;
    }
    const network = this.networks.get(bytes[at + 4] << 16 | bytes[at + 5] << 8 | bytes[at + 6]);
    if (network === undefined) this.drops.UNKNOWN_VNI++;
    return network;
  }

  /** Whether the source of the VXLAN packet whose header is at `at` is learned: with GBP, D ("don't learn") asks the receiver not to. */
  private learnsFrom(bytes: Uint8Array, at: number): boolean {
    return !(this.gbp && (bytes[at + 1] & 0x40) !== 0);
  }

  /**
   * A whole VXLAN super-packet from the underlay (UnderlayEvents.superPacket): checked as a datagram
   * is, its source learned, and its inner super-frame written to the VNI's device whole, when the
   * device takes super-frames (else false: the underlay splits it and it comes the usual way).
   */
  private receiveWhole(frame: SuperFrame, vxlanAt: number, source: number): boolean {
    if (this.closing !== undefined) return true;
    const bytes = frame.bytes;
    const network = this.vxlanNetwork(bytes, vxlanAt);
    if (network === undefined) return true;
    const device = network.device;
    if (device.transmitSuperFrame === undefined) return false;
    if (this.droppedInner(bytes, frame.start, frame.length)) return true;
    const outcome = device.transmitSuperFrame(frame);
    if (outcome === 'declined') return false;
    if (this.learnsFrom(bytes, vxlanAt)) this.learn(network, macKeyAt(bytes, frame.start + 6), source, this.clock());
    const segments = superFrameSegments(frame);
    this.batchCounters.fromUnderlay++;
    this.batchCounters.fromUnderlayFrames += segments;
    if (outcome === 'failed') {
      this.drops.DEVICE_ERROR += segments;
      return true;
    }
    // Counted as the segments it carries, so frame and byte counts mean the same whichever way frames come.
    network.counters.toDevice.frames += segments;
    network.counters.toDevice.bytes += superFrameSegmentBytes(frame);
    return true;
  }

  /**
   * Whether an inner frame, either way, is dropped (and counted): shorter than an Ethernet header,
   * or from a multicast source MAC, which no station has (Linux's vxlan drops these too).
   */
  private droppedInner(bytes: Uint8Array, start: number, length: number): boolean {
    if (length < 14) {
      this.drops.INNER_TOO_SHORT++;
      return true;
    }
    if (isMulticastAt(bytes, start + 6)) {
      this.drops.INNER_SOURCE_MULTICAST++;
      return true;
    }
    return false;
  }

  private learn(network: Network, mac: number, endpoint: number, now: number): void {
    switch (network.fdb.learn(mac, endpoint, now)) {
      case 'learned':
        this.fdbCounters.learned++;
        this.pendingEvents.push({ type: 'learned', vni: network.vni, mac: macText(mac), endpoint });
        break;
      case 'moved':
        this.fdbCounters.moved++;
        this.pendingEvents.push({ type: 'moved', vni: network.vni, mac: macText(mac), endpoint });
        break;
      case 'full':
        this.fdbCounters.notLearnedFull++;
        break;
      default:
    }
  }
}
