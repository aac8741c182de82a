/**
 * Hand-built pcapng files, for what the tools here do not write: big-endian sections, other
 * timestamp resolutions and offsets, Simple Packet Blocks, several sections, and broken framing.
 * The builder below follows draft-ietf-opsawg-pcapng §3–4 and shares no code with the reader.
 */
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PcapError, readPcap } from '../../src/pcap';

const SHB = 0x0a0d0d0a;
const IDB = 1;
const SPB = 3;
const EPB = 6;

const pad4 = (n: number) => (n + 3) & ~3;

/** One block: type, total length, body padded with zeros to 32 bits, total length again. */
function block(type: number, body: Uint8Array, le: boolean, lengthOverride?: number): Uint8Array {
  const total = 12 + pad4(body.length);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  view.setUint32(0, type, le);
  view.setUint32(4, lengthOverride ?? total, le);
  out.set(body, 8);
  view.setUint32(total - 4, lengthOverride ?? total, le);
  return out;
}

function fields(le: boolean, layout: Array<[bits: 8 | 16 | 32 | 64, value: number | bigint]>): Uint8Array {
  const size = layout.reduce((sum, [bits]) => sum + bits / 8, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const [bits, value] of layout) {
    if (bits === 8) view.setUint8(at, Number(value));
    if (bits === 16) view.setUint16(at, Number(value), le);
    if (bits === 32) view.setUint32(at, Number(value), le);
    if (bits === 64) view.setBigInt64(at, BigInt(value), le);
    at += bits / 8;
  }
  return out;
}

const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
};

function option(code: number, value: Uint8Array, le: boolean): Uint8Array {
  const out = new Uint8Array(4 + pad4(value.length));
  out.set(fields(le, [[16, code], [16, value.length]]));
  out.set(value, 4);
  return out;
}

const shb = (le: boolean, major = 1) => block(SHB, fields(le, [[32, 0x1a2b3c4d], [16, major], [16, 0], [64, -1n]]), le);
const idb = (le: boolean, linkType: number, snapLength: number, ...options: Uint8Array[]) =>
  block(IDB, concat(fields(le, [[16, linkType], [16, 0], [32, snapLength]]), ...options), le);
const epb = (le: boolean, interfaceId: number, units: bigint, data: Uint8Array, originalLength = data.length) =>
  block(EPB, concat(fields(le, [[32, interfaceId], [32, units >> 32n], [32, units & 0xffff_ffffn], [32, data.length], [32, originalLength]]), data), le);
const spb = (le: boolean, originalLength: number, data: Uint8Array) => block(SPB, concat(fields(le, [[32, originalLength]]), data), le);
const tsresol = (le: boolean, value: number) => option(9, Uint8Array.of(value), le);
const tsoffset = (le: boolean, seconds: bigint) => option(14, fields(le, [[64, seconds]]), le);
const endOfOptions = (le: boolean) => option(0, new Uint8Array(0), le);

const packet = (length: number, seed: number) => Uint8Array.from({ length }, (_, i) => (seed + i) & 0xff);

