// The report of bench/forwarder.ts: its result's shape (the JSON in bench/results/), the markdown
// it prints, and writing that markdown into BENCHMARKS.md's forwarder section.
import type { MachineInfo } from '../lib/machine';
import { median } from './measure';
import type { ProfileEntry, ThreadRole, UdpStep } from './measure';

export type AblationId = 'fkNoTap' | 'fkNoGso' | 'fkNoGro' | 'fkNoGsoGro' | 'fkAllOff' | 'fkQueues1' | 'fkQueues2' | 'fkVethGro' | 'fkQueues1VethGro' | 'fkTunnelGso' | 'fkTunnelGsoVethGro'
  | 'fkTunnelGsoOffloads' | 'ffTunnelGso' | 'fkTunnelGsoOffloadsQueues1' | 'ffTunnelGsoQueues1';
export type PathId = 'kernel' | 'kernelOff' | 'fk' | 'ff';

/**
 * The ablation (issue 10, item 5): forwarder ↔ kernel vxlan with each technique switched off in
 * turn through the CLI's own flags. 'fk' (every flag absent: all on) is the row they compare to.
 * Batched syscalls (item 3: recvmmsg in the reader workers, one sendmmsg per transmit) have no
 * switch: every row has them. Item 4 (more than one core) is the `--queues` rows: one or two worker
 * threads, each reading its own TAP queue and socket (run to completion); one iperf3 flow mostly
 * stays on one of them, so the same pairs are also measured with parallel flows (`parallel`).
 */
export const ABLATION: readonly {
  id: 'fk' | AblationId; flags: readonly string[]; label: string;
  /** GRO on A's veth (the forwarder's underlay device). */
  vethGro?: true;
  /** B keeps its veth's transmit offloads (the kernel's default; every other forwarder ↔ kernel row turns them off there). */
  peerOffloads?: true;
  /** B runs a forwarder with the same flags, not the kernel's vxlan. */
  peerForwarder?: true;
}[] = [
  { id: 'fk', flags: [], label: 'all on (1–3)' },
  { id: 'fkNoTap', flags: ['--no-tap-offloads'], label: '1. TAP offloads off (no TSO split, no GRO merge)' },
  { id: 'fkNoGso', flags: ['--no-gso'], label: '2. UDP GSO off' },
  { id: 'fkNoGro', flags: ['--no-gro'], label: '2. UDP GRO off' },
  { id: 'fkNoGsoGro', flags: ['--no-gso', '--no-gro'], label: '2. UDP GSO and GRO off' },
  { id: 'fkAllOff', flags: ['--no-tap-offloads', '--no-gso', '--no-gro'], label: '1 + 2 off (batched syscalls only)' },
  { id: 'fkQueues1', flags: ['--queues', '1'], label: '4. one queue worker: the TAP queue and socket read in the worker itself, no reader threads (1–3 on)' },
  { id: 'fkQueues2', flags: ['--queues', '2'], label: '4. two queue workers, each with a TAP queue and a socket (1–3 on)' },
  // Not a technique of the forwarder's: the host's. A veth's GRO is off by default (a NIC's is on),
  // so nothing coalesces the datagrams that reach the forwarder's UDP_GRO socket.
  { id: 'fkVethGro', flags: [], label: "host: GRO on the forwarder's veth, as NICs have it (1–3 on)", vethGro: true },
  { id: 'fkQueues1VethGro', flags: ['--queues', '1'], label: "host: GRO on the forwarder's veth, and one queue worker (1–4 on)", vethGro: true },
  // Beyond the issue's list: super-frames sent whole as UDP-tunnel GSO packets (Linux 6.17+).
  { id: 'fkTunnelGso', flags: ['--tunnel-gso'], label: 'tunnel GSO: super-frames leave whole through an egress TAP (1–3 on)' },
  { id: 'fkTunnelGsoVethGro', flags: ['--tunnel-gso'], label: "tunnel GSO, and GRO on the forwarder's veth (1–3 on)", vethGro: true },
  // The kernel vxlan's veth as the kernel ↔ kernel pair has it (offloads on): its super-packets
  // cross whole, and --tunnel-gso's ingress filter hands them to the forwarder whole.
  { id: 'fkTunnelGsoOffloads', flags: ['--tunnel-gso'], label: "tunnel GSO both ways, the kernel vxlan's veth with its offloads on, as kernel ↔ kernel has it (1–3 on)", peerOffloads: true },
  { id: 'ffTunnelGso', flags: ['--tunnel-gso'], label: 'forwarder ↔ forwarder, both with tunnel GSO, veth offloads on (1–3 on)', peerOffloads: true, peerForwarder: true },
  // The same two in one queue worker: every port read where its frames are switched (run to
  // completion), no reader threads to wake on a machine whose two cores the pair already fills.
  { id: 'fkTunnelGsoOffloadsQueues1', flags: ['--tunnel-gso', '--queues', '1'], label: "tunnel GSO both ways, the kernel vxlan's veth offloads on, one queue worker (1–4 on)", peerOffloads: true },
  { id: 'ffTunnelGsoQueues1', flags: ['--tunnel-gso', '--queues', '1'], label: 'forwarder ↔ forwarder, both with tunnel GSO and one queue worker, veth offloads on (1–4 on)', peerOffloads: true, peerForwarder: true },
];

