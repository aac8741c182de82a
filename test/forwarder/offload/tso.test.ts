// tsoSplit, every backend: segments of known super-frames (IPv4, IPv6, TCP options, a VLAN tag,
// UDP), checked field by field with the tests' own sums (test/helpers/bytes.ts's naiveSum), the
// FIN/PSH/CWR rules, gso_size not dividing the payload, a split across calls, and refusals.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createKernels } from '../../../src/backend';
import { PacketBatch } from '../../../src/batch/packet-batch';
import {
  BATCH_INVALID, GSO_ECN, GSO_NONE, GSO_TCPV4, GSO_TCPV6, GSO_UDP, GSO_UDP_L4, SLOT_HEADROOM, TSO_LAST, TSO_MALFORMED, TSO_OVERSIZE,
  type Kernels,
} from '../../../src/wasm/abi';
import { BACKENDS } from '../../helpers/backends';
import { buildSegment, get16, get32, ipv4HeaderValid, l4ChecksumValid, payloadOf, type SegmentSpec } from './frames';

const STAGING = 70_000;

interface Harness {
  kernels: Kernels;
  batch: PacketBatch;
  staging: number;
}

function harness(name: (typeof BACKENDS)[number], capacity = 64, slotSize = 1600): Harness {
  const kernels = createKernels(name);
  const batch = new PacketBatch({ capacity, slotSize, kernels });
  const staging = kernels.reserve(STAGING);
  return { kernels, batch, staging };
}

function split(h: Harness, frame: Uint8Array, gsoType: number, gsoSize: number, csumStart: number, first = 0, max = h.batch.capacity, firstSegment = 0): number {
  h.kernels.bytes.set(frame, h.staging);
  return h.kernels.tsoSplit(h.staging, frame.length, gsoType, gsoSize, csumStart, h.batch.slotsPtr, h.batch.slotStride, h.batch.metaPtr, first, max, firstSegment);
}

const FIN = 0x01;
const PSH = 0x08;
const ACK = 0x10;
const CWR = 0x80;

/** Check the segments in slots first.. against the super-frame they came from. */
function checkSegments(h: Harness, spec: SegmentSpec, gsoSize: number, first: number, count: number, firstSegment = 0): void {
  const tcp = (spec.transport ?? 'tcp') === 'tcp';
  const v4 = (spec.ipVersion ?? 4) === 4;
  const superFrame = buildSegment({ ...spec, checksum: 'partial' });
  const { l3, l4, headerLen } = superFrame;
  const payload = spec.payload;
  const segments = Math.max(1, Math.ceil(payload.length / gsoSize));
  for (let k = 0; k < count; k++) {
    const i = firstSegment + k;
    const slot = first + k;
    const segment = h.batch.inner(slot).slice();
    const chunk = payload.subarray(i * gsoSize, Math.min(payload.length, (i + 1) * gsoSize));
    const what = `segment ${i}`;
    assert.is(h.batch.innerStart(slot), h.batch.slotPointer(slot) + SLOT_HEADROOM, `${what}: at the payload area`);
    assert.is(segment.length, headerLen + chunk.length, `${what}: length`);
    assert.equal(segment.subarray(headerLen), chunk, `${what}: payload`);
    assert.equal(segment.subarray(0, l3), superFrame.bytes.subarray(0, l3), `${what}: Ethernet header`);
    if (v4) {
      assert.is(get16(segment, l3 + 2), segment.length - l3, `${what}: IPv4 total length`);
      assert.is(get16(segment, l3 + 4), ((spec.identification ?? 0x1234) + i) & 0xffff, `${what}: IPv4 identification`);
      assert.ok(ipv4HeaderValid(segment, l3), `${what}: IPv4 header checksum`);
    } else {
      assert.is(get16(segment, l3 + 4), segment.length - l4, `${what}: IPv6 payload length`);
    }
    if (tcp) {
      assert.is(get32(segment, l4 + 4), ((spec.sequence ?? 1000) + i * gsoSize) % 2 ** 32, `${what}: sequence number`);
      let flags = spec.flags ?? ACK;
      if (i !== 0) flags &= ~CWR;
      if (i !== segments - 1) flags &= ~(FIN | PSH);
      assert.is(segment[l4 + 13], flags, `${what}: flags`);
      assert.equal(segment.subarray(l4 + 14, headerLen), superFrame.bytes.subarray(l4 + 14, headerLen).map((b, j) => (j === 2 || j === 3 ? segment[l4 + 14 + j] : b)), `${what}: window, options`);
      assert.ok(l4ChecksumValid(segment, l3, l4, 6), `${what}: TCP checksum`);
    } else {
      assert.is(get16(segment, l4 + 4), segment.length - l4, `${what}: UDP length`);
      assert.ok(l4ChecksumValid(segment, l3, l4, 17), `${what}: UDP checksum`);
      assert.is.not(get16(segment, l4 + 6), 0, `${what}: UDP checksum not zero`);
    }
  }
}

