// The vxlan-wasm command, run as users run it (node bin/vxlan-wasm.mjs, against dist/).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encapsulate } from '../src/api';
import { writePcap } from '../src/pcap/index';
import { removeLater, removeTemporaryDirs, temporaryDir } from './helpers/temporary';


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
  assert.match(lines[0], /^1 .* IPv4 10\.0\.0\.1:49152 > 10\.0\.0\.2:4789 VXLAN vni 42 inner 42 B 02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff$/);
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

test('usage errors exit 2 with a message', () => {
  const none = cli('decode');
  assert.is(none.code, 2);
  assert.match(none.stderr, /decode needs exactly one capture file/);
  const unknown = cli('frobnicate');
  assert.is(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command frobnicate/);
});

test('demo: two endpoints on loopback exchange frames intact, and its capture decodes', () => {
  const { code, stdout } = cli('demo', '--count', '4');
  assert.is(code, 0, stdout);
  assert.match(stdout, /4\/4 inner frames arrived intact/);
  assert.is((stdout.match(/intact$/gm) ?? []).length, 4);
  const [, capture, port] = stdout.match(/written to (\S+) \(try: vxlan-wasm decode \S+ --port (\d+)\)/) ?? [];
  removeLater(dirname(capture));
  const decoded = cli('decode', capture, '--port', port);
  assert.is(decoded.code, 0);
  assert.is(decoded.stdout.trim().split('\n').length, 4);
});

test.after(removeTemporaryDirs);

test.run();
