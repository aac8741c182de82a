// The control plane against a real etcd (on loopback, no root needed), with agents in this
// process programming fake forwarders:
// - networks: a taken name or VNI refused, also when many creates race (exactly one wins); rm
//   refused while hosts are joined, forced removes their keys too
// - IPAM: agents racing for a small subnet never share an address and the extra ones are refused;
//   an address is released when its host's lease expires; a host restarted with its id keeps it
// - the agent: others see a join and a leave at once; a host whose lease is lost is gone within
//   the TTL; an agent cut off from etcd (a TCP proxy closed) keeps its state, and after changes
//   AND a compaction while it was away it resyncs to exactly the current state
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { Agent, AgentError } from '../../src/control/agent';
import { keys } from '../../src/control/keys';
import { createNetwork, inspectNetwork, listNetworks, NetworkError, removeNetwork } from '../../src/control/networks';
import { connect } from '../../src/control/store';
import { etcdUnusable, startEtcd, type EtcdServer } from '../helpers/etcd';
import { warnSkipped } from '../helpers/netns';
import { FakeForwarder } from './fake-forwarder';

const TESTS = [
  'networks: a taken name, VNI or subnet, or an overlapping subnet, is refused; racing creates of one VNI or of overlapping subnets, exactly one wins',
  'networks: ls and inspect; rm refused while hosts are joined, --force removes their keys',
  'IPAM: 10 agents racing for a /29 (6 addresses, one the gateway): 5 join with distinct addresses, 5 refused with NO_ADDRESS',
  'IPAM: an address is released when its host\'s lease expires; a host restarted with its id keeps its address',
  'agent: the others see a join and a leave (revoke) at once, and a host whose lease expires within the TTL',
  'agent: cut off from etcd (proxy closed) it keeps forwarding state; changes and a compaction meanwhile; back, it resyncs exactly',
  'agent: refuses a host id held by a live agent at another VTEP; stops with NETWORK_GONE when its network is removed',
  'layout: keys of layout v1 in etcd are refused with a sentence by network ls, network create and the agent',
  'dual stack: a network with an IPv4 and an IPv6 subnet; mistakes (two of a family, wrong size, IPv6 overlap) refused with nothing written; a record of the previous version still joins',
  'dual stack: agents on a dual-stack /120 and on an IPv6-only network get distinct addresses of each family and program each other\'s IPv6 neighbours; addresses released on leave',
];

let unusable: string | undefined;
try {
  unusable = etcdUnusable('control store tests');
} catch (error) {
  test('control store tests: etcd', () => {
    throw error;
  });
}

/** The promise `fn` returns rejects with a message matching `pattern`. */
async function rejects(fn: () => Promise<unknown>, pattern: RegExp): Promise<void> {
  let error: unknown;
  try {
    await fn();
  } catch (caught) {
    error = caught;
  }
  assert.ok(error instanceof Error, `rejected (expected ${pattern})`);
  assert.match((error as Error).message, pattern);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, predicate: () => boolean, ms = 5000): Promise<number> {
  const started = performance.now();
  while (!predicate()) {
    if (performance.now() - started > ms) throw new Error(`not ${what} within ${ms} ms`);
    await sleep(20);
  }
  return performance.now() - started;
}

/** A TCP proxy in front of etcd that a test can cut (connections dropped, new ones refused) and restore. */
class Proxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;
  constructor(private readonly target: number) {}
  async open(): Promise<void> {
    const server = createServer((socket) => {
      const upstream = tcpConnect(this.target, '127.0.0.1');
      for (const s of [socket, upstream]) {
        this.sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => this.sockets.delete(s));
      }
      socket.pipe(upstream).pipe(socket);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    if (server !== undefined) await new Promise((resolve) => server.close(resolve));
  }
}

let etcd: EtcdServer;
const clients: { close(): void }[] = [];
const agents: Agent[] = [];
function client(url = etcd.url) {
  const made = connect({ endpoints: [url], callTimeoutMs: 2000 });
  clients.push(made);
  return made;
}
function agent(network: string, n: number, options: { url?: string; ttlSeconds?: number; forwarder?: FakeForwarder; hostId?: string; vtep?: string } = {}) {
  const made = new Agent({
    client: client(options.url), network, hostId: options.hostId ?? `host-${n}`, ttlSeconds: options.ttlSeconds ?? 2,
    vtep: { address: options.vtep ?? `192.0.2.${n}`, port: 4789 }, mac: `02:00:00:00:00:${n.toString(16).padStart(2, '0')}`,
    forwarder: options.forwarder ?? new FakeForwarder(), retryMinMs: 50, retryMaxMs: 300,
  });
  agents.push(made);
  return made;
}

