// VXLAN header, RFC 7348 §5, with the Group Based Policy extension
// (draft-smith-vxlan-group-policy; Linux `struct vxlanhdr_gbp` in include/net/vxlan.h).
// The same diagram and offsets, under the same names, as src/wire/vxlan.ts (test/abi.test.ts
// checks both).
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |G|R|R|R|I|R|R|R|R|D|R|R|A|R|R|R|        Group Policy ID        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                VXLAN Network Identifier (VNI) |   Reserved    |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Without the extension, G, D, A and the Group Policy ID are reserved: "Reserved fields ...
// MUST be set to zero on transmission and ignored on receipt" (RFC 7348 §5), but Linux drops
// frames with them set unless the device was created with `gbp`; strict mode does the same.

export const VXLAN_FLAGS: usize = 0;
export const VXLAN_GBP_FLAGS: usize = 1;
export const VXLAN_GROUP_POLICY_ID: usize = 2;
export const VXLAN_VNI: usize = 4;
export const VXLAN_RESERVED: usize = 7;
export const VXLAN_HEADER_LEN: usize = 8;

/** Byte 0. */
export const VXLAN_FLAG_I: u32 = 0x08;
export const VXLAN_FLAG_G: u32 = 0x80;
/** Byte 1 (GBP only). */
export const VXLAN_GBP_DONT_LEARN: u32 = 0x40;
export const VXLAN_GBP_POLICY_APPLIED: u32 = 0x08;

export const MAX_VNI: u32 = 0xffffff;
