// Wireshark agreement: frames built by encapsulate() and by the batch Encapsulator, on every
// backend, are written to a pcap and dissected by tshark with checksum validation on. No bad
// checksum, nothing malformed, and every field is what was asked for.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createKernels, decapsulate, encapsulate, Encapsulator, PacketBatch, useBackend, backendName, writePcap,
  type BackendName, type TunnelOptions, type UdpChecksumMode,
} from '../../src/index';
import { BACKENDS } from '../helpers/backends';
import { hex } from '../helpers/bytes';
import { INNER, innerArpRequest, innerFrame, type InnerSpec } from '../helpers/frames';
import { missingTools, run, warnSkipped } from './tools';
import { temporaryDirs } from '../helpers/temporary';

const { removeTemporaryDirs, temporaryDir } = temporaryDirs();

const FIELDS = [
  'frame.len', 'eth.src', 'eth.dst', 'vlan.id', 'vlan.priority', 'ip.src', 'ip.dst', 'ip.ttl', 'ip.dsfield',
  'ip.len', 'ip.flags.df', 'ip.flags.mf', 'ip.frag_offset', 'ip.proto', 'ip.checksum', 'ip.checksum.status',
  'ipv6.src', 'ipv6.dst', 'ipv6.hlim', 'ipv6.plen', 'ipv6.flow', 'ipv6.tclass', 'ipv6.nxt',
  'udp.srcport', 'udp.dstport', 'udp.length', 'udp.checksum', 'udp.checksum.status',
  'tcp.srcport', 'tcp.dstport', 'tcp.checksum.status', 'tcp.payload',
  'vxlan.vni', 'vxlan.flags', 'vxlan.flag_i', 'vxlan.flag_g', 'vxlan.flag_d', 'vxlan.flag_a', 'vxlan.gbp',
  'vxlan.reserved8', 'arp.dst.proto_ipv4', 'data.data', '_ws.malformed',
] as const;
type Field = (typeof FIELDS)[number];
/** Each field's occurrences, outermost first (the outer and the inner headers share names). */
type Dissection = Record<Field, string[]>;

const PREFERENCES = [
  '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE',
  // Linux's legacy VXLAN port; 4789 is registered already.
  '-d', 'udp.port==8472,vxlan',
  // The inner frames use port 8080; keep tshark from reading their test pattern as HTTP.
  '--disable-protocol', 'http',
];
const BAD_CHECKSUM = 'ip.checksum.status==0 || udp.checksum.status==0 || tcp.checksum.status==0';
const MALFORMED = '_ws.malformed || _ws.expert.severity>=error';

function tshark(file: string): Dissection[] {
  const output = run('tshark', ['-r', file, ...PREFERENCES, '-T', 'fields', '-E', 'separator=\t',
    '-E', 'occurrence=a', '-E', 'aggregator=|', ...FIELDS.flatMap((field) => ['-e', field])]);
  return output.trimEnd().split('\n').map((line) => {
    const values = line.split('\t');
    return Object.fromEntries(FIELDS.map((field, i) => [field, values[i] ? values[i].split('|') : []])) as Dissection;
  });
}

/** The frame numbers (1-based) a display filter selects. */
function framesMatching(file: string, filter: string): number[] {
  const output = run('tshark', ['-r', file, ...PREFERENCES, '-Y', filter, '-T', 'fields', '-e', 'frame.number']).trim();
  return output === '' ? [] : output.split('\n').map(Number);
}

function writeCapture(name: string, frames: Uint8Array[]): string {
  const file = join(temporaryDir('vxlan-tshark-'), name);
  writeFileSync(file, writePcap(frames.map((data) => ({ data }))));
  return file;
}

const v4: TunnelOptions = {
  vni: 4242, source: { mac: '02:00:00:00:00:01', ip: '198.51.100.1' }, destination: { mac: '02:00:00:00:00:02', ip: '198.51.100.2' },
  ttl: 33, tos: 0x28, dontFragment: true,
};
const v4Tagged: TunnelOptions = {
  vni: 0, source: { mac: '02:00:00:00:00:05', ip: '203.0.113.5' }, destination: { mac: '02:00:00:00:00:06', ip: '203.0.113.6', port: 8472 },
  vlan: { vid: 4094, pcp: 7 }, tos: 0xb9, udpChecksum: false,
};
const v6: TunnelOptions = {
  vni: 0xabcdef, source: { mac: '02:00:00:00:00:03', ip: 'fd00:1::1' }, destination: { mac: '02:00:00:00:00:04', ip: 'fd00:1::2', port: 8472 },
  vlan: { vid: 300, pcp: 3 }, ttl: 9, flowLabel: 0x12345, tos: 0x2e,
};
const v6Plain: TunnelOptions = {
  vni: 0xffffff, source: { mac: '02:00:00:00:00:07', ip: '2001:db8::7' }, destination: { mac: '02:00:00:00:00:08', ip: '2001:db8:0:0:1::8' },
};

