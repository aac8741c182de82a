// The CNI plugin with a real runtime: two hosts in network namespaces (an underlay veth between
// them, etcd on the first), each with its agent (`agent --cni` from the sources) and its own
// podman (Debian's 4.3, CNI backend, its own root/runroot/config, the plugin from the sources
// through a wrapper). One network conflist of type vxlan-wasm on both; a container on each host;
// they ping each other by name across the overlay (the name server at the network's DNS address).
// Then: what podman passed (VERSION, ADD with CNI_NETNS and the container's name), a container
// removed is gone from etcd and its veth from the host, a second ADD refused, bad configurations
// refused by podman with the plugin's sentence. Last, dual stack: a network with both families and
// an IPv6-only one, containers on both hosts pinging each other by name with ping -6.
// Needs root; installs podman if missing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { keys } from '../../src/control/keys';
import { etcdUnusable } from '../helpers/etcd';
import { warnSkipped } from '../helpers/netns';
import { podmanUnusable, type PodmanHost } from '../helpers/podman-host';
import { execUntilOk, PodmanLab } from '../helpers/podman-lab';
import { BUSYBOX_IMAGE } from '../helpers/busybox-image';

const TESTS = [
  'podman on two hosts: containers on the vxlan-wasm network ping each other by name, a --network-alias resolves; podman passed VERSION, ADD with CNI_NETNS and the name',
  'an agent restarted: web2 restored from etcd (its veth put in the new bridge), pinged by name again; the agent\'s metrics count the CNI calls',
  'podman rm: DEL removes the endpoint from etcd and the veth from the host; a second DEL of it succeeds',
  'bad input through podman: a network that does not exist in etcd, an unknown key, an agent that is not running: podman fails with the plugin\'s sentence and nothing is left',
  'dual stack and IPv6 only: containers on two hosts get an address of each family of their network, and ping -6 each other by name (AAAA from the name server on the IPv6 gateway)',
];

const SUBNET = '10.77.0.0/24';
const DNS = '10.77.0.1';
const UNDERLAY = ['192.168.77.1', '192.168.77.2'];
const METRICS = '127.0.0.1:19977';

let unusable: string | undefined;
try {
  unusable = etcdUnusable('cni podman tests') ?? podmanUnusable();
} catch (error) {
  unusable = (error as Error).message;
}

