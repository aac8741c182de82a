// Status codes returned by the kernels. The numbers are the ABI with src/errors.ts
// (DecodeStatus, and Layer for the LAYER_* below); test/abi.test.ts checks both, name by name.

export const OK: i32 = 0;
export const TRUNCATED: i32 = 1;
export const NOT_IPV4_OR_IPV6: i32 = 2;
export const BAD_IP_VERSION: i32 = 3;
export const BAD_IHL: i32 = 4;
export const BAD_IPV4_CHECKSUM: i32 = 5;
export const LENGTH_MISMATCH: i32 = 6;
export const FRAGMENTED: i32 = 7;
export const NOT_UDP: i32 = 8;
export const NOT_VXLAN_PORT: i32 = 9;
export const BAD_UDP_CHECKSUM: i32 = 10;
export const ZERO_UDP_CHECKSUM_IPV6: i32 = 11;
export const VXLAN_I_FLAG_MISSING: i32 = 12;
export const VXLAN_RESERVED_BITS: i32 = 13;
export const VNI_MISMATCH: i32 = 14;
export const TOO_MANY_VLAN_TAGS: i32 = 15;
export const BAD_IPV6_EXTENSION: i32 = 16;

// Which header a status refers to (Layer in src/errors.ts).
export const LAYER_ETHERNET: i32 = 0;
export const LAYER_IPV4: i32 = 1;
export const LAYER_IPV6: i32 = 2;
export const LAYER_UDP: i32 = 3;
export const LAYER_VXLAN: i32 = 4;
export const LAYER_INNER: i32 = 5;
