/**
 * `vxlan-wasm decode`: print the layers of every VXLAN frame in a pcap/pcapng capture, read as a
 * stream (record by record, in bounded memory), through the package's public API only.
 *
 * Beyond what `decapsulate` accepts, it reads what captures taken on real hosts hold, and says so
 * in a note on the frame, as tcpdump does:
 *   --no-verify   checksums are not verified; a wrong one is noted with the value it should have
 *                 (a partial checksum, left for the NIC by checksum offload, is recognised as such)
 *   --lax         GSO / BIG TCP super-packets: an IPv4 total length of 0, or an IPv6 payload
 *                 length of 0 (with or without a hop-by-hop jumbo option), longer than any datagram
 *   UDP port 4790 VXLAN-GPE: recognised and described, its payload not decoded further
 */
import { VXLAN_HEADER_LEN } from '../wire/vxlan';
import {
  DecodeError, decapsulate, decapsulateLax, ethernet, ipv4, ipv6, openPcapStream, LinkType,
  onesComplementSum, ipv4HeaderChecksum,
  type DecapOptions, type VxlanFrame,
} from '../index';
import { endpoint, formatInnerSummary, summarizeInner, type InnerSummary } from './inner-summary';

export interface DecodeCommandOptions {
  json: boolean;
  /** decapsulateLax instead of decapsulate, and super-packets accepted. */
  lax: boolean;
  verifyChecksums: boolean;
  /** Checked by the caller: 1 to 4 ports in 1..65535; default the library's. */
  ports?: number[];
  allowZeroUdpChecksumIpv6: boolean;
  gbp: boolean;
  /** Prints one line; false means the output is full (a pipe's buffer), and `drain` then resolves when it is not. */
  write: (line: string) => boolean | void;
  drain?: () => Promise<unknown>;
}

/** IANA's VXLAN-GPE port (draft-ietf-nvo3-vxlan-gpe §3.3), Linux's default for `vxlan … gpe`. */
export const VXLAN_GPE_PORT = 4790;
/** VXLAN-GPE flags byte: |R|R|Ver|I|P|B|O| — P says the Next Protocol field is present. */
const GPE_FLAG_P = 0x04;
const GPE_FLAG_O = 0x01;
const GPE_NEXT_PROTOCOL = 3;
const GPE_NEXT_PROTOCOLS: Record<number, string> = { 1: 'IPv4', 2: 'IPv6', 3: 'Ethernet', 4: 'NSH', 5: 'MPLS' };

const UDP_HEADER_LEN = 8;
const IPV6_HEADER_LEN = 40;
const IP_PROTOCOL_UDP = 17;
const MAX_IP_LENGTH = 0xffff;
/** RFC 2675 Jumbo Payload option: type 0xC2, 4 bytes of length. */
const JUMBO_OPTION_TYPE = 0xc2;
const HOP_BY_HOP = 0;

/** Something a frame needed to be read that a strict decoder would not have done: said on its line. */
interface Note {
  kind: 'bad-ip-checksum' | 'bad-udp-checksum' | 'super-packet' | 'checksums-not-verified';
  text: string;
  value?: number;
  expected?: number;
  partial?: boolean;
  length?: number;
}

interface Decoded {
  frame: VxlanFrame;
  notes: Note[];
  /** Where the VXLAN header starts in the captured bytes. */
  vxlanAt: number;
}

const hex16 = (value: number) => `0x${value.toString(16).padStart(4, '0')}`;

function outerSummary(frame: Pick<VxlanFrame, 'ethernet' | 'ip' | 'udp'>): string {
  const { ethernet: eth, ip, udp } = frame;
  const vlans = eth.vlans.map((tag) => ` vlan ${tag.vid}`).join('');
  return `${eth.source} > ${eth.destination}${vlans} IPv${ip.version} ${endpoint(ip.source, udp.sourcePort, ip.version)} > ` +
    `${endpoint(ip.destination, udp.destinationPort, ip.version)}`;
}

function summarize(decoded: Decoded, inner: InnerSummary): string {
  const { vxlan } = decoded.frame;
  const gbp = vxlan.gbp ? ` gbp group ${vxlan.gbp.group}${vxlan.gbp.dontLearn ? ' D' : ''}${vxlan.gbp.policyApplied ? ' A' : ''}` : '';
  const notes = decoded.notes.map((note) => ` [${note.text}]`).join('');
  return `${outerSummary(decoded.frame)} VXLAN vni ${vxlan.vni}${gbp} inner ${formatInnerSummary(inner)}${notes}`;
}

/** Where each outer header starts, from a frame the library has decoded (`inner` is a view into `data`). */
function offsetsOf(data: Uint8Array, frame: VxlanFrame) {
  const innerAt = frame.inner.byteOffset - data.byteOffset;
  const vxlanAt = innerAt - VXLAN_HEADER_LEN;
  return { l3: ethernet.headerLength(data, 0), l4: vxlanAt - UDP_HEADER_LEN, vxlanAt };
}

