/**
 * A forwarder on several cores: `queues` worker threads, each a whole Forwarder with its own WASM
 * instance, its own queue of every network's TAP (IFF_MULTI_QUEUE) and its own UDP socket on the
 * shared port (SO_REUSEPORT). The kernel hashes each flow to one TAP queue and each remote flow
 * (outer addresses and ports: a VTEP picks the source port per inner flow) to one socket, so a
 * flow is handled by one worker and never reordered, while different flows run on different cores.
 *
 *   TAP queue k ──► worker k: Forwarder (switch, FDB replica, WASM) ──► socket k ──► peers
 *   TAP queue k ◄── worker k ◄── socket k (SO_REUSEPORT group) ◄── peers
 *
 * One FDB for all of them, kept as a replica per worker: what one worker learns (or sees move) it
 * reports, and this object passes it to every other worker (`Forwarder.learnedElsewhere`), so the
 * worker that sends towards a MAC knows it even when the MAC's frames arrive on another worker's
 * socket; until the news arrives (well under a millisecond) that worker floods, as any VTEP does
 * for an unknown MAC. Entries still heard are repeated every quarter ageing period, so a replica
 * ages out only when no worker hears the MAC any more.
 *
 * Counters are the sums of the workers' (sent every `countersIntervalMs`, and once more on close);
 * it is a MetricsSource and an EventEmitter ('error' when a worker's device or underlay breaks) like Forwarder.
 *
 * Runtime control (what an agent programs: peers, static FDB entries, neighbours, networks) has
 * the Forwarder's methods: each change is checked here, at once (a bad one throws as Forwarder's
 * does), kept in a mirror that answers the queries, and sent to every queue in order, batched per
 * turn of the event loop. addNetwork and removeNetwork are asynchronous: each queue attaches or
 * detaches its queue of the network's TAP.
 */
import { EventEmitter } from 'node:events';
import type { Worker } from 'node:worker_threads';
import { spawnModuleWorker } from '../io/module-worker';
import { Doorbell } from '../io/doorbell';
import { optimizeEarly } from '../io/early-optimization';
import type { Endpoint, UnderlayCounters } from '../contracts';
import { DROP_REASONS, type ForwarderCounters } from '../forwarder';
import type { ControlCall, FromQueue, QueueForwarderOptions, QueueNetworkOptions, QueueWorkerData, ToQueue } from './messages';
import { parseIp } from '../../wire/address';
import { canonicalIp } from '../address-set';
import { macKey, macText } from '../fdb';
import { NetworkMirror } from './network-mirror';
import type { UdpUnderlayOptions } from '../underlay/udp';
import type { TunnelGsoCounters } from '../underlay/tunnel-gso';
import { IngressRedirect } from '../underlay/ingress-redirect';
import type { InlinePollerCounters } from '../io/inline-reader';
import { checkInteger } from '../../wire/fields';

export type { QueueNetworkOptions, QueueForwarderOptions } from './messages';

/** At most this many queues (the TAP takes up to 256; more workers than cores only cost memory). */
export const MAX_QUEUES = 64;
/**
 * How long a queue worker busy-polls after a burst by default (µs): long enough to catch the reply
 * to what it just sent when the peer is another forwarder waking cold (BENCHMARKS.md, "Busy
 * polling"), short enough that a frame every 10 ms costs a few percent of a core. 200 µs was
 * no better in round trips and cost more CPU, before and after the window moved to after the send.
 */
export const DEFAULT_BUSY_POLL_US = 100;
export const MAX_BUSY_POLL_US = 10_000;
/**
 * How often an idle queue worker wakes just to poll again by default (ms), for a second after its
 * last frame, so that the next frame meets a warm worker (see InlinePoller, io/inline-reader.ts).
 * Side by side, 5 ms shortened pings 10 and 20 ms apart more than 10 ms did, and 2 ms no further;
 * it costs 1–5% of a core per worker while frames come (quiet and busy hours), nothing once they
 * stop (BENCHMARKS.md, "Idle wakes").
 */
export const DEFAULT_IDLE_WAKE_MS = 5;
export const MAX_IDLE_WAKE_MS = 1_000;

