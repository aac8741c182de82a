// Encapsulator over PacketBatch: byte-for-byte equal to the object API (encapsulate) and across
// backends (wasm-simd, wasm-scalar, reference) on random batches; checksum modes; bad slots.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createKernels, decapsulate, encapsulate, useBackend, backendName } from '../../src/index';
import type { Kernels } from '../../src/wasm/abi';
import {
  META_LEN, SLOT_INVALID, SLOT_NO_PEER, TEMPLATE_HEADER_LEN, TEMPLATE_IP_VERSION, TEMPLATE_L4, TEMPLATE_LEN, TEMPLATE_UDP_CHECKSUM_MODE,
} from '../../src/wasm/abi';
import { Encapsulator, PacketBatch, verifyInnerChecksum } from '../../src/batch/index';
import { BACKENDS } from '../helpers/backends';
import { hex, naiveSum } from '../helpers/bytes';
import { buildInnerFrame, innerFrame, PEERS, randomBytesFrame, TUNNEL_V4, type InnerSpec } from '../helpers/frames';
import { prng, randomInt } from '../helpers/random';


/** Random inner frames: real TCP/UDP over IPv4/IPv6 (sometimes tagged), and random bytes. */
function randomInners(seed: number, count: number, maxLen = 1514): Uint8Array[] {
  const random = prng(seed);
  return Array.from({ length: count }, (_, i) => {
    if (random() < 0.2) return randomBytesFrame(random, randomInt(random, 14, maxLen));
    const ipVersion = random() < 0.5 ? 4 : 6;
    const transport = random() < 0.5 ? 'tcp' : 'udp';
    const headers = 14 + (ipVersion === 4 ? 20 : 40) + (transport === 'tcp' ? 20 : 8) + 4;
    return innerFrame({ ipVersion, transport, payloadLen: randomInt(random, 0, maxLen - headers), vlan: random() < 0.3 ? 100 : undefined, payload: 'random', seed: seed * 1000 + i });
  });
}

for (const backend of BACKENDS) {
  test(`${backend}: one tunnel, batch output equals encapsulate() byte for byte (same IPv4 identification)`, () => {
    const previous = backendName();
    useBackend(backend);
    try {
      const kernels = createKernels(backend);
      const inners = randomInners(11, 24);
      for (const tunnel of PEERS) {
        const expected = inners.map((inner) => encapsulate(inner, tunnel));
        const batch = new PacketBatch({ capacity: inners.length, kernels });
        const encapsulator = new Encapsulator(tunnel, { kernels });
        const firstId = tunnel.source.ip.includes(':') ? 0 : (expected[0][14 + (tunnel.vlan ? 4 : 0) + 4] << 8) | expected[0][14 + (tunnel.vlan ? 4 : 0) + 5];
        encapsulator.setIdentification(0, firstId);
        inners.forEach((inner, i) => batch.writeInner(i, inner));
        assert.is(encapsulator.run(batch, inners.length), inners.length);
        inners.forEach((_, i) => {
          assert.is(batch.status(i), 0);
          assert.is(hex(batch.frame(i)), hex(expected[i]), `${tunnel.destination.ip} slot ${i}`);
        });
      }
    } finally {
      useBackend(previous);
    }
  });
}

test('random multi-peer batches: every backend writes the same bytes and the same records', () => {
  for (let seed = 1; seed <= 6; seed++) {
    const random = prng(seed);
    const inners = randomInners(seed, 64);
    const peers = inners.map(() => randomInt(random, 0, PEERS.length - 1));
    const mode = (['full', 'offload', undefined] as const)[seed % 3];
    const outputs = BACKENDS.map((backend) => {
      const kernels = createKernels(backend);
      const batch = new PacketBatch({ capacity: 64, kernels });
      const encapsulator = new Encapsulator(PEERS, { kernels, udpChecksumMode: mode });
      PEERS.forEach((_, peer) => encapsulator.setIdentification(peer, (seed * 4099 + peer * 771) & 0xffff));
      inners.forEach((inner, i) => batch.writeInner(i, inner, peers[i]));
      assert.is(encapsulator.run(batch, 64), 64);
      return {
        frames: inners.map((_, i) => hex(batch.frame(i))),
        meta: hex(batch.bytes.subarray(batch.metaPtr, batch.metaPtr + 64 * META_LEN)),
        ids: PEERS.map((_, peer) => encapsulator.identification(peer)),
      };
    });
    for (const output of outputs.slice(1)) {
      output.frames.forEach((frame, i) => assert.is(frame, outputs[0].frames[i], `seed ${seed} slot ${i}`));
      assert.is(output.meta, outputs[0].meta, `seed ${seed}: records`);
      assert.equal(output.ids, outputs[0].ids);
    }
    // Every frame decodes with the object API, to the peer the slot named.
    outputs[0].frames.forEach((frame, i) => {
      const decoded = decapsulate(Buffer.from(frame, 'hex'), { gbp: true });
      assert.is(decoded.vxlan.vni, PEERS[peers[i]].vni);
      assert.is(hex(decoded.inner), hex(inners[i]));
    });
  }
});

