/**
 * Classic libpcap files (draft-ietf-opsawg-pcap, "PCAP Capture File Format").
 *
 * File header, once at the start, in the writer's byte order:
 *
 *                          1                   2                   3
 *      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   0 |                          Magic Number                         |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   4 |          Major Version        |         Minor Version         |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   8 |                           Reserved1                           |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  12 |                           Reserved2                           |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  16 |                            SnapLen                            |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  20 | FCS |f|0 0 0 0 0 0 0 0 0 0 0 0|         LinkType              |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Then, per packet, a 16-byte record header followed by Captured Packet Length bytes:
 *
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   0 |                      Timestamp (Seconds)                      |
 *   4 |            Timestamp (Microseconds or nanoseconds)            |
 *   8 |                    Captured Packet Length                     |
 *  12 |                    Original Packet Length                     |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  16 /                          Packet Data                          /
 *
 * There is no end marker: the file ends after the last record, so a file cut exactly between
 * two records is a valid, shorter capture (it is what a reader sees while tcpdump is writing).
 */
import { PcapError } from './errors';
import type { PcapPacket } from './types';

/** The magic as read in the writer's own byte order; its byte swap means the other order. */
export const PCAP_MAGIC_MICROSECONDS = 0xa1b2c3d4;
export const PCAP_MAGIC_NANOSECONDS = 0xa1b23c4d;
export const PCAP_VERSION_MAJOR = 2;
export const PCAP_VERSION_MINOR = 4;

export const FILE_HEADER = {
  magic: 0,
  versionMajor: 4,
  versionMinor: 6,
  reserved1: 8,
  reserved2: 12,
  snapLength: 16,
  linkTypeAndFcs: 20,
  length: 24,
} as const;

export const RECORD_HEADER = {
  seconds: 0,
  fraction: 4,
  capturedLength: 8,
  originalLength: 12,
  length: 16,
} as const;

/** "LinkType: a 16-bit unsigned value"; the upper bits of the word carry the FCS length, if known. */
const LINK_TYPE_MASK = 0xffff;

const MAGICS: ReadonlyArray<{ magic: number; littleEndian: boolean; nanoseconds: boolean }> = [
  { magic: PCAP_MAGIC_MICROSECONDS, littleEndian: true, nanoseconds: false },
  { magic: PCAP_MAGIC_NANOSECONDS, littleEndian: true, nanoseconds: true },
  { magic: 0xd4c3b2a1, littleEndian: false, nanoseconds: false },
  { magic: 0x4d3cb2a1, littleEndian: false, nanoseconds: true },
];

export interface ClassicHeader {
  littleEndian: boolean;
  nanoseconds: boolean;
  snapLength: number;
  linkType: number;
}

/** True when the first four bytes are one of the four classic magics (two resolutions, two orders). */
export function isClassicMagic(view: DataView): boolean {
  return view.byteLength >= 4 && MAGICS.some((m) => m.magic === view.getUint32(0, true));
}

/** Checks and reads the 24-byte file header. */
export function readClassicHeader(view: DataView): ClassicHeader {
  if (view.byteLength < 4) throw new PcapError('TRUNCATED', 0, 'file shorter than a magic number');
  const found = MAGICS.find((m) => m.magic === view.getUint32(FILE_HEADER.magic, true));
  if (!found) throw new PcapError('BAD_MAGIC', 0, `0x${view.getUint32(0, false).toString(16)}`);
  if (view.byteLength < FILE_HEADER.length) throw new PcapError('TRUNCATED', 0, 'file header');
  const { littleEndian, nanoseconds } = found;
  const major = view.getUint16(FILE_HEADER.versionMajor, littleEndian);
  if (major !== PCAP_VERSION_MAJOR) throw new PcapError('BAD_VERSION', 0, `major version ${major}`);
  return {
    littleEndian,
    nanoseconds,
    snapLength: view.getUint32(FILE_HEADER.snapLength, littleEndian),
    linkType: view.getUint32(FILE_HEADER.linkTypeAndFcs, littleEndian) & LINK_TYPE_MASK,
  };
}

/** A record header's fields; `capturedLength` bytes of packet data follow it. */
export interface ClassicRecordHeader {
  timestampNs: bigint;
  capturedLength: number;
  originalLength: number;
}

/** Reads the 16-byte record header at `offset` (the caller has checked the bytes are there). */
export function readClassicRecordHeader(view: DataView, offset: number, header: ClassicHeader): ClassicRecordHeader {
  const { littleEndian } = header;
  const seconds = BigInt(view.getUint32(offset + RECORD_HEADER.seconds, littleEndian));
  const fraction = BigInt(view.getUint32(offset + RECORD_HEADER.fraction, littleEndian));
  return {
    timestampNs: seconds * 1_000_000_000n + fraction * (header.nanoseconds ? 1n : 1000n),
    capturedLength: view.getUint32(offset + RECORD_HEADER.capturedLength, littleEndian),
    originalLength: view.getUint32(offset + RECORD_HEADER.originalLength, littleEndian),
  };
}

/** Yields the records after a header that `readClassicHeader` accepted. */
export function* classicRecords(bytes: Uint8Array, view: DataView, header: ClassicHeader): Generator<PcapPacket> {
  let offset = FILE_HEADER.length;
  while (offset < bytes.length) {
    if (bytes.length - offset < RECORD_HEADER.length) throw new PcapError('TRUNCATED', offset, 'record header');
    const record = readClassicRecordHeader(view, offset, header);
    const dataStart = offset + RECORD_HEADER.length;
    if (record.capturedLength > bytes.length - dataStart) {
      throw new PcapError('TRUNCATED', offset, `captured length ${record.capturedLength} runs past the end of the file`);
    }
    yield {
      timestampNs: record.timestampNs,
      data: bytes.subarray(dataStart, dataStart + record.capturedLength),
      originalLength: record.originalLength,
      interfaceId: 0,
      linkType: header.linkType,
    };
    offset = dataStart + record.capturedLength;
  }
}
