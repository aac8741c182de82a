// `vxlan-wasm agent --docker` over an IPv6 underlay (root): two Docker hosts
// (test/helpers/docker-hosts.ts) whose underlay veths get an IPv6 address each besides the IPv4
// one; etcd stays on IPv4, but each agent's VTEP is its IPv6 address (`--local fd00:6d::1` / `::2`),
// so the VXLAN between the hosts is UDP over IPv6. One network created on both daemons; a
// container on each host; they ping each other by name; the hosts' VTEPs in etcd are the IPv6
// addresses, and tcpdump on h2's underlay sees the VXLAN from h1 over IPv6 only. (The --network and
// --cni agents have the same case: test/control/e2e/dual.test.ts, test/cni/podman-ipv6-underlay.test.ts.)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { dockerReady, processOnHost, startDockerHosts, type DockerHost, type DockerHosts } from '../helpers/docker-hosts';
import { REPO_ROOT, run, type LabProcess } from '../helpers/netns';
import { missingTools } from '../interop/tools';
import { connect } from '../../src/control/store';
import { keys } from '../../src/control/keys';

const TESTS = [
  'agent --docker over an IPv6 underlay (VTEPs fd00:6d::1 and ::2, etcd on IPv4): containers on two hosts ping each other by name; the hosts\' VTEPs in etcd are IPv6; tcpdump sees the VXLAN as UDP over IPv6 only',
];

const UNDERLAY6 = ['fd00:6d::1', 'fd00:6d::2'];
const SUBNET = '10.0.61.0/24';
const DNS = '10.0.61.1';
const IMAGE = 'local/busybox';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