/** The ones' complement sum of the pseudo-header (RFC 768; RFC 8200 §8.1), folded, not complemented. */
function pseudoHeaderSum(data: Uint8Array, l3: number, version: 4 | 6, udpLength: number): number {
  const pseudo = version === 4 ? new Uint8Array(12) : new Uint8Array(40);
  if (version === 4) {
    pseudo.set(data.subarray(l3 + 12, l3 + 20), 0);
    pseudo[9] = IP_PROTOCOL_UDP;
    pseudo[10] = udpLength >> 8;
    pseudo[11] = udpLength & 0xff;
  } else {
    pseudo.set(data.subarray(l3 + 8, l3 + 40), 0);
    new DataView(pseudo.buffer).setUint32(32, udpLength);
    pseudo[39] = IP_PROTOCOL_UDP;
  }
  return onesComplementSum(pseudo);
}

/**
 * The checksums a `verifyChecksums: false` decode let through, compared with what they should
 * be. A UDP checksum equal to the pseudo-header sum alone is what Linux leaves for the NIC to
 * finish (CHECKSUM_PARTIAL): a capture on the sending host with offload holds exactly that.
 */
function checksumNotes(data: Uint8Array, decoded: Decoded): Note[] {
  const { frame } = decoded;
  const { l3, l4 } = offsetsOf(data, frame);
  const notes: Note[] = [];
  if (frame.ip.version === 4) {
    const expected = ipv4HeaderChecksum(data, l3, frame.ip.ihl * 4);
    if (expected !== frame.ip.checksum) {
      notes.push({ kind: 'bad-ip-checksum', value: frame.ip.checksum, expected, text: `bad ip cksum ${hex16(frame.ip.checksum)} -> ${hex16(expected)}!` });
    }
  }
  const { checksum: value, length } = frame.udp;
  // Over IPv4, 0 means "no checksum" (RFC 768); over IPv6 the decoder has already judged a 0.
  if (value === 0) return notes;
  const segment = data.slice(l4, l4 + length);
  segment[6] = 0;
  segment[7] = 0;
  const pseudo = pseudoHeaderSum(data, l3, frame.ip.version, length);
  // A computed 0 is sent as 0xffff (RFC 768: 0 would mean none).
  const expected = (~onesComplementSum(segment, pseudo) & 0xffff) || 0xffff;
  if (expected !== value) {
    const partial = value === pseudo;
    notes.push({
      kind: 'bad-udp-checksum', value, expected, partial,
      text: `bad udp cksum ${hex16(value)} -> ${hex16(expected)}!${partial ? ' partial (pseudo-header only: checksum offload)' : ''}`,
    });
  }
  return notes;
}

/**
 * A GSO / BIG TCP super-packet: the IP length field is 0 because the real length does not fit in
 * it (Linux writes 0 for a total above 65535) and the frame is longer than any datagram. The
 * library cannot take such a frame whole, so a copy is cut to the largest datagram, its length
 * fields are set to match, and the library decodes that (lax, checksums off: they cover bytes
 * the copy lacks); the headers reported are the captured ones, the inner frame runs to the end.
 * Undefined when the frame is not one.
 */
