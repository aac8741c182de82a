// A bounded TCP transfer through a tunnel whose two ends must compute the same sha256 (the
// offload and tunnel-GSO suites): tcp-transfer.ts as server and client in two namespaces.
import * as assert from 'uvu/assert';
import type { Lab } from '../../helpers/netns';

const TRANSFER = 'test/forwarder/offload/tcp-transfer.ts';
/** The bounded transfer (a 1 GiB one is measured by hand: VXLAN_OFFLOAD_TRANSFER_MIB=1024). */
export const TRANSFER_BYTES = Number(process.env.VXLAN_OFFLOAD_TRANSFER_MIB ?? 64) * 1024 * 1024;

/** A TCP transfer of TRANSFER_BYTES from `from` to `to` (server in `serverNs`); the two sha256 must agree. */
export async function transfer(lab: Lab, serverNs: string, serverAddress: string, clientNs: string, serverSends: boolean, what: string): Promise<void> {
  const port = 5301;
  const base = { address: serverAddress, port, bytes: TRANSFER_BYTES };
  const server = lab.spawnNode(serverNs, TRANSFER, [JSON.stringify({ ...base, role: 'server', send: serverSends })], { label: `transfer server (${what})` });
  await server.waitFor('listening', () => server.stdout.includes('"listening"'), 10_000);
  const client = lab.spawnNode(clientNs, TRANSFER, [JSON.stringify({ ...base, role: 'client', send: !serverSends })], { label: `transfer client (${what})` });
  const started = performance.now();
  const done = (proc: typeof server) => proc.lines.map((line) => JSON.parse(line)).find((event) => event.event === 'done' || event.event === 'error');
  const timeout = 30_000 + TRANSFER_BYTES / 10_000; // ≥ 80 Mbit/s, or it failed
  const [serverDone, clientDone] = await Promise.all([server.waitFor('done', () => done(server), timeout), client.waitFor('done', () => done(client), timeout)]);
  const seconds = (performance.now() - started) / 1000;
  console.log(`  ${what}: ${TRANSFER_BYTES / 2 ** 20} MiB in ${seconds.toFixed(2)} s, sha256 ${serverDone.sha256?.slice(0, 16)}… both sides`);
  assert.is(serverDone.event, 'done', `${what}: server ${JSON.stringify(serverDone)}`);
  assert.is(clientDone.event, 'done', `${what}: client ${JSON.stringify(clientDone)}`);
  assert.is(serverDone.bytes, TRANSFER_BYTES, `${what}: every byte`);
  assert.is(clientDone.bytes, TRANSFER_BYTES, `${what}: every byte`);
  assert.is(serverDone.sha256, clientDone.sha256, `${what}: the same sha256`);
}

