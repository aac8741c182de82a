// A forwarder as a process for the offload tests: test/forwarder/e2e/run-forwarder.ts's protocol
// (ready / counters on SIGUSR2 / closed on SIGTERM, one JSON object per line), with the TAP's
// offloads chosen by the config (`offloads`), so one test run can compare on and off. Started
// inside a namespace: `ip netns exec NS node --import tsx test/forwarder/offload/run-forwarder.ts '<json>'`.
import { TapDevice } from '../../../src/forwarder/device/tap';
import { Forwarder } from '../../../src/forwarder/forwarder';
import { UdpUnderlay } from '../../../src/forwarder/underlay/udp';
import type { Endpoint } from '../../../src/forwarder/contracts';
import type { RunnerConfig } from '../e2e/forwarder-process';

/** "a.b.c.d[:p]" or "[v6]:p" or "v6" → an endpoint (port 4789 unless given); e2e/run-forwarder.ts reads peers alike. */
function parseEndpoint(text: string | Endpoint): Endpoint {
  if (typeof text !== 'string') return text;
  const bracket = /^\[(.+)\](?::(\d+))?$/.exec(text);
  if (bracket !== null) return { address: bracket[1], port: Number(bracket[2] ?? 4789) };
  const v4 = /^([\d.]+)(?::(\d+))?$/.exec(text);
  if (v4 !== null) return { address: v4[1], port: Number(v4[2] ?? 4789) };
  return { address: text, port: 4789 };
}

const config = JSON.parse(process.argv[2] ?? '{}') as RunnerConfig & { offloads: boolean };
const print = (object: object) => process.stdout.write(`${JSON.stringify(object)}\n`);

const underlay = UdpUnderlay.open({ address: config.local, port: config.port ?? 4789 });
let tap: TapDevice;
try {
  tap = TapDevice.open({ name: config.tap, mtu: config.mtu, offloads: config.offloads, log: (message) => process.stderr.write(`${message}\n`) });
} catch (error) {
  await underlay.close();
  throw error;
}
const forwarder = new Forwarder({
  underlay,
  networks: [{ vni: config.vni, device: tap, peers: config.peers.map(parseEndpoint) }],
  allowedSources: config.allowedSources,
  batchSize: config.batchSize,
});

function snapshot() {
  return {
    counters: forwarder.counters(),
    underlay: { ...underlay.counters, receiveErrors: underlay.receiveErrors },
    tap: { ...tap.counters, offloadFlags: tap.offloadFlags },
    fdb: forwarder.fdbEntries(config.vni).map(({ mac, address, port }) => ({ mac, address, port })),
    rssKiB: Math.round(process.memoryUsage().rss / 1024),
  };
}

let seq = 0;
process.on('SIGUSR2', () => print({ event: 'counters', seq: ++seq, ...snapshot() }));
let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  const started = performance.now();
  const last = snapshot();
  await forwarder.close();
  print({ event: 'closed', signal, exitMs: Math.round(performance.now() - started), ...last });
  process.exit(0);
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
forwarder.on('error', (error: Error) => {
  print({ event: 'error', message: error.message });
  process.exit(1);
});
forwarder.start();
print({ event: 'ready', tap: tap.name, mac: tap.mac, mtu: tap.mtu, pid: process.pid, localPort: underlay.localPort, offloadFlags: tap.offloadFlags });
