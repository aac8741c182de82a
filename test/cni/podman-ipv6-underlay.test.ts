// `agent --cni` over an IPv6 underlay: two hosts in network namespaces joined by a veth that has
// both families; etcd stays on IPv4 (192.168.76.1), but each agent's VTEP is its IPv6 address
// (`--local fd00:76::1` / `::2`), so the VXLAN between the hosts is UDP over IPv6. One
// dual-stack network (10.76.0.0/24 and fd00:7a::/64); a podman container on each host; they ping
// each other by name over IPv4 and with ping -6, and the other host's VTEP in etcd is the IPv6 one.
// test/cni/podman.test.ts covers the rest of the plugin over an IPv4 underlay.
// Needs root; installs podman if missing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { keys } from '../../src/control/keys';
import { etcdUnusable } from '../helpers/etcd';
import { warnSkipped } from '../helpers/netns';
import { podmanUnusable } from '../helpers/podman-host';
import { execUntilOk, PodmanLab } from '../helpers/podman-lab';
import { BUSYBOX_IMAGE } from '../helpers/busybox-image';
import { missingTools } from '../interop/tools';

const TESTS = [
  'agent --cni over an IPv6 underlay (VTEPs fd00:76::1 and ::2): podman containers on two hosts ping each other by name over IPv4 and IPv6; the hosts\' VTEPs in etcd are IPv6, the VXLAN crosses the underlay as UDP over IPv6',
];

const UNDERLAY4 = ['192.168.76.1', '192.168.76.2'];
const UNDERLAY6 = ['fd00:76::1', 'fd00:76::2'];

let unusable: string | undefined;
try {
  unusable = etcdUnusable('cni podman IPv6 underlay tests') ?? podmanUnusable() ?? missingTools('cni podman IPv6 underlay tests', ['tcpdump']);
} catch (error) {
  unusable = (error as Error).message;
}

