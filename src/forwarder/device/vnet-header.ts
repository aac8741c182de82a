/**
 * The virtio-net header (struct virtio_net_hdr, linux/virtio_net.h) a TAP opened with
 * IFF_VNET_HDR puts in front of every frame, both ways: the one home for its fields, so the TAP,
 * the tunnel TAP and their tests read and write them the same way (wireguard-go's virtioNetHdr).
 *
 *    0       1       2       3       4       5       6       7       8       9
 *   +-------+-------+---------------+---------------+---------------+---------------+
 *   | flags |gsoType| headerLength  |    gsoSize    |   csumStart   |  csumOffset   |
 *   +-------+-------+---------------+---------------+---------------+---------------+
 *
 * The u16 fields are little-endian: the TAP uses the host's byte order (no TUNSETVNETLE/BE) and
 * offloads are refused on a big-endian host (see tap.ts). The tunnel TAP's 24-byte header
 * (virtio_net_hdr_v1_hash_tunnel) starts with these 10 bytes too; its own fields stay in
 * tunnel-gso.ts.
 */
import {
  VNET_CSUM_OFFSET, VNET_CSUM_START, VNET_F_NEEDS_CSUM, VNET_FLAGS, VNET_GSO_SIZE, VNET_GSO_TYPE, VNET_HDR_LEN, VNET_HDR_LEN_FIELD,
} from '../../wasm/abi';
import type { SuperFrame } from '../contracts';

/** The header's fields as plain numbers. */
export interface VnetHeader {
  flags: number;
  gsoType: number;
  headerLength: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

/** A zeroed header, made once and refilled by decodeVnetHeader per frame (no allocation per packet). */
export function emptyVnetHeader(): VnetHeader {
  return { flags: 0, gsoType: 0, headerLength: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 };
}

/** A little-endian u16, as the header's fields are. */
export function loadLe16(bytes: Uint8Array, at: number): number {
  return bytes[at] | (bytes[at + 1] << 8);
}

/** Store a little-endian u16, as the header's fields are. */
export function storeLe16(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value & 0xff;
  bytes[at + 1] = value >>> 8;
}

/**
 * Read the header at `bytes[at .. at + VNET_HDR_LEN)` into `into` and return it. The caller
 * checked that the bytes are there (the ring's length, or the packet's).
 */
export function decodeVnetHeader(bytes: Uint8Array, at: number, into: VnetHeader): VnetHeader {
  into.flags = bytes[at + VNET_FLAGS];
  into.gsoType = bytes[at + VNET_GSO_TYPE];
  into.headerLength = loadLe16(bytes, at + VNET_HDR_LEN_FIELD);
  into.gsoSize = loadLe16(bytes, at + VNET_GSO_SIZE);
  into.csumStart = loadLe16(bytes, at + VNET_CSUM_START);
  into.csumOffset = loadLe16(bytes, at + VNET_CSUM_OFFSET);
  return into;
}

/** Write `header` at `bytes[at ..]`; returns the bytes written (VNET_HDR_LEN). */
export function encodeVnetHeader(header: VnetHeader, bytes: Uint8Array, at: number): number {
  bytes[at + VNET_FLAGS] = header.flags;
  bytes[at + VNET_GSO_TYPE] = header.gsoType;
  storeLe16(bytes, at + VNET_HDR_LEN_FIELD, header.headerLength);
  storeLe16(bytes, at + VNET_GSO_SIZE, header.gsoSize);
  storeLe16(bytes, at + VNET_CSUM_START, header.csumStart);
  storeLe16(bytes, at + VNET_CSUM_OFFSET, header.csumOffset);
  return VNET_HDR_LEN;
}

/**
 * The header of a super-frame written whole (NEEDS_CSUM, `gsoType`, its sizes) into `h` at 0.
 * `outerLength`: bytes of outer headers written before the frame (a tunnel TAP's), which the
 * header length and checksum start count too.
 */
export function storeSuperFrameHeader(h: Uint8Array, frame: SuperFrame, gsoType: number, outerLength = 0): void {
  h[VNET_FLAGS] = VNET_F_NEEDS_CSUM;
  h[VNET_GSO_TYPE] = gsoType;
  storeLe16(h, VNET_HDR_LEN_FIELD, outerLength + frame.headerLength);
  storeLe16(h, VNET_GSO_SIZE, frame.gsoSize);
  storeLe16(h, VNET_CSUM_START, outerLength + frame.csumStart);
  storeLe16(h, VNET_CSUM_OFFSET, frame.csumOffset);
}
