/** Shapes returned by the pcap and pcapng readers. */

/** One captured packet, from either file format. */
export interface PcapPacket {
  /** Capture time in nanoseconds since the Unix epoch (0n for a pcapng Simple Packet Block, which has none). */
  timestampNs: bigint;
  /** The captured bytes: a view into the file's bytes, not a copy. May be shorter than `originalLength`. */
  data: Uint8Array;
  /** Length of the packet on the wire, before the capture cut it to the snapshot length. */
  originalLength: number;
  /** Index of the interface in its pcapng section (always 0 for classic pcap). */
  interfaceId: number;
  /** Link-layer header type of `data` (see `LinkType`). */
  linkType: number;
}

export interface PcapFile {
  format: 'pcap' | 'pcapng';
  /** The file's link type: classic pcap's header field, or the first pcapng interface's (-1 if none). */
  linkType: number;
  packets: PcapPacket[];
}
