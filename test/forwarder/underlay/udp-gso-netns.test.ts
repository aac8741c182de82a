// UDP GSO and GRO on the forwarder's underlay against the kernel's vxlan, in network namespaces
// (root): ns A runs a forwarder (TAP 10.42.0.1) whose UdpUnderlay has GSO/GRO on or off, ns B a
// kernel vxlan (10.42.0.2), joined by a veth. Ping and iperf3 TCP both ways for each setting, in
// one run, with the forwarder's GSO/GRO counters and mean batch sizes (at idle ping, under
// iperf3) printed. Then GSO where the kernel refuses it (SO_NO_CHECK on the socket: EINVAL; since
// Linux 6.11 a device without checksum offload no longer makes it say EIO): the fallbacks are
// counted (at most two, then GSO is off) and the traffic still flows.
//
// Why the veths are set as they are: both keep Linux's default `tx on` (the kernel vxlan's inner
// checksums arrive partial and the forwarder finishes them); one setting turns A's off, since a
// GSO send needs the route's device to take checksum offload (without it kernels before 6.11 say
// EIO); A gets `gro on`, which gives the veth the NAPI receive path where the kernel coalesces
// datagrams for a socket with UDP_GRO.
//
//   npx uvu -r tsx test 'underlay/udp-gso-netns'      (GSO_IPERF_SECONDS=5 for longer runs)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { iperf3, Lab, labUnusable, ping, warnSkipped, type PingResult } from '../../helpers/netns';
import { startForwarder, type Snapshot } from '../e2e/forwarder-process';

const VNI = 42;
const KERNEL_MAC = '02:42:0a:2a:00:02';
const SECONDS = Number(process.env.GSO_IPERF_SECONDS ?? 2);

/** The counters of e2e/run-forwarder.ts with the underlay's GSO/GRO counters and notices. */
interface OffloadSnapshot extends Snapshot {
  offload: { gsoMessages: number; gsoDatagrams: number; gsoFallbacks: number; groMessages: number; groDatagrams: number; gso: boolean; gro: boolean };
  notices: string[];
}

interface Setting {
  name: string;
  family: 4 | 6;
  gso: boolean;
  gro: boolean;
  /** A's veth keeps transmit checksum offload (GSO needed it before Linux 6.11). */
  txOffload: boolean;
  /** SO_NO_CHECK on the underlay socket: GSO refused with EINVAL. */
  noCheck?: boolean;
}

const SETTINGS: Setting[] = [
  { name: 'GSO/GRO on', family: 4, gso: true, gro: true, txOffload: true },
  { name: 'GSO/GRO off', family: 4, gso: false, gro: false, txOffload: true },
  { name: 'GSO/GRO on, IPv6 underlay', family: 6, gso: true, gro: true, txOffload: true },
  { name: 'GSO on, no tx checksum offload on A, GRO on', family: 4, gso: true, gro: true, txOffload: false },
  { name: 'GSO refused by the kernel (SO_NO_CHECK: EINVAL), GRO on', family: 4, gso: true, gro: true, txOffload: true, noCheck: true },
];

function checkPing(result: PingResult, what: string): void {
  assert.ok(result.transmitted > 0, `${what}: ping ran\n${result.output}`);
  assert.is(result.received, result.transmitted, `${what}: every echo answered\n${result.output}`);
}

/** Mean frames per batch between two snapshots, both directions. */
function meanBatches(before: Snapshot, after: Snapshot): string {
  const b = before.counters.batches;
  const a = after.counters.batches;
  const mean = (frames: number, batches: number) => (batches === 0 ? '-' : (frames / batches).toFixed(1));
  return `from TAP ${mean(a.fromDeviceFrames - b.fromDeviceFrames, a.fromDevice - b.fromDevice)}, `
    + `from underlay ${mean(a.fromUnderlayFrames - b.fromUnderlayFrames, a.fromUnderlay - b.fromUnderlay)}`;
}

/** Where a namespace dropped packets: UDP receive errors and links' rx drops, the non-zero ones. */
function dropsIn(lab: Lab, ns: string): string {
  const found: string[] = [];
  const udp = lab.tryExec(ns, 'nstat', '-az');
  for (const line of udp.stdout.split('\n')) {
    const [name, value] = line.trim().split(/\s+/);
    if (/^Udp6?(RcvbufErrors|InErrors|SndbufErrors)$/.test(name ?? '') && Number(value) > 0) found.push(`${name} ${value}`);
  }
  const links = lab.tryExec(ns, 'ip', '-s', '-j', 'link', 'show');
  try {
    for (const link of JSON.parse(links.stdout) as { ifname: string; stats64?: { rx?: { dropped?: number }; tx?: { dropped?: number } } }[]) {
      if ((link.stats64?.rx?.dropped ?? 0) > 0) found.push(`${link.ifname} rx dropped ${link.stats64?.rx?.dropped}`);
      if ((link.stats64?.tx?.dropped ?? 0) > 0) found.push(`${link.ifname} tx dropped ${link.stats64?.tx?.dropped}`);
    }
  } catch {
    // no JSON from ip: nothing to add
  }
  return found.length === 0 ? 'none' : found.join(', ');
}

const TESTS = SETTINGS.map((s) => `forwarder ↔ kernel vxlan, ${s.name}: ping and iperf3 TCP both ways`);

