/** The pure-TS twin of assembly/flowhash.ts. */
import { readU16 } from '../wire/fields';
import { isVlanTpid, MAX_VLAN_TAGS } from '../wire/ethernet';

const SEED = 0x9747b28c;

function readLe32(bytes: Uint8Array, at: number): number {
  return (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0;
}

/** The i-th input word times its own odd constant (see assembly/flowhash.ts). */
function term(i: number, word: number): number {
  return Math.imul(word, (0x9e3779b1 + Math.imul(i, 0x7f4a7c16)) >>> 0) >>> 0;
}

const hasPorts = (protocol: number) => protocol === 6 || protocol === 17 || protocol === 132;

/** IP: addresses, protocol, ports (TCP/UDP/SCTP, unfragmented); anything else: MACs and EtherType. */
export function flowHash(bytes: Uint8Array, frame: number, len: number): number {
  if (len < 14) return 0;
  const word = (offset: number) => readLe32(bytes, frame + offset);
  let typeOffset = 12;
  let etherType = readU16(bytes, frame + typeOffset);
  for (let tags = 0; tags < MAX_VLAN_TAGS && isVlanTpid(etherType) && typeOffset + 6 <= len; tags++) {
    typeOffset += 4;
    etherType = readU16(bytes, frame + typeOffset);
  }
  const l3 = typeOffset + 2;
  let h = SEED;
  if (etherType === 0x0800 && len - l3 >= 20) {
    const headerLen = (bytes[frame + l3] & 0x0f) * 4;
    const protocol = bytes[frame + l3 + 9];
    h ^= term(0, word(l3 + 12)) ^ term(1, word(l3 + 16)) ^ term(2, protocol);
    const fragment = readU16(bytes, frame + l3 + 6) & 0x3fff;
    if (fragment === 0 && hasPorts(protocol) && headerLen >= 20 && len - l3 >= headerLen + 4) {
      h ^= term(3, word(l3 + headerLen));
    }
  } else if (etherType === 0x86dd && len - l3 >= 40) {
    const protocol = bytes[frame + l3 + 6];
    for (let i = 0; i < 8; i++) h ^= term(i, word(l3 + 8 + 4 * i));
    h ^= term(8, protocol);
    if (hasPorts(protocol) && len - l3 >= 44) h ^= term(9, word(l3 + 40));
  } else {
    h ^= term(0, word(0)) ^ term(1, word(4)) ^ term(2, word(8)) ^ term(3, etherType);
  }
  return h >>> 0;
}

/** Map a hash into [low, high] inclusive, as udp_flow_src_port does. */
export function sourcePortFromHash(hash: number, low: number, high: number): number {
  hash = (hash ^ (hash << 16)) >>> 0;
  return Number((BigInt(hash) * BigInt(high - low + 1)) >> 32n) + low;
}