if (unusable !== undefined) {
  warnSkipped('needs root, network namespaces, etcd and podman', TESTS, `cni podman tests: ${unusable}`);
} else {
  const podmanLab = new PodmanLab({
    tag: 'cni',
    underlay: [[`${UNDERLAY[0]}/24`], [`${UNDERLAY[1]}/24`]],
    etcdHost: UNDERLAY[0],
    local: [UNDERLAY[0], UNDERLAY[1]],
    hostIds: ['h1', 'h2'],
    agentArgs: ['--metrics', METRICS],
    beforeAgents: (it) => { it.runCli(it.nsNames[0], ['network', 'create', 'blue', '--vni', '7700', '--subnet', SUBNET, '--etcd', it.etcdUrl]); },
    addNetworks: (host, socket, hostDir) => {
      // capabilities.aliases: podman passes --network-alias in runtimeConfig.aliases.
      host.addNetwork('blue', { agentSocket: socket, capabilities: { aliases: true } });
      host.addNetwork('nowhere', { agentSocket: socket, network: 'nowhere' });
      host.addNetwork('odd', { agentSocket: socket, colour: 'red' });
      host.addNetwork('noagent', { agentSocket: join(hostDir, 'none.sock'), network: 'blue' });
      host.addNetwork('dual', { agentSocket: socket });
      host.addNetwork('six', { agentSocket: socket });
    },
  });
  const { hosts, agents, sockets } = podmanLab;
  const runCli = (ns: string, args: string[]) => podmanLab.runCli(ns, args);
  const etcdKeys = (prefix: string) => podmanLab.etcdKeys(prefix);
  /** The network namespaces podman made (netns-UUID; other suites' have other names). */
  const podmanNamespaces = () => readdirSync('/run/netns').filter((name) => name.startsWith('netns-')).sort();
  /** The CNI veths' host ends on a host. */
  const hostLinks = (ns: string) => podmanLab.lab.exec(ns, 'ip', '-o', 'link', 'show').split('\n').map((line) => line.split(': ')[1]?.split('@')[0]).filter((name): name is string => name !== undefined && name.startsWith('vwn'));
  const pingByName = (host: PodmanHost, container: string, target: string, tries = 20) => execUntilOk(host, container, ['ping', '-c', '2', '-W', '2', target], tries);

  test.before(async () => {
    try {
      await podmanLab.setUp();
    } catch (error) {
      // uvu reports a failing hook with no message: say it here.
      console.error(`cni podman tests: setup failed: ${(error as Error).stack}`);
      throw error;
    }
  });

  test.after(async () => {
    const problems = await podmanLab.cleanup();
    if (problems.length > 0) console.warn(`cni podman tests cleanup: ${problems.join('; ')}`);
  });

  test(TESTS[0], async () => {
    const [h1, h2] = hosts;
    const started = performance.now();
    h1.podmanOk(['run', '-d', '--name', 'web1', '--network', 'blue', BUSYBOX_IMAGE, 'sleep', '600'], 120_000);
    const firstRunMs = performance.now() - started;
    const second = performance.now();
    h2.podmanOk(['run', '-d', '--name', 'web2', '--network', 'blue', '--network-alias', 'db', BUSYBOX_IMAGE, 'sleep', '600'], 120_000);
    const secondRunMs = performance.now() - second;
    const resolv = h1.podmanOk(['exec', 'web1', 'cat', '/etc/resolv.conf']);
    console.log(`cni podman: web1's resolv.conf: ${resolv.trim().replace(/\n/g, ' | ')}`);
    const address1 = h1.podmanOk(['exec', 'web1', 'ip', '-o', '-4', 'addr', 'show', 'eth0']);
    assert.match(address1, /inet 10\.77\.0\.\d+\/24/);
    // By name, across the overlay.
    const pinged = await pingByName(h1, 'web1', 'web2');
    console.log(`cni podman: podman run -d (the network joined on first use) ${Math.round(firstRunMs)} ms on h1, ${Math.round(secondRunMs)} ms on h2; the first \`podman exec web1 ping -c 2 web2\` that succeeded ended ${Math.round(performance.now() - second - secondRunMs)} ms after web2's run returned (the plugin ${process.env.VXLAN_CNI_E2E_BUILT === '1' ? 'built' : 'through tsx: ~1 s of start-up per call'})`);
    assert.is(pinged.status, 0, `web1 → web2: ${pinged.stdout} ${pinged.stderr}`);
    assert.match(pinged.stdout, /2 packets received/);
    const back = h2.podman(['exec', 'web2', 'ping', '-c', '2', '-W', '2', 'web1']);
    assert.is(back.status, 0, `web2 → web1: ${back.stdout} ${back.stderr}`);
    assert.match(h2.podmanOk(['exec', 'web2', 'nslookup', 'web1', DNS]), /10\.77\.0\.\d+/);
    // web2's alias, from the other host.
    const web2 = h2.podmanOk(['exec', 'web2', 'ip', '-o', '-4', 'addr', 'show', 'eth0']).match(/inet (10\.77\.0\.\d+)/)![1];
    const alias = h1.podmanOk(['exec', 'web1', 'nslookup', 'db', DNS]);
    assert.ok(alias.includes(web2), `db should be ${web2}: ${alias}`);

    const calls = h1.calls();
    console.log(`cni podman: plugin calls on h1: ${calls.join(' || ')}`);
    assert.ok(calls.some((line) => line.startsWith('ADD ') && / eth0 \/run\/netns\//.test(line) && /K8S_POD_NAME=web1/.test(line)), calls.join('\n'));
  });

  test(TESTS[1], async () => {
    const [h1, h2] = hosts;
    await agents[1].stop(5000);
    assert.is(agents[1].exitCode, 0, agents[1].stderr);
    agents[1] = podmanLab.startAgent(1);
    await podmanLab.serving(agents[1]);
    assert.match(agents[1].stderr + agents[1].stdout, /restored this host's CNI endpoints from etcd/);
    const restarted = performance.now();
    const pinged = await pingByName(h1, 'web1', 'web2', 30);
    assert.is(pinged.status, 0, `web1 → web2 after h2's agent restarted: ${pinged.stdout} ${pinged.stderr}`);
    const back = await pingByName(h2, 'web2', 'web1', 30);
    assert.is(back.status, 0, `web2 → web1 after h2's agent restarted: ${back.stdout} ${back.stderr}\nagent h2: ${agents[1].stderr.slice(-2000)}`);
    console.log(`cni podman: after h2's agent restarted, pings by name both ways answered within ${Math.round(performance.now() - restarted)} ms of it serving again`);

    const metrics = podmanLab.lab.exec(podmanLab.nsNames[0], 'curl', '-sf', '--max-time', '5', `http://${METRICS}/metrics`);
    assert.match(metrics, /vxlan_cni_calls_total\{command="ADD",result="ok"\} 1/, metrics.split('\n').filter((line) => line.includes('cni')).join('\n'));
  });

  test(TESTS[2], async () => {
    const [h1] = hosts;
    const before = await etcdKeys(keys.endpointsPrefix('blue'));
    assert.ok(before.length >= 2, `endpoints in etcd: ${before.join(', ')}`);
    assert.is(hostLinks(podmanLab.nsNames[0]).length, 1, 'one veth host end on h1');
    h1.podmanOk(['rm', '-f', '-t', '0', 'web1']);
    const after = await etcdKeys(keys.endpointsPrefix('blue'));
    assert.is(after.length, before.length - 1, `endpoints after rm: ${after.join(', ')}`);
    assert.equal(hostLinks(podmanLab.nsNames[0]), [], 'no veth left on h1');
    const del = h1.calls().find((line) => line.startsWith('DEL '));
    assert.ok(del !== undefined, h1.calls().join('\n'));
    // DEL again, as a runtime retrying would (the plugin as podman runs it): success, nothing to do.
    const [, containerId, ifname] = del.split(' ');
    const again = spawnSync(join(h1.pluginDir, 'vxlan-wasm'), [], {
      input: JSON.stringify({ cniVersion: '1.0.0', name: 'blue', type: 'vxlan-wasm', agentSocket: sockets[0] }),
      env: { ...process.env, CNI_COMMAND: 'DEL', CNI_CONTAINERID: containerId, CNI_IFNAME: ifname, CNI_NETNS: '', CNI_PATH: h1.pluginDir }, encoding: 'utf8', timeout: 30_000,
    });
    assert.is(again.status, 0, `${again.stdout} ${again.stderr}`);
    assert.is(again.stdout, '');
    // The address is free again: the next container may take it.
    const claims = await etcdKeys(keys.ipamPrefix('blue'));
    assert.is(claims.length, after.length, `claims ${claims.join(', ')} match endpoints`);
  });

  test(TESTS[3], async () => {
    const [h1] = hosts;
    const before = await etcdKeys(keys.networkPrefix('blue'));
    const namespacesBefore = podmanNamespaces();
    for (const [network, sentence] of [['nowhere', /no overlay network named nowhere/], ['odd', /unsupported field "colour"/], ['noagent', /agent is not running/]] as const) {
      const result = h1.podman(['run', '--rm', '--name', `bad-${network}`, '--network', network, BUSYBOX_IMAGE, 'true'], 120_000);
      assert.ok(result.status !== 0, `podman run on ${network} should fail`);
      assert.match(result.stderr, sentence, `${network}: ${result.stderr}`);
      h1.podman(['rm', '-f', `bad-${network}`]);
    }
    assert.equal(await etcdKeys(keys.networkPrefix('blue')), before, 'nothing half-made in etcd');
    assert.equal(hostLinks(podmanLab.nsNames[0]), [], 'no veth left on h1');
    assert.equal(podmanNamespaces(), namespacesBefore, 'podman\'s namespaces of the failed containers are gone');
  });

  test(TESTS[4], async () => {
    const [h1, h2] = hosts;
    runCli(podmanLab.nsNames[0], ['network', 'create', 'dual', '--vni', '7800', '--subnet', '10.78.0.0/24', '--subnet', 'fd00:78::/64', '--etcd', podmanLab.etcdUrl]);
    runCli(podmanLab.nsNames[0], ['network', 'create', 'six', '--vni', '7900', '--subnet', 'fd00:79::/64', '--etcd', podmanLab.etcdUrl]);
    const started = performance.now();
    for (const [host, name, network] of [[h1, 'd1', 'dual'], [h2, 'd2', 'dual'], [h1, 's1', 'six'], [h2, 's2', 'six']] as const) {
      host.podmanOk(['run', '-d', '--name', name, '--network', network, BUSYBOX_IMAGE, 'sleep', '600'], 120_000);
    }
    console.log(`cni podman: four containers on dual and six started in ${Math.round(performance.now() - started)} ms`);
    const d1 = h1.podmanOk(['exec', 'd1', 'ip', '-o', 'addr', 'show', 'eth0']);
    assert.match(d1, /inet 10\.78\.0\.\d+\/24/, d1);
    assert.match(d1, /inet6 fd00:78::[0-9a-f:]+\/64 scope global/, d1);
    assert.not.match(d1.split('\n').filter((line) => line.includes('fd00:78::')).join('\n'), /tentative/, 'the IPv6 address is usable at once');
    const s1 = h1.podmanOk(['exec', 's1', 'ip', '-o', 'addr', 'show', 'eth0']);
    assert.not.match(s1, /inet /, `no IPv4 address on an IPv6-only network: ${s1}`);
    assert.match(s1, /inet6 fd00:79::[0-9a-f:]+\/64 scope global/, s1);
    assert.match(h1.podmanOk(['exec', 's1', 'ip', '-6', 'route']), /default via fd00:79::1 dev eth0/);
    console.log(`cni podman: s1's resolv.conf: ${h1.podmanOk(['exec', 's1', 'cat', '/etc/resolv.conf']).trim().replace(/\n/g, ' | ')}`);
    const ping6 = (host: PodmanHost, container: string, target: string) => execUntilOk(host, container, ['ping', '-6', '-c', '2', '-W', '2', target]);
    for (const [host, from, to] of [[h1, 'd1', 'd2'], [h2, 'd2', 'd1'], [h1, 's1', 's2'], [h2, 's2', 's1']] as const) {
      const pinged = await ping6(host, from, to);
      assert.is(pinged.status, 0, `${from} → ${to} (ping -6 by name): ${pinged.stdout} ${pinged.stderr}`);
      assert.match(pinged.stdout, /PING \S+ \(fd00:7[89]::[0-9a-f:]+\)/, pinged.stdout);
      assert.match(pinged.stdout, /2 packets received/);
    }
    // The dual-stack name answers A and AAAA; the IPv6-only one has no A record (NODATA, not NXDOMAIN).
    const both = h1.podmanOk(['exec', 'd1', 'nslookup', 'd2', '10.78.0.1']);
    assert.match(both, /10\.78\.0\.\d+/, both);
    assert.match(both, /fd00:78::/, both);
    const v4 = h1.podman(['exec', 'd1', 'ping', '-4', '-c', '1', '-W', '2', 'd2']);
    assert.is(v4.status, 0, `d1 → d2 over IPv4 too: ${v4.stdout} ${v4.stderr}`);
    const sixNameA = h1.podman(['exec', 's1', 'nslookup', '-type=a', 's2', 'fd00:79::1']);
    assert.not.match(sixNameA.stdout + sixNameA.stderr, /NXDOMAIN/, `an A query for an IPv6-only name is NODATA: ${sixNameA.stdout}`);
    for (const [host, name] of [[h1, 'd1'], [h2, 'd2'], [h1, 's1'], [h2, 's2']] as const) host.podmanOk(['rm', '-f', '-t', '0', name]);
    assert.equal(await etcdKeys(keys.ipamPrefix('dual')), [], 'every claim of dual released');
    assert.equal(await etcdKeys(keys.ipamPrefix('six')), [], 'every claim of six released');
  });

  test.run();
}

if (unusable !== undefined) test.run();