function expectError(bytes: Uint8Array, code: string, offset: number) {
  try {
    readPcap(bytes);
  } catch (error) {
    assert.instance(error, PcapError);
    assert.is((error as PcapError).code, code, (error as Error).message);
    assert.is((error as PcapError).offset, offset, (error as Error).message);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

test('big-endian section: two interfaces of different link types and resolutions', () => {
  const le = false;
  const file = concat(
    shb(le),
    idb(le, 1, 65535, tsresol(le, 3), endOfOptions(le)), // milliseconds
    idb(le, 101, 0, tsresol(le, 0x80 | 10), tsoffset(le, 1000n)), // 1/1024 s, plus 1000 s
    epb(le, 0, 1_700_000_000_123n, packet(61, 1)),
    block(0x00000bad, packet(5, 9), le), // unknown block: skipped
    epb(le, 1, 512n, packet(20, 2), 1500),
  );
  assert.equal([...file.subarray(8, 12)], [0x1a, 0x2b, 0x3c, 0x4d]);
  const read = readPcap(file);
  assert.is(read.format, 'pcapng');
  assert.is(read.linkType, 1);
  assert.equal(read.packets.map((p) => [p.interfaceId, p.linkType, p.timestampNs, p.data.length, p.originalLength]), [
    [0, 1, 1_700_000_000_123_000_000n, 61, 61],
    [1, 101, 1_000_500_000_000n, 20, 1500],
  ]);
  assert.equal([...read.packets[0].data], [...packet(61, 1)]);
});

test('Simple Packet Blocks: interface 0, no timestamp, cut to the snapshot length', () => {
  const le = true;
  // Snapshot length 62: the second packet's body is padded to 64, but only 62 bytes were captured.
  const file = concat(shb(le), idb(le, 1, 62), spb(le, 59, packet(59, 3)), spb(le, 100, packet(62, 4)));
  const read = readPcap(file);
  assert.equal(read.packets.map((p) => [p.interfaceId, p.timestampNs, p.data.length, p.originalLength]), [
    [0, 0n, 59, 59],
    [0, 0n, 62, 100],
  ]);
  assert.equal([...read.packets[1].data], [...packet(62, 4)]);
});

test('a second section changes byte order and restarts interface numbering', () => {
  const file = concat(
    shb(true), idb(true, 1, 0), epb(true, 0, 1n, packet(14, 0)),
    shb(false), idb(false, 101, 0), epb(false, 0, 2n, packet(20, 5)),
  );
  assert.equal(readPcap(file).packets.map((p) => [p.interfaceId, p.linkType, p.timestampNs]), [
    [0, 1, 1000n],
    [0, 101, 2000n],
  ]);
  // Interface 1 of the first section does not exist in the second.
  expectError(concat(shb(true), idb(true, 1, 0), idb(true, 1, 0), shb(true), idb(true, 1, 0), epb(true, 1, 0n, packet(4, 0))), 'BAD_INTERFACE', 28 * 2 + 20 * 2 + 20);
});

test('a file with a section but no interface has link type -1', () => {
  assert.equal(readPcap(shb(true)), { format: 'pcapng', linkType: -1, packets: [] });
});

for (const le of [true, false]) {
  const order = le ? 'little' : 'big';
  const head = concat(shb(le), idb(le, 1, 0));
  const at = head.length;
  test(`${order}-endian: malformed blocks`, () => {
    const good = epb(le, 0, 0n, packet(14, 0));
    assert.is(readPcap(concat(head, good)).packets.length, 1);
    expectError(concat(head, block(EPB, packet(20, 0), le, 8)), 'BAD_BLOCK_LENGTH', at); // shorter than a header
    expectError(concat(head, block(EPB, packet(20, 0), le, 30)), 'BAD_BLOCK_LENGTH', at); // not a multiple of 4
    expectError(concat(head, block(0xbad, new Uint8Array(0), le, 4)), 'BAD_BLOCK_LENGTH', at);
    expectError(concat(head, block(EPB, packet(12, 0), le)), 'BAD_BLOCK_LENGTH', at); // below the EPB minimum
    expectError(concat(head, block(EPB, packet(20, 0), le, 1 << 20)), 'TRUNCATED', at); // longer than the file
    const mismatch = concat(head, good);
    new DataView(mismatch.buffer).setUint32(mismatch.length - 4, good.length + 4, le);
    expectError(mismatch, 'BAD_BLOCK_LENGTH', at);
    const overlong = concat(head, good);
    new DataView(overlong.buffer).setUint32(at + 20, 1000, le); // captured length beyond the block
    expectError(overlong, 'BAD_BLOCK_LENGTH', at);
    new DataView(overlong.buffer).setUint32(at + 20, 17, le); // 14 bytes padded to 16: one byte too many
    expectError(overlong, 'BAD_BLOCK_LENGTH', at);
    expectError(concat(head, epb(le, 1, 0n, packet(4, 0))), 'BAD_INTERFACE', at);
    expectError(concat(shb(le), spb(le, 4, packet(4, 0))), 'BAD_INTERFACE', 28);
    expectError(concat(shb(le), block(IDB, packet(4, 0), le)), 'BAD_BLOCK_LENGTH', 28); // below the IDB minimum
    expectError(block(SHB, fields(le, [[32, 0x1a2b3c4d], [16, 1], [16, 0]]), le), 'BAD_BLOCK_LENGTH', 0);
    expectError(concat(shb(le), idb(le, 1, 0, tsresol(le, 6).subarray(0, 2), fields(le, [[16, 200]]))), 'BAD_OPTION', 28);
    expectError(concat(shb(le), idb(le, 1, 0, option(9, Uint8Array.of(6, 0), le))), 'BAD_OPTION', 28);
    expectError(shb(le, 2), 'BAD_VERSION', 0);
    const badOrder = shb(le);
    badOrder[8] = 0x77;
    expectError(badOrder, 'BAD_MAGIC', 0);
    expectError(concat(head, shb(le).subarray(0, 10)), 'TRUNCATED', at);
  });
}

test('random corruption of real files: a result or a PcapError, nothing else, never a hang', () => {
  const files = ['vxlan-arp.pcap', 'vxlan-arp.pcapng', 'two-links.pcapng'].map(
    (name) => new Uint8Array(readFileSync(new URL(`../fixtures/pcap/${name}`, import.meta.url))),
  );
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: files.length - 1 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
      fc.nat(),
      (which, edits, cut) => {
        const bytes = files[which].slice();
        for (const [at, value] of edits) bytes[at % bytes.length] = value;
        try {
          const read = readPcap(bytes.subarray(0, cut % (bytes.length + 1)));
          for (const p of read.packets) assert.ok(p.data.byteOffset + p.data.length <= bytes.byteOffset + bytes.length);
        } catch (error) {
          if (!(error instanceof PcapError)) throw error;
        }
      },
    ),
    { seed: 0x7063_6170, numRuns: 3000 },
  );
});

test.run();
