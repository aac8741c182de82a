/**
 * The UDP underlay's socket set-up: make a nonblocking UDP socket of the address's family, tune
 * it (V6ONLY, SO_REUSEPORT, buffer sizes), bind it, and find what the kernel offers (UDP_SEGMENT
 * for GSO, UDP_GRO). UdpUnderlay (udp.ts) drives the socket this returns.
 */
import { parseIp } from '../../wire/address';
import * as C from '../io/libc';

/** What openUdpSocket made: the fd (the caller's to close) and what the kernel granted. */
export interface UdpSocket {
  fd: number;
  family: 4 | 6;
  /** The bound port (the kernel's choice when 0 was asked). */
  localPort: number;
  /** The kernel has UDP_SEGMENT and GSO was not turned off. */
  gso: boolean;
  /** UDP_GRO is on: received datagrams may be coalesced. */
  gro: boolean;
}

export interface UdpSocketOptions {
  address: string;
  port: number;
  /** SO_RCVBUF and SO_SNDBUF in bytes (SO_*BUFFORCE first, which works as root). */
  socketBuffer: number;
  gso: boolean;
  gro: boolean;
  reusePort: boolean;
}

/** Make, tune and bind the socket. Throws an Error with the errno's name as `code` (EADDRINUSE, …); the fd is closed then. */
export function openUdpSocket(options: UdpSocketOptions): UdpSocket {
  const { address, port, socketBuffer } = options;
  const parsed = parseIp(address);
  const libc = C.libc();
  const domain = parsed.version === 4 ? C.AF_INET : C.AF_INET6;
  const fd = libc.socket(domain, C.SOCK_DGRAM | C.SOCK_NONBLOCK | C.SOCK_CLOEXEC, 0);
  if (fd < 0) throw C.syscallError('socket(UDP)', C.errno());
  try {
    const value = new Uint8Array(4);
    const setInt = (level: number, name: number, v: number): boolean => {
      new DataView(value.buffer).setInt32(0, v, true);
      return libc.setsockopt(fd, level, name, value, 4) === 0;
    };
    // IPv6 only: an IPv4 source would arrive as ::ffff:a.b.c.d, of the other family.
    if (parsed.version === 6) setInt(C.IPPROTO_IPV6, C.IPV6_V6ONLY, 1);
    if (options.reusePort && !setInt(C.SOL_SOCKET, C.SO_REUSEPORT, 1)) throw C.syscallError('setsockopt(SO_REUSEPORT)', C.errno());
    // Bigger buffers ride out bursts while the main thread is busy; FORCE passes rmem_max as root.
    if (!setInt(C.SOL_SOCKET, C.SO_RCVBUFFORCE, socketBuffer)) setInt(C.SOL_SOCKET, C.SO_RCVBUF, socketBuffer);
    if (!setInt(C.SOL_SOCKET, C.SO_SNDBUFFORCE, socketBuffer)) setInt(C.SOL_SOCKET, C.SO_SNDBUF, socketBuffer);
    const sockaddr = new Uint8Array(C.SOCKADDR_ROOM);
    const length = C.writeSockaddr(sockaddr, 0, parsed.bytes, port);
    if (libc.bind(fd, sockaddr, length) !== 0) {
      throw C.syscallError(`binding UDP ${parsed.version === 6 ? `[${address}]` : address}:${port}`, C.errno());
    }
    const bound = new Uint8Array(C.SOCKADDR_ROOM);
    const boundLength = new Uint32Array([C.SOCKADDR_ROOM]);
    if (libc.getsockname(fd, bound, boundLength) !== 0) throw C.syscallError('getsockname', C.errno());
    const localPort = (bound[2] << 8) | bound[3];
    // GSO: the kernel has UDP_SEGMENT when it answers for the option (an older one would ignore
    // the cmsg and send a run as one long datagram). GRO: the option is taken.
    let gso = options.gso;
    if (gso) {
      const out = new Uint8Array(4);
      gso = libc.getsockopt(fd, C.SOL_UDP, C.UDP_SEGMENT, out, new Uint32Array([4])) === 0;
    }
    const gro = options.gro && setInt(C.SOL_UDP, C.UDP_GRO, 1);
    return { fd, family: parsed.version, localPort, gso, gro };
  } catch (error) {
    libc.close(fd);
    throw error;
  }
}
