/**
 * The way in for `forward --tunnel-gso`: a tc filter on the underlay device that hands every VXLAN
 * packet for the local address and port to the tunnel TAP (TunnelGsoTap) instead of the socket.
 *
 * Why: a 64 KB UDP-tunnel super-packet (from a peer on this host, or merged by the device's GRO)
 * reaches the device whole, but the UDP stack cuts it into segments before any socket sees it, and
 * the forwarder then merges them back (GRO in WASM) for its TAP. Taken at the device's ingress it
 * is read whole from the tunnel TAP and written to the overlay TAP whole: no cutting, no merging.
 *
 * How: a clsact qdisc on the device (made if missing, removed again only if this made it and
 * nothing else filters there), and at a preference of its own a u32 filter with the action
 * `mirred egress redirect` to the tunnel TAP. IPv4: no options, not a fragment, UDP to local:port.
 * IPv6: next header UDP (byte 6), destination local (bytes 24..39), destination port at byte 42:
 * the UDP header right behind the fixed header, no extension headers. Everything else (fragments,
 * IP options, extension headers, other devices) still reaches the socket, whose stack handles them.
 * u32 and mirred are in every distribution kernel; the filter is made with iproute2's `tc`.
 *
 * Why u32 and not flower over IPv6: flower's flow dissector skips extension headers (hop-by-hop,
 * routing, destination options), so it would hand the TAP packets whose UDP header is not at byte
 * 40, which parseTunnelPacket does not parse and would drop: what the socket would have taken. u32
 * matches at fixed offsets, exactly the packets parseTunnelPacket reads; and cls_flower is a module
 * some kernels lack.
 *
 * A forwarder killed with SIGKILL leaves the filter behind, pointing at a TAP that went with it (the
 * kernel then drops what it matches); the next start at that address and port replaces it.
 */
import { execFileSync } from 'node:child_process';
import { parseIp } from '../../wire/address';

export interface IngressRedirectOptions {
  /** The local underlay address (IPv4 or IPv6), on some device other than lo. */
  localAddress: string;
  port: number;
  /** The tunnel TAP's name (it must exist). */
  tap: string;
  log?: (message: string) => void;
  /** Runs `ip` and `tc` (tests pass a fake); returns stdout, throws with stderr in the message on failure. */
  run?: (command: string, args: string[]) => string;
}

/** Run `command` (no shell); its stdout, or an Error whose message is its stderr (ENOENT: says what to install). */
export function runCommand(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const { code, stderr } = error as NodeJS.ErrnoException & { stderr?: string };
    if (code === 'ENOENT') throw new Error(`tunnel GSO needs iproute2's ${command} (not found on PATH) to take VXLAN in whole; install it, or leave the way in to the socket (ingress: false; forward's --no-tunnel-ingress)`);
    throw new Error(`${command} ${args.join(' ')}: ${String(stderr ?? '').trim() || (error as Error).message}`);
  }
}

/** `ip` arguments that list the devices' addresses of `address`'s family, as JSON (for deviceWithAddress). */
export function addressListArgs(address: string): string[] {
  return ['-j', address.includes(':') ? '-6' : '-4', 'address', 'show'];
}

/** The device holding `address` (from `ip -j -4|-6 address show`), or undefined; IPv6 text compared as addresses (fd00:0::1 is fd00::1). */
export function deviceWithAddress(json: string, address: string): string | undefined {
  const links = JSON.parse(json) as { ifname: string; addr_info?: { local?: string }[] }[];
  const wanted = address.includes(':') ? canonicalIpv6(address) : address;
  return links.find((link) => (link.addr_info ?? []).some((info) => info.local !== undefined
    && (info.local.includes(':') ? canonicalIpv6(info.local) : info.local) === wanted))?.ifname;
}

/** An IPv6 address's bytes as hex, to compare two texts of it; '' when it is not one. */
function canonicalIpv6(text: string): string {
  try {
    return Buffer.from(parseIp(text).bytes).toString('hex');
  } catch {
    return '';
  }
}

