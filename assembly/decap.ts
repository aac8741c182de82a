// Decapsulation: validate an outer Ethernet/IP/UDP/VXLAN frame and locate the inner frame.
//
// One function checks one frame in the order Linux does (ip_rcv_core, udp_rcv, vxlan_rcv) and
// records where each header starts, so TypeScript can read fields without checking again.
// It never traps: every read is preceded by a length check against `end`.

import {
  OK, TRUNCATED, NOT_IPV4_OR_IPV6, BAD_IP_VERSION, BAD_IHL, BAD_IPV4_CHECKSUM, LENGTH_MISMATCH,
  FRAGMENTED, NOT_UDP, NOT_VXLAN_PORT, BAD_UDP_CHECKSUM, ZERO_UDP_CHECKSUM_IPV6,
  VXLAN_I_FLAG_MISSING, VXLAN_RESERVED_BITS, VNI_MISMATCH, TOO_MANY_VLAN_TAGS, BAD_IPV6_EXTENSION,
  LAYER_ETHERNET, LAYER_IPV4, LAYER_IPV6, LAYER_UDP, LAYER_VXLAN, LAYER_INNER,
} from './status';
import { onesComplementSum, ipv4PseudoHeaderSum, ipv6PseudoHeaderSum, loadBe16, fold16 } from './checksum';
import { ETH_TYPE, ETH_HEADER_LEN, VLAN_TAG_LEN, MAX_VLAN_TAGS, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_IPV4_LE, isVlanTpid } from './layout/ethernet';
import {
  IPV4_VERSION_IHL, IPV4_TOTAL_LENGTH, IPV4_FLAGS_FRAGMENT_OFFSET, IPV4_PROTOCOL, IPV4_CHECKSUM, IPV4_SOURCE,
  IPV4_DESTINATION, IPV4_MIN_HEADER_LEN, IPV4_FLAG_MORE_FRAGMENTS, IPV4_FRAGMENT_OFFSET_MASK, IPPROTO_UDP, VERSION_IHL_5, FRAGMENT_BITS_LE,
} from './layout/ipv4';
import {
  IPV6_PAYLOAD_LENGTH, IPV6_NEXT_HEADER, IPV6_SOURCE, IPV6_DESTINATION, IPV6_HEADER_LEN,
  EXT_NEXT_HEADER, EXT_LENGTH, EXT_MIN_LEN, MAX_EXTENSION_HEADERS,
  IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_FRAGMENT, IPPROTO_DSTOPTS,
} from './layout/ipv6';
import { UDP_SOURCE_PORT, UDP_DESTINATION_PORT, UDP_LENGTH, UDP_CHECKSUM, UDP_HEADER_LEN } from './layout/udp';
import {
  VXLAN_FLAGS, VXLAN_GBP_FLAGS, VXLAN_VNI, VXLAN_RESERVED, VXLAN_HEADER_LEN,
  VXLAN_FLAG_I, VXLAN_FLAG_G, VXLAN_GBP_DONT_LEARN, VXLAN_GBP_POLICY_APPLIED,
} from './layout/vxlan';

// Option bits (DECAP_* in src/wasm/abi.ts).
export const DECAP_STRICT: u32 = 1;
export const DECAP_VERIFY_CHECKSUMS: u32 = 2;
export const DECAP_ALLOW_ZERO_UDP_CHECKSUM_IPV6: u32 = 4;
export const DECAP_GBP: u32 = 8;
export const DECAP_CHECK_VNI: u32 = 16;

// The result record: i32 fields at these byte offsets (RESULT_* in src/wasm/abi.ts).
export const RESULT_STATUS: usize = 0;
export const RESULT_LAYER: usize = 4;
export const RESULT_OFFSET: usize = 8;
export const RESULT_L3: usize = 12;
export const RESULT_L4: usize = 16;
export const RESULT_VXLAN: usize = 20;
export const RESULT_INNER: usize = 24;
export const RESULT_INNER_LEN: usize = 28;
export const RESULT_VNI: usize = 32;
export const RESULT_IP_VERSION: usize = 36;
export const RESULT_SOURCE_PORT: usize = 40;
export const RESULT_LEN: usize = 64;