export interface MultiQueueForwarderOptions extends QueueForwarderOptions {
  /** Worker threads, each with a queue of every TAP and a socket: 1..MAX_QUEUES (one per core is the idea). */
  queues: number;
  /** The UDP socket every worker binds (SO_REUSEPORT is set by the workers). */
  underlay: Omit<UdpUnderlayOptions, 'onNotice' | 'reusePort' | 'poller'>;
  networks: QueueNetworkOptions[];
  /** How often each worker sends its counters (default 500 ms): `counters()` is at most this old. */
  countersIntervalMs?: number;
  /**
   * After each burst, how long a worker keeps looking for the next frame (yielding the CPU to any
   * other thread between looks) before it sleeps: µs, 0..MAX_BUSY_POLL_US, default
   * DEFAULT_BUSY_POLL_US; 0 sleeps at once. See InlinePoller (io/inline-reader.ts).
   */
  busyPollUs?: number;
  /**
   * While idle, for a second after a frame, how often a worker wakes just to poll again, keeping
   * its frame path warm: ms, 0..MAX_IDLE_WAKE_MS, default DEFAULT_IDLE_WAKE_MS; 0 sleeps until a
   * frame, a message or a timer. See InlinePoller (io/inline-reader.ts).
   */
  idleWakeMs?: number;
  /**
   * Lower V8's optimization budgets for this process before the workers start (default true), so
   * that a lightly loaded forwarder runs optimized code within seconds: see optimizeEarly
   * (io/early-optimization.ts). The flags are the whole process's: false leaves them alone.
   */
  optimizeEarly?: boolean;
  /** Told once per kind of event worth a log line (GSO refused, a TAP offload refused), per queue. */
  onNotice?: (message: string) => void;
  /**
   * Send TCP super-frames whole (`--tunnel-gso`): each queue attaches a queue of this tunnel TAP.
   * `ingress: true` also has VXLAN for the local address and port handed to it whole once every
   * queue reads it (an IngressRedirect: a tc filter, made with iproute2's `tc`), and removed at close.
   */
  tunnelGso?: { name: string; localAddress: string; ingress?: boolean };
}

export interface QueueDeviceInfo {
  name: string;
  mac: string;
  /** The first queue made the TAP: it disappears when the last queue closes. */
  created: boolean;
}

/** Errors of a queue that could not open carry the code of the error in the worker (TAP_PERMISSION, EADDRINUSE, …). */
export type QueueOpenError = Error & { code?: string };

interface Queue {
  readonly worker: Worker;
  /** Rung after every message posted to the worker (it waits in poll(), see inline-reader.ts); closed once the worker has exited. */
  readonly doorbell: Doorbell;
  forwarder?: ForwarderCounters;
  underlay?: UnderlayCounters;
  tunnelGso?: TunnelGsoCounters;
  poller?: InlinePollerCounters;
  /** Resolves when the worker has exited. */
  readonly closed: Promise<void>;
  /** Removes the listeners `open` watched the start with, once `listen` has its own. */
  detachStartListeners: () => void;
}

/**
 * The worker's entry: queue-worker.ts next to this file when running from the sources (through
 * tsx, registered in the worker), or the built dist/queue-worker.mjs when this code is bundled
 * into dist/ (an entry, dist/forwarder.*, or a shared chunk in dist/chunks/).
 */
/** Flat counters the queues reported, summed field by field (undefined when none has reported). */
function sumReports<T extends object>(reports: readonly (T | undefined)[]): T | undefined {
  let total: Record<string, number> | undefined;
  for (const report of reports) {
    if (report === undefined) continue;
    const counters = report as Record<string, number>;
    if (total === undefined) total = { ...counters };
    else for (const key of Object.keys(total)) total[key] += counters[key];
  }
  return total as T | undefined;
}

/** Post `message` to a queue's worker and ring its doorbell, so its loop turns for it now. */
function tell(queue: Queue, message: ToQueue): void {
  queue.worker.postMessage(message);
  queue.doorbell.ring();
}

