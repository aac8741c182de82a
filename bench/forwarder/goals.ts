// Issue 19's goals, judged from one run: TCP both ways ≥ 0.6× kernel ↔ kernel, ping added
// ≤ 0.1 ms per forwarder on the round trip (two forwarder ↔ forwarder), sockperf TCP ping-pong
// p50 ≤ 1.5× the kernel path's, for the defaults and for `--no-tunnel-gso` (and the old default
// beside them). The report's first table, and the summary at the top of BENCHMARKS.md (written
// with it, from the same run).
import { latencyOf } from './latency';
import { median } from './measure';
import { MAIN_PATHS, type PathId } from './paths';
import type { BenchResult } from './result';
import { runId } from './run-id';

export const GOALS = { tcpRatio: 0.6, pingAddedMs: 0.1, sockperfTcpRatio: 1.5 } as const;

interface GoalRow {
  configuration: string;
  path: PathId;
  pathName: string;
}

const ROWS: readonly GoalRow[] = [
  { configuration: 'defaults (no flags)', path: 'fk', pathName: 'forwarder ↔ kernel' },
  { configuration: 'defaults (no flags)', path: 'ff', pathName: 'forwarder ↔ forwarder' },
  { configuration: '`--no-tunnel-gso` (kernels before 6.17)', path: 'fkNoTunnelGso', pathName: 'forwarder ↔ kernel' },
  { configuration: '`--no-tunnel-gso` (kernels before 6.17)', path: 'ffNoTunnelGso', pathName: 'forwarder ↔ forwarder' },
  { configuration: '`--queues 0` (the old default)', path: 'fkQueues0', pathName: 'forwarder ↔ kernel' },
  { configuration: '`--queues 0` (the old default)', path: 'ffQueues0', pathName: 'forwarder ↔ forwarder' },
];

const verdict = (met: boolean) => (met ? 'met' : '**not met**');

/** One judged figure: its text and whether it meets the goal (null: not measured). */
export interface Judged {
  text: string;
  met: boolean | null;
}

export function tcpMedian(result: BenchResult, path: PathId, direction: 'ab' | 'ba'): number {
  return median(result.tcp.filter((r) => r.path === path && r.direction === direction).map((r) => r.gbps));
}

/** The figures of one row, judged against the goals. */
export function judge(result: BenchResult, path: PathId): { ab: Judged; ba: Judged; ping: Judged; sockperf: Judged } {
  const tcp = (direction: 'ab' | 'ba'): Judged => {
    const gbps = tcpMedian(result, path, direction);
    const ratio = gbps / tcpMedian(result, 'kernel', direction);
    if (!Number.isFinite(ratio)) return { text: '–', met: null };
    const met = ratio >= GOALS.tcpRatio;
    return { text: `${ratio.toFixed(2)}× (${gbps.toFixed(2)} Gbit/s) ${verdict(met)}`, met };
  };
  const added = (result.ping[path]?.median ?? NaN) - (result.ping.kernel?.median ?? NaN);
  // The goal is per forwarder: a round trip through two of them may add twice as much.
  const forwarders = MAIN_PATHS.find((p) => p.id === path)?.peerForwarder === true ? 2 : 1;
  const perForwarder = forwarders > 1 ? ` (${(added / forwarders).toFixed(3)} per forwarder)` : '';
  const pingMet = added <= GOALS.pingAddedMs * forwarders;
  const ping: Judged = Number.isFinite(added) ? { text: `${added >= 0 ? '+' : ''}${added.toFixed(3)} ms${perForwarder} ${verdict(pingMet)}`, met: pingMet } : { text: '–', met: null };
  const rounds = result.latency ?? [];
  const p50 = latencyOf(rounds, path, 'idle', 'tcp', 'p50');
  const ratio = p50 / latencyOf(rounds, 'kernel', 'idle', 'tcp', 'p50');
  const sockperf: Judged = Number.isFinite(ratio)
    ? { text: `${ratio.toFixed(2)}× (${(p50 * 1000).toFixed(0)} µs) ${verdict(ratio <= GOALS.sockperfTcpRatio)}`, met: ratio <= GOALS.sockperfTcpRatio }
    : { text: 'not measured', met: null };
  return { ab: tcp('ab'), ba: tcp('ba'), ping, sockperf };
}

