// Property: every per-header codec in src/wire round-trips: encodeInto at a random offset of a
// buffer pre-filled with 0xa5 writes exactly encodingLength bytes (nothing outside), and decode at
// that offset gives the fields back.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ethernet, ipv4, ipv6, parseIp, udp, vxlan } from '../../src/index';

const RUNS = 300;

/** fast-check records have a null prototype; compare as plain data. */
const plain = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/** encodeInto at `offset` with 0xa5 around; returns the buffer and the length written. */
function encodeAt<T>(codec: { encodeInto(f: T, b: Uint8Array, o: number): number; encodingLength(f: T): number }, fields: T, offset: number, slack: number) {
  const length = codec.encodingLength(fields);
  const buf = new Uint8Array(offset + length + slack).fill(0xa5);
  const written = codec.encodeInto(fields, buf, offset);
  assert.is(written, length, 'encodeInto returns encodingLength');
  for (let i = 0; i < offset; i++) assert.is(buf[i], 0xa5, `byte ${i} before the header untouched`);
  for (let i = offset + length; i < buf.length; i++) assert.is(buf[i], 0xa5, `byte ${i} after the header untouched`);
  return buf;
}

const mac = fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':'));
const offset = fc.integer({ min: 0, max: 40 });
const slack = fc.integer({ min: 0, max: 8 });
const v4 = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => b.join('.'));
const v6 = fc.uint8Array({ minLength: 16, maxLength: 16 });
const u16 = fc.integer({ min: 0, max: 0xffff });

test(`ethernet: ${RUNS} random headers with 0..8 VLAN tags`, () => {
  const tag = fc.record({ tpid: fc.constantFrom(0x8100, 0x88a8, 0x9100), pcp: fc.integer({ min: 0, max: 7 }), dei: fc.boolean(), vid: fc.integer({ min: 0, max: 4095 }) });
  const etherType = u16.filter((t) => ![0x8100, 0x88a8, 0x9100].includes(t));
  fc.assert(fc.property(fc.record({ destination: mac, source: mac, etherType, vlans: fc.array(tag, { maxLength: 8 }) }), offset, slack, (fields, at, extra) => {
    const buf = encodeAt(ethernet, fields, at, extra);
    assert.equal(ethernet.decode(buf, at), plain(fields));
  }), { numRuns: RUNS });
});

test(`ipv4: ${RUNS} random headers with 0..40 bytes of options; the checksum helper verifies`, () => {
  const fields = fc.record({
    dscp: fc.integer({ min: 0, max: 63 }), ecn: fc.integer({ min: 0, max: 3 }), totalLength: u16, identification: u16,
    dontFragment: fc.boolean(), moreFragments: fc.boolean(), fragmentOffset: fc.integer({ min: 0, max: 0x1fff }),
    ttl: fc.integer({ min: 0, max: 255 }), protocol: fc.integer({ min: 0, max: 255 }), checksum: u16,
    source: v4, destination: v4, optionWords: fc.integer({ min: 0, max: 10 }), optionSeed: fc.nat(),
  }).map(({ optionWords, optionSeed, ...f }) => {
    const options = Uint8Array.from({ length: optionWords * 4 }, (_, i) => (i * 7 + optionSeed) & 0xff);
    return { version: 4 as const, ihl: 5 + optionWords, ...f, options };
  });
  fc.assert(fc.property(fields, offset, slack, (f, at, extra) => {
    const buf = encodeAt(ipv4, f, at, extra);
    const decoded = ipv4.decode(buf, at);
    assert.equal({ ...decoded, options: Array.from(decoded.options) }, { ...f, options: Array.from(f.options) });
    // ipv4HeaderChecksum computes as if the field were 0: writing it makes the header verify.
    const sum = ipv4.ipv4HeaderChecksum(buf, at, f.ihl * 4);
    buf[at + 10] = sum >> 8;
    buf[at + 11] = sum & 0xff;
    assert.is(ipv4.ipv4HeaderChecksum(buf, at, f.ihl * 4), sum);
  }), { numRuns: RUNS });
});

test(`ipv6: ${RUNS} random fixed headers`, () => {
  const fields = fc.record({
    trafficClass: fc.integer({ min: 0, max: 255 }), flowLabel: fc.integer({ min: 0, max: 0xfffff }), payloadLength: u16,
    nextHeader: fc.constantFrom(17, 6, 59, 58), hopLimit: fc.integer({ min: 0, max: 255 }), source: v6, destination: v6,
  });
  fc.assert(fc.property(fields, offset, slack, (f, at, extra) => {
    const text = (b: Uint8Array) => Array.from({ length: 8 }, (_, i) => ((b[2 * i] << 8) | b[2 * i + 1]).toString(16)).join(':');
    const header = { version: 6 as const, ...f, source: text(f.source), destination: text(f.destination), extensionHeaders: [] };
    // Only upper-layer Next Header values: the fixed header then decodes on its own.
    const buf = encodeAt(ipv6, header, at, extra);
    const decoded = ipv6.decode(buf, at);
    assert.equal({ ...decoded, source: undefined, destination: undefined }, { ...header, source: undefined, destination: undefined });
    assert.equal(Array.from(parseIp(decoded.source).bytes), Array.from(f.source));
    assert.equal(Array.from(parseIp(decoded.destination).bytes), Array.from(f.destination));
  }), { numRuns: RUNS });
});

test(`udp: ${RUNS} random headers`, () => {
  fc.assert(fc.property(fc.record({ sourcePort: u16, destinationPort: u16, length: u16, checksum: u16 }), offset, slack, (f, at, extra) => {
    const buf = encodeAt(udp, f, at, extra);
    assert.equal(udp.decode(buf, at), plain(f));
  }), { numRuns: RUNS });
});

test(`vxlan: ${RUNS} random headers, with and without Group Policy`, () => {
  const gbp = fc.option(fc.record({ group: u16, dontLearn: fc.boolean(), policyApplied: fc.boolean() }), { nil: undefined });
  fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffff }), gbp, offset, slack, (vni, g, at, extra) => {
    const buf = encodeAt(vxlan, { vni, gbp: g }, at, extra);
    const decoded = vxlan.decode(buf, at);
    assert.equal(decoded, g ? { flags: 0x88, vni, gbp: plain(g) } : { flags: 0x08, vni });
    assert.is(buf[at + 7], 0, 'the reserved byte is written as 0');
    if (!g) assert.equal(Array.from(buf.subarray(at + 1, at + 4)), [0, 0, 0], 'reserved bytes written as 0');
  }), { numRuns: RUNS });
});

test.run();
