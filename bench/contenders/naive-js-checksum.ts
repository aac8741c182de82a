/**
 * The RFC 1071 checksum as most people first write it: one byte pair per iteration, folding
 * at the end. What a library without a fast path costs.
 */
export function naiveJsChecksum(data: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < data.length; i += 2) {
    const low = i + 1 < data.length ? data[i + 1] : 0;
    sum += (data[i] << 8) + low;
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}
