// Many hosts on etcd, for real (root): a real etcd in a "switch" namespace that also holds the
// underlay bridge, hosts in their own namespaces, each running `vxlan-wasm agent` (agentCommand
// from the sources) with a TAP, a UDP underlay and a Forwarder programmed from etcd.
//   1. three agents join network blue: distinct addresses from its subnet, every pair pings, and
//      every ARP request is answered by the local forwarder (neighbour counters; a capture of the
//      underlay bridge, decoded with the library, holds no ARP inside VXLAN, and nothing flooded)
//   2. etcd killed and restarted while a ping runs: no echo lost, the agents say they lost etcd
//      (vxlan_control_connected 0 over HTTP) and resync when it is back
//   3. an agent killed (SIGKILL) is gone from the other hosts within its lease TTL; started again
//      with the same host id it gets the same address and MAC, and pings work again
//   4. two agents racing for the one address of a /30 (the other is the gateway): exactly one
//      joins, the other exits 1
// One lab for the file (namespaces made once: the suite stays within its time bound); everything
// is removed in the after hook, even on failure.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, statSync, existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { Lab, labUnusable, ping, REPO_ROOT, sleep, warnSkipped } from '../../helpers/netns';
import { etcdUnusable, startEtcd, type EtcdServer } from '../../helpers/etcd';
import { temporaryDirs } from '../../helpers/temporary';
import { decapsulate, readPcap } from '../../../src/index';
import { spawnAgent, startAgent, type AgentProcess } from './agent-process';

const { removeTemporaryDirs, temporaryDir } = temporaryDirs();

const TTL = 3;
const ETCD_HOST = '192.168.77.100';
const ETCD_URL = `http://${ETCD_HOST}:2379`;
const SUBNET = '10.42.0.0/24';

const TESTS = [
  'agents: three hosts join from etcd, every pair pings, ARP answered locally (counters, and no ARP in the underlay capture)',
  'agents: etcd killed and restarted during a ping: no echo lost, vxlan_control_connected 0 while it is away, resync after',
  'agents: a SIGKILLed host is gone from the others within the lease TTL; restarted with its host id it keeps its address and MAC',
  'agents: two agents race for the one address of a /30 (the other is the gateway): exactly one joins, the other exits 1',
];

let unusable: string | undefined;
try {
  unusable = labUnusable('control e2e (agents)', ['ping', 'tcpdump', 'curl', 'bridge', 'sysctl']) ?? etcdUnusable('control e2e (agents)');
} catch (error) {
  test('control e2e (agents): tools', () => {
    throw error;
  });
}

const names = ['a', 'b', 'c', 'd', 'e'] as const;
type Name = (typeof names)[number];
let lab: Lab;
let etcd: EtcdServer | undefined;
const ns = {} as Record<Name | 's', string>;
const agents = {} as Partial<Record<Name, AgentProcess>>;
const underlayIp = (name: Name) => `192.168.77.${names.indexOf(name) + 1}`;

function agentArgs(name: Name, network = 'blue', extra: string[] = []): string[] {
  return ['--etcd', ETCD_URL, '--network', network, '--local', underlayIp(name), '--host-id', `host-${name}`, '--ttl', String(TTL), '--log-level', 'info', ...extra];
}

/** `vxlan-wasm network …` run in the switch namespace (where etcd listens); returns its output and exit code. */
function network(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return lab.tryExec(ns.s, process.execPath, '--import', 'tsx', join(REPO_ROOT, 'test/control/run-network.ts'), ...args, '--etcd', ETCD_URL);
}

function checkPing(from: Name, to: string, what: string, count = 3): void {
  const result = ping(lab, ns[from], to, { count, interval: 0.2, wait: 2 });
  console.log(`  ${what}: ${result.received}/${result.transmitted}, rtt avg ${result.avg} ms`);
  assert.ok(result.transmitted > 0 && result.received === result.transmitted, `${what}: every echo answered\n${result.output}`);
}

