/**
 * The bench entry point: `npm run bench` (builds first), or directly
 *   node --import tsx bench/run.ts [--suite checksum,decap,batch] [--quick] [--rounds N] [--out FILE]
 * Prints the machine and a markdown table per suite, and writes every figure (with per-round
 * samples) as JSON to bench/results/latest.json (--quick: bench/results/quick.json). A full run of
 * every suite also draws BENCHMARKS.md's charts into bench/charts/ (bench/charts/render.ts).
 * To compare two runs against their noise: bench/compare.ts.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { renderRunCharts } from './charts/render';
import { runSuite, type RunSettings } from './lib/harness';
import { distProblem } from './lib/dist';
import { machineInfo } from './lib/machine';
import { machineMarkdown, suiteMarkdown } from './lib/report';
import type { SuiteDef, SuiteResult } from './lib/types';

/** The raw-socket the checksum suite measures (installed on demand, never saved). */
const RAW_SOCKET_VERSION = '1.8.1';

const SUITES = ['checksum', 'decap', 'batch'] as const;

const { values } = parseArgs({
  options: {
    suite: { type: 'string', multiple: true },
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log('usage: node --import tsx bench/run.ts [--suite NAME[,NAME]] [--quick] [--rounds N] [--out FILE]');
  console.log(`suites: ${SUITES.join(', ')} (default: all)`);
  process.exit(0);
}

const chosen = (values.suite ?? [...SUITES]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
for (const name of chosen) {
  if (!(SUITES as readonly string[]).includes(name)) {
    console.error(`unknown suite "${name}"; suites: ${SUITES.join(', ')}`);
    process.exit(2);
  }
}

// Full: 21 rounds of 30 ms samples per (case, contender). Quick: a smoke run that proves every
// contender validates and times, with figures too short to quote.
const settings: RunSettings = values.quick
  ? { rounds: 3, warmupMs: 15, sampleMs: 3, log: (line) => console.log(line) }
  : { rounds: 21, warmupMs: 150, sampleMs: 30, log: (line) => console.log(line) };
if (values.rounds !== undefined) settings.rounds = Math.max(1, Number.parseInt(values.rounds, 10));

const machine = machineInfo();
console.log(`# vxlan-wasm benchmarks${values.quick ? ' (QUICK smoke run: figures not for quoting)' : ''}\n`);
console.log(machineMarkdown(machine));
console.log(`- Settings: ${settings.rounds} rounds, ${settings.sampleMs} ms samples, ${settings.warmupMs} ms warm-up per case\n`);

// Every figure is of dist/index.mjs: say loudly when it is missing or older than the sources.
const stale = distProblem();
if (stale !== null) console.error(`\n!!! ${stale}\n`);

// raw-socket, the checksum suite's native contender, is not a dependency of the package (a user of
// the codec installs no native module): a full run installs it here, unsaved, where it is missing.
// Where that fails (no compiler, no registry) the contender is NOT RUN, loudly, as before.
if (chosen.includes('checksum') && !values.quick) {
  try {
    createRequire(import.meta.url).resolve('raw-socket');
  } catch {
    console.log(`installing raw-socket@${RAW_SOCKET_VERSION} (unsaved) for the checksum suite's native contender…`);
    const installed = spawnSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', `raw-socket@${RAW_SOCKET_VERSION}`], { encoding: 'utf8', timeout: 180_000 });
    if (installed.status !== 0) console.error(`\n!!! raw-socket could not be installed (its contender is NOT RUN): ${(installed.stderr ?? '').trim().split('\n').slice(-3).join(' ')}\n`);
  }
}

const results: SuiteResult[] = [];
for (const name of chosen) {
  const moduleUrl = new URL(`./suites/${name}.ts`, import.meta.url).href;
  const { suite } = (await import(moduleUrl)) as { suite: SuiteDef };
  const started = Date.now();
  console.log(`running ${name}…`);
  const result = await runSuite(suite, moduleUrl, settings);
  results.push(result);
  console.log(`(${name}: ${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
  console.log(suiteMarkdown(result));
  if (!result.available) console.error(`\n!!! suite ${name} NOT RUN: ${result.unavailableReason}\n`);
}

const outPath = values.out ?? fileURLToPath(new URL(`./results/${values.quick ? 'quick' : 'latest'}.json`, import.meta.url));
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, `${JSON.stringify({ machine, settings: { ...settings, log: undefined, quick: values.quick }, suites: results }, null, 2)}\n`);
console.log(`results written to ${relative(process.cwd(), outPath) || outPath}`);
// The charts of BENCHMARKS.md come from a full run of every suite, never from a quick one.
if (!values.quick && SUITES.every((name) => chosen.includes(name))) {
  const run = { machine, settings: { quick: false }, suites: results };
  for (const path of renderRunCharts(run)) console.log(`chart written to ${relative(process.cwd(), path)}`);
}

// Fail the process when a contender answered wrong or failed, so a smoke test sees it. A suite
// that is unavailable (suite.unavailable() gave a reason) is reported loudly above but does not fail the run.
const problems = results.flatMap((r) => r.measurements.filter((m) => m.status === 'wrong' || m.status === 'failed').map((m) => `${r.name}/${m.caseId}/${m.contender}: ${m.status}`));
if (problems.length > 0) {
  console.error(`\n${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
  process.exitCode = 1;
}
