// vxlan-wasm as Docker's network and IPAM driver, for real (root): two daemons in two namespaces
// (test/helpers/docker-hosts.ts) joined by an underlay bridge, one etcd, `vxlan-wasm agent
// --docker` (from the sources) on each host, `docker network create -d vxlan-wasm` on both.
//   1. containers on both hosts: addresses unique (Docker alone would give .2 on both), each
//      resolves the other by name through the network's DNS address and pings it;
//      `vxlan-wasm network inspect` lists both endpoints with their names, hosts and MACs
//   2. a service: busybox httpd in 3 containers over both hosts, all --network-alias web: DNS
//      returns the three, HTTP to http://web/ is answered by them
//   3. --ip and --mac-address are honoured and the same --ip on the other host refused; `docker
//      network connect --alias` puts a container of another network on this one, by that alias,
//      and `disconnect` takes it away
//   4. the underlay (a tshark capture on the bridge) carried VXLAN during 1–3, and no ARP and no
//      DNS inside it
//   5. a killed container: its endpoint, name and address are gone from etcd and from the other host
//   6. a killed agent (SIGKILL): its host's endpoints vanish from the other host within the TTL;
//      started again it restores them (the container still running) and the name pings again
//   7. a daemon restarted: the network works again on it (a new container is reachable by name
//      from the other host), and no address is leaked (claims = endpoints)
//   8. dual stack: `--ipv6 --subnet 10.0.11.0/24 --subnet fd00:11::/64` on both hosts; containers
//      get both addresses (the IPv6 one claimed in etcd) and ping -6 each other by name
// One lab for the file; everything is removed in the after hook, even on failure.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { dockerReady, processOnHost, startDockerHosts, type DockerHost, type DockerHosts } from '../helpers/docker-hosts';
import { REPO_ROOT, type LabProcess } from '../helpers/netns';
import { temporaryDirs } from '../helpers/temporary';
import { connect } from '../../src/control/store';
import { keys } from '../../src/control/keys';
import { inspectNetwork } from '../../src/control/networks';

const TESTS = [
  'containers on two hosts: unique addresses, each resolves the other by name and pings it; network inspect lists the endpoints',
  'a service: httpd in 3 containers over both hosts behind --network-alias web: DNS returns all three, HTTP answered',
  '--ip and --mac-address honoured, an address taken on the other host refused; network connect --alias and disconnect',
  'the underlay carried VXLAN, and no ARP and no DNS inside it (tshark)',
  'a killed container: its endpoint, name and address are gone everywhere',
  'a SIGKILLed agent: its endpoints vanish from the other host within the TTL; restarted, it restores them and pings work again',
  'a restarted daemon: the network works again on it, and no address is leaked',
  'dual stack: docker network create --ipv6 with an IPv6 subnet on both hosts; containers get IPv6 addresses from etcd and ping -6 each other by name',
];

const TTL = 3;
const SUBNET = '10.0.9.0/24';
const DNS = '10.0.9.1';
const IMAGE = 'local/busybox';
const { removeTemporaryDirs, temporaryDir } = temporaryDirs();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const overlay = suite('docker overlay');
let lab: DockerHosts;
let h1: DockerHost;
let h2: DockerHost;
const agents = new Map<string, LabProcess>();
let capture: { stop(): Promise<string> } | undefined;
let setupError: Error | undefined;

/** h1's agent is told the daemon's API socket; h2's finds it (the dockerd in its network namespace). */
function startAgent(host: DockerHost): LabProcess {
  const agent = processOnHost(host, process.execPath, [
    '--import', 'tsx', join(REPO_ROOT, 'test/docker/run-agent.ts'), '--docker', '--etcd', lab.etcd!.url, '--local', host.underlayAddress,
    ...(host.index === 1 ? ['--docker-host', `unix://${host.socket}`] : []), '--ttl', String(TTL), '--host-id', `host-${host.name}`, '--log-level', 'info',
  ], {}, `agent on ${host.name}`);
  agents.set(host.name, agent);
  return agent;
}

