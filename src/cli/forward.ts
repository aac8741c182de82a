/**
 * `vxlan-wasm forward`: run a userspace VTEP on this host. Everything is checked before anything
 * is opened (a bad flag or config key: one sentence, exit 2); then the UDP underlay is bound, one
 * TAP per network made (or opened), the Forwarder built and started, and the process waits:
 *
 *   SIGINT / SIGTERM   close everything (TAPs this process made disappear), exit 0 within 2 s
 *                      (if shutdown hangs, a hard timer exits 1, loudly)
 *   a port breaks      (a reader worker dies, an fd fails) the reason is logged, exit 1
 *
 * Logs are pino JSON lines on stderr, never one per packet (drops: a summary at most every 10 s).
 */
import type { AddressInfo } from 'node:net';
import {
  ConfigError, checkTunAccess, endpointText, loadConfigFile, resolveConfig,
  type ForwardConfig, type ForwardFlags,
} from './config';
import type { Device, Underlay } from '../forwarder/contracts';
import type { FdbEvent } from '../forwarder/fdb';
import type { TapDeviceOptions } from '../forwarder/device/tap';
import type { Forwarder } from '../forwarder/forwarder';
import { parseCommandArgs } from './options';
import { closeWithin, ForwarderObservability, StopRequest } from './lifecycle';
import type { UdpUnderlayOptions } from '../forwarder/underlay/udp';
import { buildVtep, type Vtep, type VtepSpec } from '../forwarder/vtep';
import { DEFAULT_BUSY_POLL_US, DEFAULT_IDLE_WAKE_MS, MAX_BUSY_POLL_US, MAX_IDLE_WAKE_MS } from '../forwarder/multi-queue/multi-queue-forwarder';
import type { Logger } from './log';
import type { TunnelGsoDecision, TunnelGsoProbeOptions } from '../forwarder/underlay/tunnel-gso-probe';
import { chooseTunnelGso, type TunnelGsoChoice } from './tunnel-gso-choice';

/** The configuration as it runs: tunnel GSO decided (on or off, never 'auto'). */
type RunConfig = ForwardConfig & { offloads: ForwardConfig['offloads'] & { tunnelGso: boolean } };

