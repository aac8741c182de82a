/**
 * What a MultiQueueForwarder and its queue workers say to each other (structured-clone messages
 * over the worker's port). Plain data only: options without callbacks, counters, learned entries
 * with the endpoint's address (endpoint ids are each instance's own).
 */
import type { Endpoint, UnderlayCounters } from '../contracts';
import type { ForwarderCounters } from '../forwarder';
import type { UdpUnderlayOptions } from '../underlay/udp';
import type { TunnelGsoCounters } from '../underlay/tunnel-gso';
import type { InlinePollerCounters } from '../io/inline-reader';
import type { VtepForwarderOptions, VtepNetwork } from '../thread-vtep';

/** One network of every queue: its VNI, its TAP (each worker attaches one queue of it), peers and static entries. */
export type QueueNetworkOptions = VtepNetwork;

/** The Forwarder options every queue's instance gets (the ones that are plain data). */
export type QueueForwarderOptions = VtepForwarderOptions;

export interface QueueWorkerData {
  /** 0 .. queues-1: queue 0 opens first (it makes the TAPs and, for port 0, picks the port). */
  queue: number;
  underlay: Omit<UdpUnderlayOptions, 'onNotice' | 'reusePort' | 'poller'>;
  networks: QueueNetworkOptions[];
  forwarder: QueueForwarderOptions;
  /** How often the worker sends its counters (ms). */
  countersIntervalMs: number;
  /** How long the worker's poller busy-polls after a burst (µs; 0: not at all). */
  busyPollUs: number;
  /** How often the idle worker wakes to poll again (ms; 0: only for frames, messages and timers). */
  idleWakeMs: number;
  /** The owner's doorbell for this worker (an eventfd it rings after each message; see io/doorbell.ts). */
  doorbell?: number;
  /** Send TCP super-frames whole through a queue of this egress TAP (`--tunnel-gso`). */
  tunnelGso?: { name: string; localAddress: string };
}

export interface LearnedEntry {
  vni: number;
  mac: string;
  endpoint: Endpoint;
}

/**
 * A runtime change every queue makes to its Forwarder, in order (the owner has checked it: a queue
 * that cannot make it, a VNI removed meanwhile, skips it).
 */
export type ControlCall =
  | { op: 'addPeer'; vni: number; endpoint: Endpoint }
  | { op: 'removePeer'; vni: number; endpoint: Endpoint }
  | { op: 'addFdbEntry'; vni: number; mac: string; endpoint: Endpoint }
  | { op: 'removeFdbEntry'; vni: number; mac: string }
  | { op: 'addNeighbour'; vni: number; ip: string; mac: string }
  | { op: 'removeNeighbour'; vni: number; ip: string };

/** Worker → owner. */
export type FromQueue =
  | { type: 'ready'; localPort: number; devices: { name: string; mac: string; created: boolean }[] }
  /** An addNetwork, removeNetwork or sync request done (`device` for an add), or failed (nothing of it left in this queue). */
  | { type: 'networkDone'; id: number; device?: { name: string; mac: string; created: boolean } }
  | { type: 'networkFailed'; id: number; message: string; code?: string }
  /** Opening failed: nothing of this queue stays open. `code` as the thrown error's (TAP_PERMISSION, EADDRINUSE, …). */
  | { type: 'failed'; message: string; code?: string }
  /** A device or underlay broke after start: the queue's forwarder closed itself. */
  | { type: 'broken'; message: string }
  | { type: 'notice'; message: string }
  | { type: 'counters'; forwarder: ForwarderCounters; underlay: UnderlayCounters; tunnelGso?: TunnelGsoCounters; poller: InlinePollerCounters }
  /** Learned or moved here (and, every quarter ageing period, still heard here): for the other queues. */
  | { type: 'learned'; entries: LearnedEntry[] }
  /** Closed on request; the last counters came just before. */
  | { type: 'closed' };

/** Owner → worker. */
export type ToQueue =
  | { type: 'learned'; entries: LearnedEntry[] }
  | { type: 'control'; calls: ControlCall[] }
  /** Serve another VNI: this queue attaches a queue of its TAP (queue 0 first: it makes the TAP). */
  | { type: 'addNetwork'; id: number; network: QueueNetworkOptions }
  | { type: 'removeNetwork'; id: number; vni: number }
  /** Answered with networkDone once everything sent before it is applied. */
  | { type: 'sync'; id: number }
  | { type: 'close' };