if (unusable !== undefined) {
  warnSkipped('needs etcd', TESTS, unusable);
} else {
  test.before(async () => {
    etcd = await startEtcd();
  });
  test.after(async () => {
    await Promise.all(agents.map((a) => a.close().catch(() => undefined)));
    for (const c of clients) c.close();
    await etcd?.stop();
  });

  test(TESTS[0], async () => {
    const c = client();
    await createNetwork(c, { name: 'n0', vni: 100, subnet: '10.100.0.0/24' });
    await rejects(() => createNetwork(c, { name: 'n0', vni: 101, subnet: '10.101.0.0/24' }), /a network named n0 exists already/);
    await rejects(() => createNetwork(c, { name: 'other', vni: 100, subnet: '10.101.0.0/24' }), /VNI 100 is taken by network n0/);
    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => createNetwork(client(), { name: `race${i}`, vni: 200, subnet: '10.200.0.0/24' })));
    const won = results.filter((r) => r.status === 'fulfilled');
    assert.is(won.length, 1, 'exactly one create of VNI 200 succeeded');
    for (const r of results) if (r.status === 'rejected') assert.instance(r.reason, NetworkError);
    assert.is((await c.get(keys.vni(200)).string()), (won[0] as PromiseFulfilledResult<{ name: string }>).value.name, 'the VNI key names the winner');
    await rejects(() => createNetwork(c, { name: 'wide', vni: 102, subnet: '10.100.0.0/16' }), /subnet 10\.100\.0\.0\/16 overlaps network n0's subnet 10\.100\.0\.0\/24/);
    await rejects(() => createNetwork(c, { name: 'same', vni: 103, subnet: '10.100.0.0/24' }), /overlaps network n0/);
    // Racing creates of overlapping subnets (each a different name, VNI and exact subnet): one wins.
    const overlapping = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => createNetwork(client(), { name: `ov${i}`, vni: 300 + i, subnet: `10.30.0.0/${16 + i}` })));
    assert.is(overlapping.filter((r) => r.status === 'fulfilled').length, 1, 'exactly one of six overlapping subnets was created');
  });

  test(TESTS[1], async () => {
    const c = client();
    await createNetwork(c, { name: 'n1', vni: 110, subnet: '10.110.0.0/24' });
    const names = (await listNetworks(c)).map((n) => n.name);
    assert.ok(names.includes('n1') && names.includes('n0'), `ls: ${names}`);
    const a = agent('n1', 1);
    await a.start();
    const inspection = await inspectNetwork(c, 'n1');
    assert.equal(inspection.hosts.map((h) => [h.hostId, h.vtep.address]), [['host-1', '192.0.2.1']]);
    assert.equal(inspection.endpoints.map((e) => [e.endpointId, e.hostId, e.ipv4, e.mac]), [['tap.host-1', 'host-1', a.ip, '02:00:00:00:00:01']], "the agent's TAP is the host's one endpoint");
    assert.is(inspection.network.gateway, '10.110.0.1');
    assert.ok(inspection.hosts[0].ttlSeconds > 0 && inspection.hosts[0].ttlSeconds <= 2, 'the lease and its seconds left');
    // Forced out below: it then reports the network gone (tested in the last test).
    a.on('error', () => undefined);
    await rejects(() => removeNetwork(c, 'n1'), /network n1 still has 1 live host\(s\) \(host-1\); stop their agents first, or use --force/);
    assert.equal(await removeNetwork(c, 'n1', { force: true }), { hostsRemoved: 1 });
    assert.is(await c.getAll().prefix(keys.hostsPrefix('n1')).count(), 0);
    assert.is(await c.getAll().prefix(keys.ipamPrefix('n1')).count(), 0);
    assert.is(await c.getAll().prefix(keys.endpointsPrefix('n1')).count(), 0);
    assert.is(await c.get(keys.subnet('10.110.0.0/24')).string(), null, 'the subnet is free again');
    assert.is(await c.get(keys.vni(110)).string(), null, 'the VNI is free again');
    await rejects(() => inspectNetwork(c, 'n1'), /no network named n1/);
  });

  test(TESTS[2], async () => {
    await createNetwork(client(), { name: 'n2', vni: 120, subnet: '10.120.0.0/29' });
    const racers = Array.from({ length: 10 }, (_, i) => agent('n2', 10 + i));
    const results = await Promise.allSettled(racers.map((a) => a.start()));
    const joined = racers.filter((_, i) => results[i].status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    console.log(`  10 racers for 5 addresses: ${joined.length} joined (${joined.map((a) => a.ip).sort().join(' ')}), ${refused.length} refused`);
    assert.is(joined.length, 5);
    assert.is(new Set(joined.map((a) => a.ip)).size, 5, 'distinct addresses');
    assert.not.ok(joined.some((a) => a.ip === '10.120.0.1'), 'the gateway is never handed out');
    for (const r of refused) {
      assert.instance(r.reason, AgentError);
      assert.is((r.reason as AgentError).code, 'NO_ADDRESS');
    }
    const ipam = await client().getAll().prefix(keys.ipamPrefix('n2')).strings();
    assert.is(Object.keys(ipam).length, 5, 'five address keys, none left by the refused');
    await Promise.all(joined.map((a) => a.close()));
    assert.is(await client().getAll().prefix(keys.ipamPrefix('n2')).count(), 0, 'released on leave');
  });

  test(TESTS[3], async () => {
    const c = client();
    await createNetwork(c, { name: 'n3', vni: 130, subnet: '10.130.0.0/24' });
    const first = agent('n3', 1, { ttlSeconds: 2 });
    const { ip } = await first.start();
    // Dies: the lease is no longer kept alive (release, not revoke), so etcd expires it.
    await first.close({ leave: false });
    const started = performance.now();
    while (await c.get(keys.ipam('n3', ip)).string() !== null) await sleep(50);
    const released = performance.now() - started;
    console.log(`  address ${ip} released ${released.toFixed(0)} ms after its host stopped keeping the lease (TTL 2 s)`);
    // etcd's lessor sweeps for expired leases every 500 ms and revokes them through raft.
    assert.ok(released <= 3000, 'within the TTL and one expiry sweep');
    // Taken by nobody meanwhile: the same id finds the same address first.
    const again = agent('n3', 1, { ttlSeconds: 2 });
    assert.is((await again.start()).ip, ip, 'the same address after a restart');
    // Restarted while the old lease still lives (a crash): it takes its own keys over.
    await again.close({ leave: false });
    const third = agent('n3', 1, { ttlSeconds: 2 });
    assert.is((await third.start()).ip, ip, 'the same address, taken over from its previous lease');
    await sleep(2600);
    assert.is(await c.get(keys.ipam('n3', ip)).string(), 'host-1', 'the old lease expiring did not take the address from the new one');
    await third.close();
  });

  test(TESTS[4], async () => {
    await createNetwork(client(), { name: 'n4', vni: 140, subnet: '10.140.0.0/24' });
    const fa = new FakeForwarder(140);
    const fb = new FakeForwarder(140);
    const a = agent('n4', 1, { forwarder: fa, ttlSeconds: 2 });
    await a.start();
    const b = agent('n4', 2, { forwarder: fb, ttlSeconds: 2 });
    await b.start();
    assert.equal(fb.state().peers, ['192.0.2.1:4789'], 'b programmed with a at its start');
    const seen = await until('a sees b', () => fa.peers.has('192.0.2.2:4789'));
    console.log(`  a saw b's join ${seen.toFixed(0)} ms after b's start returned`);
    assert.equal(fa.state().neighbours, [`${b.ip}=02:00:00:00:00:02`]);
    await b.close();
    const left = await until('a drops b', () => fa.peers.size === 0);
    console.log(`  a dropped b ${left.toFixed(0)} ms after b left (lease revoked)`);
    const c = agent('n4', 3, { forwarder: new FakeForwarder(140), ttlSeconds: 2 });
    await c.start();
    await until('a sees c', () => fa.peers.has('192.0.2.3:4789'));
    await c.close({ leave: false });
    const expired = await until('a drops c', () => fa.peers.size === 0, 4000);
    console.log(`  a dropped c ${expired.toFixed(0)} ms after c stopped keeping its lease alive (TTL 2 s)`);
    assert.ok(expired <= 3000, 'within the TTL and one expiry sweep');
    assert.equal(fa.state(), { peers: [], fdb: [], neighbours: [] });
    await a.close();
  });

  test(TESTS[5], async () => {
    const direct = client();
    await createNetwork(direct, { name: 'n5', vni: 150, subnet: '10.150.0.0/24' });
    const proxy = new Proxy(etcd.clientPort);
    await proxy.open();
    const fa = new FakeForwarder(150);
    const a = agent('n5', 1, { url: `http://127.0.0.1:${proxy.port}`, forwarder: fa, ttlSeconds: 5 });
    await a.start();
    const b = agent('n5', 2, { ttlSeconds: 5 });
    await b.start();
    await until('a sees b', () => fa.peers.has('192.0.2.2:4789'));
    const before = a.status();

    await proxy.cut();
    await until('a notices', () => !a.status().connected, 5000);
    assert.equal(fa.state().peers, ['192.0.2.2:4789'], 'the last known state is kept while cut off');
    // Meanwhile: b leaves, c and d join, then history is compacted up to now.
    await b.close();
    const c = agent('n5', 3, { ttlSeconds: 5 });
    const d = agent('n5', 4, { ttlSeconds: 5 });
    await c.start();
    await d.start();
    for (let i = 0; i < 20; i++) await direct.put(`${keys.hostsPrefix('n5')}noise`).value('not json');
    await direct.delete().key(`${keys.hostsPrefix('n5')}noise`);
    const revision = Number((await direct.get(keys.network('n5')).exec()).header.revision);
    await direct.kv.compact({ revision, physical: true });
    assert.ok(revision > before.revision + 20, `the watch's next revision ${before.revision + 1} is compacted away (now ${revision})`);

    await proxy.open();
    const back = await until('a resyncs', () => a.status().connected && a.status().resyncs > before.resyncs, 10_000);
    console.log(`  after the cut and a compaction to revision ${revision}: a resynced ${back.toFixed(0)} ms after etcd was reachable again`);
    assert.equal(fa.state().peers, ['192.0.2.3:4789', '192.0.2.4:4789'], 'b gone, c and d there');
    assert.equal(fa.state().neighbours, [`${c.ip}=02:00:00:00:00:03`, `${d.ip}=02:00:00:00:00:04`].sort());
    // And it watches again: e's join arrives as an event.
    const e = agent('n5', 5, { ttlSeconds: 5 });
    await e.start();
    await until('a sees e', () => fa.peers.has('192.0.2.5:4789'));
    await Promise.all([a, c, d, e].map((x) => x.close()));
    await proxy.cut();
  });

  test(TESTS[6], async () => {
    const c = client();
    await createNetwork(c, { name: 'n6', vni: 160, subnet: '10.160.0.0/24' });
    const a = agent('n6', 1, { hostId: 'same' });
    await a.start();
    const impostor = agent('n6', 2, { hostId: 'same' });
    await rejects(() => impostor.start(), /host id same is registered in network n6 by a live agent at VTEP 192\.0\.2\.1:4789/);
    const errors: Error[] = [];
    a.on('error', (error: Error) => errors.push(error));
    await removeNetwork(c, 'n6', { force: true });
    await until('a gives up', () => errors.length > 0, 5000);
    assert.instance(errors[0], AgentError);
    assert.is((errors[0] as AgentError).code, 'NETWORK_GONE');
    assert.match(errors[0].message, /network n6 was removed/);
  });

  test(TESTS[7], async () => {
    const c = client();
    await c.put('/vxlan-wasm/v1/networks/old').value('{"name":"old","vni":7,"subnet":"10.7.0.0/24"}');
    try {
      await rejects(() => listNetworks(client()), /etcd holds 1 key\(s\) of the previous layout \(\/vxlan-wasm\/v1\/\).*etcdctl del --prefix \/vxlan-wasm\/v1\//);
      await rejects(() => createNetwork(client(), { name: 'n7', vni: 170, subnet: '10.170.0.0/24' }), /previous layout/);
      await rejects(() => agent('n0', 7).start(), /previous layout/);
      assert.is(await c.get(keys.network('n7')).string(), null, 'nothing written');
    } finally {
      await c.delete().prefix('/vxlan-wasm/v1/');
    }
  });
  test(TESTS[8], async () => {
    const c = client();
    const record = await createNetwork(c, { name: 'd0', vni: 800, subnets: ['10.80.0.0/24', 'FD00:80::/64'] });
    assert.equal([record.subnet, record.gateway, record.subnet6, record.gateway6], ['10.80.0.0/24', '10.80.0.1', 'fd00:80::/64', 'fd00:80::1']);
    assert.is(await c.get(keys.subnet('fd00:80::/64')).string(), 'd0', 'the IPv6 subnet names its network too');
    const before = await c.getAll().prefix('/vxlan-wasm/v2/').count();
    for (const [subnets, message] of [
      [['10.81.0.0/24', '10.82.0.0/24'], /at most one IPv4 subnet, not 10\.81\.0\.0\/24 and 10\.82\.0\.0\/24/],
      [['fd00:81::/64', 'fd00:82::/64'], /at most one IPv6 subnet/],
      [['fd00:81::/40'], /prefix length of an IPv6 overlay must be 48\.\.120/],
      [['10.81.0.0/24', 'fd00:80:0:0:1::/80'], /subnet fd00:80:0:0:1::\/80 overlaps network d0's subnet fd00:80::\/64/],
      [['fe80::/64'], /link-local/],
      [[], /needs a subnet/],
    ] as const) {
      await rejects(() => createNetwork(client(), { name: 'd1', vni: 801, subnets }), message);
    }
    assert.is(await c.getAll().prefix('/vxlan-wasm/v2/').count(), before, 'nothing half-made in etcd');
    // Same IPv6 subnet, another family's subnet free: refused as taken.
    await rejects(() => createNetwork(client(), { name: 'd1', vni: 801, subnets: ['10.81.0.0/24', 'fd00:80::/64'] }), /overlaps network d0/);
    // An IPv6-only network beside it, and an IPv4 subnet equal to another network's IPv6-only one's absence: fine.
    await createNetwork(c, { name: 'd1', vni: 801, subnets: ['fd00:81::/64'] });
    // A record as the previous version wrote it (subnet and gateway only) joins as an IPv4 network.
    await c.put(keys.network('old4')).value(JSON.stringify({ name: 'old4', vni: 802, subnet: '10.83.0.0/24', gateway: '10.83.0.1', internal: false, created: '2026-01-01T00:00:00.000Z' }));
    const a = agent('old4', 80);
    const joined = await a.start();
    assert.match(joined.ip, /^10\.83\.0\.\d+$/);
    assert.is(a.addresses.ipv6, undefined);
    await a.close();
    assert.ok((await listNetworks(c)).some((network) => network.name === 'old4' && network.subnet6 === undefined));
    await removeNetwork(c, 'd0');
    assert.is(await c.get(keys.subnet('fd00:80::/64')).string(), null, 'rm takes the IPv6 subnet key too');
  });

  test(TESTS[9], async () => {
    const c = client();
    await createNetwork(c, { name: 'd2', vni: 810, subnets: ['10.91.0.0/29', 'fd00:91::/120'] });
    await createNetwork(c, { name: 'd3', vni: 811, subnets: ['fd00:92::/64'] });
    const forwarders = [new FakeForwarder(810), new FakeForwarder(810)];
    const dual = [agent('d2', 90, { forwarder: forwarders[0] }), agent('d2', 91, { forwarder: forwarders[1] })];
    await Promise.all(dual.map((a) => a.start()));
    for (const a of dual) {
      assert.match(a.addresses.ipv4 ?? '', /^10\.91\.0\.[2-6]$/);
      assert.match(a.addresses.ipv6 ?? '', /^fd00:91::[0-9a-f]{1,2}$/);
      assert.is.not(a.addresses.ipv6, 'fd00:91::1', 'never the IPv6 gateway');
    }
    assert.is.not(dual[0].addresses.ipv6, dual[1].addresses.ipv6);
    await until('each programs the other\'s IPv4 and IPv6 neighbours', () => dual.every((a, i) => {
      const other = dual[1 - i].addresses;
      return forwarders[i].neighbours.has(other.ipv4!) && forwarders[i].neighbours.has(other.ipv6!);
    }));
    const ipam = Object.keys(await c.getAll().prefix(keys.ipamPrefix('d2')).strings());
    assert.is(ipam.length, 4, 'one claim per family per host');
    const v6only = [agent('d3', 92, { forwarder: new FakeForwarder(811) }), agent('d3', 93, { forwarder: new FakeForwarder(811) })];
    const results = await Promise.all(v6only.map((a) => a.start()));
    for (const [i, result] of results.entries()) {
      assert.match(result.ip, /^fd00:92::/, 'an IPv6-only network gives IPv6 addresses');
      assert.is(v6only[i].addresses.ipv4, undefined);
    }
    const tap = (await inspectNetwork(c, 'd3')).endpoints.map((endpoint) => [endpoint.ipv4, endpoint.ipv6]);
    assert.equal(tap.map(([v4]) => v4), [undefined, undefined]);
    await Promise.all([...dual, ...v6only].map((a) => a.close()));
    assert.is(await c.getAll().prefix(keys.ipamPrefix('d2')).count(), 0, 'released on leave');
    assert.is(await c.getAll().prefix(keys.ipamPrefix('d3')).count(), 0, 'released on leave');
  });
}

test.run();
