// Measuring helpers of bench/forwarder.ts: CPU time (a process's, the whole system's), ping round
// trips one by one, an iperf3 UDP step, medians, and a summary of a V8 CPU profile. Everything
// here runs commands inside a Lab's namespaces or reads /proc; nothing sends traffic itself.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { Lab } from '../../test/helpers/netns';

/** Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux; asked once). */
export const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds (user + system, every thread: the reader workers too) a process has used. */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may hold spaces: state is field 3,
  // utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** CPU seconds of each thread of a process (/proc/PID/task/TID/stat), by thread id, with its name. */
export function threadCpuSeconds(pid: number): Map<number, { name: string; seconds: number }> {
  const threads = new Map<number, { name: string; seconds: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      threads.set(Number(tid), { name, seconds: (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS });
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return threads;
}

/** Busy CPU seconds of the whole machine (all cores) since boot: /proc/stat minus idle and iowait. */
export function systemBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return (user + nice + system + irq + softirq + (steal ?? 0)) / CLOCK_TICKS;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The q-quantile (0..1) by linear interpolation. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((x, y) => x - y);
  const at = q * (sorted.length - 1);
  const low = Math.floor(at);
  return sorted[low] + (sorted[Math.min(low + 1, sorted.length - 1)] - sorted[low]) * (at - low);
}

/** `ping -c count -i interval` in `ns`; every reply's round trip in ms (lost ones are missing). */
export function pingTimes(lab: Lab, ns: string, address: string, count: number, intervalSeconds: number): { sent: number; times: number[] } {
  const result = lab.tryExec(ns, 'ping', '-n', '-c', String(count), '-i', String(intervalSeconds), '-W', '1', address);
  const times = [...result.stdout.matchAll(/time=([\d.]+) ms/g)].map((match) => Number(match[1]));
  return { sent: count, times };
}

export interface UdpStep {
  /** Frames per second asked of the sender. */
  askedPps: number;
  /** What the sender managed to send, and what arrived, in frames per second of the run. */
  sentPps: number;
  receivedPps: number;
  sent: number;
  lost: number;
  lossPercent: number;
  seconds: number;
}

/**
 * One iperf3 UDP run of `payload`-byte datagrams at `pps` frames per second for `seconds`: a
 * one-off server in `serverNs`, the client in `clientNs` (`-R`: the server sends). The loss is
 * what the receiving iperf3 counted missing by sequence number.
 */
export async function iperf3Udp(lab: Lab, options: { serverNs: string; serverAddress: string; clientNs: string; pps: number; payload: number; seconds: number; reverse?: boolean; port?: number }): Promise<UdpStep> {
  const port = String(options.port ?? 5202);
  const server = lab.spawn(options.serverNs, 'iperf3', ['-s', '-1', '--forceflush', '-B', options.serverAddress, '-p', port], { label: 'iperf3 UDP server' });
  try {
    await server.waitFor('"Server listening"', () => server.stdout.includes('Server listening'), 5000);
    const bitsPerSecond = Math.round(options.pps * options.payload * 8);
    // -w 4M: socket buffers of 4 MiB (net.core.rmem_max here; the kernel may cap it), so a
    // receiver descheduled for a few ms on a busy machine does not count as loss of the tunnel.
    const args = ['-c', options.serverAddress, '-p', port, '-u', '-l', String(options.payload), '-b', String(bitsPerSecond), '-t', String(options.seconds), '-w', '4M', '-J', '--connect-timeout', '3000'];
    if (options.reverse === true) args.push('-R');
    const client = lab.spawn(options.clientNs, 'iperf3', args, { label: 'iperf3 UDP client' });
    const status = await client.wait((options.seconds + 10) * 1000);
    type Sum = { packets: number; lost_packets: number; seconds: number; lost_percent: number };
    let report: { error?: string; end?: { sum_sent?: Sum; sum_received?: Sum; sum?: Sum } };
    try {
      report = JSON.parse(client.stdout);
    } catch {
      throw new Error(`iperf3 UDP client (exit ${status.code ?? status.signal}) printed no JSON: ${client.stdout}\n${client.stderr}`);
    }
    const sent = report.end?.sum_sent;
    const received = report.end?.sum_received;
    if (report.error !== undefined || sent === undefined || received === undefined) {
      throw new Error(`iperf3 UDP client failed: ${report.error ?? 'no sum_sent/sum_received (iperf3 ≥ 3.11 reports them)'}\nserver: ${server.stdout}${server.stderr}`);
    }
    const arrived = received.packets - received.lost_packets;
    return {
      askedPps: options.pps,
      sentPps: sent.packets / sent.seconds,
      receivedPps: arrived / sent.seconds,
      sent: sent.packets,
      lost: received.lost_packets,
      lossPercent: sent.packets > 0 ? (100 * Math.max(0, sent.packets - arrived)) / sent.packets : 100,
      seconds: sent.seconds,
    };
  } finally {
    await server.stop(500);
  }
}

/**
 * `senders` iperf3 UDP runs at once (one process each, on ports 5202, 5203, …), each at
 * `pps / senders`, summed into one step: one iperf3 (single-threaded before 3.16) is one core, and
 * a path that encapsulates in the sender's own system call (the kernel's vxlan) is held to it.
 */
export async function iperf3UdpSenders(lab: Lab, options: Parameters<typeof iperf3Udp>[1], senders: number): Promise<UdpStep> {
  if (senders === 1) return iperf3Udp(lab, options);
  const runs = await Promise.all(Array.from({ length: senders }, (_, i) => iperf3Udp(lab, { ...options, pps: options.pps / senders, port: 5202 + i })));
  const seconds = Math.max(...runs.map((run) => run.seconds));
  const sent = runs.reduce((total, run) => total + run.sent, 0);
  const sentPps = runs.reduce((total, run) => total + run.sentPps, 0);
  const receivedPps = runs.reduce((total, run) => total + run.receivedPps, 0);
  return {
    askedPps: options.pps, sentPps, receivedPps, sent, lost: runs.reduce((total, run) => total + run.lost, 0),
    lossPercent: sentPps > 0 ? (100 * Math.max(0, sentPps - receivedPps)) / sentPps : 100, seconds,
  };
}

export interface ProfileEntry {
  functionName: string;
  where: string;
  selfMs: number;
  percent: number;
}

/** What a profiled worker thread is: a reader worker (of the TAP, the UDP socket, the tunnel TAP) or a queue worker. */
export type ThreadRole = 'tap' | 'udp' | 'tunnel' | 'queue';

/**
 * Self time per function of a `.cpuprofile` (V8's format: nodes with call frames, samples with
 * time deltas), summed over every node of the same function, highest first.
 */
export function summariseProfile(path: string, top: number): { totalMs: number; entries: ProfileEntry[]; reader?: ThreadRole } {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as {
    nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<string, { functionName: string; where: string; us: number }>();
  let totalUs = 0;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    totalUs += delta;
    const frame = byId.get(id)?.callFrame;
    if (frame === undefined) return;
    // A dependency is named by its package (its own paths are not this repository's files).
    const dependency = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(frame.url)?.[1];
    const file = frame.url === '' ? '' : frame.url.replace(/^.*\/(?=[^/]+\/[^/]+$)/, '');
    const where = dependency !== undefined ? `the ${dependency} package` : file === '' ? '' : `${file}:${frame.lineNumber + 1}`;
    const key = `${frame.functionName}@${where}`;
    const entry = selfUs.get(key) ?? { functionName: frame.functionName || '(anonymous)', where, us: 0 };
    entry.us += delta;
    selfUs.set(key, entry);
  });
  const entries = [...selfUs.values()]
    .sort((x, y) => y.us - x.us)
    .slice(0, top)
    .map((entry) => ({ functionName: entry.functionName, where: entry.where, selfMs: entry.us / 1000, percent: totalUs > 0 ? (100 * entry.us) / totalUs : 0 }));
  // A queue worker (--queues) runs its code from queue-worker.*, and reads every port itself. A
  // reader worker's loop (src/forwarder/io/reader-worker.ts) is readFrames on a TAP, readDatagrams
  // on the UDP socket and readPacked on the tunnel TAP: whichever is in the call tree says which.
  const names = new Set(profile.nodes.map((node) => node.callFrame.functionName));
  const only = (name: string): boolean => ['readFrames', 'readDatagrams', 'readPacked'].every((other) => names.has(other) === (other === name));
  const reader = profile.nodes.some((node) => /queue-worker\.[cm]?[jt]s$/.test(node.callFrame.url)) ? 'queue'
    : only('readFrames') ? 'tap' : only('readDatagrams') ? 'udp' : only('readPacked') ? 'tunnel' : undefined;
  return { totalMs: totalUs / 1000, entries, ...(reader === undefined ? {} : { reader }) };
}

