/**
 * What test/fuzz/ and scripts/fuzz.ts share: fast-check generators of tunnels, inner frames,
 * mutations and decap options, and the differential oracle that judges a decoded frame
 * independently of the decoder.
 */
import fc from 'fast-check';
import { decapsulate } from '../../src/api';
import { DecodeError } from '../../src/errors';
import type { DecapOptions, TunnelOptions, VxlanFrame } from '../../src/types';
import * as ethernet from '../../src/wire/ethernet';
import * as ipv4 from '../../src/wire/ipv4';
import * as ipv6 from '../../src/wire/ipv6';
import * as udp from '../../src/wire/udp';
import * as vxlan from '../../src/wire/vxlan';
import { hex, naiveSum } from './bytes';

// ---------------------------------------------------------------------------------------------
// fast-check generators (test/fuzz/ and scripts/fuzz.ts)

const macText = fc.uint8Array({ minLength: 6, maxLength: 6 })
  .map((b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':'));
const ipv4Text = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => b.join('.'));
/** Full 8-group form: the decoder prints RFC 5952 text, so tests compare parsed bytes, not text. */
const ipv6Text = fc.uint8Array({ minLength: 16, maxLength: 16 })
  .map((b) => Array.from({ length: 8 }, (_, i) => ((b[2 * i] << 8) | b[2 * i + 1]).toString(16)).join(':'));
const optional = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: undefined });

/** Any valid TunnelOptions: IPv4 or IPv6, every optional field present or not. */
export const tunnelArbitrary: fc.Arbitrary<TunnelOptions> = fc.boolean().chain((v6) => {
  const ip = v6 ? ipv6Text : ipv4Text;
  return fc.record({
    vni: fc.integer({ min: 0, max: 0xffffff }),
    source: fc.record({ mac: macText, ip, port: optional(fc.integer({ min: 1, max: 65535 })) }, { requiredKeys: ['mac', 'ip'] }),
    destination: fc.record({ mac: macText, ip, port: optional(fc.constantFrom(4789, 8472)) }, { requiredKeys: ['mac', 'ip'] }),
    ttl: fc.integer({ min: 0, max: 255 }),
    tos: fc.integer({ min: 0, max: 255 }),
    dontFragment: fc.boolean(),
    udpChecksum: fc.boolean(),
    flowLabel: fc.integer({ min: 0, max: 0xfffff }),
    sourcePortRange: fc.tuple(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 0, max: 65535 }))
      .map(([low, span]): [number, number] => [low, Math.min(65535, low + span)]),
    gbp: fc.record({ group: fc.integer({ min: 0, max: 0xffff }), dontLearn: fc.boolean(), policyApplied: fc.boolean() }),
    vlan: fc.record({ vid: fc.integer({ min: 0, max: 4095 }), pcp: fc.integer({ min: 0, max: 7 }) }),
  }, { requiredKeys: ['vni', 'source', 'destination'] });
});

/** Inner Ethernet frames: mostly short (headers decide verdicts), some full-size. */
export const innerArbitrary: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 5, arbitrary: fc.uint8Array({ minLength: 14, maxLength: 120 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 14, maxLength: 1600 }) },
);

export type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'truncate'; length: number }
  | { kind: 'insert'; at: number; value: number }
  | { kind: 'delete'; at: number };

/** Mostly inside the outer headers (the first 100 bytes), where a change decides the verdict. */
const position = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 100 }) }, { weight: 1, arbitrary: fc.nat() });

export const mutationsArbitrary: fc.Arbitrary<Mutation[]> = fc.array(fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: position, bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('set' as const), at: position, value: fc.integer({ min: 0, max: 255 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), length: position }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('insert' as const), at: position, value: fc.integer({ min: 0, max: 255 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: position }) },
), { minLength: 1, maxLength: 4 });

/** Apply mutations to a copy of `frame` (positions wrap around the current length). */
export function mutate(frame: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  const bytes = Array.from(frame);
  for (const m of mutations) {
    if (m.kind === 'insert') bytes.splice(m.at % (bytes.length + 1), 0, m.value);
    else if (bytes.length === 0) continue;
    else if (m.kind === 'flip') bytes[m.at % bytes.length] ^= 1 << m.bit;
    else if (m.kind === 'set') bytes[m.at % bytes.length] = m.value;
    else if (m.kind === 'truncate') bytes.length = m.length % bytes.length;
    else bytes.splice(m.at % bytes.length, 1);
  }
  return new Uint8Array(bytes);
}

/** Every DecapOptions field, including ports lists and an expected VNI: mostly the default ports and no expected VNI, so that many frames get past those checks. */
export const decapOptionsArbitrary: fc.Arbitrary<DecapOptions> = fc.record({
  strict: fc.boolean(),
  verifyChecksums: fc.boolean(),
  allowZeroUdpChecksumIpv6: fc.boolean(),
  gbp: fc.boolean(),
  ports: fc.oneof(
    { weight: 4, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.uniqueArray(fc.constantFrom(4789, 8472, 1, 65535, 4790), { minLength: 1, maxLength: 4 }) },
  ),
  vni: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffffff }) }),
}, { requiredKeys: [] });

