// A harness for tests and benchmarks that need real hosts: network namespaces joined by veth pairs
// (or a bridge), kernel `vxlan` devices, and processes started INSIDE a namespace. A Lab remembers
// everything it made and `cleanup()` removes it all, processes first (by pid), then the namespaces
// (which takes their devices with them); a process-exit hook does the same synchronously if a test
// crashed before its `finally`. Nothing here sends traffic: that is up to the commands run in the
// namespaces, which can only reach the addresses inside them.
//
//   const lab = new Lab('fw');
//   try {
//     const [a, b] = [lab.namespace('a'), lab.namespace('b')];
//     lab.veth(a, b, { a: ['192.168.77.1/24'], b: ['192.168.77.2/24'] });
//     lab.kernelVxlan(b, { vni: 42, local: '192.168.77.2', remote: '192.168.77.1', address: '10.42.0.2/24' });
//     const server = lab.spawn(b, 'iperf3', ['-s', '-1']);
//     ...
//   } finally {
//     await lab.cleanup();
//   }
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { hasCommand, isRoot, warnSkipped } from '../interop/tools';

export { isRoot, warnSkipped };

/** The repository root (for `node --import tsx <file>` in a namespace). */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Why tests needing namespaces cannot run here, or undefined when they can. Not root, no
 * `ip netns` (a container without CAP_SYS_ADMIN) or no /dev/net/tun: a reason, for a loud skip.
 * Root but a tool of `tools` missing: throws, since CI (.ci/run) installs them.
 */
export function labUnusable(suiteName: string, tools: string[] = []): string | undefined {
  if (!isRoot) return `not root (uid ${process.getuid?.()})`;
  const missing = ['ip', 'ethtool', ...tools].filter((name) => !hasCommand(name));
  if (missing.length > 0) {
    throw new Error(`${suiteName}: ${missing.join(', ')} not installed; as root this is a failure (.ci/run installs them with apt-get)`);
  }
  const probe = `vxprobe${process.pid}`;
  const added = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  spawnSync('ip', ['netns', 'del', probe]);
  if (added.status !== 0) return `\`ip netns add\` failed: ${added.stderr.trim()}`;
  if (!existsSync('/dev/net/tun')) return 'no /dev/net/tun (load the tun module, or give the container the device)';
  return undefined;
}

/**
 * labUnusable for a test file: true when its namespace tests can run. Otherwise false, after a
 * loud skip of `testNames` (not root, no namespaces) or, as root with a tool missing, after
 * registering (with `register`, uvu's `test`) one test that fails saying which.
 */
