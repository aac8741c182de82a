/** Deterministic input bytes: the same in every worker, every run and the native C process. */
import { hex } from '../../test/helpers/bytes';
import { randomBytes } from '../../test/helpers/random';

/** `length` bytes of xorshift32 output (the tests' PRNG, test/helpers/random.ts) seeded with `seed`. */
export function benchBytes(length: number, seed = 0x9e3779b9): Uint8Array {
  return randomBytes(length, seed);
}

/** The checksum suite's input sizes (defined once, in cases.ts). */
export { CHECKSUM_SIZES as SIZES } from './cases';

/** JSON with byte arrays as hex, for comparing decoded objects field by field. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v) => (v instanceof Uint8Array ? `hex:${hex(v)}` : v));
}

/** Where two canonical strings first differ, for a readable "wrong" report. */
export function firstDifference(got: string, expected: string): string {
  let i = 0;
  while (i < got.length && got[i] === expected[i]) i++;
  const from = Math.max(0, i - 40);
  return `at char ${i}: got …${got.slice(from, i + 40)}… expected …${expected.slice(from, i + 40)}…`;
}