/** The goals table of a run (markdown lines). */
export function goalsTable(result: BenchResult): string[] {
  const kernelAb = tcpMedian(result, 'kernel', 'ab');
  const kernelBa = tcpMedian(result, 'kernel', 'ba');
  const kernelPing = result.ping.kernel?.median ?? NaN;
  const kernelSockperf = latencyOf(result.latency ?? [], 'kernel', 'idle', 'tcp', 'p50');
  const lines = [
    `| configuration | path | TCP A → B vs kernel ↔ kernel | TCP B → A vs kernel ↔ kernel | ping added (median − kernel ↔ kernel's) | sockperf TCP p50 vs kernel ↔ kernel |`,
    '|---|---|---:|---:|---:|---:|',
    `| *issue 19's goal* | | *≥ ${GOALS.tcpRatio}×* | *≥ ${GOALS.tcpRatio}×* | *≤ ${GOALS.pingAddedMs} ms per forwarder* | *≤ ${GOALS.sockperfTcpRatio}×* |`,
    `| kernel vxlan ↔ kernel vxlan | (the reference) | ${kernelAb.toFixed(2)} Gbit/s | ${kernelBa.toFixed(2)} Gbit/s | ${kernelPing.toFixed(3)} ms | ${Number.isFinite(kernelSockperf) ? `${(kernelSockperf * 1000).toFixed(0)} µs` : '–'} |`,
  ];
  for (const row of ROWS) {
    if (!result.tcp.some((r) => r.path === row.path)) continue;
    const judged = judge(result, row.path);
    lines.push(`| ${row.configuration} | ${row.pathName} | ${judged.ab.text} | ${judged.ba.text} | ${judged.ping.text} | ${judged.sockperf.text} |`);
  }
  lines.push('', "A → B: the forwarder (on A) sends; B → A: the kernel vxlan (or B's forwarder) sends. Ping: from A, 3 × 50 echoes 20 ms apart interleaved with the other paths', after 2,000 1 ms apart through each tunnel (the ping table below); forwarder ↔ forwarder crosses two forwarders. sockperf: idle p50, median over the rounds (the round-trip table below).");
  return lines;
}

export const SUMMARY_BEGIN = '<!-- bench:forwarder summary: written by `bench/forwarder.ts --write-benchmarks` with the forwarder section, one run, do not edit by hand -->';
export const SUMMARY_END = '<!-- bench:forwarder summary end -->';

/** BENCHMARKS.md's top summary of a run: its identity, the command, the goals table and the TCP chart. */
export function summaryMarkdown(result: BenchResult): string {
  const id = runId(result.machine);
  return [
    `**The forwarder with its defaults, against issue 19's goals** (${id}: one run of \`${result.command}\` as root, ${Math.round(result.durationSeconds / 60)} minutes, 2 shared cores; the whole report is under [The forwarder](#the-forwarder)):`,
    '',
    ...goalsTable(result),
    '',
    `![Forwarder vs kernel: iperf3 TCP (${id})](bench/charts/forwarder-tcp.svg)`,
  ].join('\n');
}

/** `text` with `body` between the summary markers; the markers are put before `anchor` when missing. */
export function writeSummary(text: string, body: string, anchor: string): string {
  const begin = text.indexOf(SUMMARY_BEGIN);
  const end = text.indexOf(SUMMARY_END);
  if (begin >= 0 && end > begin) return `${text.slice(0, begin + SUMMARY_BEGIN.length)}\n\n${body}\n\n${text.slice(end)}`;
  const at = text.indexOf(anchor);
  if (at < 0) throw new Error(`BENCHMARKS.md has neither the summary markers nor "${anchor}" to put them before`);
  return `${text.slice(0, at)}${SUMMARY_BEGIN}\n\n${body}\n\n${SUMMARY_END}\n\n${text.slice(at)}`;
}
