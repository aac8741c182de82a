/** What a UserspaceHost counts: every frame lands in a counter, including the ones it does not understand. */

export interface UserspaceHostCounters {
  /** Frames the forwarder transmitted to the host, and their bytes. */
  framesIn: number;
  bytesIn: number;
  /** Frames the forwarder received from the host, and their bytes. */
  framesOut: number;
  bytesOut: number;
  arpRequestsIn: number;
  arpRepliesIn: number;
  arpRequestsOut: number;
  arpRepliesOut: number;
  /** ARP for another host's address (seen on broadcast, not answered). */
  arpIgnored: number;
  ndSolicitationsIn: number;
  ndAdvertisementsOut: number;
  /** Neighbour solicitations for another address (on our solicited-node group, not answered). */
  ndIgnored: number;
  echoRequestsIn: number;
  echoRepliesOut: number;
  echoRequestsOut: number;
  echoRepliesIn: number;
  /** Echo replies no running ping waits for (late, duplicate, unknown id). */
  echoRepliesUnmatched: number;
  udpIn: number;
  udpOut: number;
  /** UDP datagrams dropped: length field wrong or checksum wrong. */
  udpBad: number;
  /** UDP datagrams accepted without a checksum (0 in the field, allowed over IPv4). */
  udpNoChecksum: number;
  /** Frames to another MAC, or IPv4 packets to another address. */
  notForMe: number;
  /** Truncated or inconsistent headers (short frame, IPv4 length or header length wrong, short ARP/ICMP). */
  malformed: number;
  /** IPv4 header or ICMP checksums that do not verify. */
  badChecksum: number;
  /** Well-formed frames the host does not speak (other EtherTypes, IP protocols, ICMP types, fragments, non-Ethernet ARP). */
  unsupported: number;
  /** Frames over maxFrameLength given to transmit, or queued frames longer than the receiving batch's slots. */
  oversize: number;
  /** Frames the host wanted to send while its queue was full (replies, requests). */
  queueDrops: number;
}

export function zeroCounters(): UserspaceHostCounters {
  return {
    framesIn: 0, bytesIn: 0, framesOut: 0, bytesOut: 0,
    arpRequestsIn: 0, arpRepliesIn: 0, arpRequestsOut: 0, arpRepliesOut: 0, arpIgnored: 0,
    ndSolicitationsIn: 0, ndAdvertisementsOut: 0, ndIgnored: 0,
    echoRequestsIn: 0, echoRepliesOut: 0, echoRequestsOut: 0, echoRepliesIn: 0, echoRepliesUnmatched: 0,
    udpIn: 0, udpOut: 0, udpBad: 0, udpNoChecksum: 0,
    notForMe: 0, malformed: 0, badChecksum: 0, unsupported: 0, oversize: 0, queueDrops: 0,
  };
}
