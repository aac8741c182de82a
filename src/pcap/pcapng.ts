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

/**
 * Reads a Section Header Block's byte order; the block type is a palindrome, so it reads the same
 * either way. `fileOffset` is where the block starts in the file, for errors (it differs from
 * `offset` when the block was read into a buffer of its own).
 */
export function readSectionByteOrder(view: DataView, offset: number, fileOffset = offset): boolean {
  if (view.byteLength - offset < SECTION.byteOrderMagic + 4) throw new PcapError('TRUNCATED', fileOffset, 'section header');
  const magic = view.getUint32(offset + SECTION.byteOrderMagic, true);
  if (magic === BYTE_ORDER_MAGIC) return true;
  if (magic === 0x4d3c2b1a) return false;
  throw new PcapError('BAD_MAGIC', fileOffset, `byte-order magic 0x${magic.toString(16)}`);
}

function readInterface(view: DataView, offset: number, totalLength: number, littleEndian: boolean, fileOffset: number): Interface {
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
    if (value + length > optionsEnd) throw new PcapError('BAD_OPTION', fileOffset, `option ${code} runs past its block`);
    if (code === OPTION.tsresol) {
      if (length !== 1) throw new PcapError('BAD_OPTION', fileOffset, `if_tsresol of length ${length}`);
      // "If the Most Significant Bit is equal to zero, the remaining bits indicates the resolution
      // of the timestamp as a negative power of 10 (…). If the Most Significant Bit is equal to
      // one, the remaining bits indicates the resolution as negative power of 2."
      const tsresol = view.getUint8(value);
      const exponent = BigInt(tsresol & 0x7f);
      found.unitsPerSecond = tsresol & 0x80 ? 2n ** exponent : 10n ** exponent;
    } else if (code === OPTION.tsoffset) {
      if (length !== 8) throw new PcapError('BAD_OPTION', fileOffset, `if_tsoffset of length ${length}`);
      found.offsetSeconds = view.getBigInt64(value, littleEndian);
    }
    at = value + ((length + 3) & ~3);
  }
  return found;
}

function toNanoseconds(units: bigint, iface: Interface): bigint {
  return (units * 1_000_000_000n) / iface.unitsPerSecond + iface.offsetSeconds * 1_000_000_000n;
}

/**
 * The blocks of one pcapng file, read one at a time: the state that outlives a block (the
 * section's byte order, its interfaces) lives here, so the same code serves a whole file in
 * memory (`pcapngRecords`) and a stream read block by block (`stream.ts`). Every method takes the
 * block's `fileOffset` for its errors, since a streamed block sits at offset 0 of its own buffer.
 */
export class PcapngBlocks {
  private littleEndian = true;
  private interfaces: Interface[] = [];
  /** The first interface's link type, -1 until an Interface Description Block has been read. */
  firstLinkType = -1;

  /**
   * The type and total length of the block at `offset` (at least 8 bytes there, 12 for a Section
   * Header Block), checked against the minimum for its type. The block's end is not read yet.
   */
  framing(view: DataView, offset: number, fileOffset: number): { type: number; totalLength: number } {
    // The section type is the same in both byte orders, so this test is safe before the order is known.
    if (view.getUint32(offset + BLOCK.type, this.littleEndian) === BlockType.SECTION_HEADER) {
      this.littleEndian = readSectionByteOrder(view, offset, fileOffset);
    }
    const type = view.getUint32(offset + BLOCK.type, this.littleEndian);
    const totalLength = view.getUint32(offset + BLOCK.totalLength, this.littleEndian);
    const minLength = MIN_LENGTH[type] ?? BLOCK.minLength;
    if (totalLength % 4 !== 0 || totalLength < minLength) {
      throw new PcapError('BAD_BLOCK_LENGTH', fileOffset, `length ${totalLength} for block type 0x${type.toString(16)}`);
    }
    return { type, totalLength };
  }

