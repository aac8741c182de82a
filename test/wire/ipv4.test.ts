import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as ipv4 from '../../src/wire/ipv4';
import type { Ipv4Header } from '../../src/types';
import { at, expectDecodeError, expectRangeError, IPV4_RECORD_ROUTE_FRAME, VXLAN_GBP_IPV4_FRAME } from './fixtures';

const outer = VXLAN_GBP_IPV4_FRAME.subarray(14, 34);
const recordRoute = IPV4_RECORD_ROUTE_FRAME.subarray(14, 74);

test('decode: the outer header of the kernel VXLAN frame', () => {
  const header = ipv4.decode(VXLAN_GBP_IPV4_FRAME, 14);
  assert.equal({ ...header, options: Array.from(header.options) }, {
    version: 4, ihl: 5, dscp: 0, ecn: 0, totalLength: 134, identification: 0x4589,
    dontFragment: false, moreFragments: false, fragmentOffset: 0, ttl: 64, protocol: 17,
    checksum: 0xb0da, source: '192.0.2.1', destination: '192.0.2.2', options: [],
  });
});

test('decode: 40 bytes of Record Route options, as a view into the frame', () => {
  const header = ipv4.decode(IPV4_RECORD_ROUTE_FRAME, 14);
  assert.is(header.ihl, 15);
  assert.is(header.dontFragment, true);
  assert.is(header.identification, 33337); // tcpdump: "id 33337"
  assert.is(header.protocol, 1);
  assert.is(header.options.length, 40);
  assert.is(header.options.buffer, IPV4_RECORD_ROUTE_FRAME.buffer);
  assert.is(header.options.byteOffset, IPV4_RECORD_ROUTE_FRAME.byteOffset + 34);
  // NOP, then Record Route (type 7, length 39, pointer 8) holding 192.0.2.1.
  assert.equal(Array.from(header.options.subarray(0, 8)), [1, 7, 39, 8, 192, 0, 2, 1]);
});

test('ipv4HeaderChecksum reproduces the checksums the kernel sent', () => {
  assert.is(ipv4.ipv4HeaderChecksum(VXLAN_GBP_IPV4_FRAME, 14, 20), 0xb0da);
  assert.is(ipv4.ipv4HeaderChecksum(IPV4_RECORD_ROUTE_FRAME, 14, 60), 0x4033);
  // The inner IPv4 header of the VXLAN frame too (Ethernet 50..63, IPv4 from 64).
  assert.is(ipv4.ipv4HeaderChecksum(VXLAN_GBP_IPV4_FRAME, 64, 20), 0xbca9);
  expectRangeError(() => ipv4.ipv4HeaderChecksum(outer, 0, 22), 'headerLen');
  expectRangeError(() => ipv4.ipv4HeaderChecksum(outer, 4, 20), 'buffer too small');
});

test('decode: BAD_IP_VERSION and BAD_IHL at the header start', () => {
  const v6 = at(7, outer);
  v6[7] = 0x65;
  expectDecodeError(() => ipv4.decode(v6, 7), 'BAD_IP_VERSION', 'ipv4', 7);
  const ihl4 = at(7, outer);
  ihl4[7] = 0x44;
  expectDecodeError(() => ipv4.decode(ihl4, 7), 'BAD_IHL', 'ipv4', 7);
});

test('decode: every truncated length is TRUNCATED at the header start', () => {
  for (const header of [outer, recordRoute]) {
    for (let len = 0; len < header.length; len++) {
      expectDecodeError(() => ipv4.decode(header.subarray(0, len)), 'TRUNCATED', 'ipv4', 0, `len ${len}`);
      expectDecodeError(() => ipv4.decode(at(7, header.subarray(0, len)), 7), 'TRUNCATED', 'ipv4', 7, `len ${len} at 7`);
    }
  }
});

test('encodeInto: the kernel bytes exactly, into a 0xa5 buffer', () => {
  for (const header of [outer, recordRoute]) {
    const fields = ipv4.decode(header);
    const buf = new Uint8Array(header.length + 4).fill(0xa5);
    assert.is(ipv4.encodingLength(fields), header.length);
    assert.is(ipv4.encodeInto(fields, buf), header.length);
    assert.equal(Array.from(buf.subarray(0, header.length)), Array.from(header));
    assert.ok(buf.subarray(header.length).every((b) => b === 0xa5));
  }
});

test('encodeInto at offset 7 then decode: every field survives; checksum filled in afterwards', () => {
  const fields: Ipv4Header = {
    version: 4, ihl: 6, dscp: 46, ecn: 3, totalLength: 1500, identification: 0xbeef,
    dontFragment: true, moreFragments: true, fragmentOffset: 0x1fff, ttl: 255, protocol: 17,
    checksum: 0, source: '10.0.0.1', destination: '255.255.255.255', options: new Uint8Array([0x94, 0x04, 0, 0]),
  };
  const buf = new Uint8Array(7 + 24).fill(0xa5);
  assert.is(ipv4.encodeInto(fields, buf, 7), 24);
  const decoded = ipv4.decode(buf, 7);
  assert.equal({ ...decoded, options: Array.from(decoded.options) }, { ...fields, options: [0x94, 4, 0, 0] });
  assert.is(buf[7 + ipv4.IPV4_FLAGS_FRAGMENT_OFFSET] & 0x80, 0, 'reserved flag bit written as 0');

  const sum = ipv4.ipv4HeaderChecksum(buf, 7, 24);
  ipv4.encodeInto({ ...fields, checksum: sum }, buf, 7);
  assert.is(ipv4.decode(buf, 7).checksum, sum);
  assert.is(ipv4.ipv4HeaderChecksum(buf, 7, 24), sum, 'the checksum field itself is not summed');
});

test('encodeInto: range errors name the field; nothing is written', () => {
  const good = ipv4.decode(outer);
  const buf = new Uint8Array(64).fill(0xa5);
  const cases: [Partial<Record<keyof Ipv4Header, unknown>>, string][] = [
    [{ dscp: 64 }, 'dscp'], [{ ecn: 4 }, 'ecn'], [{ totalLength: 0x10000 }, 'totalLength'],
    [{ identification: -1 }, 'identification'], [{ fragmentOffset: 0x2000 }, 'fragmentOffset'],
    [{ ttl: 256 }, 'ttl'], [{ ttl: 1.5 }, 'ttl'], [{ protocol: 256 }, 'protocol'], [{ checksum: 0x10000 }, 'checksum'],
    [{ version: 6 }, 'version'], [{ ihl: 6 }, 'ihl'],
    [{ ihl: 6, options: new Uint8Array(3) }, 'options'], [{ ihl: 16, options: new Uint8Array(44) }, 'options'],
  ];
  for (const [change, field] of cases) expectRangeError(() => ipv4.encodeInto({ ...good, ...change } as Ipv4Header, buf), field);
  expectRangeError(() => ipv4.encodeInto(good, new Uint8Array(19)), 'buffer too small');
  expectRangeError(() => ipv4.encodeInto(good, new Uint8Array(26), 7), 'buffer too small');
  assert.throws(() => ipv4.encodeInto({ ...good, destination: '10.0.0.256' }, buf), TypeError);
  assert.ok(buf.every((b) => b === 0xa5));
});

test.run();
