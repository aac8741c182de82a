// `vxlan-wasm forward`: --help, configuration errors (exit 2, nothing opened), the lifecycle on
// in-memory ports (start, log, metrics, SIGTERM → 0, a broken port → 1, a hung shutdown → the
// hard exit), and, as root, the real thing: a TAP made, SIGTERM/SIGINT → exit 0 within 2 s and
// the TAP gone. Run from src/ through tsx (dist/ is built elsewhere).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { FORWARD_USAGE, forwardCommand, type ForwardIo } from '../../src/cli/forward';
import type { DeviceEvents } from '../../src/forwarder/contracts';
import { ethernetFrame, FakeDevice, FakeNetwork, settle } from '../forwarder/fakes';
import { temporaryDirs } from '../helpers/temporary';

const { removeTemporaryDirs, temporaryDir } = temporaryDirs();

const root = fileURLToPath(new URL('../..', import.meta.url));
const RUN_FORWARD = "import('./src/cli/forward.ts').then(m => m.forwardCommand(process.argv.slice(1))).then(c => process.exit(c))";

interface LogLine { level: number; msg: string; [key: string]: unknown }

/** A FakeDevice that hands its DeviceEvents to the test (to break it) and can hang on close. */
class TestDevice extends FakeDevice {
  portEvents: DeviceEvents | undefined;
  hang = false;
  override start(events: DeviceEvents): void {
    this.portEvents = events;
    super.start(events);
  }
  override close(): Promise<void> {
    return this.hang ? new Promise(() => {}) : super.close();
  }
}

/** forwardCommand in this process on fake ports, with every output captured. */
function harness(extra: Partial<ForwardIo> = {}) {
  const network = new FakeNetwork();
  const opened = { underlays: [] as ReturnType<FakeNetwork['underlay']>[], devices: [] as TestDevice[] };
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const log = new PassThrough();
  const out = { stdout: '', stderr: '', log: [] as LogLine[] };
  stdout.on('data', (chunk: Buffer) => { out.stdout += chunk; });
  stderr.on('data', (chunk: Buffer) => { out.stderr += chunk; });
  log.on('data', (chunk: Buffer) => out.log.push(...chunk.toString().trim().split('\n').map((line) => JSON.parse(line) as LogLine)));
  const signals = new EventEmitter();
  const io: ForwardIo = {
    stdout, stderr, log, signals, tunPath: null,
    openUnderlay: ({ address, port }) => {
      const underlay = network.underlay(address, port);
      opened.underlays.push(underlay);
      return underlay;
    },
    openDevice: ({ name }) => {
      const device = new TestDevice(name);
      opened.devices.push(device);
      return device;
    },
    ...extra,
  };
  return { io, out, opened, signals, network };
}

function waitFor<T>(what: string, check: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const poll = () => {
      const value = check();
      if (value !== undefined) resolve(value);
      else if (Date.now() - started > timeoutMs) reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      else setTimeout(poll, 10);
    };
    poll();
  });
}

function scrape(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = get(url, { agent: false, timeout: 5000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => { body += chunk; });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on('timeout', () => request.destroy(new Error('scrape timed out')));
    request.on('error', reject);
  });
}

// ---- help and configuration errors -------------------------------------------------------------

test('--help exits 0 and documents every flag, every config key and the merge rule', async () => {
  const { io, out, opened } = harness();
  assert.is(await forwardCommand(['--help'], io), 0);
  assert.is(out.stdout, `${FORWARD_USAGE}\n`);
  for (const flag of ['--config', '--tap', '--vni', '--local', '--peer', '--port', '--mtu', '--metrics', '--log-level', '--allow', '--queues', '--busy-poll-us', '--idle-wake-ms', '--tunnel-gso', '--no-tunnel-ingress', '--help']) {
    assert.match(FORWARD_USAGE, new RegExp(`^\\s+(-h, )?${flag} `, 'm'), `${flag} has its own line`);
  }
  for (const key of ['"local"', '"port"', '"networks"', '"vni"', '"tap"', '"mtu"', '"peers"', '"fdb"', '"mac"', '"peer"', '"allowedSources"', '"metrics"', '"logLevel"', '"ageingSeconds"', '"maxFdbEntries"', '"queues"', '"busyPollUs"', '"idleWakeMs"', '"tunnelGso"', '"tunnelIngress"']) {
    assert.ok(FORWARD_USAGE.includes(key), `the example shows ${key}`);
  }
  assert.match(FORWARD_USAGE, /8472/);
  assert.match(FORWARD_USAGE, /\[fd00::2\]:4789/);
  assert.match(FORWARD_USAGE, /flags over the file/);
  assert.match(FORWARD_USAGE, /exit codes: 0 .*; 1 .*; 2 /);
  // The example of the file is the JSON the config accepts.
  const example = FORWARD_USAGE.slice(FORWARD_USAGE.indexOf('  {\n'), FORWARD_USAGE.indexOf('\n  }\n') + 4).replace(/ {2,}[a-z][^\n]*$/gm, '');
  const { resolveConfig } = await import('../../src/cli/config');
  const config = resolveConfig({}, JSON.parse(example));
  assert.equal(config.networks.map((network) => network.vni), [100, 200]);
  assert.is(opened.underlays.length + opened.devices.length, 0);
});

