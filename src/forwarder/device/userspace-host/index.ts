/**
 * UserspaceHost: a Device that is a tiny IPv4 host plugged into the forwarder's Ethernet port,
 * for the rootless demo and the tests (no TAP, no root). It has a MAC and an IPv4 address, and:
 *
 * - answers ARP requests for its address, and keeps a small bounded neighbour cache learned from
 *   ARP addressed to it (RFC 826: entries it already has are refreshed by any ARP) — arp.ts,
 *   neighbour-cache.ts;
 * - answers ICMP echo requests (icmp-echo.ts), and pings (ping.ts): `ping(ip, …)` resolves the
 *   MAC by ARP (broadcast requests, retried, time-limited), sends echo requests and measures RTTs;
 * - sends numbered UDP streams (`sendUdpStream`, udp-stream.ts) and counts what arrives per
 *   destination port (`udpReceived`, udp-receiver.ts and udp-stream-tally.ts), after verifying
 *   the IPv4 header checksum (ipv4-input.ts), the UDP length and checksum; `udpArrival` waits,
 *   woken by the arrival, until a port's count reaches a number (a sender's window);
 * - with an IPv6 address (optional), answers neighbour solicitations for it (RFC 4861,
 *   neighbour-discovery.ts) and ICMPv6 echo requests (ipv6-input.ts); it does not ping over IPv6;
 * - counts everything, including frames it does not understand (counters.ts); bad input never throws.
 *
 * Device contract (src/forwarder/contracts.ts, host.ts): frames the host emits wait in a bounded
 * queue (outbox.ts: full → counted drop, or backpressure for a UDP stream) and are built in place
 * in it; `receive` copies them into batch slots. `transmit` handles each frame synchronously;
 * replies are queued and the forwarder is woken afterwards (a deferred wake), never from inside
 * transmit.
 *
 * Frames are handled as offsets into the batch's memory: no per-frame objects, no address text.
 * Checksums are the plain TypeScript ones of src/reference/checksum.ts, and UDP checksums are
 * verified by the kernels of the batch the frame arrives in: the host shares no global state.
 */
export { UserspaceHost } from './host';
export type { UserspaceHostOptions } from './options';
export type { UserspaceHostCounters } from './counters';
export type { PingOptions, PingResult } from './ping';
export { UDP_SEQUENCE_LEN } from './udp-stream';
export type { UdpStreamOptions, UdpStreamResult } from './udp-stream';
export type { UdpPortStats } from './udp-stream-tally';
