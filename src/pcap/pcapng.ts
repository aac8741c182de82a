/**
 * pcapng files (draft-ietf-opsawg-pcapng, "PCAP Now Generic").
 *
 * A file is a sequence of blocks, each a multiple of 4 bytes, in the byte order its section's
 * Section Header Block declares:
 *
 *                          1                   2                   3
 *      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *     +---------------------------------------------------------------+
 *   0 |                          Block Type                           |
 *   4 |                      Block Total Length                       |
 *   8 /                          Block Body (padded to 32 bits)       /
 *     |                      Block Total Length                       |
 *     +---------------------------------------------------------------+
 *
 * Bodies of the blocks read here (offsets from the block start):
 *   Section Header  (0x0A0D0D0A): 8 Byte-Order Magic, 12 Major, 14 Minor, 16 Section Length (64), 24 options
 *   Interface Descr.(0x00000001): 8 LinkType (16), 10 Reserved, 12 SnapLen, 16 options
 *   Enhanced Packet (0x00000006): 8 Interface ID, 12 Timestamp upper, 16 lower, 20 Captured Length,
 *                                 24 Original Length, 28 Packet Data (padded), options
 *   Simple Packet   (0x00000003): 8 Original Length, 12 Packet Data (padded)
 * Options: Option Code (16), Option Length (16), value padded to 32 bits; code 0 ends the list.
 * Every other block type is skipped by its length, as the spec asks of readers that do not know it.
 */
import { PcapError } from './errors';
import type { PcapPacket } from './types';

export const BlockType = {
  SECTION_HEADER: 0x0a0d0d0a,
  INTERFACE_DESCRIPTION: 0x00000001,
  SIMPLE_PACKET: 0x00000003,
  ENHANCED_PACKET: 0x00000006,
} as const;

/** Written as 0x1A2B3C4D in the writer's byte order; reading it tells us which order that was. */
export const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
export const PCAPNG_VERSION_MAJOR = 1;

const BLOCK = { type: 0, totalLength: 4, body: 8, trailerLength: 4, minLength: 12 } as const;
const SECTION = { byteOrderMagic: 8, versionMajor: 12, minLength: 28 } as const;
const INTERFACE = { linkType: 8, snapLength: 12, options: 16, minLength: 20 } as const;
const ENHANCED = { interfaceId: 8, timestampHigh: 12, timestampLow: 16, capturedLength: 20,
  originalLength: 24, data: 28, minLength: 32 } as const;
const SIMPLE = { originalLength: 8, data: 12, minLength: 16 } as const;

const OPTION = { code: 0, length: 2, value: 4, endOfOptions: 0, tsresol: 9, tsoffset: 14 } as const;

const MIN_LENGTH: Record<number, number> = {
  [BlockType.SECTION_HEADER]: SECTION.minLength,
  [BlockType.INTERFACE_DESCRIPTION]: INTERFACE.minLength,
  [BlockType.ENHANCED_PACKET]: ENHANCED.minLength,
  [BlockType.SIMPLE_PACKET]: SIMPLE.minLength,
};

interface Interface {
  linkType: number;
  snapLength: number;
  /** Timestamp units per second: 10^6 unless if_tsresol says otherwise. */
  unitsPerSecond: bigint;
  /** if_tsoffset: seconds to add to every timestamp. */
  offsetSeconds: bigint;
}

/** Reads a Section Header Block's byte order; the block type is a palindrome, so it reads the same either way. */
export function readSectionByteOrder(view: DataView, offset: number): boolean {
  if (view.byteLength - offset < SECTION.byteOrderMagic + 4) throw new PcapError('TRUNCATED', offset, 'section header');
  const magic = view.getUint32(offset + SECTION.byteOrderMagic, true);
  if (magic === BYTE_ORDER_MAGIC) return true;
  if (magic === 0x4d3c2b1a) return false;
  throw new PcapError('BAD_MAGIC', offset, `byte-order magic 0x${magic.toString(16)}`);
}

/** Checks a block's framing and returns its total length; after this, reads inside it are in bounds. */
function checkBlockLength(view: DataView, offset: number, type: number, littleEndian: boolean): number {
  const totalLength = view.getUint32(offset + BLOCK.totalLength, littleEndian);
  const minLength = MIN_LENGTH[type] ?? BLOCK.minLength;
  if (totalLength % 4 !== 0 || totalLength < minLength) {
    throw new PcapError('BAD_BLOCK_LENGTH', offset, `length ${totalLength} for block type 0x${type.toString(16)}`);
  }
  if (totalLength > view.byteLength - offset) throw new PcapError('TRUNCATED', offset, `block of ${totalLength} bytes`);
  const trailer = view.getUint32(offset + totalLength - BLOCK.trailerLength, littleEndian);
  if (trailer !== totalLength) {
    throw new PcapError('BAD_BLOCK_LENGTH', offset, `leading length ${totalLength}, trailing length ${trailer}`);
  }
  return totalLength;
}