function spawnQueueWorker(workerData: QueueWorkerData): Worker {
  return spawnModuleWorker(import.meta.url, 'queue-worker', { workerData, name: `vxlan queue ${workerData.queue}`, what: 'the queue worker' });
}

/** 'error': a queue's device or underlay broke or its worker died; the forwarder has closed itself. */
export interface MultiQueueForwarderEvents {
  error: [error: Error];
}

export class MultiQueueForwarder extends EventEmitter<MultiQueueForwarderEvents> {
  readonly queues: number;
  /** The TAPs, in the order of `networks`. */
  readonly devices: QueueDeviceInfo[];
  /** Looks like a Forwarder's underlay for metrics and logs: the summed counters of every socket. */
  readonly underlay: { readonly family: 4 | 6; readonly localAddress: string; readonly localPort: number; readonly counters: UnderlayCounters };
  private readonly workers: Queue[];
  /** What the queues were told, per VNI (peers, static FDB entries, neighbours). */
  private readonly mirrors = new Map<number, NetworkMirror>();
  /** The VNIs, in the order of `devices`. */
  private readonly vniList: number[];
  private closing: Promise<void> | undefined;
  /** The ingress filter (`tunnelGso.ingress`), removed first at close. */
  private redirect: IngressRedirect | undefined;
  /** Changes not yet sent (sent together once this turn of the event loop ends). */
  private pendingCalls: ControlCall[] = [];
  /** addNetwork/removeNetwork requests waiting for a queue's answer. */
  private readonly requests = new Map<number, { resolve: (message: Extract<FromQueue, { type: 'networkDone' }>) => void; reject: (error: Error) => void }>();
  private nextRequest = 1;

  private constructor(options: MultiQueueForwarderOptions, workers: Queue[], localPort: number, devices: QueueDeviceInfo[]) {
    super();
    this.queues = options.queues;
    this.workers = workers;
    this.devices = devices;
    this.vniList = options.networks.map((network) => network.vni);
    for (const network of options.networks) this.mirrors.set(network.vni, MultiQueueForwarder.mirrorOf(network.peers ?? [], network.fdb ?? []));
    const sum = (): UnderlayCounters => {
      const total: UnderlayCounters = { received: 0, sent: 0, unknownSource: 0, oversize: 0, sendErrors: 0 };
      for (const queue of this.workers) {
        if (queue.underlay === undefined) continue;
        for (const key of Object.keys(total) as (keyof UnderlayCounters)[]) total[key] += queue.underlay[key];
      }
      return total;
    };
    this.underlay = {
      family: options.underlay.address.includes(':') ? 6 : 4,
      localAddress: options.underlay.address,
      localPort,
      get counters() {
        return sum();
      },
    };
  }

