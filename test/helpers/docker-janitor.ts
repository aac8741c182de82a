// The Docker test hosts' janitor (test/helpers/docker-hosts.ts): a process of its own that learns,
// line by line on its stdin, what a lab made (namespaces, the hosts' mount namespaces, cgroups,
// directories), and removes all of it when its stdin ends without a "done" line: the test process
// died in a way that ran no exit hook (SIGKILL, a runner's timeout). Then the daemons' shims and
// the containers would outlive it (they are daemons of their own, parented to init), with the
// namespaces and the temporary directory. A lab that stops normally says "done" and the janitor
// leaves without touching anything.
//
//   node --import tsx test/helpers/docker-janitor.ts      stdin: one JSON JanitorNote per line
//
// By hand, for labs left by a run whose janitor could not act (killed too, or from before it
// existed): `--stale PREFIX` lists the labs named PREFIX-PID-N-… whose PID is gone, and
// `--stale PREFIX --remove` removes them (their processes, namespaces, cgroups and directories).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kill, processesOfHost, removeCgroups } from './host-processes';

/** What a lab tells its janitor; every field adds to what it knew. */
export interface JanitorNote {
  namespaces?: string[];
  /** Mount namespaces (as /proc/PID/ns/mnt reads) whose processes are the lab's. */
  mountNamespaces?: string[];
  cgroups?: string[];
  dirs?: string[];
  /** Process ids to end too (e.g. etcd, outside every host namespace). */
  pids?: number[];
  done?: boolean;
}

export interface JanitorList {
  namespaces: Set<string>;
  mountNamespaces: Set<string>;
  cgroups: Set<string>;
  dirs: Set<string>;
  pids: Set<number>;
  done: boolean;
}

export function emptyList(): JanitorList {
  return { namespaces: new Set(), mountNamespaces: new Set(), cgroups: new Set(), dirs: new Set(), pids: new Set(), done: false };
}

/** Add a note (one line of JSON) to the list; a line that is not a note is ignored. */
export function addNote(list: JanitorList, line: string): void {
  let note: JanitorNote;
  try {
    note = JSON.parse(line) as JanitorNote;
  } catch {
    return;
  }
  for (const ns of note.namespaces ?? []) list.namespaces.add(ns);
  for (const mnt of note.mountNamespaces ?? []) list.mountNamespaces.add(mnt);
  for (const cgroup of note.cgroups ?? []) list.cgroups.add(cgroup);
  for (const dir of note.dirs ?? []) list.dirs.add(dir);
  for (const pid of note.pids ?? []) list.pids.add(pid);
  if (note.done === true) list.done = true;
}

/** `net:[INODE]` of a named network namespace, as /proc/PID/ns/net reads; undefined when it is gone. */
function namedNetns(name: string): string | undefined {
  try {
    return `net:[${statSync(`/run/netns/${name}`).ino}]`;
  } catch {
    return undefined;
  }
}

/** Remove everything on the list: processes first (SIGKILL), then namespaces, cgroups, directories. */
export function sweep(list: JanitorList): void {
  const netNamespaces = [...list.namespaces].map(namedNetns).filter((ns): ns is string => ns !== undefined);
  for (let round = 0; round < 3; round++) {
    const pids = new Set<number>(list.pids);
    for (const mnt of list.mountNamespaces) for (const pid of processesOfHost(mnt, undefined)) pids.add(pid);
    for (const net of netNamespaces) for (const pid of processesOfHost(undefined, net)) pids.add(pid);
    pids.delete(process.pid);
    if (pids.size === 0) break;
    for (const pid of pids) kill(pid, 'SIGKILL');
    spawnSync('sleep', ['0.3']);
  }
  for (const ns of list.namespaces) spawnSync('ip', ['netns', 'del', ns]);
  for (const cgroup of list.cgroups) removeCgroups(cgroup);
  for (const dir of list.dirs) rmSync(dir, { recursive: true, force: true });
}

/**
 * What is left of labs named `${prefix}-${pid}-${n}` whose process `pid` is gone: their
 * namespaces (…-sw, …-hN), the hosts' cgroups, and their directories in the temporary directory
 * (each holds a file `lab` with the lab's name).
 */
export function staleLabs(prefix: string, temporaryDir = tmpdir()): Map<string, JanitorList> {
  const labs = new Map<string, JanitorList>();
  const escaped = prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const labName = new RegExp(`^${escaped}-(\\d+)-\\d+$`);
  const listOf = (lab: string): JanitorList | undefined => {
    const match = labName.exec(lab);
    if (match === null || existsSync(`/proc/${match[1]}`)) return undefined;
    let list = labs.get(lab);
    if (list === undefined) labs.set(lab, (list = emptyList()));
    return list;
  };
  const names = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').map((line) => line.split(' ')[0]);
  for (const name of names) {
    const match = /^(.*)-(sw|h\d+)$/.exec(name);
    const list = match === null ? undefined : listOf(match[1]);
    if (list === undefined) continue;
    list.namespaces.add(name);
    if (match![2] !== 'sw') list.cgroups.add(name);
  }
  for (const entry of readdirSync(temporaryDir)) {
    if (!entry.startsWith(`${prefix}-`)) continue;
    const dir = join(temporaryDir, entry);
    let lab: string;
    try {
      lab = readFileSync(join(dir, 'lab'), 'utf8').trim();
    } catch {
      continue;
    }
    const list = listOf(lab);
    if (list === undefined) continue;
    list.dirs.add(dir);
    for (const host of readdirSync(dir).filter((name) => /^h\d+$/.test(name))) list.cgroups.add(`${lab}-${host}`);
  }
  return labs;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1] && process.argv[2] === '--stale') {
  const prefix = process.argv[3];
  if (prefix === undefined || !/^[a-z][a-z0-9]*$/.test(prefix)) {
    console.error('usage: node --import tsx test/helpers/docker-janitor.ts --stale PREFIX [--remove]');
    process.exit(2);
  }
  const labs = staleLabs(prefix);
  for (const [name, list] of labs) {
    console.log(`${name}: namespaces ${[...list.namespaces].join(' ')}; directories ${[...list.dirs].join(' ') || 'none found'}`);
    if (process.argv[4] === '--remove') {
      sweep(list);
      console.log(`${name}: removed`);
    }
  }
  if (labs.size === 0) console.log(`no stale lab named ${prefix}-PID-…`);
} else if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const list = emptyList();
  let partial = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!;
    for (const line of lines) addNote(list, line);
  });
  process.stdin.on('end', () => {
    if (partial !== '') addNote(list, partial);
    if (!list.done) sweep(list);
    process.exit(0);
  });
  // Its own Ctrl-C (sent to the whole process group with the test's) must not stop it before the
  // test's own cleanup has said "done" or died.
  process.on('SIGINT', () => undefined);
}
