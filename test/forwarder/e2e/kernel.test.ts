// The forwarder against the Linux kernel's own VTEP, in network namespaces this file makes (root):
// ns A runs the forwarder (a TAP with 10.42.0.1/24), ns B a kernel `vxlan` device (10.42.0.2/24),
// joined by a veth carrying the underlay, IPv4 or IPv6. Pings and iperf3 TCP both ways, the rates
// printed; then a host on the underlay that is not a peer sends well-formed VXLAN and is refused.
// A kernel↔kernel run of the same iperf3 gives the baseline the forwarder's rates compare to.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encapsulate } from '../../../src/index';
import { innerFrame } from '../../helpers/frames';
import { iperf3, Lab, labReady, ping } from '../../helpers/netns';
import { totalDrops } from './forwarder-process';
import { expectPing, forwarderAndKernel, KERNEL_MAC, kernelInB, UNDERLAYS, VNI } from './topology';

const TESTS = [
  ...UNDERLAYS.map((u) => `forwarder ↔ kernel vxlan, IPv${u.family} underlay: ping and iperf3 TCP both ways`),
  'kernel vxlan ↔ kernel vxlan (baseline), IPv4 underlay: iperf3 TCP both ways',
  'a host on the underlay that is not a peer: its well-formed VXLAN is dropped as UNKNOWN_SOURCE, nothing reaches the TAP',
];