// @ts-ignore: decorator
@inline function fail(out: usize, status: i32, layer: i32, offset: usize): i32 {
  store<i32>(out + RESULT_STATUS, status);
  store<i32>(out + RESULT_LAYER, layer);
  store<i32>(out + RESULT_OFFSET, <i32>offset);
  return status;
}

/**
 * A correct IPv4 header sums to 0xffff (the checksum field makes the total -0). The header is a
 * whole number of 32-bit words, so sum those directly: 0xffff is its own byte swap, so the
 * comparison holds in little-endian order too. Cheaper than the general sum for 20 bytes.
 */
// @ts-ignore: decorator
@inline function isIpv4HeaderChecksumValid(header: usize, headerLen: usize): bool {
  let sum: u64 = <u64>load<u32>(header) + <u64>load<u32>(header, 4) + <u64>load<u32>(header, 8) +
    <u64>load<u32>(header, 12) + <u64>load<u32>(header, 16);
  for (let at: usize = 20; at < headerLen; at += 4) sum += <u64>load<u32>(header + at);
  return fold16(sum) == 0xffff;
}

// @ts-ignore: decorator
@inline function isPortAccepted(port: u32, portsLow: u32, portsHigh: u32): bool {
  // Four 16-bit ports packed in two words; 0 marks an unused place (port 0 is never VXLAN).
  return port != 0 && (
    port == (portsLow & 0xffff) || port == (portsLow >> 16) ||
    port == (portsHigh & 0xffff) || port == (portsHigh >> 16));
}

/** The result record of a valid frame. */
// @ts-ignore: decorator
@inline export function storeSuccess(
  out: usize, l3: usize, l4: usize, vx: usize, inner: usize, innerLen: usize, vni: u32, ipVersion: i32, sourcePort: u32,
): void {
  store<i32>(out + RESULT_STATUS, OK);
  store<i32>(out + RESULT_LAYER, 0);
  store<i32>(out + RESULT_OFFSET, 0);
  store<i32>(out + RESULT_L3, <i32>l3);
  store<i32>(out + RESULT_L4, <i32>l4);
  store<i32>(out + RESULT_VXLAN, <i32>vx);
  store<i32>(out + RESULT_INNER, <i32>inner);
  store<i32>(out + RESULT_INNER_LEN, <i32>innerLen);
  store<i32>(out + RESULT_VNI, <i32>vni);
  store<i32>(out + RESULT_IP_VERSION, ipVersion);
  store<i32>(out + RESULT_SOURCE_PORT, <i32>sourcePort);
}

// The fast path: a frame of the shape almost all traffic has (no VLAN tag, IPv4 without options
// or IPv6 without extension headers, UDP length equal to the IP payload, plain RFC 7348 flags)
// has every header at a fixed offset and is read with a few wide loads. Everything else takes
// the general path. Little-endian views of the fixed bytes:
/** VXLAN bytes 0-3 and 7 as one u64: flags 0x08 in byte 0, zero reserved bytes 1-3 and 7. */
const VXLAN_FIXED_MASK: u64 = 0xff000000_ffffffff;
const VXLAN_FIXED_RFC7348: u64 = 0x08;
/** The smallest fast-path IPv4 frame: Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14. */
const FAST_IPV4_MIN_LEN: usize = 64;
/** Where a fast-path frame's headers start: IP right after an untagged Ethernet header. */
export const FAST_L3: usize = 14;
export const FAST_IPV4_L4: usize = 34;
export const FAST_IPV4_VXLAN: usize = 42;
export const FAST_IPV4_INNER: usize = 50;

/**
 * Accept a fast-path IPv4 frame in a handful of comparisons: returns its UDP length, or 0 to let
 * the general path below decide (it also names the fault). A fast path, not a different rule: every
 * condition here implies the general path would accept the frame with the same result, which
 * the differential tests and `npm run fuzz` check against the reference, which has no fast path.
 * With `noCalls` (decapBatch's fast loop, where a call would make V8 spill the loop's
 * registers) a frame whose UDP checksum is still to verify returns its UDP length with
 * FAST_UDP_CHECKSUM_PENDING set.
 */
