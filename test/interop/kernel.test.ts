// Kernel captures: real VXLAN traffic between Linux `vxlan` devices in two network namespaces
// (IPv4 and IPv6 underlay, with and without UDP checksums), captured by tcpdump on the veth with
// tx checksum offload off (so the checksums on the wire are the ones the kernel computed), and
// decoded with decapsulate(). Then the other way: frames built by encapsulate() are injected on the
// veth and the kernel answers them (and drops one with a corrupted checksum).
//
// The committed captures in test/fixtures/kernel/ were made by this file (see the README there);
// the first test decodes them and runs without root.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decapsulate, DecodeError, encapsulate, readPcap, type DecapOptions, type VxlanFrame } from '../../src/index';
import { hex } from '../helpers/bytes';
import { innerFrame } from '../helpers/frames';
import { hasCommand, isRoot, netnsUnusable, PYTHON, run, warnSkipped } from './tools';
import { temporaryDirs } from '../helpers/temporary';

const { removeTemporaryDirs, temporaryDir } = temporaryDirs();

const fixturesDir = fileURLToPath(new URL('../fixtures/kernel/', import.meta.url));
/** Set to rewrite the committed captures and commands.txt from a live run (as root). */
const WRITE_FIXTURES = process.env.VXLAN_WRITE_KERNEL_FIXTURES === '1';

// Unique per process, so parallel runs do not clash; the interfaces live inside the namespaces.
const A = `vxa${process.pid}`;
const B = `vxb${process.pid}`;
/** Host numbers: A is 1, B is 2. */
const UNDERLAY_MAC = ['', '02:77:00:00:00:01', '02:77:00:00:00:02'];
const OVERLAY_MAC = ['', '02:42:0a:2a:00:01', '02:42:0a:2a:00:02'];
const overlayIp = (host: number) => `10.42.0.${host}`;
const VNI = 42;
const PINGS = 4;

interface Underlay {
  name: string;
  fixture: string;
  family: 4 | 6;
  /** Extra `ip link add … type vxlan` arguments. */
  vxlanArgs: string[];
  decap: DecapOptions;
  /** The kernel sends UDP checksum 0. */
  zeroChecksum: boolean;
}

const UNDERLAYS: Underlay[] = [
  { name: 'IPv4 underlay, udpcsum', fixture: 'ipv4-udpcsum.pcap', family: 4, vxlanArgs: ['udpcsum'], decap: {}, zeroChecksum: false },
  { name: 'IPv4 underlay, noudpcsum', fixture: 'ipv4-noudpcsum.pcap', family: 4, vxlanArgs: ['noudpcsum'], decap: {}, zeroChecksum: true },
  { name: 'IPv6 underlay, UDP checksum (default)', fixture: 'ipv6-udpcsum.pcap', family: 6, vxlanArgs: [], decap: {}, zeroChecksum: false },
  {
    name: 'IPv6 underlay, udp6zerocsumtx udp6zerocsumrx', fixture: 'ipv6-zerocsum.pcap', family: 6,
    vxlanArgs: ['udp6zerocsumtx', 'udp6zerocsumrx'], decap: { allowZeroUdpChecksumIpv6: true }, zeroChecksum: true,
  },
];
const underlayIp = (underlay: Underlay, host: number) => (underlay.family === 4 ? `192.168.77.${host}` : `fd77::${host}`);

