/**
 * Whole VXLAN super-packets to the kernel (`forward --tunnel-gso`, IPv4 underlay, Linux 6.17+).
 *
 * Between two kernel vxlan devices a 64 KB TCP super-frame crosses the underlay whole, as one
 * UDP-tunnel GSO packet, and is cut into segments only where a wire needs it (or never, between
 * namespaces). A UDP socket cannot send such a packet: UDP_SEGMENT cuts the datagram, so every
 * segment travels and is received on its own. This egress can: it is a TAP (`<tap>.gso`) opened
 * with the tunnel virtio-net header (24 bytes: offsets of the outer UDP and inner IP headers) and
 * TUN_F_UDP_TUNNEL_GSO. A super-frame the overlay TAP hands over is written to it once, behind an
 * Ethernet, IPv4, UDP and VXLAN header, as if it had arrived from a wire, and the kernel routes it
 * out of the underlay to the peer: one write per 64 KB, and the kernel segments only if it must.
 *
 * Writing our own source address into a packet that "arrives" needs, on this TAP only:
 * forwarding=1 (route what comes in), accept_local=1 (a local source), rp_filter=0. And a host
 * whose conf/all/rp_filter is 1 (strict) refuses such packets anyway: open() says so and fails.
 * A firewall's FORWARD chain sees these packets (a DROP policy, as Docker sets, drops them).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseIp } from '../../wire/address';
import type { SuperFrame } from '../contracts';
import * as C from '../io/libc';
import { bringUp, ifreq, tapError } from '../device/tap';

/** struct virtio_net_hdr_v1_hash_tunnel (linux/virtio_net.h): the virtio header, hash fields, outer_th_offset, inner_nh_offset. */
const TUNNEL_VNET_HDR_LEN = 24;
const VNET_OUTER_TH_OFFSET = 20;
const VNET_INNER_NH_OFFSET = 22;
const GSO_UDP_TUNNEL_IPV4 = 0x20;
const VNET_F_NEEDS_CSUM = 1;
/** Outer Ethernet, IPv4, UDP and VXLAN headers in front of the inner frame. */
const OUTER_LEN = 14 + 20 + 8 + 8;
const OUTER_TH = 14 + 20;
const HEADER_ROOM = TUNNEL_VNET_HDR_LEN + OUTER_LEN;
const MAX_IP_LENGTH = 65535;
/** The egress TAP's MAC as the outer Ethernet source (any unicast address; nothing answers to it). */
const SOURCE_MAC = [0x02, 0x00, 0x5e, 0x00, 0x47, 0x50];

/** The virtio-net header's fields are little-endian u16s. */
function storeLe16(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value & 0xff;
  bytes[at + 1] = value >>> 8;
}

export interface TunnelGsoCounters {
  /** Super-frames sent whole, and their inner bytes. */
  superFrames: number;
  bytes: number;
  /** Super-frames not taken: too long for one IPv4 packet, or the write failed (then split and sent as datagrams). */
  refused: number;
  writeErrors: number;
}

export interface TunnelGsoOptions {
  /** The egress TAP's name (made, and removed on close). */
  name: string;
  /** The local underlay address (IPv4, not 0.0.0.0): the outer source. */
  localAddress: string;
  /** Where to say once what was set up (sysctls). */
  log?: (message: string) => void;
  /** /proc/sys/net/ipv4/conf (tests point it elsewhere). */
  confPath?: string;
  /** Attach one queue of a multi-queue TAP (each queue worker of a MultiQueueForwarder has its own). */
  multiQueue?: boolean;
}

export class TunnelGsoEgress {
  readonly name: string;
  readonly counters: TunnelGsoCounters = { superFrames: 0, bytes: 0, refused: 0, writeErrors: 0 };
  private readonly fd: number;
  /** vnet + outer headers, rewritten per super-frame, and the two iovecs of each writev: memory that never moves. */
  private readonly header = new Uint8Array(new SharedArrayBuffer(HEADER_ROOM));
  private readonly headerAddress: number;
  private readonly iov = new Uint32Array(new SharedArrayBuffer(2 * C.IOVEC_SIZE));
  private readonly iovAddress: number;
  private readonly addresses = new Map<string, Uint8Array>();
  private ipId = 1;
  private closed = false;

  private constructor(fd: number, name: string, mac: string, localAddress: Uint8Array) {
    this.fd = fd;
    this.name = name;
    this.headerAddress = C.addressOf(this.header);
    this.iovAddress = C.addressOf(this.iov);
    C.writePointer(this.iov, C.IOV_BASE, this.headerAddress);
    C.writePointer(this.iov, C.IOV_LEN, HEADER_ROOM);
    const h = this.header;
    const e = TUNNEL_VNET_HDR_LEN;
    mac.split(':').forEach((byte, i) => { h[e + i] = parseInt(byte, 16); });
    h.set(SOURCE_MAC, e + 6);
    h[e + 12] = 0x08; // IPv4
    const ip = e + 14;
    h[ip] = 0x45;
    h[ip + 6] = 0x40; // DF
    h[ip + 8] = 64;
    h[ip + 9] = 17;
    h.set(localAddress, ip + 12);
    h[ip + 20 + 2] = 0x12; // UDP destination port: set per peer in send()
    h[ip + 28] = 0x08; // VXLAN I flag
  }