  /**
   * Start the workers: queue 0 first (it makes the TAPs and binds the port, the one asked or any
   * free one), then the others on that port. Rejects, with every started worker closed, when a
   * queue cannot open.
   */
  static async open(options: MultiQueueForwarderOptions): Promise<MultiQueueForwarder> {
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    const queues = checkInteger(options.queues, 'queues', 1, MAX_QUEUES);
    // Empty is fine: an agent adds networks as they are made (addNetwork).
    if (!Array.isArray(options.networks)) throw new TypeError('networks must be an array');
    const countersIntervalMs = checkInteger(options.countersIntervalMs ?? 500, 'countersIntervalMs', 10, 60_000);
    const busyPollUs = checkInteger(options.busyPollUs ?? DEFAULT_BUSY_POLL_US, 'busyPollUs', 0, MAX_BUSY_POLL_US);
    const idleWakeMs = checkInteger(options.idleWakeMs ?? DEFAULT_IDLE_WAKE_MS, 'idleWakeMs', 0, MAX_IDLE_WAKE_MS);
    if (options.optimizeEarly !== undefined && typeof options.optimizeEarly !== 'boolean') throw new TypeError('optimizeEarly must be a boolean');
    const { queues: _queues, underlay, networks, countersIntervalMs: _interval, busyPollUs: _busyPoll, idleWakeMs: _idleWake, optimizeEarly: early = true, onNotice, tunnelGso, ...forwarder } = options;
    // Before any worker compiles the frame path (flags are read as code is compiled).
    if (early) optimizeEarly();
    const started: Queue[] = [];
    const launch = (queue: number, port: number): Promise<{ queue: Queue; ready: Extract<FromQueue, { type: 'ready' }> }> => {
      const doorbell = new Doorbell();
      let worker: Worker;
      try {
        worker = spawnQueueWorker({
          queue, underlay: { ...underlay, port }, networks, forwarder, countersIntervalMs, busyPollUs, idleWakeMs, doorbell: doorbell.fd,
          tunnelGso: tunnelGso === undefined ? undefined : { name: tunnelGso.name, localAddress: tunnelGso.localAddress },
        });
      } catch (error) {
        doorbell.close();
        throw error;
      }
      // The fd is closed only once the worker that polls it is gone.
      const closed = new Promise<void>((resolve) => worker.once('exit', () => {
        doorbell.close();
        resolve();
      }));
      return new Promise((resolve, reject) => {
        const early = (message: FromQueue): void => {
          if (message.type === 'ready') resolve({ queue: entry, ready: message });
          else if (message.type === 'failed') reject(Object.assign(new Error(message.message), { code: message.code }) as QueueOpenError);
          else if (message.type === 'notice') onNotice?.(message.message);
          else return;
          if (message.type !== 'notice') worker.off('message', early);
        };
        const earlyExit = (code: number): void => reject(new Error(`queue ${queue}'s worker exited (code ${code}) before it was ready`));
        // The error and exit listeners stay until listen() has its own: a worker's 'error' with no
        // listener would be thrown, and an early exit must fail the open.
        const entry: Queue = {
          worker,
          doorbell,
          closed,
          detachStartListeners: () => {
            worker.off('message', early);
            worker.off('error', reject);
            worker.off('exit', earlyExit);
          },
        };
        started.push(entry);
        worker.on('message', early);
        worker.once('error', reject);
        worker.once('exit', earlyExit);
      });
    };
    try {
      const first = await launch(0, underlay.port);
      const rest = await Promise.all(Array.from({ length: queues - 1 }, (_, i) => launch(i + 1, first.ready.localPort)));
      const forwarderObject = new MultiQueueForwarder(options, [first.queue, ...rest.map((r) => r.queue)], first.ready.localPort, first.ready.devices);
      forwarderObject.listen(onNotice);
      if (tunnelGso?.ingress === true) {
        try {
          forwarderObject.redirect = IngressRedirect.install({ localAddress: tunnelGso.localAddress, port: first.ready.localPort, tap: tunnelGso.name, log: onNotice });
        } catch (error) {
          await forwarderObject.close();
          throw error;
        }
      }
      return forwarderObject;
    } catch (error) {
      await Promise.all(started.map((queue) => MultiQueueForwarder.stopWorker(queue)));
      throw error;
    }
  }

  private listen(onNotice: ((message: string) => void) | undefined): void {
    this.workers.forEach((queue, index) => {
      const { worker } = queue;
      queue.detachStartListeners();
      worker.on('message', (message: FromQueue) => {
        switch (message.type) {
          case 'counters':
            queue.forwarder = message.forwarder;
            queue.underlay = message.underlay;
            queue.tunnelGso = message.tunnelGso;
            queue.poller = message.poller;
            break;
          case 'learned':
            // To every other queue: the one that learned it has it.
            for (const other of this.workers) {
              if (other !== queue) tell(other, { type: 'learned', entries: message.entries });
            }
            break;
          case 'notice':
            onNotice?.(message.message);
            break;
          case 'networkDone':
            this.requests.get(message.id)?.resolve(message);
            break;
          case 'networkFailed':
            this.requests.get(message.id)?.reject(Object.assign(new Error(message.message), { code: message.code }));
            break;
          case 'broken':
            this.fail(new Error(`queue ${index}: ${message.message}`));
            break;
          default:
        }
      });
      worker.on('error', (error) => this.fail(new Error(`queue ${index}'s worker failed: ${error.message}`)));
      worker.once('exit', (code) => {
        if (this.closing === undefined) this.fail(new Error(`queue ${index}'s worker exited (code ${code})`));
      });
    });
  }

