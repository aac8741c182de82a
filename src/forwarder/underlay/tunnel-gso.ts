/**
 * Whole VXLAN super-packets to and from the kernel (`forward --tunnel-gso`, IPv4 or IPv6 underlay, Linux 6.17+).
 *
 * Between two kernel vxlan devices a 64 KB TCP super-frame crosses the underlay whole, as one
 * UDP-tunnel GSO packet, and is cut into segments only where a wire needs it (or never, between
 * namespaces). A UDP socket can neither send nor receive such a packet: UDP_SEGMENT cuts the
 * datagram, and the receiving stack cuts a tunnel GSO packet before any socket sees it. A TAP
 * can do both: this one (`<tap>.gso`) is opened with the tunnel virtio-net header (24 bytes:
 * offsets of the outer UDP and inner IP headers) and TUN_F_UDP_TUNNEL_GSO(_CSUM).
 *
 * Out: a super-frame the overlay TAP hands over is written to it once, behind an Ethernet, IPv4 or
 * IPv6, UDP and VXLAN header, as if it had arrived from a wire, and the kernel routes it out of the
 * underlay to the peer: one write per 64 KB, and the kernel segments only if it must. Over IPv4 the
 * outer UDP checksum is left out (0, as Linux's vxlan does by default). Over IPv6 it is mandatory
 * (RFC 8200 §8.1): the header says UDP_TUNNEL_CSUM and the checksum field holds the pseudo-header
 * sum over the whole UDP length, as udp6_set_csum leaves it for a GSO packet, so the kernel's
 * tunnel segmentation finishes each segment's checksum (or hands the packet on whole, partial).
 *
 * In: an IngressRedirect (ingress-redirect.ts) has the kernel hand every VXLAN packet for the
 * local address and port that arrives on the underlay device to this TAP instead of the socket,
 * whole (the device's GRO, or a peer on this host, made it one). The UdpUnderlay reads it here
 * (`attachTunnel`): `parseTunnelPacket` checks the outer headers the IP and UDP stack would have
 * checked, and a super-packet goes to the overlay TAP whole, one write per 64 KB.
 *
 * Writing our own source address into a packet that "arrives" needs, on this TAP only, over IPv4:
 * forwarding=1 (route what comes in), accept_local=1 (a local source), rp_filter=0; a host whose
 * conf/all/rp_filter is 1 (strict) refuses such packets anyway: open() says so and fails. Over
 * IPv6: force_forwarding=1 (Linux 6.17+: ip6_forward routes what comes in on this device although
 * all/forwarding is 0; the per-device `forwarding` does not, and all/forwarding would make the whole
 * host a router), IPv6 on (disable_ipv6=0) with no address of its own (addr_gen_mode=1: no
 * link-local, so no DAD, router solicitations or MLD reports are sent out of it, to be read back
 * as garbage) and accept_ra=0. IPv6 has no twin of accept_local: its input path takes a local
 * source as it is (only loopback, multicast and link-local sources are refused when forwarding;
 * the e2e tests prove it). A firewall's FORWARD chain sees these packets (a DROP policy, as
 * Docker sets, drops them).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseIp } from '../../wire/address';
import type { DeviceEvents, SuperFrame } from '../contracts';
import * as C from '../io/libc';
import { internetChecksum, onesComplementSum } from '../../reference/checksum';
import { bringUp, ifreq, tapError } from '../device/tap';
import { decodeVnetHeader, emptyVnetHeader, storeLe16, storeSuperFrameHeader } from '../device/vnet-header';
import type { InlinePoller } from '../io/inline-reader';
import { HeadedWrite } from '../io/headed-write';
import {
  GSO_ECN, GSO_TCPV4, GSO_TCPV6, GSO_UDP_L4, VNET_F_DATA_VALID, VNET_F_NEEDS_CSUM, VNET_FLAGS,
} from '../../wasm/abi';
import { FdReader } from '../io/fd-reader';
import { Ring } from '../io/ring';

/** struct virtio_net_hdr_v1_hash_tunnel (linux/virtio_net.h): the virtio header, hash fields, outer_th_offset, inner_nh_offset. */
const TUNNEL_VNET_HDR_LEN = 24;
const VNET_OUTER_TH_OFFSET = 20;
const VNET_INNER_NH_OFFSET = 22;
const GSO_UDP_TUNNEL_IPV4 = 0x20;
const GSO_UDP_TUNNEL_IPV6 = 0x40;
/** VIRTIO_NET_HDR_F_UDP_TUNNEL_CSUM: the outer UDP checksum is partial (the pseudo-header sum), to be finished per segment. */
const VNET_F_UDP_TUNNEL_CSUM = 8;
/** The outer IP header: IPv4 without options, IPv6 without extension headers. */
function ipHeaderLength(family: 4 | 6): number {
  return family === 4 ? 20 : 40;
}
/** Outer Ethernet, IP, UDP and VXLAN headers in front of the inner frame (50 bytes over IPv4, 70 over IPv6). */
function outerLength(family: 4 | 6): number {
  return 14 + ipHeaderLength(family) + 8 + 8;
}
/** The largest IPv4 total length, and the largest IPv6 payload length (no jumbograms). */
const MAX_IP_LENGTH = 65535;
/**
 * The receive ring: 'packed' cells (see ReaderKind) of 128 KiB, 16 of them (2 MiB): a super-packet
 * takes a cell, some 40 datagram-sized packets share one. A ring of 128 one-packet 64 KB cells
 * (8 MiB) carried as much in small packets but cost whole super-packets their cache: copies into
 * and out of it went to cold memory.
 */
