// Wireshark agreement: frames built by encapsulate() and by the batch Encapsulator are written
// to a pcap and dissected by tshark with checksum validation on. No bad checksum, nothing
// malformed, and every field is what was asked for.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createKernels, encapsulate, Encapsulator, PacketBatch, writePcap, type TunnelOptions } from '../../src/index';
import { cannotRun, innerUdpFrame, run, warnSkipped } from '../helpers/real-tools';
import { removeTemporaryDirs, temporaryDir } from '../helpers/temporary';

const FIELDS = [
  'frame.number', 'eth.src', 'eth.dst', 'vlan.id', 'vlan.priority', 'ip.src', 'ip.dst', 'ip.ttl', 'ip.dsfield',
  'ip.len', 'ip.flags.df', 'ip.checksum.status', 'ipv6.src', 'ipv6.dst', 'ipv6.hlim', 'ipv6.plen', 'ipv6.flow',
  'udp.srcport', 'udp.dstport', 'udp.length', 'udp.checksum', 'udp.checksum.status', 'vxlan.vni', 'vxlan.flag_i',
  'vxlan.flag_g', 'vxlan.flag_d', 'vxlan.flag_a', 'vxlan.gbp', 'data.data', '_ws.malformed', '_ws.expert.severity',
] as const;
type Field = (typeof FIELDS)[number];
/** Each field's occurrences, outermost first (the outer and the inner headers share names). */
type Dissection = Record<Field, string[]>;

const CHECKSUMS_ON = ['-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-d', 'udp.port==8472,vxlan'];

function tshark(file: string, extra: string[] = []): Dissection[] {
  const output = run('tshark', ['-r', file, ...CHECKSUMS_ON, ...extra, '-T', 'fields', '-E', 'separator=\t',
    '-E', 'occurrence=a', '-E', 'aggregator=|', ...FIELDS.flatMap((field) => ['-e', field])]);
  return output.trimEnd().split('\n').map((line) => {
    const values = line.split('\t');
    return Object.fromEntries(FIELDS.map((field, i) => [field, values[i] ? values[i].split('|') : []])) as Dissection;
  });
}

const v4: TunnelOptions = {
  vni: 4242, source: { mac: '02:00:00:00:00:01', ip: '198.51.100.1' }, destination: { mac: '02:00:00:00:00:02', ip: '198.51.100.2' },
  ttl: 33, tos: 0x28, dontFragment: true,
};
const v6: TunnelOptions = {
  vni: 0xabcdef, source: { mac: '02:00:00:00:00:03', ip: 'fd00:1::1' }, destination: { mac: '02:00:00:00:00:04', ip: 'fd00:1::2', port: 8472 },
  vlan: { vid: 300, pcp: 3 }, ttl: 9, flowLabel: 0x12345,
};

interface Case {
  name: string;
  frame: Uint8Array;
  tunnel: TunnelOptions;
  inner: Uint8Array;
  udpChecksum: boolean;
}

function cases(): Case[] {
  const list: Case[] = [];
  const add = (name: string, tunnel: TunnelOptions, inner: Uint8Array) =>
    list.push({ name, tunnel, inner, frame: encapsulate(inner, tunnel), udpChecksum: tunnel.udpChecksum !== false || tunnel.source.ip.includes(':') });
  add('IPv4, 4789, UDP checksum', v4, innerUdpFrame(100));
  add('IPv4, UDP checksum off', { ...v4, udpChecksum: false }, innerUdpFrame(57));
  add('IPv4, fixed source port, odd inner length', { ...v4, source: { ...v4.source, port: 40001 } }, innerUdpFrame(1001));
  add('IPv4, GBP group/D/A', { ...v4, gbp: { group: 0x1234, dontLearn: true, policyApplied: true } }, innerUdpFrame(64));
  add('IPv4, inner IPv4 options', v4, innerUdpFrame(33, { ipOptions: [0x94, 0x04, 0, 0] }));
  add('IPv4, jumbo inner', v4, innerUdpFrame(9000 - 42));
  add('IPv6 + 802.1Q, port 8472', v6, innerUdpFrame(200));
  add('IPv6, jumbo inner, odd length', v6, innerUdpFrame(8999 - 42));
  // The batch path: two peers in one batch, offload mode (valid inner checksums).
  const kernels = createKernels('wasm-simd');
  const batch = new PacketBatch({ capacity: 4, slotSize: 9216, kernels });
  const encapsulator = new Encapsulator([v4, v6], { udpChecksumMode: 'offload', kernels });
  const inners = [innerUdpFrame(300, { seed: 1 }), innerUdpFrame(301, { seed: 2 }), innerUdpFrame(5000, { seed: 3 }), innerUdpFrame(77, { seed: 4 })];
  inners.forEach((inner, i) => batch.writeInner(i, inner, i % 2));
  assert.is(encapsulator.run(batch, 4), 4);
  inners.forEach((inner, i) => list.push({
    name: `batch slot ${i} (offload, peer ${i % 2})`, tunnel: i % 2 ? v6 : v4, inner, frame: batch.frame(i).slice(), udpChecksum: true,
  }));
  return list;
}

const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

