// `agent --cni --docker`: one agent process on a host serving both its dockerd (the remote network
// and IPAM driver) and podman's CNI plugin, for real. Two Docker hosts (test/helpers/docker-hosts.ts)
// and one etcd; on h1 one agent with --docker and --cni, and a podman (test/helpers/podman-host.ts)
// in h1's network namespace; on h2 an agent with --docker alone. The overlay network "blue" is made
// by `docker network create -d vxlan-wasm -o vxlan-wasm.network=blue` on both hosts, and podman's
// conflist on h1 names the same network: a Docker container and a podman container on h1 share
// the bridge the Docker driver made; each reaches the other, and a Docker container on h2, by name.
//
// Where the agent runs: a Docker host's daemon lives in a private mount namespace (its own
// /run/docker/plugins, a /sys of its network namespace), and podman, like the agent of the CNI
// suites, in the machine's (its containers' namespaces are mounts under /run/netns, which the
// agent opens by path). h1's agent runs in h1's network namespace with `ip netns exec` (a mount
// namespace that follows the machine's mounts, so it sees podman's /run/netns), and reaches Docker
// through paths that exist in both: --docker-socket in the directory the daemon sees as
// /run/docker/plugins, --docker-host the daemon's API socket. On a real host there is one mount
// namespace and the defaults do.
// Needs root; installs Docker and podman if missing.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { dockerReady, processOnHost, startDockerHosts, type DockerHost, type DockerHosts } from '../helpers/docker-hosts';
import { Lab, REPO_ROOT, sleep, type LabProcess } from '../helpers/netns';
import { PodmanHost, podmanUnusable, type PodmanResult } from '../helpers/podman-host';
import { BUSYBOX_IMAGE } from '../helpers/busybox-image';
import { connect } from '../../src/control/store';
import { keys } from '../../src/control/keys';
import { getNetwork } from '../../src/control/networks';
import { linkNames } from '../../src/docker/links';

const TESTS = [
  'one agent serving --docker and --cni on h1: a Docker container and a podman container on one overlay network ping each other by name; both reach a Docker container on h2 by name, and it reaches them; docker network rm leaves the podman container connected, and the network created again is shared again; removed again, it is left once the podman container is deleted',
];

const SUBNET = '10.0.96.0/24';
const DNS = '10.0.96.1';

const both = suite('agent --cni --docker');
let lab: DockerHosts | undefined;
let procs: Lab | undefined;
let podman: PodmanHost | undefined;
const agents: LabProcess[] = [];
let setupError: Error | undefined;

/** Run `command` in `container` until it succeeds (the other host learns endpoints through etcd's watch). */
async function retry(run: () => Promise<PodmanResult> | PodmanResult, tries = 20): Promise<PodmanResult> {
  let result: PodmanResult = { status: -1, stdout: '', stderr: '' };
  for (let i = 0; i < tries && result.status !== 0; i++) {
    if (i > 0) await sleep(500);
    result = await run();
  }
  return result;
}
const inDocker = async (host: DockerHost, container: string, ...command: string[]): Promise<PodmanResult> => {
  const result = await host.docker(['exec', container, ...command], { timeoutMs: 20_000 });
  return { status: result.code, stdout: result.stdout, stderr: result.stderr };
};

let podmanProblem: string | undefined;
try {
  podmanProblem = podmanUnusable();
} catch (error) {
  podmanProblem = (error as Error).message;
}