function decodeSuperPacket(data: Uint8Array, options: DecapOptions): Decoded | undefined {
  let l3: number;
  try {
    l3 = ethernet.headerLength(data, 0);
  } catch {
    return undefined;
  }
  const etherType = (data[l3 - 2] << 8) | data[l3 - 1];
  const realIpLength = data.length - l3;
  const copy = data.slice(0, l3 + Math.min(realIpLength, MAX_IP_LENGTH));
  const view = new DataView(copy.buffer);
  let l4: number;
  let text: string;
  if (etherType === 0x0800 && realIpLength >= 20 && copy[l3] >> 4 === 4) {
    if (view.getUint16(l3 + 2) !== 0) return undefined;
    view.setUint16(l3 + 2, copy.length - l3);
    l4 = l3 + (copy[l3] & 0x0f) * 4;
    text = `length ${realIpLength} [was 0, presumed ${realIpLength > MAX_IP_LENGTH ? 'BIG TCP' : 'TSO'}]`;
  } else if (etherType === 0x86dd && realIpLength > IPV6_HEADER_LEN && copy[l3] >> 4 === 6) {
    if (view.getUint16(l3 + 4) !== 0) return undefined;
    const realPayload = realIpLength - IPV6_HEADER_LEN;
    const jumbo = jumboPayloadLength(data, l3);
    if (jumbo !== undefined && jumbo !== realPayload) return undefined;
    view.setUint16(l3 + 4, copy.length - l3 - IPV6_HEADER_LEN);
    try {
      l4 = ipv6.ipv6UpperLayer(copy, l3).offset;
    } catch {
      return undefined;
    }
    text = `payload length ${realPayload} [was 0, ${jumbo !== undefined ? 'jumbo payload option' : 'presumed BIG TCP'}]`;
  } else {
    return undefined;
  }
  if (l4 + UDP_HEADER_LEN > copy.length) return undefined;
  const realUdpLength = data.length - l4;
  const udpLengthField = view.getUint16(l4 + 4);
  view.setUint16(l4 + 4, copy.length - l4);
  let cut: VxlanFrame;
  try {
    cut = decapsulateLax(copy, { ...options, verifyChecksums: false });
  } catch {
    return undefined;
  }
  const innerAt = cut.inner.byteOffset - copy.byteOffset;
  const frame: VxlanFrame = {
    ethernet: cut.ethernet,
    ip: etherType === 0x0800 ? ipv4.decode(data, l3) : { ...cut.ip, payloadLength: 0 } as VxlanFrame['ip'],
    udp: { ...cut.udp, length: udpLengthField },
    vxlan: cut.vxlan,
    inner: data.subarray(innerAt),
  };
  const notes: Note[] = [{ kind: 'super-packet', length: realIpLength, text }];
  if (udpLengthField !== realUdpLength && udpLengthField !== realUdpLength % 0x10000) {
    notes[0].text += `, udp length ${udpLengthField} (real ${realUdpLength})`;
  }
  notes.push({ kind: 'checksums-not-verified', text: 'checksums not verified' });
  return { frame, notes, vxlanAt: innerAt - VXLAN_HEADER_LEN };
}

/** The RFC 2675 Jumbo Payload length in a hop-by-hop header right after the IPv6 header, if any. */
function jumboPayloadLength(data: Uint8Array, l3: number): number | undefined {
  if (data[l3 + 6] !== HOP_BY_HOP) return undefined;
  const start = l3 + IPV6_HEADER_LEN;
  if (start + 2 > data.length) return undefined;
  const end = Math.min(data.length, start + (data[start + 1] + 1) * 8);
  for (let at = start + 2; at < end; ) {
    const type = data[at];
    if (type === 0) {
      at++; // Pad1
      continue;
    }
    if (at + 2 > end) return undefined;
    const length = data[at + 1];
    if (type === JUMBO_OPTION_TYPE && length === 4 && at + 6 <= end) return new DataView(data.buffer, data.byteOffset).getUint32(at + 2);
    at += 2 + length;
  }
  return undefined;
}

/** A VXLAN-GPE frame (UDP 4790), decoded by the library with that port, described not unwrapped. */
function describeGpe(data: Uint8Array, options: DecapOptions): { text: string; json: object } | undefined {
  let frame: VxlanFrame;
  try {
    // GPE's P bit and Next Protocol byte are reserved bits to plain VXLAN: only lax reads them.
    frame = decapsulateLax(data, { ...options, ports: [VXLAN_GPE_PORT] });
  } catch {
    return undefined;
  }
  const { vxlanAt } = offsetsOf(data, frame);
  const flags = data[vxlanAt];
  const version = (flags >> 4) & 0x03;
  // "If the P bit is clear the payload MUST be Ethernet" — the draft's rule for interoperating
  // with plain VXLAN.
  const nextProtocol = flags & GPE_FLAG_P ? data[vxlanAt + GPE_NEXT_PROTOCOL] : 3;
  const name = GPE_NEXT_PROTOCOLS[nextProtocol] ?? 'unknown';
  const oam = (flags & GPE_FLAG_O) !== 0;
  const inner = nextProtocol === 3 ? summarizeInner(frame.inner) : undefined;
  const json = {
    ethernet: frame.ethernet, ip: ipJson(frame), udp: frame.udp,
    vxlanGpe: { flags, version, pFlag: (flags & GPE_FLAG_P) !== 0, oam, nextProtocol, nextProtocolName: name, vni: frame.vxlan.vni },
    payloadLength: frame.inner.length, ...(inner ? { innerSummary: inner } : {}), payload: hex(frame.inner),
  };
  const detail = `${flags & GPE_FLAG_P ? '' : ' (P flag clear)'}${version ? ` version ${version}` : ''}${oam ? ' OAM' : ''}`;
  const text = `${outerSummary(frame)} VXLAN-GPE, next protocol ${name} (${nextProtocol}), vni ${frame.vxlan.vni}${detail}, ` +
    `payload ${inner ? formatInnerSummary(inner) : `${frame.inner.length} B (not decoded)`}`;
  return { text, json };
}

