/**
 * Real frames for the codec tests, and small helpers. Not a test suite itself.
 *
 * Where the bytes came from: two network namespaces joined by a veth pair on Linux 6.18, each
 * with kernel `vxlan` devices (`ip link add vx4 type vxlan id 5000 ... dstport 4789 gbp` over
 * 192.0.2.1 <-> 192.0.2.2, and `vx6 ... id 6000` over 2001:db8::1 <-> 2001:db8::2), checksum
 * offload off (`ethtool -K wfa tx off rx off`), captured with `tcpdump -i wfb -w` on the far side
 * and printed from the pcap. Traffic: `ping -m 4718792` (mark 0x4800c8 = GBP D|A, group 200)
 * across vx4, `ping` across vx6, `ping -R` (IPv4 Record Route option) and `ping -6 -s 2000`
 * (fragmented) on the underlay, and the MLDv2 report the kernel sent when an address was added.
 * tcpdump's own dissection of each is quoted next to it.
 */

import { DecodeError } from '../../src/errors';
import { fromHex } from '../helpers/bytes';

/** `bytes` placed at `offset` in a buffer whose other bytes are 0xa5. */
export function at(offset: number, bytes: Uint8Array, extra = 0): Uint8Array {
  const buf = new Uint8Array(offset + bytes.length + extra).fill(0xa5);
  buf.set(bytes, offset);
  return buf;
}

/**
 * "IP 192.0.2.1.60201 > 192.0.2.2.4789: VXLAN, flags [I] (0x88), vni 5000
 *  IP 10.4.0.1 > 10.4.0.2: ICMP echo request, id 4933, seq 1, length 64"
 * Outer: Ethernet 0..13, IPv4 14..33 (id 0x4589, ttl 64, checksum 0xb0da), UDP 34..41,
 * VXLAN-GBP 42..49 (`88 48 00 c8 00 13 88 00`: G|I, D|A, group 200, VNI 5000), inner from 50.
 */
export const VXLAN_GBP_IPV4_FRAME = fromHex(`
  02 00 00 00 00 0b 02 00 00 00 00 0a 08 00 45 00
  00 86 45 89 00 00 40 11 b0 da c0 00 02 01 c0 00
  02 02 eb 29 12 b5 00 72 58 00 88 48 00 c8 00 13
  88 00 02 00 00 00 04 02 02 00 00 00 04 01 08 00
  45 00 00 54 69 f5 40 00 40 01 bc a9 0a 04 00 01
  0a 04 00 02 08 00 b4 3d 13 45 00 01 48 70 08 6b
  00 00 00 00 17 ce 09 00 00 00 00 00 10 11 12 13
  14 15 16 17 18 19 1a 1b 1c 1d 1e 1f 20 21 22 23
  24 25 26 27 28 29 2a 2b 2c 2d 2e 2f 30 31 32 33
  34 35 36 37`);

/**
 * "IP6 2001:db8::1.35508 > 2001:db8::2.4789: [udp sum ok] VXLAN, flags [I] (0x08), vni 6000
 *  IP 10.6.0.1 > 10.6.0.2: ICMP echo request, id 4934, seq 1, length 64"
 * Outer: Ethernet 0..13, IPv6 14..53 (payload length 114, hop limit 64), UDP 54..61
 * (checksum 0x7611), VXLAN 62..69 (`08 00 00 00 00 17 70 00`), inner from 70.
 */
export const VXLAN_IPV6_FRAME = fromHex(`
  02 00 00 00 00 0b 02 00 00 00 00 0a 86 dd 60 00
  00 00 00 72 11 40 20 01 0d b8 00 00 00 00 00 00
  00 00 00 00 00 01 20 01 0d b8 00 00 00 00 00 00
  00 00 00 00 00 02 8a b4 12 b5 00 72 76 11 08 00
  00 00 00 17 70 00 02 00 00 00 06 02 02 00 00 00
  06 01 08 00 45 00 00 54 a3 6d 40 00 40 01 83 2d
  0a 06 00 01 0a 06 00 02 08 00 7b 2c 13 46 00 01
  48 70 08 6b 00 00 00 00 50 de 09 00 00 00 00 00
  10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f
  20 21 22 23 24 25 26 27 28 29 2a 2b 2c 2d 2e 2f
  30 31 32 33 34 35 36 37`);

