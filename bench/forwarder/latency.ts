// Round trips of bench/forwarder.ts: what one round measures per path (ping and sockperf
// ping-pong over TCP and UDP, p50 and p99, idle and under an iperf3 stream the other way), and the
// table of their medians over the rounds next to kernel ↔ kernel's.
import { median } from './measure';
import { PATH_NAME, type PathId } from './paths';

/** p50 and p99 of one measurement in ms, and how many round trips they are of. */
export interface Quantiles {
  p50: number;
  p99: number;
  samples: number;
}

export interface LatencyMeasurement {
  ping: Quantiles;
  tcp: Quantiles;
  udp: Quantiles;
}

export interface LatencyRound {
  path: PathId;
  round: number;
  idle: LatencyMeasurement;
  load: LatencyMeasurement;
  /** The iperf3 stream's rate while `load` was measured, Gbit/s (NaN: it printed no summary). */
  loadGbps: number;
}

export type LatencyKind = keyof LatencyMeasurement;

/** The median over the rounds of one quantile of one path's measurement (NaN when not measured). */
export function latencyOf(rounds: readonly LatencyRound[], path: PathId, state: 'idle' | 'load', kind: LatencyKind, q: 'p50' | 'p99'): number {
  return median(rounds.filter((r) => r.path === path).map((r) => r[state][kind][q]));
}

const ms = (value: number) => (Number.isFinite(value) ? value.toFixed(3) : '–');
const KIND_NAME: Record<LatencyKind, string> = { ping: 'ping', tcp: 'sockperf TCP', udp: 'sockperf UDP' };

/** The round-trip table: one row per path and state, p50 / p99 per kind, and p50 over the kernel's. */
export function latencyTable(rounds: readonly LatencyRound[], settings: { pings: number; pingIntervalMs: number; sockperfSeconds: number; rounds: number }): string[] {
  const paths = [...new Set(rounds.map((r) => r.path))];
  const kinds: LatencyKind[] = ['ping', 'tcp', 'udp'];
  const lines = [
    `**Round trips** (ms, from A to B's overlay address; ping -c ${settings.pings} -i ${settings.pingIntervalMs / 1000}, \`sockperf ping-pong --full-rtt -t ${settings.sockperfSeconds}\` over TCP and UDP against \`sockperf server\` on B; medians over ${settings.rounds} interleaved rounds of each round's p50 and p99; "× kernel": p50 over kernel ↔ kernel's p50 in the same state; "under load": while an iperf3 TCP stream runs from B to A, the other way)`,
    '',
    `| path | state | ${kinds.map((kind) => `${KIND_NAME[kind]} p50 / p99 | × kernel`).join(' | ')} | load stream Gbit/s |`,
    `|---|---|${kinds.map(() => '---:|---:').join('|')}|---:|`,
  ];
  for (const path of paths) {
    for (const state of ['idle', 'load'] as const) {
      const cells = kinds.map((kind) => {
        const p50 = latencyOf(rounds, path, state, kind, 'p50');
        const kernel = latencyOf(rounds, 'kernel', state, kind, 'p50');
        const ratio = path === 'kernel' ? '1' : Number.isFinite(p50 / kernel) ? `${(p50 / kernel).toFixed(2)}×` : '–';
        return `${ms(p50)} / ${ms(latencyOf(rounds, path, state, kind, 'p99'))} | ${ratio}`;
      });
      const loadGbps = median(rounds.filter((r) => r.path === path).map((r) => r.loadGbps).filter(Number.isFinite));
      const load = state === 'idle' || !Number.isFinite(loadGbps) ? '–' : loadGbps.toFixed(2);
      lines.push(`| ${PATH_NAME[path]} | ${state === 'idle' ? 'idle' : 'under load'} | ${cells.join(' | ')} | ${load} |`);
    }
  }
  return lines;
}
