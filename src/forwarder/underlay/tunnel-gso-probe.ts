/**
 * Whether tunnel GSO (tunnel-gso.ts) can run on this host, asked before anything is opened, so a
 * forwarder whose default is "on where it works" starts either way and says which and why.
 *
 * Tunnel GSO writes packets that "arrive" from our own address through a TAP of ours and, for the
 * way in, puts a tc filter on the underlay device. What must hold, in the order it is checked:
 *   - a specific local address (the outer source of what it writes), IPv4 or IPv6; an IPv6 one
 *     not link-local (ip6_forward does not route a link-local source);
 *   - the TAP offloads (the super-frames it sends whole come from them);
 *   - IPv4: conf/all/rp_filter not 1: strict reverse-path filtering drops what the TAP hands the
 *     kernel, and that host-wide policy is not ours to change. IPv6: the kernel routes what comes
 *     in on the TAP alone (net.ipv6.conf.<dev>.force_forwarding, Linux 6.17+), without turning the
 *     whole host into a router (all/forwarding);
 *   - the kernel takes TUN_F_UDP_TUNNEL_GSO on a TAP (Linux 6.17+): asked of a throwaway TAP;
 *   - the local address is on a device other than lo (an underlay device to filter on);
 *   - no firewall FORWARD policy that drops what the TAP routes (`iptables -P FORWARD DROP`, as
 *     Docker sets it; `ip6tables` for an IPv6 underlay): those packets cross the FORWARD chain.
 * The way in also needs iproute2's `tc`; without it super-frames still leave whole and VXLAN comes
 * in through the socket (`ingress` false).
 *
 * Reasons are sentences about the host, not about flags: the CLI adds how to decline or insist.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseIp } from '../../wire/address';
import * as C from '../io/libc';
import { ifreq } from '../device/tap';
import { addressListArgs, deviceWithAddress } from './ingress-redirect';
import { ipv6ForwardingMissing, isIpv6LinkLocal } from './tunnel-gso';

export type TunnelGsoDecision =
  /** Usable; `ingress` false when VXLAN must still come in through the socket (`reason` says why). */
  | { usable: true; ingress: boolean; device: string; reason: string }
  | { usable: false; reason: string };

export interface TunnelGsoProbeOptions {
  localAddress: string;
  /** The overlay TAPs have their offloads (virtio-net header, TSO). */
  tapOffloads: boolean;
  /** Take VXLAN in whole too (default true). */
  ingress?: boolean;
  /** /proc/sys/net/ipv4/conf (tests point it elsewhere). */
  confPath?: string;
  /** /proc/sys/net/ipv6/conf (tests point it elsewhere). */
  ipv6ConfPath?: string;
  /** Runs `ip`, `tc`, `iptables` and `ip6tables`: stdout, or throws (tests pass a fake). */
  run?: (command: string, args: string[]) => string;
  /** Whether the kernel takes UDP tunnel GSO on a TAP (tests pass a fake; default: ask the kernel). */
  kernelSupport?: () => string | undefined;
}

function defaultRun(command: string, args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 });
}

/** TUNNEL_VNET_HDR_LEN of tunnel-gso.ts. */
const TUNNEL_VNET_HDR_LEN = 24;

/**
 * Ask the kernel on a throwaway TAP (not persistent: it goes with the fd) whether it takes the
 * tunnel virtio-net header and TUN_F_UDP_TUNNEL_GSO; undefined when it does, else why not.
 */
export function kernelTakesTunnelGso(): string | undefined {
  const libc = C.libc();
  const fd = libc.open('/dev/net/tun', C.O_RDWR | C.O_NONBLOCK | C.O_CLOEXEC, 0);
  if (fd < 0) return `/dev/net/tun cannot be opened (${C.errnoName(C.errno())})`;
  try {
    const request = ifreq(`vxwprobe${process.pid % 100000}`);
    new DataView(request.buffer).setUint16(16, C.IFF_TAP | C.IFF_NO_PI | C.IFF_VNET_HDR, true);
    if (libc.ioctl(fd, C.TUNSETIFF, request) !== 0) return `a probe TAP cannot be made (${C.errnoName(C.errno())})`;
    if (libc.ioctl(fd, C.TUNSETVNETHDRSZ, new Int32Array([TUNNEL_VNET_HDR_LEN])) !== 0) return `the kernel refuses the tunnel virtio-net header (${C.errnoName(C.errno())})`;
    const offloads = C.TUN_F_CSUM | C.TUN_F_TSO4 | C.TUN_F_TSO6 | C.TUN_F_UDP_TUNNEL_GSO | C.TUN_F_UDP_TUNNEL_GSO_CSUM;
    if (libc.ioctlValue(fd, C.TUNSETOFFLOAD, offloads) !== 0) return `this kernel's TAP has no UDP tunnel GSO (Linux 6.17 or later has it; ${C.errnoName(C.errno())})`;
    return undefined;
  } finally {
    libc.close(fd);
  }
}

