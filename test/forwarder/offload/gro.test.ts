// groMerge, every backend: runs of segments that merge (IPv4, IPv6, options, a short last one,
// PSH on the last) and the vnet header and super-frame they give; every rule that ends a run;
// and the round trip: tsoSplit then groMerge gives back the super-frame.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createKernels } from '../../../src/backend';
import { PacketBatch } from '../../../src/batch/packet-batch';
import {
  GRO_RESULT_GSO_SIZE, GRO_RESULT_LEN, GSO_TCPV4, GSO_TCPV6, TSO_LAST, VNET_F_NEEDS_CSUM, VNET_HDR_LEN, type Kernels,
} from '../../../src/wasm/abi';
import { BACKENDS } from '../../helpers/backends';
import { naiveSum } from '../../helpers/bytes';
import { buildSegment, get16, get32, ipv4HeaderValid, payloadOf, pseudoSum, type SegmentSpec } from './frames';

const OUT = VNET_HDR_LEN + 65_536 + 64;
const PSH = 0x08;
const ACK = 0x10;

interface Harness {
  kernels: Kernels;
  batch: PacketBatch;
  list: number;
  out: number;
  result: number;
  staging: number;
}

function harness(name: (typeof BACKENDS)[number], capacity = 64): Harness {
  const kernels = createKernels(name);
  const batch = new PacketBatch({ capacity, slotSize: 1600, kernels });
  const list = kernels.reserve(capacity * 4);
  const out = kernels.reserve(OUT);
  const result = kernels.reserve(16);
  const staging = kernels.reserve(70_000);
  return { kernels, batch, list, out, result, staging };
}

interface Merged {
  taken: number;
  length: number;
  gsoSize: number;
  out: Uint8Array;
}

function merge(h: Harness, slots: number[], outCapacity = OUT): Merged {
  const view = new DataView(h.kernels.bytes.buffer, h.kernels.bytes.byteOffset);
  slots.forEach((slot, k) => view.setInt32(h.list + 4 * k, slot, true));
  const taken = h.kernels.groMerge(h.batch.slotsPtr, h.batch.slotStride, h.batch.metaPtr, h.list, slots.length, h.out, outCapacity, h.result);
  const after = new DataView(h.kernels.bytes.buffer, h.kernels.bytes.byteOffset);
  const length = after.getInt32(h.result + GRO_RESULT_LEN, true);
  return { taken, length, gsoSize: after.getInt32(h.result + GRO_RESULT_GSO_SIZE, true), out: h.kernels.bytes.slice(h.out, h.out + length) };
}

/** A flow's consecutive segments of these payload sizes, written into slots 0.. */
function segments(h: Harness, sizes: number[], spec: Partial<SegmentSpec> = {}, edit?: (k: number, s: SegmentSpec) => void): Uint8Array {
  let sequence = spec.sequence ?? 5000;
  let offset = 0;
  const whole = payloadOf(sizes.reduce((a, b) => a + b, 0), 5);
  sizes.forEach((size, k) => {
    const s: SegmentSpec = { ...spec, payload: whole.subarray(offset, offset + size), sequence };
    edit?.(k, s);
    h.batch.writeInner(k, buildSegment(s).bytes);
    sequence = (sequence + size) % 2 ** 32;
    offset += size;
  });
  return whole;
}

const vnet = (out: Uint8Array) => ({
  flags: out[0], gsoType: out[1], hdrLen: out[2] | (out[3] << 8), gsoSize: out[4] | (out[5] << 8),
  csumStart: out[6] | (out[7] << 8), csumOffset: out[8] | (out[9] << 8),
});

