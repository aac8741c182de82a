// The agent's CNI service against a real etcd (loopback, no root): two "hosts" in this process,
// each a HostAgent with a fake forwarder, fake links, fake local networks and a fake container
// netns, the first also behind the real PluginServer and called by the real plugin. ADD, CHECK,
// DEL, DEL again; the other host programmed; a second ADD, a vanished netns, an unknown network,
// a failing step and etcd away each refused with the spec's code and nothing half-made; GC, STATUS,
// a restart that restores one endpoint and reaps another; the calls counted; a network the service
// set up left after its last endpoint goes, and set up again by the next ADD.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { HostAgent } from '../../src/control/host-agent';
import { keys } from '../../src/control/keys';
import { createNetwork } from '../../src/control/networks';
import { connect } from '../../src/control/store';
import { PluginServer } from '../../src/docker/plugin-server';
import type { Json } from '../../src/docker/protocol';
import { CniCallTally } from '../../src/cni/metrics';
import type { ContainerInterface, ContainerNetns } from '../../src/cni/netns';
import { runPlugin } from '../../src/cni/plugin';
import { cniLinkNames, CniService, endpointIdFor } from '../../src/cni/service';
import type { CniResult } from '../../src/cni/spec';
import { etcdUnusable, startEtcd, type EtcdServer } from '../helpers/etcd';
import { warnSkipped } from '../helpers/netns';
import { temporaryDirs } from '../helpers/temporary';
import { FakeLinks, fakeOpener, MultiForwarder } from '../docker/fakes';

const TESTS = [
  'through the plugin and the socket: ADD (address from etcd, veth, the container end in the netns), CHECK, DEL, DEL again; the other host programmed and unprogrammed',
  'refusals leave nothing: a second ADD (101), a vanished netns (3), an unknown network (100), an ifname taken, a failing move into the netns',
  'etcd away: ADD and STATUS say 11, nothing half-made; back, ADD works',
  'a network another adapter (the Docker driver) serves on this host: its bridge shared, nothing opened twice, nothing of it closed; once that adapter left, set up anew',
  'GC removes what the runtime no longer lists; CHECK finds a changed interface; a restart restores a live endpoint and reaps a dead one; the reaper removes one whose veth vanished; calls counted',
  'dual stack and IPv6 only: ADD gives an address of each family (one IP each in the result, gateways, ::/0 via the IPv6 gateway, both nameservers), CHECK checks both, DEL releases both; the other host programs both neighbours',
  'onEndpointRemoved is told the network after DEL, GC and the reaper remove an endpoint (with --docker, the driver then releases a network it kept for CNI containers); a DEL of nothing tells nothing; its failure is logged, never the call\'s',
  'a network set up for CNI is left (etcd membership, bridge, TAP, name server) after its last endpoint goes by DEL, GC or the reaper, not before; the next ADD sets it up again; a failed first ADD leaves nothing joined',
];

let unusable: string | undefined;
try {
  unusable = etcdUnusable('cni service tests');
} catch (error) {
  unusable = (error as Error).message;
}

/** The Docker tests' fake links, with CNI's veth names: a pair goes with its host end. */
class CniFakeLinks extends FakeLinks {
  override remove(name: string): void {
    super.remove(name);
    if (name.startsWith('vwn')) this.links.delete(`vwm${name.slice(3)}`);
  }
}

/** Container namespaces as maps of interfaces; an interface lives while its veth's host end does. */
class FakeNetns implements ContainerNetns {
  readonly namespaces = new Map<string, Map<string, ContainerInterface & { hostEnd: string }>>();
  failNext: Error | undefined;
  constructor(private readonly links: FakeLinks) {}
  add(netns: string): void {
    this.namespaces.set(netns, new Map());
  }
  exists(netns: string): boolean {
    return this.namespaces.has(netns);
  }
  attach(link: string, netns: string, options: { ifname: string; addresses: readonly string[] }): void {
    if (this.failNext !== undefined) {
      const error = this.failNext;
      this.failNext = undefined;
      throw error;
    }
    const made = this.links.calls.filter((call) => call.startsWith('veth ') && call.split(' ')[2] === link).pop();
    if (made === undefined || !this.links.exists(link)) throw new Error(`no link ${link}`);
    this.links.links.delete(link);
    this.namespaces.get(netns)!.set(options.ifname, { mac: made.split(' ')[3], ipv4: options.addresses.filter((address) => !address.includes(':')), ipv6: options.addresses.filter((address) => address.includes(':')), up: true, mtu: 1450, hostEnd: made.split(' ')[1] });
  }
  private live(netns: string): Map<string, ContainerInterface & { hostEnd: string }> {
    const interfaces = this.namespaces.get(netns) ?? new Map();
    for (const [name, iface] of interfaces) if (!this.links.exists(iface.hostEnd)) interfaces.delete(name);
    return interfaces;
  }
  inspect(netns: string, ifname: string): ContainerInterface | undefined {
    return this.live(netns).get(ifname);
  }
  has(netns: string, ifname: string): boolean {
    return this.live(netns).has(ifname);
  }
  remove(netns: string, ifname: string): void {
    this.namespaces.get(netns)?.delete(ifname);
  }
}