const THREAD_ROLE: Record<ThreadRole, string> = {
  tap: "the TAP's reader", udp: "the UDP socket's reader", tunnel: "the tunnel TAP's reader", queue: 'the queue worker: reads, switches and writes every port',
};

/** Parallel iperf3 flows in the `parallel` runs: enough for the kernel to spread them over two queues. */
export const PARALLEL_FLOWS = 4;

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

/** A TCP run of an ablation pair: a forwarder ↔ kernel pair with some techniques off. */
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
  /** iperf3 senders at once (absent in runs before there were two: one). */
  senders?: number;
}

export interface PingSummary {
  sent: number;
  received: number;
  median: number;
  p10: number;
  p90: number;
}

export interface BenchResult {
  command: string;
  quick: boolean;
  source: 'dist' | 'src';
  machine: MachineInfo;
  iperf3: string;
  settings: Record<string, number>;
  ping: Record<string, PingSummary>;
  tcp: TcpRun[];
  udp: UdpSearch[];
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
  /**
   * The ablation pairs' TCP runs (interleaved with `tcp`'s, the all-on row is `tcp`'s fk) and every
   * forwarder ↔ kernel pair's TAP offload state as ethtool says it (tcp-segmentation-offload).
   */
  ablation?: { tcp: AblationTcpRun[]; tapTso: Partial<Record<'fk' | AblationId, string>> };
  /** TCP with PARALLEL_FLOWS flows (iperf3 -P) through kernel ↔ kernel, the forwarder, and the forwarder with two queues, interleaved. */
  parallel?: (Omit<TcpRun, 'path'> & { path: 'kernel' | 'fk' | 'fkQueues1' | 'fkQueues2'; flows: number })[];
  profile?: { direction: 'ab' | 'ba'; configuration?: string; tapTso?: string; gbps: number; seconds: number; threads: { tid: number; name: string; cpuSeconds: number }[]; files: { file: string; totalMs: number; top: ProfileEntry[]; reader?: ThreadRole }[] }[];
  durationSeconds: number;
  loadAverageAtEnd?: number[];
  /** When dist/ was rebuilt while the run went on (by someone else): its new build time. */
  distRebuiltDuringRun?: string | null;
}

const FK_LABEL = { ab: 'forwarder → kernel vxlan', ba: 'kernel vxlan → forwarder' };
const FF_LABEL = { ab: 'forwarder A → forwarder B', ba: 'forwarder B → forwarder A' };
const DIRECTION_LABEL: Record<PathId, Record<'ab' | 'ba', string>> = {
  kernel: { ab: 'kernel vxlan A → kernel vxlan B', ba: 'kernel vxlan B → kernel vxlan A' },
  kernelOff: { ab: 'kernel vxlan A → B, veth tx offload off', ba: 'kernel vxlan B → A, veth tx offload off' },
  fk: { ab: 'forwarder → kernel vxlan', ba: 'kernel vxlan → forwarder' },
  ff: { ab: 'forwarder A → forwarder B', ba: 'forwarder B → forwarder A' },
};

