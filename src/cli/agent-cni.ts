/**
 * `vxlan-wasm agent --cni`: the CNI side of the runtime agent (src/cli/agent-docker.ts runs it,
 * alone or beside --docker, on the same HostAgent and forwarding engine). The plugin
 * (bin/vxlan-wasm-cni.mjs) reaches it on a unix socket, /run/vxlan-wasm/cni.sock by default (0600).
 *
 *   start    after the host's lease: CNI endpoints this host had restored from etcd (dead ones
 *            reaped) → socket listening; every 5 s, endpoints whose veth vanished are reaped
 *   stop     socket closed first (the plugin gets "agent not running", code 11, not a half-closed
 *            agent), then, after the lease is revoked, the networks' local parts
 */
import type { Etcd3 } from 'etcd3';
import type { Registry } from 'prom-client';
import { ConfigError } from './config';
import type { HostAgent } from '../control/host-agent';
import type { AgentLogger } from '../control/agent';
import type { Links } from '../docker/links';
import type { OpenLocalNetwork } from '../docker/local-network';
import { PluginServer } from '../docker/plugin-server';
import { CniCallTally } from '../cni/metrics';
import { linuxNetns, type ContainerNetns } from '../cni/netns';
import { CniService } from '../cni/service';
import { DEFAULT_AGENT_SOCKET } from '../cni/spec';

export const CNI_FLAGS = {
  cni: { type: 'boolean' },
  'cni-socket': { type: 'string' },
} as const;

export const CNI_FLAGS_HELP = `  --cni                serve the CNI plugin vxlan-wasm-cni (podman, containerd, CRI-O) on this
                       host; alone or with --docker
  --cni-socket PATH    the socket the plugin calls (default ${DEFAULT_AGENT_SOCKET}; the network
                       configuration's "agentSocket" must name the same)`;

/** The CNI socket from the flags, or undefined without --cni. */
export function cniSocketOf(values: { cni?: unknown; 'cni-socket'?: unknown }): string | undefined {
  const socket = values['cni-socket'] as string | undefined;
  if (values.cni !== true) {
    if (socket !== undefined) throw new ConfigError('--cni-socket', 'needs --cni.');
    return undefined;
  }
  const path = socket ?? DEFAULT_AGENT_SOCKET;
  if (!path.startsWith('/')) throw new ConfigError('--cni-socket', `${JSON.stringify(path)} is not an absolute path.`);
  return path;
}

export interface CniRuntime {
  service: CniService;
  tally: CniCallTally;
  socketPath: string;
  /** Put the call counter on the agent's metrics registry. */
  addMetrics(registry: Registry): void;
  /** Stop answering the plugin (first, at shutdown). */
  closeSocket(): Promise<void>;
  /** The networks' local parts (last, after the lease). */
  close(): Promise<void>;
}

export async function startCni(options: {
  host: HostAgent; client: Etcd3; links: Links; openNetwork: OpenLocalNetwork; mtu: number; socketPath: string; logger: AgentLogger; netns?: ContainerNetns;
  onEndpointRemoved?: (network: string) => Promise<unknown>;
}): Promise<CniRuntime> {
  const { logger } = options;
  const tally = new CniCallTally();
  const service = new CniService({ host: options.host, client: options.client, links: options.links, netns: options.netns ?? linuxNetns, openNetwork: options.openNetwork, mtu: options.mtu, tally, logger, onEndpointRemoved: options.onEndpointRemoved });
  const restored = await service.restore();
  if (restored.endpoints + restored.reaped + restored.lost > 0) logger.info(restored, 'restored this host\'s CNI endpoints from etcd');
  service.startReaper();
  let server: PluginServer | undefined;
  try {
    server = await PluginServer.listen({
      socketPath: options.socketPath, handlers: service.handlers(),
      onCall: (path, ms, err) => (err === undefined ? logger.debug({ path, ms: Math.round(ms) }, 'CNI call') : logger.warn({ path, ms: Math.round(ms), err }, 'CNI call failed')),
    });
  } catch (error) {
    await service.close();
    throw error;
  }
  const listening = server;
  return {
    service, tally, socketPath: options.socketPath,
    addMetrics: (registry) => tally.register(registry),
    closeSocket: () => listening.close(),
    close: () => service.close(),
  };
}
