/**
 * `npm run bench:compare -- A.json B.json`: what changed between two runs of bench/run.ts, per
 * case and contender, judged against each run's own noise.
 *
 *   node --import tsx bench/compare.ts A.json B.json [--all]
 *   node --import tsx bench/compare.ts A1.json,A2.json,… B1.json,B2.json,… [--all]
 *   node --import tsx bench/compare.ts --quick [A.json]
 *
 * For each (suite, case, contender) timed in both: the median ns of A and of B, the change, and
 * each run's noise band (p25–p75 over its rounds). A change counts only when the two bands do not
 * overlap; otherwise it is "within noise". The ratio to the case's baseline contender (a median
 * of per-round ratios, so load that hit a whole round cancels) is compared too: it is what holds
 * from one machine to another, where absolute times differ by up to 2×.
 * Rows within noise are left out unless --all.
 *
 * Several runs a side (comma-separated; interleaved A, B, A, B… on a busy machine): their rounds
 * are pooled per figure, so medians and bands are over every round of every run, and the ratio
 * to the baseline is the median of the runs' ratios. One noisy run then widens a band instead of
 * deciding a verdict.
 *
 * --quick: the smoke run, under a minute: `bench/run.ts --quick` (every suite, every contender
 * validated against the reference before and after timing; exit 1 on a wrong or failed one),
 * then, given A.json, the comparison of that run with A (figures too short to judge: the smoke
 * is in the validation).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median, stats } from './lib/harness';
import type { MachineInfo } from './lib/machine';
import type { Measurement, SuiteResult } from './lib/types';

export interface RunFile {
  machine: MachineInfo;
  settings?: { rounds?: number; quick?: boolean };
  suites: SuiteResult[];
}

export type Verdict = 'faster' | 'slower' | 'within noise';

export interface Row {
  suite: string;
  caseId: string;
  label: string;
  contender: string;
  a: { medianNs: number; p25Ns: number; p75Ns: number; ratio?: number };
  b: { medianNs: number; p25Ns: number; p75Ns: number; ratio?: number };
  /** (B − A) / A of the medians: negative is faster. */
  change: number;
  verdict: Verdict;
}

/** Whether B's time is outside A's noise band and A's outside B's (the p25–p75 bands do not overlap). */
export function judge(a: { p25Ns: number; p75Ns: number }, b: { p25Ns: number; p75Ns: number }): Verdict {
  if (b.p75Ns < a.p25Ns) return 'faster';
  if (b.p25Ns > a.p75Ns) return 'slower';
  return 'within noise';
}

export function compareRuns(a: RunFile, b: RunFile): { rows: Row[]; onlyInA: string[]; onlyInB: string[]; notComparable: string[] } {
  const rows: Row[] = [];
  const onlyInA: string[] = [];
  const onlyInB: string[] = [];
  const notComparable: string[] = [];
  const key = (suite: string, m: Measurement) => `${suite} / ${m.caseId} / ${m.contender}`;
  const index = (run: RunFile) => new Map(run.suites.flatMap((s) => s.measurements.map((m) => [key(s.name, m), { suite: s, m }] as const)));
  const inA = index(a);
  const inB = index(b);
  for (const [k, { suite, m }] of inA) {
    const other = inB.get(k);
    if (!other) {
      onlyInA.push(k);
      continue;
    }
    if (!m.stats || !other.m.stats) {
      notComparable.push(`${k}: ${m.stats ? '' : `A ${m.status}`}${!m.stats && !other.m.stats ? ', ' : ''}${other.m.stats ? '' : `B ${other.m.status}`}`);
      continue;
    }
    const label = suite.cases.find((c) => c.id === m.caseId)?.label ?? m.caseId;
    const sa = m.stats;
    const sb = other.m.stats;
    rows.push({
      suite: suite.name,
      caseId: m.caseId,
      label,
      contender: m.contender,
      a: { medianNs: sa.medianNs, p25Ns: sa.p25Ns, p75Ns: sa.p75Ns, ratio: m.ratioToBaseline },
      b: { medianNs: sb.medianNs, p25Ns: sb.p25Ns, p75Ns: sb.p75Ns, ratio: other.m.ratioToBaseline },
      change: (sb.medianNs - sa.medianNs) / sa.medianNs,
      verdict: judge(sa, sb),
    });
  }
  for (const k of inB.keys()) if (!inA.has(k)) onlyInB.push(k);
  return { rows, onlyInA, onlyInB, notComparable };
}

