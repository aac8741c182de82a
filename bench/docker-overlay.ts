/**
 * Containers on two Docker hosts, through each contender's network, beside the bare kernel path
 * (issue 20, item 6). Root only:
 *   npm run bench:docker                        (builds first; ~3 minutes with swarm alone)
 *   node --import tsx bench/docker-overlay.ts [--contenders swarm,vxlan-wasm] [--repeats N] [--quick] [--no-kernel] [--source dist|src]
 *                                             [--write-benchmarks] [--out FILE] [--report-from FILE]
 *
 * Two Docker daemons in namespaces (test/helpers/docker-hosts.ts: a veth each to a bridge), then
 * per contender (bench/docker/contender.ts) its network on both hosts and one container on each
 * (`bench-ID-1` on h1, `bench-ID-2` on h2), and the kernel reference (bench/docker/kernel.ts: a
 * vxlan device in each host namespace). For every path, interleaved (kernel, swarm, …, kernel, …)
 * and repeated: iperf3 TCP both ways, ping round trips (median, p99), sockperf TCP ping-pong (p50,
 * p99) and, for the Docker networks, the time from `docker run --name X` on h1 until X resolves in
 * the container on h2 (bench/docker/measure.ts). Medians of the repetitions.
 *
 * Contenders: `swarm` (Docker's own overlay: bench/docker/swarm.ts) by default;
 * `vxlan-wasm` (this project's Docker driver: bench/docker/vxlan-wasm.ts) only when asked for with
 * --contenders, since it needs `vxlan-wasm agent --docker`, which is being built (issue 20).
 *
 * Output: progress lines, then a markdown report; JSON in bench/results/docker-overlay.json
 * (--quick: docker-overlay-quick.json) and the report beside it (.md); the charts
 * bench/charts/docker-overlay-tcp.svg, docker-overlay-latency.svg and docker-overlay-names.svg (not for --quick); `--write-benchmarks`
 * puts the report into BENCHMARKS.md between its markers.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { distProblem } from './lib/dist';
import { machineInfo } from './lib/machine';
import { REPO_ROOT } from '../test/helpers/netns';
import { BUSYBOX_IMAGE, dockerUnusable, startDockerHosts, type DockerHost, type DockerHosts } from '../test/helpers/docker-hosts';
import type { Contender } from './docker/contender';
import { setUpKernelReference, tearDownKernelReference } from './docker/kernel';
import { iperf3Tcp, nameResolution, pingRoundTrips, sockperfPingPong, type Endpoint } from './docker/measure';
import {
  dockerLatencyChart, dockerNamesChart, dockerOverlayMarkdown, dockerTcpChart, KERNEL_PATH, writeBenchmarksSection,
  type DockerOverlayResult, type PathInfo, type RoundResult,
} from './docker/report';
import { swarmContender } from './docker/swarm';
import { vxlanWasmContender } from './docker/vxlan-wasm';

const KNOWN: Record<string, () => Contender> = {
  swarm: () => swarmContender(),
  'vxlan-wasm': () => vxlanWasmContender({ source: values.source === 'src' ? 'src' : 'dist' }),
};

const { values } = parseArgs({
  options: {
    contenders: { type: 'string', default: 'swarm' },
    repeats: { type: 'string' },
    quick: { type: 'boolean', default: false },
    'no-kernel': { type: 'boolean', default: false },
    source: { type: 'string', default: 'dist' },
    'write-benchmarks': { type: 'boolean', default: false },
    out: { type: 'string' },
    'report-from': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log('usage: node --import tsx bench/docker-overlay.ts [--contenders swarm,vxlan-wasm] [--repeats N] [--quick] [--no-kernel] [--source dist|src] [--write-benchmarks] [--out FILE] [--report-from FILE]');
  console.log(`  --contenders LIST   which networks, comma-separated, of: ${Object.keys(KNOWN).join(', ')} (default swarm; vxlan-wasm needs its driver)`);
  console.log('  --repeats N         repetitions of every measurement, interleaved across paths (default 3; --quick 1)');
  console.log('  --quick             a smoke run: one repetition, 2 s loads; figures not for quoting, no charts');
  console.log('  --no-kernel         leave out the kernel vxlan reference row');
  console.log("  --source dist|src   vxlan-wasm's agent from dist/ (default: bin/vxlan-wasm.mjs, run `npm run build` first) or from src/ through tsx");
  console.log("  --write-benchmarks  put this run's report into BENCHMARKS.md (between its markers)");
  console.log("  --report-from FILE  measure nothing: print the report of an earlier run's JSON (and draw its charts)");
  console.log('needs root: network namespaces and two dockerd (Debian docker.io, busybox-static), iperf3, sockperf, ping');
  process.exit(0);
}

const resultsDir = join(REPO_ROOT, 'bench/results');
const chartsDir = join(REPO_ROOT, 'bench/charts');
const CHARTS = [
  ['docker-overlay-tcp.svg', dockerTcpChart, 'Containers across two Docker hosts: iperf3 TCP'],
  ['docker-overlay-latency.svg', dockerLatencyChart, 'Containers across two Docker hosts: round trips'],
  ['docker-overlay-names.svg', dockerNamesChart, 'From docker run on one host to the name resolving on the other'],
] as const;

/** The report with the charts above it, as BENCHMARKS.md shows it. */
function reportWithCharts(result: DockerOverlayResult): string {
  const images = CHARTS.map(([file, , alt]) => `![${alt}](bench/charts/${file})`).join('\n\n');
  return `${images}\n\n${dockerOverlayMarkdown(result)}`;
}

