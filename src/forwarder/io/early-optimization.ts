/**
 * Have V8 optimize the frame path early, not after minutes of light traffic.
 *
 * V8 runs a function in its interpreter or its baseline compiler (Sparkplug) until the function
 * has run about 66 KB of bytecode (`--interrupt-budget`), and a WebAssembly function in its
 * baseline compiler (Liftoff) until it has run about 1.8 MB (`--wasm-tiering-budget`). A forwarder
 * carrying a request every 10 ms stays that long on baseline code: profiled on this project's
 * machines, a lone frame's path then spent most of its time in V8's generic property-load and call
 * stubs, and a ping through two forwarders took 0.1 ms longer than once they were optimized
 * (BENCHMARKS.md, "A lone frame after idle"). A stream reaches the budgets within a second either way.
 *
 * The budgets are V8 flags, and V8 flags belong to the whole process: every thread and every
 * function compiled after the call is optimized after an eighth of the usual bytecode, and
 * WebAssembly modules compiled after it are optimized in the background as soon as they are
 * compiled. That costs some compile time at start, which is why it is a process's choice: the
 * MultiQueueForwarder (queue workers) and buildVtep make it unless told not to
 * (`optimizeEarly: false`), before the code they start is compiled. A process started with its
 * own budgets (`node --interrupt-budget=N` or `--[no-]wasm-dynamic-tiering`) keeps them.
 */
import { setFlagsFromString } from 'node:v8';

/** The bytecode a function runs before V8 optimizes it (V8's default is 67,584). */
export const EARLY_INTERRUPT_BUDGET = 8192;

let applied = false;

/** Lower V8's optimization budgets for this process (once; later calls do nothing). */
export function optimizeEarly(): void {
  if (applied) return;
  applied = true;
  // The exact flags (V8 takes _ for -), not their longer cousins such as --interrupt-budget-for-feedback-allocation.
  const chosen = (pattern: RegExp): boolean => process.execArgv.some((arg) => pattern.test(arg.replace(/_/g, '-')));
  try {
    if (!chosen(/^--interrupt-budget=/)) setFlagsFromString(`--interrupt-budget=${EARLY_INTERRUPT_BUDGET}`);
    if (!chosen(/^--(no-)?wasm-dynamic-tiering$/)) setFlagsFromString('--no-wasm-dynamic-tiering');
  } catch {
    // A runtime that freezes its flags keeps its defaults: slower to warm up, nothing else.
  }
}
