// One Docker test host of test/helpers/docker-hosts.ts: its mount namespace (held by a process
// of its own, see startHolder), its daemon (started, stopped, restarted on the same directories),
// the client against it, and processes started on it (spawnOnHost). The lab makes the host's
// network namespace and removes everything; this file is what one host is.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { LabProcess, REPO_ROOT } from './netns';
import { commandLine, diesWithUs, kill, namespaceOf, processesOfHost, runCommand, sleep, type CommandResult } from './host-processes';

/** Debian docker.io 20.10: the daemon and its own client (not /usr/local/bin/docker, a newer one). */
export const DOCKERD = '/usr/sbin/dockerd';

export const DOCKER = '/usr/bin/docker';

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

/** A process started on a host by spawnOnHost (also stopped by the lab's stop()). */
export const hostProcesses = new Map<string, Set<ChildProcess>>();

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
  const child = spawn(...diesWithUs('nsenter', ['-t', String(host.holderPid), '-n', '-m', `--wd=${REPO_ROOT}`, '--', command, ...args]), {
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
export function pingDaemon(socket: string): Promise<boolean> {
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

export interface HostState {
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

export interface HostSpec {
  name: string;
  index: number;
  netns: string;
  address: string;
  dir: string;
  base: string;
  resolver: string;
  daemonArgs: readonly string[];
  /** overlay2, or vfs where the directory is itself on overlayfs (overlay2 cannot stack on it). */
  storageDriver: string;
  verbose: boolean;
}

export function makeHost(spec: HostSpec): HostState {
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
      `--storage-driver=${spec.storageDriver}`, '--iptables=false', '--ip6tables=false', '--bridge=none',
      '--data-root', paths.dataRoot, '--exec-root', paths.execRoot, '-H', `unix://${paths.socket}`, '--pidfile', paths.pidfile,
      // The containers' cgroups under one name per host, removed at stop (not a shared "docker").
      '--cgroup-parent', `/${state.cgroupParent}`,
      ...spec.daemonArgs,
    ];
    if (spec.verbose) console.log(`[${spec.name}] nsenter ${args.join(' ')}`);
    const child = spawn(...diesWithUs('nsenter', args), { stdio: ['ignore', 'pipe', 'pipe'] });
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

/**
 * The process that holds a host's mount namespace: nsenter into the host's network namespace,
 * unshare a private mount namespace, mount the host's own directories, then sleep. It prints
 * "ready" when the mounts are made.
 */
export async function startHolder(state: HostState): Promise<void> {
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
  const child = spawn(...diesWithUs('nsenter', [`--net=/run/netns/${state.netns}`, 'unshare', '-m', '--propagation', 'private', 'sh', '-c', script]), { stdio: ['ignore', 'pipe', 'pipe'] });
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
