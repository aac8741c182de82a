// `vxlan-wasm decode` on what captures taken on real hosts hold: checksums left for the NIC,
// GSO / BIG TCP super-packets, VXLAN-GPE, and the inner frame's own summary. Runs the built CLI
// (bin/vxlan-wasm.mjs → dist/cli.mjs) on captures written with writePcap.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encapsulate } from '../../src/api';
import { writePcap } from '../../src/pcap/index';
import { naiveSum } from '../helpers/bytes';
import { innerArpRequest, innerFrame, ipv4Tunnel, ipv6Tunnel } from '../helpers/frames';
import { temporaryDirs } from '../helpers/temporary';

const { removeTemporaryDirs, temporaryDir } = temporaryDirs();

const root = fileURLToPath(new URL('../..', import.meta.url));

function capture(name: string, frames: Uint8Array[]): string {
  const file = join(temporaryDir('vxlan-decode-'), name);
  writeFileSync(file, writePcap(frames.map((data) => ({ data }))));
  return file;
}

function cli(...args: string[]) {
  const run = spawnSync(process.execPath, [join(root, 'bin', 'vxlan-wasm.mjs'), ...args], { cwd: root, encoding: 'utf8', timeout: 20000 });
  return { code: run.status, lines: run.stdout.trim().split('\n'), stdout: run.stdout, stderr: run.stderr };
}

const u16 = (bytes: Uint8Array, at: number) => (bytes[at] << 8) | bytes[at + 1];
const put16 = (bytes: Uint8Array, at: number, value: number) => {
  bytes[at] = value >> 8;
  bytes[at + 1] = value & 0xff;
};
const hex16 = (value: number) => `0x${value.toString(16).padStart(4, '0')}`;

// Outer IPv4 frame: Ethernet 14, IPv4 20, UDP 8, VXLAN 8.
const IP = 14;
const UDP = 34;
const VXLAN = 42;

