// The shape of one bench/forwarder.ts run: the JSON it writes to bench/results/, from which the
// report, the top summary and the charts are all drawn.
import type { MachineInfo } from '../lib/machine';
import type { LatencyRound } from './latency';
import type { ProfileEntry, ThreadRole, UdpStep } from './measure';
import type { AblationId, ForwarderPathId, ParallelPathId, PathId } from './paths';

export interface TcpRun {
  path: PathId;
  /** ab: the client on host A sends to host B; ba: host B sends (iperf3 -R). */
  direction: 'ab' | 'ba';
  repeat: number;
  gbps: number;
  bytes: number;
  retransmits: number | null;
  wallSeconds: number;
  /** Busy CPU seconds of the whole machine over the run (iperf3 both ends, the kernel, the forwarders). */
  systemCpuSeconds: number;
  /** CPU seconds of the forwarder processes of the path over the run (null: no forwarder). */
  forwarderCpuSeconds: number | null;
  systemCpuPerGbit: number;
  forwarderCpuPerGbit: number | null;
}

/** A TCP run of an ablation pair: a forwarder ↔ kernel pair with one thing changed from its base. */
export interface AblationTcpRun extends Omit<TcpRun, 'path'> {
  path: AblationId;
}

export interface UdpSearch {
  path: PathId;
  direction: 'ab' | 'ba';
  steps: UdpStep[];
  /** The worse of the two runs of each step that lost ≥ 1% the first time. */
  retries: UdpStep[];
  /** Frames per second received at the highest asked rate with < 1% loss (0: none). */
  bestPps: number;
  bestAskedPps: number | null;
  bestLossPercent: number | null;
  /** The lowest asked rate that lost ≥ 1%, if any was tried. */
  firstLossyPps: number | null;
  /** The sender could not go faster with < 1% loss: the figure is a floor of the path's rate. */
  senderBound: boolean;
  /** iperf3 senders at once. */
  senders?: number;
}

export interface PingSummary {
  sent: number;
  received: number;
  median: number;
  p10: number;
  p90: number;
}

/** What a forwarder said it runs, from its "forwarding" log line: a check that the flags took effect. */
export interface EngineReport {
  engine: string;
  tunnelGso: string;
}

export interface BenchResult {
  command: string;
  quick: boolean;
  source: 'dist' | 'src';
  machine: MachineInfo;
  /** Files under src/ and assembly/ that differed from the commit when the run started (git status). */
  dirtySources?: string[];
  iperf3: string;
  sockperf?: string;
  settings: Record<string, number>;
  ping: Record<string, PingSummary>;
  tcp: TcpRun[];
  udp: UdpSearch[];
  /** The forwarder on host A of each pair, as its "forwarding" line put it. */
  engines?: Partial<Record<ForwarderPathId, EngineReport>>;
  /** CPU the forwarders of every pair used while nothing was sent (1 s), per second: what idle forwarders take from the others. */
  idleForwarderCpu?: { forwarders: number; cpuSecondsPerSecond: number };
  latency?: LatencyRound[];
  rss: {
    idleKiB: number;
    idleFfKiB: number[];
    beforeGarbageKiB: number;
    peakDuringGarbageKiB: number;
    afterGarbageKiB: number;
    garbageSent: number;
    garbageMs: number;
    pingAfter: string;
  };
  /** The ablation pairs' TCP runs (interleaved with `tcp`'s) and every forwarder pair's TAP TSO as ethtool says it. */
  ablation?: { tcp: AblationTcpRun[]; tapTso: Partial<Record<ForwarderPathId, string>> };
  /** TCP with several flows (iperf3 -P) through the engines side by side, interleaved. */
  parallel?: (Omit<TcpRun, 'path'> & { path: ParallelPathId; flows: number })[];
  profile?: { direction: 'ab' | 'ba'; configuration?: string; tapTso?: string; gbps: number; seconds: number; threads: { tid: number; name: string; cpuSeconds: number }[]; files: { file: string; totalMs: number; top: ProfileEntry[]; reader?: ThreadRole }[] }[];
  durationSeconds: number;
  loadAverageAtEnd?: number[];
  /** When dist/ was rebuilt while the run went on (by someone else): its new build time. */
  distRebuiltDuringRun?: string | null;
}
