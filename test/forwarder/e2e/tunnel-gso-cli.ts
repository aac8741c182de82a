// What the tunnel GSO end-to-end suites (tunnel-gso.test.ts over IPv4, tunnel-gso-ipv6.test.ts)
// share: whether this kernel has tunnel GSO, `vxlan-wasm forward` from the sources started until
// its "forwarding" line, the lines it logs, the tunnel TAP's counters from its "stopped" line, and
// the ingress filters on a namespace's veth0.
import { readFileSync } from 'node:fs';
import * as assert from 'uvu/assert';
import type { Lab, LabProcess } from '../../helpers/netns';

/** Whether this kernel's TAP takes UDP-tunnel GSO (Linux 6.17+), read from its version. */
export function kernelHasTunnelGso(): boolean {
  const [major, minor] = readFileSync('/proc/sys/kernel/osrelease', 'utf8').split('.').map((part) => Number.parseInt(part, 10));
  return major > 6 || (major === 6 && minor >= 17);
}

/** `vxlan-wasm forward` with `args` in `ns`, once it says "forwarding". */
export async function forwardCli(lab: Lab, ns: string, args: string[], label: string): Promise<LabProcess> {
  const cli = lab.spawnNode(ns, 'test/forwarder/e2e/run-cli.ts', [...args, '--log-level', 'info'], { label });
  await cli.waitFor('the "forwarding" log line', () => cli.stderr.includes('"msg":"forwarding"') || cli.stderr.includes('could not start'), 20_000);
  assert.match(cli.stderr, /"msg":"forwarding"/, cli.stderr);
  return cli;
}

/** The first log line of `cli` whose msg is `msg`, parsed; undefined when there is none yet. */
export function logLine(cli: LabProcess, msg: string): Record<string, unknown> | undefined {
  const line = cli.stderr.split('\n').find((candidate) => candidate.includes(`"msg":"${msg}"`));
  return line === undefined ? undefined : JSON.parse(line) as Record<string, unknown>;
}

/** The tunnel TAP counters of a stopped CLI's "stopped" line. */
export function egressCounters(cli: LabProcess): Record<string, number> | undefined {
  return (logLine(cli, 'stopped') as { tunnelGso?: Record<string, number> } | undefined)?.tunnelGso;
}

/** The filters on `ns`'s veth0 ingress (what tunnel GSO adds; empty when none). */
export function ingressFilters(lab: Lab, ns: string): string {
  return lab.tryExec(ns, 'tc', 'filter', 'show', 'dev', 'veth0', 'ingress').stdout.trim();
}
