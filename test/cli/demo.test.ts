// `vxlan-wasm demo`, run from source in a child process (node --import tsx, a small runner calling
// demoCommand), as the CLI runs it: it must finish by itself (no handle left open), exit 0 with
// every step shown, and leave a pcap the library decodes. As root, `--netns` runs once too (TAP,
// kernel vxlan peer, system ping, iperf3) and must leave no namespace behind; as a non-root user
// it must refuse with one sentence and exit 2.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decapsulate } from '../../src/api';
import { demoCommand } from '../../src/cli/demo';
import { readPcap } from '../../src/pcap/index';
import { temporaryDirs } from '../helpers/temporary';

const { removeTemporaryDirs, temporaryDir } = temporaryDirs();

const root = fileURLToPath(new URL('../..', import.meta.url));
const isRoot = process.getuid?.() === 0;

/** Run the demo in a child: `wrap` (e.g. setpriv as nobody) in front of node. */
function demo(options: { count?: number; netns?: boolean; pcap?: string; underlaySocketBytes?: number }, wrap: string[] = [], timeout = 30_000) {
  const dir = temporaryDir('vxlan-demo-test-');
  chmodSync(dir, 0o755); // readable by `nobody` too
  const runner = join(dir, 'runner.mts');
  writeFileSync(runner, `
import { demoCommand } from ${JSON.stringify(join(root, 'src/cli/demo.ts'))};
const options = JSON.parse(process.argv[2]);
process.exitCode = await demoCommand({ ...options, write: (line) => process.stdout.write(line + '\\n') });
`);
  chmodSync(runner, 0o644);
  const command = [...wrap, process.execPath, '--import', 'tsx', runner, JSON.stringify(options)];
  const run = spawnSync(command[0], command.slice(1), {
    cwd: root, encoding: 'utf8', timeout, env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
  });
  return { code: run.status, signal: run.signal, stdout: run.stdout, stderr: run.stderr };
}