/** Round trips in ms: p50 and p99, and how many there were. */
export interface RoundTrips {
  p50: number;
  p99: number;
  samples: number;
}

/** sockperf's percentile line ("---> percentile 50.000 =    4.507"), in µs. */
export function sockperfPercentileUs(output: string, percentile: '50.000' | '99.000'): number {
  const match = new RegExp(`percentile ${percentile.replace('.', '\\.')} =\\s*([\\d.]+)`).exec(output);
  if (match === null) throw new Error(`sockperf printed no ${percentile} percentile:\n${output}`);
  return Number(match[1]);
}

/**
 * `sockperf ping-pong --full-rtt` for `seconds` from `clientNs` to a one-off `sockperf server` on
 * `address` in `serverNs`, over TCP or UDP: round trips (not sockperf's default half of one), in
 * ms. sockperf leaves its first 400 ms out as warm-up.
 */
export async function sockperfPingPong(lab: Lab, options: { serverNs: string; clientNs: string; address: string; protocol: 'tcp' | 'udp'; seconds: number; port?: number }): Promise<RoundTrips> {
  const port = String(options.port ?? 11111);
  const tcp = options.protocol === 'tcp' ? ['--tcp'] : [];
  const server = lab.spawn(options.serverNs, 'sockperf', ['server', '-i', options.address, '-p', port, ...tcp], { label: `sockperf server (${options.protocol})` });
  try {
    // It says so once its socket is bound (and, over TCP, listening).
    await server.waitFor('sockperf server blocking on its socket', () => /block on socket/.test(server.stdout + server.stderr), 5000);
    const client = lab.spawn(options.clientNs, 'sockperf', ['ping-pong', '-i', options.address, '-p', port, ...tcp, '-t', String(options.seconds), '--full-rtt'], { label: `sockperf ping-pong (${options.protocol})` });
    const status = await client.wait((options.seconds + 10) * 1000);
    const output = client.stdout + client.stderr;
    if (status.code !== 0) throw new Error(`sockperf ping-pong (${options.protocol}) to ${options.address} exited ${status.code ?? status.signal}:\n${output}`);
    const samples = Number(/Total (\d+) observations/.exec(output)?.[1] ?? NaN);
    return { p50: sockperfPercentileUs(output, '50.000') / 1000, p99: sockperfPercentileUs(output, '99.000') / 1000, samples };
  } finally {
    await server.stop(500);
  }
}
