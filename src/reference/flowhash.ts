/** The pure-TS twin of assembly/flowhash.ts. */
import { readBe16 } from './checksum';

const VLAN_TPIDS = new Set([0x8100, 0x88a8, 0x9100]);

function readLe32(bytes: Uint8Array, at: number): number {
  return (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0;
}

function rotl(x: number, r: number): number {
  return ((x << r) | (x >>> (32 - r))) >>> 0;
}

/** MurmurHash3's block step. */
function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = rotl(k, 15);
  k = Math.imul(k, 0x1b873593);
  h = rotl((h ^ k) >>> 0, 13);
  return (Math.imul(h, 5) + 0xe6546b64) >>> 0;
}

/** MurmurHash3's finaliser. */
function finish(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const hasPorts = (protocol: number) => protocol === 6 || protocol === 17 || protocol === 132;

export function flowHash(bytes: Uint8Array, frame: number, len: number): number {
  if (len < 14) return 0;
  const word = (offset: number) => readLe32(bytes, frame + offset);
  let h = mix(mix(mix(0x9747b28c, word(0)), word(4)), word(8));
  let typeOffset = 12;
  let etherType = readBe16(bytes, frame + typeOffset);
  for (let tags = 0; tags < 8 && VLAN_TPIDS.has(etherType) && typeOffset + 6 <= len; tags++) {
    typeOffset += 4;
    etherType = readBe16(bytes, frame + typeOffset);
  }
  h = mix(h, etherType);
  const l3 = typeOffset + 2;
  if (etherType === 0x0800 && len - l3 >= 20) {
    const headerLen = (bytes[frame + l3] & 0x0f) * 4;
    const protocol = bytes[frame + l3 + 9];
    h = mix(mix(mix(h, word(l3 + 12)), word(l3 + 16)), protocol);
    const fragment = readBe16(bytes, frame + l3 + 6) & 0x3fff;
    if (fragment === 0 && hasPorts(protocol) && headerLen >= 20 && len - l3 >= headerLen + 4) {
      h = mix(h, word(l3 + headerLen));
    }
  } else if (etherType === 0x86dd && len - l3 >= 40) {
    const protocol = bytes[frame + l3 + 6];
    for (let i = 0; i < 32; i += 4) h = mix(h, word(l3 + 8 + i));
    h = mix(h, protocol);
    if (hasPorts(protocol) && len - l3 >= 44) h = mix(h, word(l3 + 40));
  }
  return finish(h);
}

/** Map a hash into [low, high] inclusive, as udp_flow_src_port does. */
export function sourcePortFromHash(hash: number, low: number, high: number): number {
  hash = (hash ^ (hash << 16)) >>> 0;
  return Number((BigInt(hash) * BigInt(high - low + 1)) >> 32n) + low;
}
