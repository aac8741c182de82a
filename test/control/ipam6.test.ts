// IPv6 IPAM's pure part: subnets, reserved blocks, the order a host tries addresses in, and the
// address pools both families share (address-pool.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chooseAddress6, contains6, defaultGateway6, ipv6Number, ipv6Text, overlaps6, parseSubnet6, unusableSubnet6Reason } from '../../src/control/ipam6';
import { ipv4Pool, ipv6Pool, poolsOf } from '../../src/control/address-pool';

test('parseSubnet6: canonical text, usable range base+1 .. the last address, gateway base+1', () => {
  const subnet = parseSubnet6('FD00:0009:0:0::/64');
  assert.is(subnet.cidr, 'fd00:9::/64');
  assert.is(subnet.prefixLength, 64);
  assert.is(subnet.count, 2n ** 64n - 1n);
  assert.is(defaultGateway6(subnet), 'fd00:9::1');
  assert.is(parseSubnet6('fd00:9::/120').count, 255n);
  assert.ok(contains6(subnet, 'fd00:9::ffff:ffff:ffff:ffff'), 'the last address is usable (no broadcast in IPv6)');
  assert.not.ok(contains6(subnet, 'fd00:9::'), 'the subnet-router anycast address is not');
  assert.not.ok(contains6(subnet, 'fd00:a::1'));
  assert.not.ok(contains6(subnet, '10.0.0.1'), 'an IPv4 address is in no IPv6 subnet');
  assert.is(ipv6Text(ipv6Number('fd00:9::1')), 'fd00:9::1');
});

test('parseSubnet6: every mistake is one sentence', () => {
  for (const [text, message] of [
    ['fd00:9::1/64', /host bits set; did you mean fd00:9::\/64\?/],
    ['fd00:9::', /not an IPv6 subnet/],
    ['10.0.0.0/24', /not an IPv6 subnet/],
    ['fd00::/47', /prefix length of an IPv6 overlay must be 48\.\.120/],
    ['fd00::/121', /prefix length of an IPv6 overlay must be 48\.\.120/],
    ['fd00::/129', /prefix length of an IPv6 overlay must be 48\.\.120/],
    ['fd00:::1/64', /not an IPv6 subnet/],
    ['fd00:9::/64 ', /not an IPv6 subnet/],
  ] as const) {
    assert.throws(() => parseSubnet6(text), message, text);
  }
});

test('reserved IPv6 blocks are refused with a sentence that says which; ULA and documentation are fine', () => {
  for (const [cidr, what] of [
    ['::/96', /unspecified, loopback/],
    ['::/64', /unspecified, loopback/],
    ['::ffff:0:0/96', /IPv4-mapped/],
    ['64:ff9b::/96', /NAT64 well-known prefix/],
    ['64:ff9b::/100', /NAT64/],
    ['fe80::/64', /link-local \(fe80::\/10\)/],
    ['febf:1::/64', /link-local/],
    ['ff02::/64', /multicast \(ff00::\/8\)/],
  ] as const) {
    assert.match(unusableSubnet6Reason(parseSubnet6(cidr)) ?? 'accepted', what, cidr);
  }
  for (const cidr of ['fd00:9::/64', '64:ff9b:1::/64', '2001:db8:1::/64', '2a01:4f8::/48', 'fec0::/64']) assert.is(unusableSubnet6Reason(parseSubnet6(cidr)), undefined, cidr);
});

test('overlaps6: nested and equal prefixes overlap, neighbours do not', () => {
  const a = parseSubnet6('fd00:9::/64');
  assert.ok(overlaps6(a, parseSubnet6('fd00:9::/48')));
  assert.ok(overlaps6(a, parseSubnet6('fd00:9::/64')));
  assert.ok(overlaps6(a, parseSubnet6('fd00:9::ff00/120')));
  assert.not.ok(overlaps6(a, parseSubnet6('fd00:a::/64')));
});

test('chooseAddress6: preferred when free; else from the seed\'s start, skipping taken ones; none when full; no walk over a /64', () => {
  const subnet = parseSubnet6('fd00:9::/64');
  assert.is(chooseAddress6(subnet, 'x', new Set(), 'fd00:9:0::5'), 'fd00:9::5', 'preferred, in canonical text');
  const first = chooseAddress6(subnet, 'host-a', new Set())!;
  assert.ok(contains6(subnet, first));
  assert.is(chooseAddress6(subnet, 'host-a', new Set()), first, 'stable for a seed');
  assert.is.not(chooseAddress6(subnet, 'host-a', new Set([first])), first, 'a taken address is skipped');
  const spread = new Set(Array.from({ length: 200 }, (_, i) => chooseAddress6(subnet, `host-${i}`, new Set())));
  assert.is(spread.size, 200, '200 seeds land on 200 addresses of a /64');
  const small = parseSubnet6('fd00:9::/120');
  const all = Array.from({ length: 255 }, (_, i) => ipv6Text(small.first + BigInt(i)));
  for (const free of [all[0], all[100], all[254]]) assert.is(chooseAddress6(small, 'seed', new Set(all.filter((ip) => ip !== free))), free, `finds ${free}`);
  assert.is(chooseAddress6(small, 'seed', new Set(all)), undefined);
  // A /64 with 1,000 taken: answered after at most 1,001 looks, never a walk over the subnet.
  let looks = 0;
  class CountingSet extends Set<string> {
    override has(value: string): boolean {
      looks++;
      return super.has(value);
    }
  }
  const taken = new CountingSet(Array.from({ length: 1000 }, (_, i) => ipv6Text(subnet.first + BigInt(i))));
  assert.ok(chooseAddress6(subnet, 'busy', taken) !== undefined);
  assert.ok(looks >= 1 && looks <= taken.size + 1, `${looks} looks into the taken set`);
  // Even when every probe finds its address taken, the search gives up after taken + 1 looks.
  const everyLookTaken = new (class extends Set<string> {
    override has(): boolean {
      looks++;
      return true;
    }
  })(['fd00::1', 'fd00::2']);
  looks = 0;
  assert.is(chooseAddress6(subnet, 'full', everyLookTaken), undefined);
  assert.is(looks, everyLookTaken.size + 1);
});

test('address pools: one per family a network has, the same interface for both', () => {
  const v4 = ipv4Pool('10.9.0.0/24', '10.9.0.1');
  const v6 = ipv6Pool('fd00:9::/64', 'fd00:9::1');
  assert.equal([v4.family, v4.prefixLength, v4.size], [4, 24, '254']);
  assert.equal([v6.family, v6.prefixLength, v6.size], [6, 64, String(2n ** 64n - 1n)]);
  assert.ok(v6.contains(v6.guess('h/0')));
  assert.ok(v4.contains(v4.guess('h/0')));
  const base = { name: 'n', vni: 1, internal: false, created: '' };
  assert.equal(poolsOf({ ...base, subnet: '10.9.0.0/24', gateway: '10.9.0.1' }).map((pool) => pool.family), [4]);
  assert.equal(poolsOf({ ...base, subnet6: 'fd00:9::/64', gateway6: 'fd00:9::1' }).map((pool) => pool.family), [6]);
  assert.equal(poolsOf({ ...base, subnet: '10.9.0.0/24', gateway: '10.9.0.1', subnet6: 'fd00:9::/64', gateway6: 'fd00:9::1' }).map((pool) => pool.family), [4, 6]);
});

test.run();
