// What bench/docker-overlay.ts records (the JSON), and what it makes of it: the medians per path,
// a markdown section (printed, written beside the JSON, and with --write-benchmarks put into
// BENCHMARKS.md between its markers) and three SVG charts, all from the same run's figures, each
// naming that run (`run <commit>@<start time>`, bench/forwarder/run-id.ts).
import type { MachineInfo } from '../lib/machine';
import { barChart, type Bar } from '../charts/svg';
import { median } from '../forwarder/measure';
import { runId } from '../forwarder/run-id';

/** The kernel reference's id among the paths (the contenders' ids are theirs). */
export const KERNEL_PATH = 'kernel';

/** One repetition of every measurement through one path. A figure that failed is absent and its error listed. */
export interface RoundResult {
  path: string;
  repeat: number;
  /** iperf3 TCP, host 1's endpoint → host 2's, and back. */
  tcpForwardGbps?: number;
  tcpReverseGbps?: number;
  tcpForwardRetransmits?: number;
  tcpReverseRetransmits?: number;
  /** ping round trips, host 2's endpoint → host 1's. */
  pingMedianMs?: number;
  pingP99Ms?: number;
  pingReceived?: number;
  pingSent?: number;
  /** sockperf TCP ping-pong round trips (--full-rtt). */
  sockperfP50Us?: number;
  sockperfP99Us?: number;
  /** From `docker run --name X` on host 1 until X resolves in a container on host 2. */
  nameResolveMs?: number;
  /** How long that `docker run -d` itself took. */
  dockerRunMs?: number;
  errors: string[];
}

export interface PathInfo {
  id: string;
  label: string;
  /** How long its setUp took (swarm init/join and the network; the agents and the networks). */
  setUpMs?: number;
  /** Why it was not measured, when setUp failed. */
  error?: string;
}

export interface DockerOverlayResult {
  machine: MachineInfo;
  settings: {
    repeats: number;
    tcpSeconds: number;
    pingCount: number;
    pingIntervalSeconds: number;
    sockperfSeconds: number;
    quick: boolean;
    contenders: string[];
    /** Where vxlan-wasm's agent ran from: the built CLI (dist) or the sources through tsx (src); absent in older runs. */
    source?: 'dist' | 'src';
  };
  /** startDockerHosts: everything, and the two daemons' part (started in parallel). */
  harness: { totalMs: number; daemonsMs: number; imageMs: number };
  paths: PathInfo[];
  rounds: RoundResult[];
}

type NumericKey = 'tcpForwardGbps' | 'tcpReverseGbps' | 'pingMedianMs' | 'pingP99Ms' | 'sockperfP50Us' | 'sockperfP99Us' | 'nameResolveMs' | 'dockerRunMs';

interface Column {
  key: NumericKey;
  label: string;
  format: (value: number) => string;
}

const COLUMNS: Column[] = [
  { key: 'tcpForwardGbps', label: 'TCP h1 → h2, Gbit/s', format: (v) => v.toFixed(2) },
  { key: 'tcpReverseGbps', label: 'TCP h2 → h1, Gbit/s', format: (v) => v.toFixed(2) },
  { key: 'pingMedianMs', label: 'ping median, ms', format: (v) => v.toFixed(3) },
  { key: 'pingP99Ms', label: 'ping p99, ms', format: (v) => v.toFixed(3) },
  { key: 'sockperfP50Us', label: 'sockperf TCP p50, µs', format: (v) => v.toFixed(1) },
  { key: 'sockperfP99Us', label: 'sockperf TCP p99, µs', format: (v) => v.toFixed(1) },
  { key: 'nameResolveMs', label: 'name resolves on h2 after, ms', format: (v) => v.toFixed(0) },
  { key: 'dockerRunMs', label: '(`docker run -d` took, ms)', format: (v) => v.toFixed(0) },
];