let unusable: string | undefined;
try {
  unusable = labUnusable('UDP GSO/GRO e2e', ['ping', 'iperf3']);
} catch (error) {
  test('UDP GSO/GRO e2e: tools', () => {
    throw error;
  });
}

if (unusable !== undefined) {
  warnSkipped('needs root and network namespaces', TESTS, unusable);
} else {
  const results: string[] = [];

  SETTINGS.forEach((setting, index) => {
    test(TESTS[index], async () => {
      const lab = new Lab('gso');
      const v6 = setting.family === 6;
      const [ua, ub, prefix, mtu] = v6 ? ['fd77::1', 'fd77::2', 64, 1430] : ['192.168.77.1', '192.168.77.2', 24, 1450];
      try {
        const a = lab.namespace('a');
        const b = lab.namespace('b');
        lab.veth(a, b, { a: [`${ua}/${prefix}`], b: [`${ub}/${prefix}`] });
        if (!setting.txOffload) lab.exec(a, 'ethtool', '-K', 'veth0', 'tx', 'off');
        lab.exec(a, 'ethtool', '-K', 'veth0', 'gro', 'on');
        lab.kernelVxlan(b, { vni: VNI, local: ub, remote: ua, mac: KERNEL_MAC, address: '10.42.0.2/24', mtu });
        const forwarder = await startForwarder(lab, a, {
          tap: 'vxtap0', mtu, vni: VNI, local: ua, peers: [ub], gso: setting.gso, gro: setting.gro, noCheck: setting.noCheck,
        });
        lab.addresses(a, 'vxtap0', ['10.42.0.1/24']);

        checkPing(ping(lab, a, '10.42.0.2'), 'forwarder → kernel ping');
        const idleBefore = await forwarder.snapshot();
        checkPing(ping(lab, b, '10.42.0.1', { count: 5 }), 'kernel → forwarder ping');
        const idleAfter = await forwarder.snapshot();
        const out = await iperf3(lab, { serverNs: b, serverAddress: '10.42.0.2', clientNs: a, seconds: SECONDS });
        const mid = await forwarder.snapshot();
        const back = await iperf3(lab, { serverNs: b, serverAddress: '10.42.0.2', clientNs: a, seconds: SECONDS, reverse: true });
        const end = (await forwarder.snapshot()) as OffloadSnapshot;
        const o = end.offload;
        const line = `IPv${setting.family} ${setting.name}: forwarder → kernel ${out.gbps.toFixed(2)} Gbit/s (${out.retransmits} retr), `
          + `kernel → forwarder ${back.gbps.toFixed(2)} Gbit/s (${back.retransmits} retr); `
          + `GSO ${o.gsoMessages} messages / ${o.gsoDatagrams} datagrams, ${o.gsoFallbacks} fallbacks; GRO ${o.groMessages} / ${o.groDatagrams}; `
          + `mean batch: idle ping (${meanBatches(idleBefore, idleAfter)}), iperf3 out (${meanBatches(idleAfter, mid)}), iperf3 back (${meanBatches(mid, end)})`;
        console.log(`  ${line}`);
        for (const notice of end.notices) console.log(`  notice: ${notice}`);
        console.log(`  drops: A ${dropsIn(lab, a)}; B ${dropsIn(lab, b)}; forwarder ${JSON.stringify(Object.fromEntries(Object.entries(end.counters.drops).filter(([, n]) => n > 0)))}, underlay send errors ${end.underlay.sendErrors}, receive errors ${end.underlay.receiveErrors}`);
        results.push(line);

        assert.ok(out.bytes > 0 && back.bytes > 0, 'bytes arrived both ways');
        const network = end.counters.networks[0];
        assert.ok(network.toUnderlay.frames > 1000 && network.toDevice.frames > 1000, 'the iperf3 traffic went through the forwarder');
        assert.is(end.counters.drops.UNKNOWN_SOURCE + end.counters.drops.UNKNOWN_VNI + end.counters.drops.VXLAN_RESERVED_BITS, 0, 'nothing refused');
        if (!setting.gso) assert.is(o.gsoMessages, 0);
        if (!setting.gro) assert.is(o.groMessages, 0);
        if (setting.gso && setting.noCheck !== true) {
          // Where the kernel refuses GSO without checksum offload (before 6.11) it says EIO once.
          if (o.gsoFallbacks > 0) assert.ok(!setting.txOffload && !o.gso && o.gsoFallbacks === 1, JSON.stringify({ o, notices: end.notices }));
          else assert.ok(o.gso && o.gsoMessages > 0, 'runs went out as GSO messages');
        }
        if (setting.noCheck === true) {
          assert.ok(o.gsoFallbacks >= 1 && o.gsoFallbacks <= 2, `refusals counted and remembered: ${o.gsoFallbacks}`);
          assert.is(end.notices.length, o.gsoFallbacks, 'told once per refusal');
          assert.match(end.notices[0], /EINVAL/);
        }
      } finally {
        await lab.cleanup();
      }
    });
  });

  test.after(() => {
    if (results.length > 0) console.log(`\n  UDP GSO/GRO, iperf3 ${SECONDS} s each:\n  ${results.join('\n  ')}`);
  });
}

test.run();