test('the rootless demo: ARP flooded then unicast, ping, a complete UDP stream, MACs learned, counters, a sample frame; exits by itself with 0', () => {
  const pcap = join(temporaryDir('vxlan-demo-pcap-'), 'overlay.pcap');
  const { code, signal, stdout, stderr } = demo({ count: 3000, pcap });
  assert.is(signal, null, `the demo did not exit by itself within 30 s (a handle left open?)\n${stdout}${stderr}`);
  assert.is(code, 0, stdout + stderr);
  // The two VTEPs, on loopback with ports the kernel chose.
  const [, portA] = /forwarder A {2}underlay udp 127\.0\.0\.1:(\d+)/.exec(stdout) ?? [];
  const [, portB] = /forwarder B {2}underlay udp 127\.0\.0\.2:(\d+)/.exec(stdout) ?? [];
  assert.ok(portA && portB, stdout);
  // ARP through the overlay: the request flooded by A, the reply unicast by B (it learned a's MAC).
  assert.match(stdout, /A -> B {2}VNI 42 {2}42 B 02:00:00:00:00:0a > ff:ff:ff:ff:ff:ff ARP request who-has 10\.42\.0\.2 tell 10\.42\.0\.1 {2}flooded/);
  assert.match(stdout, /B -> A {2}VNI 42 {2}42 B 02:00:00:00:00:0b > 02:00:00:00:00:0a ARP reply 10\.42\.0\.2 is-at 02:00:00:00:00:0b {2}unicast/);
  assert.match(stdout, new RegExp(`B learned 02:00:00:00:00:0a behind A \\(127\\.0\\.0\\.1:${portA}\\)`));
  assert.match(stdout, new RegExp(`A learned 02:00:00:00:00:0b behind B \\(127\\.0\\.0\\.2:${portB}\\)`));
  assert.match(stdout, /a resolved 10\.42\.0\.2 is-at 02:00:00:00:00:0b/);
  // ARP requests are retried until a reply comes: the first may wait for B's reader thread to
  // start, which takes seconds on a busy machine. Every request is traced and answered.
  const arpRequests = (stdout.match(/^ {2}A -> B .* ARP request who-has 10\.42\.0\.2 /gm) ?? []).length;
  const arpReplies = (stdout.match(/^ {2}B -> A .* ARP reply 10\.42\.0\.2 is-at /gm) ?? []).length;
  assert.ok(arpRequests >= 1, stdout);
  assert.is(arpReplies, arpRequests, 'each ARP request answered once');
  // Ping and the stream.
  assert.is((stdout.match(/echo reply \d from 10\.42\.0\.2: [\d.]+ ms/g) ?? []).length, 3);
  assert.match(stdout, /3\/3 replies, rtt min\/median\/max [\d.]+\/[\d.]+\/[\d.]+ ms/);
  assert.match(stdout, /sent 3000; b received 3000 \(0 lost, 0 out of order, 0 duplicated\)/);
  assert.match(stdout, /\d+ datagrams\/s, \d+\.\d\d Gbit\/s of UDP payload/);
  // The FDBs, then the counters table with both columns.
  assert.match(stdout, new RegExp(`A: 02:00:00:00:00:0b -> B \\(127\\.0\\.0\\.2:${portB}\\) learned`));
  assert.match(stdout, new RegExp(`B: 02:00:00:00:00:0a -> A \\(127\\.0\\.0\\.1:${portA}\\) learned`));
  // A sent its ARP requests, 3 echo requests and the stream; B as many ARP replies and 3 echo replies.
  const small = 3 + arpRequests;
  assert.match(stdout, new RegExp(`^ {2}frames device -> underlay +${3000 + small} +${small}$`, 'm'));
  assert.match(stdout, new RegExp(`^ {2}frames underlay -> device +${small} +${3000 + small}$`, 'm'));
  assert.match(stdout, new RegExp(`^ {2}flooded to every peer +${arpRequests} +0$`, 'm'));
  assert.match(stdout, /^ {2}batches from device +\d+ \(mean [\d.]+\)/m);
  assert.match(stdout, /^ {2}drops \(any reason\) +0 +0$/m);
  // The sample frame, and where the capture went.
  assert.match(stdout, /VXLAN header 08 00 00 00 00 00 2a 00: flags 0x08 \(I: VNI valid\), VNI 42/);
  assert.match(stdout, /inner frame {2}98 B 02:00:00:00:00:0a > 02:00:00:00:00:0b IPv4 10\.42\.0\.1 > 10\.42\.0\.2 ICMP echo request/);
  assert.match(stdout, /RECONSTRUCTED with encapsulate\(\)/);
  assert.ok(stdout.includes(`written to ${pcap}`), stdout);
  assert.match(stdout, /all checks passed/);

  // The capture: the ARP requests and replies, 3 echo requests and replies (in time order, which
  // interleaves as the replies come back), then 2 stream datagrams; all VNI 42.
  const file = readPcap(readFileSync(pcap));
  assert.is(file.packets.length, 2 * small + 2);
  const ports = [Number(portA), Number(portB)];
  const decoded = file.packets.map((packet) => decapsulate(packet.data, { ports }));
  for (const frame of decoded) assert.is(frame.vxlan.vni, 42);
  const before = decoded.slice(0, 2 * small);
  assert.is(before.filter((frame) => frame.udp.destinationPort === Number(portB)).length, small, 'A -> B before the stream');
  assert.is(before.filter((frame) => frame.udp.destinationPort === Number(portA)).length, small, 'B -> A before the stream');
  assert.equal([...decoded[0].inner.subarray(0, 6)], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 'the first is the broadcast ARP request');
  for (const frame of decoded.slice(2 * small)) {
    assert.is(frame.udp.destinationPort, Number(portB));
    assert.is(frame.inner.length, 1442, 'the last two are stream datagrams');
  }
});

