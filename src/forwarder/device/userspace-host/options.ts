/**
 * What a UserspaceHost is made from: its options, checked field by field (a wrong one is named
 * in a TypeError or RangeError), and turned into the bytes and numbers the frame handlers compare
 * with, so no address text is made or parsed on the data path.
 */
import { formatIpv4, parseIpv4, parseIpv6, parseMac } from '../../../wire/address';
import { checkInteger, readU32, writeU32 } from '../../../wire/fields';
import { DEFAULT_QUEUE_CAPACITY } from '../memory-device';

export const ETH_HEADER_LEN = 14;

export interface UserspaceHostOptions {
  /** For logs and metrics. */
  name: string;
  /** Unicast MAC text, e.g. `02:00:00:00:00:01`. */
  mac: string;
  /** IPv4 address text, e.g. `10.0.0.1`. */
  ip: string;
  /** An IPv6 address (text) the host answers neighbour solicitations and echo requests for; default none. */
  ipv6?: string;
  /** IP MTU; frames are at most mtu + 14 bytes. Default 1500. */
  mtu?: number;
  /** Frames waiting for the forwarder, at most; default 1024. */
  queueCapacity?: number;
  /** Neighbour cache entries, at most (oldest evicted); default 256. */
  neighbourLimit?: number;
}

/** The host's own addresses, as the frame handlers compare and write them. */
export interface HostAddresses {
  mac: Uint8Array;
  /** IPv4 as one unsigned number. */
  ip: number;
  /** The IPv6 address, or undefined; its solicited-node group's MAC (33:33:ff + its last 24 bits). */
  ip6: Uint8Array | undefined;
  solicitedMac: Uint8Array | undefined;
}

export interface HostSettings {
  name: string;
  addresses: HostAddresses;
  /** The addresses as text, for logs and messages. */
  macText: string;
  ipText: string;
  mtu: number;
  maxFrameLength: number;
  queueCapacity: number;
  neighbourLimit: number;
}

/** Check `options` in the order of its fields and return what the host is made of. */
export function hostSettings(options: UserspaceHostOptions): HostSettings {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const { name, mac: macText, ip: ipText } = options;
  if (typeof name !== 'string' || name.length === 0) throw new TypeError('name must be a non-empty string');
  const mac = unicastMac(macText);
  const ip = ipv4Number(ipText, 'ip');
  const first = ip >>> 24;
  if (ip === 0 || ip === 0xffffffff || (first >= 224 && first <= 239) || first === 127) {
    throw new RangeError(`ip must be a unicast host address, got ${ipText}`);
  }
  const ip6 = options.ipv6 === undefined ? undefined : unicastIpv6(options.ipv6);
  const mtu = checkInteger(options.mtu ?? 1500, 'mtu', 68, 9000);
  return {
    name,
    addresses: {
      mac, ip, ip6,
      solicitedMac: ip6 === undefined ? undefined : new Uint8Array([0x33, 0x33, 0xff, ip6[13], ip6[14], ip6[15]]),
    },
    macText: macText.toLowerCase().replace(/-/g, ':'),
    ipText,
    mtu,
    maxFrameLength: mtu + ETH_HEADER_LEN,
    queueCapacity: checkInteger(options.queueCapacity ?? DEFAULT_QUEUE_CAPACITY, 'queueCapacity', 1, 65536),
    neighbourLimit: checkInteger(options.neighbourLimit ?? 256, 'neighbourLimit', 1, 65536),
  };
}

function unicastMac(text: unknown): Uint8Array {
  const mac = parseField(text, 'mac', 'MAC address text', parseMac, ' like 02:00:00:00:00:01');
  if ((mac[0] & 1) !== 0) throw new RangeError(`mac must be a unicast address (the group bit is set in ${text})`);
  if (mac.every((b) => b === 0)) throw new RangeError('mac must not be 00:00:00:00:00:00');
  return mac;
}

function unicastIpv6(text: unknown): Uint8Array {
  const ip6 = parseField(text, 'ipv6', 'IPv6 address text', parseIpv6);
  if (ip6[0] === 0xff || ip6.every((b) => b === 0)) throw new RangeError(`ipv6 must be a unicast address, got ${text}`);
  return ip6;
}

/** IPv4 address text as one unsigned number; a TypeError naming `field` otherwise. */
export function ipv4Number(text: unknown, field: string): number {
  return readU32(parseField(text, field, 'IPv4 address text', parseIpv4), 0);
}

/** `text` parsed by `parse`, or a TypeError naming `field` and what it must be (`kind`, then `example`). */
function parseField<T>(text: unknown, field: string, kind: string, parse: (text: string) => T, example = ''): T {
  if (typeof text !== 'string') throw new TypeError(`${field} must be ${kind}, got ${typeof text}`);
  try {
    return parse(text);
  } catch {
    throw new TypeError(`${field} must be ${kind}${example}, got ${JSON.stringify(text)}`);
  }
}

/** An IPv4 number as text, for messages. */
export function ipv4Text(ip: number): string {
  const bytes = new Uint8Array(4);
  writeU32(bytes, 0, ip);
  return formatIpv4(bytes);
}
