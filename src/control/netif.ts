/**
 * Give an interface its overlay address and MAC, through ioctls on an AF_INET datagram socket
 * (koffi and libc, as TapDevice sets the MTU): SIOCSIFHWADDR, SIOCSIFADDR, SIOCSIFNETMASK.
 *
 * Why ioctls rather than running `ip addr`: the agent then needs no iproute2 on the host and no
 * child process, every failure is an errno in a sentence, and it is the same mechanism the TAP
 * is already made with. The price is IPv4 only (SIOCSIFADDR takes a sockaddr_in), which is what
 * IPAM hands out today.
 */
import { parseIpv4, parseMac } from '../wire/address';
import * as C from '../forwarder/io/libc';
import { ifreq } from '../forwarder/device/tap';

const SIOCSIFADDR = 0x8916;
const SIOCSIFNETMASK = 0x891c;
const SIOCSIFHWADDR = 0x8924;
const ARPHRD_ETHER = 1;


/** The ifreq's union at byte 16 holds a sockaddr_in: family (host order), port, then the address. */
function sockaddrIn(name: string, ip: string): Uint8Array {
  const request = ifreq(name);
  new DataView(request.buffer).setUint16(16, C.AF_INET, true);
  request.set(parseIpv4(ip), 20);
  return request;
}

function withControlSocket<T>(fn: (libc: C.Libc, fd: number) => T): T {
  const libc = C.libc();
  const fd = libc.socket(C.AF_INET, C.SOCK_DGRAM | C.SOCK_CLOEXEC, 0);
  if (fd < 0) throw C.syscallError('socket(AF_INET) for interface ioctls', C.errno());
  try {
    return fn(libc, fd);
  } finally {
    libc.close(fd);
  }
}

function call(libc: C.Libc, fd: number, request: number, bytes: Uint8Array, what: string): void {
  if (libc.ioctl(fd, request, bytes) !== 0) throw C.syscallError(what, C.errno());
}

/** Set `name`'s IPv4 address and netmask (replacing its primary address, so calling it again is harmless). */
export function setIpv4Address(name: string, ip: string, netmask: string): void {
  withControlSocket((libc, fd) => {
    call(libc, fd, SIOCSIFADDR, sockaddrIn(name, ip), `setting address ${ip} on ${name}`);
    call(libc, fd, SIOCSIFNETMASK, sockaddrIn(name, netmask), `setting netmask ${netmask} on ${name}`);
  });
}

/** Set `name`'s MAC (a TAP takes it while up). */
export function setMacAddress(name: string, mac: string): void {
  withControlSocket((libc, fd) => {
    const request = ifreq(name);
    new DataView(request.buffer).setUint16(16, ARPHRD_ETHER, true);
    request.set(parseMac(mac), 18);
    call(libc, fd, SIOCSIFHWADDR, request, `setting MAC ${mac} on ${name}`);
  });
}
