// Property: decapsulate(encapsulate(inner, tunnel)) gives back every field of random valid
// TunnelOptions and the inner frame, on every backend; the three backends build the same bytes.
import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { backendName, decapsulate, encapsulate, parseIp, parseMac, useBackend, type TunnelOptions } from '../../src/index';
import { BACKENDS } from '../helpers/backends';
import { hex, naiveSum } from '../helpers/bytes';
import { innerArbitrary, tunnelArbitrary } from '../helpers/fuzz';

const RUNS = 250;

/** Check every decoded field against the options that built the frame. */
function checkRoundTrip(tunnel: TunnelOptions, inner: Uint8Array): void {
  const frame = encapsulate(inner, tunnel);
  const d = decapsulate(frame, { gbp: true, vni: tunnel.vni, ports: [tunnel.destination.port ?? 4789] });
  assert.is(hex(d.inner), hex(inner));
  assert.is(d.inner.buffer, frame.buffer, 'inner is a view');
  assert.is(hex(parseMac(d.ethernet.source)), hex(parseMac(tunnel.source.mac)));
  assert.is(hex(parseMac(d.ethernet.destination)), hex(parseMac(tunnel.destination.mac)));
  assert.equal(d.ethernet.vlans, tunnel.vlan ? [{ tpid: 0x8100, pcp: tunnel.vlan.pcp ?? 0, dei: false, vid: tunnel.vlan.vid }] : []);
  assert.is(hex(parseIp(d.ip.source).bytes), hex(parseIp(tunnel.source.ip).bytes));
  assert.is(hex(parseIp(d.ip.destination).bytes), hex(parseIp(tunnel.destination.ip).bytes));
  const l3 = 14 + (tunnel.vlan ? 4 : 0);
  if (d.ip.version === 4) {
    assert.is((d.ip.dscp << 2) | d.ip.ecn, tunnel.tos ?? 0);
    assert.is(d.ip.ttl, tunnel.ttl ?? 64);
    assert.is(d.ip.dontFragment, tunnel.dontFragment === true);
    assert.is(d.ip.totalLength, 36 + inner.length);
    assert.is(naiveSum(frame.subarray(l3, l3 + 20)), 0xffff, 'IPv4 header checksum verifies');
    assert.is(d.udp.checksum === 0, tunnel.udpChecksum === false);
  } else {
    assert.is(d.ip.trafficClass, tunnel.tos ?? 0);
    assert.is(d.ip.hopLimit, tunnel.ttl ?? 64);
    assert.is(d.ip.flowLabel, tunnel.flowLabel ?? 0);
    assert.is(d.ip.payloadLength, 16 + inner.length);
    assert.is.not(d.udp.checksum, 0);
  }
  const [low, high] = tunnel.sourcePortRange ?? [49152, 65535];
  if (tunnel.source.port !== undefined) assert.is(d.udp.sourcePort, tunnel.source.port);
  else assert.ok(d.udp.sourcePort >= low && d.udp.sourcePort <= high, `source port ${d.udp.sourcePort} in [${low}, ${high}]`);
  assert.is(d.udp.destinationPort, tunnel.destination.port ?? 4789);
  assert.is(d.udp.length, 16 + inner.length);
  assert.is(d.vxlan.vni, tunnel.vni);
  assert.equal(d.vxlan.gbp, tunnel.gbp ? { group: tunnel.gbp.group, dontLearn: tunnel.gbp.dontLearn === true, policyApplied: tunnel.gbp.policyApplied === true } : undefined);
}

for (const backend of BACKENDS) {
  const test = suite(`fuzz/roundtrip [${backend}]`);
  test.before(() => {
    useBackend(backend);
  });
  test(`decapsulate(encapsulate(x)) = x for ${RUNS} random tunnels and inner frames`, () => {
    assert.is(backendName(), backend);
    fc.assert(fc.property(tunnelArbitrary, innerArbitrary, (tunnel, inner) => {
      checkRoundTrip(tunnel, inner);
    }), { numRuns: RUNS });
  });
  test.run();
}

const agree = suite('fuzz/roundtrip: the backends build the same frame');
agree('same bytes on all three backends (identification and IPv4 checksum aside: a per-call counter)', () => {
  fc.assert(fc.property(tunnelArbitrary, innerArbitrary, (tunnel, inner) => {
    const frames = BACKENDS.map((backend) => {
      useBackend(backend);
      const frame = encapsulate(inner, tunnel);
      const l3 = tunnel.vlan ? 18 : 14;
      if (frame[l3] >> 4 === 4) frame.fill(0, l3 + 4, l3 + 6).fill(0, l3 + 10, l3 + 12);
      return hex(frame);
    });
    assert.is(frames[1], frames[0], 'wasm-scalar = wasm-simd');
    assert.is(frames[2], frames[0], 'reference = wasm-simd');
  }), { numRuns: 200 });
});
agree.run();
