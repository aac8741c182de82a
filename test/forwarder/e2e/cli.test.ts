// `vxlan-wasm forward` itself (the CLI's forwardCommand, run from the sources inside a namespace)
// against the kernel's vxlan, IPv4 and IPv6 underlay (root): it comes up from flags alone, pings
// go both ways, its Prometheus metrics (scraped inside the namespace) count the frames and the
// learned MAC, and SIGTERM ends it with exit 0 within 2 s, its TAP removed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Lab, labReady, ping } from '../../helpers/netns';
import { kernelInB, UNDERLAYS, VNI } from './topology';

const TAP = 'vxcli0';

const TESTS = UNDERLAYS.map((u) => `vxlan-wasm forward ↔ kernel vxlan, IPv${u.family} underlay: ping both ways, metrics, SIGTERM exits 0 within 2 s and removes the TAP`);

/** The value of a Prometheus sample line `name{labels} value`. */
function sample(metrics: string, name: string, labels: string): number {
  const line = metrics.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  if (line === undefined) throw new Error(`no ${name}{${labels}} in\n${metrics}`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

if (labReady(test, 'forwarder e2e (CLI)', ['ping', 'curl', 'sysctl'], TESTS)) {
  UNDERLAYS.forEach((underlay, index) => {
    test(TESTS[index], async () => {
      const lab = new Lab('fc');
      try {
        const { a, b } = kernelInB(lab, underlay);
        // A peer with its port, bracketed for IPv6: the CLI's own syntax.
        const peer = underlay.family === 6 ? `[${underlay.b}]:4789` : underlay.b;
        const cli = lab.spawnNode(a, 'test/forwarder/e2e/run-cli.ts', [
          '--tap', TAP, '--vni', String(VNI), '--local', underlay.a, '--peer', peer, '--metrics', '127.0.0.1:9470', '--log-level', 'info',
        ], { label: 'vxlan-wasm forward' });
        await cli.waitFor('the "forwarding" log line', () => cli.stderr.includes('"msg":"forwarding"'), 10_000);
        // The default MTU follows the underlay's family (1500 less VXLAN's 50 or 70 bytes).
        assert.match(lab.exec(a, 'ip', 'link', 'show', TAP), new RegExp(`mtu ${underlay.mtu} `), 'the TAP made with the default MTU for the family');
        lab.addresses(a, TAP, ['10.42.0.1/24']);
        for (const [ns, to, what] of [[a, '10.42.0.2', 'CLI → kernel'], [b, '10.42.0.1', 'kernel → CLI']] as const) {
          const result = ping(lab, ns, to);
          console.log(`  IPv${underlay.family} ${what} ping: ${result.received}/${result.transmitted}, rtt avg ${result.avg} ms`);
          assert.ok(result.transmitted > 0 && result.received === result.transmitted, `${what}: every echo answered\n${result.output}\n${cli.stderr}`);
        }

        // The queue worker reports its counters every 500 ms: scrape until the pings are in (2 s at most).
        let metrics = '';
        let toUnderlay = 0;
        let toDevice = 0;
        for (let tries = 0; tries < 10 && (toUnderlay < 6 || toDevice < 6); tries++) {
          if (tries > 0) await new Promise((resolve) => setTimeout(resolve, 200));
          metrics = lab.exec(a, 'curl', '-sf', '--max-time', '5', 'http://127.0.0.1:9470/metrics');
          toUnderlay = sample(metrics, 'vxlan_frames_total', `direction="to_underlay",vni="${VNI}"`);
          toDevice = sample(metrics, 'vxlan_frames_total', `direction="to_device",vni="${VNI}"`);
        }
        console.log(`  metrics: to_underlay ${toUnderlay}, to_device ${toDevice}, fdb ${sample(metrics, 'vxlan_fdb_entries', `vni="${VNI}"`)}`);
        assert.ok(toUnderlay >= 6 && toDevice >= 6, 'the pings counted both ways');
        assert.is(sample(metrics, 'vxlan_fdb_entries', `vni="${VNI}"`), 1, "the kernel vx0's MAC learned");
        assert.ok(sample(metrics, 'vxlan_flooded_total', `vni="${VNI}"`) >= 1, 'the first ARP request flooded');

        const started = performance.now();
        cli.signal('SIGTERM');
        const status = await cli.wait(5000);
        const elapsed = performance.now() - started;
        console.log(`  SIGTERM → exit ${status.code ?? status.signal} after ${elapsed.toFixed(0)} ms`);
        assert.is(status.code, 0, `exit 0\n${cli.stderr}`);
        assert.ok(elapsed < 2000, `exited within 2 s (${elapsed.toFixed(0)} ms)`);
        assert.match(cli.stderr, /"msg":"stopped"/, 'it logged its stop');
        assert.is.not(lab.tryExec(a, 'ip', 'link', 'show', TAP).status, 0, 'the TAP it made is gone');
      } finally {
        await lab.cleanup();
      }
    });
  });
}

test.run();
