/**
 * A worker thread running one of the forwarder's own modules (the queue worker, a reader thread),
 * found where this code runs from: `NAME.ts` beside the caller when it runs from the sources
 * (through tsx, registered in the worker), or the built `NAME.mjs` in dist/ when the caller is
 * bundled there (an entry in dist/ or a shared chunk in dist/chunks/).
 *
 * A worker inherits the process's execArgv. Those that decide how the main program's source is
 * read (`node --input-type=module -e …`, as the README's examples run) are refused by Node for a
 * worker's file or make its CommonJS shim an ES module, so they are left out. So are V8's own
 * flags (`node --perf-basic-prof --trace-opt …`, to profile the forwarder): Node refuses them in a
 * worker's execArgv, and they apply to every thread of the process anyway.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/** The process's execArgv, less what is about the main program's own source. */
function workerExecArgv(): string[] {
  return process.execArgv.filter((arg) => !arg.startsWith('--input-type'));
}

/**
 * `spawn` with the inherited execArgv; when Node refuses some of them (V8's flags, process-wide),
 * again without those it names ("… invalid execArgv flags: --perf-basic-prof, --trace-opt").
 */
function withExecArgv(spawn: (execArgv: string[]) => Worker): Worker {
  const execArgv = workerExecArgv();
  try {
    return spawn(execArgv);
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    const refused = code === 'ERR_WORKER_INVALID_EXEC_ARGV' ? /flags: (.*)$/.exec(message)?.[1].split(', ') : undefined;
    if (refused === undefined) throw error;
    return spawn(execArgv.filter((arg) => !refused.includes(arg)));
  }
}

/** `caller` is the calling module's import.meta.url; `module` the worker's file name without extension. */
export function spawnModuleWorker(caller: string, module: string, options: { workerData: unknown; name: string; what: string }): Worker {
  const { workerData, name, what } = options;
  if (caller.endsWith('.ts')) {
    const file = fileURLToPath(new URL(`./${module}.ts`, caller));
    return withExecArgv((execArgv) => new Worker(`require('tsx/cjs'); require(${JSON.stringify(file)});`, { eval: true, execArgv, workerData, name }));
  }
  for (const candidate of [`./${module}.mjs`, `../${module}.mjs`]) {
    const url = new URL(candidate, caller);
    if (existsSync(url)) return withExecArgv((execArgv) => new Worker(url, { execArgv, workerData, name }));
  }
  throw new Error(`${what}'s module (${module}.mjs) is missing next to ${fileURLToPath(caller)}: is dist/ complete?`);
}
