import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as ipv6 from '../../src/wire/ipv6';
import type { Ipv6Header } from '../../src/types';
import {
  at, expectDecodeError, expectRangeError, IPV6_FRAGMENT_FRAME_HEAD, MLD_HOP_BY_HOP_FRAME, VXLAN_IPV6_FRAME,
} from './fixtures';
import { fromHex } from '../helpers/bytes';

const outer = VXLAN_IPV6_FRAME.subarray(14, 54);

test('decode: the outer header of the kernel VXLAN-over-IPv6 frame', () => {
  assert.equal(ipv6.decode(VXLAN_IPV6_FRAME, 14), {
    version: 6, trafficClass: 0, flowLabel: 0, payloadLength: 114, nextHeader: 17, hopLimit: 64,
    source: '2001:db8::1', destination: '2001:db8::2', extensionHeaders: [],
  });
  assert.equal(ipv6.ipv6UpperLayer(VXLAN_IPV6_FRAME, 14), { protocol: 17, offset: 54 });
});

test('decode: Hop-by-Hop (MLDv2 report) and Fragment headers are walked', () => {
  const mld = ipv6.decode(MLD_HOP_BY_HOP_FRAME, 14);
  assert.equal([mld.source, mld.destination, mld.hopLimit, mld.nextHeader], ['fe80::ff:fe00:a', 'ff02::16', 1, 0]);
  assert.equal(mld.extensionHeaders, [{ type: 0, length: 8 }]);
  assert.equal(ipv6.ipv6UpperLayer(MLD_HOP_BY_HOP_FRAME, 14), { protocol: 58, offset: 62 });

  const fragment = ipv6.decode(IPV6_FRAGMENT_FRAME_HEAD, 14);
  assert.is(fragment.flowLabel, 0xe8ba9); // tcpdump: "flowlabel 0xe8ba9"
  assert.is(fragment.payloadLength, 568);
  assert.equal(fragment.extensionHeaders, [{ type: 44, length: 8 }]);
  assert.equal(ipv6.ipv6UpperLayer(IPV6_FRAGMENT_FRAME_HEAD, 14), { protocol: 58, offset: 62 });
});

/** A fixed header followed by `chain`: each entry [type, Hdr Ext Len], the last pointing at UDP. */
function withChain(chain: [number, number][]): Uint8Array {
  const parts: number[] = [];
  chain.forEach(([type, extLen], i) => {
    const next = i + 1 < chain.length ? chain[i + 1][0] : 17;
    const length = type === 44 ? 8 : (extLen + 1) * 8;
    parts.push(next, extLen, ...new Array(length - 2).fill(0));
  });
  const fixed = outer.slice();
  fixed[6] = chain.length ? chain[0][0] : 17;
  return new Uint8Array([...fixed, ...parts, ...new Array(8).fill(0)]);
}

test('decode: lengths are in 8-octet units past the first 8; Fragment is always 8', () => {
  const packet = withChain([[0, 1], [60, 0], [43, 2], [44, 0xff]]);
  assert.equal(ipv6.decode(packet).extensionHeaders, [
    { type: 0, length: 16 }, { type: 60, length: 8 }, { type: 43, length: 24 }, { type: 44, length: 8 },
  ]);
  assert.equal(ipv6.ipv6UpperLayer(packet), { protocol: 17, offset: 40 + 16 + 8 + 24 + 8 });
  assert.equal(ipv6.ipv6UpperLayer(at(7, packet), 7), { protocol: 17, offset: 7 + 40 + 16 + 8 + 24 + 8 });
});

test('decode: 8 extension headers are walked, a 9th is BAD_IPV6_EXTENSION at its offset', () => {
  assert.is(ipv6.decode(withChain(new Array(8).fill([60, 0]))).extensionHeaders.length, 8);
  const nine = at(7, withChain(new Array(9).fill([60, 0])));
  expectDecodeError(() => ipv6.decode(nine, 7), 'BAD_IPV6_EXTENSION', 'ipv6', 7 + 40 + 8 * 8);
  expectDecodeError(() => ipv6.ipv6UpperLayer(nine, 7), 'BAD_IPV6_EXTENSION', 'ipv6', 7 + 40 + 8 * 8);
});

