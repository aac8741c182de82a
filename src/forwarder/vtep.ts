/**
 * A VTEP built from its configuration, the one place that says how: `forward`, `agent --network`
 * and the Docker/CNI engine build theirs here. Two engines, one spec (`queues`):
 *
 *   0     this thread: buildThreadVtep (thread-vtep.ts) opens the underlay, a TAP per network
 *         and the tunnel TAP, makes and starts the Forwarder, then installs the ingress redirect
 *   1..N  a MultiQueueForwarder: N workers, each of which builds a VTEP of its own with
 *         buildThreadVtep (its ports opened as queues, SO_REUSEPORT); it installs the redirect
 *
 * Either way a started VTEP comes out, or nothing stays open. The spec is plain data (what a
 * queue worker receives); how ports are opened and who hears about them are `VtepHooks`.
 */
import { buildThreadVtep, type ThreadVtep, type ThreadVtepHooks, type ThreadVtepSpec } from './thread-vtep';
import { MultiQueueForwarder, type MultiQueueForwarderOptions } from './multi-queue/multi-queue-forwarder';
import { optimizeEarly } from './io/early-optimization';

export type { ThreadVtep, ThreadVtepHooks, ThreadVtepSpec, VtepForwarderOptions, VtepNetwork, VtepPorts } from './thread-vtep';
export { buildThreadVtep } from './thread-vtep';

/** What a VTEP is: plain data, the same for both engines. */
export interface VtepSpec extends ThreadVtepSpec {
  /**
   * 0: one Forwarder on this thread; 1..MAX_QUEUES: a MultiQueueForwarder with that many workers.
   * The "queue workers only" settings below are refused with 0.
   */
  queues: number;
  /** Queue workers only: how often each sends its counters (default 500 ms). */
  countersIntervalMs?: number;
  /** Queue workers only: how long each busy-polls after a burst (µs; default DEFAULT_BUSY_POLL_US, see MultiQueueForwarderOptions). */
  busyPollUs?: number;
  /** Queue workers only: how often each wakes while idle to poll again (ms; default DEFAULT_IDLE_WAKE_MS, see MultiQueueForwarderOptions). */
  idleWakeMs?: number;
  /** Lower V8's optimization budgets for this process first (default true; see optimizeEarly in io/early-optimization.ts). */
  optimizeEarly?: boolean;
}

export interface VtepHooks extends Omit<ThreadVtepHooks, 'beforeStart'> {
  /**
   * Called with the VTEP once it is made: engine 0 before its Forwarder starts reading (attach
   * 'error' and 'fdb' listeners here), engine N once its workers run. Throwing fails the build.
   */
  beforeStart?: (vtep: Vtep) => void;
}

/** A VTEP on queue workers (the MultiQueueForwarder owns its TAPs, sockets and redirect). */
export interface QueuesVtep {
  readonly engine: 'queues';
  readonly forwarder: MultiQueueForwarder;
  close(): Promise<void>;
}

export type Vtep = ThreadVtep | QueuesVtep;

/**
 * Build and start a VTEP. Rejects, with everything it opened closed again (a shared underlay
 * excepted), when any step fails.
 */
export async function buildVtep(spec: VtepSpec, hooks: VtepHooks = {}): Promise<Vtep> {
  if (spec.queues === 0) {
    const { queues: _queues, countersIntervalMs, busyPollUs, idleWakeMs, optimizeEarly: early = true, ...thread } = spec;
    // Settings of queue workers would be ignored on this thread: say so rather than drop them.
    const workerOnly = Object.entries({ countersIntervalMs, busyPollUs, idleWakeMs }).filter(([, value]) => value !== undefined).map(([key]) => key);
    if (workerOnly.length > 0) throw new TypeError(`${workerOnly.join(', ')}: queue workers only, and queues 0 runs none`);
    if (early) optimizeEarly();
    return buildThreadVtep(thread, hooks);
  }
  return buildOnQueues(spec, hooks);
}

async function buildOnQueues(spec: VtepSpec, hooks: VtepHooks): Promise<QueuesVtep> {
  if (hooks.sharedUnderlay !== undefined) throw new TypeError('queue workers bind their own sockets: a shared underlay needs queues 0');
  // Only plain data reaches the workers (structured clone): the spec as it is, and no hooks.
  const options: MultiQueueForwarderOptions = { ...spec, onNotice: hooks.onNotice };
  const opened = await MultiQueueForwarder.open(options);
  const vtep: QueuesVtep = { engine: 'queues', forwarder: opened, close: () => opened.close() };
  try {
    hooks.beforeStart?.(vtep);
  } catch (error) {
    await opened.close();
    throw error;
  }
  return vtep;
}