// @ts-ignore: decorator
@inline export function acceptFastIpv4(
  frame: usize, len: usize, options: u32, expectedVni: u32, portsLow: u32, portsHigh: u32, noCalls: bool,
): usize {
  if (len < FAST_IPV4_MIN_LEN) return 0;
  if (<u32>load<u16>(frame + ETH_TYPE) != ETHERTYPE_IPV4_LE) return 0;
  if (<u32>load<u8>(frame + FAST_L3) != VERSION_IHL_5) return 0;
  const totalLength = <usize>loadBe16(frame + FAST_L3 + IPV4_TOTAL_LENGTH);
  const available = len - FAST_L3;
  if (totalLength > available || ((options & DECAP_STRICT) != 0 && totalLength != available)) return 0;
  if (totalLength < FAST_IPV4_MIN_LEN - FAST_L3) return 0;
  if ((<u32>load<u16>(frame + FAST_L3 + IPV4_FLAGS_FRAGMENT_OFFSET) & FRAGMENT_BITS_LE) != 0) return 0;
  if (<u32>load<u8>(frame + FAST_L3 + IPV4_PROTOCOL) != IPPROTO_UDP) return 0;
  const udpLength = <usize>loadBe16(frame + FAST_IPV4_L4 + UDP_LENGTH);
  if (udpLength != totalLength - IPV4_MIN_HEADER_LEN) return 0;
  if (!isPortAccepted(loadBe16(frame + FAST_IPV4_L4 + UDP_DESTINATION_PORT), portsLow, portsHigh)) return 0;
  if (!isFastVxlanHeader(frame + FAST_IPV4_VXLAN, options, expectedVni)) return 0;
  if ((options & DECAP_VERIFY_CHECKSUMS) != 0) {
    if (!isIpv4HeaderChecksumValid(frame + FAST_L3, IPV4_MIN_HEADER_LEN)) return 0;
    if (load<u16>(frame + FAST_IPV4_L4 + UDP_CHECKSUM) != 0) {
      if (noCalls) return udpLength | FAST_UDP_CHECKSUM_PENDING;
      if (!isFastIpv4UdpChecksumValid(frame, udpLength)) return 0;
    }
  }
  return udpLength;
}

// The fast-path IPv6 frame: no VLAN tag, UDP right after the IPv6 header (no extension header).
const ETHERTYPE_IPV6_LE: u32 = 0xdd86; // 86 dd
const FAST_IPV6_L4: usize = FAST_L3 + IPV6_HEADER_LEN;
const FAST_IPV6_VXLAN: usize = FAST_IPV6_L4 + UDP_HEADER_LEN;
const FAST_IPV6_INNER: usize = FAST_IPV6_VXLAN + VXLAN_HEADER_LEN;
/** UDP + VXLAN + inner Ethernet: the smallest IPv6 payload of such a frame. */
const FAST_IPV6_MIN_PAYLOAD: usize = UDP_HEADER_LEN + VXLAN_HEADER_LEN + ETH_HEADER_LEN;

/**
 * The VXLAN header of a fast-path frame: plain RFC 7348 flags (strict: I alone, reserved bytes zero;
 * lax: I set) and, when asked, the expected VNI.
 */
// @ts-ignore: decorator
@inline function isFastVxlanHeader(vxlan: usize, options: u32, expectedVni: u32): bool {
  const vxlanWord = load<u64>(vxlan);
  if ((options & DECAP_STRICT) != 0) {
    if ((vxlanWord & VXLAN_FIXED_MASK) != VXLAN_FIXED_RFC7348) return false;
  } else if ((<u32>vxlanWord & VXLAN_FLAG_I) == 0) {
    return false;
  }
  return (options & DECAP_CHECK_VNI) == 0 || vniAt(vxlan) == expectedVni;
}