for (const name of BACKENDS) {
  test(`${name}: IPv4 TCP, 4000 bytes at gso_size 1448: three segments, FIN/PSH on the last, CWR on the first`, () => {
    const h = harness(name);
    const spec: SegmentSpec = { payload: payloadOf(4000), sequence: 0xffff_fc00, flags: ACK | PSH | FIN | CWR, identification: 0xfffe };
    const frame = buildSegment({ ...spec, checksum: 'partial' });
    const result = split(h, frame.bytes, GSO_TCPV4, 1448, frame.l4);
    assert.is(result, 3 | TSO_LAST);
    checkSegments(h, spec, 1448, 0, 3);
    // Identification and sequence number wrapped: 0xfffe, 0xffff, 0x0000; the sequence past 2^32.
    assert.is(get16(h.batch.inner(2), frame.l3 + 4), 0);
    assert.is(get32(h.batch.inner(2), frame.l4 + 4), (0xffff_fc00 + 2 * 1448) % 2 ** 32);
  });

  test(`${name}: IPv6 TCP with timestamps, gso_size dividing the payload, into slots from 5 on`, () => {
    const h = harness(name);
    const spec: SegmentSpec = { ipVersion: 6, payload: payloadOf(3000, 3), options: [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], flags: ACK | PSH };
    const frame = buildSegment({ ...spec, checksum: 'partial' });
    assert.is(split(h, frame.bytes, GSO_TCPV6, 1000, frame.l4, 5, 10), 3 | TSO_LAST);
    checkSegments(h, spec, 1000, 5, 3);
  });

  test(`${name}: a VLAN tag, an ECN gso_type, one byte past a multiple`, () => {
    const h = harness(name);
    const spec: SegmentSpec = { vlan: 7, payload: payloadOf(2 * 1200 + 1, 9), flags: ACK | CWR };
    const frame = buildSegment({ ...spec, checksum: 'partial' });
    assert.is(split(h, frame.bytes, GSO_TCPV4 | GSO_ECN, 1200, frame.l4), 3 | TSO_LAST);
    checkSegments(h, spec, 1200, 0, 3);
    assert.is(h.batch.innerLength(2), frame.headerLen + 1);
  });

  test(`${name}: UDP (USO) over IPv4 and IPv6: lengths and checksums per datagram`, () => {
    for (const ipVersion of [4, 6] as const) {
      const h = harness(name);
      const spec: SegmentSpec = { ipVersion, transport: 'udp', payload: payloadOf(3500, ipVersion) };
      const frame = buildSegment({ ...spec, checksum: 'partial' });
      assert.is(split(h, frame.bytes, GSO_UDP_L4, 1400, frame.l4), 3 | TSO_LAST, `IPv${ipVersion}`);
      checkSegments(h, spec, 1400, 0, 3);
    }
  });

  test(`${name}: a payload that fits one segment, and none at all: one segment`, () => {
    const h = harness(name);
    for (const length of [1448, 0]) {
      const spec: SegmentSpec = { payload: payloadOf(length), flags: ACK | PSH };
      const frame = buildSegment({ ...spec, checksum: 'partial' });
      assert.is(split(h, frame.bytes, GSO_TCPV4, 1448, frame.l4), 1 | TSO_LAST, `payload ${length}`);
      checkSegments(h, spec, 1448, 0, 1);
    }
  });

  test(`${name}: too few slots: the rest in a later call from firstSegment, TSO_LAST only then`, () => {
    const h = harness(name);
    const spec: SegmentSpec = { payload: payloadOf(10 * 1000 + 10), flags: ACK | PSH | CWR };
    const frame = buildSegment({ ...spec, checksum: 'partial' });
    assert.is(split(h, frame.bytes, GSO_TCPV4, 1000, frame.l4, 60, 4, 0), 4);
    checkSegments(h, spec, 1000, 60, 4, 0);
    assert.is(split(h, frame.bytes, GSO_TCPV4, 1000, frame.l4, 0, 4, 4), 4);
    checkSegments(h, spec, 1000, 0, 4, 4);
    assert.is(split(h, frame.bytes, GSO_TCPV4, 1000, frame.l4, 10, 64, 8), 3 | TSO_LAST);
    checkSegments(h, spec, 1000, 10, 3, 8);
    assert.is(split(h, frame.bytes, GSO_TCPV4, 1000, frame.l4, 0, 0, 8), 0, 'no slots: nothing');
    assert.is(split(h, frame.bytes, GSO_TCPV4, 1000, frame.l4, 0, 4, 11), BATCH_INVALID, 'past the last segment');
  });

  test(`${name}: refusals: type against EtherType or protocol, csum_start, truncated, UFO, gso_size 0, oversize, geometry`, () => {
    const h = harness(name);
    const v4 = buildSegment({ payload: payloadOf(3000), checksum: 'partial' });
    const v6 = buildSegment({ ipVersion: 6, payload: payloadOf(3000), checksum: 'partial' });
    const udp = buildSegment({ transport: 'udp', payload: payloadOf(3000), checksum: 'partial' });
    assert.is(split(h, v4.bytes, GSO_TCPV6, 1000, v4.l4), TSO_MALFORMED, 'TCPV6 on IPv4');
    assert.is(split(h, v6.bytes, GSO_TCPV4, 1000, v6.l4), TSO_MALFORMED, 'TCPV4 on IPv6');
    assert.is(split(h, udp.bytes, GSO_TCPV4, 1000, udp.l4), TSO_MALFORMED, 'TCPV4 on UDP');
    assert.is(split(h, v4.bytes, GSO_UDP_L4, 1000, v4.l4), TSO_MALFORMED, 'UDP_L4 on TCP');
    assert.is(split(h, v4.bytes, GSO_UDP, 1000, v4.l4), TSO_MALFORMED, 'UFO');
    assert.is(split(h, v4.bytes, GSO_NONE, 1000, v4.l4), TSO_MALFORMED, 'NONE');
    assert.is(split(h, v4.bytes, GSO_TCPV4, 1000, v4.l4 + 4), TSO_MALFORMED, 'csum_start past the IP header');
    assert.is(split(h, v4.bytes, GSO_TCPV4, 0, v4.l4), TSO_MALFORMED, 'gso_size 0');
    assert.is(split(h, v4.bytes.subarray(0, v4.l4 + 19), GSO_TCPV4, 1000, v4.l4), TSO_MALFORMED, 'TCP header cut');
    assert.is(split(h, v4.bytes.subarray(0, 13), GSO_TCPV4, 1000, v4.l4), TSO_MALFORMED, 'Ethernet header cut');
    const fragment = v4.bytes.slice();
    fragment[v4.l3 + 6] |= 0x20;
    assert.is(split(h, fragment, GSO_TCPV4, 1000, v4.l4), TSO_MALFORMED, 'an IPv4 fragment');
    const longOffset = v4.bytes.slice(0, v4.l4 + 24);
    longOffset[v4.l4 + 12] = 0xf0;
    assert.is(split(h, longOffset, GSO_TCPV4, 1000, v4.l4), TSO_MALFORMED, 'data offset past the end');
    assert.is(split(h, v4.bytes, GSO_TCPV4, 1600, v4.l4), TSO_OVERSIZE, 'segments longer than a slot');
    assert.is(split(h, v4.bytes, GSO_TCPV4, 1000, v4.l4, 0x3fff_0000, 5), BATCH_INVALID, 'slots past the memory');
    assert.is(split(h, v4.bytes, GSO_TCPV4, 1000, v4.l4, -1, 5), BATCH_INVALID, 'a negative first slot');
  });
}

test.run();
