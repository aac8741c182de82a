/**
 * DecapOptions checked once and packed as the decap kernels take them: the option bits, the VNI
 * to insist on, and up to four UDP ports in two words. Shared by the object API's `decapsulate`
 * and the batch layer's `Decapsulator`, so one set of rules validates both.
 */
import type { DecapOptions } from '../types';
import { DECAP_ALLOW_ZERO_UDP_CHECKSUM_IPV6, DECAP_CHECK_VNI, DECAP_GBP, DECAP_STRICT, DECAP_VERIFY_CHECKSUMS } from '../wasm/abi';
import { optionalBoolean } from './template';

/** IANA's VXLAN port and Linux's older default (the vxlan driver's 8472). */
export const DEFAULT_VXLAN_PORTS: readonly number[] = [4789, 8472];

/** DecapOptions validated and packed as decapFrame and decapBatch take them. */
export interface DecapSettings {
  /** DECAP_* bits (strict, verify checksums, check VNI, …): the kernels' `options` argument. */
  optionBits: number;
  /** The VNI to accept when DECAP_CHECK_VNI is set. */
  vni: number;
  portsLow: number;
  portsHigh: number;
}

export function decapSettings(options: DecapOptions = {}, strictDefault = true): DecapSettings {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const ports = options.ports ?? DEFAULT_VXLAN_PORTS;
  if (!Array.isArray(ports) || ports.length === 0 || ports.length > 4) throw new RangeError('ports must list 1 to 4 UDP ports');
  for (const port of ports) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`ports: ${String(port)} is not a port in 1..65535`);
  }
  // Booleans only: `strict: 'false'` is truthy and would silently mean the opposite.
  let bits = 0;
  if (optionalBoolean(options.strict, 'strict', strictDefault)) bits |= DECAP_STRICT;
  if (optionalBoolean(options.verifyChecksums, 'verifyChecksums', true)) bits |= DECAP_VERIFY_CHECKSUMS;
  if (optionalBoolean(options.allowZeroUdpChecksumIpv6, 'allowZeroUdpChecksumIpv6', false)) bits |= DECAP_ALLOW_ZERO_UDP_CHECKSUM_IPV6;
  if (optionalBoolean(options.gbp, 'gbp', false)) bits |= DECAP_GBP;
  let vni = 0;
  if (options.vni !== undefined) {
    if (!Number.isInteger(options.vni) || options.vni < 0 || options.vni > 0xffffff) throw new RangeError('vni must be an integer in 0..16777215');
    vni = options.vni;
    bits |= DECAP_CHECK_VNI;
  }
  const port = (i: number) => ports[i] ?? 0;
  return { optionBits: bits, vni, portsLow: port(0) | (port(1) << 16), portsHigh: (port(2) | (port(3) << 16)) >>> 0 };
}