/**
 * acceptFastIpv4 for a frame over IPv6: its UDP length, or 0 to let the general path decide.
 * The same rule: every condition here implies the general path would accept the frame with the
 * same result. A zero UDP checksum is left to the general path unless it is allowed.
 */
// @ts-ignore: decorator
@inline function acceptFastIpv6(frame: usize, len: usize, options: u32, expectedVni: u32, portsLow: u32, portsHigh: u32): usize {
  if (len < FAST_IPV6_INNER + ETH_HEADER_LEN) return 0;
  if (<u32>load<u16>(frame + ETH_TYPE) != ETHERTYPE_IPV6_LE) return 0;
  if ((<u32>load<u8>(frame + FAST_L3) >> 4) != 6) return 0;
  const payloadLength = <usize>loadBe16(frame + FAST_L3 + IPV6_PAYLOAD_LENGTH);
  const available = len - FAST_IPV6_L4;
  if (payloadLength > available || ((options & DECAP_STRICT) != 0 && payloadLength != available)) return 0;
  if (payloadLength < FAST_IPV6_MIN_PAYLOAD) return 0;
  if (<u32>load<u8>(frame + FAST_L3 + IPV6_NEXT_HEADER) != IPPROTO_UDP) return 0;
  const udpLength = <usize>loadBe16(frame + FAST_IPV6_L4 + UDP_LENGTH);
  if (udpLength != payloadLength) return 0;
  if (!isPortAccepted(loadBe16(frame + FAST_IPV6_L4 + UDP_DESTINATION_PORT), portsLow, portsHigh)) return 0;
  if (!isFastVxlanHeader(frame + FAST_IPV6_VXLAN, options, expectedVni)) return 0;
  if (load<u16>(frame + FAST_IPV6_L4 + UDP_CHECKSUM) == 0) {
    if ((options & DECAP_ALLOW_ZERO_UDP_CHECKSUM_IPV6) == 0) return 0;
  } else if ((options & DECAP_VERIFY_CHECKSUMS) != 0) {
    const pseudoSum = ipv6PseudoHeaderSum(frame + FAST_L3 + IPV6_SOURCE, frame + FAST_L3 + IPV6_DESTINATION, IPPROTO_UDP, <u32>udpLength);
    if (onesComplementSum(frame + FAST_IPV6_L4, udpLength, pseudoSum) != 0xffff) return 0;
  }
  return udpLength;
}

/** The 24-bit VNI of the VXLAN header at `vxlan`. */
// @ts-ignore: decorator
@inline function vniAt(vxlan: usize): u32 {
  return (loadBe16(vxlan + VXLAN_VNI) << 8) | <u32>load<u8>(vxlan + VXLAN_VNI + 2);
}

/**
 * acceptFastIpv4's flag (with `noCalls`) on a frame that passed every other check but has a
 * UDP checksum still to verify (isFastIpv4UdpChecksumValid); the UDP length is in the low 16 bits.
 */
export const FAST_UDP_CHECKSUM_PENDING: usize = 0x10000;

/** Whether a fast-path IPv4 frame's (non-zero) UDP checksum verifies, with the pseudo-header. */
// @ts-ignore: decorator
@inline export function isFastIpv4UdpChecksumValid(frame: usize, udpLength: usize): bool {
  const pseudoSum = ipv4PseudoHeaderSum(frame + FAST_L3 + IPV4_SOURCE, frame + FAST_L3 + IPV4_DESTINATION, IPPROTO_UDP, <u32>udpLength);
  return onesComplementSum(frame + FAST_IPV4_L4, udpLength, pseudoSum) == 0xffff;
}

/** The VNI of a fast-path IPv4 frame (acceptFastIpv4). */
// @ts-ignore: decorator
@inline export function fastIpv4Vni(frame: usize): u32 {
  return vniAt(frame + FAST_IPV4_VXLAN);
}

/** The UDP source port of a fast-path IPv4 frame (acceptFastIpv4). */
// @ts-ignore: decorator
@inline export function fastIpv4SourcePort(frame: usize): u32 {
  return loadBe16(frame + FAST_IPV4_L4 + UDP_SOURCE_PORT);
}