  private fail(error: Error): void {
    if (this.closing !== undefined) return;
    void this.close().finally(() => this.emit('error', error));
  }

  /** Ask a worker to close its forwarder (its TAP queues and socket), then wait for it to exit. */
  private static async stopWorker(queue: Queue): Promise<void> {
    tell(queue, { type: 'close' });
    await queue.closed;
  }

  /** The mirror of a network as it is configured (endpoints made canonical). */
  private static mirrorOf(peers: readonly Endpoint[], fdb: readonly { mac: string; endpoint: Endpoint }[]): NetworkMirror {
    const mirror = new NetworkMirror();
    for (const peer of peers) mirror.addPeer({ address: canonicalIp(peer.address), port: peer.port });
    for (const entry of fdb) mirror.setFdbEntry(macKey(entry.mac), { address: canonicalIp(entry.endpoint.address), port: entry.endpoint.port });
    return mirror;
  }

  /** The peers of a VNI (every queue has the same). */
  peers(vni: number): Endpoint[] {
    return this.mirrors.get(vni)?.peers() ?? [];
  }

  /** The VNIs served. */
  vnis(): number[] {
    return [...this.vniList];
  }

  // ---- runtime control: Forwarder's methods, for every queue ----------------------------------

  private served(vni: number): NetworkMirror {
    const mirror = this.mirrors.get(vni);
    if (mirror === undefined) throw new RangeError(`vni ${String(vni)} is not served by this forwarder`);
    return mirror;
  }

  /** An endpoint as Forwarder checks it (the underlay's family, a port), canonical. */
  private endpointOf(endpoint: Endpoint, what: string): Endpoint {
    if (typeof endpoint !== 'object' || endpoint === null) throw new TypeError(`${what} must be { address, port }`);
    const ip = parseIp(endpoint.address);
    if (ip.version !== this.underlay.family) throw new TypeError(`${what} ${endpoint.address} is IPv${ip.version} but the underlay is IPv${this.underlay.family}`);
    checkInteger(endpoint.port, `${what} port`, 1, 65535);
    return { address: canonicalIp(endpoint.address), port: endpoint.port };
  }

  private send(call: ControlCall): void {
    if (this.pendingCalls.length === 0) queueMicrotask(() => this.flushCalls());
    this.pendingCalls.push(call);
  }

  private flushCalls(): void {
    const calls = this.pendingCalls;
    this.pendingCalls = [];
    if (calls.length === 0 || this.closing !== undefined) return;
    for (const queue of this.workers) tell(queue, { type: 'control', calls });
  }

  /** Add a remote VTEP to a VNI's flood list (idempotent). */
  addPeer(vni: number, endpoint: Endpoint): void {
    const mirror = this.served(vni);
    const peer = this.endpointOf(endpoint, 'peer');
    if (mirror.addPeer(peer)) this.send({ op: 'addPeer', vni, endpoint: peer });
  }

  /** Remove a remote VTEP from a VNI (its learned and static entries go too, in every queue). */
  removePeer(vni: number, endpoint: Endpoint): boolean {
    const peer = { address: canonicalIp(endpoint.address), port: endpoint.port };
    if (!this.served(vni).removePeer(peer)) return false;
    this.send({ op: 'removePeer', vni, endpoint: peer });
    return true;
  }

  /** A static FDB entry in every queue. */
  addFdbEntry(vni: number, mac: string, endpoint: Endpoint): void {
    const mirror = this.served(vni);
    const key = macKey(mac);
    const target = this.endpointOf(endpoint, `fdb entry for ${mac}`);
    mirror.setFdbEntry(key, target);
    this.send({ op: 'addFdbEntry', vni, mac: macText(key), endpoint: target });
  }

  removeFdbEntry(vni: number, mac: string): boolean {
    const key = macKey(mac);
    if (!this.served(vni).deleteFdbEntry(key)) return false;
    this.send({ op: 'removeFdbEntry', vni, mac: macText(key) });
    return true;
  }

