import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as udp from '../../src/wire/udp';
import type { UdpHeader } from '../../src/types';
import { at, expectDecodeError, expectRangeError, VXLAN_GBP_IPV4_FRAME, VXLAN_IPV6_FRAME } from './fixtures';

test('decode: the UDP headers of both kernel VXLAN frames', () => {
  // tcpdump: "192.0.2.1.60201 > 192.0.2.2.4789" and "2001:db8::1.35508 > 2001:db8::2.4789: [udp sum ok]"
  assert.equal(udp.decode(VXLAN_GBP_IPV4_FRAME, 34), { sourcePort: 60201, destinationPort: 4789, length: 114, checksum: 0x5800 });
  assert.equal(udp.decode(VXLAN_IPV6_FRAME, 54), { sourcePort: 35508, destinationPort: 4789, length: 114, checksum: 0x7611 });
  // UDP length counts the header: IPv4 total length 134 - 20 = 114 = frame bytes after offset 34.
  assert.is(VXLAN_GBP_IPV4_FRAME.length - 34, 114);
});

test('decode: every truncated length is TRUNCATED at the header start', () => {
  const header = VXLAN_GBP_IPV4_FRAME.subarray(34, 42);
  for (let len = 0; len < 8; len++) {
    expectDecodeError(() => udp.decode(header.subarray(0, len)), 'TRUNCATED', 'udp', 0, `len ${len}`);
    expectDecodeError(() => udp.decode(at(7, header.subarray(0, len)), 7), 'TRUNCATED', 'udp', 7, `len ${len} at 7`);
    expectDecodeError(() => new udp.UdpView(at(7, header.subarray(0, len)), 7), 'TRUNCATED', 'udp', 7);
  }
});

test('encodeInto: the kernel bytes exactly, into a 0xa5 buffer; round trip at offset 7', () => {
  for (const [frame, offset] of [[VXLAN_GBP_IPV4_FRAME, 34], [VXLAN_IPV6_FRAME, 54]] as const) {
    const fields = udp.decode(frame, offset);
    const buf = new Uint8Array(7 + 8 + 3).fill(0xa5);
    assert.is(udp.encodingLength(fields), 8);
    assert.is(udp.encodeInto(fields, buf, 7), 8);
    assert.equal(Array.from(buf.subarray(7, 15)), Array.from(frame.subarray(offset, offset + 8)));
    assert.ok(buf.subarray(0, 7).every((b) => b === 0xa5) && buf.subarray(15).every((b) => b === 0xa5));
    assert.equal(udp.decode(buf, 7), fields);
  }
});

test('UdpView reads and writes in place', () => {
  const frame = VXLAN_GBP_IPV4_FRAME.slice();
  const view = new udp.UdpView(frame, 34);
  assert.equal([view.sourcePort, view.destinationPort, view.length, view.checksum], [60201, 4789, 114, 0x5800]);
  view.checksum = 0xffff;
  view.destinationPort = udp.VXLAN_PORT_LINUX_LEGACY;
  assert.equal(udp.decode(frame, 34), { sourcePort: 60201, destinationPort: 8472, length: 114, checksum: 0xffff });
});

test('encodeInto: range errors name the field; nothing is written', () => {
  const good: UdpHeader = { sourcePort: 1, destinationPort: 4789, length: 8, checksum: 0 };
  const buf = new Uint8Array(16).fill(0xa5);
  for (const field of ['sourcePort', 'destinationPort', 'length', 'checksum'] as const) {
    for (const bad of [-1, 0x10000, 2.5, NaN]) expectRangeError(() => udp.encodeInto({ ...good, [field]: bad }, buf), field);
  }
  expectRangeError(() => udp.encodeInto(good, new Uint8Array(7)), 'buffer too small');
  expectRangeError(() => udp.encodeInto(good, new Uint8Array(14), 7), 'buffer too small');
  assert.ok(buf.every((b) => b === 0xa5));
});

test.run();