export function labReady(register: (name: string, body: () => void) => void, suiteName: string, tools: string[], testNames: string[]): boolean {
  let unusable: string | undefined;
  try {
    unusable = labUnusable(suiteName, tools);
  } catch (error) {
    register(`${suiteName}: tools`, () => {
      throw error;
    });
    return false;
  }
  if (unusable === undefined) return true;
  warnSkipped('needs root and network namespaces', testNames, unusable);
  return false;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Run a command, return stdout; throws with the command line and stderr on failure or timeout. */
export function run(command: string, args: readonly string[], timeoutMs = 20_000): string {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
  if (result.error !== undefined || result.status !== 0) {
    const why = result.error?.message ?? (result.signal !== null ? `killed by ${result.signal}` : `exit ${result.status}`);
    throw new Error(`\`${[command, ...args].join(' ')}\` failed (${why}): ${(result.stderr ?? '').trim()}`);
  }
  return result.stdout;
}

/** A process started by a Lab: its output kept, line by line, for waiting on and parsing. */
export class LabProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly label: string;
  stdout = '';
  stderr = '';
  /** Complete stdout lines so far. */
  readonly lines: string[] = [];
  /** Resolves when the process exits (never rejects). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  private partial = '';
  private readonly waiters = new Set<() => void>();

  constructor(child: ChildProcess, label: string) {
    this.child = child;
    this.label = label;
    if (child.pid === undefined) throw new Error(`${label}: the process did not start`);
    this.pid = child.pid;
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      this.stdout += chunk;
      const parts = (this.partial + chunk).split('\n');
      this.partial = parts.pop()!;
      this.lines.push(...parts);
      this.notify();
    });
    child.stderr?.on('data', (chunk: string) => {
      this.stderr += chunk;
      this.notify();
    });
    this.exited = new Promise((resolve) => {
      child.on('close', (code, signal) => {
        this.exitCode = code;
        this.exitSignal = signal;
        this.notify();
        resolve({ code, signal });
      });
      child.on('error', (error) => {
        this.stderr += `\nspawn error: ${error.message}`;
      });
    });
  }

  get running(): boolean {
    return this.exitCode === null && this.exitSignal === null;
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  /** Wait (up to `ms`) until `predicate` holds; it is checked on every output and at exit. */
  async waitFor<T>(what: string, predicate: () => T | undefined | false, ms = 10_000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const value = predicate();
      if (value !== undefined && value !== false) return value;
      if (!this.running) throw new Error(`${this.label}: exited (${this.exitCode ?? this.exitSignal}) before ${what}\nstdout: ${this.stdout}\nstderr: ${this.stderr}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.label}: no ${what} within ${ms} ms\nstdout: ${this.stdout}\nstderr: ${this.stderr}`);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, Math.min(left, 250));
        this.waiters.add(done);
      });
    }
  }

  /** The first stdout line matching `pattern` (waiting up to `ms`). */
  waitForLine(pattern: RegExp, ms = 10_000): Promise<string> {
    return this.waitFor(`a line matching ${pattern}`, () => this.lines.find((line) => pattern.test(line)), ms);
  }

  /** Send a signal to this process (by pid); false when it has exited already. */
  signal(signal: NodeJS.Signals): boolean {
    if (!this.running) return false;
    try {
      process.kill(this.pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  async stop(graceMs = 1000): Promise<void> {
    if (!this.running) return;
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Wait for the exit, killing after `ms`; returns the exit status. */
  async wait(ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const timer = setTimeout(() => this.signal('SIGKILL'), ms);
    const status = await this.exited;
    clearTimeout(timer);
    return status;
  }
}

export interface VethOptions {
  /** Interface name at each end (default veth0; names are per namespace, so they may repeat). */
  nameA?: string;
  nameB?: string;
  /** Addresses (CIDR) for each end; IPv6 ones are added `nodad` so they work at once. */
  a?: readonly string[];
  b?: readonly string[];
  mtu?: number;
  /**
   * The veths' transmit checksum offload: on by default, as Linux makes every veth. With it on, a
   * kernel VTEP leaves the inner TCP/UDP checksum partial (CHECKSUM_PARTIAL crosses a veth as is),
   * which the forwarder recognises and finishes. `false` turns it off (`ethtool -K … tx off`): only
   * for a test about that switch, or one that captures what the kernel sent and checks checksums.
   */
  checksumOffload?: boolean;
}

export interface KernelVxlanOptions {
  /** Device name (default vx0). */
  name?: string;
  vni: number;
  local: string;
  /** The one remote VTEP; omit it and use `fdbAppend` for several (head-end replication). */
  remote?: string;
  /** The underlay device (default veth0). */
  dev?: string;
  dstport?: number;
  mac?: string;
  /** Overlay address (CIDR) for the device. */
  address?: string;
  /** Default: underlay MTU 1500 minus the VXLAN overhead of the family (50 for IPv4, 70 for IPv6). */
  mtu?: number;
  /** More `ip link add … type vxlan` arguments. */
  extra?: readonly string[];
}

const live = new Set<Lab>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A test that crashed (or a process.exit) before its finally: kill what is left and remove the
  // namespaces, synchronously, as the process goes.
  process.on('exit', () => {
    for (const lab of live) lab.cleanupSync();
  });
}

let labCounter = 0;

/** Namespaces, links and processes of one test, all removed by `cleanup()`. */
export class Lab {
  /** A prefix unique to this process and lab: namespace names start with it. */
  readonly prefix: string;
  readonly namespaces: string[] = [];
  readonly processes: LabProcess[] = [];
  /** Print every command run (VXLAN_LAB_VERBOSE=1). */
  verbose = process.env.VXLAN_LAB_VERBOSE === '1';

  constructor(tag: string) {
    this.prefix = `vx${tag}-${process.pid}-${labCounter++}`;
    live.add(this);
    installExitHook();
  }

  /** A new namespace `<prefix>-<name>` with loopback up. */
  namespace(name: string, options: { ipv6?: boolean } = {}): string {
    const ns = `${this.prefix}-${name}`;
    run('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    this.exec(ns, 'ip', 'link', 'set', 'lo', 'up');
    // IPv6 off by default on devices made later (TAPs, vxlan): no router/neighbour solicitations,
    // MLD or DAD frames flooded over the overlay, so counters count only what a test sends. A
    // link that carries an IPv6 underlay turns it back on for itself (see `veth`).
    if (options.ipv6 !== true) this.exec(ns, 'sysctl', '-qw', 'net.ipv6.conf.default.disable_ipv6=1');
    return ns;
  }

  /** `command args` inside `ns` (synchronous); returns stdout. */
  exec(ns: string, command: string, ...args: string[]): string {
    if (this.verbose) console.log(`[${ns}] ${command} ${args.join(' ')}`);
    return run('ip', ['netns', 'exec', ns, command, ...args]);
  }

  /** Like exec, but returns the status instead of throwing. */
  tryExec(ns: string, command: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
    const result = spawnSync('ip', ['netns', 'exec', ns, command, ...args], { encoding: 'utf8', timeout: 20_000 });
    return { status: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
  }

  /** Add addresses to a device (IPv6 ones `nodad`, usable at once) and bring it up. */
  addresses(ns: string, dev: string, addresses: readonly string[]): void {
    for (const address of addresses) {
      if (address.includes(':')) this.exec(ns, 'ip', 'addr', 'add', address, 'dev', dev, 'nodad');
      else this.exec(ns, 'ip', 'addr', 'add', address, 'dev', dev);
    }
    this.exec(ns, 'ip', 'link', 'set', dev, 'up');
  }

  /** A veth pair between two namespaces, addressed and up. */
  veth(nsA: string, nsB: string, options: VethOptions = {}): void {
    const nameA = options.nameA ?? 'veth0';
    const nameB = options.nameB ?? 'veth0';
    run('ip', ['link', 'add', nameA, 'netns', nsA, 'type', 'veth', 'peer', 'name', nameB, 'netns', nsB]);
    for (const [ns, name, addresses] of [[nsA, nameA, options.a ?? []], [nsB, nameB, options.b ?? []]] as const) {
      if (addresses.some((address) => address.includes(':'))) this.exec(ns, 'sysctl', '-qw', `net.ipv6.conf.${name}.disable_ipv6=0`);
      if (options.mtu !== undefined) this.exec(ns, 'ip', 'link', 'set', name, 'mtu', String(options.mtu));
      if (options.checksumOffload === false) this.exec(ns, 'ethtool', '-K', name, 'tx', 'off');
      this.addresses(ns, name, addresses);
    }
  }

  /**
   * A bridge in `switchNs` with one veth per host namespace: host i gets `veth0` with
   * `addresses[i]`, the bridge side is `p<i>`. The underlay of more than two hosts.
   */
  bridge(switchNs: string, hosts: readonly { ns: string; addresses: readonly string[] }[], options: { checksumOffload?: boolean } = {}): void {
    this.exec(switchNs, 'ip', 'link', 'add', 'br0', 'type', 'bridge');
    this.exec(switchNs, 'ip', 'link', 'set', 'br0', 'up');
    hosts.forEach((host, i) => {
      this.veth(host.ns, switchNs, { nameA: 'veth0', nameB: `p${i}`, a: host.addresses, checksumOffload: options.checksumOffload });
      this.exec(switchNs, 'ip', 'link', 'set', `p${i}`, 'master', 'br0');
    });
  }

  /** A kernel vxlan device in `ns`, with its overlay address, up. */
  kernelVxlan(ns: string, options: KernelVxlanOptions): string {
    const name = options.name ?? 'vx0';
    const ipv6 = options.local.includes(':');
    const args = ['link', 'add', name];
    if (options.mac !== undefined) args.push('address', options.mac);
    args.push('type', 'vxlan', 'id', String(options.vni), 'local', options.local);
    if (options.remote !== undefined) args.push('remote', options.remote);
    args.push('dstport', String(options.dstport ?? 4789), 'dev', options.dev ?? 'veth0', ...(options.extra ?? []));
    this.exec(ns, 'ip', ...args);
    this.exec(ns, 'ip', 'link', 'set', name, 'mtu', String(options.mtu ?? (ipv6 ? 1430 : 1450)));
    this.addresses(ns, name, options.address === undefined ? [] : [options.address]);
    return name;
  }

  /** `bridge fdb append 00:00:00:00:00:00 dev <dev> dst <peer>` for each peer: the kernel floods to all. */
  fdbAppend(ns: string, dev: string, peers: readonly string[]): void {
    for (const peer of peers) this.exec(ns, 'bridge', 'fdb', 'append', '00:00:00:00:00:00', 'dev', dev, 'dst', peer);
  }

  /** Start `command args` inside `ns` (`ip netns exec` execs it, so the pid is the command's own). */
  spawn(ns: string, command: string, args: readonly string[], options: { label?: string; cwd?: string; env?: NodeJS.ProcessEnv } = {}): LabProcess {
    if (this.verbose) console.log(`[${ns}] & ${command} ${args.join(' ')}`);
    const child = spawn('ip', ['netns', 'exec', ns, command, ...args], {
      cwd: options.cwd ?? REPO_ROOT,
      env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proc = new LabProcess(child, options.label ?? `${command} in ${ns}`);
    this.processes.push(proc);
    return proc;
  }

  /** Run a TypeScript file of the repository with node (through tsx) inside `ns`. */
  spawnNode(ns: string, file: string, args: readonly string[], options: { label?: string } = {}): LabProcess {
    return this.spawn(ns, process.execPath, ['--import', 'tsx', file, ...args], options);
  }

  /** Stop every process (SIGTERM, then SIGKILL), then delete the namespaces. Never throws. */
  async cleanup(): Promise<void> {
    await Promise.all(this.processes.map((proc) => proc.stop(1000).catch(() => undefined)));
    this.deleteNamespaces();
    live.delete(this);
  }

  /** The synchronous last resort (process exit): SIGKILL by pid, then delete the namespaces. */
  cleanupSync(): void {
    for (const proc of this.processes) proc.signal('SIGKILL');
    this.deleteNamespaces();
    live.delete(this);
  }

  private deleteNamespaces(): void {
    for (const ns of this.namespaces.splice(0).reverse()) spawnSync('ip', ['netns', 'del', ns]);
  }
}

/** Resident memory of a process in KiB (VmRSS of /proc/PID/status). */
export function rssKiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (match === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]);
}

export interface PingResult {
  transmitted: number;
  received: number;
  /** min/avg/max RTT in ms (NaN when nothing came back). */
  min: number;
  avg: number;
  max: number;
  output: string;
}

export function parsePing(output: string): PingResult {
  const counts = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(output);
  const rtt = /= ([\d.]+)\/([\d.]+)\/([\d.]+)\//.exec(output);
  return {
    transmitted: counts === null ? 0 : Number(counts[1]),
    received: counts === null ? 0 : Number(counts[2]),
    min: rtt === null ? NaN : Number(rtt[1]),
    avg: rtt === null ? NaN : Number(rtt[2]),
    max: rtt === null ? NaN : Number(rtt[3]),
    output,
  };
}

/** `ping -c count -i interval -W wait address` in `ns`; never throws on loss (check `received`). */
export function ping(lab: Lab, ns: string, address: string, options: { count?: number; interval?: number; wait?: number } = {}): PingResult {
  const count = options.count ?? 3;
  const args = ['-n', '-c', String(count), '-i', String(options.interval ?? 0.2), '-W', String(options.wait ?? 2), address];
  const result = lab.tryExec(ns, 'ping', ...args);
  return parsePing(result.stdout + result.stderr);
}

export interface IperfResult {
  /** Bytes the receiver got, and its rate. */
  bytes: number;
  bitsPerSecond: number;
  gbps: number;
  retransmits: number | undefined;
}

/**
 * One iperf3 TCP run: a one-off server (`iperf3 -s -1`) in `serverNs` bound to `serverAddress`,
 * the client (`-c … -t seconds -J`, `-R` when `reverse`: the server sends) in `clientNs`. Bounded:
 * the client is killed after seconds + 10 s.
 */
export async function iperf3(
  lab: Lab, options: { serverNs: string; serverAddress: string; clientNs: string; seconds?: number; reverse?: boolean; port?: number; parallel?: number },
): Promise<IperfResult> {
  const port = String(options.port ?? 5201);
  const seconds = options.seconds ?? 2;
  const server = lab.spawn(options.serverNs, 'iperf3', ['-s', '-1', '--forceflush', '-B', options.serverAddress, '-p', port], { label: 'iperf3 server' });
  try {
    await server.waitFor('"Server listening"', () => server.stdout.includes('Server listening'), 5000);
    const args = ['-c', options.serverAddress, '-p', port, '-t', String(seconds), '-J', '--connect-timeout', '3000'];
    if (options.reverse === true) args.push('-R');
    if (options.parallel !== undefined) args.push('-P', String(options.parallel));
    const client = lab.spawn(options.clientNs, 'iperf3', args, { label: 'iperf3 client' });
    const status = await client.wait((seconds + 10) * 1000);
    let report: { error?: string; end?: { sum_received?: { bytes: number; bits_per_second: number }; sum_sent?: { retransmits?: number } } };
    try {
      report = JSON.parse(client.stdout);
    } catch {
      throw new Error(`iperf3 client (exit ${status.code ?? status.signal}) printed no JSON: ${client.stdout}\n${client.stderr}`);
    }
    if (report.error !== undefined || report.end?.sum_received === undefined) {
      throw new Error(`iperf3 client failed: ${report.error ?? 'no sum_received'}\nserver: ${server.stdout}${server.stderr}`);
    }
    const received = report.end.sum_received;
    return { bytes: received.bytes, bitsPerSecond: received.bits_per_second, gbps: received.bits_per_second / 1e9, retransmits: report.end.sum_sent?.retransmits };
  } finally {
    await server.stop(500);
  }
}