if (dockerReady('docker IPv6 underlay', TESTS)) {
  missingTools('docker IPv6 underlay', ['tcpdump']);
  let lab: DockerHosts | undefined;
  const agents: LabProcess[] = [];

  test.after(async () => {
    // The lab removes the containers first, while the agents (processes on its hosts) still serve
    // their network (stopped first, each container's removal waits out Docker's calls to them), then the agents.
    const left = await lab?.stop();
    if (left !== undefined && left.length > 0) console.log(`  docker-hosts stop: ${left.join('; ')}`);
  });

  test(TESTS[0], async () => {
    const started = performance.now();
    lab = await startDockerHosts({ count: 2, prefix: 'v6d', etcd: true, underlayPrefix: '10.96.61' });
    const [h1, h2] = lab.hosts;
    // The underlay's IPv6 addresses (nodad: usable at once; the bridge forwards ND between them).
    for (const [i, host] of [h1, h2].entries()) run('ip', ['netns', 'exec', host.netns, 'ip', 'addr', 'add', `${UNDERLAY6[i]}/64`, 'dev', host.underlayDevice, 'nodad']);
    const ping6 = run('ip', ['netns', 'exec', h1.netns, 'ping', '-6', '-c', '1', '-W', '2', UNDERLAY6[1]]);
    assert.match(ping6, /1 received/, 'the hosts reach each other over IPv6');

    const startAgent = (host: DockerHost, i: number) => {
      const agent = processOnHost(host, process.execPath, [
        '--import', 'tsx', join(REPO_ROOT, 'test/docker/run-agent.ts'), '--docker', '--etcd', lab!.etcd!.url, '--local', UNDERLAY6[i],
        '--docker-host', `unix://${host.socket}`, '--ttl', '5', '--host-id', `v6d-${host.name}`, '--log-level', 'info',
      ], {}, `agent on ${host.name}`);
      agents.push(agent);
      return agent;
    };
    const running = [startAgent(h1, 0), startAgent(h2, 1)];
    await Promise.all([h1, h2].map((host, i) => running[i].waitFor(`the plugin socket on ${host.name}`, () => existsSync(join(host.pluginDir, 'vxlan-wasm.sock')) && running[i].stderr.includes('"serving Docker"'), 30_000)));
    for (const host of [h1, h2]) {
      await host.dockerOk(['network', 'create', '-d', 'vxlan-wasm', '--ipam-driver', 'vxlan-wasm', '--subnet', SUBNET, '-o', 'vxlan-wasm.network=blue6', 'blue6'], { timeoutMs: 60_000 });
    }
    await h1.dockerOk(['run', '-d', '--name', 'u1', '--network', 'blue6', '--dns', DNS, IMAGE, 'sleep', '600'], { timeoutMs: 60_000 });
    await h2.dockerOk(['run', '-d', '--name', 'u2', '--network', 'blue6', '--dns', DNS, IMAGE, 'sleep', '600'], { timeoutMs: 60_000 });

    // Every host's VTEP in etcd is its IPv6 underlay address.
    const client = connect({ endpoints: [lab.etcd!.localUrl], callTimeoutMs: 3000 });
    try {
      const records = await Promise.all([h1, h2].map((host) => client.get(keys.host('blue6', `v6d-${host.name}`)).string()));
      const vteps = records.map((value) => (value === null ? 'none' : (JSON.parse(value) as { vtep: { address: string } }).vtep.address));
      assert.equal(vteps, UNDERLAY6, `hosts in etcd: ${records.join(' | ')}`);
    } finally {
      client.close();
    }

    // What crosses h2's underlay link to port 4789 while the containers ping (a packet tap sees it
    // before a tunnel-GSO filter could take VXLAN away from the UDP stack).
    const tcpdump = processOnHost(h2, 'tcpdump', ['-Z', 'root', '--immediate-mode', '-l', '-n', '-i', h2.underlayDevice, 'udp dst port 4789'], {}, 'tcpdump on h2');
    await tcpdump.waitFor('tcpdump listening', () => tcpdump.stderr.includes('listening on'), 10_000);
    for (const [host, from, to] of [[h1, 'u1', 'u2'], [h2, 'u2', 'u1']] as const) {
      let result = await host.docker(['exec', from, 'ping', '-c', '2', '-W', '2', to], { timeoutMs: 20_000 });
      // The other container's name reaches this host's name server through etcd: a few tries.
      for (let tries = 0; tries < 10 && result.code !== 0; tries++) {
        await sleep(500);
        result = await host.docker(['exec', from, 'ping', '-c', '2', '-W', '2', to], { timeoutMs: 20_000 });
      }
      assert.is(result.code, 0, `${from} → ${to} by name over the IPv6 underlay: ${result.stdout} ${result.stderr}\nagents: ${agents.map((agent) => agent.stderr.slice(-1500)).join('\n---\n')}`);
      assert.match(result.stdout, /PING \S+ \(10\.0\.61\.\d+\)/, result.stdout);
      assert.match(result.stdout, /2 packets received/, result.stdout);
    }
    await sleep(200);
    await tcpdump.stop(2000);
    const seen = tcpdump.stdout.split('\n').filter((line) => line.trim() !== '');
    const overIpv6 = seen.filter((line) => new RegExp(` IP6 ${UNDERLAY6[0]}\\.\\d+ > ${UNDERLAY6[1]}\\.4789: `).test(line));
    // u1's 2 echo requests and the 2 replies to u2's pings arrive from h1 at least.
    assert.ok(overIpv6.length >= 4, `VXLAN over IPv6 into h2: ${overIpv6.length} of ${seen.length} datagrams:\n${seen.slice(0, 20).join('\n')}`);
    assert.equal(seen.filter((line) => / IP 10\.96\.61\./.test(line)), [], 'no VXLAN over the IPv4 underlay');
    console.log(`  docker IPv6 underlay: lab, agents, network and two containers up and pinging each other by name in ${Math.round(performance.now() - started)} ms; tcpdump on h2's underlay saw ${overIpv6.length} VXLAN datagrams from ${UNDERLAY6[0]}, none over IPv4`);
  });

  test.run();
}