const RING_CELLS = 16;
const CELL_SIZE = 131072;
/** Packets an InlinePoller reads from the TAP per turn. */
const TUNNEL_FILL_LIMIT = 32;
/**
 * The TAP's transmit queue (the kernel's hand-over queue to our reads; Linux's default is 500):
 * room for a burst of datagram-sized packets while the reader is busy (500 overflows under such
 * bursts, and the kernel drops what does not fit).
 */
const TUNNEL_TX_QUEUE = 4096;
/** The egress TAP's MAC as the outer Ethernet source (any unicast address; nothing answers to it). */
const SOURCE_MAC = [0x02, 0x00, 0x5e, 0x00, 0x47, 0x50];
/** The tunnel TAP's sysctls over an IPv4 underlay (see the header). */
const IPV4_SETTINGS: readonly (readonly [string, string])[] = [['forwarding', '1'], ['accept_local', '1'], ['rp_filter', '0']];
/** Over an IPv6 underlay: no address of its own first, then IPv6 on, then routing what comes in (see the header). */
const IPV6_SETTINGS: readonly (readonly [string, string])[] = [['addr_gen_mode', '1'], ['accept_ra', '0'], ['disable_ipv6', '0'], ['force_forwarding', '1']];

/** Whether the 16 bytes are an IPv6 link-local address (fe80::/10): ip6_forward does not route such a source. */
export function isIpv6LinkLocal(bytes: Uint8Array): boolean {
  return bytes.length === 16 && bytes[0] === 0xfe && (bytes[1] & 0xc0) === 0x80;
}

/**
 * Why this host cannot route IPv6 packets that come in on the tunnel TAP, or undefined when it can:
 * it needs net.ipv6.conf.<dev>.force_forwarding (Linux 6.17+, the same kernels whose TAP has tunnel
 * GSO). Turning all/forwarding on instead would make the whole host a router (no more router
 * advertisements taken on any device): a host-wide policy that is not ours to change.
 */
export function ipv6ForwardingMissing(ipv6ConfPath = '/proc/sys/net/ipv6/conf'): string | undefined {
  if (existsSync(`${ipv6ConfPath}/all/force_forwarding`)) return undefined;
  return `${ipv6ConfPath}/all/force_forwarding does not exist (Linux 6.17 or later has it), so the IPv6 packets the tunnel TAP hands the kernel would not be routed`;
}

/**
 * A 32-bit hash of a super-frame's inner flow (its IP addresses and TCP ports), for the outer IPv6
 * flow label. The inner frame passed the TAP's checks (an Ethernet header, at most one VLAN tag,
 * the IP header before csumStart), so the addresses lie inside it.
 */
