// The report of bench/forwarder.ts: the markdown it prints and writes into BENCHMARKS.md's
// forwarder section (with the charts drawn from the same run), from its result (./result.ts).
import { median } from './measure';
import type { ThreadRole } from './measure';
import { goalsTable } from './goals';
import { latencyTable } from './latency';
import { ABLATION, MAIN_PATHS, PARALLEL_PATH_IDS, PATH_NAME, forwarderPath, type ForwarderPathId, type ParallelPathId, type PathId } from './paths';
import type { AblationTcpRun, BenchResult, TcpRun, UdpSearch } from './result';
import { runId } from './run-id';

export type { AblationId, PathId } from './paths';
export type { AblationTcpRun, BenchResult, PingSummary, TcpRun, UdpSearch } from './result';

const THREAD_ROLE: Record<ThreadRole, string> = {
  tap: "the TAP's reader", udp: "the UDP socket's reader", tunnel: "the tunnel TAP's reader", queue: 'the queue worker: reads, switches and writes every port',
};

/** Parallel iperf3 flows in the `parallel` runs: enough for the kernel to spread them over two queues. */
export const PARALLEL_FLOWS = 4;

const FK_LABEL = { ab: 'forwarder → kernel vxlan', ba: 'kernel vxlan → forwarder' };
const FF_LABEL = { ab: 'forwarder A → forwarder B', ba: 'forwarder B → forwarder A' };
/** A row's direction in words: who sends. */
function directionLabel(path: PathId | ForwarderPathId, direction: 'ab' | 'ba'): string {
  if (path === 'kernel') return direction === 'ab' ? 'kernel vxlan A → kernel vxlan B' : 'kernel vxlan B → kernel vxlan A';
  if (path === 'kernelOff') return direction === 'ab' ? 'kernel vxlan A → B, veth tx offload off' : 'kernel vxlan B → A, veth tx offload off';
  return forwarderPath(path)?.peerForwarder === true ? FF_LABEL[direction] : FK_LABEL[direction];
}

const PING_LABEL: Record<string, string> = {
  veth: 'veth alone (no tunnel)',
  kernel: 'kernel vxlan ↔ kernel vxlan',
  kf: 'kernel vxlan → forwarder, defaults (ping from the kernel’s host)',
  fk: 'forwarder → kernel vxlan, defaults (ping from the forwarder’s host)',
};
const pingLabel = (id: string) => PING_LABEL[id] ?? (id in PATH_NAME ? PATH_NAME[id as PathId] : id);

const fixed = (value: number | null | undefined, digits: number) => (value === null || value === undefined || Number.isNaN(value) ? '–' : value.toFixed(digits));
const thousands = (value: number) => Math.round(value).toLocaleString('en-US');

export const BEGIN_MARKER = '<!-- bench:forwarder report: written by `bench/forwarder.ts --write-benchmarks`, one run, do not edit by hand -->';
export const END_MARKER = '<!-- bench:forwarder report end -->';

/** The charts bench/forwarder.ts draws (bench/charts/render.ts), as the report shows them. */
export const FORWARDER_CHARTS = [
  { file: 'forwarder-tcp.svg', title: 'Forwarder vs kernel: iperf3 TCP' },
  { file: 'forwarder-latency.svg', title: 'Forwarder vs kernel: round trips' },
  { file: 'forwarder-udp.svg', title: 'Forwarder vs kernel: 64-byte UDP' },
] as const;

