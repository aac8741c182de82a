// Kernel captures: real VXLAN traffic sent by Linux `vxlan` devices between two network
// namespaces (IPv4 and IPv6 underlay, with and without UDP checksums), captured with tcpdump on
// the veth with tx checksum offload off (so the checksums on the wire are real), and decoded.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { decapsulate, readPcap, type DecapOptions } from '../../src/index';
import { cannotRun, run, warnSkipped } from '../helpers/real-tools';
import { removeTemporaryDirs, temporaryDir } from '../helpers/temporary';

const A = `vxa${process.pid}`;
const B = `vxb${process.pid}`;

function ip(...args: string[]): void {
  run('ip', args);
}
function inNs(ns: string, ...command: string[]): string {
  return run('ip', ['netns', 'exec', ns, ...command]);
}

interface Underlay {
  name: string;
  family: 4 | 6;
  /** Extra `ip link add … type vxlan` arguments. */
  vxlanArgs: string[];
  decap: DecapOptions;
  expectZeroChecksum: boolean;
}

const underlays: Underlay[] = [
  { name: 'IPv4 underlay, udpcsum', family: 4, vxlanArgs: ['udpcsum'], decap: {}, expectZeroChecksum: false },
  { name: 'IPv4 underlay, noudpcsum', family: 4, vxlanArgs: ['noudpcsum'], decap: {}, expectZeroChecksum: true },
  { name: 'IPv6 underlay, UDP checksum', family: 6, vxlanArgs: [], decap: {}, expectZeroChecksum: false },
  {
    name: 'IPv6 underlay, udp6zerocsumtx', family: 6, vxlanArgs: ['udp6zerocsumtx', 'udp6zerocsumrx'],
    decap: { allowZeroUdpChecksumIpv6: true }, expectZeroChecksum: true,
  },
];

function setUpNamespaces(): void {
  ip('netns', 'add', A);
  ip('netns', 'add', B);
  ip('link', 'add', 'veth0', 'netns', A, 'type', 'veth', 'peer', 'name', 'veth0', 'netns', B);
  for (const [ns, host] of [[A, 1], [B, 2]] as const) {
    inNs(ns, 'ip', 'link', 'set', 'lo', 'up');
    inNs(ns, 'ip', 'addr', 'add', `192.168.77.${host}/24`, 'dev', 'veth0');
    inNs(ns, 'ip', 'addr', 'add', `fd77::${host}/64`, 'dev', 'veth0', 'nodad');
    inNs(ns, 'ip', 'link', 'set', 'veth0', 'up');
    // Checksums computed by the kernel, not left to (virtual) offload, so the capture is real.
    inNs(ns, 'ethtool', '-K', 'veth0', 'tx', 'off');
  }
}

function tearDown(): void {
  for (const ns of [A, B]) spawnSync('ip', ['netns', 'del', ns]);
}

async function captureOverlayPing(underlay: Underlay, file: string): Promise<void> {
  const remote = (host: number) => underlay.family === 4 ? `192.168.77.${host}` : `fd77::${host}`;
  for (const [ns, host, peer] of [[A, 1, 2], [B, 2, 1]] as const) {
    inNs(ns, 'ip', 'link', 'add', 'vx0', 'type', 'vxlan', 'id', '42', 'local', remote(host), 'remote', remote(peer),
      'dstport', '4789', 'dev', 'veth0', ...underlay.vxlanArgs);
    inNs(ns, 'ip', 'addr', 'add', `10.42.0.${host}/24`, 'dev', 'vx0');
    inNs(ns, 'ip', 'link', 'set', 'vx0', 'up');
  }
  try {
    const tcpdump = spawn('ip', ['netns', 'exec', B, 'tcpdump', '-Z', 'root', '-i', 'veth0', '-U', '-n', '-w', file, 'udp port 4789'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    tcpdump.stderr.on('data', (chunk) => { stderr += chunk; });
    // tcpdump says "listening on" once its capture is open.
    for (let waited = 0; !stderr.includes('listening on') && waited < 5000; waited += 50) await new Promise((r) => setTimeout(r, 50));
    assert.match(stderr, /listening on/, 'tcpdump started');
    inNs(A, 'ping', '-c', '4', '-i', '0.2', '-W', '2', '10.42.0.2');
    // Let the last reply reach the capture before stopping it.
    await new Promise((r) => setTimeout(r, 500));
    tcpdump.kill('SIGINT');
    await once(tcpdump, 'exit');
  } finally {
    for (const ns of [A, B]) spawnSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'del', 'vx0']);
  }
}

/** Decode every frame of a capture; return what the test checks. */
function decodeCapture(bytes: Uint8Array, options: DecapOptions) {
  const packets = readPcap(bytes).packets;
  const frames = packets.map((packet) => decapsulate(packet.data, options));
  return {
    count: frames.length,
    vnis: new Set(frames.map((frame) => frame.vxlan.vni)),
    zeroChecksums: frames.filter((frame) => frame.udp.checksum === 0).length,
    // Inner IPv4 (EtherType at 12) carrying ICMP (protocol at 14 + 9) echo request (type 8) or reply (0).
    echoes: frames.filter(({ inner }) => inner[12] === 0x08 && inner[13] === 0x00 && inner[23] === 1 && (inner[34] === 8 || inner[34] === 0)).length,
    ipVersions: new Set(frames.map((frame) => frame.ip.version)),
  };
}

const fixtures = new URL('../fixtures/kernel/', import.meta.url).pathname;

test('committed kernel captures decode without error (runs without root)', () => {
  const files = [['ipv4-udpcsum.pcap', {}], ['ipv4-noudpcsum.pcap', {}], ['ipv6-udpcsum.pcap', {}],
    ['ipv6-zerocsum.pcap', { allowZeroUdpChecksumIpv6: true }]] as const;
  for (const [name, options] of files) {
    const result = decodeCapture(readFileSync(join(fixtures, name)), options);
    assert.ok(result.count >= 6, `${name}: ${result.count} frames`);
    assert.equal([...result.vnis], [42], `${name}: VNI 42`);
    assert.ok(result.echoes >= 6, `${name}: ICMP echo requests and replies inside`);
  }
  // Without the option, a zero UDP checksum over IPv6 is refused.
  const zero = readPcap(readFileSync(join(fixtures, 'ipv6-zerocsum.pcap'))).packets[0].data;
  assert.throws(() => decapsulate(zero), /ZERO_UDP_CHECKSUM_IPV6/);
});

const skipReason = cannotRun('Linux kernel vxlan captures', { root: true, commands: ['ip', 'tcpdump', 'ethtool', 'ping'] });
if (skipReason) {
  warnSkipped(skipReason);
} else {
  for (const underlay of underlays) {
    test(`kernel vxlan, ${underlay.name}: every captured frame decodes`, async () => {
      tearDown();
      setUpNamespaces();
      try {
        const file = join(temporaryDir('vxlan-kernel-'), 'capture.pcap');
        await captureOverlayPing(underlay, file);
        assert.ok(existsSync(file) && statSync(file).size > 24, 'capture written');
        const result = decodeCapture(readFileSync(file), underlay.decap);
        assert.ok(result.count >= 6, `${result.count} frames captured`);
        assert.equal([...result.vnis], [42]);
        assert.equal([...result.ipVersions], [underlay.family]);
        assert.ok(result.echoes >= 6, `${result.echoes} ICMP echoes inside`);
        assert.is(result.zeroChecksums, underlay.expectZeroChecksum ? result.count : 0, 'UDP checksum present or not as configured');
      } finally {
        tearDown();
      }
    });
  }
}

test.after(removeTemporaryDirs);
test.run();
