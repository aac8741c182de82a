// Two (or more) Docker hosts on this machine, for tests and benchmarks of container networking:
// each host is a network namespace joined to the others through a bridge (the "underlay", in a
// namespace of its own), with its own dockerd (Debian docker.io 20.10) in a private mount
// namespace, its own data-root, exec-root, socket, /run/docker/plugins and resolv.conf, and the
// image `local/busybox` imported. Optionally one etcd on the underlay that every host reaches.
//
//   const lab = await startDockerHosts({ count: 2, prefix: 'vwdk', etcd: true });
//   try {
//     const [h1, h2] = lab.hosts;
//     await h1.dockerOk(['run', '-d', '--name', 'c1', 'local/busybox', 'sleep', '600']);
//     const agent = spawnOnHost(h1, 'node', ['bin/vxlan-wasm.mjs', 'agent', '--docker', '--etcd', lab.etcd!.url, '--local', h1.underlayAddress]);
//     ...
//   } finally {
//     await lab.stop();
//   }
//
// Why a private mount namespace, and why a "holder" process: `ip netns exec` remounts /sys, and
// dockerd then fails with "Devices cgroup isn't mounted"; so each host's namespace is entered with
// nsenter, and `unshare -m` makes a mount namespace in which /sys is a sysfs of the host's network
// namespace (with /sys/fs/cgroup kept), and /run/docker, /run/containerd, /var/lib/docker,
// /etc/docker and /etc/resolv.conf are this host's own directories bound over the shared ones. A
// `sleep infinity` holds that namespace, so the daemon can be stopped and started again (a
// restart test) and processes started "on the host" (spawnOnHost: a network driver) see the
// same /run/docker/plugins as its daemon, and only its daemon sees them. Every mount lives in the
// private namespace: when its last process dies, the mounts go with it; nothing is mounted in
// the namespace this process runs in.
//
// Why each host's resolv.conf names HOST_RESOLVER, an address on the host's loopback where
// test/helpers/dns-nxdomain.ts answers NXDOMAIN to everything: Docker's embedded DNS forwards
// names it does not know to the host's resolvers, and when none answers it answers the container
// nothing, so each such lookup waits out the client's ~5 s timeout (measured: also when the
// resolver's port is closed, ICMP port unreachable and all). Its queries leave from the
// container's own namespace through docker_gwbridge and are delivered in the host's: no DNS ever
// crosses the underlay, and nothing leaves the test's namespaces.
//
// stop() removes every container, the daemons, every process started on a host, the namespaces
// (and with them the veths and the bridge), the cgroups of the daemons' containers, etcd and the
// temporary directory, even after a failure; a process-exit hook does the same synchronously if
// a test crashed before its finally.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, symlinkSync, copyFileSync, writeFileSync, chmodSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server, Socket } from 'node:net';
import { startEtcd, type EtcdServer } from './etcd';
import { relay } from './unix-tcp-relay';
import { isRoot, LabProcess, REPO_ROOT, run, warnSkipped } from './netns';
import { hasCommand } from '../interop/tools';

/** Debian docker.io 20.10: the daemon and its own client (not /usr/local/bin/docker, a newer one). */
export const DOCKERD = '/usr/sbin/dockerd';
export const DOCKER = '/usr/bin/docker';
/** busybox-static's binary: static, so it runs in an image with no libc. */
export const BUSYBOX = '/bin/busybox';
/**
 * The resolver every host's resolv.conf names: an address on each host's loopback (TEST-NET-1,
 * never routed anywhere) where test/helpers/dns-nxdomain.ts answers NXDOMAIN at once.
 */
export const HOST_RESOLVER = '192.0.2.53';
/** The image every host has, made from BUSYBOX and its applet links. */
export const BUSYBOX_IMAGE = 'local/busybox';

export interface CommandResult {
  stdout: string;
  stderr: string;
  /** Exit status; null when killed (by the timeout). */
  code: number | null;
}