/**
 * Several runs of one side as one: per (suite, case, contender), the per-round samples of every
 * run pooled (stats over all of them) and the median of the runs' ratios to the baseline. A figure
 * missing from a run, or untimed there, is left as the first run that has it says.
 */
export function poolRuns(runs: RunFile[]): RunFile {
  if (runs.length === 1) return runs[0];
  const first = runs[0];
  const suites = first.suites.map((suite) => ({
    ...suite,
    measurements: suite.measurements.map((m) => {
      const same = runs.flatMap((run) => run.suites.find((s) => s.name === suite.name)?.measurements
        .filter((o) => o.caseId === m.caseId && o.contender === m.contender && o.stats !== undefined && o.samplesNs !== undefined) ?? []);
      if (same.length < runs.length || m.stats === undefined) return m;
      const samplesNs = same.flatMap((o) => o.samplesNs!);
      const ratios = same.flatMap((o) => (o.ratioToBaseline === undefined ? [] : [o.ratioToBaseline]));
      return { ...m, samplesNs, stats: stats(samplesNs), ratioToBaseline: ratios.length === same.length ? median(ratios) : undefined };
    }),
  }));
  const dates = runs.map((run) => run.machine.date).sort();
  const commits = [...new Set(runs.map((run) => run.machine.gitCommit?.slice(0, 12) ?? 'unknown'))];
  return {
    machine: {
      ...first.machine,
      gitCommit: commits.join('/'),
      gitDirty: runs.some((run) => run.machine.gitDirty === true),
      date: `${runs.length} runs, ${dates[0]} … ${dates[dates.length - 1]}`,
    },
    settings: first.settings,
    suites,
  };
}

const ns = (value: number) => (value >= 100 ? value.toFixed(0) : value.toFixed(1));
const percent = (value: number) => `${value >= 0 ? '+' : ''}${(value * 100).toFixed(1)}%`;
const band = (s: { medianNs: number; p25Ns: number; p75Ns: number }) => `${ns(s.p25Ns)}–${ns(s.p75Ns)} (±${((50 * (s.p75Ns - s.p25Ns)) / s.medianNs).toFixed(1)}%)`;

/** B's medians over A's, per contender across its cases: the geometric mean and the range. */
function byContender(rows: Row[]): string[] {
  const groups = new Map<string, number[]>();
  for (const row of rows) {
    const key = `${row.suite} / ${row.contender}`;
    groups.set(key, [...(groups.get(key) ?? []), row.b.medianNs / row.a.medianNs]);
  }
  if (groups.size === 0) return [];
  const lines = ['| suite / contender | figures | B / A median, geometric mean | lowest | highest |', '|---|---:|---:|---:|---:|'];
  for (const [key, ratios] of groups) {
    const mean = Math.exp(ratios.reduce((sum, ratio) => sum + Math.log(ratio), 0) / ratios.length);
    lines.push(`| ${key} | ${ratios.length} | ${mean.toFixed(3)} | ${Math.min(...ratios).toFixed(2)} | ${Math.max(...ratios).toFixed(2)} |`);
  }
  return [...lines, ''];
}

