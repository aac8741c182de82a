/**
 * What `vxlan-wasm decode` says about an inner (tenant) Ethernet frame: its addresses, VLAN tags
 * and EtherType, then ARP, IPv4/IPv6, TCP/UDP and ICMP/ICMPv6 as far as the bytes go. A frame cut
 * short or carrying something unknown is summarised up to where it stops making sense, with
 * `truncated` naming the header the bytes ran out in; nothing here throws on any input.
 */
import { EtherType, IpProtocol, etherTypeName, formatIpv4, formatIpv6, formatMac, ipProtocolName } from '../index';

export interface InnerSummary {
  /** Bytes of the inner frame. */
  length: number;
  source?: string;
  destination?: string;
  /** VLAN IDs of the 802.1Q/802.1ad tags, outermost first. */
  vlans?: number[];
  etherType?: number;
  /** `IPv4`, `ARP`, …, or `0x1234` for one this table does not name. */
  etherTypeName?: string;
  arp?: { operation: number; operationName: string; senderMac?: string; senderIp?: string; targetMac?: string; targetIp?: string };
  ip?: { version: 4 | 6; source: string; destination: string; protocol: number; protocolName: string; fragment: boolean };
  tcp?: { sourcePort: number; destinationPort: number; flags: string; payloadLength?: number };
  udp?: { sourcePort: number; destinationPort: number; length: number };
  icmp?: { version: 4 | 6; type: number; code: number; name?: string; target?: string };
  /** The header the bytes ran out in, if they did. */
  truncated?: 'ethernet' | 'vlan' | 'arp' | 'ipv4' | 'ipv6' | 'tcp' | 'udp' | 'icmp';
}

const ETHERNET_HEADER_LEN = 14;
const VLAN_TAG_LEN = 4;
/** As many tags as the outer decoder walks; more is not a frame anyone sends. */
const MAX_VLAN_TAGS = 8;
/** EtherType values up to 1500 are an IEEE 802.3 length, not a type (values 1501..1535 are undefined). */
const MAX_8023_LENGTH = 1500;
const VLAN_TPIDS = new Set<number>([EtherType.VLAN, EtherType.QinQ, EtherType.VLANDoubleTagged]);

const ARP_OPERATIONS: Record<number, string> = { 1: 'request', 2: 'reply', 3: 'reverse request', 4: 'reverse reply' };
const ICMP_TYPES: Record<number, string> = {
  0: 'echo reply', 3: 'destination unreachable', 5: 'redirect', 8: 'echo request', 11: 'time exceeded', 12: 'parameter problem',
};
const ICMPV6_TYPES: Record<number, string> = {
  1: 'destination unreachable', 2: 'packet too big', 3: 'time exceeded', 4: 'parameter problem',
  128: 'echo request', 129: 'echo reply', 133: 'router solicitation', 134: 'router advertisement',
  135: 'neighbor solicitation', 136: 'neighbor advertisement', 137: 'redirect',
};
const IPV6_EXTENSION_HEADERS = new Set<number>([
  IpProtocol.HopByHop, IpProtocol.Routing, IpProtocol.Fragment, IpProtocol.DestinationOptions,
]);
/** Longer chains are not walked (the outer decoder stops at the same number). */
const MAX_IPV6_EXTENSION_HEADERS = 8;

const u16 = (bytes: Uint8Array, at: number) => (bytes[at] << 8) | bytes[at + 1];

/** Summarises `frame` as far as its bytes go. */
export function summarizeInner(frame: Uint8Array): InnerSummary {
  const summary: InnerSummary = { length: frame.length };
  if (frame.length < 12) {
    summary.truncated = 'ethernet';
    return summary;
  }
  summary.destination = formatMac(frame, 0);
  summary.source = formatMac(frame, 6);
  let at = 12;
  if (frame.length < at + 2) return { ...summary, truncated: 'ethernet' };
  let etherType = u16(frame, at);
  while (VLAN_TPIDS.has(etherType) && (summary.vlans?.length ?? 0) < MAX_VLAN_TAGS) {
    if (frame.length < at + VLAN_TAG_LEN + 2) return { ...summary, truncated: 'vlan' };
    (summary.vlans ??= []).push(u16(frame, at + 2) & 0x0fff);
    at += VLAN_TAG_LEN;
    etherType = u16(frame, at);
  }
  summary.etherType = etherType;
  summary.etherTypeName = etherType <= MAX_8023_LENGTH ? `802.3 length ${etherType}` : etherTypeName(etherType);
  const l3 = at + 2;
  if (etherType === EtherType.ARP) summarizeArp(frame, l3, summary);
  else if (etherType === EtherType.IPv4) summarizeIpv4(frame, l3, summary);
  else if (etherType === EtherType.IPv6) summarizeIpv6(frame, l3, summary);
  return summary;
}

