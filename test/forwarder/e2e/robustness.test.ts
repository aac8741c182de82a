// The forwarder process under abuse and at shutdown, in network namespaces this file makes (root):
// - a peer (its real underlay address) sends a bounded burst of malformed and mutated VXLAN: the
//   forwarder keeps forwarding (ping during and after), counts every datagram by reason, and its
//   resident memory stays bounded;
// - SIGTERM: the process exits 0 within 2 s and the TAP it made is gone.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Lab, labReady, ping, rssKiB, sleep } from '../../helpers/netns';
import type { Snapshot } from './forwarder-process';
import { forwarderAndKernel, TAP, VNI } from './topology';
import { GARBAGE_KINDS } from './send-udp';

/** Garbage datagrams at most, and the time they may take. */
const BURST = 200_000;
const BURST_SECONDS = 5;
const SEED = 0x5eed42;
/** Allowed growth of the forwarder's RSS over the burst. */
const RSS_GROWTH_LIMIT_KIB = 50 * 1024;
/** Allowed growth over a second burst, once the FDB is full and the heap has grown (about 10 MB measured). */
const SECOND_BURST_GROWTH_LIMIT_KIB = 25 * 1024;

const TESTS = [
  `a peer sends ${BURST} garbage datagrams: forwarding goes on (ping during and after), drops counted by reason, RSS bounded`,
  'SIGTERM: the forwarder exits 0 within 2 s and its TAP is gone',
];

/** Drop reasons of the underlay → device path (what garbage from a peer can cause). */
const RX_REASONS = ['TRUNCATED', 'VXLAN_I_FLAG_MISSING', 'VXLAN_RESERVED_BITS', 'UNKNOWN_VNI', 'INNER_TOO_SHORT', 'INNER_SOURCE_MULTICAST'] as const;

