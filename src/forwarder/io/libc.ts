/**
 * The libc calls the Linux ports make, through koffi (prebuilt binaries: no compiler at install).
 * The same table of C prototypes binds them on the main thread (`libc()`) and inside the reader
 * workers (which get LIBC_PROTOTYPES in their workerData), so the two cannot disagree.
 *
 * Hot-path calls take buffers as raw addresses (`uintptr_t`): an address is a plain number
 * computed once per batch (koffi.address of a view over WASM memory or a SharedArrayBuffer, plus
 * an offset), so nothing is marshalled or allocated per packet. Cold calls (setup, ioctl) take
 * typed arrays, which koffi passes as pointers to their bytes.
 *
 * The struct layouts below are Linux LP64 (x86-64 and arm64 agree on all of them).
 */
import { createRequire } from 'node:module';
import type * as KoffiModule from 'koffi';

export type Koffi = typeof KoffiModule;

/** JS name → C prototype. Several names may bind one symbol with different parameter types. */
export const LIBC_PROTOTYPES = {
  socket: 'int socket(int domain, int type, int protocol)',
  bind: 'int bind(int fd, void *addr, uint32_t addrlen)',
  getsockname: 'int getsockname(int fd, void *addr, void *addrlen)',
  setsockopt: 'int setsockopt(int fd, int level, int name, void *value, uint32_t len)',
  getsockopt: 'int getsockopt(int fd, int level, int name, void *value, void *len)',
  open: 'int open(const char *path, int flags, int mode)',
  close: 'int close(int fd)',
  fcntl: 'int fcntl(int fd, int cmd, int arg)',
  ioctl: 'int ioctl(int fd, unsigned long request, void *arg)',
  /** ioctl whose argument is a value, not a pointer (TUNSETOFFLOAD). */
  ioctlValue: 'int ioctl(int fd, unsigned long request, unsigned long arg)',
  /** read/write/poll/sendmmsg/recvmmsg on raw addresses (see above). */
  readAt: 'long read(int fd, uintptr_t buf, size_t count)',
  writeAt: 'long write(int fd, uintptr_t buf, size_t count)',
  writevAt: 'long writev(int fd, uintptr_t iov, int iovcnt)',
  pollAt: 'int poll(uintptr_t fds, unsigned long nfds, int timeout)',
  sendmmsgAt: 'int sendmmsg(int fd, uintptr_t msgvec, unsigned int vlen, int flags)',
  recvmmsgAt: 'int recvmmsg(int fd, uintptr_t msgvec, unsigned int vlen, int flags, uintptr_t timeout)',
  /** A queue worker's doorbell (doorbell.ts): EFD_NONBLOCK | EFD_CLOEXEC. */
  eventfd: 'int eventfd(unsigned int initval, int flags)',
  /** Between an InlinePoller's busy-polling looks: any other thread that wants the CPU runs first. */
  sched_yield: 'int sched_yield()',
  /** Copies out of a SharedArrayBuffer (see Ring.copyOut); returns dest, unused. */
  memcpyAt: 'uintptr_t memcpy(uintptr_t dest, uintptr_t src, size_t n)',
} as const;

export type LibcName = keyof typeof LIBC_PROTOTYPES;
export type Libc = { [K in LibcName]: (...args: any[]) => number };

export const LIBC_SONAME = 'libc.so.6';

// ---- constants (Linux; asm-generic values, the same on x86-64 and arm64) ----
export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_DGRAM = 2;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_REUSEPORT = 15;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_SNDBUFFORCE = 32;
export const SO_RCVBUFFORCE = 33;
export const IPPROTO_IPV6 = 41;
export const IPV6_V6ONLY = 26;
/** UDP socket options and control messages (linux/udp.h). */
export const SOL_UDP = 17;
/** Send: a u16 cmsg (or socket option) giving the segment size of a GSO send (Linux 4.18). */
export const UDP_SEGMENT = 103;
/** Receive: coalesce a flow's datagrams (Linux 5.0); an int cmsg then gives the segment size. */
export const UDP_GRO = 104;
export const O_RDWR = 2;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;
export const EFD_NONBLOCK = 0o4000;
export const EFD_CLOEXEC = 0o2000000;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const POLLIN = 0x1;
export const POLLERR = 0x8;
export const POLLHUP = 0x10;
export const POLLNVAL = 0x20;
export const MSG_TRUNC = 0x20;
export const MSG_DONTWAIT = 0x40;