test('--no-verify: wrong checksums are notes with the right value, as tcpdump prints them; partial ones are named', () => {
  const good = encapsulate(innerFrame({ payloadLen: 40 }), ipv4Tunnel());
  const rightUdp = u16(good, UDP + 6);
  const rightIp = u16(good, IP + 10);
  const badUdp = good.slice();
  put16(badUdp, UDP + 6, 0x1234);
  const badIp = good.slice();
  put16(badIp, IP + 10, rightIp ^ 0x0101);
  // What Linux leaves for a NIC with checksum offload: the pseudo-header sum, folded, not complemented.
  const partial = good.slice();
  const udpLength = u16(good, UDP + 4);
  put16(partial, UDP + 6, naiveSum(good.subarray(IP + 12, IP + 20), 17 + udpLength));
  const file = capture('offload.pcap', [good, badUdp, badIp, partial]);

  const verified = cli('decode', file);
  assert.is(verified.code, 1);
  assert.match(verified.lines[1], /^2 BAD_UDP_CHECKSUM \(udp at byte 40\) \(captured on the sending host with checksum offload\? try --no-verify\)$/);
  assert.match(verified.lines[2], /^3 BAD_IPV4_CHECKSUM/);

  const run = cli('decode', file, '--no-verify');
  assert.is(run.code, 0, run.stdout);
  assert.not.match(run.lines[0], /\[bad/);
  assert.ok(run.lines[1].endsWith(`[bad udp cksum 0x1234 -> ${hex16(rightUdp)}!]`), run.lines[1]);
  assert.ok(run.lines[2].endsWith(`[bad ip cksum ${hex16(rightIp ^ 0x0101)} -> ${hex16(rightIp)}!]`), run.lines[2]);
  assert.match(run.lines[3], new RegExp(`\\[bad udp cksum ${hex16(u16(partial, UDP + 6))} -> ${hex16(rightUdp)}! partial \\(pseudo-header only: checksum offload\\)\\]$`));

  const json = cli('decode', file, '--no-verify', '--json').lines.map((line) => JSON.parse(line));
  assert.is(json[0].notes, undefined);
  assert.equal(json[1].notes, [{ kind: 'bad-udp-checksum', value: 0x1234, expected: rightUdp, partial: false, text: `bad udp cksum 0x1234 -> ${hex16(rightUdp)}!` }]);
  assert.is(json[3].notes[0].partial, true);
});

test('--no-verify over IPv6: the expected UDP checksum includes the IPv6 pseudo-header', () => {
  const good = encapsulate(innerFrame({ payloadLen: 33 }), ipv6Tunnel());
  const udp = 14 + 40;
  const right = u16(good, udp + 6);
  const bad = good.slice();
  put16(bad, udp + 6, right ^ 0xff00);
  const run = cli('decode', capture('v6.pcap', [bad]), '--no-verify');
  assert.is(run.code, 0);
  assert.ok(run.lines[0].endsWith(`[bad udp cksum ${hex16(right ^ 0xff00)} -> ${hex16(right)}!]`), run.lines[0]);
});

/**
 * A BIG TCP super-packet as a capture on the sending host shows it: outer IPv4 total length 0
 * (its length does not fit in 16 bits), UDP length the real one cut to 16 bits, and an inner
 * TCP super-segment whose own IPv4 total length is 0 too.
 */
function bigTcpFrame(innerPayload: number): Uint8Array {
  const inner = innerFrame({ transport: 'tcp', payloadLen: innerPayload });
  put16(inner, 14 + 2, 0);
  const headers = encapsulate(innerFrame({ payloadLen: 0 }), ipv4Tunnel({ udpChecksum: false })).subarray(0, 50);
  const frame = new Uint8Array(50 + inner.length);
  frame.set(headers);
  frame.set(inner, 50);
  put16(frame, IP + 2, 0);
  put16(frame, IP + 10, 0);
  put16(frame, IP + 10, ~naiveSum(frame.subarray(IP, IP + 20)) & 0xffff);
  put16(frame, UDP + 4, (frame.length - UDP) & 0xffff);
  return frame;
}

test('--lax: a BIG TCP super-packet (IPv4 total length 0) decodes with a note; strict says LENGTH_MISMATCH and suggests --lax', () => {
  const frame = bigTcpFrame(80000);
  const ipLength = frame.length - IP;
  const file = capture('bigtcp.pcap', [frame]);
  const strict = cli('decode', file);
  assert.is(strict.code, 1);
  assert.match(strict.lines[0], /^1 LENGTH_MISMATCH \(ipv4 at byte 16\) \(IP length 0: a GSO \/ BIG TCP super-packet\? try --lax\)$/);

  const lax = cli('decode', file, '--lax');
  assert.is(lax.code, 0, lax.stdout + lax.stderr);
  const line = lax.lines[0];
  // Inner: Ethernet 14 + IPv4 20 + TCP 20 + 80000 bytes of payload.
  assert.match(line, / VXLAN vni 1193046 inner 80054 B 52:54:00:00:00:01 > 52:54:00:00:00:02 IPv4 10\.9\.0\.1:12345 > 10\.9\.0\.2:8080 TCP \[P\.\] len 80000 /);
  assert.ok(line.includes(`[length ${ipLength} [was 0, presumed BIG TCP]]`), line);
  assert.ok(line.endsWith('[checksums not verified]'), line);

  const [json] = cli('decode', file, '--lax', '--json').lines.map((text) => JSON.parse(text));
  assert.is(json.ip.totalLength, 0, 'the header as captured');
  assert.is(json.inner.length / 2, 80054);
  assert.equal(json.notes.map((note: { kind: string }) => note.kind), ['super-packet', 'checksums-not-verified']);
  assert.is(json.notes[0].length, ipLength);
  assert.equal(json.innerSummary.tcp, { sourcePort: 12345, destinationPort: 8080, flags: 'P.', payloadLength: 80000 });
});

test('--lax: an IPv6 super-packet, with a hop-by-hop jumbo option and without one', () => {
  const inner = innerFrame({ payloadLen: 70000 - 14, etherType: 0x88b5 });
  const base = encapsulate(innerFrame({ payloadLen: 0 }), ipv6Tunnel()).subarray(0, 14 + 40 + 16);
  const plain = new Uint8Array(base.length + inner.length);
  plain.set(base);
  plain.set(inner, base.length);
  put16(plain, 14 + 4, 0);
  // The same with an 8-byte hop-by-hop header: next header UDP, length 0, Jumbo Payload option (RFC 2675).
  const jumbo = new Uint8Array(plain.length + 8);
  jumbo.set(plain.subarray(0, 54));
  jumbo[14 + 6] = 0;
  const payload = jumbo.length - 54;
  jumbo.set([17, 0, 0xc2, 4, payload >>> 24, (payload >>> 16) & 0xff, (payload >>> 8) & 0xff, payload & 0xff], 54);
  jumbo.set(plain.subarray(54), 62);
  const run = cli('decode', capture('v6big.pcap', [plain, jumbo]), '--lax');
  assert.is(run.code, 0, run.stdout);
  assert.ok(run.lines[0].includes(`[payload length ${plain.length - 54} [was 0, presumed BIG TCP]`), run.lines[0]);
  assert.ok(run.lines[1].includes(`[payload length ${payload} [was 0, jumbo payload option]`), run.lines[1]);
  for (const line of run.lines) assert.match(line, / VXLAN vni \d+ inner 70000 B \S+ > \S+ 0x88b5 /);
});

test('--lax does not invent super-packets: a wrong non-zero length stays LENGTH_MISMATCH', () => {
  const frame = bigTcpFrame(1000);
  put16(frame, IP + 2, 99);
  put16(frame, IP + 10, 0);
  put16(frame, IP + 10, ~naiveSum(frame.subarray(IP, IP + 20)) & 0xffff);
  const run = cli('decode', capture('wrong.pcap', [frame]), '--lax');
  assert.is(run.code, 1);
  assert.match(run.lines[0], /^1 LENGTH_MISMATCH/);
});

test('the inner frame summarised: ARP, TCP, UDP over IPv6, ICMP in a VLAN, ICMPv6, unknown and cut-short frames', () => {
  const tunnel = ipv4Tunnel();
  const cutShort = innerFrame({ transport: 'tcp', payloadLen: 10 }).subarray(0, 14 + 12);
  const frames = [
    innerArpRequest(),
    innerFrame({ transport: 'tcp', payloadLen: 9 }),
    innerFrame({ ipVersion: 6, payloadLen: 20 }),
    innerFrame({ transport: 'icmp', vlan: 7, payloadLen: 56 }),
    innerFrame({ ipVersion: 6, transport: 'icmp', payloadLen: 4 }),
    innerFrame({ etherType: 0x88b5, payloadLen: 46 }),
    cutShort,
  ].map((inner) => encapsulate(inner, tunnel));
  const file = capture('inner.pcap', frames);
  const run = cli('decode', file);
  assert.is(run.code, 0, run.stdout);
  const inners = run.lines.map((line) => line.replace(/^.* inner /, ''));
  assert.match(inners[0], /^42 B \S+ > ff:ff:ff:ff:ff:ff ARP request who-has \S+ tell \S+$/);
  assert.is(inners[1], '63 B 52:54:00:00:00:01 > 52:54:00:00:00:02 IPv4 10.9.0.1:12345 > 10.9.0.2:8080 TCP [P.] len 9');
  assert.is(inners[2], '82 B 52:54:00:00:00:01 > 52:54:00:00:00:02 IPv6 [fd09::1]:12345 > [fd09::2]:8080 UDP len 28');
  assert.is(inners[3], '102 B 52:54:00:00:00:01 > 52:54:00:00:00:02 vlan 7 IPv4 10.9.0.1 > 10.9.0.2 ICMP echo request');
  assert.is(inners[4], '66 B 52:54:00:00:00:01 > 52:54:00:00:00:02 IPv6 fd09::1 > fd09::2 ICMPv6 echo request');
  assert.is(inners[5], '60 B 52:54:00:00:00:01 > 52:54:00:00:00:02 0x88b5');
  assert.is(inners[6], '26 B 52:54:00:00:00:01 > 52:54:00:00:00:02 IPv4 [truncated ipv4]');

  const json = cli('decode', file, '--json').lines.map((line) => JSON.parse(line));
  assert.equal(json[1].innerSummary.ip, { version: 4, source: '10.9.0.1', destination: '10.9.0.2', protocol: 6, protocolName: 'TCP', fragment: false });
  assert.equal(json[3].innerSummary.vlans, [7]);
  assert.equal(json[3].innerSummary.icmp, { version: 4, type: 8, code: 0, name: 'echo request' });
  assert.is(json[6].innerSummary.truncated, 'ipv4');
});

test('the inner summary agrees with tshark on the same capture', () => {
  const frames = [
    innerFrame({ transport: 'tcp', payloadLen: 9, sourcePort: 443, destinationPort: 50000 }),
    innerFrame({ ipVersion: 6, payloadLen: 20, sourcePort: 53, destinationPort: 5353 }),
  ].map((inner) => encapsulate(inner, ipv4Tunnel()));
  const file = capture('tshark.pcap', frames);
  let fields: string;
  try {
    fields = execFileSync('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=,', '-E', 'aggregator=;', '-e', 'eth.src', '-e', 'ip.src', '-e', 'ipv6.src',
      '-e', 'tcp.srcport', '-e', 'udp.srcport', '-e', 'tcp.len'], { encoding: 'utf8' });
  } catch (error) {
    assert.unreachable(`tshark is needed for this test (apt-get install tshark): ${(error as Error).message}`);
    return;
  }
  // tshark lists every layer's value: outer and inner, outer first.
  const [tcp, udp] = fields.trim().split('\n').map((line) => line.split(','));
  const json = cli('decode', file, '--json').lines.map((line) => JSON.parse(line).innerSummary);
  assert.is(json[0].source, tcp[0].split(';').at(-1));
  assert.is(json[0].ip.source, tcp[1].split(';').at(-1));
  assert.is(String(json[0].tcp.sourcePort), tcp[3]);
  assert.is(String(json[0].tcp.payloadLength), tcp[5]);
  assert.is(json[1].ip.source, udp[2]);
  assert.is(String(json[1].udp.sourcePort), udp[4].split(';').at(-1));
});