async function agentReady(host: DockerHost, agent: LabProcess): Promise<void> {
  await agent.waitFor(`the plugin socket on ${host.name}`, () => existsSync(join(host.pluginDir, 'vxlan-wasm.sock')) && agent.stderr.includes('"serving Docker"'), 30_000);
}

/** What the agents logged about names, refusals and etcd, and what etcd and h1's name server hold (for a failure's message). */
async function agentLines(name = 'web'): Promise<string> {
  const client = etcdClient();
  let endpoints = '';
  try {
    endpoints = Object.values(await client.getAll().prefix(keys.endpointsPrefix('blue')).strings()).join('\n');
  } finally {
    client.close();
  }
  const lookup = await h1.docker(['exec', 'c1', 'nslookup', name, DNS], { timeoutMs: 20_000 });
  return `etcd:\n${endpoints}\nnslookup ${name} on h1: ${lookup.stdout} ${lookup.stderr}\n` + [...agents].map(([name, agent]) => `${name}:\n${agent.stderr.split('\n').filter((line) => /named|refused|resync|lost|"level":[45]0/.test(line) && !/dropped since/.test(line)).slice(-10).join('\n')}`).join('\n');
}

/** Run in a container; returns stdout (throws with stderr on failure). */
// (busybox-static's wget crashes with -T: no timeout flag; the exec's own timeout bounds it.)
const inContainer = (host: DockerHost, container: string, ...command: string[]) => host.dockerOk(['exec', container, ...command], { timeoutMs: 20_000 });

/** The addresses `name` resolves to from a container, through the network's DNS address. */
async function resolve(host: DockerHost, container: string, name: string): Promise<string[]> {
  const result = await host.docker(['exec', container, 'nslookup', name, DNS], { timeoutMs: 20_000 });
  const answer = result.stdout.split(/\n\s*\n/).slice(1).join('\n');
  return [...answer.matchAll(/Address(?: \d+)?:\s*([0-9.]+)/g)].map((match) => match[1]).sort();
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 15_000): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  for (;;) {
    const value = await probe();
    if (value !== undefined) return { value, ms: performance.now() - started };
    if (performance.now() - started > ms) throw new Error(`not ${what} within ${ms} ms`);
    await sleep(100);
  }
}

async function run(host: DockerHost, name: string, ...extra: string[]): Promise<void> {
  await host.dockerOk(['run', '-d', '--name', name, '--network', 'blue', '--dns', DNS, ...extra, IMAGE, ...(extra.includes('--entrypoint') ? [] : ['sleep', '3600'])], { timeoutMs: 60_000 });
}

function etcdClient() {
  return connect({ endpoints: [lab.etcd!.localUrl], callTimeoutMs: 3000 });
}

