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
// a test crashed before its finally, and Ctrl-C or SIGTERM too. A test process killed outright
// (SIGKILL, a runner's timeout) runs none of that: then the daemons, holders and helpers die
// with it (setpriv --pdeathsig), and the janitor (test/helpers/docker-janitor.ts), a process of
// its own told what the lab makes as it makes it, removes the rest: the containers and their
// shims, the namespaces, the cgroups and the directories.
//
// The pieces: test/helpers/docker-host.ts (one host: its namespaces, daemon, client, processes),
// test/helpers/host-processes.ts (finding and ending a host's processes, its cgroups),
// test/helpers/busybox-image.ts (the image), test/helpers/dns-nxdomain.ts (the hosts' resolver),
// test/helpers/unix-tcp-relay.ts (etcd reached from this process), test/helpers/docker-janitor.ts.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server, Socket } from 'node:net';
import { startEtcd, type EtcdServer } from './etcd';
import { relay } from './unix-tcp-relay';
import type { JanitorNote } from './docker-janitor';
import { isRoot, REPO_ROOT, run, warnSkipped } from './netns';
import { hasCommand } from '../interop/tools';
import { BUSYBOX_IMAGE, busyboxTarball } from './busybox-image';
import { DOCKER, DOCKERD, hostProcesses, makeHost, pingDaemon, startHolder, type DockerHost, type HostState } from './docker-host';
import { alive, commandLine, diesWithUs, kill, processesOfHost, removeCgroups, sleep, stopChild, waitForLine } from './host-processes';

export { BUSYBOX, BUSYBOX_IMAGE } from './busybox-image';
export { DOCKER, DOCKERD, processOnHost, spawnOnHost, type DockerHost } from './docker-host';
export { runCommand, type CommandResult } from './host-processes';


/**
 * The resolver every host's resolv.conf names: an address on each host's loopback (TEST-NET-1,
 * never routed anywhere) where test/helpers/dns-nxdomain.ts answers NXDOMAIN at once.
 */
export const HOST_RESOLVER = '192.0.2.53';

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

const live = new Set<LabState>();

let exitHookInstalled = false;

let labCounter = 0;

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
  /** The janitor, told what the lab makes as it makes it (see docker-janitor.ts). */
  janitor?: ChildProcess;
  stopped: boolean;
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
  state.janitor = startJanitor();
  tellJanitor(state, { dirs: [dir] });
  // The lab's name in its directory: how `docker-janitor.ts --stale` finds what a lost run left.
  writeFileSync(join(dir, 'lab'), `${base}\n`);
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
    tellJanitor(state, { namespaces: [switchNetns] });
    sh(['ip', 'netns', 'add', switchNetns]);
    state.namespaces.push(switchNetns);
    inNs(switchNetns, 'ip', 'link', 'set', 'lo', 'up');
    inNs(switchNetns, 'ip', 'link', 'add', 'br0', 'type', 'bridge');
    inNs(switchNetns, 'ip', 'addr', 'add', `${underlayGateway}/24`, 'dev', 'br0');
    inNs(switchNetns, 'ip', 'link', 'set', 'br0', 'up');

    const storageDriver = storageDriverFor(dir);
    for (let i = 1; i <= count; i++) {
      const name = `h${i}`;
      const netns = `${base}-${name}`;
      tellJanitor(state, { namespaces: [netns], cgroups: [`${base}-${name}`] });
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
      state.hosts.push(makeHost({ name, index: i, netns, address: `${octets}.${i}`, dir: join(dir, name), base, resolver: HOST_RESOLVER, daemonArgs: options.daemonArgs ?? [], storageDriver, verbose }));
    }

    const etcdStart = options.etcd === true ? startEtcd({ ns: switchNetns, host: underlayGateway }) : undefined;
    const resolverReady = Promise.all(state.resolvers.map((resolver) => waitForLine(resolver, 'listening', 20_000)));
    resolverReady.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
    const daemonsStarted = Date.now();
    await Promise.all(state.hosts.map((h) => startHolder(h)));
    tellJanitor(state, { mountNamespaces: state.hosts.map((h) => h.holderMountNs).filter((mnt): mnt is string => mnt !== undefined) });
    await Promise.all(state.hosts.map((h) => h.host.startDaemon()));
    const daemonsMs = Date.now() - daemonsStarted;
    const imageStarted = Date.now();
    const tarball = busyboxTarball(dir);
    await Promise.all(state.hosts.map((h) => h.host.dockerOk(['import', tarball, BUSYBOX_IMAGE])));
    const imageMs = Date.now() - imageStarted;
    let localUrl = '';
    if (etcdStart !== undefined) {
      const etcd = (state.etcd = await etcdStart);
      tellJanitor(state, { pids: etcd.pid === undefined ? [] : [etcd.pid], dirs: [etcd.dir] });
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
  tellJanitor(state, { done: true });
  state.janitor?.stdin?.end();
  return problems;
}

/**
 * The daemons' storage driver: overlay2, which cannot stack on an overlayfs (a CI container's
 * root, where /tmp may be one), so vfs there (it copies each layer; the busybox image is 2 MB).
 * VXLAN_DOCKER_STORAGE_DRIVER overrides.
 */
function storageDriverFor(dir: string): string {
  if (process.env.VXLAN_DOCKER_STORAGE_DRIVER) return process.env.VXLAN_DOCKER_STORAGE_DRIVER;
  const fsType = spawnSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' }).stdout.trim();
  return fsType === 'overlayfs' ? 'vfs' : 'overlay2';
}

/**
 * test/helpers/docker-janitor.ts, unreferenced (it keeps no test run alive), its stdin a pipe
 * whose end, when this process dies, tells it to clean up what it was told of.
 */
function startJanitor(): ChildProcess | undefined {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test/helpers/docker-janitor.ts')], { cwd: REPO_ROOT, stdio: ['pipe', 'ignore', 'inherit'] });
  child.on('error', () => undefined);
  child.stdin!.on('error', () => undefined);
  child.unref();
  (child.stdin as unknown as { unref?: () => void }).unref?.();
  return child;
}

function tellJanitor(state: LabState, note: JanitorNote): void {
  state.janitor?.stdin?.write(`${JSON.stringify(note)}\n`);
}

/** A helper of this folder (a TypeScript file run through tsx) in the network namespace `ns`. */
function startInNetns(ns: string, file: string, args: readonly string[]): ChildProcess {
  return spawn(...diesWithUs('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', join(REPO_ROOT, file), ...args]), {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}
