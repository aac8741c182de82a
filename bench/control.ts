/**
 * The control plane's scale figures, against one real etcd on loopback (no root, no TAPs):
 *   node --import tsx bench/control.ts [--agents 300] [--hosts 5] [--entries 10000]
 *
 * A. Reachability: `--hosts` hosts in this process, each a real Forwarder with a UserspaceHost
 *    device and a UDP underlay on 127.0.0.1, joined by Agents. One more host joins (5 times,
 *    leaving in between): time from `agent.start()` to (1) start resolved, (2) programmed in every
 *    other host's forwarder, (3) answering a ping from every other host (real VXLAN over loopback).
 * B. Fan-out: `--agents` Agents, each with its own etcd client and a fake forwarder that notes
 *    when it is programmed. They join in waves of 50 (join latency, etcd revisions per join); then
 *    20 host records are written one at a time and each agent's programming of it is timed (watch
 *    fan-out latency), and 20 leases revoked (leave fan-out); then all leave.
 * C. Memory per remote host in the forwarder: one Forwarder (no-op ports) programmed with
 *    `--entries` remote hosts through the Reconciler (peer + static FDB entry + neighbour each):
 *    heap after a forced GC, per entry; and the time it took.
 *
 * Output: progress, then a markdown section for BENCHMARKS.md (and JSON in bench/results/control.json).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import os from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Etcd3 } from 'etcd3';
import { Agent } from '../src/control/agent';
import { keys, type EndpointRecord, type HostRecord } from '../src/control/keys';
import { createNetwork } from '../src/control/networks';
import { Reconciler, type ForwarderControl } from '../src/control/reconcile';
import { connect } from '../src/control/store';
import type { Device, Endpoint, Underlay, UnderlayCounters } from '../src/forwarder/contracts';
import { UserspaceHost } from '../src/forwarder/device/userspace-host';
import { Forwarder } from '../src/forwarder/forwarder';
import { UdpUnderlay } from '../src/forwarder/underlay/udp';
import { createKernels } from '../src/backend';
import { startEtcd } from '../test/helpers/etcd';
import { REPO_ROOT } from '../test/helpers/netns';

const { values } = parseArgs({ options: { agents: { type: 'string', default: '300' }, hosts: { type: 'string', default: '5' }, entries: { type: 'string', default: '10000' } } });
const AGENTS = Number(values.agents);
const HOSTS = Number(values.hosts);
const ENTRIES = Number(values.entries);
// A forced GC for the memory figure, without --expose-gc on the command line (worker threads,
// which the UDP underlay starts, refuse that flag in their execArgv).
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const quantile = (xs: number[], q: number) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
};
const summary = (xs: number[]) => ({ p50: quantile(xs, 0.5), p99: quantile(xs, 0.99), max: Math.max(...xs), n: xs.length });
const ms = (x: number) => `${x.toFixed(1)} ms`;
const log = (line: string) => process.stderr.write(`${line}\n`);

/** A forwarder stand-in that notes when each VTEP was added and removed. */
class TimingForwarder implements ForwarderControl {
  readonly added = new Map<string, number>();
  readonly removed = new Map<string, number>();
  addPeer(_vni: number, endpoint: Endpoint): void {
    this.added.set(endpoint.address, performance.now());
  }
  removePeer(_vni: number, endpoint: Endpoint): boolean {
    this.removed.set(endpoint.address, performance.now());
    return true;
  }
  addFdbEntry(): void {}
  removeFdbEntry(): boolean {
    return true;
  }
  addNeighbour(): void {}
  removeNeighbour(): boolean {
    return true;
  }
}

/** Ports that do nothing: a Forwarder to hold state for the memory figure. */
class NullUnderlay implements Underlay {
  readonly family = 4 as const;
  readonly localAddress = '192.0.2.1';
  readonly localPort = 4789;
  readonly counters: UnderlayCounters = { received: 0, sent: 0, unknownSource: 0, oversize: 0, sendErrors: 0 };
  start(): void {}
  setEndpoint(): void {}
  receive(): number {
    return 0;
  }
  transmit(): number {
    return 0;
  }
  async close(): Promise<void> {}
}
const nullDevice: Device = { name: 'null', maxFrameLength: 1514, start() {}, receive: () => 0, transmit: () => 0, close: async () => undefined };

