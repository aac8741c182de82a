/**
 * The outer-header template for one tunnel: built once from TunnelOptions (validated here, with
 * errors that name the field), then handed to the encapFrame kernel for every packet.
 */
import type { TunnelOptions } from '../types';
import {
  TEMPLATE_FIXED_SOURCE_PORT, TEMPLATE_HEADER_AREA, TEMPLATE_HEADER_LEN, TEMPLATE_IP_VERSION, TEMPLATE_IPV4_BASE_SUM,
  TEMPLATE_L3, TEMPLATE_L4, TEMPLATE_LEN, TEMPLATE_NEXT_ID, TEMPLATE_PORT_HIGH, TEMPLATE_PORT_LOW,
  TEMPLATE_PSEUDO_BASE_SUM, TEMPLATE_UDP_BASE_SUM, TEMPLATE_UDP_CHECKSUM_MODE, UDP_CHECKSUM_FULL, UDP_CHECKSUM_OFFLOAD, UDP_CHECKSUM_ZERO,
} from '../wasm/abi';
import { parseIp, parseMac } from '../wire/address';
import * as ethernet from '../wire/ethernet';
import * as ipv4 from '../wire/ipv4';
import * as ipv6 from '../wire/ipv6';
import * as udp from '../wire/udp';
import * as vxlan from '../wire/vxlan';
import { fold16, onesComplementSum } from '../reference/checksum';
import { checkInteger } from '../wire/fields';

export const VXLAN_PORT = 4789;
export const DEFAULT_SOURCE_PORT_RANGE: readonly [number, number] = [49152, 65535];
const UDP_PROTOCOL = 17;

/**
 * How the outer UDP checksum is made. `full`: summed over the whole datagram. `zero`: none
 * (IPv4 only; RFC 8200 requires it over IPv6). `offload`: when the inner frame ends with a
 * TCP/UDP segment that carries a checksum, that checksum is trusted, not checked, and the outer
 * sum follows from the headers alone, as Linux's local checksum offload does; otherwise it is
 * summed in full. The result equals `full` whenever the inner checksum is valid; a wrong inner
 * checksum yields a wrong outer one, so the receiver drops the frame as it would the inner one.
 */
export type UdpChecksumMode = 'full' | 'zero' | 'offload';

export interface TunnelTemplate {
  /** Descriptor and header bytes, TEMPLATE_LEN long, ready to copy into kernel memory. */
  readonly bytes: Uint8Array;
  readonly headerLen: number;
  readonly ipVersion: 4 | 6;
  /** The largest inner frame whose outer lengths still fit in 16 bits. */
  readonly maxInnerLen: number;
}

/** An optional boolean option: `undefined` gives the default; anything else but a boolean is refused. */
export function optionalBoolean(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new TypeError(`${name} must be a boolean, got ${typeof value === 'string' ? JSON.stringify(value) : typeof value}`);
  return value;
}

