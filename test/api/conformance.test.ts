// One conformance suite for the object API, run against every backend: WASM with SIMD, WASM
// without, and the pure-TS reference. Each run asserts which backend actually answered.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  backendName, checksum, createKernels, decapsulate, decapsulateLax, DecodeError, encapsulate, onesComplementSum,
  updateChecksum, useBackend, type BackendName, type TunnelOptions,
} from '../../src/index';

const BACKENDS: BackendName[] = ['wasm-simd', 'wasm-scalar', 'reference'];

/** RFC 1071 written the slowest, plainest way: the oracle. */
function naiveSum(bytes: Uint8Array, seed = 0): number {
  let sum = seed;
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i] << 8) + (i + 1 < bytes.length ? bytes[i + 1] : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

function pseudoRandomBytes(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let x = seed || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

const v4: TunnelOptions = {
  vni: 0x123456,
  source: { mac: '02:00:00:00:00:01', ip: '192.0.2.1', port: 50000 },
  destination: { mac: '02:00:00:00:00:02', ip: '192.0.2.2' },
};
const v6: TunnelOptions = {
  vni: 7,
  source: { mac: '02:00:00:00:00:01', ip: '2001:db8::1' },
  destination: { mac: '02:00:00:00:00:02', ip: '2001:db8::2', port: 8472 },
  vlan: { vid: 100, pcp: 5 },
};
/** An inner Ethernet frame: broadcast ARP-sized, with recognisable bytes. */
const inner = pseudoRandomBytes(60, 7);

function expectDecodeError(run: () => unknown, code: string, layer: string, offset: number, what: string): void {
  try {
    run();
  } catch (error) {
    assert.instance(error, DecodeError, `${what}: a DecodeError`);
    const e = error as DecodeError;
    assert.equal({ code: e.code, layer: e.layer, offset: e.offset }, { code, layer, offset }, what);
    return;
  }
  assert.unreachable(`${what}: expected ${code}`);
}

/** Fix the IPv4 header checksum after editing a header field (so only the field under test is wrong). */
function refreshIpv4Checksum(frame: Uint8Array, l3: number): void {
  frame[l3 + 10] = 0;
  frame[l3 + 11] = 0;
  const headerLen = (frame[l3] & 0x0f) * 4;
  const value = ~naiveSum(frame.subarray(l3, l3 + headerLen)) & 0xffff;
  frame[l3 + 10] = value >> 8;
  frame[l3 + 11] = value & 0xff;
}

/** Recompute the outer UDP checksum (IPv4 or IPv6 per the frame) after editing bytes it covers. */
function refreshUdpChecksum(frame: Uint8Array, l3: number, l4: number, version: 4 | 6): void {
  frame[l4 + 6] = 0;
  frame[l4 + 7] = 0;
  const udpLength = (frame[l4 + 4] << 8) | frame[l4 + 5];
  const pseudo = version === 4
    ? [...frame.subarray(l3 + 12, l3 + 20), 0, 17, udpLength >> 8, udpLength & 0xff]
    : [...frame.subarray(l3 + 8, l3 + 40), 0, 0, udpLength >> 8, udpLength & 0xff, 0, 0, 0, 17];
  const sum = naiveSum(new Uint8Array([...pseudo, ...frame.subarray(l4, l4 + udpLength)]));
  const value = ~sum & 0xffff || 0xffff;
  frame[l4 + 6] = value >> 8;
  frame[l4 + 7] = value & 0xff;
}

for (const backend of BACKENDS) {
  const test = suite(`conformance on ${backend}`);
  test.before.each(() => {
    useBackend(backend);
  });

  test('the backend that answers is the one asked for', () => {
    assert.is(backendName(), backend);
    if (backend !== 'reference') {
      const kernels = createKernels(backend) as unknown as { simd: boolean };
      assert.is(kernels.simd, backend === 'wasm-simd');
    }
  });

  test('RFC 1071 §3 worked example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2', () => {
    const data = new Uint8Array([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
    assert.is(onesComplementSum(data), 0xddf2);
    assert.is(checksum(data), 0x220d);
  });

  test('every length 0..300 and every start alignment agrees with the naive oracle', () => {
    const data = pseudoRandomBytes(400, 3);
    for (let start = 0; start < 4; start++) {
      for (let length = 0; length <= 300; length++) {
        const view = data.subarray(start, start + length);
        assert.is(onesComplementSum(view), naiveSum(view), `length ${length} at ${start}`);
      }
    }
    assert.is(checksum(new Uint8Array(0)), 0xffff);
    assert.is(checksum(new Uint8Array(9000).fill(0xff)), 0);
  });

  test('seeds are added and the result folded', () => {
    const data = pseudoRandomBytes(101, 9);
    for (const seed of [0, 1, 0xffff, 0x10000, 0x12345678, 0xffffffff]) {
      assert.is(onesComplementSum(data, seed), naiveSum(data, seed), `seed ${seed}`);
    }
  });

  test('inputs larger than the WASM scratch area (several pieces) sum exactly', () => {
    for (const length of [65748, 65749, 70001, 200000]) {
      const data = pseudoRandomBytes(length, length);
      assert.is(onesComplementSum(data), naiveSum(data), `length ${length}`);
    }
  });

  test('updateChecksum (RFC 1624 eqn. 3) equals recomputing after one word changes', () => {
    const data = pseudoRandomBytes(40, 11);
    for (let trial = 0; trial < 200; trial++) {
      const at = (trial * 2) % 40;
      const before = checksum(data);
      const oldWord = (data[at] << 8) | data[at + 1];
      const newWord = (trial * 7919) & 0xffff;
      data[at] = newWord >> 8;
      data[at + 1] = newWord & 0xff;
      const updated = updateChecksum(before, oldWord, newWord);
      // RFC 1624 §3: the only difference allowed is +0/-0 (0x0000 vs 0xffff) when the sum is zero.
      const recomputed = checksum(data);
      assert.ok(updated === recomputed || (updated ^ recomputed) === 0xffff && (updated === 0 || recomputed === 0), `trial ${trial}`);
    }
    assert.throws(() => updateChecksum(0x10000, 0, 0), /oldChecksum/);
  });

  test('encapsulate IPv4: exact bytes, built independently here', () => {
    const frame = encapsulate(inner, { ...v4, ttl: 17, tos: 0xb8, dontFragment: true, udpChecksum: false });
    const totalLength = 20 + 8 + 8 + inner.length;
    const expected = new Uint8Array([
      2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00, // Ethernet: destination, source, IPv4
      0x45, 0xb8, totalLength >> 8, totalLength & 0xff, frame[18], frame[19], 0x40, 0x00, 17, 17, 0, 0, // IPv4 (id is a counter)
      192, 0, 2, 1, 192, 0, 2, 2,
      50000 >> 8, 50000 & 0xff, 4789 >> 8, 4789 & 0xff, 0, 8 + 8 + inner.length, 0, 0, // UDP, checksum off
      0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0, // VXLAN: I flag, VNI
      ...inner,
    ]);
    refreshIpv4Checksum(expected, 14);
    assert.equal([...frame], [...expected]);
  });

  test('encapsulate IPv6 with a VLAN tag: fields, and the UDP checksum is always computed', () => {
    const frame = encapsulate(inner, { ...v6, udpChecksum: false, tos: 0x20, flowLabel: 0xabcde, ttl: 3 });
    assert.equal([...frame.subarray(12, 18)], [0x81, 0x00, (5 << 5) | 0, 100, 0x86, 0xdd]);
    const l3 = 18;
    assert.equal([...frame.subarray(l3, l3 + 4)], [0x62, 0x0a, 0xbc, 0xde]); // version 6, class 0x20, flow label
    assert.is((frame[l3 + 4] << 8) | frame[l3 + 5], 16 + inner.length);
    assert.is(frame[l3 + 6], 17);
    assert.is(frame[l3 + 7], 3);
    const l4 = l3 + 40;
    assert.is((frame[l4 + 2] << 8) | frame[l4 + 3], 8472);
    const copy = frame.slice();
    refreshUdpChecksum(copy, l3, l4, 6);
    assert.is((frame[l4 + 6] << 8) | frame[l4 + 7], (copy[l4 + 6] << 8) | copy[l4 + 7]);
    assert.ok(((frame[l4 + 6] << 8) | frame[l4 + 7]) !== 0);
  });

  test('GBP bits and group, and the source port hash: in range, stable per flow, varies across flows', () => {
    const frame = encapsulate(inner, { ...v4, source: { ...v4.source, port: undefined }, gbp: { group: 0xbeef, dontLearn: true, policyApplied: true }, sourcePortRange: [40000, 40100] });
    assert.equal([...frame.subarray(42, 50)], [0x88, 0x48, 0xbe, 0xef, 0x12, 0x34, 0x56, 0]);
    const ports = new Set<number>();
    for (let flow = 0; flow < 64; flow++) {
      const flowInner = pseudoRandomBytes(80, flow + 1);
      const a = encapsulate(flowInner, { ...v4, source: { mac: v4.source.mac, ip: v4.source.ip }, sourcePortRange: [40000, 40100] });
      const b = encapsulate(flowInner, { ...v4, source: { mac: v4.source.mac, ip: v4.source.ip }, sourcePortRange: [40000, 40100] });
      const port = (a[34] << 8) | a[35];
      assert.is((b[34] << 8) | b[35], port, 'same flow, same port');
      assert.ok(port >= 40000 && port <= 40100, `port ${port} in range`);
      ports.add(port);
    }
    assert.ok(ports.size > 20, `flows spread over ${ports.size} ports`);
  });

  test('a computed UDP checksum of 0 goes out as 0xffff', () => {
    // Search for an inner frame whose datagram sums to 0xffff (checksum 0) by adjusting two bytes.
    const probe = inner.slice();
    const frame = encapsulate(probe, v4);
    const current = (frame[40] << 8) | frame[41];
    // Adding `current` to the sum turns the checksum into 0 (or 0xffff): change a payload word by it.
    const at = probe.length - 2;
    const word = ((probe[at] << 8) | probe[at + 1]) + current;
    const folded = (word & 0xffff) + (word >>> 16);
    probe[at] = folded >> 8;
    probe[at + 1] = folded & 0xff;
    const zero = encapsulate(probe, v4);
    assert.is((zero[40] << 8) | zero[41], 0xffff);
    assert.is(decapsulate(zero).udp.checksum, 0xffff);
  });

  test('invalid tunnel options name the field', () => {
    const cases: [Partial<TunnelOptions> | Record<string, unknown>, RegExp, ErrorConstructor][] = [
      [{ vni: 1 << 24 }, /vni/, RangeError],
      [{ vni: -1 }, /vni/, RangeError],
      [{ vni: 1.5 }, /vni/, RangeError],
      [{ source: { mac: '02:00:00:00:00', ip: '192.0.2.1' } }, /source\.mac/, TypeError],
      [{ destination: { mac: '02:00:00:00:00:02', ip: '192.0.2.256' } }, /destination\.ip/, TypeError],
      [{ destination: { mac: '02:00:00:00:00:02', ip: '2001:db8::2' } }, /same IP version/, TypeError],
      [{ source: { mac: '02:00:00:00:00:01', ip: '192.0.2.1', port: 70000 } }, /source\.port/, RangeError],
      [{ destination: { mac: '02:00:00:00:00:02', ip: '192.0.2.2', port: 0 } }, /destination\.port/, RangeError],
      [{ ttl: 256 }, /ttl/, RangeError],
      [{ tos: -1 }, /tos/, RangeError],
      [{ sourcePortRange: [5000, 4000] }, /sourcePortRange/, RangeError],
      [{ gbp: { group: 0x10000 } }, /gbp\.group/, RangeError],
      [{ vlan: { vid: 4096 } }, /vlan\.vid/, RangeError],
    ];
    for (const [patch, message, type] of cases) {
      assert.throws(() => encapsulate(inner, { ...v4, ...patch } as TunnelOptions), (error: Error) => error instanceof type && message.test(error.message), JSON.stringify(patch));
    }
    assert.throws(() => encapsulate(new Uint8Array(13), v4), /14 bytes/);
    // IPv4 without VLAN: 65535 = 20 + 8 + 8 + inner, so 65499 is the largest inner frame.
    assert.is(encapsulate(new Uint8Array(65499), v4).length, 14 + 65535);
    assert.throws(() => encapsulate(new Uint8Array(65500), v4), /too large/);
    // IPv6: the UDP length (8 + 8 + inner) is the limit.
    assert.is(encapsulate(new Uint8Array(65519), v6).length, 18 + 40 + 65535);
    assert.throws(() => encapsulate(new Uint8Array(65520), v6), /too large/);
  });

  test('decapsulate: every field of a round trip, inner a view into the input', () => {
    for (const tunnel of [v4, v6, { ...v4, gbp: { group: 5, dontLearn: true } }]) {
      const frame = encapsulate(inner, tunnel);
      const decoded = decapsulate(frame, { gbp: true });
      assert.is(decoded.vxlan.vni, tunnel.vni);
      assert.is(decoded.ethernet.source, tunnel.source.mac);
      assert.is(decoded.ethernet.destination, tunnel.destination.mac);
      assert.is(decoded.ip.source, tunnel.source.ip);
      assert.is(decoded.ip.destination, tunnel.destination.ip);
      assert.is(decoded.udp.destinationPort, tunnel.destination.port ?? 4789);
      assert.equal([...decoded.inner], [...inner]);
      assert.is(decoded.inner.buffer, frame.buffer);
      if (tunnel.gbp) assert.equal(decoded.vxlan.gbp, { group: 5, dontLearn: true, policyApplied: false });
      if (tunnel.vlan) assert.equal(decoded.ethernet.vlans, [{ tpid: 0x8100, pcp: 5, dei: false, vid: 100 }]);
    }
  });

  test('every truncated length gives TRUNCATED at the start of the incomplete unit', () => {
    for (const [tunnel, l3, layer] of [[v4, 14, 'ipv4'], [v6, 18, 'ipv6']] as const) {
      const frame = encapsulate(inner, tunnel);
      for (let cut = 0; cut < frame.length; cut++) {
        // Rule: below the Ethernet header (with its tags) the Ethernet header is incomplete;
        // after it, the IP header or the packet its length field promises is incomplete.
        const [expectedLayer, offset] = cut < l3 ? ['ethernet', 0] : [layer, l3];
        expectDecodeError(() => decapsulate(frame.subarray(0, cut)), 'TRUNCATED', expectedLayer, offset, `cut at ${cut}`);
      }
    }
  });

  test('TRUNCATED for UDP, VXLAN and inner when the lengths agree but are short', () => {
    const frame = encapsulate(inner, { ...v4, udpChecksum: false });
    for (const [ipPayload, layer, offset] of [[4, 'udp', 34], [12, 'vxlan', 42], [8 + 8 + 10, 'inner', 50]] as const) {
      const short = frame.slice(0, 34 + ipPayload);
      short[16] = 0; short[17] = 20 + ipPayload;
      short[38] = 0; short[39] = Math.max(ipPayload, 8);
      refreshIpv4Checksum(short, 14);
      expectDecodeError(() => decapsulate(short), 'TRUNCATED', layer, offset, layer);
    }
  });

  test('each header fault has its code, layer and offset; the backend keeps working', () => {
    const good = encapsulate(inner, v4);
    const goodV6 = encapsulate(inner, v6);
    const edit = (base: Uint8Array, change: (f: Uint8Array) => void) => {
      const f = base.slice();
      change(f);
      return f;
    };
    const cases: [Uint8Array, string, string, number, object?][] = [
      [edit(good, (f) => { f[12] = 0x08; f[13] = 0x06; }), 'NOT_IPV4_OR_IPV6', 'ethernet', 12],
      [edit(good, (f) => { f[14] = 0x65; }), 'BAD_IP_VERSION', 'ipv4', 14],
      [edit(good, (f) => { f[14] = 0x44; }), 'BAD_IHL', 'ipv4', 14],
      [edit(good, (f) => { f[22] ^= 1; }), 'BAD_IPV4_CHECKSUM', 'ipv4', 24],
      [edit(good, (f) => { f[16] = 0; f[17] = 19; refreshIpv4Checksum(f, 14); }), 'LENGTH_MISMATCH', 'ipv4', 16],
      [edit(good, (f) => { f[17] -= 1; refreshIpv4Checksum(f, 14); }), 'LENGTH_MISMATCH', 'ipv4', 16],
      [edit(good, (f) => { f[20] = 0x20; refreshIpv4Checksum(f, 14); }), 'FRAGMENTED', 'ipv4', 20],
      [edit(good, (f) => { f[21] = 0x01; refreshIpv4Checksum(f, 14); }), 'FRAGMENTED', 'ipv4', 20],
      [edit(good, (f) => { f[23] = 6; refreshIpv4Checksum(f, 14); }), 'NOT_UDP', 'ipv4', 23],
      [edit(good, (f) => { f[38] = 0; f[39] = 7; }), 'LENGTH_MISMATCH', 'udp', 38],
      [edit(good, (f) => { f[39] -= 1; }), 'LENGTH_MISMATCH', 'udp', 38],
      [edit(good, (f) => { f[36] = 0x12; f[37] = 0x34; }), 'NOT_VXLAN_PORT', 'udp', 36],
      [edit(good, (f) => { f[f.length - 1] ^= 0x80; }), 'BAD_UDP_CHECKSUM', 'udp', 40],
      [edit(goodV6, (f) => { f[64] = 0; f[65] = 0; }), 'ZERO_UDP_CHECKSUM_IPV6', 'udp', 64],
      [edit(good, (f) => { f[42] = 0x00; refreshUdpChecksum(f, 14, 34, 4); }), 'VXLAN_I_FLAG_MISSING', 'vxlan', 42],
      [edit(good, (f) => { f[42] = 0x0c; refreshUdpChecksum(f, 14, 34, 4); }), 'VXLAN_RESERVED_BITS', 'vxlan', 42],
      [edit(good, (f) => { f[43] = 0x01; refreshUdpChecksum(f, 14, 34, 4); }), 'VXLAN_RESERVED_BITS', 'vxlan', 43],
      [edit(good, (f) => { f[45] = 0x01; refreshUdpChecksum(f, 14, 34, 4); }), 'VXLAN_RESERVED_BITS', 'vxlan', 44],
      [edit(good, (f) => { f[49] = 0x01; refreshUdpChecksum(f, 14, 34, 4); }), 'VXLAN_RESERVED_BITS', 'vxlan', 49],
      [edit(good, (f) => { f[42] = 0x88; f[44] = 1; refreshUdpChecksum(f, 14, 34, 4); }), 'VXLAN_RESERVED_BITS', 'vxlan', 42],
      [good, 'VNI_MISMATCH', 'vxlan', 46, { vni: 1 }],
      [good, 'NOT_VXLAN_PORT', 'udp', 36, { ports: [8472] }],
    ];
    for (const [frame, code, layer, offset, options] of cases) {
      expectDecodeError(() => decapsulate(frame, options as object), code, layer, offset, code);
      assert.is(decapsulate(good).vxlan.vni, v4.vni, `still decodes after ${code}`);
    }
  });

  test('options relax: zero IPv6 checksum, GBP in strict mode, lax reserved bits and trailing bytes, no verification', () => {
    const zero6 = encapsulate(inner, v6);
    zero6[64] = 0; zero6[65] = 0;
    assert.is(decapsulate(zero6, { allowZeroUdpChecksumIpv6: true }).udp.checksum, 0);
    const gbp = encapsulate(inner, { ...v4, gbp: { group: 9, policyApplied: true } });
    expectDecodeError(() => decapsulate(gbp), 'VXLAN_RESERVED_BITS', 'vxlan', 42, 'G bit without gbp');
    assert.equal(decapsulate(gbp, { gbp: true }).vxlan.gbp, { group: 9, dontLearn: false, policyApplied: true });
    const reserved = encapsulate(inner, v4);
    reserved[49] = 0xff;
    refreshUdpChecksum(reserved, 14, 34, 4);
    assert.is(decapsulateLax(reserved).vxlan.vni, v4.vni);
    const trailing = new Uint8Array([...encapsulate(inner, v4), 0, 0, 0, 0]);
    expectDecodeError(() => decapsulate(trailing), 'LENGTH_MISMATCH', 'ipv4', 16, 'trailing bytes strict');
    assert.is(decapsulateLax(trailing).inner.length, inner.length);
    const corrupt = encapsulate(inner, v4);
    corrupt[24] ^= 0xff;
    corrupt[corrupt.length - 1] ^= 0xff;
    assert.is(decapsulate(corrupt, { verifyChecksums: false }).vxlan.vni, v4.vni);
    assert.throws(() => decapsulate(corrupt, { ports: [1, 2, 3, 4, 5] }), /1 to 4/);
    assert.throws(() => decapsulate(corrupt, { ports: [0] }), /not a port/);
    assert.throws(() => decapsulate(corrupt, { vni: 1 << 24 }), /vni/);
  });

  test('VLAN stacks and IPv6 extension headers', () => {
    // Two tags (802.1ad outer, 802.1Q inner): insert a second tag after the first.
    const one = encapsulate(inner, v6);
    const two = new Uint8Array([...one.subarray(0, 12), 0x88, 0xa8, 0x00, 0x07, ...one.subarray(12)]);
    assert.equal(decapsulate(two).ethernet.vlans.map((tag) => tag.vid), [7, 100]);
    const nine = new Uint8Array([...one.subarray(0, 12), ...Array.from({ length: 9 }, () => [0x81, 0x00, 0, 1]).flat(), 0x86, 0xdd, ...one.subarray(18)]);
    expectDecodeError(() => decapsulate(nine), 'TOO_MANY_VLAN_TAGS', 'ethernet', 12 + 8 * 4, 'nine tags');
    // Hop-by-hop (8 bytes of padding options) then destination options, then UDP.
    const l3 = 18;
    const withExtensions = new Uint8Array([
      ...one.subarray(0, l3 + 40), 60, 0, 1, 4, 0, 0, 0, 0, 17, 0, 1, 4, 0, 0, 0, 0, ...one.subarray(l3 + 40),
    ]);
    withExtensions[l3 + 6] = 0; // next header: hop-by-hop
    const payload = ((one[l3 + 4] << 8) | one[l3 + 5]) + 16;
    withExtensions[l3 + 4] = payload >> 8;
    withExtensions[l3 + 5] = payload & 0xff;
    const decoded = decapsulate(withExtensions);
    assert.equal((decoded.ip as { extensionHeaders: unknown }).extensionHeaders, [{ type: 0, length: 8 }, { type: 60, length: 8 }]);
    const fragment = withExtensions.slice();
    fragment[l3 + 40] = 44; // hop-by-hop's next header: a Fragment header
    expectDecodeError(() => decapsulate(fragment), 'FRAGMENTED', 'ipv6', l3 + 48, 'IPv6 fragment');
    const overlong = withExtensions.slice();
    overlong[l3 + 49] = 200; // destination options claims 1608 bytes
    expectDecodeError(() => decapsulate(overlong), 'BAD_IPV6_EXTENSION', 'ipv6', l3 + 48, 'chain past the payload');
  });

  test.run();
}

const growth = suite('memory growth');
growth('a grown WASM memory gets a new view and the kernels keep answering', () => {
  const kernels = createKernels('wasm-simd');
  const before = kernels.bytes;
  const ptr = kernels.reserve(64);
  kernels.bytes.set([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7], ptr);
  kernels.reserve(8 * 1024 * 1024);
  assert.is.not(kernels.bytes, before);
  assert.is(before.length, 0, 'the old view is detached');
  assert.ok(kernels.bytes.length > 8 * 1024 * 1024);
  assert.is(kernels.onesComplementSum(ptr, 8, 0), 0xddf2);
});
growth.run();
