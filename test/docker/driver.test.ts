// The Docker driver's protocol handlers with fake Docker requests, against a real etcd (loopback,
// no root): two "hosts" in this process, each a HostAgent with a fake forwarder, fake links and
// fake local networks, and a DockerDriver; one of them also behind the real PluginServer on a
// unix socket. Malformed and out-of-order requests, unknown ids, a VNI or name that disagrees, an
// overlapping subnet, a taken address and etcd away are each a sentence in "Err", with nothing
// half-made left behind; a restart restores endpoints and reaps those whose container is gone.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'node:http';
import { join } from 'node:path';
import { HostAgent } from '../../src/control/host-agent';
import { keys } from '../../src/control/keys';
import { connect, isUnavailable, unreachableSentence } from '../../src/control/store';
import { DockerDriver } from '../../src/docker/driver';
import { linkNames } from '../../src/docker/links';
import { PluginServer } from '../../src/docker/plugin-server';
import type { Json } from '../../src/docker/protocol';
import { etcdUnusable, startEtcd, type EtcdServer } from '../helpers/etcd';
import { warnSkipped } from '../helpers/netns';
import { temporaryDirs } from '../helpers/temporary';
import { FakeLinks, fakeOpener, MultiForwarder } from './fakes';

const TESTS = [
  'the socket: Activate and capabilities; an unknown path is 404; a body that is not JSON is a sentence in Err (IPAM: in Error)',
  'networks: two hosts meet by subnet; a VNI, name or internal flag that disagrees, an overlapping subnet, no subnet, IPv6: each an Err; a network the CNI side of the agent set up first on this host refused, nothing touched; a network Docker deletes while CNI containers are on it kept for them, and taken back by a new create',
  'addresses: the gateway is the first address; 24 requests over two hosts for a /27 get distinct addresses, the rest refused; a taken or outside address refused',
  'endpoints: create, join (veth, interface name), named from the daemon, programmed on the other host; leave, delete, release',
  'out of order and unknown ids: CreateEndpoint/Join on unknown ids refused, Delete* of unknown ids succeed, RequestAddress before CreateNetwork refused',
  'a restart: networks and endpoints restored under a new lease, an endpoint whose veth is gone reaped with its address',
  'etcd away: CreateNetwork and RequestAddress say so in Err, nothing half-made; back, the same calls work',
  'a lease lost under a running agent (revoked from outside): it puts its host, claims and endpoints back under a new lease; the other host sees them again',
  'dual stack (--ipv6): V6 pools, IPv6 gateway and addresses claimed in etcd, CreateEndpoint with AddressIPv6, Join with GatewayIPv6, ND programmed on the other host; mismatches and a foreign IPv6 pool refused, nothing half-made',
  'a network kept for CNI containers after DeleteNetwork is left (etcd, bridge, TAP, name server) when its last CNI endpoint goes (releaseKeptForCni); not before, and never a Docker network',
];

let unusable: string | undefined;
try {
  unusable = etcdUnusable('docker driver tests');
} catch (error) {
  test('docker driver tests: etcd', () => {
    throw error;
  });
}

const { removeTemporaryDirs, temporaryDir } = temporaryDirs();
let etcd: EtcdServer;
const closers: (() => Promise<unknown> | unknown)[] = [];

interface Host {
  agent: HostAgent;
  driver: DockerDriver;
  forwarder: MultiForwarder;
  links: FakeLinks;
  opener: ReturnType<typeof fakeOpener>;
  call(path: string, body: Json): Promise<Json>;
}

const names = new Map<string, { name: string; aliases: string[] }>();

async function host(hostId: string, n: number, options: { callTimeoutMs?: number; links?: FakeLinks } = {}): Promise<Host> {
  const client = connect({ endpoints: [etcd.url], callTimeoutMs: options.callTimeoutMs ?? 2000 });
  const store = { endpoints: [etcd.url], callTimeoutMs: options.callTimeoutMs ?? 2000 };
  const forwarder = new MultiForwarder();
  const agent = new HostAgent({ client, hostId, vtep: { address: `192.0.2.${n}`, port: 4789 }, forwarder, ttlSeconds: 2, retryMinMs: 50, retryMaxMs: 300 });
  await agent.start();
  const links = options.links ?? new FakeLinks();
  const opener = fakeOpener(links);
  const driver = new DockerDriver({
    host: agent, client, links, openNetwork: opener, mtu: 1450, reapIntervalMs: 0, namesTimeoutMs: 3000,
    lookupNames: async (_networkId, endpointId) => names.get(endpointId),
  });
  closers.push(() => driver.close(), () => agent.close(), () => client.close());
  const handlers = driver.handlers();
  // As the server does: a refusal is its message (etcd away: the sentence the agent's CLI makes).
  const call = async (path: string, body: Json): Promise<Json> => {
    try {
      return await handlers[path](body);
    } catch (error) {
      return { Err: isUnavailable(error) ? unreachableSentence(store, error) : (error as Error).message };
    }
  };
  return { agent, driver, forwarder, links, opener, call };
}

// Docker's ids are 64 random hex digits; these differ in their first ones, as interface names use them.
const hex = (n: number) => n.toString(16).padEnd(64, '0');
const NET_A = 'a'.repeat(64);
const NET_B = 'b'.repeat(64);

function createNetworkBody(networkId: string, subnet: string, options: Record<string, string> = {}, gateway?: string): Json {
  return {
    NetworkID: networkId,
    Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': options },
    IPv4Data: [{ AddressSpace: 'vxlan-wasm-local', Pool: subnet, Gateway: gateway ?? `${subnet.replace(/\.0\/(\d+)$/, '.1')}/${subnet.split('/')[1]}` }],
    IPv6Data: [],
  };
}