const BAD_ARGS: [string[], RegExp][] = [
  [['--tap', 'vx0', '--vni', '5'], /^vxlan-wasm forward: --local is required/],
  [['--tap', 'vx0', '--vni', '16777216', '--local', '10.0.0.1'], /--vni: "16777216" is not a VNI/],
  [['--tap', 'vx0', '--vni', '5', '--local', '10.0.0.1', '--peer', 'fd00::2'], /--peer: "fd00::2" is IPv6 but the local address 10\.0\.0\.1 is IPv4/],
  [['--tap', 'vx0', '--vni', '5', '--local', '10.0.0.1', '--mtu', '65486'], /--mtu: 65486 is not a TAP MTU/],
  [['--tap', 'vx0', '--vni', '5', '--local', '10.0.0.1', '--port', '70000'], /--port: "70000" is not a UDP port/],
  [['--tap', 'vx0', '--vni', '5', '--local', '10.0.0.1', '--verbose'], /--verbose is not a flag of forward/],
  [['--tap', 'vx0', '--vni', '5', '--local', '10.0.0.1', 'now'], /now is not a flag: forward takes flags only/],
  [['--tap', 'vx0', '--local', '10.0.0.1', '--vni'], /--vni needs a value/],
  [['--config', '/nonexistent/forward.json'], /--config: cannot read \/nonexistent\/forward\.json \(ENOENT\)/],
];

for (const [args, says] of BAD_ARGS) {
  test(`config error exits 2 with one sentence, nothing opened: ${args.join(' ')}`, async () => {
    const { io, out, opened } = harness();
    assert.is(await forwardCommand(args, io), 2);
    assert.match(out.stderr, says);
    assert.is(out.stderr.trim().split('\n').length, 1, out.stderr);
    assert.is(opened.underlays.length + opened.devices.length, 0, 'nothing opened');
    assert.equal(out.log, []);
  });
}

test('config file errors (unknown key, duplicate VNI) exit 2 before anything opens', async () => {
  const dir = temporaryDir('vxlan-forward-');
  const file = join(dir, 'forward.json');
  for (const [content, says] of [
    [{ local: '10.0.0.1', networks: [{ vni: 1, tap: 'a' }], metric: '127.0.0.1:1' }, /^vxlan-wasm forward: metric is not a known key/],
    [{ local: '10.0.0.1', networks: [{ vni: 1, tap: 'a' }, { vni: 1, tap: 'b' }] }, /networks\[1\]\.vni: VNI 1 is configured twice/],
  ] as const) {
    writeFileSync(file, JSON.stringify(content));
    const { io, out, opened } = harness();
    assert.is(await forwardCommand(['--config', file], io), 2);
    assert.match(out.stderr, says);
    assert.is(opened.underlays.length + opened.devices.length, 0);
  }
});

test('/dev/net/tun checked before anything opens', async () => {
  const { io, out, opened } = harness({ tunPath: '/nonexistent/tun' });
  assert.is(await forwardCommand(['--tap', 'vx0', '--vni', '5', '--local', '10.0.0.1'], io), 2);
  assert.match(out.stderr, /\/nonexistent\/tun does not exist, so no TAP can be made/);
  assert.is(opened.underlays.length + opened.devices.length, 0);
});

// ---- lifecycle on fake ports -------------------------------------------------------------------

