// Conformance, checksums: checksum / onesComplementSum / updateChecksum on every backend, against
// the RFC 1071 and RFC 1624 worked examples and a naive oracle written here (test/helpers/frames).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { backendName, checksum, onesComplementSum, updateChecksum, useBackend } from '../../src/index';
import { workspace } from '../../src/backend';
import { BACKENDS } from '../helpers/backends';
import { naiveSum } from '../helpers/bytes';
import { randomBytes } from '../helpers/random';

/** The pieces the object API cuts large inputs into (src/api.ts): HEADROOM + MAX_FRAME_LEN, even. */
const SCRATCH_LEN = 128 + 14 + 8 * 4 + 40 + 65535;
const PIECE_LEN = SCRATCH_LEN & ~1;

for (const backend of BACKENDS) {
  const test = suite(`conformance/checksum [${backend}]`);

  test.before(() => {
    useBackend(backend);
  });

  test('the backend under test is the one answering (and SIMD is really SIMD)', () => {
    assert.is(backendName(), backend);
    const kernels = workspace().kernels as { name: string; simd?: boolean };
    assert.is(kernels.name, backend);
    if (backend === 'reference') assert.is(kernels.simd, undefined, 'the reference has no WASM build');
    else assert.is(kernels.simd, backend === 'wasm-simd', `${backend}: simdEnabled() of the instantiated build`);
    assert.is(SCRATCH_LEN, workspace().scratchLen, 'the piece size this suite crosses is the real one');
  });

  test('RFC 1071 §3 worked example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2', () => {
    const data = new Uint8Array([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
    assert.is(onesComplementSum(data), 0xddf2);
    assert.is(checksum(data), 0x220d, 'the checksum is the complement of the sum');
    // The RFC's point: byte order independence. The byte-swapped input sums to the byte-swapped sum.
    const swapped = new Uint8Array([0x01, 0x00, 0x03, 0xf2, 0xf5, 0xf4, 0xf7, 0xf6]);
    assert.is(onesComplementSum(swapped), 0xf2dd);
  });

  test('empty input, single bytes, odd lengths (the last byte is the high half of a zero-padded word)', () => {
    assert.is(onesComplementSum(new Uint8Array(0)), 0);
    assert.is(checksum(new Uint8Array(0)), 0xffff);
    assert.is(onesComplementSum(new Uint8Array([0xab])), 0xab00);
    assert.is(onesComplementSum(new Uint8Array([0x01, 0x02, 0x03])), 0x0402);
    assert.is(checksum(new Uint8Array([0xff, 0xff])), 0, 'a sum of 0xffff gives checksum 0');
    assert.is(onesComplementSum(new Uint8Array([0xff, 0xff, 0x00, 0x01])), 0x0001, 'end-around carry');
    // Eight 0xffff words fold to 0xffff; the odd last byte adds 0xff00: 0x1feff folds to 0xff00.
    assert.is(onesComplementSum(new Uint8Array(17).fill(0xff)), 0xff00);
    assert.is(onesComplementSum(new Uint8Array(16).fill(0xff)), 0xffff);
    assert.is(onesComplementSum(new Uint8Array(17)), 0, 'all zero stays +0');
  });

  test('every length 0..200, at every alignment 0..3 of the view, matches the naive oracle', () => {
    const backing = randomBytes(260, 0x1234567);
    for (let len = 0; len <= 200; len++) {
      for (let align = 0; align < 4; align++) {
        const data = backing.subarray(align, align + len);
        const want = naiveSum(data);
        assert.is(onesComplementSum(data), want, `sum, length ${len}, alignment ${align}`);
        assert.is(checksum(data), ~want & 0xffff, `checksum, length ${len}, alignment ${align}`);
      }
    }
    // Patterns that stress carries: all 0xff, alternating, and only odd bytes set.
    for (let len = 0; len <= 200; len++) {
      for (const fill of [0xff, 0x80, 0x01]) {
        const data = new Uint8Array(len).fill(fill);
        assert.is(onesComplementSum(data), naiveSum(data), `fill ${fill}, length ${len}`);
      }
    }
  });

  test('seeds are added with end-around carry (0, 1, 0xffff, 0x10000, 2^32-1)', () => {
    const data = randomBytes(101, 99);
    for (const seed of [0, 1, 0xfffe, 0xffff, 0x10000, 0x1234abcd, 0xffffffff]) {
      assert.is(onesComplementSum(data, seed), naiveSum(data, seed), `seed ${seed}`);
      assert.is(onesComplementSum(new Uint8Array(0), seed), naiveSum(new Uint8Array(0), seed), `empty with seed ${seed}`);
    }
    // A seed is how a pseudo-header sum is chained: sum(a ++ b) == sum(b, sum(a)) for even |a|.
    const a = randomBytes(40, 5);
    const b = randomBytes(33, 6);
    const joined = new Uint8Array([...a, ...b]);
    assert.is(onesComplementSum(b, onesComplementSum(a)), onesComplementSum(joined));
  });

  test('large inputs cross the scratch piece size (65,748-byte pieces) at every parity', () => {
    const big = randomBytes(2 * PIECE_LEN + 10, 0xbeef);
    const lengths = [
      65535, 65536, 65537, PIECE_LEN - 1, PIECE_LEN, PIECE_LEN + 1, SCRATCH_LEN, SCRATCH_LEN + 1,
      2 * PIECE_LEN - 1, 2 * PIECE_LEN, 2 * PIECE_LEN + 1, 2 * PIECE_LEN + 9,
    ];
    for (const len of lengths) {
      for (const align of [0, 1]) {
        const data = big.subarray(align, align + len);
        const want = naiveSum(data);
        assert.is(onesComplementSum(data), want, `sum of ${len} bytes at alignment ${align}`);
        assert.is(checksum(data), ~want & 0xffff, `checksum of ${len} bytes at alignment ${align}`);
        assert.is(onesComplementSum(data, 0xfedcba98), naiveSum(data, 0xfedcba98), `seeded sum of ${len} bytes`);
      }
    }
    const megabyte = randomBytes(1 << 20 | 1, 77);
    assert.is(checksum(megabyte), ~naiveSum(megabyte) & 0xffff, '1 MiB + 1 byte');
    // 0xffff words sum to 0xffff in every piece; the odd last byte adds 0xff00 → 0xff00.
    assert.is(onesComplementSum(new Uint8Array(200_001).fill(0xff)), 0xff00, '200,001 bytes of 0xff (carries in every piece)');
    assert.is(onesComplementSum(new Uint8Array(200_000).fill(0xff)), 0xffff, '200,000 bytes of 0xff');
  });

  test('bad arguments: TypeError for non-bytes, RangeError for a bad seed', () => {
    assert.throws(() => checksum([1, 2] as unknown as Uint8Array), (e: Error) => e instanceof TypeError && /data/.test(e.message));
    assert.throws(() => onesComplementSum('ab' as unknown as Uint8Array), (e: Error) => e instanceof TypeError);
    for (const seed of [-1, 1.5, 2 ** 32, Number.NaN]) {
      assert.throws(() => onesComplementSum(new Uint8Array(2), seed), (e: Error) => e instanceof RangeError && /seed/.test(e.message), `seed ${seed}`);
    }
  });

  test('RFC 1624 §4 example: m 0x5555 → 0x3285 with HC 0xdd2f gives 0x0000 (eqn. 3, not the -0 of eqn. 2)', () => {
    assert.is(updateChecksum(0xdd2f, 0x5555, 0x3285), 0x0000);
    // The same numbers in a real header: the other words sum to 0xcd7a.
    const header = new Uint8Array([0xcd, 0x7a, 0x55, 0x55]);
    assert.is(checksum(header), 0xdd2f);
    header[2] = 0x32; header[3] = 0x85;
    assert.is(checksum(header), 0x0000, 'recomputing agrees');
  });

  test('updateChecksum equals recomputing the checksum after one word changes (2,000 random cases)', () => {
    const rng = randomBytes(2000 * 8, 4242);
    for (let i = 0; i < 2000; i++) {
      const words = 2 + (rng[8 * i] % 40);
      const data = randomBytes(words * 2, 1000 + i);
      const index = rng[8 * i + 1] % words;
      // Keep one other word non-zero: over all-zero data ±0 differ (RFC 1624 §3) and both are right.
      const other = (index + 1) % words;
      if (data[2 * other] === 0 && data[2 * other + 1] === 0) data[2 * other + 1] = 1;
      const oldWord = (data[2 * index] << 8) | data[2 * index + 1];
      const newWord = i % 50 === 0 ? (~oldWord & 0xffff) : (rng[8 * i + 2] << 8) | rng[8 * i + 3];
      const before = checksum(data);
      data[2 * index] = newWord >> 8;
      data[2 * index + 1] = newWord & 0xff;
      const after = ~naiveSum(data) & 0xffff;
      assert.is(updateChecksum(before, oldWord, newWord), after, `case ${i}: word ${index} ${oldWord} → ${newWord}`);
    }
  });

  test('updateChecksum: an IPv4 TTL decrement (RFC 1624 §2 use) matches recomputation', () => {
    // RFC 791 example-style header: 45 00 00 73 00 00 40 00 40 11 [b861] c0 a8 00 01 c0 a8 00 c7
    const header = new Uint8Array([0x45, 0, 0, 0x73, 0, 0, 0x40, 0, 0x40, 0x11, 0, 0, 0xc0, 0xa8, 0, 1, 0xc0, 0xa8, 0, 0xc7]);
    const sum = checksum(header);
    assert.is(sum, 0xb861, 'the well-known checksum of this header');
    const oldWord = (header[8] << 8) | header[9];
    header[8] -= 1;
    const newWord = (header[8] << 8) | header[9];
    assert.is(updateChecksum(sum, oldWord, newWord), checksum(header));
  });

  test('updateChecksum rejects values outside 16 bits, naming the argument', () => {
    for (const [args, name] of [
      [[0x10000, 0, 0], 'oldChecksum'], [[0, -1, 0], 'oldWord'], [[0, 0, 1.5], 'newWord'],
    ] as [[number, number, number], string][]) {
      assert.throws(() => updateChecksum(...args), (e: Error) => e instanceof RangeError && e.message.includes(name), name);
    }
  });

  test.run();
}
