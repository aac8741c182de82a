// Processes and cgroups of the Docker test hosts (test/helpers/docker-hosts.ts): running a command
// with its output kept, finding every process that belongs to a host (by its mount or network
// namespace, and their descendants) to end them all, removing the cgroups its daemon made, and
// waiting on or stopping a child process. Used by the host and the lab; nothing here starts one.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './netns';

export interface CommandResult {
  stdout: string;
  stderr: string;
  /** Exit status; null when killed (by the timeout). */
  code: number | null;
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

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The inode of a namespace link (/proc/PID/ns/KIND), or undefined when the process is gone. */
export function namespaceOf(pid: number | string, kind: 'mnt' | 'net'): string | undefined {
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
export function processesOfHost(mountNs: string | undefined, netNs: string | undefined): number[] {
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

export function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Gone already.
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
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
export function removeCgroups(name: string): string[] {
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

/** Wait until a child prints `text` (on stdout or stderr); throws when it exits first or after `ms`. */
export function waitForLine(child: ChildProcess, text: string, ms: number): Promise<void> {
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

export async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('close', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

const hasSetpriv = spawnSync('setpriv', ['--help'], { stdio: 'ignore' }).status === 0;

/**
 * `command args` wrapped so that the process gets SIGKILL when this one dies (util-linux's
 * `setpriv --pdeathsig KILL`, kept across exec), as [command, args] for spawn. Why: a test run
 * killed outright (SIGKILL, a runner's timeout) runs no exit hook, and would leave the hosts'
 * daemons, holders and helpers running with their namespaces. Without setpriv, as given.
 */
export function diesWithUs(command: string, args: readonly string[]): [string, string[]] {
  return hasSetpriv ? ['setpriv', ['--pdeathsig', 'KILL', '--', command, ...args]] : [command, [...args]];
}
