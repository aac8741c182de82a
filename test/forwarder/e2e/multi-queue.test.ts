// `vxlan-wasm forward --queues 2` (the CLI from the sources, in a namespace this file makes, root)
// against the kernel's vxlan: two worker threads, each with a queue of the one TAP and its own
// socket on port 4789. Checked: the TAP has two queues and two sockets share the port; pings go
// both ways; iperf3 with 8 parallel TCP flows each way arrives; the flows were spread over both
// queues (their counters, logged at stop); a MAC learned on one queue's socket is known to the
// other queue (almost nothing flooded after the first ARP); SIGTERM exits 0 and removes the TAP.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { iperf3, Lab, labReady, ping } from '../../helpers/netns';
import { kernelInB, IPV4, OVERLAY, UNDERLAYS, VNI } from './topology';

const TAP = 'vxmq0';
const TESTS = [
  'vxlan-wasm forward --queues 2 ↔ kernel vxlan: a two-queue TAP and two sockets on the port, ping, iperf3 -P 8 both ways over both queues, one FDB, clean stop',
  'vxlan-wasm forward --queues 1 over an IPv6 underlay ↔ kernel vxlan: ping both ways, SIGTERM within 2 s removes the TAP',
];

/** The value of a Prometheus sample line `name{labels} value`. */
function sample(metrics: string, name: string, labels: string): number {
  const line = metrics.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  if (line === undefined) throw new Error(`no ${name}{${labels}} in\n${metrics}`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

if (labReady(test, 'forwarder e2e (multi-queue)', ['ping', 'curl', 'iperf3', 'ss'], TESTS)) {
  test(TESTS[0], async () => {
    const lab = new Lab('mq');
    try {
      const { a, b } = kernelInB(lab, IPV4);
      const cli = lab.spawnNode(a, 'test/forwarder/e2e/run-cli.ts', [
        '--tap', TAP, '--vni', String(VNI), '--local', IPV4.a, '--peer', IPV4.b, '--queues', '2', '--metrics', '127.0.0.1:9470', '--log-level', 'info',
      ], { label: 'vxlan-wasm forward --queues 2' });
      await cli.waitFor('the "forwarding" log line', () => cli.stderr.includes('"msg":"forwarding"') || cli.stderr.includes('could not start'), 20_000);
      assert.match(cli.stderr, /"engine":"2 queue workers/, `the forwarding line says two queues\n${cli.stderr}`);

      const queues = lab.exec(a, 'ls', `/sys/class/net/${TAP}/queues`).split(/\s+/).filter((name) => name.startsWith('tx-'));
      assert.equal(queues.sort(), ['tx-0', 'tx-1'], 'the TAP has two queues attached');
      const sockets = lab.exec(a, 'ss', '-uan').split('\n').filter((line) => line.includes(`${IPV4.a}:4789`));
      assert.is(sockets.length, 2, `two sockets bound to ${IPV4.a}:4789 (SO_REUSEPORT)\n${sockets.join('\n')}`);

      lab.addresses(a, TAP, [`${OVERLAY.a}/24`]);
      for (const [ns, to, what] of [[a, OVERLAY.b, 'forwarder → kernel'], [b, OVERLAY.a, 'kernel → forwarder']] as const) {
        const result = ping(lab, ns, to);
        assert.ok(result.transmitted > 0 && result.received === result.transmitted, `${what}: every echo answered\n${result.output}\n${cli.stderr}`);
      }
      const out = await iperf3(lab, { serverNs: b, serverAddress: OVERLAY.b, clientNs: a, parallel: 8 });
      const back = await iperf3(lab, { serverNs: b, serverAddress: OVERLAY.b, clientNs: a, parallel: 8, reverse: true });
      console.log(`  iperf3 -P 8 forwarder (2 queues) → kernel: ${out.gbps.toFixed(3)} Gbit/s; kernel → forwarder: ${back.gbps.toFixed(3)} Gbit/s`);
      assert.ok(out.bytes > 1e6 && back.bytes > 1e6, 'bytes arrived both ways');

      // The counters reach the owner every 500 ms: wait for one more report.
      await new Promise((resolve) => setTimeout(resolve, 700));
      const metrics = lab.exec(a, 'curl', '-sf', '--max-time', '5', 'http://127.0.0.1:9470/metrics');
      const toUnderlay = sample(metrics, 'vxlan_frames_total', `direction="to_underlay",vni="${VNI}"`);
      const toDevice = sample(metrics, 'vxlan_frames_total', `direction="to_device",vni="${VNI}"`);
      const flooded = sample(metrics, 'vxlan_flooded_total', `vni="${VNI}"`);
      console.log(`  metrics (both queues summed): to_underlay ${toUnderlay}, to_device ${toDevice}, flooded ${flooded}`);
      assert.ok(toUnderlay > 10_000 && toDevice > 10_000, 'the iperf3 traffic is in the summed counters');
      // One FDB: the kernel's MAC, learned by whichever queue's socket its first frame reached, is
      // known to the other queue too; without that, every frame that queue sends would be flooded.
      assert.ok(flooded <= 10, `at most a few frames flooded (the first ARP), not one queue's whole share: ${flooded}`);
      assert.is(sample(metrics, 'vxlan_fdb_entries', `vni="${VNI}"`), 1, "the kernel vx0's MAC learned");

      cli.signal('SIGTERM');
      const status = await cli.wait(5000);
      assert.is(status.code, 0, `exit 0\n${cli.stderr}`);
      const stopped = cli.stderr.split('\n').filter((line) => line.includes('"msg":"stopped"')).map((line) => JSON.parse(line) as { queues?: { toUnderlay: number; toDevice: number }[] })[0];
      assert.ok(stopped?.queues?.length === 2, `the stopped line lists both queues\n${cli.stderr}`);
      console.log(`  frames per queue: ${JSON.stringify(stopped.queues)}`);
      // Eight flows each way over two queues: each queue carried a share in at least one direction.
      for (const [i, queue] of stopped.queues!.entries()) assert.ok(queue.toUnderlay + queue.toDevice > 100, `queue ${i} carried frames: ${JSON.stringify(queue)}`);
      assert.is.not(lab.tryExec(a, 'ip', 'link', 'show', TAP).status, 0, 'the TAP is gone once both queues closed');
    } finally {
      await lab.cleanup();
    }
  });

  test(TESTS[1], async () => {
    const lab = new Lab('mq6');
    const underlay = UNDERLAYS[1];
    try {
      const { a, b } = kernelInB(lab, underlay);
      const cli = lab.spawnNode(a, 'test/forwarder/e2e/run-cli.ts', [
        '--tap', TAP, '--vni', String(VNI), '--local', underlay.a, '--peer', `[${underlay.b}]:4789`, '--queues', '1', '--log-level', 'info',
      ], { label: 'vxlan-wasm forward --queues 1 (IPv6)' });
      await cli.waitFor('the "forwarding" log line', () => cli.stderr.includes('"msg":"forwarding"') || cli.stderr.includes('could not start'), 20_000);
      assert.match(cli.stderr, /"engine":"1 queue worker,/, `the forwarding line says one queue\n${cli.stderr}`);
      lab.addresses(a, TAP, [`${OVERLAY.a}/24`]);
      for (const [ns, to, what] of [[a, OVERLAY.b, 'forwarder → kernel'], [b, OVERLAY.a, 'kernel → forwarder']] as const) {
        const result = ping(lab, ns, to);
        assert.ok(result.transmitted > 0 && result.received === result.transmitted, `${what}: every echo answered\n${result.output}\n${cli.stderr}`);
      }
      const started = performance.now();
      cli.signal('SIGTERM');
      const status = await cli.wait(5000);
      const elapsed = performance.now() - started;
      assert.is(status.code, 0, `exit 0\n${cli.stderr}`);
      assert.ok(elapsed < 2000, `exited within 2 s (${elapsed.toFixed(0)} ms)`);
      console.log(`  IPv6, one queue worker: SIGTERM → exit 0 after ${elapsed.toFixed(0)} ms`);
      assert.is.not(lab.tryExec(a, 'ip', 'link', 'show', TAP).status, 0, 'the TAP is gone');
    } finally {
      await lab.cleanup();
    }
  });
}

test.run();
