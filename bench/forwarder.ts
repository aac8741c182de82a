/**
 * The forwarder's figures next to the kernel's, in one run (root only):
 *   npm run bench:forwarder                         (builds first; ~25 minutes)
 *   node --import tsx bench/forwarder.ts [--quick] [--ablation] [--write-benchmarks] [--profile] [--source dist|src] [--out FILE] [--report-from FILE]
 *
 * In network namespaces it makes (and always removes, on failure and Ctrl-C too), pairs of hosts
 * A and B joined by a veth carrying an IPv4 underlay, VNI 42 over port 4789; every veth keeps
 * Linux's default offloads (what users get) except in the rows about that switch (paths.ts):
 *   kernel         the kernel's vxlan on both hosts (the reference)
 *   kernelOff      the same with the veth's tx checksum offload off on both ends
 *   fk, ff         `vxlan-wasm forward` with no flags (the defaults: one queue worker, tunnel GSO
 *                  where the host allows it) on A and the kernel's vxlan on B; forwarders on both
 *   fkNoTunnelGso, ffNoTunnelGso   the same with --no-tunnel-gso (what kernels before 6.17 get)
 *   fkQueues0, ffQueues0           the same with --queues 0 (the old default: the main thread)
 * and, for the ablation (in every full run; in --quick only with --ablation), forwarder ↔ kernel
 * pairs that each change one thing from a base row (paths.ts ABLATION), then iperf3 -P 4 through
 * kernel ↔ kernel and the engines (one flow stays on one queue; parallel flows spread).
 *
 * It measures: ping round trips (the veth alone, each path), round trips with `sockperf
 * ping-pong` over TCP and UDP (p50, p99) idle and under an iperf3 stream the other way, iperf3 TCP
 * both ways with the CPU it costs (the forwarder process's from /proc/PID/stat, the machine's
 * from /proc/stat), the highest rate of 64-byte UDP datagrams each path carries with < 1% loss,
 * and the forwarder's RSS at idle and after a peer's garbage. Runs are interleaved (every path in
 * turn, then again); a figure is the median of the runs, a ratio is of medians. The forwarder is
 * the built CLI (`node bin/vxlan-wasm.mjs forward`, dist/cli.mjs) unless `--source src` (the same
 * command from the sources through tsx: test/forwarder/e2e/run-cli.ts).
 *
 * Output: progress lines, then a markdown report; JSON in bench/results/forwarder.json (--quick:
 * forwarder-quick.json). `--write-benchmarks` then draws the forwarder's charts from that JSON
 * (bench/charts/render.ts) and puts the report and the top summary into BENCHMARKS.md (between
 * their markers): charts and tables of one run, each naming it (run-id.ts). `--profile` then runs
 * `node --cpu-prof` forwarders under iperf3 and prints their top functions by self time.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import os from 'node:os';
import { renderForwarderCharts } from './charts/render';
import { distBuiltAt, distProblem } from './lib/dist';
import { machineInfo } from './lib/machine';
import { iperf3, Lab, labUnusable, REPO_ROOT, rssKiB, run, sleep, type LabProcess } from '../test/helpers/netns';
import { summaryMarkdown, writeSummary } from './forwarder/goals';
import type { LatencyMeasurement, LatencyRound } from './forwarder/latency';
import {
  iperf3UdpSenders, median, pingTimes, processCpuSeconds, quantile, sockperfPingPong, summariseProfile, systemBusySeconds, threadCpuSeconds,
  type RoundTrips, type UdpStep,
} from './forwarder/measure';
import { ABLATION, LATENCY_PATH_IDS, MAIN_PATHS, PARALLEL_PATH_IDS, forwarderPath, type ForwarderPathId, type ParallelPathId, type PathId } from './forwarder/paths';
import { PARALLEL_FLOWS, forwarderMarkdown, writeBenchmarksSection } from './forwarder/report';
import type { AblationTcpRun, BenchResult, EngineReport, TcpRun, UdpSearch } from './forwarder/result';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    ablation: { type: 'boolean', default: false },
    'write-benchmarks': { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    source: { type: 'string', default: 'dist' },
    out: { type: 'string' },
    'report-from': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log('usage: node --import tsx bench/forwarder.ts [--quick] [--ablation] [--write-benchmarks] [--profile] [--source dist|src] [--out FILE] [--report-from FILE]');
  console.log('  --quick             a smoke run (~3 minutes): one run per figure, shorter steps; figures not for quoting');
  console.log('  --ablation          with --quick: the ablation too (forwarder ↔ kernel pairs each changing one thing); a full run always has it');
  console.log("  --write-benchmarks  draw the forwarder's charts from this run's JSON and put its report and summary into BENCHMARKS.md (between their markers)");
  console.log('  --profile           then profile forwarders (node --cpu-prof: the defaults, --queues 0, --no-tunnel-gso) under iperf3 each way and print their top functions');
  console.log('  --source dist|src   the forwarder of dist/ (default: bin/vxlan-wasm.mjs, run `npm run build` first) or of src/ through tsx');
  console.log("  --report-from FILE  measure nothing: print the report of an earlier run's JSON (with --write-benchmarks, draw its charts and put it into BENCHMARKS.md)");
  console.log('needs root: network namespaces, veth pairs, TAP devices and kernel vxlan devices; plus ip, ethtool, ping, iperf3, sockperf');
  process.exit(0);
}

/**
 * The forwarder's charts drawn from the run's JSON file (not from memory: what is on disk is what
 * `bench/charts/render.ts` would draw again), then its report and summary put into BENCHMARKS.md.
 */
