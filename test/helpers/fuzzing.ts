// Generators and the differential oracle shared by the property tests (test/property/) and the
// long fuzz run (scripts/fuzz.ts).
import fc from 'fast-check';
import {
  decapsulate, DecodeError, encapsulate, useBackend, type BackendName, type DecapOptions, type TunnelOptions, type VxlanFrame,
} from '../../src/index';

export const BACKENDS: BackendName[] = ['wasm-simd', 'wasm-scalar', 'reference'];

const mac = fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':'));
const ipv4 = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => b.join('.'));
const ipv6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) =>
  Array.from({ length: 8 }, (_, i) => ((b[2 * i] << 8) | b[2 * i + 1]).toString(16)).join(':'));

export const tunnelArbitrary: fc.Arbitrary<TunnelOptions> = fc.boolean().chain((v6) => fc.record({
  vni: fc.integer({ min: 0, max: 0xffffff }),
  source: fc.record({ mac, ip: v6 ? ipv6 : ipv4, port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }) }),
  destination: fc.record({ mac, ip: v6 ? ipv6 : ipv4, port: fc.constantFrom(4789, 8472) }),
  ttl: fc.integer({ min: 0, max: 255 }),
  tos: fc.integer({ min: 0, max: 255 }),
  dontFragment: fc.boolean(),
  udpChecksum: fc.boolean(),
  gbp: fc.option(fc.record({ group: fc.integer({ min: 0, max: 0xffff }), dontLearn: fc.boolean(), policyApplied: fc.boolean() }), { nil: undefined }),
  vlan: fc.option(fc.record({ vid: fc.integer({ min: 0, max: 4095 }), pcp: fc.integer({ min: 0, max: 7 }) }), { nil: undefined }),
}, { requiredKeys: ['vni', 'source', 'destination'] }));

export const innerArbitrary = fc.uint8Array({ minLength: 14, maxLength: 1600 });

export type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'truncate'; length: number }
  | { kind: 'insert'; at: number; value: number };

/** Mostly within the outer headers (the first 90 bytes), where a change decides the verdict. */
const position = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 90 }) }, { weight: 1, arbitrary: fc.nat() });

export const mutationArbitrary: fc.Arbitrary<Mutation[]> = fc.array(fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: position, bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: position, value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), length: position }),
  fc.record({ kind: fc.constant('insert' as const), at: position, value: fc.integer({ min: 0, max: 255 }) }),
), { minLength: 1, maxLength: 3 });

export function mutate(frame: Uint8Array, mutations: Mutation[]): Uint8Array {
  let bytes = Array.from(frame);
  for (const m of mutations) {
    if (bytes.length === 0) break;
    if (m.kind === 'flip') bytes[m.at % bytes.length] ^= 1 << m.bit;
    else if (m.kind === 'set') bytes[m.at % bytes.length] = m.value;
    else if (m.kind === 'truncate') bytes = bytes.slice(0, m.length % bytes.length);
    else bytes.splice(m.at % (bytes.length + 1), 0, m.value);
  }
  return new Uint8Array(bytes);
}

export const decapOptionsArbitrary: fc.Arbitrary<DecapOptions> = fc.record({
  strict: fc.boolean(),
  verifyChecksums: fc.boolean(),
  allowZeroUdpChecksumIpv6: fc.boolean(),
  gbp: fc.boolean(),
});

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

/** A comparable description of a decode outcome: the error, or every decoded field. */
export function outcome(frame: Uint8Array, options: DecapOptions): string {
  let decoded: VxlanFrame;
  try {
    decoded = decapsulate(frame, options);
  } catch (error) {
    if (!(error instanceof DecodeError)) throw new Error(`not a DecodeError: ${String(error)}`);
    return `error ${error.code} ${error.layer} ${error.offset}`;
  }
  const ip = decoded.ip.version === 4 ? { ...decoded.ip, options: hex(decoded.ip.options) } : decoded.ip;
  return JSON.stringify({ ...decoded, ip, inner: hex(decoded.inner) });
}

/** Decode on every backend; throws if any answer differs or is not a DecodeError. */
export function agreeingOutcome(frame: Uint8Array, options: DecapOptions): string {
  const answers = BACKENDS.map((backend) => {
    useBackend(backend);
    return outcome(frame, options);
  });
  if (answers.some((answer) => answer !== answers[0])) {
    throw new Error(`backends disagree on ${hex(frame)} with ${JSON.stringify(options)}:\n${BACKENDS.map((b, i) => `${b}: ${answers[i]}`).join('\n')}`);
  }
  return answers[0];
}

/** RFC 1071 the plain way, to check that an accepted frame's checksums really verify. */
function sum16(bytes: Uint8Array, seed = 0): number {
  let sum = seed;
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i] << 8) + (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** When checksums are verified, an accepted frame's checksums are right (no wrong success). */
export function checksumsHold(frame: Uint8Array, decoded: VxlanFrame, l3: number): boolean {
  if (decoded.ip.version === 4) {
    if (sum16(frame.subarray(l3, l3 + decoded.ip.ihl * 4)) !== 0xffff) return false;
  }
  if (decoded.udp.checksum === 0) return true;
  const l4 = decoded.inner.byteOffset - frame.byteOffset - 16;
  const udpBytes = frame.subarray(l4, l4 + decoded.udp.length);
  const addresses = decoded.ip.version === 4 ? frame.subarray(l3 + 12, l3 + 20) : frame.subarray(l3 + 8, l3 + 40);
  const pseudo = sum16(addresses, 17 + decoded.udp.length);
  return sum16(udpBytes, pseudo) === 0xffff;
}

export function frameFor(tunnel: TunnelOptions, inner: Uint8Array): Uint8Array {
  return encapsulate(inner, tunnel);
}
