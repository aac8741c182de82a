/**
 * Reading real captures (test/fixtures/pcap, made by text2pcap and mergecap: see its README) and
 * hand-built files for what no tool writes here (big-endian, odd resolutions, broken framing).
 */
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PcapError, pcapPackets, readPcap } from '../../src/pcap';

const FIXTURES = new URL('../fixtures/pcap/', import.meta.url);
const fixture = (name: string) => new Uint8Array(readFileSync(new URL(name, FIXTURES)));

/** The packet payloads of a text2pcap hex dump ("0000  08 00 …" lines; other lines start a new packet). */
function hexDumpPayloads(name: string): Uint8Array[] {
  const payloads: number[][] = [];
  for (const line of readFileSync(new URL(name, FIXTURES), 'utf8').split('\n')) {
    const match = /^([0-9a-f]{4})\s+((?:[0-9a-f]{2} ?)+)$/i.exec(line.trim());
    if (!match) continue;
    if (match[1] === '0000') payloads.push([]);
    payloads.at(-1)!.push(...match[2].trim().split(/\s+/).map((byte) => parseInt(byte, 16)));
  }
  return payloads.map((bytes) => Uint8Array.from(bytes));
}

const endsWith = (data: Uint8Array, tail: Uint8Array) =>
  data.length >= tail.length && data.subarray(data.length - tail.length).every((byte, i) => byte === tail[i]);

/** Times printed by `tshark -T fields -e frame.time_epoch` for the fixtures. */
const T1 = 1_714_564_800_123_456_000n;
const T2 = 1_714_564_801_000_789_000n;
const T_RAW = 1_714_564_800_500_000_000n;