if (labReady(test, 'forwarder e2e (kernel)', ['ping', 'iperf3', 'bridge', 'sysctl'], TESTS)) {
  UNDERLAYS.forEach((underlay, index) => {
    test(TESTS[index], async () => {
      const lab = new Lab('fk');
      try {
        const { a, b, forwarder } = await forwarderAndKernel(lab, underlay);
        expectPing(ping(lab, a, '10.42.0.2'), `IPv${underlay.family} forwarder → kernel ping`);
        expectPing(ping(lab, b, '10.42.0.1'), `IPv${underlay.family} kernel → forwarder ping`);
        const out = await iperf3(lab, { serverNs: b, serverAddress: '10.42.0.2', clientNs: a });
        const back = await iperf3(lab, { serverNs: b, serverAddress: '10.42.0.2', clientNs: a, reverse: true });
        console.log(`  IPv${underlay.family} iperf3 forwarder → kernel: ${out.gbps.toFixed(3)} Gbit/s (${out.bytes} bytes, ${out.retransmits} retransmits)`);
        console.log(`  IPv${underlay.family} iperf3 kernel → forwarder: ${back.gbps.toFixed(3)} Gbit/s (${back.bytes} bytes, ${back.retransmits} retransmits)`);
        assert.ok(out.bytes > 0, 'forwarder → kernel: bytes arrived');
        assert.ok(back.bytes > 0, 'kernel → forwarder: bytes arrived');

        const snapshot = await forwarder.snapshot();
        const network = snapshot.counters.networks[0];
        console.log(`  forwarder counters: to underlay ${network.toUnderlay.frames} frames, to TAP ${network.toDevice.frames}, flooded ${network.flooded}, drops ${JSON.stringify(Object.fromEntries(Object.entries(snapshot.counters.drops).filter(([, n]) => n > 0)))}, batches ${JSON.stringify(snapshot.counters.batches)}, RSS ${snapshot.rssKiB} KiB`);
        assert.ok(network.toUnderlay.frames > 1000 && network.toDevice.frames > 1000, 'the iperf3 traffic went through the forwarder');
        assert.ok(network.flooded >= 1, 'the first ARP request was flooded to the peer');
        assert.equal(snapshot.fdb, [{ mac: KERNEL_MAC, address: underlay.b, port: 4789 }], "the kernel vx0's MAC learned behind B's address (whatever its source port)");
        assert.is(snapshot.counters.drops.UNKNOWN_SOURCE + snapshot.counters.drops.UNKNOWN_VNI + snapshot.counters.drops.VXLAN_RESERVED_BITS, 0, 'the kernel sends nothing the forwarder refuses');
      } finally {
        await lab.cleanup();
      }
    });
  });

  test(TESTS[2], async () => {
    const lab = new Lab('kk');
    try {
      const { a, b } = kernelInB(lab);
      lab.kernelVxlan(a, { vni: VNI, local: '192.168.77.1', remote: '192.168.77.2', address: '10.42.0.1/24' });
      expectPing(ping(lab, a, '10.42.0.2'), 'kernel → kernel ping');
      const out = await iperf3(lab, { serverNs: b, serverAddress: '10.42.0.2', clientNs: a });
      const back = await iperf3(lab, { serverNs: b, serverAddress: '10.42.0.2', clientNs: a, reverse: true });
      console.log(`  IPv4 iperf3 kernel A → kernel B: ${out.gbps.toFixed(3)} Gbit/s; B → A: ${back.gbps.toFixed(3)} Gbit/s`);
      assert.ok(out.bytes > 0 && back.bytes > 0, 'bytes arrived both ways');
    } finally {
      await lab.cleanup();
    }
  });

  test(TESTS[3], async () => {
    const lab = new Lab('np');
    try {
      const { a, b, forwarder } = await forwarderAndKernel(lab, UNDERLAYS[0]);
      // A stranger on B's link: an address nobody configured as a peer.
      lab.exec(b, 'ip', 'addr', 'add', '192.168.77.99/24', 'dev', 'veth0');
      // An echo request to the TAP, in a datagram exactly as a VTEP at .99 would send it.
      const frame = encapsulate(innerFrame({
        transport: 'icmp', sourceMac: '02:42:0a:2a:00:63', destinationMac: forwarder.ready.mac,
        sourceIp: '10.42.0.99', destinationIp: '10.42.0.1', identifier: 0x4242, sequence: 1, payloadLen: 32,
      }), { vni: VNI, source: { mac: '02:00:00:00:00:63', ip: '192.168.77.99' }, destination: { mac: '02:00:00:00:00:01', ip: '192.168.77.1' } });
      const datagram = Buffer.from(frame.subarray(14 + 20 + 8)).toString('hex');
      const STRANGER = 5;
      const send = async (bind: string, repeat: number) => {
        const sender = lab.spawnNode(b, 'test/forwarder/e2e/send-udp.ts', [JSON.stringify({ bind, to: '192.168.77.1', datagrams: [datagram], repeat })], { label: `send-udp from ${bind}` });
        const status = await sender.wait(10_000);
        assert.is(status.code, 0, `sender from ${bind}: ${sender.stderr}`);
        assert.match(sender.stdout, new RegExp(`"sent":${repeat}`));
      };
      const before = await forwarder.snapshot();
      await send('192.168.77.99', STRANGER);
      // The forwarder reads within milliseconds; counters are asked for after a pause.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const after = await forwarder.snapshot();
      console.log(`  stranger: UNKNOWN_SOURCE ${before.counters.drops.UNKNOWN_SOURCE} → ${after.counters.drops.UNKNOWN_SOURCE}, to TAP ${before.counters.networks[0].toDevice.frames} → ${after.counters.networks[0].toDevice.frames}`);
      assert.is(after.counters.drops.UNKNOWN_SOURCE - before.counters.drops.UNKNOWN_SOURCE, STRANGER, 'each datagram from the stranger counted UNKNOWN_SOURCE');
      assert.is(after.underlay.unknownSource - before.underlay.unknownSource, STRANGER, 'refused inside the underlay');
      assert.is(after.counters.networks[0].toDevice.frames, before.counters.networks[0].toDevice.frames, 'nothing written to the TAP');
      assert.is(after.tap.sent, before.tap.sent, 'the TAP wrote nothing');
      assert.is(after.fdb.length, before.fdb.length, 'nothing learned from the stranger');
      assert.is(totalDrops(after.counters) - totalDrops(before.counters), STRANGER, 'no other drop');

      // The control: the same datagram from the peer's address is delivered (so the refusal above
      // was the source, not the bytes).
      await send('192.168.77.2', 1);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const control = await forwarder.snapshot();
      assert.is(control.counters.networks[0].toDevice.frames - after.counters.networks[0].toDevice.frames, 1, 'the same datagram from the peer reached the TAP');
      assert.ok(control.fdb.some((entry) => entry.mac === '02:42:0a:2a:00:63' && entry.address === '192.168.77.2'), 'and its source MAC was learned behind the peer');
      void a;
    } finally {
      await lab.cleanup();
    }
  });
}

test.run();