const { removeTemporaryDirs, temporaryDir } = temporaryDirs();
let etcd: EtcdServer;
const closers: (() => Promise<unknown> | unknown)[] = [];

async function host(hostId: string, n: number, options: { links?: FakeLinks; onEndpointRemoved?: (network: string) => Promise<unknown> } = {}) {
  const client = connect({ endpoints: [etcd.url], callTimeoutMs: 2000 });
  const forwarder = new MultiForwarder();
  const agent = new HostAgent({ client, hostId, vtep: { address: `192.0.2.${n}`, port: 4789 }, forwarder, ttlSeconds: 2, retryMinMs: 50, retryMaxMs: 300 });
  await agent.start();
  const links = options.links ?? new CniFakeLinks();
  const netns = new FakeNetns(links);
  const opener = fakeOpener(links);
  const tally = new CniCallTally();
  const service = new CniService({ host: agent, client, links, netns, openNetwork: opener, mtu: 1450, tally, reapIntervalMs: 100, onEndpointRemoved: options.onEndpointRemoved });
  closers.push(() => service.close(), () => agent.close(), () => client.close());
  const handlers = service.handlers();
  const call = (path: string, body: Json) => handlers[path](body) as Promise<Json>;
  return { agent, client, forwarder, links, netns, opener, service, tally, call };
}

const request = (containerId: string, extra: Json = {}): Json => ({ network: 'blue', containerId, netns: `/run/netns/${containerId}`, ifname: 'eth0', containerName: '', aliases: [], ...extra });