  static open(options: TunnelGsoOptions): TunnelGsoEgress {
    const local = parseIp(options.localAddress);
    if (local.version !== 4 || local.bytes.every((byte) => byte === 0)) {
      throw new RangeError(`--tunnel-gso needs the local IPv4 address itself (the outer source), not ${options.localAddress}`);
    }
    const conf = options.confPath ?? '/proc/sys/net/ipv4/conf';
    const strict = readFileSync(`${conf}/all/rp_filter`, 'utf8').trim() === '1';
    if (strict) {
      throw new Error(`--tunnel-gso: ${conf}/all/rp_filter is 1 (strict reverse-path filtering), which drops the super-packets the forwarder hands the kernel; set it to 2 (loose) or 0, or run without --tunnel-gso`);
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
      const offloads = C.TUN_F_CSUM | C.TUN_F_TSO4 | C.TUN_F_TSO6 | C.TUN_F_UDP_TUNNEL_GSO;
      if (libc.ioctlValue(fd, C.TUNSETOFFLOAD, offloads) !== 0) {
        throw tapError(name, 'TUNSETOFFLOAD with UDP tunnel GSO (Linux 6.17 or later has it)', C.errno());
      }
      // Before the link is up, so nothing arrives on it that these settings would refuse (the
      // queues after the first find them set already, and set them again).
      for (const [key, value] of [['forwarding', '1'], ['accept_local', '1'], ['rp_filter', '0']]) writeFileSync(`${conf}/${name}/${key}`, value);
      const { mac } = bringUp(name);
      options.log?.(`tunnel GSO: super-frames go whole through ${name} (forwarding, accept_local on, rp_filter off on it)`);
      return new TunnelGsoEgress(fd, name, mac, local.bytes);
    } catch (error) {
      libc.close(fd);
      throw error;
    }
  }

  /** The 4 bytes of an IPv4 endpoint (parsed once per address). */
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
    const total = OUTER_LEN - 14 + frame.length;
    if (this.closed || total > MAX_IP_LENGTH || address.includes(':')) {
      this.counters.refused++;
      return false;
    }
    const h = this.header;
    h.fill(0, 0, TUNNEL_VNET_HDR_LEN);
    h[0] = VNET_F_NEEDS_CSUM;
    h[1] = (frame.gsoType & 0x85) | GSO_UDP_TUNNEL_IPV4;
    storeLe16(h, 2, OUTER_LEN + frame.headerLength);
    storeLe16(h, 4, frame.gsoSize);
    storeLe16(h, 6, OUTER_LEN + frame.csumStart);
    storeLe16(h, 8, frame.csumOffset);
    storeLe16(h, VNET_OUTER_TH_OFFSET, OUTER_TH);
    storeLe16(h, VNET_INNER_NH_OFFSET, OUTER_LEN + 14);
    const ip = TUNNEL_VNET_HDR_LEN + 14;
    h[ip + 2] = total >>> 8;
    h[ip + 3] = total & 0xff;
    this.ipId = (this.ipId + 1) & 0xffff;
    h[ip + 4] = this.ipId >>> 8;
    h[ip + 5] = this.ipId & 0xff;
    h.set(this.addressBytes(address), ip + 16);
    h[ip + 10] = 0;
    h[ip + 11] = 0;
    let sum = 0;
    for (let i = 0; i < 20; i += 2) sum += (h[ip + i] << 8) | h[ip + i + 1];
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    sum = ~sum & 0xffff;
    h[ip + 10] = sum >>> 8;
    h[ip + 11] = sum & 0xff;
    // UDP source port from the inner flow (its TCP ports), as VTEPs do (RFC 7348 §5): one flow, one path.
    const l4 = frame.start + frame.csumStart;
    const bytes = frame.bytes;
    const flow = (bytes[l4] ^ bytes[l4 + 2]) << 8 | (bytes[l4 + 1] ^ bytes[l4 + 3]);
    const source = 49152 + (flow & 0x3fff);
    const udp = ip + 20;
    h[udp] = source >>> 8;
    h[udp + 1] = source & 0xff;
    h[udp + 2] = port >>> 8;
    h[udp + 3] = port & 0xff;
    const udpLength = total - 20;
    h[udp + 4] = udpLength >>> 8;
    h[udp + 5] = udpLength & 0xff;
    const vx = udp + 8;
    h[vx + 4] = (vni >>> 16) & 0xff;
    h[vx + 5] = (vni >>> 8) & 0xff;
    h[vx + 6] = vni & 0xff;
    C.writePointer(this.iov, C.IOVEC_SIZE + C.IOV_BASE, frame.address);
    C.writePointer(this.iov, C.IOVEC_SIZE + C.IOV_LEN, frame.length);
    let written = C.libc().writevAt(this.fd, this.iovAddress, 2);
    if (written < 0 && C.errno() === C.EINTR) written = C.libc().writevAt(this.fd, this.iovAddress, 2);
    if (written !== HEADER_ROOM + frame.length) {
      this.counters.writeErrors++;
      return false;
    }
    this.counters.superFrames++;
    this.counters.bytes += frame.length;
    return true;
  }

  /** Close the TAP (it disappears). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    C.libc().close(this.fd);
  }
}
