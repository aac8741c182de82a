import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EtherType, IpProtocol, etherTypeName, ipProtocolName } from '../../src/wire/protocols';
import * as wire from '../../src/wire/index';

test('protocol tables: IANA / IEEE values, names, unknown values passed through', () => {
  assert.equal([EtherType.IPv4, EtherType.IPv6, EtherType.ARP, EtherType.VLAN, EtherType.QinQ], [0x0800, 0x86dd, 0x0806, 0x8100, 0x88a8]);
  assert.equal([IpProtocol.ICMP, IpProtocol.TCP, IpProtocol.UDP, IpProtocol.ICMPv6], [1, 6, 17, 58]);
  assert.equal([IpProtocol.HopByHop, IpProtocol.Routing, IpProtocol.Fragment, IpProtocol.DestinationOptions], [0, 43, 44, 60]);
  assert.is(etherTypeName(0x86dd), 'IPv6');
  assert.is(etherTypeName(0x1234), '0x1234');
  assert.is(etherTypeName(0x0001), '0x0001');
  assert.is(ipProtocolName(17), 'UDP');
  assert.is(ipProtocolName(253), '0xfd');
});

test('index exposes every codec under its namespace', () => {
  for (const codec of [wire.ethernet, wire.ipv4, wire.ipv6, wire.udp, wire.vxlan]) {
    assert.type(codec.decode, 'function');
    assert.type(codec.encodeInto, 'function');
    assert.type(codec.encodingLength, 'function');
  }
  assert.is(wire.ipv4.IPV4_TTL, 8);
  assert.is(wire.formatIpv6(wire.parseIpv6('2001:DB8::1')), '2001:db8::1');
  assert.type(wire.ipv4HeaderChecksum, 'function');
  assert.type(wire.ipv6UpperLayer, 'function');
  assert.is(wire.EtherType.IPv6, 0x86dd);
});

test.run();