  /** `ip` is at `mac`: ARP and ND for it answered locally in every queue. */
  addNeighbour(vni: number, ip: string, mac: string): void {
    const mirror = this.served(vni);
    const canonical = canonicalIp(ip);
    const text = macText(macKey(mac));
    mirror.setNeighbour(canonical, text);
    this.send({ op: 'addNeighbour', vni, ip: canonical, mac: text });
  }

  removeNeighbour(vni: number, ip: string): boolean {
    const canonical = canonicalIp(ip);
    if (!this.served(vni).deleteNeighbour(canonical)) return false;
    this.send({ op: 'removeNeighbour', vni, ip: canonical });
    return true;
  }

  /** The VNI's neighbour table, as every queue holds it. */
  neighbours(vni: number): { ip: string; mac: string }[] {
    return this.served(vni).neighbours().map(([ip, mac]) => ({ ip, mac }));
  }

  /** The VNI's static FDB entries, as every queue holds them (learned entries live in the queues' replicas). */
  staticFdbEntries(vni: number): { mac: string; address: string; port: number }[] {
    return this.served(vni).fdbEntries().map(([mac, endpoint]) => ({ mac: macText(mac), ...endpoint }));
  }

  /** Ask every queue (queue 0 first, then the rest together); rejects with the first failure. */
  private async request(make: (id: number) => ToQueue, order: 'first-then-rest' | 'together'): Promise<Extract<FromQueue, { type: 'networkDone' }>[]> {
    const ask = (queue: Queue): Promise<Extract<FromQueue, { type: 'networkDone' }>> => {
      const id = this.nextRequest++;
      return new Promise((resolve, reject) => {
        const settle = () => this.requests.delete(id);
        this.requests.set(id, { resolve: (message) => { settle(); resolve(message); }, reject: (error) => { settle(); reject(error); } });
        tell(queue, make(id));
      });
    };
    if (order === 'together') return Promise.all(this.workers.map(ask));
    const first = await ask(this.workers[0]);
    const rest = await Promise.allSettled(this.workers.slice(1).map(ask));
    const failed = rest.find((result) => result.status === 'rejected');
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
    return [first, ...rest.map((result) => (result as PromiseFulfilledResult<Extract<FromQueue, { type: 'networkDone' }>>).value)];
  }

  /**
   * Serve another VNI on its own TAP: queue 0 makes (or opens) it, every other queue attaches a
   * queue of it. On failure nothing of it is left in any queue.
   */
  async addNetwork(network: QueueNetworkOptions): Promise<QueueDeviceInfo> {
    if (this.closing !== undefined) throw new Error('the forwarder is closed');
    checkInteger(network.vni, 'vni', 0, 0xffffff);
    if (this.mirrors.has(network.vni)) throw new RangeError(`vni ${network.vni} is already served`);
    const peers = (network.peers ?? []).map((peer) => this.endpointOf(peer, `vni ${network.vni}: peer`));
    const fdb = (network.fdb ?? []).map((entry) => ({ mac: macText(macKey(entry.mac)), endpoint: this.endpointOf(entry.endpoint, `vni ${network.vni}: fdb entry for ${entry.mac}`) }));
    this.flushCalls(); // changes made before come first
    this.mirrors.set(network.vni, MultiQueueForwarder.mirrorOf(peers, fdb));
    try {
      const [first] = await this.request((id) => ({ type: 'addNetwork', id, network: { ...network, peers, fdb } }), 'first-then-rest');
      const device = first.device!;
      this.devices.push(device);
      this.vniList.push(network.vni);
      return device;
    } catch (error) {
      this.forget(network.vni);
      await this.request((id) => ({ type: 'removeNetwork', id, vni: network.vni }), 'together').catch(() => undefined);
      throw error;
    }
  }

  /**
   * Resolves once every queue has made every change asked before the call (they are sent at the
   * end of the current turn of the event loop, so a caller that goes on synchronously, or a test
   * that sends traffic at once, waits for this first).
   */
  async applied(): Promise<void> {
    this.flushCalls();
    if (this.closing !== undefined) return;
    await this.request((id) => ({ type: 'sync', id }), 'together');
  }

