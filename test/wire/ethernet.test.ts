import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as ethernet from '../../src/wire/ethernet';
import type { EthernetHeader } from '../../src/types';
import { at, expectDecodeError, expectRangeError, VXLAN_GBP_IPV4_FRAME, withTags } from './fixtures';
import { fromHex } from '../helpers/bytes';

const plain: EthernetHeader = { destination: '02:00:00:00:00:0b', source: '02:00:00:00:00:0a', etherType: 0x0800, vlans: [] };

test('decode: the kernel-sent VXLAN frame', () => {
  assert.equal(ethernet.decode(VXLAN_GBP_IPV4_FRAME), plain);
  assert.is(ethernet.headerLength(VXLAN_GBP_IPV4_FRAME), 14);
});

test('decode: one 802.1Q tag, then QinQ (802.1ad outside 802.1Q)', () => {
  const single = withTags(VXLAN_GBP_IPV4_FRAME, '81 00 60 64'); // PCP 3, VID 100
  assert.equal(ethernet.decode(single).vlans, [{ tpid: 0x8100, pcp: 3, dei: false, vid: 100 }]);
  assert.is(ethernet.decode(single).etherType, 0x0800);
  assert.is(ethernet.headerLength(single), 18);

  const qinq = withTags(VXLAN_GBP_IPV4_FRAME, '88 a8 e0 0a  81 00 1f ff'); // PCP 7 VID 10 / DEI, VID 4095
  assert.equal(ethernet.decode(qinq), {
    ...plain,
    vlans: [{ tpid: 0x88a8, pcp: 7, dei: false, vid: 10 }, { tpid: 0x8100, pcp: 0, dei: true, vid: 4095 }],
  });
  assert.equal(ethernet.decode(withTags(VXLAN_GBP_IPV4_FRAME, '91 00 00 05')).vlans, [{ tpid: 0x9100, pcp: 0, dei: false, vid: 5 }]);
});

test('decode: 8 tags are walked, a 9th is TOO_MANY_VLAN_TAGS at its own offset', () => {
  const eight = withTags(VXLAN_GBP_IPV4_FRAME, '81 00 00 01 '.repeat(8));
  assert.is(ethernet.decode(eight).vlans.length, 8);
  assert.is(ethernet.decode(eight).etherType, 0x0800);
  const nine = withTags(VXLAN_GBP_IPV4_FRAME, '81 00 00 01 '.repeat(9));
  expectDecodeError(() => ethernet.decode(nine), 'TOO_MANY_VLAN_TAGS', 'ethernet', 12 + 8 * 4);
  expectDecodeError(() => ethernet.decode(at(7, nine), 7), 'TOO_MANY_VLAN_TAGS', 'ethernet', 7 + 12 + 8 * 4);
});

test('decode: every truncated length is TRUNCATED at the header start', () => {
  const untagged = VXLAN_GBP_IPV4_FRAME.subarray(0, 14);
  const tagged = withTags(VXLAN_GBP_IPV4_FRAME, '88 a8 e0 0a  81 00 1f ff').subarray(0, 22);
  for (const header of [untagged, tagged]) {
    for (let len = 0; len < header.length; len++) {
      expectDecodeError(() => ethernet.decode(header.subarray(0, len)), 'TRUNCATED', 'ethernet', 0, `len ${len}`);
      expectDecodeError(() => ethernet.decode(at(7, header.subarray(0, len)), 7), 'TRUNCATED', 'ethernet', 7, `len ${len} at 7`);
    }
    assert.is(ethernet.decode(header).vlans.length, (header.length - 14) / 4);
  }
});

test('encodeInto: the kernel bytes exactly, nothing written past them', () => {
  const buf = new Uint8Array(20).fill(0xa5);
  assert.is(ethernet.encodeInto(plain, buf), 14);
  assert.equal(Array.from(buf.subarray(0, 14)), Array.from(VXLAN_GBP_IPV4_FRAME.subarray(0, 14)));
  assert.ok(buf.subarray(14).every((b) => b === 0xa5));
});

test('encodeInto: tags, at offset 7, round trip', () => {
  const fields: EthernetHeader = {
    destination: 'ff:ff:ff:ff:ff:ff', source: '02:00:5e:10:00:01', etherType: 0x86dd,
    vlans: [{ tpid: 0x88a8, pcp: 7, dei: false, vid: 10 }, { tpid: 0x8100, pcp: 0, dei: true, vid: 4095 }],
  };
  assert.is(ethernet.encodingLength(fields), 22);
  const buf = new Uint8Array(7 + 22 + 3).fill(0xa5);
  assert.is(ethernet.encodeInto(fields, buf, 7), 22);
  assert.equal(Array.from(buf.subarray(7, 29)), Array.from(fromHex('ffffffffffff 02005e100001 88a8e00a 81001fff 86dd')));
  assert.ok(buf.subarray(0, 7).every((b) => b === 0xa5) && buf.subarray(29).every((b) => b === 0xa5));
  assert.equal(ethernet.decode(buf, 7), fields);
});

test('encodeInto: range errors name the field; nothing is written', () => {
  const buf = new Uint8Array(64).fill(0xa5);
  const tag = { tpid: 0x8100, pcp: 0, dei: false, vid: 1 };
  expectRangeError(() => ethernet.encodeInto({ ...plain, etherType: 0x10000 }, buf), 'etherType');
  expectRangeError(() => ethernet.encodeInto({ ...plain, etherType: -1 }, buf), 'etherType');
  expectRangeError(() => ethernet.encodeInto({ ...plain, etherType: 1.5 }, buf), 'etherType');
  expectRangeError(() => ethernet.encodeInto({ ...plain, vlans: [{ ...tag, pcp: 8 }] }, buf), 'vlans[0].pcp');
  expectRangeError(() => ethernet.encodeInto({ ...plain, vlans: [tag, { ...tag, vid: 4096 }] }, buf), 'vlans[1].vid');
  expectRangeError(() => ethernet.encodeInto({ ...plain, vlans: [{ ...tag, tpid: 0x0800 }] }, buf), 'vlans[0].tpid');
  expectRangeError(() => ethernet.encodeInto({ ...plain, vlans: Array(9).fill(tag) }, buf), 'vlans');
  expectRangeError(() => ethernet.encodeInto(plain, new Uint8Array(13)), 'buffer too small');
  expectRangeError(() => ethernet.encodeInto(plain, new Uint8Array(20), 7), 'buffer too small');
  assert.throws(() => ethernet.encodeInto({ ...plain, source: '02:00:00:00:00' }, buf), TypeError);
  assert.ok(buf.every((b) => b === 0xa5));
});

test.run();