function writeBenchmarks(jsonPath: string): void {
  const result = JSON.parse(readFileSync(jsonPath, 'utf8')) as BenchResult;
  const charts = renderForwarderCharts(result);
  const file = join(REPO_ROOT, 'BENCHMARKS.md');
  let text = readFileSync(file, 'utf8');
  text = writeBenchmarksSection(text, forwarderMarkdown(result));
  text = writeSummary(text, summaryMarkdown(result), '## Reproduce');
  writeFileSync(file, text);
  console.log(`BENCHMARKS.md: the forwarder section and the top summary now hold this run's report; charts drawn from ${relative(REPO_ROOT, jsonPath)}: ${charts.map((path) => relative(REPO_ROOT, path)).join(', ')}`);
}

if (values['report-from'] !== undefined) {
  // The report of an earlier run, rendered again (after a change to report.ts): no root, no lab.
  const earlier = JSON.parse(readFileSync(values['report-from'], 'utf8')) as BenchResult;
  // Profiles still on disk are summarised again, so a change to summariseProfile shows too.
  for (const file of (earlier.profile ?? []).flatMap((p) => p.files)) {
    if (!existsSync(join(REPO_ROOT, file.file))) continue;
    const summary = summariseProfile(join(REPO_ROOT, file.file), 15);
    Object.assign(file, { totalMs: summary.totalMs, top: summary.entries, reader: summary.reader });
  }
  console.log(forwarderMarkdown(earlier));
  if (values['write-benchmarks']) writeBenchmarks(values['report-from']);
  process.exit(0);
}
if (values.source !== 'dist' && values.source !== 'src') {
  console.error(`--source is dist or src, not "${values.source}"`);
  process.exit(2);
}
const source = values.source as 'dist' | 'src';
const quick = values.quick;
const ablation = !quick || values.ablation;

// Root, tools and namespaces first: one sentence and exit 2 when this machine cannot run it.
if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
  console.error('bench:forwarder needs root (it makes network namespaces, veth pairs, TAP devices and kernel vxlan devices): run it as root, e.g. `sudo npm run bench:forwarder`.');
  process.exit(2);
}
try {
  const why = labUnusable('bench:forwarder', ['ping', 'iperf3', 'sysctl', 'sockperf']);
  if (why !== undefined) {
    console.error(`bench:forwarder cannot make its namespaces here: ${why}.`);
    process.exit(2);
  }
} catch (error) {
  console.error(`bench:forwarder needs ${(error as Error).message.replace(/^bench:forwarder: /, '').replace(/;.*$/, '')} (apt-get install iproute2 ethtool iputils-ping iperf3 sockperf).`);
  process.exit(2);
}
const CLI = join(REPO_ROOT, 'bin/vxlan-wasm.mjs');
if (source === 'dist' && !existsSync(join(REPO_ROOT, 'dist/cli.mjs'))) {
  console.error('bench:forwarder times the built forwarder, and dist/cli.mjs does not exist: run `npm run build` first (or `npm run bench:forwarder`, which builds), or pass --source src.');
  process.exit(2);
}

const SETTINGS = quick
  ? { repeats: 1, tcpSeconds: 2, udpSeconds: 1, udpMaxSteps: 5, udpStartPps: 40_000, pings: 50, pingRounds: 1, warmUpPings: 500, garbageSeconds: 3, latencyRounds: 1, sockperfSeconds: 2, latencyPings: 50 }
  : { repeats: 3, tcpSeconds: 5, udpSeconds: 2, udpMaxSteps: 8, udpStartPps: 40_000, pings: 50, pingRounds: 3, warmUpPings: 2000, garbageSeconds: 10, latencyRounds: 2, sockperfSeconds: 4, latencyPings: 100 };
const PING_INTERVAL = 0.02;
/** Pings during a round-trip measurement (idle and under load): faster, so they fit beside sockperf. */
const LATENCY_PING_INTERVAL = 0.01;
const UDP_PAYLOAD = 64;
const VNI = 42;
const TAP = 'vxtap0';
const UNDERLAY = { a: '192.168.77.1', b: '192.168.77.2', prefix: 24 };
const OVERLAY = { a: '10.42.0.1', b: '10.42.0.2', prefix: 24 };
/** iperf3's port for the load stream of a round-trip measurement (the TCP and UDP runs use 5201–5203). */
const LOAD_PORT = 5209;

const started = performance.now();
function progress(line: string): void {
  const seconds = ((performance.now() - started) / 1000).toFixed(0).padStart(3);
  console.log(`[${seconds} s] ${line}`);
}

