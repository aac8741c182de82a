// Tunnel GSO over an IPv6 underlay, both ways, with `vxlan-wasm forward`'s defaults (the CLI from
// the sources, root, in namespaces this file makes; veths with Linux's default offloads). Against
// the kernel's vxlan: the forwarding line says tunnel GSO is on both ways; the tunnel TAP has
// force_forwarding, IPv6 without an address of its own; the ingress filter is a u32 for protocol
// ipv6; pings, iperf3 both ways, 64 MiB each way with the same sha256; super-frames left whole and
// super-packets came in whole (the "stopped" line's counters); scapy's bad and zero outer UDP
// checksums counted, not forwarded; a packet with an extension header, which the filter leaves to
// the socket, still arrives; filter and TAPs gone at stop. With software segmentation on the
// forwarder's veth (its tx offload off: the case is about that switch), the kernel finishes each
// segment's outer UDP checksum from the pseudo-header sum the forwarder wrote: the kernel peer
// counts no checksum error, and tshark (checksum validation on) reads every captured segment's
// outer UDP and inner TCP checksums as good. IPv6 inside too: 64 MiB each way in both topologies. Forwarder ↔ forwarder over IPv6: whole both ways, 64 MiB each way.
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { iperf3, Lab, labReady, ping, type LabProcess } from '../../helpers/netns';
import { temporaryDirs } from '../../helpers/temporary';
import { PYTHON, run } from '../../interop/tools';
import { transfer, TRANSFER_BYTES } from '../offload/transfer';
import { kernelInB, OVERLAY, twoHosts, UNDERLAYS, VNI } from './topology';
import { egressCounters, forwardCli, ingressFilters, kernelHasTunnelGso, logLine } from './tunnel-gso-cli';

const { removeTemporaryDirs, temporaryDir } = temporaryDirs();
const IPV6 = UNDERLAYS[1];
const TAP = 'vx6t0';
const EGRESS = `${TAP}.gso`;
const MIB = TRANSFER_BYTES / 2 ** 20;
const TESTS = [
  `kernel vxlan over IPv6 (veth offloads on) ↔ vxlan-wasm forward (defaults): tunnel GSO on both ways; ping, iperf3 both ways, ${MIB} MiB each way with the same sha256 (IPv4 and IPv6 inside); whole out and in; scapy's bad and zero UDP checksums counted; clean stop`,
  'vxlan-wasm forward (defaults, IPv6) with software segmentation on its veth: the kernel finishes every segment\'s outer UDP checksum from the partial sum; the kernel peer counts no UDP checksum error, tshark reads every segment\'s checksums as good',
  `vxlan-wasm forward ↔ vxlan-wasm forward over IPv6 (defaults, --queues 2 in B): tunnel GSO on both; iperf3 both ways, ${MIB} MiB each way with the same sha256 (IPv4 and IPv6 inside); whole both ways`,
];

/** The forwarding line's tunnel GSO text. */
function tunnelGsoText(cli: LabProcess): string {
  return String((logLine(cli, 'forwarding') as { offloads?: { tunnelGso?: string } } | undefined)?.offloads?.tunnelGso);
}

/** The defaults' forward command in `ns` at `local` with the one peer `peer`, and its overlay address. */
async function forwardDefaults(lab: Lab, ns: string, local: string, peer: string, overlay: string, extra: string[] = []): Promise<LabProcess> {
  const cli = await forwardCli(lab, ns, ['--tap', TAP, '--vni', String(VNI), '--local', local, '--peer', peer, ...extra], ['vxlan-wasm forward', ...extra, 'at', local].join(' '));
  assert.match(tunnelGsoText(cli), /^on, both ways/, `the defaults run tunnel GSO over IPv6\n${cli.stderr}`);
  lab.addresses(ns, TAP, [`${overlay}/24`]);
  return cli;
}

/** SIGTERM: exit 0, both TAPs and the filter gone; the tunnel TAP's counters. */
async function stop(lab: Lab, ns: string, cli: LabProcess, what: string): Promise<Record<string, number>> {
  cli.signal('SIGTERM');
  const status = await cli.wait(5000);
  assert.is(status.code, 0, `exit 0\n${cli.stderr}`);
  const counters = egressCounters(cli);
  console.log(`  ${what}: ${JSON.stringify(counters)}`);
  assert.ok(counters !== undefined, `tunnel TAP counters in the stopped line\n${cli.stderr}`);
  for (const name of [TAP, EGRESS]) assert.is.not(lab.tryExec(ns, 'ip', 'link', 'show', name).status, 0, `${name} is gone`);
  assert.is(ingressFilters(lab, ns), '', 'the ingress filter is gone');
  return counters!;
}