const ip = (n: number) => `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
const vtepOf = (n: number) => `198.${18 + ((n >> 16) & 1)}.${(n >> 8) & 255}.${n & 255}`;

const etcd = await startEtcd();
const clients: Etcd3[] = [];
const client = () => {
  const made = connect({ endpoints: [etcd.url], callTimeoutMs: 10_000 });
  clients.push(made);
  return made;
};
const admin = client();
const revision = async () => Number((await admin.get('/').exec()).header.revision);
const results: Record<string, unknown> = {};

try {
  // ---- A. start → reachable, with real forwarders over loopback UDP ------------------------
  log(`A. ${HOSTS} hosts with real forwarders on loopback; the last joins 5 times`);
  await createNetwork(admin, { name: 'reach', vni: 77, subnet: '10.77.0.0/24' });
  interface Host { agent: Agent; forwarder: Forwarder; device: UserspaceHost; ip: string }
  const openHost = async (n: number): Promise<Host> => {
    const hostIp = `10.77.0.${10 + n}`;
    const mac = `02:77:00:00:00:${n.toString(16).padStart(2, '0')}`;
    const underlay = UdpUnderlay.open({ address: '127.0.0.1', port: 0 });
    const device = new UserspaceHost({ name: `h${n}`, mac, ip: hostIp });
    const forwarder = new Forwarder({ underlay, networks: [{ vni: 77, device }] });
    forwarder.start();
    const agent = new Agent({
      client: client(), network: 'reach', hostId: `reach-${n}`, vtep: { address: '127.0.0.1', port: underlay.localPort },
      mac, forwarder, ttlSeconds: 10, preferredIp: hostIp,
    });
    return { agent, forwarder, device, ip: hostIp };
  };
  const resident: Host[] = [];
  for (let n = 0; n < HOSTS - 1; n++) {
    const host = await openHost(n);
    await host.agent.start();
    resident.push(host);
  }
  const reach = { started: [] as number[], programmed: [] as number[], reachable: [] as number[] };
  for (let round = 0; round < 5; round++) {
    const joining = await openHost(HOSTS - 1);
    const t0 = performance.now();
    const started = joining.agent.start();
    const programmed = Promise.all(resident.map(async (host) => {
      while (!host.agent.hosts().some((h) => h.hostId === joining.agent.hostId)) await sleep(1);
      return performance.now() - t0;
    }));
    const reachable = Promise.all(resident.map(async (host) => {
      for (;;) {
        // Before the joiner is programmed here, ARP for it goes unanswered (ping throws): try again.
        const result = await host.device.ping(joining.ip, { count: 1, timeoutMs: 10 }).catch(() => undefined);
        if (result?.received === 1) return performance.now() - t0;
      }
    }));
    await started;
    if (joining.agent.ip !== joining.ip) throw new Error(`expected ${joining.ip}, got ${joining.agent.ip}`);
    reach.started.push(performance.now() - t0);
    reach.programmed.push(Math.max(...await programmed));
    reach.reachable.push(Math.max(...await reachable));
    log(`  round ${round + 1}: started ${ms(reach.started.at(-1)!)}, programmed everywhere ${ms(reach.programmed.at(-1)!)}, pinged from all ${HOSTS - 1} ${ms(reach.reachable.at(-1)!)}`);
    await joining.agent.close();
    await joining.forwarder.close();
    for (const host of resident) while (host.agent.hosts().length !== HOSTS - 2) await sleep(1);
  }
  for (const host of resident) {
    await host.agent.close();
    await host.forwarder.close();
  }
  results.reach = { hosts: HOSTS, started: summary(reach.started), programmed: summary(reach.programmed), reachable: summary(reach.reachable) };

  // ---- B. fan-out over many agents ---------------------------------------------------------
  log(`B. ${AGENTS} agents (own client each, fake forwarders) joining one network`);
  await createNetwork(admin, { name: 'scale', vni: 88, subnet: '10.0.0.0/8' });
  const forwarders: TimingForwarder[] = [];
  const agents: Agent[] = [];
  const joinMs: number[] = [];
  const rssBefore = process.memoryUsage().rss;
  const revisionBefore = await revision();
  const wallStart = performance.now();
  for (let first = 0; first < AGENTS; first += 50) {
    const wave = Array.from({ length: Math.min(50, AGENTS - first) }, (_, k) => first + k);
    await Promise.all(wave.map(async (n) => {
      const forwarder = new TimingForwarder();
      const agent = new Agent({ client: client(), network: 'scale', hostId: `a${n}`, vtep: { address: vtepOf(n), port: 4789 }, mac: '02:00:00:00:00:01', forwarder, ttlSeconds: 30 });
      const t0 = performance.now();
      await agent.start();
      joinMs.push(performance.now() - t0);
      forwarders.push(forwarder);
      agents.push(agent);
    }));
  }
  const joinedWall = performance.now() - wallStart;
  const revisionsPerJoin = ((await revision()) - revisionBefore) / AGENTS;
  for (const agent of agents) while (agent.status().hosts !== AGENTS - 1) await sleep(5);
  const converged = performance.now() - wallStart;
  const rssPerAgent = (process.memoryUsage().rss - rssBefore) / AGENTS;
  log(`  joined in ${ms(joinedWall)} (per join p50 ${ms(quantile(joinMs, 0.5))}, p99 ${ms(quantile(joinMs, 0.99))}); every agent has all ${AGENTS - 1} others after ${ms(converged)}; ${revisionsPerJoin} revisions per join`);

  const fanOut: number[] = [];
  const fanOutMax: number[] = [];
  const leaveOut: number[] = [];
  const writer = client();
  for (let k = 0; k < 20; k++) {
    const n = 100_000 + k;
    const lease = writer.lease(30, { autoKeepAlive: false });
    const leaseId = await lease.grant();
    const record: HostRecord = { hostId: `probe${k}`, vtep: { address: vtepOf(n), port: 4789 }, joined: '' };
    const t0 = performance.now();
    await writer.put(keys.host('scale', record.hostId)).value(JSON.stringify(record)).lease(leaseId);
    const seen: number[] = [];
    for (const forwarder of forwarders) {
      while (!forwarder.added.has(record.vtep.address)) await sleep(1);
      seen.push(forwarder.added.get(record.vtep.address)! - t0);
    }
    fanOut.push(...seen);
    fanOutMax.push(Math.max(...seen));
    const t1 = performance.now();
    await lease.revoke();
    for (const forwarder of forwarders) {
      while (!forwarder.removed.has(record.vtep.address)) await sleep(1);
      leaveOut.push(forwarder.removed.get(record.vtep.address)! - t1);
    }
  }
  log(`  join fan-out to ${AGENTS} agents: p50 ${ms(quantile(fanOut, 0.5))}, p99 ${ms(quantile(fanOut, 0.99))}, last agent p50 ${ms(quantile(fanOutMax, 0.5))}; leave fan-out p50 ${ms(quantile(leaveOut, 0.5))}, p99 ${ms(quantile(leaveOut, 0.99))}`);
  const leaveStart = performance.now();
  await Promise.all(agents.map((agent) => agent.close()));
  const leftWall = performance.now() - leaveStart;
  results.fanOut = {
    agents: AGENTS, joinWallMs: joinedWall, joinMs: summary(joinMs), convergedMs: converged, revisionsPerJoin,
    watchFanOutMs: summary(fanOut), lastAgentMs: summary(fanOutMax), leaveFanOutMs: summary(leaveOut), allLeftMs: leftWall,
    rssPerAgentKiB: rssPerAgent / 1024,
    recordBytes: JSON.stringify({ hostId: 'h-0123456789abcdef', vtep: { address: '198.18.0.1', port: 4789 }, mac: '02:00:00:00:00:01', ip: '10.0.0.1', joined: new Date().toISOString() }).length,
  };
  log(`  all ${AGENTS} left (leases revoked) in ${ms(leftWall)}`);

  // ---- C. memory per remote host entry in the forwarder ------------------------------------
  log(`C. one Forwarder programmed with ${ENTRIES} remote hosts`);
  const forwarder = new Forwarder({ underlay: new NullUnderlay(), networks: [{ vni: 1, device: nullDevice }], kernels: createKernels('reference') });
  const reconciler = new Reconciler(forwarder, 1, 'self');
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  // The records too (an agent holds one per remote host, parsed from etcd).
  // Layout v2: a host record and its one endpoint (as `agent --network` writes them).
  const records = new Map<string, HostRecord>();
  const endpoints = new Map<string, EndpointRecord>();
  for (let n = 0; n < ENTRIES; n++) {
    const hex = n.toString(16).padStart(6, '0');
    records.set(`h${n}`, { hostId: `h${n}`, vtep: { address: vtepOf(n), port: 4789 }, joined: '' });
    endpoints.set(`tap.h${n}`, { endpointId: `tap.h${n}`, hostId: `h${n}`, mac: `02:00:00:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4)}`, ipv4: ip(n + 1), name: `h${n}`, aliases: [] });
  }
  const t0 = performance.now();
  reconciler.resync(records, endpoints);
  const programMs = performance.now() - t0;
  records.clear();
  endpoints.clear();
  gc();
  const heapAfter = process.memoryUsage().heapUsed;
  const perEntry = (heapAfter - heapBefore) / ENTRIES;
  const t1 = performance.now();
  reconciler.setHost('h0', undefined);
  const removeOneMs = performance.now() - t1;
  log(`  ${ENTRIES} remote hosts programmed in ${ms(programMs)}: ${(perEntry).toFixed(0)} B of heap each (forwarder, reconciler and the records); removing one then took ${ms(removeOneMs)}`);
  results.memory = { entries: ENTRIES, programMs, bytesPerEntry: perEntry, removeOneMs, peers: forwarder.peers(1).length };
  await forwarder.close();
} finally {
  for (const c of clients) c.close();
  await etcd.stop();
}

const r = results as {
  reach: { hosts: number; started: ReturnType<typeof summary>; programmed: ReturnType<typeof summary>; reachable: ReturnType<typeof summary> };
  fanOut: { agents: number; joinWallMs: number; joinMs: ReturnType<typeof summary>; convergedMs: number; revisionsPerJoin: number; watchFanOutMs: ReturnType<typeof summary>; lastAgentMs: ReturnType<typeof summary>; leaveFanOutMs: ReturnType<typeof summary>; allLeftMs: number; rssPerAgentKiB: number; recordBytes: number };
  memory: { entries: number; programMs: number; bytesPerEntry: number; removeOneMs: number };
};
const machine = `${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}, Node ${process.version}, etcd 3.4 on loopback (one member)`;
const markdown = `Command: \`node --import tsx bench/control.ts --agents ${AGENTS} --hosts ${HOSTS} --entries ${ENTRIES}\` (${machine}).

| What | Figure |
|---|---|
| \`agent.start()\` → start resolved (register + first sync + watch), ${r.reach.hosts} hosts | median ${ms(r.reach.started.p50)}, max ${ms(r.reach.started.max)} |
| \`agent.start()\` → programmed in every other host's forwarder | median ${ms(r.reach.programmed.p50)}, max ${ms(r.reach.programmed.max)} |
| \`agent.start()\` → answering a ping from every other host (real VXLAN on loopback) | median ${ms(r.reach.reachable.p50)}, max ${ms(r.reach.reachable.max)} |
| ${r.fanOut.agents} agents joining in waves of 50: one join (lease grant + reads + txn + snapshot + watch) | p50 ${ms(r.fanOut.joinMs.p50)}, p99 ${ms(r.fanOut.joinMs.p99)} |
| … all joined / every agent programmed with all ${r.fanOut.agents - 1} others | ${ms(r.fanOut.joinWallMs)} / ${ms(r.fanOut.convergedMs)} |
| etcd revisions (write transactions) per join | ${r.fanOut.revisionsPerJoin.toFixed(2)} (one txn of 2 keys; plus one LeaseGrant) |
| watch fan-out: a host record written → programmed in each of ${r.fanOut.agents} agents | p50 ${ms(r.fanOut.watchFanOutMs.p50)}, p99 ${ms(r.fanOut.watchFanOutMs.p99)}, max ${ms(r.fanOut.watchFanOutMs.max)} |
| … until the last of the ${r.fanOut.agents} has it | median ${ms(r.fanOut.lastAgentMs.p50)}, max ${ms(r.fanOut.lastAgentMs.max)} |
| leave fan-out: a lease revoked → removed in each agent | p50 ${ms(r.fanOut.leaveFanOutMs.p50)}, p99 ${ms(r.fanOut.leaveFanOutMs.p99)} |
| a host record in etcd | ${r.fanOut.recordBytes} B of JSON (+ a ~10 B IPAM key), 2 keys per host |
| client memory per agent (an etcd client + an Agent, this process's RSS / agents) | ${r.fanOut.rssPerAgentKiB.toFixed(0)} KiB |
| heap per remote host: forwarder (peer + static FDB entry + neighbour) + reconciler + its record, ${r.memory.entries} hosts | ${r.memory.bytesPerEntry.toFixed(0)} B (programmed in ${ms(r.memory.programMs)}) |
`;
mkdirSync(join(REPO_ROOT, 'bench/results'), { recursive: true });
writeFileSync(join(REPO_ROOT, 'bench/results/control.json'), `${JSON.stringify({ machine, results }, null, 2)}\n`);
process.stdout.write(`${markdown}\n`);
process.exit(0);
