/**
 * Where names outside the overlay go: the upstream resolvers, as `{ address, port, family }`,
 * parsed from "IP", "IP:PORT" or "[IPv6]:PORT", or by default the host's own from
 * /etc/resolv.conf (the issue: "names outside the network go to the host's own resolvers").
 *
 * A default must never point the server back at itself, or every unknown name would loop until
 * the pending-forward bound refuses it: a nameserver equal to the server's own address and port is
 * dropped, and when the server itself listens on loopback (127.0.0.0/8 or ::1) so are all
 * loopback nameservers, since a local stub there (systemd-resolved's 127.0.0.53, a dnsmasq on
 * 127.0.0.1) may well be the very socket, or forward back to it.
 */
import { readFileSync } from 'node:fs';
import { isIP, isIPv4 } from 'node:net';
import { DnsError, DnsErrorCode } from './errors';

export const DNS_PORT = 53;

export interface Upstream {
  address: string;
  port: number;
  family: 4 | 6;
}

/** "IP", "IP:PORT" or "[IPv6]:PORT" → Upstream; throws DnsError BAD_UPSTREAM with a sentence. */
export function parseUpstream(text: string): Upstream {
  const bad = () => new DnsError(DnsErrorCode.BAD_UPSTREAM, `upstream ${JSON.stringify(text)} is not "IP", "IP:PORT" or "[IPv6]:PORT"`);
  let address = text;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  if (bracketed !== null) {
    address = bracketed[1]!;
    portText = bracketed[2]!;
  } else if (isIP(text) === 0) {
    const colon = text.lastIndexOf(':');
    if (colon < 0) throw bad();
    address = text.slice(0, colon);
    portText = text.slice(colon + 1);
    // An IPv6 address with a port must be bracketed: "fd00::1:53" is itself an address.
    if (!isIPv4(address)) throw bad();
  }
  const family = isIP(address);
  if (family === 0) throw bad();
  let port = DNS_PORT;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText)) throw bad();
    port = Number(portText);
    if (port < 1 || port > 65535) throw bad();
  }
  return { address, port, family: family as 4 | 6 };
}

export function isLoopback(address: string): boolean {
  return (isIPv4(address) && address.startsWith('127.')) || address === '::1' || /^::ffff:127\./i.test(address);
}

/** The `nameserver` lines of resolv.conf text, in order (comments and other options ignored). */
export function resolvConfNameservers(text: string): string[] {
  const servers: string[] = [];
  for (const line of text.split('\n')) {
    const match = /^\s*nameserver\s+(\S+)/.exec(line);
    // A scoped IPv6 address (fe80::1%eth0) names an interface of the host: not for us to reach.
    if (match !== null && !match[1]!.includes('%') && isIP(match[1]!) !== 0) servers.push(match[1]!);
  }
  return servers;
}

/**
 * The default upstreams for a server on `listenAddress`:`listenPort`: resolv.conf's nameservers
 * minus those that would point back at it (see the header). `resolvConfText` defaults to the
 * file's content (none when it cannot be read: the server then answers SERVFAIL for unknown names).
 */
export function defaultUpstreams(listenAddress: string, listenPort: number, resolvConfText?: string): Upstream[] {
  let text = resolvConfText;
  if (text === undefined) {
    try {
      text = readFileSync('/etc/resolv.conf', 'utf8');
    } catch {
      text = '';
    }
  }
  const listenOnLoopback = isLoopback(listenAddress);
  return resolvConfNameservers(text)
    .map(parseUpstream)
    .filter((upstream) => !(upstream.address === listenAddress && upstream.port === listenPort))
    .filter((upstream) => !(listenOnLoopback && isLoopback(upstream.address)));
}