export const FORWARD_USAGE = `usage: vxlan-wasm forward --tap NAME --vni N --local ADDR [--peer ADDR[:PORT] ...] [options]
       vxlan-wasm forward --config FILE [flags that override it]

Run a userspace VXLAN tunnel endpoint: Ethernet frames of each TAP interface are switched to the
peers of its VNI over UDP (and back), learning MACs as a Linux bridge and vxlan device do.
Needs root (or CAP_NET_ADMIN) for the TAP. Stops cleanly on SIGINT/SIGTERM (TAPs it made are removed).

flags:
  --config FILE        JSON configuration (format below); flags override it
  --tap NAME           the TAP interface of the network (created if missing, removed on exit if created)
  --vni N              the VXLAN network identifier, 0..16777215
  --local ADDR         the underlay address to bind, IPv4 or IPv6 (0.0.0.0 or :: for any); every peer
                       must be of its family
  --peer ADDR[:PORT]   a remote VTEP of the network (repeatable); IPv6 with a port as [fd00::2]:4789;
                       without a port, the --port value
  --port N             the UDP port to bind and the peers' default port: 4789 (default), 8472 for
                       Linux's legacy default; 0 binds any free port (then peers need explicit ports)
  --mtu N              the TAP's MTU, 68..65485 (IPv4 underlay) or 68..65465 (IPv6); default
                       1450 over IPv4 and 1430 over IPv6 (a 1500-byte underlay less VXLAN's 50 / 70)
  --allow CIDR         also accept VXLAN from sources in this prefix (repeatable), learning their MACs;
                       by default only the peers are accepted
  --metrics HOST:PORT  serve Prometheus metrics at http://HOST:PORT/metrics ([::1]:9470 for IPv6)
  --log-level LEVEL    fatal, error, warn, info (default), debug, trace or silent
  --no-gso             send each VXLAN datagram on its own, not in UDP GSO runs (UDP_SEGMENT)
  --no-gro             receive without UDP GRO (coalesced datagrams split by the forwarder)
  --no-tap-offloads    no virtio-net header on the TAP: no TSO super-frames in, no GRO'd frames out
  --no-tunnel-gso      do not move TCP super-frames whole through a tunnel TAP. By default they are,
                       wherever this host allows it (checked at start; the log says which path runs
                       and why): as a kernel vxlan does, through a tunnel TAP (<tap>.gso); out, the
                       kernel routes them to the peer; in, a tc ingress filter on the device with
                       --local hands VXLAN for it to the TAP, before the UDP stack would cut it.
                       It needs --local an address (IPv4, or IPv6 not link-local) on a device
                       other than lo, Linux 6.17+, no strict rp_filter, no iptables (ip6tables)
                       FORWARD DROP policy, and iproute2's tc for the way in; it sets forwarding,
                       accept_local and rp_filter 0 on that TAP (IPv6: force_forwarding, and IPv6
                       without an address); a firewall's FORWARD chain sees what goes out
  --tunnel-gso         insist on it: refuse to start where it cannot run
  --no-tunnel-ingress  with tunnel GSO: whole out only; VXLAN in stays on the socket (better
                       where peers' packets arrive cut, one by one: the TAP reads one per call)
  --queues N           worker threads, 0..64 (default 1): each attaches a queue of every TAP
                       (multi-queue), binds its own socket on the port (SO_REUSEPORT) and reads
                       them itself, run to completion; the kernel keeps each flow on one of them;
                       what one learns all know. 0: on the main thread, with a reader thread per
                       TAP and socket
  --busy-poll-us N     with queue workers: after each burst a worker keeps looking for the next
                       frame this long before it sleeps, yielding the CPU to any other thread
                       between looks, 0..${MAX_BUSY_POLL_US} (default ${DEFAULT_BUSY_POLL_US}): a reply or the next segment that
                       comes meanwhile is read without a wake-up (which costs 40-50 µs on a VM
                       whose idle vCPU halts). 0: sleep at once (least CPU when idle). Refused
                       with --queues 0, which has no queue workers
  --idle-wake-ms N     with queue workers: for a second after a frame, an idle worker still wakes
                       this often, only to poll again, 0..${MAX_IDLE_WAKE_MS} (default ${DEFAULT_IDLE_WAKE_MS}): the next frame then
                       meets a warm worker (1-5% of a core per worker every 5 ms; nothing once
                       frames stop). 0: sleep until a frame comes. Refused with --queues 0
  -h, --help           print this help

config file (JSON; every key optional unless said, unknown keys are errors):
  {
    "local": "192.0.2.1",                        required here or as --local
    "port": 4789,
    "networks": [                                each: vni and tap required, vnis and taps distinct
      { "vni": 100, "tap": "vx100", "mtu": 1450,
        "peers": ["192.0.2.2", "192.0.2.3:8472"],
        "fdb": [{ "mac": "02:00:00:00:00:02", "peer": "192.0.2.2" }] },
      { "vni": 200, "tap": "vx200", "peers": ["192.0.2.2"] }
    ],
    "allowedSources": ["198.51.100.0/24"],       as --allow
    "metrics": "127.0.0.1:9470",
    "logLevel": "info",
    "ageingSeconds": 300,                        learned MACs expire after this long unseen
    "maxFdbEntries": 16384,                      learned MACs per VNI at most (then not learned, counted)
    "offloads": { "gso": true, "gro": true, "tap": true, "tunnelGso": false, "tunnelIngress": true },
                                                 flags win: --no-*, --tunnel-gso
    "queues": 1,                                 as --queues
    "busyPollUs": ${DEFAULT_BUSY_POLL_US},                           as --busy-poll-us
    "idleWakeMs": ${DEFAULT_IDLE_WAKE_MS}                              as --idle-wake-ms
  }
  "fdb" holds static entries: that MAC is behind that VTEP (never moved by learning, never aged).

flags over the file:
  --local, --port, --metrics, --log-level, --queues, --busy-poll-us, --idle-wake-ms replace the file's value; --allow replaces its whole list.
  --vni, --tap, --mtu, --peer describe one network: --vni N picks the file's network with VNI N
  (--tap, --mtu replace its values, --peer its whole peer list) or adds a network when the file has
  none with that VNI (then --tap is needed). Without --vni they change the file's only network; with
  several networks in the file, --vni must say which.

exit codes: 0 stopped by SIGINT/SIGTERM; 1 a port broke or shutdown hung; 2 a configuration error
  (bad flag, key, address, VNI, port, MTU, mixed IPv4/IPv6, no permission on /dev/net/tun).
logs: pino JSON lines on stderr ("forwarding" once started; drops summed at most every 10 s).
metrics: vxlan_frames_total, vxlan_bytes_total, vxlan_flooded_total, vxlan_drops_total, vxlan_fdb_entries,
  vxlan_fdb_events_total, vxlan_neighbour_requests_total, vxlan_batches_total, vxlan_batch_frames_total,
  vxlan_underlay_*, vxlan_queue_polls_total (queue workers: waits, busy-polling looks, looks that found frames),
  process_*.

example:
  vxlan-wasm forward --tap vx100 --vni 100 --local 192.0.2.1 --peer 192.0.2.2 --metrics 127.0.0.1:9470`;

