/**
 * The flags both agent modes share (`agent --network` and `agent --docker/--cni`), checked one way:
 * this host's underlay address and port, the overlay MTU, the engine's worker threads, the host id,
 * the lease's TTL, metrics and log level. Every mistake is a ConfigError (exit 2) naming the flag.
 */
import {
  ConfigError, DEFAULT_QUEUES, DEFAULT_VXLAN_PORT, LOG_LEVELS, MIN_MTU, UNDERLAY_MTU, VXLAN_OVERHEAD,
  parseEndpointText, parseListenAddress, type LogLevel,
} from './config';
import { MAX_QUEUES } from '../forwarder/multi-queue/multi-queue-forwarder';
import { HOST_ID } from '../control/keys';
import { defaultHostId } from './host-id';

export interface AgentFlags {
  local: string;
  family: 4 | 6;
  port: number;
  mtu: number;
  queues: number;
  /** Tunnel GSO where the host allows it; false with --no-tunnel-gso. */
  tunnelGso: boolean;
  hostId: string;
  ttlSeconds: number;
  metrics?: { host: string; port: number };
  logLevel: LogLevel;
}

/** `text(flag)` reads a flag's value; `portZero` allows --port 0 (any free port: the VTEP advertises what it bound). */
export function resolveAgentFlags(
  text: (flag: string) => string | undefined, noTunnelGso: boolean, options: { machineIdPath?: string; portZero: boolean },
): AgentFlags {
  const localText = text('local');
  if (localText === undefined) throw new ConfigError('--local', 'is required: this host\'s underlay address, which the other hosts send VXLAN to.');
  // A bare IPv6 address has several colons; ADDR:PORT (a mistake here) has one.
  const local = parseEndpointText(localText.split(':').length > 2 && !localText.startsWith('[') ? `[${localText}]` : localText, '--local');
  if (local.port !== undefined) throw new ConfigError('--local', `${JSON.stringify(localText)} has a port; give the address alone and the port with --port.`);
  if (/^(0\.0\.0\.0|::)$/.test(local.address)) throw new ConfigError('--local', `${local.address} is not an address the other hosts can send to; give this host's own underlay address.`);
  let port = DEFAULT_VXLAN_PORT;
  if (text('port') !== undefined) {
    port = Number(text('port'));
    if (!/^[0-9]{1,5}$/.test(text('port')!) || port > 65535 || (port === 0 && !options.portZero)) {
      throw new ConfigError('--port', `${JSON.stringify(text('port'))} is not a UDP port (1..65535${options.portZero ? ', or 0 for any free one' : ''}).`);
    }
  }
  const maxMtu = 65535 - VXLAN_OVERHEAD[local.version];
  let mtu = UNDERLAY_MTU - VXLAN_OVERHEAD[local.version];
  if (text('mtu') !== undefined) {
    mtu = Number(text('mtu'));
    if (!/^[0-9]{2,5}$/.test(text('mtu')!) || mtu < MIN_MTU || mtu > maxMtu) throw new ConfigError('--mtu', `${JSON.stringify(text('mtu'))} is not an MTU in ${MIN_MTU}..${maxMtu}.`);
  }
  let queues = DEFAULT_QUEUES;
  if (text('queues') !== undefined) {
    queues = Number(text('queues'));
    if (!/^[0-9]{1,2}$/.test(text('queues')!) || queues > MAX_QUEUES) throw new ConfigError('--queues', `${JSON.stringify(text('queues'))} is not a number of worker threads in 0..${MAX_QUEUES}.`);
  }
  const hostId = text('host-id') ?? defaultHostId(local.address, port, options.machineIdPath);
  if (!HOST_ID.test(hostId)) throw new ConfigError('--host-id', `${JSON.stringify(hostId)} is not a host id (1..64 of letters, digits, '_', '.', '-').`);
  let ttlSeconds = 10;
  if (text('ttl') !== undefined) {
    ttlSeconds = Number(text('ttl'));
    if (!/^[0-9]{1,3}$/.test(text('ttl')!) || ttlSeconds < 2 || ttlSeconds > 300) throw new ConfigError('--ttl', `${JSON.stringify(text('ttl'))} is not a whole number of seconds in 2..300.`);
  }
  const metrics = text('metrics') === undefined ? undefined : parseListenAddress(text('metrics')!, '--metrics');
  const logLevel = (text('log-level') ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError('--log-level', `${JSON.stringify(logLevel)} is not one of ${LOG_LEVELS.join(', ')}.`);
  return { local: local.address, family: local.version, port, mtu, queues, tunnelGso: !noTunnelGso, hostId, ttlSeconds, metrics, logLevel };
}