export const EPERM = 1;
export const ENOENT = 2;
export const EINTR = 4;
export const EIO = 5;
export const EBADF = 9;
export const EAGAIN = 11;
export const EACCES = 13;
export const EFAULT = 14;
export const EBUSY = 16;
export const ENODEV = 19;
export const EINVAL = 22;
export const EMSGSIZE = 90;
export const ENOPROTOOPT = 92;
export const EOPNOTSUPP = 95;
export const ENETUNREACH = 101;
export const ENOBUFS = 105;
export const ECONNREFUSED = 111;
export const EHOSTDOWN = 112;
export const EHOSTUNREACH = 113;

// ---- struct layouts (LP64) ----
/** struct iovec { void *iov_base; size_t iov_len; } */
export const IOVEC_SIZE = 16;
export const IOV_BASE = 0;
export const IOV_LEN = 8;
/**
 * struct mmsghdr { struct msghdr msg_hdr; unsigned int msg_len; } — msghdr is 56 bytes:
 * msg_name @0 (ptr), msg_namelen @8 (u32, then 4 bytes padding), msg_iov @16 (ptr),
 * msg_iovlen @24 (size_t), msg_control @32 (ptr), msg_controllen @40 (size_t),
 * msg_flags @48 (int, then padding); msg_len @56; the array stride is 64 (8-byte alignment).
 */
export const MMSGHDR_SIZE = 64;
export const MSG_NAME = 0;
export const MSG_NAMELEN = 8;
export const MSG_IOV = 16;
export const MSG_IOVLEN = 24;
export const MSG_CONTROL = 32;
export const MSG_CONTROLLEN = 40;
export const MSG_FLAGS = 48;
export const MSG_LEN = 56;
/**
 * struct cmsghdr { size_t cmsg_len; int cmsg_level; int cmsg_type; } then the data at 16.
 * CMSG_SPACE(2) and CMSG_SPACE(4) are both 24 (the data padded to 8 bytes).
 */
export const CMSGHDR_SIZE = 16;
export const CMSG_LEN_OFFSET = 0;
export const CMSG_LEVEL = 8;
export const CMSG_TYPE = 12;
export const CMSG_DATA = 16;
export const CMSG_SPACE_INT = 24;
/** struct pollfd { int fd; short events; short revents; } */
export const POLLFD_SIZE = 8;
/** sockaddr_in: family u16 @0 (host order), port @2 (network order), address @4; 16 bytes. */
export const SOCKADDR_IN_SIZE = 16;
/** sockaddr_in6: family @0, port @2, flowinfo @4, address @8 (16 bytes), scope id @24; 28 bytes. */
export const SOCKADDR_IN6_SIZE = 28;
/** Room for either, rounded to keep each record 8-byte aligned. */
export const SOCKADDR_ROOM = 32;
/** struct ifreq: the name (IFNAMSIZ = 16, NUL-padded), then a union at 16; 40 bytes. */
export const IFREQ_SIZE = 40;
export const IFNAMSIZ = 16;

// ---- ioctl requests ----
export const TUNSETIFF = 0x400454ca;
export const SIOCGIFFLAGS = 0x8913;
export const SIOCSIFFLAGS = 0x8914;
export const SIOCGIFMTU = 0x8921;
export const SIOCSIFMTU = 0x8922;
export const SIOCGIFHWADDR = 0x8927;
export const SIOCSIFTXQLEN = 0x8943;
export const IFF_UP = 0x1;
export const IFF_TAP = 0x0002;
export const IFF_MULTI_QUEUE = 0x0100;
export const IFF_NO_PI = 0x1000;
export const IFF_VNET_HDR = 0x4000;
/** TAP offloads (linux/if_tun.h): TUNSETOFFLOAD takes the TUN_F_* bits as its argument's value. */
export const TUNSETOFFLOAD = 0x400454d0;
export const TUNSETVNETHDRSZ = 0x400454d8;
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
export const TUN_F_TSO_ECN = 0x08;
export const TUN_F_USO4 = 0x20;
export const TUN_F_USO6 = 0x40;
/** Linux 6.17+: the TAP takes (and gives) UDP-tunnel GSO packets, with the 24-byte tunnel virtio-net header. */
export const TUN_F_UDP_TUNNEL_GSO = 0x80;
/** With it: tunnel packets whose outer UDP checksum is partial too (a kernel vxlan with udpcsum sends such; without this bit the kernel cuts them before the TAP). */
export const TUN_F_UDP_TUNNEL_GSO_CSUM = 0x100;

