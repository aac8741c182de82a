/**
 * Give an interface its overlay address and MAC, through ioctls on an AF_INET datagram socket
 * (koffi and libc, as TapDevice sets the MTU): SIOCSIFHWADDR, SIOCSIFADDR, SIOCSIFNETMASK.
 *
 * Why ioctls rather than running `ip addr`: the agent then needs no iproute2 on the host and no
 * child process, every failure is an errno in a sentence, and it is the same mechanism the TAP
 * is already made with. IPv6 takes the same ioctl on an AF_INET6 socket with a struct in6_ifreq
 * (address, prefix length, interface index); duplicate address detection is switched off for the
 * interface first (its `accept_dad` sysctl), so the address is usable at once rather than
 * "tentative" for a second or more: IPAM in etcd already made it unique.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseIpv4, parseIpv6, parseMac } from '../wire/address';
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

function withControlSocket<T>(fn: (libc: C.Libc, fd: number) => T, family = C.AF_INET): T {
  const libc = C.libc();
  const fd = libc.socket(family, C.SOCK_DGRAM | C.SOCK_CLOEXEC, 0);
  if (fd < 0) throw C.syscallError(`socket(${family === C.AF_INET ? 'AF_INET' : 'AF_INET6'}) for interface ioctls`, C.errno());
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

const EEXIST = 17;

/**
 * Add IPv6 address `ip/prefixLength` to `name` (an address it has already is fine), with duplicate
 * address detection off for the interface so the address is usable at once.
 */
export function setIpv6Address(name: string, ip: string, prefixLength: number): void {
  const sysctl = `/proc/sys/net/ipv6/conf/${name}`;
  try {
    // A namespace may make new links with IPv6 off (net.ipv6.conf.default.disable_ipv6); a network
    // with an IPv6 subnet needs it on for this one.
    writeFileSync(`${sysctl}/disable_ipv6`, '0');
    writeFileSync(`${sysctl}/accept_dad`, '0');
  } catch (error) {
    throw new Error(`cannot switch off duplicate address detection on ${name} (${sysctl}/accept_dad): ${(error as Error).message}; is IPv6 enabled on this host?`);
  }
  const ifindex = Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8').trim());
  // struct in6_ifreq { struct in6_addr ifr6_addr; __u32 ifr6_prefixlen; int ifr6_ifindex; }
  const request = new Uint8Array(24);
  request.set(parseIpv6(ip), 0);
  const view = new DataView(request.buffer);
  view.setUint32(16, prefixLength, true);
  view.setInt32(20, ifindex, true);
  withControlSocket((libc, fd) => {
    if (libc.ioctl(fd, SIOCSIFADDR, request) !== 0) {
      const errno = C.errno();
      if (errno !== EEXIST) throw C.syscallError(`setting address ${ip}/${prefixLength} on ${name}`, errno);
    }
  }, C.AF_INET6);
}

/** Set an address of either family with its prefix length (IPv4: replaces the primary address). */
export function setInterfaceAddress(name: string, ip: string, prefixLength: number): void {
  if (ip.includes(':')) setIpv6Address(name, ip, prefixLength);
  else setIpv4Address(name, ip, netmaskOf(prefixLength));
}

/** An IPv4 netmask as dotted text (24 → 255.255.255.0). */
export function netmaskOf(prefixLength: number): string {
  const mask = prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
  return [mask >>> 24, (mask >>> 16) & 0xff, (mask >>> 8) & 0xff, mask & 0xff].join('.');
}
