/**
 * The main-thread side of a suite run: one worker per contender, then `rounds` rounds in which
 * every (case, contender) pair takes one short sample, the order of contenders rotated each
 * round so none always runs first (or right after the noisiest one). Figures are medians over
 * rounds; ratios are medians of per-round ratios, which cancel load that hits a whole round.
 */
import { Worker } from 'node:worker_threads';
import { Progress } from './progress';
import { NotRunError, type ExternalContender, type Measurement, type Stats, type SuiteDef, type SuiteResult } from './types';
import type { WorkerInit, WorkerReply, WorkerRequest } from './worker';

export interface RunSettings {
  rounds: number;
  warmupMs: number;
  sampleMs: number;
  log: (line: string) => void;
}

class ContenderWorker {
  private readonly worker: Worker;
  private waiting: ((reply: WorkerReply) => void) | undefined;
  private exitError: Error | undefined;

  constructor(init: WorkerInit) {
    this.worker = new Worker(new URL('./worker-boot.mjs', import.meta.url), { workerData: init });
    this.worker.on('message', (reply: WorkerReply) => this.resolve(reply));
    this.worker.on('error', (error) => {
      this.exitError = error;
      this.resolve({ type: 'failed', error: error.stack ?? String(error) });
    });
  }

  private resolve(reply: WorkerReply) {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.(reply);
  }

  next(): Promise<WorkerReply> {
    if (this.exitError) return Promise.resolve({ type: 'failed', error: String(this.exitError) });
    return new Promise((resolve) => (this.waiting = resolve));
  }

  request(message: WorkerRequest): Promise<WorkerReply> {
    const reply = this.next();
    this.worker.postMessage(message);
    return reply;
  }

  terminate() {
    return this.worker.terminate();
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const at = (sorted.length - 1) * p;
  const low = Math.floor(at);
  const high = Math.ceil(at);
  return sorted[low] + (sorted[high] - sorted[low]) * (at - low);
}

export function median(values: number[]): number {
  return percentile([...values].sort((a, b) => a - b), 0.5);
}

/** Median, quartiles and minimum of per-round samples (also of several runs' rounds pooled: bench/compare.ts). */
export function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    medianNs: percentile(sorted, 0.5),
    p25Ns: percentile(sorted, 0.25),
    p75Ns: percentile(sorted, 0.75),
    minNs: sorted[0],
    samples: sorted.length,
  };
}

const key = (caseId: string, contender: string) => `${caseId}\u0000${contender}`;

