// Where names outside the overlay go: parsing "IP", "IP:PORT", "[IPv6]:PORT", and the defaults from
// resolv.conf without the ones that would point the server back at itself.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DnsError, defaultUpstreams, parseUpstream, resolvConfNameservers } from '../../src/dns';

test('parseUpstream: the three forms; anything else is BAD_UPSTREAM', () => {
  assert.equal(parseUpstream('192.0.2.53'), { address: '192.0.2.53', port: 53, family: 4 });
  assert.equal(parseUpstream('127.0.0.2:5353'), { address: '127.0.0.2', port: 5353, family: 4 });
  assert.equal(parseUpstream('fd00::53'), { address: 'fd00::53', port: 53, family: 6 });
  assert.equal(parseUpstream('[fd00::53]:5300'), { address: 'fd00::53', port: 5300, family: 6 });
  for (const bad of ['', 'dns.example', '1.2.3.4:0', '1.2.3.4:65536', '1.2.3.4:x', '[fd00::1]', '[1.2.3]:53', '300.1.1.1']) {
    assert.throws(() => parseUpstream(bad), (error: unknown) => error instanceof DnsError && error.code === 'BAD_UPSTREAM', bad);
  }
});

test('resolvConfNameservers: nameserver lines in order; comments, options and scoped addresses skipped', () => {
  const text = '# generated\nsearch example.com\nnameserver 10.255.255.53\n  nameserver   fd00::1 \n;nameserver 9.9.9.9\nnameserver fe80::1%eth0\noptions ndots:2\nnameserver 127.0.0.53\n';
  assert.equal(resolvConfNameservers(text), ['10.255.255.53', 'fd00::1', '127.0.0.53']);
});

test('defaultUpstreams: never the server itself; loopback stubs dropped only when the server listens on loopback', () => {
  const text = 'nameserver 127.0.0.53\nnameserver 10.0.9.1\nnameserver 192.0.2.1\nnameserver ::1\n';
  const names = (list: ReturnType<typeof defaultUpstreams>) => list.map((u) => `${u.address}:${u.port}`);
  assert.equal(names(defaultUpstreams('10.0.9.1', 53, text)), ['127.0.0.53:53', '192.0.2.1:53', '::1:53'], 'its own address dropped');
  assert.equal(names(defaultUpstreams('10.0.9.1', 5353, text)), ['127.0.0.53:53', '10.0.9.1:53', '192.0.2.1:53', '::1:53'], 'another port of the same address is another server');
  assert.equal(names(defaultUpstreams('127.0.0.1', 53, text)), ['10.0.9.1:53', '192.0.2.1:53']);
  assert.equal(defaultUpstreams('10.0.9.1', 53, ''), []);
  assert.ok(Array.isArray(defaultUpstreams('10.0.9.1', 53)), 'reads /etc/resolv.conf (or none) without throwing');
});

test.run();