/** What a capture must hold: every frame a VXLAN frame from one vx0 to the other, carrying ICMP echo. */
function checkOverlayPing(frames: VxlanFrame[], underlay: Underlay, at: string): void {
  assert.is(frames.length, 2 * PINGS, `${at}: ${PINGS} echo requests and ${PINGS} replies, nothing else (static neighbours, no IPv6 on vx0)`);
  const types: number[] = [];
  for (const frame of frames) {
    assert.is(frame.ip.version, underlay.family, `${at}: IP version`);
    assert.ok([underlayIp(underlay, 1), underlayIp(underlay, 2)].includes(frame.ip.source), `${at}: outer source ${frame.ip.source}`);
    assert.is(frame.udp.destinationPort, 4789, `${at}: port`);
    assert.is(frame.udp.checksum === 0, underlay.zeroChecksum, `${at}: UDP checksum ${underlay.zeroChecksum ? 'zero' : 'present'} as configured`);
    assert.is(frame.vxlan.vni, VNI, `${at}: VNI`);
    assert.is(frame.vxlan.flags, 0x08, `${at}: I flag only`);
    const inner = frame.inner;
    const from = frame.ip.source === underlayIp(underlay, 1) ? 1 : 2;
    const to = 3 - from;
    const mac = (offset: number) => Array.from(inner.subarray(offset, offset + 6), (b) => b.toString(16).padStart(2, '0')).join(':');
    assert.is(mac(6), OVERLAY_MAC[from], `${at}: inner source MAC is the sender's vx0`);
    assert.is(mac(0), OVERLAY_MAC[to], `${at}: inner destination MAC is the peer's vx0`);
    // Inner IPv4 (EtherType 0x0800 at 12), protocol ICMP (1) at 14+9, type at 14+20: 8 request, 0 reply.
    assert.equal([inner[12], inner[13], inner[23]], [0x08, 0x00, 1], `${at}: inner IPv4/ICMP`);
    assert.is(Array.from(inner.subarray(26, 30)).join('.'), overlayIp(from), `${at}: inner source IP`);
    types.push(inner[34]);
  }
  assert.is(types.filter((type) => type === 8).length, PINGS, `${at}: echo requests`);
  assert.is(types.filter((type) => type === 0).length, PINGS, `${at}: echo replies`);
}

function readCapture(bytes: Uint8Array): Uint8Array[] {
  return readPcap(bytes).packets.map((packet) => packet.data);
}

test('committed kernel captures decode: every frame, VNI 42, ICMP echo inside (runs without root)', () => {
  for (const underlay of UNDERLAYS) {
    const frames = readCapture(readFileSync(join(fixturesDir, underlay.fixture)));
    checkOverlayPing(frames.map((frame) => decapsulate(frame, underlay.decap)), underlay, underlay.fixture);
  }
  // Without the option, a zero UDP checksum over IPv6 is refused (RFC 8200 §8.1), at the checksum field.
  const zero = readCapture(readFileSync(join(fixturesDir, 'ipv6-zerocsum.pcap')))[0];
  try {
    decapsulate(zero);
    assert.unreachable('a zero IPv6 UDP checksum was accepted without allowZeroUdpChecksumIpv6');
  } catch (error) {
    assert.instance(error, DecodeError);
    assert.equal([(error as DecodeError).code, (error as DecodeError).offset], ['ZERO_UDP_CHECKSUM_IPV6', 14 + 40 + 6]);
  }
});

const TSHARK_FIXTURE_TEST = 'committed kernel captures: tshark finds VNI 42 and no bad checksum (independent of our decoder)';
if (!hasCommand('tshark')) {
  if (isRoot) throw new Error('tshark not installed; as root this is a failure (.ci/run installs it)');
  warnSkipped('needs tshark', [TSHARK_FIXTURE_TEST], 'tshark not installed');
} else {
  test(TSHARK_FIXTURE_TEST, () => {
    for (const underlay of UNDERLAYS) {
      const file = join(fixturesDir, underlay.fixture);
      const options = ['-r', file, '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE'];
      const vnis = run('tshark', [...options, '-T', 'fields', '-e', 'vxlan.vni']).trim().split('\n');
      assert.equal(vnis, new Array(2 * PINGS).fill(String(VNI)), `${underlay.fixture}: every frame is VXLAN with VNI 42`);
      const bad = run('tshark', [...options, '-Y', 'ip.checksum.status==0 || udp.checksum.status==0 || icmp.checksum.status==0 || _ws.malformed']);
      assert.is(bad.trim(), '', `${underlay.fixture}: no bad checksum, nothing malformed`);
    }
  });
}

// ---- live: needs root and working network namespaces ----

/** Every command run, with the namespace names made generic, for test/fixtures/kernel/commands.txt. */
const commandLog: string[] = [];
/** Only the runs that make the fixtures are logged. */
let logging = false;

function sh(command: string, ...args: string[]): string {
  if (logging) commandLog.push([command, ...args].join(' ').replaceAll(A, '$A').replaceAll(B, '$B'));
  return run(command, args);
}
const inNs = (ns: string, ...command: string[]) => sh('ip', 'netns', 'exec', ns, ...command);

function tearDown(): void {
  for (const ns of [A, B]) spawnSync('ip', ['netns', 'del', ns]);
}