export interface DockerHost {
  /** h1, h2, … */
  readonly name: string;
  readonly index: number;
  /** The host's network namespace (`ip netns` name). */
  readonly netns: string;
  /** The host's address on the underlay (on `underlayDevice`), e.g. 10.99.0.1. */
  readonly underlayAddress: string;
  readonly underlayDevice: string;
  /** This host's temporary directory, and the daemon's directories in it. */
  readonly dir: string;
  readonly dataRoot: string;
  readonly execRoot: string;
  /** The daemon's API socket (unix). */
  readonly socket: string;
  /** What the daemon sees as /run/docker/plugins: a plugin socket written here is found by this daemon only. */
  readonly pluginDir: string;
  /** The resolv.conf the daemon (and its containers) see. */
  readonly resolvConf: string;
  /** The pid of the process that holds the host's mount namespace (nsenter -t PID -n -m). */
  readonly holderPid: number;
  /** The daemon's pid (changes with restartDaemon). */
  readonly daemonPid: number;
  /** How long the last daemon start took, until its API answered. */
  readonly daemonStartMs: number;
  /** What the daemon printed lately (for failure messages). */
  daemonLog(): string;
  /** The 20.10 client against this daemon; never throws (see `code`). */
  docker(args: readonly string[], options?: { input?: string; timeoutMs?: number }): Promise<CommandResult>;
  /** Like docker(), but throws with the command and its stderr on a non-zero exit; returns stdout. */
  dockerOk(args: readonly string[], options?: { input?: string; timeoutMs?: number }): Promise<string>;
  /** A command in the host's network and mount namespaces (a string runs through sh -c). */
  exec(command: string | readonly string[], options?: { timeoutMs?: number }): Promise<CommandResult>;
  /** The pid of a running container's first process (for nsenter --net=/proc/PID/ns/net). */
  containerPid(container: string): Promise<number>;
  /** Stop the daemon (SIGTERM; SIGKILL after `graceMs`), and start it again on the same directories. */
  stopDaemon(graceMs?: number): Promise<void>;
  startDaemon(): Promise<void>;
  restartDaemon(): Promise<void>;
}

export interface DockerHostsOptions {
  /** How many hosts (default 2). */
  count?: number;
  /** Namespace names start with `${prefix}-${pid}-${n}`: give each suite its own. */
  prefix: string;
  /** Start one etcd on the underlay (default false). */
  etcd?: boolean;
  /**
   * Accepted for the shape the driver's tests use: every host has its own plugin directory
   * (pluginDir) whether or not this is set.
   */
  plugins?: boolean;
  /** The underlay's first three octets (default 10.99.0): host i is .i, the bridge .254. */
  underlayPrefix?: string;
  /**
   * Keep the underlay veths' transmit checksum offload (default true, as a NIC would); false runs
   * `ethtool -K … tx off` on them (captures then show the checksums the kernel computed).
   */
  checksumOffload?: boolean;
  /** More dockerd arguments, for every host. */
  daemonArgs?: readonly string[];
  /** Print what is run (VXLAN_LAB_VERBOSE=1). */
  verbose?: boolean;
}

export interface DockerHosts {
  readonly hosts: DockerHost[];
  /** The underlay's own namespace (its bridge br0 has `underlayGateway`). */
  readonly switchNetns: string;
  readonly underlayGateway: string;
  readonly underlaySubnet: string;
  /**
   * etcd on the underlay (on the bridge's address) when asked for: `url` for the hosts (an agent
   * started with spawnOnHost), `localUrl` for this process (a loopback port relayed into the
   * underlay's namespace through test/helpers/unix-tcp-relay.ts), e.g. to read what an agent wrote.
   */
  readonly etcd?: { url: string; localUrl: string; server: EtcdServer };
  /** Every namespace this lab made. */
  readonly namespaces: readonly string[];
  /** The lab's temporary directory (every host's directories are in it). */
  readonly dir: string;
  /** How long startDockerHosts took, and the daemons' part of it (started in parallel). */
  readonly timings: { totalMs: number; daemonsMs: number; imageMs: number };
  /** Remove everything; never throws, may be called twice. Returns what could not be removed (empty when all went). */
  stop(): Promise<string[]>;
}

/** A process started on a host by spawnOnHost (also stopped by the lab's stop()). */
const hostProcesses = new Map<string, Set<ChildProcess>>();

/**
 * Why Docker tests cannot run here (a reason for a loud skip), or undefined when they can: not
 * root, no network namespaces, or docker.io / busybox-static missing and not installable. Missing
 * packages are installed first (apt-get), as CI does.
 */
