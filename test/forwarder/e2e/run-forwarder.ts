// A forwarder as a process, for the end-to-end tests: started INSIDE a test's network namespace
// (`ip netns exec NS node --import tsx test/forwarder/e2e/run-forwarder.ts '<json>'`), since the
// TAP and the UDP socket are made in the namespace of the process that opens them.
//
// Argument: one JSON object (RunnerConfig). Output: one JSON object per line on stdout:
//   {"event":"ready","tap":…,"mac":…,"pid":…,"localPort":…,"offloadFlags":…}   once running
//   {"event":"counters","seq":n,…}                                on SIGUSR2 (n counts the requests),
//                                                                 with the underlay's GSO/GRO counters and notices
//   {"event":"closed","exitMs":…,…counters}                       after SIGTERM/SIGINT, then exit 0
//   {"event":"error","message":…}                                 a port failed; exit 1
import { TapDevice } from '../../../src/forwarder/device/tap';
import { Forwarder } from '../../../src/forwarder/forwarder';
import { UdpUnderlay } from '../../../src/forwarder/underlay/udp';
import { libc, SOL_SOCKET } from '../../../src/forwarder/io/libc';
import type { Endpoint } from '../../../src/forwarder/contracts';

export interface RunnerConfig {
  tap: string;
  mtu?: number;
  vni: number;
  /** The underlay address to bind. */
  local: string;
  port?: number;
  /** Peers: "addr", "addr:port" (IPv4) or "[addr]:port" (IPv6), or endpoints. */
  peers: (string | Endpoint)[];
  allowedSources?: string[];
  batchSize?: number;
  /** The TAP's offloads (TapDevice's default when absent), so one run can compare on and off. */
  offloads?: boolean;
  /** The underlay's UDP GSO and GRO (UdpUnderlay's default, on where the kernel has them, when absent). */
  gso?: boolean;
  gro?: boolean;
  /** SO_NO_CHECK on the underlay socket (send without UDP checksums): the kernel then refuses GSO with EINVAL. */
  noCheck?: boolean;
}

/** SOL_SOCKET option 11 (asm-generic/socket.h). */
const SO_NO_CHECK = 11;

/** "a.b.c.d", "a.b.c.d:p", "fd00::1", "[fd00::1]:p" → an endpoint (port 4789 unless given). */
export function parseEndpoint(text: string | Endpoint): Endpoint {
  if (typeof text !== 'string') return text;
  const bracket = /^\[(.+)\](?::(\d+))?$/.exec(text);
  if (bracket !== null) return { address: bracket[1], port: Number(bracket[2] ?? 4789) };
  const v4 = /^([\d.]+)(?::(\d+))?$/.exec(text);
  if (v4 !== null) return { address: v4[1], port: Number(v4[2] ?? 4789) };
  return { address: text, port: 4789 };
}

const config = JSON.parse(process.argv[2] ?? '{}') as RunnerConfig;
const print = (object: object) => process.stdout.write(`${JSON.stringify(object)}\n`);

// What the underlay says once (a GSO refusal), kept for the counters lines.
const notices: string[] = [];
const underlay = UdpUnderlay.open({
  address: config.local, port: config.port ?? 4789, gso: config.gso, gro: config.gro, onNotice: (message) => notices.push(message),
});
if (config.noCheck === true && libc().setsockopt(underlay.fd, SOL_SOCKET, SO_NO_CHECK, new Uint8Array([1, 0, 0, 0]), 4) !== 0) {
  await underlay.close();
  throw new Error('SO_NO_CHECK refused');
}
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
  const rss = process.memoryUsage().rss;
  return {
    counters: forwarder.counters(),
    underlay: { ...underlay.counters, receiveErrors: underlay.receiveErrors },
    tap: { ...tap.counters },
    fdb: forwarder.fdbEntries(config.vni).map(({ mac, address, port }) => ({ mac, address, port })),
    rssKiB: Math.round(rss / 1024),
    offload: { ...underlay.offloadCounters, gso: underlay.gso, gro: underlay.gro },
    notices,
  };
}

let seq = 0;
process.on('SIGUSR2', () => print({ event: 'counters', seq: ++seq, ...snapshot() }));

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  const started = performance.now();
  // A close that hangs is a bug the SIGTERM test must see: give up loudly after 1.5 s.
  const guard = setTimeout(() => {
    print({ event: 'error', message: `close() did not finish within 1500 ms of ${signal}` });
    process.exit(1);
  }, 1500);
  const last = snapshot();
  await forwarder.close();
  clearTimeout(guard);
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