/**
 * Count the VXLAN datagrams in the capture `file` (tshark, checksum validation on: 0 bad, 1 good):
 * all, those whose outer UDP and inner TCP checksums are good, any bad one, anything malformed.
 */
function judgeCapture(file: string): { all: number; good: number; bad: number; malformed: number } {
  // The TCP payload is iperf3's and the transfer's bytes: plain data, so no heuristic dissector takes it for its protocol.
  const preferences = ['-o', 'udp.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE', '--disable-protocol', 'iperf3',
    '-d', 'tcp.port==5201,data', '-d', 'tcp.port==5301,data'];
  const count = (filter: string): number => {
    const output = run('tshark', ['-r', file, ...preferences, '-Y', filter, '-T', 'fields', '-e', 'frame.number']).trim();
    return output === '' ? 0 : output.split('\n').length;
  };
  return {
    all: count('vxlan && tcp'),
    good: count('vxlan && udp.checksum.status==1 && tcp.checksum.status==1'),
    bad: count('ip.checksum.status==0 || udp.checksum.status==0 || tcp.checksum.status==0'),
    malformed: count('_ws.malformed || _ws.expert.severity>=error'),
  };
}

/** Overlay IPv6 addresses of A and B (/64), for traffic with IPv6 inside. */
const OVERLAY6 = { a: 'fd42::1', b: 'fd42::2' } as const;

/** IPv6 on A's TAP and B's overlay device `deviceB` with OVERLAY6's addresses, a ping over it, and a transfer each way with IPv6 inside. */
async function inner6Transfers(lab: Lab, a: string, b: string, deviceB: string): Promise<void> {
  for (const [ns, device, address] of [[a, TAP, OVERLAY6.a], [b, deviceB, OVERLAY6.b]] as const) {
    lab.exec(ns, 'sysctl', '-qw', `net.ipv6.conf.${device}.disable_ipv6=0`);
    lab.addresses(ns, device, [`${address}/64`]);
  }
  const result = ping(lab, a, OVERLAY6.b);
  assert.ok(result.transmitted > 0 && result.received === result.transmitted, `ping over IPv6 inside\n${result.output}`);
  await transfer(lab, b, OVERLAY6.b, a, false, 'A → B, IPv6 inside IPv6');
  await transfer(lab, b, OVERLAY6.b, a, true, 'B → A, IPv6 inside IPv6');
}

/** Udp6InCsumErrors of `ns` (/proc/net/snmp6): datagrams its UDP stack dropped for a bad checksum. */
function udp6ChecksumErrors(lab: Lab, ns: string): number {
  const line = lab.exec(ns, 'cat', '/proc/net/snmp6').split('\n').find((candidate) => candidate.startsWith('Udp6InCsumErrors'));
  return Number(line?.trim().split(/\s+/)[1] ?? Number.NaN);
}

test.after(() => removeTemporaryDirs());