export function dockerUnusable(): string | undefined {
  if (!isRoot) return `not root (uid ${process.getuid?.()})`;
  for (const tool of ['ip', 'nsenter', 'unshare', 'tar']) {
    if (!hasCommand(tool)) return `${tool} not installed`;
  }
  const probe = `vwdkprobe${process.pid}`;
  const added = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  spawnSync('ip', ['netns', 'del', probe]);
  if (added.status !== 0) return `\`ip netns add\` failed: ${added.stderr.trim()}`;
  const missing = packagesMissing();
  if (missing.length > 0) {
    const installed = aptInstall(missing);
    if (installed !== undefined) return installed;
    const still = packagesMissing();
    if (still.length > 0) return `${still.join(', ')} still missing after apt-get install`;
  }
  return undefined;
}

function packagesMissing(): string[] {
  const missing: string[] = [];
  if (!existsSync(DOCKERD) || !existsSync(DOCKER)) missing.push('docker.io');
  // Debian's plain `busybox` is dynamically linked: it would not run in an image without libc.
  if (spawnSync('dpkg', ['-s', 'busybox-static'], { stdio: 'ignore' }).status !== 0) missing.push('busybox-static');
  return missing;
}

/** apt-get install; returns why it failed, or undefined. */
function aptInstall(packages: string[]): string | undefined {
  console.warn(`docker-hosts: installing ${packages.join(' ')} (apt-get)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let result = spawnSync('apt-get', ['install', '-y', '-qq', ...packages], { encoding: 'utf8', env, timeout: 600_000 });
  if (result.status !== 0) {
    spawnSync('apt-get', ['update', '-qq'], { encoding: 'utf8', env, timeout: 300_000 });
    result = spawnSync('apt-get', ['install', '-y', '-qq', ...packages], { encoding: 'utf8', env, timeout: 600_000 });
  }
  if (result.status !== 0) return `apt-get install ${packages.join(' ')} failed: ${(result.stderr ?? '').trim().split('\n').slice(-3).join(' / ')}`;
  return undefined;
}

/**
 * For a test file: true when the Docker tests can run; otherwise false after a loud skip of
 * `testNames` saying why.
 */
export function dockerReady(suiteName: string, testNames: string[]): boolean {
  const why = dockerUnusable();
  if (why === undefined) return true;
  warnSkipped('needs root, network namespaces and Docker', testNames, `${suiteName}: ${why}`);
  return false;
}

/** Run a command asynchronously, output kept; never throws, a timeout kills it (code null). */
export function runCommand(command: string, args: readonly string[], options: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env: options.env ?? process.env, cwd: REPO_ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${options.timeoutMs ?? 60_000} ms)`;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 60_000);
    child.on('error', (error) => {
      stderr += `\nspawn error: ${error.message}`;
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/**
 * Start `command args` on a host: in its network AND mount namespace (nsenter execs it, so the
 * pid is the command's own), with the repository as working directory (so `node
 * bin/vxlan-wasm.mjs …` works as written). A network driver started
 * so writes its socket into the host's pluginDir as /run/docker/plugins. stop() ends it (SIGTERM,
 * then SIGKILL) if it is still running.
 */
export function spawnOnHost(host: DockerHost, command: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  // --wd: entering a mount namespace moves the caller to its root directory; relative paths
  // (bin/vxlan-wasm.mjs) are the repository's.
  const child = spawn('nsenter', ['-t', String(host.holderPid), '-n', '-m', `--wd=${REPO_ROOT}`, '--', command, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let set = hostProcesses.get(host.netns);
  if (set === undefined) hostProcesses.set(host.netns, (set = new Set()));
  set.add(child);
  child.on('close', () => set!.delete(child));
  return child;
}

/** spawnOnHost wrapped in the Lab's LabProcess: output kept by line, waitForLine, stop(). */
export function processOnHost(host: DockerHost, command: string, args: readonly string[], env: NodeJS.ProcessEnv = {}, label?: string): LabProcess {
  return new LabProcess(spawnOnHost(host, command, args, env), label ?? `${command} on ${host.name}`);
}

/** GET /_ping on a daemon's socket: true when it answers OK. */
function pingDaemon(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path: '/_ping', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The inode of a namespace link (/proc/PID/ns/KIND), or undefined when the process is gone. */
function namespaceOf(pid: number | string, kind: 'mnt' | 'net'): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/${kind}`);
  } catch {
    return undefined;
  }
}

function parentOf(pid: string): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/**
 * Every process that belongs to a host: in its mount namespace (the holder, dockerd, containerd,
 * the shims, whatever was started on it) or in its network namespace, and their descendants
 * (the containers' processes, children of the shims, in namespaces of their own).
 */
function processesOfHost(mountNs: string | undefined, netNs: string | undefined): number[] {
  const pids = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  const parents = new Map<number, number>();
  const members = new Set<number>();
  for (const pid of pids) {
    if (Number(pid) === process.pid) continue;
    const parent = parentOf(pid);
    if (parent !== undefined) parents.set(Number(pid), parent);
    const mnt = namespaceOf(pid, 'mnt');
    const net = namespaceOf(pid, 'net');
    if ((mountNs !== undefined && mnt === mountNs) || (netNs !== undefined && net === netNs)) members.add(Number(pid));
  }
  // Descendants, to a fixed point.
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, parent] of parents) {
      if (!members.has(pid) && members.has(parent)) {
        members.add(pid);
        grew = true;
      }
    }
  }
  return [...members];
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Gone already.
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The busybox rootfs as a tarball (made once per lab, in `dir`): the static busybox binary and a link to it per applet. */
function busyboxTarball(dir: string): string {
  const tarball = join(dir, 'busybox.tar');
  if (existsSync(tarball)) return tarball;
  const rootfs = join(dir, 'rootfs');
  for (const sub of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev', 'root', 'var/www']) mkdirSync(join(rootfs, sub), { recursive: true });
  copyFileSync(BUSYBOX, join(rootfs, 'bin/busybox'));
  chmodSync(join(rootfs, 'bin/busybox'), 0o755);
  chmodSync(join(rootfs, 'tmp'), 0o1777);
  const applets = run(BUSYBOX, ['--list']).split('\n').filter((name) => /^[\w.[-]+$/.test(name) && name !== 'busybox');
  for (const applet of applets) symlinkSync('busybox', join(rootfs, 'bin', applet));
  // A user database, so `id`, `httpd` and `--user` have names to go by.
  writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  run('tar', ['-C', rootfs, '-cf', tarball, '.']);
  rmSync(rootfs, { recursive: true, force: true });
  return tarball;
}

const live = new Set<LabState>();
let exitHookInstalled = false;
let labCounter = 0;

interface HostState {
  host: DockerHost;
  dir: string;
  netns: string;
  holder?: ChildProcess;
  holderMountNs?: string;
  netNs?: string;
  daemon?: ChildProcess;
  daemonLog: string;
  cgroupParent: string;
}

interface LabState {
  hosts: HostState[];
  namespaces: string[];
  dir: string;
  etcd?: EtcdServer;
  /** Each host's NXDOMAIN responder, the one its resolv.conf names. */
  resolvers: ChildProcess[];
  /** etcd's relay: a unix socket in the underlay's namespace, and the loopback listener to it here. */
  etcdRelay?: ChildProcess;
  etcdLocal?: { server: Server; sockets: Set<Socket> };
  stopped: boolean;
}

/** cgroup controllers' directories (v1: one per controller; v2: the one tree). */
function cgroupRoots(): string[] {
  const base = '/sys/fs/cgroup';
  if (existsSync(join(base, 'cgroup.controllers'))) return [base];
  try {
    return readdirSync(base).map((name) => join(base, name)).filter((path) => existsSync(join(path, 'cgroup.procs')));
  } catch {
    return [];
  }
}

/** rmdir a cgroup and every cgroup below it (deepest first); they are empty once their processes are gone. */
function removeCgroups(name: string): string[] {
  const left: string[] = [];
  const removeTree = (path: string) => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      if (entry.isDirectory()) removeTree(join(path, entry.name));
    }
    try {
      rmdirSync(path);
    } catch (error) {
      left.push(`${path}: ${(error as Error).message}`);
    }
  };
  for (const root of cgroupRoots()) {
    const path = join(root, name);
    if (existsSync(path)) removeTree(path);
  }
  return left;
}

function stopSync(state: LabState): void {
  for (const hostState of state.hosts) {
    for (const child of hostProcesses.get(hostState.netns) ?? []) child.kill('SIGKILL');
    for (const pid of processesOfHost(hostState.holderMountNs, hostState.netNs)) kill(pid, 'SIGKILL');
  }
  for (const resolver of state.resolvers) resolver.kill('SIGKILL');
  state.etcdRelay?.kill('SIGKILL');
  for (const ns of state.namespaces.splice(0).reverse()) spawnSync('ip', ['netns', 'del', ns]);
  state.etcd?.stopSync();
  for (const hostState of state.hosts) removeCgroups(hostState.cgroupParent);
  rmSync(state.dir, { recursive: true, force: true });
  live.delete(state);
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const state of live) stopSync(state);
  });
  // Ctrl-C or a kill of the test run: Node's default would exit without the 'exit' event, and
  // leave the daemons, their containers and the namespaces behind.
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(signal, () => {
      console.error(`docker-hosts: ${signal}, removing the Docker hosts`);
      process.exit(code);
    });
  }
}

/** Start the hosts; see the file's comment. Throws (after removing what it made) when something fails. */
export async function startDockerHosts(options: DockerHostsOptions): Promise<DockerHosts> {
  const started = Date.now();
  const count = options.count ?? 2;
  const verbose = options.verbose ?? process.env.VXLAN_LAB_VERBOSE === '1';
  const octets = options.underlayPrefix ?? '10.99.0';
  const base = `${options.prefix}-${process.pid}-${labCounter++}`;
  const dir = mkdtempSync(join(tmpdir(), `${options.prefix}-`));
  const state: LabState = { hosts: [], namespaces: [], resolvers: [], dir, stopped: false };
  live.add(state);
  installExitHook();
  const sh = (args: string[]) => {
    if (verbose) console.log(`docker-hosts: ${args.join(' ')}`);
    return run(args[0], args.slice(1));
  };
  const inNs = (ns: string, ...args: string[]) => sh(['ip', 'netns', 'exec', ns, ...args]);

  const underlayGateway = `${octets}.254`;
  const switchNetns = `${base}-sw`;
  let lab: DockerHosts | undefined;
  try {
    // The underlay: a bridge in its own namespace, one veth per host.
    sh(['ip', 'netns', 'add', switchNetns]);
    state.namespaces.push(switchNetns);
    inNs(switchNetns, 'ip', 'link', 'set', 'lo', 'up');
    inNs(switchNetns, 'ip', 'link', 'add', 'br0', 'type', 'bridge');
    inNs(switchNetns, 'ip', 'addr', 'add', `${underlayGateway}/24`, 'dev', 'br0');
    inNs(switchNetns, 'ip', 'link', 'set', 'br0', 'up');

    for (let i = 1; i <= count; i++) {
      const name = `h${i}`;
      const netns = `${base}-${name}`;
      sh(['ip', 'netns', 'add', netns]);
      state.namespaces.push(netns);
      inNs(netns, 'ip', 'link', 'set', 'lo', 'up');
      sh(['ip', 'link', 'add', 'veth0', 'netns', netns, 'type', 'veth', 'peer', 'name', `p${i}`, 'netns', switchNetns]);
      inNs(netns, 'ip', 'addr', 'add', `${octets}.${i}/24`, 'dev', 'veth0');
      if (options.checksumOffload === false) {
        inNs(netns, 'ethtool', '-K', 'veth0', 'tx', 'off');
        inNs(switchNetns, 'ethtool', '-K', `p${i}`, 'tx', 'off');
      }
      inNs(netns, 'ip', 'link', 'set', 'veth0', 'up');
      inNs(switchNetns, 'ip', 'link', 'set', `p${i}`, 'master', 'br0', 'up');
      inNs(netns, 'ip', 'addr', 'add', `${HOST_RESOLVER}/32`, 'dev', 'lo');
      state.resolvers.push(startInNetns(netns, 'test/helpers/dns-nxdomain.ts', [HOST_RESOLVER, '53']));
      state.hosts.push(makeHost({ name, index: i, netns, address: `${octets}.${i}`, dir: join(dir, name), base, resolver: HOST_RESOLVER, daemonArgs: options.daemonArgs ?? [], verbose }));
    }

    const etcdStart = options.etcd === true ? startEtcd({ ns: switchNetns, host: underlayGateway }) : undefined;
    const resolverReady = Promise.all(state.resolvers.map((resolver) => waitForLine(resolver, 'listening', 20_000)));
    resolverReady.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
    const daemonsStarted = Date.now();
    await Promise.all(state.hosts.map((h) => startHolder(h)));
    await Promise.all(state.hosts.map((h) => h.host.startDaemon()));
    const daemonsMs = Date.now() - daemonsStarted;
    const imageStarted = Date.now();
    const tarball = busyboxTarball(dir);
    await Promise.all(state.hosts.map((h) => h.host.dockerOk(['import', tarball, BUSYBOX_IMAGE])));
    const imageMs = Date.now() - imageStarted;
    let localUrl = '';
    if (etcdStart !== undefined) {
      const etcd = (state.etcd = await etcdStart);
      const socket = join(dir, 'etcd.sock');
      state.etcdRelay = startInNetns(switchNetns, 'test/helpers/unix-tcp-relay.ts', [socket, etcd.host, String(etcd.clientPort)]);
      await waitForLine(state.etcdRelay, 'listening', 20_000);
      const server = await relay(0, { path: socket });
      const sockets = new Set<Socket>();
      server.on('connection', (connection) => {
        sockets.add(connection);
        connection.on('close', () => sockets.delete(connection));
      });
      state.etcdLocal = { server, sockets };
      localUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    }
    await resolverReady;

    const timings = { totalMs: Date.now() - started, daemonsMs, imageMs };
    lab = {
      hosts: state.hosts.map((h) => h.host),
      switchNetns,
      underlayGateway,
      underlaySubnet: `${octets}.0/24`,
      etcd: state.etcd === undefined ? undefined : { url: state.etcd.url, localUrl, server: state.etcd },
      namespaces: [...state.namespaces],
      dir,
      timings,
      stop: () => stopLab(state),
    };
    return lab;
  } catch (error) {
    await stopLab(state);
    throw error;
  }
}

interface HostSpec {
  name: string;
  index: number;
  netns: string;
  address: string;
  dir: string;
  base: string;
  resolver: string;
  daemonArgs: readonly string[];
  verbose: boolean;
}

function makeHost(spec: HostSpec): HostState {
  const dir = spec.dir;
  const paths = {
    dataRoot: join(dir, 'data'),
    execRoot: join(dir, 'exec'),
    run: join(dir, 'run'),
    pluginDir: join(dir, 'run', 'plugins'),
    containerd: join(dir, 'run-containerd'),
    varLib: join(dir, 'var-lib-docker'),
    etc: join(dir, 'etc-docker'),
    cgroupMount: join(dir, 'cgroup'),
    resolvConf: join(dir, 'resolv.conf'),
    socket: join(dir, 'docker.sock'),
    pidfile: join(dir, 'docker.pid'),
  };
  for (const path of [paths.dataRoot, paths.execRoot, paths.pluginDir, paths.containerd, paths.varLib, paths.etc, paths.cgroupMount]) mkdirSync(path, { recursive: true });
  writeFileSync(paths.resolvConf, `# docker-hosts: test/helpers/dns-nxdomain.ts, on this host's loopback: an unknown name fails at once\nnameserver ${spec.resolver}\n`);

  const state: HostState = { dir, netns: spec.netns, daemonLog: '', cgroupParent: `${spec.base}-${spec.name}`, host: undefined as unknown as DockerHost };
  let daemonStartMs = NaN;

  const docker = (args: readonly string[], options: { input?: string; timeoutMs?: number } = {}) => {
    if (spec.verbose) console.log(`[${spec.name}] docker ${args.join(' ')}`);
    return runCommand(DOCKER, ['-H', `unix://${paths.socket}`, ...args], options);
  };
  const dockerOk = async (args: readonly string[], options: { input?: string; timeoutMs?: number } = {}) => {
    const result = await docker(args, options);
    if (result.code !== 0) throw new Error(`[${spec.name}] \`docker ${args.join(' ')}\` failed (exit ${result.code}): ${result.stderr.trim()}`);
    return result.stdout;
  };
  const holderPid = () => {
    if (state.holder?.pid === undefined) throw new Error(`${spec.name}: the host's namespace holder is not running`);
    return state.holder.pid;
  };

  const startDaemon = async () => {
    if (state.daemon !== undefined && state.daemon.exitCode === null && state.daemon.signalCode === null) return;
    const begun = Date.now();
    const args = [
      '-t', String(holderPid()), '-n', '-m', '--', DOCKERD,
      '--storage-driver=overlay2', '--iptables=false', '--ip6tables=false', '--bridge=none',
      '--data-root', paths.dataRoot, '--exec-root', paths.execRoot, '-H', `unix://${paths.socket}`, '--pidfile', paths.pidfile,
      // The containers' cgroups under one name per host, removed at stop (not a shared "docker").
      '--cgroup-parent', `/${state.cgroupParent}`,
      ...spec.daemonArgs,
    ];
    if (spec.verbose) console.log(`[${spec.name}] nsenter ${args.join(' ')}`);
    const child = spawn('nsenter', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    state.daemon = child;
    const keep = (chunk: Buffer) => {
      state.daemonLog = (state.daemonLog + chunk.toString()).slice(-32_768);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const deadline = Date.now() + 60_000;
    while (!(await pingDaemon(paths.socket))) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${spec.name}: dockerd exited (${child.exitCode ?? child.signalCode}) while starting:\n${state.daemonLog.slice(-4000)}`);
      if (Date.now() > deadline) throw new Error(`${spec.name}: dockerd did not answer within 60 s:\n${state.daemonLog.slice(-4000)}`);
      await sleep(50);
    }
    daemonStartMs = Date.now() - begun;
  };

  const stopDaemon = async (graceMs = 15_000) => {
    const child = state.daemon;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('close', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
    // Its containerd: dockerd stops the one it started, but not after a SIGKILL.
    for (const pid of processesOfHost(state.holderMountNs, undefined)) {
      if (pid !== state.holder?.pid && /containerd --config/.test(commandLine(pid))) kill(pid, 'SIGKILL');
    }
  };

  state.host = {
    name: spec.name,
    index: spec.index,
    netns: spec.netns,
    underlayAddress: spec.address,
    underlayDevice: 'veth0',
    dir,
    dataRoot: paths.dataRoot,
    execRoot: paths.execRoot,
    socket: paths.socket,
    pluginDir: paths.pluginDir,
    resolvConf: paths.resolvConf,
    get holderPid() {
      return holderPid();
    },
    get daemonPid() {
      if (state.daemon?.pid === undefined) throw new Error(`${spec.name}: no daemon`);
      return state.daemon.pid;
    },
    get daemonStartMs() {
      return daemonStartMs;
    },
    daemonLog: () => state.daemonLog,
    docker,
    dockerOk,
    exec: (command, options = {}) => {
      const argv = typeof command === 'string' ? ['sh', '-c', command] : [...command];
      return runCommand('nsenter', ['-t', String(holderPid()), '-n', '-m', `--wd=${REPO_ROOT}`, '--', ...argv], options);
    },
    containerPid: async (container) => {
      const pid = Number((await dockerOk(['inspect', '-f', '{{.State.Pid}}', container])).trim());
      if (!(pid > 0)) throw new Error(`${spec.name}: container ${container} is not running (pid ${pid})`);
      return pid;
    },
    startDaemon,
    stopDaemon,
    restartDaemon: async () => {
      await stopDaemon();
      await startDaemon();
    },
  };
  return state;
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/**
 * The process that holds a host's mount namespace: nsenter into the host's network namespace,
 * unshare a private mount namespace, mount the host's own directories, then sleep. It prints
 * "ready" when the mounts are made.
 */
async function startHolder(state: HostState): Promise<void> {
  const d = state.dir;
  const q = (path: string) => `'${path.replace(/'/g, `'\\''`)}'`;
  for (const target of ['/run/docker', '/run/containerd', '/var/lib/docker', '/etc/docker']) mkdirSync(target, { recursive: true });
  const script = [
    'set -e',
    // sysfs of this network namespace (so dockerd sees the host's devices), cgroups kept.
    `mount --rbind /sys/fs/cgroup ${q(join(d, 'cgroup'))}`,
    'mount -t sysfs sysfs /sys',
    `mount --rbind ${q(join(d, 'cgroup'))} /sys/fs/cgroup`,
    `umount -l ${q(join(d, 'cgroup'))}`,
    `mount --bind ${q(join(d, 'run'))} /run/docker`,
    `mount --bind ${q(join(d, 'run-containerd'))} /run/containerd`,
    `mount --bind ${q(join(d, 'var-lib-docker'))} /var/lib/docker`,
    `mount --bind ${q(join(d, 'etc-docker'))} /etc/docker`,
    `mount --bind ${q(join(d, 'resolv.conf'))} /etc/resolv.conf`,
    'echo ready',
    'exec sleep infinity',
  ].join('\n');
  const child = spawn('nsenter', [`--net=/run/netns/${state.netns}`, 'unshare', '-m', '--propagation', 'private', 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  state.holder = child;
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${state.netns}: the mount namespace was not ready within 10 s: ${output}`)), 10_000);
    const check = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    child.on('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`${state.netns}: the mount namespace holder exited (${code}): ${output}`));
    });
  });
  state.holderMountNs = namespaceOf(child.pid!, 'mnt');
  state.netNs = namespaceOf(child.pid!, 'net');
}

async function stopLab(state: LabState): Promise<string[]> {
  if (state.stopped) return [];
  state.stopped = true;
  const problems: string[] = [];
  // Containers first, while whatever serves their networks (a driver started on the host) still runs.
  await Promise.all(state.hosts.map(async (h) => {
    if (h.daemon === undefined || h.daemon.exitCode !== null || !(await pingDaemon(join(h.dir, 'docker.sock')))) return;
    const listed = await h.host.docker(['ps', '-aq'], { timeoutMs: 20_000 });
    const ids = listed.stdout.split('\n').filter(Boolean);
    if (ids.length > 0) {
      const removed = await h.host.docker(['rm', '-f', ...ids], { timeoutMs: 60_000 });
      if (removed.code !== 0) problems.push(`${h.host.name}: docker rm -f: ${removed.stderr.trim()}`);
    }
    const swarm = await h.host.docker(['info', '--format', '{{.Swarm.LocalNodeState}}'], { timeoutMs: 20_000 });
    if (swarm.stdout.trim() === 'active') await h.host.docker(['swarm', 'leave', '--force'], { timeoutMs: 30_000 });
  }));
  // Processes started on the hosts (drivers), then the daemons.
  await Promise.all(state.hosts.map(async (h) => {
    const children = [...(hostProcesses.get(h.netns) ?? [])];
    await Promise.all(children.map((child) => stopChild(child, 2000)));
    hostProcesses.delete(h.netns);
    await h.host.stopDaemon().catch((error) => problems.push(`${h.host.name}: ${(error as Error).message}`));
  }));
  await Promise.all(state.resolvers.map((resolver) => stopChild(resolver, 1000)));
  // Whatever is left in a host (shims, containers' processes), then the holders.
  for (const h of state.hosts) {
    const pids = processesOfHost(h.holderMountNs, h.netNs).filter((pid) => pid !== h.holder?.pid);
    if (pids.length > 0) {
      problems.push(`${h.host.name}: processes left after the daemon stopped, killed: ${pids.map((pid) => `${pid} (${commandLine(pid).slice(0, 60)})`).join(', ')}`);
      for (const pid of pids) kill(pid, 'SIGKILL');
    }
    if (h.holder !== undefined) await stopChild(h.holder, 1000);
  }
  for (let i = 0; i < 40 && state.hosts.some((h) => processesOfHost(h.holderMountNs, h.netNs).some(alive)); i++) await sleep(50);
  for (const ns of state.namespaces.splice(0).reverse()) {
    const deleted = spawnSync('ip', ['netns', 'del', ns], { encoding: 'utf8' });
    if (deleted.status !== 0) problems.push(`ip netns del ${ns}: ${deleted.stderr.trim()}`);
  }
  if (state.etcdLocal !== undefined) {
    for (const socket of state.etcdLocal.sockets) socket.destroy();
    state.etcdLocal.server.close();
  }
  if (state.etcdRelay !== undefined) await stopChild(state.etcdRelay, 1000);
  if (state.etcd !== undefined) await state.etcd.stop();
  for (const h of state.hosts) problems.push(...removeCgroups(h.cgroupParent));
  // Nothing of ours may still be mounted in this namespace (every mount was in a host's own).
  const mounted = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((line) => line.includes(state.dir));
  for (const line of mounted) {
    const point = line.split(' ')[4];
    problems.push(`still mounted: ${point}`);
    spawnSync('umount', ['-l', point]);
  }
  try {
    rmSync(state.dir, { recursive: true, force: true });
  } catch (error) {
    problems.push(`rm ${state.dir}: ${(error as Error).message}`);
  }
  live.delete(state);
  return problems;
}

/** A helper of this folder (a TypeScript file run through tsx) in the network namespace `ns`. */
function startInNetns(ns: string, file: string, args: readonly string[]): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', join(REPO_ROOT, file), ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}



/** Wait until a child prints `text` (on stdout or stderr); throws when it exits first or after `ms`. */
function waitForLine(child: ChildProcess, text: string, ms: number): Promise<void> {
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${text}" within ${ms} ms: ${output}`)), ms);
    const check = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    child.once('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code}) before "${text}": ${output}`));
    });
  });
}

async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('close', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
