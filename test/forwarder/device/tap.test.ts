// TapDevice against the real kernel (root): the TAP is created inside a network namespace this
// test makes (`ip netns exec NS node …`), so nothing it does can route anywhere. Checks: MTU and
// up, the MAC, an ARP request from the kernel arriving through receive(), an ARP reply written
// with transmit() reaching the kernel (its neighbour entry and the ICMP echo that follows), the
// TAP gone after close(), a persistent TAP left alone, and the permission error as `nobody`.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tapError } from '../../../src/forwarder/device/tap';
import { EACCES, EBUSY, ENOENT, EPERM } from '../../../src/forwarder/io/libc';
import { temporaryDirs } from '../../helpers/temporary';

const { removeTemporaryDirs, temporaryDir } = temporaryDirs();

const root = fileURLToPath(new URL('../../..', import.meta.url));
const isRoot = process.getuid?.() === 0;

test('the errors of opening a TAP say what is needed (TAP_PERMISSION for EPERM, EACCES, no /dev/net/tun)', () => {
  const perm = tapError('vx0', 'TUNSETIFF', EPERM);
  assert.is(perm.code, 'TAP_PERMISSION');
  assert.is(perm.message, 'creating TAP vx0 needs root or CAP_NET_ADMIN: TUNSETIFF failed with EPERM');
  assert.is(tapError('vx0', 'opening /dev/net/tun', EACCES).code, 'TAP_PERMISSION');
  const missing = tapError('vx0', 'opening /dev/net/tun', ENOENT);
  assert.is(missing.code, 'TAP_PERMISSION');
  assert.match(missing.message, /needs \/dev\/net\/tun, which this system does not have/);
  const busy = tapError('vx0', 'TUNSETIFF', EBUSY);
  assert.is(busy.code, 'TAP_ERROR');
  assert.match(busy.message, /in use by another process/);
});

function has(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
}

function child(source: string, wrap: string[], timeout = 20000) {
  const dir = temporaryDir('vxlan-tap-');
  chmodSync(dir, 0o755); // readable by `nobody` too
  const file = join(dir, 'child.mts');
  writeFileSync(file, source);
  chmodSync(file, 0o644);
  const run = spawnSync(wrap[0], [...wrap.slice(1), process.execPath, '--import', 'tsx', file], {
    cwd: root, encoding: 'utf8', timeout, env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
  });
  return { code: run.status, signal: run.signal, stdout: run.stdout, stderr: run.stderr };
}

const tapModule = JSON.stringify(join(root, 'src/forwarder/device/tap.ts'));
const batchModule = JSON.stringify(join(root, 'src/batch/index.ts'));

const CHILD = `
import { TapDevice } from ${tapModule};
import { PacketBatch } from ${batchModule};
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

const [name, persistentName] = process.argv.slice(2);
const sys = (file) => readFileSync('/sys/class/net/' + name + '/' + file, 'utf8').trim();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const out = {};
const tap = TapDevice.open({ name, mtu: 1400 });
Object.assign(out, { created: tap.created, mtu: tap.mtu, mac: tap.mac, maxFrameLength: tap.maxFrameLength });
Object.assign(out, { sysMtu: Number(sys('mtu')), sysFlags: parseInt(sys('flags'), 16), sysMac: sys('address') });
try { TapDevice.open({ name }); } catch (e) { out.secondOpen = e.code + ': ' + e.message; }

const batch = new PacketBatch({ capacity: 64 });
const frames = [];
const failures = [];
let wakes = 0;
tap.start({
  wake() { wakes++; setImmediate(drain); },
  fail(error) { failures.push(error.message); },
});
function drain() {
  const n = tap.receive(batch, 0, 64);
  for (let i = 0; i < n; i++) frames.push(Buffer.from(batch.inner(i)));
}
async function waitFor(predicate, ms = 4000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = frames.find(predicate);
    if (found || Date.now() > deadline) return found;
    await sleep(20);
  }
}
const ip = (b, at) => b.subarray(at, at + 4).join('.');
execFileSync('ip', ['addr', 'add', '10.77.0.1/24', 'dev', name]);
const ping = spawn('ping', ['-c', '6', '-i', '0.4', '-W', '1', '10.77.0.2'], { stdio: 'ignore' });

const arp = await waitFor((f) => f.readUInt16BE(12) === 0x0806 && f.readUInt16BE(20) === 1 && ip(f, 38) === '10.77.0.2');
if (arp) out.arpRequest = { dst: arp.subarray(0, 6).toString('hex'), src: arp.subarray(6, 12).toString('hex'), sender: ip(arp, 28), length: arp.length };

// Answer through transmit(): 10.77.0.2 is at 02:00:00:77:00:02.
const peerMac = Buffer.from('020000770002', 'hex');
const tapMac = Buffer.from(tap.mac.replace(/:/g, ''), 'hex');
const reply = Buffer.alloc(42);
tapMac.copy(reply, 0); peerMac.copy(reply, 6); reply.writeUInt16BE(0x0806, 12);
reply.writeUInt16BE(1, 14); reply.writeUInt16BE(0x0800, 16); reply[18] = 6; reply[19] = 4; reply.writeUInt16BE(2, 20);
peerMac.copy(reply, 22); Buffer.from([10, 77, 0, 2]).copy(reply, 28); tapMac.copy(reply, 32); Buffer.from([10, 77, 0, 1]).copy(reply, 38);
const rxBefore = Number(sys('statistics/rx_packets'));
batch.payload(5).set(reply);
batch.setInner(5, reply.length, 0);
out.taken = tap.transmit(batch, Int32Array.of(5), 1);
out.rxDelta = Number(sys('statistics/rx_packets')) - rxBefore;

// The kernel now knows the peer: an ICMP echo request goes to its MAC.
const echo = await waitFor((f) => f.subarray(0, 6).equals(peerMac) && f.readUInt16BE(12) === 0x0800 && f[23] === 1 && f[34] === 8);
out.echoRequest = Boolean(echo);
out.neighbour = execFileSync('ip', ['neigh', 'show', '10.77.0.2', 'dev', name], { encoding: 'utf8' }).trim();
ping.kill();
out.wakes = wakes;
const started = Date.now();
await tap.close();
await tap.close();
out.closeMs = Date.now() - started;
out.existsAfterClose = existsSync('/sys/class/net/' + name);
out.counters = tap.counters;
out.failures = failures;

// A persistent TAP the user made: opened with create: false, left in place by close().
execFileSync('ip', ['tuntap', 'add', 'dev', persistentName, 'mode', 'tap']);
const persistent = TapDevice.open({ name: persistentName, create: false });
out.persistentCreated = persistent.created;
persistent.start({ wake() {}, fail(error) { failures.push(error.message); } });
await persistent.close();
out.persistentExistsAfterClose = existsSync('/sys/class/net/' + persistentName);
try { TapDevice.open({ name: 'vxwnone' + process.pid % 1000, create: false }); } catch (e) { out.missing = e.message; }
console.log('RESULT ' + JSON.stringify(out));
// No process.exit: the child must end by itself (no worker or handle left behind).
`;