const lab = new Lab('bf');
// Ctrl-C or a kill: stop what this run started and remove its namespaces before exiting (the Lab's
// own exit hook covers a crash; a signal would otherwise end the process without it).
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\n${signal}: stopping the forwarders and iperf3, removing the namespaces…`);
    void lab.cleanup().finally(() => process.exit(130));
  });
}

/** What a forwarder's "forwarding" log line says it runs (engine, tunnel GSO), or why not known. */
function engineOf(proc: LabProcess): EngineReport {
  for (const line of proc.stderr.split('\n')) {
    if (!line.includes('"msg":"forwarding"')) continue;
    try {
      const record = JSON.parse(line) as { engine?: string; offloads?: { tunnelGso?: unknown } };
      return { engine: record.engine ?? '(not said)', tunnelGso: String(record.offloads?.tunnelGso ?? '(not said)') };
    } catch {
      break;
    }
  }
  return { engine: '(no "forwarding" line)', tunnelGso: '(no "forwarding" line)' };
}

/** `vxlan-wasm forward` in `ns` (its TAP addressed and up once it says "forwarding"). */
async function startForwarder(ns: string, local: string, peer: string, overlay: string, nodeFlags: readonly string[] = [], cliFlags: readonly string[] = []): Promise<LabProcess> {
  const flags = ['--tap', TAP, '--vni', String(VNI), '--local', local, '--peer', peer, '--mtu', '1450', '--log-level', 'info', ...cliFlags];
  const entry = source === 'dist' ? [CLI, 'forward'] : ['--import', 'tsx', 'test/forwarder/e2e/run-cli.ts'];
  const proc = lab.spawn(ns, process.execPath, [...nodeFlags, ...entry, ...flags], { label: `vxlan-wasm forward ${cliFlags.join(' ')} in ${ns}` });
  await proc.waitFor('its "forwarding" log line', () => proc.stderr.includes('"msg":"forwarding"'), 15_000);
  lab.addresses(ns, TAP, [`${overlay}/${OVERLAY.prefix}`]);
  return proc;
}

function kernelVxlan(ns: string, local: string, remote: string, overlay: string): void {
  lab.kernelVxlan(ns, { vni: VNI, local, remote, address: `${overlay}/${OVERLAY.prefix}`, mtu: 1450 });
}

interface Pair {
  id: PathId | ForwarderPathId;
  a: string;
  b: string;
  /** The forwarder processes of the pair (their CPU is the forwarder's cost). */
  forwarders: LabProcess[];
}

/**
 * Two namespaces and their veth, whose transmit checksum offload stays on (Linux's default)
 * unless the row is about that switch: 'off' on both ends (kernelOff), 'off on B' (the kernel
 * peer's end: its packets then cross cut, with full checksums, instead of as whole super-packets
 * with partial ones).
 */
function hosts(name: string, offload: 'on' | 'off' | 'off on B'): { a: string; b: string } {
  const a = lab.namespace(`${name}a`);
  const b = lab.namespace(`${name}b`);
  lab.veth(a, b, { a: [`${UNDERLAY.a}/${UNDERLAY.prefix}`], b: [`${UNDERLAY.b}/${UNDERLAY.prefix}`], checksumOffload: offload !== 'off' });
  if (offload === 'off on B') lab.exec(b, 'ethtool', '-K', 'veth0', 'tx', 'off');
  return { a, b };
}

async function makePair(id: PathId | ForwarderPathId, nodeFlags: readonly string[] = [], name: string = id): Promise<Pair> {
  const config = forwarderPath(id);
  const { a, b } = hosts(name, id === 'kernelOff' ? 'off' : config?.peerTxOff === true ? 'off on B' : 'on');
  const forwarders: LabProcess[] = [];
  // Rows of the ablation about the host: GRO on A's veth (the forwarder's underlay device).
  if (config?.vethGro === true) lab.exec(a, 'ethtool', '-K', 'veth0', 'gro', 'on');
  if (config === undefined) kernelVxlan(a, UNDERLAY.a, UNDERLAY.b, OVERLAY.a);
  else forwarders.push(await startForwarder(a, UNDERLAY.a, UNDERLAY.b, OVERLAY.a, nodeFlags, config.flags));
  if (config?.peerForwarder === true) forwarders.push(await startForwarder(b, UNDERLAY.b, UNDERLAY.a, OVERLAY.b, nodeFlags, config.flags));
  else kernelVxlan(b, UNDERLAY.b, UNDERLAY.a, OVERLAY.b);
  // ARP through the overlay and the forwarders' FDBs learned before anything is timed.
  const warm = pingTimes(lab, a, OVERLAY.b, 3, 0.1);
  if (warm.times.length === 0) throw new Error(`${id}: no ping reply from ${OVERLAY.b} through the tunnel`);
  return { id, a, b, forwarders };
}

/**
 * The TAP's TCP segmentation offload as ethtool reports it on the forwarder's host: "on" when the
 * forwarder set TUNSETOFFLOAD (TSO super-frames come to it), "off" with --no-tap-offloads. A check
 * that the flags took effect, not a measurement.
 */
function tapTso(pair: Pair): string {
  const result = lab.tryExec(pair.a, 'ethtool', '-k', TAP);
  return /^tcp-segmentation-offload:\s*(\S+)/m.exec(result.stdout)?.[1] ?? 'unknown';
}

const forwarderCpu = (pair: Pair) => pair.forwarders.reduce((sum, proc) => sum + processCpuSeconds(proc.pid), 0);

async function tcpRun(pair: Pair, direction: 'ab' | 'ba', repeat: number, parallel?: number): Promise<TcpRun | AblationTcpRun> {
  const system0 = systemBusySeconds();
  const forwarder0 = forwarderCpu(pair);
  const wall0 = performance.now();
  const result = await iperf3(lab, { serverNs: pair.b, serverAddress: OVERLAY.b, clientNs: pair.a, seconds: SETTINGS.tcpSeconds, reverse: direction === 'ba', parallel });
  const wallSeconds = (performance.now() - wall0) / 1000;
  const gbit = (result.bytes * 8) / 1e9;
  const systemCpuSeconds = systemBusySeconds() - system0;
  const forwarderCpuSeconds = pair.forwarders.length > 0 ? forwarderCpu(pair) - forwarder0 : null;
  return { path: pair.id as PathId, direction, repeat, gbps: result.gbps, bytes: result.bytes, retransmits: result.retransmits ?? null, wallSeconds, systemCpuSeconds, forwarderCpuSeconds, systemCpuPerGbit: systemCpuSeconds / gbit, forwarderCpuPerGbit: forwarderCpuSeconds === null ? null : forwarderCpuSeconds / gbit };
}

function pingRoundTrips(pair: Pair): RoundTrips {
  const { sent, times } = pingTimes(lab, pair.a, OVERLAY.b, SETTINGS.latencyPings, LATENCY_PING_INTERVAL);
  if (times.length < sent * 0.9) throw new Error(`${pair.id}: only ${times.length} of ${sent} pings answered`);
  return { p50: quantile(times, 0.5), p99: quantile(times, 0.99), samples: times.length };
}

/** Ping, then sockperf ping-pong over TCP and over UDP, from A to B's overlay address. */
async function roundTrips(pair: Pair): Promise<LatencyMeasurement> {
  const sockperf = (protocol: 'tcp' | 'udp') => sockperfPingPong(lab, { serverNs: pair.b, clientNs: pair.a, address: OVERLAY.b, protocol, seconds: SETTINGS.sockperfSeconds });
  return { ping: pingRoundTrips(pair), tcp: await sockperf('tcp'), udp: await sockperf('udp') };
}

/**
 * The rate an interrupted iperf3 client sent at, Gbit/s: its own sum (the receiver's never reaches
 * it after SIGINT), else the median of its intervals; NaN when it printed no JSON.
 */
function sentGbps(stdout: string): number {
  try {
    const report = JSON.parse(stdout) as { end?: { sum_sent?: { bits_per_second?: number } }; intervals?: { sum?: { bits_per_second?: number } }[] };
    const sum = report.end?.sum_sent?.bits_per_second ?? 0;
    if (sum > 0) return sum / 1e9;
    return median((report.intervals ?? []).map((interval) => interval.sum?.bits_per_second ?? NaN).filter(Number.isFinite)) / 1e9;
  } catch {
    return NaN;
  }
}

/**
 * `roundTrips` while an iperf3 TCP stream runs from B to A (the other way, so the round trips'
 * packets queue behind its ACKs on the way out and its data on the way back). The stream is asked
 * for a little longer than the measurement and stopped when it is done: bounded either way.
 */
async function roundTripsUnderLoad(pair: Pair): Promise<{ measurement: LatencyMeasurement; gbps: number }> {
  const seconds = Math.ceil(SETTINGS.latencyPings * LATENCY_PING_INTERVAL * 2 + SETTINGS.sockperfSeconds * 2 + 8);
  const server = lab.spawn(pair.a, 'iperf3', ['-s', '-1', '--forceflush', '-B', OVERLAY.a, '-p', String(LOAD_PORT)], { label: 'iperf3 server (load)' });
  try {
    await server.waitFor('"Server listening"', () => server.stdout.includes('Server listening'), 5000);
    const client = lab.spawn(pair.b, 'iperf3', ['-c', OVERLAY.a, '-p', String(LOAD_PORT), '-t', String(seconds), '-J', '--connect-timeout', '3000'], { label: 'iperf3 client (load)' });
    try {
      await sleep(1000);
      if (!client.running) throw new Error(`${pair.id}: the load stream ended before the round trips: ${client.stdout}${client.stderr}`);
      const measurement = await roundTrips(pair);
      client.signal('SIGINT');
      await client.wait(5000);
      return { measurement, gbps: sentGbps(client.stdout) };
    } finally {
      await client.stop(1000);
    }
  } finally {
    await server.stop(500);
  }
}

/** A search for the highest rate with < 1% loss: doubling from a start, then bisecting (geometric). */
class RateSearch {
  readonly steps: UdpStep[] = [];
  /** The worse of two runs of a lossy step (the better is in `steps`). */
  readonly retries: UdpStep[] = [];
  good: UdpStep | undefined;
  badPps: number | undefined;
  senderBound = false;
  next: number | undefined;
  /** `senders`: iperf3 senders at once (iperf3UdpSenders), each at the rate asked over their number. */
  constructor(readonly pair: Pair, readonly direction: 'ab' | 'ba', readonly senders = 1) {
    this.next = SETTINGS.udpStartPps * senders;
  }

  record(step: UdpStep): void {
    this.steps.push(step);
    const ok = step.lossPercent < 1;
    // The senders (one iperf3 thread each) could not send at the rate asked: this is their limit.
    const short = step.sentPps < 0.95 * step.askedPps;
    if (ok) {
      if (this.good === undefined || step.receivedPps > this.good.receivedPps) this.good = step;
      if (short) this.senderBound = true;
    } else {
      this.badPps = Math.min(this.badPps ?? Infinity, step.askedPps);
    }
    if (this.steps.length >= SETTINGS.udpMaxSteps || (ok && short)) {
      this.next = undefined;
    } else if (this.badPps === undefined) {
      this.next = step.askedPps * 2;
    } else if (this.good === undefined) {
      this.next = step.askedPps / 2 >= 1000 ? step.askedPps / 2 : undefined;
    } else {
      const low = this.good.askedPps;
      this.next = this.badPps / low > 1.15 ? Math.round(Math.sqrt(low * this.badPps)) : undefined;
    }
  }

  summary(): UdpSearch {
    return {
      path: this.pair.id as PathId, direction: this.direction, steps: this.steps, retries: this.retries,
      bestPps: this.good?.receivedPps ?? 0, bestAskedPps: this.good?.askedPps ?? null, bestLossPercent: this.good?.lossPercent ?? null,
      firstLossyPps: this.badPps ?? null, senderBound: this.senderBound, senders: this.senders,
    };
  }
}

/** The profiled configurations: the defaults, the main thread (--queues 0) and the socket path (--no-tunnel-gso). */
const PROFILED = [
  { id: 'fk', configuration: 'the defaults: one queue worker, tunnel GSO' },
  { id: 'fkQueues0', configuration: 'the main thread with reader threads: --queues 0' },
  { id: 'fkNoTunnelGso', configuration: 'one queue worker on the socket path: --no-tunnel-gso' },
] as const;

async function profileRuns(): Promise<NonNullable<BenchResult['profile']>> {
  const results = [];
  for (const [index, { id, configuration }] of PROFILED.entries()) for (const direction of ['ab', 'ba'] as const) {
    const dir = mkdtempSync(join(REPO_ROOT, 'bench/results/profile-'));
    const pair = await makePair(id, ['--cpu-prof', '--cpu-prof-dir', dir], `prof${index}${direction}`);
    const tso = tapTso(pair);
    progress(`profile: iperf3 ${direction === 'ab' ? 'forwarder → kernel' : 'kernel → forwarder'} with node --cpu-prof, ${configuration} (TAP TSO ${tso}; ${relative(REPO_ROOT, dir)})`);
    const pid = pair.forwarders[0].pid;
    const before = threadCpuSeconds(pid);
    const result = await iperf3(lab, { serverNs: pair.b, serverAddress: OVERLAY.b, clientNs: pair.a, seconds: SETTINGS.tcpSeconds, reverse: direction === 'ba' });
    // CPU per thread over the run: which of the main thread and the workers is busy, and how much
    // of the profilers' wall-clock samples is time blocked in a call.
    const threads = [...threadCpuSeconds(pid)].map(([tid, t]) => ({ tid, name: t.name, cpuSeconds: t.seconds - (before.get(tid)?.seconds ?? 0) }))
      .filter((t) => t.cpuSeconds > 0.005).sort((x, y) => y.cpuSeconds - x.cpuSeconds);
    await pair.forwarders[0].stop(5000);
    const files = readdirSync(dir).filter((name) => name.endsWith('.cpuprofile')).map((name) => {
      const summary = summariseProfile(join(dir, name), 15);
      return { file: relative(REPO_ROOT, join(dir, name)), totalMs: summary.totalMs, top: summary.entries, ...(summary.reader === undefined ? {} : { reader: summary.reader }) };
    });
    results.push({ direction, configuration, tapTso: tso, gbps: result.gbps, seconds: SETTINGS.tcpSeconds, threads, files });
  }
  return results;
}

/** Files under src/ and assembly/ that differ from HEAD: other work in this checkout that the build may hold. */
function dirtySources(): string[] {
  try {
    return execFileSync('git', ['-C', REPO_ROOT, 'status', '--porcelain', '--', 'src', 'assembly'], { encoding: 'utf8' })
      .split('\n').filter((line) => line.trim() !== '').map((line) => line.slice(3));
  } catch {
    return [];
  }
}

async function main(): Promise<void> {
  const machine = machineInfo();
  const dirty = dirtySources();
  const iperfVersion = run('iperf3', ['--version']).split('\n')[0].trim();
  const sockperfVersion = /version\s+\S+/.exec(run('sockperf', ['--version']))?.[0] ?? 'unknown';
  const argv = process.argv.slice(2);
  const command = process.env.npm_lifecycle_event === 'bench:forwarder'
    ? `npm run bench:forwarder${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`
    : `node --import tsx bench/forwarder.ts${argv.length > 0 ? ` ${argv.join(' ')}` : ''}`;
  console.log(`# vxlan-wasm forwarder benchmark${quick ? ' (QUICK smoke run: figures not for quoting)' : ''}`);
  console.log(`forwarder: ${source === 'dist' ? 'node bin/vxlan-wasm.mjs forward (dist/cli.mjs, the built package)' : 'test/forwarder/e2e/run-cli.ts (the sources through tsx)'}`);
  const stale = source === 'dist' ? distProblem() : null;
  if (stale !== null) console.error(`\n!!! ${stale}\n`);
  if (dirty.length > 0) console.error(`\n!!! sources differ from the commit (other work in this checkout?): ${dirty.join(', ')}\n`);

  progress(`making namespaces: kernel ↔ kernel (veth offloads on, and off), then the forwarder with ${MAIN_PATHS.map((p) => p.id).join(', ')}`);
  const pairs: Pair[] = [await makePair('kernel'), await makePair('kernelOff')];
  for (const config of MAIN_PATHS) pairs.push(await makePair(config.id));
  if (ablation) {
    progress(`making namespaces: the ablation, ${ABLATION.map((c) => c.id).join(', ')}`);
    for (const config of ABLATION) pairs.push(await makePair(config.id));
  }
  const pairOf = (id: PathId | ForwarderPathId): Pair => {
    const pair = pairs.find((candidate) => candidate.id === id);
    if (pair === undefined) throw new Error(`no pair ${id} in this run`);
    return pair;
  };
  const tapTsoOf: Partial<Record<ForwarderPathId, string>> = {};
  const engines: Partial<Record<ForwarderPathId, EngineReport>> = {};
  for (const pair of pairs) {
    if (pair.forwarders.length === 0) continue;
    tapTsoOf[pair.id as ForwarderPathId] = tapTso(pair);
    engines[pair.id as ForwarderPathId] = engineOf(pair.forwarders[0]);
  }
  progress(`TAP TSO per pair (ethtool -k): ${Object.entries(tapTsoOf).map(([id, state]) => `${id} ${state}`).join(', ')}`);
  for (const [id, engine] of Object.entries(engines)) progress(`${id}: engine "${engine.engine}"; tunnel GSO "${engine.tunnelGso}"`);

  const fk = pairOf('fk');
  const ff = pairOf('ff');
  await sleep(1000);
  // What every idle forwarder costs the pair being measured: they all wait while one pair runs.
  const allForwarders = pairs.flatMap((pair) => pair.forwarders);
  const idleCpu0 = allForwarders.reduce((sum, proc) => sum + processCpuSeconds(proc.pid), 0);
  const idleWall0 = performance.now();
  await sleep(1000);
  const idleForwarderCpu = { forwarders: allForwarders.length, cpuSecondsPerSecond: (allForwarders.reduce((sum, proc) => sum + processCpuSeconds(proc.pid), 0) - idleCpu0) / ((performance.now() - idleWall0) / 1000) };
  const rssIdleKiB = rssKiB(fk.forwarders[0].pid);
  const rssIdleFfKiB = ff.forwarders.map((proc) => rssKiB(proc.pid));
  progress(`forwarder RSS at idle: ${rssIdleKiB} KiB (forwarder ↔ kernel), ${rssIdleFfKiB.join(' and ')} KiB (forwarder ↔ forwarder); ${idleForwarderCpu.forwarders} idle forwarders used ${idleForwarderCpu.cpuSecondsPerSecond.toFixed(3)} CPU s/s`);

  // Ping: the veth alone (the underlay addresses), then each tunnel, interleaved round by round.
  const kernel = pairOf('kernel');
  const pingPlan = [
    { id: 'veth', ns: kernel.a, address: UNDERLAY.b },
    { id: 'kernel', ns: kernel.a, address: OVERLAY.b },
    { id: 'fk', ns: fk.a, address: OVERLAY.b },
    { id: 'kf', ns: fk.b, address: OVERLAY.a },
    ...MAIN_PATHS.filter((p) => p.id !== 'fk').map((p) => ({ id: p.id, ns: pairOf(p.id).a, address: OVERLAY.b })),
  ];
  const pings = Object.fromEntries(pingPlan.map((p) => [p.id, { sent: 0, times: [] as number[] }]));
  // Warmed up first, as a forwarder that has been running is: a just-started one runs code V8 has
  // not optimized yet (bench:latency times that apart, "Just started").
  for (const p of pingPlan) if (p.id !== 'veth' && p.id !== 'kernel') pingTimes(lab, p.ns, p.address, SETTINGS.warmUpPings, 0.001);
  progress(`warmed up every tunnel with ${SETTINGS.warmUpPings} pings 1 ms apart`);
  for (let round = 0; round < SETTINGS.pingRounds; round++) {
    for (const p of pingPlan) {
      const result = pingTimes(lab, p.ns, p.address, SETTINGS.pings, PING_INTERVAL);
      pings[p.id].sent += result.sent;
      pings[p.id].times.push(...result.times);
    }
    progress(`ping round ${round + 1}/${SETTINGS.pingRounds}: median ${pingPlan.map((p) => `${p.id} ${median(pings[p.id].times).toFixed(3)} ms`).join(', ')}`);
  }

  // Round trips with sockperf (and ping), idle then under a stream the other way, paths interleaved.
  const latency: LatencyRound[] = [];
  for (let round = 0; round < SETTINGS.latencyRounds; round++) {
    for (const id of LATENCY_PATH_IDS) {
      const pair = pairOf(id);
      const idle = await roundTrips(pair);
      const { measurement: load, gbps } = await roundTripsUnderLoad(pair);
      latency.push({ path: id, round, idle, load, loadGbps: gbps });
      const f = (value: number) => value.toFixed(3);
      progress(`round trips ${round + 1}/${SETTINGS.latencyRounds} ${id}: ping p50 ${f(idle.ping.p50)} ms (loaded ${f(load.ping.p50)}), sockperf TCP p50 ${f(idle.tcp.p50)} / p99 ${f(idle.tcp.p99)} ms (loaded ${f(load.tcp.p50)} / ${f(load.tcp.p99)}), UDP p50 ${f(idle.udp.p50)} ms (loaded ${f(load.udp.p50)}); load stream ${gbps.toFixed(2)} Gbit/s`);
    }
  }

  // TCP, interleaved: each repeat runs every path one way, then every path the other way.
  const tcp: TcpRun[] = [];
  const ablationTcp: AblationTcpRun[] = [];
  const isAblation = (id: string) => ABLATION.some((config) => config.id === id);
  const total = SETTINGS.repeats * 2 * pairs.length;
  for (let repeat = 0; repeat < SETTINGS.repeats; repeat++) {
    for (const direction of ['ab', 'ba'] as const) {
      for (const pair of pairs) {
        const result = await tcpRun(pair, direction, repeat);
        if (isAblation(pair.id)) ablationTcp.push(result as AblationTcpRun);
        else tcp.push(result as TcpRun);
        const cpu = result.forwarderCpuPerGbit === null ? '' : `, forwarder ${result.forwarderCpuPerGbit.toFixed(2)} CPU s/Gbit`;
        progress(`tcp ${tcp.length + ablationTcp.length}/${total} ${pair.id} ${direction}: ${result.gbps.toFixed(2)} Gbit/s (system ${result.systemCpuPerGbit.toFixed(2)} CPU s/Gbit${cpu})`);
      }
    }
  }

  // Parallel flows, which a forwarder with two queues can spread over its workers, interleaved.
  const parallel: NonNullable<BenchResult['parallel']> = [];
  if (ablation) {
    for (let repeat = 0; repeat < SETTINGS.repeats; repeat++) {
      for (const direction of ['ab', 'ba'] as const) {
        for (const id of PARALLEL_PATH_IDS) {
          const result = await tcpRun(pairOf(id), direction, repeat, PARALLEL_FLOWS);
          parallel.push({ ...result, path: id as ParallelPathId, flows: PARALLEL_FLOWS });
          progress(`tcp -P ${PARALLEL_FLOWS} ${id} ${direction}: ${result.gbps.toFixed(2)} Gbit/s (system ${result.systemCpuPerGbit.toFixed(2)} CPU s/Gbit)`);
        }
      }
    }
  }

  // 64-byte UDP: every search takes one step per round, so the paths see the same moments.
  // The kernel's rate with one sender is that sender's (it encapsulates in the sender's system
  // call): kernel and forwarder → kernel are searched with two senders at once too.
  // The old default (--queues 0) and the socket path (--no-tunnel-gso) beside the defaults, one way.
  const searches = [
    new RateSearch(kernel, 'ab'), new RateSearch(fk, 'ab'), new RateSearch(fk, 'ba'), new RateSearch(ff, 'ab'),
    new RateSearch(pairOf('fkQueues0'), 'ab'), new RateSearch(pairOf('fkNoTunnelGso'), 'ab'),
    new RateSearch(kernel, 'ab', 2), new RateSearch(fk, 'ab', 2),
  ];
  for (let round = 0; searches.some((s) => s.next !== undefined); round++) {
    for (const search of searches) {
      if (search.next === undefined) continue;
      const ask = { serverNs: search.pair.b, serverAddress: OVERLAY.b, clientNs: search.pair.a, pps: search.next, payload: UDP_PAYLOAD, seconds: SETTINGS.udpSeconds, reverse: search.direction === 'ba' };
      let step = await iperf3UdpSenders(lab, ask, search.senders);
      // A 2 s step at ~60k frames/s loses 1% to one 20 ms stall of a receiver on 2 busy cores: a
      // lossy step is run once more and the better of the two counts (both are in the JSON).
      if (step.lossPercent >= 1) {
        const again = await iperf3UdpSenders(lab, ask, search.senders);
        search.retries.push(step.lossPercent <= again.lossPercent ? again : step);
        if (again.lossPercent < step.lossPercent) step = again;
      }
      search.record(step);
      progress(`udp ${search.pair.id} ${search.direction}${search.senders > 1 ? ` ${search.senders} senders` : ''} step ${search.steps.length}: asked ${Math.round(step.askedPps)} fps, sent ${Math.round(step.sentPps)}, received ${Math.round(step.receivedPps)}, loss ${step.lossPercent.toFixed(2)}%`);
    }
  }

  // Garbage from the peer's own address (admitted, then refused by the decoder or forwarded), as
  // fast as one sender manages, for a bounded time; RSS sampled meanwhile.
  const forwarder = fk.forwarders[0];
  const rssBeforeGarbageKiB = rssKiB(forwarder.pid);
  progress(`garbage: ${SETTINGS.garbageSeconds} s of malformed and mutated VXLAN from the peer (RSS now ${rssBeforeGarbageKiB} KiB)`);
  const sender = lab.spawnNode(fk.b, 'test/forwarder/e2e/send-udp.ts', [JSON.stringify({
    bind: UNDERLAY.b, to: UNDERLAY.a, garbage: { count: 1e9, seconds: SETTINGS.garbageSeconds, seed: 0x5eed42, vni: VNI },
  })], { label: 'garbage sender' });
  let rssPeakKiB = rssBeforeGarbageKiB;
  while (sender.running) {
    rssPeakKiB = Math.max(rssPeakKiB, rssKiB(forwarder.pid));
    await sleep(250);
  }
  const sent = await sender.wait(SETTINGS.garbageSeconds * 1000 + 15_000);
  if (sent.code !== 0) throw new Error(`the garbage sender failed: ${sender.stderr}`);
  const garbageReport = JSON.parse(sender.lines[0]) as { sent: number; ms: number };
  await sleep(1000);
  const rssAfterGarbageKiB = rssKiB(forwarder.pid);
  const after = pingTimes(lab, fk.a, OVERLAY.b, 5, 0.1);
  if (!forwarder.running || after.times.length === 0) throw new Error(`the forwarder stopped forwarding after the garbage (running: ${forwarder.running})\n${forwarder.stderr}`);
  progress(`garbage: ${garbageReport.sent} datagrams in ${garbageReport.ms} ms; RSS ${rssAfterGarbageKiB} KiB after (peak ${rssPeakKiB} KiB); ping after: ${after.times.length}/5`);

  const result: BenchResult = {
    command, quick, source, machine, dirtySources: dirty, iperf3: iperfVersion, sockperf: `sockperf ${sockperfVersion}`,
    settings: { ...SETTINGS, pingIntervalSeconds: PING_INTERVAL, latencyPingIntervalSeconds: LATENCY_PING_INTERVAL, udpPayload: UDP_PAYLOAD },
    ping: Object.fromEntries(Object.entries(pings).map(([id, p]) => [id, { sent: p.sent, received: p.times.length, median: median(p.times), p10: quantile(p.times, 0.1), p90: quantile(p.times, 0.9) }])),
    tcp, udp: searches.map((s) => s.summary()), engines, idleForwarderCpu, latency,
    ...(ablation ? { ablation: { tcp: ablationTcp, tapTso: tapTsoOf }, parallel } : {}),
    rss: { idleKiB: rssIdleKiB, idleFfKiB: rssIdleFfKiB, beforeGarbageKiB: rssBeforeGarbageKiB, peakDuringGarbageKiB: rssPeakKiB, afterGarbageKiB: rssAfterGarbageKiB, garbageSent: garbageReport.sent, garbageMs: garbageReport.ms, pingAfter: `${after.times.length}/5` },
    durationSeconds: 0,
  };

  // The measured pairs go before profiling, so the profiled forwarders run alone.
  await lab.cleanup();
  if (values.profile) result.profile = await profileRuns();
  result.durationSeconds = Math.round((performance.now() - started) / 1000);
  result.loadAverageAtEnd = os.loadavg().map((load) => Math.round(load * 100) / 100);
  const builtNow = distBuiltAt();
  if (source === 'dist' && builtNow !== machine.distBuiltAt) {
    result.distRebuiltDuringRun = builtNow;
    console.error(`\n!!! dist/ was rebuilt during the run (${machine.distBuiltAt} → ${builtNow}): forwarders started after that ran the new build\n`);
  }

  console.log(`\n${forwarderMarkdown(result)}`);
  const outPath = values.out ?? join(REPO_ROOT, `bench/results/forwarder${quick ? '-quick' : ''}.json`);
  mkdirSync(dirname(outPath), { recursive: true });
  writeFileSync(outPath, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`results written to ${relative(process.cwd(), outPath) || outPath}`);
  if (values['write-benchmarks']) writeBenchmarks(outPath);
}

try {
  await main();
} catch (error) {
  // After Ctrl-C the failures are of the processes the signal stopped: not worth a stack.
  if (!interrupted) console.error(`bench:forwarder failed: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 1;
} finally {
  await lab.cleanup();
}
