/** Writing classic pcap: header fields against the format description, records, round trips. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PcapWriter, readPcap, writePcap } from '../../src/pcap';

const packet = (length: number, seed: number) => Uint8Array.from({ length }, (_, i) => (seed * 7 + i) & 0xff);

test('file header: magic, version 2.4, zero reserved, snap length, link type, little-endian', () => {
  const view = new DataView(writePcap([]).buffer);
  assert.is(view.byteLength, 24);
  assert.is(view.getUint32(0, true), 0xa1b2c3d4);
  assert.equal([view.getUint16(4, true), view.getUint16(6, true)], [2, 4]);
  assert.equal([view.getUint32(8, true), view.getUint32(12, true)], [0, 0]);
  assert.equal([view.getUint32(16, true), view.getUint32(20, true)], [262144, 1]);
  const custom = new DataView(new PcapWriter({ linkType: 101, snapLength: 1600, nanosecond: true }).header().buffer);
  assert.is(custom.getUint32(0, true), 0xa1b23c4d);
  assert.equal([custom.getUint32(16, true), custom.getUint32(20, true)], [1600, 101]);
});

test('record: seconds, fraction, lengths, data', () => {
  const data = packet(70, 1);
  const t = 1_714_564_800_123_456_789n;
  const micro = new DataView(new PcapWriter().record(data, t).buffer);
  assert.equal([micro.getUint32(0, true), micro.getUint32(4, true), micro.getUint32(8, true), micro.getUint32(12, true)], [1_714_564_800, 123_456, 70, 70]);
  const nano = new PcapWriter({ nanosecond: true }).record(data, t);
  assert.is(new DataView(nano.buffer).getUint32(4, true), 123_456_789);
  assert.equal([...nano.subarray(16)], [...data]);
  // No timestamp: 0, so the same input always gives the same file.
  assert.equal([...new PcapWriter().record(data).subarray(0, 8)], [0, 0, 0, 0, 0, 0, 0, 0]);
});

test('encodeRecordInto writes at an offset and touches nothing else', () => {
  const writer = new PcapWriter();
  const data = packet(30, 2);
  const target = new Uint8Array(100).fill(0xa5);
  const written = writer.encodeRecordInto(target, 10, data, 5_000_000_001n);
  assert.is(written, 46);
  assert.equal([...target.subarray(10, 56)], [...writer.record(data, 5_000_000_001n)]);
  assert.ok(target.subarray(0, 10).every((b) => b === 0xa5) && target.subarray(56).every((b) => b === 0xa5));
  assert.throws(() => writer.encodeRecordInto(target, 60, data), RangeError);
});

test('snap length cuts the data and keeps the original length', () => {
  const file = readPcap(writePcap([{ data: packet(1500, 3) }], { snapLength: 128 }));
  assert.is(file.packets[0].data.length, 128);
  assert.is(file.packets[0].originalLength, 1500);
  assert.equal([...file.packets[0].data], [...packet(1500, 3).subarray(0, 128)]);
});

test('round trip, microseconds (truncated) and nanoseconds, through the streaming writer too', () => {
  const packets = [0, 1, 60, 1514, 9000].map((length, i) => ({ data: packet(length, i), timestampNs: 1_600_000_000_000_000_000n + BigInt(i) * 1_234_567_891n }));
  for (const nanosecond of [false, true]) {
    const bytes = writePcap(packets, { nanosecond, linkType: 101 });
    const writer = new PcapWriter({ nanosecond, linkType: 101 });
    const streamed = [writer.header(), ...packets.map((p) => writer.record(p.data, p.timestampNs))];
    assert.equal([...bytes], streamed.flatMap((part) => [...part]), 'streamed bytes equal the one-shot file');
    const file = readPcap(bytes);
    assert.is(file.format, 'pcap');
    assert.is(file.linkType, 101);
    assert.equal(file.packets.map((p) => [...p.data]), packets.map((p) => [...p.data]));
    const expected = packets.map((p) => (nanosecond ? p.timestampNs : (p.timestampNs / 1000n) * 1000n));
    assert.equal(file.packets.map((p) => p.timestampNs), expected);
  }
});

test('out-of-range options and timestamps are RangeErrors', () => {
  assert.throws(() => new PcapWriter({ linkType: 0x10000 }), RangeError);
  assert.throws(() => new PcapWriter({ linkType: -1 }), RangeError);
  assert.throws(() => new PcapWriter({ snapLength: 0 }), RangeError);
  assert.throws(() => new PcapWriter({ snapLength: 1.5 }), RangeError);
  assert.throws(() => new PcapWriter().record(packet(1, 0), -1n), RangeError);
  assert.throws(() => new PcapWriter().record(packet(1, 0), 2n ** 32n * 1_000_000_000n), RangeError);
  // The last second a 32-bit field holds (2106-02-07) is fine.
  assert.is(readPcap(writePcap([{ data: packet(1, 0), timestampNs: (2n ** 32n - 1n) * 1_000_000_000n }])).packets[0].timestampNs, (2n ** 32n - 1n) * 1_000_000_000n);
});

test.run();