/** Resolves to the exit code: 0 when every frame decoded (or was recognised as VXLAN-GPE), 1 when any failed. */
export async function decodeCommand(source: AsyncIterable<Uint8Array>, options: DecodeCommandOptions): Promise<number> {
  const decapOptions: DecapOptions = {
    verifyChecksums: options.verifyChecksums,
    ports: options.ports,
    allowZeroUdpChecksumIpv6: options.allowZeroUdpChecksumIpv6,
    gbp: options.gbp,
  };
  const ports = options.ports ?? [4789, 8472];
  const decode = options.lax ? decapsulateLax : decapsulate;
  const capture = await openPcapStream(source);
  let failed = 0;
  let number = 0;
  let outputFull = false;
  const write = (line: string) => {
    if (options.write(line) === false) outputFull = true;
  };
  for await (const packet of capture) {
    // Read no further than the reader of our output: a 2 GB capture piped into a pager must not
    // pile up its decoded lines in memory.
    if (outputFull && options.drain) await options.drain();
    outputFull = false;
    number++;
    const data = packet.data;
    if (packet.linkType !== LinkType.ETHERNET) {
      failed++;
      write(options.json
        ? JSON.stringify({ frame: number, error: { code: 'UNSUPPORTED_LINK_TYPE', linkType: packet.linkType } })
        : `${number} link type ${packet.linkType} is not Ethernet`);
      continue;
    }
    let decoded: Decoded | undefined;
    try {
      const frame = decode(data, decapOptions);
      decoded = { frame, notes: [], vxlanAt: offsetsOf(data, frame).vxlanAt };
      if (!options.verifyChecksums) decoded.notes = checksumNotes(data, decoded);
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      // A zero IP length makes the library stop at whichever check meets it first (a UDP header
      // past the end of a 0-byte payload, a hop-by-hop header past it, a length that disagrees).
      if (options.lax && ipLengthIsZero(data)) decoded = decodeSuperPacket(data, decapOptions);
      if (error.code === 'NOT_VXLAN_PORT' && !ports.includes(VXLAN_GPE_PORT) && destinationPort(data) === VXLAN_GPE_PORT) {
        const gpe = describeGpe(data, decapOptions);
        if (gpe !== undefined) {
          write(options.json ? JSON.stringify({ frame: number, ...gpe.json }) : `${number} ${gpe.text}`);
          continue;
        }
      }
      if (!decoded) {
        failed++;
        write(options.json
          ? JSON.stringify({ frame: number, error: { code: error.code, layer: error.layer, offset: error.offset } })
          : `${number} ${error.code} (${error.layer} at byte ${error.offset})${hint(error, data, options)}`);
        continue;
      }
    }
    const inner = summarizeInner(decoded.frame.inner);
    write(options.json
      ? JSON.stringify({ frame: number, ...toJson(decoded.frame), innerSummary: inner, ...(decoded.notes.length ? { notes: decoded.notes } : {}) })
      : `${number} ${summarize(decoded, inner)}`);
  }
  return failed === 0 ? 0 : 1;
}

/** The UDP destination port of an IPv4/IPv6 frame whose UDP header follows the IP header, else -1. */
function destinationPort(data: Uint8Array): number {
  try {
    const l3 = ethernet.headerLength(data, 0);
    const version = data[l3] >> 4;
    const l4 = version === 4 ? l3 + (data[l3] & 0x0f) * 4 : version === 6 ? ipv6.ipv6UpperLayer(data, l3).offset : -1;
    return l4 >= 0 && l4 + 4 <= data.length ? (data[l4 + 2] << 8) | data[l4 + 3] : -1;
  } catch {
    return -1;
  }
}

function ipLengthIsZero(data: Uint8Array): boolean {
  try {
    const l3 = ethernet.headerLength(data, 0);
    const version = data[l3] >> 4;
    const at = version === 4 ? l3 + 2 : version === 6 ? l3 + 4 : -1;
    return at >= 0 && at + 2 <= data.length && data[at] === 0 && data[at + 1] === 0;
  } catch {
    return false;
  }
}

/** What to try next, for the errors a capture taken on a real host typically shows. */
function hint(error: DecodeError, data: Uint8Array, options: DecodeCommandOptions): string {
  if ((error.code === 'BAD_UDP_CHECKSUM' || error.code === 'BAD_IPV4_CHECKSUM') && options.verifyChecksums) {
    return ' (captured on the sending host with checksum offload? try --no-verify)';
  }
  if (!options.lax && ipLengthIsZero(data)) return ' (IP length 0: a GSO / BIG TCP super-packet? try --lax)';
  return '';
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

function ipJson(frame: Pick<VxlanFrame, 'ip'>): object {
  return frame.ip.version === 4 ? { ...frame.ip, options: hex(frame.ip.options) } : frame.ip;
}

function toJson(frame: VxlanFrame): object {
  return { ethernet: frame.ethernet, ip: ipJson(frame), udp: frame.udp, vxlan: frame.vxlan, inner: hex(frame.inner) };
}
