// `vxlan-wasm network` and `vxlan-wasm agent` as commands (networkCommand / agentCommand with
// their output captured): usage mistakes are one sentence and exit 2 before anything connects; an
// unreachable etcd is one sentence and exit 1 within the timeout; against a real etcd (no root:
// the agent gets a fake device and a loopback UDP underlay) the commands do what they say, and the
// agent leaves (its keys gone) and resolves 0 on SIGTERM.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { networkCommand } from '../../src/cli/network';
import { endpointCommand } from '../../src/cli/endpoint';
import { agentCommand, resolveAgentConfig } from '../../src/cli/agent';
import { keys } from '../../src/control/keys';
import { connect } from '../../src/control/store';
import { UdpUnderlay } from '../../src/forwarder/underlay/udp';
import { FakeDevice } from '../forwarder/fakes';
import { etcdUnusable, freePort, startEtcd, type EtcdServer } from '../helpers/etcd';
import { warnSkipped } from '../helpers/netns';

function streams() {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (chunk) => (stdout += chunk));
  err.on('data', (chunk) => (stderr += chunk));
  return { io: { stdout: out, stderr: err }, text: () => ({ stdout, stderr }) };
}

async function network(...argv: string[]) {
  const { io, text } = streams();
  const code = await networkCommand(argv, io);
  return { code, ...text() };
}

async function endpoint(...argv: string[]) {
  const { io, text } = streams();
  const code = await endpointCommand(argv, io);
  return { code, ...text() };
}

