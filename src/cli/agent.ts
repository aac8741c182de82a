/**
 * `vxlan-wasm agent`: join this host to an overlay network kept in etcd. It opens what
 * `vxlan-wasm forward` opens (a UDP underlay, a TAP, a Forwarder) but takes the network's VNI and
 * the other hosts from etcd instead of flags, and keeps them current:
 *
 *   start      flags checked (exit 2) → the network read from etcd (exit 1: unreachable, no such
 *              network) → underlay bound, TAP made, its MAC set (stable: derived from the host id)
 *              → the Agent registers under a lease and takes an address (set on the TAP) →
 *              every other host programmed (peer, static FDB entry, neighbour) → watching
 *   etcd lost  forwarding continues on the last state; a log line and vxlan_control_connected 0;
 *              when etcd answers again the agent resyncs (same code as the start)
 *   SIGINT / SIGTERM   leave (the lease revoked: the others drop this host at once), close
 *              everything (the TAP goes), exit 0
 *   cannot rejoin      (the network was removed, the address or host id taken) exit 1
 */
import { DATAGRAM_OVERHEAD } from './forward';
import { closeWithin, ForwarderObservability, StopRequest } from './lifecycle';
import { defaultHostId } from './host-id';
import { resolveAgentFlags } from './agent-flags';
import type { AddressInfo } from 'node:net';
import type { Etcd3 } from 'etcd3';
import { Counter, Gauge } from 'prom-client';
import {
  ConfigError, checkTunAccess, endpointText, type LogLevel,
} from './config';
import type { Device, Underlay } from '../forwarder/contracts';
import type { Forwarder } from '../forwarder/forwarder';
import type { MultiQueueForwarder } from '../forwarder/multi-queue/multi-queue-forwarder';
import { buildVtep, type Vtep, type VtepSpec } from '../forwarder/vtep';
import { chooseTunnelGso } from './tunnel-gso-choice';
import type { ForwarderMetrics } from './metrics';
import { Agent, AgentError } from '../control/agent';
import { NETWORK_NAME } from '../control/keys';
import { macForHost } from '../control/ipam';
import type { AddressPool } from '../control/address-pool';
import { getNetwork, NetworkError } from '../control/networks';
import { LayoutError, refuseOldLayout } from '../control/layout';
import { setInterfaceAddress, setMacAddress } from '../control/netif';
import { ETCD_FLAGS, ETCD_FLAGS_HELP, parseCommandArgs, storeOptions, type EtcdFlags } from './options';
import { connect, isUnavailable, unreachableSentence, type StoreOptions } from '../control/store';

export const AGENT_USAGE = `usage: vxlan-wasm agent --network NAME --local ADDR [--etcd URL[,URL…]] [options]
       vxlan-wasm agent --docker --local ADDR [--etcd URL[,URL…]] [options]   (see agent --docker --help)
       vxlan-wasm agent --cni [--docker] --local ADDR [--etcd URL[,URL…]] [options]   (the same help)

Join this host to an overlay network kept in etcd (made once with \`vxlan-wasm network create\`):
a TAP interface gets an address from each of the network's subnets (IPv4, IPv6 or both; IPv6 with
no duplicate address detection), and frames are switched over VXLAN to
every other host of the network, which the agent learns from etcd and keeps current. ARP and IPv6
neighbour discovery for the other hosts are answered locally. Needs root (or CAP_NET_ADMIN).

flags:
  --network NAME       the network to join (required)
  --local ADDR         this host's underlay address, which the other hosts send VXLAN to (required;
                       a specific address, not 0.0.0.0)
  --port N             the UDP port to bind and advertise (default 4789; 0: any free port)
  --tap NAME           the TAP interface (default vx-NAME, cut to 15 characters); created if missing
  --mtu N              the TAP's MTU (default 1450 over an IPv4 underlay, 1430 over IPv6)
  --host-id ID         this host's id in the network (default: derived from /etc/machine-id, the
                       address and the port, so a restart keeps it, and with it the address and MAC)
  --ttl S              the lease's TTL in seconds, 2..300 (default 10): a host that dies is dropped
                       by the others within this long
  --queues N           forwarding worker threads, 0..64 (default 1, as forward's: the worker reads its
                       TAP queue and socket itself, run to completion); 0: the main thread
  --no-tunnel-gso      do not send TCP super-frames whole through a tunnel TAP (by default they are,
                       where this host allows it, as with forward; the log says which and why)
  --metrics HOST:PORT  serve Prometheus metrics at http://HOST:PORT/metrics
  --log-level LEVEL    fatal, error, warn, info (default), debug, trace or silent
  -h, --help           print this help

${ETCD_FLAGS_HELP}

exit codes: 0 stopped by SIGINT/SIGTERM; 1 could not join or rejoin (etcd unreachable at start, no
  such network, no free address, host id in use, network removed), or a port broke; 2 a usage error.
metrics: those of \`vxlan-wasm forward\` plus vxlan_control_connected (1 while etcd answers),
  vxlan_control_hosts, vxlan_control_resyncs_total, vxlan_control_watch_events_total,
  vxlan_control_invalid_records_total, vxlan_control_lease_regrants_total, vxlan_control_revision.

example:
  vxlan-wasm agent --etcd http://10.0.0.5:2379 --network blue --local 192.0.2.1`;