function summarizeArp(frame: Uint8Array, at: number, summary: InnerSummary): void {
  // Hardware type, protocol type, their address lengths, operation: 8 bytes; then the addresses.
  if (frame.length < at + 8) {
    summary.truncated = 'arp';
    return;
  }
  const operation = u16(frame, at + 6);
  const arp: NonNullable<InnerSummary['arp']> = { operation, operationName: ARP_OPERATIONS[operation] ?? `operation ${operation}` };
  summary.arp = arp;
  const isEthernetIpv4 = u16(frame, at) === 1 && u16(frame, at + 2) === EtherType.IPv4 && frame[at + 4] === 6 && frame[at + 5] === 4;
  if (!isEthernetIpv4) return;
  if (frame.length < at + 28) {
    summary.truncated = 'arp';
    return;
  }
  arp.senderMac = formatMac(frame, at + 8);
  arp.senderIp = formatIpv4(frame, at + 14);
  arp.targetMac = formatMac(frame, at + 18);
  arp.targetIp = formatIpv4(frame, at + 24);
}

function summarizeIpv4(frame: Uint8Array, at: number, summary: InnerSummary): void {
  if (frame.length < at + 20 || frame[at] >> 4 !== 4 || (frame[at] & 0x0f) < 5) {
    summary.truncated = 'ipv4';
    return;
  }
  const headerLen = (frame[at] & 0x0f) * 4;
  const protocol = frame[at + 9];
  const fragmentOffset = u16(frame, at + 6) & 0x1fff;
  summary.ip = {
    version: 4, source: formatIpv4(frame, at + 12), destination: formatIpv4(frame, at + 16),
    protocol, protocolName: ipProtocolName(protocol), fragment: (u16(frame, at + 6) & 0x2000) !== 0 || fragmentOffset !== 0,
  };
  if (frame.length < at + headerLen) {
    summary.truncated = 'ipv4';
    return;
  }
  // Only a first fragment starts with the upper-layer header.
  if (fragmentOffset !== 0) return;
  const totalLength = u16(frame, at + 2);
  const end = totalLength >= headerLen ? Math.min(frame.length, at + totalLength) : frame.length;
  summarizeUpperLayer(frame, at + headerLen, end, protocol, 4, summary);
}

function summarizeIpv6(frame: Uint8Array, at: number, summary: InnerSummary): void {
  if (frame.length < at + 40 || frame[at] >> 4 !== 6) {
    summary.truncated = 'ipv6';
    return;
  }
  let protocol = frame[at + 6];
  let upper = at + 40;
  let fragment = false;
  let walked = 0;
  while (IPV6_EXTENSION_HEADERS.has(protocol) && walked < MAX_IPV6_EXTENSION_HEADERS) {
    if (frame.length < upper + 8) break;
    if (protocol === IpProtocol.Fragment) {
      fragment = true;
      // A later fragment carries no upper-layer header to read.
      if ((u16(frame, upper + 2) & 0xfff8) !== 0) break;
    }
    const next = frame[upper];
    upper += protocol === IpProtocol.Fragment ? 8 : (frame[upper + 1] + 1) * 8;
    protocol = next;
    walked++;
  }
  summary.ip = {
    version: 6, source: formatIpv6(frame, at + 8), destination: formatIpv6(frame, at + 24),
    protocol, protocolName: ipProtocolName(protocol), fragment,
  };
  if (IPV6_EXTENSION_HEADERS.has(protocol)) {
    if (!fragment) summary.truncated = 'ipv6';
    return;
  }
  const payloadLength = u16(frame, at + 4);
  const end = payloadLength > 0 ? Math.min(frame.length, at + 40 + payloadLength) : frame.length;
  summarizeUpperLayer(frame, upper, end, protocol, 6, summary);
}

