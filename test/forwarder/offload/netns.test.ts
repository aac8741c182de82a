// TAP offloads end to end (root), in network namespaces this file makes: a forwarder whose TAP
// has offloads (TSO split and GRO merge in WASM) against the kernel's vxlan over IPv4 and IPv6
// underlays, and against another such forwarder: pings and iperf3 both ways, super-frames
// counted on both sides of the TAP, a 64 MiB TCP transfer each way arriving with the same sha256,
// and tshark (checksum validation on) reading a capture of the segments on the underlay as valid.
// The same iperf3 with offloads off, in the same run, prints what they buy.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { iperf3, Lab, labReady, ping, type IperfResult } from '../../helpers/netns';
import { run } from '../../interop/tools';
import { temporaryDirs } from '../../helpers/temporary';
import { totalDrops, type Snapshot } from '../e2e/forwarder-process';
import { transfer, TRANSFER_BYTES } from './transfer';
import { expectPing, forwarderAndKernel, forwarderIn, IPV4, kernelInB, OVERLAY, twoForwarders, UNDERLAYS } from '../e2e/topology';

const { removeTemporaryDirs, temporaryDir } = temporaryDirs();

function describe(snapshot: Snapshot): string {
  const tap = snapshot.tap;
  const drops = Object.fromEntries(Object.entries(snapshot.counters.drops).filter(([, n]) => n > 0));
  return `TAP read ${tap.superFramesIn} super-frames → ${tap.segmentsIn} segments (of ${tap.received} frames), wrote ${tap.superFramesOut} super-frames ← ${tap.segmentsOut} segments (of ${tap.sent}), malformed ${tap.malformed}, oversize ${tap.oversize}; drops ${JSON.stringify(drops)}`;
}

function checkOffloadCounters(snapshot: Snapshot, what: string): void {
  console.log(`  ${what}: ${describe(snapshot)}`);
  assert.ok(snapshot.tap.superFramesIn > 0, `${what}: the kernel handed over super-frames (TSO), split here`);
  assert.ok(snapshot.tap.superFramesOut > 0, `${what}: segments merged into super-frames (GRO)`);
  assert.is(snapshot.tap.malformed + snapshot.tap.oversize + snapshot.tap.writeErrors, 0, `${what}: nothing refused`);
  assert.is(totalDrops(snapshot.counters), 0, `${what}: no drop`);
}

const gbps = (result: IperfResult) => `${result.gbps.toFixed(2)} Gbit/s${result.retransmits ? ` (${result.retransmits} retransmits)` : ''}`;

const TESTS = [
  ...UNDERLAYS.map((u) => `offloads: forwarder ↔ kernel vxlan, IPv${u.family} underlay: ping, iperf3 both ways, super-frames split and merged, ${TRANSFER_BYTES / 2 ** 20} MiB each way with the same sha256`),
  `offloads: forwarder ↔ forwarder: ping, iperf3 both ways, ${TRANSFER_BYTES / 2 ** 20} MiB each way with the same sha256`,
  'offloads: tshark with checksum validation reads the segments the forwarder sends on the underlay as valid',
  'offloads on and off in one run, forwarder ↔ kernel vxlan (IPv4): iperf3 both ways, printed',
];

