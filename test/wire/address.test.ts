import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  formatIpv4, formatIpv6, formatMac, parseIp, parseIpv4, parseIpv6, parseMac, writeIpv6,
} from '../../src/wire/address';
import { fromHex } from '../helpers/bytes';

const bytesOf = (a: Uint8Array) => Array.from(a);

test('MAC: parse any case and either separator, format lowercase with colons', () => {
  assert.equal(bytesOf(parseMac('02:00:5E:10:00:01')), [0x02, 0x00, 0x5e, 0x10, 0x00, 0x01]);
  assert.equal(bytesOf(parseMac('02-00-5e-10-00-01')), [0x02, 0x00, 0x5e, 0x10, 0x00, 0x01]);
  assert.is(formatMac(fromHex('ff 02 00 5e 10 00 01'), 1), '02:00:5e:10:00:01');
  assert.is(formatMac(fromHex('ff ff ff ff ff ff')), 'ff:ff:ff:ff:ff:ff');
});

test('MAC: invalid text is a TypeError quoting the text', () => {
  for (const bad of ['', '02:00:5e:10:00', '02:00:5e:10:00:01:02', '0200.5e10.0001', '02:00-5e:10:00:01',
    '2:0:5e:10:0:1', '02:00:5e:10:00:0g', ' 02:00:5e:10:00:01']) {
    assert.throws(() => parseMac(bad), (e: Error) => e instanceof TypeError && e.message.includes(JSON.stringify(bad)), bad);
  }
});

test('IPv4: parse and format', () => {
  assert.equal(bytesOf(parseIpv4('192.0.2.1')), [192, 0, 2, 1]);
  assert.equal(bytesOf(parseIpv4('0.0.0.0')), [0, 0, 0, 0]);
  assert.equal(bytesOf(parseIpv4('255.255.255.255')), [255, 255, 255, 255]);
  assert.is(formatIpv4(fromHex('00 0a 00 00 01'), 1), '10.0.0.1');
});

test('IPv4: invalid text (incl. leading zeros, which inet_aton reads as octal)', () => {
  for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '1.2.3.-4', ' 1.2.3.4', '1.2.3.4 ', '1..2.3', '0x1.2.3.4']) {
    assert.throws(() => parseIpv4(bad), (e: Error) => e instanceof TypeError && e.message.includes(JSON.stringify(bad)), bad);
  }
});

// RFC 5952 §4 (and the §2.1 list of equivalent spellings), each with its canonical form.
const canonical: [string, string][] = [
  ['2001:0db8::0001', '2001:db8::1'], // §4.1 leading zeros
  ['2001:db8:0:0:0:0:2:1', '2001:db8::2:1'], // §4.2.1 longest possible
  ['2001:db8::0:1', '2001:db8::1'],
  ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // §4.2.2 one 0 group is not "::"
  ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // §4.2.3 the longest run
  ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // §4.2.3 first run on a tie
  ['2001:DB8::1', '2001:db8::1'], // §4.3 lowercase
  ['2001:0db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // §2.1's spellings of one address
  ['2001:db8::0:1:0:0:1', '2001:db8::1:0:0:1'],
  ['2001:0db8::1:0:0:1', '2001:db8::1:0:0:1'],
  ['2001:db8:0:0:1::1', '2001:db8::1:0:0:1'],
  ['2001:db8:0000:0:1::1', '2001:db8::1:0:0:1'],
  ['2001:DB8:0:0:1::1', '2001:db8::1:0:0:1'],
  ['::', '::'],
  ['::1', '::1'],
  ['1::', '1::'],
  ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
  ['::2:3:4:5:6:7:8', '0:2:3:4:5:6:7:8'],
  ['fe80::ff:fe00:a', 'fe80::ff:fe00:a'],
  ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
  ['::ffff:192.0.2.1', '::ffff:192.0.2.1'], // §5 IPv4-mapped, dotted
  ['::FFFF:c000:0201', '::ffff:192.0.2.1'],
  ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'], // RFC 6052 prefix: not "mapped", so hex
  ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
];

test('IPv6: RFC 5952 canonical text', () => {
  for (const [input, expected] of canonical) assert.is(formatIpv6(parseIpv6(input)), expected, input);
});

test('IPv6: bytes in network order', () => {
  assert.equal(bytesOf(parseIpv6('2001:db8::1')), bytesOf(fromHex('20010db8000000000000000000000001')));
  assert.equal(bytesOf(parseIpv6('::ffff:1.2.3.4')), bytesOf(fromHex('00000000000000000000ffff01020304')));
  assert.is(formatIpv6(fromHex('ee 20010db8000000000000000000000002'), 1), '2001:db8::2');
});

test('IPv6: invalid text (incl. zone ids) is a TypeError quoting the text', () => {
  for (const bad of ['', ':', ':::', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '1::2::3', '12345::', 'fe80::1%eth0',
    '::ffff:1.2.3', '::ffff:256.1.1.1', '1.2.3.4::', '1:2:3:4:5:6:7:1.2.3.4', 'g::1', ' ::1', '::1 ',
    '1:2:3:4:5:6:7:8::', '::1:2:3:4:5:6:7:8', ':1::', '1::2:', '[::1]', '1.2.3.4']) {
    assert.throws(() => parseIpv6(bad), (e: Error) => e instanceof TypeError && e.message.includes(JSON.stringify(bad)), bad);
  }
});

test('IPv6: a bad text leaves the buffer untouched', () => {
  const buf = new Uint8Array(16).fill(0xa5);
  assert.throws(() => writeIpv6('1:2:3::4::5', buf), TypeError);
  assert.ok(buf.every((b) => b === 0xa5));
});

test('IPv6: random addresses agree with the WHATWG URL serializer and round trip', () => {
  // WHATWG's IPv6 serializer compresses exactly like RFC 5952 but writes IPv4-mapped in hex:
  // an independent oracle everywhere except ::ffff:0:0/96, which the table above covers.
  const group = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
  fc.assert(
    fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), (groups) => {
      const bytes = new Uint8Array(16);
      groups.forEach((g, i) => { bytes[2 * i] = g >> 8; bytes[2 * i + 1] = g & 0xff; });
      const text = formatIpv6(bytes);
      assert.equal(bytesOf(parseIpv6(text)), bytesOf(bytes));
      const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
      if (!mapped) assert.is(text, new URL(`http://[${text}]/`).hostname.slice(1, -1));
    }),
    { numRuns: 2000, seed: 5952 },
  );
});

test('parseIp tells the versions apart', () => {
  assert.equal(parseIp('10.0.0.1').version, 4);
  assert.equal(bytesOf(parseIp('10.0.0.1').bytes), [10, 0, 0, 1]);
  assert.equal(parseIp('fd00::1').version, 6);
  assert.is(parseIp('fd00::1').bytes.length, 16);
  assert.throws(() => parseIp('10.0.0.256'), (e: Error) => e instanceof TypeError && e.message.includes('10.0.0.256'));
  assert.throws(() => parseIp('fd00::g'), (e: Error) => e instanceof TypeError && e.message.includes('fd00::g'));
});

test.run();
