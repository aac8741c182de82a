/**
 * The control plane's scale figures, against one real etcd on loopback (no root, no TAPs):
 *   node --import tsx bench/control.ts [--agents 300] [--hosts 5] [--entries 10000]
 *   node --import tsx bench/control.ts --endpoints [--endpoint-hosts 1000] [--per-host 10] [--watchers 50]
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
 * D. Endpoints at scale (`--endpoints`, or `--parts D`; issue 22): `--endpoint-hosts` hosts ×
 *    `--per-host` endpoints written straight into one network in etcd (records under a few
 *    leases that are never kept alive: what matters is what a NEW agent does with them). Then
 *    (1) a new HostAgent with a real Forwarder (no-op ports) starts and joins, 5 times, timed until
 *    its forwarder holds every endpoint (FDB entry + neighbour) and every host (peer); the heap it
 *    keeps per remote endpoint (forced GC); (2) `--watchers` HostAgents (own etcd client each,
 *    fake forwarders that note FDB changes) join; etcd's load while nothing changes for 10 s, from
 *    its own /metrics (gRPC messages by method, watch streams, watchers) per agent; (3) one
 *    endpoint added and removed, 20 times, timed until every watcher has it programmed /
 *    unprogrammed.
 *
 * `--parts` (default ABC) picks the parts to run. Output: progress, then a markdown section for
 * BENCHMARKS.md (and JSON in bench/results/control.json).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import os from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Etcd3 } from 'etcd3';
import { Agent } from '../src/control/agent';
import { HostAgent } from '../src/control/host-agent';
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

const { values } = parseArgs({
  options: {
    agents: { type: 'string', default: '300' }, hosts: { type: 'string', default: '5' }, entries: { type: 'string', default: '10000' },
    parts: { type: 'string', default: 'ABC' }, endpoints: { type: 'boolean', default: false },
    'endpoint-hosts': { type: 'string', default: '1000' }, 'per-host': { type: 'string', default: '10' }, watchers: { type: 'string', default: '50' },
  },
});
const AGENTS = Number(values.agents);
const HOSTS = Number(values.hosts);
const ENTRIES = Number(values.entries);
const PARTS = values.endpoints ? 'D' : values.parts.toUpperCase();
const ENDPOINT_HOSTS = Number(values['endpoint-hosts']);
const PER_HOST = Number(values['per-host']);
const WATCHERS = Number(values.watchers);
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

/** A forwarder stand-in that notes when each VTEP and each MAC (static FDB entry) was added and removed. */
class TimingForwarder implements ForwarderControl {
  readonly added = new Map<string, number>();
  readonly removed = new Map<string, number>();
  readonly fdbAdded = new Map<string, number>();
  readonly fdbRemoved = new Map<string, number>();
  fdbEntries = 0;
  addPeer(_vni: number, endpoint: Endpoint): void {
    this.added.set(endpoint.address, performance.now());
  }
  removePeer(_vni: number, endpoint: Endpoint): boolean {
    this.removed.set(endpoint.address, performance.now());
    return true;
  }
  addFdbEntry(_vni: number, mac: string): void {
    if (!this.fdbAdded.has(mac)) this.fdbEntries++;
    this.fdbAdded.set(mac, performance.now());
    this.fdbRemoved.delete(mac);
  }
  removeFdbEntry(_vni: number, mac: string): boolean {
    this.fdbEntries--;
    this.fdbAdded.delete(mac);
    this.fdbRemoved.set(mac, performance.now());
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

/** etcd's own Prometheus metrics (on its client URL), by series (name and labels) → value. */
async function etcdMetrics(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return values;
}

/**
 * gRPC messages etcd received and sent between two scrapes, per second, in total and by method
 * (a unary call is one message each way; a stream — LeaseKeepAlive, Watch — counts each message).
 */
function loadBetween(before: Map<string, number>, after: Map<string, number>, elapsedMs: number) {
  const seconds = elapsedMs / 1000;
  const byMethod = (metric: string) => {
    const rates: Record<string, number> = {};
    for (const [series, value] of after) {
      if (!series.startsWith(`${metric}{`)) continue;
      const delta = value - (before.get(series) ?? 0);
      if (delta === 0) continue;
      const method = /grpc_method="([^"]+)"/.exec(series)?.[1] ?? '?';
      rates[method] = (rates[method] ?? 0) + delta / seconds;
    }
    return rates;
  };
  const receivedByMethod = byMethod('grpc_server_msg_received_total');
  const sentByMethod = byMethod('grpc_server_msg_sent_total');
  const total = (rates: Record<string, number>) => Object.values(rates).reduce((a, b) => a + b, 0);
  return { seconds, receivedPerS: total(receivedByMethod), sentPerS: total(sentByMethod), receivedByMethod, sentByMethod };
}

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
  if (PARTS.includes('A')) {
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
  }

  if (PARTS.includes('B')) {
    // ---- B. fan-out over many agents ---------------------------------------------------------
    log(`B. ${AGENTS} agents (own client each, fake forwarders) joining one network`);
    // Not 10.0.0.0/8: it would overlap part A's network, which createNetwork refuses.
    await createNetwork(admin, { name: 'scale', vni: 88, subnet: '100.64.0.0/10' });
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
  }

  if (PARTS.includes('C')) {
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
  }

  if (PARTS.includes('D')) {
    // ---- D. endpoints at scale: a new agent's join, fan-out of one endpoint, etcd's load ----
    const NET = 'endpoints';
    const VNI = 99;
    const ENDPOINTS = ENDPOINT_HOSTS * PER_HOST;
    log(`D. ${ENDPOINT_HOSTS} hosts × ${PER_HOST} endpoints in one network; a new agent joins; ${WATCHERS} agents watch one endpoint come and go`);
    await createNetwork(admin, { name: NET, vni: VNI, subnet: '10.96.0.0/12' });
    const overlayIp = (n: number) => `10.${96 + ((n >> 16) & 15)}.${(n >> 8) & 255}.${n & 255}`;
    const macOf = (prefix: string, n: number) => {
      const hex = n.toString(16).padStart(6, '0');
      return `${prefix}:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4)}`;
    };
    // The existing hosts: records under 10 leases that nobody keeps alive (a TTL longer than the
    // run), so etcd's steady load below is the measured agents' alone.
    const writer = client();
    const leases: string[] = [];
    for (let k = 0; k < 10; k++) leases.push(await writer.lease(3600, { autoKeepAlive: false }).grant());
    const puts: { key: string; value: string; lease: string }[] = [];
    for (let h = 0; h < ENDPOINT_HOSTS; h++) {
      const lease = leases[h % leases.length];
      const host: HostRecord = { hostId: `eh${h}`, vtep: { address: vtepOf(h), port: 4789 }, joined: new Date().toISOString() };
      puts.push({ key: keys.host(NET, host.hostId), value: JSON.stringify(host), lease });
      for (let k = 0; k < PER_HOST; k++) {
        const n = h * PER_HOST + k;
        // A Docker endpoint id is 64 hex digits: records the size real ones are.
        const endpoint: EndpointRecord = {
          endpointId: n.toString(16).padStart(64, '0'), hostId: host.hostId, mac: macOf('02:01:00', n), ipv4: overlayIp(n + 2), name: `c${n}`, aliases: [],
        };
        puts.push({ key: keys.endpoint(NET, endpoint.endpointId), value: JSON.stringify(endpoint), lease });
      }
    }
    const writeStart = performance.now();
    // Transactions of 100 puts (etcd's limit is 128 operations), 8 in flight.
    const batches: (typeof puts)[] = [];
    for (let i = 0; i < puts.length; i += 100) batches.push(puts.slice(i, i + 100));
    await Promise.all(Array.from({ length: 8 }, async () => {
      for (let batch = batches.shift(); batch !== undefined; batch = batches.shift()) {
        await writer.if(keys.network(NET), 'Create', '>', 0)
          .then(...batch.map((put) => writer.put(put.key).value(put.value).lease(put.lease)))
          .commit();
      }
    }));
    const snapshotBytes = puts.reduce((sum, put) => sum + put.key.length + put.value.length, 0);
    log(`  wrote ${puts.length} records (${(snapshotBytes / 1e6).toFixed(2)} MB of keys and values) in ${ms(performance.now() - writeStart)}`);

    // What any join must do first: read the network whole (the etcd3 client, nothing parsed).
    const readMs: number[] = [];
    for (let k = 0; k < 3; k++) {
      const t0 = performance.now();
      const read = await admin.getAll().prefix(keys.networkPrefix(NET)).exec();
      readMs.push(performance.now() - t0);
      if (read.kvs.length !== puts.length) throw new Error(`read ${read.kvs.length} keys, expected ${puts.length}`);
    }
    log(`  reading the network whole (${puts.length} keys): ${readMs.map(ms).join(', ')}`);

    // (1) a new agent with a real Forwarder joins, 5 times; the heap it keeps, from the last.
    const join = { started: [] as number[], programmed: [] as number[] };
    const heapHeld: number[] = [];
    const kept: { agent: HostAgent; forwarder: Forwarder }[] = [];
    for (let round = 0; round < 5; round++) {
      const agentClient = client();
      const forwarder = new Forwarder({ underlay: new NullUnderlay(), networks: [{ vni: VNI, device: nullDevice }], kernels: createKernels('reference') });
      gc();
      const heapBefore = process.memoryUsage().heapUsed;
      const agent = new HostAgent({ client: agentClient, hostId: `new${round}`, vtep: { address: `192.0.2.${round + 1}`, port: 4789 }, forwarder, watchTimeoutMs: 10_000 });
      const t0 = performance.now();
      await agent.start();
      join.started.push(performance.now() - t0);
      await agent.join(NET);
      join.programmed.push(performance.now() - t0);
      const fdb = forwarder.fdbEntries(VNI).length;
      const neighbours = forwarder.neighbours(VNI).length;
      const peers = forwarder.peers(VNI).length;
      // (the agents of the earlier rounds, still there, are hosts of the network too)
      if (fdb !== ENDPOINTS || neighbours !== ENDPOINTS || peers !== ENDPOINT_HOSTS + round) {
        throw new Error(`the new agent's forwarder holds ${fdb} FDB entries, ${neighbours} neighbours, ${peers} peers; expected ${ENDPOINTS}, ${ENDPOINTS}, ${ENDPOINT_HOSTS + round}`);
      }
      gc();
      const heapJoined = process.memoryUsage().heapUsed;
      // The agents stay until all 5 have joined: a closed agent (and its closed client) was not
      // freed at once here — the heap did not fall after a close, and the next join seemed to
      // grow it by nothing, as if it took the place of the last — so each round keeps its agent.
      // So each round's growth is what one more agent holds; the first's includes one-time costs
      // (compiled code, the client library's first use) and is not counted.
      const heapTotal = heapJoined - heapBefore;
      if (round > 0) heapHeld.push(heapTotal);
      kept.push({ agent, forwarder });
      log(`  round ${round + 1}: start ${ms(join.started.at(-1)!)}, joined with every endpoint programmed ${ms(join.programmed.at(-1)!)}; heap grew ${(heapTotal / 1e6).toFixed(1)} MB`);
    }
    for (const { agent, forwarder } of kept) {
      await agent.close();
      await forwarder.close();
    }

    // (2) watchers join; etcd's load while nothing changes.
    const watcherForwarders: TimingForwarder[] = [];
    const watcherAgents: HostAgent[] = [];
    const watcherJoinMs: number[] = [];
    const watchersStart = performance.now();
    for (let first = 0; first < WATCHERS; first += 10) {
      const wave = Array.from({ length: Math.min(10, WATCHERS - first) }, (_, k) => first + k);
      await Promise.all(wave.map(async (n) => {
        const forwarder = new TimingForwarder();
        const agent = new HostAgent({ client: client(), hostId: `w${n}`, vtep: { address: vtepOf(50_000 + n), port: 4789 }, forwarder, watchTimeoutMs: 10_000 });
        const t0 = performance.now();
        await agent.start();
        await agent.join(NET);
        watcherJoinMs.push(performance.now() - t0);
        if (forwarder.fdbEntries !== ENDPOINTS) throw new Error(`watcher w${n} holds ${forwarder.fdbEntries} FDB entries, expected ${ENDPOINTS}`);
        watcherForwarders.push(forwarder);
        watcherAgents.push(agent);
      }));
    }
    log(`  ${WATCHERS} agents joined (waves of 10) in ${ms(performance.now() - watchersStart)}: one join p50 ${ms(quantile(watcherJoinMs, 0.5))}, p99 ${ms(quantile(watcherJoinMs, 0.99))}`);
    const STEADY_MS = 10_000;
    const before = await etcdMetrics(etcd.url);
    await sleep(STEADY_MS);
    const after = await etcdMetrics(etcd.url);
    const steady = loadBetween(before, after, STEADY_MS);
    const perAgent = (x: number) => x / WATCHERS;
    log(`  steady ${STEADY_MS / 1000} s: gRPC messages received ${steady.receivedPerS.toFixed(1)}/s (${JSON.stringify(steady.receivedByMethod)}), sent ${steady.sentPerS.toFixed(1)}/s; ${after.get('etcd_debugging_mvcc_watch_stream_total')} watch streams, ${after.get('etcd_debugging_mvcc_watcher_total')} watchers`);

    // (3) one endpoint added and removed, 20 times.
    const added: number[] = [];
    const addedLast: number[] = [];
    const removed: number[] = [];
    const removedLast: number[] = [];
    const changesBefore = await etcdMetrics(etcd.url);
    const changesStart = performance.now();
    for (let k = 0; k < 20; k++) {
      const n = ENDPOINTS + k;
      const endpoint: EndpointRecord = { endpointId: `probe${k}`, hostId: 'eh0', mac: macOf('02:02:00', k), ipv4: overlayIp(n + 2), name: `probe${k}`, aliases: [] };
      const t0 = performance.now();
      await writer.put(keys.endpoint(NET, endpoint.endpointId)).value(JSON.stringify(endpoint)).lease(leases[0]);
      const seen: number[] = [];
      for (const forwarder of watcherForwarders) {
        while (!forwarder.fdbAdded.has(endpoint.mac)) await sleep(1);
        seen.push(forwarder.fdbAdded.get(endpoint.mac)! - t0);
      }
      added.push(...seen);
      addedLast.push(Math.max(...seen));
      const t1 = performance.now();
      await writer.delete().key(keys.endpoint(NET, endpoint.endpointId)).exec();
      const gone: number[] = [];
      for (const forwarder of watcherForwarders) {
        while (!forwarder.fdbRemoved.has(endpoint.mac)) await sleep(1);
        gone.push(forwarder.fdbRemoved.get(endpoint.mac)! - t1);
      }
      removed.push(...gone);
      removedLast.push(Math.max(...gone));
    }
    const changes = loadBetween(changesBefore, await etcdMetrics(etcd.url), performance.now() - changesStart);
    const watchEventsPerChange = changes.sentByMethod.Watch === undefined ? 0 : changes.sentByMethod.Watch * changes.seconds / 40;
    log(`  an endpoint added → programmed in each of ${WATCHERS}: p50 ${ms(quantile(added, 0.5))}, p99 ${ms(quantile(added, 0.99))}, last agent max ${ms(Math.max(...addedLast))}; removed → p50 ${ms(quantile(removed, 0.5))}, p99 ${ms(quantile(removed, 0.99))}, last agent max ${ms(Math.max(...removedLast))}; ${watchEventsPerChange.toFixed(1)} watch messages sent per change`);
    await Promise.all(watcherAgents.map((agent) => agent.close()));
    results.endpoints = {
      hosts: ENDPOINT_HOSTS, perHost: PER_HOST, endpoints: ENDPOINTS, watchers: WATCHERS, snapshotBytes, records: puts.length,
      readMs: summary(readMs), joinStartedMs: summary(join.started), joinProgrammedMs: summary(join.programmed), joinProgrammedRoundsMs: join.programmed,
      heapPerEndpointBytes: quantile(heapHeld, 0.5) / ENDPOINTS, heapTotalBytes: quantile(heapHeld, 0.5), heapHeldRoundsBytes: heapHeld,
      watcherJoinMs: summary(watcherJoinMs),
      steady: { ...steady, perAgentReceivedPerS: perAgent(steady.receivedPerS), perAgentSentPerS: perAgent(steady.sentPerS),
        watchStreams: after.get('etcd_debugging_mvcc_watch_stream_total'), watchers: after.get('etcd_debugging_mvcc_watcher_total'),
        agents: WATCHERS },
      addedMs: summary(added), addedLastMs: summary(addedLast), removedMs: summary(removed), removedLastMs: summary(removedLast),
      watchMessagesPerChange: watchEventsPerChange,
    };
  }

} finally {
  for (const c of clients) c.close();
  await etcd.stop();
}