test('runs: logs "forwarding" once, serves metrics, SIGTERM closes everything and resolves 0', async () => {
  const { io, out, opened, signals, network } = harness();
  let ready: Parameters<NonNullable<ForwardIo['onReady']>>[0] | undefined;
  const running = forwardCommand([
    '--tap', 'vx0', '--vni', '5', '--local', '10.0.0.1', '--peer', '10.0.0.2', '--peer', '10.0.0.3:8472',
    '--metrics', '127.0.0.1:0', '--log-level', 'debug',
  ], { ...io, onReady: (value) => { ready = value; } });
  await waitFor('ready', () => ready);
  const peer = network.underlay('10.0.0.2');
  opened.devices[0].inject(ethernetFrame('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:01'));
  await settle();
  assert.is(peer.inbox.length, 1, 'the broadcast reached the peer');

  const forwarding = out.log.filter((line) => line.msg === 'forwarding');
  assert.is(forwarding.length, 1);
  assert.is(forwarding[0].local, '10.0.0.1:4789');
  assert.equal(forwarding[0].networks, [{ vni: 5, tap: 'vx0', mtu: 1450, peers: ['10.0.0.2:4789', '10.0.0.3:8472'], staticFdbEntries: 0 }]);
  const url = forwarding[0].metrics as string;
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  const { status, body } = await scrape(url);
  assert.is(status, 200);
  assert.match(body, /^vxlan_frames_total\{direction="to_underlay",vni="5"\} 2$/m);

  signals.emit('SIGTERM');
  assert.is(await running, 0);
  assert.ok(opened.devices[0].closed && opened.underlays[0].closed, 'device and underlay closed');
  assert.equal(out.log.slice(-2).map((line) => line.msg), ['stopping', 'stopped']);
  assert.is(out.log.at(-2)!.signal, 'SIGTERM');
  const afterwards = await scrape(url).then(() => 'answered', (error: NodeJS.ErrnoException) => error.code);
  assert.is(afterwards, 'ECONNREFUSED', 'the metrics server is closed');
  assert.is(signals.listenerCount('SIGTERM') + signals.listenerCount('SIGINT'), 0, 'signal handlers removed');
  assert.is(out.stderr, '');
});

test('a port that breaks (a dead worker) is logged with its reason and exits 1', async () => {
  const { io, out, opened } = harness();
  let ready = false;
  const running = forwardCommand(['--tap', 'vx0', '--vni', '5', '--local', '10.0.0.1'], { ...io, onReady: () => { ready = true; } });
  await waitFor('ready', () => (ready ? true : undefined));
  opened.devices[0].portEvents!.fail(new Error('reader worker for vx0 exited with code 1'));
  assert.is(await running, 1);
  const fatal = out.log.find((line) => line.level === 60);
  assert.ok(fatal, JSON.stringify(out.log));
  assert.match(fatal!.msg, /a port of the forwarder broke, stopping: reader worker for vx0 exited with code 1/);
  assert.ok(opened.devices[0].closed && opened.underlays[0].closed);
});

test('a shutdown that hangs hits the hard timer: exit 1, loudly', async () => {
  const { io, out, opened, signals } = harness();
  let ready = false;
  let exited: number | undefined;
  void forwardCommand(['--tap', 'vx0', '--vni', '5', '--local', '10.0.0.1'], {
    ...io, shutdownTimeoutMs: 100, exit: (code) => { exited = code; }, onReady: () => { ready = true; },
  });
  await waitFor('ready', () => (ready ? true : undefined));
  opened.devices[0].hang = true;
  const started = Date.now();
  signals.emit('SIGINT');
  assert.is(await waitFor('the hard exit', () => exited, 2000), 1);
  assert.ok(Date.now() - started < 1000);
  assert.match(out.stderr, /shutdown did not finish within 100 ms; exiting with code 1/);
  assert.ok(out.log.some((line) => line.level === 60 && /shutdown hung/.test(line.msg)));
});

test('a device that cannot be opened: what was opened is closed; TAP_PERMISSION exits 2, other errors 1', async () => {
  for (const [code, exit] of [['TAP_PERMISSION', 2], ['TAP_ERROR', 1]] as const) {
    const { io, out, opened } = harness({
      openDevice: () => {
        throw Object.assign(new Error('creating TAP vx1 needs root or CAP_NET_ADMIN'), { code });
      },
    });
    assert.is(await forwardCommand(['--tap', 'vx1', '--vni', '5', '--local', '10.0.0.1'], io), exit);
    assert.ok(opened.underlays[0].closed, 'the underlay opened before is closed');
    assert.ok(out.log.some((line) => line.level === 60 && /could not start: creating TAP vx1/.test(line.msg)));
  }
});

// ---- the real command: a TAP, a UDP socket, signals ---------------------------------------------

const isRoot = process.getuid?.() === 0;

function runForward(args: string[], options: { uid?: number; gid?: number } = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', '-e', RUN_FORWARD, '--', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], ...options });
}

function tapExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