function expectError(bytes: Uint8Array, code: string, offset?: number): PcapError {
  try {
    readPcap(bytes);
  } catch (error) {
    assert.instance(error, PcapError);
    const pcapError = error as PcapError;
    assert.is(pcapError.code, code, pcapError.message);
    if (offset !== undefined) assert.is(pcapError.offset, offset, pcapError.message);
    return pcapError;
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
}

test('classic pcap from text2pcap: header, timestamps, lengths, payload', () => {
  const bytes = fixture('vxlan-arp.pcap');
  const file = readPcap(bytes);
  const payloads = hexDumpPayloads('vxlan-arp.txt');
  assert.is(file.format, 'pcap');
  assert.is(file.linkType, 1);
  assert.equal(file.packets.map((p) => p.timestampNs), [T1, T2]);
  assert.equal(file.packets.map((p) => [p.data.length, p.originalLength, p.interfaceId, p.linkType]), [
    [92, 92, 0, 1],
    [92, 92, 0, 1],
  ]);
  file.packets.forEach((packet, i) => assert.ok(endsWith(packet.data, payloads[i]), `payload ${i}`));
  // A view, not a copy: same buffer, and writes show through.
  assert.is(file.packets[0].data.buffer, bytes.buffer);
  file.packets[1].data[0] ^= 0xff;
  assert.is(bytes[bytes.length - 92], file.packets[1].data[0]);
});

test('pcapng from text2pcap (if_tsresol 9) holds the same packets as the pcap', () => {
  const ng = readPcap(fixture('vxlan-arp.pcapng'));
  const classic = readPcap(fixture('vxlan-arp.pcap'));
  assert.is(ng.format, 'pcapng');
  assert.is(ng.linkType, 1);
  assert.equal(ng.packets.map((p) => p.timestampNs), [T1, T2]);
  assert.equal(ng.packets.map((p) => [...p.data]), classic.packets.map((p) => [...p.data]));
});

test('pcapng from mergecap with two interfaces of different link types', () => {
  const file = readPcap(fixture('two-links.pcapng'));
  assert.is(file.linkType, 1, 'the first interface');
  assert.equal(file.packets.map((p) => [p.interfaceId, p.linkType, p.data.length, p.timestampNs]), [
    [0, 1, 92, T1],
    [1, 101, 78, T_RAW],
    [0, 1, 92, T2],
  ]);
  assert.is(file.packets[1].data[0], 0x45, 'raw IP starts with the IPv4 version/IHL byte');
  assert.ok(endsWith(file.packets[1].data, hexDumpPayloads('raw-ipv4-vxlan.txt')[0]));
});

/** Byte-swaps every field of a little-endian classic pcap: what a big-endian host would have written. */
function swapClassic(le: Uint8Array): Uint8Array {
  const out = le.slice();
  const view = new DataView(out.buffer);
  const swap32 = (at: number) => view.setUint32(at, view.getUint32(at, true), false);
  const swap16 = (at: number) => view.setUint16(at, view.getUint16(at, true), false);
  [0, 8, 12, 16, 20].forEach(swap32);
  [4, 6].forEach(swap16);
  for (let at = 24; at < out.length; ) {
    const capturedLength = view.getUint32(at + 8, true);
    [at, at + 4, at + 8, at + 12].forEach(swap32);
    at += 16 + capturedLength;
  }
  return out;
}

test('big-endian classic pcap reads the same as little-endian', () => {
  const le = fixture('vxlan-arp.pcap');
  const be = swapClassic(le);
  assert.equal([...be.subarray(0, 4)], [0xa1, 0xb2, 0xc3, 0xd4]);
  const a = readPcap(le);
  const b = readPcap(be);
  assert.is(b.linkType, 1);
  assert.equal(b.packets.map((p) => [p.timestampNs, p.originalLength, [...p.data]]), a.packets.map((p) => [p.timestampNs, p.originalLength, [...p.data]]));
});

test('nanosecond magic (both orders) reads the fraction as nanoseconds', () => {
  const le = fixture('vxlan-arp.pcap');
  le.set([0x4d, 0x3c, 0xb2, 0xa1], 0); // 0xa1b23c4d little-endian
  assert.equal(readPcap(le).packets.map((p) => p.timestampNs), [1_714_564_800_000_123_456n, 1_714_564_801_000_000_789n]);
  const be = swapClassic(fixture('vxlan-arp.pcap'));
  be.set([0xa1, 0xb2, 0x3c, 0x4d], 0);
  assert.equal(readPcap(be).packets.map((p) => p.timestampNs), [1_714_564_800_000_123_456n, 1_714_564_801_000_000_789n]);
});

test('link type is the low 16 bits of the header word (FCS bits above are ignored)', () => {
  const bytes = fixture('vxlan-arp.pcap');
  new DataView(bytes.buffer).setUint32(20, 0x1000_0000 | 0x0400_0000 | 1, true);
  assert.is(readPcap(bytes).linkType, 1);
});

/** Every cut of `bytes`: a PcapError TRUNCATED at the cut record, or the packets before a boundary. */
function checkEveryTruncation(bytes: Uint8Array, boundaries: number[], packetEnds: number[]) {
  const all = readPcap(bytes).packets;
  for (let length = 0; length < bytes.length; length++) {
    const cut = bytes.subarray(0, length);
    if (boundaries.includes(length)) {
      const packets = readPcap(cut).packets;
      const expected = packetEnds.filter((end) => end <= length).length;
      assert.is(packets.length, expected, `cut at ${length}`);
      assert.equal(packets.map((p) => [...p.data]), all.slice(0, expected).map((p) => [...p.data]));
    } else {
      // The cut record starts at the last boundary before the cut (0 for the file header).
      const start = Math.max(0, ...boundaries.filter((b) => b <= length));
      const error = expectError(cut, 'TRUNCATED');
      assert.is(error.offset, length < 24 && boundaries[0] === 24 ? 0 : start, `cut at ${length}: ${error.message}`);
    }
  }
}

test('classic pcap: every truncated length', () => {
  const bytes = fixture('vxlan-arp.pcap');
  // 24-byte header, then records of 16 + 92 bytes.
  const boundaries = [24, 24 + 108, 24 + 216];
  assert.is(bytes.length, 24 + 216);
  checkEveryTruncation(bytes, boundaries, [132, 240]);
});

/** Block starts and ends of a little-endian pcapng, walked independently of the reader. */
function walkBlocks(bytes: Uint8Array): { ends: number[]; packetEnds: number[] } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ends: number[] = [];
  const packetEnds: number[] = [];
  for (let at = 0; at < bytes.length; ) {
    const type = view.getUint32(at, true);
    at += view.getUint32(at + 4, true);
    ends.push(at);
    if (type === 6 || type === 3) packetEnds.push(at);
  }
  return { ends, packetEnds };
}

for (const name of ['vxlan-arp.pcapng', 'two-links.pcapng']) {
  test(`${name}: every truncated length`, () => {
    const bytes = fixture(name);
    const { ends, packetEnds } = walkBlocks(bytes);
    assert.is(ends.at(-1), bytes.length);
    checkEveryTruncation(bytes, ends, packetEnds);
  });
}

test('pcapPackets is lazy: packets before a fault come out, then the PcapError', () => {
  const bytes = fixture('vxlan-arp.pcap');
  const iterator = pcapPackets(bytes.subarray(0, bytes.length - 1));
  assert.is(iterator.next().value?.timestampNs, T1);
  assert.throws(() => iterator.next(), (e: unknown) => e instanceof PcapError && e.code === 'TRUNCATED' && e.offset === 132);
  // A bad file header is reported at once, not at the first next().
  assert.throws(() => pcapPackets(new Uint8Array(24)), (e: unknown) => e instanceof PcapError && e.code === 'BAD_MAGIC');
});

test('classic pcap: bad magic, bad version, huge captured length', () => {
  expectError(new Uint8Array(0), 'TRUNCATED', 0);
  expectError(new TextEncoder().encode('GIF89a, not a capture'), 'BAD_MAGIC', 0);
  const version = fixture('vxlan-arp.pcap');
  version[4] = 3;
  expectError(version, 'BAD_VERSION', 0);
  const huge = fixture('vxlan-arp.pcap');
  new DataView(huge.buffer).setUint32(24 + 8, 0xffff_ffff, true);
  expectError(huge, 'TRUNCATED', 24);
});

test.run();
