// --tunnel-gso's pieces that need no root: TunnelGsoTap's refusals before anything is opened (a
// local address that cannot be the outer source, a host whose strict reverse-path filter would
// drop every super-packet or whose kernel cannot route IPv6 in on one device, read from conf
// directories the test makes); the outer headers written in front of a super-frame, over IPv4 and
// IPv6 (storeTunnelHeaders, checked field by field, its IPv6 UDP checksum finished as the kernel
// does, and read back by parseTunnelPacket); parseTunnelPacket, which checks what the tc redirect
// hands the TAP as the IP and UDP stack would (hand-built IPv4 and IPv6 packets, and fast-check's
// arbitrary bytes); IngressRedirect's tc and ip commands (a fake runner records them); the probe's
// answers for IPv6. The TAP at work, both ways, is tested in e2e/tunnel-gso.test.ts (IPv4) and
// e2e/tunnel-gso-ipv6.test.ts (root, namespaces, Linux 6.17+).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IngressRedirect, deviceWithAddress, redirectPreference, runCommand } from '../../../src/forwarder/underlay/ingress-redirect';
import {
  TUNNEL_BAD_CHECKSUM, TUNNEL_MALFORMED, TUNNEL_PACKET, TunnelGsoTap, parseTunnelPacket, storeFixedTunnelHeaders, storeTunnelHeaders,
  tunnelHeaderLength, type TunnelPacket,
} from '../../../src/forwarder/underlay/tunnel-gso';
import { probeTunnelGso } from '../../../src/forwarder/underlay/tunnel-gso-probe';
import { emptySuperFrame, type SuperFrame } from '../../../src/forwarder/contracts';
import { onesComplementSum } from '../../../src/reference/checksum';
import { temporaryDirs } from '../../helpers/temporary';

const { removeTemporaryDirs, temporaryDir } = temporaryDirs();

function confWithRpFilter(value: string): string {
  const conf = temporaryDir('vxlan-tunnel-gso-');
  mkdirSync(join(conf, 'all'));
  writeFileSync(join(conf, 'all', 'rp_filter'), `${value}\n`);
  return conf;
}

test.after(() => removeTemporaryDirs());

/** An IPv6 conf directory, with all/force_forwarding or without it (a kernel before 6.17). */
function ipv6Conf(forceForwarding: boolean): string {
  const conf = temporaryDir('vxlan-tunnel-gso6-');
  mkdirSync(join(conf, 'all'));
  writeFileSync(join(conf, 'all', 'forwarding'), '0\n');
  if (forceForwarding) writeFileSync(join(conf, 'all', 'force_forwarding'), '0\n');
  return conf;
}

test('the local address must be an address of this host, not any, nor IPv6 link-local: a RangeError naming it', () => {
  for (const localAddress of ['0.0.0.0', '::', 'fe80::1']) {
    assert.throws(() => TunnelGsoTap.open({ name: 'vxt.gso', localAddress, confPath: confWithRpFilter('0'), ipv6ConfPath: ipv6Conf(true) }),
      (error: Error) => error instanceof RangeError && error.message.includes(localAddress), localAddress);
  }
});

test('IPv6 on a kernel without force_forwarding (it could not route what the TAP hands it) is refused with the sentence, before a TAP is made', () => {
  assert.throws(() => TunnelGsoTap.open({ name: 'vxt.gso', localAddress: 'fd00::1', ipv6ConfPath: ipv6Conf(false) }),
    (error: Error) => /force_forwarding does not exist \(Linux 6\.17 or later has it\)/.test(error.message));
});

test('strict reverse-path filtering (all/rp_filter = 1) is refused with the sentence that says what to change', () => {
  const conf = confWithRpFilter('1');
  assert.throws(() => TunnelGsoTap.open({ name: 'vxt.gso', localAddress: '192.0.2.1', confPath: conf }),
    (error: Error) => /rp_filter is 1 \(strict/.test(error.message) && /set it to 2 \(loose\) or 0/.test(error.message));
});

const LOCAL = [192, 0, 2, 1];
const LOCAL_BYTES = Uint8Array.from(LOCAL);
const PEER = [192, 0, 2, 2];
const PORT = 4789;
const VNET = 24;
/** Where the inner frame starts, counted from the outer Ethernet header. */
const INNER = 14 + 20 + 8 + 8;

function checksum16(bytes: Uint8Array, at: number, length: number, seed = 0): number {
  return ~onesComplementSum(bytes, at, length, seed) & 0xffff;
}

/**
 * What the tunnel TAP reads: a 24-byte tunnel virtio-net header, then Ethernet, IPv4 (checksum
 * right), UDP from PEER:40000 to LOCAL:PORT, VXLAN (VNI 42) and an inner frame of `innerLength`.
 */
function tunnelPacket(innerLength = 60, edit: (bytes: Uint8Array, ip: number, udp: number) => void = () => {}): Uint8Array {
  const bytes = new Uint8Array(VNET + INNER + innerLength);
  const e = VNET;
  bytes.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00], e);
  const ip = e + 14;
  const ipLength = 20 + 8 + 8 + innerLength;
  bytes.set([0x45, 0, ipLength >> 8, ipLength & 0xff, 0, 1, 0x40, 0, 64, 17, 0, 0, ...PEER, ...LOCAL], ip);
  const udp = ip + 20;
  const udpLength = ipLength - 20;
  bytes.set([40000 >> 8, 40000 & 0xff, PORT >> 8, PORT & 0xff, udpLength >> 8, udpLength & 0xff, 0, 0], udp);
  bytes.set([0x08, 0, 0, 0, 0, 0, 42, 0], udp + 8);
  for (let i = 0; i < innerLength; i++) bytes[udp + 16 + i] = (i * 7) & 0xff;
  edit(bytes, ip, udp);
  const sum = checksum16(bytes, ip, 20);
  bytes[ip + 10] = sum >> 8;
  bytes[ip + 11] = sum & 0xff;
  return bytes;
}

