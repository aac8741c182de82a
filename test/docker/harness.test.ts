// The Docker hosts helper (test/helpers/docker-hosts.ts) does what the driver's tests and the
// overlay benchmark stand on: two daemons up, each with the busybox image, a container running on
// each; each daemon sees its own /run/docker/plugins and a process started on a host sees the
// same; a name nobody knows fails at once (no 5 s resolver timeout); etcd on the underlay answers
// both hosts; Docker's own swarm overlay joins containers on the two hosts (ping by address and
// by name); and after stop() no namespace, daemon, process, mount, cgroup or directory is left.
// Root only (namespaces, dockerd); otherwise a loud skip.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { isRoot, REPO_ROOT } from '../helpers/netns';
import { missingTools } from '../interop/tools';
import { BUSYBOX_IMAGE, dockerReady, HOST_RESOLVER, processOnHost, spawnOnHost, startDockerHosts, type DockerHosts } from '../helpers/docker-hosts';
import { Etcd3 } from 'etcd3';
import { swarmContender } from '../../bench/docker/swarm';
import { staleLabs, sweep } from '../helpers/docker-janitor';

const TESTS = [
  'two daemons in two namespaces, the image on each, a container runs on each',
  "each daemon's plugin directory is its own, and spawnOnHost runs in it",
  "an unknown name fails at once: the hosts' resolver answers NXDOMAIN",
  'etcd on the underlay: written from this process, read from both hosts',
  "Docker's swarm overlay between the two daemons: containers on both ping by address and by name",
  'a daemon restarts on its own directories: image and containers kept, plugins seen again',
  'stop() leaves no namespace, daemon, process, mount, cgroup or directory',
  'a test process killed outright (SIGKILL): its daemons die with it, the janitor removes the rest',
  "docker-janitor --stale: a lab whose process is gone is found by its names and removed",
];

/** A named network namespace as /proc/PID/ns/net reads it (`net:[INODE]`). */
const namedNetns = (name: string) => `net:[${statSync(`/run/netns/${name}`).ino}]`;

const harness = suite<{ lab?: DockerHosts }>('docker hosts', {});

// tcpdump (the underlay capture) and curl (etcd from the hosts): as root a missing one is one
// failing test saying which (.ci/run installs them), not a crash of the whole run; not root, the
// suite skips below anyway.
let toolsMissing: Error | undefined;
try {
  if (isRoot) missingTools('docker harness', ['tcpdump', 'curl']);
} catch (error) {
  toolsMissing = error as Error;
  harness('docker harness: tools', () => {
    throw toolsMissing;
  });
}