async function until(what: string, predicate: () => boolean, ms = 3000): Promise<void> {
  const started = Date.now();
  while (!predicate()) {
    if (Date.now() - started > ms) throw new Error(`not ${what} within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

if (unusable !== undefined) {
  warnSkipped('needs etcd', TESTS, unusable);
} else {
  test.before(async () => {
    etcd = await startEtcd();
    const client = connect({ endpoints: [etcd.url] });
    await createNetwork(client, { name: 'blue', vni: 900, subnet: '10.90.0.0/24' });
    await createNetwork(client, { name: 'small', vni: 901, subnet: '10.91.0.0/30' });
    await createNetwork(client, { name: 'dual', vni: 902, subnets: ['10.92.0.0/24', 'fd00:92::/64'] });
    await createNetwork(client, { name: 'six', vni: 903, subnets: ['fd00:93::/120'] });
    client.close();
  });
  test.after(async () => {
    for (const close of closers.reverse()) await Promise.resolve(close()).catch(() => undefined);
    await etcd?.stop();
    removeTemporaryDirs();
  });

  test(TESTS[0], async () => {
    const a = await host('c-a', 1);
    const b = await host('c-b', 2);
    const socketPath = join(temporaryDir('vwcni-service-'), 'cni.sock');
    const server = await PluginServer.listen({ socketPath, handlers: a.service.handlers() });
    closers.push(() => server.close());
    // b serves the network too (it has an endpoint of its own), so it programs a's.
    b.netns.add('/run/netns/other');
    assert.ok((await b.call('Cni.Add', request('other'))).result !== undefined);

    a.netns.add('/run/netns/web');
    const stdin = JSON.stringify({ cniVersion: '1.0.0', name: 'blue', type: 'vxlan-wasm', agentSocket: socketPath });
    const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'web', CNI_NETNS: '/run/netns/web', CNI_IFNAME: 'eth0', CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=web1', CNI_PATH: '/x' };
    const add = await runPlugin({ env, stdin });
    assert.is(add.exitCode, 0, add.stdout);
    const result = JSON.parse(add.stdout) as CniResult;
    const endpointId = endpointIdFor('blue', 'web', 'eth0');
    const hostEnd = cniLinkNames.host(endpointId);
    assert.equal(result.interfaces!.map((i) => [i.name, i.sandbox]), [[hostEnd, undefined], ['eth0', '/run/netns/web']]);
    assert.is(result.ips![0].gateway, '10.90.0.1');
    assert.is(result.ips![0].interface, 1);
    assert.equal(result.dns!.nameservers, ['10.90.0.1']);
    const address = result.ips![0].address;
    assert.match(address, /^10\.90\.0\.\d+\/24$/);
    const iface = a.netns.inspect('/run/netns/web', 'eth0')!;
    assert.equal(iface.ipv4, [address]);
    assert.is(iface.mac, result.interfaces![1].mac);
    assert.is(a.links.links.get(hostEnd), 'vwb900', 'the host end is in the network\'s bridge');
    const served = a.agent.served('blue').find((s) => s.endpoint.endpointId === endpointId)!;
    assert.is(served.endpoint.name, 'web1', 'named from K8S_POD_NAME');
    assert.is(served.link, hostEnd);
    // The other host programs it: FDB entry to a's VTEP, neighbour for its address.
    const ip = address.split('/')[0];
    await until('b programs the endpoint', () => b.forwarder.state(900).neighbours.includes(`${ip}=${iface.mac}`));
    assert.ok(b.forwarder.state(900).fdb.includes(`${iface.mac}@192.0.2.1:4789`));

    const check = await runPlugin({ env: { ...env, CNI_COMMAND: 'CHECK' }, stdin: JSON.stringify({ ...JSON.parse(stdin), prevResult: result }) });
    assert.is(check.exitCode, 0, check.stdout);

    const del = await runPlugin({ env: { ...env, CNI_COMMAND: 'DEL' }, stdin: JSON.stringify({ ...JSON.parse(stdin), prevResult: result }) });
    assert.is(del.exitCode, 0, del.stdout);
    assert.not.ok(a.links.exists(hostEnd));
    assert.is(a.netns.inspect('/run/netns/web', 'eth0'), undefined);
    const left = await a.client.getAll().prefix(keys.networkPrefix('blue')).keys();
    assert.not.ok(left.some((key) => key.includes(endpointId) || key.endsWith(`/ipam/${ip}`)), left.join('\n'));
    await until('b drops the endpoint', () => !b.forwarder.state(900).neighbours.includes(`${ip}=${iface.mac}`));

    // DEL again, and DEL with the netns gone: success.
    const again = await runPlugin({ env: { ...env, CNI_COMMAND: 'DEL', CNI_NETNS: '' }, stdin });
    assert.is(again.exitCode, 0, again.stdout);
    assert.is(a.tally.count('ADD', 'ok'), 1);
    assert.is(a.tally.count('DEL', 'ok'), 2);
  });

  test(TESTS[1], async () => {
    const a = await host('c-c', 3);
    a.netns.add('/run/netns/one');
    const first = await a.call('Cni.Add', request('one', { containerName: 'Not A Name!' }));
    assert.ok(first.result !== undefined, JSON.stringify(first));
    assert.is(a.agent.served('blue')[0].endpoint.name, 'one', 'a name that is no DNS name: the id\'s first 12 characters');
    const claimsBefore = await a.client.getAll().prefix(keys.ipamPrefix('blue')).keys();

    const cases: [string, Json, number, RegExp][] = [
      ['a second ADD', request('one'), 101, /has eth0 on network blue already/],
      ['a vanished netns', request('gone'), 3, /does not exist/],
      ['an unknown network', request('one', { network: 'nowhere', ifname: 'eth1' }), 100, /no overlay network named nowhere/],
    ];
    a.netns.add('/run/netns/busy');
    a.netns.namespaces.get('/run/netns/busy')!.set('eth0', { mac: '02:00:00:00:00:09', ipv4: [], ipv6: [], up: true, mtu: 1500, hostEnd: 'lo' });
    a.links.links.set('lo', undefined);
    const linksBefore = [...a.links.links.keys()].sort();
    cases.push(['an ifname taken', request('busy'), 102, /has an interface named eth0 already/]);
    for (const [what, body, code, message] of cases) {
      const answer = await a.call('Cni.Add', body) as { error?: { code: number; msg: string; details?: string } };
      assert.is(answer.error?.code, code, `${what}: ${JSON.stringify(answer)}`);
      assert.match(answer.error!.msg, message, what);
      assert.type(answer.error!.details, 'string', `${what} says what to do`);
    }
    // A move into the netns that fails: the claim released, the veth gone, no endpoint.
    a.netns.add('/run/netns/two');
    a.netns.failNext = Object.assign(new Error('nsenter: cannot open /run/netns/two'), { name: 'NetnsError' });
    const failed = await a.call('Cni.Add', request('two')) as { error?: { code: number; msg: string } };
    assert.is(failed.error?.code, 102);
    assert.match(failed.error!.msg, /cannot open/);
    assert.equal(await a.client.getAll().prefix(keys.ipamPrefix('blue')).keys(), claimsBefore, 'no claim left');
    assert.equal([...a.links.links.keys()].sort(), linksBefore, 'no link left');
    assert.is(a.agent.served('blue').length, 1);
    assert.is(a.tally.count('ADD', '101'), 1);
    assert.is(a.tally.count('ADD', '102'), 2);
    // A full subnet (a /30: one address besides the gateway).
    a.netns.add('/run/netns/s1');
    a.netns.add('/run/netns/s2');
    assert.ok((await a.call('Cni.Add', request('s1', { network: 'small' }))).result !== undefined);
    const full = await a.call('Cni.Add', request('s2', { network: 'small' })) as { error?: { code: number; msg: string } };
    assert.is(full.error?.code, 102, JSON.stringify(full));
    assert.equal([...a.netns.namespaces.get('/run/netns/s2')!.keys()], []);
  });

  test(TESTS[2], async () => {
    const a = await host('c-d', 4);
    a.netns.add('/run/netns/three');
    assert.equal(await a.call('Cni.Status', { network: 'blue' }), {});
    // Joined while etcd answers, then etcd goes.
    assert.ok((await a.call('Cni.Add', request('three'))).result !== undefined);
    const linksBefore = [...a.links.links.keys()].sort();
    await etcd.kill();
    try {
      a.netns.add('/run/netns/four');
      const refused = await a.call('Cni.Add', request('four')) as { error?: { code: number; msg: string } };
      assert.is(refused.error?.code, 11, JSON.stringify(refused));
      assert.match(refused.error!.msg, /cannot reach etcd/);
      assert.equal([...a.links.links.keys()].sort(), linksBefore, 'no link left');
      assert.is(a.netns.has('/run/netns/four', 'eth0'), false);
      await until('the agent notices', () => !a.agent.isConnected, 10_000);
      const status = await a.call('Cni.Status', { network: 'blue' }) as { error?: { code: number } };
      assert.is(status.error?.code, 11);
    } finally {
      await etcd.restart();
    }
    await until('the agent is back', () => a.agent.isConnected, 15_000);
    const added = await a.call('Cni.Add', request('four'));
    assert.ok(added.result !== undefined, JSON.stringify(added));
  });

  test(TESTS[3], async () => {
    const a = await host('c-f', 6);
    // What the Docker driver does for a network: its LocalNetwork opened, then the host joins.
    const record = await a.agent.join('blue');
    a.links.createBridge('vwb900');
    a.netns.add('/run/netns/shared');
    const added = await a.call('Cni.Add', request('shared'));
    assert.ok(added.result !== undefined, JSON.stringify(added));
    assert.is(a.opener.opened.length, 0, 'no second bridge, TAP or name server');
    assert.is(a.links.links.get(cniLinkNames.host(endpointIdFor('blue', 'shared', 'eth0'))), `vwb${record.vni}`);
    await a.service.close();
    assert.ok(a.links.exists('vwb900'), 'the other adapter\'s bridge stays');

    // The other adapter leaves (docker network rm, once no CNI container is on it): the next ADD sets the network up itself.
    const b = await host('c-g', 8);
    await b.agent.join('blue');
    b.links.createBridge('vwb900');
    for (const id of ['borrowed', 'after']) b.netns.add(`/run/netns/${id}`);
    assert.ok((await b.call('Cni.Add', request('borrowed'))).result !== undefined);
    assert.equal(await b.call('Cni.Del', request('borrowed')), {});
    await b.agent.leave('blue');
    b.links.remove('vwb900');
    const again = await b.call('Cni.Add', request('after'));
    assert.ok(again.result !== undefined, JSON.stringify(again));
    assert.is(b.opener.opened.length, 1, 'its own bridge, TAP and name server now');
    assert.ok(b.agent.network('blue') !== undefined, 'joined again');
  });

  test(TESTS[4], async () => {
    const links = new CniFakeLinks();
    const a = await host('c-e', 5, { links });
    for (const id of ['keep', 'drop', 'live', 'dead']) a.netns.add(`/run/netns/${id}`);
    const results: Record<string, CniResult> = {};
    for (const id of ['keep', 'drop']) results[id] = (await a.call('Cni.Add', request(id))).result as CniResult;
    const gc = await a.call('Cni.Gc', { network: 'blue', attachments: [{ containerId: 'keep', ifname: 'eth0' }] });
    assert.equal(gc, { removed: 1 });
    assert.equal(a.agent.served('blue').map((s) => s.endpoint.name), ['keep']);
    assert.not.ok(links.exists(cniLinkNames.host(endpointIdFor('blue', 'drop', 'eth0'))));

    // CHECK: fine, then the interface loses its address.
    assert.equal(await a.call('Cni.Check', request('keep', { prevResult: results.keep })), {});
    a.netns.namespaces.get('/run/netns/keep')!.get('eth0')!.ipv4 = [];
    const check = await a.call('Cni.Check', request('keep', { prevResult: results.keep })) as { error?: { code: number; msg: string } };
    assert.is(check.error?.code, 102);
    assert.match(check.error!.msg, /no IPv4 address/);
    const unknown = await a.call('Cni.Check', request('nobody', { prevResult: results.keep })) as { error?: { code: number } };
    assert.is(unknown.error?.code, 3);

    // A restart: 'live' keeps its veth, 'dead''s goes while the agent is away.
    for (const id of ['live', 'dead']) await a.call('Cni.Add', request(id));
    await a.service.close();
    await a.agent.close({ leave: false });
    links.remove(cniLinkNames.host(endpointIdFor('blue', 'dead', 'eth0')));
    const restarted = await host('c-e', 5, { links });
    restarted.service.startReaper();
    const restored = await restarted.service.restore();
    assert.equal(restored, { endpoints: 2, reaped: 1, lost: 0 }, 'keep and live restored, dead reaped');
    assert.equal(restarted.agent.served('blue').map((s) => s.endpoint.name).sort(), ['keep', 'live']);
    assert.is(links.links.get(cniLinkNames.host(endpointIdFor('blue', 'live', 'eth0'))), 'vwb900', 'put in the new bridge');
    const liveVeth = cniLinkNames.host(endpointIdFor('blue', 'live', 'eth0'));
    const liveMac = links.calls.find((call) => call.startsWith(`veth ${liveVeth} `))!.split(' ')[3];
    assert.ok(links.calls.includes(`attach ${liveVeth} vwb900 ${liveMac}`), `its MAC pinned to its port in the new bridge: ${links.calls.filter((call) => call.startsWith('attach')).join(', ')}`);
    const claims = await restarted.client.getAll().prefix(keys.ipamPrefix('blue')).strings();
    assert.is(Object.values(claims).filter((holder) => holder === 'c-e').length, 2, 'the dead one\'s address released');

    // A container gone without a DEL (its namespace deleted): its veth goes, the reaper removes it.
    const liveId = endpointIdFor('blue', 'live', 'eth0');
    links.remove(cniLinkNames.host(liveId));
    await until('the reaper removes live', () => !restarted.agent.served('blue').some((s) => s.endpoint.endpointId === liveId), 3000);
    // The reaper drops the endpoint from the agent's memory first, then deletes it and releases
    // its address in etcd: read the claims until the release lands (or 3 s).
    const claimsOfCe = async () => Object.values(await restarted.client.getAll().prefix(keys.ipamPrefix('blue')).strings()).filter((holder) => holder === 'c-e').length;
    let left = await claimsOfCe();
    for (let tries = 0; tries < 60 && left !== 1; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      left = await claimsOfCe();
    }
    assert.is(left, 1, 'its address released');

    const registry = new Registry();
    a.tally.register(registry);
    const text = await registry.metrics();
    assert.match(text, /vxlan_cni_calls_total\{command="ADD",result="ok"\} 4/);
    assert.match(text, /vxlan_cni_calls_total\{command="CHECK",result="102"\} 1/);
    assert.match(text, /vxlan_cni_calls_total\{command="GC",result="ok"\} 1/);
  });

  test(TESTS[6], async () => {
    const told: string[] = [];
    let fail = false;
    const a = await host('c-h', 9, {
      onEndpointRemoved: async (network) => {
        told.push(network);
        if (fail) throw new Error('the driver could not leave');
      },
    });
    for (const id of ['r1', 'r2', 'r3', 'r4']) {
      a.netns.add(`/run/netns/${id}`);
      assert.ok((await a.call('Cni.Add', request(id))).result !== undefined);
    }
    assert.equal(told, [], 'nothing removed yet');
    assert.equal(await a.call('Cni.Del', request('r1')), {});
    assert.equal(told, ['blue'], 'after DEL');
    assert.equal(await a.call('Cni.Del', request('nobody', { network: 'small' })), {});
    assert.equal(told, ['blue'], 'a DEL on a network never set up here tells nothing');
    assert.equal(await a.call('Cni.Gc', { network: 'blue', attachments: [{ containerId: 'r3', ifname: 'eth0' }, { containerId: 'r4', ifname: 'eth0' }] }), { removed: 1 });
    assert.equal(told, ['blue', 'blue'], 'after GC removed r2');
    a.service.startReaper();
    a.links.remove(cniLinkNames.host(endpointIdFor('blue', 'r3', 'eth0')));
    await until('the reaper tells', () => told.length === 3);
    assert.equal(told, ['blue', 'blue', 'blue'], 'after the reaper removed r3');
    fail = true;
    assert.equal(await a.call('Cni.Del', request('r4')), {}, 'the callback\'s failure is not DEL\'s');
    assert.is(told.length, 4);
    assert.equal(a.agent.served('blue'), [], 'every endpoint gone');
  });

  test(TESTS[7], async () => {
    const a = await host('c-l', 10);
    const joined = async () => (await a.client.get(keys.host('blue', 'c-l')).string()) !== null;
    const served = async () => a.client.getAll().prefix(`${keys.servedPrefix('c-l')}blue/`).keys();
    for (const id of ['l1', 'l2', 'l3', 'l4', 'l5']) a.netns.add(`/run/netns/${id}`);
    for (const id of ['l1', 'l2']) assert.ok((await a.call('Cni.Add', request(id))).result !== undefined);
    assert.ok(await joined(), 'joined in etcd');
    assert.equal(a.opener.opened.length, 1);
    const first = a.opener.opened[0];

    // DEL: not left while another endpoint is on it; left after the last.
    assert.equal(await a.call('Cni.Del', request('l1')), {});
    assert.ok(a.agent.network('blue') !== undefined && await joined() && !first.closed && a.links.exists('vwb900'), 'one endpoint still on it: kept');
    assert.equal(await a.call('Cni.Del', request('l2')), {});
    assert.is(a.agent.network('blue'), undefined, 'the host agent left');
    assert.not.ok(await joined(), 'its host record gone from etcd');
    assert.equal(await served(), [], 'no durable copies left');
    assert.ok(first.closed, 'bridge, TAP and name server closed');
    assert.not.ok(a.links.exists('vwb900'), 'the bridge is gone');
    assert.equal(await a.call('Cni.Del', request('l2')), {}, 'DEL again: still success');

    // The next ADD sets it up again; GC removing the last endpoint leaves it.
    assert.ok((await a.call('Cni.Add', request('l3'))).result !== undefined);
    assert.is(a.opener.opened.length, 2, 'set up anew');
    assert.ok(await joined() && a.links.exists('vwb900'));
    assert.equal(await a.call('Cni.Gc', { network: 'blue', attachments: [] }), { removed: 1 });
    assert.ok(a.opener.opened[1].closed && a.agent.network('blue') === undefined && !(await joined()), 'left after GC');

    // The reaper too.
    assert.ok((await a.call('Cni.Add', request('l4'))).result !== undefined);
    assert.is(a.opener.opened.length, 3);
    a.service.startReaper();
    a.links.remove(cniLinkNames.host(endpointIdFor('blue', 'l4', 'eth0')));
    await until('the reaper leaves the network', () => a.opener.opened[2].closed);
    assert.is(a.agent.network('blue'), undefined);
    assert.not.ok(await joined(), 'left after the reaper');

    // A first ADD that fails (the move into the netns): nothing stays joined for it.
    a.netns.failNext = Object.assign(new Error('nsenter: cannot open /run/netns/l5'), { name: 'NetnsError' });
    const failed = await a.call('Cni.Add', request('l5')) as { error?: { code: number } };
    assert.is(failed.error?.code, 102);
    assert.is(a.opener.opened.length, 4);
    assert.ok(a.opener.opened[3].closed && a.agent.network('blue') === undefined && !(await joined()), 'left after the failed ADD');
    assert.ok((await a.call('Cni.Add', request('l5'))).result !== undefined, 'and the retry works');
    assert.ok(await joined());
  });

  test(TESTS[5], async () => {
    const a = await host('c-d6', 6);
    const b = await host('c-e6', 7);
    b.netns.add('/run/netns/peer6');
    assert.ok((await b.call('Cni.Add', request('peer6', { network: 'dual' }))).result !== undefined, 'b serves dual too');
    a.netns.add('/run/netns/d6');
    const added = await a.call('Cni.Add', request('d6', { network: 'dual', containerName: 'd6' }));
    const result = added.result as CniResult;
    assert.ok(result !== undefined, JSON.stringify(added));
    assert.equal(result.ips!.map((ip) => [ip.address.replace(/(\.|::)[0-9a-f:]+\//, '$1X/'), ip.gateway, ip.interface]), [['10.92.0.X/24', '10.92.0.1', 1], ['fd00:92::X/64', 'fd00:92::1', 1]]);
    assert.equal(result.routes, [{ dst: '::/0', gw: 'fd00:92::1' }]);
    assert.equal(result.dns!.nameservers, ['10.92.0.1', 'fd00:92::1']);
    const iface = a.netns.inspect('/run/netns/d6', 'eth0')!;
    assert.equal([...iface.ipv4, ...iface.ipv6], result.ips!.map((ip) => ip.address), 'the interface has both addresses');
    const ip6 = result.ips![1].address.split('/')[0];
    await until('b programs the IPv6 neighbour', () => b.forwarder.state(902).neighbours.includes(`${ip6}=${iface.mac}`));
    const checked = await a.call('Cni.Check', request('d6', { network: 'dual', prevResult: result }));
    assert.equal(checked, {}, JSON.stringify(checked));
    // The IPv6 address gone from the interface: CHECK says so.
    iface.ipv6 = [];
    assert.match(JSON.stringify(await a.call('Cni.Check', request('d6', { network: 'dual' })).catch((error: Error) => ({ error: error.message }))), /no IPv6 address, not fd00:92::/);
    assert.equal(await a.call('Cni.Del', request('d6', { network: 'dual' })), {});
    const claims = (await a.client.getAll().prefix(keys.ipamPrefix('dual')).strings());
    assert.not.ok(Object.values(claims).includes('c-d6'), `both claims released: ${JSON.stringify(claims)}`);
    await until('b drops it', () => !b.forwarder.state(902).neighbours.includes(`${ip6}=${iface.mac}`));
    // IPv6 only: one IP, an IPv6 one; the MAC from a hash of it.
    a.netns.add('/run/netns/s6');
    const six = (await a.call('Cni.Add', request('s6', { network: 'six' }))).result as CniResult;
    assert.equal(six.ips!.length, 1);
    assert.match(six.ips![0].address, /^fd00:93::[0-9a-f]{1,2}\/120$/);
    assert.equal(six.dns!.nameservers, ['fd00:93::1']);
    assert.match(six.interfaces![1].mac!, /^02(:[0-9a-f]{2}){5}$/);
    assert.equal(await a.call('Cni.Del', request('s6', { network: 'six' })), {});
    assert.is(await a.client.getAll().prefix(keys.ipamPrefix('six')).count(), 0);
  });

  test.run();
}

if (unusable !== undefined) test.run();