test('one run mixing fast, deferred and refused slots: same bytes, records and identifications on every backend', () => {
  // encapBatch takes common IPv4 inner frames in one loop and leaves the others (partial
  // checksums, IPv6 or tagged inner frames, random bytes) to a second loop; the slots between
  // them that it refuses take no identification. The result must be as if taken in order.
  const random = prng(2024);
  const kinds = ['fast', 'ipv6', 'vlan', 'partial', 'bytes', 'short', 'long'] as const;
  const slots = Array.from({ length: 64 }, (_, i) => kinds[i < 8 ? i % kinds.length : randomInt(random, 0, kinds.length - 1)]);
  for (const mode of ['zero', 'offload', 'full'] as const) {
    for (const tunnel of [TUNNEL_V4, PEERS[3]]) { // untagged, and tagged with a fixed source port
      const outputs = BACKENDS.map((backend) => {
        const kernels = createKernels(backend);
        const batch = new PacketBatch({ capacity: 64, kernels });
        const encapsulator = new Encapsulator(tunnel, { kernels, udpChecksumMode: mode });
        encapsulator.setIdentification(0, 0xfff0); // wraps inside the run
        const words = META_LEN / 4;
        slots.forEach((kind, i) => {
          const seed = i + 1;
          if (kind === 'bytes') batch.writeInner(i, randomBytesFrame(prng(seed), 14 + seed * 7));
          else if (kind === 'partial') {
            const partial = buildInnerFrame({ ipVersion: 4, transport: 'tcp', payloadLen: seed * 3, l4Checksum: 'partial', seed });
            batch.writeInner(i, partial.bytes);
            batch.setPartialChecksum(i, partial.l4, partial.checksumOffset);
          } else {
            batch.writeInner(i, innerFrame({ ipVersion: kind === 'ipv6' ? 6 : 4, transport: seed % 2 ? 'tcp' : 'udp', payloadLen: seed * 5, vlan: kind === 'vlan' ? 100 : undefined, seed }));
          }
          if (kind === 'short') batch.meta[i * words + 28 / 4] = 13;
          if (kind === 'long') batch.meta[i * words + 28 / 4] = batch.slotStride;
        });
        const done = encapsulator.run(batch, 64);
        return {
          done,
          frames: slots.map((_, i) => hex(batch.frame(i))),
          meta: hex(batch.bytes.subarray(batch.metaPtr, batch.metaPtr + 64 * META_LEN)),
          id: encapsulator.identification(0),
        };
      });
      const refused = slots.filter((kind) => kind === 'short' || kind === 'long').length;
      assert.is(outputs[0].done, 64 - refused);
      assert.is(outputs[0].id, (0xfff0 + 64 - refused) & 0xffff);
      for (const output of outputs.slice(1)) {
        output.frames.forEach((frame, i) => assert.is(frame, outputs[0].frames[i], `${mode} slot ${i} (${slots[i]})`));
        assert.is(output.meta, outputs[0].meta, `${mode}: records`);
        assert.is(output.id, outputs[0].id);
      }
      // In slot order, the encapsulated slots carry consecutive identifications.
      let expected = 0xfff0;
      outputs[0].frames.forEach((frame, i) => {
        if (slots[i] === 'short' || slots[i] === 'long') return;
        const bytes = Buffer.from(frame, 'hex');
        const ip = tunnel.vlan ? 18 : 14;
        assert.is((bytes[ip + 4] << 8) | bytes[ip + 5], expected, `${mode} slot ${i} identification`);
        expected = (expected + 1) & 0xffff;
        assert.ok(decapsulate(bytes, { gbp: true }).inner.length > 0);
      });
    }
  }
});