/**
 * "(tos 0x0, ttl 64, id 33337, offset 0, flags [DF], proto ICMP (1), length 124,
 *   options (NOP,RR 192.0.2.1, 0.0.0.0 ...)) 192.0.2.1 > 192.0.2.2: ICMP echo request"
 * IPv4 at 14 with IHL 15: 40 bytes of options (NOP, then Record Route: type 7, length 39,
 * pointer 8, first slot 192.0.2.1), checksum 0x4033.
 */
export const IPV4_RECORD_ROUTE_FRAME = fromHex(`
  02 00 00 00 00 0b 02 00 00 00 00 0a 08 00 4f 00
  00 7c 82 39 40 00 40 01 40 33 c0 00 02 01 c0 00
  02 02 01 07 27 08 c0 00 02 01 00 00 00 00 00 00
  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
  00 00 00 00 00 00 00 00 00 00 08 00 51 1b 13 47
  00 01 48 70 08 6b 00 00 00 00 7a ee 09 00 00 00
  00 00 10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d
  1e 1f 20 21 22 23 24 25 26 27 28 29 2a 2b 2c 2d
  2e 2f 30 31 32 33 34 35 36 37`);

/**
 * "02:00:00:00:00:0a > 33:33:00:00:00:16, ethertype IPv6 (0x86dd), length 110: (hlim 1,
 *  next-header Options (0) payload length: 56) fe80::ff:fe00:a > ff02::16: HBH (rtalert: 0x0000)
 *  (padn) ICMP6, multicast listener report v2, 2 group record(s)"
 * IPv6 at 14, Hop-by-Hop header at 54 (8 bytes: next 58, length 0), ICMPv6 at 62.
 */
export const MLD_HOP_BY_HOP_FRAME = fromHex(`
  33 33 00 00 00 16 02 00 00 00 00 0a 86 dd 60 00
  00 00 00 38 00 01 fe 80 00 00 00 00 00 00 00 00
  00 ff fe 00 00 0a ff 02 00 00 00 00 00 00 00 00
  00 00 00 00 00 16 3a 00 05 02 00 00 01 00 8f 00
  6f da 00 00 00 02 04 00 00 00 ff 02 00 00 00 00
  00 00 00 00 00 01 ff 00 00 0a 04 00 00 00 ff 02
  00 00 00 00 00 00 00 00 00 01 ff 00 00 01`);

/**
 * The first 70 of 622 bytes of "(flowlabel 0xe8ba9, hlim 64, next-header Fragment (44) payload
 * length: 568) 2001:db8::1 > 2001:db8::2: frag (1448|560)", the second fragment of a 2000-byte
 * ping: IPv6 at 14, Fragment header at 54 (next 58, offset 1448, id 0x40ca0e7e), data from 62.
 */
export const IPV6_FRAGMENT_FRAME_HEAD = fromHex(`
  02 00 00 00 00 0b 02 00 00 00 00 0a 86 dd 60 0e
  8b a9 02 38 2c 40 20 01 0d b8 00 00 00 00 00 00
  00 00 00 00 00 01 20 01 0d b8 00 00 00 00 00 00
  00 00 00 00 00 02 3a 00 05 a8 40 ca 0e 7e a0 a1
  a2 a3 a4 a5 a6 a7`);

/**
 * VXLAN_GBP_IPV4_FRAME with VLAN tags inserted after the source MAC, by hand: this kernel has
 * no 802.1Q support to send them. Tags per IEEE 802.1Q: TPID then TCI = PCP(3) DEI(1) VID(12).
 */
export function withTags(frame: Uint8Array, tags: string): Uint8Array {
  return new Uint8Array([...frame.subarray(0, 12), ...fromHex(tags), ...frame.subarray(12)]);
}

/** Run `fn` and check it throws a DecodeError with exactly this code, layer and offset. */
export function expectDecodeError(fn: () => unknown, code: string, layer: string, offset: number, what = ''): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  if (!(caught instanceof DecodeError)) throw new Error(`${what}: expected DecodeError ${code}, got ${String(caught)}`);
  if (caught.code !== code || caught.layer !== layer || caught.offset !== offset) {
    throw new Error(`${what}: expected ${code}/${layer}@${offset}, got ${caught.code}/${caught.layer}@${caught.offset}`);
  }
}

/** Run `fn` and check it throws a RangeError whose message starts with `field`. */
export function expectRangeError(fn: () => unknown, field: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  if (!(caught instanceof RangeError)) throw new Error(`${field}: expected RangeError, got ${String(caught)}`);
  if (!caught.message.startsWith(field)) throw new Error(`expected a message naming ${field}, got "${caught.message}"`);
}
