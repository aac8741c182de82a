// `vxlan-wasm forward --tunnel-gso` (the CLI from the sources, root, in namespaces this file makes)
// against the kernel's vxlan over IPv4: the TAP's TCP super-frames leave whole, as UDP-tunnel GSO
// packets through the egress TAP <tap>.gso, which the kernel routes to the peer. Checked: the
// egress TAP exists with forwarding, accept_local and rp_filter 0 on it; pings both ways; iperf3
// both ways; 64 MiB each way with the same sha256 at both ends; the stop line counts super-frames
// sent whole and no write error; SIGTERM removes both TAPs. With the kernel peer's veth offloads on
// (its default), the peer's super-packets come in whole through the tc ingress filter; two
// --tunnel-gso forwarders carry whole super-frames both ways; the filter a SIGKILL leaves behind
// is replaced by the next start; runs of datagrams merged by GRO or sent with UDP GSO come in as
// bursts and are split.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { iperf3, Lab, labReady, ping, type LabProcess } from '../../helpers/netns';
import { PYTHON } from '../../interop/tools';
import { transfer, TRANSFER_BYTES } from '../offload/transfer';
import { kernelInB, IPV4, OVERLAY, twoHosts, VNI } from './topology';
import { egressCounters, forwardCli, ingressFilters, kernelHasTunnelGso } from './tunnel-gso-cli';

const TAP = 'vxtg0';
const EGRESS = `${TAP}.gso`;
const TESTS = [
  `vxlan-wasm forward --tunnel-gso ↔ kernel vxlan, IPv4: super-frames leave whole through ${EGRESS}; ping, iperf3 both ways, ${TRANSFER_BYTES / 2 ** 20} MiB each way with the same sha256, clean stop`,
  `vxlan-wasm forward --tunnel-gso --queues 2 --no-tunnel-ingress: each queue worker sends through its own queue of ${EGRESS}; iperf3 -P 4 arrives, super-frames counted over both; no ingress filter`,
  `vxlan-wasm forward --tunnel-gso → vxlan-wasm forward: the receiver splits the whole super-packets its socket gets; ${TRANSFER_BYTES / 2 ** 20} MiB with the same sha256`,
  `kernel vxlan (veth offloads on, the kernel's default) ↔ vxlan-wasm forward --tunnel-gso: its super-packets reach ${EGRESS} whole through the tc ingress filter and the TAP whole; iperf3 and ${TRANSFER_BYTES / 2 ** 20} MiB each way with the same sha256; scapy's bad IP and UDP checksums counted, not forwarded; the filter is gone at stop`,
  `vxlan-wasm forward --tunnel-gso ↔ vxlan-wasm forward --tunnel-gso (--queues 2 in B): whole both ways, ${TRANSFER_BYTES / 2 ** 20} MiB each way with the same sha256`,
  `vxlan-wasm forward --tunnel-gso killed with SIGKILL leaves its ingress filter behind; the next start replaces it and carries traffic, and removes it at stop`,
  `vxlan-wasm forward --tunnel-gso --queues 1 where it cannot run (the local address is on lo): exit 1 with the sentence, no TAP left; without --tunnel-gso it starts on the socket path and says why`,
  `bursts (USO) through the tunnel TAP, split there: a kernel vxlan's cut packets merged by GRO on the forwarder's veth (as a NIC's GRO does), and a forwarder's UDP GSO sends from this host; ${TRANSFER_BYTES / 2 ** 20} MiB with the same sha256 each`,
];

