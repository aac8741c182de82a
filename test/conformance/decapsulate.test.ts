// Conformance, decapsulate: known frames (built by the independent Python encoder) decoded field
// by field, round trips at every option combination, and every error code with its exact layer
// and offset. Each expected (code, layer, offset) comes from a rule written here from RFCs and the
// documented semantics (the README's API section, src/errors.ts), not from the code under test. After every
// error the backend must still decode a valid frame. Run on every backend.
import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  backendName, decapsulate, decapsulateLax, DecodeError, encapsulate, useBackend,
  type DecapOptions, type TunnelOptions, type VxlanFrame,
} from '../../src/index';
import { workspace } from '../../src/backend';
import { BACKENDS } from '../helpers/backends';
import { fromHex, hex } from '../helpers/bytes';
import { fixIpv4Checksum, fixUdpChecksum, innerFrame, ipv4Frame, ipv4Tunnel, ipv6Frame, ipv6Tunnel } from '../helpers/frames';

const fixtures = JSON.parse(readFileSync(new URL('../fixtures/frames/fixtures.json', import.meta.url), 'utf8')) as
  Record<string, { spec: Record<string, unknown>; hex: string }>;

const be16 = (b: Uint8Array, at: number) => (b[at] << 8) | b[at + 1];
function set16(b: Uint8Array, at: number, value: number): void {
  b[at] = (value >> 8) & 0xff;
  b[at + 1] = value & 0xff;
}
const concat = (...parts: ArrayLike<number>[]) => new Uint8Array(parts.flatMap((p) => Array.from(p)));

/** A comparable form of a decoded frame (views turned into hex). */
function describe(decoded: VxlanFrame): string {
  const ip = decoded.ip.version === 4 ? { ...decoded.ip, options: hex(decoded.ip.options) } : decoded.ip;
  // Each header by name: the frame's headers are getters on its class, which spread would skip.
  const { ethernet, udp, vxlan } = decoded;
  return JSON.stringify({ ethernet, ip, udp, vxlan, inner: hex(decoded.inner) });
}

/** Layout of a frame: where each header starts. */
interface Layout { tags: number; l3: number; l4: number; vx: number; inner: number; v4: boolean }
function layoutOf(frame: Uint8Array): Layout {
  let typeAt = 12;
  while ([0x8100, 0x88a8, 0x9100].includes(be16(frame, typeAt))) typeAt += 4;
  const l3 = typeAt + 2;
  const v4 = be16(frame, typeAt) === 0x0800;
  const l4 = l3 + (v4 ? (frame[l3] & 0x0f) * 4 : 40);
  return { tags: (typeAt - 12) / 4, l3, l4, vx: l4 + 8, inner: l4 + 16, v4 };
}

/** Insert 802.1Q/802.1ad tags right after the MAC addresses (outermost first). */
function withTags(frame: Uint8Array, tags: { tpid: number; vid: number }[]): Uint8Array {
  const bytes = tags.flatMap(({ tpid, vid }) => [tpid >> 8, tpid & 0xff, vid >> 8, vid & 0xff]);
  return concat(frame.subarray(0, 12), bytes, frame.subarray(12));
}

/**
 * Insert IPv6 extension headers between the fixed header and UDP (RFC 8200 §4): each is
 * Next Header, Hdr Ext Len (8-octet units beyond the first 8), then zeros (Pad1 options).
 * The UDP checksum is unchanged: the pseudo-header has the upper-layer length, not the payload's.
 */
function withExtensions(frame: Uint8Array, extensions: { type: number; len: number; lenByte?: number; next?: number }[]): Uint8Array {
  const { l3 } = layoutOf(frame);
  const chain = [...extensions.map((e) => e.type), frame[l3 + 6]];
  const bytes = extensions.flatMap((e, i) => {
    const header = new Array<number>(e.len).fill(0);
    header[0] = e.next ?? chain[i + 1];
    header[1] = e.lenByte ?? e.len / 8 - 1;
    return header;
  });
  const out = concat(frame.subarray(0, l3 + 40), bytes, frame.subarray(l3 + 40));
  out[l3 + 6] = chain[0];
  set16(out, l3 + 4, be16(out, l3 + 4) + bytes.length);
  return out;
}

type Expected = { code: string; layer: string; offset: number } | 'ok';
const err = (code: string, layer: string, offset: number): Expected => ({ code, layer, offset });