/** Start the CLI, wait for "forwarding", stop it with `signal`: exit code, how long it took, what it logged. */
async function startAndStop(args: string[], tap: string, signal: NodeJS.Signals) {
  const child = runForward(args);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const forwarding = await waitFor(`"forwarding" from the CLI (stderr so far: ${stderr})`, () =>
      stderr.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as LogLine).find((line) => line.msg === 'forwarding'), 20000);
    assert.ok(tapExists(tap), `TAP ${tap} exists while forwarding`);
    assert.is(readFileSync(`/sys/class/net/${tap}/mtu`, 'utf8').trim(), '1450');
    assert.is(Number(readFileSync(`/sys/class/net/${tap}/flags`, 'utf8')) & 1, 1, 'the TAP is up');
    let metrics: { status: number; body: string } | undefined;
    if (typeof forwarding.metrics === 'string') metrics = await scrape(forwarding.metrics);
    const started = performance.now();
    child.kill(signal);
    const code = await Promise.race([exited, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 5000))]);
    return { code, ms: performance.now() - started, stderr, forwarding, metrics };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (tapExists(tap)) spawnSync('ip', ['link', 'del', tap]);
  }
}

test('as root: forward makes the TAP; SIGTERM exits 0 within 2 s and the TAP is gone', async () => {
  if (!isRoot) {
    console.warn('\n!!! SKIPPED (not root): the forward lifecycle test needs root to make a TAP; run the suite as root in CI !!!\n');
    return;
  }
  const tap = `vxwtest${process.pid}`.slice(0, 15);
  const result = await startAndStop(['--tap', tap, '--vni', '5', '--local', '127.0.0.1', '--port', '0', '--metrics', '127.0.0.1:0'], tap, 'SIGTERM');
  assert.is(result.code, 0, result.stderr);
  assert.ok(result.ms < 2000, `stopped in ${result.ms.toFixed(0)} ms`);
  assert.ok(!tapExists(tap), `TAP ${tap} removed`);
  assert.match(result.forwarding.local as string, /^127\.0\.0\.1:\d+$/);
  assert.is(result.metrics?.status, 200);
  assert.match(result.metrics!.body, /^vxlan_fdb_entries\{vni="5"\} 0$/m);
  assert.match(result.stderr, /"msg":"stopped"/);
});

test('as root: a --config file with two networks; SIGINT exits 0 within 2 s and both TAPs are gone', async () => {
  if (!isRoot) {
    console.warn('\n!!! SKIPPED (not root): the forward --config lifecycle test needs root to make TAPs !!!\n');
    return;
  }
  const taps = [`vxwa${process.pid}`.slice(0, 15), `vxwb${process.pid}`.slice(0, 15)];
  const file = join(temporaryDir('vxlan-forward-'), 'forward.json');
  writeFileSync(file, JSON.stringify({
    local: '127.0.0.1', port: 0,
    networks: [{ vni: 10, tap: taps[0], peers: ['127.0.0.2:4789'] }, { vni: 20, tap: taps[1], fdb: [{ mac: '02:00:00:00:00:01', peer: '127.0.0.3:4789' }] }],
    logLevel: 'info',
  }));
  try {
    const result = await startAndStop(['--config', file], taps[0], 'SIGINT');
    assert.is(result.code, 0, result.stderr);
    assert.ok(result.ms < 2000, `stopped in ${result.ms.toFixed(0)} ms`);
    assert.equal((result.forwarding.networks as { vni: number }[]).map((network) => network.vni), [10, 20]);
    assert.ok(!tapExists(taps[0]) && !tapExists(taps[1]), 'both TAPs removed');
  } finally {
    for (const tap of taps) if (tapExists(tap)) spawnSync('ip', ['link', 'del', tap]);
  }
});

test('as root: the same command as an unprivileged user exits 2 with one sentence, no TAP made', async () => {
  if (!isRoot) {
    console.warn('\n!!! not root: checking the unprivileged refusal directly !!!\n');
  }
  const tap = `vxwu${process.pid}`.slice(0, 15);
  const child = runForward(['--tap', tap, '--vni', '5', '--local', '127.0.0.1', '--port', '0'], isRoot ? { uid: 65534, gid: 65534 } : {});
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk; });
  try {
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.is(code, 2, stderr);
    assert.match(stderr, /^vxlan-wasm forward: \/dev\/net\/tun: .*(root|CAP_NET_ADMIN)/);
    assert.is(stderr.trim().split('\n').length, 1, stderr);
    assert.ok(!tapExists(tap));
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    if (tapExists(tap)) spawnSync('ip', ['link', 'del', tap]);
  }
});

test.after(removeTemporaryDirs);
test.run();
