// The vxlan-wasm command, run as users run it (node bin/vxlan-wasm.mjs, against dist/).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encapsulate } from '../src/api';
import { PcapWriter, writePcap } from '../src/pcap/index';
import { temporaryDirs } from './helpers/temporary';

const { removeLater, removeTemporaryDirs, temporaryDir } = temporaryDirs();

const root = fileURLToPath(new URL('..', import.meta.url));
const fixture = (name: string) => join(root, 'test', 'fixtures', 'pcap', name);

function cli(...args: string[]) {
  const run = spawnSync(process.execPath, [join(root, 'bin', 'vxlan-wasm.mjs'), ...args], { cwd: root, encoding: 'utf8', timeout: 20000 });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

test('decode prints each frame of a text2pcap capture (checksums verified)', () => {
  const { code, stdout } = cli('decode', fixture('vxlan-arp.pcap'));
  assert.is(code, 0);
  const lines = stdout.trim().split('\n');
  assert.is(lines.length, 2);
  assert.match(lines[0], /^1 .* IPv4 10\.0\.0\.1:49152 > 10\.0\.0\.2:4789 VXLAN vni 42 inner 42 B 02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff ARP request who-has 192\.168\.0\.2 tell 192\.168\.0\.1$/);
});

test('decode --json prints the layers, and error codes for frames that fail, exit 1', () => {
  const good = encapsulate(new Uint8Array(60).fill(1), {
    vni: 7, source: { mac: '02:00:00:00:00:01', ip: 'fd00::1' }, destination: { mac: '02:00:00:00:00:02', ip: 'fd00::2' },
  });
  const bad = good.slice();
  bad[bad.length - 1] ^= 0xff; // corrupt the inner payload: the UDP checksum no longer verifies
  const file = join(temporaryDir('vxlan-cli-'), 'mixed.pcap');
  writeFileSync(file, writePcap([{ data: good }, { data: bad }]));
  const { code, stdout } = cli('decode', file, '--json');
  assert.is(code, 1);
  const [first, second] = stdout.trim().split('\n').map((line) => JSON.parse(line));
  assert.is(first.frame, 1);
  assert.is(first.ip.version, 6);
  assert.is(first.ip.source, 'fd00::1');
  assert.is(first.vxlan.vni, 7);
  assert.is(first.inner, '01'.repeat(60));
  assert.equal(second, { frame: 2, error: { code: 'BAD_UDP_CHECKSUM', layer: 'udp', offset: 14 + 40 + 6 } });
});

test('decode reports non-Ethernet link types instead of misreading them', () => {
  const { code, stdout } = cli('decode', fixture('two-links.pcapng'));
  assert.is(code, 1);
  assert.match(stdout, /^2 link type 101 is not Ethernet$/m);
});

test('decode /dev/zero fails at once with BAD_MAGIC, exit 1 (the file is read as a stream, not whole)', () => {
  const started = Date.now();
  const { code, stderr } = cli('decode', '/dev/zero');
  assert.is(code, 1, stderr);
  assert.match(stderr, /^vxlan-wasm: not a readable capture: BAD_MAGIC at offset 0/);
  assert.ok(Date.now() - started < 10000, 'well within the 20 s timeout');
});

test('decode prints each record as it arrives: frame 1 is out while the capture is still being written', async () => {
  const fifo = join(temporaryDir('vxlan-cli-fifo-'), 'live.pcap');
  execFileSync('mkfifo', [fifo]);
  const writer = new PcapWriter();
  const frame = (vni: number) => encapsulate(new Uint8Array(60).fill(vni), {
    vni, source: { mac: '02:00:00:00:00:01', ip: '10.0.0.1' }, destination: { mac: '02:00:00:00:00:02', ip: '10.0.0.2' },
  });
  const child = spawn(process.execPath, [join(root, 'bin', 'vxlan-wasm.mjs'), 'decode', fifo], { cwd: root });
  let stdout = '';
  child.stdout.on('data', (data) => (stdout += data));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const fd = openSync(fifo, 'w');
  try {
    writeSync(fd, writer.header());
    writeSync(fd, writer.record(frame(1)));
    const deadline = Date.now() + 15000;
    while (!stdout.includes('\n') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.match(stdout, /^1 .* VXLAN vni 1 /, 'frame 1 printed before the capture ended');
    assert.is(child.exitCode, null, 'still reading');
    writeSync(fd, writer.record(frame(2)));
  } finally {
    closeSync(fd);
  }
  assert.is(await exited, 0);
  assert.is(stdout.trim().split('\n').length, 2);
});

test('every option is checked before the file is opened: one sentence, exit 2', () => {
  const missing = join(root, 'no-such-capture.pcap');
  for (const [args, message] of [
    [['--port', '99999'], /--port 99999 is not a UDP port \(an integer in 1\.\.65535\)/],
    [['--port', '0'], /--port 0 is not a UDP port/],
    [['--port', '47a'], /--port 47a is not a UDP port/],
    [['--port', '1', '--port', '2', '--port', '3', '--port', '4', '--port', '5'], /--port was given 5 times; the decoder matches at most 4 ports/],
    [['--frobnicate'], /^vxlan-wasm: --frobnicate is not a flag of decode \(see vxlan-wasm decode --help\)\n$/],
  ] as const) {
    const run = cli('decode', missing, ...args);
    assert.is(run.code, 2, args.join(' '));
    assert.match(run.stderr, message);
    assert.not.match(run.stderr, /ENOENT/, 'the file was not opened');
  }
  const count = cli('demo', '--count', 'many');
  assert.is(count.code, 2);
  assert.match(count.stderr, /--count many is not a whole number of frames/);
  const absent = cli('decode', missing);
  assert.is(absent.code, 1);
  assert.match(absent.stderr, /^vxlan-wasm decode: .*no-such-capture\.pcap: no such file\n$/);
});

test('every mistake is one sentence on one line with a documented exit code: negative numbers, directories, unknown flags and words', () => {
  for (const [args, code, message] of [
    [['demo', '--count', '-3'], 2, /^vxlan-wasm: --count -3 is not a whole number of frames \(1\.\.999999\) \(vxlan-wasm --help prints the usage\)\n$/],
    [['forward', '--tap', 'vx0', '--vni', '-1', '--local', '127.0.0.1'], 2, /^vxlan-wasm forward: --vni: "-1" is not a VNI \(an integer in 0\.\.16777215\)\.\n$/],
    [['decode', root], 1, /^vxlan-wasm decode: .* is a directory, not a capture file\n$/],
    [['demo', 'extra'], 2, /^vxlan-wasm: demo takes no file or word there: extra \(vxlan-wasm --help prints the usage\)\n$/],
    [['demo', '--netns=yes'], 2, /^vxlan-wasm: --netns takes no value \(see vxlan-wasm demo --help\)\n$/],
    [['decode', '--port'], 2, /^vxlan-wasm: --port needs a value \(see vxlan-wasm decode --help\)\n$/],
    [['help', 'nope'], 2, /^vxlan-wasm: help nope: there is no command nope \(vxlan-wasm --help prints the usage\)\n$/],
  ] as const) {
    const run = cli(...args);
    assert.is(run.code, code, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, message, args.join(' '));
    assert.is(run.stdout, '', `${args.join(' ')}: nothing on stdout`);
  }
});

test('--help on every command, and help COMMAND, print that command\'s usage and exit 0', () => {
  for (const command of ['decode', 'forward', 'network', 'endpoint', 'agent', 'demo']) {
    for (const args of [[command, '--help'], [command, '-h'], ['help', command]]) {
      const run = cli(...args);
      assert.is(run.code, 0, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stdout, new RegExp(`^usage: vxlan-wasm ${command}`), args.join(' '));
      assert.is(run.stderr, '', args.join(' '));
    }
  }
  const overview = cli('help');
  assert.is(overview.code, 0);
  assert.match(overview.stdout, /^usage:\n/);
  assert.match(overview.stdout, /vxlan-wasm help \[COMMAND\]/);
});

test('--version prints the version in package.json', () => {
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const run = cli('--version');
  assert.is(run.code, 0);
  assert.is(run.stdout, `vxlan-wasm ${version}\n`);
});

test('usage errors exit 2 with a message', () => {
  const none = cli('decode');
  assert.is(none.code, 2);
  assert.match(none.stderr, /decode needs exactly one capture file/);
  const unknown = cli('frobnicate');
  assert.is(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command frobnicate/);
});

test('demo (the built CLI): two forwarders on loopback pass every check, and the capture it writes decodes', () => {
  const { code, stdout } = cli('demo', '--count', '200');
  assert.is(code, 0, stdout);
  assert.match(stdout, /^all checks passed: .*200\/200 datagrams/m);
  const [, capture] = stdout.match(/written to (\S+)/) ?? [];
  const [, hint] = stdout.match(/read it: (npx vxlan-wasm decode \S+ --port \d+ --port \d+)$/m) ?? [];
  removeLater(dirname(capture));
  assert.ok(hint !== undefined, stdout);
  // The hint runs as printed, from a clone (the package is not on PATH there: npx finds its bin).
  const [npx, ...args] = hint.split(' ');
  const decoded = spawnSync(npx, args, { cwd: root, encoding: 'utf8', timeout: 60_000 });
  assert.is(decoded.status, 0, `${hint}: ${decoded.stdout}${decoded.stderr}`);
  assert.match(decoded.stdout, /VXLAN vni 42/);
});

test.after(removeTemporaryDirs);

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('\n*** NOT ROOT: the `demo --netns | head` test (namespaces removed when stdout closes early) DID NOT RUN ***\n');
if (isRoot) {
  test('demo --netns whose stdout is closed early (| head -1) still removes its namespaces and exits by itself', async () => {
    const child = spawn(process.execPath, [join(root, 'bin', 'vxlan-wasm.mjs'), 'demo', '--netns'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const hang = setTimeout(() => child.kill('SIGKILL'), 60_000);
    try {
      // The first line names the namespaces; then the reader goes away, as head's would.
      const first = await new Promise<string>((resolve) => child.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString())));
      assert.match(first, new RegExp(`vxdemo-a-${child.pid}`));
      child.stdout.destroy();
      const code = await exited;
      assert.ok(code !== null, 'the demo did not finish within 60 s once its stdout was gone');
      const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').filter((line) => line.includes(`-${child.pid}`));
      assert.equal(left, [], 'the demo removed its namespaces');
    } finally {
      clearTimeout(hang);
      child.kill('SIGKILL');
      for (const side of ['a', 'b']) spawnSync('ip', ['netns', 'del', `vxdemo-${side}-${child.pid}`], { stdio: 'ignore' });
    }
  });
}

test.run();