for (const backend of BACKENDS) {
  const test = suite(`conformance/decapsulate [${backend}]`);
  /** The valid frame every error case is followed by, and what it decodes to. */
  let sentinel: Uint8Array;
  let sentinelDecoded: string;

  function outcome(frame: Uint8Array, options?: DecapOptions): Expected {
    try {
      decapsulate(frame, options);
      return 'ok';
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      return err(error.code, error.layer, error.offset);
    }
  }

  /** Decode, compare with the expectation, then check the backend still decodes a valid frame. */
  function check(frame: Uint8Array, options: DecapOptions | undefined, expected: Expected, what: string): void {
    assert.equal(outcome(frame, options), expected, `${what} (options ${JSON.stringify(options ?? {})})`);
    assert.is(describe(decapsulate(sentinel)), sentinelDecoded, `${what}: afterwards a valid frame still decodes`);
  }

  test.before(() => {
    useBackend(backend);
    sentinel = ipv4Frame({ vlan: { vid: 9 }, inner: innerFrame(77, 5) });
    sentinelDecoded = describe(decapsulate(sentinel));
  });

  test('the backend under test is the one answering', () => {
    assert.is(backendName(), backend);
    const kernels = workspace().kernels as { simd?: boolean };
    if (backend !== 'reference') assert.is(kernels.simd, backend === 'wasm-simd');
  });

  test('known frames (Python struct encoder, test/fixtures/frames) decode field by field', () => {
    const plain = fromHex(fixtures['ipv4-plain'].hex);
    const a = decapsulate(plain);
    assert.equal(a.ethernet, { destination: '02:00:00:00:00:02', source: '02:00:00:00:00:01', etherType: 0x0800, vlans: [] });
    assert.equal({ ...a.ip, options: Array.from((a.ip as { options: Uint8Array }).options) }, {
      version: 4, ihl: 5, dscp: 0, ecn: 0, totalLength: 20 + 8 + 8 + 42, identification: 0x1c46, dontFragment: true,
      moreFragments: false, fragmentOffset: 0, ttl: 64, protocol: 17, checksum: be16(plain, 24),
      source: '192.0.2.1', destination: '198.51.100.2', options: [],
    });
    assert.equal(a.udp, { sourcePort: 51234, destinationPort: 4789, length: 8 + 8 + 42, checksum: be16(plain, 40) });
    assert.equal(a.vxlan, { flags: 0x08, vni: 0x123456 });
    assert.is(hex(a.inner), fixtures['ipv4-plain'].spec.inner);
    assert.is(a.inner.buffer, plain.buffer, 'inner is a view into the input');
    assert.is(a.inner.byteOffset, plain.byteOffset + 50);

    const gbp = fromHex(fixtures['ipv4-vlan-gbp-8472'].hex);
    assert.equal(outcome(gbp), err('VXLAN_RESERVED_BITS', 'vxlan', 46), 'G flag is a reserved bit unless gbp is asked for');
    const b = decapsulate(gbp, { gbp: true });
    assert.equal(b.ethernet.vlans, [{ tpid: 0x8100, pcp: 5, dei: false, vid: 100 }]);
    assert.is(b.ethernet.etherType, 0x0800);
    assert.is(b.ip.version, 4);
    if (b.ip.version === 4) {
      assert.equal([b.ip.dscp, b.ip.ecn, b.ip.ttl, b.ip.identification, b.ip.dontFragment], [0xb8 >> 2, 0, 17, 7, false]);
      assert.equal([b.ip.source, b.ip.destination], ['10.1.2.3', '10.4.5.6']);
    }
    assert.equal(b.udp, { sourcePort: 60000, destinationPort: 8472, length: 58, checksum: 0 });
    assert.equal(b.vxlan, { flags: 0x88, vni: 42, gbp: { group: 0xabcd, dontLearn: true, policyApplied: true } });

    const v6 = fromHex(fixtures['ipv6-ext-qinq'].hex);
    const c = decapsulate(v6);
    assert.equal(c.ethernet.vlans, [{ tpid: 0x88a8, pcp: 1, dei: false, vid: 10 }, { tpid: 0x8100, pcp: 0, dei: true, vid: 4094 }]);
    assert.equal(c.ip, {
      version: 6, trafficClass: 0x2e, flowLabel: 0xbeef5, payloadLength: 24 + 8 + 8 + 42, nextHeader: 0, hopLimit: 255,
      source: '2001:db8::1', destination: '2001:db8:0:1::2',
      extensionHeaders: [{ type: 0, length: 8 }, { type: 60, length: 16 }],
    });
    assert.equal(c.udp, { sourcePort: 49999, destinationPort: 4789, length: 58, checksum: be16(v6, 22 + 40 + 24 + 6) });
    assert.equal(c.vxlan, { flags: 0x08, vni: 0xffffff });
    assert.is(hex(c.inner), fixtures['ipv6-ext-qinq'].spec.inner);
  });

  test('round trip encapsulate → decapsulate at every option combination (128)', () => {
    let combos = 0;
    for (let bits = 0; bits < 128; bits++) {
      const on = (i: number) => (bits & (1 << i)) !== 0;
      const v6 = on(0);
      const base = v6 ? ipv6Tunnel() : ipv4Tunnel();
      const tunnel: TunnelOptions = {
        ...base,
        vni: on(5) ? 0xffffff : 0,
        source: on(1) ? { ...base.source, port: undefined } : base.source,
        destination: { ...base.destination, port: on(2) ? 8472 : undefined },
        ...(on(3) ? { vlan: { vid: 4095, pcp: 3 } } : {}),
        ...(on(4) ? { gbp: { group: 0x8001, dontLearn: on(5), policyApplied: !on(5) } } : {}),
        dontFragment: on(6), udpChecksum: !on(6), tos: on(5) ? 0xfd : 0x01, ttl: on(2) ? 0 : 255,
      };
      const inner = innerFrame(on(1) ? 14 : 1500, bits);
      const frame = encapsulate(inner, tunnel);
      const d = decapsulate(frame, { gbp: true, vni: tunnel.vni });
      const what = `combination ${bits.toString(2)}`;
      assert.equal(d.ethernet.vlans, on(3) ? [{ tpid: 0x8100, pcp: 3, dei: false, vid: 4095 }] : [], what);
      assert.equal([d.ethernet.source, d.ethernet.destination], [base.source.mac, base.destination.mac], what);
      assert.is(d.ip.version, v6 ? 6 : 4, what);
      if (d.ip.version === 4) {
        assert.equal([d.ip.dontFragment, d.ip.dscp << 2 | d.ip.ecn, d.ip.ttl, d.ip.source, d.ip.destination],
          [on(6), tunnel.tos, tunnel.ttl, base.source.ip, base.destination.ip], what);
        assert.is(d.udp.checksum === 0, on(6), `${what}: udpChecksum false sends 0 over IPv4`);
      } else {
        assert.equal([d.ip.trafficClass, d.ip.hopLimit, d.ip.source, d.ip.destination, d.ip.extensionHeaders],
          [tunnel.tos, tunnel.ttl, base.source.ip, base.destination.ip, []], what);
        assert.is.not(d.udp.checksum, 0, `${what}: always a UDP checksum over IPv6`);
      }
      assert.is(d.udp.destinationPort, on(2) ? 8472 : 4789, what);
      if (!on(1)) assert.is(d.udp.sourcePort, 50000, what);
      else assert.ok(d.udp.sourcePort >= 49152, `${what}: hashed port in the default range`);
      assert.is(d.vxlan.vni, tunnel.vni, what);
      assert.equal(d.vxlan.gbp, on(4) ? { group: 0x8001, dontLearn: on(5), policyApplied: !on(5) } : undefined, what);
      assert.is(d.vxlan.flags, on(4) ? 0x88 : 0x08, what);
      assert.is(hex(d.inner), hex(inner), what);
      assert.is(d.inner.buffer, frame.buffer, `${what}: inner is a view`);
      assert.is(d.inner.byteOffset, frame.byteOffset + frame.length - inner.length, what);
      // Lax and no-verify agree on a valid frame.
      assert.is(describe(decapsulateLax(frame, { gbp: true })), describe(d), what);
      assert.is(describe(decapsulate(frame, { gbp: true, verifyChecksums: false })), describe(d), what);
      combos++;
    }
    assert.is(combos, 128);
  });

  test('inner is a view into the input, also for a subarray input at an odd offset', () => {
    const frame = ipv4Frame();
    const backing = new Uint8Array(frame.length + 3);
    backing.set(frame, 3);
    const view = backing.subarray(3);
    const d = decapsulate(view);
    assert.is(d.inner.buffer, backing.buffer);
    assert.is(d.inner.byteOffset, 3 + 50);
    d.inner[0] = 0xee;
    assert.is(backing[53], 0xee, 'writing through inner writes the input');
  });

  test('every truncated length of valid frames with 0, 1 and 2 VLAN tags: TRUNCATED at the outermost incomplete unit', () => {
    const bases = [ipv4Frame(), ipv4Frame({ vlan: { vid: 5 } }), withTags(ipv4Frame({ vlan: { vid: 5 } }), [{ tpid: 0x88a8, vid: 6 }]),
      ipv6Frame(), ipv6Frame({ vlan: { vid: 5 } }), withTags(ipv6Frame({ vlan: { vid: 5 } }), [{ tpid: 0x88a8, vid: 6 }])];
    for (const base of bases) {
      const { l3, v4, tags } = layoutOf(base);
      assert.ok(decapsulate(base));
      for (let k = 0; k < base.length; k++) {
        // Rule: before the EtherType that ends the tag stack is complete, the Ethernet header is
        // the incomplete unit (offset 0). After it, the IP packet is: either its fixed header is
        // cut, or its length field claims more than is present (TRUNCATED at the IP header).
        const expected = k < l3 ? err('TRUNCATED', 'ethernet', 0) : err('TRUNCATED', v4 ? 'ipv4' : 'ipv6', l3);
        const cut = base.slice(0, k);
        check(cut, undefined, expected, `IPv${v4 ? 4 : 6}, ${tags} tags, cut at ${k}`);
        check(cut, { strict: false, verifyChecksums: false }, expected, `IPv${v4 ? 4 : 6}, ${tags} tags, cut at ${k}, lax`);
      }
    }
  });

  test('every truncated length with the IP (and UDP) lengths made consistent: UDP, VXLAN, inner truncation', () => {
    for (const base of [ipv4Frame({ vlan: { vid: 5 } }), ipv6Frame()]) {
      const { l3, l4, vx, inner, v4 } = layoutOf(base);
      for (let k = l4; k < base.length; k++) {
        const cut = base.slice(0, k);
        if (v4) {
          set16(cut, l3 + 2, k - l3);
          fixIpv4Checksum(cut, l3);
        } else {
          set16(cut, l3 + 4, k - l3 - 40);
        }
        if (k >= l4 + 8) {
          set16(cut, l4 + 4, k - l4);
          fixUdpChecksum(cut, l3, l4);
        }
        // Rule: the first header (UDP 8, VXLAN 8, inner Ethernet 14) that does not fit is TRUNCATED at its start.
        const expected = k < l4 + 8 ? err('TRUNCATED', 'udp', l4)
          : k < vx + 8 ? err('TRUNCATED', 'vxlan', vx)
            : k < inner + 14 ? err('TRUNCATED', 'inner', inner) : 'ok';
        check(cut, undefined, expected, `IPv${v4 ? 4 : 6} consistent lengths, cut at ${k}`);
        if (expected === 'ok') assert.is(decapsulate(cut).inner.length, k - inner);
      }
    }
  });

  for (const tagged of [false, true]) {
    const label = tagged ? 'with a VLAN tag' : 'untagged';

    test(`IPv4 header faults (${label})`, () => {
      const base = ipv4Frame(tagged ? { vlan: { vid: 100 } } : {});
      const { l3, l4 } = layoutOf(base);
      const edit = (fn: (f: Uint8Array) => void, fixIp = true) => {
        const f = base.slice();
        fn(f);
        if (fixIp) fixIpv4Checksum(f, l3);
        return f;
      };
      check(edit((f) => { f[l3] = 0x65; }, false), undefined, err('BAD_IP_VERSION', 'ipv4', l3), 'version 6 under EtherType IPv4');
      check(edit((f) => { f[l3] = 0x05; }, false), { strict: false }, err('BAD_IP_VERSION', 'ipv4', l3), 'version 0, lax');
      for (const ihl of [0, 4]) {
        check(edit((f) => { f[l3] = 0x40 | ihl; }, false), undefined, err('BAD_IHL', 'ipv4', l3), `IHL ${ihl}`);
      }
      check(edit((f) => { f[l3 + 10] ^= 0x01; }, false), undefined, err('BAD_IPV4_CHECKSUM', 'ipv4', l3 + 10), 'bad header checksum');
      check(edit((f) => { f[l3 + 8] -= 1; }, false), undefined, err('BAD_IPV4_CHECKSUM', 'ipv4', l3 + 10), 'TTL changed, checksum not');
      check(edit((f) => { f[l3 + 10] ^= 0x01; }, false), { verifyChecksums: false }, 'ok', 'bad header checksum, not verified');
      const total = be16(base, l3 + 2);
      check(edit((f) => set16(f, l3 + 2, total + 1)), undefined, err('TRUNCATED', 'ipv4', l3), 'total length longer than the bytes');
      check(edit((f) => set16(f, l3 + 2, 19)), { strict: false }, err('LENGTH_MISMATCH', 'ipv4', l3 + 2), 'total length < IHL*4');
      check(edit((f) => set16(f, l3 + 2, total - 1)), undefined, err('LENGTH_MISMATCH', 'ipv4', l3 + 2), 'total length 1 short, strict');
      check(edit((f) => set16(f, l3 + 2, total - 1)), { strict: false }, err('LENGTH_MISMATCH', 'udp', l4 + 4),
        'total length 1 short, lax: the UDP length no longer fits');
      // Trailing bytes after the IP packet (e.g. Ethernet padding): Linux trims them; strict refuses them.
      const padded = concat(base, [0, 0, 0, 0]);
      check(padded, undefined, err('LENGTH_MISMATCH', 'ipv4', l3 + 2), 'trailing bytes after the IP packet, strict');
      check(padded, { strict: false }, 'ok', 'trailing bytes after the IP packet, lax');
      assert.is(decapsulateLax(padded).inner.length, 60, 'lax trims to the IP length');
      // Bytes inside the IP packet after the UDP datagram.
      const longIp = concat(base, [1, 2, 3]);
      set16(longIp, l3 + 2, total + 3);
      fixIpv4Checksum(longIp, l3);
      check(longIp, undefined, err('LENGTH_MISMATCH', 'udp', l4 + 4), 'IP payload longer than the UDP length, strict');
      check(longIp, { strict: false }, 'ok', 'IP payload longer than the UDP length, lax');
      check(edit((f) => { f[l3 + 6] |= 0x20; }), undefined, err('FRAGMENTED', 'ipv4', l3 + 6), 'MF set');
      check(edit((f) => { f[l3 + 7] = 1; }), { strict: false }, err('FRAGMENTED', 'ipv4', l3 + 6), 'fragment offset 1');
      check(edit((f) => { f[l3 + 6] |= 0x1f; f[l3 + 7] = 0xff; }), undefined, err('FRAGMENTED', 'ipv4', l3 + 6), 'fragment offset 0x1fff');
      check(edit((f) => { f[l3 + 6] |= 0x40; }), undefined, 'ok', 'DF alone is fine');
      check(edit((f) => { f[l3 + 9] = 6; }), undefined, err('NOT_UDP', 'ipv4', l3 + 9), 'protocol TCP');
      check(edit((f) => { f[l3 + 9] = 0; }), { strict: false, verifyChecksums: false }, err('NOT_UDP', 'ipv4', l3 + 9), 'protocol 0');
      // IPv4 options (IHL 6: NOP NOP NOP EOL) are skipped; the UDP checksum is unaffected.
      const withOptions = concat(base.subarray(0, l3 + 20), [1, 1, 1, 0], base.subarray(l3 + 20));
      withOptions[l3] = 0x46;
      set16(withOptions, l3 + 2, total + 4);
      fixIpv4Checksum(withOptions, l3);
      const decoded = decapsulate(withOptions);
      assert.equal(decoded.ip.version === 4 && [decoded.ip.ihl, Array.from(decoded.ip.options)], [6, [1, 1, 1, 0]]);
      assert.is(hex(decoded.inner), hex(innerFrame(60)));
    });

    test(`EtherType, UDP and port faults (${label})`, () => {
      const v4 = ipv4Frame(tagged ? { vlan: { vid: 100 } } : {});
      const { l3, l4 } = layoutOf(v4);
      const edit = (fn: (f: Uint8Array) => void) => {
        const f = v4.slice();
        fn(f);
        fixIpv4Checksum(f, l3);
        fixUdpChecksum(f, l3, l4);
        return f;
      };
      check(edit((f) => set16(f, l3 - 2, 0x0806)), undefined, err('NOT_IPV4_OR_IPV6', 'ethernet', l3 - 2), 'EtherType ARP');
      check(edit((f) => set16(f, l3 - 2, 0x86dd)), undefined, err('BAD_IP_VERSION', 'ipv6', l3), 'IPv4 packet under EtherType IPv6');
      check(edit((f) => set16(f, l4 + 4, 7)), { strict: false }, err('LENGTH_MISMATCH', 'udp', l4 + 4), 'UDP length 7');
      check(edit((f) => set16(f, l4 + 4, 0)), undefined, err('LENGTH_MISMATCH', 'udp', l4 + 4), 'UDP length 0');
      check(edit((f) => set16(f, l4 + 4, be16(v4, l4 + 4) + 1)), undefined, err('LENGTH_MISMATCH', 'udp', l4 + 4), 'UDP length past the IP payload');
      // A UDP datagram too short for its header inside a consistent IP packet.
      const short = v4.slice(0, l4 + 7);
      set16(short, l3 + 2, l4 + 7 - l3);
      fixIpv4Checksum(short, l3);
      check(short, undefined, err('TRUNCATED', 'udp', l4), 'IP payload of 7 bytes');
      const port = (p: number) => edit((f) => set16(f, l4 + 2, p));
      check(port(4790), undefined, err('NOT_VXLAN_PORT', 'udp', l4 + 2), 'port 4790');
      check(port(0), undefined, err('NOT_VXLAN_PORT', 'udp', l4 + 2), 'port 0');
      check(port(8472), undefined, 'ok', 'port 8472 is accepted by default');
      check(port(4790), { ports: [4790] }, 'ok', 'custom ports');
      check(v4, { ports: [4790] }, err('NOT_VXLAN_PORT', 'udp', l4 + 2), '4789 not in the custom ports');
      check(port(65535), { ports: [1, 2, 3, 65535] }, 'ok', 'the fourth custom port');
      check(port(3), { ports: [1, 2, 3, 65535] }, 'ok', 'the third custom port');
      check(v4, { ports: [1, 2, 3, 65535] }, err('NOT_VXLAN_PORT', 'udp', l4 + 2), 'none of four custom ports');
      // The port is judged before the checksum: a wrong port with a wrong checksum names the port.
      const both = v4.slice();
      set16(both, l4 + 2, 4790);
      check(both, undefined, err('NOT_VXLAN_PORT', 'udp', l4 + 2), 'wrong port and wrong checksum');
      const corrupt = v4.slice();
      corrupt[corrupt.length - 1] ^= 0x80;
      check(corrupt, undefined, err('BAD_UDP_CHECKSUM', 'udp', l4 + 6), 'inner byte changed, UDP checksum not');
      check(corrupt, { verifyChecksums: false }, 'ok', 'same, checksums not verified');
      const noChecksum = v4.slice();
      set16(noChecksum, l4 + 6, 0);
      check(noChecksum, undefined, 'ok', 'a zero UDP checksum over IPv4 means none (RFC 768)');
      const offByOne = v4.slice();
      offByOne[l4 + 7] ^= 1;
      check(offByOne, undefined, err('BAD_UDP_CHECKSUM', 'udp', l4 + 6), 'checksum field off by one bit');
    });

    test(`IPv6 faults and extension headers (${label})`, () => {
      const base = ipv6Frame(tagged ? { vlan: { vid: 100 } } : {});
      const { l3, l4 } = layoutOf(base);
      const edit = (fn: (f: Uint8Array) => void, fixUdp = false) => {
        const f = base.slice();
        fn(f);
        if (fixUdp) fixUdpChecksum(f, l3, layoutOf(f).l4, true);
        return f;
      };
      check(edit((f) => { f[l3] = 0x40 | (f[l3] & 0x0f); }), undefined, err('BAD_IP_VERSION', 'ipv6', l3), 'version 4 under EtherType IPv6');
      const payload = be16(base, l3 + 4);
      check(edit((f) => set16(f, l3 + 4, payload + 1)), undefined, err('TRUNCATED', 'ipv6', l3), 'payload length longer');
      check(edit((f) => set16(f, l3 + 4, payload - 1)), undefined, err('LENGTH_MISMATCH', 'ipv6', l3 + 4), 'payload length shorter, strict');
      check(edit((f) => set16(f, l3 + 4, payload - 1)), { strict: false }, err('LENGTH_MISMATCH', 'udp', l4 + 4), 'payload length shorter, lax');
      const padded = concat(base, [0, 0]);
      check(padded, undefined, err('LENGTH_MISMATCH', 'ipv6', l3 + 4), 'trailing bytes, strict');
      check(padded, { strict: false }, 'ok', 'trailing bytes, lax');
      const zero = edit((f) => set16(f, l4 + 6, 0));
      check(zero, undefined, err('ZERO_UDP_CHECKSUM_IPV6', 'udp', l4 + 6), 'zero UDP checksum over IPv6 (RFC 8200 §8.1)');
      check(zero, { verifyChecksums: false }, err('ZERO_UDP_CHECKSUM_IPV6', 'udp', l4 + 6), 'zero checksum, even unverified');
      check(zero, { strict: false }, err('ZERO_UDP_CHECKSUM_IPV6', 'udp', l4 + 6), 'zero checksum, even lax');
      check(zero, { allowZeroUdpChecksumIpv6: true }, 'ok', 'zero checksum allowed by option (RFC 6935)');
      check(edit((f) => { f[f.length - 1] ^= 1; }), undefined, err('BAD_UDP_CHECKSUM', 'udp', l4 + 6), 'bad UDP checksum');
      check(edit((f) => { f[l3 + 8] ^= 1; }), undefined, err('BAD_UDP_CHECKSUM', 'udp', l4 + 6), 'source address changed (pseudo-header)');
      check(edit((f) => { f[l3 + 6] = 6; }), undefined, err('NOT_UDP', 'ipv6', l3 + 6), 'next header TCP');
      check(edit((f) => { f[l3 + 6] = 59; }), undefined, err('NOT_UDP', 'ipv6', l3 + 6), 'next header "no next header"');

      // Extension headers are walked (RFC 8200 §4.1 order: hop-by-hop first).
      const walked = withExtensions(base, [{ type: 0, len: 8 }, { type: 60, len: 16 }]);
      const d = decapsulate(walked);
      assert.equal(d.ip.version === 6 && [d.ip.nextHeader, d.ip.extensionHeaders], [0, [{ type: 0, length: 8 }, { type: 60, length: 16 }]]);
      assert.is(d.inner.byteOffset - walked.byteOffset, l4 + 24 + 16, 'UDP after 24 bytes of extension headers');
      assert.is(hex(d.inner), hex(innerFrame(60)));
      const routed = decapsulate(withExtensions(base, [{ type: 43, len: 24 }]));
      assert.equal(routed.ip.version === 6 && routed.ip.extensionHeaders, [{ type: 43, length: 24 }], 'routing header walked');
      const eight = Array.from({ length: 8 }, () => ({ type: 60, len: 8 }));
      check(withExtensions(base, eight), undefined, 'ok', 'eight extension headers are walked');
      check(withExtensions(base, [...eight, { type: 60, len: 8 }]), undefined, err('BAD_IPV6_EXTENSION', 'ipv6', l4 + 64), 'a ninth is too many');
      check(withExtensions(base, [{ type: 44, len: 8 }]), undefined, err('FRAGMENTED', 'ipv6', l4), 'fragment header');
      check(withExtensions(base, [{ type: 0, len: 8 }, { type: 44, len: 8 }]), { strict: false }, err('FRAGMENTED', 'ipv6', l4 + 8), 'fragment header after hop-by-hop');
      check(withExtensions(base, [{ type: 0, len: 8, lenByte: 255 }]), undefined, err('BAD_IPV6_EXTENSION', 'ipv6', l4), 'extension longer than the packet');
      check(withExtensions(base, [{ type: 0, len: 8 }, { type: 60, len: 8, next: 6 }]), undefined, err('NOT_UDP', 'ipv6', l4 + 8),
        'the last extension header names TCP: NOT_UDP at its Next Header byte');
      // Fewer than 8 bytes left for an extension header.
      const stub = base.slice(0, l4 + 4);
      set16(stub, l3 + 4, 4);
      stub[l3 + 6] = 0;
      check(stub, undefined, err('BAD_IPV6_EXTENSION', 'ipv6', l4), 'hop-by-hop with only 4 bytes of payload');
    });

    test(`VXLAN header faults (${label})`, () => {
      for (const base of [ipv4Frame(tagged ? { vlan: { vid: 100 } } : {}), ipv6Frame(tagged ? { vlan: { vid: 100 } } : {})]) {
        const { l3, l4, vx, v4 } = layoutOf(base);
        const ip = v4 ? 'IPv4' : 'IPv6';
        const edit = (fn: (f: Uint8Array) => void) => {
          const f = base.slice();
          fn(f);
          fixUdpChecksum(f, l3, l4);
          return f;
        };
        const noI = edit((f) => { f[vx] = 0; });
        for (const options of [undefined, { strict: false }, { gbp: true }, { verifyChecksums: false }]) {
          check(noI, options, err('VXLAN_I_FLAG_MISSING', 'vxlan', vx), `${ip}: I flag missing`);
        }
        check(edit((f) => { f[vx] = 0x80; }), { strict: false, gbp: true }, err('VXLAN_I_FLAG_MISSING', 'vxlan', vx), `${ip}: G without I`);
        // Rule: strict reports the field holding the bit: flags (byte 0), GBP flags (byte 1),
        // Group Policy ID / reserved (bytes 2-3, one 16-bit field), reserved (byte 7).
        // With `gbp: true` and G set, G, D (0x40), A (0x08) and the group id are allowed (draft-smith-vxlan-group-policy).
        for (let byte = 0; byte < 8; byte++) {
          if (byte >= 4 && byte <= 6) continue; // the VNI
          for (let bit = 0; bit < 8; bit++) {
            const mask = 1 << bit;
            if (byte === 0 && mask === 0x08) continue; // I
            const field = byte === 3 ? 2 : byte;
            const plain = edit((f) => { f[vx + byte] |= mask; });
            const what = `${ip}: byte ${byte} bit 0x${mask.toString(16)}`;
            check(plain, undefined, err('VXLAN_RESERVED_BITS', 'vxlan', vx + field), `${what}, strict`);
            check(plain, { strict: false }, 'ok', `${what}, lax`);
            const allowedWithGbp = (byte === 0 && mask === 0x80) || (byte === 1 && (mask === 0x40 || mask === 0x08)) || byte === 2 || byte === 3;
            const withG = edit((f) => { f[vx] |= 0x80; f[vx + byte] |= mask; });
            check(withG, { gbp: true }, allowedWithGbp ? 'ok' : err('VXLAN_RESERVED_BITS', 'vxlan', vx + field), `${what} with G, gbp: true`);
            if (byte !== 0) {
              // gbp asked for but G not set: the bytes are plain reserved bytes again.
              check(plain, { gbp: true }, err('VXLAN_RESERVED_BITS', 'vxlan', vx + field), `${what} without G, gbp: true`);
            }
          }
        }
        const gbpFrame = edit((f) => { f[vx] = 0x88; f[vx + 1] = 0x48; f[vx + 2] = 0xca; f[vx + 3] = 0xfe; });
        assert.equal(decapsulate(gbpFrame, { gbp: true }).vxlan.gbp, { group: 0xcafe, dontLearn: true, policyApplied: true });
        assert.equal(decapsulateLax(gbpFrame).vxlan.gbp, { group: 0xcafe, dontLearn: true, policyApplied: true }, 'lax decodes GBP too');
        const vni = v4 ? 0x123456 : 0xabcdef;
        check(base, { vni }, 'ok', `${ip}: expected VNI`);
        check(base, { vni: vni ^ 1 }, err('VNI_MISMATCH', 'vxlan', vx + 4), `${ip}: other VNI`);
        check(base, { vni: 0, strict: false }, err('VNI_MISMATCH', 'vxlan', vx + 4), `${ip}: other VNI, lax`);
      }
    });
  }

  test('VLAN tag stacks: 8 tags walked (all three TPIDs), a ninth is TOO_MANY_VLAN_TAGS at its TPID', () => {
    const base = ipv4Frame();
    const tpids = [0x88a8, 0x9100, 0x8100];
    const eight = Array.from({ length: 8 }, (_, i) => ({ tpid: tpids[i % 3], vid: i + 1 }));
    const d = decapsulate(withTags(base, eight));
    assert.equal(d.ethernet.vlans.map((v) => [v.tpid, v.vid]), eight.map((t) => [t.tpid, t.vid]));
    assert.is(d.ethernet.etherType, 0x0800);
    const nine = withTags(base, [...eight, { tpid: 0x8100, vid: 9 }]);
    check(nine, undefined, err('TOO_MANY_VLAN_TAGS', 'ethernet', 12 + 8 * 4), 'nine tags');
    check(nine, { strict: false }, err('TOO_MANY_VLAN_TAGS', 'ethernet', 12 + 8 * 4), 'nine tags, lax');
    check(withTags(base, [{ tpid: 0x8100, vid: 1 }]).slice(0, 17), undefined, err('TRUNCATED', 'ethernet', 0), 'tag without EtherType');
  });

  test('option validation: ports (1..4 entries of 1..65535), vni, options object', () => {
    const frame = ipv4Frame();
    const bad: [DecapOptions, RegExp, typeof RangeError | typeof TypeError][] = [
      [{ ports: [] }, /ports/, RangeError],
      [{ ports: [1, 2, 3, 4, 5] }, /ports/, RangeError],
      [{ ports: [0] }, /ports/, RangeError],
      [{ ports: [65536] }, /ports/, RangeError],
      [{ ports: [4789.5] }, /ports/, RangeError],
      [{ ports: 4789 as unknown as number[] }, /ports/, RangeError],
      [{ vni: 2 ** 24 }, /vni/, RangeError],
      [{ vni: -1 }, /vni/, RangeError],
      [{ vni: 0.5 }, /vni/, RangeError],
      [null as unknown as DecapOptions, /options/, TypeError],
    ];
    for (const [options, message, type] of bad) {
      assert.throws(() => decapsulate(frame, options), (e: Error) => e instanceof type && message.test(e.message), JSON.stringify(options));
    }
    assert.throws(() => decapsulate('frame' as unknown as Uint8Array), (e: Error) => e instanceof TypeError && /frame/.test(e.message));
    assert.ok(decapsulate(frame, { ports: [1, 2, 3, 4789] }), 'four ports are fine');
  });

  test('a frame longer than any valid frame: trailing bytes (strict), trimmed (lax)', () => {
    const base = ipv4Frame();
    const huge = new Uint8Array(200_000);
    huge.set(base);
    check(huge, undefined, err('LENGTH_MISMATCH', 'ipv4', 16), '200,000 bytes, strict');
    assert.is(hex(decapsulateLax(huge).inner), hex(innerFrame(60)));
  });

  test.run();
}
