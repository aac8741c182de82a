// Dual stack and IPv6 for real (root): etcd in a "switch" namespace holding the underlay bridge,
// two hosts in their own namespaces, each running `vxlan-wasm agent` (from the sources) with a TAP.
//   1. a dual-stack network (IPv4 and IPv6 subnets) over an IPv4 underlay: each TAP gets an
//      address of each family (the IPv6 one usable at once: no DAD), pings work both ways in both
//      families, and each forwarder's neighbour table holds the other host's IPv6 address (ND
//      answered locally, like ARP)
//   2. an IPv6-only network over an IPv6 underlay (VTEPs on IPv6 addresses): ping -6 both ways
// Everything is removed in the after hook, even on failure.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { Lab, labUnusable, ping, REPO_ROOT, warnSkipped } from '../../helpers/netns';
import { etcdUnusable, startEtcd, type EtcdServer } from '../../helpers/etcd';
import { startAgent } from './agent-process';

const TTL = 3;
const ETCD_HOST = '192.168.78.100';
const ETCD_URL = `http://${ETCD_HOST}:2379`;

const TESTS = [
  'dual stack: two agents on a network with 10.46.0.0/24 and fd00:46::/64 over an IPv4 underlay ping each other in both families; ND answered from the neighbour table',
  'IPv6 only: two agents on fd00:47::/64 over an IPv6 underlay (VTEPs fd00:78::1 and ::2) ping -6 each other',
];

let unusable: string | undefined;
try {
  unusable = labUnusable('control e2e (dual stack)', ['ping']) ?? etcdUnusable('control e2e (dual stack)');
} catch (error) {
  test('control e2e (dual stack): tools', () => {
    throw error;
  });
}

const names = ['a', 'b'] as const;
type Name = (typeof names)[number];
let lab: Lab;
let etcd: EtcdServer | undefined;
const ns = {} as Record<Name | 's', string>;

function network(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return lab.tryExec(ns.s, process.execPath, '--import', 'tsx', join(REPO_ROOT, 'test/control/run-network.ts'), ...args, '--etcd', ETCD_URL);
}

function checkPing(from: Name, to: string, what: string): void {
  const result = ping(lab, ns[from], to, { count: 3, interval: 0.2, wait: 2 });
  console.log(`  ${what}: ${result.received}/${result.transmitted}, rtt avg ${result.avg} ms`);
  assert.ok(result.transmitted > 0 && result.received === result.transmitted, `${what}: every echo answered\n${result.output}`);
}

