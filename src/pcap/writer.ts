/**
 * Writing classic pcap files, little-endian, as libpcap does on the machines this runs on. The
 * layout is drawn in `classic.ts`. Only classic pcap is written: every tool reads it, and it can
 * be appended to record by record without rewriting anything.
 */
import {
  FILE_HEADER,
  PCAP_MAGIC_MICROSECONDS,
  PCAP_MAGIC_NANOSECONDS,
  PCAP_VERSION_MAJOR,
  PCAP_VERSION_MINOR,
  RECORD_HEADER,
} from './classic';
import { LinkType } from './linktype';

export interface PcapWriteOptions {
  /** Link-layer header type of every packet; default `LinkType.ETHERNET` (1). */
  linkType?: number;
  /** Longest packet kept; longer packets are cut, and their original length recorded. Default 262144. */
  snapLength?: number;
  /** Write nanosecond timestamps (magic 0xa1b23c4d) instead of microseconds. Default false. */
  nanosecond?: boolean;
}

/** tcpdump's default snapshot length (MAXIMUM_SNAPLEN in libpcap). */
export const DEFAULT_SNAP_LENGTH = 262144;

const NS_PER_SECOND = 1_000_000_000n;
const MAX_UINT32 = 0xffff_ffff;
const LITTLE_ENDIAN = true;

function checkUint(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`${name} must be an integer in 0..${max}, got ${value}`);
  }
}

/**
 * Encodes a pcap file header and records, one call at a time, so a capture can be appended to a
 * file as packets arrive: write `header()` once, then `record()` per packet.
 */
export class PcapWriter {
  readonly linkType: number;
  readonly snapLength: number;
  readonly nanosecond: boolean;

  constructor(options: PcapWriteOptions = {}) {
    this.linkType = options.linkType ?? LinkType.ETHERNET;
    this.snapLength = options.snapLength ?? DEFAULT_SNAP_LENGTH;
    this.nanosecond = options.nanosecond ?? false;
    // The link type is the low 16 bits of its header word; the bits above carry FCS information.
    checkUint('linkType', this.linkType, 0xffff);
    checkUint('snapLength', this.snapLength, MAX_UINT32);
    if (this.snapLength === 0) throw new RangeError('snapLength must be at least 1');
  }

  /** The 24-byte file header. */
  header(): Uint8Array {
    const bytes = new Uint8Array(FILE_HEADER.length);
    const view = new DataView(bytes.buffer);
    view.setUint32(FILE_HEADER.magic, this.nanosecond ? PCAP_MAGIC_NANOSECONDS : PCAP_MAGIC_MICROSECONDS, LITTLE_ENDIAN);
    view.setUint16(FILE_HEADER.versionMajor, PCAP_VERSION_MAJOR, LITTLE_ENDIAN);
    view.setUint16(FILE_HEADER.versionMinor, PCAP_VERSION_MINOR, LITTLE_ENDIAN);
    // Reserved1/Reserved2 (once thiszone/sigfigs) "SHOULD be filled with 0": the new array is zeroed.
    view.setUint32(FILE_HEADER.snapLength, this.snapLength, LITTLE_ENDIAN);
    view.setUint32(FILE_HEADER.linkTypeAndFcs, this.linkType, LITTLE_ENDIAN);
    return bytes;
  }

  /** Bytes a record for `data` takes: its header plus the data cut to the snapshot length. */
  recordLength(data: Uint8Array): number {
    return RECORD_HEADER.length + Math.min(data.length, this.snapLength);
  }

  /**
   * Writes one record (header, then `data` cut to the snapshot length) into `target` at `offset`
   * and returns the bytes written. `timestampNs` is nanoseconds since the Unix epoch; without it
   * the record says 0 (1970), which keeps output reproducible — pass the capture time for a capture.
   */
  encodeRecordInto(target: Uint8Array, offset: number, data: Uint8Array, timestampNs = 0n): number {
    // The seconds field is an unsigned 32-bit number: timestamps from 1970 to early 2106.
    if (timestampNs < 0n || timestampNs / NS_PER_SECOND > BigInt(MAX_UINT32)) {
      throw new RangeError(`timestampNs ${timestampNs} does not fit a pcap record (1970..2106)`);
    }
    const length = this.recordLength(data);
    if (offset < 0 || offset + length > target.length) throw new RangeError('record does not fit in target');
    const capturedLength = length - RECORD_HEADER.length;
    const subsecondNs = timestampNs % NS_PER_SECOND;
    const view = new DataView(target.buffer, target.byteOffset + offset, length);
    view.setUint32(RECORD_HEADER.seconds, Number(timestampNs / NS_PER_SECOND), LITTLE_ENDIAN);
    // Microsecond files truncate, as libpcap does when it converts a nanosecond clock.
    view.setUint32(RECORD_HEADER.fraction, Number(this.nanosecond ? subsecondNs : subsecondNs / 1000n), LITTLE_ENDIAN);
    view.setUint32(RECORD_HEADER.capturedLength, capturedLength, LITTLE_ENDIAN);
    view.setUint32(RECORD_HEADER.originalLength, data.length, LITTLE_ENDIAN);
    target.set(data.subarray(0, capturedLength), offset + RECORD_HEADER.length);
    return length;
  }

  /** One record as a new array: the convenience form of `encodeRecordInto`. */
  record(data: Uint8Array, timestampNs?: bigint): Uint8Array {
    const bytes = new Uint8Array(this.recordLength(data));
    this.encodeRecordInto(bytes, 0, data, timestampNs);
    return bytes;
  }
}

/** A whole classic pcap file holding `packets`, in one allocation. */
export function writePcap(
  packets: ReadonlyArray<{ data: Uint8Array; timestampNs?: bigint }>,
  options?: PcapWriteOptions,
): Uint8Array {
  const writer = new PcapWriter(options);
  let total = FILE_HEADER.length;
  for (const packet of packets) total += writer.recordLength(packet.data);
  const bytes = new Uint8Array(total);
  bytes.set(writer.header(), 0);
  let offset = FILE_HEADER.length;
  for (const packet of packets) offset += writer.encodeRecordInto(bytes, offset, packet.data, packet.timestampNs);
  return bytes;
}