function emptyPacket(): TunnelPacket {
  return { vxlanAt: 0, payloadLength: 0, sourceAt: 0, sourcePort: 0, gsoType: 0, gsoSize: 0, csumStart: -1, csumOffset: 0, udpSeed: -1, burstSegment: 0 };
}

function parsed(bytes: Uint8Array): { verdict: number; packet: TunnelPacket } {
  const packet = emptyPacket();
  return { verdict: parseTunnelPacket(bytes, 0, bytes.length, LOCAL_BYTES, PORT, packet), packet };
}

test('parseTunnelPacket: a plain VXLAN packet: its payload, source and port found, nothing to verify or complete', () => {
  const { verdict, packet } = parsed(tunnelPacket(60));
  assert.is(verdict, TUNNEL_PACKET);
  assert.is(packet.vxlanAt, VNET + 14 + 20 + 8);
  assert.is(packet.payloadLength, 8 + 60);
  assert.is(packet.sourceAt, VNET + 14 + 12);
  assert.is(packet.sourcePort, 40000);
  assert.is(packet.gsoType, 0);
  assert.is(packet.csumStart, -1, 'no partial checksum');
  assert.is(packet.udpSeed, -1, 'a zero UDP checksum is none');
});

test('parseTunnelPacket: a non-zero outer UDP checksum is verified from the seed (good and bad), unless the virtio header says it is checked or partial', () => {
  const bytes = tunnelPacket(61, (b, ip, udp) => {
    const udpLength = (b[udp + 4] << 8) | b[udp + 5];
    const pseudo = new Uint8Array([...PEER, ...LOCAL, 0, 17, udpLength >> 8, udpLength & 0xff]);
    const sum = checksum16(b, udp, udpLength, onesComplementSum(pseudo, 0, 12, 0));
    b[udp + 6] = sum >> 8;
    b[udp + 7] = sum & 0xff;
  });
  const { verdict, packet } = parsed(bytes);
  assert.is(verdict, TUNNEL_PACKET);
  assert.ok(packet.udpSeed >= 0, 'a seed to verify with');
  assert.is(onesComplementSum(bytes, packet.vxlanAt, packet.payloadLength, packet.udpSeed), 0xffff, 'a good checksum sums to 0xffff');
  bytes[packet.vxlanAt + 20] ^= 0x40;
  assert.is.not(onesComplementSum(bytes, packet.vxlanAt, packet.payloadLength, packet.udpSeed), 0xffff, 'a flipped bit does not');
  for (const flags of [1, 2]) {
    bytes[0] = flags;
    assert.is(parsed(bytes).packet.udpSeed, -1, `flags ${flags}: nothing to verify`);
  }
});

test('parseTunnelPacket: a partial inner checksum (NEEDS_CSUM past the inner Ethernet header) is given relative to the inner frame; on the outer UDP header it is none', () => {
  const bytes = tunnelPacket(80);
  bytes[0] = 1;
  bytes[6] = (INNER + 34) & 0xff;
  bytes[8] = 16;
  assert.is(parsed(bytes).packet.csumStart, 34);
  assert.is(parsed(bytes).packet.csumOffset, 16);
  bytes[6] = 34; // the outer UDP checksum (LCO): nothing of ours to complete
  assert.is(parsed(bytes).packet.csumStart, -1);
});

test('parseTunnelPacket: a super-packet (UDP-tunnel GSO over IPv4, TCP inside) gives its inner GSO type, segment size and checksum start', () => {
  const bytes = tunnelPacket(3000);
  bytes.set([9, 0x21, 116, 0, 0x76, 0x05, INNER + 34, 0, 16, 0], 0); // flags, TCPV4 | tunnel, hdr_len, gso_size 1398, csum
  const { verdict, packet } = parsed(bytes);
  assert.is(verdict, TUNNEL_PACKET);
  assert.equal([packet.gsoType, packet.gsoSize, packet.csumStart, packet.csumOffset], [1, 1398, 34, 16]);
  bytes[1] = 0xa4; // TCPV6 | tunnel | ECN
  assert.is(parsed(bytes).packet.gsoType, 0x84);
  for (const [type, why] of [[0x41, 'an IPv6 outer header'], [0x25, 'UDP inside'], [0x01, 'no tunnel bit']] as const) {
    bytes[1] = type;
    assert.is(parsed(bytes).verdict, TUNNEL_MALFORMED, why);
  }
  bytes[1] = 0x21;
  bytes[4] = 0;
  bytes[5] = 0;
  assert.is(parsed(bytes).verdict, TUNNEL_MALFORMED, 'no segment size');
});