/** What went into a frame: the test derives every expected field from this, never from our decoder. */
interface Case {
  name: string;
  tunnel: TunnelOptions;
  /** `undefined` for the inner ARP request. */
  spec: InnerSpec | undefined;
  inner: Uint8Array;
  outerUdpChecksum: 'computed' | 'zero';
  frame: Uint8Array;
}

/** RFC 5952 text of the addresses above that are written otherwise (tshark prints RFC 5952). */
const CANONICAL: Record<string, string> = { '2001:db8:0:0:1::8': '2001:db8::1:0:0:8' };
const canonical = (ip: string) => CANONICAL[ip] ?? ip;

const isIpv6 = (tunnel: TunnelOptions) => tunnel.source.ip.includes(':');
const innerBytes = (spec: InnerSpec | undefined) => (spec ? innerFrame(spec) : innerArpRequest());

/** Frames from the object API (`encapsulate`) on the active backend. */
function objectApiCases(backend: BackendName): Case[] {
  const list: Case[] = [];
  const add = (name: string, tunnel: TunnelOptions, spec: InnerSpec | undefined) => {
    const inner = innerBytes(spec);
    // Over IPv6 the UDP checksum is always computed (RFC 8200 §8.1), whatever udpChecksum says.
    const outerUdpChecksum = tunnel.udpChecksum === false && !isIpv6(tunnel) ? 'zero' : 'computed';
    list.push({ name: `${backend} encapsulate: ${name}`, tunnel, spec, inner, outerUdpChecksum, frame: encapsulate(inner, tunnel) });
  };
  add('IPv4, 4789, UDP checksum', v4, { payloadLen: 100 });
  add('IPv4, UDP checksum off, odd inner length', { ...v4, udpChecksum: false }, { payloadLen: 57 });
  add('IPv4, fixed source port, odd inner length', { ...v4, source: { ...v4.source, port: 40001 } }, { payloadLen: 1001 });
  add('IPv4, source port range of two', { ...v4, sourcePortRange: [10000, 10001] }, { payloadLen: 3, seed: 9 });
  add('IPv4, GBP group/D/A', { ...v4, gbp: { group: 0x1234, dontLearn: true, policyApplied: true } }, { payloadLen: 64 });
  add('IPv4, GBP group only', { ...v4, gbp: { group: 0xffff } }, { payloadLen: 65 });
  add('IPv4, inner IPv4 options', v4, { payloadLen: 33, ipOptions: [0x94, 0x04, 0, 0] });
  add('IPv4, empty inner UDP payload', v4, { payloadLen: 0 });
  add('IPv4, inner UDP without checksum', v4, { payloadLen: 21, l4Checksum: 'zero' });
  add('IPv4, inner TCP, odd length', v4, { transport: 'tcp', payloadLen: 1 });
  add('IPv4, inner IPv6/UDP', v4, { ipVersion: 6, payloadLen: 10 });
  add('IPv4, inner 802.1Q tag', v4, { payloadLen: 40, vlan: 100 });
  add('IPv4, inner ARP (no IP inside)', v4, undefined);
  add('IPv4, jumbo (9000-byte inner)', v4, { payloadLen: 9000 - 42 });
  add('IPv4 + 802.1Q (vid 4094, pcp 7), port 8472, VNI 0, UDP checksum off', v4Tagged, { payloadLen: 77 });
  add('IPv6 + 802.1Q, port 8472', v6, { payloadLen: 200 });
  add('IPv6, jumbo, odd length (8999-byte inner)', v6, { payloadLen: 8999 - 42 });
  add('IPv6, udpChecksum false is still computed', { ...v6Plain, udpChecksum: false }, { payloadLen: 11 });
  add('IPv6, VNI 2^24-1, inner IPv6/TCP', v6Plain, { ipVersion: 6, transport: 'tcp', payloadLen: 333 });
  add('IPv6, GBP policy applied', { ...v6Plain, gbp: { group: 7, policyApplied: true } }, { payloadLen: 13 });
  return list;
}