if (!isRoot) {
  console.error('\n!!! NOT ROOT: the TapDevice tests against the kernel are SKIPPED (they create network namespaces and TAP devices; run as root in CI)\n');
} else {
  test('TapDevice in a fresh network namespace: MTU, up, MAC, frames both ways, removed on close', () => {
    for (const command of ['ip', 'ping']) {
      if (!has(command)) throw new Error(`running as root but '${command}' is missing: install iproute2 and iputils-ping (CI expects them)`);
    }
    const ns = `vxwt${process.pid}`;
    const name = `vxw${process.pid}`.slice(0, 15);
    const persistentName = `vxwp${process.pid}`.slice(0, 15);
    execFileSync('ip', ['netns', 'add', ns]);
    try {
      execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      const run = child(CHILD.replace('process.argv.slice(2)', JSON.stringify([name, persistentName])), ['ip', 'netns', 'exec', ns]);
      assert.is(run.signal, null, `the child did not end by itself (a worker or handle left): ${run.stdout}${run.stderr}`);
      assert.is(run.code, 0, run.stdout + run.stderr);
      const line = run.stdout.split('\n').find((l) => l.startsWith('RESULT '));
      assert.ok(line, run.stdout + run.stderr);
      const out = JSON.parse(line!.slice(7));
      assert.is(out.created, true);
      assert.is(out.mtu, 1400);
      assert.is(out.sysMtu, 1400);
      assert.is(out.maxFrameLength, 1418);
      assert.is(out.sysFlags & 1, 1, 'IFF_UP');
      assert.is(out.mac, out.sysMac);
      assert.match(out.secondOpen, /^TAP_ERROR: TAP vxw\d+ is in use by another process/);
      assert.equal(out.arpRequest, { dst: 'ffffffffffff', src: out.mac.replace(/:/g, ''), sender: '10.77.0.1', length: 42 });
      assert.is(out.taken, 1);
      assert.is(out.rxDelta, 1, 'the kernel received the frame written with transmit');
      assert.match(out.neighbour, /lladdr 02:00:00:77:00:02/);
      assert.is(out.echoRequest, true, 'the ICMP echo request to the MAC we answered with arrived through receive()');
      assert.ok(out.wakes >= 1);
      assert.ok(out.closeMs <= 500, `close took ${out.closeMs} ms`);
      assert.is(out.existsAfterClose, false, 'the TAP this process created is gone');
      assert.is(out.counters.sent, 1);
      assert.ok(out.counters.received >= 2);
      assert.equal(out.failures, []);
      assert.is(out.persistentCreated, false);
      assert.is(out.persistentExistsAfterClose, true, 'a persistent TAP the user made is left');
      assert.match(out.missing, /create is false and no interface vxwnone\d+ exists/);
    } finally {
      spawnSync('ip', ['-n', ns, 'tuntap', 'del', 'dev', persistentName, 'mode', 'tap']);
      execFileSync('ip', ['netns', 'del', ns]);
    }
  });

  test('as nobody (no CAP_NET_ADMIN): TAP_PERMISSION and one sentence', () => {
    if (!has('setpriv')) throw new Error("running as root but 'setpriv' is missing: install util-linux (CI expects it)");
    const name = `vxwn${process.pid}`.slice(0, 15);
    const run = child(`
      import { TapDevice } from ${tapModule};
      try { TapDevice.open({ name: ${JSON.stringify(name)} }); console.log('OPENED'); } catch (e) { console.log('ERROR ' + e.code + ' ' + e.message); }
    `, ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all']);
    assert.is(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, new RegExp(`^ERROR TAP_PERMISSION creating TAP ${name} needs root or CAP_NET_ADMIN: (TUNSETIFF|opening /dev/net/tun) failed with (EPERM|EACCES)$`, 'm'));
  });
}

test.after(removeTemporaryDirs);
test.run();