test('the rootless demo with the socket buffers a user gets from a stock kernel (212992 B, doubled): the stream loses nothing', () => {
  // Before the window was sized to b's socket buffer, 1024 datagrams in flight overflowed this
  // one whenever b's reader thread waited for a core, and some 700 of 3000 were dropped.
  const { code, signal, stdout, stderr } = demo({ count: 3000, pcap: join(temporaryDir('vxlan-demo-pcap-'), 'overlay.pcap'), underlaySocketBytes: 212_992 });
  assert.is(signal, null, `the demo did not exit by itself within 30 s\n${stdout}${stderr}`);
  const [, window, buffer] = /at most (\d+) in flight \(what b's socket buffer of (\d+) KiB holds\)/.exec(stdout) ?? [];
  assert.ok(window !== undefined, stdout);
  assert.ok(Number(window) * 4 <= Number(buffer), `a window of ${window} datagrams fits ${buffer} KiB`);
  assert.match(stdout, /sent 3000; b received 3000 \(0 lost, 0 out of order, 0 duplicated\)/);
  assert.match(stdout, /^ {2}drops \(any reason\) +0 +0$/m);
  assert.is(code, 0, stdout + stderr);
});

test('demoCommand checks --count and the socket buffer size before it opens anything', async () => {
  for (const count of [0, -1, 1.5, 1_000_001]) {
    await demoCommand({ count, write: () => {} }).then(
      () => assert.unreachable(`count ${count} was accepted`),
      (error: Error) => assert.match(error.message, /--count must be 1\.\.1000000/),
    );
  }
  for (const underlaySocketBytes of [0, 4095, 1.5, 2 ** 30 + 1]) {
    await demoCommand({ underlaySocketBytes, write: () => {} }).then(
      () => assert.unreachable(`underlaySocketBytes ${underlaySocketBytes} was accepted`),
      (error: Error) => assert.match(error.message, /underlaySocketBytes must be an integer in 4096\.\.1073741824/),
    );
  }
});

if (isRoot) {
  test('--netns as a non-root user: one sentence, exit 2', () => {
    const { code, stdout, stderr } = demo({ netns: true }, ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']);
    assert.is(code, 2, stdout + stderr);
    assert.is(stdout, '');
    assert.match(stderr, /^vxlan-wasm demo --netns needs root: it makes network namespaces, a veth pair, a TAP and a kernel vxlan device/);
  });

  test('--netns (root): forwarder with a TAP <-> kernel vxlan in namespaces, ping both ways, iperf3, nothing left behind', () => {
    // 45 s against a hang: on a loaded machine the reader threads' start and iperf3's connections take seconds.
    const { code, signal, stdout, stderr } = demo({ netns: true }, [], 45_000);
    const [, pid] = /namespace vxdemo-a-(\d+)/.exec(stdout) ?? [];
    const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').filter((line) => pid !== undefined && line.includes(`-${pid}`));
    assert.equal(left, [], 'the demo removed its namespaces');
    assert.is(signal, null, `--netns did not finish within 45 s\n${stdout}${stderr}`);
    assert.is(code, 0, stdout + stderr);
    assert.match(stdout, /^ping 10\.42\.0\.2 in vxdemo-a-\d+ until the first reply/m);
    assert.match(stdout, /^ {2}first reply after [\d.]+ ms$/m);
    assert.is((stdout.match(/3 packets transmitted, 3 received/g) ?? []).length, 2, stdout);
    assert.match(stdout, /forwarder learned [0-9a-f:]{17} behind 10\.77\.0\.2:4789/);
    const iperf = spawnSync('sh', ['-c', 'command -v iperf3']).status === 0;
    if (iperf) assert.is((stdout.match(/iperf3 TCP 3 s, .*: \d+\.\d\d Gbit\/s/g) ?? []).length, 2, stdout);
    assert.match(stdout, /^ {2}drops \(any reason\) +0$/m);
    assert.match(stdout, /all checks passed/);
  });
} else {
  console.warn('\n*** NOT ROOT: the `vxlan-wasm demo --netns` tests (namespaces, TAP, kernel vxlan, ping, iperf3) DID NOT RUN ***\n');
}

test.after(removeTemporaryDirs);

test.run();
