// A forwarder read as a queue worker reads it (run to completion: one InlinePoller over the TAP and
// the socket, its drain the Forwarder's pumpNow, the pump run by the caller alone, a doorbell that
// turns the event loop; queue-worker.ts wires the same), as a process
// started INSIDE a test's network namespace:
//   ip netns exec NS node --import tsx test/forwarder/io/run-inline-forwarder.ts '<json>'
// Argument: {"tap","mtu","vni","local","peer"}. Output, one JSON object per line on stdout:
//   {"event":"ready","pid":…}                                   once running
//   {"event":"counters","seq":n,"pumps":…,"poller":…,"batches":…,"networks":…}   on SIGUSR2
//   {"event":"error","message":…}                               a port or the poller failed; exit 1
// SIGTERM closes everything and exits 0.
import { TapDevice } from '../../../src/forwarder/device/tap';
import { Forwarder } from '../../../src/forwarder/forwarder';
import { InlinePoller } from '../../../src/forwarder/io/inline-reader';
import { UdpUnderlay } from '../../../src/forwarder/underlay/udp';
import { Doorbell } from '../../../src/forwarder/io/doorbell';

export interface InlineRunnerConfig {
  tap: string;
  mtu: number;
  vni: number;
  local: string;
  peer: string;
}

const config = JSON.parse(process.argv[2] ?? '{}') as InlineRunnerConfig;
const print = (object: object) => process.stdout.write(`${JSON.stringify(object)}\n`);
const fail = (message: string) => {
  print({ event: 'error', message });
  process.exit(1);
};

const poller = new InlinePoller();
const underlay = UdpUnderlay.open({ address: config.local, port: 4789, poller });
let tap: TapDevice;
try {
  tap = TapDevice.open({ name: config.tap, mtu: config.mtu, poller, log: (message) => process.stderr.write(`${message}\n`) });
} catch (error) {
  await underlay.close();
  throw error;
}
const forwarder = new Forwarder({ underlay, networks: [{ vni: config.vni, device: tap, peers: [{ address: config.peer, port: 4789 }] }] });
forwarder.on('error', (error: Error) => fail(error.message));
forwarder.pumpedByCaller();
forwarder.start();
// Nothing else rings it: the event loop turns on the idle cadence (timers, these signals) and for
// busy bursts, as a queue worker's does between its owner's messages.
const doorbell = new Doorbell();
const running = poller.run(() => forwarder.pumpNow(), { doorbell: doorbell.fd });
running.catch((error: Error) => fail(`polling: ${error.message}`));

let seq = 0;
process.on('SIGUSR2', () => {
  const counters = forwarder.counters();
  print({ event: 'counters', seq: ++seq, pumps: { ...forwarder.pumpCounters }, poller: { ...poller.counters }, batches: counters.batches, networks: counters.networks });
});
process.on('SIGTERM', () => {
  void poller.stop().then(() => forwarder.close()).then(() => process.exit(0));
});
print({ event: 'ready', pid: process.pid });
