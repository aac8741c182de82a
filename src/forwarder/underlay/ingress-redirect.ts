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
 * nothing else filters there), and at a preference of its own a u32 filter for IPv4 without
 * options, not a fragment, UDP to local:port, with the action `mirred egress redirect` to the
 * tunnel TAP. Everything else (fragments, IP options, other devices) still reaches the socket.
 * u32 and mirred are in every distribution kernel; the filter is made with iproute2's `tc`.
 *
 * A forwarder killed with SIGKILL leaves the filter behind, pointing at a TAP that went with it (the
 * kernel then drops what it matches); the next start at that address and port replaces it.
 */
import { execFileSync } from 'node:child_process';
import { parseIp } from '../../wire/address';

export interface IngressRedirectOptions {
  /** The local underlay address (IPv4), on some device other than lo. */
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
    if (code === 'ENOENT') throw new Error(`--tunnel-gso needs iproute2's ${command} (not found on PATH) to take VXLAN in whole; install it, or add --no-tunnel-ingress`);
    throw new Error(`${command} ${args.join(' ')}: ${String(stderr ?? '').trim() || (error as Error).message}`);
  }
}

/** The device holding `address` (from `ip -j -4 address show`), or undefined. */
export function deviceWithAddress(json: string, address: string): string | undefined {
  const links = JSON.parse(json) as { ifname: string; addr_info?: { local?: string }[] }[];
  return links.find((link) => (link.addr_info ?? []).some((info) => info.local === address))?.ifname;
}

/** The filter's preference: one per local address and port, so forwarders on one device keep apart. */
export function redirectPreference(localAddress: string, port: number): number {
  const [a, b, c, d] = parseIp(localAddress).bytes;
  const hash = Math.imul((a << 24 | b << 16 | c << 8 | d) ^ Math.imul(port, 0x9e3779b1), 0x85ebca6b) >>> 0;
  return 0x4000 + (hash % 0x8000);
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
    const device = deviceWithAddress(run('ip', ['-j', '-4', 'address', 'show']), localAddress);
    if (device === undefined) throw new Error(`--tunnel-gso: no device has the local address ${localAddress}`);
    if (device === 'lo') throw new Error(`--tunnel-gso: the local address ${localAddress} is on lo; tunnel GSO needs an underlay device (a veth, a NIC)`);
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
    run('tc', [
      'filter', 'add', 'dev', device, 'ingress', 'protocol', 'ip', 'pref', pref, 'u32',
      'match', 'u8', '0x45', '0xff', 'at', '0', // IPv4, a 20-byte header (no options)
      'match', 'u16', '0', '0x3fff', 'at', '6', // not a fragment
      'match', 'ip', 'protocol', '17', '0xff',
      'match', 'ip', 'dst', `${localAddress}/32`,
      'match', 'ip', 'dport', String(port), '0xffff',
      'action', 'mirred', 'egress', 'redirect', 'dev', tap,
    ]);
    options.log?.(`tunnel GSO: VXLAN for ${localAddress}:${port} arriving on ${device} goes to ${tap} (tc ingress filter, pref ${pref})`);
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
