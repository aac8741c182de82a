/**
 * VXLAN header, RFC 7348 §5, with the Group Based Policy extension
 * (draft-smith-vxlan-group-policy; Linux `struct vxlanhdr_gbp` in include/net/vxlan.h).
 * The same diagram and offsets, under the same names, as the kernels' assembly/layout/vxlan.ts
 * (test/abi.test.ts checks both).
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |G|R|R|R|I|R|R|R|R|D|R|R|A|R|R|R|        Group Policy ID        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                VXLAN Network Identifier (VNI) |   Reserved    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Plain RFC 7348 has only I: "The I flag MUST be set to 1 for a valid VXLAN Network ID (VNI).
 * The other 7 bits (designated "R") are reserved fields and MUST be set to zero on transmission
 * and ignored on receipt", and bytes 1-3 and 7 are reserved the same way. With GBP, G says the
 * Group Policy ID is present, D = "don't learn" the source, A = policy already applied.
 *
 * `decode` reports what is there and leaves policy (I flag required? reserved bits zero?) to the
 * caller's strict/lax choice. `encodeInto` writes every byte, reserved ones as 0, because the
 * buffers it writes into are reused.
 */

import { DecodeError } from '../errors';
import type { GroupPolicy, VxlanHeader } from '../types';
import { checkRoom } from './fields';

export type { GroupPolicy, VxlanHeader };

export const VXLAN_FLAGS = 0;
export const VXLAN_GBP_FLAGS = 1;
export const VXLAN_GROUP_POLICY_ID = 2;
export const VXLAN_VNI = 4;
export const VXLAN_RESERVED = 7;
export const VXLAN_HEADER_LEN = 8;

/** Byte 0. */
export const VXLAN_FLAG_I = 0x08;
export const VXLAN_FLAG_G = 0x80;
/** Byte 1 (GBP only). */
export const VXLAN_GBP_DONT_LEARN = 0x40;
export const VXLAN_GBP_POLICY_APPLIED = 0x08;

export const MAX_VNI = 0xffffff;

function readVni(buf: Uint8Array, offset: number): number {
  return (buf[offset + VXLAN_VNI] << 16) | (buf[offset + VXLAN_VNI + 1] << 8) | buf[offset + VXLAN_VNI + 2];
}

export function decode(buf: Uint8Array, offset = 0): VxlanHeader {
  if (offset < 0 || offset + VXLAN_HEADER_LEN > buf.length) throw new DecodeError('TRUNCATED', 'vxlan', offset);
  const flags = buf[offset + VXLAN_FLAGS];
  const header: VxlanHeader = { flags, vni: readVni(buf, offset) };
  // Without G, bytes 1-3 are RFC 7348 reserved bits, not a policy: reporting them as one would lie.
  if (flags & VXLAN_FLAG_G) {
    const gbpFlags = buf[offset + VXLAN_GBP_FLAGS];
    header.gbp = {
      group: (buf[offset + VXLAN_GROUP_POLICY_ID] << 8) | buf[offset + VXLAN_GROUP_POLICY_ID + 1],
      dontLearn: (gbpFlags & VXLAN_GBP_DONT_LEARN) !== 0,
      policyApplied: (gbpFlags & VXLAN_GBP_POLICY_APPLIED) !== 0,
    };
  }
  return header;
}

export function encodingLength(_fields?: VxlanFields): number {
  return VXLAN_HEADER_LEN;
}

/** What `encodeInto` reads: a decoded `VxlanHeader` fits, and `flags` may be left out. */
export type VxlanFields = Pick<VxlanHeader, 'vni' | 'gbp'> & { flags?: number };

/**
 * Writes I (and G when `gbp` is given) and nothing else: `fields.flags` is not consulted, since
 * the only flags this library sends follow from `gbp`.
 */
export function encodeInto(fields: VxlanFields, buf: Uint8Array, offset = 0): number {
  const { vni, gbp } = fields;
  if (!Number.isInteger(vni) || vni < 0 || vni > MAX_VNI) throw new RangeError(`vni must be 0..${MAX_VNI} (got ${String(vni)})`);
  if (gbp && (!Number.isInteger(gbp.group) || gbp.group < 0 || gbp.group > 0xffff)) {
    throw new RangeError(`gbp.group must be 0..65535 (got ${String(gbp.group)})`);
  }
  checkRoom(buf, offset, VXLAN_HEADER_LEN, 'the VXLAN header');
  buf[offset + VXLAN_FLAGS] = VXLAN_FLAG_I | (gbp ? VXLAN_FLAG_G : 0);
  buf[offset + VXLAN_GBP_FLAGS] = gbp ? (gbp.dontLearn ? VXLAN_GBP_DONT_LEARN : 0) | (gbp.policyApplied ? VXLAN_GBP_POLICY_APPLIED : 0) : 0;
  buf[offset + VXLAN_GROUP_POLICY_ID] = gbp ? gbp.group >> 8 : 0;
  buf[offset + VXLAN_GROUP_POLICY_ID + 1] = gbp ? gbp.group & 0xff : 0;
  buf[offset + VXLAN_VNI] = vni >> 16;
  buf[offset + VXLAN_VNI + 1] = (vni >> 8) & 0xff;
  buf[offset + VXLAN_VNI + 2] = vni & 0xff;
  buf[offset + VXLAN_RESERVED] = 0;
  return VXLAN_HEADER_LEN;
}

/** A zero-copy view over the 8 bytes: the constructor checks they are there, getters read unchecked. */
export class VxlanView {
  constructor(readonly buf: Uint8Array, readonly offset = 0) {
    if (offset < 0 || offset + VXLAN_HEADER_LEN > buf.length) throw new DecodeError('TRUNCATED', 'vxlan', offset);
  }
  get flags(): number { return this.buf[this.offset + VXLAN_FLAGS]; }
  get vni(): number { return readVni(this.buf, this.offset); }
  /** The Group Policy ID; meaningful only when `flags` has G. */
  get group(): number { return (this.buf[this.offset + VXLAN_GROUP_POLICY_ID] << 8) | this.buf[this.offset + VXLAN_GROUP_POLICY_ID + 1]; }
}