test('parseTunnelPacket: a burst (USO: datagrams merged by GRO or sent with UDP GSO) gives its datagram size; refused when nobody checked its checksums or the size cannot hold a VXLAN frame', () => {
  // Three datagrams of 8 + 100 bytes in one packet: the UDP and IP lengths cover all of them.
  const bytes = tunnelPacket(3 * 108 - 8, (b, _ip, udp) => { b[udp + 6] = 0x12; b[udp + 7] = 0x34; });
  bytes.set([2, 5, 0, 0, 108, 0], 0); // DATA_VALID, GSO_UDP_L4, gso_size 108
  const { verdict, packet } = parsed(bytes);
  assert.is(verdict, TUNNEL_PACKET);
  assert.equal([packet.burstSegment, packet.payloadLength, packet.gsoType, packet.csumStart, packet.udpSeed], [108, 324, 0, -1, -1]);
  bytes[0] = 1; // NEEDS_CSUM: a sender on this host; the partial checksum is the outer UDP one
  bytes[6] = 14 + 20;
  assert.equal([parsed(bytes).verdict, parsed(bytes).packet.burstSegment, parsed(bytes).packet.csumStart], [TUNNEL_PACKET, 108, -1]);
  bytes[0] = 0;
  assert.is(parsed(bytes).verdict, TUNNEL_MALFORMED, 'a checksum nobody checked, and no datagram of its own to check it on');
  bytes[0] = 2;
  bytes[4] = 21;
  assert.is(parsed(bytes).verdict, TUNNEL_MALFORMED, 'a datagram size below a VXLAN header and an Ethernet header');
  const plain = parsed(tunnelPacket(60)).packet;
  assert.is(plain.burstSegment, 0, 'a plain packet is one datagram');
});

test('parseTunnelPacket: what the IP and UDP stack would refuse is refused: bad header checksum, options, fragments, another address or port, short or long lengths', () => {
  const corrupt = tunnelPacket(60);
  corrupt[VNET + 14 + 8] ^= 1; // the TTL, after the checksum was made
  assert.is(parsed(corrupt).verdict, TUNNEL_BAD_CHECKSUM);
  const cases: [string, (b: Uint8Array, ip: number, udp: number) => void][] = [
    ['IP options', (b, ip) => { b[ip] = 0x46; }],
    ['a later fragment', (b, ip) => { b[ip + 7] = 1; }],
    ['more fragments', (b, ip) => { b[ip + 6] = 0x20; }],
    ['not UDP', (b, ip) => { b[ip + 9] = 6; }],
    ['another destination', (b, ip) => { b[ip + 19] = 9; }],
    ['another port', (b, _ip, udp) => { b[udp + 3] ^= 1; }],
    ['an IP length past the frame', (b, ip) => { b[ip + 2] = 0xff; }],
    ['a UDP length that is not the IP payload', (b, _ip, udp) => { b[udp + 5] -= 1; }],
    ['not IPv4', (b) => { b[VNET + 12] = 0x86; }],
  ];
  for (const [why, edit] of cases) assert.is(parsed(tunnelPacket(60, edit)).verdict, TUNNEL_MALFORMED, why);
  const short = tunnelPacket(60);
  const packet = emptyPacket();
  assert.is(parseTunnelPacket(short, 0, VNET + INNER + 10, LOCAL_BYTES, PORT, packet), TUNNEL_MALFORMED, 'shorter than its headers and an inner Ethernet header');
});

/**
 * fast-check: `template` with up to 12 bytes changed, read to any length, through parseTunnelPacket
 * for a TAP of `local`: it never throws, gives a known verdict, and what it accepts lies inside
 * what was read.
 */
