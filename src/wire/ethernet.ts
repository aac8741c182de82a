/**
 * Ethernet II header with any number (up to 8) of IEEE 802.1Q / 802.1ad VLAN tags. The same
 * diagram and offsets, under the same names, as the kernels' assembly/layout/ethernet.ts
 * (test/abi.test.ts checks both).
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                 Destination MAC Address                       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Destination (cont.)           |       Source MAC Address      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                     Source (cont.)                            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  TPID (0x8100, 0x88a8, 0x9100)| PCP |D|        VLAN ID        |  0..8 tags, outermost first
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |          EtherType            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * A tag sits where the EtherType would be: its TPID says "a tag follows", and the real EtherType
 * comes after the last tag. (The FCS is not part of the frames a NIC or TAP device hands over.)
 */

import { DecodeError } from '../errors';
import type { EthernetHeader, VlanTag } from '../types';
import { formatMac, writeMac } from './address';
import { EtherType } from './protocols';
import { checkUint, checkRoom } from './fields';

export type { EthernetHeader, VlanTag };

export const ETH_DESTINATION = 0;
export const ETH_SOURCE = 6;
/** EtherType, or the TPID of the first VLAN tag. */
export const ETH_TYPE = 12;
export const ETH_HEADER_LEN = 14;

/** Within a tag, relative to the tag start: TPID, then TCI = PCP(3) | DEI(1) | VID(12). */
export const VLAN_TPID = 0;
export const VLAN_TCI = 2;
export const VLAN_TAG_LEN = 4;
export const MAX_VLAN_TAGS = 8;

/** The TPIDs that mean "a VLAN tag follows": 802.1Q, 802.1ad and the pre-standard 0x9100. */
export function isVlanTpid(value: number): boolean {
  return value === EtherType.VLAN || value === EtherType.QinQ || value === EtherType.VLANDoubleTagged;
}

/** Bytes from `offset` to the first byte after the header (tags included); throws like `decode`. */
export function headerLength(buf: Uint8Array, offset = 0): number {
  let typeAt = offset + ETH_TYPE;
  if (offset < 0 || typeAt + 2 > buf.length) throw new DecodeError('TRUNCATED', 'ethernet', offset);
  for (let tags = 0; isVlanTpid((buf[typeAt] << 8) | buf[typeAt + 1]); tags++) {
    if (tags === MAX_VLAN_TAGS) throw new DecodeError('TOO_MANY_VLAN_TAGS', 'ethernet', typeAt);
    typeAt += VLAN_TAG_LEN;
    if (typeAt + 2 > buf.length) throw new DecodeError('TRUNCATED', 'ethernet', offset);
  }
  return typeAt + 2 - offset;
}

export function decode(buf: Uint8Array, offset = 0): EthernetHeader {
  const headerLen = headerLength(buf, offset);
  // headerLength() has checked every byte up to offset + headerLen is present.
  const vlans: VlanTag[] = [];
  for (let tag = offset + ETH_TYPE; tag < offset + headerLen - 2; tag += VLAN_TAG_LEN) {
    const tci = (buf[tag + VLAN_TCI] << 8) | buf[tag + VLAN_TCI + 1];
    vlans.push({
      tpid: (buf[tag] << 8) | buf[tag + 1],
      pcp: tci >> 13,
      dei: (tci & 0x1000) !== 0,
      vid: tci & 0x0fff,
    });
  }
  const typeAt = offset + headerLen - 2;
  return {
    destination: formatMac(buf, offset + ETH_DESTINATION),
    source: formatMac(buf, offset + ETH_SOURCE),
    etherType: (buf[typeAt] << 8) | buf[typeAt + 1],
    vlans,
  };
}

export function encodingLength(fields: EthernetHeader): number {
  return ETH_HEADER_LEN + VLAN_TAG_LEN * (fields.vlans?.length ?? 0);
}

/** Both addresses, parsed before anything is written (reused: encoding never allocates). */
const macScratch = new Uint8Array(ETH_TYPE);

export function encodeInto(fields: EthernetHeader, buf: Uint8Array, offset = 0): number {
  const vlans = fields.vlans ?? [];
  if (vlans.length > MAX_VLAN_TAGS) throw new RangeError(`vlans must have at most ${MAX_VLAN_TAGS} tags (got ${vlans.length})`);
  vlans.forEach((tag, i) => {
    if (!isVlanTpid(tag.tpid)) throw new RangeError(`vlans[${i}].tpid must be 0x8100, 0x88a8 or 0x9100 (got ${String(tag.tpid)})`);
    checkUint(`vlans[${i}].pcp`, tag.pcp, 7);
    checkUint(`vlans[${i}].vid`, tag.vid, 0xfff);
  });
  checkUint('etherType', fields.etherType, 0xffff);
  const length = encodingLength(fields);
  checkRoom(buf, offset, length, 'the Ethernet header');
  // Parse both addresses before writing anything, so a bad one leaves the buffer as it was.
  writeMac(fields.destination, macScratch, ETH_DESTINATION);
  writeMac(fields.source, macScratch, ETH_SOURCE);
  buf.set(macScratch, offset);

  let at = offset + ETH_TYPE;
  for (const tag of vlans) {
    const tci = (tag.pcp << 13) | (tag.dei ? 0x1000 : 0) | tag.vid;
    buf[at] = tag.tpid >> 8;
    buf[at + 1] = tag.tpid & 0xff;
    buf[at + VLAN_TCI] = tci >> 8;
    buf[at + VLAN_TCI + 1] = tci & 0xff;
    at += VLAN_TAG_LEN;
  }
  buf[at] = fields.etherType >> 8;
  buf[at + 1] = fields.etherType & 0xff;
  return length;
}
