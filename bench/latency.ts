/**
 * Round trips through the forwarder next to the kernel's, in one run (root only):
 *   npm run bench:latency                        (builds first; ~4 minutes)
 *   node --import tsx bench/latency.ts [--quick] [--paths kernel,fkDefault,…] [--rounds N] [--throughput] [--cli FILE | --source src] [--idle-only] [--out FILE]
 *
 * In network namespaces it makes (and always removes), pairs of hosts A and B joined by a veth
 * with Linux's default offloads (nothing is turned off), VNI 42 over port 4789:
 *   kernel          the kernel's vxlan on both hosts (the reference)
 *   fkDefault       `vxlan-wasm forward` with no flags on A (one queue worker, run to completion;
 *                   tunnel GSO where the kernel takes it), the kernel's vxlan on B
 *   fkNoTunnelGso   the same with --no-tunnel-gso (the socket path both ways)
 *   fkMain          `vxlan-wasm forward --queues 0` on A (the main thread, with reader threads)
 *   ffDefault       `vxlan-wasm forward` with no flags on both hosts
 * and, only when named in --paths:
 *   fkNoBusyPoll    `vxlan-wasm forward --busy-poll-us 0` on A (the queue worker sleeps as soon as
 *                   nothing is waiting), the kernel's vxlan on B; ffNoBusyPoll: on both hosts
 *   fkNoIdleWake    `vxlan-wasm forward --idle-wake-ms 0` on A (the idle queue worker sleeps until a
 *                   frame comes, no wake every 5 ms), the kernel's vxlan on B; ffNoIdleWake: on both
 *   fkLateOpt       `node --interrupt-budget=67584 --wasm-dynamic-tiering` for the forwarder on A:
 *                   V8's usual optimization budgets, which it keeps (see optimizeEarly in
 *                   src/forwarder/io/early-optimization.ts); ffLateOpt: on both hosts
 *   fkNative        on A, bench/native/tap-vxlan.c: a minimal forwarder in C (one thread, poll, a
 *                   syscall per frame, nothing else), the kernel's vxlan on B: what a round trip
 *                   costs any userspace forwarder on this machine (built with gcc, which the
 *                   default set of paths does not need); ffNative: on both hosts
 * Each pair is first timed just started (200 pings 10 ms apart, then 400: V8 has not yet optimised the code
 * on a frame's way), then warmed up with 2,000 pings 1 ms apart, so that the rounds measure a
 * forwarder that has been running;
 * and for each, from A to B's overlay address: ping (`ping -i 0.01`), `sockperf ping-pong` over TCP
 * and over UDP (round trips: --full-rtt), p50 and p99, first idle, then while an iperf3 TCP stream
 * runs from B to A (the other way). Then idle pings 1, 10, 20 and 100 ms apart, with the forwarders'
 * CPU per ping (/proc/PID/task/TID/schedstat, less their idle CPU): how much of a round trip is
 * the forwarder waking cold after idling (caches gone cold, code back in V8's baseline tier).
 * `--throughput` adds iperf3 TCP both ways (interleaved rounds, medians), to check that a change
 * for latency costs no bandwidth. `--udp64` adds 64-byte UDP from A to B (into the forwarder's TAP,
 * out to B) offered at UDP64_OFFERED_PPS, the rate delivered (interleaved rounds, medians): the
 * small-frame rate, where per-pass costs (poll, pump, sendmmsg) dominate.
 *
 * Output: progress lines, a markdown table (ms; "added" is p50 minus kernel ↔ kernel's p50 of the
 * same run), and JSON in bench/results/latency.json (--quick: latency-quick.json). `--cli FILE`
 * times another build (e.g. an older commit's bin/vxlan-wasm.mjs) for a before/after.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { machineInfo } from './lib/machine';
import { iperf3, Lab, labUnusable, REPO_ROOT, run, sleep, type LabProcess } from '../test/helpers/netns';
import { iperf3Udp, median, pingTimes, quantile, sockperfPingPong } from './forwarder/measure';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    paths: { type: 'string' },
    rounds: { type: 'string' },
    'tcp-rounds': { type: 'string' },
    tag: { type: 'string', default: 'latb' },
    throughput: { type: 'boolean', default: false },
    udp64: { type: 'boolean', default: false },
    'rates-only': { type: 'boolean', default: false },
    cli: { type: 'string' },
    source: { type: 'string', default: 'dist' },
    'idle-only': { type: 'boolean', default: false },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

interface PathConfig {
  id: string;
  label: string;
  /** The forwarder's CLI flags on A (undefined: the kernel's vxlan), and on B when `both`. */
  flags?: readonly string[];
  both?: boolean;
  /** On A, bench/native/tap-vxlan.c instead of vxlan-wasm (flags unused): the floor of any userspace forwarder here. */
  native?: boolean;
  /** Node's own flags for the forwarder's process (before the CLI's script). */
  nodeFlags?: readonly string[];
  /** Run only when named in --paths (the default set needs no compiler and takes about 4 minutes). */
  optIn?: boolean;
}

