// The virtio-net header's one home: decode reads what the kernel's struct virtio_net_hdr holds
// (little-endian u16s at the wasm ABI's offsets), encode writes it back, and the super-frame
// header carries the outer length into the header length and checksum start.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { emptySuperFrame } from '../../../src/forwarder/contracts';
import {
  decodeVnetHeader, emptyVnetHeader, encodeVnetHeader, loadLe16, storeLe16, storeSuperFrameHeader,
} from '../../../src/forwarder/device/vnet-header';
import { VNET_F_NEEDS_CSUM, VNET_HDR_LEN } from '../../../src/wasm/abi';

// flags 1, gsoType 4 (TCPV6), headerLength 0x0142, gsoSize 0x05a8, csumStart 0x0036, csumOffset 0x0010.
const WIRE = [0x01, 0x04, 0x42, 0x01, 0xa8, 0x05, 0x36, 0x00, 0x10, 0x00];

test('decode reads each field at its offset, little-endian, at a non-zero offset, into the object it is given', () => {
  const bytes = new Uint8Array(3 + VNET_HDR_LEN + 2).fill(0xa5);
  bytes.set(WIRE, 3);
  const into = emptyVnetHeader();
  const h = decodeVnetHeader(bytes, 3, into);
  assert.is(h, into);
  assert.equal({ ...h }, { flags: 1, gsoType: 4, headerLength: 0x142, gsoSize: 0x5a8, csumStart: 0x36, csumOffset: 0x10 });
});

test('encode writes the same bytes back, nothing outside the header, and says how many', () => {
  const header = decodeVnetHeader(Uint8Array.from(WIRE), 0, emptyVnetHeader());
  const out = new Uint8Array(5 + VNET_HDR_LEN + 5).fill(0xa5);
  assert.is(encodeVnetHeader(header, out, 5), VNET_HDR_LEN);
  assert.equal([...out.subarray(5, 5 + VNET_HDR_LEN)], WIRE);
  assert.ok(out.subarray(0, 5).every((b) => b === 0xa5) && out.subarray(5 + VNET_HDR_LEN).every((b) => b === 0xa5));
});

test('the u16 helpers are little-endian and take the full range', () => {
  const b = new Uint8Array(4);
  storeLe16(b, 1, 0xfedc);
  assert.equal([...b], [0, 0xdc, 0xfe, 0]);
  assert.is(loadLe16(b, 1), 0xfedc);
});

test('a super-frame header: NEEDS_CSUM, the type given, the outer length counted in header length and checksum start', () => {
  const frame = emptySuperFrame();
  frame.gsoSize = 1448;
  frame.headerLength = 66;
  frame.csumStart = 34;
  frame.csumOffset = 16;
  const h = new Uint8Array(VNET_HDR_LEN).fill(0xa5);
  storeSuperFrameHeader(h, frame, 1, 50);
  assert.equal({ ...decodeVnetHeader(h, 0, emptyVnetHeader()) }, {
    flags: VNET_F_NEEDS_CSUM, gsoType: 1, headerLength: 116, gsoSize: 1448, csumStart: 84, csumOffset: 16,
  });
});

test.run();