const PING_LABEL: Record<string, string> = {
  veth: 'veth alone (no tunnel)',
  kernel: 'kernel vxlan ↔ kernel vxlan',
  fk: 'forwarder → kernel vxlan (ping from the forwarder’s host)',
  kf: 'kernel vxlan → forwarder (ping from the kernel’s host)',
  ff: 'forwarder ↔ forwarder',
};

const fixed = (value: number | null | undefined, digits: number) => (value === null || value === undefined || Number.isNaN(value) ? '–' : value.toFixed(digits));
const thousands = (value: number) => Math.round(value).toLocaleString('en-US');

export const BEGIN_MARKER = '<!-- bench:forwarder report: written by `bench/forwarder.ts --write-benchmarks`, one run, do not edit by hand -->';
export const END_MARKER = '<!-- bench:forwarder report end -->';

export function forwarderMarkdown(result: BenchResult): string {
  const m = result.machine;
  const s = result.settings;
  const commit = m.gitCommit ? `${m.gitCommit.slice(0, 12)}${m.gitDirty ? ' (with uncommitted changes)' : ''}` : 'unknown';
  const lines: string[] = [];
  if (result.quick) lines.push('**QUICK smoke run: one run per figure, short steps; not for quoting.**', '');
  if (result.distRebuiltDuringRun !== undefined) lines.push(`**dist/ was rebuilt during this run (${result.distRebuiltDuringRun ?? 'removed'}): forwarders started after that ran the new build.**`, '');
  lines.push(
    `- Command: \`${result.command}\` (as root; ${result.durationSeconds} s)`,
    `- Machine: ${m.cpuModel}, ${m.logicalCores} logical cores, ${m.memoryGiB} GiB; kernel ${m.kernel}`,
    `- Node ${m.node} (V8 ${m.v8}); ${result.iperf3}`,
    `- Commit ${commit}; ${m.date}; load average at start ${m.loadAverageAtStart.join(' ')}, at the end ${result.loadAverageAtEnd?.join(' ') ?? '–'}`,
    `- Forwarder: ${result.source === 'dist' ? `\`node bin/vxlan-wasm.mjs forward\` (dist/cli.mjs, built ${m.distBuiltAt ?? 'never'})` : '`vxlan-wasm forward` from the sources through tsx (test/forwarder/e2e/run-cli.ts)'}, IPv4 underlay, VNI 42, TAP MTU 1450`,
    `- Settings: TCP ${s.repeats} × ${s.tcpSeconds} s per figure, interleaved; UDP steps of ${s.udpSeconds} s (≤ ${s.udpMaxSteps} per path), ${s.udpPayload}-byte payloads; ${s.pingRounds} × ${s.pings} pings at ${s.pingIntervalSeconds * 1000} ms`,
    '',
  );

  // TCP
  const allTcp: (TcpRun | AblationTcpRun)[] = [...result.tcp, ...(result.ablation?.tcp ?? [])];
  const tcpOf = (path: PathId | AblationId, direction: 'ab' | 'ba') => allTcp.filter((r) => r.path === path && r.direction === direction);
  const medianGbps = (path: PathId | AblationId, direction: 'ab' | 'ba') => median(tcpOf(path, direction).map((r) => r.gbps));
  lines.push(
    '**iperf3 TCP** (Gbit/s received; median of the runs, each run listed; CPU seconds per Gbit transferred, medians)',
    '',
    '| path | median Gbit/s | runs | vs kernel ↔ kernel | vs kernel, tx offload off | machine CPU s/Gbit | forwarder CPU s/Gbit |',
    '|---|---:|---|---:|---:|---:|---:|',
  );
  for (const path of ['kernel', 'kernelOff', 'fk', 'ff'] as const) {
    for (const direction of ['ab', 'ba'] as const) {
      const runs = tcpOf(path, direction);
      const value = medianGbps(path, direction);
      const ratio = path === 'kernel' ? '1' : `${fixed(value / medianGbps('kernel', direction), 3)}×`;
      const ratioOff = path === 'kernel' ? '–' : path === 'kernelOff' ? '1' : `${fixed(value / medianGbps('kernelOff', direction), 3)}×`;
      const forwarderCpu = runs.every((r) => r.forwarderCpuPerGbit === null) ? '–' : fixed(median(runs.map((r) => r.forwarderCpuPerGbit ?? NaN)), 2);
      lines.push(`| ${DIRECTION_LABEL[path][direction]} | ${fixed(value, 2)} | ${runs.map((r) => r.gbps.toFixed(2)).join(', ')} | ${ratio} | ${ratioOff} | ${fixed(median(runs.map((r) => r.systemCpuPerGbit)), 2)} | ${forwarderCpu} |`);
    }
  }
  const floor = (['ab', 'ba'] as const).map((d) => {
    const value = medianGbps('fk', d);
    return `${DIRECTION_LABEL.fk[d]} ${fixed(value, 2)} Gbit/s ${value >= 1 ? '(met)' : '(**NOT MET**)'}`;
  });
  lines.push('', `Floor of issue 9, ≥ 1 Gbit/s each way between a forwarder and a kernel vxlan: ${floor.join('; ')}.`, '');

  // Ablation: forwarder ↔ kernel with each technique off, in the same interleaved rounds.
  if (result.ablation !== undefined && result.ablation.tcp.length > 0) {
    lines.push(
      '**Ablation: what each technique buys** (forwarder ↔ kernel vxlan, the forwarder started with the flags shown; the same interleaved iperf3 TCP rounds as above, medians; batched syscalls are on in every row, they have no switch)',
      '',
      '| configuration | forwarder flags | direction | median Gbit/s | runs | vs all on | vs kernel ↔ kernel | vs kernel, tx offload off | machine CPU s/Gbit | forwarder CPU s/Gbit | TAP TSO (ethtool) |',
      '|---|---|---|---:|---|---:|---:|---:|---:|---:|---|',
    );
    for (const config of ABLATION) {
      for (const direction of ['ab', 'ba'] as const) {
        const runs = tcpOf(config.id, direction);
        if (runs.length === 0) continue;
        const value = medianGbps(config.id, direction);
        const vsAllOn = config.id === 'fk' ? '1' : `${fixed(value / medianGbps('fk', direction), 3)}×`;
        const forwarderCpu = fixed(median(runs.map((r) => r.forwarderCpuPerGbit ?? NaN)), 2);
        const flags = config.flags.length === 0 ? '(none)' : `\`${config.flags.join(' ')}\``;
        lines.push(`| ${config.label} | ${flags} | ${config.peerForwarder === true ? FF_LABEL[direction] : FK_LABEL[direction]} | ${fixed(value, 2)} | ${runs.map((r) => r.gbps.toFixed(2)).join(', ')} | ${vsAllOn} | ${fixed(value / medianGbps('kernel', direction), 3)}× | ${fixed(value / medianGbps('kernelOff', direction), 3)}× | ${fixed(median(runs.map((r) => r.systemCpuPerGbit)), 2)} | ${forwarderCpu} | ${result.ablation?.tapTso[config.id] ?? '–'} |`);
      }
    }
    lines.push(
      '| 3. batched syscalls off | – | – | no switch: recvmmsg and sendmmsg in every row above | | | | | | | |',
      '',
    );
  }
  if (result.parallel !== undefined && result.parallel.length > 0) {
    const runs = result.parallel;
    const flows = runs[0].flows;
    const parallelMedian = (path: string, d: 'ab' | 'ba') => median(runs.filter((r) => r.path === path && r.direction === d).map((r) => r.gbps));
    lines.push(
      `**${flows} parallel TCP flows** (iperf3 -P ${flows}: flows the kernel can spread over the TAP's queues and the sockets; interleaved rounds, medians)`,
      '',
      '| path | direction | median Gbit/s | runs | vs kernel ↔ kernel | vs the forwarder on the main thread | machine CPU s/Gbit | forwarder CPU s/Gbit |',
      '|---|---|---:|---|---:|---:|---:|---:|',
    );
    const names = {
      kernel: 'kernel vxlan ↔ kernel vxlan', fk: 'forwarder (main thread) ↔ kernel vxlan',
      fkQueues1: 'forwarder (`--queues 1`) ↔ kernel vxlan', fkQueues2: 'forwarder (`--queues 2`) ↔ kernel vxlan',
    } as const;
    for (const path of ['kernel', 'fk', 'fkQueues1', 'fkQueues2'] as const) {
      for (const d of ['ab', 'ba'] as const) {
        const these = runs.filter((r) => r.path === path && r.direction === d);
        if (these.length === 0) continue;
        const value = parallelMedian(path, d);
        const cpu = path === 'kernel' ? '–' : fixed(median(these.map((r) => r.forwarderCpuPerGbit ?? NaN)), 2);
        lines.push(`| ${names[path]} | ${d === 'ab' ? 'A → B' : 'B → A'} | ${fixed(value, 2)} | ${these.map((r) => r.gbps.toFixed(2)).join(', ')} | ${path === 'kernel' ? '1' : `${fixed(value / parallelMedian('kernel', d), 3)}×`} | ${path === 'kernel' ? '–' : path === 'fk' ? '1' : `${fixed(value / parallelMedian('fk', d), 3)}×`} | ${fixed(median(these.map((r) => r.systemCpuPerGbit)), 2)} | ${cpu} |`);
      }
    }
    lines.push('');
  }

  // Issue 10's figures, from this run.
  /** The kernel's search with as many senders as `u` had. */
  const kernelUdpFor = (u: UdpSearch): UdpSearch | undefined => result.udp.find((k) => k.path === 'kernel' && (k.senders ?? 1) === (u.senders ?? 1));
  const udpLabel = (u: UdpSearch): string => `${DIRECTION_LABEL[u.path][u.direction]}${(u.senders ?? 1) > 1 ? `, ${u.senders} senders` : ''}`;
  const udpRatio = (u: UdpSearch): string => {
    const kernel = kernelUdpFor(u);
    return kernel !== undefined && kernel.bestPps > 0 ? `${kernel.senderBound ? '≤ ' : ''}${fixed(u.bestPps / kernel.bestPps, 3)}×` : '–';
  };
  const issueRatios = (['fk', 'ff'] as const).flatMap((path) => (['ab', 'ba'] as const).map((d) => {
    const ratio = medianGbps(path, d) / medianGbps('kernel', d);
    return `${DIRECTION_LABEL[path][d]} ${fixed(ratio, 3)}× ${ratio >= 0.5 ? '(met)' : '(not met)'}`;
  }));
  // The --tunnel-gso rows with both veths as kernel ↔ kernel has them, named by path and thread.
  const tunnelRows = ABLATION.filter((config) => config.peerOffloads === true).flatMap((config) => (['ab', 'ba'] as const)
    .filter((d) => tcpOf(config.id, d).length > 0)
    .map((d) => ({ id: config.id, d, label: `${config.peerForwarder === true ? FF_LABEL[d] : FK_LABEL[d]}${config.flags.includes('--queues') ? ' (`--queues 1`)' : ''}` })));
  const tunnelRatios = tunnelRows.map(({ id, d, label }) => {
    const ratio = medianGbps(id, d) / medianGbps('kernel', d);
    return `${label} ${fixed(ratio, 3)}× ${ratio >= 0.5 ? '(met)' : '(not met)'}`;
  });
  const udpRatios = result.udp.filter((u) => u.path !== 'kernel').map((u) => `${udpLabel(u)} ${udpRatio(u)}`);
  const cpuRatio = (id: PathId | AblationId, d: 'ab' | 'ba'): number =>
    median(tcpOf(id, d).map((r) => r.systemCpuPerGbit)) / median(tcpOf('kernel', d).map((r) => r.systemCpuPerGbit));
  const cpuRatios = (['fk', 'ff'] as const).flatMap((path) => (['ab', 'ba'] as const).map((d) => `${DIRECTION_LABEL[path][d]} ${fixed(cpuRatio(path, d), 1)}×`));
  const tunnelCpuRatios = tunnelRows.map(({ id, d, label }) => `${label} ${fixed(cpuRatio(id, d), 1)}×`);
  lines.push(
    '**Issue 10’s figures in this run**',
    '',
    `- iperf3 TCP vs kernel ↔ kernel (goal ≥ 0.5×), defaults: ${issueRatios.join('; ')}.`,
    ...(tunnelRatios.length > 0 ? [`- The same with \`--tunnel-gso\` (veth offloads on at both ends, as kernel ↔ kernel has them): ${tunnelRatios.join('; ')}.`] : []),
    `- 64-byte frames/s at < 1% loss vs the kernel’s (goal ≥ 1×): ${udpRatios.join('; ')}.`,
    `- Machine CPU s per Gbit vs kernel ↔ kernel’s: ${cpuRatios.join('; ')}.`,
    ...(tunnelCpuRatios.length > 0 ? [`- The same with \`--tunnel-gso\`: ${tunnelCpuRatios.join('; ')}.`] : []),
    '',
  );

  // UDP
  lines.push(
    `**${s.udpPayload}-byte UDP through the tunnel** (iperf3 -u -l ${s.udpPayload} -w 4M: the highest rate asked whose loss stayed < 1%, and the frames per second that arrived there; a lossy step was run twice, the better counts)`,
    '',
    '| path | frames/s forwarded (< 1% loss) | asked | loss there | first rate with ≥ 1% loss | vs kernel ↔ kernel | steps (asked → loss) |',
    '|---|---:|---:|---:|---:|---:|---|',
  );
  for (const u of result.udp) {
    const best = u.bestPps > 0 ? `${u.senderBound ? '≥ ' : ''}${thousands(u.bestPps)}` : '0 (≥ 1% loss at every rate tried)';
    const ratio = u.path === 'kernel' ? '1' : udpRatio(u);
    const steps = u.steps.map((step) => `${thousands(step.askedPps)} → ${step.lossPercent.toFixed(1)}%`).join(', ');
    lines.push(`| ${udpLabel(u)} | ${best} | ${u.bestAskedPps === null ? '–' : thousands(u.bestAskedPps)} | ${u.bestLossPercent === null ? '–' : `${u.bestLossPercent.toFixed(2)}%`} | ${u.firstLossyPps === null ? 'none tried' : thousands(u.firstLossyPps)} | ${ratio} | ${steps} |`);
  }
  if (result.udp.some((u) => u.senderBound)) lines.push('', '≥: the iperf3 senders could not send faster (they sent < 95% of the rate asked, without loss): the path carries at least that. The kernel encapsulates in the sender\'s own system call, so its rate with one sender is that one core\'s; "2 senders" rows run two iperf3 processes at once, each at half the rate, and are compared with the kernel\'s two-sender row.');
  lines.push('');

  // Ping
  const pingMedian = (id: string) => result.ping[id]?.median ?? NaN;
  lines.push(
    `**Ping round trip** (${s.pingRounds} × ${s.pings} echo requests at ${s.pingIntervalSeconds * 1000} ms, interleaved by path; ms)`,
    '',
    '| path | median | p10–p90 | replies | added vs veth alone | added vs kernel ↔ kernel |',
    '|---|---:|---:|---:|---:|---:|',
  );
  for (const [id, p] of Object.entries(result.ping)) {
    const vsVeth = id === 'veth' ? '–' : fixed(p.median - pingMedian('veth'), 3);
    const vsKernel = id === 'veth' || id === 'kernel' ? '–' : fixed(p.median - pingMedian('kernel'), 3);
    lines.push(`| ${PING_LABEL[id] ?? id} | ${fixed(p.median, 3)} | ${fixed(p.p10, 3)}–${fixed(p.p90, 3)} | ${p.received}/${p.sent} | ${vsVeth} | ${vsKernel} |`);
  }
  lines.push('');

  // Memory
  const r = result.rss;
  const mib = (kib: number) => (kib / 1024).toFixed(1);
  lines.push(
    '**Forwarder RSS** (the forwarder ↔ kernel vxlan process, VmRSS, MiB)',
    '',
    '| at idle (started, pinged) | after the TCP and UDP runs | peak during garbage | 1 s after garbage |',
    '|---:|---:|---:|---:|',
    `| ${mib(r.idleKiB)} | ${mib(r.beforeGarbageKiB)} | ${mib(r.peakDuringGarbageKiB)} | ${mib(r.afterGarbageKiB)} |`,
    '',
    `Garbage: ${thousands(r.garbageSent)} malformed and mutated VXLAN datagrams in ${(r.garbageMs / 1000).toFixed(1)} s from the peer's own address (test/forwarder/e2e/send-udp.ts, every kind in turn); pings afterwards ${r.pingAfter} answered. Idle RSS of the two forwarder ↔ forwarder processes: ${r.idleFfKiB.map(mib).join(' and ')} MiB.`,
    '',
  );

  if (result.profile !== undefined) {
    lines.push('**Where the forwarder’s time goes** (`node --cpu-prof`, one forwarder ↔ kernel vxlan pair per direction under one iperf3 TCP run; self time, top functions per thread: one profile per thread)', '');
    for (const p of result.profile) {
      const configuration = p.configuration === undefined ? '' : ` (${p.configuration}${p.tapTso === undefined ? '' : `; TAP TSO ${p.tapTso}`})`;
      lines.push(`${DIRECTION_LABEL.fk[p.direction]}${configuration}: ${p.gbps.toFixed(2)} Gbit/s under the profiler; CPU seconds per OS thread over the ${p.seconds} s run (V8's and libuv's helper threads too; the profiles below also count start-up): ${p.threads.map((t) => `${t.name} (tid ${t.tid}) ${t.cpuSeconds.toFixed(2)}`).join(', ')}`, '');
      for (const file of p.files) {
        const role = file.reader === undefined ? '' : ` (${THREAD_ROLE[file.reader]})`;
        lines.push(`- ${profileThread(file.file)}${role} \`${file.file.replace(/^.*\//, '')}\` (${(file.totalMs / 1000).toFixed(1)} s sampled):`);
        for (const entry of file.top.slice(0, 10)) lines.push(`  - ${entry.percent.toFixed(1)}% ${entry.functionName}${entry.where === '' ? '' : ` (${entry.where})`}`);
      }
      lines.push('');
    }
  }
  return lines.join('\n').trimEnd();
}

/**
 * Which thread a `node --cpu-prof` file is of: its name is CPU.<date>.<time>.<pid>.<thread>.<seq>,
 * thread 0 the main thread, the others the worker threads in the order they started.
 */
export function profileThread(file: string): string {
  const thread = /^CPU\.\d+\.\d+\.\d+\.(\d+)\.\d+\.cpuprofile$/.exec(file.replace(/^.*\//, ''))?.[1];
  if (thread === undefined) return 'thread ?';
  return thread === '0' ? 'main thread' : `worker thread ${thread}`;
}

/** BENCHMARKS.md with `report` between the forwarder section's markers (the section is appended when missing). */
export function writeBenchmarksSection(text: string, report: string): string {
  const begin = text.indexOf(BEGIN_MARKER);
  const end = text.indexOf(END_MARKER);
  if (begin >= 0 && end > begin) return `${text.slice(0, begin + BEGIN_MARKER.length)}\n\n${report}\n\n${text.slice(end)}`;
  return `${text.trimEnd()}\n\n## The forwarder\n\n${BEGIN_MARKER}\n\n${report}\n\n${END_MARKER}\n`;
}