if (toolsMissing === undefined && dockerReady('docker harness', TESTS)) {
  harness.before(async (context) => {
    context.lab = await startDockerHosts({ count: 2, prefix: 'vwdk', etcd: true });
    const { timings, hosts } = context.lab;
    console.log(`docker-hosts: up in ${timings.totalMs} ms (daemons ${timings.daemonsMs} ms in parallel: ${hosts.map((h) => `${h.name} ${h.daemonStartMs} ms`).join(', ')}; image import ${timings.imageMs} ms)`);
  });

  harness.after(async (context) => {
    await context.lab?.stop();
  });

  harness(TESTS[0], async ({ lab }) => {
    const [h1, h2] = lab!.hosts;
    // Starting both daemons takes seconds, not minutes.
    assert.ok(lab!.timings.daemonsMs < 30_000, `daemons took ${lab!.timings.daemonsMs} ms`);
    const ids = await Promise.all([h1, h2].map(async (host) => (await host.dockerOk(['info', '--format', '{{.ID}} {{.DockerRootDir}}'])).trim()));
    assert.is.not(ids[0].split(' ')[0], ids[1].split(' ')[0], 'two daemons, two identities');
    assert.is(ids[0].split(' ')[1], h1.dataRoot);
    assert.is(ids[1].split(' ')[1], h2.dataRoot);
    for (const host of [h1, h2]) {
      assert.match(await host.dockerOk(['image', 'ls', '--format', '{{.Repository}}']), BUSYBOX_IMAGE);
      const out = await host.dockerOk(['run', '--rm', '--name', `hello-${host.name}`, BUSYBOX_IMAGE, 'sh', '-c', 'echo "hello $(id -un)"; ls /bin | wc -l']);
      const [hello, applets] = out.trim().split('\n');
      assert.is(hello, 'hello root');
      assert.ok(Number(applets) > 200, `${applets} applets in /bin`);
    }
    // Each daemon in its host's network namespace: it sees veth0 with that host's address.
    for (const host of [h1, h2]) {
      assert.is(readlinkSync(`/proc/${host.daemonPid}/ns/net`), namedNetns(host.netns), `${host.name}'s dockerd in ${host.netns}`);
      const addresses = await host.exec(['ip', '-br', 'addr', 'show', 'veth0']);
      assert.match(addresses.stdout, `${host.underlayAddress}/24`);
    }
  });

  harness(TESTS[1], async ({ lab }) => {
    const [h1, h2] = lab!.hosts;
    writeFileSync(join(h1.pluginDir, 'marker-h1'), '');
    assert.is((await h1.exec('ls /run/docker/plugins')).stdout.trim(), 'marker-h1');
    assert.is((await h2.exec('ls /run/docker/plugins')).stdout.trim(), '');
    // A process "on the host" (as the driver is started): the host's network namespace, and the
    // host's mounts (it sees the marker where the daemon looks for plugins).
    const child = spawnOnHost(h1, 'sh', ['-c', 'readlink /proc/self/ns/net; ls /run/docker/plugins; pwd; cat /etc/resolv.conf']);
    let out = '';
    child.stdout!.on('data', (chunk) => (out += chunk));
    const code = await new Promise((resolve) => child.on('close', resolve));
    assert.is(code, 0);
    const [netns, listing, cwd] = out.split('\n');
    assert.is(netns, namedNetns(h1.netns));
    assert.is(listing, 'marker-h1');
    // In the repository, so `node bin/vxlan-wasm.mjs …` finds its file.
    assert.is(cwd, REPO_ROOT.replace(/\/$/, ''));
    assert.match(out, `nameserver ${HOST_RESOLVER}`);
    // And this process's own /run/docker is untouched (the bind mounts are the host's alone).
    assert.not.ok(existsSync('/run/docker/plugins/marker-h1'));
  });

  harness(TESTS[2], async ({ lab }) => {
    for (const host of lab!.hosts) {
      // The resolver the host's resolv.conf names (busybox's nslookup, run on the host).
      const nameserver = /^nameserver (\S+)$/m.exec(readFileSync(host.resolvConf, 'utf8'))?.[1];
      assert.is(nameserver, HOST_RESOLVER);
      const started = Date.now();
      const result = await host.exec(['/bin/busybox', 'nslookup', 'nothing-here.invalid', nameserver!], { timeoutMs: 20_000 });
      const tookMs = Date.now() - started;
      assert.is.not(result.code, 0, 'the name does not resolve');
      assert.match(result.stdout + result.stderr, 'NXDOMAIN');
      assert.ok(tookMs < 2000, `${host.name}: an unknown name took ${tookMs} ms to fail (a resolver timeout is ~5 s)`);
    }
  });

  harness(TESTS[3], async ({ lab }) => {
    assert.ok(lab!.etcd !== undefined);
    // This process writes through its relayed loopback URL; both hosts read it at the underlay URL.
    const client = new Etcd3({ hosts: lab!.etcd!.localUrl });
    try {
      await client.put('/vwdk/harness').value('written from the test process');
    } finally {
      client.close();
    }
    for (const host of lab!.hosts) {
      const range = await host.exec(['curl', '-sf', '--max-time', '3', '-X', 'POST', `${lab!.etcd!.url}/v3/kv/range`, '-d', JSON.stringify({ key: Buffer.from('/vwdk/harness').toString('base64') })]);
      assert.is(range.code, 0, `${host.name}: ${range.stderr}`);
      const value = JSON.parse(range.stdout).kvs?.[0]?.value as string | undefined;
      assert.is(Buffer.from(value ?? '', 'base64').toString(), 'written from the test process', host.name);
    }
  });

  harness(TESTS[4], async ({ lab }) => {
    const [h1, h2] = lab!.hosts;
    const swarm = swarmContender({ network: 'harness-ov', subnet: '10.0.8.0/24' });
    await swarm.setUp(lab!);
    try {
      await h1.dockerOk(['run', '-d', '--name', 'c1', '--network', swarm.network, BUSYBOX_IMAGE, 'sleep', '600']);
      await h2.dockerOk(['run', '-d', '--name', 'c2', '--network', swarm.network, BUSYBOX_IMAGE, 'sleep', '600']);
      const address = (await h1.dockerOk(['inspect', '-f', `{{(index .NetworkSettings.Networks "${swarm.network}").IPAddress}}`, 'c1'])).trim();
      assert.match(address, /^10\.0\.8\.\d+$/);
      // What crosses the underlay meanwhile, seen from h2: swarm's VXLAN (port 4790) and any DNS.
      const capture = processOnHost(h2, 'tcpdump', ['-i', 'veth0', '-n', '-l', '-U', 'udp port 4790 or port 53'], {}, 'tcpdump on h2');
      await capture.waitFor('tcpdump listening', () => capture.stderr.includes('listening on'), 10_000);
      const byAddress = await h2.docker(['exec', 'c2', 'ping', '-c', '3', '-W', '2', address], { timeoutMs: 20_000 });
      assert.is(byAddress.code, 0, byAddress.stdout + byAddress.stderr);
      assert.match(byAddress.stdout, '3 packets received');
      // By name, through Docker's embedded DNS (the name came from the other host by gossip).
      const byName = await h2.docker(['exec', 'c2', 'ping', '-c', '1', '-W', '2', 'c1'], { timeoutMs: 20_000 });
      assert.is(byName.code, 0, byName.stdout + byName.stderr);
      assert.match(byName.stdout, `(${address})`);
      // A name nobody knows: Docker's embedded DNS asks the host's resolver, from the container's
      // namespace (through docker_gwbridge to the host's loopback), and gets NXDOMAIN at once,
      // not a 5 s timeout; and the question never crossed the underlay.
      const started = Date.now();
      const unknown = await h2.docker(['exec', 'c2', 'nslookup', 'nothing-here.invalid'], { timeoutMs: 20_000 });
      const tookMs = Date.now() - started;
      assert.match(unknown.stdout + unknown.stderr, 'NXDOMAIN');
      // 3.5 s: room for `docker exec` on a loaded machine, still well short of the 5 s timeout.
      assert.ok(tookMs < 3500, `an unknown name took ${tookMs} ms to fail in a container`);
      await capture.stop(2000);
      const vxlan = capture.lines.filter((line) => /\.4790: /.test(line));
      const dns = capture.lines.filter((line) => /\.53: |\.53 > /.test(line));
      assert.ok(vxlan.length >= 6, `the pings' 3 requests and 3 replies over swarm's VXLAN port; captured:\n${capture.lines.join('\n')}`);
      assert.equal(dns, [], 'no DNS on the underlay');
    } finally {
      await h1.docker(['rm', '-f', 'c1']);
      await h2.docker(['rm', '-f', 'c2']);
      await swarm.tearDown();
    }
    assert.is((await h2.dockerOk(['info', '--format', '{{.Swarm.LocalNodeState}}'])).trim(), 'inactive');
  });

  harness(TESTS[5], async ({ lab }) => {
    const h2 = lab!.hosts[1];
    // Stopped by the daemon's shutdown: sleep as PID 1 ignores SIGTERM, so 1 s, not the default 10.
    await h2.dockerOk(['run', '-d', '--name', 'kept', '--stop-timeout', '1', BUSYBOX_IMAGE, 'sleep', '600']);
    const before = h2.daemonPid;
    await h2.restartDaemon();
    assert.is.not(h2.daemonPid, before, 'a new daemon process');
    assert.is(readlinkSync(`/proc/${h2.daemonPid}/ns/mnt`), readlinkSync(`/proc/${h2.holderPid}/ns/mnt`), "in the host's mount namespace");
    assert.match(await h2.dockerOk(['image', 'ls', '--format', '{{.Repository}}']), BUSYBOX_IMAGE);
    assert.match(await h2.dockerOk(['ps', '-a', '--format', '{{.Names}}']), 'kept');
    await h2.dockerOk(['start', 'kept']);
    assert.is((await h2.dockerOk(['inspect', '-f', '{{.State.Running}}', 'kept'])).trim(), 'true');
    assert.is((await h2.exec('ls /run/docker/plugins')).stdout.trim(), '', 'still its own (empty) plugin directory');
    await h2.dockerOk(['rm', '-f', 'kept']);
  });

  harness(TESTS[6], async (context) => {
    const lab = context.lab!;
    // A container left running, and a process left on a host: stop() takes them too.
    await lab.hosts[0].dockerOk(['run', '-d', '--name', 'left', BUSYBOX_IMAGE, 'sleep', '600']);
    const containerPid = await lab.hosts[0].containerPid('left');
    const leftover = spawnOnHost(lab.hosts[1], 'sleep', ['600']);
    const pids = [containerPid, leftover.pid!, ...lab.hosts.flatMap((h) => [h.daemonPid, h.holderPid]), lab.etcd!.server.pid!];
    const problems = await lab.stop();
    context.lab = undefined;
    assert.equal(problems, [], 'stop() had nothing it could not remove');
    const netns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    for (const ns of lab.namespaces) assert.not.match(netns, ns, `namespace ${ns} left`);
    for (const pid of pids) assert.not.ok(existsSync(`/proc/${pid}`) && !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8')), `pid ${pid} still running`);
    assert.not.match(readFileSync('/proc/self/mountinfo', 'utf8'), lab.dir, 'no mount of the lab left');
    assert.not.ok(existsSync(lab.dir), `${lab.dir} removed`);
    const cgroups = spawnSync('sh', ['-c', `ls -d /sys/fs/cgroup/*/${lab.namespaces[0].replace(/-sw$/, '')}-* /sys/fs/cgroup/${lab.namespaces[0].replace(/-sw$/, '')}-* 2>/dev/null`], { encoding: 'utf8' }).stdout;
    assert.is(cgroups.trim(), '', 'no cgroup of the hosts left');
  });

  // Not on the shared lab: its own, in a child process that is killed.
  harness(TESTS[7], async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/docker-hosts-demo.ts', 'vwdkj', '1'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    const deadline = Date.now() + 60_000;
    while (!/^READY .*$/m.test(out)) {
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`the demo lab did not come up: ${out}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const made = JSON.parse(/^READY (.*)$/m.exec(out)![1]) as { dir: string; namespaces: string[]; pids: number[] };
    child.kill('SIGKILL');
    const gone = () => {
      const netns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
      return made.namespaces.every((ns) => !netns.includes(ns)) && made.pids.every((pid) => !existsSync(`/proc/${pid}`)) && !existsSync(made.dir);
    };
    for (let waited = 0; waited < 20_000 && !gone(); waited += 200) await new Promise((resolve) => setTimeout(resolve, 200));
    const netns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    for (const ns of made.namespaces) assert.not.match(netns, ns, `namespace ${ns} left`);
    const running = made.pids.filter((pid) => existsSync(`/proc/${pid}`));
    assert.equal(running, [], 'every process of the lab ended');
    assert.not.ok(existsSync(made.dir), `${made.dir} removed`);
    const cgroups = spawnSync('sh', ['-c', 'ls -d /sys/fs/cgroup/*/vwdkj-' + child.pid + '-* /sys/fs/cgroup/vwdkj-' + child.pid + '-* 2>/dev/null'], { encoding: 'utf8' }).stdout;
    assert.is(cgroups.trim(), '', 'no cgroup left');
  });

  harness(TESTS[8], async () => {
    // A lab's remains as a run killed before its janitor could act would leave them: a pid that
    // is gone, namespaces with a process in one, a directory naming the lab.
    const gone = spawnSync('true').pid!;
    const lab = `vwdks-${gone}-0`;
    const dir = mkdtempSync(join(tmpdir(), 'vwdks-'));
    writeFileSync(join(dir, 'lab'), `${lab}\n`);
    for (const ns of [`${lab}-sw`, `${lab}-h1`]) spawnSync('ip', ['netns', 'add', ns]);
    const sleeper = spawn('ip', ['netns', 'exec', `${lab}-h1`, 'sleep', '60'], { stdio: 'ignore' });
    try {
      // Until `ip netns exec` has become the sleep in the namespace.
      for (let i = 0; i < 100 && !/^sleep/.test(existsSync(`/proc/${sleeper.pid}/cmdline`) ? readFileSync(`/proc/${sleeper.pid}/cmdline`, 'utf8') : ''); i++) await new Promise((resolve) => setTimeout(resolve, 20));
      const found = staleLabs('vwdks').get(lab);
      assert.ok(found !== undefined, `${lab} found`);
      assert.equal([...found!.namespaces].sort(), [`${lab}-h1`, `${lab}-sw`]);
      assert.equal([...found!.dirs], [dir]);
      // A lab whose process lives (this one's) is not stale.
      assert.not.ok([...staleLabs('vwdks').keys()].some((name) => name.startsWith(`vwdks-${process.pid}-`)));
      sweep(found!);
      const netns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
      assert.not.match(netns, lab);
      assert.not.ok(existsSync(dir));
      for (let i = 0; i < 100 && sleeper.exitCode === null && sleeper.signalCode === null; i++) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.is(sleeper.signalCode, 'SIGKILL', "the process in the lab's namespace was ended");
    } finally {
      sleeper.kill('SIGKILL');
      for (const ns of [`${lab}-sw`, `${lab}-h1`]) spawnSync('ip', ['netns', 'del', ns]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

harness.run();
