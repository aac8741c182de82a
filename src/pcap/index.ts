/** pcap and pcapng: read both formats, write classic pcap. */
export { readPcap, pcapPackets } from './reader';
export { openPcapStream, DEFAULT_MAX_RECORD_LENGTH, type PcapStream, type PcapStreamOptions } from './stream';
export { writePcap, PcapWriter, DEFAULT_SNAP_LENGTH, type PcapWriteOptions } from './writer';
export { PcapError, PcapErrorCodes, type PcapErrorCode } from './errors';
export { LinkType, linkTypeName } from './linktype';
export type { PcapFile, PcapPacket } from './types';