function parseArbitraryBytes(template: Uint8Array, local: Uint8Array): void {
  fc.assert(fc.property(
    fc.array(fc.tuple(fc.nat(template.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 12 }),
    fc.integer({ min: 0, max: template.length }),
    (edits, length) => {
      const bytes = template.slice();
      for (const [at, value] of edits) bytes[at] = value;
      const packet = emptyPacket();
      const verdict = parseTunnelPacket(bytes, 0, length, local, PORT, packet);
      assert.ok([TUNNEL_PACKET, TUNNEL_MALFORMED, TUNNEL_BAD_CHECKSUM].includes(verdict));
      if (verdict === TUNNEL_PACKET) {
        assert.ok(packet.vxlanAt + packet.payloadLength <= length, 'the payload is inside what was read');
        assert.ok(packet.payloadLength >= 8 + 14, 'a VXLAN header and an inner Ethernet header at least');
      }
    },
  ), { numRuns: 2000 });
}

test('parseTunnelPacket on arbitrary bytes (fast-check): never throws, a known verdict, and what it accepts lies inside the packet', () => {
  parseArbitraryBytes(tunnelPacket(200), LOCAL_BYTES);
});

const LOCAL6 = Uint8Array.from([0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
const PEER6 = Uint8Array.from([0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
/** Where the inner frame starts over IPv6, counted from the outer Ethernet header. */
const INNER6 = 14 + 40 + 8 + 8;

/** The one's-complement sum of the IPv6 pseudo-header (RFC 8200 §8.1) of a UDP datagram of `udpLength` from `source` to `destination`. */
function pseudo6(source: Uint8Array, destination: Uint8Array, udpLength: number): number {
  const bytes = new Uint8Array([...source, ...destination, 0, 0, udpLength >> 8, udpLength & 0xff, 0, 0, 0, 17]);
  return onesComplementSum(bytes, 0, bytes.length, 0);
}

/**
 * What the tunnel TAP reads over IPv6: the 24-byte tunnel virtio-net header, then Ethernet, IPv6
 * (next header UDP, no extension header), UDP from PEER6:40000 to LOCAL6:PORT with its checksum
 * right, VXLAN (VNI 42) and an inner frame of `innerLength`; `edit` runs after the checksum is made.
 */
function tunnelPacket6(innerLength = 60, edit: (bytes: Uint8Array, ip: number, udp: number) => void = () => {}): Uint8Array {
  const bytes = new Uint8Array(VNET + INNER6 + innerLength);
  const e = VNET;
  bytes.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x86, 0xdd], e);
  const ip = e + 14;
  const udpLength = 8 + 8 + innerLength;
  bytes.set([0x60, 0x01, 0x23, 0x45, udpLength >> 8, udpLength & 0xff, 17, 64, ...PEER6, ...LOCAL6], ip);
  const udp = ip + 40;
  bytes.set([40000 >> 8, 40000 & 0xff, PORT >> 8, PORT & 0xff, udpLength >> 8, udpLength & 0xff, 0, 0], udp);
  bytes.set([0x08, 0, 0, 0, 0, 0, 42, 0], udp + 8);
  for (let i = 0; i < innerLength; i++) bytes[udp + 16 + i] = (i * 11) & 0xff;
  const sum = checksum16(bytes, udp, udpLength, pseudo6(PEER6, LOCAL6, udpLength));
  bytes[udp + 6] = sum >> 8;
  bytes[udp + 7] = sum & 0xff;
  edit(bytes, ip, udp);
  return bytes;
}

function parsed6(bytes: Uint8Array, length = bytes.length): { verdict: number; packet: TunnelPacket } {
  const packet = emptyPacket();
  return { verdict: parseTunnelPacket(bytes, 0, length, LOCAL6, PORT, packet), packet };
}

test('parseTunnelPacket over IPv6: a plain packet: payload, 16-byte source and port found; its UDP checksum verified from the seed (good and bad) unless the virtio header says checked or partial; 0 refused', () => {
  const bytes = tunnelPacket6(61);
  const { verdict, packet } = parsed6(bytes);
  assert.is(verdict, TUNNEL_PACKET);
  assert.is(packet.vxlanAt, VNET + 14 + 40 + 8);
  assert.is(packet.payloadLength, 8 + 61);
  assert.is(packet.sourceAt, VNET + 14 + 8);
  assert.equal([...bytes.subarray(packet.sourceAt, packet.sourceAt + 16)], [...PEER6]);
  assert.equal([packet.sourcePort, packet.gsoType, packet.burstSegment, packet.csumStart], [40000, 0, 0, -1]);
  assert.ok(packet.udpSeed >= 0, 'a seed to verify with');
  assert.is(onesComplementSum(bytes, packet.vxlanAt, packet.payloadLength, packet.udpSeed), 0xffff, 'a good checksum sums to 0xffff');
  bytes[packet.vxlanAt + 30] ^= 0x04;
  assert.is.not(onesComplementSum(bytes, packet.vxlanAt, packet.payloadLength, packet.udpSeed), 0xffff, 'a flipped bit does not');
  for (const flags of [1, 2]) {
    bytes[0] = flags;
    assert.is(parsed6(bytes).packet.udpSeed, -1, `flags ${flags}: nothing to verify`);
  }
  const zero = tunnelPacket6(60, (b, _ip, udp) => { b[udp + 6] = 0; b[udp + 7] = 0; });
  assert.is(parsed6(zero).verdict, TUNNEL_BAD_CHECKSUM, 'no UDP checksum over IPv6 (RFC 8200 §8.1)');
});

test('parseTunnelPacket over IPv6: a partial inner checksum is given relative to the inner frame (70 bytes of outer headers)', () => {
  const bytes = tunnelPacket6(80);
  bytes[0] = 1;
  bytes[6] = INNER6 + 34;
  bytes[8] = 16;
  assert.equal([parsed6(bytes).packet.csumStart, parsed6(bytes).packet.csumOffset], [34, 16]);
  bytes[6] = 14 + 40; // the outer UDP checksum: nothing of ours to complete
  assert.is(parsed6(bytes).packet.csumStart, -1);
});

test('parseTunnelPacket over IPv6: a super-packet needs the IPv6 tunnel bit (TCP inside); a burst (USO) gives its datagram size', () => {
  const bytes = tunnelPacket6(3000);
  bytes.set([9, 0x44, 136, 0, 0x62, 0x05, INNER6 + 54, 0, 16, 0], 0); // NEEDS_CSUM | UDP_TUNNEL_CSUM, TCPV6 | tunnel IPv6, gso_size 1378
  const { verdict, packet } = parsed6(bytes);
  assert.is(verdict, TUNNEL_PACKET);
  assert.equal([packet.gsoType, packet.gsoSize, packet.csumStart, packet.csumOffset, packet.payloadLength], [4, 1378, 54, 16, 8 + 3000]);
  for (const [type, why] of [[0x24, 'the IPv4 tunnel bit on an IPv6 packet'], [0x64, 'both tunnel bits'], [0x45, 'UDP inside']] as const) {
    bytes[1] = type;
    assert.is(parsed6(bytes).verdict, TUNNEL_MALFORMED, why);
  }
  const burst = tunnelPacket6(3 * 108 - 8);
  burst.set([2, 5, 0, 0, 108, 0], 0); // DATA_VALID, GSO_UDP_L4, gso_size 108
  assert.equal([parsed6(burst).verdict, parsed6(burst).packet.burstSegment, parsed6(burst).packet.payloadLength], [TUNNEL_PACKET, 108, 324]);
});

test('parseTunnelPacket over IPv6 refuses what the IPv6 and UDP stack (or the filter) would not hand a socket as is: extension headers, another version, address or port, lengths that do not fit; an IPv4 packet on an IPv6 TAP', () => {
  const cases: [string, (b: Uint8Array, ip: number, udp: number) => void][] = [
    ['a hop-by-hop extension header', (b, ip) => { b[ip + 6] = 0; }],
    ['a fragment header', (b, ip) => { b[ip + 6] = 44; }],
    ['not UDP', (b, ip) => { b[ip + 6] = 6; }],
    ['version 4 in an IPv6 Ethernet type', (b, ip) => { b[ip] = 0x40; }],
    ['another destination', (b, ip) => { b[ip + 39] = 9; }],
    ['another destination, first byte', (b, ip) => { b[ip + 24] = 0xfc; }],
    ['another port', (b, _ip, udp) => { b[udp + 3] ^= 1; }],
    ['a payload length past the frame', (b, ip) => { b[ip + 4] = 0xff; }],
    ['a payload length below a VXLAN frame', (b, ip) => { b[ip + 4] = 0; b[ip + 5] = 20; }],
    ['a UDP length that is not the payload length', (b, _ip, udp) => { b[udp + 5] -= 1; }],
    ['not IPv6', (b) => { b[VNET + 12] = 0x08; b[VNET + 13] = 0x00; }],
  ];
  for (const [why, edit] of cases) assert.is(parsed6(tunnelPacket6(60, edit)).verdict, TUNNEL_MALFORMED, why);
  assert.is(parsed6(tunnelPacket6(60), VNET + INNER6 + 10).verdict, TUNNEL_MALFORMED, 'shorter than its headers and an inner Ethernet header');
  const v4 = tunnelPacket(60);
  assert.is(parseTunnelPacket(v4, 0, v4.length, LOCAL6, PORT, emptyPacket()), TUNNEL_MALFORMED, 'IPv4 on an IPv6 TAP');
  const v6 = tunnelPacket6(60);
  assert.is(parseTunnelPacket(v6, 0, v6.length, LOCAL_BYTES, PORT, emptyPacket()), TUNNEL_MALFORMED, 'IPv6 on an IPv4 TAP');
});

test('parseTunnelPacket over IPv6 on arbitrary bytes (fast-check): never throws, a known verdict, and what it accepts lies inside the packet', () => {
  parseArbitraryBytes(tunnelPacket6(200), LOCAL6);
});

const TAP_MAC = Uint8Array.from([2, 0, 0, 0, 0, 9]);

/**
 * A TCP super-frame as the overlay TAP hands it (at offset 5 of its buffer): Ethernet, IPv4 or
 * IPv6, TCP from `sourcePort` to 5201, then `payloadLength` bytes; its virtio-net fields filled.
 */
function superFrame(inner: 4 | 6, payloadLength: number, sourcePort = 40001): SuperFrame {
  const ipLength = inner === 4 ? 20 : 40;
  const csumStart = 14 + ipLength;
  const length = csumStart + 20 + payloadLength;
  const bytes = new Uint8Array(5 + length);
  const e = 5;
  bytes.set([2, 0, 0, 0, 0, 0xa, 2, 0, 0, 0, 0, 0xb, ...(inner === 4 ? [0x08, 0x00] : [0x86, 0xdd])], e);
  const ip = e + 14;
  if (inner === 4) bytes.set([0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 42, 0, 1, 10, 42, 0, 2], ip);
  else bytes.set([0x60, 0, 0, 0, 0, 0, 6, 64, 0xfd, 0x42, ...new Array(13).fill(0), 1, 0xfd, 0x42, ...new Array(13).fill(0), 2], ip);
  bytes.set([sourcePort >> 8, sourcePort & 0xff, 5201 >> 8, 5201 & 0xff], e + csumStart);
  bytes[e + csumStart + 12] = 0x50;
  for (let i = 0; i < payloadLength; i++) bytes[e + csumStart + 20 + i] = (i * 13) & 0xff;
  return {
    ...emptySuperFrame(), bytes, start: e, length, gsoType: inner === 4 ? 1 : 4, gsoSize: 1378, csumStart, csumOffset: 16, headerLength: csumStart + 20,
  };
}

/** The headers storeFixedTunnelHeaders and storeTunnelHeaders write for `frame` from `local` to `peer`, then the frame: the packet as the kernel takes it. */
function sent(local: Uint8Array, peer: Uint8Array, frame: SuperFrame, ipId = 7): { header: Uint8Array; packet: Uint8Array } {
  const family = local.length === 16 ? 6 : 4;
  const header = new Uint8Array(tunnelHeaderLength(family)).fill(0xa5);
  storeFixedTunnelHeaders(header, TAP_MAC, local);
  storeTunnelHeaders(header, family, frame, 42, peer, PORT, ipId);
  const packet = new Uint8Array(header.length + frame.length);
  packet.set(header);
  packet.set(frame.bytes.subarray(frame.start, frame.start + frame.length), header.length);
  return { header, packet };
}

const le16 = (bytes: Uint8Array, at: number): number => bytes[at] | (bytes[at + 1] << 8);

test('storeTunnelHeaders over IPv6: the tunnel virtio-net header (UDP tunnel IPv6, UDP_TUNNEL_CSUM), IPv6 (flow label from the inner flow, payload length, next header UDP, hop limit 64, the addresses), UDP, VXLAN', () => {
  const frame = superFrame(6, 3001);
  const { header: h } = sent(LOCAL6, PEER6, frame);
  assert.is(h.length, 24 + 14 + 40 + 8 + 8);
  assert.equal([h[0], h[1]], [1 | 8, 0x40 | 4], 'NEEDS_CSUM | UDP_TUNNEL_CSUM; TCPV6 | UDP tunnel over IPv6');
  assert.equal([le16(h, 2), le16(h, 4), le16(h, 6), le16(h, 8)], [70 + frame.headerLength, 1378, 70 + frame.csumStart, 16], 'hdr_len, gso_size, csum_start, csum_offset from the outer Ethernet header');
  assert.equal([le16(h, 20), le16(h, 22)], [14 + 40, 70 + 14], 'outer_th_offset: the outer UDP header; inner_nh_offset: the inner IP header');
  assert.equal([...h.subarray(24, 30)], [...TAP_MAC], 'to the TAP itself');
  assert.equal([h[24 + 12], h[24 + 13]], [0x86, 0xdd]);
  const ip = 24 + 14;
  const udpLength = 16 + frame.length;
  assert.is(h[ip] >> 4, 6);
  const label = ((h[ip + 1] & 0x0f) << 16) | (h[ip + 2] << 8) | h[ip + 3];
  assert.ok(label !== 0, 'a flow label');
  assert.is(h[ip] & 0x0f, 0, 'traffic class 0');
  assert.equal([(h[ip + 4] << 8) | h[ip + 5], h[ip + 6], h[ip + 7]], [udpLength, 17, 64], 'payload length, next header UDP, hop limit');
  assert.equal([...h.subarray(ip + 8, ip + 24)], [...LOCAL6]);
  assert.equal([...h.subarray(ip + 24, ip + 40)], [...PEER6]);
  const udp = ip + 40;
  assert.equal([(h[udp + 2] << 8) | h[udp + 3], (h[udp + 4] << 8) | h[udp + 5]], [PORT, udpLength]);
  const sourcePort = (h[udp] << 8) | h[udp + 1];
  assert.ok(sourcePort >= 49152, 'a source port in the dynamic range');
  assert.equal([...h.subarray(udp + 8, udp + 16)], [0x08, 0, 0, 0, 0, 0, 42, 0], 'VXLAN: I flag, VNI 42, reserved bytes zeroed over the 0xa5 fill');
  // The same flow keeps its label; another flow (source port) gets another one.
  assert.is(((sent(LOCAL6, PEER6, superFrame(6, 500)).header[ip + 1] & 0x0f) << 16 | sent(LOCAL6, PEER6, superFrame(6, 500)).header[ip + 2] << 8 | sent(LOCAL6, PEER6, superFrame(6, 500)).header[ip + 3]), label, 'one flow, one label');
  const other = sent(LOCAL6, PEER6, superFrame(6, 3001, 40002)).header;
  assert.is.not(((other[ip + 1] & 0x0f) << 16) | (other[ip + 2] << 8) | other[ip + 3], label, 'another flow, another label');
});

test('storeTunnelHeaders over IPv6: the UDP checksum field is the pseudo-header sum, so finishing it as the kernel does (sum from the UDP header on, complemented) gives a checksum that verifies', () => {
  for (const payloadLength of [3001, 3000, 1]) {
    const frame = superFrame(6, payloadLength);
    const { packet } = sent(LOCAL6, PEER6, frame);
    const udp = 24 + 14 + 40;
    const udpLength = packet.length - udp;
    const datagram = packet.slice(udp);
    // CHECKSUM_PARTIAL: the field holds the pseudo-header sum; the sum from csum_start on, complemented, is the checksum.
    const finished = ~onesComplementSum(datagram, 0, udpLength, 0) & 0xffff;
    datagram[6] = finished >> 8;
    datagram[7] = finished & 0xff;
    assert.is(onesComplementSum(datagram, 0, udpLength, pseudo6(LOCAL6, PEER6, udpLength)), 0xffff, `a ${payloadLength}-byte payload: the finished checksum verifies`);
    datagram[20] ^= 1;
    assert.is.not(onesComplementSum(datagram, 0, udpLength, pseudo6(LOCAL6, PEER6, udpLength)), 0xffff, 'and a flipped bit does not');
  }
});

test('storeTunnelHeaders over IPv4: as before: UDP tunnel IPv4, no UDP checksum, a good IPv4 header checksum, DF, TTL 64, the id given', () => {
  const frame = superFrame(4, 2000);
  const { header: h } = sent(LOCAL_BYTES, Uint8Array.from(PEER), frame, 0x1234);
  assert.is(h.length, 24 + 14 + 20 + 8 + 8);
  assert.equal([h[0], h[1]], [1, 0x20 | 1], 'NEEDS_CSUM; TCPV4 | UDP tunnel over IPv4');
  assert.equal([le16(h, 6), le16(h, 20), le16(h, 22)], [50 + frame.csumStart, 14 + 20, 50 + 14]);
  const ip = 24 + 14;
  assert.equal([h[ip], (h[ip + 2] << 8) | h[ip + 3], (h[ip + 4] << 8) | h[ip + 5], h[ip + 6], h[ip + 8], h[ip + 9]], [0x45, 20 + 16 + frame.length, 0x1234, 0x40, 64, 17]);
  assert.is(onesComplementSum(h, ip, 20, 0), 0xffff, 'the IPv4 header checksum verifies');
  assert.equal([...h.subarray(ip + 12, ip + 20)], [...LOCAL, ...PEER]);
  assert.equal([h[ip + 26], h[ip + 27]], [0, 0], 'no UDP checksum over IPv4');
});

test('what storeTunnelHeaders writes, parseTunnelPacket at the peer reads back (both families): the inner GSO type, segment size, checksum offsets, payload and source', () => {
  for (const [local, peer, inner] of [[LOCAL6, PEER6, 6], [LOCAL6, PEER6, 4], [LOCAL_BYTES, Uint8Array.from(PEER), 4], [LOCAL_BYTES, Uint8Array.from(PEER), 6]] as const) {
    const frame = superFrame(inner, 2500);
    const { packet: bytes } = sent(local, peer, frame);
    const packet = emptyPacket();
    const what = `IPv${local.length === 16 ? 6 : 4} outer, IPv${inner} inner`;
    assert.is(parseTunnelPacket(bytes, 0, bytes.length, peer, PORT, packet), TUNNEL_PACKET, what);
    assert.equal([packet.gsoType, packet.gsoSize, packet.csumStart, packet.csumOffset, packet.payloadLength], [frame.gsoType, 1378, frame.csumStart, 16, 8 + frame.length], what);
    assert.equal([...bytes.subarray(packet.sourceAt, packet.sourceAt + local.length)], [...local], what);
    assert.equal([...bytes.subarray(packet.vxlanAt + 8, packet.vxlanAt + 8 + frame.length)], [...frame.bytes.subarray(frame.start, frame.start + frame.length)], `${what}: the inner frame`);
    assert.is(parseTunnelPacket(bytes, 0, bytes.length, local, PORT, emptyPacket()), TUNNEL_MALFORMED, `${what}: not for the sender itself`);
  }
});

/** A runner that records the commands and answers `ip -j -4 address show` (and fails where told). */
function fakeRunner(fail: (args: string[]) => string | undefined = () => undefined): { commands: string[]; run: (command: string, args: string[]) => string } {
  const commands: string[] = [];
  const addresses = JSON.stringify([
    { ifname: 'lo', addr_info: [{ local: '127.0.0.1' }, { local: '::1' }] },
    { ifname: 'eth0', addr_info: [{ local: '192.0.2.1' }, { local: 'fd77::1' }] },
  ]);
  return {
    commands,
    run: (command, args) => {
      commands.push(`${command} ${args.join(' ')}`);
      const failure = fail(args);
      if (failure !== undefined) throw new Error(failure);
      return command === 'ip' ? addresses : '';
    },
  };
}

test('IngressRedirect: a clsact qdisc and a u32 filter on the device with the address, redirecting UDP to the address and port to the tunnel TAP; removed at the end', () => {
  const { commands, run } = fakeRunner();
  const redirect = IngressRedirect.install({ localAddress: '192.0.2.1', port: PORT, tap: 'vx0.gso', run });
  const pref = String(redirectPreference('192.0.2.1', PORT));
  assert.is(redirect.device, 'eth0');
  assert.ok(commands.includes('tc qdisc add dev eth0 clsact'), commands.join('\n'));
  assert.ok(commands.includes(`tc filter del dev eth0 ingress pref ${pref}`), 'a filter left behind at that preference goes first');
  const filter = commands.find((command) => command.startsWith('tc filter add'));
  assert.ok(filter?.includes(`pref ${pref} u32`) && filter.includes('match ip dst 192.0.2.1/32') && filter.includes(`match ip dport ${PORT} 0xffff`), filter);
  assert.ok(filter?.endsWith('action mirred egress redirect dev vx0.gso'), filter);
  commands.length = 0;
  redirect.remove();
  redirect.remove();
  assert.equal(commands.filter((command) => command.includes(' del ')), [`tc filter del dev eth0 ingress pref ${pref}`, 'tc qdisc del dev eth0 clsact'], 'the filter, then the qdisc it made (nothing else filters there)');
});

test('IngressRedirect: a clsact already there is used and kept; no device with the address, or lo, is refused with a sentence', () => {
  const { commands, run } = fakeRunner((args) => (args[0] === 'qdisc' && args[1] === 'add' ? 'Error: Exclusivity flag on, cannot modify.' : undefined));
  IngressRedirect.install({ localAddress: '192.0.2.1', port: PORT, tap: 'vx0.gso', run }).remove();
  assert.not.ok(commands.some((command) => command.startsWith('tc qdisc del')), 'a qdisc it did not make stays');
  assert.throws(() => IngressRedirect.install({ localAddress: '192.0.2.9', port: PORT, tap: 'vx0.gso', run }), /no device has the local address 192\.0\.2\.9/);
  assert.throws(() => IngressRedirect.install({ localAddress: '127.0.0.1', port: PORT, tap: 'vx0.gso', run }), /is on lo/);
  const broken = fakeRunner((args) => (args[1] === 'add' && args[0] === 'filter' ? 'Error: Specified qdisc kind is unknown.' : undefined));
  assert.throws(() => IngressRedirect.install({ localAddress: '192.0.2.1', port: PORT, tap: 'vx0.gso', run: broken.run }), /Specified qdisc kind is unknown/);
});

test('IngressRedirect over IPv6: the device from `ip -j -6`, a u32 filter for protocol ipv6 matching next header UDP at 6, the address, the port at 42 (no extension headers); removed at the end', () => {
  const { commands, run } = fakeRunner();
  const redirect = IngressRedirect.install({ localAddress: 'fd77::1', port: PORT, tap: 'vx0.gso', run });
  assert.is(redirect.device, 'eth0');
  assert.ok(commands.includes('ip -j -6 address show'), commands.join('\n'));
  const pref = String(redirectPreference('fd77::1', PORT));
  const filter = commands.find((command) => command.startsWith('tc filter add'));
  assert.is(filter, `tc filter add dev eth0 ingress protocol ipv6 pref ${pref} u32 match u8 17 0xff at 6 match ip6 dst fd77::1/128 match u16 ${PORT} 0xffff at 42 action mirred egress redirect dev vx0.gso`);
  redirect.remove();
  assert.ok(commands.includes(`tc filter del dev eth0 ingress pref ${pref}`));
  assert.throws(() => IngressRedirect.install({ localAddress: '::1', port: PORT, tap: 'vx0.gso', run }), /is on lo/);
  assert.is(deviceWithAddress('[{"ifname":"veth0","addr_info":[{"local":"fd77::1"}]}]', 'fd77:0:0::0:1'), 'veth0', 'IPv6 text compared as addresses');
  assert.is.not(redirectPreference('fd77::1', PORT), redirectPreference('fd77::2', PORT));
});

/** A runner for the probe: addresses for `ip`, tc present, and what `-S FORWARD` prints per firewall tool. */
function probeRunner(forward: { iptables?: string; ip6tables?: string } = {}): { commands: string[]; run: (command: string, args: string[]) => string } {
  const { commands, run } = fakeRunner();
  return {
    commands,
    run: (command, args) => {
      const out = run(command, args);
      if (command === 'iptables' || command === 'ip6tables') return forward[command] ?? '-P FORWARD ACCEPT\n';
      return out;
    },
  };
}

test('probeTunnelGso over IPv6: usable where the kernel routes IPv6 in on the TAP alone; refused for a link-local address, a kernel without force_forwarding, an ip6tables FORWARD DROP policy (and iptables\' is not asked)', () => {
  const base = { localAddress: 'fd77::1', tapOffloads: true, kernelSupport: () => undefined };
  const usable = probeRunner({ iptables: '-P FORWARD DROP\n' });
  const decision = probeTunnelGso({ ...base, ipv6ConfPath: ipv6Conf(true), run: usable.run });
  assert.equal(decision, { usable: true, ingress: true, device: 'eth0', reason: 'the kernel takes UDP tunnel GSO on a TAP, and fd77::1 is on eth0' });
  assert.ok(usable.commands.includes('ip6tables -S FORWARD') && !usable.commands.some((command) => command.startsWith('iptables ')), usable.commands.join('\n'));
  const refused = (options: Partial<Parameters<typeof probeTunnelGso>[0]>): string => {
    const answer = probeTunnelGso({ ...base, ipv6ConfPath: ipv6Conf(true), run: probeRunner().run, ...options });
    assert.is(answer.usable, false, JSON.stringify(answer));
    return answer.reason;
  };
  assert.match(refused({ localAddress: 'fe80::1' }), /fe80::1 is link-local/);
  assert.match(refused({ localAddress: '::' }), /needs the address itself/);
  assert.match(refused({ ipv6ConfPath: ipv6Conf(false) }), /force_forwarding does not exist/);
  assert.match(refused({ run: probeRunner({ ip6tables: '-P FORWARD DROP\n' }).run }), /^ip6tables' FORWARD policy is DROP/);
  assert.match(refused({ localAddress: 'fd77::9' }), /no device has the local address fd77::9/);
  assert.match(refused({ localAddress: '::1' }), /is on lo/);
});

test('runCommand: a missing tool says what to install or which flag avoids it; a failing one carries its stderr', () => {
  assert.throws(() => runCommand('vxlan-wasm-no-such-tool', []), /needs iproute2's vxlan-wasm-no-such-tool \(not found on PATH\).*--no-tunnel-ingress/);
  assert.throws(() => runCommand('ls', ['/vxlan-wasm-no-such-path']), /ls \/vxlan-wasm-no-such-path: .*No such file/);
  assert.match(runCommand('echo', ['ok']), /^ok/);
});

test('deviceWithAddress and redirectPreference: the device from ip -j output; a preference per address and port, stable, within tc\'s range', () => {
  assert.is(deviceWithAddress('[{"ifname":"veth0","addr_info":[{"local":"10.0.0.1"}]},{"ifname":"x"}]', '10.0.0.1'), 'veth0');
  assert.is(deviceWithAddress('[]', '10.0.0.1'), undefined);
  const a = redirectPreference('192.0.2.1', 4789);
  assert.is(redirectPreference('192.0.2.1', 4789), a);
  assert.is.not(redirectPreference('192.0.2.1', 4790), a);
  for (const value of [a, redirectPreference('10.1.2.3', 8472)]) assert.ok(value >= 0x4000 && value < 0xc000, String(value));
});

test.run();
