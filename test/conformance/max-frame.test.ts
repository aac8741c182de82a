// The largest frame the single-frame API takes: 8 VLAN tags and an IPv6 payload of 65,535 bytes
// (65,621 bytes in all). Strict decapsulation refuses trailing bytes after it as after any
// shorter frame; lax decapsulation trims them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DecodeError, decapsulate, decapsulateLax, encapsulate, useBackend } from '../../src/index';
import { MAX_FRAME_LEN } from '../../src/backend';
import { BACKENDS, innerFrame, ipv4Tunnel, ipv6Tunnel } from '../helpers/frames';

const TAG_LEN = 4;

/** `frame` (one 802.1Q tag after the MACs) with `extra` more tags inserted after the first. */
function withMoreTags(frame: Uint8Array, extra: number): Uint8Array {
  const tagged = new Uint8Array(frame.length + extra * TAG_LEN);
  tagged.set(frame.subarray(0, 16));
  for (let i = 0; i < extra; i++) tagged.set([0x81, 0x00, 0x00, 10 + i], 16 + i * TAG_LEN);
  tagged.set(frame.subarray(16), 16 + extra * TAG_LEN);
  return tagged;
}

/** A valid frame with `tags` VLAN tags whose IP packet is as long as its length field allows. */
function longestFrame(ipVersion: 4 | 6, tags: number): Uint8Array {
  const tunnel = ipVersion === 6 ? ipv6Tunnel({ vlan: { vid: 9 } }) : ipv4Tunnel({ vlan: { vid: 9 } });
  // IPv6 payload length or IPv4 total length 65,535: UDP (8) and VXLAN (8), plus IPv4's header.
  const innerLen = 65535 - 16 - (ipVersion === 4 ? 20 : 0);
  return withMoreTags(encapsulate(innerFrame(innerLen), tunnel), tags - 1);
}

function withTrailing(frame: Uint8Array, count: number): Uint8Array {
  const longer = new Uint8Array(frame.length + count);
  longer.set(frame);
  longer.fill(0xee, frame.length);
  return longer;
}

function decodeError(run: () => unknown): DecodeError {
  try {
    run();
  } catch (error) {
    if (error instanceof DecodeError) return error;
    throw error;
  }
  throw new assert.Assertion({ message: 'the frame was accepted', generated: false, operator: 'throws', expects: 'DecodeError', actual: 'accepted' });
}

for (const backend of BACKENDS) {
  test(`${backend}: strict refuses trailing bytes after the largest frame, as after a shorter one; lax trims them`, () => {
    useBackend(backend);
    for (const ipVersion of [6, 4] as const) {
      for (const tags of [8, 7]) {
        const frame = longestFrame(ipVersion, tags);
        const l3 = 14 + tags * TAG_LEN;
        if (ipVersion === 6) assert.is(frame.length, 14 + tags * TAG_LEN + 40 + 65535);
        if (ipVersion === 6 && tags === 8) assert.is(frame.length, MAX_FRAME_LEN, 'the largest frame there is');
        const innerLen = decapsulate(frame).inner.length;
        for (const count of [1, 2, 1000, 70000]) {
          const longer = withTrailing(frame, count);
          const where = `IPv${ipVersion}, ${tags} tags, ${count} trailing bytes`;
          const error = decodeError(() => decapsulate(longer));
          assert.is(error.code, 'LENGTH_MISMATCH', where);
          assert.is(error.layer, ipVersion === 6 ? 'ipv6' : 'ipv4', where);
          assert.is(error.offset, l3 + (ipVersion === 6 ? 4 : 2), `${where}: the offset of the length field`);
          const lax = decapsulateLax(longer);
          assert.is(lax.inner.length, innerLen, where);
          assert.ok(lax.inner.buffer === longer.buffer, 'the inner frame is still a view into the input');
        }
      }
    }
  });

  test(`${backend}: a frame longer than the largest is judged on its headers first (a bad IP version stays BAD_IP_VERSION)`, () => {
    useBackend(backend);
    const frame = withTrailing(longestFrame(6, 8), 10);
    frame[14 + 8 * TAG_LEN] = 0x46; // IPv6 EtherType, IPv4 version nibble
    const error = decodeError(() => decapsulate(frame));
    assert.is(error.code, 'BAD_IP_VERSION');
    assert.is(error.offset, 14 + 8 * TAG_LEN);
  });
}

test.after(() => {
  useBackend('wasm-simd');
});

test.run();
