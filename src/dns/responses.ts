/**
 * DNS messages in and out of the name server, as pure functions over dns-packet (no hand-written
 * encoding): a query parsed once at the edge, and every answer the server gives itself.
 *
 * - An answer from the table is authoritative (AA): the overlay's names are ours. Its records carry
 *   a short TTL (the server's `ttlSeconds`, 5 by default) so that a name that leaves stops
 *   resolving in caches soon after it leaves the table.
 * - A known name asked for a type it has no records of (AAAA of an IPv4-only container, MX, TXT) is
 *   NOERROR with no answers, "NODATA" (RFC 2308 §2.2), never NXDOMAIN: NXDOMAIN would tell the
 *   client the name does not exist for ANY type, and glibc, asking A and AAAA at once, may then drop
 *   the A answer it got.
 * - A UDP answer that does not fit the client's size (512 bytes without EDNS, its EDNS size capped
 *   at 1232, the size DNS Flag Day 2020 settled on to avoid fragments) keeps the records that fit
 *   and sets TC, and the client asks again over TCP, where up to 65535 bytes fit.
 * - The rcode and opcode travel in the header's flags word, which dns-packet writes as given.
 */
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, Packet, Question } from 'dns-packet';

/** RFC 1035 §4.1.1 and RFC 6895 §2.3: the response codes this server sends. */
export const Rcode = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
} as const;
export type Rcode = (typeof Rcode)[keyof typeof Rcode];

/** RFC 1035 §4.1.1: the standard query is opcode 0; the others (IQUERY, STATUS, NOTIFY, UPDATE) are refused. */
export const OPCODE_QUERY = 0;

/** Flags word layout (RFC 1035 §4.1.1): QR(15) OPCODE(14..11) AA TC RD RA Z AD CD RCODE(3..0). */
const OPCODE_SHIFT = 11;
const OPCODE_MASK = 0xf;
const HEADER_LEN = 12;
const ID_OFFSET = 0;
const FLAGS_OFFSET = 2;
const QR_BIT = 0x8000;
/** QDCOUNT, then ANCOUNT, NSCOUNT, ARCOUNT, 16 bits each. */
const QDCOUNT_OFFSET = 4;
/** The smallest question: the root name (1 byte), TYPE, CLASS; the smallest record adds TTL and RDLENGTH. */
const MIN_QUESTION_LEN = 5;
const MIN_RECORD_LEN = 11;

/** RFC 1035 §4.2.1 without EDNS; RFC 6891 §6.2.5's floor for an advertised size. */
export const UDP_PLAIN_LIMIT = 512;
/** The largest UDP answer this server sends whatever the client advertises (DNS Flag Day 2020). */
export const UDP_EDNS_CAP = 1232;
/** RFC 1035 §4.2.2: a TCP message's length is a 16-bit prefix. */
export const TCP_LIMIT = 65535;

export type Transport = 'udp' | 'tcp';

/** A query as the server uses it: checked once here, read without checks afterwards. */
export interface ParsedQuery {
  readonly id: number;
  readonly opcode: number;
  readonly recursionDesired: boolean;
  readonly questions: Question[];
  /** The client's EDNS UDP size when it sent an OPT record, else undefined. */
  readonly ednsUdpSize: number | undefined;
}

/**
 * Decode a message a client sent; undefined when it is no query: undecodable bytes, or a response
 * (QR set), which a server must never answer (two servers would bounce it between them forever).
 */
export function parseQuery(message: Buffer): ParsedQuery | undefined {
  if (message.length < HEADER_LEN || (message.readUInt16BE(FLAGS_OFFSET) & QR_BIT) !== 0) return undefined;
  // Counts the bytes cannot hold are refused before decoding: dns-packet allocates an array of each
  // announced count first, and a 40-byte datagram announcing 65535 records cost ≈ 0.5 ms to reject
  // that way (measured), so a flood of them would take a core. Now a message costs what its length does.
  const questionCount = message.readUInt16BE(QDCOUNT_OFFSET);
  const recordCount = message.readUInt16BE(QDCOUNT_OFFSET + 2) + message.readUInt16BE(QDCOUNT_OFFSET + 4) + message.readUInt16BE(QDCOUNT_OFFSET + 6);
  if (questionCount * MIN_QUESTION_LEN + recordCount * MIN_RECORD_LEN > message.length - HEADER_LEN) return undefined;
  let packet: DecodedPacket;
  try {
    packet = dnsPacket.decode(message);
  } catch {
    return undefined;
  }
  const opt = (packet.additionals ?? []).find((record) => record.type === 'OPT');
  return {
    id: message.readUInt16BE(ID_OFFSET),
    opcode: (message.readUInt16BE(FLAGS_OFFSET) >> OPCODE_SHIFT) & OPCODE_MASK,
    recursionDesired: packet.flag_rd,
    questions: packet.questions ?? [],
    ednsUdpSize: opt !== undefined && opt.type === 'OPT' ? opt.udpPayloadSize : undefined,
  };
}