/** Capture the underlay on the bridge while `action` runs (tcpdump in the switch namespace). */
async function captureUnderlay(file: string, action: () => Promise<void> | void): Promise<void> {
  const tcpdump = spawn('ip', ['netns', 'exec', ns.s, 'tcpdump', '-Z', 'root', '--immediate-mode', '-i', 'br0', '-U', '-n', '-w', file, 'udp port 4789'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  tcpdump.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = once(tcpdump, 'exit');
  try {
    for (let waited = 0; !stderr.includes('listening on') && tcpdump.exitCode === null && waited < 5000; waited += 50) await sleep(50);
    assert.match(stderr, /listening on/, `tcpdump started: ${stderr}`);
    await action();
    await sleep(300);
  } finally {
    tcpdump.kill('SIGINT');
    await exited;
  }
  assert.ok(existsSync(file) && statSync(file).size > 24, `capture written: ${stderr}`);
}

if (unusable !== undefined) {
  warnSkipped('needs root, network namespaces and etcd', TESTS, unusable);
} else {
  test.before(async () => {
    lab = new Lab('ag');
    ns.s = lab.namespace('s');
    for (const name of names) ns[name] = lab.namespace(name);
    lab.bridge(ns.s, names.map((name) => ({ ns: ns[name], addresses: [`${underlayIp(name)}/24`] })));
    lab.addresses(ns.s, 'br0', [`${ETCD_HOST}/24`]);
    etcd = await startEtcd({ ns: ns.s, host: ETCD_HOST });
    const created = network('create', 'blue', '--vni', '42', '--subnet', SUBNET);
    assert.is(created.status, 0, `network create: ${created.stderr}`);
    assert.match(created.stdout, /network blue created: VNI 42, subnet 10\.42\.0\.0\/24/);
  });

  test.after(async () => {
    // Agents first (they leave while etcd is up), then etcd, then the namespaces.
    await Promise.all(lab.processes.map((proc) => proc.stop(2000).catch(() => undefined)));
    await etcd?.stop();
    await lab.cleanup();
    removeTemporaryDirs();
  });

  test(TESTS[0], async () => {
    const started = performance.now();
    const [a, b, c] = await Promise.all((['a', 'b', 'c'] as const).map((name) =>
      startAgent(lab, ns[name], agentArgs(name, 'blue', name === 'a' ? ['--metrics', '127.0.0.1:9470'] : []))));
    Object.assign(agents, { a, b, c });
    const all = { a, b, c };
    for (const [name, agent] of Object.entries(all)) {
      await agent.until('programmed with the other two hosts', (s) => s.hosts.length === 2 && !s.hosts.includes(`host-${name}`));
    }
    console.log(`  three agents joined and programmed in ${(performance.now() - started).toFixed(0)} ms: ${Object.entries(all).map(([n, x]) => `${n} ${x.ready.ip} ${x.ready.mac}`).join(', ')}`);
    const ips = new Set(Object.values(all).map((agent) => agent.ready.ip));
    assert.is(ips.size, 3, 'three distinct addresses');
    for (const ip of ips) assert.match(ip, /^10\.42\.0\.\d+$/, `${ip} is in ${SUBNET}`);
    for (const [name, agent] of Object.entries(all)) {
      const shown = lab.exec(ns[name as Name], 'ip', '-4', 'addr', 'show', 'dev', agent.ready.tap);
      assert.match(shown, new RegExp(`inet ${agent.ready.ip.replace(/\./g, '\\.')}/24 `), `${name}'s TAP has its address: ${shown}`);
    }
    const inspected = network('inspect', 'blue', '--json');
    assert.is(inspected.status, 0, inspected.stderr);
    const { hosts, endpoints } = JSON.parse(inspected.stdout) as { hosts: { hostId: string; vtep: { address: string } }[]; endpoints: { hostId: string; ipv4: string; mac: string }[] };
    assert.equal(hosts.map((host) => host.hostId), ['host-a', 'host-b', 'host-c'], 'network inspect lists the three live hosts');
    assert.equal(endpoints.map((endpoint) => endpoint.hostId), ['host-a', 'host-b', 'host-c'], 'and their TAPs as one endpoint each');
    for (const host of hosts) {
      const agent = all[host.hostId.slice(5) as 'a' | 'b' | 'c'];
      const endpoint = endpoints.find((e) => e.hostId === host.hostId)!;
      assert.equal([endpoint.ipv4, endpoint.mac, host.vtep.address], [agent.ready.ip, agent.ready.mac, underlayIp(host.hostId.slice(5) as Name)]);
    }

    const file = join(temporaryDir('vxlan-agents-'), 'underlay.pcap');
    await captureUnderlay(file, () => {
      for (const [from, to] of [['a', 'b'], ['a', 'c'], ['b', 'a'], ['b', 'c'], ['c', 'a'], ['c', 'b']] as const) {
        checkPing(from, all[to].ready.ip, `${from} → ${to}`);
      }
    });
    // Checksums not verified: the underlay sends with UDP checksum offload, so a capture on the
    // bridge holds partial checksums the kernel has not finished; what is counted here is ARP.
    const datagrams = readPcap(readFileSync(file)).packets.map((packet) => decapsulate(packet.data, { verifyChecksums: false }));
    const etherTypes = datagrams.map((frame) => (frame.inner[12] << 8) | frame.inner[13]);
    const arp = etherTypes.filter((type) => type === 0x0806).length;
    console.log(`  underlay capture: ${datagrams.length} VXLAN datagrams (VNI ${[...new Set(datagrams.map((d) => d.vxlan.vni))].join(',')}), ${arp} with ARP inside`);
    assert.ok(datagrams.length >= 36, `the 18 echoes and their replies crossed the underlay (${datagrams.length} datagrams)`);
    assert.ok(datagrams.every((frame) => frame.vxlan.vni === 42), 'all at VNI 42');
    assert.is(arp, 0, 'no ARP crossed the underlay');
    for (const [name, agent] of Object.entries(all)) {
      const { counters } = await agent.status();
      console.log(`  ${name}: neighbours ${JSON.stringify(counters.neighbours)}, flooded ${counters.networks[0].flooded}`);
      assert.ok(counters.neighbours.arpAnswered >= 2, `${name}'s forwarder answered its ARP requests for the two others`);
      assert.is(counters.neighbours.arpFlooded, 0, `${name}: no ARP request flooded`);
      assert.is(counters.networks[0].flooded, 0, `${name}: nothing flooded (every MAC is a static FDB entry)`);
    }
  });

  test(TESTS[1], async () => {
    const { a, b, c } = agents as Record<'a' | 'b' | 'c', AgentProcess>;
    const metric = () => lab.tryExec(ns.a, 'curl', '-sf', '--max-time', '2', 'http://127.0.0.1:9470/metrics').stdout;
    const connectedMetric = () => /^vxlan_control_connected (\d)/m.exec(metric())?.[1];
    assert.is(connectedMetric(), '1', 'connected before');
    const before = await Promise.all([a, b, c].map((agent) => agent.status()));
    // 70 echoes 0.1 s apart (7 s): etcd goes away 1 s in and comes back after 4 s (past the TTL).
    const pinger = lab.spawn(ns.a, 'ping', ['-n', '-c', '70', '-i', '0.1', '-W', '2', b.ready.ip], { label: 'ping during the etcd outage' });
    await sleep(1000);
    const killedAt = performance.now();
    await etcd!.kill('SIGKILL');
    const down = await a.until('disconnected', (s) => !s.agent.connected, 4000, 50);
    console.log(`  etcd killed: agent a saw it after ${down.elapsedMs.toFixed(0)} ms`);
    assert.is(connectedMetric(), '0', 'vxlan_control_connected 0 while etcd is away');
    assert.match(a.proc.stderr, /lost etcd; forwarding continues on the last known state/, 'a log line says so');
    await sleep(Math.max(0, 4000 - (performance.now() - killedAt)));
    await etcd!.restart();
    const restartedAt = performance.now();
    for (const [agent, was] of [[a, before[0]], [b, before[1]], [c, before[2]]] as const) {
      const back = await agent.until('resynced', (s) => s.agent.connected && s.agent.resyncs > was.agent.resyncs && s.hosts.length === 2, 15_000);
      console.log(`  agent in ${agent.ns.split('-').pop()}: resynced ${back.elapsedMs.toFixed(0)} ms after etcd was back (lease regrants ${back.snapshot.agent.leaseRegrants})`);
    }
    assert.is(connectedMetric(), '1', 'vxlan_control_connected 1 again');
    console.log(`  all resynced ${(performance.now() - restartedAt).toFixed(0)} ms after the restart`);
    const status = await pinger.wait(15_000);
    const result = /(\d+) packets transmitted, (\d+) received/.exec(pinger.stdout);
    console.log(`  ping through the outage: ${result?.[0]} (exit ${status.code})`);
    assert.ok(result !== null && result[1] === result[2] && Number(result[1]) === 70, `no echo lost while etcd was away:\n${pinger.stdout}`);
    checkPing('c', a.ready.ip, 'c → a after the outage', 2);
  });

  test(TESTS[2], async () => {
    const { a, b, c } = agents as Record<'a' | 'b' | 'c', AgentProcess>;
    const { ip, mac } = c.ready;
    c.proc.signal('SIGKILL');
    const killed = performance.now();
    await c.proc.exited;
    const gone = await Promise.all([a, b].map((agent) => agent.until('without host-c', (s) => !s.hosts.includes('host-c') && !s.peers.includes(underlayIp('c')), (TTL + 3) * 1000, 50)));
    const elapsed = gone.map(() => performance.now() - killed);
    const worst = Math.max(...gone.map((x) => x.elapsedMs));
    console.log(`  host c SIGKILLed: gone from a and b after ≤ ${worst.toFixed(0)} ms (TTL ${TTL} s); neighbours of a now ${JSON.stringify(gone[0].snapshot.neighbours.map((n) => n.ip))}`);
    // The lease has at most the TTL left at the kill (kept alive every TTL/3); etcd's lessor
    // sweeps for expired leases every 500 ms; the status is polled every 50 ms.
    assert.ok(Math.max(...elapsed) <= TTL * 1000 + 600, `gone within the TTL (${Math.max(...elapsed).toFixed(0)} ms)`);
    assert.not.ok(gone[0].snapshot.neighbours.some((n) => n.ip === ip), "c's address left a's neighbour table");

    const again = await startAgent(lab, ns.c, agentArgs('c'), 'agent in c (restarted)');
    agents.c = again;
    assert.is(again.ready.ip, ip, 'the same address after a restart');
    assert.is(again.ready.mac, mac, 'the same MAC after a restart');
    await Promise.all([a, b].map((agent) => agent.until('with host-c again', (s) => s.hosts.includes('host-c'))));
    checkPing('a', ip, 'a → restarted c', 2);
  });

  test(TESTS[3], async () => {
    const created = network('create', 'tiny', '--vni', '43', '--subnet', '10.43.0.0/30');
    assert.is(created.status, 0, created.stderr);
    // The one address (10.43.0.1 is the gateway): e and a (on another port and TAP) start together.
    const racers = [
      spawnAgent(lab, ns.e, agentArgs('e', 'tiny'), 'agent in e (tiny)'),
      spawnAgent(lab, ns.a, agentArgs('a', 'tiny', ['--port', '4790', '--tap', 'vx-tiny', '--host-id', 'host-a-tiny']), 'agent in a (tiny)'),
    ];
    const outcomes = await Promise.all(racers.map((racer) => racer.proc.waitFor('joined or exited', () => {
      if (racer.proc.lines.some((line) => line.startsWith('{"event":"ready"'))) return 'joined';
      if (!racer.proc.running) return `exited ${racer.proc.exitCode}`;
      return undefined;
    }, 20_000).catch(() => (racer.proc.running ? undefined : `exited ${racer.proc.exitCode}`))));
    console.log(`  race for the one address of 10.43.0.0/30: e ${outcomes[0]}, a ${outcomes[1]}`);
    assert.is(outcomes.filter((x) => x === 'joined').length, 1, 'exactly one joined');
    const loser = racers[outcomes.indexOf('exited 1')];
    assert.ok(loser !== undefined, `the other exited 1: ${JSON.stringify(outcomes)}`);
    assert.match(loser.proc.stderr, /no free address in network tiny's subnet 10\.43\.0\.0\/30: all 1 \(the gateway aside\) are taken/, 'and said why');
    const winner = racers[outcomes.indexOf('joined')];
    await winner.waitReady();
    assert.is(winner.ready.ip, '10.43.0.2', 'the winner took the address that is not the gateway');
    const inspected = JSON.parse(network('inspect', 'tiny', '--json').stdout) as { endpoints: { ipv4: string }[] };
    assert.equal(inspected.endpoints.map((endpoint) => endpoint.ipv4), [winner.ready.ip], 'etcd holds the winner');
  });
}

test.run();
