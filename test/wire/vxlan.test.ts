import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as vxlan from '../../src/wire/vxlan';
import { at, expectDecodeError, expectRangeError, VXLAN_GBP_IPV4_FRAME, VXLAN_IPV6_FRAME } from './fixtures';
import { fromHex } from '../helpers/bytes';

// The kernel's bytes: Linux vxlan with `gbp`, skb mark 0x4800c8 (D | A | group 200), VNI 5000;
// and plain RFC 7348 with VNI 6000.
const gbpHeader = VXLAN_GBP_IPV4_FRAME.subarray(42, 50);
const plainHeader = VXLAN_IPV6_FRAME.subarray(62, 70);

test('decode: Group Policy header from the kernel', () => {
  assert.equal(vxlan.decode(VXLAN_GBP_IPV4_FRAME, 42), {
    flags: 0x88, vni: 5000, gbp: { group: 200, dontLearn: true, policyApplied: true },
  });
});

test('decode: plain RFC 7348 header has no gbp, even with bits set where GBP would put them', () => {
  assert.equal(vxlan.decode(VXLAN_IPV6_FRAME, 62), { flags: 0x08, vni: 6000 });
  const reservedSet = fromHex('08 48 00 c8 00 17 70 ff'); // hand-made: reserved bits set, no G
  const header = vxlan.decode(reservedSet);
  assert.equal(header, { flags: 0x08, vni: 6000 });
  assert.ok(!('gbp' in header));
  assert.equal(vxlan.decode(fromHex('00 00 00 00 ff ff ff 00')), { flags: 0, vni: 0xffffff }); // no I: reported, not judged
});

test('decode: every truncated length is TRUNCATED at the header start', () => {
  for (let len = 0; len < 8; len++) {
    expectDecodeError(() => vxlan.decode(gbpHeader.subarray(0, len)), 'TRUNCATED', 'vxlan', 0, `len ${len}`);
    expectDecodeError(() => vxlan.decode(at(7, gbpHeader.subarray(0, len)), 7), 'TRUNCATED', 'vxlan', 7, `len ${len} at 7`);
    expectDecodeError(() => new vxlan.VxlanView(at(7, gbpHeader.subarray(0, len)), 7), 'TRUNCATED', 'vxlan', 7);
  }
});

test('encodeInto: the kernel bytes exactly, every reserved byte zeroed in a 0xa5 buffer', () => {
  const buf = new Uint8Array(7 + 8 + 3).fill(0xa5);
  assert.is(vxlan.encodeInto({ vni: 5000, gbp: { group: 200, dontLearn: true, policyApplied: true } }, buf, 7), 8);
  assert.equal(Array.from(buf.subarray(7, 15)), Array.from(gbpHeader));
  assert.ok(buf.subarray(0, 7).every((b) => b === 0xa5) && buf.subarray(15).every((b) => b === 0xa5));

  buf.fill(0xa5);
  assert.is(vxlan.encodeInto({ flags: 0xff, vni: 6000 }, buf, 7), 8); // flags is not consulted
  assert.equal(Array.from(buf.subarray(7, 15)), Array.from(plainHeader));
  assert.is(vxlan.encodingLength({ flags: 8, vni: 1 }), 8);
});

test('round trip at offset 7: VNI extremes, each GBP bit alone', () => {
  const cases = [
    { flags: 0x08, vni: 0 },
    { flags: 0x08, vni: 0xffffff },
    { flags: 0x88, vni: 1, gbp: { group: 0xffff, dontLearn: true, policyApplied: false } },
    { flags: 0x88, vni: 0x123456, gbp: { group: 0, dontLearn: false, policyApplied: true } },
  ];
  for (const fields of cases) {
    const buf = new Uint8Array(15).fill(0xa5);
    vxlan.encodeInto(fields, buf, 7);
    assert.equal(vxlan.decode(buf, 7), fields);
  }
  const buf = new Uint8Array(8);
  vxlan.encodeInto(cases[2], buf);
  assert.equal(Array.from(buf), Array.from(fromHex('88 40 ff ff 00 00 01 00')));
});

test('VxlanView reads in place', () => {
  const view = new vxlan.VxlanView(VXLAN_GBP_IPV4_FRAME, 42);
  assert.equal([view.flags, view.vni, view.group], [0x88, 5000, 200]);
});

test('encodeInto: range errors name the field; nothing is written', () => {
  const buf = new Uint8Array(16).fill(0xa5);
  for (const vni of [-1, 0x1000000, 1.5, NaN]) expectRangeError(() => vxlan.encodeInto({ vni }, buf), 'vni');
  for (const group of [-1, 0x10000, 0.5]) {
    expectRangeError(() => vxlan.encodeInto({ vni: 1, gbp: { group, dontLearn: false, policyApplied: false } }, buf), 'gbp.group');
  }
  expectRangeError(() => vxlan.encodeInto({ vni: 1 }, new Uint8Array(7)), 'buffer too small');
  expectRangeError(() => vxlan.encodeInto({ vni: 1 }, new Uint8Array(14), 7), 'buffer too small');
  assert.ok(buf.every((b) => b === 0xa5));
});

test.run();