export async function runSuite(suite: SuiteDef, suiteModule: string, settings: RunSettings): Promise<SuiteResult> {
  const result: SuiteResult = {
    name: suite.name,
    title: suite.title,
    available: true,
    cases: suite.cases,
    contenders: [...suite.contenders, ...(suite.external ?? []).map(({ name, description }) => ({ name, description }))],
    measurements: [],
    targets: [],
  };
  const reason = (await suite.unavailable?.()) ?? null;
  if (reason !== null) {
    result.available = false;
    result.unavailableReason = reason;
    return result;
  }

  const data = await suite.workerData?.();
  const samples = new Map<string, number[]>();
  const verdicts = new Map<string, Measurement>();
  const participants = new Map<string, string[]>(); // caseId → contenders timed in it

  const note = (caseId: string, contender: string, status: Measurement['status'], detail?: string) => {
    verdicts.set(key(caseId, contender), { caseId, contender, status, detail });
    if (status !== 'ok') settings.log(`  !! ${contender} on ${caseId}: ${status.toUpperCase()}: ${detail}`);
  };
  const join = (caseId: string, contender: string) => {
    note(caseId, contender, 'ok');
    samples.set(key(caseId, contender), []);
    participants.set(caseId, [...(participants.get(caseId) ?? []), contender]);
  };

  // Start every worker at once (they validate and warm up in parallel, before any timing).
  const workers = new Map<string, ContenderWorker>();
  for (const contender of suite.contenders.filter((x) => x.notRun !== undefined)) {
    settings.log(`  !! ${contender.name}: NOT RUN: ${contender.notRun}`);
    for (const c of suite.cases.filter((x) => contender.cases?.includes(x.id) ?? true)) {
      verdicts.set(key(c.id, contender.name), { caseId: c.id, contender: contender.name, status: 'not run', detail: contender.notRun });
    }
  }
  const ready = suite.contenders.filter((x) => x.notRun === undefined).map(async ({ name }) => {
    const worker = new ContenderWorker({ suiteModule, contender: name, data, warmupMs: settings.warmupMs, sampleMs: settings.sampleMs });
    const reply = await worker.next();
    if (reply.type !== 'ready') {
      await worker.terminate();
      return { name, reply };
    }
    workers.set(name, worker);
    return { name, reply };
  });
  for (const { name, reply } of await Promise.all(ready)) {
    if (reply.type === 'failed') {
      for (const c of suite.cases) note(c.id, name, 'failed', reply.error.split('\n').slice(0, 3).join(' | '));
      continue;
    }
    if (reply.type !== 'ready') continue;
    for (const [caseId, detail] of Object.entries(reply.wrong)) note(caseId, name, 'wrong', detail);
    for (const caseId of reply.cases) join(caseId, name);
  }

  const externals: ExternalContender[] = [];
  for (const external of suite.external ?? []) {
    try {
      const { cases, wrong } = await external.prepare(settings.sampleMs < 10, data);
      for (const [caseId, detail] of Object.entries(wrong)) note(caseId, external.name, 'wrong', detail);
      for (const caseId of cases) join(caseId, external.name);
      externals.push(external);
    } catch (error) {
      // A contender that cannot exist here (no compiler) is NOT RUN, said loudly; any other failure fails.
      const status = error instanceof NotRunError ? 'not run' : 'failed';
      settings.log(`  !! ${external.name}: ${status === 'not run' ? 'NOT RUN' : 'could not be prepared'}: ${(error as Error).message}`);
      for (const c of suite.cases.filter((x) => external.caseIds?.includes(x.id) ?? true)) note(c.id, external.name, status, (error as Error).message);
    }
  }

  const progress = new Progress();
  try {
    for (let round = 0; round < settings.rounds; round++) {
      progress.update(`${suite.name}: round`, round, settings.rounds);
      // External contenders run as a whole (one process per round, all cases), at the start of
      // even rounds and at the end of odd ones.
      const runExternals = async () => {
        for (const external of externals) {
          const figures = await external.sample(settings.sampleMs);
          for (const [caseId, ns] of Object.entries(figures)) samples.get(key(caseId, external.name))?.push(ns);
        }
      };
      if (round % 2 === 0) await runExternals();
      for (const c of suite.cases) {
        const inWorkers = (participants.get(c.id) ?? []).filter((name) => workers.has(name));
        for (let i = 0; i < inWorkers.length; i++) {
          const name = inWorkers[(i + round) % inWorkers.length];
          const reply = await workers.get(name)!.request({ type: 'sample', caseId: c.id });
          if (reply.type === 'sample') samples.get(key(c.id, name))!.push(reply.nsPerOp / (c.opsPerCall ?? 1));
          else if (reply.type === 'failed') throw new Error(`${name} failed while timing ${c.id}: ${reply.error}`);
        }
      }
      if (round % 2 === 1) await runExternals();
    }
    progress.update(`${suite.name}: round`, settings.rounds, settings.rounds);
    progress.done();
    for (const [name, worker] of workers) {
      const reply = await worker.request({ type: 'revalidate' });
      if (reply.type === 'revalidated') {
        for (const [caseId, detail] of Object.entries(reply.wrong)) {
          note(caseId, name, 'wrong', detail);
          samples.delete(key(caseId, name));
        }
      }
    }
  } finally {
    await Promise.all([...workers.values()].map((worker) => worker.terminate()));
  }

  for (const c of suite.cases) {
    const baseline = samples.get(key(c.id, c.baseline));
    for (const contender of result.contenders) {
      const verdict = verdicts.get(key(c.id, contender.name));
      if (!verdict) continue; // this contender does not take part in this case
      const own = samples.get(key(c.id, contender.name));
      const measurement: Measurement = { ...verdict };
      if (verdict.status === 'ok' && own && own.length > 0) {
        measurement.stats = stats(own);
        measurement.samplesNs = own.map((ns) => Math.round(ns * 100) / 100);
        if (baseline && baseline.length === own.length) {
          measurement.ratioToBaseline = median(own.map((ns, round) => ns / baseline[round]));
        }
      }
      result.measurements.push(measurement);
    }
  }
  result.targets = suite.targets?.(result) ?? [];
  return result;
}

/** The measurement of one contender in one case, if it was timed. */
export function find(result: SuiteResult, caseId: string, contender: string): Measurement | undefined {
  return result.measurements.find((m) => m.caseId === caseId && m.contender === contender && m.stats);
}

/** Median over rounds of a/b, from the per-round samples of two contenders in one case. */
export function pairedRatio(result: SuiteResult, caseId: string, numerator: string, denominator: string): number | undefined {
  const a = find(result, caseId, numerator)?.samplesNs;
  const b = find(result, caseId, denominator)?.samplesNs;
  if (!a || !b || a.length !== b.length) return undefined;
  return median(a.map((ns, round) => ns / b[round]));
}
