/**
 * Reading capture files: classic pcap (either byte order, microsecond or nanosecond) and pcapng,
 * told apart by their first four bytes. Packet data is a view into the input, never a copy.
 */
import { PcapError } from './errors';
import { classicRecords, isClassicMagic, readClassicHeader } from './classic';
import { BlockType, PcapngBlocks, pcapngRecords, readSectionByteOrder } from './pcapng';
import type { PcapFile, PcapPacket } from './types';

interface OpenedFile {
  format: PcapFile['format'];
  records: Generator<PcapPacket>;
  /** Known once `records` is done (a pcapng interface may come after the first packet block). */
  linkType(): number;
}

function open(bytes: Uint8Array): OpenedFile {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 4) throw new PcapError('TRUNCATED', 0, 'file shorter than a magic number');
  if (view.getUint32(0, true) === BlockType.SECTION_HEADER) {
    // Check the section's byte order now so that a bad file fails on open, not on first read.
    readSectionByteOrder(view, 0);
    const blocks = new PcapngBlocks();
    return { format: 'pcapng', records: pcapngRecords(bytes, view, blocks), linkType: () => blocks.firstLinkType };
  }
  if (!isClassicMagic(view)) {
    throw new PcapError('BAD_MAGIC', 0, `0x${view.getUint32(0, false).toString(16)} is neither pcap nor pcapng`);
  }
  const header = readClassicHeader(view);
  return { format: 'pcap', records: classicRecords(bytes, view, header), linkType: () => header.linkType };
}

/**
 * Reads a whole capture file. Throws `PcapError` for a malformed file, including one cut inside a
 * record or block; a file cut exactly between two records (or blocks) is read as the shorter,
 * valid capture it is, because neither format has an end marker.
 */
export function readPcap(bytes: Uint8Array): PcapFile {
  const opened = open(bytes);
  const packets = [...opened.records];
  return { format: opened.format, linkType: opened.linkType(), packets };
}

/**
 * The packets of a capture file, one at a time. The file header (or first section header) is
 * checked at once; a problem further on is thrown as `PcapError` when iteration reaches it,
 * after the good packets before it have been yielded.
 */
export function pcapPackets(bytes: Uint8Array): IterableIterator<PcapPacket> {
  return open(bytes).records;
}
