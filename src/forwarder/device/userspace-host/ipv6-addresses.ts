/** Tests of IPv6 addresses in a frame, against the host's own (16 bytes each, no text). */

/** The address at `buf[at]` is `address`. */
export function addressEquals(buf: Uint8Array, at: number, address: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (buf[at + i] !== address[i]) return false;
  return true;
}

/** ff02::1:ffXX:XXXX, the solicited-node group of `self` (RFC 4291 §2.7.1). */
export function isSolicitedNode(buf: Uint8Array, at: number, self: Uint8Array): boolean {
  if (buf[at] !== 0xff || buf[at + 1] !== 0x02 || buf[at + 11] !== 1 || buf[at + 12] !== 0xff) return false;
  for (let i = 2; i < 11; i++) if (buf[at + i] !== 0) return false;
  return buf[at + 13] === self[13] && buf[at + 14] === self[14] && buf[at + 15] === self[15];
}

/** The address at `buf[at]` is :: (a solicitation for duplicate address detection comes from it). */
export function isUnspecified(buf: Uint8Array, at: number): boolean {
  for (let i = 0; i < 16; i++) if (buf[at + i] !== 0) return false;
  return true;
}
