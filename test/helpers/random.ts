/**
 * The one seeded PRNG of tests, fuzzing and the benchmarks: xorshift32 (Marsaglia, 2003). Small,
 * fast and reproducible, so a failing random case is replayed from the seed its message prints,
 * and every bench worker (and the native C contender) gets the same input bytes.
 */

/** A generator of floats in [0, 1) from the xorshift32 sequence of `seed` (0 counts as 1). */
export function prng(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 2 ** 32;
  };
}

/** An integer in [low, high], both included. */
export function randomInt(random: () => number, low: number, high: number): number {
  return low + Math.floor(random() * (high - low + 1));
}

/**
 * `length` bytes, each the low byte of the next xorshift32 state: incompressible-looking and
 * reproducible. `source` is a seed (a fresh sequence) or a generator from prng() to continue.
 */
export function randomBytes(length: number, source: number | (() => number)): Uint8Array {
  const random = typeof source === 'number' ? prng(source) : source;
  const bytes = new Uint8Array(length);
  // random() is state / 2^32 exactly (a power of two), so this recovers the state's low byte.
  for (let i = 0; i < length; i++) bytes[i] = (random() * 2 ** 32) & 0xff;
  return bytes;
}