/** The filter's preference: one per local address and port, so forwarders on one device keep apart. */
export function redirectPreference(localAddress: string, port: number): number {
  const bytes = parseIp(localAddress).bytes;
  // The address as one word: IPv4's own, IPv6's four words xored. An IPv4 address keeps the
  // preference every version gave it, so the filter a killed forwarder left behind is found.
  let word = 0;
  for (let i = 0; i < bytes.length; i += 4) word ^= bytes[i] << 24 | bytes[i + 1] << 16 | bytes[i + 2] << 8 | bytes[i + 3];
  const hash = Math.imul(word ^ Math.imul(port, 0x9e3779b1), 0x85ebca6b) >>> 0;
  return 0x4000 + (hash % 0x8000);
}

/** The filter's protocol (tc's name) and its u32 matches for VXLAN to `localAddress`:`port` (see the header). */
export function redirectMatches(localAddress: string, port: number): { protocol: string; matches: string[] } {
  if (localAddress.includes(':')) {
    return { protocol: 'ipv6', matches: [
      'u32',
      'match', 'u8', '17', '0xff', 'at', '6', // next header UDP: no extension headers, no fragment header
      'match', 'ip6', 'dst', `${localAddress}/128`,
      'match', 'u16', String(port), '0xffff', 'at', '42', // the UDP destination port, right behind the 40-byte header
    ] };
  }
  return { protocol: 'ip', matches: [
    'u32',
    'match', 'u8', '0x45', '0xff', 'at', '0', // IPv4, a 20-byte header (no options)
    'match', 'u16', '0', '0x3fff', 'at', '6', // not a fragment
    'match', 'ip', 'protocol', '17', '0xff',
    'match', 'ip', 'dst', `${localAddress}/32`,
    'match', 'ip', 'dport', String(port), '0xffff',
  ] };
}

export class IngressRedirect {
  private removed = false;

  private constructor(
    readonly device: string, readonly preference: number, private readonly madeQdisc: boolean,
    private readonly run: (command: string, args: string[]) => string,
  ) {}

  static install(options: IngressRedirectOptions): IngressRedirect {
    const run = options.run ?? runCommand;
    const { localAddress, port, tap } = options;
    const device = deviceWithAddress(run('ip', addressListArgs(localAddress)), localAddress);
    if (device === undefined) throw new Error(`tunnel GSO: no device has the local address ${localAddress}`);
    if (device === 'lo') throw new Error(`tunnel GSO: the local address ${localAddress} is on lo; tunnel GSO needs an underlay device (a veth, a NIC)`);
    let madeQdisc = true;
    try {
      run('tc', ['qdisc', 'add', 'dev', device, 'clsact']);
    } catch (error) {
      // Another program's clsact (or one left behind): filters are added to it.
      if (!/exists|Exclusivity/i.test((error as Error).message)) throw error;
      madeQdisc = false;
    }
    const preference = redirectPreference(localAddress, port);
    const pref = String(preference);
    // A filter left at this preference by a forwarder that was killed goes first.
    try {
      run('tc', ['filter', 'del', 'dev', device, 'ingress', 'pref', pref]);
    } catch {
      // none was there
    }
    const { protocol, matches } = redirectMatches(localAddress, port);
    run('tc', ['filter', 'add', 'dev', device, 'ingress', 'protocol', protocol, 'pref', pref, ...matches, 'action', 'mirred', 'egress', 'redirect', 'dev', tap]);
    const endpoint = localAddress.includes(':') ? `[${localAddress}]:${port}` : `${localAddress}:${port}`;
    options.log?.(`tunnel GSO: VXLAN for ${endpoint} arriving on ${device} goes to ${tap} (tc ingress u32 filter, pref ${pref})`);
    return new IngressRedirect(device, preference, madeQdisc, run);
  }

  /** Remove the filter (and the clsact qdisc, if this made it and no other filter is left on it). Idempotent; never throws. */
  remove(): void {
    if (this.removed) return;
    this.removed = true;
    try {
      this.run('tc', ['filter', 'del', 'dev', this.device, 'ingress', 'pref', String(this.preference)]);
      if (this.madeQdisc) {
        const left = this.run('tc', ['filter', 'show', 'dev', this.device, 'ingress']) + this.run('tc', ['filter', 'show', 'dev', this.device, 'egress']);
        if (left.trim() === '') this.run('tc', ['qdisc', 'del', 'dev', this.device, 'clsact']);
      }
    } catch {
      // The device went away (and its filters with it), or tc failed: nothing more to do on the way out.
    }
  }
}
