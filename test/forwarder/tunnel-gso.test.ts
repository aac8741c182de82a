// --tunnel-gso's pieces that need no root: TunnelGsoTap's refusals before anything is opened (a
// local address that cannot be the outer source, a host whose strict reverse-path filter would
// drop every super-packet, read from a conf directory the test makes); parseTunnelPacket, which
// checks what the tc redirect hands the TAP as the IP and UDP stack would (hand-built packets, and
// fast-check's arbitrary bytes); IngressRedirect's tc and ip commands (a fake runner records them).
// The TAP at work, both ways, is tested in e2e/tunnel-gso.test.ts (root, namespaces, Linux 6.17+).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IngressRedirect, deviceWithAddress, redirectPreference, runCommand } from '../../src/forwarder/underlay/ingress-redirect';
import {
  TUNNEL_BAD_CHECKSUM, TUNNEL_MALFORMED, TUNNEL_PACKET, TunnelGsoTap, parseTunnelPacket, type TunnelPacket,
} from '../../src/forwarder/underlay/tunnel-gso';
import { onesComplementSum } from '../../src/reference/checksum';
import { temporaryDirs } from '../helpers/temporary';

const { removeTemporaryDirs, temporaryDir } = temporaryDirs();

function confWithRpFilter(value: string): string {
  const conf = temporaryDir('vxlan-tunnel-gso-');
  mkdirSync(join(conf, 'all'));
  writeFileSync(join(conf, 'all', 'rp_filter'), `${value}\n`);
  return conf;
}

test.after(() => removeTemporaryDirs());

test('the local address must be an IPv4 address of this host, not any or IPv6: a RangeError naming it', () => {
  for (const localAddress of ['0.0.0.0', 'fd00::1']) {
    assert.throws(() => TunnelGsoTap.open({ name: 'vxt.gso', localAddress, confPath: confWithRpFilter('0') }),
      (error: Error) => error instanceof RangeError && error.message.includes(localAddress), localAddress);
  }
});

test('strict reverse-path filtering (all/rp_filter = 1) is refused with the sentence that says what to change', () => {
  const conf = confWithRpFilter('1');
  assert.throws(() => TunnelGsoTap.open({ name: 'vxt.gso', localAddress: '192.0.2.1', confPath: conf }),
    (error: Error) => /rp_filter is 1 \(strict/.test(error.message) && /set it to 2 \(loose\) or 0/.test(error.message));
});

const LOCAL = [192, 0, 2, 1];
const LOCAL_WORD = 0xc0000201;
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
  return { verdict: parseTunnelPacket(bytes, 0, bytes.length, LOCAL_WORD, PORT, packet), packet };
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
  assert.is(parseTunnelPacket(short, 0, VNET + INNER + 10, LOCAL_WORD, PORT, packet), TUNNEL_MALFORMED, 'shorter than its headers and an inner Ethernet header');
});

test('parseTunnelPacket on arbitrary bytes (fast-check): never throws, a known verdict, and what it accepts lies inside the packet', () => {
  const template = tunnelPacket(200);
  fc.assert(fc.property(
    fc.array(fc.tuple(fc.nat(template.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 12 }),
    fc.integer({ min: 0, max: template.length }),
    (edits, length) => {
      const bytes = template.slice();
      for (const [at, value] of edits) bytes[at] = value;
      const packet = emptyPacket();
      const verdict = parseTunnelPacket(bytes, 0, length, LOCAL_WORD, PORT, packet);
      assert.ok([TUNNEL_PACKET, TUNNEL_MALFORMED, TUNNEL_BAD_CHECKSUM].includes(verdict));
      if (verdict === TUNNEL_PACKET) {
        assert.ok(packet.vxlanAt + packet.payloadLength <= length, 'the payload is inside what was read');
        assert.ok(packet.payloadLength >= 8 + 14, 'a VXLAN header and an inner Ethernet header at least');
      }
    },
  ), { numRuns: 2000 });
});

/** A runner that records the commands and answers `ip -j -4 address show` (and fails where told). */
function fakeRunner(fail: (args: string[]) => string | undefined = () => undefined): { commands: string[]; run: (command: string, args: string[]) => string } {
  const commands: string[] = [];
  const addresses = JSON.stringify([
    { ifname: 'lo', addr_info: [{ local: '127.0.0.1' }] },
    { ifname: 'eth0', addr_info: [{ local: '192.0.2.1' }] },
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
