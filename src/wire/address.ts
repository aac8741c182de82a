/**
 * Address text ⇄ bytes: MAC (`02:00:5e:10:00:01`), dotted IPv4 (`192.0.2.1`) and IPv6 in every
 * RFC 4291 §2.2 form on input, RFC 5952 canonical form on output.
 *
 * The `write*` functions parse straight into a caller's buffer (no allocation, which is what
 * the encoders use); `parse*` allocate a fresh array. A write either fills all its bytes or
 * throws before touching the buffer. Invalid text throws a `TypeError` that quotes the text.
 */
import { checkRoom } from './fields';

export const MAC_LEN = 6;
export const IPV4_LEN = 4;
export const IPV6_LEN = 16;

const HEX_BYTE: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function invalid(kind: string, text: unknown): TypeError {
  return new TypeError(`invalid ${kind} address: ${JSON.stringify(text)}`);
}

// ---------------------------------------------------------------------------------------- MAC

/** Six pairs of hex digits separated by `:` (or, as Windows writes them, `-`), any case. */
const MAC_TEXT = /^[0-9a-f]{2}([:-])[0-9a-f]{2}(?:\1[0-9a-f]{2}){4}$/i;

export function writeMac(text: string, buf: Uint8Array, offset = 0): number {
  if (typeof text !== 'string' || !MAC_TEXT.test(text)) throw invalid('MAC', text);
  checkRoom(buf, offset, MAC_LEN, 'a MAC address');
  for (let i = 0; i < MAC_LEN; i++) buf[offset + i] = parseInt(text.slice(i * 3, i * 3 + 2), 16);
  return MAC_LEN;
}

export function parseMac(text: string): Uint8Array {
  const bytes = new Uint8Array(MAC_LEN);
  writeMac(text, bytes);
  return bytes;
}

/** Lowercase, colon separated: `02:00:5e:10:00:01`. */
export function formatMac(bytes: Uint8Array, offset = 0): string {
  checkRoom(bytes, offset, MAC_LEN, 'a MAC address');
  let text = HEX_BYTE[bytes[offset]];
  for (let i = 1; i < MAC_LEN; i++) text += ':' + HEX_BYTE[bytes[offset + i]];
  return text;
}

// --------------------------------------------------------------------------------------- IPv4

/**
 * A decimal octet 0..255 without leading zeros: `010` is rejected rather than guessed at, because
 * inet_aton() would read it as octal 8 while other parsers read decimal 10.
 */
const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4_TEXT = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

export function writeIpv4(text: string, buf: Uint8Array, offset = 0): number {
  if (typeof text !== 'string' || !IPV4_TEXT.test(text)) throw invalid('IPv4', text);
  checkRoom(buf, offset, IPV4_LEN, 'an IPv4 address');
  const parts = text.split('.');
  for (let i = 0; i < IPV4_LEN; i++) buf[offset + i] = Number(parts[i]);
  return IPV4_LEN;
}

export function parseIpv4(text: string): Uint8Array {
  const bytes = new Uint8Array(IPV4_LEN);
  writeIpv4(text, bytes);
  return bytes;
}

export function formatIpv4(bytes: Uint8Array, offset = 0): string {
  checkRoom(bytes, offset, IPV4_LEN, 'an IPv4 address');
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

// --------------------------------------------------------------------------------------- IPv6

const GROUP = /^[0-9a-f]{1,4}$/i;

/** Parsed groups land here first so that a bad text never half-writes the caller's buffer. */
const scratch = new Uint16Array(8);

/**
 * Parse a list of `:`-separated groups into `scratch` starting at `at`; the last one may be a
 * dotted IPv4 address (RFC 4291 §2.2 form 3) when `ipv4Allowed`. Returns the number of groups
 * written, or -1 if the text is not valid.
 */
function parseGroups(text: string, at: number, ipv4Allowed: boolean): number {
  if (text === '') return 0;
  const parts = text.split(':');
  let count = 0;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    if (ipv4Allowed && i === parts.length - 1 && part.includes('.')) {
      if (!IPV4_TEXT.test(part) || at + count + 2 > 8) return -1;
      const octets = part.split('.').map(Number);
      scratch[at + count++] = (octets[0] << 8) | octets[1];
      scratch[at + count++] = (octets[2] << 8) | octets[3];
    } else {
      if (!GROUP.test(part) || at + count + 1 > 8) return -1;
      scratch[at + count++] = parseInt(part, 16);
    }
  }
  return count;
}

export function writeIpv6(text: string, buf: Uint8Array, offset = 0): number {
  if (typeof text !== 'string' || text.length > 45) throw invalid('IPv6', text);
  // Zone ids (`fe80::1%eth0`, RFC 4007) name an interface, not bytes on the wire: rejected by
  // the character check below like any other stray character.
  const gap = text.indexOf('::');
  if (gap === -1) {
    if (parseGroups(text, 0, true) !== 8) throw invalid('IPv6', text);
  } else {
    if (text.indexOf('::', gap + 1) !== -1) throw invalid('IPv6', text);
    const head = parseGroups(text.slice(0, gap), 0, false);
    if (head < 0) throw invalid('IPv6', text);
    const tail = text.slice(gap + 2);
    // Parse the tail after the head, then slide it to the end; "::" stands for at least one group.
    const tailCount = parseGroups(tail, head, true);
    if (tailCount < 0 || head + tailCount > 7) throw invalid('IPv6', text);
    scratch.copyWithin(8 - tailCount, head, head + tailCount);
    scratch.fill(0, head, 8 - tailCount);
  }
  checkRoom(buf, offset, IPV6_LEN, 'an IPv6 address');
  for (let i = 0; i < 8; i++) {
    buf[offset + 2 * i] = scratch[i] >> 8;
    buf[offset + 2 * i + 1] = scratch[i] & 0xff;
  }
  return IPV6_LEN;
}

export function parseIpv6(text: string): Uint8Array {
  const bytes = new Uint8Array(IPV6_LEN);
  writeIpv6(text, bytes);
  return bytes;
}

/**
 * RFC 5952 §4: lowercase, no leading zeros, the longest run of two or more zero groups replaced
 * by `::` (the first such run on a tie). IPv4-mapped addresses (`::ffff:0:0/96`) are written with
 * the IPv4 part dotted, as §5 recommends.
 */
export function formatIpv6(bytes: Uint8Array, offset = 0): string {
  checkRoom(bytes, offset, IPV6_LEN, 'an IPv6 address');
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((bytes[offset + 2 * i] << 8) | bytes[offset + 2 * i + 1]);

  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    return `::ffff:${formatIpv4(bytes, offset + 12)}`;
  }

  let bestStart = -1;
  let bestLen = 1; // §4.2.2: a single zero group is never shortened to "::"
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let end = i;
    while (end < 8 && groups[end] === 0) end++;
    if (end - i > bestLen) { bestStart = i; bestLen = end - i; }
    i = end;
  }

  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

// ------------------------------------------------------------------------------------- either

export interface ParsedIp {
  version: 4 | 6;
  bytes: Uint8Array;
}

/** IPv4 or IPv6 text, told apart by the colon that only IPv6 text has. */
export function parseIp(text: string): ParsedIp {
  if (typeof text === 'string' && text.includes(':')) return { version: 6, bytes: parseIpv6(text) };
  return { version: 4, bytes: parseIpv4(text) };
}