/** Whether `iptables` or `ip6tables`' filter table drops what is forwarded by default (`-P FORWARD DROP`); false when there is no such tool. */
function forwardPolicyDrops(run: (command: string, args: string[]) => string, tool: 'iptables' | 'ip6tables'): boolean {
  try {
    return /^-P FORWARD DROP\b/m.test(run(tool, ['-S', 'FORWARD']));
  } catch {
    return false;
  }
}

export function probeTunnelGso(options: TunnelGsoProbeOptions): TunnelGsoDecision {
  const run = options.run ?? defaultRun;
  let local;
  try {
    local = parseIp(options.localAddress);
  } catch {
    return { usable: false, reason: `${options.localAddress} is not an IP address` };
  }
  if (local.bytes.every((byte) => byte === 0)) return { usable: false, reason: `the local address is ${options.localAddress}, and tunnel GSO needs the address itself (the outer source of what it writes)` };
  if (isIpv6LinkLocal(local.bytes)) {
    return { usable: false, reason: `the local address ${options.localAddress} is link-local, and the kernel does not route what the tunnel TAP hands it from a link-local source` };
  }
  if (!options.tapOffloads) return { usable: false, reason: 'the TAP offloads are off, and the super-frames tunnel GSO sends whole come from them' };
  if (local.version === 4) {
    const conf = options.confPath ?? '/proc/sys/net/ipv4/conf';
    let rpFilter = '';
    try {
      rpFilter = readFileSync(`${conf}/all/rp_filter`, 'utf8').trim();
    } catch {
      return { usable: false, reason: `${conf}/all/rp_filter cannot be read` };
    }
    if (rpFilter === '1') return { usable: false, reason: `${conf}/all/rp_filter is 1 (strict reverse-path filtering drops what the tunnel TAP hands the kernel; set it to 2 or 0 to allow it)` };
  } else {
    const missing = ipv6ForwardingMissing(options.ipv6ConfPath);
    if (missing !== undefined) return { usable: false, reason: missing };
  }
  const kernel = (options.kernelSupport ?? kernelTakesTunnelGso)();
  if (kernel !== undefined) return { usable: false, reason: kernel };
  let device: string | undefined;
  try {
    device = deviceWithAddress(run('ip', addressListArgs(options.localAddress)), options.localAddress);
  } catch (error) {
    return { usable: false, reason: `the devices' addresses cannot be read (${(error as Error).message.split('\n')[0]})` };
  }
  if (device === undefined) return { usable: false, reason: `no device has the local address ${options.localAddress}` };
  if (device === 'lo') return { usable: false, reason: `the local address ${options.localAddress} is on lo, and tunnel GSO needs an underlay device (a veth, a NIC)` };
  const firewall = local.version === 4 ? 'iptables' : 'ip6tables';
  if (forwardPolicyDrops(run, firewall)) return { usable: false, reason: `${firewall}' FORWARD policy is DROP, which drops what the tunnel TAP routes out` };
  if (options.ingress === false) return { usable: true, ingress: false, device, reason: 'whole out only, as asked: VXLAN comes in through the socket' };
  try {
    run('tc', ['-V']);
  } catch {
    return { usable: true, ingress: false, device, reason: "iproute2's tc is not installed: super-frames leave whole, VXLAN comes in through the socket" };
  }
  return { usable: true, ingress: true, device, reason: `the kernel takes UDP tunnel GSO on a TAP, and ${options.localAddress} is on ${device}` };
}
