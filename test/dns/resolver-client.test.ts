// The name server asked by real resolver clients: BIND's `dig` (Debian bind9-dnsutils, installed
// here with apt-get when missing, as root) and busybox's `nslookup` (busybox-static). They must
// print the table's addresses, dig must see the TTL and flags, retry a truncated answer over TCP by
// itself and get a forwarded name's answer. The clients run as child processes (asynchronously: the
// server answers from this process's event loop).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { NameServer, NameTable } from '../../src/dns';
import { hasCommand, isRoot, warnSkipped } from '../interop/tools';
import { FakeUpstream } from './dns-client';

const execFileAsync = promisify(execFile);

/** Whether `dig` is here, installing bind9-dnsutils first when root and it is not; why not otherwise. */
function digUnavailable(): string | undefined {
  if (hasCommand('dig')) return undefined;
  if (!isRoot) return 'dig is not installed and installing it needs root (apt-get install bind9-dnsutils)';
  const install = spawnSync('sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bind9-dnsutils'], { encoding: 'utf8', timeout: 300_000 });
  if (install.status !== 0 || !hasCommand('dig')) return `apt-get install bind9-dnsutils failed: ${(install.stderr ?? '').trim().split('\n').slice(-3).join(' / ') || install.error?.message}`;
  return undefined;
}

const lines = (text: string) => text.split('\n').map((line) => line.trim()).filter((line) => line.length > 0);

function serviceTable(): NameTable {
  const table = new NameTable();
  table.set('r1', { names: ['web', 'c1'], ipv4: ['10.0.9.11'], ipv6: ['fd00::11'] });
  table.set('r2', { names: ['web', 'c2'], ipv4: ['10.0.9.12'] });
  table.set('r3', { names: ['web', 'c3'], ipv4: ['10.0.9.13'] });
  for (let i = 0; i < 100; i++) table.set(`big${i}`, { names: ['big'], ipv4: [`10.0.10.${i + 1}`] });
  return table;
}

const digMissing = digUnavailable();
if (digMissing !== undefined) {
  warnSkipped('needs dig', ['dig: A, AAAA, TTL, rotation, TCP retry of a truncated answer, a forwarded name'], digMissing);
} else {
  test('dig: A, AAAA, TTL and flags, rotation, TCP retry of a truncated answer, a forwarded name', async () => {
    const upstream = await FakeUpstream.start('127.0.0.6', '192.0.2.66');
    const server = await NameServer.listen({ address: '127.0.0.1', port: 0, table: serviceTable(), upstreams: [upstream.endpoint] });
    try {
      const dig = async (...args: string[]) => (await execFileAsync('dig', ['@127.0.0.1', '-p', String(server.port), '+time=2', '+tries=1', ...args], { timeout: 15_000 })).stdout;
      assert.equal(lines(await dig('+short', 'web', 'A')).sort(), ['10.0.9.11', '10.0.9.12', '10.0.9.13']);
      assert.equal(lines(await dig('+short', 'C1.', 'AAAA')), ['fd00::11']);
      const full = await dig('+noall', '+answer', '+comments', 'c2', 'A');
      assert.match(full, /status: NOERROR/);
      assert.match(full, /flags: qr aa rd ra;/, 'authoritative, recursion available (an upstream is set)');
      assert.match(full, /^c2\.\s+5\s+IN\s+A\s+10\.0\.9\.12$/m, 'TTL 5');
      const nodata = await dig('+noall', '+comments', 'c2', 'AAAA');
      assert.match(nodata, /status: NOERROR/, 'NODATA, not NXDOMAIN');
      assert.match(nodata, /ANSWER: 0/);
      const firsts = new Set<string>();
      for (let i = 0; i < 3; i++) firsts.add(lines(await dig('+short', 'web', 'A'))[0]!);
      assert.is(firsts.size, 3, 'each replica first once in three queries');
      // 100 records do not fit dig's 1232-byte EDNS size: TC, and dig asks again over TCP itself.
      const big = await dig('+noall', '+answer', 'big', 'A');
      assert.is(lines(big).length, 100, 'all 100 records after the TCP retry');
      const truncated = lines(await dig('+short', '+notcp', '+ignore', 'big', 'A'));
      assert.ok(truncated.length > 10 && truncated.length < 100, `with +ignore dig shows the truncated UDP answer: ${truncated.length} records`);
      assert.equal(lines(await dig('+short', 'elsewhere.example', 'A')), ['192.0.2.66'], 'a name outside the network, answered by the upstream');
      assert.equal(lines(await dig('+short', '+tcp', 'elsewhere.example', 'A')), ['192.0.2.66'], 'and over TCP');
      const counters = server.counters();
      assert.is(counters.forwarded, 2);
      assert.is(counters.malformed, 0);
    } finally {
      await server.close();
      await upstream.close();
    }
  });
}

if (!hasCommand('busybox')) {
  const why = 'busybox is not installed (apt-get install busybox-static)';
  if (isRoot) test('busybox nslookup: tools', () => assert.unreachable(`${why}; as root this is a failure`));
  else warnSkipped('needs busybox', ['busybox nslookup: a name behind three replicas'], why);
} else {
  test('busybox nslookup: a name behind three replicas, and a container\'s own name', async () => {
    const server = await NameServer.listen({ address: '127.0.0.1', port: 0, table: serviceTable(), upstreams: [] });
    try {
      const nslookup = async (...args: string[]) => (await execFileAsync('busybox', ['nslookup', ...args, `127.0.0.1:${server.port}`], { timeout: 15_000 })).stdout;
      const addresses = (output: string) => [...output.matchAll(/^Address:\s+(\S+)$/gm)].map((match) => match[1]!).filter((address) => !address.includes(`:${server.port}`));
      assert.equal(addresses(await nslookup('-type=a', 'web')).sort(), ['10.0.9.11', '10.0.9.12', '10.0.9.13']);
      assert.equal(addresses(await nslookup('c1')).sort(), ['10.0.9.11', 'fd00::11'], 'A and AAAA');
    } finally {
      await server.close();
    }
  });
}

test.run();
