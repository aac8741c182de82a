/**
 * Reading a capture as a stream of chunks (a file read piece by piece, a pipe, a socket), record
 * by record, in memory bounded by the largest record: a 2 GB capture is never held whole, and
 * `/dev/zero` is refused after its first four bytes. The header and record parsers are the same
 * ones `readPcap` uses on a whole file (classic.ts, pcapng.ts), so both readers give the same
 * packets and the same errors at the same file offsets.
 */
import { PcapError } from './errors';
import { isClassicMagic, readClassicHeader, readClassicRecordHeader, FILE_HEADER, RECORD_HEADER } from './classic';
import { BlockType, PCAPNG_BLOCK_HEADER_LENGTH, PCAPNG_FRAMING_LENGTH, PcapngBlocks, readSectionByteOrder } from './pcapng';
import type { PcapFile, PcapPacket } from './types';

/**
 * The longest record (classic pcap: captured length; pcapng: block length) the stream reader
 * accepts by default: 16 MiB, 32 times the largest packet Linux can hand to a capture (a 512 KiB
 * BIG TCP super-packet) and 64 times libpcap's own limit (262144). A longer one is refused before
 * anything is allocated for it, because a corrupt length must not become a 4 GB allocation.
 */
export const DEFAULT_MAX_RECORD_LENGTH = 16 * 1024 * 1024;

export interface PcapStreamOptions {
  /** Longest record or block accepted, in bytes (1..2^32-1); default `DEFAULT_MAX_RECORD_LENGTH`. */
  maxRecordLength?: number;
}

/** An opened capture: its format and link type are known, its packets are read as they are iterated. */
export interface PcapStream extends AsyncIterable<PcapPacket> {
  readonly format: PcapFile['format'];
  /** Classic pcap: the header's link type. pcapng: the first interface's, -1 until one has been read. */
  readonly linkType: number;
  /** Stops reading and releases the source (its iterator's `return()`); iteration then ends. */
  close(): Promise<void>;
}

type ChunkSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/**
 * The chunks pulled from the source and not yet consumed. It pulls a chunk only when a read needs
 * more bytes than it holds, so what it holds is at most the largest read plus one chunk.
 */
class ChunkQueue {
  private chunks: Uint8Array[] = [];
  /** How much of chunks[0] has been consumed. */
  private head = 0;
  private buffered = 0;
  private ended = false;
  private closed = false;
  /** File offset of the next byte `read` returns. */
  position = 0;

  constructor(private readonly source: AsyncIterator<Uint8Array> | Iterator<Uint8Array>) {}

  /** Pulls chunks until `length` bytes are buffered or the source ends; resolves to the bytes buffered. */
  async fill(length: number): Promise<number> {
    while (this.buffered < length && !this.ended) {
      const next = await this.source.next();
      if (next.done) {
        this.ended = true;
        break;
      }
      const chunk = next.value;
      if (!(chunk instanceof Uint8Array)) throw new TypeError('source must yield Uint8Array chunks');
      if (chunk.length > 0) {
        this.chunks.push(chunk);
        this.buffered += chunk.length;
      }
    }
    return this.buffered;
  }

  /** `length` buffered bytes, contiguous: a view of the chunk when they lie in one, else a copy. */
  peek(length: number): Uint8Array {
    const first = this.chunks[0];
    if (first.length - this.head >= length) return first.subarray(this.head, this.head + length);
    const joined = new Uint8Array(length);
    let filled = 0;
    for (let i = 0, from = this.head; filled < length; i++, from = 0) {
      const piece = this.chunks[i].subarray(from, from + length - filled);
      joined.set(piece, filled);
      filled += piece.length;
    }
    return joined;
  }

  /** `peek`, then consume those bytes (chunks wholly consumed are dropped). */
  read(length: number): Uint8Array {
    const bytes = this.peek(length);
    this.buffered -= length;
    this.position += length;
    let left = length;
    while (left > 0) {
      const available = this.chunks[0].length - this.head;
      if (available > left) {
        this.head += left;
        break;
      }
      left -= available;
      this.chunks.shift();
      this.head = 0;
    }
    return bytes;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.ended = true;
    this.chunks = [];
    this.buffered = 0;
    await this.source.return?.();
  }
}

const viewOf = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

function iteratorOf(source: ChunkSource): AsyncIterator<Uint8Array> | Iterator<Uint8Array> {
  if (source !== null && typeof source === 'object') {
    if (Symbol.asyncIterator in source) return source[Symbol.asyncIterator]();
    if (Symbol.iterator in source) return source[Symbol.iterator]();
  }
  throw new TypeError('source must be an iterable or async iterable of Uint8Array chunks (a fs.ReadStream, for instance)');
}

