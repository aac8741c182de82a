// Forwarder processes in a Lab's namespaces (run-forwarder.ts or the real CLI), with their
// counters read over SIGUSR2 and their exit by SIGTERM. Shared by the e2e tests and benchmarks.
import type { ForwarderCounters } from '../../../src/forwarder/forwarder';
import type { UnderlayCounters } from '../../../src/forwarder/contracts';
import type { TapCounters } from '../../../src/forwarder/device/tap';
import { type Lab, type LabProcess } from '../../helpers/netns';
import type { RunnerConfig } from './run-forwarder';

export type { RunnerConfig };

export const RUNNER = 'test/forwarder/e2e/run-forwarder.ts';

export interface Snapshot {
  seq?: number;
  counters: ForwarderCounters;
  underlay: UnderlayCounters & { receiveErrors: number };
  tap: TapCounters;
  fdb: { mac: string; address: string; port: number }[];
  rssKiB: number;
}

export interface Ready {
  tap: string;
  mac: string;
  mtu: number;
  pid: number;
  localPort: number;
  /** TUNSETOFFLOAD flags the TAP took (0 without offloads); run-forwarder.ts says them. */
  offloadFlags?: number;
}

function parseEvents(proc: LabProcess): { event: string; [key: string]: unknown }[] {
  return proc.lines.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line));
}

/** A running run-forwarder.ts: its ready line, counters on demand, a clean stop. */
export class ForwarderProcess {
  readonly proc: LabProcess;
  readonly ns: string;
  ready!: Ready;
  private requests = 0;

  constructor(proc: LabProcess, ns: string) {
    this.proc = proc;
    this.ns = ns;
  }

  get pid(): number {
    return this.proc.pid;
  }

  async waitReady(ms = 10_000): Promise<Ready> {
    const line = await this.proc.waitFor('the ready line', () => parseEvents(this.proc).find((event) => event.event === 'ready' || event.event === 'error'), ms);
    if (line.event === 'error') throw new Error(`forwarder in ${this.ns} failed: ${String(line.message)}\n${this.proc.stderr}`);
    this.ready = line as unknown as Ready;
    return this.ready;
  }

  /** The counters now (SIGUSR2, then the answer with this request's sequence number). */
  async snapshot(ms = 5000): Promise<Snapshot> {
    const seq = ++this.requests;
    this.proc.signal('SIGUSR2');
    const event = await this.proc.waitFor(`counters #${seq}`, () => parseEvents(this.proc).find((e) => e.event === 'counters' && e.seq === seq), ms);
    return event as unknown as Snapshot;
  }

  /** SIGTERM; resolves with the exit status, the time it took and the final counters. */
  async terminate(ms = 5000): Promise<{ code: number | null; signal: NodeJS.Signals | null; elapsedMs: number; closed: (Snapshot & { exitMs: number }) | undefined }> {
    const started = performance.now();
    this.proc.signal('SIGTERM');
    const status = await this.proc.wait(ms);
    const elapsedMs = performance.now() - started;
    const closed = parseEvents(this.proc).find((event) => event.event === 'closed') as unknown as (Snapshot & { exitMs: number }) | undefined;
    return { ...status, elapsedMs, closed };
  }
}

/** Start run-forwarder.ts in `ns` and wait for its ready line. */
export async function startForwarder(lab: Lab, ns: string, config: RunnerConfig): Promise<ForwarderProcess> {
  const offloads = config.offloads === undefined ? '' : ` (offloads ${config.offloads ? 'on' : 'off'})`;
  const proc = lab.spawnNode(ns, RUNNER, [JSON.stringify(config)], { label: `forwarder ${config.tap} in ${ns}${offloads}` });
  const forwarder = new ForwarderProcess(proc, ns);
  await forwarder.waitReady();
  return forwarder;
}

/** Sum of a drops record. */
export function totalDrops(counters: ForwarderCounters): number {
  return Object.values(counters.drops).reduce((sum, n) => sum + n, 0);
}
