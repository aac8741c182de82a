// Records in etcd across the dual-stack change: what the previous version wrote still reads as
// the IPv4 network or endpoint it is; IPv6-only and dual-stack records read; half a family, or a
// field of the wrong family, makes a record invalid (ignored and counted), never half-trusted.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkEndpointRecord, parseNetworkRecord } from '../../src/control/keys';

test('a network record of the previous version (subnet and gateway only) is an IPv4 network', () => {
  const old = '{"name":"blue","vni":42,"subnet":"10.42.0.0/24","gateway":"10.42.0.1","internal":false,"created":"2026-01-01T00:00:00.000Z"}';
  assert.equal(parseNetworkRecord(old), { name: 'blue', vni: 42, subnet: '10.42.0.0/24', gateway: '10.42.0.1', internal: false, created: '2026-01-01T00:00:00.000Z' });
});

test('IPv6-only and dual-stack network records; half a family or a wrong family is invalid', () => {
  const base = { name: 'n', vni: 9, internal: false, created: '' };
  assert.equal(parseNetworkRecord(JSON.stringify({ ...base, subnet6: 'FD00:9:0::/64', gateway6: 'fd00:9::1' })), { ...base, subnet6: 'fd00:9::/64', gateway6: 'fd00:9::1' });
  const dual = { ...base, subnet: '10.0.9.0/24', gateway: '10.0.9.1', subnet6: 'fd00:9::/64', gateway6: 'fd00:9::1' };
  assert.equal(parseNetworkRecord(JSON.stringify(dual)), dual);
  for (const bad of [
    { ...base },
    { ...base, subnet6: 'fd00:9::/64' },
    { ...base, subnet: '10.0.9.0/24', gateway: 'fd00:9::1' },
    { ...base, subnet: 'fd00:9::/64', gateway: '10.0.9.1' },
    { ...base, subnet6: '10.0.9.0/24', gateway6: '10.0.9.1' },
    { ...dual, subnet6: 42 },
  ]) assert.is(parseNetworkRecord(JSON.stringify(bad)), undefined, JSON.stringify(bad));
});

test('endpoint records: IPv4 (as before), IPv6 only, both; none, or a bad one, is invalid', () => {
  const base = { endpointId: 'e1', hostId: 'h1', mac: '02:00:00:00:00:01', name: 'web', aliases: [] };
  assert.equal(checkEndpointRecord({ ...base, ipv4: '10.0.9.2' }), { ...base, ipv4: '10.0.9.2' });
  assert.equal(checkEndpointRecord({ ...base, ipv6: 'FD00:9::0002' }), { ...base, ipv6: 'fd00:9::2' });
  assert.equal(checkEndpointRecord({ ...base, ipv4: '10.0.9.2', ipv6: 'fd00:9::2' }), { ...base, ipv4: '10.0.9.2', ipv6: 'fd00:9::2' });
  assert.is(checkEndpointRecord({ ...base }), undefined);
  assert.is(checkEndpointRecord({ ...base, ipv4: '10.0.9.2', ipv6: '10.0.9.3' }), undefined);
  assert.is(checkEndpointRecord({ ...base, ipv4: 'fd00:9::2' }), undefined);
});

test.run();