const FLAGS = {
  ...ETCD_FLAGS,
  network: { type: 'string' },
  local: { type: 'string' },
  port: { type: 'string' },
  tap: { type: 'string' },
  mtu: { type: 'string' },
  'host-id': { type: 'string' },
  ttl: { type: 'string' },
  metrics: { type: 'string' },
  'log-level': { type: 'string' },
  queues: { type: 'string' },
  'no-tunnel-gso': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface AgentConfig {
  network: string;
  local: string;
  family: 4 | 6;
  port: number;
  tap: string;
  mtu: number;
  hostId: string;
  ttlSeconds: number;
  metrics?: { host: string; port: number };
  logLevel: LogLevel;
  store: StoreOptions;
  /** Queue workers (default 1, as forward's: run to completion); 0: the forwarder on the main thread. */
  queues: number;
  /** Tunnel GSO where the host allows it (forward's default); false with --no-tunnel-gso. */
  tunnelGso: boolean;
}

/** Test and embedding seams; every one defaults to the real thing. */
export interface AgentIo {
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  /** pino's destination (default fd 2). */
  log?: number | NodeJS.WritableStream;
  signals?: NodeJS.EventEmitter;
  /** null skips the /dev/net/tun check (fake devices). */
  tunPath?: string | null;
  /** Where the default host id's machine id is read (default /etc/machine-id). */
  machineIdPath?: string;
  openUnderlay?: (options: { address: string; port: number; maxDatagramLength: number }) => Underlay | Promise<Underlay>;
  openDevice?: (options: { name: string; mtu: number; create: boolean }) => Device | Promise<Device>;
  /** Give the device its MAC (default SIOCSIFHWADDR) and later its address (default SIOCSIFADDR). */
  setMac?: (device: Device, mac: string) => void;
  setAddress?: (device: Device, ip: string, pool: AddressPool) => void;
  connect?: (options: StoreOptions) => Etcd3;
  shutdownTimeoutMs?: number;
  exit?: (code: number) => void;
  /** Once joined: the agent and its engine (the underlay and device objects only on the main-thread engine). */
  onReady?: (ready: { agent: Agent; forwarder: Forwarder | MultiQueueForwarder; underlay?: Underlay; device?: Device; metrics?: AddressInfo }) => void;
}

// The default host id (a hash of the machine id, the VTEP address and port) is host-id.ts's.
export { defaultHostId };

/** The flags as an AgentConfig; every mistake a ConfigError (exit 2). */
export function resolveAgentConfig(argv: string[], machineIdPath?: string): AgentConfig | 'help' {
  const { values } = parseCommandArgs('agent', argv, FLAGS, false);
  if (values.help === true) return 'help';
  const text = (flag: string) => values[flag] as string | undefined;
  const network = text('network');
  if (network === undefined) throw new ConfigError('--network', 'is required: the network to join (see vxlan-wasm network ls).');
  if (!NETWORK_NAME.test(network)) throw new ConfigError('--network', `${JSON.stringify(network)} is not a network name.`);
  const tap = text('tap') ?? `vx-${network}`.slice(0, 15);
  if (Buffer.byteLength(tap) > 15 || tap === '.' || tap === '..' || /[/:\s]/.test(tap) || tap === '') {
    throw new ConfigError('--tap', `${JSON.stringify(tap)} is not an interface name (1..15 bytes, no slash, colon or white space).`);
  }
  const flags = resolveAgentFlags(text, values['no-tunnel-gso'] === true, { machineIdPath, portZero: true });
  return { network, tap, ...flags, store: storeOptions(values as EtcdFlags) };
}

/** Run `vxlan-wasm agent`; resolves to the exit code once everything is closed. */
export async function agentCommand(argv: string[], io: AgentIo = {}): Promise<number> {
  // `agent --docker` and `agent --cni` are another mode with its own flags (src/cli/agent-docker.ts).
  if (argv.includes('--docker') || argv.includes('--cni')) {
    const { stdout, stderr, log, signals, tunPath, machineIdPath, connect: connectStore, openUnderlay, shutdownTimeoutMs, exit } = io;
    return (await import('./agent-docker')).dockerAgentCommand(argv, { stdout, stderr, log, signals, tunPath, machineIdPath, connect: connectStore, openUnderlay, shutdownTimeoutMs, exit });
  }
  const stderr = io.stderr ?? process.stderr;
  let config: AgentConfig | 'help';
  try {
    config = resolveAgentConfig(argv, io.machineIdPath);
    if (config === 'help') {
      (io.stdout ?? process.stdout).write(`${AGENT_USAGE}\n`);
      return 0;
    }
    if (io.tunPath !== null) checkTunAccess(io.tunPath);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    stderr.write(`vxlan-wasm agent: ${error.message}\n`);
    return 2;
  }
  return run(config, io);
}

/** Control-plane gauges and counters on the forwarder's registry, read from the agent at scrape time. */
function addControlMetrics(metrics: ForwarderMetrics, agent: Agent): void {
  const registers = [metrics.registry];
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({ name, help, registers, collect() { this.set(read()); } });
  const counter = (name: string, help: string, read: () => number) =>
    new Counter({ name, help, registers, collect() { this.reset(); this.inc(read()); } });
  gauge('vxlan_control_connected', 'Whether etcd answers (1) or the agent forwards on its last known state (0).', () => (agent.status().connected ? 1 : 0));
  gauge('vxlan_control_hosts', 'Other hosts of the network programmed into the forwarder.', () => agent.status().hosts);
  gauge('vxlan_control_revision', 'The etcd revision the programmed state is current to.', () => agent.status().revision);
  counter('vxlan_control_resyncs_total', 'Full resyncs with etcd after trouble (a lost watch, a compaction, a lost lease).', () => agent.status().resyncs);
  counter('vxlan_control_watch_events_total', 'Watch events applied.', () => agent.status().events);
  counter('vxlan_control_invalid_records_total', 'Host records ignored: not valid, or refused by the forwarder.', () => agent.status().invalidRecords);
  counter('vxlan_control_lease_regrants_total', 'Leases granted after the first (the previous one was lost).', () => agent.status().leaseRegrants);
}

async function run(config: AgentConfig, io: AgentIo): Promise<number> {
  const observability = new ForwarderObservability(config.logLevel, io.log);
  const { logger } = observability;
  const stderr = io.stderr ?? process.stderr;
  // The one plain sentence a user reads, besides the JSON log lines.
  const say = (message: string) => stderr.write(`vxlan-wasm agent: ${message}\n`);
  const stop = new StopRequest(io.signals ?? process);

  const client = (io.connect ?? connect)(config.store);
  let underlay: Underlay | undefined;
  let device: Device | undefined;
  let forwarder: Forwarder | MultiQueueForwarder | undefined;
  let vtep: Vtep | undefined;
  let agent: Agent | undefined;
  // Ports the embedder opens are opened on this thread: queue workers open their own.
  const queues = io.openUnderlay !== undefined || io.openDevice !== undefined ? 0 : config.queues;
  const closeAll = async () => {
    // Leave first (the lease revoked while the VTEP still answers), then the ports.
    await agent?.close({ leave: true });
    await Promise.all([observability.close(), vtep?.close()]);
    client.close();
  };

  let code: number;
  try {
    try {
      await refuseOldLayout(client);
      const network = await getNetwork(client, config.network);
      if (network === undefined) throw new AgentError(`no network named ${config.network} in etcd (create it with: vxlan-wasm network create ${config.network} --vni N --subnet CIDR)`, 'NETWORK_NOT_FOUND');
      const maxDatagramLength = Math.min(65535, config.mtu + DATAGRAM_OVERHEAD);
      const mac = macForHost(config.hostId, config.network);
      // forward's default engine: queue workers that read their TAP queue and socket themselves,
      // and tunnel GSO where this host allows it (the log line says which and why).
      let tunnelGso: VtepSpec['tunnelGso'];
      if (queues > 0) {
        const choice = chooseTunnelGso(config.tunnelGso && 'auto', { localAddress: config.local, tapOffloads: true, ingress: true });
        tunnelGso = choice.use ? { name: `${config.tap.slice(0, 11)}.gso`, localAddress: config.local, ingress: choice.ingress } : undefined;
        logger.info({ engine: `${queues} queue worker${queues === 1 ? '' : 's'}`, tunnelGso: choice.note }, 'engine');
      }
      const built = await buildVtep({
        queues, underlay: { address: config.local, port: config.port, maxDatagramLength },
        networks: [{ vni: network.vni, tap: { name: config.tap, mtu: config.mtu, create: true } }],
        tunnelGso,
      }, {
        openUnderlay: io.openUnderlay && ((options) => io.openUnderlay!({ address: options.address, port: options.port, maxDatagramLength })),
        openDevice: io.openDevice && (() => io.openDevice!({ name: config.tap, mtu: config.mtu, create: true })),
        // The queue workers' notices; on this thread the underlay's are not asked for.
        onNotice: queues > 0 ? (message) => logger.warn(message) : undefined,
        beforeStart: (made) => {
          observability.stopOnBrokenPort(made.forwarder, stop);
          if (made.engine === 'thread') (io.setMac ?? ((dev, value) => setMacAddress(dev.name, value)))(made.devices[0], mac);
        },
      });
      vtep = built;
      forwarder = built.forwarder;
      let setAddress: (ip: string, pool: AddressPool) => void;
      if (built.engine === 'thread') {
        underlay = built.underlay;
        const opened = built.devices[0];
        device = opened;
        setAddress = (ip, pool) => (io.setAddress ?? ((dev, value, net) => setInterfaceAddress(dev.name, value, net.prefixLength)))(opened, ip, pool);
      } else {
        // The TAP is the queue workers'; its MAC and address are set by name (a TAP takes a new MAC while up).
        setMacAddress(config.tap, mac);
        setAddress = (ip, pool) => setInterfaceAddress(config.tap, ip, pool.prefixLength);
      }
      const vtepPort = built.forwarder.underlay.localPort;
      agent = new Agent({
        client, network: config.network, hostId: config.hostId, mac, forwarder, ttlSeconds: config.ttlSeconds,
        vtep: { address: config.local, port: vtepPort },
        logger,
        onAddress: (ip, pool) => {
          setAddress(ip, pool);
          logger.info({ tap: config.tap, address: `${ip}/${pool.prefixLength}` }, 'address set');
        },
      });
      agent.on('error', (error: Error) => {
        logger.fatal({ err: error.message }, `cannot stay in network ${config.network}, stopping: ${error.message}`);
        say(error.message);
        stop.stop(1);
      });
      const joined = await agent.start();
      // The closure would see `agent` as possibly undefined again: it takes the joined one.
      const joinedAgent = agent;
      const metrics = await observability.report(forwarder, config.metrics, (forwarderMetrics) => addControlMetrics(forwarderMetrics, joinedAgent));
      logger.info({
        network: joined.network.name, vni: joined.network.vni, subnet: joined.network.subnet, subnet6: joined.network.subnet6, address: joined.ip, address6: agent.addresses.ipv6,
        hostId: config.hostId, vtep: endpointText(agent.vtep), tap: config.tap, mac, ttlSeconds: config.ttlSeconds,
        hosts: agent.status().hosts,
        metrics: metrics.url,
      }, 'joined');
      io.onReady?.({ agent, forwarder, underlay, device, metrics: metrics.address });
    } catch (error) {
      const { code: errorCode, message } = error as NodeJS.ErrnoException;
      let sentence = message;
      let exitCode = 1;
      // Known failures are their sentence; anything else keeps its stack in the log.
      let detail: object = { err: error };
      if (error instanceof AgentError || error instanceof NetworkError || error instanceof LayoutError) detail = { code: error.code };
      else if (isUnavailable(error)) {
        sentence = unreachableSentence(config.store, error);
        detail = { code: 'ETCD_UNREACHABLE' };
      } else if (errorCode !== undefined) detail = { code: errorCode };
      if (errorCode === 'TAP_PERMISSION') exitCode = 2;
      logger.fatal(detail, `could not join: ${sentence}`);
      say(sentence);
      await closeAll();
      return exitCode;
    }
    code = await stop.stopped;
  } finally {
    stop.dispose();
  }

  logger.info({ signal: stop.signal, exitCode: code }, 'leaving');
  await closeWithin(closeAll, { command: 'agent', timeoutMs: io.shutdownTimeoutMs ?? 3000, logger, stderr, exit: io.exit });
  logger.info({ exitCode: code }, 'stopped');
  return code;
}