for (const backend of BACKENDS) {
  test(`${backend}: offload mode equals full mode when the inner checksum is valid, and not when it is wrong`, () => {
    const kernels = createKernels(backend);
    const full = new Encapsulator(PEERS, { kernels, udpChecksumMode: 'full' });
    const offload = new Encapsulator(PEERS, { kernels, udpChecksumMode: 'offload' });
    const specs: InnerSpec[] = [
      { ipVersion: 4, transport: 'tcp', payloadLen: 1400 }, { ipVersion: 4, transport: 'udp', payloadLen: 1 },
      { ipVersion: 6, transport: 'tcp', payloadLen: 777, vlan: 100 }, { ipVersion: 6, transport: 'udp', payloadLen: 0 },
      { ipVersion: 4, transport: 'udp', payloadLen: 300, l4Checksum: 'zero' },
    ] as const;
    const batch = new PacketBatch({ capacity: 2, kernels });
    for (const spec of specs) {
      for (let peer = 0; peer < PEERS.length; peer++) {
        const inner = innerFrame({ ...spec, seed: peer });
        batch.writeInner(0, inner, peer);
        batch.writeInner(1, inner, peer);
        full.setIdentification(peer, 5);
        offload.setIdentification(peer, 4); // slot 0 takes 4, slot 1 gets 5
        full.run(batch, 1);
        // Slot 1 through the offload templates: same bytes expected.
        const fullFrame = hex(batch.frame(0));
        batch.setPeer(1, peer);
        offload.run(batch, 2);
        assert.is(hex(batch.frame(1)), fullFrame, `${JSON.stringify(spec)} peer ${peer}`);
      }
      if (spec.l4Checksum === 'zero') continue;
      const corrupt = innerFrame({ ...spec, l4Checksum: 'bad' });
      assert.is(verifyInnerChecksum(corrupt), 'bad');
      batch.writeInner(0, corrupt, 0);
      full.setIdentification(0, 9);
      full.run(batch, 1);
      const fullFrame = batch.frame(0).slice();
      batch.writeInner(0, corrupt, 0);
      offload.setIdentification(0, 9);
      offload.run(batch, 1);
      const offloadFrame = batch.frame(0);
      assert.is.not(hex(offloadFrame), hex(fullFrame), 'a wrong inner checksum makes a wrong outer one');
      // They differ only in the outer UDP checksum (bytes 40..41 for the untagged IPv4 peer 0).
      assert.is(hex(offloadFrame.subarray(0, 40)), hex(fullFrame.subarray(0, 40)));
      assert.is(hex(offloadFrame.subarray(42)), hex(fullFrame.subarray(42)));
    }
  });

  test(`${backend}: partial inner checksums are completed before encapsulation`, () => {
    const kernels = createKernels(backend);
    const encapsulator = new Encapsulator(TUNNEL_V4, { kernels, udpChecksumMode: 'offload' });
    const batch = new PacketBatch({ capacity: 4, kernels });
    const specs: InnerSpec[] = [
      { ipVersion: 4, transport: 'tcp', payloadLen: 1000 }, { ipVersion: 6, transport: 'udp', payloadLen: 33 },
      { ipVersion: 4, transport: 'udp', payloadLen: 0, vlan: 100 }, { ipVersion: 6, transport: 'tcp', payloadLen: 5 },
    ] as const;
    specs.forEach((spec, i) => {
      const partial = buildInnerFrame({ ...spec, l4Checksum: 'partial' });
      batch.writeInner(i, partial.bytes);
      batch.setPartialChecksum(i, partial.l4, partial.checksumOffset);
      assert.is(batch.innerChecksum(i), 'bad', 'partial before');
    });
    assert.is(encapsulator.run(batch, 4), 4);
    specs.forEach((spec, i) => {
      assert.is(hex(batch.inner(i)), hex(innerFrame(spec)), `slot ${i}: completed inner equals a fully computed one`);
      const decoded = decapsulate(batch.frame(i).slice());
      assert.is(hex(decoded.inner), hex(innerFrame(spec)));
    });
    // Running again does not complete twice (the request was consumed).
    assert.is(encapsulator.run(batch, 4), 4);
    specs.forEach((spec, i) => assert.is(hex(batch.inner(i)), hex(innerFrame(spec))));
  });

  test(`${backend}: slots that do not fit are reported, not trapped on, and the others go through`, () => {
    const kernels = createKernels(backend);
    const encapsulator = new Encapsulator([TUNNEL_V4, PEERS[2]], { kernels });
    const batch = new PacketBatch({ capacity: 6, slotSize: 256, kernels });
    const inner = innerFrame({ ipVersion: 4, transport: 'udp', payloadLen: 20 });
    for (let i = 0; i < 6; i++) batch.writeInner(i, inner, i % 2);
    const meta = batch.meta;
    const words = META_LEN / 4;
    meta[1 * words + 52 / 4] = 2; // peer out of range
    meta[2 * words + 52 / 4] = -1;
    meta[3 * words + 28 / 4] = 13; // inner shorter than Ethernet
    meta[4 * words + 28 / 4] = batch.slotStride; // longer than the slot
    meta[5 * words + 60 / 4] = 1000; // partial checksum field outside the frame
    meta[5 * words + 64 / 4] = 0;
    assert.is(encapsulator.run(batch, 6), 1);
    assert.equal([0, 1, 2, 3, 4, 5].map((i) => batch.status(i)), [0, SLOT_NO_PEER, SLOT_NO_PEER, SLOT_INVALID, SLOT_INVALID, SLOT_INVALID]);
    for (let i = 1; i < 6; i++) assert.is(batch.frameLength(i), 0);
  });

  test(`${backend}: a damaged template refuses its slots (SLOT_NO_PEER) and leaves the other peer's alone`, () => {
    // encapBatch checks a template once per run of slots; its run fields are cached, so damage
    // between runs must still be seen.
    const kernels = createKernels(backend);
    const encapsulator = new Encapsulator([TUNNEL_V4, PEERS[1]], { kernels });
    const batch = new PacketBatch({ capacity: 4, kernels });
    const inner = innerFrame({ ipVersion: 4, transport: 'udp', payloadLen: 40 });
    [0, 0, 1, 1].forEach((peer, i) => batch.writeInner(i, inner, peer));
    assert.is(encapsulator.run(batch, 4), 4);
    const template = new DataView(kernels.bytes.buffer, kernels.bytes.byteOffset + encapsulator.templatesPtr, TEMPLATE_LEN);
    for (const [field, value, what] of [
      [TEMPLATE_UDP_CHECKSUM_MODE, 9, 'an unknown checksum mode'],
      [TEMPLATE_L4, 40, 'an IP header that does not end where UDP starts'],
      [TEMPLATE_HEADER_LEN, 120, 'a header longer than the block copied in front of the frame'],
      [TEMPLATE_IP_VERSION, 5, 'IP version 5'],
    ] as const) {
      const saved = template.getInt32(field, true);
      template.setInt32(field, value, true);
      [0, 0, 1, 1].forEach((peer, i) => batch.writeInner(i, inner, peer));
      assert.is(encapsulator.run(batch, 4), 2, what);
      assert.equal([0, 1, 2, 3].map((i) => batch.status(i)), [SLOT_NO_PEER, SLOT_NO_PEER, 0, 0], what);
      template.setInt32(field, saved, true);
    }
    [0, 0, 1, 1].forEach((peer, i) => batch.writeInner(i, inner, peer));
    assert.is(encapsulator.run(batch, 4), 4, 'repaired');
  });

  test(`${backend}: the raw kernel rejects a geometry beyond memory and survives random arguments`, () => {
    const kernels: Kernels = createKernels(backend);
    const end = kernels.bytes.length;
    assert.is(kernels.encapBatch(16, 1, end - 100, 4096, 16, 1), -1);
    assert.is(kernels.encapBatch(16, 1, 16, 4096, end - 10, 1), -1);
    assert.is(kernels.encapBatch(16, -1, 16, 4096, 16, 1), -1);
    assert.is(kernels.encapBatch(16, 1, 16, 100, 16, 1), -1, 'a stride smaller than the headroom');
    const random = prng(99);
    const region = kernels.reserve(64 * 1024);
    for (let round = 0; round < 300; round++) {
      for (let i = 0; i < 2048; i++) kernels.bytes[region + randomInt(random, 0, 65535)] = randomInt(random, 0, 255);
      const result = kernels.encapBatch(region + randomInt(random, 0, 4096), randomInt(random, 0, 4), region + 8192, randomInt(random, 142, 4096), region + randomInt(random, 0, 2048), randomInt(random, 0, 8));
      assert.ok(result >= -1 && result <= 8);
    }
  });
}

