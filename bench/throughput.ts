/**
 * `npm run bench:throughput`: what a user gets, in packets/s and Gbit/s, measured with benny.
 *
 *   node --import tsx bench/throughput.ts [--quick] [--backend wasm-simd|wasm-scalar|reference] [--suite NAME[,NAME]]
 *
 * The suites (bench/lib/cases.ts THROUGHPUT_SUITES) are cases of the interleaved suites, with
 * the very runners those suites time (their `createContender`), each validated against the
 * reference before and after timing. benny times one case to completion before the next, on one
 * backend, in this thread: good for absolute rates of one build, not for ratios between
 * contenders on a shared machine, which bench/run.ts measures interleaved (bench/lib/timing.ts).
 *
 * Writes benny's JSON and chart (chart.html; it loads Chart.js from a CDN to view) per suite to
 * bench/results/throughput/, a summary to bench/results/throughput.json (--quick:
 * throughput-quick.json) and, on a full run, the self-contained bench/charts/throughput.svg.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import b from 'benny';
import { renderThroughputChart, type ThroughputFile } from './charts/render';
import { BACKENDS, DEFAULT_BACKEND, THROUGHPUT_SUITES } from './lib/cases';
import { distProblem } from './lib/dist';
import { machineInfo } from './lib/machine';
import { machineMarkdown } from './lib/report';
import type { CaseRunner, CreateContender, SuiteDef } from './lib/types';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    backend: { type: 'string', default: DEFAULT_BACKEND },
    suite: { type: 'string', multiple: true },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
const names = THROUGHPUT_SUITES.map((s) => s.name);
if (values.help) {
  console.log('usage: node --import tsx bench/throughput.ts [--quick] [--backend NAME] [--suite NAME[,NAME]]');
  console.log(`suites: ${names.join(', ')} (default: all); backends: ${BACKENDS.join(', ')} (default ${DEFAULT_BACKEND})`);
  process.exit(0);
}
const backend = values.backend!;
if (!(BACKENDS as readonly string[]).includes(backend)) {
  console.error(`unknown backend "${backend}"; backends: ${BACKENDS.join(', ')}`);
  process.exit(2);
}
const chosen = (values.suite ?? names).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
for (const name of chosen) {
  if (!names.includes(name)) {
    console.error(`unknown suite "${name}"; suites: ${names.join(', ')}`);
    process.exit(2);
  }
}

// benny's defaults (benchmark.js: up to 5 s per case) would take minutes per suite; 1 s and at
// least 10 samples per case give margins of a few percent here. Quick: a smoke run.
const caseOptions = values.quick ? { minSamples: 2, maxTime: 0.05, initCount: 1 } : { minSamples: 10, maxTime: 1 };
const resultsDir = fileURLToPath(new URL('./results/', import.meta.url));
const perSuiteDir = `${resultsDir}throughput${values.quick ? '-quick' : ''}`;

const machine = machineInfo();
console.log(`# vxlan-wasm throughput (benny), backend ${backend}${values.quick ? ' (QUICK smoke run: figures not for quoting)' : ''}\n`);
console.log(machineMarkdown(machine));
console.log(`- benny case options: ${JSON.stringify(caseOptions)}\n`);
const stale = distProblem();
if (stale !== null) console.error(`\n!!! ${stale}\n`);

interface SuiteModule {
  suite: SuiteDef;
  createContender: CreateContender;
}
const modules = new Map<string, { module: SuiteModule; data: unknown }>();
async function load(name: string) {
  if (!modules.has(name)) {
    const module = (await import(new URL(`./suites/${name}.ts`, import.meta.url).href)) as SuiteModule;
    modules.set(name, { module, data: await module.suite.workerData?.() });
  }
  return modules.get(name)!;
}

function check(runner: CaseRunner, what: string): void {
  let problem: string | null;
  try {
    problem = runner.validate();
  } catch (error) {
    problem = `threw ${String(error)}`;
  }
  if (problem !== null) throw new Error(`${what} answers wrong, so it is not timed: ${problem}`);
}

const summary: ThroughputFile = { machine, backend, quick: values.quick!, suites: [] };
const total = THROUGHPUT_SUITES.filter((s) => chosen.includes(s.name)).reduce((n, s) => n + s.cases.length, 0);
let finished = 0;
let failed = false;

for (const definition of THROUGHPUT_SUITES.filter((s) => chosen.includes(s.name))) {
  const { module, data } = await load(definition.suite);
  const contender = definition.contender(backend);
  // Made right before its suite runs: the object API's contenders select the global backend.
  const runners = await module.createContender(contender, data);
  const cases = definition.cases.map((id) => {
    const def = module.suite.cases.find((c) => c.id === id);
    const runner = runners[id];
    if (!def || !runner) throw new Error(`bench/lib/cases.ts names case ${id} of suite ${definition.suite}, which ${contender} does not run`);
    check(runner, `${contender} on ${id}`);
    return { def, runner };
  });
  const labelOf = new Map(cases.map(({ def }) => [def.label.replace(/`/g, ''), def]));
  console.log(`## ${definition.title}\n`);
  const result = await b.suite(
    definition.name,
    ...cases.map(({ def, runner }) => b.add(def.label.replace(/`/g, ''), runner.run, caseOptions)),
    b.cycle((caseResult) => {
      finished++;
      const def = labelOf.get(caseResult.name)!;
      const pps = caseResult.ops * (def.opsPerCall ?? 1);
      return `[${finished}/${total}] ${caseResult.name}: ${(pps / 1e6).toFixed(2)} Mpackets/s, ${((pps * def.bytes * 8) / 1e9).toFixed(2)} Gbit/s ±${caseResult.margin}%`;
    }),
    b.complete(),
    b.save({ file: definition.name, folder: perSuiteDir, format: 'json', details: true }),
    b.save({ file: definition.name, folder: perSuiteDir, format: 'chart.html' }),
  );
  for (const { def, runner } of cases) {
    try {
      check(runner, `${contender} on ${def.id} (after timing)`);
    } catch (error) {
      console.error(`\n!!! ${(error as Error).message}`);
      failed = true;
    }
  }
  summary.suites.push({
    name: definition.name,
    title: definition.title,
    cases: result.results.map((r) => {
      const def = labelOf.get(r.name)!;
      const pps = r.ops * (def.opsPerCall ?? 1);
      return {
        id: def.id,
        label: r.name,
        opsPerSecond: r.ops,
        packetsPerSecond: pps,
        gbitPerSecond: (pps * def.bytes * 8) / 1e9,
        relativeMarginOfError: r.details.relativeMarginOfError,
      };
    }),
  });
  console.log('');
  console.log('| case | packets/s | Gbit/s | ± |\n|---|---:|---:|---:|');
  for (const c of summary.suites.at(-1)!.cases) {
    console.log(`| ${c.label} | ${(c.packetsPerSecond / 1e6).toFixed(2)} M | ${c.gbitPerSecond.toFixed(2)} | ${c.relativeMarginOfError.toFixed(1)}% |`);
  }
  console.log('');
}

mkdirSync(resultsDir, { recursive: true });
const summaryPath = `${resultsDir}throughput${values.quick ? '-quick' : ''}.json`;
writeFileSync(summaryPath, `${JSON.stringify(summary, null, 2)}\n`);
console.log(`results written to ${relative(process.cwd(), summaryPath)} and ${relative(process.cwd(), perSuiteDir)}/`);
if (!values.quick && chosen.length === names.length) {
  for (const path of renderThroughputChart(summary)) console.log(`chart written to ${relative(process.cwd(), path)}`);
}
if (failed) process.exitCode = 1;