if (podmanProblem !== undefined) {
  console.warn(`\n  SKIPPED agent --cni --docker: podman: ${podmanProblem}\n`);
  both.run();
} else if (dockerReady('agent --cni --docker', TESTS)) {
  both.before.each(() => {
    if (setupError !== undefined) throw setupError;
  });

  both.before(async () => {
    try {
      await setUp();
    } catch (error) {
      // uvu reports a failing hook with no word why: kept, and thrown by the test.
      setupError = error as Error;
      console.error(`agent --cni --docker: the set-up failed: ${(error as Error).stack}`);
    }
  });

  const setUp = async () => {
    const started = performance.now();
    lab = await startDockerHosts({ count: 2, prefix: 'vwc6', etcd: true, underlayPrefix: '10.96.0' });
    const [h1, h2] = lab.hosts;
    procs = new Lab('cd');
    const cniSocket = join(h1.dir, 'cni.sock');
    agents.push(procs.spawn(h1.netns, process.execPath, [
      '--import', 'tsx', 'test/docker/run-agent.ts', '--docker', '--cni', '--cni-socket', cniSocket,
      '--docker-socket', join(h1.pluginDir, 'vxlan-wasm.sock'), '--docker-host', `unix://${h1.socket}`,
      '--etcd', lab.etcd!.url, '--local', h1.underlayAddress, '--host-id', 'c6-h1', '--log-level', 'info',
    ], { label: 'agent --docker --cni on h1' }));
    agents.push(processOnHost(h2, process.execPath, [
      '--import', 'tsx', join(REPO_ROOT, 'test/docker/run-agent.ts'), '--docker', '--etcd', lab.etcd!.url, '--local', h2.underlayAddress,
      '--host-id', 'c6-h2', '--log-level', 'info',
    ], {}, 'agent --docker on h2'));
    for (const agent of agents) await agent.waitFor(`${agent.label} serving Docker`, () => agent.stderr.includes('"serving Docker"'), 30_000);
    assert.match(agents[0].stderr, /"serving CNI"/, 'h1\'s one agent serves CNI too');

    const plugin = `cd ${REPO_ROOT} && exec ${process.execPath} --import tsx test/cni/run-plugin.ts`;
    podman = new PodmanHost(join(lab.dir, 'podman-h1'), h1.netns, plugin);
    podman.addNetwork('blue', { agentSocket: cniSocket });
    podman.importBusybox(join(lab.dir, 'podman-image'));
    for (const host of [h1, h2]) {
      await host.dockerOk(['network', 'create', '-d', 'vxlan-wasm', '--ipam-driver', 'vxlan-wasm', '--subnet', SUBNET, '-o', 'vxlan-wasm.network=blue', 'blue'], { timeoutMs: 60_000 });
    }
    console.log(`  agent --cni --docker: two Docker hosts, etcd, the agents, podman and the network ready in ${Math.round(performance.now() - started)} ms`);
  };

  both.after(async () => {
    const problems: string[] = [];
    const started = performance.now();
    // Docker's containers and podman's while the agents still answer their Leave and DEL calls
    // (dockerd waits out a plugin that is gone, tens of seconds).
    for (const host of lab?.hosts ?? []) {
      const ids = (await host.docker(['ps', '-aq'], { timeoutMs: 20_000 })).stdout.split('\n').filter(Boolean);
      if (ids.length > 0) {
        const removed = await host.docker(['rm', '-f', ...ids], { timeoutMs: 60_000 });
        if (removed.code !== 0) problems.push(`${host.name}: docker rm -f: ${removed.stderr.trim()}`);
      }
    }
    if (podman !== undefined) problems.push(...(await podman.stop()));
    const containersMs = performance.now() - started;
    for (const agent of agents) {
      await agent.stop(3000).catch(() => undefined);
      if (agent.exitCode !== 0 && agent.exitCode !== null) console.log(`  ${agent.label} exited ${agent.exitCode}:\n${agent.stderr.split('\n').slice(-15).join('\n')}`);
    }
    await procs?.cleanup();
    const labStarted = performance.now();
    problems.push(...((await lab?.stop()) ?? []));
    console.log(`  clean-up: the containers ${Math.round(containersMs)} ms, the Docker hosts ${Math.round(performance.now() - labStarted)} ms, in all ${Math.round(performance.now() - started)} ms`);
    if (problems.length > 0) console.log(`  agent --cni --docker cleanup: ${problems.join('; ')}`);
  });

  both(TESTS[0], async () => {
    const [h1, h2] = lab!.hosts;
    const started = performance.now();
    await h1.dockerOk(['run', '-d', '--name', 'd1', '--network', 'blue', '--dns', DNS, 'local/busybox', 'sleep', '600'], { timeoutMs: 60_000 });
    podman!.podmanOk(['run', '-d', '--name', 'p1', '--network', 'blue', BUSYBOX_IMAGE, 'sleep', '600'], 120_000);
    await h2.dockerOk(['run', '-d', '--name', 'd2', '--network', 'blue', '--dns', DNS, 'local/busybox', 'sleep', '600'], { timeoutMs: 60_000 });
    const started3Ms = performance.now() - started;

    const p1 = podman!.podmanOk(['exec', 'p1', 'ip', '-o', '-4', 'addr', 'show', 'eth0']).match(/inet (10\.0\.96\.\d+)\//)?.[1];
    const d1 = (await h1.dockerOk(['inspect', '-f', '{{(index .NetworkSettings.Networks "blue").IPAddress}}', 'd1'])).trim();
    const d2 = (await h2.dockerOk(['inspect', '-f', '{{(index .NetworkSettings.Networks "blue").IPAddress}}', 'd2'])).trim();
    console.log(`  d1 (Docker, h1) ${d1}, p1 (podman, h1) ${p1}, d2 (Docker, h2) ${d2}`);
    assert.ok(p1 !== undefined, 'p1 has an address of blue');
    assert.equal(new Set([p1, d1, d2]).size, 3, 'three addresses, unique across the runtimes and the hosts (from etcd)');

    // One bridge on h1 for blue, the Docker driver's: d1's veth (vwh…), p1's (vwn…) and the TAP in it.
    const client = connect({ endpoints: [lab!.etcd!.localUrl], callTimeoutMs: 3000 });
    let vni: number;
    try {
      const endpoints = Object.values(await client.getAll().prefix(keys.endpointsPrefix('blue')).strings()).map((text) => JSON.parse(text) as { name: string; hostId: string });
      assert.equal(endpoints.map((endpoint) => `${endpoint.name}@${endpoint.hostId}`).sort(), ['d1@c6-h1', 'd2@c6-h2', 'p1@c6-h1'], 'the three endpoints in etcd, by name and host');
      vni = (await getNetwork(client, 'blue'))!.vni;
    } finally {
      client.close();
    }
    const bridges = procs!.exec(h1.netns, 'ip', '-o', 'link', 'show', 'type', 'bridge').split('\n').map((line) => line.split(': ')[1]).filter((name) => name?.startsWith('vwb'));
    assert.equal(bridges, [linkNames.bridge(vni)], 'one vxlan-wasm bridge on h1');
    const ports = procs!.exec(h1.netns, 'ip', '-o', 'link', 'show', 'master', linkNames.bridge(vni)).split('\n').map((line) => line.split(': ')[1]?.split('@')[0]).filter((name): name is string => name !== undefined);
    assert.equal(ports.map((name) => name.slice(0, 3)).sort(), ['vwh', 'vwn', 'vwt'], `d1's veth, p1's veth and the TAP in ${linkNames.bridge(vni)}: ${ports.join(', ')}`);

    const pings: [string, () => Promise<PodmanResult> | PodmanResult][] = [
      ['p1 (podman) → d1 (Docker), same host', () => podman!.podman(['exec', 'p1', 'ping', '-c', '2', '-W', '2', 'd1'])],
      ['d1 (Docker) → p1 (podman), same host', () => inDocker(h1, 'd1', 'ping', '-c', '2', '-W', '2', 'p1')],
      ['p1 (podman, h1) → d2 (Docker, h2)', () => podman!.podman(['exec', 'p1', 'ping', '-c', '2', '-W', '2', 'd2'])],
      ['d2 (Docker, h2) → p1 (podman, h1)', () => inDocker(h2, 'd2', 'ping', '-c', '2', '-W', '2', 'p1')],
      ['d1 (Docker, h1) → d2 (Docker, h2)', () => inDocker(h1, 'd1', 'ping', '-c', '2', '-W', '2', 'd2')],
    ];
    const diagnose = async () => [
      `p1 neigh: ${podman!.podman(['exec', 'p1', 'ip', 'neigh']).stdout}`, `p1 addr: ${podman!.podman(['exec', 'p1', 'ip', '-o', 'link']).stdout}`,
      `d1 neigh: ${(await inDocker(h1, 'd1', 'ip', 'neigh')).stdout}`, `d1 link: ${(await inDocker(h1, 'd1', 'ip', '-o', 'link')).stdout}`, `d1 route: ${(await inDocker(h1, 'd1', 'ip', 'route')).stdout}`,
      `fdb: ${procs!.exec(h1.netns, 'bridge', 'fdb', 'show', 'br', linkNames.bridge(vni))}`,
      `agent h1: ${agents[0].stderr.split('\n').filter((line) => !line.includes('"level":20')).slice(-25).join('\n')}`,
    ].join('\n');
    for (const [what, ping] of pings) {
      const result = await retry(ping);
      if (!/2 packets received/.test(result.stdout)) console.log(`${what}: ${result.stdout}\n${await diagnose()}`);
      assert.is(result.status, 0, `${what} by name: ${result.stdout} ${result.stderr}\nagent h1: ${agents[0].stderr.split('\n').slice(-15).join('\n')}`);
      assert.match(result.stdout, /2 packets received/, `${what}: ${result.stdout}`);
    }
    // After the ARP between them (answered by the forwarder into the TAP as well as by the
    // containers), each container's MAC is still at its own veth in the bridge, not at the TAP.
    const macOf = (text: string) => text.match(/link\/ether ([0-9a-f:]{17})/)![1];
    const fdb = procs!.exec(h1.netns, 'bridge', 'fdb', 'show', 'br', linkNames.bridge(vni)).split('\n');
    for (const [name, mac] of [['d1', macOf((await inDocker(h1, 'd1', 'ip', '-o', 'link', 'show', 'eth0')).stdout)], ['p1', macOf(podman!.podmanOk(['exec', 'p1', 'ip', '-o', 'link', 'show', 'eth0']))]]) {
      const entries = fdb.filter((line) => line.startsWith(`${mac} `));
      assert.equal(entries.map((line) => line.split(' ')[2].slice(0, 3)), [name === 'd1' ? 'vwh' : 'vwn'], `${name}'s MAC ${mac} in the bridge: ${entries.join(' | ')}`);
    }
    // docker network rm on h1 while p1 is on blue: Docker removes its network (it ignores a
    // driver's refusal), the agent keeps blue's bridge for p1, which still reaches d2 by name.
    // Created again on h1, blue is Docker's again: a new Docker container and p1 ping each other.
    await h1.dockerOk(['rm', '-f', 'd1']);
    await h1.dockerOk(['network', 'rm', 'blue']);
    assert.match(agents[0].stderr, /its bridge kept for the CNI containers on it/);
    const still = await retry(() => podman!.podman(['exec', 'p1', 'ping', '-c', '2', '-W', '2', 'd2']));
    assert.is(still.status, 0, `p1 → d2 after docker network rm on h1: ${still.stdout} ${still.stderr}`);
    assert.match(still.stdout, /2 packets received/);
    await h1.dockerOk(['network', 'create', '-d', 'vxlan-wasm', '--ipam-driver', 'vxlan-wasm', '--subnet', SUBNET, '-o', 'vxlan-wasm.network=blue', 'blue'], { timeoutMs: 60_000 });
    await h1.dockerOk(['run', '-d', '--name', 'd3', '--network', 'blue', '--dns', DNS, 'local/busybox', 'sleep', '600'], { timeoutMs: 60_000 });
    for (const [what, ping] of [
      ['d3 (Docker, the network created again) → p1', () => inDocker(h1, 'd3', 'ping', '-c', '2', '-W', '2', 'p1')],
      ['p1 → d3', () => podman!.podman(['exec', 'p1', 'ping', '-c', '2', '-W', '2', 'd3'])],
    ] as const) {
      const result = await retry(ping);
      assert.is(result.status, 0, `${what} by name: ${result.stdout} ${result.stderr}`);
      assert.match(result.stdout, /2 packets received/, `${what}: ${result.stdout}`);
    }
    // Removed again while p1 is on it, then p1 deleted: with its last CNI container gone, h1
    // leaves blue at once (not only when the agent stops) and the kept bridge goes.
    await h1.dockerOk(['rm', '-f', 'd3']);
    await h1.dockerOk(['network', 'rm', 'blue']);
    assert.ok(procs!.exec(h1.netns, 'ip', '-o', 'link', 'show').includes(`${linkNames.bridge(vni)}:`), 'kept for p1');
    podman!.podmanOk(['rm', '-f', '-t', '0', 'p1']);
    await agents[0].waitFor('h1 leaves blue', () => agents[0].stderr.includes('its last CNI container is gone'), 15_000);
    assert.not.ok(procs!.exec(h1.netns, 'ip', '-o', 'link', 'show').includes(`${linkNames.bridge(vni)}:`), 'blue\'s bridge gone from h1 with p1');
    console.log(`  three containers started in ${Math.round(started3Ms)} ms; every pair pinged by name within ${Math.round(performance.now() - started)} ms of the first docker run; h1's bridge ports: ${ports.join(', ')}`);
  });

  both.run();
}