for (const backend of BACKENDS) {
  test(`${backend}: setTunnel takes effect at the next run; batches of other slot sizes share an Encapsulator`, () => {
    // encapBatch keeps per-template fields from one run to the next (for the same peer and slot
    // size): replacing the tunnel or changing the slot size must not reuse them.
    const previous = backendName();
    useBackend(backend);
    try {
      const kernels = createKernels(backend);
      const inner = innerFrame({ ipVersion: 4, transport: 'udp', payloadLen: 180 });
      const encapsulator = new Encapsulator(TUNNEL_V4, { kernels });
      const small = new PacketBatch({ capacity: 1, slotSize: 200, kernels });
      const large = new PacketBatch({ capacity: 1, slotSize: 4000, kernels });
      const big = innerFrame({ ipVersion: 4, transport: 'udp', payloadLen: 3000 });
      for (const [tunnel, peerName] of [[TUNNEL_V4, 'untagged'], [PEERS[3], 'tagged, GBP, fixed port'], [PEERS[1], 'port 8472']] as const) {
        if (tunnel !== TUNNEL_V4) encapsulator.setTunnel(0, tunnel);
        encapsulator.setIdentification(0, 77);
        small.writeInner(0, inner);
        assert.is(encapsulator.run(small, 1), 1);
        const expected = encapsulate(inner, tunnel);
        const ip = tunnel.vlan ? 18 : 14;
        expected[ip + 4] = 0;
        expected[ip + 5] = 77;
        const sum = ~naiveSum(expected.map((byte, i) => (i === ip + 10 || i === ip + 11 ? 0 : byte)).subarray(ip, ip + 20)) & 0xffff;
        expected[ip + 10] = sum >> 8;
        expected[ip + 11] = sum & 0xff;
        // The object API computes the UDP checksum over its own bytes: compare all but that field.
        const got = small.frame(0);
        assert.is(hex(got.subarray(0, ip + 26)), hex(expected.subarray(0, ip + 26)), peerName);
        assert.is(hex(got.subarray(ip + 28)), hex(expected.subarray(ip + 28)), peerName);
        assert.is(decapsulate(got.slice(), { gbp: true }).vxlan.vni, tunnel.vni);
        // The same tunnel on a batch with larger slots takes a frame the small one could not hold.
        large.writeInner(0, big);
        assert.is(encapsulator.run(large, 1), 1, `${peerName}: a 3000-byte inner frame in a 4000-byte slot`);
        small.meta[28 / 4] = small.slotStride - 128 + 1; // one byte longer than the slot's room
        assert.is(encapsulator.run(small, 1), 0);
        assert.is(small.status(0), SLOT_INVALID);
      }
    } finally {
      useBackend(previous);
    }
  });
}

