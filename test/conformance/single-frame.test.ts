// Conformance, the single-frame API's lazy and zero-allocation forms: decapsulate's view (headers
// decoded when first read, the same values as the header codecs give, shown whole by
// JSON.stringify and util.inspect, each header a plain spreadable and cloneable object),
// encapsulateInto (the caller's buffer, exact size errors, the identification counting per call
// whatever the template cache does) and decapsulateSlot (a PacketBatch slot decoded where it lies).
// Run on every backend.
import { inspect } from 'node:util';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  createKernels, decapsulate, decapsulateSlot, DecodeError, DecodedFrame, encapsulate, encapsulateInto, PacketBatch,
  useBackend, type Ipv4Header, type VxlanFrame,
} from '../../src/index';
import * as ethernet from '../../src/wire/ethernet';
import * as ipv4 from '../../src/wire/ipv4';
import * as ipv6 from '../../src/wire/ipv6';
import * as udp from '../../src/wire/udp';
import * as vxlan from '../../src/wire/vxlan';
import { BACKENDS } from '../helpers/backends';
import { hex, naiveSum } from '../helpers/bytes';
import { innerFrame, ipv4Tunnel, ipv6Tunnel, PEERS } from '../helpers/frames';

/** What decapsulate returned before it returned a view: every header decoded at once by the codecs. */
function eagerDecode(frame: Uint8Array): VxlanFrame {
  const eth = ethernet.decode(frame, 0);
  const l3 = 14 + 4 * eth.vlans.length;
  const ip = eth.etherType === 0x0800 ? ipv4.decode(frame, l3) : ipv6.decode(frame, l3);
  const l4 = ip.version === 4 ? l3 + ip.ihl * 4 : ipv6.ipv6UpperLayer(frame, l3).offset;
  return { ethernet: eth, ip, udp: udp.decode(frame, l4), vxlan: vxlan.decode(frame, l4 + 8), inner: frame.subarray(l4 + 16) };
}

const ipv4Id = (frame: Uint8Array) => (frame[18] << 8) | frame[19];

/** Outer IPv4 identification and header checksum (IPv4 header at `l3`) zeroed: the bytes that differ from call to call. */
function masked(frame: Uint8Array, l3: number): string {
  const copy = frame.slice();
  copy.fill(0, l3 + 4, l3 + 6);
  copy.fill(0, l3 + 10, l3 + 12);
  return hex(copy);
}

