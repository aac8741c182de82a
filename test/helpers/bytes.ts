/**
 * Bytes as text, and the RFC 1071 oracle: the one `hex`/`fromHex` and the one plain Internet
 * checksum sum that tests, fuzzing and the benchmarks check the library against.
 */

/** Lower-case hex of `bytes` (a view: only its own bytes), for messages and comparisons. */
export const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');

/** Bytes from hex text; whitespace is ignored so fixtures can be laid out by header. */
export function fromHex(text: string): Uint8Array {
  const digits = text.replace(/\s+/g, '');
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(digits)) throw new TypeError(`fromHex: text must be pairs of hex digits, got ${JSON.stringify(text.slice(0, 40))}`);
  return new Uint8Array(Buffer.from(digits, 'hex'));
}

/**
 * RFC 1071 the slowest, plainest way: the folded 16-bit one's complement sum of big-endian words
 * (an odd last byte padded with zero), not complemented, starting from `seed`. Deliberately one
 * obvious byte loop, independent of src/reference, so that it can judge every backend.
 * The value to put in a header is `~naiveSum(bytes) & 0xffff`; data with a right checksum in it
 * sums to 0xffff.
 */
export function naiveSum(bytes: Uint8Array, seed = 0): number {
  let sum = seed;
  for (let i = 0; i < bytes.length; i += 2) sum += bytes[i] * 256 + (i + 1 < bytes.length ? bytes[i + 1] : 0);
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}