  /** Stop serving a VNI: every queue detaches its TAP queue (a TAP queue 0 made disappears). */
  async removeNetwork(vni: number): Promise<void> {
    this.served(vni);
    this.flushCalls();
    this.forget(vni);
    await this.request((id) => ({ type: 'removeNetwork', id, vni }), 'together');
  }

  private forget(vni: number): void {
    this.mirrors.delete(vni);
    const index = this.vniList.indexOf(vni);
    if (index !== -1) {
      this.vniList.splice(index, 1);
      this.devices.splice(index, 1);
    }
  }

  /**
   * The sums of every queue's counters (each queue's as it last sent them: at most
   * `countersIntervalMs` old). `fdbEntries` is the largest replica's size, not a sum.
   */
  counters(): ForwarderCounters {
    const total: ForwarderCounters = {
      // Every network, at zero until a queue reports it (metrics list each VNI from the start).
      networks: this.devices.map((device, i) => ({
        vni: this.vniList[i], device: device.name, toUnderlay: { frames: 0, bytes: 0 }, toDevice: { frames: 0, bytes: 0 }, flooded: 0, fdbEntries: 0,
      })),
      drops: Object.fromEntries(DROP_REASONS.map((reason) => [reason, 0])) as ForwarderCounters['drops'],
      fdb: { learned: 0, moved: 0, aged: 0, notLearnedFull: 0 },
      neighbours: { arpAnswered: 0, ndAnswered: 0, arpFlooded: 0, ndFlooded: 0 },
      batches: { fromDevice: 0, fromDeviceFrames: 0, fromUnderlay: 0, fromUnderlayFrames: 0 },
      checksums: { partialFinished: 0 },
    };
    const add = <T extends { [K in keyof T]: number }>(into: T, from: T): void => {
      for (const key of Object.keys(into) as (keyof T)[]) (into[key] as number) += from[key];
    };
    for (const queue of this.workers) {
      const counters = queue.forwarder;
      if (counters === undefined) continue;
      add(total.drops, counters.drops);
      add(total.fdb, counters.fdb);
      add(total.neighbours, counters.neighbours);
      add(total.batches, counters.batches);
      add(total.checksums, counters.checksums);
      for (const network of counters.networks) {
        const into = total.networks.find((candidate) => candidate.vni === network.vni);
        if (into === undefined) {
          total.networks.push(structuredClone(network));
          continue;
        }
        add(into.toUnderlay, network.toUnderlay);
        add(into.toDevice, network.toDevice);
        into.flooded += network.flooded;
        into.fdbEntries = Math.max(into.fdbEntries, network.fdbEntries);
      }
    }
    return total;
  }

  /** The tunnel TAP counters of `--tunnel-gso` summed over the queues (undefined without it). */
  tunnelGsoCounters(): TunnelGsoCounters | undefined {
    return sumReports(this.workers.map((queue) => queue.tunnelGso));
  }

  /** How the workers' loops waited and busy-polled (InlinePoller's counters), summed over the queues (undefined before the first report). */
  pollerCounters(): InlinePollerCounters | undefined {
    return sumReports(this.workers.map((queue) => queue.poller));
  }

  /** Each queue's own counters, as it last sent them (undefined before its first report): how the kernel spread the flows. */
  queueCounters(): (ForwarderCounters | undefined)[] {
    return this.workers.map((queue) => (queue.forwarder === undefined ? undefined : structuredClone(queue.forwarder)));
  }

  /** Stop every queue (TAP queues detached: a TAP the first queue made disappears; sockets closed). Idempotent. */
  close(): Promise<void> {
    if (this.closing === undefined) {
      // First: VXLAN reaches the sockets again, not a tunnel TAP about to close.
      this.redirect?.remove();
      for (const request of [...this.requests.values()]) request.reject(new Error('the forwarder closed'));
      this.closing = Promise.all(this.workers.map((queue) => MultiQueueForwarder.stopWorker(queue))).then(() => undefined);
    }
    return this.closing;
  }
}
