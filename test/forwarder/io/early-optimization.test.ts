// optimizeEarly lowers V8's optimization budget for the process: the same function, called the
// same way, is optimized after fewer calls once it has run. Each count comes from a child process
// (V8 flags are the whole process's), with optimization made synchronous
// (--no-concurrent-recompilation) so that the count is exact, and read with V8's own
// %GetOptimizationStatus (--allow-natives-syntax).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';

const MODULE = new URL('../../../src/forwarder/io/early-optimization.ts', import.meta.url).href;
/** V8's OptimizationStatus bit for "optimized" (kOptimized, in V8's runtime header). */
const OPTIMIZED = 16;

/** Calls until V8 has optimized a small function, in a fresh process (after optimizeEarly when `early`). */
function callsUntilOptimized(early: boolean, nodeFlags: readonly string[] = []): number {
  const script = `
    import { optimizeEarly } from ${JSON.stringify(MODULE)};
    if (${early}) optimizeEarly();
    const f = new Function('a', 'let s = 0; for (let i = 0; i < a.length; i++) s += a[i] * 3 + (a[i] >> 1); return s;');
    const data = [1, 2, 3, 4, 5, 6, 7, 8];
    let calls = 0;
    for (; calls < 100000; calls++) { f(data); if ((eval('%GetOptimizationStatus(f)') & ${OPTIMIZED}) !== 0) break; }
    process.stdout.write(String(calls));`;
  const output = execFileSync(process.execPath, [...nodeFlags, '--allow-natives-syntax', '--no-concurrent-recompilation', '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  const calls = Number(output.trim());
  if (!Number.isInteger(calls)) throw new Error(`the child printed ${JSON.stringify(output)}, not a count`);
  return calls;
}

test('optimizeEarly: a function is optimized after fewer calls than with V8\'s defaults', () => {
  const usual = callsUntilOptimized(false);
  const early = callsUntilOptimized(true);
  assert.ok(usual > 0 && usual < 100000, `V8 optimized the function by itself (${usual} calls)`);
  assert.ok(early * 2 <= usual, `optimized after ${early} calls with optimizeEarly, ${usual} without`);
});

test('optimizeEarly leaves alone a budget the process was started with', () => {
  const usual = callsUntilOptimized(false);
  const chosen = callsUntilOptimized(true, ['--interrupt-budget=67584']);
  assert.is(chosen, usual, `node --interrupt-budget=67584 kept V8's usual count (${chosen} calls, ${usual} without optimizeEarly)`);
});

test.run();
