/**
 * `vxlan-wasm agent --docker`: this host's side of every overlay network Docker creates with
 * `-d vxlan-wasm --ipam-driver vxlan-wasm`. One forwarding engine (src/docker/engine.ts: queue
 * workers by default, as `forward`) carries all of them on one UDP port (a VNI each); Docker's remote network and IPAM driver protocols are served on a unix socket
 * (/run/docker/plugins/vxlan-wasm.sock by default, where dockerd finds plugins by name).
 *
 *   start     flags checked (exit 2) → etcd reached and the lease granted (exit 1: unreachable,
 *             old layout) → underlay bound, Forwarder started → networks and endpoints this host
 *             had restored from etcd, dead ones reaped → socket listening
 *   running   each Docker call: etcd transactions and links (see src/docker/driver.ts)
 *   SIGINT / SIGTERM   socket closed, the lease revoked (the other hosts drop this host's
 *             endpoints at once), bridges and TAPs removed, exit 0. The networks and endpoints
 *             stay in etcd without a lease: the next start puts them back.
 */
import { createSocket } from 'node:dgram';
import { closeWithin, ForwarderObservability, StopRequest } from './lifecycle';
import { DATAGRAM_OVERHEAD } from './forward';
import type { Etcd3 } from 'etcd3';
import {
  ConfigError, checkTunAccess, endpointText,
} from './config';
import type { Underlay } from '../forwarder/contracts';
import { UdpUnderlay } from '../forwarder/underlay/udp';
import { HostAgent, HostAgentError } from '../control/host-agent';
import { LayoutError } from '../control/layout';
import { NetworkError } from '../control/networks';
import { ETCD_FLAGS, ETCD_FLAGS_HELP, parseCommandArgs, storeOptions, type EtcdFlags } from './options';
import { connect, isUnavailable, unreachableSentence, type StoreOptions } from '../control/store';
import { DockerDriver } from '../docker/driver';
import { dockerNameLookup, dockerSocket } from '../docker/docker-api';
import { linuxLinks, LinkError, type Links } from '../docker/links';
import { localNetworkOpener, type LocalNetwork } from '../docker/local-network';
import { Counter, Gauge, type Registry } from 'prom-client';
import { LazyEngine } from '../docker/engine';
import { chooseTunnelGso } from './tunnel-gso-choice';

/** The tunnel TAP of `--tunnel-gso` (one per host: the agent serves every network on one port). */
const TUNNEL_GSO_TAP = 'vwgso';
import { PluginServer } from '../docker/plugin-server';
import { DEFAULT_SOCKET, DRIVER_NAME } from '../docker/protocol';
import { DnsError } from '../dns/index';
import { resolveAgentFlags, type AgentFlags } from './agent-flags';
import { CNI_FLAGS, CNI_FLAGS_HELP, cniSocketOf, startCni, type CniRuntime } from './agent-cni';

export const DOCKER_AGENT_USAGE = `usage: vxlan-wasm agent --docker --local ADDR [--etcd URL[,URL…]] [options]
       vxlan-wasm agent --cni [--docker] --local ADDR [--etcd URL[,URL…]] [options]

Serve Docker's network and IPAM driver "${DRIVER_NAME}" on this host: networks made with
  docker network create -d ${DRIVER_NAME} --ipam-driver ${DRIVER_NAME} --subnet 10.0.9.0/24 [-o ${DRIVER_NAME}.network=blue] NAME
on every host are one overlay network (found in etcd by the subnet); containers on it reach each
other across hosts over VXLAN, addresses come from etcd (unique on every host), and the network's
first address (10.0.9.1) answers their names: docker run --dns 10.0.9.1 … With --ipv6 and a
second --subnet (e.g. fd00:9::/64, the same on every host) containers get IPv6 addresses from etcd
too, and their names answer AAAA. Needs root.

With --docker and --cni on one host, Docker and podman containers share a network's bridge: create
the Docker network (docker network create …) before the first podman container on that host joins
it; the other way round Docker's create is refused (remove those containers first). docker network
rm while podman containers are on it keeps the bridge for them, until the last of them is deleted
or Docker creates the network again.

flags:
  --docker             serve Docker (instead of --network NAME)
${CNI_FLAGS_HELP}
  --local ADDR         this host's underlay address, which the other hosts send VXLAN to (required)
  --docker-socket PATH the plugin's socket (default ${DEFAULT_SOCKET})
  --docker-host URL    Docker's API, for container names and aliases (default $DOCKER_HOST, else
                       the -H unix://… of the dockerd in this network namespace, else
                       unix:///var/run/docker.sock)
  --port N             the UDP port to bind and advertise (default 4789)
  --mtu N              containers' and the TAPs' MTU (default 1450 over an IPv4 underlay)
  --queues N           forwarding worker threads, 0..64 (default 1, as forward's): each reads its
                       queue of every TAP and its socket itself; 0: the main thread with reader threads
  --no-tunnel-gso      do not send TCP super-frames whole through a tunnel TAP (by default they are,
                       where this host allows it, as forward does; queue workers only)
  --host-id ID         this host's id (default: derived from /etc/machine-id, the address and port)
  --ttl S              the lease's TTL in seconds, 2..300 (default 10): a host that dies is dropped
                       by the others within this long
  --metrics HOST:PORT  serve Prometheus metrics at http://HOST:PORT/metrics (once the first network is up)
  --log-level LEVEL    fatal, error, warn, info (default), debug, trace or silent
  -h, --help           print this help

network options (docker network create -o KEY=VALUE):
  ${DRIVER_NAME}.vni=N       the network's VNI (default: the lowest free from 4096); every host must agree
  ${DRIVER_NAME}.network=NAME its name in etcd (default: from the subnet, e.g. 10.0.9.0-24)
  ${DRIVER_NAME}.internal    no egress to the outside world (no docker_gwbridge)

${ETCD_FLAGS_HELP}

exit codes: 0 stopped by SIGINT/SIGTERM; 1 could not start (etcd unreachable, old key layout, the
  socket or the port taken); 2 a usage error.`;

