// Hash of an inner frame's flow, used to pick the outer UDP source port so that routers on the
// underlay spread tunnels over their paths (RFC 7348 §5: "a hash of fields from the inner
// packet"), the way Linux's udp_flow_src_port does. The hash itself differs from Linux's (which
// is keyed by a per-boot random seed), but the inputs are the same: for IP the addresses,
// protocol and, for TCP/UDP/SCTP, the ports; for anything else the Ethernet addresses.

import { loadBe16 } from './checksum';
import { ETH_TYPE, ETH_HEADER_LEN, VLAN_TAG_LEN, MAX_VLAN_TAGS, ETHERTYPE_IPV4, ETHERTYPE_IPV6, isVlanTpid } from './layout/ethernet';
import {
  IPV4_FLAGS_FRAGMENT_OFFSET, IPV4_PROTOCOL, IPV4_SOURCE, IPV4_DESTINATION, IPV4_MIN_HEADER_LEN, IPV4_FLAG_MORE_FRAGMENTS, IPV4_FRAGMENT_OFFSET_MASK, FRAGMENT_BITS_LE,
} from './layout/ipv4';
import { IPV6_NEXT_HEADER, IPV6_SOURCE, IPV6_HEADER_LEN } from './layout/ipv6';

const SEED: u32 = 0x9747b28c;

/**
 * The i-th input word's contribution: the word times its own odd constant (multiplicative
 * hashing: every bit of the word reaches the product's high bits). The products are independent
 * of each other, so they are computed in parallel and xor-ed. There is no finaliser: the only
 * use of the hash is sourcePortFromHash, which folds the low half into the high one and scales
 * the high bits into the port range, and over flow sets that differ in source port, source
 * address or both the ports came out as evenly spread as with MurmurHash3's finaliser, which
 * cost 0.7 ns per packet more (test/conformance/encapsulate.test.ts checks the spread). The low
 * bits alone are not well mixed: this is not a general-purpose hash.
 */
// @ts-ignore: decorator
@inline function term(i: u32, word: u32): u32 {
  return word * (0x9e3779b1 + i * 0x7f4a7c16);
}

// @ts-ignore: decorator
@inline function hasPorts(protocol: u32): bool {
  // TCP, UDP, SCTP: one table load instead of three comparisons (protocol is one byte).
  return load<u8>(PROTOCOLS_WITH_PORTS + <usize>(protocol & 0xff)) != 0;
}

/** 256 flags: 1 at 6 (TCP), 17 (UDP) and 132 (SCTP). */
const PROTOCOLS_WITH_PORTS = memory.data<u8>([
  0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
]);

/**
 * Flow hash of the inner Ethernet frame at [frame, frame+len). Frames under 14 bytes hash to 0.
 * As in Linux's flow dissector, an IP packet is keyed by its addresses, protocol and (TCP, UDP,
 * SCTP, unfragmented) ports; anything else by its Ethernet addresses and EtherType.
 */
export function flowHash(frame: usize, len: usize): u32 {
  if (len < ETH_HEADER_LEN) return 0;
  let typeOffset = ETH_TYPE;
  let etherType = loadBe16(frame + typeOffset);
  for (let tags = 0; tags < MAX_VLAN_TAGS && isVlanTpid(etherType) && typeOffset + VLAN_TAG_LEN + 2 <= len; tags++) {
    typeOffset += VLAN_TAG_LEN;
    etherType = loadBe16(frame + typeOffset);
  }
  const l3 = typeOffset + 2;
  if (etherType == ETHERTYPE_IPV4 && len - l3 >= IPV4_MIN_HEADER_LEN) {
    const headerLen = (<usize>load<u8>(frame + l3) & 0x0f) << 2;
    const protocol = <u32>load<u8>(frame + l3 + IPV4_PROTOCOL);
    const fragment = loadBe16(frame + l3 + IPV4_FLAGS_FRAGMENT_OFFSET) & (IPV4_FLAG_MORE_FRAGMENTS | IPV4_FRAGMENT_OFFSET_MASK);
    const withPorts = fragment == 0 && hasPorts(protocol) && headerLen >= IPV4_MIN_HEADER_LEN && len - l3 >= headerLen + 4;
    return ipv4FlowHash(frame + l3, protocol, withPorts, headerLen);
  }
  if (etherType == ETHERTYPE_IPV6 && len - l3 >= IPV6_HEADER_LEN) {
    const protocol = <u32>load<u8>(frame + l3 + IPV6_NEXT_HEADER);
    return ipv6FlowHash(frame + l3, protocol, hasPorts(protocol) && len - l3 >= IPV6_HEADER_LEN + 4);
  }
  // Both MAC addresses (12 bytes, three words) and the EtherType.
  return SEED ^ term(0, load<u32>(frame)) ^ term(1, load<u32>(frame, 4)) ^ term(2, load<u32>(frame, 8)) ^ term(3, etherType);
}