function setUp(underlay: Underlay): void {
  sh('ip', 'netns', 'add', A);
  sh('ip', 'netns', 'add', B);
  sh('ip', 'link', 'add', 'veth0', 'netns', A, 'address', UNDERLAY_MAC[1], 'type', 'veth', 'peer', 'name', 'veth0', 'netns', B, 'address', UNDERLAY_MAC[2]);
  for (const [ns, host, peer] of [[A, 1, 2], [B, 2, 1]] as const) {
    inNs(ns, 'ip', 'link', 'set', 'lo', 'up');
    inNs(ns, 'ip', 'addr', 'add', `192.168.77.${host}/24`, 'dev', 'veth0');
    inNs(ns, 'ip', 'addr', 'add', `fd77::${host}/64`, 'dev', 'veth0', 'nodad');
    inNs(ns, 'ip', 'link', 'set', 'veth0', 'up');
    // The kernel computes the checksums itself instead of leaving them to (virtual) offload, so
    // what tcpdump sees is what a physical wire would carry.
    inNs(ns, 'ethtool', '-K', 'veth0', 'tx', 'off');
    inNs(ns, 'ip', 'link', 'add', 'vx0', 'address', OVERLAY_MAC[host], 'type', 'vxlan', 'id', String(VNI),
      'local', underlayIp(underlay, host), 'remote', underlayIp(underlay, peer), 'dstport', '4789', 'dev', 'veth0', ...underlay.vxlanArgs);
    // No IPv6 link-local address (no MLD, router or neighbour solicitations) and a static ARP
    // entry: the overlay then carries the pings and nothing else.
    inNs(ns, 'ip', 'link', 'set', 'vx0', 'addrgenmode', 'none');
    inNs(ns, 'ip', 'addr', 'add', `${overlayIp(host)}/24`, 'dev', 'vx0');
    inNs(ns, 'ip', 'neigh', 'add', overlayIp(peer), 'lladdr', OVERLAY_MAC[peer], 'dev', 'vx0', 'nud', 'permanent');
    inNs(ns, 'ip', 'link', 'set', 'vx0', 'up');
  }
  // The IPv6 underlay needs the peer's veth address resolved before the first ping.
  if (underlay.family === 6) inNs(A, 'ping', '-6', '-c', '1', '-W', '2', 'fd77::2');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Capture VXLAN traffic on B's veth0 while `action` runs: tcpdump started before, stopped after. */
async function capture(file: string, action: () => Promise<void> | void): Promise<void> {
  if (logging) commandLog.push(`ip netns exec $B tcpdump -Z root --immediate-mode -i veth0 -U -n -w FILE 'udp port 4789' &`);
  const tcpdump = spawn('ip', ['netns', 'exec', B, 'tcpdump', '-Z', 'root', '--immediate-mode', '-i', 'veth0', '-U', '-n', '-w', file, 'udp port 4789'],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  tcpdump.stderr.on('data', (chunk) => { stderr += chunk; });
  const exited = once(tcpdump, 'exit');
  try {
    // tcpdump prints "listening on" once the capture is open.
    for (let waited = 0; !stderr.includes('listening on') && tcpdump.exitCode === null && waited < 5000; waited += 50) await sleep(50);
    assert.match(stderr, /listening on/, `tcpdump started: ${stderr}`);
    await action();
    // Let the last reply reach the capture before stopping it.
    await sleep(400);
  } finally {
    if (logging) commandLog.push('kill -INT %1  # then wait for tcpdump to exit');
    tcpdump.kill('SIGINT');
    await exited;
  }
  assert.ok(existsSync(file) && statSync(file).size > 24, `capture written: ${stderr}`);
}

/** Send one raw Ethernet frame out of `ns`'s veth0 (AF_PACKET), as if from a remote VTEP. */
function inject(ns: string, frame: Uint8Array): void {
  inNs(ns, PYTHON, '-c', "import socket,sys; s=socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind(('veth0', 0)); s.send(bytes.fromhex(sys.argv[1]))", hex(frame));
}

const LIVE_TESTS = UNDERLAYS.flatMap((underlay) => [
  `kernel vxlan, ${underlay.name}: every frame of an overlay ping decodes (VNI 42, ICMP echo inside)`,
  `kernel vxlan, ${underlay.name}: the kernel answers a frame built by encapsulate() and drops one with a bad UDP checksum`,
]);
const unusable = netnsUnusable();
if (unusable) {
  warnSkipped('needs root', LIVE_TESTS, unusable);
} else {
  UNDERLAYS.forEach((underlay, index) => {
    test(LIVE_TESTS[2 * index], async () => {
      tearDown();
      logging = true;
      commandLog.push('', `# ${underlay.name} → ${underlay.fixture}`);
      try {
        setUp(underlay);
        const file = join(temporaryDir('vxlan-kernel-'), underlay.fixture);
        await capture(file, () => { inNs(A, 'ping', '-c', String(PINGS), '-i', '0.2', '-W', '2', overlayIp(2)); });
        const frames = readCapture(readFileSync(file)).map((frame) => decapsulate(frame, underlay.decap));
        checkOverlayPing(frames, underlay, underlay.name);
        if (WRITE_FIXTURES) copyFileSync(file, join(fixturesDir, underlay.fixture));
      } finally {
        if (logging) commandLog.push(`ip netns del $A; ip netns del $B`);
        logging = false;
        tearDown();
      }
    });

    test(LIVE_TESTS[2 * index + 1], async () => {
      tearDown();
      try {
        setUp(underlay);
        // From A's vx0 to B's vx0, as A's kernel would send it; sequence 1 intact, 2 corrupted.
        const tunnel = {
          vni: VNI, source: { mac: UNDERLAY_MAC[1], ip: underlayIp(underlay, 1) }, destination: { mac: UNDERLAY_MAC[2], ip: underlayIp(underlay, 2) },
          udpChecksum: !underlay.zeroChecksum,
        };
        const request = (sequence: number) => encapsulate(innerFrame({
          transport: 'icmp',
          sourceMac: OVERLAY_MAC[1], destinationMac: OVERLAY_MAC[2], sourceIp: overlayIp(1), destinationIp: overlayIp(2),
          identifier: 0x4242, sequence, payloadLen: 33,
        }), tunnel);
        const good = request(1);
        const corrupted = request(2);
        const checksumAt = 14 + (underlay.family === 4 ? 20 : 40) + 6; // the outer UDP checksum field
        const sent = (corrupted[checksumAt] << 8) | corrupted[checksumAt + 1];
        const wrong = sent === 0 ? 0x1234 : sent ^ 0x00ff;
        corrupted[checksumAt] = wrong >> 8;
        corrupted[checksumAt + 1] = wrong & 0xff;
        const file = join(temporaryDir('vxlan-kernel-'), 'injected.pcap');
        await capture(file, async () => {
          inject(A, corrupted);
          inject(A, good);
          await sleep(300);
        });
        const captured = readCapture(readFileSync(file));
        const decoded = captured.map((frame) => {
          try {
            return decapsulate(frame, underlay.decap);
          } catch (error) {
            return error as DecodeError;
          }
        });
        // On the wire at B: our two frames (the corrupted one refused by our decoder too), then B's reply.
        assert.equal(hex(captured[0]), hex(corrupted), 'the corrupted frame arrived as sent');
        assert.instance(decoded[0], DecodeError);
        assert.is((decoded[0] as DecodeError).code, 'BAD_UDP_CHECKSUM');
        assert.equal(hex(captured[1]), hex(good), 'our frame arrived as sent');
        const replies = decoded.filter((frame): frame is Exclude<typeof frame, DecodeError> => !(frame instanceof DecodeError) && frame.ip.source === underlayIp(underlay, 2));
        const answered = replies.map(({ inner }) => ({ type: inner[34], identifier: (inner[38] << 8) | inner[39], sequence: (inner[40] << 8) | inner[41] }));
        assert.equal(answered, [{ type: 0, identifier: 0x4242, sequence: 1 }],
          'B\'s kernel accepted our frame and answered it, and dropped the one with the bad UDP checksum');
        assert.is(decoded.length, 3, 'nothing else on the wire');
      } finally {
        tearDown();
      }
    });
  });

  if (WRITE_FIXTURES) {
    test.after(() => {
      const header = [
        '# Written by test/interop/kernel.test.ts with VXLAN_WRITE_KERNEL_FIXTURES=1: every command it ran, in order.',
        `# uname -r: ${run('uname', ['-r']).trim()}; ${run('ip', ['-V']).trim()}; ${run('tcpdump', ['--version']).split('\n')[0]}`,
        '# $A and $B are the namespace names (vxa<pid>, vxb<pid>); FILE is the capture file.',
      ];
      writeFileSync(join(fixturesDir, 'commands.txt'), [...header, ...commandLog, ''].join('\n'));
    });
  }
}

test.after(removeTemporaryDirs);
test.run();
