// scapy agreement: frames crafted by scapy, valid and deliberately broken, decode to scapy's own
// reading of their fields or to the exact DecodeError; and scapy reads our frames the same way.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decapsulate, decapsulateLax, DecodeError, encapsulate, type TunnelOptions } from '../../src/index';
import { cannotRun, innerUdpFrame, run, warnSkipped } from '../helpers/real-tools';

const PYTHON = '/usr/bin/python3'; // Debian's python3-scapy lives here, not in a pyenv python on PATH
const script = join(fileURLToPath(new URL('.', import.meta.url)), 'scapy', 'craft.py');
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const fromHex = (text: string) => new Uint8Array(Buffer.from(text, 'hex'));

interface Crafted {
  name: string;
  hex: string;
  fields?: {
    ethernet: { source: string; destination: string; vlans: number[] };
    ip: { version: number; source: string; destination: string; ttl: number };
    udp: { sourcePort: number; destinationPort: number; length: number; checksum: number };
    vxlan: { vni: number; flags: number; gbp?: { group: number; dontLearn: boolean; policyApplied: boolean } };
    inner: string;
  };
  error?: { code: string; layer: string; offset: number };
}

function scapyAvailable(): string | undefined {
  const missing = cannotRun('scapy agreement', { commands: [PYTHON] });
  if (missing) return missing;
  try {
    run(PYTHON, ['-c', 'import scapy']);
    return undefined;
  } catch {
    if (process.getuid?.() === 0) throw new Error('scapy agreement: python3-scapy not installed; .ci/run installs it');
    return 'scapy agreement: python3-scapy not installed';
  }
}

const skipReason = scapyAvailable();
if (skipReason) {
  warnSkipped(skipReason);
} else {
  test('frames crafted by scapy decode to scapy\'s fields, broken ones to the exact error', () => {
    const crafted: Crafted[] = JSON.parse(run(PYTHON, [script, 'craft']));
    assert.ok(crafted.length >= 20, `${crafted.length} frames`);
    for (const frame of crafted) {
      const bytes = fromHex(frame.hex);
      if (frame.fields) {
        const decoded = decapsulate(bytes, { gbp: true });
        const f = frame.fields;
        assert.is(decoded.ethernet.source, f.ethernet.source, frame.name);
        assert.is(decoded.ethernet.destination, f.ethernet.destination, frame.name);
        assert.equal(decoded.ethernet.vlans.map((tag) => tag.vid), f.ethernet.vlans, frame.name);
        assert.is(decoded.ip.version, f.ip.version, frame.name);
        assert.is(decoded.ip.source, f.ip.source, frame.name);
        assert.is(decoded.ip.destination, f.ip.destination, frame.name);
        assert.is(decoded.ip.version === 4 ? decoded.ip.ttl : decoded.ip.hopLimit, f.ip.ttl, frame.name);
        assert.equal(decoded.udp, f.udp, frame.name);
        assert.is(decoded.vxlan.vni, f.vxlan.vni, frame.name);
        assert.is(decoded.vxlan.flags, f.vxlan.flags, frame.name);
        assert.equal(decoded.vxlan.gbp, f.vxlan.gbp, frame.name);
        assert.is(hex(decoded.inner), f.inner, frame.name);
      } else {
        try {
          decapsulate(bytes);
          assert.unreachable(`${frame.name}: expected ${frame.error!.code}`);
        } catch (error) {
          assert.instance(error, DecodeError, frame.name);
          const { code, layer, offset } = error as DecodeError;
          assert.equal({ code, layer, offset }, frame.error, frame.name);
        }
      }
    }
    // Lax decoding reads scapy's default VXLAN flags (I plus GPE's P bit) rather than refusing them.
    const gpeFlags = crafted.find((frame) => frame.name.startsWith('scapy default flags'))!;
    assert.is(decapsulateLax(fromHex(gpeFlags.hex)).vxlan.flags, 0x0c);
  });

  test('scapy reads frames built by encapsulate() the same way, and computes the same checksums', () => {
    const tunnels: TunnelOptions[] = [
      { vni: 5, source: { mac: '02:00:00:00:00:01', ip: '192.0.2.1' }, destination: { mac: '02:00:00:00:00:02', ip: '192.0.2.2' }, ttl: 99 },
      { vni: 6, source: { mac: '02:00:00:00:00:01', ip: '2001:db8::1', port: 1234 }, destination: { mac: '02:00:00:00:00:02', ip: '2001:db8::2' }, vlan: { vid: 12 } },
      { vni: 7, source: { mac: '02:00:00:00:00:01', ip: '192.0.2.1' }, destination: { mac: '02:00:00:00:00:02', ip: '192.0.2.2', port: 8472 }, gbp: { group: 300, dontLearn: true } },
    ];
    const frames = tunnels.flatMap((tunnel) => [61, 1400].map((len) => ({ tunnel, frame: encapsulate(innerUdpFrame(len), tunnel) })));
    const views = JSON.parse(run(PYTHON, [script, 'dissect'], frames.map(({ frame }) => hex(frame)).join('\n')));
    frames.forEach(({ tunnel, frame }, i) => {
      const view = views[i];
      const ours = decapsulate(frame, { gbp: true });
      assert.is(view.vxlan.vni, tunnel.vni);
      assert.is(view.ip.source, tunnel.source.ip);
      assert.is(view.ip.destination, tunnel.destination.ip);
      assert.equal(view.ethernet.vlans, tunnel.vlan ? [tunnel.vlan.vid] : []);
      assert.equal(view.udp, ours.udp);
      assert.is(view.scapyUdpChecksum, ours.udp.checksum, 'scapy computes the same UDP checksum');
      if (ours.ip.version === 4) assert.is(view.scapyIpChecksum, ours.ip.checksum, 'and the same IPv4 header checksum');
      assert.is(view.inner, hex(ours.inner));
      if (tunnel.gbp) assert.equal(view.vxlan.gbp, { group: 300, dontLearn: true, policyApplied: false });
    });
  });

  test.run();
}
