/**
 * The charts of BENCHMARKS.md, drawn from the benches' JSON (never typed in by hand):
 *   checksum.svg         RFC 1071 checksum, GB/s per size: WASM vs pure TS vs native C (bench/run.ts)
 *   batch.svg            batch kernels, Mpackets/s per case: WASM vs pure TS vs native C (bench/run.ts)
 *   batch-vs-single.svg  one frame per call vs the batch path, Mpackets/s (bench/run.ts)
 *   forwarder-tcp.svg    iperf3 TCP through each path, Gbit/s (bench/forwarder.ts)
 *   forwarder-latency.svg  round trips (ping, sockperf TCP and UDP p50) per path, ms (bench/forwarder.ts)
 *   forwarder-udp.svg    64-byte UDP without loss, kpackets/s (bench/forwarder.ts)
 *   throughput.svg       benny's throughput suites, Gbit/s (bench/throughput.ts)
 *
 * bench/run.ts (full runs), bench/throughput.ts and this file as a command write them:
 *   node --import tsx bench/charts/render.ts [--results DIR] [--out DIR]
 * re-draws every chart whose JSON is in bench/results/ (latest.json, forwarder.json, throughput.json).
 * The forwarder's charts name their run (commit and start time, bench/forwarder/run-id.ts) as the
 * BENCHMARKS.md section beside them does; `bench/forwarder.ts --write-benchmarks` writes both, and
 * test/bench/run-identity.test.ts fails when they name different runs.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { latencyOf, type LatencyKind } from '../forwarder/latency';
import { PATH_NAME } from '../forwarder/paths';
import type { BenchResult } from '../forwarder/result';
import { runId } from '../forwarder/run-id';
import { caseId, CHECKSUM_MODES, CHECKSUM_SIZES, DEFAULT_BACKEND, INNER_SIZES, IPV4_OVERHEAD, MODE_LABEL, NATIVE } from '../lib/cases';
import type { MachineInfo } from '../lib/machine';
import type { Measurement, SuiteResult } from '../lib/types';
import { barChart, type Bar } from './svg';

export const CHARTS_DIR = fileURLToPath(new URL('./', import.meta.url));
export const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));

export interface RunFile {
  machine: MachineInfo;
  settings: { quick?: boolean };
  suites: SuiteResult[];
}

function measurement(suites: SuiteResult[], suite: string, id: string, contender: string): Measurement | undefined {
  return suites.find((s) => s.name === suite)?.measurements.find((m) => m.caseId === id && m.contender === contender);
}

/** A bar of `series` from a measurement, as value = perNs(median ns), with the p25–p75 band. */
function bar(series: string, m: Measurement | undefined, perNs: (ns: number) => number): Bar {
  if (!m || m.status !== 'ok' || !m.stats) return { series, value: NaN, note: m ? m.status.toUpperCase() : 'not measured' };
  // A shorter time is a higher rate: p75's time gives the band's low end.
  return { series, value: perNs(m.stats.medianNs), low: perNs(m.stats.p75Ns), high: perNs(m.stats.p25Ns) };
}

const machineLine = (machine: MachineInfo) =>
  `${machine.cpuModel}, ${machine.logicalCores} cores, Node ${machine.node}; commit ${machine.gitCommit?.slice(0, 12) ?? 'unknown'}; load ${machine.loadAverageAtStart.join(' ')}; bars: median, whiskers: p25–p75`;

export function checksumChart(run: RunFile): string {
  const series = ['native C (data in memory)', 'WASM kernel (data in memory)', 'checksum(), WASM (JS heap)', 'fastest pure TS', 'checksum(), pure-TS reference', 'raw-socket (native addon)'];
  const sources: [string, string, string][] = [
    [series[0], 'memory', NATIVE],
    [series[1], 'memory', 'kernel wasm-simd'],
    [series[2], 'heap', 'checksum() wasm-simd'],
    [series[3], 'heap', 'fastest pure TS'],
    [series[4], 'heap', 'checksum() reference'],
    [series[5], 'heap', 'raw-socket createChecksum'],
  ];
  return barChart({
    title: 'RFC 1071 checksum: WASM vs pure TS vs native C',
    subtitle: machineLine(run.machine),
    unit: 'GB/s (higher is better)',
    series,
    groups: CHECKSUM_SIZES.map((size) => ({
      label: `${size} B`,
      bars: sources.map(([name, table, contender]) => bar(name, measurement(run.suites, 'checksum', table === 'heap' ? caseId.checksumHeap(size) : caseId.checksumMemory(size), contender), (ns) => size / ns)),
    })),
  });
}

const mpps = (ns: number) => 1e3 / ns;