/** CreateNetwork as Docker sends it for `--ipv6 --subnet V4 --subnet V6` (the pools from `space`). */
function createDualBody(networkId: string, subnet: string, subnet6: string, options: Record<string, string> = {}, space = 'vxlan-wasm-local'): Json {
  const body = createNetworkBody(networkId, subnet, options);
  body.Options = { 'com.docker.network.enable_ipv6': true, 'com.docker.network.generic': options };
  body.IPv6Data = [{ AddressSpace: space, Pool: subnet6, Gateway: `${subnet6.split('/')[0]}1/${subnet6.split('/')[1]}` }];
  return body;
}

function post(socketPath: string, path: string, body: string): Promise<{ status: number; type: string; json: Json }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'POST', headers: { 'Content-Type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), json: JSON.parse(text) as Json }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

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
  });
  test.after(async () => {
    for (const close of closers.reverse()) await Promise.resolve(close()).catch(() => undefined);
    await etcd?.stop();
    removeTemporaryDirs();
  });

  test(TESTS[0], async () => {
    const a = await host('s-a', 1);
    const socketPath = join(temporaryDir('vwct-plugin-'), 'vxlan-wasm.sock');
    const server = await PluginServer.listen({ socketPath, handlers: a.driver.handlers(), describe: (error) => `vxlan-wasm: ${(error as Error).message}` });
    closers.push(() => server.close());
    const activate = await post(socketPath, '/Plugin.Activate', '');
    assert.equal([activate.status, activate.json], [200, { Implements: ['NetworkDriver', 'IpamDriver'] }]);
    assert.match(activate.type, /application\/vnd\.docker\.plugins\.v1\.2\+json/);
    assert.equal((await post(socketPath, '/NetworkDriver.GetCapabilities', '')).json, { Scope: 'local', ConnectivityScope: 'global' });
    assert.equal((await post(socketPath, '/IpamDriver.GetDefaultAddressSpaces', '')).json, { LocalDefaultAddressSpace: 'vxlan-wasm-local', GlobalDefaultAddressSpace: 'vxlan-wasm' });
    const unknown = await post(socketPath, '/NetworkDriver.Teleport', '{}');
    assert.is(unknown.status, 404);
    assert.match(String(unknown.json.Err), /POST \/NetworkDriver\.Teleport is not a call of this plugin/);
    assert.equal((await post(socketPath, '/NetworkDriver.CreateNetwork', '{"NetworkID": ')).json, { Err: 'vxlan-wasm: the request body is not JSON' });
    assert.equal((await post(socketPath, '/NetworkDriver.CreateNetwork', '[1,2]')).json, { Err: 'vxlan-wasm: the request body is not a JSON object' });
    assert.equal((await post(socketPath, '/NetworkDriver.CreateNetwork', '{"NetworkID": "../etc"}')).json, { Err: 'vxlan-wasm: NetworkID is missing or not an id' });
    assert.equal((await post(socketPath, '/NetworkDriver.CreateNetwork', JSON.stringify({ NetworkID: NET_A, IPv4Data: 'x' }))).json, { Err: 'vxlan-wasm: IPv4Data is not a list of objects' });
    // IPAM reads its refusals under "Error" (an "Err" would be lost: Docker says "No address returned").
    assert.equal((await post(socketPath, '/IpamDriver.RequestPool', JSON.stringify({ Pool: '' }))).json.Error, 'vxlan-wasm: vxlan-wasm needs --subnet: the subnet is how the hosts of one network find each other (give every host the same one, e.g. --subnet 10.0.9.0/24)');
  });

  test(TESTS[1], async () => {
    const a = await host('n-a', 1);
    const b = await host('n-b', 2);
    assert.equal(await a.call('IpamDriver.RequestPool', { AddressSpace: 'l', Pool: '10.1.0.0/24', Options: {}, V6: false }), { PoolID: '10.1.0.0/24', Pool: '10.1.0.0/24', Data: {} });
    assert.equal(await a.call('IpamDriver.RequestAddress', { PoolID: '10.1.0.0/24', Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } }), { Address: '10.1.0.1/24', Data: {} });
    assert.equal(await a.call('NetworkDriver.CreateNetwork', createNetworkBody(NET_A, '10.1.0.0/24', { 'vxlan-wasm.vni': '77', 'vxlan-wasm.network': 'blue' })), {});
    assert.equal(await b.call('NetworkDriver.CreateNetwork', createNetworkBody(NET_B, '10.1.0.0/24', { 'vxlan-wasm.vni': '78' })),
      { Err: 'network blue (subnet 10.1.0.0/24) has VNI 77 in etcd, not 78; give the same -o vxlan-wasm.vni on every host, or none' });
    assert.equal(await b.call('NetworkDriver.CreateNetwork', createNetworkBody(NET_B, '10.1.0.0/24', { 'vxlan-wasm.network': 'red' })), { Err: 'subnet 10.1.0.0/24 belongs to network blue in etcd, not red' });
    assert.equal(await b.call('NetworkDriver.CreateNetwork', createNetworkBody(NET_B, '10.1.0.0/24', { 'vxlan-wasm.internal': '' })), { Err: 'network blue is not internal in etcd; give the same -o vxlan-wasm.internal on every host' });
    assert.equal(b.opener.opened.length, 0, 'nothing set up on b by the refusals');
    assert.equal(await b.call('NetworkDriver.CreateNetwork', createNetworkBody(NET_B, '10.1.0.0/24')), {}, 'b joins blue with no options');
    assert.equal(b.driver.dockerNetworks(), [{ networkId: NET_B, name: 'blue', vni: 77 }]);
    assert.equal(a.forwarder.state(77).peers, ['192.0.2.2:4789'], 'a programs b as a peer of VNI 77');
    assert.equal(await b.call('NetworkDriver.CreateNetwork', createNetworkBody(NET_B, '10.1.0.0/24')), {}, 'a repeated create is harmless');
    assert.equal(await b.call('NetworkDriver.CreateNetwork', createNetworkBody('c'.repeat(64), '10.1.0.0/24')), { Err: `this host has a vxlan-wasm network on subnet 10.1.0.0/24 already (Docker network ${'b'.repeat(12)})` });
    assert.equal(await a.call('IpamDriver.RequestPool', { Pool: '10.1.0.128/25' }), { Err: "subnet 10.1.0.128/25 overlaps network blue's subnet 10.1.0.0/24" });
    assert.equal(await a.call('IpamDriver.RequestPool', { Pool: '' }), { Err: 'vxlan-wasm needs --subnet: the subnet is how the hosts of one network find each other (give every host the same one, e.g. --subnet 10.0.9.0/24)' });
    assert.equal(await a.call('IpamDriver.RequestPool', { Pool: '10.1.0.0/24', V6: true }), { Err: '"10.1.0.0/24" is not an IPv6 subnet like fd00:9::/64' });
    assert.equal(await a.call('IpamDriver.RequestPool', { Pool: '10.9.0.7/24' }), { Err: 'subnet 10.9.0.7/24 has host bits set; did you mean 10.9.0.0/24?' });
    assert.equal(await a.call('IpamDriver.RequestAddress', { PoolID: '10.1.0.0/24', Address: '10.1.0.9', Options: { RequestAddressType: 'com.docker.network.gateway' } }),
      { Err: 'the gateway of a vxlan-wasm network is its DNS address 10.1.0.1 on every host; leave --gateway out' });
    assert.equal(await a.call('NetworkDriver.CreateNetwork', createNetworkBody('d'.repeat(64), '10.2.0.0/24', { 'vxlan-wasm.vni': 'x' })), { Err: '-o vxlan-wasm.vni=x is not a VNI (an integer in 0..16777215)' });
    assert.equal(await a.call('NetworkDriver.CreateNetwork', createNetworkBody('d'.repeat(64), '10.2.0.0/24', { 'vxlan-wasm.colour': 'red' })),
      { Err: '-o vxlan-wasm.colour is not an option of vxlan-wasm (vxlan-wasm.vni, vxlan-wasm.network, vxlan-wasm.internal)' });
    // A second network without options: named for its subnet, the lowest free VNI from 4096.
    assert.equal(await a.call('NetworkDriver.CreateNetwork', createNetworkBody('d'.repeat(64), '10.2.0.0/24')), {});
    assert.equal(a.driver.dockerNetworks().map((n) => [n.name, n.vni]).sort(), [['10.2.0.0-24', 4096], ['blue', 77]]);
    // Leaving: b's network removed on b, b gone from a's peers; the network stays in etcd.
    assert.equal(await b.call('NetworkDriver.DeleteNetwork', { NetworkID: NET_B }), {});
    assert.ok(b.opener.opened[0].closed, "b's local network closed");
    await until('a drops b', () => a.forwarder.state(77).peers.length === 0);
    // blue joined on b by the agent's CNI side (a podman container first): Docker's create refused, nothing set up.
    await b.agent.join('blue');
    const openedBefore = b.opener.opened.length;
    assert.equal(await b.call('NetworkDriver.CreateNetwork', createNetworkBody(NET_B, '10.1.0.0/24')),
      { Err: 'network blue is already set up on this host for CNI containers; on a host that serves both, create the Docker network before the first CNI container joins it (or remove those containers first)' });
    assert.is(b.opener.opened.length, openedBefore, 'no second bridge, TAP or name server for blue on b');
    // A CNI container on a's blue (the agent's other side). Docker removes its network whatever the
    // driver answers: the bridge, TAP and name server stay for the CNI container, a still in blue.
    const cniIp = await a.agent.claim('blue');
    await a.agent.putEndpoint('blue', { network: 'blue', endpoint: { endpointId: 'cni-x', hostId: 'n-a', mac: '02:00:00:00:0c:01', ipv4: cniIp, name: 'p1', aliases: [] }, link: 'vwnx' });
    const openedOnA = a.opener.opened.length;
    assert.equal(await a.call('NetworkDriver.DeleteNetwork', { NetworkID: NET_A }), {});
    assert.ok(a.agent.network('blue') !== undefined && !a.opener.opened[0].closed, 'a still in blue, its local network open for p1');
    assert.ok(!a.driver.dockerNetworks().some((n) => n.name === 'blue'), 'no Docker network blue on a');
    // Docker creates it again: the kept local network is Docker's again, nothing opened twice.
    assert.equal(await a.call('NetworkDriver.CreateNetwork', createNetworkBody('e'.repeat(64), '10.1.0.0/24')), {});
    assert.is(a.opener.opened.length, openedOnA, 'the kept bridge, TAP and name server taken back');
    assert.ok(a.driver.dockerNetworks().some((n) => n.networkId === 'e'.repeat(64) && n.name === 'blue'));
    // p1 gone, Docker deletes it: now it goes.
    await a.agent.removeEndpoint('blue', 'cni-x', { release: true });
    assert.equal(await a.call('NetworkDriver.DeleteNetwork', { NetworkID: 'e'.repeat(64) }), {});
    assert.ok(a.opener.opened[0].closed, 'closed once no CNI container is on it');
    assert.is(a.agent.network('blue'), undefined, 'a left blue');
  });

  test(TESTS[2], async () => {
    const a = await host('i-a', 1);
    const b = await host('i-b', 2);
    for (const [h, id] of [[a, 'e1'], [b, 'e2']] as const) assert.equal(await h.call('NetworkDriver.CreateNetwork', createNetworkBody(id.repeat(32), '10.3.0.0/27')), {});
    // A /27: 30 addresses, one the gateway: 29 for endpoints. 24 at once over both hosts, then 8 more.
    const first = await Promise.all(Array.from({ length: 24 }, (_, i) => (i % 2 === 0 ? a : b).call('IpamDriver.RequestAddress', { PoolID: '10.3.0.0/27', Address: '', Options: null })));
    const more = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? a : b).call('IpamDriver.RequestAddress', { PoolID: '10.3.0.0/27', Address: '', Options: null })));
    const given = [...first, ...more].filter((r) => r.Address !== undefined).map((r) => String(r.Address));
    const refused = [...first, ...more].filter((r) => r.Err !== undefined);
    console.log(`  32 requests for 29 addresses: ${given.length} given, ${refused.length} refused (${refused[0]?.Err})`);
    assert.is(given.length, 29);
    assert.is(new Set(given).size, 29, 'distinct');
    assert.not.ok(given.includes('10.3.0.1/27'), 'never the gateway');
    for (const r of refused) assert.match(String(r.Err), /no free address in network 10\.3\.0\.0-27's subnet 10\.3\.0\.0\/27: all 29 \(the gateway aside\) are taken/);
    const client = connect({ endpoints: [etcd.url] });
    closers.push(() => client.close());
    assert.is(await client.getAll().prefix(keys.ipamPrefix('10.3.0.0-27')).count(), 29);
    const mine = given.find((address) => address !== undefined)!.split('/')[0];
    const owner = await client.get(keys.ipam('10.3.0.0-27', mine)).string();
    const other = owner === 'i-a' ? b : a;
    assert.match(String((await other.call('IpamDriver.RequestAddress', { PoolID: '10.3.0.0/27', Address: mine, Options: null })).Err), new RegExp(`address ${mine.replace(/\./g, '\\.')} is taken in network 10\\.3\\.0\\.0-27 \\(by host ${owner}\\)`));
    assert.equal(await a.call('IpamDriver.RequestAddress', { PoolID: '10.3.0.0/27', Address: '10.3.0.77', Options: null }), { Err: "address 10.3.0.77 is not in network 10.3.0.0-27's subnet 10.3.0.0/27" });
    // Released by its owner only; then requested by address, it is given.
    assert.equal(await other.call('IpamDriver.ReleaseAddress', { PoolID: '10.3.0.0/27', Address: mine }), {});
    assert.is(await client.get(keys.ipam('10.3.0.0-27', mine)).string(), owner, "another host's release does not free it");
    const ownerHost = owner === 'i-a' ? a : b;
    assert.equal(await ownerHost.call('IpamDriver.ReleaseAddress', { PoolID: '10.3.0.0/27', Address: mine }), {});
    assert.equal(await other.call('IpamDriver.RequestAddress', { PoolID: '10.3.0.0/27', Address: mine, Options: null }), { Address: `${mine}/27`, Data: {} });
  });

  test(TESTS[3], async () => {
    const a = await host('p-a', 1);
    const b = await host('p-b', 2);
    for (const [h, id] of [[a, 'f1'], [b, 'f2']] as const) assert.equal(await h.call('NetworkDriver.CreateNetwork', createNetworkBody(id.repeat(32), '10.4.0.0/24', { 'vxlan-wasm.vni': '400' })), {});
    const net = 'f1'.repeat(32);
    const { Address: address } = await a.call('IpamDriver.RequestAddress', { PoolID: '10.4.0.0/24', Address: '', Options: null });
    const ip = String(address).split('/')[0];
    const endpointId = hex(0xe1);
    const created = await a.call('NetworkDriver.CreateEndpoint', { NetworkID: net, EndpointID: endpointId, Interface: { Address: address, AddressIPv6: '', MacAddress: '' }, Options: {} });
    const mac = `02:42:${ip.split('.').map((x) => Number(x).toString(16).padStart(2, '0')).join(':')}`;
    assert.equal(created, { Interface: { MacAddress: mac } }, "a MAC of Docker's own scheme when Docker gave none");
    assert.equal(await a.call('NetworkDriver.CreateEndpoint', { NetworkID: net, EndpointID: endpointId, Interface: { Address: address, MacAddress: '' } }), { Interface: { MacAddress: mac } }, 'a repeated create is harmless');
    names.set(endpointId, { name: 'web1', aliases: ['web'] });
    const joined = await a.call('NetworkDriver.Join', { NetworkID: net, EndpointID: endpointId, SandboxKey: '/var/run/docker/netns/x', Options: {} });
    assert.equal(joined, { InterfaceName: { SrcName: linkNames.containerVeth(endpointId), DstPrefix: 'eth' } }, 'no Gateway, no DisableGatewayService: Docker adds docker_gwbridge');
    assert.is(a.links.links.get(linkNames.hostVeth(endpointId)), 'vwb400', 'the host end is in the bridge');
    assert.ok(a.links.calls.includes(`veth ${linkNames.hostVeth(endpointId)} ${linkNames.containerVeth(endpointId)} ${mac}`), 'the container end has the MAC');
    // b: FDB and neighbour toward a's VTEP; the name in b's table.
    await until('b programs the endpoint', () => b.forwarder.state(400).fdb.includes(`${mac}@192.0.2.1:4789`));
    assert.ok(b.forwarder.state(400).neighbours.includes(`${ip}=${mac}`));
    assert.ok(a.forwarder.state(400).neighbours.includes(`${ip}=${mac}`), 'a answers ARP for its own endpoint too (it shares the bridge with the TAP)');
    await until('b has the names', () => b.opener.opened[0].names.get(endpointId)?.join(',') === 'web1,web');
    assert.equal(await a.call('NetworkDriver.EndpointOperInfo', { NetworkID: net, EndpointID: endpointId }), { Value: { ip, mac, name: 'web1', vxlanNetwork: '10.4.0.0-24', vni: 400 } });
    // A given MAC is Docker's; the answer sets nothing.
    const { Address: second } = await a.call('IpamDriver.RequestAddress', { PoolID: '10.4.0.0/24', Address: '', Options: null });
    assert.equal(await a.call('NetworkDriver.CreateEndpoint', { NetworkID: net, EndpointID: hex(0xe2), Interface: { Address: second, MacAddress: '02:42:aa:bb:cc:dd' } }), { Interface: {} });
    assert.equal(await a.call('NetworkDriver.CreateEndpoint', { NetworkID: net, EndpointID: hex(0xe3), Interface: { Address: '10.4.0.200/24', MacAddress: '' } }), { Err: 'address 10.4.0.200 is not claimed by this host in network 10.4.0.0-24' }, 'an address not from this IPAM is refused');
    // Leave, delete, release: gone everywhere.
    assert.equal(await a.call('NetworkDriver.Leave', { NetworkID: net, EndpointID: endpointId }), {});
    assert.not.ok(a.links.exists(linkNames.hostVeth(endpointId)), 'the veth removed');
    assert.equal(await a.call('NetworkDriver.DeleteEndpoint', { NetworkID: net, EndpointID: endpointId }), {});
    assert.equal(await a.call('IpamDriver.ReleaseAddress', { PoolID: '10.4.0.0/24', Address: ip }), {});
    await until('b drops it', () => !b.forwarder.state(400).fdb.includes(`${mac}@192.0.2.1:4789`) && !b.opener.opened[0].names.has(endpointId));
    const client = connect({ endpoints: [etcd.url] });
    closers.push(() => client.close());
    assert.is(await client.get(keys.ipam('10.4.0.0-24', ip)).string(), null, 'released');
    assert.is(await client.get(keys.served('p-a', '10.4.0.0-24', endpointId)).string(), null, 'no durable copy left');
  });

  test(TESTS[4], async () => {
    const a = await host('o-a', 1);
    const unknownNet = '9'.repeat(64);
    assert.match(String((await a.call('NetworkDriver.CreateEndpoint', { NetworkID: unknownNet, EndpointID: hex(1), Interface: { Address: '10.5.0.2/24' } })).Err), /network 999999999999 is not a vxlan-wasm network on this host/);
    assert.match(String((await a.call('IpamDriver.RequestAddress', { PoolID: '10.5.0.0/24', Address: '', Options: null })).Err), /no vxlan-wasm network with subnet 10\.5\.0\.0\/24 is set up on this host/);
    assert.equal(await a.call('NetworkDriver.CreateNetwork', createNetworkBody('e'.repeat(64), '10.5.0.0/24')), {});
    assert.match(String((await a.call('NetworkDriver.Join', { NetworkID: 'e'.repeat(64), EndpointID: hex(2), SandboxKey: '' })).Err), /no endpoint 200000000000 in network 10\.5\.0\.0-24 on this host \(Join before CreateEndpoint\?\)/);
    assert.match(String((await a.call('NetworkDriver.CreateEndpoint', { NetworkID: 'e'.repeat(64), EndpointID: hex(3), Interface: {} })).Err), /has no IPv4 address; use --ipam-driver vxlan-wasm/);
    assert.match(String((await a.call('NetworkDriver.CreateEndpoint', { NetworkID: 'e'.repeat(64), EndpointID: hex(3), Interface: { Address: 'ten' } })).Err), /Interface\.Address "ten" is not an IPv4 address/);
    assert.match(String((await a.call('NetworkDriver.EndpointOperInfo', { NetworkID: 'e'.repeat(64), EndpointID: hex(4) })).Err), /no endpoint/);
    assert.equal(await a.call('NetworkDriver.DeleteEndpoint', { NetworkID: unknownNet, EndpointID: hex(5) }), {});
    assert.equal(await a.call('NetworkDriver.DeleteEndpoint', { NetworkID: 'e'.repeat(64), EndpointID: hex(5) }), {});
    assert.equal(await a.call('NetworkDriver.Leave', { NetworkID: 'e'.repeat(64), EndpointID: hex(5) }), {});
    assert.equal(await a.call('NetworkDriver.DeleteNetwork', { NetworkID: unknownNet }), {});
    assert.equal(await a.call('IpamDriver.ReleaseAddress', { PoolID: '10.77.0.0/24', Address: '10.77.0.5' }), {});
    assert.match(String((await a.call('NetworkDriver.Join', { EndpointID: hex(5) })).Err), /NetworkID is missing or not an id/);
    // Names that Docker lists only after the endpoint was deleted do not bring it back.
    const { Address: address } = await a.call('IpamDriver.RequestAddress', { PoolID: '10.5.0.0/24', Address: '', Options: null });
    const late = hex(0x6a7e);
    await a.call('NetworkDriver.CreateEndpoint', { NetworkID: 'e'.repeat(64), EndpointID: late, Interface: { Address: address } });
    await a.call('NetworkDriver.Join', { NetworkID: 'e'.repeat(64), EndpointID: late, SandboxKey: '' });
    assert.equal(await a.call('NetworkDriver.DeleteEndpoint', { NetworkID: 'e'.repeat(64), EndpointID: late }), {});
    names.set(late, { name: 'late', aliases: [] });
    await new Promise((resolve) => setTimeout(resolve, 600));
    const client = connect({ endpoints: [etcd.url] });
    closers.push(() => client.close());
    assert.is(await client.get(keys.endpoint('10.5.0.0-24', late)).string(), null, 'not brought back by its names');
    assert.is(await client.get(keys.served('o-a', '10.5.0.0-24', late)).string(), null);
  });

  test(TESTS[5], async () => {
    const links = new FakeLinks();
    const a = await host('r-a', 1, { links });
    const b = await host('r-b', 2);
    for (const [h, id] of [[a, 'a7'], [b, 'b7']] as const) assert.equal(await h.call('NetworkDriver.CreateNetwork', createNetworkBody(id.repeat(32), '10.6.0.0/24', { 'vxlan-wasm.vni': '600' })), {});
    const net = 'a7'.repeat(32);
    const endpoints: { id: string; ip: string }[] = [];
    for (const n of [1, 2]) {
      const { Address: address } = await a.call('IpamDriver.RequestAddress', { PoolID: '10.6.0.0/24', Address: '', Options: null });
      const id = hex(0x700 + n);
      await a.call('NetworkDriver.CreateEndpoint', { NetworkID: net, EndpointID: id, Interface: { Address: address } });
      await a.call('NetworkDriver.Join', { NetworkID: net, EndpointID: id, SandboxKey: '' });
      endpoints.push({ id, ip: String(address).split('/')[0] });
    }
    await until('b has both', () => b.forwarder.state(600).fdb.length === 2);
    // The agent on a dies (its lease is no longer kept); container 2 dies meanwhile (its veth goes with its namespace).
    await a.driver.close();
    await a.agent.close({ leave: false });
    assert.ok(links.exists(linkNames.hostVeth(endpoints[0].id)), "the agent's stop leaves the containers' veths alone");
    links.remove(linkNames.hostVeth(endpoints[1].id));
    // A durable copy in a network that no longer exists: dropped (counted as lost).
    const client = connect({ endpoints: [etcd.url] });
    closers.push(() => client.close());
    const orphan = { network: 'gone', endpoint: { endpointId: hex(0x999), hostId: 'r-a', mac: '02:42:0a:63:00:02', ipv4: '10.99.0.2', name: '', aliases: [] } };
    await client.put(keys.served('r-a', 'gone', hex(0x999))).value(JSON.stringify(orphan));
    const restarted = await host('r-a', 1, { links });
    const result = await restarted.driver.restore();
    assert.equal(result, { networks: 1, endpoints: 2, reaped: 1, lost: 1 });
    assert.is(await client.get(keys.served('r-a', 'gone', hex(0x999))).string(), null, 'the orphan copy is gone');
    assert.is(links.links.get(linkNames.hostVeth(endpoints[0].id)), 'vwb600', "the running container's veth is back in the new bridge");
    const madeWith = links.calls.find((call) => call.startsWith(`veth ${linkNames.hostVeth(endpoints[0].id)} `))!.split(' ')[3];
    assert.ok(links.calls.includes(`attach ${linkNames.hostVeth(endpoints[0].id)} vwb600 ${madeWith}`), `its MAC pinned to its port in the new bridge: ${links.calls.filter((call) => call.startsWith('attach')).join(', ')}`);
    assert.is(await client.get(keys.ipam('10.6.0.0-24', endpoints[1].ip)).string(), null, "the dead one's address is released");
    assert.ok((await client.get(keys.endpoint('10.6.0.0-24', endpoints[0].id)).exec()).kvs[0].lease !== '0', 'the live one is under the new lease');
    // Its old lease expires (TTL 2 s): b still has the restored endpoint and not the reaped one.
    await new Promise((resolve) => setTimeout(resolve, 2800));
    assert.equal(b.forwarder.state(600).neighbours, [`${endpoints[0].ip}=02:42:${endpoints[0].ip.split('.').map((x) => Number(x).toString(16).padStart(2, '0')).join(':')}`]);
    assert.is(await client.get(keys.ipam('10.6.0.0-24', endpoints[0].ip)).string(), 'r-a', 'its claim survived the old lease');
  });

  test(TESTS[6], async () => {
    const a = await host('x-a', 1, { callTimeoutMs: 800 });
    await etcd.kill();
    try {
      const refused = await a.call('NetworkDriver.CreateNetwork', createNetworkBody('ab'.repeat(32), '10.8.0.0/24'));
      assert.match(String(refused.Err), /could not reach etcd at http:\/\/127\.0\.0\.1:\d+ within 0\.8 s/);
      assert.equal(a.driver.dockerNetworks(), [], 'no network half-made');
      assert.is(a.opener.opened.filter((local) => !local.closed).length, 0, 'no bridge left');
      assert.match(String((await a.call('IpamDriver.RequestPool', { Pool: '10.8.0.0/24' })).Err), /could not reach etcd/);
    } finally {
      await etcd.restart();
    }
    // Back: the client reconnects within its backoff (≤ 2 s); a user's retry then works.
    let answer: Json = {};
    for (const started = Date.now(); Date.now() - started < 10_000;) {
      answer = await a.call('NetworkDriver.CreateNetwork', createNetworkBody('ab'.repeat(32), '10.8.0.0/24'));
      if (answer.Err === undefined) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.equal(answer, {});
    assert.match(String((await a.call('IpamDriver.RequestAddress', { PoolID: '10.8.0.0/24', Address: '', Options: null })).Address), /^10\.8\.0\.\d+\/24$/);
    // A local step that fails (the bridge refused): Err, and this host is in no network for it.
    a.opener.failNext = new Error('ip link add vwb4097 type bridge: Operation not permitted');
    assert.equal(await a.call('NetworkDriver.CreateNetwork', createNetworkBody('cd'.repeat(32), '10.9.0.0/24')), { Err: 'ip link add vwb4097 type bridge: Operation not permitted' });
    const client = connect({ endpoints: [etcd.url] });
    closers.push(() => client.close());
    assert.is(await client.get(keys.host('10.9.0.0-24', 'x-a')).string(), null, 'no host record');
    assert.is(await client.get(keys.docker('x-a', 'cd'.repeat(32))).string(), null, 'no Docker network mapping');
    assert.equal(a.driver.dockerNetworks().map((n) => n.name), ['10.8.0.0-24']);
  });

  test(TESTS[7], async () => {
    const a = await host('l-a', 1);
    const b = await host('l-b', 2);
    for (const [h, id] of [[a, 'c8'], [b, 'd8']] as const) assert.equal(await h.call('NetworkDriver.CreateNetwork', createNetworkBody(id.repeat(32), '10.11.0.0/24', { 'vxlan-wasm.vni': '1100' })), {});
    const { Address: address } = await a.call('IpamDriver.RequestAddress', { PoolID: '10.11.0.0/24', Address: '', Options: null });
    const endpointId = hex(0xc81);
    await a.call('NetworkDriver.CreateEndpoint', { NetworkID: 'c8'.repeat(32), EndpointID: endpointId, Interface: { Address: address } });
    const ip = String(address).split('/')[0];
    await until('b has it', () => b.forwarder.state(1100).neighbours.some((n) => n.startsWith(`${ip}=`)));
    const client = connect({ endpoints: [etcd.url] });
    closers.push(() => client.close());
    const lease = (await client.get(keys.endpoint('10.11.0.0-24', endpointId)).exec()).kvs[0].lease;
    await client.leaseClient.leaseRevoke({ ID: lease });
    await until('b drops it', () => !b.forwarder.state(1100).neighbours.some((n) => n.startsWith(`${ip}=`)));
    const started = Date.now();
    await until('b sees it again', () => b.forwarder.state(1100).neighbours.some((n) => n.startsWith(`${ip}=`)), 8000);
    console.log(`  a's lease revoked from outside: its endpoint back on b after ${Date.now() - started} ms (lease regrants ${a.agent.counts.leaseRegrants})`);
    assert.is(a.agent.counts.leaseRegrants, 1);
    const kv = (await client.get(keys.endpoint('10.11.0.0-24', endpointId)).exec()).kvs[0];
    assert.ok(kv !== undefined && kv.lease !== lease, 'under a new lease');
    assert.is(await client.get(keys.ipam('10.11.0.0-24', ip)).string(), 'l-a', 'its claim back too');
    assert.equal(a.forwarder.state(1100).peers, ['192.0.2.2:4789'], 'and a still has b');
  });

  test(TESTS[8], async () => {
    const links = new FakeLinks();
    let a = await host('v6-a', 1, { links });
    const b = await host('v6-b', 2);
    const client = connect({ endpoints: [etcd.url] });
    closers.push(() => client.close());
    assert.equal(await a.call('IpamDriver.RequestPool', { AddressSpace: 'vxlan-wasm-local', Pool: 'FD00:61::/64', V6: true }), { PoolID: 'fd00:61::/64', Pool: 'fd00:61::/64', Data: {} });
    assert.equal(await a.call('IpamDriver.RequestPool', { Pool: '', V6: true }), { Err: 'vxlan-wasm needs an IPv6 --subnet with --ipv6 (give every host the same one, e.g. --subnet fd00:9::/64)' });
    assert.equal(await a.call('IpamDriver.RequestPool', { Pool: 'fe80::/64', V6: true }), { Err: 'subnet fe80::/64 is in link-local (fe80::/10), which every interface makes for itself and routers do not forward' });
    assert.equal(await a.call('IpamDriver.RequestPool', { Pool: 'fd00:61::/40', V6: true }), { Err: 'subnet fd00:61::/40: the prefix length of an IPv6 overlay must be 48..120' });
    assert.equal(await a.call('IpamDriver.RequestAddress', { PoolID: 'fd00:61::/64', Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } }), { Address: 'fd00:61::1/64', Data: {} });
    const before = await client.getAll().prefix('/vxlan-wasm/v2/').count();
    // A foreign IPv6 pool (Docker's default IPAM), two IPv6 pools: refused, nothing written.
    assert.equal(await a.call('NetworkDriver.CreateNetwork', createDualBody('a6'.repeat(32), '10.61.0.0/24', 'fd00:61::/64', {}, 'LocalDefault')),
      { Err: 'the IPv6 pool fd00:61::/64 comes from another IPAM driver (address space "LocalDefault"), whose addresses etcd does not know; create the network with --ipam-driver vxlan-wasm' });
    const two = createDualBody('a6'.repeat(32), '10.61.0.0/24', 'fd00:61::/64');
    two.IPv6Data = [...(two.IPv6Data as Json[]), { AddressSpace: 'vxlan-wasm-local', Pool: 'fd00:62::/64' }];
    assert.equal(await a.call('NetworkDriver.CreateNetwork', two), { Err: 'vxlan-wasm takes at most one IPv6 subnet (got 2)' });
    assert.is(await client.getAll().prefix('/vxlan-wasm/v2/').count(), before, 'nothing half-made in etcd');
    assert.equal(a.opener.opened.length, 0);
    // Both hosts: one etcd network with both subnets; b without --ipv6 refused with what to do.
    assert.equal(await a.call('NetworkDriver.CreateNetwork', createDualBody('a6'.repeat(32), '10.61.0.0/24', 'fd00:61::/64', { 'vxlan-wasm.vni': '610', 'vxlan-wasm.network': 'six' })), {});
    assert.equal(await b.call('NetworkDriver.CreateNetwork', createNetworkBody('b6'.repeat(32), '10.61.0.0/24')),
      { Err: 'network six (subnet 10.61.0.0/24) has IPv6 subnet fd00:61::/64 in etcd; create it with --ipv6 --subnet fd00:61::/64 on this host too' });
    assert.equal(await b.call('NetworkDriver.CreateNetwork', createDualBody('b6'.repeat(32), '10.61.0.0/24', 'fd00:61::/64')), {});
    const record = JSON.parse((await client.get(keys.network('six')).string())!);
    assert.equal([record.subnet, record.gateway, record.subnet6, record.gateway6], ['10.61.0.0/24', '10.61.0.1', 'fd00:61::/64', 'fd00:61::1']);
    // A network of IPv4 only in etcd, asked for with --ipv6 on another host: refused.
    assert.equal(await a.call('NetworkDriver.CreateNetwork', createNetworkBody('c4'.repeat(32), '10.62.0.0/24')), {});
    assert.equal(await b.call('NetworkDriver.CreateNetwork', createDualBody('d4'.repeat(32), '10.62.0.0/24', 'fd00:62::/64')),
      { Err: 'network 10.62.0.0-24 (subnet 10.62.0.0/24) has no IPv6 subnet in etcd, not fd00:62::/64; create it the same way on every host (without --ipv6 here)' });
    // An endpoint with both addresses, each claimed from its pool.
    const net = 'a6'.repeat(32);
    const { Address: address } = await a.call('IpamDriver.RequestAddress', { PoolID: '10.61.0.0/24', Address: '', Options: null });
    const { Address: address6 } = await a.call('IpamDriver.RequestAddress', { PoolID: 'fd00:61::/64', Address: '', Options: null });
    assert.match(String(address6), /^fd00:61::[0-9a-f:]+\/64$/);
    assert.is.not(address6, 'fd00:61::1/64', 'never the gateway');
    const ip = String(address).split('/')[0];
    const ip6 = String(address6).split('/')[0];
    assert.is(await client.get(keys.ipam('six', ip6)).string(), 'v6-a', 'the IPv6 address is claimed in etcd');
    const endpointId = hex(0x66);
    assert.equal(await a.call('NetworkDriver.CreateEndpoint', { NetworkID: net, EndpointID: hex(0x67), Interface: { Address: address, AddressIPv6: '', MacAddress: '' } }),
      { Err: `endpoint ${hex(0x67).slice(0, 12)} has no IPv6 address on network six, which has IPv6 subnet fd00:61::/64; create the Docker network with --ipv6 --subnet fd00:61::/64` });
    assert.equal(await a.call('NetworkDriver.CreateEndpoint', { NetworkID: net, EndpointID: hex(0x67), Interface: { Address: address, AddressIPv6: 'fd00:99::5/64', MacAddress: '' } }),
      { Err: 'address fd00:99::5 is not in network six\'s IPv6 subnet fd00:61::/64' });
    const created = await a.call('NetworkDriver.CreateEndpoint', { NetworkID: net, EndpointID: endpointId, Interface: { Address: address, AddressIPv6: address6, MacAddress: '' } });
    const mac = String((created.Interface as Json).MacAddress);
    names.set(endpointId, { name: 'six1', aliases: [] });
    const joined = await a.call('NetworkDriver.Join', { NetworkID: net, EndpointID: endpointId, SandboxKey: '/var/run/docker/netns/y', Options: {} });
    assert.equal(joined, { InterfaceName: { SrcName: linkNames.containerVeth(endpointId), DstPrefix: 'eth' }, GatewayIPv6: 'fd00:61::1' });
    await until('b programs both addresses (ARP and ND answered locally)', () => b.forwarder.state(610).neighbours.includes(`${ip6}=${mac}`) && b.forwarder.state(610).neighbours.includes(`${ip}=${mac}`));
    await until('b has the name', () => b.opener.opened.some((opened) => opened.names.get(endpointId)?.join(',') === 'six1'));
    assert.equal((await a.call('NetworkDriver.EndpointOperInfo', { NetworkID: net, EndpointID: endpointId })).Value, { ip, ip6, mac, name: 'six1', vxlanNetwork: 'six', vni: 610 });
    // The agent on a dies and comes back: the endpoint restored with both claims under the new lease.
    await a.driver.close();
    await a.agent.close({ leave: false });
    a = await host('v6-a', 1, { links });
    assert.equal(await a.driver.restore(), { networks: 2, endpoints: 1, reaped: 0, lost: 0 });
    await new Promise((resolve) => setTimeout(resolve, 2800));
    assert.is(await client.get(keys.ipam('six', ip6)).string(), 'v6-a', 'the IPv6 claim survived the old lease');
    assert.ok(b.forwarder.state(610).neighbours.includes(`${ip6}=${mac}`), 'b still answers ND for it');
    // Gone: both claims released.
    assert.equal(await a.call('NetworkDriver.Leave', { NetworkID: net, EndpointID: endpointId }), {});
    assert.equal(await a.call('NetworkDriver.DeleteEndpoint', { NetworkID: net, EndpointID: endpointId }), {});
    for (const released of [ip, ip6]) assert.equal(await a.call('IpamDriver.ReleaseAddress', { PoolID: released.includes(':') ? 'fd00:61::/64' : '10.61.0.0/24', Address: released }), {});
    assert.is(await client.get(keys.ipam('six', ip6)).string(), null, 'the IPv6 claim released');
    await until('b drops both', () => !b.forwarder.state(610).neighbours.some((entry) => entry.startsWith(`${ip6}=`) || entry.startsWith(`${ip}=`)));
  });

  test(TESTS[9], async () => {
    const a = await host('k-a', 1);
    const b = await host('k-b', 2);
    const netA = 'f'.repeat(64);
    const netB = 'e'.repeat(64);
    assert.equal(await a.call('NetworkDriver.CreateNetwork', createNetworkBody(netA, '10.91.0.0/24', { 'vxlan-wasm.vni': '91', 'vxlan-wasm.network': 'kept' })), {});
    assert.equal(await b.call('NetworkDriver.CreateNetwork', createNetworkBody(netB, '10.91.0.0/24')), {});
    await until('b sees a', () => b.forwarder.state(91).peers.includes('192.0.2.1:4789'));
    assert.is(await a.driver.releaseKeptForCni('kept'), false, 'a Docker network is not released');
    // Two CNI containers on a's kept; Docker removes its network: kept for them.
    for (const [n, endpointId] of [[1, 'cni-k1'], [2, 'cni-k2']] as const) {
      const ip = await a.agent.claim('kept');
      await a.agent.putEndpoint('kept', { network: 'kept', endpoint: { endpointId, hostId: 'k-a', mac: `02:00:00:00:0d:0${n}`, ipv4: ip, name: `k${n}`, aliases: [] }, link: `vwnk${n}` });
    }
    assert.equal(await a.call('NetworkDriver.DeleteNetwork', { NetworkID: netA }), {});
    const local = a.opener.opened[0];
    assert.ok(a.agent.network('kept') !== undefined && !local.closed, 'kept for the CNI containers');
    // The first goes: one is left, nothing released.
    await a.agent.removeEndpoint('kept', 'cni-k1', { release: true });
    assert.is(await a.driver.releaseKeptForCni('kept'), false, 'one CNI container still on it');
    assert.ok(a.agent.network('kept') !== undefined && !local.closed, 'still kept');
    // The last goes: left on this host, its bridge, TAP and name server closed; b drops a.
    await a.agent.removeEndpoint('kept', 'cni-k2', { release: true });
    assert.is(await a.driver.releaseKeptForCni('kept'), true);
    assert.ok(local.closed, 'the kept local network closed');
    assert.is(a.agent.network('kept'), undefined, 'a left kept');
    await until('b drops a', () => b.forwarder.state(91).peers.length === 0);
    assert.is(await a.driver.releaseKeptForCni('kept'), false, 'released once');
    // Docker may create it again afresh.
    const opened = a.opener.opened.length;
    assert.equal(await a.call('NetworkDriver.CreateNetwork', createNetworkBody(netA, '10.91.0.0/24')), {});
    assert.is(a.opener.opened.length, opened + 1, 'set up anew');
  });
}

test.run();