/**
 * Validate the frame at [frame, frame+len) and fill the result record at `out`.
 * Offsets in the record are relative to `frame`. Returns the status (0 = OK).
 */
export function decapFrame(
  frame: usize, len: usize, options: u32, expectedVni: u32, portsLow: u32, portsHigh: u32, out: usize,
): i32 {
  const fastIpv4UdpLength = acceptFastIpv4(frame, len, options, expectedVni, portsLow, portsHigh, false);
  if (fastIpv4UdpLength != 0) {
    storeSuccess(out, FAST_L3, FAST_IPV4_L4, FAST_IPV4_VXLAN, FAST_IPV4_INNER, FAST_IPV4_L4 + fastIpv4UdpLength - FAST_IPV4_INNER,
      fastIpv4Vni(frame), 4, fastIpv4SourcePort(frame));
    return OK;
  }
  const fastIpv6UdpLength = acceptFastIpv6(frame, len, options, expectedVni, portsLow, portsHigh);
  if (fastIpv6UdpLength != 0) {
    storeSuccess(out, FAST_L3, FAST_IPV6_L4, FAST_IPV6_VXLAN, FAST_IPV6_INNER, FAST_IPV6_L4 + fastIpv6UdpLength - FAST_IPV6_INNER,
      vniAt(frame + FAST_IPV6_VXLAN), 6, loadBe16(frame + FAST_IPV6_L4 + UDP_SOURCE_PORT));
    return OK;
  }
  const strict = (options & DECAP_STRICT) != 0;
  const verify = (options & DECAP_VERIFY_CHECKSUMS) != 0;

  // Ethernet and VLAN tags.
  if (len < ETH_HEADER_LEN) return fail(out, TRUNCATED, LAYER_ETHERNET, 0);
  let typeOffset = ETH_TYPE;
  let etherType = loadBe16(frame + typeOffset);
  let tags = 0;
  while (isVlanTpid(etherType)) {
    if (tags == MAX_VLAN_TAGS) return fail(out, TOO_MANY_VLAN_TAGS, LAYER_ETHERNET, typeOffset);
    typeOffset += VLAN_TAG_LEN;
    if (typeOffset + 2 > len) return fail(out, TRUNCATED, LAYER_ETHERNET, 0);
    etherType = loadBe16(frame + typeOffset);
    tags++;
  }
  const l3 = typeOffset + 2;
  const available = len - l3;

  // IP. `end` becomes the end of the IP packet; bytes after it are link-layer padding.
  let end: usize = 0;
  let l4: usize = 0;
  let pseudoSum: u32 = 0; // filled once the UDP length is known
  let ipVersion: i32 = 0;
  if (etherType == ETHERTYPE_IPV4) {
    ipVersion = 4;
    if (available < IPV4_MIN_HEADER_LEN) return fail(out, TRUNCATED, LAYER_IPV4, l3);
    const versionIhl = <u32>load<u8>(frame + l3 + IPV4_VERSION_IHL);
    if ((versionIhl >> 4) != 4) return fail(out, BAD_IP_VERSION, LAYER_IPV4, l3);
    const headerLen = <usize>(versionIhl & 0x0f) << 2;
    if (headerLen < IPV4_MIN_HEADER_LEN) return fail(out, BAD_IHL, LAYER_IPV4, l3);
    if (available < headerLen) return fail(out, TRUNCATED, LAYER_IPV4, l3);
    if (verify && !isIpv4HeaderChecksumValid(frame + l3, headerLen)) {
      return fail(out, BAD_IPV4_CHECKSUM, LAYER_IPV4, l3 + IPV4_CHECKSUM);
    }
    const totalLength = <usize>loadBe16(frame + l3 + IPV4_TOTAL_LENGTH);
    if (totalLength > available) return fail(out, TRUNCATED, LAYER_IPV4, l3);
    if (totalLength < headerLen || (strict && totalLength != available)) {
      return fail(out, LENGTH_MISMATCH, LAYER_IPV4, l3 + IPV4_TOTAL_LENGTH);
    }
    if ((loadBe16(frame + l3 + IPV4_FLAGS_FRAGMENT_OFFSET) & (IPV4_FLAG_MORE_FRAGMENTS | IPV4_FRAGMENT_OFFSET_MASK)) != 0) {
      return fail(out, FRAGMENTED, LAYER_IPV4, l3 + IPV4_FLAGS_FRAGMENT_OFFSET);
    }
    if (<u32>load<u8>(frame + l3 + IPV4_PROTOCOL) != IPPROTO_UDP) {
      return fail(out, NOT_UDP, LAYER_IPV4, l3 + IPV4_PROTOCOL);
    }
    end = l3 + totalLength;
    l4 = l3 + headerLen;
  } else if (etherType == ETHERTYPE_IPV6) {
    ipVersion = 6;
    if (available < IPV6_HEADER_LEN) return fail(out, TRUNCATED, LAYER_IPV6, l3);
    if ((<u32>load<u8>(frame + l3) >> 4) != 6) return fail(out, BAD_IP_VERSION, LAYER_IPV6, l3);
    const payloadLength = <usize>loadBe16(frame + l3 + IPV6_PAYLOAD_LENGTH);
    if (payloadLength > available - IPV6_HEADER_LEN) return fail(out, TRUNCATED, LAYER_IPV6, l3);
    if (strict && payloadLength != available - IPV6_HEADER_LEN) {
      return fail(out, LENGTH_MISMATCH, LAYER_IPV6, l3 + IPV6_PAYLOAD_LENGTH);
    }
    end = l3 + IPV6_HEADER_LEN + payloadLength;
    // Walk the extension headers to the upper layer.
    let nextHeaderOffset = l3 + IPV6_NEXT_HEADER;
    let nextHeader = <u32>load<u8>(frame + nextHeaderOffset);
    let at = l3 + IPV6_HEADER_LEN;
    let count = 0;
    while (
      nextHeader == IPPROTO_HOPOPTS || nextHeader == IPPROTO_ROUTING ||
      nextHeader == IPPROTO_FRAGMENT || nextHeader == IPPROTO_DSTOPTS
    ) {
      if (nextHeader == IPPROTO_FRAGMENT) return fail(out, FRAGMENTED, LAYER_IPV6, at);
      if (count == MAX_EXTENSION_HEADERS || end - at < EXT_MIN_LEN) {
        return fail(out, BAD_IPV6_EXTENSION, LAYER_IPV6, at);
      }
      const extensionLen = (<usize>load<u8>(frame + at + EXT_LENGTH) + 1) << 3;
      if (extensionLen > end - at) return fail(out, BAD_IPV6_EXTENSION, LAYER_IPV6, at);
      nextHeaderOffset = at + EXT_NEXT_HEADER;
      nextHeader = <u32>load<u8>(frame + nextHeaderOffset);
      at += extensionLen;
      count++;
    }
    if (nextHeader != IPPROTO_UDP) return fail(out, NOT_UDP, LAYER_IPV6, nextHeaderOffset);
    l4 = at;
  } else {
    return fail(out, NOT_IPV4_OR_IPV6, LAYER_ETHERNET, typeOffset);
  }

  // UDP.
  if (end - l4 < UDP_HEADER_LEN) return fail(out, TRUNCATED, LAYER_UDP, l4);
  const udpLength = <usize>loadBe16(frame + l4 + UDP_LENGTH);
  if (udpLength < UDP_HEADER_LEN || udpLength > end - l4 || (strict && udpLength != end - l4)) {
    return fail(out, LENGTH_MISMATCH, LAYER_UDP, l4 + UDP_LENGTH);
  }
  end = l4 + udpLength; // lax mode: bytes beyond the UDP length are not ours
  if (!isPortAccepted(loadBe16(frame + l4 + UDP_DESTINATION_PORT), portsLow, portsHigh)) {
    return fail(out, NOT_VXLAN_PORT, LAYER_UDP, l4 + UDP_DESTINATION_PORT);
  }
  const udpChecksum = loadBe16(frame + l4 + UDP_CHECKSUM);
  if (udpChecksum == 0) {
    // RFC 768: zero means "no checksum". RFC 8200 §8.1 forbids it over IPv6; RFC 6935 allows
    // tunnels to opt in, as Linux's udp6zerocsumrx does.
    if (ipVersion == 6 && (options & DECAP_ALLOW_ZERO_UDP_CHECKSUM_IPV6) == 0) {
      return fail(out, ZERO_UDP_CHECKSUM_IPV6, LAYER_UDP, l4 + UDP_CHECKSUM);
    }
  } else if (verify) {
    if (ipVersion == 4) {
      pseudoSum = ipv4PseudoHeaderSum(frame + l3 + IPV4_SOURCE, frame + l3 + IPV4_DESTINATION, IPPROTO_UDP, <u32>udpLength);
    } else {
      pseudoSum = ipv6PseudoHeaderSum(frame + l3 + IPV6_SOURCE, frame + l3 + IPV6_DESTINATION, IPPROTO_UDP, <u32>udpLength);
    }
    if (onesComplementSum(frame + l4, udpLength, pseudoSum) != 0xffff) {
      return fail(out, BAD_UDP_CHECKSUM, LAYER_UDP, l4 + UDP_CHECKSUM);
    }
  }

  // VXLAN.
  const vx = l4 + UDP_HEADER_LEN;
  if (end - vx < VXLAN_HEADER_LEN) return fail(out, TRUNCATED, LAYER_VXLAN, vx);
  const flags = <u32>load<u8>(frame + vx + VXLAN_FLAGS);
  if ((flags & VXLAN_FLAG_I) == 0) return fail(out, VXLAN_I_FLAG_MISSING, LAYER_VXLAN, vx + VXLAN_FLAGS);
  if (strict) {
    const gbp = (options & DECAP_GBP) != 0 && (flags & VXLAN_FLAG_G) != 0;
    const allowedFlags = VXLAN_FLAG_I | (gbp ? VXLAN_FLAG_G : 0);
    if ((flags & ~allowedFlags) != 0) return fail(out, VXLAN_RESERVED_BITS, LAYER_VXLAN, vx + VXLAN_FLAGS);
    const gbpFlags = <u32>load<u8>(frame + vx + VXLAN_GBP_FLAGS);
    if ((gbpFlags & ~(gbp ? VXLAN_GBP_DONT_LEARN | VXLAN_GBP_POLICY_APPLIED : 0)) != 0) {
      return fail(out, VXLAN_RESERVED_BITS, LAYER_VXLAN, vx + VXLAN_GBP_FLAGS);
    }
    if (!gbp && load<u16>(frame + vx + VXLAN_GBP_FLAGS + 1) != 0) {
      return fail(out, VXLAN_RESERVED_BITS, LAYER_VXLAN, vx + VXLAN_GBP_FLAGS + 1);
    }
    if (load<u8>(frame + vx + VXLAN_RESERVED) != 0) {
      return fail(out, VXLAN_RESERVED_BITS, LAYER_VXLAN, vx + VXLAN_RESERVED);
    }
  }
  const vni = (loadBe16(frame + vx + VXLAN_VNI) << 8) | <u32>load<u8>(frame + vx + VXLAN_VNI + 2);
  if ((options & DECAP_CHECK_VNI) != 0 && vni != expectedVni) {
    return fail(out, VNI_MISMATCH, LAYER_VXLAN, vx + VXLAN_VNI);
  }

  // The inner frame must at least hold an Ethernet header (vxlan_rcv pulls ETH_HLEN).
  const inner = vx + VXLAN_HEADER_LEN;
  if (end - inner < ETH_HEADER_LEN) return fail(out, TRUNCATED, LAYER_INNER, inner);

  storeSuccess(out, l3, l4, vx, inner, end - inner, vni, ipVersion, loadBe16(frame + l4 + UDP_SOURCE_PORT));
  return OK;
}