export function batchChart(run: RunFile): string {
  const contenders: [string, string][] = [[NATIVE, 'native C'], ['wasm-simd', 'WASM (SIMD)'], ['wasm-scalar', 'WASM (scalar)'], ['reference', 'pure-TS reference']];
  const groups = [
    ...CHECKSUM_MODES.flatMap((mode) => INNER_SIZES.map((n) => ({ label: `encap, ${MODE_LABEL[mode].replace(' (from the inner one)', '')}, inner ${n} B`, id: caseId.batchEncap(mode, n) }))),
    ...[false, true].flatMap((csum) => INNER_SIZES.map((n) => ({ label: `decap, ${csum ? 'IPv4 + UDP csum' : 'IPv4 csum'}, frame ${n + IPV4_OVERHEAD} B`, id: caseId.batchDecap(csum, n) }))),
  ];
  return barChart({
    title: 'Batch kernels (64 frames per call): WASM vs pure TS vs native C',
    subtitle: machineLine(run.machine),
    unit: 'million packets/s per core (higher is better)',
    series: contenders.map(([, label]) => label),
    groups: groups.map(({ label, id }) => ({ label, bars: contenders.map(([name, series]) => bar(series, measurement(run.suites, 'batch', id, name), mpps)) })),
  });
}

export function batchVsSingleChart(run: RunFile): string {
  const series = ['one frame per call', 'batch of 64, per packet'];
  const groups = INNER_SIZES.flatMap((n) => [
    {
      label: `decapsulate, frame ${n + IPV4_OVERHEAD} B`,
      bars: [
        bar(series[0], measurement(run.suites, 'decap', caseId.singleDecap(n), DEFAULT_BACKEND), mpps),
        bar(series[1], measurement(run.suites, 'batch', caseId.batchDecap(true, n), DEFAULT_BACKEND), mpps),
      ],
    },
    {
      label: `encapsulate (full csum), inner ${n} B`,
      bars: [
        bar(series[0], measurement(run.suites, 'decap', caseId.singleEncapInto(n), DEFAULT_BACKEND), mpps),
        bar(series[1], measurement(run.suites, 'batch', caseId.batchEncap('full', n), DEFAULT_BACKEND), mpps),
      ],
    },
  ]);
  return barChart({
    title: 'One frame per call (decapsulate / encapsulateInto) vs the batch path, WASM (SIMD)',
    subtitle: machineLine(run.machine),
    unit: 'million packets/s per core (higher is better); both verify / compute every checksum',
    series,
    groups,
  });
}