/** Frames from the batch path: one Encapsulator run over a PacketBatch, several peers per batch. */
function batchCases(backend: BackendName, mode: UdpChecksumMode): Case[] {
  const kernels = createKernels(backend);
  const peers = mode === 'zero' ? [v4, v4Tagged] : [v4, v6, v4Tagged, v6Plain];
  const specs: (InnerSpec | undefined)[] = [
    { payloadLen: 300, seed: 1 }, { payloadLen: 301, seed: 2, transport: 'tcp' }, { payloadLen: 5000, seed: 3, ipVersion: 6 },
    undefined, { payloadLen: 77, seed: 4, l4Checksum: 'zero' }, { payloadLen: 19, seed: 5, vlan: 7 },
    { payloadLen: 9000 - 42, seed: 6 }, { payloadLen: 0, seed: 7, ipVersion: 6, transport: 'tcp' },
  ];
  const batch = new PacketBatch({ capacity: specs.length, slotSize: 9216, kernels });
  const encapsulator = new Encapsulator(peers, { udpChecksumMode: mode, kernels });
  const inners = specs.map(innerBytes);
  inners.forEach((inner, slot) => batch.writeInner(slot, inner, slot % peers.length));
  assert.is(encapsulator.run(batch, specs.length), specs.length, `${backend} ${mode}: every slot encapsulated`);
  return specs.map((spec, slot) => {
    const tunnel = peers[slot % peers.length];
    return {
      name: `${backend} Encapsulator '${mode}', slot ${slot}, peer ${slot % peers.length}`,
      tunnel, spec, inner: inners[slot], outerUdpChecksum: mode === 'zero' ? 'zero' : 'computed', frame: batch.frame(slot).slice(),
    };
  });
}

function allCases(): Case[] {
  const list: Case[] = [];
  const previous = backendName();
  try {
    for (const backend of BACKENDS) {
      useBackend(backend);
      list.push(...objectApiCases(backend));
      for (const mode of ['full', 'zero', 'offload'] as const) list.push(...batchCases(backend, mode));
    }
  } finally {
    useBackend(previous);
  }
  return list;
}

/** `[outer value if the outer header has this field, inner value if the inner frame has it]`. */
const both = (outer: string | undefined, inner: string | undefined) => [outer, inner].filter((value) => value !== undefined);
const hex16 = (value: number) => `0x${value.toString(16).padStart(4, '0')}`;