if (labReady(test, 'TAP offloads e2e', ['ping', 'iperf3', 'tcpdump', 'tshark'], TESTS)) {
  UNDERLAYS.forEach((underlay, index) => {
    test(TESTS[index], async () => {
      const lab = new Lab('of');
      try {
        const { a, b, forwarder } = await forwarderAndKernel(lab, underlay, { offloads: true });
        assert.ok(((forwarder.ready.offloadFlags ?? 0) & 0x07) === 0x07, 'CSUM, TSO4 and TSO6 taken');
        expectPing(ping(lab, a, '10.42.0.2'), 'forwarder → kernel ping');
        expectPing(ping(lab, b, '10.42.0.1'), 'kernel → forwarder ping');
        const out = await iperf3(lab, { serverNs: b, serverAddress: '10.42.0.2', clientNs: a });
        const back = await iperf3(lab, { serverNs: b, serverAddress: '10.42.0.2', clientNs: a, reverse: true });
        console.log(`  IPv${underlay.family} iperf3 forwarder → kernel ${gbps(out)}, kernel → forwarder ${gbps(back)}`);
        assert.ok(out.bytes > 0 && back.bytes > 0, 'bytes arrived both ways');
        await transfer(lab, b, '10.42.0.2', a, false, 'forwarder → kernel');
        await transfer(lab, b, '10.42.0.2', a, true, 'kernel → forwarder');
        checkOffloadCounters(await forwarder.snapshot(), `IPv${underlay.family} forwarder`);
      } finally {
        await lab.cleanup();
      }
    });
  });

  test(TESTS[2], async () => {
    const lab = new Lab('off');
    try {
      const { a, b, fa, fb } = await twoForwarders(lab, IPV4, { offloads: true });
      expectPing(ping(lab, a, '10.42.0.2'), 'A → B ping');
      expectPing(ping(lab, b, '10.42.0.1'), 'B → A ping');
      const out = await iperf3(lab, { serverNs: b, serverAddress: '10.42.0.2', clientNs: a });
      const back = await iperf3(lab, { serverNs: b, serverAddress: '10.42.0.2', clientNs: a, reverse: true });
      console.log(`  iperf3 forwarder A → forwarder B ${gbps(out)}, B → A ${gbps(back)}`);
      assert.ok(out.bytes > 0 && back.bytes > 0, 'bytes arrived both ways');
      await transfer(lab, b, '10.42.0.2', a, false, 'A → B');
      await transfer(lab, b, '10.42.0.2', a, true, 'B → A');
      checkOffloadCounters(await fa.snapshot(), 'forwarder A');
      checkOffloadCounters(await fb.snapshot(), 'forwarder B');
    } finally {
      await lab.cleanup();
    }
  });

  test(TESTS[3], async () => {
    const lab = new Lab('ots');
    try {
      // Checksums are judged from a capture on the veth: its transmit offload off (the one case
      // where the tests turn it off), or the kernel leaves the outer UDP checksums for a NIC to
      // finish and tshark sees them unfinished.
      const { a, b } = kernelInB(lab, IPV4, false);
      const forwarder = await forwarderIn(lab, a, IPV4.a, [IPV4.b], OVERLAY.a, IPV4.mtu, { offloads: true });
      expectPing(ping(lab, a, '10.42.0.2'), 'forwarder → kernel ping');
      const file = join(temporaryDir('vxlan-offload-'), 'underlay.pcap');
      // What the forwarder sends (from A's address), as B's veth receives it: 3000 datagrams.
      const capture = lab.spawn(b, 'tcpdump', ['-i', 'veth0', '-n', '-s', '0', '-U', '-c', '3000', '-w', file, `udp and src host ${IPV4.a}`], { label: 'tcpdump' });
      await capture.waitFor('tcpdump listening', () => capture.stderr.includes('listening on'), 5000);
      await iperf3(lab, { serverNs: b, serverAddress: '10.42.0.2', clientNs: a, seconds: 1 });
      await capture.wait(10_000);
      const snapshot = await forwarder.snapshot();
      assert.ok(snapshot.tap.superFramesIn > 0, 'the capture covers split super-frames');
      // The TCP payload is the transfer's random bytes (and iperf3's): decoded as plain data, so no
      // heuristic dissector (Thrift, for one) mistakes them for its protocol and calls them malformed.
      const PREFERENCES = [
        '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '--disable-protocol', 'iperf3',
        '-d', 'tcp.port==5301,data', '-d', 'tcp.port==5201,data',
      ];
      const count = (filter: string) => {
        const output = run('tshark', ['-r', file, ...PREFERENCES, '-Y', filter, '-T', 'fields', '-e', 'frame.number']).trim();
        return output === '' ? 0 : output.split('\n').length;
      };
      // Per datagram: the outer and inner IP lengths and checksum states (tshark: 0 bad, 1 good, 2 unverified).
      const rows = run('tshark', ['-r', file, ...PREFERENCES, '-Y', 'vxlan', '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=a', '-E', 'aggregator=|',
        '-e', 'ip.len', '-e', 'ip.checksum.status', '-e', 'udp.checksum.status', '-e', 'tcp.checksum.status', '-e', 'tcp.len'])
        .trim().split('\n').map((line) => line.split('\t').map((field) => field.split('|')));
      const all = rows.length;
      const data = rows.filter((row) => Number(row[4][0]) > 0).length;
      const good = rows.filter((row) => row[1].length === 2 && row[1].every((v) => v === '1') && row[3][0] === '1').length;
      const bad = count('ip.checksum.status==0 || udp.checksum.status==0 || tcp.checksum.status==0');
      const malformed = count('_ws.malformed || _ws.expert.severity>=error');
      const oversize = rows.filter((row) => Number(row[0][1]) > IPV4.mtu).length;
      console.log(`  capture: ${all} VXLAN datagrams, ${data} with TCP data, ${good} with outer and inner IPv4 and inner TCP checksums verified good, ${bad} bad, ${malformed} malformed, ${oversize} inner packets over the MTU`);
      if (malformed > 0) {
        console.log(run('tshark', ['-r', file, ...PREFERENCES, '-Y', '_ws.malformed || _ws.expert.severity>=error', '-T', 'fields',
          '-e', 'frame.number', '-e', 'frame.len', '-e', '_ws.expert.message', '-e', '_ws.col.Info']));
      }
      assert.ok(all >= 2000 && data >= 1000, 'the capture holds the transfer');
      assert.is(bad, 0, 'no bad checksum');
      assert.is(malformed, 0, 'nothing malformed');
      assert.is(good, all, 'every IPv4 and inner TCP checksum verified good');
      assert.is(oversize, 0, 'segments, not super-frames, on the wire');
    } finally {
      await lab.cleanup();
      removeTemporaryDirs();
    }
  });

  test(TESTS[4], async () => {
    const results: string[] = [];
    for (const offloads of [false, true]) {
      const lab = new Lab(offloads ? 'on' : 'of0');
      try {
        const { a, b } = await forwarderAndKernel(lab, IPV4, { offloads });
        expectPing(ping(lab, a, '10.42.0.2'), 'ping');
        const out = await iperf3(lab, { serverNs: b, serverAddress: '10.42.0.2', clientNs: a, seconds: 3 });
        const back = await iperf3(lab, { serverNs: b, serverAddress: '10.42.0.2', clientNs: a, seconds: 3, reverse: true });
        results.push(`offloads ${offloads ? 'on ' : 'off'}: forwarder → kernel ${gbps(out)}, kernel → forwarder ${gbps(back)}`);
        assert.ok(out.bytes > 0 && back.bytes > 0);
      } finally {
        await lab.cleanup();
      }
    }
    for (const line of results) console.log(`  ${line}`);
  });
}

test.run();
