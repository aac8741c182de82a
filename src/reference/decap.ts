/**
 * The pure-TS twin of assembly/decap.ts: the same checks in the same order, the same result
 * record, written for clarity. It is the oracle in the conformance and differential tests.
 */
import {
  DECAP_ALLOW_ZERO_UDP_CHECKSUM_IPV6, DECAP_CHECK_VNI, DECAP_GBP, DECAP_STRICT, DECAP_VERIFY_CHECKSUMS,
  RESULT_INNER, RESULT_INNER_LEN, RESULT_IP_VERSION, RESULT_L3, RESULT_L4, RESULT_LAYER, RESULT_OFFSET,
  RESULT_SOURCE_PORT, RESULT_STATUS, RESULT_VNI, RESULT_VXLAN,
} from '../wasm/abi';
import { DecodeStatus as S, Layer } from '../errors';
import { ipv4PseudoHeaderSum, ipv6PseudoHeaderSum, onesComplementSum } from './checksum';
import { readU16 } from '../wire/fields';
import { isVlanTpid, MAX_VLAN_TAGS } from '../wire/ethernet';
import { isExtensionHeader, MAX_EXTENSION_HEADERS } from '../wire/ipv6';
import { IpProtocol } from '../wire/protocols';

const UDP = IpProtocol.UDP;