function readInterface(view: DataView, offset: number, totalLength: number, littleEndian: boolean): Interface {
  const found: Interface = {
    linkType: view.getUint16(offset + INTERFACE.linkType, littleEndian),
    snapLength: view.getUint32(offset + INTERFACE.snapLength, littleEndian),
    unitsPerSecond: 1_000_000n,
    offsetSeconds: 0n,
  };
  const optionsEnd = offset + totalLength - BLOCK.trailerLength;
  // Options start 4-aligned and the block ends 4-aligned, so each step below leaves a multiple of 4.
  for (let at = offset + INTERFACE.options; at < optionsEnd; ) {
    const code = view.getUint16(at + OPTION.code, littleEndian);
    if (code === OPTION.endOfOptions) break;
    const length = view.getUint16(at + OPTION.length, littleEndian);
    const value = at + OPTION.value;
    if (value + length > optionsEnd) throw new PcapError('BAD_OPTION', offset, `option ${code} runs past its block`);
    if (code === OPTION.tsresol) {
      if (length !== 1) throw new PcapError('BAD_OPTION', offset, `if_tsresol of length ${length}`);
      // "If the Most Significant Bit is equal to zero, the remaining bits indicates the resolution
      // of the timestamp as a negative power of 10 (…). If the Most Significant Bit is equal to
      // one, the remaining bits indicates the resolution as negative power of 2."
      const tsresol = view.getUint8(value);
      const exponent = BigInt(tsresol & 0x7f);
      found.unitsPerSecond = tsresol & 0x80 ? 2n ** exponent : 10n ** exponent;
    } else if (code === OPTION.tsoffset) {
      if (length !== 8) throw new PcapError('BAD_OPTION', offset, `if_tsoffset of length ${length}`);
      found.offsetSeconds = view.getBigInt64(value, littleEndian);
    }
    at = value + ((length + 3) & ~3);
  }
  return found;
}

function toNanoseconds(units: bigint, iface: Interface): bigint {
  return (units * 1_000_000_000n) / iface.unitsPerSecond + iface.offsetSeconds * 1_000_000_000n;
}

/** What the caller learns as the blocks go by: the first interface's link type (-1 before one is seen). */
export interface PcapngState {
  firstLinkType: number;
}

/** Yields the packets of a pcapng file whose first bytes are a Section Header Block type. */
export function* pcapngRecords(bytes: Uint8Array, view: DataView, state: PcapngState): Generator<PcapPacket> {
  let littleEndian = true;
  let interfaces: Interface[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    if (bytes.length - offset < BLOCK.body) throw new PcapError('TRUNCATED', offset, 'block header');
    // The section type is the same in both byte orders, so this test is safe before the order is known.
    const isSection = view.getUint32(offset + BLOCK.type, littleEndian) === BlockType.SECTION_HEADER;
    if (isSection) littleEndian = readSectionByteOrder(view, offset);
    const type = view.getUint32(offset + BLOCK.type, littleEndian);
    const totalLength = checkBlockLength(view, offset, type, littleEndian);

    if (type === BlockType.SECTION_HEADER) {
      const major = view.getUint16(offset + SECTION.versionMajor, littleEndian);
      if (major !== PCAPNG_VERSION_MAJOR) throw new PcapError('BAD_VERSION', offset, `major version ${major}`);
      // Interface IDs are numbered per section: a new section starts a new list.
      interfaces = [];
    } else if (type === BlockType.INTERFACE_DESCRIPTION) {
      const iface = readInterface(view, offset, totalLength, littleEndian);
      if (state.firstLinkType < 0) state.firstLinkType = iface.linkType;
      interfaces.push(iface);
    } else if (type === BlockType.ENHANCED_PACKET) {
      const interfaceId = view.getUint32(offset + ENHANCED.interfaceId, littleEndian);
      const iface = interfaces[interfaceId];
      if (!iface) throw new PcapError('BAD_INTERFACE', offset, `interface ${interfaceId} is not defined`);
      const capturedLength = view.getUint32(offset + ENHANCED.capturedLength, littleEndian);
      if (capturedLength > totalLength - ENHANCED.minLength) {
        throw new PcapError('BAD_BLOCK_LENGTH', offset, `captured length ${capturedLength} in a block of ${totalLength}`);
      }
      const high = BigInt(view.getUint32(offset + ENHANCED.timestampHigh, littleEndian));
      const low = BigInt(view.getUint32(offset + ENHANCED.timestampLow, littleEndian));
      const dataStart = offset + ENHANCED.data;
      yield {
        timestampNs: toNanoseconds((high << 32n) | low, iface),
        data: bytes.subarray(dataStart, dataStart + capturedLength),
        originalLength: view.getUint32(offset + ENHANCED.originalLength, littleEndian),
        interfaceId,
        linkType: iface.linkType,
      };
    } else if (type === BlockType.SIMPLE_PACKET) {
      // "it MUST be assumed that all the Simple Packet Blocks have been captured on the interface
      // previously specified in the first Interface Description Block."
      const iface = interfaces[0];
      if (!iface) throw new PcapError('BAD_INTERFACE', offset, 'simple packet before any interface');
      const originalLength = view.getUint32(offset + SIMPLE.originalLength, littleEndian);
      // The captured length is not stored: it is the original length cut to the snapshot length
      // (0 means no limit) and, for safety, to the block body.
      let capturedLength = Math.min(originalLength, totalLength - SIMPLE.minLength);
      if (iface.snapLength > 0) capturedLength = Math.min(capturedLength, iface.snapLength);
      const dataStart = offset + SIMPLE.data;
      yield {
        timestampNs: 0n,
        data: bytes.subarray(dataStart, dataStart + capturedLength),
        originalLength,
        interfaceId: 0,
        linkType: iface.linkType,
      };
    }
    offset += totalLength;
  }
}