function parseField<T>(parse: (text: string) => T, value: unknown, name: string): T {
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string, got ${typeof value}`);
  try {
    return parse(value);
  } catch (error) {
    throw new TypeError(`${name}: ${(error as Error).message}`);
  }
}

/**
 * `udpChecksumMode`, when given, overrides `tunnel.udpChecksum` (the batch API's option).
 */
export function buildTunnelTemplate(tunnel: TunnelOptions, udpChecksumMode?: UdpChecksumMode): TunnelTemplate {
  if (typeof tunnel !== 'object' || tunnel === null) throw new TypeError('tunnel options must be an object');
  const { source, destination } = tunnel;
  if (typeof source !== 'object' || source === null) throw new TypeError('source must be an object { mac, ip, port? }');
  if (typeof destination !== 'object' || destination === null) throw new TypeError('destination must be an object { mac, ip, port? }');
  const vni = checkInteger(tunnel.vni, 'vni', 0, 0xffffff);
  // Parsed here so that bad text is reported with the field's name; the encoders parse again.
  parseField(parseMac, source.mac, 'source.mac');
  parseField(parseMac, destination.mac, 'destination.mac');
  const sourceIp = parseField(parseIp, source.ip, 'source.ip');
  const destinationIp = parseField(parseIp, destination.ip, 'destination.ip');
  if (sourceIp.version !== destinationIp.version) {
    throw new TypeError(`source.ip (IPv${sourceIp.version}) and destination.ip (IPv${destinationIp.version}) must be the same IP version`);
  }
  const fixedSourcePort = source.port === undefined ? -1 : checkInteger(source.port, 'source.port', 1, 65535);
  const destinationPort = checkInteger(destination.port ?? VXLAN_PORT, 'destination.port', 1, 65535);
  const ttl = checkInteger(tunnel.ttl ?? 64, 'ttl', 0, 255);
  const tos = checkInteger(tunnel.tos ?? 0, 'tos', 0, 255);
  const flowLabel = checkInteger(tunnel.flowLabel ?? 0, 'flowLabel', 0, 0xfffff);
  const range = tunnel.sourcePortRange ?? DEFAULT_SOURCE_PORT_RANGE;
  if (!Array.isArray(range) || range.length !== 2) throw new TypeError('sourcePortRange must be [low, high]');
  const portLow = checkInteger(range[0], 'sourcePortRange[0]', 1, 65535);
  const portHigh = checkInteger(range[1], 'sourcePortRange[1]', portLow, 65535);
  const dontFragment = optionalBoolean(tunnel.dontFragment, 'dontFragment', false);
  const udpChecksum = optionalBoolean(tunnel.udpChecksum, 'udpChecksum', true);
  if (tunnel.gbp !== undefined && (typeof tunnel.gbp !== 'object' || tunnel.gbp === null)) throw new TypeError('gbp must be an object { group, dontLearn?, policyApplied? }');
  if (tunnel.vlan !== undefined && (typeof tunnel.vlan !== 'object' || tunnel.vlan === null)) throw new TypeError('vlan must be an object { vid, pcp? }');
  const gbp = tunnel.gbp === undefined ? undefined : {
    group: checkInteger(tunnel.gbp.group, 'gbp.group', 0, 0xffff),
    dontLearn: optionalBoolean(tunnel.gbp.dontLearn, 'gbp.dontLearn', false),
    policyApplied: optionalBoolean(tunnel.gbp.policyApplied, 'gbp.policyApplied', false),
  };
  const vlans = tunnel.vlan === undefined ? [] : [{
    tpid: 0x8100,
    pcp: checkInteger(tunnel.vlan.pcp ?? 0, 'vlan.pcp', 0, 7),
    dei: false,
    vid: checkInteger(tunnel.vlan.vid, 'vlan.vid', 0, 4095),
  }];
  const ipVersion = sourceIp.version;
  // RFC 8200 §8.1: over IPv6 the UDP checksum is mandatory.
  let checksumMode = ipVersion === 6 || udpChecksum ? UDP_CHECKSUM_FULL : UDP_CHECKSUM_ZERO;
  if (udpChecksumMode === 'offload') checksumMode = UDP_CHECKSUM_OFFLOAD;
  else if (udpChecksumMode === 'full') checksumMode = UDP_CHECKSUM_FULL;
  else if (udpChecksumMode === 'zero') {
    if (ipVersion === 6) throw new RangeError("udpChecksumMode 'zero' is IPv4 only: over IPv6 the UDP checksum is mandatory (RFC 8200 §8.1)");
    checksumMode = UDP_CHECKSUM_ZERO;
  } else if (udpChecksumMode !== undefined) {
    throw new RangeError(`udpChecksumMode must be 'full', 'zero' or 'offload', got ${String(udpChecksumMode)}`);
  }

  const bytes = new Uint8Array(TEMPLATE_LEN);
  // Encoded from the area's start, then moved to end at TEMPLATE_LEN (see assembly/encap.ts).
  const header = bytes.subarray(TEMPLATE_HEADER_AREA);
  const l3 = ethernet.encodeInto(
    { destination: destination.mac, source: source.mac, etherType: ipVersion === 4 ? 0x0800 : 0x86dd, vlans },
    header, 0,
  );
  // The per-packet fields (lengths, identification, checksums, source port, even a fixed one) stay zero here.
  const l4 = l3 + (ipVersion === 4
    ? ipv4.encodeInto({
        version: 4, ihl: 5, dscp: tos >> 2, ecn: tos & 3, totalLength: 0, identification: 0,
        dontFragment, moreFragments: false, fragmentOffset: 0, ttl,
        protocol: UDP_PROTOCOL, checksum: 0, source: source.ip, destination: destination.ip, options: new Uint8Array(0),
      }, header, l3)
    : ipv6.encodeInto({
        version: 6, trafficClass: tos, flowLabel, payloadLength: 0, nextHeader: UDP_PROTOCOL, hopLimit: ttl,
        source: source.ip, destination: destination.ip, extensionHeaders: [],
      }, header, l3));
  const vx = l4 + udp.encodeInto(
    { sourcePort: 0, destinationPort, length: 0, checksum: 0 }, header, l4,
  );
  const headerLen = vx + vxlan.encodeInto({ vni, gbp }, header, vx);

  const addressLen = ipVersion === 4 ? 4 : 16;
  const addressesAt = l3 + (ipVersion === 4 ? 12 : 8);
  const pseudoBaseSum = fold16(onesComplementSum(header, addressesAt, 2 * addressLen, 0) + UDP_PROTOCOL);
  const ipv4BaseSum = ipVersion === 4 ? onesComplementSum(header, l3, 20, 0) : 0;
  // What the template fixes in the outer UDP checksum (the UDP and VXLAN headers with the source
  // port, length and checksum zero, plus the pseudo-header's addresses and protocol): the WASM
  // encapFrame adds only the per-packet fields to it instead of summing these 16 bytes per frame.
  const udpBaseSum = onesComplementSum(header, l4, 16, pseudoBaseSum);

  header.copyWithin(header.length - headerLen, 0, headerLen);
  header.fill(0, 0, header.length - headerLen);

  const descriptor = new DataView(bytes.buffer);
  for (const [field, value] of [
    [TEMPLATE_HEADER_LEN, headerLen], [TEMPLATE_L3, l3], [TEMPLATE_L4, l4], [TEMPLATE_IP_VERSION, ipVersion],
    [TEMPLATE_UDP_CHECKSUM_MODE, checksumMode], [TEMPLATE_PORT_LOW, portLow], [TEMPLATE_PORT_HIGH, portHigh],
    [TEMPLATE_FIXED_SOURCE_PORT, fixedSourcePort], [TEMPLATE_IPV4_BASE_SUM, ipv4BaseSum],
    [TEMPLATE_PSEUDO_BASE_SUM, pseudoBaseSum], [TEMPLATE_NEXT_ID, 0], [TEMPLATE_UDP_BASE_SUM, udpBaseSum],
  ]) descriptor.setInt32(field, value, true);

  // Outer lengths are 16-bit: IPv4 total length covers IP+UDP+VXLAN+inner, the UDP length UDP+VXLAN+inner.
  const maxInnerLen = 0xffff - (headerLen - (ipVersion === 4 ? l3 : l4));
  return { bytes, headerLen, ipVersion, maxInnerLen };
}