function checkDissection(c: Case, d: Dissection): void {
  const at = `${c.name}: `;
  const { tunnel, spec, inner } = c;
  const outerV6 = isIpv6(tunnel);
  const innerIp = spec ? spec.ipVersion ?? 4 : undefined;
  const innerTransport = spec ? spec.transport ?? 'udp' : undefined;
  const outerHeaderLen = 14 + (tunnel.vlan ? 4 : 0) + (outerV6 ? 40 : 20) + 8 + 8;
  assert.is(Number(d['frame.len'][0]), outerHeaderLen + inner.length, at + 'frame length');

  // Ethernet and 802.1Q, outer then inner.
  assert.equal(d['eth.src'], [tunnel.source.mac, INNER.sourceMac], at + 'source MACs (outer, inner)');
  assert.equal(d['eth.dst'], [tunnel.destination.mac, spec ? INNER.destinationMac : 'ff:ff:ff:ff:ff:ff'], at + 'destination MACs');
  assert.equal(d['vlan.id'], both(tunnel.vlan && String(tunnel.vlan.vid), spec?.vlan?.toString()), at + 'VLAN ids');
  assert.equal(d['vlan.priority'], both(tunnel.vlan && String(tunnel.vlan.pcp ?? 0), spec?.vlan === undefined ? undefined : '0'), at + 'PCPs');

  // The outer IP header as asked; the inner one as built.
  const v4Source = both(outerV6 ? undefined : tunnel.source.ip, innerIp === 4 ? INNER.ipv4.source : undefined);
  const v6Source = both(outerV6 ? tunnel.source.ip : undefined, innerIp === 6 ? INNER.ipv6.source : undefined);
  assert.equal(d['ip.src'], v4Source, at + 'IPv4 sources (outer, inner)');
  assert.equal(d['ip.dst'], both(outerV6 ? undefined : tunnel.destination.ip, innerIp === 4 ? INNER.ipv4.destination : undefined), at + 'IPv4 destinations');
  assert.equal(d['ipv6.src'], v6Source, at + 'IPv6 sources (outer, inner)');
  assert.equal(d['ipv6.dst'], both(outerV6 ? canonical(tunnel.destination.ip) : undefined, innerIp === 6 ? INNER.ipv6.destination : undefined), at + 'IPv6 destinations');
  const outerIpPayloadLen = 8 + 8 + inner.length;
  if (outerV6) {
    assert.is(Number(d['ipv6.hlim'][0]), tunnel.ttl ?? 64, at + 'hop limit');
    assert.is(Number(d['ipv6.plen'][0]), outerIpPayloadLen, at + 'payload length');
    assert.is(Number(d['ipv6.flow'][0]), tunnel.flowLabel ?? 0, at + 'flow label');
    assert.is(Number(d['ipv6.tclass'][0]), tunnel.tos ?? 0, at + 'traffic class');
    assert.is(Number(d['ipv6.nxt'][0]), 17, at + 'next header UDP');
  } else {
    assert.is(Number(d['ip.ttl'][0]), tunnel.ttl ?? 64, at + 'TTL');
    assert.is(Number(d['ip.dsfield'][0]), tunnel.tos ?? 0, at + 'TOS');
    assert.is(d['ip.flags.df'][0], tunnel.dontFragment ? '1' : '0', at + 'DF');
    assert.is(d['ip.flags.mf'][0], '0', at + 'MF');
    assert.is(Number(d['ip.frag_offset'][0]), 0, at + 'fragment offset');
    assert.is(Number(d['ip.proto'][0]), 17, at + 'protocol UDP');
    assert.is(Number(d['ip.len'][0]), 20 + outerIpPayloadLen, at + 'total length');
    // The status says the checksum verifies; the value is the one our decoder reads too.
    const decodedIp = decapsulate(c.frame, { gbp: true }).ip;
    assert.is(Number(d['ip.checksum'][0]), decodedIp.version === 4 ? decodedIp.checksum : -1, at + 'IPv4 header checksum value');
  }
  assert.equal(d['ip.checksum.status'], d['ip.src'].map(() => '1'), at + 'every IPv4 header checksum good (outer and inner)');

  // Outer UDP.
  const port = tunnel.destination.port ?? 4789;
  assert.equal(d['udp.dstport'], both(String(port), innerTransport === 'udp' ? String(INNER.destinationPort) : undefined), at + 'UDP destination ports');
  const sourcePort = Number(d['udp.srcport'][0]);
  if (tunnel.source.port !== undefined) assert.is(sourcePort, tunnel.source.port, at + 'fixed source port');
  else {
    const [low, high] = tunnel.sourcePortRange ?? [49152, 65535];
    assert.ok(sourcePort >= low && sourcePort <= high, at + `hashed source port ${sourcePort} in ${low}..${high}`);
  }
  assert.is(Number(d['udp.length'][0]), outerIpPayloadLen, at + 'outer UDP length');
  // Wireshark's checksum status: 0 bad, 1 good, 2 not checked, 3 not present (zero over IPv4).
  if (c.outerUdpChecksum === 'zero') {
    assert.is(d['udp.checksum.status'][0], '3', at + 'outer UDP checksum absent');
    assert.is(d['udp.checksum'][0], '0x0000', at + 'outer UDP checksum zero');
  } else {
    assert.is(d['udp.checksum.status'][0], '1', at + 'outer UDP checksum good');
    assert.is.not(d['udp.checksum'][0], '0x0000', at + 'outer UDP checksum present');
  }

  // VXLAN: I flag, GBP bits and group, VNI, reserved byte.
  const gbp = tunnel.gbp;
  const flags = ((gbp ? 0x88 : 0x08) << 8) | (gbp?.dontLearn ? 0x40 : 0) | (gbp?.policyApplied ? 0x08 : 0);
  assert.equal(d['vxlan.flags'], [hex16(flags)], at + 'VXLAN flags word');
  assert.equal(d['vxlan.flag_i'], ['1'], at + 'I flag');
  assert.equal(d['vxlan.flag_g'], [gbp ? '1' : '0'], at + 'G flag');
  assert.equal(d['vxlan.flag_d'], [gbp?.dontLearn ? '1' : '0'], at + 'D flag');
  assert.equal(d['vxlan.flag_a'], [gbp?.policyApplied ? '1' : '0'], at + 'A flag');
  assert.equal(d['vxlan.gbp'], [String(gbp?.group ?? 0)], at + 'group policy id (0 without GBP)');
  assert.equal(d['vxlan.vni'], [String(tunnel.vni)], at + 'VNI');
  assert.equal(d['vxlan.reserved8'], ['0'], at + 'last reserved byte');

  // The inner frame arrived whole: its checksums verify and its payload bytes are the ones sent.
  if (!spec) {
    assert.equal(d['arp.dst.proto_ipv4'], [INNER.ipv4.destination], at + 'inner ARP target');
  } else if (innerTransport === 'udp') {
    const expected = spec.l4Checksum === 'zero' ? '3' : '1';
    assert.is(d['udp.checksum.status'][1], expected, at + 'inner UDP checksum ' + (expected === '1' ? 'good' : 'absent'));
    const payload = inner.subarray(inner.length - spec.payloadLen);
    assert.equal(d['data.data'], spec.payloadLen ? [hex(payload)] : [], at + 'inner UDP payload bytes');
  } else {
    assert.equal(d['tcp.checksum.status'], ['1'], at + 'inner TCP checksum good');
    assert.equal(d['tcp.dstport'], [String(INNER.destinationPort)], at + 'inner TCP port');
    const payload = inner.subarray(inner.length - spec.payloadLen);
    assert.equal(d['tcp.payload'], spec.payloadLen ? [hex(payload)] : [], at + 'inner TCP payload bytes');
  }
  assert.equal(d['_ws.malformed'], [], at + 'not malformed');
}