if (unusable !== undefined) {
  warnSkipped('needs root, network namespaces, etcd and podman', TESTS, `cni podman IPv6 underlay tests: ${unusable}`);
} else {
  const podmanLab = new PodmanLab({
    tag: 'c6',
    underlay: [[`${UNDERLAY4[0]}/24`, `${UNDERLAY6[0]}/64`], [`${UNDERLAY4[1]}/24`, `${UNDERLAY6[1]}/64`]],
    etcdHost: UNDERLAY4[0],
    local: [UNDERLAY6[0], UNDERLAY6[1]],
    hostIds: ['c6-h1', 'c6-h2'],
    beforeAgents: (it) => { it.runCli(it.nsNames[0], ['network', 'create', 'green', '--vni', '7600', '--subnet', '10.76.0.0/24', '--subnet', 'fd00:7a::/64', '--etcd', it.etcdUrl]); },
    addNetworks: (host, socket) => host.addNetwork('green', { agentSocket: socket }),
  });
  const { hosts, agents } = podmanLab;
  const etcdValues = (prefix: string) => podmanLab.etcdValues(prefix);
  const retry = execUntilOk;

  test.before(async () => {
    try {
      await podmanLab.setUp();
    } catch (error) {
      // uvu reports a failing hook with no message: say it here.
      console.error(`cni podman IPv6 underlay tests: setup failed: ${(error as Error).stack}`);
      throw error;
    }
  });

  test.after(async () => {
    const problems = await podmanLab.cleanup();
    if (problems.length > 0) console.warn(`cni podman IPv6 underlay tests cleanup: ${problems.join('; ')}`);
  });

  test(TESTS[0], async () => {
    const [h1, h2] = hosts;
    const started = performance.now();
    h1.podmanOk(['run', '-d', '--name', 'g1', '--network', 'green', BUSYBOX_IMAGE, 'sleep', '600'], 120_000);
    h2.podmanOk(['run', '-d', '--name', 'g2', '--network', 'green', BUSYBOX_IMAGE, 'sleep', '600'], 120_000);
    const g1 = h1.podmanOk(['exec', 'g1', 'ip', '-o', 'addr', 'show', 'eth0']);
    assert.match(g1, /inet 10\.76\.0\.\d+\/24/, g1);
    assert.match(g1, /inet6 fd00:7a::[0-9a-f:]+\/64 scope global/, g1);
    // The overlay's MTU leaves room for VXLAN over IPv6 (70 bytes), not IPv4's 50.
    assert.match(h1.podmanOk(['exec', 'g1', 'ip', '-o', 'link', 'show', 'eth0']), /mtu 1430 /);

    // Every host's VTEP in etcd is its IPv6 underlay address.
    const hostRecords = Object.values(await etcdValues(keys.hostsPrefix('green')));
    const vteps = hostRecords.map((value) => (JSON.parse(value) as { vtep: { address: string } }).vtep.address).sort();
    assert.equal(vteps, UNDERLAY6, `hosts in etcd: ${hostRecords.join(' | ')}`);

    // What crosses h2's underlay link to port 4789 while the containers ping, seen by tcpdump (a
    // packet tap sees it before the tunnel-GSO tc filter takes VXLAN away from the UDP stack, so
    // the UDP counters of /proc/net/snmp6 would not).
    const tcpdump = podmanLab.lab.spawn(podmanLab.nsNames[1], 'tcpdump', ['-Z', 'root', '--immediate-mode', '-l', '-n', '-i', 'veth0', 'udp dst port 4789'], { label: 'tcpdump on h2' });
    await tcpdump.waitFor('tcpdump listening', () => tcpdump.stderr.includes('listening on'), 10_000);
    for (const [host, from, to] of [[h1, 'g1', 'g2'], [h2, 'g2', 'g1']] as const) {
      const v4 = await retry(host, from, ['ping', '-4', '-c', '2', '-W', '2', to]);
      assert.is(v4.status, 0, `${from} → ${to} (ping -4 by name) over the IPv6 underlay: ${v4.stdout} ${v4.stderr}\nagents: ${agents.map((agent) => agent.stderr.slice(-1500)).join('\n---\n')}`);
      assert.match(v4.stdout, /PING \S+ \(10\.76\.0\.\d+\)/, v4.stdout);
      const v6 = await retry(host, from, ['ping', '-6', '-c', '2', '-W', '2', to]);
      assert.is(v6.status, 0, `${from} → ${to} (ping -6 by name) over the IPv6 underlay: ${v6.stdout} ${v6.stderr}`);
      assert.match(v6.stdout, /PING \S+ \(fd00:7a::[0-9a-f:]+\)/, v6.stdout);
      assert.match(v6.stdout, /2 packets received/);
    }
    await tcpdump.stop(2000);
    const seen = tcpdump.stdout.split('\n').filter((line) => line.trim() !== '');
    const overIpv6 = seen.filter((line) => / IP6 fd00:76::1\.\d+ > fd00:76::2\.4789: /.test(line));
    // g1's 4 echo requests and h2's 4 replies to g2's pings arrive from h1 at least.
    assert.ok(overIpv6.length >= 8, `VXLAN over IPv6 into h2: ${overIpv6.length} of ${seen.length} datagrams:\n${seen.slice(0, 20).join('\n')}`);
    assert.equal(seen.filter((line) => / IP 192\.168\.76\./.test(line)), [], 'no VXLAN over the IPv4 underlay');
    console.log(`cni podman IPv6 underlay: two containers started and pinged each other by name in both families in ${Math.round(performance.now() - started)} ms; tcpdump on h2's underlay saw ${overIpv6.length} VXLAN datagrams from fd00:76::1, none over IPv4`);
    for (const [host, name] of [[h1, 'g1'], [h2, 'g2']] as const) host.podmanOk(['rm', '-f', '-t', '0', name]);
    assert.equal(Object.keys(await etcdValues(keys.ipamPrefix('green'))), [], 'every claim of green released');
  });

  test.run();
}

if (unusable !== undefined) test.run();
