/**
 * The one error the pcap readers throw. A malformed, truncated or unknown file gets a `PcapError`
 * with a code from the closed set below and the byte offset of the header, record or block that
 * is wrong — never another exception, never a silent short read.
 */

/** Why a file was rejected. */
export const PcapErrorCodes = {
  /** The first four bytes are neither a classic pcap magic nor a pcapng Section Header Block,
   *  or a Section Header Block's byte-order magic is neither 0x1A2B3C4D nor its byte swap. */
  BAD_MAGIC: 'BAD_MAGIC',
  /** A major version this reader does not know (classic pcap: 2, pcapng: 1). */
  BAD_VERSION: 'BAD_VERSION',
  /** The file ends inside a header, a record or a block. */
  TRUNCATED: 'TRUNCATED',
  /** A pcapng block length below the minimum for its type, not a multiple of 4, different from
   *  its trailing copy, or too small for the packet it claims to hold. */
  BAD_BLOCK_LENGTH: 'BAD_BLOCK_LENGTH',
  /** A pcapng option whose length runs past the end of its block, or a malformed if_tsresol. */
  BAD_OPTION: 'BAD_OPTION',
  /** A pcapng packet block that names an interface no Interface Description Block defined. */
  BAD_INTERFACE: 'BAD_INTERFACE',
  /** A record or block longer than the stream reader's `maxRecordLength`: refused before anything
   *  is allocated for it (a corrupt length must not become a 4 GB allocation). */
  TOO_LARGE: 'TOO_LARGE',
} as const;

export type PcapErrorCode = keyof typeof PcapErrorCodes;

export class PcapError extends Error {
  override readonly name = 'PcapError';

  constructor(
    /** What is wrong, from `PcapErrorCodes`. */
    readonly code: PcapErrorCode,
    /** Byte offset in the file of the header, record or block that is wrong. */
    readonly offset: number,
    detail?: string,
  ) {
    super(`${code} at offset ${offset}${detail ? `: ${detail}` : ''}`);
  }
}
