/**
 * The per-header codecs, for users who build or parse other stacks: each namespace has
 * `decode(buf, offset)`, `encodeInto(fields, buf, offset)`, `encodingLength(fields)` and its
 * field offsets as named constants (`ipv4.IPV4_TTL`).
 */

export * as ethernet from './ethernet';
export * as ipv4 from './ipv4';
export * as ipv6 from './ipv6';
export * as udp from './udp';
export * as vxlan from './vxlan';
export * as address from './address';

export { parseMac, formatMac, writeMac, parseIpv4, formatIpv4, writeIpv4, parseIpv6, formatIpv6, writeIpv6, parseIp } from './address';
export type { ParsedIp } from './address';
export { EtherType, IpProtocol, etherTypeName, ipProtocolName } from './protocols';
export { ipv4HeaderChecksum } from './ipv4';
export { ipv6UpperLayer } from './ipv6';
export type { UpperLayer } from './ipv6';
