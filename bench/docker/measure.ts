// The measurements of bench/docker-overlay.ts, between two endpoints of a network: TCP with iperf3
// each way, ping round trips, sockperf TCP ping-pong, and the time from `docker run --name X` on
// one host until X resolves in a container on another. Busybox images carry neither iperf3 nor
// sockperf, so this machine's tools run inside an endpoint's network namespace (`nsenter
// --net=/proc/PID/ns/net` for a container; /run/netns/NAME for a host namespace). Every load is
// bounded: each command is killed after its own time plus a margin.
import { spawn, type ChildProcess } from 'node:child_process';
import { BUSYBOX_IMAGE, runCommand, type CommandResult, type DockerHost } from '../../test/helpers/docker-hosts';
import { median, quantile } from '../forwarder/measure';

/** One end of a measured path: a network namespace (by a path nsenter takes) and an address in it. */
export interface Endpoint {
  /** e.g. "c1 on h1", for messages. */
  label: string;
  /** /proc/PID/ns/net of a container, or /run/netns/NAME. */
  netnsPath: string;
  address: string;
}

/** `command args` in an endpoint's network namespace (and nothing else of it: this machine's files). */
export function inNetns(endpoint: Endpoint, command: string, args: readonly string[], timeoutMs: number): Promise<CommandResult> {
  return runCommand('nsenter', [`--net=${endpoint.netnsPath}`, '--', command, ...args], { timeoutMs });
}