const TWO_32 = 4294967296;

/** Write a 64-bit pointer (a number below 2^53) as two u32 halves: no BigInt per packet. */
export function writePointer(words: Uint32Array, byteOffset: number, address: number): void {
  const index = byteOffset >>> 2;
  words[index] = address % TWO_32;
  words[index + 1] = Math.floor(address / TWO_32);
}

let loaded: { koffi: Koffi; libc: Libc; koffiPath: string } | undefined;

/** Where koffi is, for a worker to `require` it (eval workers resolve nothing relative to us). */
export function koffiPath(): string {
  return load().koffiPath;
}

export function koffi(): Koffi {
  return load().koffi;
}

/** The bound libc functions of this thread (loaded on first use: importing this module loads no native code). */
export function libc(): Libc {
  return load().libc;
}

function load(): { koffi: Koffi; libc: Libc; koffiPath: string } {
  if (loaded === undefined) {
    if (process.platform !== 'linux') throw new Error(`the TAP device and UDP underlay need Linux (this is ${process.platform})`);
    const require = createRequire(import.meta.url);
    let path: string;
    try {
      path = require.resolve('koffi');
    } catch {
      // An optional peer dependency: the codec alone needs no native module (README, "Installing").
      throw Object.assign(new Error('the TAP device and UDP underlay call the kernel through koffi, which is not installed: npm install koffi (an optional peer dependency of vxlan-wasm)'), { code: 'MISSING_PEER_DEPENDENCY' });
    }
    const k = require(path) as Koffi;
    const lib = k.load(LIBC_SONAME);
    const functions = {} as Libc;
    for (const [name, prototype] of Object.entries(LIBC_PROTOTYPES)) functions[name as LibcName] = lib.func(prototype) as never;
    loaded = { koffi: k, libc: functions, koffiPath: path };
  }
  return loaded;
}

/** errno of this thread's last libc call made through koffi. */
export function errno(): number {
  return load().koffi.errno();
}

/** The address of a view's first byte, as a number (addresses fit in 53 bits on Linux). */
export function addressOf(view: Uint8Array | Int32Array | Uint32Array): number {
  return Number(load().koffi.address(view));
}

const ERRNO_NAMES: Record<number, string> = {
  [EPERM]: 'EPERM', [ENOENT]: 'ENOENT', [EINTR]: 'EINTR', [EIO]: 'EIO', [EBADF]: 'EBADF', [EAGAIN]: 'EAGAIN',
  [EACCES]: 'EACCES', [EFAULT]: 'EFAULT', [EBUSY]: 'EBUSY', [ENODEV]: 'ENODEV', [EINVAL]: 'EINVAL', [EMSGSIZE]: 'EMSGSIZE',
  [ENOPROTOOPT]: 'ENOPROTOOPT', [EOPNOTSUPP]: 'EOPNOTSUPP',
  98: 'EADDRINUSE', 99: 'EADDRNOTAVAIL', 97: 'EAFNOSUPPORT', [ENETUNREACH]: 'ENETUNREACH', [EHOSTUNREACH]: 'EHOSTUNREACH',
  [ECONNREFUSED]: 'ECONNREFUSED', [ENOBUFS]: 'ENOBUFS', 12: 'ENOMEM', 24: 'EMFILE',
};

export function errnoName(code: number): string {
  return ERRNO_NAMES[code] ?? `errno ${code}`;
}

/** An Error for a failed call, with `code` the errno's name and `errno` its number. */
export function syscallError(what: string, code: number): Error & { code: string; errno: number } {
  const error = new Error(`${what} failed: ${errnoName(code)}`) as Error & { code: string; errno: number };
  error.code = errnoName(code);
  error.errno = code;
  return error;
}

/** A sockaddr_in / sockaddr_in6 for an address (4 or 16 bytes) and port, written at `offset` of `out`. */
export function writeSockaddr(out: Uint8Array, offset: number, address: Uint8Array, port: number): number {
  out.fill(0, offset, offset + SOCKADDR_ROOM);
  const family = address.length === 16 ? AF_INET6 : AF_INET;
  out[offset] = family & 0xff; // sa_family is host order (little-endian here)
  out[offset + 1] = family >>> 8;
  out[offset + 2] = port >>> 8;
  out[offset + 3] = port & 0xff;
  if (family === AF_INET) {
    out.set(address, offset + 4);
    return SOCKADDR_IN_SIZE;
  }
  out.set(address, offset + 8);
  return SOCKADDR_IN6_SIZE;
}