/** Test and embedding seams; every one defaults to the real thing. */
export interface ForwardIo {
  /** --help goes here (default process.stdout). */
  stdout?: NodeJS.WritableStream;
  /** Config errors as plain sentences (default process.stderr). */
  stderr?: NodeJS.WritableStream;
  /** pino's destination: a file descriptor or a stream (default fd 2). */
  log?: number | NodeJS.WritableStream;
  /** Where SIGINT/SIGTERM are listened for (default process). */
  signals?: NodeJS.EventEmitter;
  /** The TUN device checked for access (default /dev/net/tun); null skips the check (fake devices). */
  tunPath?: string | null;
  /**
   * The ports to open (default UdpUnderlay.open, TapDevice.open). Given either, the forwarder runs
   * on the main thread (queue workers open their own ports) and tunnel GSO stays off unless insisted on.
   */
  openUnderlay?: (options: UdpUnderlayOptions) => Underlay | Promise<Underlay>;
  openDevice?: (options: TapDeviceOptions) => Device | Promise<Device>;
  /** Decides tunnel GSO when it is 'auto' or insisted on (default probeTunnelGso: asks this host). */
  probeTunnelGso?: (options: TunnelGsoProbeOptions) => TunnelGsoDecision;
  /** How long shutdown may take before the hard exit (default 2000 ms). */
  shutdownTimeoutMs?: number;
  /** The hard exit when shutdown hangs (default process.exit). */
  exit?: (code: number) => void;
  /** Called once forwarding (and the metrics server, if any) is up: tests learn the bound ports. Only on the main thread (--queues 0). */
  onReady?: (ready: { underlay: Underlay; forwarder: Forwarder; metrics?: AddressInfo }) => void;
}

