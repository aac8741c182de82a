// IPAM's pure part: subnets, the order a host tries addresses in, the derived MAC.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chooseAddress, contains, macForHost, parseSubnet, startIndex } from '../../src/control/ipam';

test('parseSubnet: usable range without network and broadcast; /31 and /32 as RFC 3021 says', () => {
  assert.equal(parseSubnet('10.42.0.0/24'), { cidr: '10.42.0.0/24', base: 0x0a2a0000, prefixLength: 24, first: 0x0a2a0001, count: 254, netmask: '255.255.255.0' });
  assert.is(parseSubnet('10.43.0.0/30').count, 2);
  assert.is(parseSubnet('10.43.0.0/31').count, 2);
  assert.is(parseSubnet('10.43.0.7/32').count, 1);
  assert.is(parseSubnet('10.0.0.0/8').count, 2 ** 24 - 2);
});

test('parseSubnet: every mistake is one sentence', () => {
  for (const [text, message] of [
    ['10.42.0.1/24', /host bits set; did you mean 10\.42\.0\.0\/24\?/],
    ['10.42.0.0', /not an IPv4 subnet/],
    ['fd00::/64', /not an IPv4 subnet/],
    ['10.42.0.0/7', /prefix length must be 8\.\.32/],
    ['10.42.0.0/33', /prefix length must be 8\.\.32/],
    ['300.1.1.0/24', /not an IPv4 subnet/],
  ] as const) {
    assert.throws(() => parseSubnet(text), message, text);
  }
});

test('chooseAddress: the preferred address when free; else from the host id\'s start, skipping taken ones; none when full', () => {
  const subnet = parseSubnet('10.43.0.0/29');
  assert.is(chooseAddress(subnet, 'x', new Set(), '10.43.0.5'), '10.43.0.5');
  assert.is.not(chooseAddress(subnet, 'x', new Set(['10.43.0.5']), '10.43.0.5'), '10.43.0.5');
  assert.not.ok(contains(subnet, '10.43.0.7'), 'the broadcast address is not offered');
  const all = ['10.43.0.1', '10.43.0.2', '10.43.0.3', '10.43.0.4', '10.43.0.5', '10.43.0.6'];
  for (let i = 0; i < all.length; i++) {
    const taken = new Set(all.filter((_, j) => j !== i));
    assert.is(chooseAddress(subnet, `host-${i}`, taken), all[i], 'finds the one free address wherever it starts');
  }
  assert.is(chooseAddress(subnet, 'x', new Set(all)), undefined);
  assert.is(chooseAddress(subnet, 'x', new Set(), '10.99.0.1'), chooseAddress(subnet, 'x', new Set()), 'a preferred address outside the subnet is ignored');
});

test('the start and the MAC are stable functions of the host id, and spread out', () => {
  assert.is(startIndex('host-a', 254), startIndex('host-a', 254));
  const starts = new Set(Array.from({ length: 100 }, (_, i) => startIndex(`host-${i}`, 65534)));
  assert.ok(starts.size >= 99, `100 ids start at ${starts.size} distinct places in a /16`);
  assert.is(macForHost('host-a', 'blue'), macForHost('host-a', 'blue'));
  assert.is.not(macForHost('host-a', 'blue'), macForHost('host-a', 'red'));
  assert.match(macForHost('host-a', 'blue'), /^02(:[0-9a-f]{2}){5}$/, 'locally administered unicast');
});

test.run();