type Summary = ReturnType<typeof summary>;
const r = results as {
  reach: { hosts: number; started: ReturnType<typeof summary>; programmed: ReturnType<typeof summary>; reachable: ReturnType<typeof summary> };
  fanOut: { agents: number; joinWallMs: number; joinMs: ReturnType<typeof summary>; convergedMs: number; revisionsPerJoin: number; watchFanOutMs: ReturnType<typeof summary>; lastAgentMs: ReturnType<typeof summary>; leaveFanOutMs: ReturnType<typeof summary>; allLeftMs: number; rssPerAgentKiB: number; recordBytes: number };
  memory: { entries: number; programMs: number; bytesPerEntry: number; removeOneMs: number };
  endpoints?: {
    hosts: number; perHost: number; endpoints: number; watchers: number; snapshotBytes: number; records: number;
    readMs: Summary; joinStartedMs: Summary; joinProgrammedMs: Summary; heapPerEndpointBytes: number; heapTotalBytes: number; watcherJoinMs: Summary;
    steady: ReturnType<typeof loadBetween> & { perAgentReceivedPerS: number; perAgentSentPerS: number; watchStreams?: number; watchers?: number; agents: number };
    addedMs: Summary; addedLastMs: Summary; removedMs: Summary; removedLastMs: Summary; watchMessagesPerChange: number;
  };
};
const machine = `${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}, Node ${process.version}, etcd 3.4 on loopback (one member)`;
const abcMarkdown = () => `Command: \`node --import tsx bench/control.ts --agents ${AGENTS} --hosts ${HOSTS} --entries ${ENTRIES}\` (${machine}).

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
const rates = (byMethod: Record<string, number>, agents: number) => Object.entries(byMethod).map(([method, perS]) => `${method} ${(perS / agents).toFixed(2)}`).join(', ');
const endpointsMarkdown = (d: NonNullable<typeof r.endpoints>) => `Command: \`node --import tsx bench/control.ts --endpoints --endpoint-hosts ${d.hosts} --per-host ${d.perHost} --watchers ${d.watchers}\` (${machine}).

| What (${d.hosts} hosts × ${d.perHost} endpoints = ${d.endpoints} endpoints in one network) | Figure |
|---|---|
| the network in etcd | ${d.records} keys, ${(d.snapshotBytes / 1e6).toFixed(2)} MB of keys and values: what a join reads |
| reading the network whole with the etcd3 client (one Range, nothing parsed), 3 reads | median ${ms(d.readMs.p50)}, max ${ms(d.readMs.max)} |
| a new HostAgent (real Forwarder, no-op ports): \`start()\` (lease grant) | median ${ms(d.joinStartedMs.p50)}, max ${ms(d.joinStartedMs.max)} |
| … \`start()\` → \`join()\` resolved with all ${d.endpoints} endpoints (FDB entry + neighbour) and ${d.hosts} peers in its forwarder, 5 joins | median ${ms(d.joinProgrammedMs.p50)}, max ${ms(d.joinProgrammedMs.max)} |
| heap the agent holds per remote endpoint (forced GC; growth over a join with the earlier agents kept: forwarder + reconciler + view + records, the peers' share included), median of joins 2–5 | ${d.heapPerEndpointBytes.toFixed(0)} B (${(d.heapTotalBytes / 1e6).toFixed(1)} MB in all) |
| ${d.watchers} HostAgents (own client each, fake forwarders) joining in waves of 10, one process: one join | p50 ${ms(d.watcherJoinMs.p50)}, p99 ${ms(d.watcherJoinMs.p99)} |
| one endpoint added → programmed in each of ${d.watchers} agents (20 adds) | p50 ${ms(d.addedMs.p50)}, p99 ${ms(d.addedMs.p99)}, max ${ms(d.addedMs.max)} |
| one endpoint removed → unprogrammed in each of ${d.watchers} agents (20 removals) | p50 ${ms(d.removedMs.p50)}, p99 ${ms(d.removedMs.p99)}, max ${ms(d.removedMs.max)} |
| … until the last of the ${d.watchers} has it: added / removed | median ${ms(d.addedLastMs.p50)} / ${ms(d.removedLastMs.p50)}, max ${ms(d.addedLastMs.max)} / ${ms(d.removedLastMs.max)} |
| etcd watch messages sent per endpoint change | ${d.watchMessagesPerChange.toFixed(1)} (one per watching agent) |
| etcd's steady load per agent, nothing changing (${d.steady.seconds.toFixed(0)} s, from etcd's /metrics, ÷ ${d.steady.agents} agents) | ${(d.steady.perAgentReceivedPerS).toFixed(2)} gRPC messages/s received (${rates(d.steady.receivedByMethod, d.steady.agents)}), ${(d.steady.perAgentSentPerS).toFixed(2)}/s sent |
| watch streams / watchers open in etcd with ${d.steady.agents} agents | ${d.steady.watchStreams} / ${d.steady.watchers} |
`;
const markdown = [
  results.reach !== undefined && results.fanOut !== undefined && results.memory !== undefined ? abcMarkdown() : '',
  r.endpoints !== undefined ? endpointsMarkdown(r.endpoints) : '',
].filter((part) => part !== '').join('\n');
mkdirSync(join(REPO_ROOT, 'bench/results'), { recursive: true });
writeFileSync(join(REPO_ROOT, `bench/results/control${PARTS === 'ABC' ? '' : `-${PARTS}`}.json`), `${JSON.stringify({ machine, results }, null, 2)}\n`);
process.stdout.write(`${markdown}\n`);
process.exit(0);