/** Options that sometimes expect the tunnel's own VNI (the record alone almost never matches it). */
export const decapOptionsFor = (vni: number): fc.Arbitrary<DecapOptions> =>
  fc.tuple(decapOptionsArbitrary, fc.boolean()).map(([options, expectOwn]) => (expectOwn && options.vni !== undefined ? { ...options, vni } : options));

// ---------------------------------------------------------------------------------------------
// The differential oracle (test/fuzz/ and scripts/fuzz.ts)

/** A comparable form of a decoded frame (views as hex, IPv6 addresses as bytes). */
export function describeFrame(decoded: VxlanFrame): string {
  const ip = decoded.ip.version === 4 ? { ...decoded.ip, options: hex(decoded.ip.options) } : decoded.ip;
  return JSON.stringify({ ...decoded, ip, inner: hex(decoded.inner) });
}

export type Outcome = { ok: true; decoded: VxlanFrame; text: string } | { ok: false; error: DecodeError; text: string };

/** Decode on the active backend; anything thrown other than a DecodeError is rethrown (a bug). */
export function decodeOutcome(frame: Uint8Array, options: DecapOptions): Outcome {
  try {
    const decoded = decapsulate(frame, options);
    return { ok: true, decoded, text: describeFrame(decoded) };
  } catch (error) {
    if (!(error instanceof DecodeError)) {
      throw new Error(`decapsulate threw ${String(error)} (not a DecodeError) on ${hex(frame)} with ${JSON.stringify(options)}`);
    }
    return { ok: false, error, text: `${error.code} ${error.layer} ${error.offset}` };
  }
}

/**
 * What an accepted frame must satisfy, checked independently of the decoder: lengths add up,
 * checksums verify (when verified), and in strict mode re-encoding the decoded headers with the
 * wire codecs gives back exactly the input. Returns a description of the first violation.
 */
export function acceptedFrameProblem(frame: Uint8Array, decoded: VxlanFrame, options: DecapOptions): string | undefined {
  const l3 = 14 + 4 * decoded.ethernet.vlans.length;
  const innerAt = decoded.inner.byteOffset - frame.byteOffset;
  const l4 = innerAt - 16;
  if (decoded.inner.buffer !== frame.buffer) return 'inner is not a view into the frame';
  if (decoded.inner.length < 14) return 'inner shorter than an Ethernet header';
  if (decoded.udp.length !== 16 + decoded.inner.length) return 'UDP length does not cover exactly VXLAN + inner';
  if (options.vni !== undefined && decoded.vxlan.vni !== options.vni) return 'VNI differs from the expected one';
  if (!(options.ports ?? [4789, 8472]).includes(decoded.udp.destinationPort)) return 'destination port not accepted';
  if ((decoded.vxlan.flags & 0x08) === 0) return 'I flag clear';
  const v4 = decoded.ip.version === 4;
  if (v4 && (decoded.ip as { moreFragments: boolean }).moreFragments) return 'a fragment accepted';
  if (options.verifyChecksums !== false) {
    if (v4 && naiveSum(frame.subarray(l3, l3 + (decoded.ip as { ihl: number }).ihl * 4)) !== 0xffff) return 'IPv4 header checksum wrong';
    if (decoded.udp.checksum !== 0) {
      const addresses = v4 ? frame.subarray(l3 + 12, l3 + 20) : frame.subarray(l3 + 8, l3 + 40);
      const sum = naiveSum(frame.subarray(l4, l4 + decoded.udp.length), naiveSum(addresses, 17 + decoded.udp.length));
      if (sum !== 0xffff) return 'UDP checksum wrong';
    }
  }
  if (!v4 && decoded.udp.checksum === 0 && options.allowZeroUdpChecksumIpv6 !== true) return 'zero UDP checksum over IPv6 accepted';
  if (options.strict !== false) {
    const rebuilt = new Uint8Array(frame.length);
    let at = ethernet.encodeInto(decoded.ethernet, rebuilt, 0);
    if (decoded.ip.version === 4) {
      at += ipv4.encodeInto(decoded.ip, rebuilt, at);
    } else {
      at += ipv6.encodeInto(decoded.ip, rebuilt, at);
      // Extension headers are listed by type and length only: their bytes are copied.
      rebuilt.set(frame.subarray(at, l4), at);
      at = l4;
    }
    at += udp.encodeInto(decoded.udp, rebuilt, at);
    at += vxlan.encodeInto(decoded.vxlan, rebuilt, at);
    rebuilt.set(decoded.inner, at);
    // The one bit Ipv4Header has no field for: RFC 791's reserved flag (bit 0 of the flags, the
    // RFC 3514 "evil bit"). Linux does not drop on it, so neither does strict mode; carry it over.
    if (v4) rebuilt[l3 + 6] |= frame[l3 + 6] & 0x80;
    if (at + decoded.inner.length !== frame.length) return 'strict accepted bytes beyond the headers and inner frame';
    if (hex(rebuilt) !== hex(frame)) return `strict: re-encoding differs: ${hex(rebuilt)}`;
  }
  return undefined;
}