/** The hash of an IPv4 packet at `ip`: addresses, protocol and, `withPorts`, the word after the header. */
// @ts-ignore: decorator
@inline function ipv4FlowHash(ip: usize, protocol: u32, withPorts: bool, headerLen: usize): u32 {
  let h = SEED ^ term(0, load<u32>(ip + IPV4_SOURCE)) ^ term(1, load<u32>(ip + IPV4_DESTINATION)) ^ term(2, protocol);
  if (withPorts) h ^= term(3, load<u32>(ip + headerLen)); // only then are the ports inside the frame
  return h;
}

/** The hash of an IPv6 packet at `ip`: the eight address words, next header and, `withPorts`, the ports. */
// @ts-ignore: decorator
@inline function ipv6FlowHash(ip: usize, protocol: u32, withPorts: bool): u32 {
  const addresses = ip + IPV6_SOURCE; // source then destination: eight words
  let h = SEED ^ term(0, load<u32>(addresses)) ^ term(1, load<u32>(addresses, 4)) ^ term(2, load<u32>(addresses, 8)) ^
    term(3, load<u32>(addresses, 12)) ^ term(4, load<u32>(addresses, 16)) ^ term(5, load<u32>(addresses, 20)) ^
    term(6, load<u32>(addresses, 24)) ^ term(7, load<u32>(addresses, 28)) ^ term(8, protocol);
  if (withPorts) h ^= term(9, load<u32>(ip + IPV6_HEADER_LEN)); // only then are the ports inside the frame
  return h;
}

/**
 * flowHash of an inner frame the encapsulation fast path has found to be untagged IPv4 without
 * options, at least 38 bytes long (Ethernet, IP header, ports): flowHash's terms, at fixed
 * offsets. The ports count unless the packet is a fragment.
 */
// @ts-ignore: decorator
@inline export function flowHashFastIpv4(frame: usize): u32 {
  const ip = frame + ETH_HEADER_LEN;
  // Flags, fragment offset, TTL and protocol in one load: the fragment bits, then the top byte.
  const fragmentAndProtocol = load<u32>(ip + IPV4_FLAGS_FRAGMENT_OFFSET);
  const protocol = fragmentAndProtocol >> 24;
  return ipv4FlowHash(ip, protocol, (fragmentAndProtocol & FRAGMENT_BITS_LE) == 0 && hasPorts(protocol), IPV4_MIN_HEADER_LEN);
}

/**
 * flowHash of an untagged IPv6 inner frame of at least 58 bytes (Ethernet, IPv6 header, ports):
 * flowHash's terms, at fixed offsets. As there, the next header field is the protocol (no
 * extension header is walked) and the ports count for TCP/UDP/SCTP.
 */
// @ts-ignore: decorator
@inline export function flowHashFastIpv6(frame: usize): u32 {
  const ip = frame + ETH_HEADER_LEN;
  const protocol = <u32>load<u8>(ip + IPV6_NEXT_HEADER);
  return ipv6FlowHash(ip, protocol, hasPorts(protocol));
}

/**
 * Map a flow hash into [low, high] (inclusive), as udp_flow_src_port does: fold the high half
 * into the low so both matter, then scale with a multiply instead of a modulo.
 */
// @ts-ignore: decorator
@inline export function sourcePortFromHash(hash: u32, low: u32, high: u32): u32 {
  hash ^= hash << 16;
  return <u32>((<u64>hash * <u64>(high - low + 1)) >> 32) + low;
}