const USUAL_V8_BUDGETS = ['--interrupt-budget=67584', '--wasm-dynamic-tiering'];
const PATHS: readonly PathConfig[] = [
  { id: 'kernel', label: 'kernel vxlan ↔ kernel vxlan' },
  { id: 'fkDefault', label: 'forwarder (defaults: one queue worker, tunnel GSO) ↔ kernel', flags: [] },
  { id: 'fkNoTunnelGso', label: 'forwarder `--no-tunnel-gso` ↔ kernel', flags: ['--no-tunnel-gso'] },
  { id: 'fkMain', label: 'forwarder `--queues 0` (main thread, reader threads) ↔ kernel', flags: ['--queues', '0'] },
  { id: 'ffDefault', label: 'forwarder ↔ forwarder (defaults)', flags: [], both: true },
  { id: 'fkNoBusyPoll', label: 'forwarder `--busy-poll-us 0` ↔ kernel', flags: ['--busy-poll-us', '0'], optIn: true },
  { id: 'ffNoBusyPoll', label: 'forwarder ↔ forwarder, both `--busy-poll-us 0`', flags: ['--busy-poll-us', '0'], both: true, optIn: true },
  { id: 'fkNoIdleWake', label: 'forwarder `--idle-wake-ms 0` ↔ kernel', flags: ['--idle-wake-ms', '0'], optIn: true },
  { id: 'ffNoIdleWake', label: 'forwarder ↔ forwarder, both `--idle-wake-ms 0`', flags: ['--idle-wake-ms', '0'], both: true, optIn: true },
  // V8's usual optimization budgets (the forwarder lowers them unless the process was given its own: optimizeEarly).
  { id: 'fkLateOpt', label: 'forwarder with V8\'s usual budgets (`node --interrupt-budget=67584 --wasm-dynamic-tiering`) ↔ kernel', flags: [], nodeFlags: USUAL_V8_BUDGETS, optIn: true },
  { id: 'ffLateOpt', label: 'forwarder ↔ forwarder, both with V8\'s usual budgets', flags: [], nodeFlags: USUAL_V8_BUDGETS, both: true, optIn: true },
  { id: 'fkNative', label: 'a minimal forwarder in C (bench/native/tap-vxlan.c) ↔ kernel', flags: [], native: true, optIn: true },
  { id: 'ffNative', label: 'the minimal forwarder in C on both hosts', flags: [], native: true, both: true, optIn: true },
];

