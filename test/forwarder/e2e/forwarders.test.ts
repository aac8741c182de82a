// Forwarders talking to forwarders, in network namespaces this file makes (root):
// - two hosts, each a forwarder with a TAP: ping and iperf3 TCP both ways;
// - three hosts on one underlay bridge, two forwarders and a kernel `vxlan` device (its flood list
//   made with `bridge fdb append 00:00:00:00:00:00 … dst <peer>`): a broadcast (ARP) is replicated
//   to both peers, the MACs behind each peer are learned with the right addresses, and unicast then
//   goes only to the peer that has the destination, shown by the forwarders' counters, their FDBs,
//   the kernel's FDB and the kernel device's receive count.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { iperf3, Lab, labReady, ping } from '../../helpers/netns';
import type { Snapshot } from './forwarder-process';
import { expectPing, forwarderIn, IPV4, OVERLAY, twoForwarders, VNI } from './topology';

const TESTS = [
  'forwarder ↔ forwarder, IPv4 underlay: ping and iperf3 TCP both ways',
  'three hosts (two forwarders, one kernel vxlan): broadcast replicated to both peers, MACs learned, then unicast only to the right peer',
];

if (labReady(test, 'forwarder e2e (forwarders)', ['ping', 'iperf3', 'bridge', 'sysctl'], TESTS)) {
  test(TESTS[0], async () => {
    const lab = new Lab('ff');
    try {
      const { a, b, fa, fb } = await twoForwarders(lab);
      expectPing(ping(lab, a, '10.42.0.2'), 'forwarder A → forwarder B ping');
      expectPing(ping(lab, b, '10.42.0.1'), 'forwarder B → forwarder A ping');
      const out = await iperf3(lab, { serverNs: b, serverAddress: '10.42.0.2', clientNs: a });
      const back = await iperf3(lab, { serverNs: b, serverAddress: '10.42.0.2', clientNs: a, reverse: true });
      console.log(`  IPv4 iperf3 forwarder A → forwarder B: ${out.gbps.toFixed(3)} Gbit/s (${out.bytes} bytes, ${out.retransmits} retransmits)`);
      console.log(`  IPv4 iperf3 forwarder B → forwarder A: ${back.gbps.toFixed(3)} Gbit/s (${back.bytes} bytes, ${back.retransmits} retransmits)`);
      assert.ok(out.bytes > 0 && back.bytes > 0, 'bytes arrived both ways');
      const [sa, sb] = await Promise.all([fa.snapshot(), fb.snapshot()]);
      assert.equal(sa.fdb, [{ mac: fb.ready.mac, address: '192.168.77.2', port: 4789 }], "A learned B's TAP behind B");
      assert.equal(sb.fdb, [{ mac: fa.ready.mac, address: '192.168.77.1', port: 4789 }], "B learned A's TAP behind A");
      console.log(`  RSS after iperf3: A ${sa.rssKiB} KiB, B ${sb.rssKiB} KiB; drops A ${JSON.stringify(nonZero(sa.counters.drops))} B ${JSON.stringify(nonZero(sb.counters.drops))}`);
    } finally {
      await lab.cleanup();
    }
  });

  test(TESTS[1], async () => {
    const lab = new Lab('f3');
    try {
      const a = lab.namespace('a');
      const b = lab.namespace('b');
      const c = lab.namespace('c');
      const s = lab.namespace('s');
      lab.bridge(s, [{ ns: a, addresses: ['192.168.77.1/24'] }, { ns: b, addresses: ['192.168.77.2/24'] }, { ns: c, addresses: ['192.168.77.3/24'] }]);
      const KERNEL_MAC = '02:42:0a:2a:00:03';
      // No `remote`: the kernel floods to every all-zeros FDB entry (head-end replication).
      lab.kernelVxlan(c, { vni: VNI, local: '192.168.77.3', mac: KERNEL_MAC, address: '10.42.0.3/24' });
      lab.fdbAppend(c, 'vx0', ['192.168.77.1', '192.168.77.2']);
      const [fa, fb] = await Promise.all([
        forwarderIn(lab, a, '192.168.77.1', ['192.168.77.2', '192.168.77.3'], OVERLAY.a, IPV4.mtu),
        forwarderIn(lab, b, '192.168.77.2', ['192.168.77.1', '192.168.77.3'], OVERLAY.b, IPV4.mtu),
      ]);
      const macA = fa.ready.mac;
      const macB = fb.ready.mac;
      const kernelRx = () => Number(lab.exec(c, 'cat', '/sys/class/net/vx0/statistics/rx_packets').trim());
      const state = async () => ({ a: await fa.snapshot(), b: await fb.snapshot(), cRx: kernelRx() });
      const show = (label: string, x: { a: Snapshot; b: Snapshot; cRx: number }) =>
        `${label}: A ${JSON.stringify(x.a.counters.networks[0])} fdb ${JSON.stringify(x.a.fdb)}; B ${JSON.stringify(x.b.counters.networks[0])} fdb ${JSON.stringify(x.b.fdb)}; C vx0 rx ${x.cRx}`;

      // 1. A → C. A's ARP request is flooded to B and C; C answers A (unicast: its kernel learned
      //    A's MAC behind .1), A learns C's MAC behind .3 and sends the echo requests to C only.
      const s0 = await state();
      expectPing(ping(lab, a, '10.42.0.3'), 'forwarder A → kernel C ping');
      const s1 = await state();
      const floodA1 = s1.a.counters.networks[0].flooded - s0.a.counters.networks[0].flooded;
      const why1 = `${show('before', s0)}\n${show('after', s1)}`;
      console.log(`  A → C: A flooded ${floodA1}, A sent ${s1.a.counters.networks[0].toUnderlay.frames - s0.a.counters.networks[0].toUnderlay.frames} datagrams, B got ${s1.b.underlay.received - s0.b.underlay.received}, C's vx0 got ${s1.cRx - s0.cRx}`);
      assert.ok(floodA1 >= 1, `A flooded the ARP request\n${why1}`);
      assert.is(s1.a.counters.networks[0].toUnderlay.frames - s0.a.counters.networks[0].toUnderlay.frames, 2 * floodA1 + 3,
        `A sent each flood to both peers and the 3 echo requests once\n${why1}`);
      assert.is(s1.b.underlay.received - s0.b.underlay.received, floodA1, `B received the floods and nothing else (no echo request)\n${why1}`);
      assert.is(s1.b.counters.networks[0].toDevice.frames - s0.b.counters.networks[0].toDevice.frames, floodA1, `B wrote the floods to its TAP\n${why1}`);
      assert.is(s1.cRx - s0.cRx, floodA1 + 3, `C's vx0 received the floods and the 3 echo requests\n${why1}`);
      assert.ok(s1.a.fdb.some((e) => e.mac === KERNEL_MAC && e.address === '192.168.77.3'), `A learned C's MAC behind .3\n${why1}`);
      assert.ok(s1.b.fdb.some((e) => e.mac === macA && e.address === '192.168.77.1'), `B learned A's MAC behind .1 from the flood\n${why1}`);
      const kernelFdb = lab.exec(c, 'bridge', 'fdb', 'show', 'dev', 'vx0');
      assert.match(kernelFdb, new RegExp(`^${macA} dst 192\\.168\\.77\\.1 `, 'm'), `C's kernel learned A's MAC behind .1:\n${kernelFdb}`);

      // 2. A → B. A's ARP for .2 is flooded (C's vx0 sees it); B answers straight to A (it learned
      //    A's MAC in step 1); the echo requests go to B only: C's vx0 sees nothing more.
      expectPing(ping(lab, a, '10.42.0.2'), 'forwarder A → forwarder B ping');
      const s2 = await state();
      const floodA2 = s2.a.counters.networks[0].flooded - s1.a.counters.networks[0].flooded;
      const floodB2 = s2.b.counters.networks[0].flooded - s1.b.counters.networks[0].flooded;
      const why2 = `${show('before', s1)}\n${show('after', s2)}`;
      console.log(`  A → B: A flooded ${floodA2}, B flooded ${floodB2}, C's vx0 got ${s2.cRx - s1.cRx}`);
      assert.ok(floodA2 >= 1, `A flooded its ARP request for .2\n${why2}`);
      assert.is(floodB2, 0, `B answered by unicast to A (learned in step 1), nothing flooded\n${why2}`);
      assert.is(s2.cRx - s1.cRx, floodA2, `C's vx0 got A's floods and no echo request or reply\n${why2}`);
      assert.is(s2.b.counters.networks[0].toUnderlay.frames - s1.b.counters.networks[0].toUnderlay.frames, 1 + 3, `B sent the ARP reply and 3 echo replies, to A only\n${why2}`);
      assert.ok(s2.a.fdb.some((e) => e.mac === macB && e.address === '192.168.77.2'), `A learned B's MAC behind .2\n${why2}`);
      assert.ok(s2.a.fdb.some((e) => e.mac === KERNEL_MAC && e.address === '192.168.77.3'), `A still has C's MAC behind .3\n${why2}`);

      // 3. C → B. The kernel's own head-end replication: its ARP request reaches both forwarders.
      const aDevice = s2.a.counters.networks[0].toDevice.frames;
      expectPing(ping(lab, c, '10.42.0.2'), 'kernel C → forwarder B ping');
      const s3 = await state();
      const why3 = `${show('before', s2)}\n${show('after', s3)}`;
      assert.ok(s3.a.counters.networks[0].toDevice.frames - aDevice >= 1, `C's ARP broadcast reached A too\n${why3}`);
      assert.ok(s3.b.fdb.some((e) => e.mac === KERNEL_MAC && e.address === '192.168.77.3'), `B learned C's MAC behind .3\n${why3}`);
      for (const [name, snapshot] of [['A', s3.a], ['B', s3.b]] as const) {
        assert.is(Object.values(snapshot.counters.drops).reduce((x, y) => x + y, 0), 0, `${name}: no drops: ${JSON.stringify(snapshot.counters.drops)}`);
      }
    } finally {
      await lab.cleanup();
    }
  });
}

function nonZero(record: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(record).filter(([, n]) => n > 0));
}

test.run();