/** A VXLAN-GPE frame on UDP 4790: flags I and P, Next Protocol in the last reserved byte. */
function gpeFrame(nextProtocol: number, payload: Uint8Array, flags = 0x0c): Uint8Array {
  const frame = encapsulate(payload, ipv4Tunnel({ vni: 77, destination: { mac: '02:00:00:00:00:02', ip: '10.0.0.2', port: 4790 }, udpChecksum: false }));
  frame[VXLAN] = flags;
  frame[VXLAN + 3] = nextProtocol;
  return frame;
}

test('VXLAN-GPE on UDP 4790 is recognised and described, not reported as NOT_VXLAN_PORT', () => {
  const ipv4Packet = innerFrame({ transport: 'icmp', payloadLen: 20 }).subarray(14);
  const file = capture('gpe.pcap', [
    gpeFrame(1, ipv4Packet),
    gpeFrame(4, new Uint8Array(24)),
    gpeFrame(3, innerArpRequest()),
    gpeFrame(0x99, new Uint8Array(20), 0x2d),
  ]);
  const run = cli('decode', file);
  assert.is(run.code, 0, run.stdout);
  assert.match(run.lines[0], /^1 .* 10\.0\.0\.2:4790 VXLAN-GPE, next protocol IPv4 \(1\), vni 77, payload 48 B \(not decoded\)$/);
  assert.match(run.lines[1], /VXLAN-GPE, next protocol NSH \(4\), vni 77, payload 24 B \(not decoded\)$/);
  assert.match(run.lines[2], /VXLAN-GPE, next protocol Ethernet \(3\), vni 77, payload 42 B \S+ > ff:ff:ff:ff:ff:ff ARP request who-has/);
  assert.match(run.lines[3], /VXLAN-GPE, next protocol unknown \(153\), vni 77 version 2 OAM, payload 20 B/);
  const [json] = cli('decode', file, '--json').lines.map((line) => JSON.parse(line));
  assert.equal(json.vxlanGpe, { flags: 0x0c, version: 0, pFlag: true, oam: false, nextProtocol: 1, nextProtocolName: 'IPv4', vni: 77 });
  assert.is(json.payloadLength, 48);
  // Asked to take 4790 as a VXLAN port, decode does, and strict VXLAN then refuses GPE's bits.
  const asVxlan = cli('decode', file, '--port', '4790');
  assert.is(asVxlan.code, 1);
  assert.match(asVxlan.lines[0], /^1 VXLAN_RESERVED_BITS/);
});

test('cross-check: tshark reads the same GPE next protocol and VNI', () => {
  const file = capture('gpe-tshark.pcap', [gpeFrame(2, innerFrame({ ipVersion: 6, payloadLen: 8 }).subarray(14))]);
  const out = execFileSync('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=,', '-e', 'vxlan.next_proto', '-e', 'vxlan.vni'], { encoding: 'utf8' });
  assert.is(out.trim(), '2,77');
  assert.match(cli('decode', file).lines[0], /next protocol IPv6 \(2\), vni 77,/);
});

test.after(removeTemporaryDirs);

test.run();