if (values.help) {
  console.log('usage: node --import tsx bench/latency.ts [--quick] [--paths ID,…] [--rounds N] [--throughput] [--cli FILE] [--out FILE]');
  console.log(`  --paths ID,…     which paths (default all but fkNoBusyPoll, ffNoBusyPoll, fkNoIdleWake, ffNoIdleWake, fkLateOpt, ffLateOpt, fkNative and ffNative; the last two need gcc): ${PATHS.map((path) => path.id).join(', ')}`);
  console.log('  --quick          shorter runs (100 pings, sockperf 2 s): a smoke run, figures not for quoting');
  console.log('  --rounds N       measure every path N times, interleaved (default 1); a figure is the median of the rounds');
  console.log('  --throughput     also iperf3 TCP both ways (5 s, 3 interleaved rounds, medians)');
  console.log('  --tcp-rounds N   interleaved rounds of --throughput and --udp64 (default 3)');
  console.log('  --tag TAG        the Lab tag of the namespaces (default latb; another engineer\'s run at the same time takes another)');
  console.log('  --rates-only     measure no round trips: only --throughput and --udp64 (for a quick before/after of a rate)');
  console.log('  --udp64          also 64-byte UDP A → B offered at 400k datagrams/s: the rate delivered (5 s, 3 interleaved rounds, medians)');
  console.log('  --cli FILE       the forwarder to run (default bin/vxlan-wasm.mjs of this checkout; run `npm run build` first)');
  console.log('  --source src     run the forwarder from the sources through tsx (test/forwarder/e2e/run-cli.ts) instead of a build');
  console.log('  --idle-only      measure idle round trips only (no iperf3 stream)');
  console.log('needs root: network namespaces, veth pairs, TAP and kernel vxlan devices; plus ip, ping, iperf3, sockperf');
  process.exit(0);
}
if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
  console.error('bench:latency needs root (network namespaces, veth pairs, TAP and kernel vxlan devices): run it as root.');
  process.exit(2);
}
const why = labUnusable('bench:latency', ['ping', 'iperf3', 'sockperf']);
if (why !== undefined) {
  console.error(`bench:latency cannot run here: ${why} (apt-get install iproute2 iputils-ping iperf3 sockperf).`);
  process.exit(2);
}
const CLI = values.cli ?? join(REPO_ROOT, 'bin/vxlan-wasm.mjs');
const fromSources = values.source === 'src';
if (!fromSources && (!existsSync(CLI) || (values.cli === undefined && !existsSync(join(REPO_ROOT, 'dist/cli.mjs'))))) {
  console.error(`bench:latency runs the built forwarder and ${values.cli ?? 'dist/cli.mjs'} does not exist: run \`npm run build\` first.`);
  process.exit(2);
}
const chosen = values.paths === undefined ? PATHS.filter((path) => path.optIn !== true) : values.paths.split(',').map((id) => {
  const path = PATHS.find((candidate) => candidate.id === id.trim());
  if (path === undefined) {
    console.error(`--paths: no path "${id}" (there are ${PATHS.map((p) => p.id).join(', ')})`);
    process.exit(2);
  }
  return path;
});
const rounds = values.rounds === undefined ? 1 : Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 10) {
  console.error('--rounds is a whole number from 1 to 10');
  process.exit(2);
}
const tcpRounds = values['tcp-rounds'] === undefined ? (values.quick ? 1 : 3) : Number(values['tcp-rounds']);
if (!Number.isInteger(tcpRounds) || tcpRounds < 1 || tcpRounds > 10) {
  console.error('--tcp-rounds is a whole number from 1 to 10');
  process.exit(2);
}
const SETTINGS = values.quick ? { pings: 100, sockperfSeconds: 2, tcpSeconds: 3, tcpRounds } : { pings: 200, sockperfSeconds: 5, tcpSeconds: 5, tcpRounds };
const PING_INTERVAL_S = 0.01;
const VNI = 42;
const TAP = 'vxtap0';
const UNDERLAY = { a: '192.168.77.1', b: '192.168.77.2', prefix: 24 };
const OVERLAY = { a: '10.42.0.1', b: '10.42.0.2', prefix: 24 };
const SOCKPERF_PORT = 11111;
const IPERF_PORT = 5201;

const started = performance.now();
function progress(line: string): void {
  console.log(`[${((performance.now() - started) / 1000).toFixed(0).padStart(3)} s] ${line}`);
}