/**
 * Opens a capture read from `source`, chunk by chunk: reads and checks the file header (or first
 * Section Header Block) now, and each packet as the result is iterated. Chunks may split records
 * anywhere. Packet `data` is a view into a chunk the source yielded (or a copy when a record
 * spans chunks); the reader never writes into chunks, and the source must not reuse one after
 * yielding it. Throws `PcapError` as `readPcap` does, plus `TOO_LARGE` for a record or block
 * longer than `maxRecordLength`; the source is released when iteration ends, fails or is closed.
 */
export async function openPcapStream(source: ChunkSource, options: PcapStreamOptions = {}): Promise<PcapStream> {
  const iterator = iteratorOf(source);
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const maxRecordLength = options.maxRecordLength ?? DEFAULT_MAX_RECORD_LENGTH;
  if (!Number.isInteger(maxRecordLength) || maxRecordLength < 1 || maxRecordLength > 0xffff_ffff) {
    throw new RangeError(`maxRecordLength must be an integer in 1..4294967295, got ${String(maxRecordLength)}`);
  }
  const queue = new ChunkQueue(iterator);
  try {
    if ((await queue.fill(4)) < 4) throw new PcapError('TRUNCATED', 0, 'file shorter than a magic number');
    const magic = viewOf(queue.peek(4));
    if (magic.getUint32(0, true) === BlockType.SECTION_HEADER) {
      // Check the section's byte order now so that a bad file fails on open, not on first read.
      const available = await queue.fill(PCAPNG_FRAMING_LENGTH);
      readSectionByteOrder(viewOf(queue.peek(Math.min(available, PCAPNG_FRAMING_LENGTH))), 0);
      const blocks = new PcapngBlocks();
      return streamOf('pcapng', () => blocks.firstLinkType, queue, pcapngPackets(queue, blocks, maxRecordLength));
    }
    if (!isClassicMagic(magic)) {
      throw new PcapError('BAD_MAGIC', 0, `0x${magic.getUint32(0, false).toString(16)} is neither pcap nor pcapng`);
    }
    const headerBytes = queue.peek(Math.min(FILE_HEADER.length, await queue.fill(FILE_HEADER.length)));
    const header = readClassicHeader(viewOf(headerBytes));
    queue.read(FILE_HEADER.length);
    return streamOf('pcap', () => header.linkType, queue, classicPackets(queue, header, maxRecordLength));
  } catch (error) {
    await queue.close();
    throw error;
  }
}

function streamOf(
  format: PcapFile['format'],
  linkType: () => number,
  queue: ChunkQueue,
  packets: AsyncGenerator<PcapPacket>,
): PcapStream {
  return {
    format,
    get linkType() {
      return linkType();
    },
    [Symbol.asyncIterator]: () => packets,
    async close() {
      await packets.return(undefined);
      await queue.close();
    },
  };
}

async function* classicPackets(
  queue: ChunkQueue,
  header: ReturnType<typeof readClassicHeader>,
  maxRecordLength: number,
): AsyncGenerator<PcapPacket> {
  try {
    for (;;) {
      const offset = queue.position;
      const available = await queue.fill(RECORD_HEADER.length);
      if (available === 0) return;
      if (available < RECORD_HEADER.length) throw new PcapError('TRUNCATED', offset, 'record header');
      const record = readClassicRecordHeader(viewOf(queue.read(RECORD_HEADER.length)), 0, header);
      if (record.capturedLength > maxRecordLength) {
        throw new PcapError('TOO_LARGE', offset, `captured length ${record.capturedLength} is over the limit of ${maxRecordLength}`);
      }
      if ((await queue.fill(record.capturedLength)) < record.capturedLength) {
        throw new PcapError('TRUNCATED', offset, `captured length ${record.capturedLength} runs past the end of the file`);
      }
      yield {
        timestampNs: record.timestampNs,
        data: queue.read(record.capturedLength),
        originalLength: record.originalLength,
        interfaceId: 0,
        linkType: header.linkType,
      };
    }
  } finally {
    await queue.close();
  }
}

async function* pcapngPackets(queue: ChunkQueue, blocks: PcapngBlocks, maxRecordLength: number): AsyncGenerator<PcapPacket> {
  try {
    for (;;) {
      const offset = queue.position;
      const available = await queue.fill(PCAPNG_FRAMING_LENGTH);
      if (available === 0) return;
      if (available < PCAPNG_BLOCK_HEADER_LENGTH) throw new PcapError('TRUNCATED', offset, 'block header');
      const { type, totalLength } = blocks.framing(viewOf(queue.peek(Math.min(available, PCAPNG_FRAMING_LENGTH))), 0, offset);
      if (totalLength > maxRecordLength) {
        throw new PcapError('TOO_LARGE', offset, `block of ${totalLength} bytes is over the limit of ${maxRecordLength}`);
      }
      if ((await queue.fill(totalLength)) < totalLength) throw new PcapError('TRUNCATED', offset, `block of ${totalLength} bytes`);
      const block = queue.read(totalLength);
      const packet = blocks.block(block, viewOf(block), 0, type, totalLength, offset);
      if (packet) yield packet;
    }
  } finally {
    await queue.close();
  }
}