const TESTS = [
  'tshark dissects every frame (object API and batch, every backend) with good checksums, nothing malformed, every field as asked',
  "over a wrong inner checksum, 'full' still makes a right outer checksum and 'offload' a wrong one (never a laundered one)",
  'the filters really catch bad checksums and malformed frames',
];
const skipReason = missingTools('Wireshark agreement', ['tshark']);
if (skipReason) {
  warnSkipped('needs tshark', TESTS, skipReason);
} else {
  test(TESTS[0], () => {
    const cases = allCases();
    const file = writeCapture('frames.pcap', cases.map((c) => c.frame));
    assert.equal(framesMatching(file, BAD_CHECKSUM), [], 'no frame has a bad IPv4/UDP/TCP checksum, outer or inner');
    assert.equal(framesMatching(file, MALFORMED), [], 'no frame is malformed or has an error-level expert note');
    const dissections = tshark(file);
    assert.is(dissections.length, cases.length, 'one dissection per frame');
    cases.forEach((c, i) => checkDissection(c, dissections[i]));
  });

  test(TESTS[1], () => {
    const cases: { name: string; mode: UdpChecksumMode; frame: Uint8Array }[] = [];
    for (const backend of BACKENDS) {
      const kernels = createKernels(backend);
      for (const mode of ['full', 'offload'] as const) {
        const batch = new PacketBatch({ capacity: 2, slotSize: 2048, kernels });
        const encapsulator = new Encapsulator([v4, v6], { udpChecksumMode: mode, kernels });
        batch.writeInner(0, innerFrame({ payloadLen: 99, l4Checksum: 'bad' }), 0);
        batch.writeInner(1, innerFrame({ payloadLen: 98, transport: 'tcp', ipVersion: 6, l4Checksum: 'bad' }), 1);
        assert.is(encapsulator.run(batch, 2), 2);
        cases.push({ name: `${backend} '${mode}' IPv4/UDP`, mode, frame: batch.frame(0).slice() },
          { name: `${backend} '${mode}' IPv6/TCP`, mode, frame: batch.frame(1).slice() });
      }
    }
    const dissections = tshark(writeCapture('bad-inner.pcap', cases.map((c) => c.frame)));
    cases.forEach(({ name, mode }, i) => {
      const d = dissections[i];
      assert.is(d['udp.checksum.status'][1] ?? d['tcp.checksum.status'][0], '0', `${name}: inner checksum still bad, as sent`);
      // 'full' sums every byte, so the outer checksum is right whatever the inner says. 'offload'
      // trusts the inner checksum (as Linux local checksum offload does with CHECKSUM_PARTIAL), so
      // over a corrupted inner segment its outer checksum must fail too: a receiver drops the frame
      // at the outer UDP layer instead of the corruption being laundered into a valid-looking one.
      assert.is(d['udp.checksum.status'][0], mode === 'full' ? '1' : '0', `${name}: outer UDP checksum ${mode === 'full' ? 'good' : 'bad as well'}`);
    });
  });

  test(TESTS[2], () => {
    const good = encapsulate(innerFrame({ payloadLen: 100 }), v4);
    const badIpv4 = good.slice();
    badIpv4[14 + 10] ^= 0x01; // outer IPv4 header checksum
    const badUdp = good.slice();
    badUdp[badUdp.length - 1] ^= 0x01; // last inner payload byte: the outer and inner UDP checksums both fail
    const truncated = good.subarray(0, good.length - 10); // IPv4 total length now longer than the frame
    const file = writeCapture('corrupt.pcap', [good, badIpv4, badUdp, truncated]);
    assert.equal(framesMatching(file, BAD_CHECKSUM), [2, 3], 'the corrupted checksums are counted');
    assert.equal(framesMatching(file, MALFORMED).filter((n) => n !== 2 && n !== 3), [4], 'the truncated frame is flagged');
  });

  test.after(removeTemporaryDirs);
  test.run();
}