/** The super-frame after the vnet header is the flow's headers then `payload`, with a partial checksum. */
function checkSuperFrame(merged: Merged, spec: Partial<SegmentSpec>, payload: Uint8Array, gsoSize: number, lastFlags: number): void {
  const frame = merged.out.subarray(VNET_HDR_LEN);
  const reference = buildSegment({ ...spec, payload, sequence: spec.sequence ?? 5000, flags: lastFlags, checksum: 'partial' });
  const header = vnet(merged.out);
  assert.equal(header, {
    flags: VNET_F_NEEDS_CSUM, gsoType: (spec.ipVersion ?? 4) === 4 ? GSO_TCPV4 : GSO_TCPV6, hdrLen: reference.headerLen, gsoSize,
    csumStart: reference.l4, csumOffset: 16,
  });
  assert.is(merged.gsoSize, gsoSize);
  // The whole frame, byte for byte, is what a sender with TSO would have handed its device.
  assert.equal(frame, reference.bytes);
  assert.is(get16(frame, reference.l4 + 16), pseudoSum(frame, reference.l3, reference.l4, 6));
  if ((spec.ipVersion ?? 4) === 4) assert.ok(ipv4HeaderValid(frame, reference.l3));
}

for (const name of BACKENDS) {
  test(`${name}: IPv4: 3 full segments and a short one with PSH merge into one super-frame`, () => {
    const h = harness(name);
    const sizes = [1448, 1448, 1448, 700];
    const payload = segments(h, sizes, {}, (k, s) => { s.flags = k === 3 ? ACK | PSH : ACK; s.identification = 100 + k; });
    const merged = merge(h, [0, 1, 2, 3]);
    assert.is(merged.taken, 4);
    assert.is(merged.length, VNET_HDR_LEN + 14 + 20 + 20 + payload.length);
    checkSuperFrame(merged, { identification: 100 }, payload, 1448, ACK | PSH);
  });

  test(`${name}: IPv6 with timestamps and a VLAN tag, slots listed out of order`, () => {
    const h = harness(name);
    const spec: Partial<SegmentSpec> = { ipVersion: 6, vlan: 5, options: [1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 8] };
    const payload = segments(h, [1000, 1000, 1000], spec);
    // Slots 0, 1, 2 hold the segments; list them through slot 7 copies to show the list is followed.
    for (const [from, to] of [[0, 7], [1, 9], [2, 8]]) h.batch.writeInner(to, h.batch.inner(from).slice());
    const merged = merge(h, [7, 9, 8]);
    assert.is(merged.taken, 3);
    checkSuperFrame(merged, spec, payload, 1000, ACK);
  });

  test(`${name}: runs end at a sequence gap, another flow, other options, a longer or short segment, PSH`, () => {
    const cases: [string, number[], (k: number, s: SegmentSpec) => void, number][] = [
      ['sequence gap at 2', [1000, 1000, 1000], (k, s) => { if (k === 2) s.sequence! += 1; }, 2],
      ['other port at 1', [1000, 1000, 1000], (k, s) => { if (k === 1) s.sourcePort = 1; }, 1],
      ['other ack at 2', [1000, 1000, 1000], (k, s) => { if (k === 2) s.ack = 78; }, 2],
      ['other window at 1', [1000, 1000, 1000], (k, s) => { if (k === 1) s.window = 501; }, 1],
      ['other TOS (ECN CE) at 2', [1000, 1000, 1000], (k, s) => { if (k === 2) s.tos = 3; }, 2],
      ['other options at 1', [1000, 1000, 1000], (k, s) => { s.options = k === 1 ? [1, 1, 1, 1] : [1, 1, 1, 0]; }, 1],
      ['longer at 1', [1000, 1001, 1000], () => {}, 1],
      ['short at 1 ends the run after it', [1000, 500, 1000], () => {}, 2],
      ['PSH at 1 ends the run after it', [1000, 1000, 1000], (k, s) => { if (k === 1) s.flags = ACK | PSH; }, 2],
      ['PSH on the first', [1000, 1000], (k, s) => { if (k === 0) s.flags = ACK | PSH; }, 1],
      ['FIN at 1', [1000, 1000], (k, s) => { if (k === 1) s.flags = ACK | 0x01; }, 1],
      ['SYN on the first', [1000, 1000], (k, s) => { if (k === 0) s.flags = 0x02 | ACK; }, 1],
      ['URG at 1', [1000, 1000], (k, s) => { if (k === 1) s.flags = ACK | 0x20; }, 1],
      ['no payload at 1', [1000, 0], () => {}, 1],
      ['bad TCP checksum at 2', [1000, 1000, 1000], (k, s) => { if (k === 2) s.checksum = 'bad'; }, 2],
      ['bad TCP checksum on the first', [1000, 1000, 1000], (k, s) => { if (k === 0) s.checksum = 'bad'; }, 1],
      ['IPv4 to IPv6 at 1', [1000, 1000], (k, s) => { if (k === 1) s.ipVersion = 6; }, 1],
      ['UDP', [1000, 1000], (_k, s) => { s.transport = 'udp'; }, 1],
    ];
    for (const [what, sizes, edit, taken] of cases) {
      const h = harness(name);
      segments(h, sizes, {}, edit);
      const merged = merge(h, sizes.map((_, k) => k));
      assert.is(merged.taken, taken, what);
      assert.is(merged.length > 0, taken > 1, `${what}: a super-frame only for a run of two or more`);
    }
  });

  test(`${name}: a bad IPv4 header checksum ends the run, and it is not hidden inside a super-frame`, () => {
    const h = harness(name);
    segments(h, [1000, 1000, 1000]);
    const third = h.batch.payload(2);
    third[14 + 10] ^= 1;
    assert.is(merge(h, [0, 1, 2]).taken, 2);
    third[14 + 10] ^= 1;
    const first = h.batch.payload(0);
    first[14 + 10] ^= 1;
    const merged = merge(h, [0, 1, 2]);
    assert.is(merged.taken, 1);
    assert.is(merged.length, 0);
  });

  test(`${name}: the IP length stays within 16 bits, the output within its capacity; one slot, none`, () => {
    const h = harness(name);
    segments(h, new Array(50).fill(1448));
    const merged = merge(h, [...Array(50).keys()]);
    // 20 + 20 + 45 * 1448 = 65200 ≤ 65535 < 65200 + 1448.
    assert.is(merged.taken, 45);
    assert.is(get16(merged.out, VNET_HDR_LEN + 14 + 2), 20 + 20 + 45 * 1448);
    assert.is(merge(h, [0, 1, 2, 3], VNET_HDR_LEN + 54 + 3 * 1448).taken, 3);
    assert.is(merge(h, [0]).taken, 1);
    assert.is(merge(h, [0]).length, 0);
    assert.is(merge(h, []).taken, 0);
  });

  test(`${name}: round trip: tsoSplit then groMerge gives back the super-frame (IPv4, IPv6, sizes that do and do not divide)`, () => {
    for (const [ipVersion, length, gsoSize] of [[4, 64_000, 1448], [6, 30_000, 1000], [4, 2 * 1388, 1388], [6, 1449, 1448]] as const) {
      const h = harness(name);
      const spec: SegmentSpec = { ipVersion, payload: payloadOf(length, 11), flags: ACK | PSH, options: [1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8] };
      const superFrame = buildSegment({ ...spec, checksum: 'partial' });
      h.kernels.bytes.set(superFrame.bytes, h.staging);
      const result = h.kernels.tsoSplit(h.staging, superFrame.bytes.length, ipVersion === 4 ? GSO_TCPV4 : GSO_TCPV6, gsoSize, superFrame.l4,
        h.batch.slotsPtr, h.batch.slotStride, h.batch.metaPtr, 0, 64, 0);
      const count = Math.ceil(length / gsoSize);
      assert.is(result, count | TSO_LAST);
      const merged = merge(h, [...Array(count).keys()]);
      assert.is(merged.taken, count);
      const frame = merged.out.subarray(VNET_HDR_LEN);
      assert.equal(frame, superFrame.bytes, `IPv${ipVersion} ${length}/${gsoSize}: the same bytes`);
      assert.is(vnet(merged.out).gsoSize, gsoSize);
      // Completing the partial checksum the way the receiving stack would gives a valid segment.
      const l4 = superFrame.l4;
      const complete = frame.slice();
      complete[l4 + 16] = 0;
      complete[l4 + 17] = 0;
      const checksum = ~naiveSum(complete.subarray(l4), pseudoSum(complete, superFrame.l3, l4, 6)) & 0xffff;
      complete[l4 + 16] = checksum >> 8;
      complete[l4 + 17] = checksum & 0xff;
      assert.is(naiveSum(complete.subarray(l4), pseudoSum(complete, superFrame.l3, l4, 6)), 0xffff);
      assert.is(get32(frame, l4 + 4), 1000, 'the first sequence number');
    }
  });
}

test.run();
