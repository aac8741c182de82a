/** What the figures were measured on (machine, Node version, commit): recorded with every run, as BENCHMARKS.md explains. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { distBuiltAt } from './dist';

export interface MachineInfo {
  cpuModel: string;
  logicalCores: number;
  cpuFlags: string[];
  memoryGiB: number;
  kernel: string;
  node: string;
  v8: string;
  gcc: string | null;
  gitCommit: string | null;
  gitDirty: boolean | null;
  /** mtime of dist/index.mjs, the build every figure is of. */
  distBuiltAt: string | null;
  date: string;
  loadAverageAtStart: number[];
}

function run(command: string, args: string[]): string | null {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

export function machineInfo(): MachineInfo {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  let cpuFlags: string[] = [];
  try {
    const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
    cpuModel = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? cpuModel;
    const flags = /^flags\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.split(/\s+/) ?? [];
    // Only the vector extensions that matter to a checksum.
    cpuFlags = flags.filter((flag) => /^(sse4_1|sse4_2|avx|avx2|avx512f|avx512bw)$/.test(flag));
  } catch {
    // Not Linux: os.cpus() is all there is.
  }
  const status = run('git', ['status', '--porcelain', '--untracked-files=no']);
  return {
    cpuModel,
    logicalCores: os.availableParallelism?.() ?? os.cpus().length,
    cpuFlags,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    v8: process.versions.v8,
    gcc: run('gcc', ['-dumpfullversion']),
    gitCommit: run('git', ['rev-parse', 'HEAD']),
    gitDirty: status === null ? null : status.length > 0,
    distBuiltAt: distBuiltAt(),
    date: new Date().toISOString(),
    loadAverageAtStart: os.loadavg().map((load) => Math.round(load * 100) / 100),
  };
}