if (labReady(test, 'forwarder e2e (robustness)', ['ping', 'sysctl'], TESTS)) {
  test(TESTS[0], async () => {
    const lab = new Lab('fg');
    try {
      const { a, b, forwarder } = await forwarderAndKernel(lab);
      const first = ping(lab, b, '10.42.0.1');
      assert.is(first.received, first.transmitted, `ping before the burst\n${first.output}`);
      const before = await forwarder.snapshot();
      const rssBefore = rssKiB(forwarder.pid);

      // The burst from the peer's own address (so it is admitted), with pings going on meanwhile.
      const sender = lab.spawnNode(b, 'test/forwarder/e2e/send-udp.ts', [JSON.stringify({
        bind: '192.168.77.2', to: '192.168.77.1', garbage: { count: BURST, seconds: BURST_SECONDS, seed: SEED, vni: VNI },
      })], { label: 'garbage sender' });
      const during = lab.spawn(b, 'ping', ['-n', '-c', '15', '-i', '0.2', '-W', '1', '10.42.0.1'], { label: 'ping during the burst' });
      const rssSamples: number[] = [];
      while (sender.running) {
        rssSamples.push(rssKiB(forwarder.pid));
        await sleep(200);
      }
      const sent = await sender.wait(BURST_SECONDS * 1000 + 10_000);
      assert.is(sent.code, 0, `sender: ${sender.stderr}`);
      const report = JSON.parse(sender.lines[0]) as { sent: number; errors: number; ms: number; kinds: Record<string, number> };
      await during.wait(10_000);
      // Let the forwarder drain what the socket still holds before reading its counters.
      await sleep(500);
      const after = await forwarder.snapshot();
      const rssAfter = rssKiB(forwarder.pid);
      const pingAfter = ping(lab, b, '10.42.0.1');
      const duringResult = /(\d+) packets transmitted, (\d+) received/.exec(during.stdout);

      const delta = (pick: (s: Snapshot) => number) => pick(after) - pick(before);
      const drops = Object.fromEntries(RX_REASONS.map((reason) => [reason, delta((s) => s.counters.drops[reason])]));
      const received = delta((s) => s.underlay.received);
      const toDevice = delta((s) => s.counters.networks[0].toDevice.frames);
      const deviceErrors = delta((s) => s.counters.drops.DEVICE_ERROR);
      const oversize = delta((s) => s.underlay.oversize);
      const accounted = RX_REASONS.reduce((sum, reason) => sum + drops[reason], 0) + toDevice + deviceErrors;
      console.log(`  sent ${report.sent} garbage datagrams in ${report.ms} ms (${report.errors} send errors); the underlay took ${received} (the burst's and the pings' datagrams; +${oversize} oversize)`);
      console.log(`  drops by reason: ${JSON.stringify(drops)}; to TAP ${toDevice} (device errors ${deviceErrors}); FDB ${JSON.stringify(after.counters.fdb)}, entries ${after.counters.networks[0].fdbEntries}`);
      console.log(`  ping during: ${duringResult?.[2]}/${duringResult?.[1]}; after: ${pingAfter.received}/${pingAfter.transmitted}, rtt avg ${pingAfter.avg} ms`);
      console.log(`  forwarder RSS: before ${rssBefore} KiB, peak during ${Math.max(...rssSamples, 0)} KiB, after ${rssAfter} KiB (growth ${rssAfter - rssBefore} KiB)`);

      assert.ok(report.sent >= 50_000, `the sender managed a real burst (${report.sent} in ${report.ms} ms)`);
      for (const kind of GARBAGE_KINDS) assert.ok(report.kinds[kind] > 0, `garbage of kind ${kind} was sent`);
      for (const reason of RX_REASONS) assert.ok(drops[reason] > 0, `some datagrams dropped as ${reason}: ${JSON.stringify(drops)}`);
      assert.ok(received > 0.1 * report.sent, `the forwarder took a good part of the burst (${received} of ${report.sent})`);
      assert.is(accounted, received, `every datagram the underlay delivered is either dropped by reason or written to the TAP (drops ${JSON.stringify(drops)}, to TAP ${toDevice}, device errors ${deviceErrors}, received ${received})`);
      assert.ok(after.counters.networks[0].fdbEntries <= 16_384, 'learning from random source MACs stays within maxFdbEntries');
      assert.ok(duringResult !== null && Number(duringResult[2]) >= 1, `pings were answered during the burst\n${during.stdout}`);
      assert.is(pingAfter.received, pingAfter.transmitted, `ping after the burst\n${pingAfter.output}`);
      assert.ok(rssAfter - rssBefore < RSS_GROWTH_LIMIT_KIB, `RSS grew by ${rssAfter - rssBefore} KiB (limit ${RSS_GROWTH_LIMIT_KIB})`);
      assert.ok(forwarder.proc.running, 'the forwarder is still running');

      // A second burst (other bytes, the FDB already full): a leak would grow RSS again by about
      // as much; bounded state (full FDB, warmed-up heap) grows it little.
      const second = lab.spawnNode(b, 'test/forwarder/e2e/send-udp.ts', [JSON.stringify({
        bind: '192.168.77.2', to: '192.168.77.1', garbage: { count: BURST, seconds: BURST_SECONDS, seed: SEED + 1, vni: VNI },
      })], { label: 'second garbage sender' });
      assert.is((await second.wait(BURST_SECONDS * 1000 + 10_000)).code, 0, `second sender: ${second.stderr}`);
      await sleep(500);
      const rssAfterSecond = rssKiB(forwarder.pid);
      console.log(`  forwarder RSS after a second burst: ${rssAfterSecond} KiB (growth ${rssAfterSecond - rssAfter} KiB over the first)`);
      assert.ok(rssAfterSecond - rssAfter < SECOND_BURST_GROWTH_LIMIT_KIB, `RSS grew by ${rssAfterSecond - rssAfter} KiB more over a second burst (limit ${SECOND_BURST_GROWTH_LIMIT_KIB})`);
      const last = ping(lab, b, '10.42.0.1');
      assert.is(last.received, last.transmitted, `ping after the second burst\n${last.output}`);
      void a;
    } finally {
      await lab.cleanup();
    }
  });

  test(TESTS[1], async () => {
    const lab = new Lab('ft');
    try {
      const { a, b, forwarder } = await forwarderAndKernel(lab);
      const result = ping(lab, b, '10.42.0.1');
      assert.is(result.received, result.transmitted, `ping first, so the forwarder has been busy\n${result.output}`);
      assert.is(lab.tryExec(a, 'ip', 'link', 'show', TAP).status, 0, 'the TAP exists while the forwarder runs');
      const exit = await forwarder.terminate(5000);
      console.log(`  SIGTERM → exit ${exit.code ?? exit.signal} after ${exit.elapsedMs.toFixed(0)} ms (close() took ${exit.closed?.exitMs} ms)`);
      assert.is(exit.code, 0, `exit code 0 (signal ${exit.signal})\nstderr: ${forwarder.proc.stderr}`);
      assert.ok(exit.elapsedMs < 2000, `exited within 2 s (${exit.elapsedMs.toFixed(0)} ms)`);
      assert.ok(exit.closed !== undefined, 'it said it closed');
      const show = lab.tryExec(a, 'ip', 'link', 'show', TAP);
      assert.is.not(show.status, 0, `the TAP is gone: ${show.stdout}`);
    } finally {
      await lab.cleanup();
    }
  });
}

test.run();