/** A server started in an endpoint's namespace, its output kept, stopped with stop(). */
class Server {
  readonly child: ChildProcess;
  output = '';
  constructor(endpoint: Endpoint, command: string, args: readonly string[]) {
    this.child = spawn('nsenter', [`--net=${endpoint.netnsPath}`, '--', command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (this.output += chunk));
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.output += chunk));
  }

  /** Wait until the output matches (or the process ends, or `ms` pass: then throw). */
  async waitFor(pattern: RegExp, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pattern.test(this.output)) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`server exited before ${pattern}: ${this.output}`);
      if (Date.now() > deadline) throw new Error(`server printed no ${pattern} within ${ms} ms: ${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('close', resolve));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 1000);
    await exited;
    clearTimeout(timer);
  }
}

export interface TcpResult {
  gbps: number;
  retransmits: number | undefined;
}

/** iperf3 TCP for `seconds`: the client in `from` sends to a one-off server in `to`. */
export async function iperf3Tcp(from: Endpoint, to: Endpoint, seconds: number, port = 5201): Promise<TcpResult> {
  const server = new Server(to, 'iperf3', ['-s', '-1', '--forceflush', '-B', to.address, '-p', String(port)]);
  try {
    await server.waitFor(/Server listening/, 5000);
    const client = await inNetns(from, 'iperf3', ['-c', to.address, '-p', String(port), '-t', String(seconds), '-J', '--connect-timeout', '3000'], (seconds + 15) * 1000);
    let report: { error?: string; end?: { sum_received?: { bits_per_second: number }; sum_sent?: { retransmits?: number } } };
    try {
      report = JSON.parse(client.stdout);
    } catch {
      throw new Error(`iperf3 ${from.label} → ${to.label} (exit ${client.code}) printed no JSON: ${client.stdout.slice(0, 400)} ${client.stderr}`);
    }
    if (report.error !== undefined || report.end?.sum_received === undefined) {
      throw new Error(`iperf3 ${from.label} → ${to.label} failed: ${report.error ?? 'no sum_received'}; server: ${server.output.slice(-400)}`);
    }
    return { gbps: report.end.sum_received.bits_per_second / 1e9, retransmits: report.end.sum_sent?.retransmits };
  } finally {
    await server.stop();
  }
}

export interface PingResult {
  sent: number;
  received: number;
  medianMs: number;
  p99Ms: number;
}

/** `ping -c count -i interval` from one endpoint to the other; every reply's round trip. */
export async function pingRoundTrips(from: Endpoint, to: Endpoint, count: number, intervalSeconds: number): Promise<PingResult> {
  const result = await inNetns(from, 'ping', ['-n', '-c', String(count), '-i', String(intervalSeconds), '-W', '1', to.address], (count * intervalSeconds + 10) * 1000);
  const times = [...result.stdout.matchAll(/time=([\d.]+) ms/g)].map((match) => Number(match[1]));
  if (times.length === 0) throw new Error(`ping ${from.label} → ${to.label}: no reply: ${result.stdout.slice(-300)} ${result.stderr}`);
  return { sent: count, received: times.length, medianMs: median(times), p99Ms: quantile(times, 0.99) };
}

export interface SockperfResult {
  /** Full round trips (--full-rtt), µs. */
  p50Us: number;
  p99Us: number;
  observations: number;
}

/** sockperf ping-pong over TCP for `seconds`, the server in `to`; round-trip percentiles. */
export async function sockperfPingPong(from: Endpoint, to: Endpoint, seconds: number, port = 11111): Promise<SockperfResult> {
  const server = new Server(to, 'sockperf', ['server', '--tcp', '-i', to.address, '-p', String(port)]);
  try {
    await server.waitFor(/\[ ?0\] IP = /, 5000);
    const client = await inNetns(from, 'sockperf', ['ping-pong', '--tcp', '--full-rtt', '-i', to.address, '-p', String(port), '-t', String(seconds)], (seconds + 15) * 1000);
    const text = client.stdout + client.stderr;
    const percentile = (p: string) => Number(new RegExp(`percentile ${p.replace('.', '\\.')} =\\s+([\\d.]+)`).exec(text)?.[1]);
    const observations = Number(/Total (\d+) observations/.exec(text)?.[1]);
    const result = { p50Us: percentile('50.000'), p99Us: percentile('99.000'), observations };
    if (!(result.p50Us > 0) || !(result.p99Us > 0)) throw new Error(`sockperf ${from.label} → ${to.label} (exit ${client.code}): no percentiles: ${text.slice(-600)}`);
    return result;
  } finally {
    await server.stop();
  }
}

export interface NameResult {
  /** From just before `docker run` started to the first successful lookup on the other host. */
  resolvedMs: number;
  /** How long `docker run -d` itself took (the container created and started). */
  runMs: number;
  /** The address the lookup gave, checked against the container's own. */
  address: string;
}

/**
 * The time from `docker run -d --name NAME --network NETWORK` on `runOn` until NAME resolves from
 * the running container `prober` on `probeOn`. The prober polls with busybox's nslookup (its
 * /etc/resolv.conf: Docker's embedded DNS, whatever the network feeds it) every 20 ms, and is
 * started, and seen polling, before the clock starts. The new container is removed after.
 */
export async function nameResolution(
  runOn: DockerHost, probeOn: DockerHost, prober: string, name: string, network: string, runArgs: readonly string[], timeoutMs = 20_000,
): Promise<NameResult> {
  const loop = `echo polling; until nslookup ${name} >/dev/null 2>&1; do usleep 20000; done; echo resolved`;
  const probe = spawn('/usr/bin/docker', ['-H', `unix://${probeOn.socket}`, 'exec', prober, 'sh', '-c', loop], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let resolvedAt = NaN;
  probe.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
    if (Number.isNaN(resolvedAt) && output.includes('resolved')) resolvedAt = Date.now();
  });
  probe.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const killer = setTimeout(() => probe.kill('SIGKILL'), timeoutMs + 10_000);
  try {
    const waitUntil = async (predicate: () => boolean, what: string, ms: number) => {
      const deadline = Date.now() + ms;
      while (!predicate()) {
        if (probe.exitCode !== null || probe.signalCode !== null) throw new Error(`the prober in ${prober} on ${probeOn.name} exited before ${what}: ${output}`);
        if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms (prober: ${output.trim()})`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    };
    await waitUntil(() => output.includes('polling'), 'the prober polling', 10_000);
    // The name must not resolve yet (a stale name from an earlier round would make this 0).
    await new Promise((resolve) => setTimeout(resolve, 100));
    if (!Number.isNaN(resolvedAt)) throw new Error(`${name} resolved before it was run`);
    const started = Date.now();
    const run = await runOn.docker(['run', '-d', '--name', name, '--network', network, ...runArgs, BUSYBOX_IMAGE, 'sleep', '600'], { timeoutMs: 30_000 });
    const runMs = Date.now() - started;
    if (run.code !== 0) throw new Error(`docker run ${name} on ${runOn.name}: ${run.stderr.trim()}`);
    await waitUntil(() => !Number.isNaN(resolvedAt), `${name} resolving on ${probeOn.name}`, timeoutMs);
    // Validate before reporting: the name gives the new container's address.
    const own = (await runOn.dockerOk(['inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, name])).trim();
    const lookup = await probeOn.docker(['exec', prober, 'nslookup', name], { timeoutMs: 10_000 });
    // The server's own line ends in :53; the answers' lines end in the address.
    const addresses = [...lookup.stdout.matchAll(/^Address(?: \d+)?:\s+([\d.]+)\s*$/gm)].map((match) => match[1]);
    if (!addresses.includes(own)) throw new Error(`${name} resolved on ${probeOn.name} to ${addresses.join(', ') || 'nothing'}, but its address is ${own}: ${lookup.stdout}`);
    return { resolvedMs: resolvedAt - started, runMs, address: own };
  } finally {
    clearTimeout(killer);
    if (probe.exitCode === null && probe.signalCode === null) probe.kill('SIGKILL');
    await runOn.docker(['rm', '-f', name], { timeoutMs: 30_000 });
  }
}