const lab = new Lab(values.tag);
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\n${signal}: stopping the forwarders, removing the namespaces…`);
    void lab.cleanup().finally(() => process.exit(130));
  });
}

interface Pair {
  path: PathConfig;
  a: string;
  b: string;
  forwarders: LabProcess[];
  /** The first pings after the start, and the twice as many after them (see makePair). */
  fresh: Quantiles;
  settling: Quantiles;
}

/** A measurement not taken (the tables print "–"). */
const NOT_MEASURED: Quantiles = { p50: NaN, p99: NaN, samples: 0 };

/** Pings 1 ms apart after the fresh measurement, before the rounds: enough for V8 to optimise a frame's way. */
const WARM_UP_PINGS = 2000;

/** bench/native/tap-vxlan.c built (gcc -O2) on first use: the floor forwarder of path fkNative. */
function nativeForwarder(): string {
  const source = join(REPO_ROOT, 'bench/native/tap-vxlan.c');
  const binary = join(REPO_ROOT, 'bench/native/tap-vxlan.out');
  try {
    run('gcc', ['-O2', '-o', binary, source]);
  } catch (error) {
    throw new Error(`fkNative needs gcc to build bench/native/tap-vxlan.c: ${(error as Error).message}`);
  }
  return binary;
}

async function startForwarder(ns: string, local: string, peer: string, overlay: string, flags: readonly string[], native = false, nodeFlags: readonly string[] = []): Promise<LabProcess> {
  const entry = [...nodeFlags, ...(fromSources ? ['--import', 'tsx', 'test/forwarder/e2e/run-cli.ts'] : [CLI, 'forward'])];
  const args = [...entry, '--tap', TAP, '--vni', String(VNI), '--local', local, '--peer', peer, '--mtu', '1450', '--log-level', 'info', ...flags];
  const proc = native
    ? lab.spawn(ns, nativeForwarder(), [TAP, String(VNI), local, peer, '4789', '1450'], { label: `tap-vxlan.c in ${ns}` })
    : lab.spawn(ns, process.execPath, args, { label: `vxlan-wasm forward ${flags.join(' ')} in ${ns}` });
  await proc.waitFor('its "forwarding" log line', () => proc.stderr.includes('"msg":"forwarding"'), 15_000);
  lab.addresses(ns, TAP, [`${overlay}/${OVERLAY.prefix}`]);
  return proc;
}

let pairCount = 0;
async function makePair(path: PathConfig): Promise<Pair> {
  const name = `${pairCount++}`;
  const a = lab.namespace(`${name}a`);
  const b = lab.namespace(`${name}b`);
  // Linux's defaults on both veth ends: transmit checksum offload on, as every veth is made.
  lab.veth(a, b, { a: [`${UNDERLAY.a}/${UNDERLAY.prefix}`], b: [`${UNDERLAY.b}/${UNDERLAY.prefix}`] });
  const forwarders: LabProcess[] = [];
  const kernel = (ns: string, local: string, remote: string, overlay: string) =>
    lab.kernelVxlan(ns, { vni: VNI, local, remote, address: `${overlay}/${OVERLAY.prefix}`, mtu: 1450 });
  if (path.flags === undefined) kernel(a, UNDERLAY.a, UNDERLAY.b, OVERLAY.a);
  else forwarders.push(await startForwarder(a, UNDERLAY.a, UNDERLAY.b, OVERLAY.a, path.flags, path.native === true, path.nodeFlags));
  if (path.flags !== undefined && path.both === true) forwarders.push(await startForwarder(b, UNDERLAY.b, UNDERLAY.a, OVERLAY.b, path.flags, path.native === true, path.nodeFlags));
  else kernel(b, UNDERLAY.b, UNDERLAY.a, OVERLAY.b);
  // ARP through the overlay and the forwarders' FDBs learned before anything is timed.
  const warm = pingTimes(lab, a, OVERLAY.b, 3, 0.1);
  if (warm.times.length === 0) throw new Error(`${path.id}: no ping reply from ${OVERLAY.b} through the tunnel`);
  const pair: Pair = { path, a, b, forwarders, fresh: NOT_MEASURED, settling: NOT_MEASURED };
  // Just started: V8 has not yet optimised the code on a frame's way (that takes a few hundred
  // frames), and is compiling it. Timed apart (the first pings, then twice as many after them:
  // what a lightly loaded forwarder meets in its first seconds), then warmed, so the rounds
  // measure a forwarder that has been running.
  if (!values['rates-only']) {
    pair.fresh = ping(pair);
    pair.settling = ping(pair, 2);
    pingTimes(lab, a, OVERLAY.b, WARM_UP_PINGS, 0.001);
  }
  return pair;
}

/** p50 and p99 of one measurement, in ms, and how many samples they are of. */
export interface Quantiles {
  p50: number;
  p99: number;
  samples: number;
}

function quantiles(times: readonly number[]): Quantiles {
  return { p50: quantile(times, 0.5), p99: quantile(times, 0.99), samples: times.length };
}

/** SETTINGS.pings pings (`multiple` times as many) 10 ms apart from A to B's overlay address. */
function ping(pair: Pair, multiple = 1): Quantiles {
  const { sent, times } = pingTimes(lab, pair.a, OVERLAY.b, SETTINGS.pings * multiple, PING_INTERVAL_S);
  if (times.length < sent * 0.9) throw new Error(`${pair.path.id}: only ${times.length} of ${sent} pings answered`);
  return quantiles(times);
}

/** sockperf ping-pong from A to B's overlay address (bench:forwarder's measurement, the same parser). */
function sockperf(pair: Pair, protocol: 'tcp' | 'udp'): Promise<Quantiles> {
  return sockperfPingPong(lab, { serverNs: pair.b, clientNs: pair.a, address: OVERLAY.b, protocol, seconds: SETTINGS.sockperfSeconds, port: SOCKPERF_PORT });
}

interface Measurement {
  ping: Quantiles;
  tcp: Quantiles;
  udp: Quantiles;
}

/** CPU time (ns) every thread of `pid` has run (schedstat's first field), summed. */
function processRunNs(pid: number): number {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended meanwhile
    }
  }
  return total;
}

const SWEEP = [
  { intervalS: 0.001, count: 500 },
  { intervalS: 0.01, count: 200 },
  { intervalS: 0.02, count: 150 },
  { intervalS: 0.1, count: 40 },
] as const;

interface SweepResult {
  intervalMs: number;
  ping: Quantiles;
  /** The forwarders' CPU per ping (µs: every thread of A's and B's forwarder processes), null for kernel ↔ kernel. */
  forwarderCpuUsPerPing: number | null;
}

/**
 * Idle pings at each SWEEP interval, with what they cost the forwarders in CPU: their CPU over the
 * run less what they spend idle over as long (measured first: the queue worker's timed wake-ups,
 * counters and timers), per ping.
 */
async function sweep(pair: Pair): Promise<SweepResult[]> {
  const cpuNs = () => pair.forwarders.reduce((sum, proc) => sum + processRunNs(proc.pid), 0);
  const idleStart = cpuNs();
  const idleWall = performance.now();
  await sleep(2000);
  const idleNsPerMs = (cpuNs() - idleStart) / (performance.now() - idleWall);
  return SWEEP.map(({ intervalS, count }) => {
    const cpu0 = cpuNs();
    const wall0 = performance.now();
    const { sent, times } = pingTimes(lab, pair.a, OVERLAY.b, values.quick ? Math.ceil(count / 2) : count, intervalS);
    const busyNs = cpuNs() - cpu0 - idleNsPerMs * (performance.now() - wall0);
    if (times.length < sent * 0.9) throw new Error(`${pair.path.id}: only ${times.length} of ${sent} pings answered`);
    return { intervalMs: intervalS * 1000, ping: quantiles(times), forwarderCpuUsPerPing: pair.forwarders.length === 0 ? null : Math.max(0, busyNs) / 1000 / sent };
  });
}

interface RoundResult {
  path: string;
  round: number;
  idle: Measurement;
  load: Measurement;
  /** The iperf3 stream's rate while `load` was measured (Gbit/s). */
  loadGbps: number;
  sweep: SweepResult[];
}

async function measure(pair: Pair): Promise<Measurement> {
  return { ping: ping(pair), tcp: await sockperf(pair, 'tcp'), udp: await sockperf(pair, 'udp') };
}

/** `measure` while an iperf3 TCP stream runs from B to A (the other way), for as long as it takes. */
async function underLoad(pair: Pair): Promise<{ measurement: Measurement; gbps: number }> {
  const seconds = Math.ceil(SETTINGS.pings * PING_INTERVAL_S * 2 + SETTINGS.sockperfSeconds * 2 + 6);
  const server = lab.spawn(pair.a, 'iperf3', ['-s', '-1', '--forceflush', '-B', OVERLAY.a, '-p', String(IPERF_PORT)], { label: 'iperf3 server (load)' });
  try {
    await server.waitFor('"Server listening"', () => server.stdout.includes('Server listening'), 5000);
    const client = lab.spawn(pair.b, 'iperf3', ['-c', OVERLAY.a, '-p', String(IPERF_PORT), '-t', String(seconds), '-J', '--connect-timeout', '3000'], { label: 'iperf3 client (load)' });
    try {
      await sleep(1000);
      const measurement = await measure(pair);
      client.signal('SIGINT');
      await client.wait(5000);
      // Interrupted, iperf3 still prints its per-second intervals (its summary may be empty): their mean.
      let gbps = NaN;
      try {
        const intervals = (JSON.parse(client.stdout) as { intervals?: { sum: { bits_per_second: number } }[] }).intervals ?? [];
        if (intervals.length > 0) gbps = intervals.reduce((sum, interval) => sum + interval.sum.bits_per_second, 0) / intervals.length / 1e9;
      } catch {
        // No JSON at all: the rate is unknown, the latencies stand.
      }
      return { measurement, gbps };
    } finally {
      await client.stop(1000);
    }
  } finally {
    await server.stop(500);
  }
}

/** One direction of one path over the rounds: Gbit/s, and each forwarder's CPU (every thread) per Gbit carried, A's then B's. */
interface ThroughputResult {
  path: string;
  direction: 'ab' | 'ba';
  gbps: number[];
  /** CPU seconds per Gbit (= CPU ms per 1 Gbit/s·s): [A's forwarder, B's forwarder] per round; [] for a kernel side. */
  cpuSecondsPerGbit: number[][];
}

async function throughput(pairs: readonly Pair[]): Promise<ThroughputResult[]> {
  const results: ThroughputResult[] = pairs.flatMap((pair) => (['ab', 'ba'] as const).map((direction) => ({ path: pair.path.id, direction, gbps: [] as number[], cpuSecondsPerGbit: [] as number[][] })));
  for (let round = 0; round < SETTINGS.tcpRounds; round++) {
    for (const pair of pairs) for (const direction of ['ab', 'ba'] as const) {
      const before = pair.forwarders.map((proc) => processRunNs(proc.pid));
      const result = await iperf3(lab, { serverNs: pair.b, serverAddress: OVERLAY.b, clientNs: pair.a, seconds: SETTINGS.tcpSeconds, reverse: direction === 'ba' });
      // The whole run's CPU (connect and teardown too) over the bits carried: which side works harder per bit.
      const cpu = pair.forwarders.map((proc, i) => (processRunNs(proc.pid) - before[i]!) / 1e9 / (result.bytes * 8 / 1e9));
      const entry = results.find((r) => r.path === pair.path.id && r.direction === direction)!;
      entry.gbps.push(result.gbps);
      entry.cpuSecondsPerGbit.push(cpu);
      const sides = cpu.length === 0 ? '' : ` (forwarder CPU s per Gbit: ${cpu.map((c, i) => `${i === 0 ? 'A' : 'B'} ${c.toFixed(3)}`).join(', ')})`;
      progress(`throughput round ${round + 1}: ${pair.path.id} ${direction === 'ab' ? 'A → B' : 'B → A'} ${result.gbps.toFixed(2)} Gbit/s${sides}`);
    }
  }
  return results;
}

/** 64-byte UDP offered from A (datagrams/s): above what any path here carries, so the delivered rate is the path's. */
const UDP64_OFFERED_PPS = 400_000;

async function udp64(pairs: readonly Pair[]): Promise<{ path: string; kpps: number[] }[]> {
  const results = pairs.map((pair) => ({ path: pair.path.id, kpps: [] as number[] }));
  for (let round = 0; round < SETTINGS.tcpRounds; round++) {
    for (const pair of pairs) {
      const step = await iperf3Udp(lab, { serverNs: pair.b, serverAddress: OVERLAY.b, clientNs: pair.a, pps: UDP64_OFFERED_PPS, payload: 64, seconds: SETTINGS.tcpSeconds });
      results.find((r) => r.path === pair.path.id)!.kpps.push(step.receivedPps / 1000);
      progress(`64-byte UDP round ${round + 1}: ${pair.path.id} sent ${(step.sentPps / 1000).toFixed(0)}k/s, delivered ${(step.receivedPps / 1000).toFixed(0)}k/s`);
    }
  }
  return results;
}

const fmt = (ms: number): string => (Number.isFinite(ms) ? ms.toFixed(3) : '–');

function table(results: readonly RoundResult[], freshOf: ReadonlyMap<string, { fresh: Quantiles; settling: Quantiles }>): string {
  const kinds = ['ping', 'tcp', 'udp'] as const;
  const names = { ping: 'ping', tcp: 'sockperf TCP', udp: 'sockperf UDP' };
  const med = (path: string, state: 'idle' | 'load', kind: (typeof kinds)[number], q: 'p50' | 'p99'): number =>
    median(results.filter((r) => r.path === path).map((r) => r[state][kind][q]));
  const lines: string[] = [];
  for (const state of ['idle', 'load'] as const) {
    lines.push('', state === 'idle' ? '**Idle** (round trip in ms, p50 / p99; added: p50 minus kernel ↔ kernel\'s)' : '**During an iperf3 TCP stream B → A** (the other way; round trip in ms, p50 / p99)', '');
    lines.push(`| path | ${kinds.map((kind) => `${names[kind]} p50 / p99 | added`).join(' | ')} |`);
    lines.push(`|---|${kinds.map(() => '---|---').join('|')}|`);
    for (const path of chosen) {
      const cells = kinds.map((kind) => {
        const p50 = med(path.id, state, kind, 'p50');
        const base = med('kernel', state, kind, 'p50');
        const added = path.id === 'kernel' || !Number.isFinite(base) ? '' : `${p50 - base >= 0 ? '+' : ''}${fmt(p50 - base)}`;
        return `${fmt(p50)} / ${fmt(med(path.id, state, kind, 'p99'))} | ${added}`;
      });
      lines.push(`| ${path.label} | ${cells.join(' | ')} |`);
    }
  }
  lines.push('', `**Just started** (the first ${SETTINGS.pings} pings ${PING_INTERVAL_S * 1000} ms apart after the forwarder's start, before any other traffic; then the next ${SETTINGS.pings * 2}; then ${WARM_UP_PINGS} pings 1 ms apart warm it up for the rounds): ${chosen.map((path) => {
    const start = freshOf.get(path.id);
    return start === undefined ? '' : `${path.id} ${fmt(start.fresh.p50)} / ${fmt(start.fresh.p99)}, then ${fmt(start.settling.p50)} / ${fmt(start.settling.p99)}`;
  }).filter((text) => text !== '').join('; ')} (ping p50 / p99, ms).`);
  lines.push('', '**Idle pings by interval** (round trip p50 / p99 in ms; the forwarders\' CPU per ping in µs, every thread, less their idle CPU over as long): a forwarder that idles longer wakes colder', '');
  lines.push(`| path | ${SWEEP.map((step) => `every ${step.intervalS * 1000} ms | CPU/ping`).join(' | ')} |`);
  lines.push(`|---|${SWEEP.map(() => '---|---').join('|')}|`);
  for (const path of chosen) {
    const cells = SWEEP.map((_, i) => {
      const of = results.filter((r) => r.path === path.id).map((r) => r.sweep[i]);
      const cpu = of.map((r) => r.forwarderCpuUsPerPing).filter((x): x is number => x !== null);
      return `${fmt(median(of.map((r) => r.ping.p50)))} / ${fmt(median(of.map((r) => r.ping.p99)))} | ${cpu.length === 0 ? '' : median(cpu).toFixed(0)}`;
    });
    lines.push(`| ${path.label} | ${cells.join(' | ')} |`);
  }
  const load = chosen.map((path) => `${path.id} ${median(results.filter((r) => r.path === path.id).map((r) => r.loadGbps)).toFixed(2)}`);
  lines.push('', `The load stream's rate (Gbit/s, median): ${load.join(', ')}.`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  console.log('# vxlan-wasm round trips: forwarder next to the kernel');
  console.log(`forwarder: ${fromSources ? 'the sources (test/forwarder/e2e/run-cli.ts through tsx)' : relative(REPO_ROOT, CLI) || CLI}; machine: ${JSON.stringify(machineInfo())}`);
  let commit = 'unknown';
  try {
    commit = run('git', ['-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD']).trim();
  } catch {
    // not a git checkout
  }
  progress(`making namespaces: ${chosen.map((path) => path.id).join(', ')}`);
  const pairs: Pair[] = [];
  for (const path of chosen) pairs.push(await makePair(path));
  const results: RoundResult[] = [];
  for (let round = 0; round < (values['rates-only'] ? 0 : rounds); round++) {
    for (const pair of pairs) {
      progress(`round ${round + 1}: ${pair.path.id} idle`);
      const idle = await measure(pair);
      let load = idle;
      let gbps = NaN;
      if (pair.path.native === true || values['idle-only']) {
        // Not measured (--idle-only; and the floor forwarder has no offloads: a stream through it
        // measures its bandwidth, not a round trip's tail): the table says "–".
        load = { ping: NOT_MEASURED, tcp: NOT_MEASURED, udp: NOT_MEASURED };
      } else {
        progress(`round ${round + 1}: ${pair.path.id} under load`);
        ({ measurement: load, gbps } = await underLoad(pair));
      }
      progress(`round ${round + 1}: ${pair.path.id} ping at ${SWEEP.map((step) => `${step.intervalS * 1000} ms`).join(', ')} intervals`);
      results.push({ path: pair.path.id, round, idle, load, loadGbps: gbps, sweep: await sweep(pair) });
      progress(`  ping p50 ${fmt(idle.ping.p50)} ms (load ${fmt(load.ping.p50)}), sockperf TCP p50 ${fmt(idle.tcp.p50)} ms (load ${fmt(load.tcp.p50)}), UDP p50 ${fmt(idle.udp.p50)} ms (load ${fmt(load.udp.p50)})`);
    }
  }
  // The floor forwarder (no offloads) is for round trips only.
  const rated = pairs.filter((pair) => pair.path.native !== true);
  const tcp = values.throughput ? await throughput(rated) : undefined;
  const small = values.udp64 ? await udp64(rated) : undefined;
  const markdown = [
    `Round trips from A to B's overlay address, ${rounds} round${rounds > 1 ? 's' : ''} (medians of rounds), ${values.cli === undefined ? `commit ${commit}` : `the forwarder of ${values.cli} (this checkout: commit ${commit})`}, veths with Linux's default offloads.`,
    `Measured with \`${process.env.npm_lifecycle_event === 'bench:latency' ? 'npm run bench:latency' : 'node --import tsx bench/latency.ts'}${argv.length > 0 ? ` ${argv.join(' ')}` : ''}\`: ping -c ${SETTINGS.pings} -i ${PING_INTERVAL_S}; sockperf ping-pong -t ${SETTINGS.sockperfSeconds} --full-rtt (TCP and UDP).`,
    ...(results.length === 0 ? [] : [table(results, new Map(pairs.map((pair) => [pair.path.id, { fresh: pair.fresh, settling: pair.settling }])))]),
    ...(small === undefined ? [] : ['', `**64-byte UDP A → B** (offered ${UDP64_OFFERED_PPS / 1000}k/s, ${SETTINGS.tcpSeconds} s, ${SETTINGS.tcpRounds} interleaved rounds, median k datagrams/s delivered): ${small.map((u) => `${u.path} ${median(u.kpps).toFixed(0)}`).join(', ')}.`]),
    ...(tcp === undefined ? [] : ['', `**iperf3 TCP** (${SETTINGS.tcpSeconds} s, ${SETTINGS.tcpRounds} interleaved rounds, median Gbit/s; forwarders' median CPU s per Gbit, A / B): ${tcp.map((t) => `${t.path} ${t.direction === 'ab' ? 'A→B' : 'B→A'} ${median(t.gbps).toFixed(2)}${t.cpuSecondsPerGbit[0]!.length === 0 ? '' : ` (${t.cpuSecondsPerGbit[0]!.map((_, i) => median(t.cpuSecondsPerGbit.map((c) => c[i]!)).toFixed(3)).join(' / ')})`}`).join(', ')}.`]),
  ].join('\n');
  console.log(`\n${markdown}`);
  const out = values.out ?? join(REPO_ROOT, `bench/results/latency${values.quick ? '-quick' : ''}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({ commit, date: new Date().toISOString(), cli: CLI, settings: SETTINGS, rounds, paths: chosen, fresh: pairs.map((pair) => ({ path: pair.path.id, ping: pair.fresh, settling: pair.settling })), results, throughput: tcp, udp64: small, markdown }, null, 2)}\n`);
  console.log(`\nJSON: ${relative(REPO_ROOT, out)}`);
}

main().then(
  () => lab.cleanup(),
  async (error: unknown) => {
    console.error(error);
    await lab.cleanup();
    process.exitCode = 1;
  },
);
