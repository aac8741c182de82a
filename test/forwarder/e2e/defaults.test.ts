// What a new user gets (root, namespaces this file makes): `vxlan-wasm forward` with no flags, and
// with the flags that decline each default, against the kernel's `vxlan` device over veths that
// keep Linux's default offloads (no ethtool anywhere). The kernel's inner TCP and UDP checksums
// arrive partial (its veth passes CHECKSUM_PARTIAL along) and its TCP super-packets whole; the
// forwarder must finish the one and split the other in every receive path, or nothing but ping
// gets through. Each case: ping both ways, 64 MiB each way with the same sha256, 200 UDP datagrams
// from the kernel's side all delivered, and the "stopped" line's counters (inner checksums
// finished where the socket path ran, the queue workers' busy polling finding frames, no drop but
// the expected ones).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Lab, labReady, ping, type LabProcess } from '../../helpers/netns';
import { transfer, TRANSFER_BYTES } from '../offload/transfer';
import { kernelInB, OVERLAY, TAP, UNDERLAYS, VNI, type UnderlayPlan } from './topology';

interface Case {
  underlay: UnderlayPlan;
  flags: string[];
  /** What the forwarding line must say of tunnel GSO (where it is off, the socket path carries the
   * kernel's VXLAN, and the forwarder finishes its partial checksums). */
  tunnelGso: RegExp;
}

const [IPV4, IPV6] = UNDERLAYS;
const CASES: Case[] = [
  { underlay: IPV4, flags: [], tunnelGso: /^on, both ways/ },
  { underlay: IPV4, flags: ['--no-tunnel-gso'], tunnelGso: /^off \(--no-tunnel-gso\)/ },
  { underlay: IPV4, flags: ['--no-tunnel-gso', '--no-tap-offloads'], tunnelGso: /^off/ },
  { underlay: IPV4, flags: ['--no-tunnel-gso', '--queues', '0'], tunnelGso: /^off/ },
  { underlay: IPV6, flags: [], tunnelGso: /./ },
];
const TESTS = CASES.map((c) => `forward ${c.flags.join(' ') || '(no flags)'} ↔ kernel vxlan with Linux's default offloads, IPv${c.underlay.family}: ping, ${TRANSFER_BYTES / 2 ** 20} MiB each way with the same sha256, UDP from the kernel side delivered, partial checksums finished`);

/** The JSON of the CLI's log line `msg`. */
function logLine(cli: LabProcess, msg: string): Record<string, unknown> | undefined {
  const line = cli.stderr.split('\n').find((candidate) => candidate.includes(`"msg":"${msg}"`));
  return line === undefined ? undefined : JSON.parse(line) as Record<string, unknown>;
}

if (labReady(test, 'forwarder e2e (defaults)', ['ping', 'sysctl'], TESTS)) {
  CASES.forEach((c, index) => {
    test(TESTS[index], async () => {
      const lab = new Lab('dfl');
      try {
        const { a, b } = kernelInB(lab, c.underlay);
        const peer = c.underlay.family === 6 ? `[${c.underlay.b}]:4789` : c.underlay.b;
        const cli = lab.spawnNode(a, 'test/forwarder/e2e/run-cli.ts', ['--tap', TAP, '--vni', String(VNI), '--local', c.underlay.a, '--peer', peer, '--log-level', 'info', ...c.flags], { label: `vxlan-wasm forward ${c.flags.join(' ')}` });
        await cli.waitFor('the "forwarding" log line', () => cli.stderr.includes('"msg":"forwarding"') || cli.stderr.includes('could not start'), 20_000);
        const forwarding = logLine(cli, 'forwarding');
        assert.ok(forwarding !== undefined, cli.stderr);
        const offloads = forwarding!.offloads as { tunnelGso: string };
        console.log(`  engine: ${String(forwarding!.engine)}; tunnel GSO: ${offloads.tunnelGso}`);
        assert.match(offloads.tunnelGso, c.tunnelGso);
        lab.addresses(a, TAP, [`${OVERLAY.a}/24`]);

        for (const [ns, to, what] of [[a, OVERLAY.b, 'forwarder → kernel'], [b, OVERLAY.a, 'kernel → forwarder']] as const) {
          const result = ping(lab, ns, to);
          assert.ok(result.transmitted > 0 && result.received === result.transmitted, `${what}: every echo answered\n${result.output}\n${cli.stderr}`);
        }
        await transfer(lab, b, OVERLAY.b, a, true, 'kernel → forwarder');
        await transfer(lab, b, OVERLAY.b, a, false, 'forwarder → kernel');

        // UDP from the kernel's side: its checksums leave partial too; one not finished never arrives.
        const receiver = lab.spawnNode(a, 'test/forwarder/e2e/udp-datagrams.ts', [JSON.stringify({ role: 'receive', bind: OVERLAY.a, port: 5400, count: 200, ms: 5000 })], { label: 'UDP receiver' });
        await receiver.waitFor('listening', () => receiver.stdout.includes('"listening"'), 5000);
        const sender = lab.spawnNode(b, 'test/forwarder/e2e/udp-datagrams.ts', [JSON.stringify({ role: 'send', to: OVERLAY.a, port: 5400, count: 200, size: 1000 })], { label: 'UDP sender' });
        assert.is((await sender.wait(10_000)).code, 0, sender.stderr);
        await receiver.wait(10_000);
        const udp = JSON.parse(receiver.lines.find((line) => line.includes('"received"')) ?? '{}') as { received?: number };
        console.log(`  UDP kernel → forwarder: ${udp.received}/200 datagrams delivered`);
        assert.is(udp.received, 200, 'every UDP datagram delivered');

        cli.signal('SIGTERM');
        assert.is((await cli.wait(5000)).code, 0, cli.stderr);
        const stopped = logLine(cli, 'stopped') as { partialChecksumsFinished?: number; drops?: Record<string, number> } | undefined;
        console.log(`  stopped: ${JSON.stringify(stopped && { partialChecksumsFinished: stopped.partialChecksumsFinished, drops: stopped.drops, tunnelGso: (stopped as { tunnelGso?: unknown }).tunnelGso })}`);
        assert.ok(stopped !== undefined, cli.stderr);
        if (!/^on/.test(offloads.tunnelGso)) assert.ok((stopped!.partialChecksumsFinished ?? 0) > 200, 'the kernel\'s partial checksums were finished by the forwarder');
        // The queue workers busy-poll by default: a transfer's next segments and acks were read without a sleep.
        const polling = (stopped as { polling?: { busyPolls: number; busyPollHits: number } }).polling;
        console.log(`  polling: ${JSON.stringify(polling)}`);
        if (c.flags.includes('--queues')) assert.is(polling, undefined, 'the main-thread engine has no queue workers');
        else assert.ok(polling !== undefined && polling.busyPollHits > 0, `busy polling on by default, and finding frames: ${JSON.stringify(polling)}`);
        const drops = Object.keys(stopped!.drops ?? {}).filter((reason) => reason !== 'KERNEL_CHECKSUM_ERRORS');
        assert.equal(drops, [], `no drops: ${JSON.stringify(stopped!.drops)}`);
      } finally {
        await lab.cleanup();
      }
    });
  });
}

test.run();