/** The most bytes an answer to `query` may take over `transport`. */
export function answerLimit(query: ParsedQuery, transport: Transport): number {
  if (transport === 'tcp') return TCP_LIMIT;
  if (query.ednsUdpSize === undefined) return UDP_PLAIN_LIMIT;
  return Math.min(Math.max(query.ednsUdpSize, UDP_PLAIN_LIMIT), UDP_EDNS_CAP);
}

export interface ResponseOptions {
  /** Whether this server recurses (forwards) for the client: it does when it has upstreams. */
  recursionAvailable: boolean;
}

function flagsFor(query: ParsedQuery, rcode: Rcode, options: ResponseOptions, authoritative: boolean): number {
  return (
    ((query.opcode & OPCODE_MASK) << OPCODE_SHIFT) |
    (authoritative ? dnsPacket.AUTHORITATIVE_ANSWER : 0) |
    (query.recursionDesired ? dnsPacket.RECURSION_DESIRED : 0) |
    (options.recursionAvailable ? dnsPacket.RECURSION_AVAILABLE : 0) |
    rcode
  );
}

/** The OPT record of an answer to a client that sent one (RFC 6891 §7: it must come back). */
function optRecord(): Answer {
  return { type: 'OPT', name: '.', udpPayloadSize: UDP_EDNS_CAP, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] };
}

/** An answer with no records and `rcode` (FORMERR, SERVFAIL, REFUSED), echoing the question. */
export function errorResponse(query: ParsedQuery, rcode: Rcode, options: ResponseOptions): Buffer {
  const packet: Packet = {
    type: 'response',
    id: query.id,
    flags: flagsFor(query, rcode, options, false),
    // FORMERR may be for a question count we cannot echo sensibly; one question or none.
    questions: query.questions.length === 1 ? query.questions : [],
    additionals: query.ednsUdpSize !== undefined ? [optRecord()] : [],
  };
  return dnsPacket.encode(packet);
}

/** Which record types a question asks of the table: ANY is both, any other type none (NODATA). */
export function addressTypesFor(question: Question): ReadonlyArray<'A' | 'AAAA'> {
  switch (question.type) {
    case 'A':
      return ['A'];
    case 'AAAA':
      return ['AAAA'];
    case 'ANY' as Question['type']:
      return ['A', 'AAAA'];
    default:
      return [];
  }
}

/** Bytes of one A/AAAA record for `name` (dns-packet writes names uncompressed). */
function recordLength(nameWireLen: number, type: 'A' | 'AAAA'): number {
  // name, TYPE(2) CLASS(2) TTL(4) RDLENGTH(2), then 4 or 16 address bytes.
  return nameWireLen + 10 + (type === 'A' ? 4 : 16);
}

export interface TableAnswer {
  type: 'A' | 'AAAA';
  addresses: readonly string[];
}

/**
 * The authoritative answer to a question about a name in the table: every address given, in the
 * order given (the table rotated it), TTL `ttlSeconds`; NODATA when there are none. Records that
 * do not fit in `limitBytes` are left out and TC is set.
 */
export function tableResponse(query: ParsedQuery, records: readonly TableAnswer[], ttlSeconds: number, limitBytes: number, options: ResponseOptions): Buffer {
  const question = query.questions[0]!;
  const packet: Packet = {
    type: 'response',
    id: query.id,
    flags: flagsFor(query, Rcode.NOERROR, options, true),
    questions: [question],
    answers: [],
    additionals: query.ednsUdpSize !== undefined ? [optRecord()] : [],
  };
  let length = dnsPacket.encodingLength(packet);
  // The question's name as written on the wire: its encoded question less TYPE and CLASS.
  const nameWireLen = dnsPacket.encodingLength({ questions: [question] }) - HEADER_LEN - 4;
  let truncated = false;
  for (const { type, addresses } of records) {
    for (const address of addresses) {
      const more = recordLength(nameWireLen, type);
      if (length + more > limitBytes) {
        truncated = true;
        break;
      }
      length += more;
      packet.answers!.push({ type, name: question.name, ttl: ttlSeconds, class: 'IN', data: address });
    }
    if (truncated) break;
  }
  if (truncated) packet.flags = packet.flags! | dnsPacket.TRUNCATED_RESPONSE;
  return dnsPacket.encode(packet);
}

/** A copy of `message` with its id replaced: how a relayed upstream answer gets the client's id back. */
export function withId(message: Buffer, id: number): Buffer {
  const copy = Buffer.from(message);
  copy.writeUInt16BE(id, ID_OFFSET);
  return copy;
}