if (labReady(test, 'forwarder e2e (tunnel GSO over IPv6)', ['ping', 'iperf3', 'tc', 'tcpdump', 'tshark'], TESTS)) {
  if (!kernelHasTunnelGso()) {
    console.warn(`\n!!! SKIPPED (the kernel is older than 6.17: its TAP has no UDP-tunnel GSO): ${TESTS.join('; ')}\n`);
  } else {
    test(TESTS[0], async () => {
      const lab = new Lab('t6k');
      try {
        const { a, b } = kernelInB(lab, IPV6);
        const cli = await forwardDefaults(lab, a, IPV6.a, IPV6.b, OVERLAY.a);
        for (const [key, value] of [['force_forwarding', '1'], ['disable_ipv6', '0'], ['addr_gen_mode', '1'], ['accept_ra', '0']]) {
          assert.is(lab.exec(a, 'cat', `/proc/sys/net/ipv6/conf/${EGRESS}/${key}`).trim(), value, `${key} on ${EGRESS}`);
        }
        assert.is(lab.exec(a, 'ip', '-6', 'address', 'show', 'dev', EGRESS).trim(), '', `${EGRESS} has no IPv6 address of its own`);
        const filters = ingressFilters(lab, a);
        assert.match(filters, /protocol ipv6 pref \d+ u32/, filters);
        assert.match(filters, new RegExp(`mirred \\(Egress Redirect to device ${EGRESS.replace('.', '\\.')}\\)`), filters);
        for (const [ns, to, what] of [[a, OVERLAY.b, 'forwarder → kernel'], [b, OVERLAY.a, 'kernel → forwarder']] as const) {
          const result = ping(lab, ns, to);
          assert.ok(result.transmitted > 0 && result.received === result.transmitted, `${what}: every echo answered\n${result.output}\n${cli.stderr}`);
        }
        const out = await iperf3(lab, { serverNs: b, serverAddress: OVERLAY.b, clientNs: a });
        const back = await iperf3(lab, { serverNs: b, serverAddress: OVERLAY.b, clientNs: a, reverse: true });
        console.log(`  iperf3 over IPv6, forwarder → kernel: ${out.gbps.toFixed(2)} Gbit/s; kernel → forwarder: ${back.gbps.toFixed(2)} Gbit/s`);
        assert.ok(out.bytes > 1e6 && back.bytes > 1e6, 'bytes arrived both ways');
        await transfer(lab, b, OVERLAY.b, a, false, 'forwarder → kernel over IPv6, whole super-frames out');
        await transfer(lab, b, OVERLAY.b, a, true, 'kernel → forwarder over IPv6, whole super-packets in');
        // IPv6 inside too (TCPV6 super-frames in IPv6 tunnels): the overlay devices get IPv6 (the
        // lab's namespaces make devices without it) and addresses of their own.
        await inner6Transfers(lab, a, b, 'vx0');
        // What the redirect skips the IPv6 and UDP stack for, checked by the forwarder instead: a
        // wrong outer UDP checksum, and none at all (0, which IPv6 does not allow), raw on B's veth.
        const mac = (JSON.parse(lab.exec(a, 'ip', '-j', 'link', 'show', 'veth0')) as { address: string }[])[0].address;
        lab.exec(b, PYTHON, '-c', [
          'from scapy.all import Ether, IPv6, UDP, Raw, sendp',
          'from scapy.layers.vxlan import VXLAN',
          'inner = Ether(src="02:00:00:00:0b:01", dst="ff:ff:ff:ff:ff:ff") / Raw(b"x" * 50)',
          `base = lambda chksum: Ether(dst="${mac}") / IPv6(src="${IPV6.b}", dst="${IPV6.a}") / UDP(sport=50000, dport=4789, chksum=chksum) / VXLAN(vni=${VNI}) / inner`,
          'sendp([base(0x1234), base(0)], iface="veth0", verbose=False)',
        ].join('\n'));
        // A VXLAN packet behind a destination-options header: not the filter's (the UDP header is
        // not at byte 40), so the IPv6 and UDP stack hands it to the socket, and its frame arrives.
        const sniff = lab.spawn(a, 'tcpdump', ['-i', TAP, '-n', '-e', '-l', '-c', '1', 'ether src 02:00:00:00:0b:02'], { label: 'tcpdump on the TAP' });
        await sniff.waitFor('tcpdump listening', () => sniff.stderr.includes('listening on'), 5000);
        lab.exec(b, PYTHON, '-c', [
          'from scapy.all import Ether, IPv6, IPv6ExtHdrDestOpt, UDP, Raw, sendp',
          'inner = Ether(src="02:00:00:00:0b:02", dst="ff:ff:ff:ff:ff:ff") / Raw(b"y" * 50)',
          // The VXLAN header as bytes: scapy's VXLAN layer over an Ethernet payload sets VXLAN-GPE's next-protocol bits, which a strict receiver refuses.
          `vxlan = Raw(bytes([0x08, 0, 0, 0, 0, 0, ${VNI}, 0]) + bytes(inner))`,
          `sendp(Ether(dst="${mac}") / IPv6(src="${IPV6.b}", dst="${IPV6.a}") / IPv6ExtHdrDestOpt() / UDP(sport=50001, dport=4789) / vxlan, iface="veth0", verbose=False)`,
        ].join('\n'));
        await sniff.wait(5000);
        assert.match(sniff.stdout, /02:00:00:00:0b:02 > ff:ff:ff:ff:ff:ff/, `the frame behind an extension header reached the TAP through the socket\n${sniff.stdout}${sniff.stderr}`);
        const counters = await stop(lab, a, cli, 'tunnel TAP counters');
        assert.ok(counters.superFrames > 100, `super-frames sent whole\n${cli.stderr}`);
        assert.ok(counters.receivedWhole > 100, `super-packets read whole\n${cli.stderr}`);
        assert.equal([counters.writeErrors, counters.refused, counters.malformed], [0, 0, 0], 'no write refused, none refused or malformed');
        assert.is(counters.badChecksum, 2, `scapy's wrong and zero UDP checksums, and only those\n${cli.stderr}`);
      } finally {
        await lab.cleanup();
      }
    });

    test(TESTS[1], async () => {
      const lab = new Lab('t6s');
      try {
        const { a, b } = kernelInB(lab, IPV6);
        // Software GSO on A's veth: each UDP-tunnel super-packet is cut there, its outer UDP
        // checksums finished by the kernel from the partial sum, then checked by B's UDP stack.
        lab.exec(a, 'ethtool', '-K', 'veth0', 'tx', 'off');
        const cli = await forwardDefaults(lab, a, IPV6.a, IPV6.b, OVERLAY.a);
        const errorsBefore = udp6ChecksumErrors(lab, b);
        // What A sends, as B's veth receives it: 2000 segments of the iperf3 run.
        const file = join(temporaryDir('vxlan-tunnel-gso6-'), 'underlay.pcap');
        const capture = lab.spawn(b, 'tcpdump', ['-i', 'veth0', '-n', '-s', '0', '-U', '-c', '2000', '-w', file, `udp and src host ${IPV6.a}`], { label: 'tcpdump' });
        await capture.waitFor('tcpdump listening', () => capture.stderr.includes('listening on'), 5000);
        const out = await iperf3(lab, { serverNs: b, serverAddress: OVERLAY.b, clientNs: a });
        console.log(`  iperf3 over IPv6, forwarder → kernel, segments cut on A's veth: ${out.gbps.toFixed(2)} Gbit/s`);
        assert.ok(out.bytes > 1e6, 'bytes arrived');
        await capture.wait(10_000);
        const judged = judgeCapture(file);
        console.log(`  capture on B's veth: ${judged.all} VXLAN/TCP segments, ${judged.good} with outer UDP and inner TCP checksums good, ${judged.bad} bad, ${judged.malformed} malformed`);
        assert.ok(judged.all >= 1000, `the capture holds the stream (${judged.all})`);
        assert.equal([judged.good, judged.bad, judged.malformed], [judged.all, 0, 0], 'every segment\'s checksums good, none bad or malformed');
        await transfer(lab, b, OVERLAY.b, a, false, 'forwarder → kernel over IPv6, cut on the veth');
        const errors = udp6ChecksumErrors(lab, b) - errorsBefore;
        assert.is(errors, 0, 'B\'s UDP stack found no bad outer UDP checksum');
        const counters = await stop(lab, a, cli, 'tunnel TAP counters');
        assert.ok(counters.superFrames > 100, `super-frames sent whole to the kernel, which cut them\n${cli.stderr}`);
        assert.is(counters.writeErrors, 0, 'no write refused');
      } finally {
        await lab.cleanup();
      }
    });

    test(TESTS[2], async () => {
      const lab = new Lab('t6f');
      try {
        const { a, b } = twoHosts(lab, IPV6);
        const fa = await forwardDefaults(lab, a, IPV6.a, IPV6.b, OVERLAY.a);
        const fb = await forwardDefaults(lab, b, IPV6.b, IPV6.a, OVERLAY.b, ['--queues', '2']);
        const result = ping(lab, a, OVERLAY.b);
        assert.ok(result.received === result.transmitted && result.transmitted > 0, `ping\n${result.output}\n${fa.stderr}\n${fb.stderr}`);
        const out = await iperf3(lab, { serverNs: b, serverAddress: OVERLAY.b, clientNs: a });
        const back = await iperf3(lab, { serverNs: b, serverAddress: OVERLAY.b, clientNs: a, reverse: true });
        console.log(`  iperf3 over IPv6, forwarder → forwarder: ${out.gbps.toFixed(2)} Gbit/s; back: ${back.gbps.toFixed(2)} Gbit/s`);
        assert.ok(out.bytes > 1e6 && back.bytes > 1e6, 'bytes arrived both ways');
        await transfer(lab, b, OVERLAY.b, a, false, 'A → B over IPv6, whole both ways');
        await transfer(lab, b, OVERLAY.b, a, true, 'B → A over IPv6, whole both ways');
        await inner6Transfers(lab, a, b, TAP);
        for (const [ns, cli, what] of [[b, fb, 'B (two queues)'], [a, fa, 'A']] as const) {
          const counters = await stop(lab, ns, cli, what);
          assert.ok(counters.superFrames > 100 && counters.receivedWhole > 100, `${what}: whole out and in\n${cli.stderr}`);
          assert.equal([counters.writeErrors, counters.malformed, counters.badChecksum], [0, 0, 0], `${what}: no write refused, nothing malformed, no bad checksum`);
        }
      } finally {
        await lab.cleanup();
      }
    });
  }
}

test.run();