  /** Reads a whole block (`totalLength` bytes at `offset`, framed by `framing`): a packet, or undefined for other blocks. */
  block(bytes: Uint8Array, view: DataView, offset: number, type: number, totalLength: number, fileOffset: number): PcapPacket | undefined {
    const littleEndian = this.littleEndian;
    const trailer = view.getUint32(offset + totalLength - BLOCK.trailerLength, littleEndian);
    if (trailer !== totalLength) {
      throw new PcapError('BAD_BLOCK_LENGTH', fileOffset, `leading length ${totalLength}, trailing length ${trailer}`);
    }
    if (type === BlockType.SECTION_HEADER) {
      const major = view.getUint16(offset + SECTION.versionMajor, littleEndian);
      if (major !== PCAPNG_VERSION_MAJOR) throw new PcapError('BAD_VERSION', fileOffset, `major version ${major}`);
      // Interface IDs are numbered per section: a new section starts a new list.
      this.interfaces = [];
    } else if (type === BlockType.INTERFACE_DESCRIPTION) {
      const iface = readInterface(view, offset, totalLength, littleEndian, fileOffset);
      if (this.firstLinkType < 0) this.firstLinkType = iface.linkType;
      this.interfaces.push(iface);
    } else if (type === BlockType.ENHANCED_PACKET) {
      const interfaceId = view.getUint32(offset + ENHANCED.interfaceId, littleEndian);
      const iface = this.interfaces[interfaceId];
      if (!iface) throw new PcapError('BAD_INTERFACE', fileOffset, `interface ${interfaceId} is not defined`);
      const capturedLength = view.getUint32(offset + ENHANCED.capturedLength, littleEndian);
      if (capturedLength > totalLength - ENHANCED.minLength) {
        throw new PcapError('BAD_BLOCK_LENGTH', fileOffset, `captured length ${capturedLength} in a block of ${totalLength}`);
      }
      const high = BigInt(view.getUint32(offset + ENHANCED.timestampHigh, littleEndian));
      const low = BigInt(view.getUint32(offset + ENHANCED.timestampLow, littleEndian));
      const dataStart = offset + ENHANCED.data;
      return {
        timestampNs: toNanoseconds((high << 32n) | low, iface),
        data: bytes.subarray(dataStart, dataStart + capturedLength),
        originalLength: view.getUint32(offset + ENHANCED.originalLength, littleEndian),
        interfaceId,
        linkType: iface.linkType,
      };
    } else if (type === BlockType.SIMPLE_PACKET) {
      // "it MUST be assumed that all the Simple Packet Blocks have been captured on the interface
      // previously specified in the first Interface Description Block."
      const iface = this.interfaces[0];
      if (!iface) throw new PcapError('BAD_INTERFACE', fileOffset, 'simple packet before any interface');
      const originalLength = view.getUint32(offset + SIMPLE.originalLength, littleEndian);
      // The captured length is not stored: it is the original length cut to the snapshot length
      // (0 means no limit) and, for safety, to the block body.
      let capturedLength = Math.min(originalLength, totalLength - SIMPLE.minLength);
      if (iface.snapLength > 0) capturedLength = Math.min(capturedLength, iface.snapLength);
      const dataStart = offset + SIMPLE.data;
      return {
        timestampNs: 0n,
        data: bytes.subarray(dataStart, dataStart + capturedLength),
        originalLength,
        interfaceId: 0,
        linkType: iface.linkType,
      };
    }
    return undefined;
  }
}

/** The shortest a block can be (type, length, trailing length); fewer bytes cannot start one. */
export const PCAPNG_MIN_BLOCK_LENGTH = BLOCK.minLength;
/** Bytes `framing` reads: 8 for any block, 12 for a Section Header Block (its byte-order magic). */
export const PCAPNG_FRAMING_LENGTH = SECTION.byteOrderMagic + 4;
export const PCAPNG_BLOCK_HEADER_LENGTH = BLOCK.body;

/** Yields the packets of a pcapng file whose first bytes are a Section Header Block type. */
export function* pcapngRecords(bytes: Uint8Array, view: DataView, blocks: PcapngBlocks): Generator<PcapPacket> {
  let offset = 0;
  while (offset < bytes.length) {
    if (bytes.length - offset < BLOCK.body) throw new PcapError('TRUNCATED', offset, 'block header');
    const { type, totalLength } = blocks.framing(view, offset, offset);
    if (totalLength > bytes.length - offset) throw new PcapError('TRUNCATED', offset, `block of ${totalLength} bytes`);
    const packet = blocks.block(bytes, view, offset, type, totalLength, offset);
    if (packet) yield packet;
    offset += totalLength;
  }
}
