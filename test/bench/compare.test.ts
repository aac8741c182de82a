/**
 * bench/compare.ts: a change counts only outside both runs' noise bands; and the smoke run
 * (`bench/compare.ts --quick`, what CI runs) validates every contender of every suite and exits 0.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compareMarkdown, compareRuns, judge, poolRuns, type RunFile } from '../../bench/compare';

const root = fileURLToPath(new URL('../../', import.meta.url));

function run(medians: Record<string, [number, number, number]>, commit: string): RunFile {
  return {
    machine: { cpuModel: 'test CPU', node: 'v20', gitCommit: commit, gitDirty: false, date: '2026-01-01', loadAverageAtStart: [0, 0, 0] } as RunFile['machine'],
    suites: [{
      name: 'batch',
      title: 'batch',
      available: true,
      cases: [{ id: 'encap-zero-64', group: 'g', label: 'UDP checksum 0, inner 64 B', bytes: 114, baseline: 'wasm-simd' }],
      contenders: Object.keys(medians).map((name) => ({ name, description: name })),
      measurements: Object.entries(medians).map(([contender, [p25Ns, medianNs, p75Ns]]) => ({
        caseId: 'encap-zero-64', contender, status: 'ok' as const, stats: { p25Ns, medianNs, p75Ns, minNs: p25Ns, samples: 21 },
      })),
      targets: [],
    }],
  };
}

test('judge: faster or slower only when the p25–p75 bands do not overlap', () => {
  assert.is(judge({ p25Ns: 10, p75Ns: 12 }, { p25Ns: 8, p75Ns: 9.9 }), 'faster');
  assert.is(judge({ p25Ns: 10, p75Ns: 12 }, { p25Ns: 12.1, p75Ns: 13 }), 'slower');
  assert.is(judge({ p25Ns: 10, p75Ns: 12 }, { p25Ns: 11.9, p75Ns: 14 }), 'within noise');
  assert.is(judge({ p25Ns: 10, p75Ns: 12 }, { p25Ns: 9, p75Ns: 10 }), 'within noise');
});

test('compareRuns: per case and contender, change of the medians, verdict against noise, and what is only in one run', () => {
  const a = run({ 'wasm-simd': [9, 10, 11], reference: [95, 100, 105], 'wasm-scalar': [11, 12, 13] }, 'aaaa');
  const b = run({ 'wasm-simd': [7, 7.5, 8], reference: [98, 102, 110], 'native C': [4, 5, 6] }, 'bbbb');
  const { rows, onlyInA, onlyInB } = compareRuns(a, b);
  const simd = rows.find((r) => r.contender === 'wasm-simd')!;
  assert.is(simd.verdict, 'faster');
  assert.ok(Math.abs(simd.change - -0.25) < 1e-9, `change ${simd.change}`);
  assert.is(rows.find((r) => r.contender === 'reference')!.verdict, 'within noise');
  assert.equal(onlyInA, ['batch / encap-zero-64 / wasm-scalar']);
  assert.equal(onlyInB, ['batch / encap-zero-64 / native C']);

  const text = compareMarkdown(a, b, ['A.json', 'B.json'], false);
  assert.match(text, /2 figures in both: 1 faster, 0 slower, 1 within noise/);
  assert.match(text, /\| batch \| UDP checksum 0, inner 64 B \| wasm-simd \| 10\.0 \| 7\.5 \| -25\.0% \| 9\.0–11\.0 \(±10\.0%\) \| 7\.0–8\.0 \(±6\.7%\) \| \*\*faster\*\* \|/);
  assert.not.match(text, /\| reference \|/, 'rows within noise are left out without --all');
  assert.match(compareMarkdown(a, b, ['A.json', 'B.json'], true), /\| reference \| 100 \| 102 \| \+2\.0% \|/);
});

/** One run whose only figure (wasm-simd) has these per-round samples and this ratio to the baseline. */
function sampled(samplesNs: number[], ratioToBaseline: number, commit: string, date: string): RunFile {
  const one = run({ 'wasm-simd': [0, 0, 0] }, commit);
  one.machine.date = date;
  const m = one.suites[0].measurements[0];
  const sorted = [...samplesNs].sort((x, y) => x - y);
  Object.assign(m, { samplesNs, ratioToBaseline, stats: { p25Ns: sorted[0], medianNs: sorted[1], p75Ns: sorted[2], minNs: sorted[0], samples: samplesNs.length } });
  return one;
}