/** The figures of one path and key over the repeats (NaN-free). */
export function values(result: DockerOverlayResult, path: string, key: NumericKey): number[] {
  return result.rounds.filter((r) => r.path === path).map((r) => r[key]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
}

export function medianOf(result: DockerOverlayResult, path: string, key: NumericKey): number {
  return median(values(result, path, key));
}

const machineLine = (m: MachineInfo) => `${m.cpuModel}, ${m.logicalCores} cores, kernel ${m.kernel}, Node ${m.node}; ${runId(m)}; load ${m.loadAverageAtStart.join(' ')}`;

/** The report: settings, the table of medians, the ratios the issue asks for, and every error. */
export function dockerOverlayMarkdown(result: DockerOverlayResult): string {
  const { settings } = result;
  const lines: string[] = [];
  lines.push(`Two Docker 20.10 daemons, each in its own network namespace (test/helpers/docker-hosts.ts), joined by veths to a bridge; ${machineLine(result.machine)}.`);
  lines.push('');
  lines.push(`Container ↔ container: iperf3 TCP ${settings.tcpSeconds} s each way, ${settings.pingCount} pings ${settings.pingIntervalSeconds * 1000} ms apart, sockperf TCP ping-pong ${settings.sockperfSeconds} s (full round trips), and the time from \`docker run --name X\` on h1 until X resolves (busybox nslookup, polled every 20 ms) in a container on h2. The host's tools run in each container's network namespace (nsenter). ping's round trips start from idle cores (one every ${settings.pingIntervalSeconds * 1000} ms), sockperf's follow each other back to back on busy ones: hence ping's larger figures. Paths interleaved, ${settings.repeats} repetition${settings.repeats === 1 ? '' : 's'}, medians.${settings.quick ? ' **--quick run: figures not for quoting.**' : ''}`);
  lines.push('');
  if (settings.contenders.includes('vxlan-wasm') && settings.source !== undefined) {
    lines.push(settings.source === 'src'
      ? "vxlan-wasm's agent ran from the sources through tsx (--source src), which is much slower than the build: **its figures are not the package's**."
      : "vxlan-wasm's agent ran from the build (bin/vxlan-wasm.mjs over dist/, which `npm run bench:docker` builds first).");
    lines.push('');
  }
  lines.push(`The daemons started in ${result.harness.daemonsMs} ms (in parallel; the whole harness with the image imported: ${result.harness.totalMs} ms).`);
  lines.push('');
  lines.push(`| path | ${COLUMNS.map((c) => c.label).join(' | ')} |`);
  lines.push(`|---|${COLUMNS.map(() => '---:').join('|')}|`);
  for (const path of result.paths) {
    const cells = COLUMNS.map((column) => {
      if (path.error !== undefined) return '–';
      const figures = values(result, path.id, column.key);
      return figures.length === 0 ? (path.id === KERNEL_PATH && /name|docker/.test(column.key) ? 'n/a' : '–') : column.format(median(figures));
    });
    lines.push(`| ${path.label}${path.setUpMs !== undefined ? ` (set up in ${(path.setUpMs / 1000).toFixed(1)} s)` : ''} | ${cells.join(' | ')} |`);
  }
  lines.push('');
  const swarm = result.paths.find((p) => p.id === 'swarm' && p.error === undefined);
  const kernel = result.paths.find((p) => p.id === KERNEL_PATH && p.error === undefined);
  const ratio = (a: string, b: string, key: NumericKey) => medianOf(result, a, key) / medianOf(result, b, key);
  if (swarm !== undefined && kernel !== undefined) {
    lines.push(`Swarm's overlay carries ${ratio('swarm', KERNEL_PATH, 'tcpForwardGbps').toFixed(2)}× / ${ratio('swarm', KERNEL_PATH, 'tcpReverseGbps').toFixed(2)}× the TCP of the bare kernel vxlan path (h1 → h2 / h2 → h1): the same kernel device, behind a container's veth and a bridge (the chart's whiskers show how far the runs of one path spread).`);
  }
  for (const path of result.paths) {
    if (path.id === 'swarm' || path.id === KERNEL_PATH || path.error !== undefined || swarm === undefined) continue;
    const tcp = [ratio(path.id, 'swarm', 'tcpForwardGbps'), ratio(path.id, 'swarm', 'tcpReverseGbps')];
    const names = [medianOf(result, path.id, 'nameResolveMs'), medianOf(result, 'swarm', 'nameResolveMs')];
    lines.push(`${path.label}: ${tcp.map((r) => `${r.toFixed(2)}×`).join(' / ')} swarm's TCP (goal ≥ 0.5×: ${tcp.every((r) => r >= 0.5) ? 'met' : 'NOT met'}); names resolve after ${names[0].toFixed(0)} ms vs swarm's ${names[1].toFixed(0)} ms (goal: sooner: ${names[0] < names[1] ? 'met' : 'NOT met'}).`);
  }
  const failed = result.paths.filter((p) => p.error !== undefined);
  const errors = result.rounds.flatMap((r) => r.errors.map((e) => `${r.path} #${r.repeat}: ${e}`));
  if (failed.length + errors.length > 0) {
    lines.push('');
    lines.push('Not measured:');
    for (const path of failed) lines.push(`- ${path.label}: ${path.error}`);
    for (const error of errors) lines.push(`- ${error}`);
  }
  return lines.join('\n');
}

function spread(result: DockerOverlayResult, path: PathInfo, key: NumericKey, series: string, scale = 1): Bar {
  if (path.error !== undefined) return { series, value: NaN, note: 'not measured (set-up failed)' };
  const figures = values(result, path.id, key).map((v) => v * scale);
  if (figures.length === 0) return { series, value: NaN, note: path.id === KERNEL_PATH && key === 'nameResolveMs' ? 'no names (no Docker)' : 'not measured' };
  return { series, value: median(figures), low: Math.min(...figures), high: Math.max(...figures) };
}

/** The charts' subtitle: short enough for their 820 px (the report has the whole machine line). */
const subtitle = ({ machine, settings }: DockerOverlayResult) =>
  `${runId(machine)}; ${machine.cpuModel}, ${machine.logicalCores} cores, load ${machine.loadAverageAtStart[0]}; median of ${settings.repeats} interleaved runs, whiskers: min–max`;

export function dockerTcpChart(result: DockerOverlayResult): string {
  const series = ['h1 → h2', 'h2 → h1'];
  return barChart({
    title: 'Container ↔ container across two Docker hosts: iperf3 TCP',
    subtitle: subtitle(result),
    unit: 'Gbit/s (higher is better)',
    series,
    groups: result.paths.map((path) => ({ label: path.label, bars: [spread(result, path, 'tcpForwardGbps', series[0]), spread(result, path, 'tcpReverseGbps', series[1])] })),
  });
}

/**
 * The round trips' medians only (ping's and sockperf's p50): a p99 of tens of milliseconds on one
 * path squeezed every other bar to nothing; the p99s are in the report's table.
 */
export function dockerLatencyChart(result: DockerOverlayResult): string {
  const series = ['ping median', 'sockperf TCP p50'];
  return barChart({
    title: 'Container ↔ container across two Docker hosts: round trips (p50; p99s in the table)',
    subtitle: subtitle(result),
    unit: 'µs per round trip (lower is better)',
    series,
    groups: result.paths.map((path) => ({
      label: path.label,
      bars: [spread(result, path, 'pingMedianMs', series[0], 1000), spread(result, path, 'sockperfP50Us', series[1])],
    })),
    format: (value) => value.toFixed(0),
  });
}

export function dockerNamesChart(result: DockerOverlayResult): string {
  const series = ['name resolves on h2', '`docker run -d` on h1 returned'];
  return barChart({
    title: 'From `docker run --name X` on host 1 until X resolves on host 2',
    subtitle: subtitle(result),
    unit: 'ms after `docker run` started (lower is better)',
    series,
    groups: result.paths.filter((path) => path.id !== KERNEL_PATH).map((path) => ({
      label: path.label,
      bars: [spread(result, path, 'nameResolveMs', series[0]), spread(result, path, 'dockerRunMs', series[1])],
    })),
    format: (value) => value.toFixed(0),
  });
}

export const BEGIN_MARKER = '<!-- bench:docker begin (written by bench/docker-overlay.ts --write-benchmarks) -->';
export const END_MARKER = '<!-- bench:docker end -->';

/** BENCHMARKS.md with `report` between the markers (a new section at the end when they are missing). */
export function writeBenchmarksSection(text: string, report: string): string {
  const begin = text.indexOf(BEGIN_MARKER);
  const end = text.indexOf(END_MARKER);
  if (begin >= 0 && end > begin) return `${text.slice(0, begin + BEGIN_MARKER.length)}\n\n${report}\n\n${text.slice(end)}`;
  return `${text.trimEnd()}\n\n## Containers across two Docker hosts\n\n${BEGIN_MARKER}\n\n${report}\n\n${END_MARKER}\n`;
}
