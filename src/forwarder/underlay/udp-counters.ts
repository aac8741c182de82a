/**
 * The UDP underlay's offload counters, kept by its send path (GSO) and receive paths (GRO,
 * super-packets) and read through UdpUnderlay.offloadCounters.
 */

/** GSO and GRO counters (datagrams are counted in `counters` as usual). */
export interface UdpOffloadCounters {
  /** Messages sent with UDP_SEGMENT (each carries 2..GSO_MAX_SEGMENTS datagrams). */
  gsoMessages: number;
  /** Datagrams those messages carried. */
  gsoDatagrams: number;
  /** GSO messages the kernel refused, sent again as plain datagrams. */
  gsoFallbacks: number;
  /** Coalesced datagrams received (UDP_GRO) and the datagrams split out of them. */
  groMessages: number;
  groDatagrams: number;
  /** Whole UDP-tunnel GSO packets received (a peer on this host that nothing cut), split here. */
  superPackets: number;
}