function innerFlowHash(frame: SuperFrame): number {
  const b = frame.bytes;
  let ip = frame.start + 14;
  let type = (b[ip - 2] << 8) | b[ip - 1];
  if (type === 0x8100 || type === 0x88a8) {
    ip += 4;
    type = (b[ip - 2] << 8) | b[ip - 1];
  }
  // IPv4's addresses are bytes 12..19 of its header, IPv6's 8..39.
  const from = type === 0x86dd ? ip + 8 : ip + 12;
  const to = type === 0x86dd ? ip + 40 : ip + 20;
  let h = 0x9e3779b9;
  for (let i = from; i < to; i += 4) {
    h = Math.imul(h ^ ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]), 0x85ebca6b);
    h ^= h >>> 13;
  }
  const l4 = frame.start + frame.csumStart;
  h = Math.imul(h ^ ((b[l4] << 24) | (b[l4 + 1] << 16) | (b[l4 + 2] << 8) | b[l4 + 3]), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export interface TunnelGsoCounters {
  /** Super-frames sent whole, and their inner bytes. */
  superFrames: number;
  bytes: number;
  /** Super-frames not taken: too long for one IP packet, to a peer of the other family, or the write failed (then split and sent as datagrams). */
  refused: number;
  writeErrors: number;
  /** Packets read (the kernel's redirect of VXLAN for the local address and port), and those whole (GSO) among them. */
  received: number;
  receivedWhole: number;
  /**
   * Bursts among them: runs of datagrams in one packet (USO), which the underlay device's GRO
   * merged or a peer on this host sent with UDP GSO; each is split into its datagrams here.
   */
  bursts: number;
  /** Packets read and dropped: outer headers no IP and UDP stack would take (see parseTunnelPacket), a bad checksum, too long. */
  malformed: number;
  badChecksum: number;
}

export interface TunnelGsoOptions {
  /** The egress TAP's name (made, and removed on close). */
  name: string;
  /** The local underlay address (IPv4 or IPv6, not 0.0.0.0 or ::, not link-local): the outer source. */
  localAddress: string;
  /** Where to say once what was set up (sysctls). */
  log?: (message: string) => void;
  /** /proc/sys/net/ipv4/conf (tests point it elsewhere). */
  confPath?: string;
  /** /proc/sys/net/ipv6/conf (tests point it elsewhere). */
  ipv6ConfPath?: string;
  /** Attach one queue of a multi-queue TAP (each queue worker of a MultiQueueForwarder has its own). */
  multiQueue?: boolean;
  /** Read what the kernel hands this TAP in the calling thread with this poller instead of a reader worker. */
  poller?: InlinePoller;
}

/** Bytes in front of a super-frame sent through the tunnel TAP: the tunnel virtio-net header and the outer headers (74 over IPv4, 94 over IPv6). */
export function tunnelHeaderLength(family: 4 | 6): number {
  return TUNNEL_VNET_HDR_LEN + outerLength(family);
}

/**
 * Write into `h` (tunnelHeaderLength bytes) the outer header fields no super-frame changes: the
 * Ethernet addresses (to the TAP's MAC, so the kernel takes the packet as its own to route) and
 * type; IPv4 without options, DF, TTL 64, UDP, from `local`; or IPv6, next header UDP, hop limit
 * 64, from `local`; the VXLAN I flag. `local` (4 or 16 bytes) says the family.
 */
export function storeFixedTunnelHeaders(h: Uint8Array, tapMac: Uint8Array, local: Uint8Array): void {
  const family = local.length === 16 ? 6 : 4;
  h.fill(0, 0, tunnelHeaderLength(family));
  const e = TUNNEL_VNET_HDR_LEN;
  h.set(tapMac, e);
  h.set(SOURCE_MAC, e + 6);
  const ip = e + 14;
  if (family === 4) {
    h[e + 12] = 0x08; // IPv4
    h[ip] = 0x45;
    h[ip + 6] = 0x40; // DF
    h[ip + 8] = 64;
    h[ip + 9] = 17;
    h.set(local, ip + 12);
  } else {
    h[e + 12] = 0x86; // IPv6
    h[e + 13] = 0xdd;
    h[ip] = 0x60; // version 6, traffic class 0; the flow label is set per super-frame
    h[ip + 6] = 17; // next header: UDP
    h[ip + 7] = 64; // hop limit
    h.set(local, ip + 8);
  }
  h[ip + ipHeaderLength(family) + 8] = 0x08; // VXLAN I flag
}

/**
 * Write into `h` (after storeFixedTunnelHeaders) what each super-frame changes: the tunnel
 * virtio-net header (the frame's GSO type with the UDP tunnel bit of the family, offsets counted
 * from the outer Ethernet header), the lengths, IPv4's id and header checksum or IPv6's flow
 * label, the peer's address (`peer`, 4 or 16 bytes) and `port`, the UDP source port and the VNI.
 * Over IPv6 the outer UDP checksum is the pseudo-header sum with UDP_TUNNEL_CSUM set (see the
 * file's header). The caller checked the lengths fit (send).
 */
export function storeTunnelHeaders(h: Uint8Array, family: 4 | 6, frame: SuperFrame, vni: number, peer: Uint8Array, port: number, ipId: number): void {
  const outer = outerLength(family);
  const udpLength = 8 + 8 + frame.length;
  h.fill(0, 0, TUNNEL_VNET_HDR_LEN);
  storeSuperFrameHeader(h, frame, (frame.gsoType & 0x85) | (family === 6 ? GSO_UDP_TUNNEL_IPV6 : GSO_UDP_TUNNEL_IPV4), outer);
  const ip = TUNNEL_VNET_HDR_LEN + 14;
  const udp = ip + ipHeaderLength(family);
  storeLe16(h, VNET_OUTER_TH_OFFSET, udp - TUNNEL_VNET_HDR_LEN);
  storeLe16(h, VNET_INNER_NH_OFFSET, outer + 14);
  if (family === 6) {
    // The flow label from the inner flow (RFC 6437: one flow, one label), never 0 (no label).
    const label = (innerFlowHash(frame) & 0xfffff) || 1;
    h[ip + 1] = label >>> 16;
    h[ip + 2] = (label >>> 8) & 0xff;
    h[ip + 3] = label & 0xff;
    h[ip + 4] = udpLength >>> 8;
    h[ip + 5] = udpLength & 0xff;
    h.set(peer, ip + 24);
    // The pseudo-header sum (source, destination, UDP length, next header), not complemented:
    // the partial checksum the kernel finishes per segment (UDP_TUNNEL_CSUM).
    const partial = onesComplementSum(h, ip + 8, 32, udpLength + 17);
    h[udp + 6] = partial >>> 8;
    h[udp + 7] = partial & 0xff;
    h[VNET_FLAGS] |= VNET_F_UDP_TUNNEL_CSUM;
  } else {
    const ipLength = 20 + udpLength;
    h[ip + 2] = ipLength >>> 8;
    h[ip + 3] = ipLength & 0xff;
    h[ip + 4] = ipId >>> 8;
    h[ip + 5] = ipId & 0xff;
    h.set(peer, ip + 16);
    h[ip + 10] = 0;
    h[ip + 11] = 0;
    const sum = internetChecksum(h, ip, 20);
    h[ip + 10] = sum >>> 8;
    h[ip + 11] = sum & 0xff;
  }
  // UDP source port from the inner flow (its TCP ports), as VTEPs do (RFC 7348 §5): one flow, one path.
  const l4 = frame.start + frame.csumStart;
  const bytes = frame.bytes;
  const flow = (bytes[l4] ^ bytes[l4 + 2]) << 8 | (bytes[l4 + 1] ^ bytes[l4 + 3]);
  const source = 49152 + (flow & 0x3fff);
  h[udp] = source >>> 8;
  h[udp + 1] = source & 0xff;
  h[udp + 2] = port >>> 8;
  h[udp + 3] = port & 0xff;
  h[udp + 4] = udpLength >>> 8;
  h[udp + 5] = udpLength & 0xff;
  const vx = udp + 8;
  h[vx + 4] = (vni >>> 16) & 0xff;
  h[vx + 5] = (vni >>> 8) & 0xff;
  h[vx + 6] = vni & 0xff;
}

export class TunnelGsoTap {
  readonly name: string;
  readonly counters: TunnelGsoCounters = {
    superFrames: 0, bytes: 0, refused: 0, writeErrors: 0, received: 0, receivedWhole: 0, bursts: 0, malformed: 0, badChecksum: 0,
  };
  /** The underlay's family: which outer headers are written and read. */
  readonly family: 4 | 6;
  /** The local address's bytes (4 or 16), to check a packet is for us (parseTunnelPacket). */
  readonly local: Uint8Array;
  /** What the kernel hands the TAP (read by the UdpUnderlay the TAP is attached to). */
  readonly ring: Ring;
  /** The fd, the ring and the reader's life cycle. */
  readonly reader: FdReader<DeviceEvents>;
  private readonly poller: InlinePoller | undefined;
  private readonly fd: number;
  /** Each send's writev: the vnet and outer headers (rewritten per super-frame), then the frame where it lies. */
  private readonly headedWrite: HeadedWrite;
  private readonly addresses = new Map<string, Uint8Array>();
  private ipId = 1;

  private constructor(fd: number, name: string, mac: string, localAddress: Uint8Array, poller: InlinePoller | undefined) {
    this.fd = fd;
    this.name = name;
    this.family = localAddress.length === 16 ? 6 : 4;
    this.local = localAddress;
    this.headedWrite = new HeadedWrite(tunnelHeaderLength(this.family));
    this.poller = poller;
    this.ring = new Ring(RING_CELLS, CELL_SIZE, poller === undefined);
    this.reader = new FdReader(fd, this.ring, `TunnelGsoTap ${name}`);
    storeFixedTunnelHeaders(this.headedWrite.header, Uint8Array.from(mac.split(':'), (byte) => parseInt(byte, 16)), localAddress);
  }

  static open(options: TunnelGsoOptions): TunnelGsoTap {
    const local = parseIp(options.localAddress);
    if (local.bytes.every((byte) => byte === 0)) {
      throw new RangeError(`tunnel GSO needs the local address itself (the outer source), not ${options.localAddress}`);
    }
    if (isIpv6LinkLocal(local.bytes)) {
      // ip6_forward refuses to route a link-local source (and a peer could not answer it off-link).
      throw new RangeError(`tunnel GSO needs a global or unique-local IPv6 address as the outer source, not the link-local ${options.localAddress}`);
    }
    const conf = options.confPath ?? '/proc/sys/net/ipv4/conf';
    const conf6 = options.ipv6ConfPath ?? '/proc/sys/net/ipv6/conf';
    if (local.version === 4) {
      const strict = readFileSync(`${conf}/all/rp_filter`, 'utf8').trim() === '1';
      if (strict) {
        throw new Error(`tunnel GSO: ${conf}/all/rp_filter is 1 (strict reverse-path filtering), which drops the super-packets the forwarder hands the kernel; set it to 2 (loose) or 0, or run without tunnel GSO`);
      }
    } else {
      const why = ipv6ForwardingMissing(conf6);
      if (why !== undefined) throw new Error(`tunnel GSO: ${why}`);
    }
    const libc = C.libc();
    const name = options.name;
    const fd = libc.open('/dev/net/tun', C.O_RDWR | C.O_NONBLOCK | C.O_CLOEXEC, 0);
    if (fd < 0) throw tapError(name, 'opening /dev/net/tun', C.errno());
    try {
      const request = ifreq(name);
      new DataView(request.buffer).setUint16(16, C.IFF_TAP | C.IFF_NO_PI | C.IFF_VNET_HDR | (options.multiQueue === true ? C.IFF_MULTI_QUEUE : 0), true);
      if (libc.ioctl(fd, C.TUNSETIFF, request) !== 0) throw tapError(name, 'TUNSETIFF', C.errno());
      if (libc.ioctl(fd, C.TUNSETVNETHDRSZ, new Int32Array([TUNNEL_VNET_HDR_LEN])) !== 0) throw tapError(name, 'TUNSETVNETHDRSZ 24', C.errno());
      // _CSUM too: a kernel vxlan peer with UDP checksums sends tunnel packets whose outer checksum
      // is partial, and a TAP without it has the kernel cut those into segments on the way in.
      const offloads = C.TUN_F_CSUM | C.TUN_F_TSO4 | C.TUN_F_TSO6 | C.TUN_F_UDP_TUNNEL_GSO | C.TUN_F_UDP_TUNNEL_GSO_CSUM;
      // USO too: what the underlay device's GRO merged for the socket (UDP_GRO), or a peer on this
      // host sent with UDP GSO, then arrives as one burst, split here, not cut by the kernel first.
      if (libc.ioctlValue(fd, C.TUNSETOFFLOAD, offloads | C.TUN_F_USO4 | C.TUN_F_USO6) !== 0
        && libc.ioctlValue(fd, C.TUNSETOFFLOAD, offloads) !== 0) {
        throw tapError(name, 'TUNSETOFFLOAD with UDP tunnel GSO (Linux 6.17 or later has it)', C.errno());
      }
      // Before the link is up, so nothing arrives on it that these settings would refuse (the
      // queues after the first find them set already, and set them again).
      const settings = local.version === 4 ? IPV4_SETTINGS : IPV6_SETTINGS;
      for (const [key, value] of settings) writeFileSync(`${local.version === 4 ? conf : conf6}/${name}/${key}`, value);
      const { mac } = bringUp(name, undefined, TUNNEL_TX_QUEUE);
      options.log?.(`tunnel GSO: super-frames go whole through ${name} (${settings.map(([key, value]) => `${key}=${value}`).join(', ')} on it)`);
      return new TunnelGsoTap(fd, name, mac, local.bytes, options.poller);
    } catch (error) {
      libc.close(fd);
      throw error;
    }
  }

  /** The 4 or 16 bytes of an endpoint's address (parsed once per address). */
  private addressBytes(address: string): Uint8Array {
    let bytes = this.addresses.get(address);
    if (bytes === undefined) {
      bytes = parseIp(address).bytes;
      if (this.addresses.size > 65_536) this.addresses.clear();
      this.addresses.set(address, bytes);
    }
    return bytes;
  }

  /**
   * Send `frame` (an inner Ethernet frame with a TCP super-frame's virtio-net header) to the VTEP
   * at `address`:`port` in VNI `vni`, whole. False when it cannot (then the caller splits it).
   */
  send(frame: SuperFrame, vni: number, address: string, port: number): boolean {
    const v6 = this.family === 6;
    const udpLength = 8 + 8 + frame.length;
    // What the 16-bit length field holds: IPv4's total length, IPv6's payload length (the UDP datagram).
    const ipLength = v6 ? udpLength : 20 + udpLength;
    if (this.reader.closed || ipLength > MAX_IP_LENGTH || address.includes(':') !== v6) {
      this.counters.refused++;
      return false;
    }
    this.ipId = (this.ipId + 1) & 0xffff;
    storeTunnelHeaders(this.headedWrite.header, this.family, frame, vni, this.addressBytes(address), port, this.ipId);
    if (!this.headedWrite.write(this.fd, frame.address, frame.length)) {
      this.counters.writeErrors++;
      return false;
    }
    this.counters.superFrames++;
    this.counters.bytes += frame.length;
    return true;
  }

  /** Start reading what the kernel hands the TAP (the UdpUnderlay it is attached to does, with its own events). */
  start(events: DeviceEvents): void {
    // Read with a poller: many packets a turn, not a TAP's few (FILL_LIMIT): most are datagram-sized.
    this.reader.start(events, 'packed', `tunnel ${this.name}`, { poller: this.poller, fillLimit: TUNNEL_FILL_LIMIT });
  }

  /** Stop reading and close the TAP (it disappears). Idempotent. */
  close(): Promise<void> {
    return this.reader.close();
  }
}

/**
 * One packet read from the tunnel TAP, as parseTunnelPacket found it (one object, refilled per
 * packet). Offsets are into the ring's bytes; the virtio-net fields are made relative to the inner
 * frame, as a SuperFrame's are.
 */
export interface TunnelPacket {
  /** The VXLAN header, and the UDP payload's length (VXLAN header and inner frame). */
  vxlanAt: number;
  payloadLength: number;
  /** The outer IPv4 source: where its 4 bytes are, and the UDP source port. */
  sourceAt: number;
  sourcePort: number;
  /** The inner GSO type (TCPV4 1 or TCPV6 4, with ECN 0x80) of a super-packet; 0 for a plain packet. */
  gsoType: number;
  gsoSize: number;
  /** A partial checksum in the inner frame (NEEDS_CSUM), relative to the inner frame; csumStart -1 when there is none to complete. */
  csumStart: number;
  csumOffset: number;
  /** A plain packet's outer UDP checksum still to verify: the one's-complement sum of its pseudo-header and UDP header, or -1 (none, or verified already). */
  udpSeed: number;
  /** A burst's (USO) payload bytes per datagram, each from a VXLAN header on (the last may be shorter); 0 for one datagram. */
  burstSegment: number;
}

/** parseTunnelPacket's virtio-net header (one object, refilled per packet: JavaScript runs one packet at a time). */
const parsedVnet = emptyVnetHeader();

/** parseTunnelPacket's verdicts: a packet to take, outer headers no stack would take, a bad checksum. */
export const TUNNEL_PACKET = 0;
export const TUNNEL_MALFORMED = 1;
export const TUNNEL_BAD_CHECKSUM = 2;
export type TunnelVerdict = typeof TUNNEL_PACKET | typeof TUNNEL_MALFORMED | typeof TUNNEL_BAD_CHECKSUM;

/**
 * Check the outer headers of the packet of `length` bytes at `start` (its tunnel virtio-net header
 * first) as the IP and UDP stack would before a socket saw it, since the redirect skips them.
 * `local` (4 or 16 bytes) is the local address and says the family. IPv4: Ethernet type IPv4, a
 * header of 20 bytes with a good checksum (a plain packet's: a super-packet's header is the
 * kernel's own), no fragment. IPv6: Ethernet type IPv6, version 6, next header UDP (no extension
 * headers: the redirect's filter takes only those, so fragments stay with the socket), a payload
 * length that fits, and a UDP checksum that is not 0 (mandatory over IPv6, RFC 8200 §8.1). Both:
 * UDP to `local`:`port`, lengths that fit. Fills `packet` and returns TUNNEL_PACKET, or a verdict
 * to count the drop by.
 */
export function parseTunnelPacket(bytes: Uint8Array, start: number, length: number, local: Uint8Array, port: number, packet: TunnelPacket): TunnelVerdict {
  const v6 = local.length === 16;
  const e = start + TUNNEL_VNET_HDR_LEN;
  const ip = e + 14;
  const ipHeader = v6 ? 40 : 20;
  const udp = ip + ipHeader;
  // Outer Ethernet, IP and UDP headers, in front of the VXLAN header.
  const outerHeaders = 14 + ipHeader + 8;
  if (length < TUNNEL_VNET_HDR_LEN + outerHeaders + 8 + 14) return TUNNEL_MALFORMED;
  // The IP payload: the UDP header and what follows it.
  let ipPayload: number;
  if (v6) {
    if (bytes[e + 12] !== 0x86 || bytes[e + 13] !== 0xdd || (bytes[ip] >>> 4) !== 6 || bytes[ip + 6] !== 17) return TUNNEL_MALFORMED;
    ipPayload = (bytes[ip + 4] << 8) | bytes[ip + 5];
  } else {
    if (bytes[e + 12] !== 0x08 || bytes[e + 13] !== 0x00 || bytes[ip] !== 0x45 || bytes[ip + 9] !== 17) return TUNNEL_MALFORMED;
    if (((bytes[ip + 6] & 0x3f) | bytes[ip + 7]) !== 0) return TUNNEL_MALFORMED; // a fragment
    ipPayload = ((bytes[ip + 2] << 8) | bytes[ip + 3]) - 20;
  }
  if (ipPayload < 8 + 8 + 14 || ipPayload > length - TUNNEL_VNET_HDR_LEN - 14 - ipHeader) return TUNNEL_MALFORMED;
  const destination = ip + (v6 ? 24 : 16);
  for (let i = 0; i < local.length; i++) if (bytes[destination + i] !== local[i]) return TUNNEL_MALFORMED;
  if (((bytes[udp + 2] << 8) | bytes[udp + 3]) !== port) return TUNNEL_MALFORMED;
  const vnet = decodeVnetHeader(bytes, start, parsedVnet);
  const flags = vnet.flags;
  const vnetType = vnet.gsoType;
  const csumStart = vnet.csumStart;
  const inner = outerHeaders + 8; // the inner frame, from the outer Ethernet header
  packet.vxlanAt = udp + 8;
  packet.payloadLength = ipPayload - 8;
  packet.sourceAt = ip + (v6 ? 8 : 12);
  packet.sourcePort = (bytes[udp] << 8) | bytes[udp + 1];
  packet.csumStart = (flags & VNET_F_NEEDS_CSUM) !== 0 && csumStart >= inner + 14 ? csumStart - inner : -1;
  packet.csumOffset = vnet.csumOffset;
  packet.udpSeed = -1;
  packet.burstSegment = 0;
  if (vnetType !== 0 && vnetType !== GSO_UDP_L4) {
    // A super-packet: UDP-tunnel GSO over the local address's family (the redirect takes that one only) of TCP inside.
    const base = vnetType & ~(GSO_UDP_TUNNEL_IPV4 | GSO_UDP_TUNNEL_IPV6 | GSO_ECN);
    if ((vnetType & (GSO_UDP_TUNNEL_IPV4 | GSO_UDP_TUNNEL_IPV6)) !== (v6 ? GSO_UDP_TUNNEL_IPV6 : GSO_UDP_TUNNEL_IPV4)
      || (base !== GSO_TCPV4 && base !== GSO_TCPV6)) return TUNNEL_MALFORMED;
    packet.gsoType = base | (vnetType & GSO_ECN);
    packet.gsoSize = vnet.gsoSize;
    if (packet.gsoSize === 0 || packet.csumStart < 0) return TUNNEL_MALFORMED;
    return TUNNEL_PACKET;
  }
  packet.gsoType = 0;
  packet.gsoSize = 0;
  const udpLength = (bytes[udp + 4] << 8) | bytes[udp + 5];
  if (udpLength !== ipPayload) return TUNNEL_MALFORMED;
  if (!v6 && onesComplementSum(bytes, ip, 20, 0) !== 0xffff) return TUNNEL_BAD_CHECKSUM;
  const checksum = (bytes[udp + 6] << 8) | bytes[udp + 7];
  // A zero checksum over IPv6 is none at all, which the UDP stack refuses (a partial one, from a
  // sender on this host, holds the pseudo-header sum, never 0).
  if (v6 && checksum === 0) return TUNNEL_BAD_CHECKSUM;
  if (vnetType === GSO_UDP_L4) {
    // A burst: the device's GRO merged only datagrams whose checksums it checked (DATA_VALID),
    // and a sender on this host leaves them partial (NEEDS_CSUM); without either, no datagram's
    // own checksum is left to check, so it is refused. Its partial checksum is the outer UDP one.
    const segment = vnet.gsoSize;
    if (segment < 8 + 14 || (checksum !== 0 && (flags & (VNET_F_NEEDS_CSUM | VNET_F_DATA_VALID)) === 0)) return TUNNEL_MALFORMED;
    packet.burstSegment = segment;
    packet.csumStart = -1;
    return TUNNEL_PACKET;
  }
  // The outer UDP checksum: 0 is none (VXLAN over IPv4 may leave it out); partial (NEEDS_CSUM on
  // it) or DATA_VALID means the sender is on this host or the device checked it; else the caller
  // verifies it over the payload from this seed: the pseudo-header (addresses, length, protocol)
  // and the UDP header.
  if (checksum !== 0 && (flags & (VNET_F_NEEDS_CSUM | VNET_F_DATA_VALID)) === 0) {
    const addresses = v6 ? onesComplementSum(bytes, ip + 8, 32, 17 + udpLength) : onesComplementSum(bytes, ip + 12, 8, 17 + udpLength);
    packet.udpSeed = onesComplementSum(bytes, udp, 8, addresses);
  }
  return TUNNEL_PACKET;
}