export function decapFrame(
  bytes: Uint8Array, frame: number, len: number, options: number, expectedVni: number,
  portsLow: number, portsHigh: number, out: number,
): number {
  const record = new DataView(bytes.buffer, bytes.byteOffset + out, 44);
  const at = (offset: number) => bytes[frame + offset];
  const be16 = (offset: number) => readU16(bytes, frame + offset);
  const fail = (status: number, layer: number, offset: number) => {
    record.setInt32(RESULT_STATUS, status, true);
    record.setInt32(RESULT_LAYER, layer, true);
    record.setInt32(RESULT_OFFSET, offset, true);
    return status;
  };
  const strict = (options & DECAP_STRICT) !== 0;
  const verify = (options & DECAP_VERIFY_CHECKSUMS) !== 0;

  // Ethernet and VLAN tags.
  if (len < 14) return fail(S.TRUNCATED, Layer.ethernet, 0);
  let typeOffset = 12;
  let etherType = be16(typeOffset);
  for (let tags = 0; isVlanTpid(etherType); tags++) {
    if (tags === MAX_VLAN_TAGS) return fail(S.TOO_MANY_VLAN_TAGS, Layer.ethernet, typeOffset);
    typeOffset += 4;
    if (typeOffset + 2 > len) return fail(S.TRUNCATED, Layer.ethernet, 0);
    etherType = be16(typeOffset);
  }
  const l3 = typeOffset + 2;
  const available = len - l3;

  let end: number;
  let l4: number;
  let ipVersion: 4 | 6;
  if (etherType === 0x0800) {
    ipVersion = 4;
    if (available < 20) return fail(S.TRUNCATED, Layer.ipv4, l3);
    if (at(l3) >> 4 !== 4) return fail(S.BAD_IP_VERSION, Layer.ipv4, l3);
    const headerLen = (at(l3) & 0x0f) * 4;
    if (headerLen < 20) return fail(S.BAD_IHL, Layer.ipv4, l3);
    if (available < headerLen) return fail(S.TRUNCATED, Layer.ipv4, l3);
    if (verify && onesComplementSum(bytes, frame + l3, headerLen, 0) !== 0xffff) {
      return fail(S.BAD_IPV4_CHECKSUM, Layer.ipv4, l3 + 10);
    }
    const totalLength = be16(l3 + 2);
    if (totalLength > available) return fail(S.TRUNCATED, Layer.ipv4, l3);
    if (totalLength < headerLen || (strict && totalLength !== available)) {
      return fail(S.LENGTH_MISMATCH, Layer.ipv4, l3 + 2);
    }
    const moreFragments = be16(l3 + 6) & 0x2000;
    const fragmentOffset = be16(l3 + 6) & 0x1fff;
    if (moreFragments || fragmentOffset) return fail(S.FRAGMENTED, Layer.ipv4, l3 + 6);
    if (at(l3 + 9) !== UDP) return fail(S.NOT_UDP, Layer.ipv4, l3 + 9);
    end = l3 + totalLength;
    l4 = l3 + headerLen;
  } else if (etherType === 0x86dd) {
    ipVersion = 6;
    if (available < 40) return fail(S.TRUNCATED, Layer.ipv6, l3);
    if (at(l3) >> 4 !== 6) return fail(S.BAD_IP_VERSION, Layer.ipv6, l3);
    const payloadLength = be16(l3 + 4);
    if (payloadLength > available - 40) return fail(S.TRUNCATED, Layer.ipv6, l3);
    if (strict && payloadLength !== available - 40) return fail(S.LENGTH_MISMATCH, Layer.ipv6, l3 + 4);
    end = l3 + 40 + payloadLength;
    let nextHeaderOffset = l3 + 6;
    let cursor = l3 + 40;
    for (let count = 0; isExtensionHeader(at(nextHeaderOffset)); count++) {
      if (at(nextHeaderOffset) === 44) return fail(S.FRAGMENTED, Layer.ipv6, cursor);
      if (count === MAX_EXTENSION_HEADERS || end - cursor < 8) return fail(S.BAD_IPV6_EXTENSION, Layer.ipv6, cursor);
      const extensionLen = (at(cursor + 1) + 1) * 8;
      if (extensionLen > end - cursor) return fail(S.BAD_IPV6_EXTENSION, Layer.ipv6, cursor);
      nextHeaderOffset = cursor;
      cursor += extensionLen;
    }
    if (at(nextHeaderOffset) !== UDP) return fail(S.NOT_UDP, Layer.ipv6, nextHeaderOffset);
    l4 = cursor;
  } else {
    return fail(S.NOT_IPV4_OR_IPV6, Layer.ethernet, typeOffset);
  }

  // UDP.
  if (end - l4 < 8) return fail(S.TRUNCATED, Layer.udp, l4);
  const udpLength = be16(l4 + 4);
  if (udpLength < 8 || udpLength > end - l4 || (strict && udpLength !== end - l4)) {
    return fail(S.LENGTH_MISMATCH, Layer.udp, l4 + 4);
  }
  end = l4 + udpLength;
  const port = be16(l4 + 2);
  const accepted = [portsLow & 0xffff, portsLow >>> 16, portsHigh & 0xffff, portsHigh >>> 16];
  if (port === 0 || !accepted.includes(port)) return fail(S.NOT_VXLAN_PORT, Layer.udp, l4 + 2);
  if (be16(l4 + 6) === 0) {
    if (ipVersion === 6 && (options & DECAP_ALLOW_ZERO_UDP_CHECKSUM_IPV6) === 0) {
      return fail(S.ZERO_UDP_CHECKSUM_IPV6, Layer.udp, l4 + 6);
    }
  } else if (verify) {
    const pseudo = ipVersion === 4
      ? ipv4PseudoHeaderSum(bytes, frame + l3 + 12, frame + l3 + 16, UDP, udpLength)
      : ipv6PseudoHeaderSum(bytes, frame + l3 + 8, frame + l3 + 24, UDP, udpLength);
    if (onesComplementSum(bytes, frame + l4, udpLength, pseudo) !== 0xffff) {
      return fail(S.BAD_UDP_CHECKSUM, Layer.udp, l4 + 6);
    }
  }

  // VXLAN.
  const vx = l4 + 8;
  if (end - vx < 8) return fail(S.TRUNCATED, Layer.vxlan, vx);
  const flags = at(vx);
  if ((flags & 0x08) === 0) return fail(S.VXLAN_I_FLAG_MISSING, Layer.vxlan, vx);
  if (strict) {
    const gbp = (options & DECAP_GBP) !== 0 && (flags & 0x80) !== 0;
    if (flags & ~(gbp ? 0x88 : 0x08)) return fail(S.VXLAN_RESERVED_BITS, Layer.vxlan, vx);
    if (at(vx + 1) & ~(gbp ? 0x48 : 0)) return fail(S.VXLAN_RESERVED_BITS, Layer.vxlan, vx + 1);
    if (!gbp && (at(vx + 2) || at(vx + 3))) return fail(S.VXLAN_RESERVED_BITS, Layer.vxlan, vx + 2);
    if (at(vx + 7)) return fail(S.VXLAN_RESERVED_BITS, Layer.vxlan, vx + 7);
  }
  const vni = (at(vx + 4) << 16) | (at(vx + 5) << 8) | at(vx + 6);
  if ((options & DECAP_CHECK_VNI) !== 0 && vni !== expectedVni) return fail(S.VNI_MISMATCH, Layer.vxlan, vx + 4);

  const inner = vx + 8;
  if (end - inner < 14) return fail(S.TRUNCATED, Layer.inner, inner);

  for (const [field, value] of [
    [RESULT_STATUS, S.OK], [RESULT_LAYER, 0], [RESULT_OFFSET, 0], [RESULT_L3, l3], [RESULT_L4, l4],
    [RESULT_VXLAN, vx], [RESULT_INNER, inner], [RESULT_INNER_LEN, end - inner], [RESULT_VNI, vni],
    [RESULT_IP_VERSION, ipVersion], [RESULT_SOURCE_PORT, be16(l4)],
  ]) record.setInt32(field, value, true);
  return S.OK;
}