function publish(result: DockerOverlayResult, jsonPath: string | undefined): void {
  const report = dockerOverlayMarkdown(result);
  console.log(`\n${report}\n`);
  if (jsonPath !== undefined) {
    mkdirSync(dirname(jsonPath), { recursive: true });
    writeFileSync(jsonPath, `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(jsonPath.replace(/\.json$/, '.md'), `${report}\n`);
    console.log(`wrote ${relative(process.cwd(), jsonPath)} and its .md`);
  }
  if (!result.settings.quick) {
    for (const [file, draw] of CHARTS) {
      writeFileSync(join(chartsDir, file), draw(result));
      console.log(`wrote ${relative(process.cwd(), join(chartsDir, file))}`);
    }
  }
  if (values['write-benchmarks']) {
    const path = join(REPO_ROOT, 'BENCHMARKS.md');
    writeFileSync(path, writeBenchmarksSection(readFileSync(path, 'utf8'), reportWithCharts(result)));
    console.log('wrote the report into BENCHMARKS.md');
  }
}

if (values['report-from'] !== undefined) {
  publish(JSON.parse(readFileSync(values['report-from'], 'utf8')) as DockerOverlayResult, undefined);
  process.exit(0);
}

const ids = values.contenders.split(',').map((id) => id.trim()).filter(Boolean);
const unknown = ids.filter((id) => !(id in KNOWN));
if (unknown.length > 0) {
  console.error(`--contenders: ${unknown.join(', ')} unknown; known: ${Object.keys(KNOWN).join(', ')}`);
  process.exit(2);
}
const quick = values.quick;
const repeats = values.repeats !== undefined ? Number(values.repeats) : quick ? 1 : 3;
if (!(Number.isInteger(repeats) && repeats >= 1 && repeats <= 20)) {
  console.error(`--repeats: ${values.repeats} is not a whole number from 1 to 20`);
  process.exit(2);
}
const settings = {
  repeats,
  tcpSeconds: quick ? 2 : 5,
  pingCount: quick ? 50 : 200,
  pingIntervalSeconds: 0.01,
  sockperfSeconds: quick ? 1 : 3,
  quick,
  contenders: ids,
  source: values.source === 'src' ? ('src' as const) : ('dist' as const),
};

const why = dockerUnusable();
if (why !== undefined) {
  console.error(`bench:docker cannot run here: ${why}`);
  process.exit(1);
}
if (ids.includes('vxlan-wasm') && values.source !== 'src') {
  const stale = distProblem();
  if (stale !== null) console.warn(`\n*** ${stale} (the vxlan-wasm agent runs from dist/) ***\n`);
}

const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
const machine = machineInfo();
const lab: DockerHosts = await startDockerHosts({ count: 2, prefix: 'vwdkb', etcd: ids.includes('vxlan-wasm') });
log(`two daemons up in ${lab.timings.daemonsMs} ms (harness ${lab.timings.totalMs} ms)`);
// Ctrl-C: the helper's own handler removes the hosts (synchronously) and exits.

interface Path {
  info: PathInfo;
  /** The endpoints on h1 and h2. */
  ends?: [Endpoint, Endpoint];
  contender?: Contender;
}

const [h1, h2] = lab.hosts;
const paths: Path[] = [];
let namesMade = 0;

/** A container on `host` on the contender's network, as an endpoint (its namespace and address). */
async function containerEndpoint(contender: Contender, host: DockerHost, name: string): Promise<Endpoint> {
  await host.dockerOk(['run', '-d', '--name', name, '--network', contender.network, ...contender.runArgs(host), BUSYBOX_IMAGE, 'sleep', '3600'], { timeoutMs: 60_000 });
  const address = (await host.dockerOk(['inspect', '-f', `{{(index .NetworkSettings.Networks "${contender.network}").IPAddress}}`, name])).trim();
  if (address === '') throw new Error(`${name} on ${host.name} has no address on ${contender.network}`);
  return { label: `${name} on ${host.name}`, netnsPath: `/proc/${await host.containerPid(name)}/ns/net`, address };
}

async function measureRound(path: Path, repeat: number): Promise<RoundResult> {
  const round: RoundResult = { path: path.info.id, repeat, errors: [] };
  const [a, b] = path.ends!;
  const attempt = async (what: string, body: () => Promise<void>) => {
    try {
      await body();
    } catch (error) {
      round.errors.push(`${what}: ${(error as Error).message.split('\n')[0].slice(0, 300)}`);
    }
  };
  await attempt('TCP h1 → h2', async () => {
    const tcp = await iperf3Tcp(a, b, settings.tcpSeconds);
    round.tcpForwardGbps = tcp.gbps;
    round.tcpForwardRetransmits = tcp.retransmits;
  });
  await attempt('TCP h2 → h1', async () => {
    const tcp = await iperf3Tcp(b, a, settings.tcpSeconds);
    round.tcpReverseGbps = tcp.gbps;
    round.tcpReverseRetransmits = tcp.retransmits;
  });
  await attempt('ping', async () => {
    const ping = await pingRoundTrips(b, a, settings.pingCount, settings.pingIntervalSeconds);
    Object.assign(round, { pingMedianMs: ping.medianMs, pingP99Ms: ping.p99Ms, pingReceived: ping.received, pingSent: ping.sent });
  });
  await attempt('sockperf', async () => {
    const rtt = await sockperfPingPong(b, a, settings.sockperfSeconds);
    Object.assign(round, { sockperfP50Us: rtt.p50Us, sockperfP99Us: rtt.p99Us });
  });
  const contender = path.contender;
  if (contender !== undefined) {
    await attempt('name', async () => {
      const name = `named-${contender.id}-${repeat}-${namesMade++}`;
      const resolved = await nameResolution(h1, h2, `bench-${contender.id}-2`, name, contender.network, contender.runArgs(h1));
      round.nameResolveMs = resolved.resolvedMs;
      round.dockerRunMs = resolved.runMs;
    });
  }
  const figures = [
    round.tcpForwardGbps !== undefined ? `TCP ${round.tcpForwardGbps.toFixed(2)}/${round.tcpReverseGbps?.toFixed(2) ?? '–'} Gbit/s` : undefined,
    round.pingMedianMs !== undefined ? `ping ${(round.pingMedianMs * 1000).toFixed(0)} µs (p99 ${((round.pingP99Ms ?? NaN) * 1000).toFixed(0)})` : undefined,
    round.sockperfP50Us !== undefined ? `sockperf ${round.sockperfP50Us.toFixed(0)}/${round.sockperfP99Us?.toFixed(0)} µs` : undefined,
    round.nameResolveMs !== undefined ? `name after ${round.nameResolveMs} ms (run ${round.dockerRunMs} ms)` : undefined,
  ].filter(Boolean);
  log(`${path.info.id} #${repeat}: ${figures.join(', ')}${round.errors.length > 0 ? `; FAILED: ${round.errors.join('; ')}` : ''}`);
  return round;
}

const rounds: RoundResult[] = [];
try {
  if (!values['no-kernel']) {
    paths.push({ info: { id: KERNEL_PATH, label: 'kernel vxlan, host ↔ host (no Docker)' }, ends: setUpKernelReference(lab) });
  }
  for (const id of ids) {
    const contender = KNOWN[id]();
    const info: PathInfo = { id, label: contender.label };
    const path: Path = { info, contender };
    paths.push(path);
    const started = Date.now();
    try {
      await contender.setUp(lab);
      info.setUpMs = Date.now() - started;
      path.ends = [await containerEndpoint(contender, h1, `bench-${id}-1`), await containerEndpoint(contender, h2, `bench-${id}-2`)];
      log(`${id}: set up in ${info.setUpMs} ms; ${path.ends[0].label} ${path.ends[0].address}, ${path.ends[1].label} ${path.ends[1].address}`);
    } catch (error) {
      info.error = (error as Error).message.split('\n').slice(0, 3).join(' ').slice(0, 500);
      log(`${id}: NOT MEASURED, set-up failed: ${info.error}`);
    }
  }
  // Warm-up: neighbours resolved and overlay state learnt before anything is timed.
  for (const path of paths.filter((p) => p.ends !== undefined)) await pingRoundTrips(path.ends![1], path.ends![0], 3, 0.05).catch(() => undefined);
  for (let repeat = 1; repeat <= repeats; repeat++) {
    for (const path of paths) {
      if (path.ends !== undefined) rounds.push(await measureRound(path, repeat));
    }
  }
} finally {
  // The containers first, while whatever serves their network still runs (a driver gone makes
  // Docker retry it on every removal), then the networks.
  for (const path of paths) {
    if (path.contender === undefined) continue;
    await h1.docker(['rm', '-f', `bench-${path.info.id}-1`], { timeoutMs: 60_000 });
    await h2.docker(['rm', '-f', `bench-${path.info.id}-2`], { timeoutMs: 60_000 });
    await path.contender.tearDown().catch(() => undefined);
  }
  if (!values['no-kernel']) tearDownKernelReference(lab);
  const problems = await lab.stop();
  if (problems.length > 0) console.warn(`docker-hosts stop: ${problems.join('; ')}`);
}

const result: DockerOverlayResult = { machine, settings, harness: lab.timings, paths: paths.map((p) => p.info), rounds };
publish(result, values.out ?? join(resultsDir, quick ? 'docker-overlay-quick.json' : 'docker-overlay.json'));
const failures = paths.filter((p) => p.info.error !== undefined).length + rounds.reduce((n, r) => n + r.errors.length, 0);
process.exit(failures > 0 ? 1 : 0);
