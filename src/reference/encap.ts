/** The pure-TS twin of assembly/encap.ts. */
import {
  TEMPLATE_FIXED_SOURCE_PORT, TEMPLATE_HEADER_AREA, TEMPLATE_HEADER_LEN, TEMPLATE_LEN, TEMPLATE_IP_VERSION, TEMPLATE_IPV4_BASE_SUM,
  TEMPLATE_L3, TEMPLATE_L4, TEMPLATE_NEXT_ID, TEMPLATE_PORT_HIGH, TEMPLATE_PORT_LOW, TEMPLATE_PSEUDO_BASE_SUM,
  TEMPLATE_UDP_CHECKSUM_MODE, UDP_CHECKSUM_FULL, UDP_CHECKSUM_OFFLOAD,
} from '../wasm/abi';
import { fold16, onesComplementSum } from './checksum';
import { flowHash, sourcePortFromHash } from './flowhash';
import { innerSegment, locateInnerL4 } from './inner';
import { readU16, writeU16 } from '../wire/fields';

export function encapFrame(bytes: Uint8Array, template: number, inner: number, innerLen: number): number {
  const descriptor = new DataView(bytes.buffer, bytes.byteOffset + template, TEMPLATE_HEADER_AREA);
  const field = (offset: number) => descriptor.getInt32(offset, true);
  const headerLen = field(TEMPLATE_HEADER_LEN);
  const l3 = field(TEMPLATE_L3);
  const l4 = field(TEMPLATE_L4);
  const frame = inner - headerLen;
  bytes.copyWithin(frame, template + TEMPLATE_LEN - headerLen, template + TEMPLATE_LEN);

  const udpLength = headerLen - l4 + innerLen;
  if (field(TEMPLATE_IP_VERSION) === 4) {
    const totalLength = headerLen - l3 + innerLen;
    const id = field(TEMPLATE_NEXT_ID) & 0xffff;
    descriptor.setInt32(TEMPLATE_NEXT_ID, (id + 1) & 0xffff, true);
    writeU16(bytes, frame + l3 + 2, totalLength);
    writeU16(bytes, frame + l3 + 4, id);
    const headerSum = fold16((field(TEMPLATE_IPV4_BASE_SUM) >>> 0) + totalLength + id);
    writeU16(bytes, frame + l3 + 10, ~headerSum & 0xffff);
  } else {
    writeU16(bytes, frame + l3 + 4, udpLength);
  }
  writeU16(bytes, frame + l4 + 4, udpLength);

  let sourcePort = field(TEMPLATE_FIXED_SOURCE_PORT);
  if (sourcePort < 0) {
    sourcePort = sourcePortFromHash(flowHash(bytes, inner, innerLen), field(TEMPLATE_PORT_LOW), field(TEMPLATE_PORT_HIGH));
  }
  writeU16(bytes, frame + l4, sourcePort);

  const mode = field(TEMPLATE_UDP_CHECKSUM_MODE);
  if (mode === UDP_CHECKSUM_FULL || mode === UDP_CHECKSUM_OFFLOAD) {
    const seed = fold16((field(TEMPLATE_PSEUDO_BASE_SUM) >>> 0) + udpLength);
    let checksum: number;
    if (mode === UDP_CHECKSUM_OFFLOAD && canSumFromHeaders(bytes, inner, innerLen)) {
      // Local checksum offload: a valid inner segment sums to ~(its pseudo-header sum).
      const headersSum = onesComplementSum(bytes, frame + l4, headerLen - l4 + innerSegment.start, seed);
      checksum = ~fold16(headersSum + (~innerSegment.pseudoSum & 0xffff)) & 0xffff;
    } else {
      checksum = ~onesComplementSum(bytes, frame + l4, udpLength, seed) & 0xffff;
    }
    // RFC 768: a computed zero goes out as all ones.
    writeU16(bytes, frame + l4 + 6, checksum === 0 ? 0xffff : checksum);
  }
  return headerLen + innerLen;
}

/** The inner frame ends with a TCP/UDP segment that carries a checksum (a UDP zero means none). */
function canSumFromHeaders(bytes: Uint8Array, inner: number, innerLen: number): boolean {
  const protocol = locateInnerL4(bytes, inner, innerLen);
  if (protocol === 0 || innerSegment.end !== innerLen) return false;
  return !(protocol === 17 && readU16(bytes, inner + innerSegment.start + 6) === 0);
}