test('endpoint: usage mistakes are one sentence and exit 2, before connecting', async () => {
  for (const [argv, message] of [
    [[], /needs a subcommand: ls or inspect/],
    [['frob'], /frob is not an endpoint subcommand/],
    [['inspect'], /endpoint inspect needs the endpoint's id/],
    [['ls', 'extra'], /extra is one argument too many for endpoint ls/],
    [['ls', '--network', 'Blue'], /--network: "Blue" is not a network name/],
  ] as const) {
    const run = await endpoint(...argv, '--etcd', 'http://127.0.0.1:9');
    assert.is(run.code, 2, argv.join(' '));
    assert.match(run.stderr, message);
    assert.is(run.stderr.trim().split('\n').length, 1);
  }
  assert.is((await endpoint('--help')).code, 0);
});

test('network: usage mistakes are one sentence and exit 2, before connecting', async () => {
  for (const [argv, message] of [
    [[], /needs a subcommand: create, ls, inspect or rm/],
    [['frob'], /frob is not a network subcommand/],
    [['create'], /network create needs the network's NAME/],
    [['create', 'Blue', '--vni', '1', '--subnet', '10.0.0.0/24'], /NAME: "Blue" is not a network name/],
    [['create', 'blue', '--subnet', '10.0.0.0/24'], /--vni is required/],
    [['create', 'blue', '--vni', '16777216', '--subnet', '10.0.0.0/24'], /--vni: "16777216" is not a VNI/],
    [['create', 'blue', '--vni', '1'], /--subnet is required/],
    [['create', 'blue', '--vni', '1', '--subnet', '10.0.0.1/24'], /host bits set; did you mean 10\.0\.0\.0\/24\?$/m],
    [['create', 'blue', '--vni', '1', '--subnet', '10.0.0.0/24', '--force'], /--force is not a flag of network create/],
    [['create', 'blue', '--vni', '1', '--subnet', '10.0.0.0/24', '--subnet', '10.1.0.0/24'], /--subnet: a network has at most one IPv4 subnet, not 10\.0\.0\.0\/24 and 10\.1\.0\.0\/24\.$/m],
    [['create', 'blue', '--vni', '1', '--subnet', 'fd00:1::/64', '--subnet', 'fd00:2::/64'], /--subnet: a network has at most one IPv6 subnet/],
    [['create', 'blue', '--vni', '1', '--subnet', 'fd00:1::/40'], /--subnet: subnet fd00:1::\/40: the prefix length of an IPv6 overlay must be 48\.\.120\.$/m],
    [['create', 'blue', '--vni', '1', '--subnet', 'fd00:1::1/64'], /host bits set; did you mean fd00:1::\/64\?$/m],
    [['create', 'blue', '--vni', '1', '--subnet', 'ff02::/64'], /multicast \(ff00::\/8\)/],
    [['create', 'blue', '--vni', '1', '--subnet', 'fe80::/64'], /link-local/],
    [['create', 'blue', '--vni', '1', '--subnet', '::ffff:0:0/96'], /IPv4-mapped/],
    [['ls', 'extra'], /extra is one argument too many for network ls/],
    [['rm', 'a', 'b'], /b is one argument too many for network rm/],
    [['ls', '--bogus'], /--bogus is not a flag of network/],
    [['ls', '--etcd', 'localhost:2379'], /--etcd: "localhost:2379" must start with http:\/\/ or https:\/\//],
    [['ls', '--etcd', 'http://a:1,https://b:2'], /mixes http:\/\/ and https:\/\//],
    [['ls', '--etcd-ca', '/etc/hostname'], /--etcd-ca needs https:\/\/ etcd URLs/],
    [['ls', '--etcd-user', 'root'], /--etcd-user needs --etcd-user and --etcd-password together/],
    [['ls', '--etcd', 'https://a:1', '--etcd-ca', '/nonexistent.pem'], /--etcd-ca: \/nonexistent\.pem cannot be read/],
    [['ls', '--etcd-timeout', 'soon'], /--etcd-timeout: "soon" is not a number of seconds/],
  ] as const) {
    const result = await network(...argv);
    assert.is(result.code, 2, `${argv.join(' ')}: exit 2 (${result.stderr})`);
    assert.match(result.stderr, /^vxlan-wasm network: /);
    assert.match(result.stderr, message, argv.join(' '));
    assert.is(result.stderr.trim().split('\n').length, 1, 'one line');
  }
  const help = await network('--help');
  assert.is(help.code, 0);
  assert.match(help.stdout, /usage: vxlan-wasm network create NAME --vni N --subnet CIDR/);
});

test('network: etcd unreachable is one sentence and exit 1 within the timeout', async () => {
  const port = await freePort();
  const started = performance.now();
  const result = await network('ls', '--etcd', `http://127.0.0.1:${port}`, '--etcd-timeout', '1');
  assert.is(result.code, 1);
  assert.match(result.stderr, new RegExp(`^vxlan-wasm network: could not reach etcd at http://127\\.0\\.0\\.1:${port} within 1 s \\(.*\\); is it running and reachable\\?\\n$`));
  assert.ok(performance.now() - started < 3000, 'within the timeout');
});

test('agent: usage mistakes are one sentence and exit 2, before connecting', async () => {
  for (const [argv, message] of [
    [['--local', '192.0.2.1'], /--network is required/],
    [['--network', 'blue'], /--local is required/],
    [['--network', 'blue', '--local', '0.0.0.0'], /--local: 0\.0\.0\.0 is not an address the other hosts can send to/],
    [['--network', 'blue', '--local', '192.0.2.1:4789'], /--local: "192\.0\.2\.1:4789" has a port; give the address alone and the port with --port/],
    [['--network', 'blue', '--local', '192.0.2.1', '--ttl', '1'], /--ttl: "1" is not a whole number of seconds in 2\.\.300/],
    [['--network', 'blue', '--local', '192.0.2.1', '--host-id', 'a/b'], /--host-id: "a\/b" is not a host id/],
    [['--network', 'blue', '--local', '192.0.2.1', '--tap', 'much-too-long-name'], /--tap: "much-too-long-name" is not an interface name/],
    [['--network', 'blue', '--local', '192.0.2.1', '--mtu', '40'], /--mtu: "40" is not an MTU in 68\.\.65485/],
    [['--network', 'blue', '--local', '192.0.2.1', '--vni', '4'], /--vni is not a flag of agent/],
  ] as const) {
    const { io, text } = streams();
    const code = await agentCommand([...argv], { ...io, tunPath: null, connect: () => assert.unreachable('connected') as never });
    assert.is(code, 2, `${argv.join(' ')}: ${text().stderr}`);
    assert.match(text().stderr, message, argv.join(' '));
  }
  const config = resolveAgentConfig(['--network', 'blue', '--local', 'fd00::1'], '/nonexistent');
  assert.ok(config !== 'help');
  assert.equal([config.tap, config.mtu, config.port, config.ttlSeconds, config.family], ['vx-blue', 1430, 4789, 10, 6], 'defaults (IPv6 underlay MTU)');
  assert.match(config.hostId, /^h-[0-9a-f]{16}$/);
  assert.is((resolveAgentConfig(['--network', 'blue', '--local', 'fd00::1'], '/nonexistent') as { hostId: string }).hostId, config.hostId, 'the default host id is stable');
});

let unusable: string | undefined;
try {
  unusable = etcdUnusable('control CLI tests');
} catch (error) {
  test('control CLI tests: etcd', () => {
    throw error;
  });
}

const WITH_ETCD = [
  'network create, ls, inspect, rm against etcd; refusals exit 1',
  'agent: joins with a fake device (address and MAC set, metrics of the control plane), leaves on SIGTERM (its keys gone), resolves 0',
  'agent: no such network, or etcd unreachable: one sentence, exit 1, nothing left open',
  'dual stack: endpoint ls, endpoint inspect and network inspect show an endpoint\'s IPv4 and IPv6 addresses',
];

if (unusable !== undefined) {
  warnSkipped('needs etcd', WITH_ETCD, unusable);
} else {
  let etcd: EtcdServer;
  test.before(async () => {
    etcd = await startEtcd();
  });
  test.after(async () => {
    await etcd?.stop();
  });

  test(WITH_ETCD[0], async () => {
    const e = ['--etcd', etcd.url];
    assert.equal(await network('create', 'blue', '--vni', '42', '--subnet', '10.42.0.0/24', ...e), { code: 0, stdout: 'network blue created: VNI 42, subnet 10.42.0.0/24\n', stderr: '' });
    assert.equal(await network('create', 'red', '--vni', '42', '--subnet', '10.43.0.0/24', ...e), { code: 1, stdout: '', stderr: 'vxlan-wasm network: VNI 42 is taken by network blue\n' });
    // Subnets that cannot serve an overlay, each refused with its reason before anything is written:
    // an overlap by etcd's answer (exit 1), the others as the mistakes they are (exit 2).
    for (const [subnet, code, reason] of [
      ['10.42.0.128/25', 1, /overlaps network blue's subnet 10\.42\.0\.0\/24/],
      ['10.44.0.0/31', 2, /too small: .* at most a \/30/],
      ['10.44.0.1/32', 2, /too small/],
      ['224.1.0.0/16', 2, /multicast/],
      ['127.10.0.0/16', 2, /loopback/],
      ['169.254.1.0/24', 2, /link-local/],
      ['240.0.0.0/8', 2, /reserved/],
    ] as const) {
      const refused = await network('create', 'red', '--vni', '43', '--subnet', subnet, ...e);
      assert.is(refused.code, code, `${subnet}: ${refused.stderr}`);
      assert.match(refused.stderr, reason, subnet);
      assert.is(refused.stderr.trim().split('\n').length, 1, 'one sentence');
    }
    const ls = await network('ls', ...e);
    assert.match(ls.stdout, /^NAME\s+VNI\s+SUBNET\s+HOSTS\s+ENDPOINTS\s+CREATED\nblue\s+42\s+10\.42\.0\.0\/24\s+0\s+0\s+\d{4}-/);
    const json = JSON.parse((await network('ls', '--json', ...e)).stdout);
    assert.equal(json.map((n: { name: string; hosts: number }) => [n.name, n.hosts]), [['blue', 0]]);
    assert.match((await network('inspect', 'blue', ...e)).stdout, /^network blue: VNI 42, subnet 10\.42\.0\.0\/24, gateway and DNS 10\.42\.0\.1, created .*, 0 live host\(s\), 0 endpoint\(s\)\n$/);
    assert.equal(await network('inspect', 'nope', ...e), { code: 1, stdout: '', stderr: 'vxlan-wasm network: no network named nope\n' });
    // Dual stack and IPv6 only: both subnets shown by create, ls and inspect; an IPv6 overlap refused (exit 1).
    assert.equal(await network('create', 'dual', '--vni', '44', '--subnet', '10.45.0.0/24', '--subnet', 'FD00:45::/64', ...e), { code: 0, stdout: 'network dual created: VNI 44, subnets 10.45.0.0/24, fd00:45::/64\n', stderr: '' });
    assert.equal(await network('create', 'six', '--vni', '46', '--subnet', 'fd00:46::/64', ...e), { code: 0, stdout: 'network six created: VNI 46, subnet fd00:46::/64\n', stderr: '' });
    assert.equal(await network('create', 'over', '--vni', '47', '--subnet', 'fd00:45::/48', ...e), { code: 1, stdout: '', stderr: 'vxlan-wasm network: subnet fd00:45::/48 overlaps network dual\'s subnet fd00:45::/64\n' });
    assert.match((await network('ls', ...e)).stdout, /\ndual\s+44\s+10\.45\.0\.0\/24, fd00:45::\/64\s+0\s+0\s+\d{4}-.*\nsix\s+46\s+fd00:46::\/64\s+0/s);
    assert.match((await network('inspect', 'dual', ...e)).stdout, /^network dual: VNI 44, subnets 10\.45\.0\.0\/24, fd00:45::\/64, gateway and DNS 10\.45\.0\.1, fd00:45::1, created /);
    for (const name of ['dual', 'six']) assert.is((await network('rm', name, ...e)).code, 0);
    assert.equal(await network('rm', 'blue', ...e), { code: 0, stdout: 'network blue removed\n', stderr: '' });
    assert.equal(await network('rm', 'blue', ...e), { code: 1, stdout: '', stderr: 'vxlan-wasm network: no network named blue\n' });
  });

  test(WITH_ETCD[1], async () => {
    assert.is((await network('create', 'green', '--vni', '7', '--subnet', '10.7.0.0/24', '--etcd', etcd.url)).code, 0);
    const signals = new EventEmitter();
    const log = new PassThrough();
    let logText = '';
    log.on('data', (chunk) => (logText += chunk));
    const device = new FakeDevice('fake0');
    const set: string[] = [];
    let metricsUrl = '';
    let exitedWith: (code: number) => void = () => undefined;
    const exited = { promise: new Promise<number>((resolve) => (exitedWith = resolve)), resolve: (code: number) => exitedWith(code) };
    const ready = new Promise<void>((resolve) => {
      void agentCommand(['--etcd', etcd.url, '--network', 'green', '--local', '127.0.0.1', '--port', '0', '--host-id', 'cli-1', '--ttl', '5', '--metrics', '127.0.0.1:0'], {
        log, signals, tunPath: null,
        openDevice: () => device,
        openUnderlay: (options) => UdpUnderlay.open({ ...options, address: '127.0.0.1', port: 0 }),
        setMac: (dev, mac) => set.push(`mac ${dev.name} ${mac}`),
        setAddress: (dev, ip, pool) => set.push(`address ${dev.name} ${ip}/${pool.prefixLength}`),
        onReady: ({ metrics }) => {
          metricsUrl = `http://127.0.0.1:${metrics!.port}/metrics`;
          resolve();
        },
      }).then((code) => exited.resolve(code));
    });
    await ready;
    assert.is(set.length, 2);
    assert.match(set[0], /^mac fake0 02(:[0-9a-f]{2}){5}$/);
    assert.match(set[1], /^address fake0 10\.7\.0\.\d+\/24$/);
    const client = connect({ endpoints: [etcd.url] });
    try {
      const record = JSON.parse((await client.get(keys.host('green', 'cli-1')).string())!);
      assert.is(record.vtep.address, '127.0.0.1');
      assert.ok(record.vtep.port > 0, 'the bound port is advertised');
      const tap = JSON.parse((await client.get(keys.endpoint('green', 'tap.cli-1')).string())!);
      assert.is(`address fake0 ${tap.ipv4}/24`, set[1], "the TAP's endpoint holds the address set on it");
      assert.is(`mac fake0 ${tap.mac}`, set[0]);
      // The TAP's endpoint as `endpoint ls` and `inspect` show it, from etcd.
      const listed = await endpoint('ls', '--network', 'green', '--etcd', etcd.url);
      assert.is(listed.code, 0, listed.stderr);
      assert.match(listed.stdout, new RegExp(`^NETWORK\\s+NAME\\s+ALIASES\\s+HOST\\s+ADDRESS\\s+MAC\\s+ENDPOINT\\ngreen\\s+\\S+\\s+\\S+\\s+cli-1\\s+${tap.ipv4.replace(/\./g, '\\.')}\\s+${tap.mac}\\s+tap\\.cli-1\\n$`));
      const inspected = JSON.parse((await endpoint('inspect', 'tap.cli-1', '--json', '--etcd', etcd.url)).stdout);
      assert.equal([inspected.network, inspected.hostId, inspected.ipv4, inspected.mac], ['green', 'cli-1', tap.ipv4, tap.mac]);
      assert.equal(await endpoint('inspect', 'nothing-here', '--etcd', etcd.url), { code: 1, stdout: '', stderr: 'vxlan-wasm endpoint: no endpoint nothing-here\n' });
      const metrics = await (await fetch(metricsUrl)).text();
      assert.match(metrics, /^vxlan_control_connected 1$/m);
      assert.match(metrics, /^vxlan_control_hosts 0$/m);
      assert.match(metrics, /^vxlan_frames_total\{/m, "the forwarder's metrics too");
      assert.match(logText, /"msg":"joined"/);
      signals.emit('SIGTERM');
      assert.is(await exited.promise, 0);
      assert.is(await client.get(keys.host('green', 'cli-1')).string(), null, 'left: its record is gone at once');
      assert.is(await client.getAll().prefix(keys.ipamPrefix('green')).count(), 0, 'and its address');
      assert.is(await client.getAll().prefix(keys.endpointsPrefix('green')).count(), 0, 'and its endpoint');
      assert.ok(device.closed, 'the device closed');
      assert.match(logText, /"msg":"stopped"/);
    } finally {
      client.close();
    }
  });

  test(WITH_ETCD[2], async () => {
    let device: FakeDevice | undefined;
    const io = () => ({ log: new PassThrough(), tunPath: null, openDevice: () => (device = new FakeDevice('fake1')), openUnderlay: (options: { address: string; port: number; maxDatagramLength: number }) => UdpUnderlay.open({ ...options, port: 0 }) });
    const { io: out, text } = streams();
    assert.is(await agentCommand(['--etcd', etcd.url, '--network', 'absent', '--local', '127.0.0.1'], { ...out, ...io() }), 1);
    assert.match(text().stderr, /^vxlan-wasm agent: no network named absent in etcd \(create it with: vxlan-wasm network create absent --vni N --subnet CIDR\)\n$/);
    assert.is(device, undefined, 'nothing opened for a network that does not exist');
    const port = await freePort();
    const second = streams();
    const started = performance.now();
    assert.is(await agentCommand(['--etcd', `http://127.0.0.1:${port}`, '--etcd-timeout', '1', '--network', 'x', '--local', '127.0.0.1'], { ...second.io, ...io() }), 1);
    assert.match(second.text().stderr, /^vxlan-wasm agent: could not reach etcd at http:\/\/127\.0\.0\.1:\d+ within 1 s/);
    assert.ok(performance.now() - started < 3000);
  });

  test(WITH_ETCD[3], async () => {
    const e = ['--etcd', etcd.url];
    assert.is((await network('create', 'duo', '--vni', '48', '--subnet', '10.48.0.0/24', '--subnet', 'fd00:48::/64', ...e)).code, 0);
    const client = connect({ endpoints: [etcd.url] });
    try {
      const record = { endpointId: 'ep.duo', hostId: 'h-duo', mac: '02:00:00:00:48:02', ipv4: '10.48.0.2', ipv6: 'fd00:48::2', name: 'web', aliases: [] };
      await client.put(keys.endpoint('duo', 'ep.duo')).value(JSON.stringify(record));
      const listed = await endpoint('ls', '--network', 'duo', ...e);
      assert.is(listed.code, 0, listed.stderr);
      assert.match(listed.stdout, /\nduo\s+web\s+-\s+h-duo\s+10\.48\.0\.2,fd00:48::2\s+02:00:00:00:48:02\s+ep\.duo\n$/);
      const inspected = await endpoint('inspect', 'web', ...e);
      assert.match(inspected.stdout, /^ipv4: 10\.48\.0\.2$/m);
      assert.match(inspected.stdout, /^ipv6: fd00:48::2$/m);
      assert.match((await network('inspect', 'duo', ...e)).stdout, /web\s+-\s+h-duo\s+10\.48\.0\.2,fd00:48::2\s+02:00:00:00:48:02/);
      await client.delete().key(keys.endpoint('duo', 'ep.duo'));
      assert.is((await network('rm', 'duo', ...e)).code, 0);
    } finally {
      client.close();
    }
  });
}

test.run();