function summarizeUpperLayer(frame: Uint8Array, at: number, end: number, protocol: number, version: 4 | 6, summary: InnerSummary): void {
  if (protocol === IpProtocol.TCP) {
    if (end < at + 20) {
      summary.truncated = 'tcp';
      return;
    }
    const dataOffset = (frame[at + 12] >> 4) * 4;
    summary.tcp = {
      sourcePort: u16(frame, at), destinationPort: u16(frame, at + 2), flags: tcpFlags(frame[at + 13]),
      payloadLength: dataOffset >= 20 && at + dataOffset <= end ? end - at - dataOffset : undefined,
    };
  } else if (protocol === IpProtocol.UDP) {
    if (end < at + 8) {
      summary.truncated = 'udp';
      return;
    }
    summary.udp = { sourcePort: u16(frame, at), destinationPort: u16(frame, at + 2), length: u16(frame, at + 4) };
  } else if ((protocol === IpProtocol.ICMP && version === 4) || (protocol === IpProtocol.ICMPv6 && version === 6)) {
    if (end < at + 2) {
      summary.truncated = 'icmp';
      return;
    }
    const type = frame[at];
    const icmp: NonNullable<InnerSummary['icmp']> = { version, type, code: frame[at + 1], name: (version === 4 ? ICMP_TYPES : ICMPV6_TYPES)[type] };
    // Neighbor solicitation and advertisement name the address they are about (RFC 4861 §4.3, §4.4).
    if (version === 6 && (type === 135 || type === 136) && end >= at + 24) icmp.target = formatIpv6(frame, at + 8);
    summary.icmp = icmp;
  }
}

/** tcpdump's letters: S F P R U E W, and `.` for ACK. */
function tcpFlags(bits: number): string {
  const letters: Array<[number, string]> = [[0x02, 'S'], [0x01, 'F'], [0x08, 'P'], [0x04, 'R'], [0x20, 'U'], [0x40, 'E'], [0x80, 'W'], [0x10, '.']];
  return letters.filter(([bit]) => bits & bit).map(([, letter]) => letter).join('') || 'none';
}

/** `10.0.0.1:80`, or `[fd00::1]:80`: an IPv6 address needs brackets before a port. */
export const endpoint = (address: string, port: number, version: 4 | 6) => (version === 6 ? `[${address}]:${port}` : `${address}:${port}`);

/** One line, tcpdump-like: `02:…:01 > ff:…:ff vlan 10 ARP request who-has 10.0.0.2 tell 10.0.0.1`. */
export function formatInnerSummary(summary: InnerSummary): string {
  const parts: string[] = [`${summary.length} B`];
  if (summary.source !== undefined) parts.push(`${summary.source} > ${summary.destination}`);
  for (const vid of summary.vlans ?? []) parts.push(`vlan ${vid}`);
  const { arp, ip, tcp, udp, icmp } = summary;
  if (arp) {
    parts.push(`ARP ${arp.operationName}`);
    if (arp.operation === 1 && arp.targetIp) parts.push(`who-has ${arp.targetIp} tell ${arp.senderIp}`);
    else if (arp.operation === 2 && arp.senderIp) parts.push(`${arp.senderIp} is-at ${arp.senderMac}`);
    else if (arp.senderIp) parts.push(`${arp.senderIp} (${arp.senderMac}) > ${arp.targetIp} (${arp.targetMac})`);
  } else if (ip) {
    const ports = tcp ?? udp;
    parts.push(`IPv${ip.version}`);
    parts.push(ports
      ? `${endpoint(ip.source, ports.sourcePort, ip.version)} > ${endpoint(ip.destination, ports.destinationPort, ip.version)}`
      : `${ip.source} > ${ip.destination}`);
    parts.push(ip.protocolName);
    if (ip.fragment) parts.push('fragment');
    if (tcp) parts.push(`[${tcp.flags}]${tcp.payloadLength === undefined ? '' : ` len ${tcp.payloadLength}`}`);
    if (udp) parts.push(`len ${udp.length}`);
    if (icmp) parts.push(`${icmp.name ?? `type ${icmp.type}`}${icmp.code !== 0 ? ` code ${icmp.code}` : ''}${icmp.target ? ` ${icmp.target}` : ''}`);
  } else if (summary.etherTypeName !== undefined) {
    parts.push(summary.etherTypeName);
  }
  if (summary.truncated) parts.push(`[truncated ${summary.truncated}]`);
  return parts.join(' ');
}