test('poolRuns: several runs of a side as one, over every round of every run; the ratio the median of the runs\'', () => {
  const pooled = poolRuns([
    sampled([10, 11, 12], 1.0, 'aaaa', '2026-01-02'),
    sampled([20, 21, 22], 1.2, 'aaaa', '2026-01-01'),
    sampled([13, 14, 15], 1.1, 'bbbb', '2026-01-03'),
  ]);
  const m = pooled.suites[0].measurements[0];
  assert.equal(m.samplesNs, [10, 11, 12, 20, 21, 22, 13, 14, 15]);
  assert.is(m.stats!.medianNs, 14, 'the median of the nine rounds');
  assert.is(m.stats!.p25Ns, 12);
  assert.is(m.stats!.p75Ns, 20);
  assert.is(m.stats!.samples, 9);
  assert.is(m.ratioToBaseline, 1.1);
  assert.is(pooled.machine.gitCommit, 'aaaa/bbbb');
  assert.is(pooled.machine.date, '3 runs, 2026-01-01 … 2026-01-03');

  // A noisy run widens the band: one run alone says slower, the pooled runs within noise.
  const base = poolRuns([sampled([10, 10, 10], 1, 'a', 'd'), sampled([10, 16, 18], 1, 'a', 'd')]);
  const one = sampled([13, 13, 13], 1, 'b', 'd');
  assert.is(compareRuns(sampled([10, 10, 10], 1, 'a', 'd'), one).rows[0].verdict, 'slower');
  assert.is(compareRuns(base, one).rows[0].verdict, 'within noise');
  assert.match(compareMarkdown(base, one, ['A', 'B'], false), /\| batch \/ wasm-simd \| 1 \| 1\.300 \|/);
});

test('bench/compare.ts: two files are required; a file that is not a result is named', () => {
  const none = spawnSync(process.execPath, ['--import', 'tsx', 'bench/compare.ts', 'only-one.json'], { cwd: root, encoding: 'utf8' });
  assert.is(none.status, 2);
  assert.match(none.stderr, /usage: node --import tsx bench\/compare\.ts A\.json B\.json/);
  const wrong = spawnSync(process.execPath, ['--import', 'tsx', 'bench/compare.ts', 'package.json', 'package.json'], { cwd: root, encoding: 'utf8' });
  assert.is(wrong.status, 2);
  assert.match(wrong.stderr, /package\.json is not a bench\/run\.ts result/);
});

test('bench/compare.ts --quick: every suite, every contender validated and timed, under a minute, exit 0', () => {
  const started = Date.now();
  const smoke = spawnSync(process.execPath, ['--import', 'tsx', 'bench/compare.ts', '--quick'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  const seconds = (Date.now() - started) / 1000;
  assert.is(smoke.status, 0, `exit ${smoke.status}:\n${(smoke.stdout + smoke.stderr).slice(-3000)}`);
  assert.ok(seconds < 60, `the quick run took ${seconds.toFixed(0)} s`);
  const result = JSON.parse(readFileSync(`${root}bench/results/quick.json`, 'utf8')) as RunFile;
  assert.equal(result.suites.map((s) => s.name), ['checksum', 'decap', 'batch']);
  for (const suite of result.suites) {
    for (const m of suite.measurements) {
      // An optional contender may be absent from this install (NOT RUN); nothing may be wrong.
      if (m.status === 'not run') continue;
      assert.is(m.status, 'ok', `${suite.name}/${m.caseId}/${m.contender}: ${m.status} ${m.detail ?? ''}`);
    }
  }
  const nativeBatch = result.suites.find((s) => s.name === 'batch')!.measurements.filter((m) => m.contender.startsWith('native C'));
  assert.is(nativeBatch.length, 15, 'the native batch twin takes part in every encap and decap case');
});

test.run();