export function compareMarkdown(a: RunFile, b: RunFile, names: [string, string], all: boolean): string {
  const { rows, onlyInA, onlyInB, notComparable } = compareRuns(a, b);
  const commits = (run: RunFile) => run.machine.gitCommit?.split('/').map((commit) => commit.slice(0, 12)).join('/') ?? 'unknown';
  const describe = (run: RunFile) => `commit ${commits(run)}${run.machine.gitDirty ? '+' : ''}, ${run.machine.date}, ${run.machine.cpuModel}, load ${run.machine.loadAverageAtStart.join(' ')}${run.settings?.quick ? ', QUICK' : ''}`;
  const lines = [
    `# ${names[0]} → ${names[1]}`,
    '',
    `- A: ${names[0]}: ${describe(a)}`,
    `- B: ${names[1]}: ${describe(b)}`,
  ];
  if (a.machine.cpuModel !== b.machine.cpuModel || a.machine.node !== b.machine.node) {
    lines.push('- **Different machines or Node versions**: absolute times do not compare; read the ratio column.');
  }
  const counts = { faster: 0, slower: 0, 'within noise': 0 };
  for (const row of rows) counts[row.verdict]++;
  lines.push(`- ${rows.length} figures in both: ${counts.faster} faster, ${counts.slower} slower, ${counts['within noise']} within noise (p25–p75 bands overlap)`, '');
  lines.push(...byContender(rows));
  const shown = all ? rows : rows.filter((row) => row.verdict !== 'within noise');
  if (shown.length > 0) {
    lines.push('| suite | case | contender | A median ns | B median ns | change | A p25–p75 | B p25–p75 | verdict | vs baseline A → B |', '|---|---|---|---:|---:|---:|---:|---:|---|---:|');
    for (const row of shown.sort((x, y) => x.change - y.change)) {
      const ratio = row.a.ratio !== undefined && row.b.ratio !== undefined ? `${row.a.ratio.toFixed(2)}× → ${row.b.ratio.toFixed(2)}×` : '';
      const verdict = row.verdict === 'within noise' ? row.verdict : `**${row.verdict}**`;
      lines.push(`| ${row.suite} | ${row.label.replace(/\|/g, '\\|')} | ${row.contender} | ${ns(row.a.medianNs)} | ${ns(row.b.medianNs)} | ${percent(row.change)} | ${band(row.a)} | ${band(row.b)} | ${verdict} | ${ratio} |`);
    }
    lines.push('');
  } else {
    lines.push('Every figure is within noise.', '');
  }
  for (const [title, list] of [['Only in A', onlyInA], ['Only in B', onlyInB], ['Not timed in one of them', notComparable]] as const) {
    if (list.length > 0) lines.push(`${title}:`, '', ...list.map((k) => `- ${k}`), '');
  }
  return lines.join('\n');
}

function readRun(path: string): RunFile {
  if (!existsSync(path)) throw new Error(`${path} does not exist`);
  const run = JSON.parse(readFileSync(path, 'utf8')) as RunFile;
  if (!Array.isArray(run.suites) || !run.machine) throw new Error(`${path} is not a bench/run.ts result (no "suites" or "machine")`);
  return run;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { quick: { type: 'boolean', default: false }, all: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
  });
  const usage = 'usage: node --import tsx bench/compare.ts A.json B.json [--all]\n'
    + '       node --import tsx bench/compare.ts A1.json,A2.json,… B1.json,B2.json,… [--all]   (several runs a side, pooled)\n'
    + '       node --import tsx bench/compare.ts --quick [A.json]';
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  try {
    if (values.quick) {
      if (positionals.length > 1) throw new Error(`--quick takes at most one result file to compare with\n${usage}`);
      const out = fileURLToPath(new URL('./results/quick.json', import.meta.url));
      const run = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./run.ts', import.meta.url)), '--quick', '--out', out], { stdio: 'inherit' });
      if (run.status !== 0) {
        console.error(`\nthe quick bench failed (exit ${run.status}): see above`);
        process.exit(1);
      }
      if (positionals.length === 1) console.log(`\n${compareMarkdown(readRun(positionals[0]), readRun(out), [positionals[0], 'this quick run'], values.all!)}`);
    } else {
      if (positionals.length !== 2) throw new Error(usage);
      const side = (list: string) => poolRuns(list.split(',').filter(Boolean).map(readRun));
      console.log(compareMarkdown(side(positionals[0]), side(positionals[1]), [positionals[0], positionals[1]], values.all!));
    }
  } catch (error) {
    console.error((error as Error).message);
    process.exit(2);
  }
}
