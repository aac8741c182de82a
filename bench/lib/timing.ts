/**
 * The timing loop. Why not benny: benny (benchmark.js underneath) times one case to completion
 * before the next, several seconds each, so on this shared 2-core machine a burst of load from
 * another process lands on one contender and not the others; and its per-case minimum of
 * seconds would blow the time budget for 40+ cases. Here every contender is timed in short
 * samples, interleaved round by round, and compared by median.
 *
 * Each (contender, case) gets its own loop function made with `new Function`, so the call site
 * `run()` in it only ever sees one target: V8 inlines it, and no contender pays for the
 * polymorphism another one caused (a shared loop made the same call ~40% slower here).
 */

export type TimedLoop = (run: () => number, iterations: number) => number;

export function makeLoop(): TimedLoop {
  // The xor into `sink` (returned) keeps every result live so no call can be dropped.
  return new Function(
    'run',
    'iterations',
    'let sink = 0;\nfor (let i = 0; i < iterations; i++) sink ^= run();\nreturn sink;',
  ) as TimedLoop;
}

const now = () => process.hrtime.bigint();

/** Nanoseconds per call over `iterations` calls. */
export function timeLoop(loop: TimedLoop, run: () => number, iterations: number): { nsPerOp: number; sink: number } {
  const start = now();
  const sink = loop(run, iterations);
  const elapsed = Number(now() - start);
  return { nsPerOp: elapsed / iterations, sink };
}

/**
 * Run `run` for about `warmupMs` (so V8's optimising tier has compiled it), then return the
 * number of iterations that takes about `sampleMs`.
 */
export function warmUpAndCalibrate(loop: TimedLoop, run: () => number, warmupMs: number, sampleMs: number): number {
  let iterations = 16;
  let spentNs = 0;
  let lastNsPerOp = Infinity;
  while (spentNs < warmupMs * 1e6) {
    const { nsPerOp } = timeLoop(loop, run, iterations);
    spentNs += nsPerOp * iterations;
    lastNsPerOp = nsPerOp;
    if (nsPerOp * iterations < 2e6) iterations *= 2;
  }
  // The last warm-up figure is from optimised code: size the sample from it.
  return Math.max(1, Math.round((sampleMs * 1e6) / lastNsPerOp));
}