function medianOf(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** The subtitle of a forwarder chart: the run it is of first, then the machine. */
const forwarderSubtitle = (result: BenchResult, tail: string) =>
  `${runId(result.machine)}; ${result.machine.cpuModel}, ${result.machine.logicalCores} cores, Node ${result.machine.node}; ${tail}`;

export function forwarderTcpChart(result: BenchResult): string {
  const paths = [...new Set(result.tcp.map((r) => r.path))];
  const series = ['host A → host B', 'host B → host A'];
  return barChart({
    title: 'Forwarder vs kernel: iperf3 TCP between two namespaces',
    subtitle: forwarderSubtitle(result, `median of ${result.settings.repeats ?? '?'} runs, whiskers: min–max`),
    unit: 'Gbit/s (higher is better)',
    series,
    groups: paths.map((path) => ({
      label: PATH_NAME[path] ?? path,
      bars: (['ab', 'ba'] as const).map((direction, i) => {
        const runs = result.tcp.filter((r) => r.path === path && r.direction === direction).map((r) => r.gbps);
        if (runs.length === 0) return { series: series[i], value: NaN, note: 'not measured' };
        return { series: series[i], value: medianOf(runs), low: Math.min(...runs), high: Math.max(...runs) };
      }),
    })),
  });
}

export function forwarderUdpChart(result: BenchResult): string {
  const paths = [...new Set(result.udp.map((r) => r.path))];
  const series = ['host A → host B', 'host B → host A'];
  return barChart({
    title: `Forwarder vs kernel: ${result.settings.udpPayload ?? 64}-byte UDP, highest rate with < 1% loss`,
    subtitle: forwarderSubtitle(result, 'the defaults; a rate the sender could not exceed is a floor'),
    unit: 'thousand packets/s received (higher is better)',
    series,
    groups: paths.map((path) => ({
      label: PATH_NAME[path] ?? path,
      bars: (['ab', 'ba'] as const).map((direction, i) => {
        const search = result.udp.find((r) => r.path === path && r.direction === direction);
        if (!search) return { series: series[i], value: NaN, note: 'not measured' };
        return { series: series[i], value: search.bestPps / 1e3 };
      }),
    })),
    format: (value) => value.toFixed(0),
  });
}

/**
 * Round trips per path: p50 of ping and of sockperf ping-pong over TCP and UDP, idle and under the
 * load stream. p50 only: a p99 whisker (ping's reaches tens of ms on a busy machine) would squeeze
 * every bar to nothing; the p99s are in the report's table.
 */
export function forwarderLatencyChart(result: BenchResult): string {
  const rounds = result.latency ?? [];
  const paths = [...new Set(rounds.map((r) => r.path))];
  const series: [LatencyKind, 'idle' | 'load', string][] = [
    ['ping', 'idle', 'ping, idle'], ['tcp', 'idle', 'sockperf TCP, idle'], ['udp', 'idle', 'sockperf UDP, idle'],
    ['ping', 'load', 'ping, under load'], ['tcp', 'load', 'sockperf TCP, under load'],
  ];
  return barChart({
    title: 'Forwarder vs kernel: round trips between two namespaces, p50',
    subtitle: forwarderSubtitle(result, `medians of ${result.settings.latencyRounds ?? '?'} rounds; under load: an iperf3 stream B → A`),
    unit: 'ms, p50 (lower is better)',
    series: series.map(([, , name]) => name),
    groups: paths.map((path) => ({
      label: PATH_NAME[path] ?? path,
      bars: series.map(([kind, state, name]) => {
        const p50 = latencyOf(rounds, path, state, kind, 'p50');
        return Number.isFinite(p50) ? { series: name, value: p50 } : { series: name, value: NaN, note: 'not measured' };
      }),
    })),
    format: (value) => value.toFixed(3),
  });
}

/** bench/throughput.ts's summary (bench/results/throughput.json). */
export interface ThroughputFile {
  machine: MachineInfo;
  backend: string;
  quick: boolean;
  suites: { name: string; title: string; cases: { id: string; label: string; opsPerSecond: number; packetsPerSecond: number; gbitPerSecond: number; relativeMarginOfError: number }[] }[];
}

export function throughputChart(result: ThroughputFile): string {
  const series = ['Gbit/s (bytes of each frame)'];
  return barChart({
    title: `Throughput with benny, one core, backend ${result.backend}`,
    subtitle: `${machineLine(result.machine).replace(/; bars:.*/, '')}; bars: benny's mean, whiskers: ± its margin of error`,
    unit: 'Gbit/s of frames (higher is better); Mpackets/s in the labels',
    series,
    groups: result.suites.flatMap((suite) => suite.cases.map((c) => ({
      label: `${suite.name}, ${c.label} (${(c.packetsPerSecond / 1e6).toFixed(1)} Mpps)`,
      bars: [{
        series: series[0],
        value: c.gbitPerSecond,
        low: c.gbitPerSecond * (1 - c.relativeMarginOfError / 100),
        high: c.gbitPerSecond * (1 + c.relativeMarginOfError / 100),
      }],
    }))),
  });
}

function write(dir: string, name: string, svg: string): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  writeFileSync(path, svg);
  return path;
}

/** The charts of one interleaved run (all three need its checksum, batch and decap suites; missing ones draw as "not measured"). */
export function renderRunCharts(run: RunFile, dir = CHARTS_DIR): string[] {
  return [
    write(dir, 'checksum.svg', checksumChart(run)),
    write(dir, 'batch.svg', batchChart(run)),
    write(dir, 'batch-vs-single.svg', batchVsSingleChart(run)),
  ];
}

export function renderForwarderCharts(result: BenchResult, dir = CHARTS_DIR): string[] {
  return [
    write(dir, 'forwarder-tcp.svg', forwarderTcpChart(result)),
    write(dir, 'forwarder-latency.svg', forwarderLatencyChart(result)),
    write(dir, 'forwarder-udp.svg', forwarderUdpChart(result)),
  ];
}

export function renderThroughputChart(result: ThroughputFile, dir = CHARTS_DIR): string[] {
  return [write(dir, 'throughput.svg', throughputChart(result))];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({ options: { results: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    console.log('usage: node --import tsx bench/charts/render.ts [--results DIR] [--out DIR]');
    process.exit(0);
  }
  const results = values.results ?? RESULTS_DIR;
  const out = values.out ?? CHARTS_DIR;
  const read = (name: string) => (existsSync(join(results, name)) ? JSON.parse(readFileSync(join(results, name), 'utf8')) : undefined);
  const written: string[] = [];
  const run = read('latest.json') as RunFile | undefined;
  if (run) written.push(...renderRunCharts(run, out));
  const forwarder = read('forwarder.json') as BenchResult | undefined;
  if (forwarder) written.push(...renderForwarderCharts(forwarder, out));
  const throughput = read('throughput.json') as ThroughputFile | undefined;
  if (throughput) written.push(...renderThroughputChart(throughput, out));
  if (written.length === 0) {
    console.error(`no results in ${results} (latest.json, forwarder.json, throughput.json): run a bench first`);
    process.exit(1);
  }
  for (const path of written) console.log(`wrote ${relative(process.cwd(), path)}`);
}