test('udpChecksumMode: zero is IPv4 only; unknown modes are rejected', () => {
  assert.throws(() => new Encapsulator(PEERS[2], { udpChecksumMode: 'zero' }), (error: Error) => error instanceof RangeError && /IPv4 only/.test(error.message));
  assert.throws(() => new Encapsulator(TUNNEL_V4, { udpChecksumMode: 'sometimes' as never }), RangeError);
  assert.throws(() => new Encapsulator([TUNNEL_V4, { ...TUNNEL_V4, vni: -1 }]), (error: Error) => /tunnel 1: vni/.test(error.message));
  const kernels = createKernels('reference');
  const batch = new PacketBatch({ capacity: 1, kernels });
  batch.writeInner(0, innerFrame({ ipVersion: 4, transport: 'tcp', payloadLen: 10 }));
  new Encapsulator(TUNNEL_V4, { kernels, udpChecksumMode: 'zero' }).run(batch, 1);
  const frame = batch.frame(0);
  assert.is((frame[40] << 8) | frame[41], 0, 'zero mode leaves the UDP checksum 0');
  new Encapsulator({ ...TUNNEL_V4, udpChecksum: false }, { kernels, udpChecksumMode: 'full' }).run(batch, 1);
  const checked = batch.frame(0);
  const udpLength = checked.length - 34;
  const pseudo = naiveSum(checked.subarray(26, 34), 17 + udpLength);
  assert.is(naiveSum(checked.subarray(34), pseudo), 0xffff, "'full' overrides udpChecksum: false");
});

test('a batch and an encapsulator on different kernels are refused; count is checked', () => {
  const batch = new PacketBatch({ capacity: 2, kernels: createKernels('reference') });
  assert.throws(() => new Encapsulator(TUNNEL_V4, { kernels: createKernels('reference') }).run(batch), /another kernels instance/);
  const encapsulator = new Encapsulator(TUNNEL_V4, { kernels: batch.kernels });
  assert.throws(() => encapsulator.run(batch, 3), RangeError);
  assert.throws(() => encapsulator.run(batch, -1), RangeError);
});

test.run();