export function forwarderMarkdown(result: BenchResult): string {
  const m = result.machine;
  const s = result.settings;
  const id = runId(m);
  const commit = m.gitCommit ? `${m.gitCommit.slice(0, 12)}${m.gitDirty ? ' (with uncommitted changes)' : ''}` : 'unknown';
  const lines: string[] = [];
  if (result.quick) lines.push('**QUICK smoke run: one run per figure, short steps; not for quoting.**', '');
  if (result.distRebuiltDuringRun !== undefined) lines.push(`**dist/ was rebuilt during this run (${result.distRebuiltDuringRun ?? 'removed'}): forwarders started after that ran the new build.**`, '');
  const dirty = result.dirtySources ?? [];
  lines.push(
    `- **${id}**: the commit measured and the moment the run started; every chart below names it`,
    `- Command: \`${result.command}\` (as root; ${result.durationSeconds} s)`,
    `- Machine: ${m.cpuModel}, ${m.logicalCores} logical cores, ${m.memoryGiB} GiB; kernel ${m.kernel}`,
    `- Node ${m.node} (V8 ${m.v8}); ${result.iperf3}${result.sockperf === undefined ? '' : `; ${result.sockperf}`}`,
    `- Commit ${commit}; ${m.date}; load average at start ${m.loadAverageAtStart.join(' ')}, at the end ${result.loadAverageAtEnd?.join(' ') ?? '–'}`,
    ...(dirty.length > 0 ? [`- Sources that differed from the commit when the run started (other work in the same checkout; the build measured has them): ${dirty.map((file) => `\`${file}\``).join(', ')}`] : []),
    `- Forwarder: ${result.source === 'dist' ? `\`node bin/vxlan-wasm.mjs forward\` (dist/cli.mjs, built ${m.distBuiltAt ?? 'never'})` : '`vxlan-wasm forward` from the sources through tsx (test/forwarder/e2e/run-cli.ts)'}, IPv4 underlay, VNI 42, TAP MTU 1450; every veth with Linux's default offloads except where a row says otherwise`,
    `- Settings: TCP ${s.repeats} × ${s.tcpSeconds} s per figure, interleaved; UDP steps of ${s.udpSeconds} s (≤ ${s.udpMaxSteps} per path), ${s.udpPayload}-byte payloads; ${s.pingRounds} × ${s.pings} pings at ${s.pingIntervalSeconds * 1000} ms; round trips: ${s.latencyRounds ?? '–'} rounds, sockperf ${s.sockperfSeconds ?? '–'} s`,
    ...(result.idleForwarderCpu === undefined ? [] : [`- Idle cost of the other pairs: the ${result.idleForwarderCpu.forwarders} forwarder processes of every pair used ${result.idleForwarderCpu.cpuSecondsPerSecond.toFixed(3)} CPU s per s together while nothing was sent (they wait in every measurement but their own)`]),
    '',
    ...FORWARDER_CHARTS.map((chart) => `![${chart.title} (${id})](bench/charts/${chart.file})`).flatMap((line) => [line, '']),
  );

  lines.push(`**Issue 19's goals in this run**`, '', ...goalsTable(result), '');

  // What each forwarder said it runs: the flags took effect (or the host declined something).
  if (result.engines !== undefined) {
    lines.push('**What each forwarder ran** (its "forwarding" log line: `engine` and `offloads.tunnelGso`; the forwarder on host A of each pair)', '', '| pair | flags | engine | tunnel GSO |', '|---|---|---|---|');
    for (const path of [...MAIN_PATHS, ...ABLATION]) {
      const engine = result.engines[path.id];
      if (engine === undefined) continue;
      const flags = path.flags.length === 0 ? '(none)' : `\`${path.flags.join(' ')}\``;
      lines.push(`| ${path.id} | ${flags} | ${engine.engine} | ${engine.tunnelGso} |`);
    }
    lines.push('');
  }

  // TCP
  const allTcp: (TcpRun | AblationTcpRun)[] = [...result.tcp, ...(result.ablation?.tcp ?? [])];
  const tcpOf = (path: PathId | ForwarderPathId, direction: 'ab' | 'ba') => allTcp.filter((r) => r.path === path && r.direction === direction);
  const medianGbps = (path: PathId | ForwarderPathId, direction: 'ab' | 'ba') => median(tcpOf(path, direction).map((r) => r.gbps));
  lines.push(
    '**iperf3 TCP** (one stream; Gbit/s received; median of the runs, each run listed; CPU seconds per Gbit transferred, medians)',
    '',
    '| path | configuration | direction | median Gbit/s | runs | vs kernel ↔ kernel | machine CPU s/Gbit | forwarder CPU s/Gbit |',
    '|---|---|---|---:|---|---:|---:|---:|',
  );
  const mainRows: { id: PathId; configuration: string }[] = [
    { id: 'kernel', configuration: 'veths as Linux makes them' },
    { id: 'kernelOff', configuration: '`ethtool -K veth0 tx off` on both ends' },
    ...MAIN_PATHS.map((path) => ({ id: path.id as PathId, configuration: path.label })),
  ];
  for (const { id: path, configuration } of mainRows) {
    for (const direction of ['ab', 'ba'] as const) {
      const runs = tcpOf(path, direction);
      if (runs.length === 0) continue;
      const value = medianGbps(path, direction);
      const ratio = path === 'kernel' ? '1' : `${fixed(value / medianGbps('kernel', direction), 3)}×`;
      const forwarderCpu = runs.every((r) => r.forwarderCpuPerGbit === null) ? '–' : fixed(median(runs.map((r) => r.forwarderCpuPerGbit ?? NaN)), 2);
      lines.push(`| ${PATH_NAME[path].replace(/,.*$/, '')} | ${configuration} | ${directionLabel(path, direction)} | ${fixed(value, 2)} | ${runs.map((r) => r.gbps.toFixed(2)).join(', ')} | ${ratio} | ${fixed(median(runs.map((r) => r.systemCpuPerGbit)), 2)} | ${forwarderCpu} |`);
    }
  }
  lines.push('');

  // Round trips
  if (result.latency !== undefined && result.latency.length > 0) {
    lines.push(...latencyTable(result.latency, { pings: s.latencyPings ?? NaN, pingIntervalMs: (s.latencyPingIntervalSeconds ?? NaN) * 1000, sockperfSeconds: s.sockperfSeconds ?? NaN, rounds: s.latencyRounds ?? NaN }), '');
  }

  // Ping
  const pingMedian = (pingId: string) => result.ping[pingId]?.median ?? NaN;
  lines.push(
    `**Ping round trip** (${s.pingRounds} × ${s.pings} echo requests at ${s.pingIntervalSeconds * 1000} ms, interleaved by path${s.warmUpPings === undefined ? '' : `, after ${s.warmUpPings} pings 1 ms apart through each tunnel (a forwarder that has been running: V8 has optimized its frame path)`}; from host A unless said; ms)`,
    '',
    '| path | median | p10–p90 | replies | added vs veth alone | added vs kernel ↔ kernel |',
    '|---|---:|---:|---:|---:|---:|',
  );
  for (const [pingId, p] of Object.entries(result.ping)) {
    const vsVeth = pingId === 'veth' ? '–' : fixed(p.median - pingMedian('veth'), 3);
    const vsKernel = pingId === 'veth' || pingId === 'kernel' ? '–' : fixed(p.median - pingMedian('kernel'), 3);
    lines.push(`| ${pingLabel(pingId)} | ${fixed(p.median, 3)} | ${fixed(p.p10, 3)}–${fixed(p.p90, 3)} | ${p.received}/${p.sent} | ${vsVeth} | ${vsKernel} |`);
  }
  lines.push('');

  // Ablation: forwarder ↔ kernel with one thing changed from its base row, in the same interleaved rounds.
  if (result.ablation !== undefined && result.ablation.tcp.length > 0) {
    lines.push(
      '**Ablation: what each thing buys** (forwarder ↔ kernel vxlan; each row changes one thing from its base row, and "vs base" is its median over the base\'s: the socket path\'s techniques against `--no-tunnel-gso`, where they carry the traffic; the same interleaved iperf3 TCP rounds as above; batched syscalls are on in every row, they have no switch)',
      '',
      '| configuration | forwarder flags | base | direction | median Gbit/s | runs | vs base | vs kernel ↔ kernel | machine CPU s/Gbit | forwarder CPU s/Gbit | TAP TSO (ethtool) |',
      '|---|---|---|---|---:|---|---:|---:|---:|---:|---|',
    );
    for (const config of ABLATION) {
      for (const direction of ['ab', 'ba'] as const) {
        const runs = tcpOf(config.id, direction);
        if (runs.length === 0) continue;
        const value = medianGbps(config.id, direction);
        const base = config.base ?? 'fk';
        const forwarderCpu = fixed(median(runs.map((r) => r.forwarderCpuPerGbit ?? NaN)), 2);
        const flags = config.flags.length === 0 ? '(none)' : `\`${config.flags.join(' ')}\``;
        lines.push(`| ${config.label} | ${flags} | ${base} (${fixed(medianGbps(base, direction), 2)}) | ${directionLabel(config.id, direction)} | ${fixed(value, 2)} | ${runs.map((r) => r.gbps.toFixed(2)).join(', ')} | ${fixed(value / medianGbps(base, direction), 3)}× | ${fixed(value / medianGbps('kernel', direction), 3)}× | ${fixed(median(runs.map((r) => r.systemCpuPerGbit)), 2)} | ${forwarderCpu} | ${result.ablation?.tapTso[config.id] ?? '–'} |`);
      }
    }
    lines.push('');
  }
  if (result.parallel !== undefined && result.parallel.length > 0) {
    const runs = result.parallel;
    const flows = runs[0].flows;
    const parallelMedian = (path: ParallelPathId, d: 'ab' | 'ba') => median(runs.filter((r) => r.path === path && r.direction === d).map((r) => r.gbps));
    lines.push(
      `**${flows} parallel TCP flows** (iperf3 -P ${flows}: flows the kernel can spread over the TAP's queues and the sockets; interleaved rounds, medians)`,
      '',
      '| path | direction | median Gbit/s | runs | vs kernel ↔ kernel | vs the defaults (one queue worker) | machine CPU s/Gbit | forwarder CPU s/Gbit |',
      '|---|---|---:|---|---:|---:|---:|---:|',
    );
    const names: Record<ParallelPathId, string> = {
      kernel: 'kernel vxlan ↔ kernel vxlan', fk: 'forwarder (defaults: one queue worker) ↔ kernel vxlan',
      fkQueues0: 'forwarder (`--queues 0`: main thread) ↔ kernel vxlan', fkQueues2: 'forwarder (`--queues 2`) ↔ kernel vxlan',
    };
    for (const path of PARALLEL_PATH_IDS) {
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

  /** The kernel's search with as many senders as `u` had. */
  const kernelUdpFor = (u: UdpSearch): UdpSearch | undefined => result.udp.find((k) => k.path === 'kernel' && (k.senders ?? 1) === (u.senders ?? 1));
  const udpLabel = (u: UdpSearch): string => `${directionLabel(u.path, u.direction)}${u.path === 'kernel' ? '' : PATH_NAME[u.path].replace(/^[^,]*/, '')}${(u.senders ?? 1) > 1 ? `, ${u.senders} senders` : ''}`;
  const udpRatio = (u: UdpSearch): string => {
    const kernel = kernelUdpFor(u);
    return kernel !== undefined && kernel.bestPps > 0 ? `${kernel.senderBound ? '≤ ' : ''}${fixed(u.bestPps / kernel.bestPps, 3)}×` : '–';
  };

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

  // Memory
  const r = result.rss;
  const mib = (kib: number) => (kib / 1024).toFixed(1);
  lines.push(
    '**Forwarder RSS** (the forwarder ↔ kernel vxlan process with the defaults, VmRSS, MiB)',
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
      lines.push(`${FK_LABEL[p.direction]}${configuration}: ${p.gbps.toFixed(2)} Gbit/s under the profiler; CPU seconds per OS thread over the ${p.seconds} s run (V8's and libuv's helper threads too; the profiles below also count start-up): ${p.threads.map((t) => `${t.name} (tid ${t.tid}) ${t.cpuSeconds.toFixed(2)}`).join(', ')}`, '');
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
