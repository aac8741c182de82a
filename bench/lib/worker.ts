/**
 * One bench worker hosts one contender of one suite, in its own V8 isolate: its JIT feedback,
 * its module state (e.g. the backend chosen by `useBackend`) and its garbage are its own.
 * The main thread asks it for one timed sample at a time, so only one worker runs at once.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { CaseRunner, CreateContender } from './types';
import { makeLoop, timeLoop, warmUpAndCalibrate, type TimedLoop } from './timing';

export interface WorkerInit {
  suiteModule: string;
  contender: string;
  data: unknown;
  warmupMs: number;
  sampleMs: number;
}

export type WorkerRequest = { type: 'sample'; caseId: string } | { type: 'revalidate' };

export type WorkerReply =
  | { type: 'ready'; cases: string[]; wrong: Record<string, string> }
  | { type: 'failed'; error: string }
  | { type: 'sample'; caseId: string; nsPerOp: number }
  | { type: 'revalidated'; wrong: Record<string, string> };

const init = workerData as WorkerInit;
const port = parentPort!;

interface Prepared {
  runner: CaseRunner;
  loop: TimedLoop;
  iterations: number;
}

function validate(runner: CaseRunner): string | null {
  try {
    return runner.validate();
  } catch (error) {
    return `threw ${(error as Error)?.stack ?? String(error)}`;
  }
}

try {
  const module = (await import(init.suiteModule)) as { createContender: CreateContender };
  const runners = await module.createContender(init.contender, init.data);
  const prepared = new Map<string, Prepared>();
  const wrong: Record<string, string> = {};
  for (const [caseId, runner] of Object.entries(runners)) {
    // Validate before timing: a contender that answers wrong is reported, never timed.
    const problem = validate(runner);
    if (problem !== null) {
      wrong[caseId] = problem;
      continue;
    }
    const loop = makeLoop();
    const iterations = warmUpAndCalibrate(loop, runner.run, init.warmupMs, init.sampleMs);
    prepared.set(caseId, { runner, loop, iterations });
  }
  port.postMessage({ type: 'ready', cases: [...prepared.keys()], wrong } satisfies WorkerReply);

  port.on('message', (request: WorkerRequest) => {
    if (request.type === 'sample') {
      const entry = prepared.get(request.caseId)!;
      const { nsPerOp } = timeLoop(entry.loop, entry.runner.run, entry.iterations);
      port.postMessage({ type: 'sample', caseId: request.caseId, nsPerOp } satisfies WorkerReply);
    } else {
      // Validate again after timing: optimised code must give the same answer as the first calls.
      const after: Record<string, string> = {};
      for (const [caseId, entry] of prepared) {
        const problem = validate(entry.runner);
        if (problem !== null) after[caseId] = `after timing: ${problem}`;
      }
      port.postMessage({ type: 'revalidated', wrong: after } satisfies WorkerReply);
    }
  });
} catch (error) {
  port.postMessage({ type: 'failed', error: (error as Error)?.stack ?? String(error) } satisfies WorkerReply);
}