const skipReason = cannotRun('Wireshark agreement', { commands: ['tshark'] });
if (skipReason) {
  warnSkipped(skipReason);
} else {
  test('tshark dissects every frame with good checksums, nothing malformed, every field as asked', () => {
    const all = cases();
    const file = join(temporaryDir('vxlan-tshark-'), 'frames.pcap');
    writeFileSync(file, writePcap(all.map(({ frame }) => ({ data: frame }))));
    const dissections = tshark(file);
    assert.is(dissections.length, all.length);
    const bad = run('tshark', ['-r', file, ...CHECKSUMS_ON, '-Y', 'ip.checksum.status==0 || udp.checksum.status==0 || _ws.malformed || _ws.expert.severity>=error']);
    assert.is(bad.trim(), '', 'no frame has a bad checksum or a malformed/error mark');

    all.forEach(({ name, tunnel, inner, udpChecksum }, i) => {
      const d = dissections[i];
      const at = `${name}: `;
      const ipv6 = tunnel.source.ip.includes(':');
      assert.equal(d['eth.src'], [tunnel.source.mac, '52:54:00:00:00:01'], at + 'MACs (outer, inner)');
      assert.equal(d['eth.dst'], [tunnel.destination.mac, '52:54:00:00:00:02'], at + 'MACs');
      assert.equal(d['vlan.id'], tunnel.vlan ? [String(tunnel.vlan.vid)] : [], at + 'VLAN');
      if (tunnel.vlan) assert.equal(d['vlan.priority'], [String(tunnel.vlan.pcp)], at + 'PCP');
      if (ipv6) {
        assert.equal(d['ipv6.src'], [tunnel.source.ip], at + 'IPv6 source');
        assert.equal(d['ipv6.dst'], [tunnel.destination.ip], at + 'IPv6 destination');
        assert.equal(d['ipv6.hlim'], [String(tunnel.ttl)], at + 'hop limit');
        assert.equal(d['ipv6.plen'], [String(8 + 8 + inner.length)], at + 'payload length');
        assert.is(Number(d['ipv6.flow'][0]), tunnel.flowLabel ?? 0, at + 'flow label');
        assert.equal(d['ip.src'], ['10.9.0.1'], at + 'only the inner IPv4');
      } else {
        assert.equal(d['ip.src'], [tunnel.source.ip, '10.9.0.1'], at + 'IPv4 source (outer, inner)');
        assert.equal(d['ip.dst'], [tunnel.destination.ip, '10.9.0.2'], at + 'IPv4 destination');
        assert.is(d['ip.ttl'][0], String(tunnel.ttl), at + 'TTL');
        assert.is(Number(d['ip.dsfield'][0]), tunnel.tos, at + 'TOS');
        assert.is(d['ip.flags.df'][0], tunnel.dontFragment ? '1' : '0', at + 'DF');
        assert.is(d['ip.len'][0], String(20 + 8 + 8 + inner.length), at + 'total length');
      }
      assert.ok(d['ip.checksum.status'].every((status) => status === '1'), at + 'every IPv4 header checksum good (outer and inner)');
      const port = tunnel.destination.port ?? 4789;
      assert.equal(d['udp.dstport'], [String(port), '8080'], at + 'UDP destination ports');
      if (tunnel.source.port) assert.is(d['udp.srcport'][0], String(tunnel.source.port), at + 'fixed source port');
      else assert.ok(Number(d['udp.srcport'][0]) >= 49152, at + 'hashed source port in the default range');
      assert.is(d['udp.length'][0], String(8 + 8 + inner.length), at + 'outer UDP length');
      // Wireshark's checksum status: 1 good, 3 not present (a zero UDP checksum over IPv4).
      assert.is(d['udp.checksum.status'][0], udpChecksum ? '1' : '3', at + (udpChecksum ? 'outer UDP checksum good' : 'outer UDP checksum absent'));
      if (!udpChecksum) assert.is(d['udp.checksum'][0], '0x0000', at + 'zero checksum');
      assert.is(d['udp.checksum.status'][1], '1', at + 'inner UDP checksum good: the payload arrived intact');
      assert.equal(d['vxlan.vni'], [String(tunnel.vni)], at + 'VNI');
      assert.equal(d['vxlan.flag_i'], ['1'], at + 'I flag');
      assert.equal(d['vxlan.flag_g'], [tunnel.gbp ? '1' : '0'], at + 'G flag');
      if (tunnel.gbp) {
        assert.equal(d['vxlan.flag_d'], [tunnel.gbp.dontLearn ? '1' : '0'], at + 'D flag');
        assert.equal(d['vxlan.flag_a'], [tunnel.gbp.policyApplied ? '1' : '0'], at + 'A flag');
        assert.equal(d['vxlan.gbp'], [String(tunnel.gbp.group)], at + 'group policy id');
      }
      const innerHeaderLen = 14 + (inner[14] & 0x0f) * 4 + 8;
      assert.is(d['data.data'][0], hex(inner.subarray(innerHeaderLen)), at + 'inner payload bytes');
      assert.equal(d['_ws.malformed'], [], at + 'not malformed');
    });
  });

  test('the checksum filter really counts bad checksums (a corrupted frame is caught)', () => {
    const good = encapsulate(innerUdpFrame(100), v4);
    const badIp = good.slice();
    badIp[24] ^= 0x01;
    const badUdp = good.slice();
    badUdp[badUdp.length - 1] ^= 0x01;
    const file = join(temporaryDir('vxlan-tshark-'), 'bad.pcap');
    writeFileSync(file, writePcap([{ data: good }, { data: badIp }, { data: badUdp }]));
    const flagged = run('tshark', ['-r', file, ...CHECKSUMS_ON, '-Y', 'ip.checksum.status==0 || udp.checksum.status==0', '-T', 'fields', '-e', 'frame.number']);
    assert.equal(flagged.trim().split('\n'), ['2', '3']);
  });

  test.after(removeTemporaryDirs);
  test.run();
}
