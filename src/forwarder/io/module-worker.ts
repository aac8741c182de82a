/**
 * A worker thread running one of the forwarder's own modules (the queue worker, a reader thread),
 * found where this code runs from: `NAME.ts` beside the caller when it runs from the sources
 * (through tsx, registered in the worker), or the built `NAME.mjs` in dist/ when the caller is
 * bundled there (an entry in dist/ or a shared chunk in dist/chunks/).
 *
 * A worker inherits the process's execArgv. Those that decide how the main program's source is
 * read (`node --input-type=module -e …`, as the README's examples run) are refused by Node for a
 * worker's file or make its CommonJS shim an ES module, so they are left out.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/** The process's execArgv, less what is about the main program's own source. */
function workerExecArgv(): string[] {
  return process.execArgv.filter((arg) => !arg.startsWith('--input-type'));
}

/** `caller` is the calling module's import.meta.url; `module` the worker's file name without extension. */
export function spawnModuleWorker(caller: string, module: string, options: { workerData: unknown; name: string; what: string }): Worker {
  const { workerData, name, what } = options;
  const execArgv = workerExecArgv();
  if (caller.endsWith('.ts')) {
    const file = fileURLToPath(new URL(`./${module}.ts`, caller));
    return new Worker(`require('tsx/cjs'); require(${JSON.stringify(file)});`, { eval: true, execArgv, workerData, name });
  }
  for (const candidate of [`./${module}.mjs`, `../${module}.mjs`]) {
    const url = new URL(candidate, caller);
    if (existsSync(url)) return new Worker(url, { execArgv, workerData, name });
  }
  throw new Error(`${what}'s module (${module}.mjs) is missing next to ${fileURLToPath(caller)}: is dist/ complete?`);
}