/** SIGTERM: exit 0, super-frames sent whole with no write refused, both TAPs gone. */
async function stopAndCheck(lab: Lab, ns: string, cli: LabProcess, what: string): Promise<void> {
  cli.signal('SIGTERM');
  const status = await cli.wait(5000);
  assert.is(status.code, 0, `exit 0\n${cli.stderr}`);
  const egress = egressCounters(cli);
  console.log(`  ${what}: ${JSON.stringify(egress)}`);
  assert.ok((egress?.superFrames ?? 0) > 100, `super-frames sent whole\n${cli.stderr}`);
  assert.is(egress?.writeErrors, 0, 'no write refused');
  for (const name of [TAP, EGRESS]) assert.is.not(lab.tryExec(ns, 'ip', 'link', 'show', name).status, 0, `${name} is gone`);
  assert.is(ingressFilters(lab, ns), '', 'the ingress filter is gone');
}

if (labReady(test, 'forwarder e2e (tunnel GSO)', ['ping', 'iperf3'], TESTS)) {
  if (!kernelHasTunnelGso()) {
    console.warn(`\n!!! SKIPPED (the kernel is older than 6.17: its TAP has no UDP-tunnel GSO): ${TESTS.join('; ')}\n`);
  } else {
    test(TESTS[0], async () => {
      const lab = new Lab('tg');
      try {
        const { a, b } = kernelInB(lab, IPV4);
        const cli = await forwardCli(lab, a, ['--tap', TAP, '--vni', String(VNI), '--local', IPV4.a, '--peer', IPV4.b, '--tunnel-gso'], 'vxlan-wasm forward --tunnel-gso');
        for (const [key, value] of [['forwarding', '1'], ['accept_local', '1'], ['rp_filter', '0']]) {
          assert.is(lab.exec(a, 'cat', `/proc/sys/net/ipv4/conf/${EGRESS}/${key}`).trim(), value, `${key} on ${EGRESS}`);
        }
        lab.addresses(a, TAP, [`${OVERLAY.a}/24`]);
        for (const [ns, to, what] of [[a, OVERLAY.b, 'forwarder → kernel'], [b, OVERLAY.a, 'kernel → forwarder']] as const) {
          const result = ping(lab, ns, to);
          assert.ok(result.transmitted > 0 && result.received === result.transmitted, `${what}: every echo answered\n${result.output}\n${cli.stderr}`);
        }
        const out = await iperf3(lab, { serverNs: b, serverAddress: OVERLAY.b, clientNs: a });
        const back = await iperf3(lab, { serverNs: b, serverAddress: OVERLAY.b, clientNs: a, reverse: true });
        console.log(`  iperf3 forwarder (--tunnel-gso) → kernel: ${out.gbps.toFixed(2)} Gbit/s; kernel → forwarder: ${back.gbps.toFixed(2)} Gbit/s`);
        assert.ok(out.bytes > 1e6 && back.bytes > 1e6, 'bytes arrived both ways');
        await transfer(lab, b, OVERLAY.b, a, false, 'forwarder → kernel, whole super-frames');
        await transfer(lab, b, OVERLAY.b, a, true, 'kernel → forwarder');

        await stopAndCheck(lab, a, cli, 'egress counters');
      } finally {
        await lab.cleanup();
      }
    });

    test(TESTS[1], async () => {
      const lab = new Lab('tgq');
      try {
        const { a, b } = kernelInB(lab, IPV4);
        const cli = await forwardCli(lab, a, ['--tap', TAP, '--vni', String(VNI), '--local', IPV4.a, '--peer', IPV4.b, '--tunnel-gso', '--queues', '2', '--no-tunnel-ingress'], 'vxlan-wasm forward --tunnel-gso --queues 2 --no-tunnel-ingress');
        assert.is(ingressFilters(lab, a), '', 'no ingress filter: VXLAN in stays on the sockets');
        const queues = lab.exec(a, 'ls', `/sys/class/net/${EGRESS}/queues`).split(/\s+/).filter((name) => name.startsWith('tx-'));
        assert.equal(queues.sort(), ['tx-0', 'tx-1'], `${EGRESS} has a queue per worker`);
        lab.addresses(a, TAP, [`${OVERLAY.a}/24`]);
        const result = ping(lab, a, OVERLAY.b);
        assert.ok(result.received === result.transmitted && result.transmitted > 0, `ping\n${result.output}\n${cli.stderr}`);
        const out = await iperf3(lab, { serverNs: b, serverAddress: OVERLAY.b, clientNs: a, parallel: 4 });
        console.log(`  iperf3 -P 4 forwarder (--tunnel-gso --queues 2) → kernel: ${out.gbps.toFixed(2)} Gbit/s`);
        assert.ok(out.bytes > 1e6, 'bytes arrived');
        await stopAndCheck(lab, a, cli, 'egress counters (both queues)');
        assert.is(egressCounters(cli)?.received, 0, 'nothing came in through the tunnel TAP');
      } finally {
        await lab.cleanup();
      }
    });

    test(TESTS[2], async () => {
      const lab = new Lab('tgf');
      try {
        const { a, b } = twoHosts(lab, IPV4);
        const sender = await forwardCli(lab, a, ['--tap', TAP, '--vni', String(VNI), '--local', IPV4.a, '--peer', IPV4.b, '--tunnel-gso'], 'vxlan-wasm forward --tunnel-gso in A');
        const receiver = await forwardCli(lab, b, ['--tap', TAP, '--vni', String(VNI), '--local', IPV4.b, '--peer', IPV4.a], 'vxlan-wasm forward in B');
        lab.addresses(a, TAP, [`${OVERLAY.a}/24`]);
        lab.addresses(b, TAP, [`${OVERLAY.b}/24`]);
        const result = ping(lab, a, OVERLAY.b);
        assert.ok(result.received === result.transmitted && result.transmitted > 0, `ping\n${result.output}`);
        const out = await iperf3(lab, { serverNs: b, serverAddress: OVERLAY.b, clientNs: a });
        console.log(`  iperf3 forwarder (--tunnel-gso) → forwarder: ${out.gbps.toFixed(2)} Gbit/s`);
        await transfer(lab, b, OVERLAY.b, a, false, 'forwarder (--tunnel-gso) → forwarder');
        for (const cli of [sender, receiver]) {
          cli.signal('SIGTERM');
          assert.is((await cli.wait(5000)).code, 0, cli.stderr);
        }
        assert.ok((egressCounters(sender)?.superFrames ?? 0) > 100, `the sender sent super-frames whole\n${sender.stderr}`);
        assert.not.match(receiver.stderr, /OVERSIZE/, `the receiver dropped nothing as oversize\n${receiver.stderr}`);
      } finally {
        await lab.cleanup();
      }
    });

    test(TESTS[3], async () => {
      const lab = new Lab('tgi');
      try {
        const { a, b } = kernelInB(lab, IPV4, true);
        const cli = await forwardCli(lab, a, ['--tap', TAP, '--vni', String(VNI), '--local', IPV4.a, '--peer', IPV4.b, '--tunnel-gso'], 'vxlan-wasm forward --tunnel-gso');
        assert.match(ingressFilters(lab, a), /mirred \(Egress Redirect to device vxtg0\.gso\)/, 'the ingress filter redirects to the tunnel TAP');
        lab.addresses(a, TAP, [`${OVERLAY.a}/24`]);
        const result = ping(lab, b, OVERLAY.a);
        assert.ok(result.transmitted > 0 && result.received === result.transmitted, `kernel → forwarder: every echo answered\n${result.output}\n${cli.stderr}`);
        const back = await iperf3(lab, { serverNs: b, serverAddress: OVERLAY.b, clientNs: a, reverse: true });
        const out = await iperf3(lab, { serverNs: b, serverAddress: OVERLAY.b, clientNs: a });
        console.log(`  iperf3 kernel (offloads on) → forwarder (--tunnel-gso): ${back.gbps.toFixed(2)} Gbit/s; forwarder → kernel: ${out.gbps.toFixed(2)} Gbit/s`);
        assert.ok(out.bytes > 1e6 && back.bytes > 1e6, 'bytes arrived both ways');
        await transfer(lab, b, OVERLAY.b, a, true, 'kernel → forwarder, whole super-packets in');
        await transfer(lab, b, OVERLAY.b, a, false, 'forwarder → kernel');
        // What the redirect skips the IP and UDP stack for, checked by the forwarder instead: a
        // corrupt IPv4 header checksum and a wrong outer UDP checksum (scapy, raw on B's veth).
        const mac = (JSON.parse(lab.exec(a, 'ip', '-j', 'link', 'show', 'veth0')) as { address: string }[])[0].address;
        lab.exec(b, PYTHON, '-c', [
          'from scapy.all import Ether, IP, UDP, Raw, sendp',
          'from scapy.layers.vxlan import VXLAN',
          `inner = Ether(src="02:00:00:00:0b:01", dst="ff:ff:ff:ff:ff:ff") / Raw(b"x" * 50)`,
          `base = lambda **ip: Ether(dst="${mac}") / IP(src="${IPV4.b}", dst="${IPV4.a}", **ip) / UDP(sport=50000, dport=4789, chksum=0x1234) / VXLAN(vni=${VNI}) / inner`,
          'sendp([base(chksum=0x1111), base()], iface="veth0", verbose=False)',
        ].join('\n'));
        await stopAndCheck(lab, a, cli, 'tunnel TAP counters');
        const counters = egressCounters(cli);
        assert.ok((counters?.receivedWhole ?? 0) > 100, `super-packets read whole\n${cli.stderr}`);
        assert.is(counters?.malformed, 0, 'none malformed');
        assert.is(counters?.badChecksum, 2, `scapy's two bad checksums, and only those\n${cli.stderr}`);
      } finally {
        await lab.cleanup();
      }
    });

    test(TESTS[4], async () => {
      const lab = new Lab('tgff');
      try {
        const { a, b } = twoHosts(lab, IPV4, true);
        const fa = await forwardCli(lab, a, ['--tap', TAP, '--vni', String(VNI), '--local', IPV4.a, '--peer', IPV4.b, '--tunnel-gso'], 'vxlan-wasm forward --tunnel-gso in A');
        const fb = await forwardCli(lab, b, ['--tap', TAP, '--vni', String(VNI), '--local', IPV4.b, '--peer', IPV4.a, '--tunnel-gso', '--queues', '2'], 'vxlan-wasm forward --tunnel-gso --queues 2 in B');
        lab.addresses(a, TAP, [`${OVERLAY.a}/24`]);
        lab.addresses(b, TAP, [`${OVERLAY.b}/24`]);
        const result = ping(lab, a, OVERLAY.b);
        assert.ok(result.received === result.transmitted && result.transmitted > 0, `ping\n${result.output}\n${fa.stderr}\n${fb.stderr}`);
        const out = await iperf3(lab, { serverNs: b, serverAddress: OVERLAY.b, clientNs: a });
        const back = await iperf3(lab, { serverNs: b, serverAddress: OVERLAY.b, clientNs: a, reverse: true });
        console.log(`  iperf3 forwarder → forwarder, both --tunnel-gso: ${out.gbps.toFixed(2)} Gbit/s; back: ${back.gbps.toFixed(2)} Gbit/s`);
        await transfer(lab, b, OVERLAY.b, a, false, 'A → B, whole both ways');
        await transfer(lab, b, OVERLAY.b, a, true, 'B → A, whole both ways');
        await stopAndCheck(lab, b, fb, 'B (two queues)');
        await stopAndCheck(lab, a, fa, 'A');
        for (const cli of [fa, fb]) assert.ok((egressCounters(cli)?.receivedWhole ?? 0) > 100, `super-packets read whole\n${cli.stderr}`);
      } finally {
        await lab.cleanup();
      }
    });

    test(TESTS[5], async () => {
      const lab = new Lab('tgk');
      try {
        const { a, b } = kernelInB(lab, IPV4, true);
        const args = ['--tap', TAP, '--vni', String(VNI), '--local', IPV4.a, '--peer', IPV4.b, '--tunnel-gso'];
        const killed = await forwardCli(lab, a, args, 'vxlan-wasm forward --tunnel-gso (to be killed)');
        killed.signal('SIGKILL');
        await killed.wait(5000);
        const left = ingressFilters(lab, a);
        assert.match(left, /mirred/, 'SIGKILL leaves the filter behind');
        const cli = await forwardCli(lab, a, args, 'vxlan-wasm forward --tunnel-gso (again)');
        assert.is((ingressFilters(lab, a).match(/mirred/g) ?? []).length, 1, `one filter, the new one\n${ingressFilters(lab, a)}`);
        lab.addresses(a, TAP, [`${OVERLAY.a}/24`]);
        for (const [ns, to, what] of [[b, OVERLAY.a, 'kernel → forwarder'], [a, OVERLAY.b, 'forwarder → kernel']] as const) {
          const result = ping(lab, ns, to);
          assert.ok(result.transmitted > 0 && result.received === result.transmitted, `${what}: every echo answered\n${result.output}\n${cli.stderr}`);
        }
        cli.signal('SIGTERM');
        assert.is((await cli.wait(5000)).code, 0, cli.stderr);
        assert.is(ingressFilters(lab, a), '', 'the filter is gone at stop');
      } finally {
        await lab.cleanup();
      }
    });

    test(TESTS[6], async () => {
      const lab = new Lab('tgl');
      try {
        const ns = lab.namespace('a');
        const cli = lab.spawnNode(ns, 'test/forwarder/e2e/run-cli.ts', ['--tap', TAP, '--vni', String(VNI), '--local', '127.0.0.1', '--peer', '127.0.0.2', '--tunnel-gso', '--queues', '1', '--log-level', 'info'], { label: 'vxlan-wasm forward --tunnel-gso --queues 1 on lo' });
        const status = await cli.wait(20_000);
        assert.is(status.code, 1, `exit 1\n${cli.stderr}`);
        assert.match(cli.stderr, /could not start: --tunnel-gso cannot run here: the local address 127\.0\.0\.1 is on lo/, cli.stderr);
        for (const name of [TAP, EGRESS]) assert.is.not(lab.tryExec(ns, 'ip', 'link', 'show', name).status, 0, `${name} is gone`);
        assert.is(lab.tryExec(ns, 'tc', 'filter', 'show', 'dev', 'lo', 'ingress').stdout.trim(), '', 'no filter on lo');

        // The default (tunnel GSO "auto") starts there anyway, on the socket path, and says why.
        const auto = lab.spawnNode(ns, 'test/forwarder/e2e/run-cli.ts', ['--tap', TAP, '--vni', String(VNI), '--local', '127.0.0.1', '--peer', '127.0.0.2', '--log-level', 'info'], { label: 'vxlan-wasm forward on lo' });
        await auto.waitFor('the "forwarding" log line', () => auto.stderr.includes('"msg":"forwarding"') || auto.stderr.includes('could not start'), 20_000);
        assert.match(auto.stderr, /"tunnelGso":"off: the local address 127\.0\.0\.1 is on lo/, auto.stderr);
        assert.is.not(lab.tryExec(ns, 'ip', 'link', 'show', EGRESS).status, 0, 'no tunnel TAP');
        auto.signal('SIGTERM');
        assert.is((await auto.wait(5000)).code, 0, auto.stderr);
      } finally {
        await lab.cleanup();
      }
    });

    test(TESTS[7], async () => {
      const lab = new Lab('tgb');
      try {
        // The kernel peer's packets leave cut (its veth's offloads off: this case is about that
        // switch); GRO on A's veth merges them for the socket's UDP_GRO, and the redirect hands
        // each merged run over whole.
        const { a, b } = kernelInB(lab, IPV4, false);
        lab.exec(a, 'ethtool', '-K', 'veth0', 'gro', 'on');
        const cli = await forwardCli(lab, a, ['--tap', TAP, '--vni', String(VNI), '--local', IPV4.a, '--peer', IPV4.b, '--tunnel-gso'], 'vxlan-wasm forward --tunnel-gso, GRO on its veth');
        lab.addresses(a, TAP, [`${OVERLAY.a}/24`]);
        const result = ping(lab, b, OVERLAY.a);
        assert.ok(result.transmitted > 0 && result.received === result.transmitted, `kernel → forwarder: every echo answered\n${result.output}\n${cli.stderr}`);
        const back = await iperf3(lab, { serverNs: b, serverAddress: OVERLAY.b, clientNs: a, reverse: true });
        console.log(`  iperf3 kernel (packets cut, merged by A's veth GRO) → forwarder (--tunnel-gso): ${back.gbps.toFixed(2)} Gbit/s`);
        await transfer(lab, b, OVERLAY.b, a, true, 'kernel → forwarder, GRO bursts in');
        cli.signal('SIGTERM');
        assert.is((await cli.wait(5000)).code, 0, cli.stderr);
        const counters = egressCounters(cli);
        console.log(`  tunnel TAP counters: ${JSON.stringify(counters)}`);
        assert.ok((counters?.bursts ?? 0) > 100, `bursts read whole and split\n${cli.stderr}`);
        assert.equal([counters?.malformed, counters?.badChecksum], [0, 0], 'none malformed, no bad checksum');
        assert.not.match(cli.stderr, /OVERSIZE/, 'nothing dropped as oversize');

        // A forwarder without --tunnel-gso on B sends runs of datagrams with UDP GSO; with the
        // veths' offloads on they cross whole, and A's tunnel TAP reads each run as one burst.
        const lab2 = new Lab('tgb2');
        try {
          const hosts = twoHosts(lab2, IPV4, true);
          const fa = await forwardCli(lab2, hosts.a, ['--tap', TAP, '--vni', String(VNI), '--local', IPV4.a, '--peer', IPV4.b, '--tunnel-gso'], 'vxlan-wasm forward --tunnel-gso in A');
          // B on the socket path (the case is about its UDP GSO sends), declining tunnel GSO.
          const fb = await forwardCli(lab2, hosts.b, ['--tap', TAP, '--vni', String(VNI), '--local', IPV4.b, '--peer', IPV4.a, '--no-tunnel-gso'], 'vxlan-wasm forward (UDP GSO) in B');
          lab2.addresses(hosts.a, TAP, [`${OVERLAY.a}/24`]);
          lab2.addresses(hosts.b, TAP, [`${OVERLAY.b}/24`]);
          const echo = ping(lab2, hosts.b, OVERLAY.a);
          assert.ok(echo.transmitted > 0 && echo.received === echo.transmitted, `B → A: every echo answered\n${echo.output}\n${fa.stderr}`);
          await transfer(lab2, hosts.b, OVERLAY.b, hosts.a, true, 'forwarder (UDP GSO) → forwarder (--tunnel-gso), bursts in');
          for (const forwarder of [fa, fb]) {
            forwarder.signal('SIGTERM');
            assert.is((await forwarder.wait(5000)).code, 0, forwarder.stderr);
          }
          const inA = egressCounters(fa);
          console.log(`  A's tunnel TAP counters: ${JSON.stringify(inA)}`);
          assert.ok((inA?.bursts ?? 0) > 100, `UDP GSO runs read whole as bursts\n${fa.stderr}`);
          assert.equal([inA?.malformed, inA?.badChecksum], [0, 0], 'none malformed, no bad checksum');
        } finally {
          await lab2.cleanup();
        }
      } finally {
        await lab.cleanup();
      }
    });
  }
}

test.run();