test('decode: an extension header cut short is BAD_IPV6_EXTENSION at its offset', () => {
  const mld = MLD_HOP_BY_HOP_FRAME.subarray(14, 62);
  for (let len = 40; len < 48; len++) {
    expectDecodeError(() => ipv6.decode(at(7, mld.subarray(0, len)), 7), 'BAD_IPV6_EXTENSION', 'ipv6', 47, `len ${len}`);
  }
  const long = withChain([[0, 1]]).subarray(0, 40 + 15); // says 16 bytes, has 15
  expectDecodeError(() => ipv6.decode(long), 'BAD_IPV6_EXTENSION', 'ipv6', 40);
});

test('decode: every truncated fixed header is TRUNCATED at its start; BAD_IP_VERSION', () => {
  for (let len = 0; len < 40; len++) {
    expectDecodeError(() => ipv6.decode(outer.subarray(0, len)), 'TRUNCATED', 'ipv6', 0, `len ${len}`);
    expectDecodeError(() => ipv6.decode(at(7, outer.subarray(0, len)), 7), 'TRUNCATED', 'ipv6', 7, `len ${len} at 7`);
    expectDecodeError(() => ipv6.ipv6UpperLayer(at(7, outer.subarray(0, len)), 7), 'TRUNCATED', 'ipv6', 7);
  }
  const v4 = at(7, outer);
  v4[7] = 0x45;
  expectDecodeError(() => ipv6.decode(v4, 7), 'BAD_IP_VERSION', 'ipv6', 7);
});

test('encodeInto: the kernel bytes exactly, into a 0xa5 buffer', () => {
  for (const frame of [VXLAN_IPV6_FRAME, IPV6_FRAGMENT_FRAME_HEAD, MLD_HOP_BY_HOP_FRAME]) {
    const buf = new Uint8Array(44).fill(0xa5);
    assert.is(ipv6.encodeInto(ipv6.decode(frame, 14), buf), 40);
    assert.equal(Array.from(buf.subarray(0, 40)), Array.from(frame.subarray(14, 54)));
    assert.ok(buf.subarray(40).every((b) => b === 0xa5));
  }
});

test('encodeInto at offset 7 then decode: every field survives', () => {
  const fields: Ipv6Header = {
    version: 6, trafficClass: 0xb8, flowLabel: 0xfffff, payloadLength: 0xffff, nextHeader: 17, hopLimit: 255,
    source: 'fd00::1', destination: 'ff02::1:ff00:99', extensionHeaders: [],
  };
  assert.is(ipv6.encodingLength(fields), 40);
  const buf = new Uint8Array(7 + 40 + 8).fill(0xa5);
  assert.is(ipv6.encodeInto(fields, buf, 7), 40);
  assert.equal(Array.from(buf.subarray(7, 11)), Array.from(fromHex('6b 8f ff ff')));
  buf.fill(0, 47); // a UDP header's worth after it, so decode finds its upper layer
  assert.equal(ipv6.decode(buf, 7), fields);
});

test('encodeInto: range errors name the field; nothing is written', () => {
  const good = ipv6.decode(VXLAN_IPV6_FRAME, 14);
  const buf = new Uint8Array(64).fill(0xa5);
  const cases: [Partial<Record<keyof Ipv6Header, unknown>>, string][] = [
    [{ trafficClass: 256 }, 'trafficClass'], [{ flowLabel: 0x100000 }, 'flowLabel'], [{ flowLabel: -1 }, 'flowLabel'],
    [{ payloadLength: 0x10000 }, 'payloadLength'], [{ nextHeader: 256 }, 'nextHeader'], [{ hopLimit: 256 }, 'hopLimit'],
    [{ hopLimit: 0.5 }, 'hopLimit'], [{ version: 4 }, 'version'],
  ];
  for (const [change, field] of cases) expectRangeError(() => ipv6.encodeInto({ ...good, ...change } as Ipv6Header, buf), field);
  expectRangeError(() => ipv6.encodeInto(good, new Uint8Array(39)), 'buffer too small');
  assert.throws(() => ipv6.encodeInto({ ...good, source: 'fe80::1%eth0' }, buf), TypeError);
  assert.ok(buf.every((b) => b === 0xa5));
});

test.run();