for (const backend of BACKENDS) {
  const test = suite(`conformance/single-frame [${backend}]`);
  test.before(() => {
    useBackend(backend);
  });

  test('the view reads what the header codecs read, for every kind of tunnel', () => {
    for (const tunnel of PEERS) {
      const frame = encapsulate(innerFrame(90), tunnel);
      const view = decapsulate(frame, { gbp: true });
      const eager = eagerDecode(frame);
      assert.instance(view, DecodedFrame);
      assert.equal(view.ethernet, eager.ethernet);
      assert.equal(view.ip, eager.ip);
      assert.equal(view.udp, eager.udp);
      assert.equal(view.vxlan, eager.vxlan);
      assert.is(hex(view.inner), hex(eager.inner));
      assert.is(view.inner.buffer, frame.buffer, 'inner is a view into the frame, not a copy');
      assert.is(JSON.stringify(view), JSON.stringify(eager), 'JSON.stringify shows every header as before');
    }
  });

  test('each header is decoded once and kept; setters replace it', () => {
    const view = decapsulate(encapsulate(innerFrame(60), ipv4Tunnel()));
    assert.is(view.ip, view.ip);
    assert.is(view.ethernet, view.ethernet);
    assert.is(view.inner, view.inner);
    const replaced = { ...view.udp, sourcePort: 1 };
    view.udp = replaced;
    assert.is(view.udp, replaced);
  });

  test('headers are read from the bytes when first read, then kept', () => {
    const frame = encapsulate(innerFrame(60), ipv4Tunnel());
    const view = decapsulate(frame);
    assert.is(view.vxlan.vni, 0x123456);
    frame[14 + 8] = 7; // the outer TTL, changed after decapsulate and before ip is first read
    frame[50 + 4] = 0; // a VNI byte, changed after vxlan was read
    assert.is((view.ip as Ipv4Header).ttl, 7);
    assert.is(view.vxlan.vni, 0x123456);
  });

  test('spread, structuredClone and JSON of each header see every field; the frame itself through toJSON()', () => {
    for (const frame of [encapsulate(innerFrame(60), ipv4Tunnel()), encapsulate(innerFrame(60), ipv6Tunnel())]) {
      const view = decapsulate(frame);
      const eager = eagerDecode(frame);
      assert.equal({ ...view.ip }, { ...eager.ip });
      assert.equal(Object.keys({ ...view.ip }), Object.keys(eager.ip));
      assert.equal({ ...view.ethernet }, eager.ethernet);
      assert.equal({ ...view.udp }, eager.udp);
      assert.equal({ ...view.vxlan }, eager.vxlan);
      assert.equal(structuredClone(view.ip), eager.ip.version === 4 ? { ...eager.ip, options: eager.ip.options.slice() } : eager.ip);
      assert.equal(structuredClone(view.ethernet), eager.ethernet);
      const plain = view.toJSON();
      assert.equal(Object.keys(plain), ['ethernet', 'ip', 'udp', 'vxlan', 'inner']);
      const cloned = structuredClone(plain);
      assert.is(JSON.stringify(cloned), JSON.stringify(eager));
      assert.is(hex(cloned.inner), hex(eager.inner));
      // The headers are getters on the class, not own properties: a spread of the frame itself
      // copies none of them (README says so and points at toJSON()).
      assert.equal(Object.keys({ ...view }), []);
    }
  });

  test('util.inspect (console.log) shows every header, as the plain object did', () => {
    const frame = encapsulate(innerFrame(60), ipv6Tunnel());
    const shown = inspect(decapsulate(frame), { depth: 4 });
    assert.is(shown, inspect(eagerDecode(frame), { depth: 4 }));
    for (const text of ['2001:db8::1', '2001:db8::2', '02:00:00:00:00:01', 'vni: 11259375', 'sourcePort: 50000', 'hopLimit: 64']) {
      assert.ok(shown.includes(text), `util.inspect output lacks ${text}: ${shown}`);
    }
  });

  test('errors are unchanged: a DecodeError at decapsulate, never from a getter', () => {
    const frame = encapsulate(innerFrame(60), ipv4Tunnel());
    frame[frame.length - 1] ^= 1;
    assert.throws(() => decapsulate(frame), (e: unknown) => e instanceof DecodeError && e.code === 'BAD_UDP_CHECKSUM');
  });

  test('an options object that sets nothing means the defaults (strict, checksums verified, ports 4789 and 8472); one set field is still checked', () => {
    const tunnel = ipv4Tunnel();
    const good = encapsulate(innerFrame(60), tunnel);
    const corrupted = good.slice();
    corrupted[corrupted.length - 1] ^= 1;
    // A reserved VXLAN byte (byte 7) set, with the UDP checksum zeroed (allowed over IPv4) so only strictness can refuse it.
    const reserved = good.slice();
    reserved[50 - 1] = 1;
    reserved[40] = 0;
    reserved[41] = 0;
    const otherPort = encapsulate(innerFrame(60), ipv4Tunnel({ destination: { ...tunnel.destination, port: 9999 } }));
    const kernels = createKernels(backend);
    const batch = new PacketBatch({ capacity: 1, kernels });
    const nothingSet = [{}, { strict: undefined, verifyChecksums: undefined, vni: undefined, ports: undefined, allowZeroUdpChecksumIpv6: undefined, gbp: undefined }];
    for (const options of nothingSet) {
      const viaSlot = (frame: Uint8Array) => {
        batch.writeFrame(0, frame);
        return decapsulateSlot(batch, 0, options);
      };
      for (const decode of [(frame: Uint8Array) => decapsulate(frame, options), viaSlot]) {
        assert.is(decode(good).vxlan.vni, tunnel.vni);
        for (const [frame, code] of [[corrupted, 'BAD_UDP_CHECKSUM'], [reserved, 'VXLAN_RESERVED_BITS'], [otherPort, 'NOT_VXLAN_PORT']] as const) {
          assert.throws(() => decode(frame), (e: unknown) => e instanceof DecodeError && e.code === code, `${JSON.stringify(options)}: ${code}`);
        }
      }
    }
    assert.is(decapsulate(reserved, { strict: false }).vxlan.vni, tunnel.vni, 'strict: false is read');
    assert.is(decapsulate(corrupted, { verifyChecksums: false }).vxlan.vni, tunnel.vni, 'verifyChecksums: false is read');
    assert.is(decapsulate(otherPort, { ports: [9999] }).vxlan.vni, tunnel.vni, 'ports is read');
    assert.throws(() => decapsulate(good, { vni: 1 }), (e: unknown) => e instanceof DecodeError && e.code === 'VNI_MISMATCH');
    assert.throws(() => decapsulate(good, { strict: 'false' as unknown as boolean }), (e: Error) => e instanceof TypeError && e.message.includes('strict'));
    assert.throws(() => decapsulate(good, null as unknown as undefined), (e: Error) => e instanceof TypeError && e.message.includes('options'));
  });

  test('encapsulateInto writes encapsulate\'s frame at the offset, leaves the rest, returns its length', () => {
    for (const tunnel of PEERS) {
      const inner = innerFrame(200);
      const want = encapsulate(inner, tunnel);
      const out = new Uint8Array(want.length + 20).fill(0xee);
      const written = encapsulateInto(inner, tunnel, out, 7);
      assert.is(written, want.length);
      const got = out.subarray(7, 7 + written);
      const l3 = tunnel.vlan ? 18 : 14;
      if (tunnel.source.ip.includes(':')) assert.is(hex(got), hex(want));
      else {
        assert.is(masked(got, l3), masked(want, l3));
        assert.is(naiveSum(got.subarray(l3, l3 + 20)), 0xffff, 'IPv4 header checksum');
      }
      assert.ok(out.subarray(0, 7).every((b) => b === 0xee) && out.subarray(7 + written).every((b) => b === 0xee), 'bytes outside the frame untouched');
      assert.is(decapsulate(got.slice(), { gbp: true }).vxlan.vni, tunnel.vni);
    }
  });

  test('encapsulateInto refuses a buffer too small, naming both sizes, and writes nothing', () => {
    const inner = innerFrame(100);
    const tunnel = ipv4Tunnel();
    const size = 150; // 50 bytes of outer IPv4 headers + 100
    assert.is(encapsulateInto(inner, tunnel, new Uint8Array(size), 0), size);
    assert.is(encapsulateInto(inner, tunnel, new Uint8Array(size + 3), 3), size);
    const out = new Uint8Array(size + 2).fill(0xaa);
    assert.throws(() => encapsulateInto(inner, tunnel, out, 3), (e: Error) =>
      e instanceof RangeError && e.message.includes('149 bytes after offset 3') && e.message.includes('needs 150') && e.message.includes('50 of outer headers + 100'));
    assert.ok(out.every((b) => b === 0xaa), 'nothing written');
    for (const offset of [-1, 1.5, size + 3, Number.NaN, '0']) {
      assert.throws(() => encapsulateInto(inner, tunnel, out, offset as number), (e: Error) => e instanceof RangeError && e.message.includes('offset'), String(offset));
    }
    assert.throws(() => encapsulateInto(inner, tunnel, [] as unknown as Uint8Array, 0), (e: Error) => e instanceof TypeError && e.message.includes('out'));
    assert.throws(() => encapsulateInto(innerFrame(60).subarray(0, 13), tunnel, out, 0), (e: Error) => e instanceof RangeError && e.message.includes('14 bytes'));
  });

  test('the IPv4 identification counts per call, across both forms and any mix of tunnels', () => {
    const a = ipv4Tunnel();
    const b = ipv4Tunnel({ vni: 9 });
    const inner = innerFrame(60);
    const out = new Uint8Array(200);
    const ids: number[] = [];
    for (const tunnel of [a, a, b, a, b, b, a]) {
      encapsulateInto(inner, tunnel, out, 0);
      ids.push(ipv4Id(out));
      ids.push(ipv4Id(encapsulate(inner, tunnel)));
    }
    for (let i = 1; i < ids.length; i++) assert.is(ids[i], (ids[0] + i) & 0xffff, `call ${i}: ${ids.join(',')}`);
  });

  test('a tunnel object edited between calls takes effect at once (the template in WASM memory is replaced)', () => {
    const tunnel = ipv4Tunnel();
    const out = new Uint8Array(200);
    const inner = innerFrame(60);
    encapsulateInto(inner, tunnel, out, 0);
    tunnel.destination = { ...tunnel.destination, ip: '203.0.113.9' };
    tunnel.ttl = 3;
    const len = encapsulateInto(inner, tunnel, out, 0);
    const view = decapsulate(out.subarray(0, len));
    assert.is(view.ip.destination, '203.0.113.9');
    assert.is((view.ip as Ipv4Header).ttl, 3);
  });

  test('boolean options edited in place take effect at once, and one edited to a non-boolean is refused by name', () => {
    const tunnel = ipv4Tunnel();
    const out = new Uint8Array(200);
    const inner = innerFrame(60);
    let len = encapsulateInto(inner, tunnel, out, 0);
    const udpAt = len - inner.length - 16;
    const udpChecksum = () => (out[udpAt + 6] << 8) | out[udpAt + 7];
    assert.is.not(udpChecksum(), 0, 'the default sends a UDP checksum');
    tunnel.udpChecksum = false;
    len = encapsulateInto(inner, tunnel, out, 0);
    assert.is(udpChecksum(), 0, 'udpChecksum: false sends none');
    tunnel.dontFragment = true;
    len = encapsulateInto(inner, tunnel, out, 0);
    assert.is((decapsulate(out.subarray(0, len)).ip as Ipv4Header).dontFragment, true);
    (tunnel as { dontFragment: unknown }).dontFragment = 'yes';
    assert.throws(() => encapsulateInto(inner, tunnel, out, 0), (e: Error) => e instanceof TypeError && e.message.includes('dontFragment'));
    (tunnel as { dontFragment: unknown }).dontFragment = undefined;
    (tunnel as { udpChecksum: unknown }).udpChecksum = 1;
    assert.throws(() => encapsulateInto(inner, tunnel, out, 0), (e: Error) => e instanceof TypeError && e.message.includes('udpChecksum'));
  });

  test('encapsulateInto answers as encapsulate through its caches: a length repeated or alternating, tunnels switched, fields edited inside source/destination/vlan/gbp', () => {
    const a = ipv4Tunnel();
    const b = ipv6Tunnel();
    const out = new Uint8Array(2000);
    const check = (inner: Uint8Array, tunnel: typeof a, what: string) => {
      const len = encapsulateInto(inner, tunnel, out, 0);
      const want = encapsulate(inner, tunnel);
      const l3 = tunnel.vlan ? 18 : 14;
      const got = out.subarray(0, len);
      assert.is(len, want.length, what);
      // The IPv4 identification (and so its header checksum) advanced between the two calls.
      if (tunnel.source.ip.includes(':')) assert.is(hex(got), hex(want), what);
      else assert.is(masked(got, l3), masked(want, l3), what);
      return decapsulate(got.slice(), { gbp: true });
    };
    const short = innerFrame(64);
    const long = innerFrame(1450);
    for (const [i, inner] of [short, short, short, long, short, long, long].entries()) check(inner, a, `call ${i}`);
    for (const [i, tunnel] of [a, b, a, b, b, a].entries()) check(long, tunnel, `tunnel switch ${i}`);
    // Edits inside the nested objects, keeping the same objects: each must show in the next frame.
    a.source.mac = '02:00:00:00:00:77';
    assert.is(check(short, a, 'source.mac').ethernet.source, '02:00:00:00:00:77');
    a.destination.port = 8472;
    assert.is(check(short, a, 'destination.port').udp.destinationPort, 8472);
    a.vlan = { vid: 12 };
    assert.equal(check(short, a, 'vlan added').ethernet.vlans.map((tag) => tag.vid), [12]);
    a.vlan.vid = 13;
    assert.equal(check(short, a, 'vlan.vid').ethernet.vlans.map((tag) => tag.vid), [13]);
    a.gbp = { group: 5 };
    assert.is(check(short, a, 'gbp added').vxlan.gbp?.group, 5);
    a.gbp.group = 6;
    assert.is(check(short, a, 'gbp.group').vxlan.gbp?.group, 6);
    // A replaced object with equal fields gives the same frame.
    a.source = { ...a.source };
    check(short, a, 'equal source replaced');
  });

  test('inner of a reused receive array is right every time, and a Buffer gets a Buffer view', () => {
    const frames = [90, 300, 60].map((length) => encapsulate(innerFrame(length), ipv4Tunnel()));
    const receive = new Uint8Array(2000);
    for (const frame of [...frames, ...frames]) {
      receive.set(frame);
      const view = decapsulate(receive.subarray(0, frame.length));
      assert.is(hex(view.inner), hex(frame.subarray(50)));
    }
    const buffer = Buffer.from(frames[1]);
    for (let i = 0; i < 2; i++) {
      const inner = decapsulate(buffer).inner;
      assert.ok(Buffer.isBuffer(inner), 'a Buffer in, a Buffer view out');
      assert.is(hex(inner), hex(frames[1].subarray(50)));
    }
  });

  test('decapsulateSlot decodes a batch slot where it lies, as decapsulate does, and records the result', () => {
    const kernels = createKernels(backend);
    const batch = new PacketBatch({ capacity: 4, kernels });
    const frames = PEERS.slice(0, 4).map((tunnel, i) => encapsulate(innerFrame(80 + i), tunnel));
    frames.forEach((frame, i) => batch.writeFrame(i, frame));
    frames.forEach((frame, i) => {
      const view = decapsulateSlot(batch, i, { gbp: true });
      assert.is(JSON.stringify(view), JSON.stringify(decapsulate(frame, { gbp: true })));
      assert.is(view.inner.buffer, batch.bytes.buffer, 'inner is a view of the slot in kernel memory');
      assert.is(view.inner.byteOffset, batch.innerStart(i));
      assert.is(batch.status(i), 0);
      assert.is(batch.vni(i), PEERS[i].vni);
    });
    // A corrupted slot: the same DecodeError as decapsulate, and the slot's record says so.
    const corrupted = frames[0].slice();
    corrupted[corrupted.length - 1] ^= 1;
    batch.writeFrame(0, corrupted);
    assert.throws(() => decapsulateSlot(batch, 0), (e: unknown) => e instanceof DecodeError && e.code === 'BAD_UDP_CHECKSUM');
    assert.is(batch.error(0)?.code, 'BAD_UDP_CHECKSUM');
    assert.throws(() => decapsulateSlot(batch, 1, { vni: 1 }), (e: unknown) => e instanceof DecodeError && e.code === 'VNI_MISMATCH');
    assert.throws(() => decapsulateSlot(batch, 4), (e: Error) => e instanceof RangeError && e.message.includes('index'));
    assert.throws(() => decapsulateSlot({} as PacketBatch, 0), (e: Error) => e instanceof TypeError && e.message.includes('batch'));
  });

  test('a view over a slot still reads right after the memory grows (its bytes are looked up again)', () => {
    const kernels = createKernels(backend);
    const batch = new PacketBatch({ capacity: 1, kernels });
    const frame = encapsulate(innerFrame(70), ipv6Tunnel());
    batch.writeFrame(0, frame);
    const view = decapsulateSlot(batch, 0);
    const before = kernels.bytes;
    new PacketBatch({ capacity: 64, slotSize: 9216, kernels }); // grows the memory
    assert.ok(kernels.bytes !== before, 'the memory grew');
    assert.is(view.ip.source, '2001:db8::1');
    assert.is(hex(view.inner), hex(frame.subarray(14 + 40 + 8 + 8)));
  });

  test.run();
}