const PARSE_OPTIONS = {
  config: { type: 'string' },
  tap: { type: 'string' },
  vni: { type: 'string' },
  local: { type: 'string' },
  peer: { type: 'string', multiple: true },
  port: { type: 'string' },
  mtu: { type: 'string' },
  metrics: { type: 'string' },
  'log-level': { type: 'string' },
  allow: { type: 'string', multiple: true },
  'no-gso': { type: 'boolean' },
  'no-gro': { type: 'boolean' },
  'no-tap-offloads': { type: 'boolean' },
  'no-tunnel-ingress': { type: 'boolean' },
  'tunnel-gso': { type: 'boolean' },
  'no-tunnel-gso': { type: 'boolean' },
  queues: { type: 'string' },
  'busy-poll-us': { type: 'string' },
  'idle-wake-ms': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Inner Ethernet header with one VLAN tag, and the VXLAN header: a datagram is at most MTU + 26. */
export const DATAGRAM_OVERHEAD = 18 + 8;

/** The flags, with node:util's parse errors as ConfigErrors naming the flag (exit 2). */
function parseFlags(argv: string[]): ForwardFlags & { help?: boolean } {
  return parseCommandArgs('forward', argv, PARSE_OPTIONS, false).values as ForwardFlags & { help?: boolean };
}

/** Run `vxlan-wasm forward`; resolves to the exit code once everything is closed. */
export async function forwardCommand(argv: string[], io: ForwardIo = {}): Promise<number> {
  const stderr = io.stderr ?? process.stderr;
  let config: ForwardConfig;
  try {
    const flags = parseFlags(argv);
    if (flags.help === true) {
      (io.stdout ?? process.stdout).write(`${FORWARD_USAGE}\n`);
      return 0;
    }
    config = resolveConfig(flags, flags.config === undefined ? undefined : loadConfigFile(flags.config));
    if (io.tunPath !== null) checkTunAccess(io.tunPath);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    stderr.write(`vxlan-wasm forward: ${error.message}\n`);
    return error.exitCode;
  }
  return run(config, io);
}

interface Opened {
  /** The VTEP once built (buildVtep closes what it opened when building fails). */
  vtep?: Vtep;
  observability: ForwarderObservability;
}

/** Close whatever was opened: the VTEP (redirect, forwarder, ports, tunnel TAP) and the observability. */
async function closeAll(opened: Opened): Promise<void> {
  await Promise.all([opened.observability.close(), opened.vtep?.close()]);
}

/** The `--tunnel-gso` tunnel TAP: named after the first network's TAP (at most 15 characters). */
function egressName(config: ForwardConfig): string {
  return `${config.networks[0].tap.slice(0, 11)}.gso`;
}

/** The engine as the log says it. */
function engineText(queues: number, busyPollUs: number, idleWakeMs: number): string {
  if (queues === 0) return 'main thread, a reader thread per TAP and socket';
  const polling = busyPollUs === 0 ? 'sleeping as soon as nothing is waiting' : `busy-polling ${busyPollUs} µs after each burst`;
  const waking = idleWakeMs === 0 ? 'sleeping while idle until a frame comes' : `waking every ${idleWakeMs} ms while idle for a second after a frame`;
  return `${queues} queue worker${queues === 1 ? '' : 's'}, each reading its TAP queues and socket itself (run to completion), ${polling}, ${waking}`;
}

/**
 * Tunnel GSO decided: declined (--no-tunnel-gso), or asked of this host (probeTunnelGso). Where it
 * cannot run, 'auto' goes on without it and says why; insisted on (--tunnel-gso), it is an error.
 */
function decideTunnelGso(config: ForwardConfig, io: ForwardIo, embedderPorts: boolean): { config: RunConfig; note: string } {
  const mode = config.offloads.tunnelGso;
  const choice: TunnelGsoChoice = mode === 'auto' && embedderPorts && io.probeTunnelGso === undefined
    ? { use: false, ingress: false, note: "off (the ports are the embedder's own)" }
    : chooseTunnelGso(mode, { localAddress: config.local, tapOffloads: config.offloads.tap, ingress: config.offloads.tunnelIngress }, io.probeTunnelGso);
  return { config: { ...config, offloads: { ...config.offloads, tunnelGso: choice.use, tunnelIngress: choice.ingress } }, note: choice.note };
}

/** The "forwarding" line: what runs where, with which engine and offloads, and why. */
function logForwarding(
  logger: Logger, config: RunConfig, underlay: { localAddress: string; localPort: number }, devices: readonly { name: string; mac?: string }[],
  metrics: string | undefined, tunnelGso: string,
): void {
  const { gso, gro, tap } = config.offloads;
  logger.info({
    local: endpointText({ address: underlay.localAddress, port: underlay.localPort }),
    networks: config.networks.map((network, i) => ({
      vni: network.vni, tap: devices[i].name, mtu: network.mtu, mac: devices[i].mac,
      peers: network.peers.map(endpointText), staticFdbEntries: network.fdb.length,
    })),
    allowedSources: config.allowedSources,
    engine: engineText(config.queues, config.busyPollUs, config.idleWakeMs),
    offloads: { tap: tap ? 'TSO and GRO through a virtio-net header' : 'off', udpGso: gso, udpGro: gro, tunnelGso },
    metrics,
  }, 'forwarding');
}

/** The VTEP the configuration describes: on this thread (--queues 0) or on N queue workers. */
function vtepSpec(config: RunConfig): VtepSpec {
  const maxMtu = Math.max(...config.networks.map((network) => network.mtu));
  return {
    queues: config.queues,
    // The queue workers' own settings (buildVtep refuses them with queues 0).
    ...(config.queues === 0 ? {} : { busyPollUs: config.busyPollUs, idleWakeMs: config.idleWakeMs }),
    underlay: {
      address: config.local, port: config.port, maxDatagramLength: Math.min(65535, maxMtu + DATAGRAM_OVERHEAD),
      gso: config.offloads.gso, gro: config.offloads.gro,
    },
    networks: config.networks.map((network) => ({
      vni: network.vni, tap: { name: network.tap, mtu: network.mtu, create: true, offloads: config.offloads.tap }, peers: network.peers, fdb: network.fdb,
    })),
    allowedSources: config.allowedSources,
    ageingMs: config.ageingSeconds * 1000,
    maxFdbEntries: config.maxFdbEntries,
    // Sources admitted by --allow are answered on the VXLAN port, as Linux does.
    remotePort: config.port === 0 ? undefined : config.port,
    tunnelGso: config.offloads.tunnelGso ? { name: egressName(config), localAddress: config.local, ingress: config.offloads.tunnelIngress } : undefined,
  };
}

/** Learned, moved and aged MACs: one line per batch of events (one per pump turn at most), only at debug, at most 32 shown. */
function logFdbEvents(forwarder: Forwarder, logger: Logger): void {
  forwarder.on('fdb', (events: FdbEvent[]) => {
    if (!logger.isLevelEnabled('debug')) return;
    const shown = events.slice(0, 32).map((event) => {
      const endpoint = forwarder.endpoint(event.endpoint);
      return { ...event, endpoint: endpoint === undefined ? event.endpoint : endpointText(endpoint) };
    });
    logger.debug({ events: shown, count: events.length }, 'fdb changes');
  });
}

async function run(config: ForwardConfig, io: ForwardIo): Promise<number> {
  const observability = new ForwarderObservability(config.logLevel, io.log);
  const { logger } = observability;
  const opened: Opened = { observability };

  // Until the forwarder is up, a signal only asks to stop once opening is done.
  const stop = new StopRequest(io.signals ?? process);
  let code: number;

  try {
    try {
      // Ports the embedder opens are opened on this thread: queue workers open their own.
      const embedderPorts = io.openUnderlay !== undefined || io.openDevice !== undefined;
      const decided = decideTunnelGso(embedderPorts ? { ...config, queues: 0 } : config, io, embedderPorts);
      const runConfig = decided.config;
      const vtep = await buildVtep(vtepSpec(runConfig), {
        openUnderlay: io.openUnderlay,
        openDevice: io.openDevice,
        // The kernel refused GSO (at most twice, then it stays off): said once, never per packet.
        onNotice: (message) => logger.warn(message),
        log: (message) => logger.info(message),
        beforeStart: (made) => {
          observability.stopOnBrokenPort(made.forwarder, stop);
          if (made.engine === 'thread') logFdbEvents(made.forwarder, logger);
        },
      });
      opened.vtep = vtep;
      const metrics = await observability.report(vtep.forwarder, runConfig.metrics);
      const devices = vtep.engine === 'thread' ? vtep.devices : vtep.forwarder.devices;
      logForwarding(logger, runConfig, vtep.forwarder.underlay, devices as readonly { name: string; mac?: string }[], metrics.url, decided.note);
      if (vtep.engine === 'thread') io.onReady?.({ underlay: vtep.forwarder.underlay, forwarder: vtep.forwarder, metrics: metrics.address });
    } catch (error) {
      const { code: errorCode, message } = error as NodeJS.ErrnoException;
      // TapDevice checks what checkTunAccess cannot (CAP_NET_ADMIN): still a permission problem, exit 2.
      const exitCode = errorCode === 'TAP_PERMISSION' ? 2 : 1;
      // A known failure (TAP_PERMISSION, EADDRINUSE, …) is its sentence; anything else keeps its stack.
      logger.fatal(errorCode === undefined ? { err: error } : { code: errorCode }, `could not start: ${message}`);
      if (io.log === undefined || typeof io.log === 'number') (io.stderr ?? process.stderr).write(`vxlan-wasm forward: ${message}\n`);
      await closeAll(opened);
      return exitCode;
    }
    code = await stop.stopped;
  } finally {
    stop.dispose();
  }

  logger.info({ signal: stop.signal, exitCode: code }, 'stopping');
  await closeWithin(() => closeAll(opened), {
    command: 'forward', timeoutMs: io.shutdownTimeoutMs ?? 2000, logger, stderr: io.stderr ?? process.stderr, exit: io.exit,
  });
  // With several queues, how the kernel spread the frames over them (their last counters, sent as they closed).
  const vtep = opened.vtep;
  const queues = vtep?.engine === 'queues'
    ? vtep.forwarder.queueCounters().map((counters) => ({
      toUnderlay: counters?.networks.reduce((sum, network) => sum + network.toUnderlay.frames, 0) ?? 0,
      toDevice: counters?.networks.reduce((sum, network) => sum + network.toDevice.frames, 0) ?? 0,
    }))
    : undefined;
  const tunnelGso = vtep?.engine === 'queues' ? vtep.forwarder.tunnelGsoCounters() : vtep?.tunnel?.counters;
  // What it did, in one line: frames each way, inner checksums finished, drops by reason (non-zero).
  const counters = vtep?.forwarder.counters();
  const totals = counters === undefined ? undefined : {
    toUnderlay: counters.networks.reduce((sum, network) => sum + network.toUnderlay.frames, 0),
    toDevice: counters.networks.reduce((sum, network) => sum + network.toDevice.frames, 0),
    partialChecksumsFinished: counters.checksums.partialFinished,
    drops: Object.fromEntries(Object.entries(counters.drops).filter(([, count]) => count > 0)),
  };
  // How the queue workers waited: sleeps in poll(), and busy-polling looks and those that found frames.
  const poller = vtep?.engine === 'queues' ? vtep.forwarder.pollerCounters() : undefined;
  const polling = poller === undefined ? undefined : { waits: poller.waits, busyPolls: poller.busyPolls, busyPollHits: poller.busyPollHits };
  logger.info({ exitCode: code, ...totals, queues, tunnelGso, polling }, 'stopped');
  return code;
}
