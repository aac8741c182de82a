// scapy agreement: frames crafted by scapy, valid and deliberately broken, decode (on every
// backend) to scapy's own reading of every header field or to the exact DecodeError; and scapy
// reads the frames encapsulate() and the batch Encapsulator build as what was asked for, with the
// checksums scapy computes itself.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  backendName, createKernels, decapsulate, DecodeError, encapsulate, Encapsulator, PacketBatch, useBackend,
  type BackendName, type DecapOptions, type TunnelOptions, type VxlanFrame,
} from '../../src/index';
import { BACKENDS } from '../helpers/backends';
import { fromHex, hex } from '../helpers/bytes';
import { innerArpRequest, innerFrame } from '../helpers/frames';
import { missingTools, PYTHON, run, warnSkipped } from './tools';

const script = join(fileURLToPath(new URL('.', import.meta.url)), 'scapy', 'craft.py');

/** Scapy's view of a frame (craft.py `view`): the shape of VxlanFrame, options and inner as hex. */
type ScapyView = Record<string, unknown>;

interface Crafted {
  name: string;
  hex: string;
  options: DecapOptions;
  fields?: ScapyView;
  error?: { code: string; layer: string; offset: number };
}

/** Our decoded frame in scapy's shape: byte views as hex, absent GBP absent rather than undefined. */
function project(frame: VxlanFrame): ScapyView {
  const ip = frame.ip.version === 4 ? { ...frame.ip, options: hex(frame.ip.options) } : frame.ip;
  const vxlan = frame.vxlan.gbp ? frame.vxlan : { flags: frame.vxlan.flags, vni: frame.vxlan.vni };
  return { ethernet: frame.ethernet, ip, udp: frame.udp, vxlan, inner: hex(frame.inner) };
}

function withBackends(check: (backend: BackendName) => void): void {
  const previous = backendName();
  try {
    for (const backend of BACKENDS) {
      useBackend(backend);
      check(backend);
    }
  } finally {
    useBackend(previous);
  }
}

function scapyUnavailable(): string | undefined {
  const missing = missingTools('scapy agreement', [PYTHON]);
  if (missing) return missing;
  try {
    run(PYTHON, ['-c', 'import scapy.all']);
    return undefined;
  } catch {
    if (process.getuid?.() === 0) throw new Error('scapy agreement: python3-scapy not installed for /usr/bin/python3; .ci/run installs it');
    return 'python3-scapy not installed for /usr/bin/python3';
  }
}