const FLAGS = {
  ...ETCD_FLAGS,
  ...CNI_FLAGS,
  docker: { type: 'boolean' },
  'docker-socket': { type: 'string' },
  'docker-host': { type: 'string' },
  local: { type: 'string' },
  port: { type: 'string' },
  mtu: { type: 'string' },
  queues: { type: 'string' },
  'no-tunnel-gso': { type: 'boolean' },
  'host-id': { type: 'string' },
  ttl: { type: 'string' },
  metrics: { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The flags both agent modes share (agent-flags.ts), and what only the Docker/CNI agent has. */
export interface DockerAgentConfig extends AgentFlags {
  socketPath: string;
  dockerApi: string;
  /** Serve Docker's plugin (--docker). */
  docker: boolean;
  /** --cni: the CNI plugin's socket. */
  cniSocket?: string;
  store: StoreOptions;
}

export interface DockerAgentIo {
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  log?: number | NodeJS.WritableStream;
  signals?: NodeJS.EventEmitter;
  tunPath?: string | null;
  machineIdPath?: string;
  links?: Links;
  openUnderlay?: (options: { address: string; port: number; maxDatagramLength: number }) => Underlay | Promise<Underlay>;
  connect?: (options: StoreOptions) => Etcd3;
  /** DNS port of the networks' name servers (default 53). */
  dnsPort?: number;
  shutdownTimeoutMs?: number;
  exit?: (code: number) => void;
  onReady?: (ready: { host: HostAgent; driver: DockerDriver; engine: LazyEngine; socketPath: string; cni?: CniRuntime }) => void;
}

export function resolveDockerAgentConfig(argv: string[], machineIdPath?: string): DockerAgentConfig | 'help' {
  const { values } = parseCommandArgs('agent --docker', argv, FLAGS, false);
  if (values.help === true) return 'help';
  const cniSocket = cniSocketOf(values);
  if (values.docker !== true && cniSocket === undefined) throw new ConfigError('--docker', 'or --cni is required: the runtime this agent serves.');
  const text = (flag: string) => values[flag] as string | undefined;
  const flags = resolveAgentFlags(text, values['no-tunnel-gso'] === true, { machineIdPath, portZero: false });
  const socketPath = text('docker-socket') ?? DEFAULT_SOCKET;
  if (!socketPath.startsWith('/')) throw new ConfigError('--docker-socket', `${JSON.stringify(socketPath)} is not an absolute path.`);
  const dockerHost = text('docker-host');
  if (dockerHost !== undefined && !/^(unix:\/\/)?\//.test(dockerHost)) throw new ConfigError('--docker-host', `${JSON.stringify(dockerHost)} is not unix:///PATH (only a local socket is supported).`);
  return {
    ...flags, socketPath, dockerApi: dockerSocket(dockerHost), store: storeOptions(values as EtcdFlags), docker: values.docker === true, cniSocket,
  };
}

/** Run `vxlan-wasm agent --docker`; resolves to the exit code once everything is closed. */
export async function dockerAgentCommand(argv: string[], io: DockerAgentIo = {}): Promise<number> {
  const stderr = io.stderr ?? process.stderr;
  let config: DockerAgentConfig | 'help';
  try {
    config = resolveDockerAgentConfig(argv, io.machineIdPath);
    if (config === 'help') {
      (io.stdout ?? process.stdout).write(`${DOCKER_AGENT_USAGE}\n`);
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

/** Bind and release `port` (EADDRINUSE, EADDRNOTAVAIL: the start fails with the reason). */
function portFree(address: string, family: 4 | 6, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(family === 4 ? 'udp4' : 'udp6');
    socket.once('error', (error) => {
      socket.close();
      reject(new Error(`cannot use UDP ${endpointText({ address, port })}: ${error.message}`));
    });
    socket.bind(port, address, () => socket.close(() => resolve()));
  });
}

/** The sentence Docker shows for a failed call. */
function describe(store: StoreOptions) {
  return (error: unknown): string => {
    if (isUnavailable(error)) return `${DRIVER_NAME}: ${unreachableSentence(store, error)}`;
    const known = error instanceof HostAgentError || error instanceof NetworkError || error instanceof LayoutError || error instanceof LinkError || error instanceof DnsError;
    const message = (error as Error).message ?? String(error);
    return `${DRIVER_NAME}: ${known || (error as Error).name === 'DriverError' || (error as Error).name === 'ProtocolError' ? message : `internal error: ${message}`}`;
  };
}

/**
 * The overlay's own gauges and counters on the agent's registry, read at scrape time: endpoints per
 * network (this host's and every host's, as etcd says), and each network's name server's queries by
 * outcome (answered from the table, forwarded, refused, failed, malformed).
 */
export function addOverlayMetrics(
  registry: Registry, host: Pick<HostAgent, 'networks' | 'served' | 'endpoints'>, networks: ReadonlySet<Pick<LocalNetwork, 'network' | 'dnsCounters'>>,
  dockerCalls: ReadonlyMap<string, number> = new Map(),
): void {
  const registers = [registry];
  new Counter({
    name: 'vxlan_docker_calls_total', help: "Docker's calls of the network and IPAM driver, by call and result (ok, refused).", labelNames: ['call', 'result'], registers,
    collect() {
      this.reset();
      for (const [key, count] of dockerCalls) {
        const [call, result] = key.split('\u0000');
        this.inc({ call, result }, count);
      }
    },
  });
  new Gauge({
    name: 'vxlan_endpoints', help: 'Endpoints of each joined network: served by this host (local) or by any host (all).', labelNames: ['network', 'scope'], registers,
    collect() {
      this.reset();
      for (const network of host.networks()) {
        this.set({ network: network.name, scope: 'local' }, host.served(network.name).length);
        this.set({ network: network.name, scope: 'all' }, host.endpoints(network.name).length);
      }
    },
  });
  new Counter({
    name: 'vxlan_dns_queries_total', help: "Queries to each network's name server, by outcome.", labelNames: ['network', 'outcome'], registers,
    collect() {
      this.reset();
      for (const local of networks) {
        for (const [outcome, count] of Object.entries(local.dnsCounters())) this.inc({ network: local.network.name, outcome }, count);
      }
    },
  });
}

async function run(config: DockerAgentConfig, io: DockerAgentIo): Promise<number> {
  const observability = new ForwarderObservability(config.logLevel, io.log);
  const { logger } = observability;
  const stderr = io.stderr ?? process.stderr;
  const say = (message: string) => stderr.write(`vxlan-wasm agent: ${message}\n`);
  const stop = new StopRequest(io.signals ?? process);
  const client = (io.connect ?? connect)(config.store);
  let underlay: Underlay | undefined;
  // The networks open on this host (the Docker driver's and CNI's): their name servers' counters.
  const openedNetworks = new Set<LocalNetwork>();
  // Docker's calls of the plugin by call and result ("call\0ok" → count), for vxlan_docker_calls_total.
  const dockerCalls = new Map<string, number>();
  let engine: LazyEngine | undefined;
  let host: HostAgent | undefined;
  let driver: DockerDriver | undefined;
  let server: PluginServer | undefined;
  let cni: CniRuntime | undefined;
  const closeAll = async () => {
    // The sockets first (Docker gets no half-closed driver), then leave, then the links and ports.
    await server?.close();
    await cni?.closeSocket();
    await host?.close({ leave: true });
    await driver?.close();
    await cni?.close();
    await Promise.all([observability.close(), engine !== undefined ? engine.close() : underlay?.close()]);
    client.close();
  };

  let code: number;
  try {
    try {
      const maxDatagramLength = Math.min(65535, config.mtu + DATAGRAM_OVERHEAD);
      // queues 0: the main thread's underlay, bound now. Queue workers bind their own when the
      // first network comes; the port is tried now, so a taken one is said at start.
      if (config.queues === 0) underlay = await (io.openUnderlay ?? ((options) => UdpUnderlay.open(options)))({ address: config.local, port: config.port, maxDatagramLength });
      else await portFree(config.local, config.family, config.port);
      // Tunnel GSO where this host allows it, as `forward` (queue workers only).
      let tunnelGso: { name: string; ingress: boolean } | undefined;
      if (config.queues >= 1 && config.tunnelGso) {
        const choice = chooseTunnelGso('auto', { localAddress: config.local, tapOffloads: true, ingress: true });
        logger.info({ tunnelGso: choice.note }, 'tunnel GSO decided');
        if (choice.use) tunnelGso = { name: TUNNEL_GSO_TAP, ingress: choice.ingress };
      }
      engine = new LazyEngine({
        queues: config.queues, underlay, tunnelGso, local: { address: config.local, port: config.port, maxDatagramLength },
        onNotice: (message) => logger.warn(message),
        onCreate: (made) => {
          observability.stopOnBrokenPort(made, stop);
          void observability.report(made, config.metrics, (metrics) => {
            cni?.addMetrics(metrics.registry);
            if (host !== undefined) addOverlayMetrics(metrics.registry, host, openedNetworks, dockerCalls);
          }).then(
            (metrics) => metrics.url !== undefined && logger.info({ metrics: metrics.url }, 'metrics served'),
            (error: Error) => logger.error({ err: error.message }, 'could not serve metrics'),
          );
        },
      });
      host = new HostAgent({ client, hostId: config.hostId, vtep: { address: config.local, port: config.port }, forwarder: engine, ttlSeconds: config.ttlSeconds, logger });
      await host.start();
      const links = io.links ?? linuxLinks;
      const serving = engine;
      driver = new DockerDriver({
        host, client, links, mtu: config.mtu, logger, lookupNames: dockerNameLookup(config.dockerApi),
        openNetwork: localNetworkOpener({
          forwarder: serving, links, mtu: config.mtu, logger, dnsPort: io.dnsPort, opened: openedNetworks,
        }),
      });
      // Docker's networks first: a CNI endpoint on one of them uses the bridge the driver made.
      const restored = config.docker ? await driver.restore() : { networks: 0 };
      if (restored.networks > 0) logger.info(restored, 'restored this host\'s networks and endpoints from etcd');
      if (config.cniSocket !== undefined) {
        cni = await startCni({
          host, client, links, mtu: config.mtu, logger, socketPath: config.cniSocket,
          openNetwork: localNetworkOpener({ forwarder: serving, links, mtu: config.mtu, logger, dnsPort: io.dnsPort, opened: openedNetworks }),
          // A network Docker removed while CNI containers were on it goes with the last of them.
          onEndpointRemoved: (network) => driver!.releaseKeptForCni(network),
        });
        logger.info({ hostId: config.hostId, vtep: endpointText(host.vtep), socket: config.cniSocket }, 'serving CNI');
      }
      if (config.docker) server = await PluginServer.listen({
        socketPath: config.socketPath, handlers: driver.handlers(), describe: describe(config.store),
        onCall: (path, ms, err) => {
          const key = `${path}\u0000${err === undefined ? 'ok' : 'refused'}`;
          dockerCalls.set(key, (dockerCalls.get(key) ?? 0) + 1);
          if (err === undefined) logger.debug({ path, ms: Math.round(ms) }, 'docker call');
          else logger.warn({ path, ms: Math.round(ms), err }, 'docker call refused');
        },
      });
      if (config.docker) logger.info({ hostId: config.hostId, vtep: endpointText(host.vtep), socket: config.socketPath, dockerApi: config.dockerApi, ttlSeconds: config.ttlSeconds, queues: config.queues }, 'serving Docker');
      io.onReady?.({ host, driver, engine, socketPath: config.socketPath, cni });
    } catch (error) {
      const sentence = isUnavailable(error) ? unreachableSentence(config.store, error) : (error as Error).message;
      logger.fatal({ err: error }, `could not start: ${sentence}`);
      say(sentence);
      await closeAll().catch(() => undefined);
      return (error as NodeJS.ErrnoException).code === 'TAP_PERMISSION' ? 2 : 1;
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
