// Property-based and differential fuzzing (fast-check): round trips for random valid input;
// random and mutated bytes only ever give a DecodeError or a correct success; the three
// backends agree on every input. `npm run fuzz` runs the same oracle a million times.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { decapsulate, encapsulate, useBackend, ethernet, ipv4, ipv6, udp, vxlan } from '../../src/index';
import {
  agreeingOutcome, BACKENDS, checksumsHold, decapOptionsArbitrary, innerArbitrary, mutate, mutationArbitrary, tunnelArbitrary,
} from '../helpers/fuzzing';

const RUNS = 1000;

test('decapsulate(encapsulate(x)) gives back x, on every backend, byte-identical frames', () => {
  fc.assert(fc.property(tunnelArbitrary, innerArbitrary, (tunnel, inner) => {
    const frames = BACKENDS.map((backend) => {
      useBackend(backend);
      const frame = encapsulate(inner, tunnel);
      const decoded = decapsulate(frame, { gbp: true });
      assert.is(decoded.vxlan.vni, tunnel.vni);
      assert.equal([...decoded.inner], [...inner]);
      assert.is(decoded.ethernet.source, tunnel.source.mac);
      assert.is(decoded.udp.destinationPort, tunnel.destination.port);
      if (tunnel.source.port !== undefined) assert.is(decoded.udp.sourcePort, tunnel.source.port);
      assert.equal(decoded.ethernet.vlans.map((tag) => [tag.vid, tag.pcp]), tunnel.vlan ? [[tunnel.vlan.vid, tunnel.vlan.pcp]] : []);
      assert.equal(decoded.vxlan.gbp, tunnel.gbp && { ...tunnel.gbp }); // fast-check records have no prototype
      if (decoded.ip.version === 4) {
        assert.is(decoded.ip.ttl, tunnel.ttl ?? 64);
        assert.is((decoded.ip.dscp << 2) | decoded.ip.ecn, tunnel.tos ?? 0);
        assert.is(decoded.ip.dontFragment, tunnel.dontFragment ?? false);
      } else {
        assert.is(decoded.ip.hopLimit, tunnel.ttl ?? 64);
        assert.is(decoded.ip.trafficClass, tunnel.tos ?? 0);
      }
      // The IPv4 identification counts per call: blank it and the header checksum it feeds.
      const l3 = tunnel.vlan ? 18 : 14;
      if (decoded.ip.version === 4) frame.fill(0, l3 + 4, l3 + 6).fill(0, l3 + 10, l3 + 12);
      return Buffer.from(frame).toString('hex');
    });
    assert.ok(frames.every((frame) => frame === frames[0]), 'backends build the same frame');
  }), { numRuns: RUNS });
});

test('per-header codecs: decode(encodeInto(x)) equals x at any offset', () => {
  const buffer = new Uint8Array(200);
  fc.assert(fc.property(tunnelArbitrary, fc.integer({ min: 0, max: 100 }), (tunnel, offset) => {
    const frame = encapsulate(new Uint8Array(14), tunnel);
    const decoded = decapsulate(frame, { gbp: true });
    const l3 = tunnel.vlan ? 18 : 14;
    for (const [codec, fields, at] of [
      [ethernet, decoded.ethernet, 0], [decoded.ip.version === 4 ? ipv4 : ipv6, decoded.ip, l3],
      [udp, decoded.udp, decoded.inner.byteOffset - 16], [vxlan, decoded.vxlan, decoded.inner.byteOffset - 8],
    ] as const) {
      buffer.fill(0xa5);
      const written = (codec.encodeInto as (f: unknown, b: Uint8Array, o: number) => number)(fields, buffer, offset);
      assert.equal([...buffer.subarray(offset, offset + written)], [...frame.subarray(at, at + written)]);
      assert.equal((codec.decode as (b: Uint8Array, o: number) => unknown)(buffer, offset), fields);
    }
  }), { numRuns: RUNS });
});

test('mutated valid frames: only DecodeErrors or correct successes, and the backends agree', () => {
  fc.assert(fc.property(tunnelArbitrary, innerArbitrary, mutationArbitrary, decapOptionsArbitrary, (tunnel, inner, mutations, options) => {
    const frame = mutate(encapsulate(inner, tunnel), mutations);
    const answer = agreeingOutcome(frame, options);
    if (!answer.startsWith('error') && options.verifyChecksums !== false) {
      useBackend('reference');
      const decoded = decapsulate(frame, options);
      const l3 = 14 + decoded.ethernet.vlans.length * 4;
      assert.ok(checksumsHold(frame, decoded, l3), 'an accepted frame has right checksums');
    }
  }), { numRuns: RUNS * 2 });
});

test('random bytes: only DecodeErrors, and the backends agree', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), decapOptionsArbitrary, (bytes, options) => {
    agreeingOutcome(bytes, options);
  }), { numRuns: RUNS * 2 });
});

test('after all that, every backend still decodes a valid frame', () => {
  const frame = encapsulate(new Uint8Array(64).fill(9), {
    vni: 1, source: { mac: '02:00:00:00:00:01', ip: '10.0.0.1' }, destination: { mac: '02:00:00:00:00:02', ip: '10.0.0.2' },
  });
  for (const backend of BACKENDS) {
    useBackend(backend);
    assert.is(decapsulate(frame).vxlan.vni, 1, backend);
  }
});

test.run();