/** tshark on the underlay bridge from now until stop(); stop() returns the capture file. */
function startCapture(): { stop(): Promise<string> } {
  const file = join(temporaryDir('vwct-underlay-'), 'underlay.pcap');
  const tshark = spawn('ip', ['netns', 'exec', lab.switchNetns, 'tshark', '-q', '-i', 'br0', '-w', file, '-f', 'udp port 4789'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  tshark.stderr.on('data', (chunk) => (stderr += chunk));
  return {
    async stop() {
      const exited = once(tshark, 'exit');
      tshark.kill('SIGINT');
      await exited;
      assert.ok(existsSync(file) && statSync(file).size > 0, `the capture was written: ${stderr}`);
      return file;
    },
  };
}

async function tsharkCount(file: string, filter: string): Promise<number> {
  const result = spawn('tshark', ['-r', file, '-d', 'udp.port==4789,vxlan', '-Y', filter, '-T', 'fields', '-e', 'frame.number'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  result.stdout.on('data', (chunk) => (out += chunk));
  await once(result, 'exit');
  return out.split('\n').filter((line) => line.trim() !== '').length;
}

if (dockerReady('docker overlay', TESTS)) {
  // uvu reports nothing when a before hook throws (every test then counts as not passed, with no
  // word why): the set-up's error is kept and each test throws it.
  overlay.before.each(() => {
    if (setupError !== undefined) throw setupError;
  });

  overlay.before(async () => {
    try {
      await setUp();
    } catch (error) {
      setupError = error as Error;
      console.error(`docker overlay: the set-up failed: ${(error as Error).stack}`);
    }
  });

  const setUp = async () => {
    lab = await startDockerHosts({ count: 2, prefix: 'vwct', etcd: true });
    [h1, h2] = lab.hosts;
    const started = [startAgent(h1), startAgent(h2)];
    await Promise.all([agentReady(h1, started[0]), agentReady(h2, started[1])]);
    capture = startCapture();
    await sleep(500);
    for (const host of [h1, h2]) {
      await host.dockerOk(['network', 'create', '-d', 'vxlan-wasm', '--ipam-driver', 'vxlan-wasm', '--subnet', SUBNET, '-o', 'vxlan-wasm.network=blue', 'blue'], { timeoutMs: 60_000 });
    }
  };

  overlay.after(async () => {
    // An agent that died on its own says why here (the tests only see its socket gone).
    for (const [name, agent] of agents) {
      if (!agent.running && agent.exitSignal !== 'SIGKILL') console.log(`  agent on ${name} exited (${agent.exitCode}):\n${agent.stderr.split('\n').filter((line) => !line.includes('"level":20')).slice(-15).join('\n')}`);
    }
    await capture?.stop().catch(() => undefined);
    // The containers go while the agents still answer Docker's Leave calls: with the plugin gone,
    // dockerd waits out each call (tens of seconds) before it removes a container.
    for (const host of lab?.hosts ?? []) {
      const ids = (await host.docker(['ps', '-aq'], { timeoutMs: 20_000 }).catch(() => ({ stdout: '' }))).stdout.split('\n').filter(Boolean);
      if (ids.length > 0) await host.docker(['rm', '-f', ...ids], { timeoutMs: 60_000 }).catch(() => undefined);
    }
    for (const agent of agents.values()) await agent.stop(3000).catch(() => undefined);
    const left = await lab?.stop();
    if (left !== undefined && left.length > 0) console.log(`  docker-hosts stop: ${left.join('; ')}`);
    removeTemporaryDirs();
  });

  overlay(TESTS[0], async () => {
    await run(h1, 'c1');
    await run(h2, 'c2');
    const ip1 = (await h1.dockerOk(['inspect', '-f', '{{(index .NetworkSettings.Networks "blue").IPAddress}}', 'c1'])).trim();
    const ip2 = (await h2.dockerOk(['inspect', '-f', '{{(index .NetworkSettings.Networks "blue").IPAddress}}', 'c2'])).trim();
    console.log(`  c1 on h1 ${ip1}, c2 on h2 ${ip2}`);
    assert.is.not(ip1, ip2, 'addresses from etcd are unique across the daemons');
    assert.match(agents.get('h2')!.stderr, `"dockerApi":"${h2.socket}"`, "h2's agent found its daemon's API socket by itself");
    const seen = await until('c2 resolvable from c1', async () => ((await resolve(h1, 'c1', 'c2')).includes(ip2) ? true : undefined));
    console.log(`  c2's name resolved on h1 ${seen.ms.toFixed(0)} ms after its docker run returned`);
    assert.equal(await resolve(h2, 'c2', 'c1'), [ip1], 'and c1 from c2');
    const ping = await inContainer(h1, 'c1', 'ping', '-c', '3', '-W', '2', 'c2');
    assert.match(ping, /3 packets transmitted, 3 packets received/, ping);
    const back = await inContainer(h2, 'c2', 'ping', '-c', '3', '-W', '2', 'c1');
    assert.match(back, /3 packets transmitted, 3 packets received/, back);
    const client = etcdClient();
    try {
      const { endpoints, hosts } = await inspectNetwork(client, 'blue');
      assert.equal(hosts.map((host) => host.hostId), ['host-h1', 'host-h2']);
      const byName = Object.fromEntries(endpoints.map((endpoint) => [endpoint.name, endpoint]));
      assert.equal([byName.c1?.hostId, byName.c1?.ipv4, byName.c2?.hostId, byName.c2?.ipv4], ['host-h1', ip1, 'host-h2', ip2], 'inspect: names, hosts, addresses');
      const mac2 = (await h2.dockerOk(['inspect', '-f', '{{(index .NetworkSettings.Networks "blue").MacAddress}}', 'c2'])).trim();
      assert.is(byName.c2.mac, mac2, 'and the MAC Docker shows');
    } finally {
      client.close();
    }
  });

  overlay(TESTS[1], async () => {
    const httpd = (n: number) => ['--network-alias', 'web', '--entrypoint', 'sh', IMAGE, '-c', `mkdir -p /www && echo replica-${n} > /www/index.html && exec httpd -f -p 80 -h /www`];
    // The image comes from httpd(): run() must not add another.
    for (const [host, n] of [[h1, 1], [h2, 2], [h2, 3]] as const) {
      await host.dockerOk(['run', '-d', '--name', `web${n}`, '--network', 'blue', '--dns', DNS, ...httpd(n)], { timeoutMs: 60_000 });
    }
    const addresses = await until('three addresses for web', async () => {
      const found = await resolve(h1, 'c1', 'web');
      return found.length === 3 ? found : undefined;
    }).catch(async (error: Error) => {
      throw new Error(`${error.message}; the agents said:\n${await agentLines()}`);
    });
    console.log(`  web resolves to ${addresses.value.join(', ')} (after ${addresses.ms.toFixed(0)} ms)`);
    assert.is(new Set(addresses.value).size, 3);
    const answers = new Set<string>();
    for (let i = 0; i < 12 && answers.size < 3; i++) {
      for (const [host, container] of [[h1, 'c1'], [h2, 'c2']] as const) {
        answers.add((await inContainer(host, container, 'wget', '-q', '-O', '-', 'http://web/')).trim());
      }
    }
    console.log(`  http://web/ answered by ${[...answers].sort().join(', ')}`);
    assert.ok(answers.size >= 2, `answered by more than one replica: ${[...answers]}`);
    for (const answer of answers) assert.match(answer, /^replica-[123]$/);
  });

  overlay(TESTS[2], async () => {
    await run(h1, 'c5', '--ip', '10.0.9.200', '--mac-address', '02:42:0a:00:09:c8');
    const shown = (await h1.dockerOk(['inspect', '-f', '{{(index .NetworkSettings.Networks "blue").IPAddress}} {{(index .NetworkSettings.Networks "blue").MacAddress}}', 'c5'])).trim();
    assert.is(shown, '10.0.9.200 02:42:0a:00:09:c8');
    assert.match(await inContainer(h1, 'c5', 'ip', 'addr', 'show', 'eth0'), /link\/ether 02:42:0a:00:09:c8[\s\S]*inet 10\.0\.9\.200\/24/);
    const taken = await h2.docker(['run', '-d', '--name', 'c6', '--network', 'blue', '--ip', '10.0.9.200', IMAGE, 'sleep', '3600'], { timeoutMs: 60_000 });
    console.log(`  --ip 10.0.9.200 on h2 as well: exit ${taken.code}: ${taken.stderr.trim().split('\n').pop()}`);
    assert.is.not(taken.code, 0);
    assert.match(taken.stderr, /address 10\.0\.9\.200 is taken in network blue \(by host host-h1\)/);
    await h2.docker(['rm', '-f', 'c6']);
    // A container of another network (green, on h2 only) connected to blue under an alias.
    await h2.dockerOk(['network', 'create', '-d', 'vxlan-wasm', '--ipam-driver', 'vxlan-wasm', '--subnet', '10.0.10.0/24', '-o', 'vxlan-wasm.network=green', 'green'], { timeoutMs: 60_000 });
    await h2.dockerOk(['run', '-d', '--name', 'g1', '--network', 'green', IMAGE, 'sleep', '3600'], { timeoutMs: 60_000 });
    await h2.dockerOk(['network', 'connect', '--alias', 'extra', 'blue', 'g1'], { timeoutMs: 60_000 });
    const extra = await until('extra resolvable on h1', async () => {
      const found = await resolve(h1, 'c1', 'extra');
      return found.length === 1 ? found[0] : undefined;
    }).catch(async (error: Error) => {
      throw new Error(`${error.message}; the agents said:\n${await agentLines('extra')}`);
    });
    const ping = await inContainer(h1, 'c1', 'ping', '-c', '2', '-W', '2', 'extra');
    assert.match(ping, /2 packets transmitted, 2 packets received/, ping);
    await h2.dockerOk(['network', 'disconnect', 'blue', 'g1'], { timeoutMs: 60_000 });
    const gone = await until('extra gone on h1', async () => ((await resolve(h1, 'c1', 'extra')).length === 0 ? true : undefined));
    console.log(`  g1 connected to blue as extra (${extra.value}), pinged from h1; disconnected, its name gone after ${gone.ms.toFixed(0)} ms`);
  });

  overlay(TESTS[3], async () => {
    const file = await capture!.stop();
    capture = undefined;
    const vxlan = await tsharkCount(file, 'vxlan');
    const arp = await tsharkCount(file, 'vxlan && arp');
    const dns = await tsharkCount(file, 'vxlan && dns');
    console.log(`  underlay: ${vxlan} VXLAN frames, ${arp} with ARP inside, ${dns} with DNS inside`);
    assert.ok(vxlan > 20, 'the pings and HTTP crossed the underlay as VXLAN');
    assert.is(arp, 0, 'no ARP crossed the underlay');
    assert.is(dns, 0, 'no DNS crossed the underlay');
  });

  overlay(TESTS[4], async () => {
    const client = etcdClient();
    try {
      const before = (await inspectNetwork(client, 'blue')).endpoints.find((endpoint) => endpoint.name === 'web3');
      assert.ok(before !== undefined, 'web3 is an endpoint');
      await h2.dockerOk(['kill', 'web3']);
      const gone = await until('web3 gone from etcd', async () => ((await inspectNetwork(client, 'blue')).endpoints.some((e) => e.name === 'web3') ? undefined : true));
      console.log(`  web3 killed: its endpoint left etcd after ${gone.ms.toFixed(0)} ms`);
      assert.is(await client.get(keys.ipam('blue', before!.ipv4!)).string(), null, 'its address is released');
      await until('web without web3 on h1', async () => ((await resolve(h1, 'c1', 'web')).includes(before!.ipv4!) ? undefined : true));
    } finally {
      client.close();
    }
  });

  overlay(TESTS[5], async () => {
    const ip2 = (await resolve(h1, 'c1', 'c2'))[0];
    assert.ok(ip2 !== undefined, 'c2 resolves before');
    const agent = agents.get('h2')!;
    process.kill(agent.pid, 'SIGKILL');
    await agent.exited;
    const gone = await until('h2\'s endpoints gone from h1', async () => ((await resolve(h1, 'c1', 'c2')).length === 0 ? true : undefined), (TTL + 4) * 1000);
    console.log(`  agent on h2 SIGKILLed: c2's name gone on h1 after ${gone.ms.toFixed(0)} ms (TTL ${TTL} s)`);
    const again = startAgent(h2);
    await agentReady(h2, again);
    const back = await until('c2 resolvable again', async () => ((await resolve(h1, 'c1', 'c2')).includes(ip2) ? true : undefined));
    console.log(`  agent restarted: c2 back on h1 after ${back.ms.toFixed(0)} ms, with its address ${ip2}`);
    const ping = await inContainer(h1, 'c1', 'ping', '-c', '3', '-W', '2', 'c2');
    assert.match(ping, /3 packets transmitted, 3 packets received/, ping);
  });

  overlay(TESTS[6], async () => {
    await h2.restartDaemon();
    // The daemon's containers died with it (no live-restore): their endpoints are reaped or deleted by Docker.
    await run(h2, 'c4');
    const ip4 = await until('c4 resolvable on h1', async () => {
      const found = await resolve(h1, 'c1', 'c4');
      return found.length === 1 ? found[0] : undefined;
    }, 20_000);
    const ping = await inContainer(h1, 'c1', 'ping', '-c', '3', '-W', '2', 'c4');
    assert.match(ping, /3 packets transmitted, 3 packets received/, ping);
    const client = etcdClient();
    try {
      const settled = await until('claims = endpoints', async () => {
        const [claims, endpoints] = await Promise.all([client.getAll().prefix(keys.ipamPrefix('blue')).keys(), client.getAll().prefix(keys.endpointsPrefix('blue')).strings()]);
        return claims.length === Object.keys(endpoints).length ? { claims: claims.length, endpoints: Object.values(endpoints).map((text) => JSON.parse(text).name as string).sort() } : undefined;
      }, 15_000);
      console.log(`  after h2's daemon restart: c4 ${ip4.value} reachable by name; ${settled.value.claims} claims for endpoints ${settled.value.endpoints.join(', ')}`);
      assert.ok(!settled.value.endpoints.includes('c2'), 'c2 (dead with the daemon) is gone');
    } finally {
      client.close();
    }
  });

  overlay(TESTS[7], async () => {
    for (const host of [h1, h2]) {
      await host.dockerOk(['network', 'create', '-d', 'vxlan-wasm', '--ipam-driver', 'vxlan-wasm', '--ipv6', '--subnet', '10.0.11.0/24', '--subnet', 'fd00:11::/64', '-o', 'vxlan-wasm.network=violet', 'violet'], { timeoutMs: 60_000 });
    }
    for (const [host, name] of [[h1, 'v1'], [h2, 'v2']] as const) {
      await host.dockerOk(['run', '-d', '--name', name, '--network', 'violet', '--dns', '10.0.11.1', IMAGE, 'sleep', '3600'], { timeoutMs: 60_000 });
    }
    const v6 = async (host: DockerHost, name: string) => (await host.dockerOk(['inspect', '-f', '{{(index .NetworkSettings.Networks "violet").GlobalIPv6Address}}', name])).trim();
    const [v1, v2] = [await v6(h1, 'v1'), await v6(h2, 'v2')];
    console.log(`  violet: v1 on h1 ${v1}, v2 on h2 ${v2}`);
    for (const ip of [v1, v2]) assert.match(ip, /^fd00:11::[0-9a-f:]+$/);
    assert.is.not(v1, v2);
    const client = etcdClient();
    try {
      const claims = await client.getAll().prefix(keys.ipamPrefix('violet')).keys();
      assert.ok(claims.includes(keys.ipam('violet', v1)) && claims.includes(keys.ipam('violet', v2)), `both IPv6 addresses claimed in etcd: ${claims.join(', ')}`);
    } finally {
      client.close();
    }
    // (Join answers GatewayIPv6, but Docker 20.10 takes default routes from the sandbox's gateway
    // endpoint only, docker_gwbridge here: the container's IPv6 is the overlay's /64, on-link.)
    const route = await inContainer(h1, 'v1', 'ip', '-6', 'route');
    assert.match(route, /fd00:11::\/64 dev eth0/, `the overlay's IPv6 subnet is on-link: ${route}`);
    const ping6 = async (host: DockerHost, from: string, to: string) => until(`${from} pings ${to} over IPv6 by name`, async () => {
      const result = await host.docker(['exec', from, 'ping', '-6', '-c', '2', '-W', '2', to], { timeoutMs: 20_000 });
      return /2 packets received/.test(result.stdout) ? result.stdout : undefined;
    }, 20_000);
    const there = await ping6(h1, 'v1', 'v2');
    assert.ok(there.value.includes(`(${v2})`), there.value);
    console.log(`  v1 → v2 by name over IPv6 answered after ${there.ms.toFixed(0)} ms`);
    const back = await ping6(h2, 'v2', 'v1');
    assert.ok(back.value.includes(`(${v1})`), back.value);
    const removing = performance.now();
    for (const [host, name] of [[h1, 'v1'], [h2, 'v2']] as const) await host.dockerOk(['rm', '-f', name], { timeoutMs: 30_000 });
    console.log(`  v1 and v2 removed in ${(performance.now() - removing).toFixed(0)} ms`);
  });
}

overlay.run();