const TESTS = [
  "frames crafted by scapy decode to scapy's reading of every field, on every backend",
  'frames scapy marks broken give the exact DecodeError (code, layer, offset), on every backend',
  'scapy reads frames built by encapsulate() and the Encapsulator as asked, and computes the same checksums',
];
const skipReason = scapyUnavailable();
if (skipReason) {
  warnSkipped('needs scapy', TESTS, skipReason);
} else {
  const crafted: Crafted[] = JSON.parse(run(PYTHON, [script, 'craft']));

  test(TESTS[0], () => {
    const valid = crafted.filter((frame) => frame.fields);
    assert.ok(valid.length >= 12, `${valid.length} valid frames from scapy`);
    withBackends((backend) => {
      for (const frame of valid) {
        const decoded = decapsulate(fromHex(frame.hex), frame.options);
        assert.equal(project(decoded), frame.fields, `${backend}: ${frame.name}`);
      }
    });
  });

  test(TESTS[1], () => {
    const broken = crafted.filter((frame) => frame.error);
    assert.ok(broken.length >= 30, `${broken.length} broken frames from scapy`);
    withBackends((backend) => {
      for (const frame of broken) {
        const at = `${backend}: ${frame.name}`;
        let error: unknown;
        try {
          decapsulate(fromHex(frame.hex), frame.options);
        } catch (caught) {
          error = caught;
        }
        assert.instance(error, DecodeError, `${at}: expected ${frame.error!.code}, got ${error === undefined ? 'a decoded frame' : String(error)}`);
        const { code, layer, offset } = error as DecodeError;
        assert.equal({ code, layer, offset }, frame.error, at);
      }
    });
  });

  test(TESTS[2], () => {
    const tunnels: TunnelOptions[] = [
      { vni: 5, source: { mac: '02:00:00:00:00:01', ip: '192.0.2.1' }, destination: { mac: '02:00:00:00:00:02', ip: '192.0.2.2' }, ttl: 99, tos: 0xb9, dontFragment: true },
      { vni: 6, source: { mac: '02:00:00:00:00:01', ip: '2001:db8::1', port: 1234 }, destination: { mac: '02:00:00:00:00:02', ip: '2001:db8::2' },
        vlan: { vid: 12, pcp: 5 }, flowLabel: 0xfffff, tos: 0x04, ttl: 1 },
      { vni: 7, source: { mac: '02:00:00:00:00:01', ip: '192.0.2.1' }, destination: { mac: '02:00:00:00:00:02', ip: '192.0.2.2', port: 8472 },
        gbp: { group: 300, dontLearn: true } },
      { vni: 0xffffff, source: { mac: '02:00:00:00:00:03', ip: '198.51.100.3' }, destination: { mac: '02:00:00:00:00:04', ip: '198.51.100.4' }, udpChecksum: false },
      { vni: 0, source: { mac: '02:00:00:00:00:05', ip: 'fd00::5' }, destination: { mac: '02:00:00:00:00:06', ip: 'fd00::6' }, gbp: { group: 0xffff, policyApplied: true } },
    ];
    const inners = [innerFrame({ payloadLen: 61 }), innerFrame({ payloadLen: 1400, transport: 'tcp', ipVersion: 6 }), innerArpRequest()];
    /** `zeroChecksum`: the outer UDP checksum is absent (udpChecksum false over IPv4, object API only). */
    const frames: { name: string; tunnel: TunnelOptions; inner: Uint8Array; frame: Uint8Array; zeroChecksum: boolean }[] = [];
    withBackends((backend) => tunnels.forEach((tunnel, t) => inners.forEach((inner, i) => {
      frames.push({
        name: `${backend} encapsulate, tunnel ${t}, inner ${i}`, tunnel, inner, frame: encapsulate(inner, tunnel),
        zeroChecksum: tunnel.udpChecksum === false && !tunnel.source.ip.includes(':'),
      });
    })));
    // 'offload' overrides each tunnel's udpChecksum: every batch frame carries a UDP checksum.
    for (const backend of BACKENDS) {
      const kernels = createKernels(backend);
      const batch = new PacketBatch({ capacity: tunnels.length, slotSize: 2048, kernels });
      const encapsulator = new Encapsulator(tunnels, { udpChecksumMode: 'offload', kernels });
      tunnels.forEach((_, slot) => batch.writeInner(slot, inners[slot % inners.length], slot));
      assert.is(encapsulator.run(batch, tunnels.length), tunnels.length);
      tunnels.forEach((tunnel, slot) => frames.push({
        name: `${backend} Encapsulator 'offload', slot ${slot}`, tunnel, inner: inners[slot % inners.length], frame: batch.frame(slot).slice(), zeroChecksum: false,
      }));
    }

    const views: (ScapyView & Record<string, any>)[] = JSON.parse(run(PYTHON, [script, 'dissect'], frames.map(({ frame }) => hex(frame)).join('\n')));
    assert.is(views.length, frames.length);
    frames.forEach(({ name, tunnel, inner, frame, zeroChecksum }, i) => {
      const view = views[i];
      const at = `${name}: `;
      const ipv6 = tunnel.source.ip.includes(':');
      assert.is(view.ethernet.source, tunnel.source.mac, at + 'source MAC');
      assert.is(view.ethernet.destination, tunnel.destination.mac, at + 'destination MAC');
      assert.equal(view.ethernet.vlans, tunnel.vlan ? [{ tpid: 0x8100, pcp: tunnel.vlan.pcp ?? 0, dei: false, vid: tunnel.vlan.vid }] : [], at + 'VLAN tag');
      assert.is(view.ethernet.etherType, ipv6 ? 0x86dd : 0x0800, at + 'EtherType');
      assert.is(view.ip.source, tunnel.source.ip, at + 'source IP');
      assert.is(view.ip.destination, tunnel.destination.ip, at + 'destination IP');
      const udpLength = 16 + inner.length;
      if (ipv6) {
        assert.equal({ ...view.ip, source: undefined, destination: undefined }, {
          version: 6, trafficClass: tunnel.tos ?? 0, flowLabel: tunnel.flowLabel ?? 0, payloadLength: udpLength, nextHeader: 17,
          hopLimit: tunnel.ttl ?? 64, source: undefined, destination: undefined, extensionHeaders: [],
        }, at + 'IPv6 header');
      } else {
        assert.is(view.ip.ihl, 5, at + 'IHL');
        assert.is((view.ip.dscp << 2) | view.ip.ecn, tunnel.tos ?? 0, at + 'TOS');
        assert.is(view.ip.totalLength, 20 + udpLength, at + 'total length');
        assert.is(view.ip.dontFragment, tunnel.dontFragment ?? false, at + 'DF');
        assert.is(view.ip.moreFragments || view.ip.fragmentOffset !== 0, false, at + 'not a fragment');
        assert.is(view.ip.ttl, tunnel.ttl ?? 64, at + 'TTL');
        assert.is(view.ip.protocol, 17, at + 'protocol');
        assert.is(view.scapyIpChecksum, view.ip.checksum, at + 'scapy computes the same IPv4 header checksum');
      }
      assert.is(view.udp.destinationPort, tunnel.destination.port ?? 4789, at + 'destination port');
      if (tunnel.source.port !== undefined) assert.is(view.udp.sourcePort, tunnel.source.port, at + 'source port');
      else assert.ok(view.udp.sourcePort >= 49152, at + 'hashed source port in the default range');
      assert.is(view.udp.length, udpLength, at + 'UDP length');
      if (zeroChecksum) assert.is(view.udp.checksum, 0, at + 'no UDP checksum, as asked');
      else assert.is(view.scapyUdpChecksum, view.udp.checksum, at + 'scapy computes the same UDP checksum');
      const gbp = tunnel.gbp;
      assert.equal(view.vxlan, gbp
        ? { flags: 0x88, vni: tunnel.vni, gbp: { group: gbp.group, dontLearn: gbp.dontLearn ?? false, policyApplied: gbp.policyApplied ?? false } }
        : { flags: 0x08, vni: tunnel.vni }, at + 'VXLAN header');
      assert.is(view.inner, hex(inner), at + 'inner frame bytes unchanged');
      // And our own decoder reads exactly what scapy read.
      assert.equal(project(decapsulate(frame, { gbp: true })), Object.fromEntries(
        Object.entries(view).filter(([key]) => !key.startsWith('scapy'))), at + 'decapsulate agrees with scapy');
    });
  });

  test.run();
}