if (unusable !== undefined) {
  warnSkipped('needs root, network namespaces and etcd', TESTS, unusable);
} else {
  test.before(async () => {
    lab = new Lab('dual');
    ns.s = lab.namespace('s', { ipv6: true });
    for (const name of names) ns[name] = lab.namespace(name, { ipv6: true });
    lab.bridge(ns.s, names.map((name, i) => ({ ns: ns[name], addresses: [`192.168.78.${i + 1}/24`, `fd00:78::${i + 1}/64`] })));
    lab.addresses(ns.s, 'br0', [`${ETCD_HOST}/24`]);
    etcd = await startEtcd({ ns: ns.s, host: ETCD_HOST });
  });

  test.after(async () => {
    await Promise.all(lab.processes.map((proc) => proc.stop(2000).catch(() => undefined)));
    await etcd?.stop();
    await lab.cleanup();
  });

  test(TESTS[0], async () => {
    const created = network('create', 'dual', '--vni', '46', '--subnet', '10.46.0.0/24', '--subnet', 'fd00:46::/64');
    assert.is(created.status, 0, created.stderr);
    const started = performance.now();
    const [a, b] = await Promise.all(names.map((name, i) => startAgent(lab, ns[name], [
      '--etcd', ETCD_URL, '--network', 'dual', '--local', `192.168.78.${i + 1}`, '--host-id', `dual-${name}`, '--ttl', String(TTL), '--queues', '1',
    ])));
    await Promise.all([a, b].map((agent) => agent.until('programmed with the other host', (s) => s.hosts.length === 1)));
    console.log(`  joined in ${(performance.now() - started).toFixed(0)} ms: a ${a.ready.ip} ${a.ready.ip6}, b ${b.ready.ip} ${b.ready.ip6}`);
    for (const [name, agent] of [['a', a], ['b', b]] as const) {
      assert.match(agent.ready.ip, /^10\.46\.0\.\d+$/);
      assert.match(agent.ready.ip6 ?? '', /^fd00:46::[0-9a-f:]+$/);
      const shown = lab.exec(ns[name], 'ip', '-6', 'addr', 'show', 'dev', agent.ready.tap);
      const line = shown.split('\n').find((text) => text.includes(`inet6 ${agent.ready.ip6}/64 scope global`));
      assert.ok(line !== undefined, `${name}'s TAP has its IPv6 address: ${shown}`);
      assert.not.match(line!, /tentative/, `usable at once, no duplicate address detection: ${line}`);
    }
    const { snapshot } = await a.until('b\'s IPv6 address in a\'s neighbour table', (s) => s.neighbours.some((n) => n.ip === b.ready.ip6 && n.mac === b.ready.mac));
    assert.ok(snapshot.neighbours.some((n) => n.ip === b.ready.ip), 'and its IPv4 one');
    checkPing('a', b.ready.ip, 'a → b IPv4');
    checkPing('a', b.ready.ip6!, 'a → b IPv6');
    checkPing('b', a.ready.ip6!, 'b → a IPv6');
    const after = await a.status();
    console.log(`  a's forwarder counters: ${JSON.stringify(Object.fromEntries(Object.entries(after.counters).filter(([key, value]) => /neighbour|arp|nd/i.test(key) && value !== 0)))}`);
    const neighbourCounters = (after.counters as unknown as { neighbours: { ndAnswered: number } }).neighbours;
    assert.ok(neighbourCounters.ndAnswered >= 1, 'a neighbour solicitation for b was answered by a\'s own forwarder');
    const inspected = JSON.parse(network('inspect', 'dual', '--json').stdout) as { endpoints: { ipv4?: string; ipv6?: string }[] };
    assert.equal(inspected.endpoints.map((e) => [e.ipv4, e.ipv6]).sort(), [[a.ready.ip, a.ready.ip6], [b.ready.ip, b.ready.ip6]].sort(), 'etcd holds both addresses of each');
    await Promise.all([a, b].map((agent) => agent.proc.stop(2000)));
  });

  test(TESTS[1], async () => {
    const created = network('create', 'six', '--vni', '47', '--subnet', 'fd00:47::/64');
    assert.is(created.status, 0, created.stderr);
    const [a, b] = await Promise.all(names.map((name, i) => startAgent(lab, ns[name], [
      '--etcd', ETCD_URL, '--network', 'six', '--local', `fd00:78::${i + 1}`, '--host-id', `six-${name}`, '--ttl', String(TTL), '--queues', '1', '--tap', 'vx-six',
    ])));
    await Promise.all([a, b].map((agent) => agent.until('programmed with the other host', (s) => s.hosts.length === 1)));
    console.log(`  IPv6 underlay: a ${a.ready.ip} (VTEP fd00:78::1), b ${b.ready.ip} (VTEP fd00:78::2)`);
    assert.match(a.ready.ip, /^fd00:47::/, 'an IPv6-only network gives an IPv6 address');
    const peers = (await a.status()).peers;
    assert.equal(peers, ['fd00:78::2'], 'a\'s peer is b\'s IPv6 VTEP');
    checkPing('a', b.ready.ip, 'a → b over the IPv6 underlay');
    checkPing('b', a.ready.ip, 'b → a over the IPv6 underlay');
  });
}

test.run();
