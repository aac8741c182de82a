/**
 * The CNI specification's side of the plugin (https://www.cni.dev/docs/spec/, 1.0.0, with 1.1's
 * GC and STATUS): the environment and the network configuration read and checked, the error
 * codes, the result's shape. Nothing here talks to the agent or touches a namespace.
 *
 * Versions: the plugin answers in the configuration's cniVersion. 0.4.0 and 0.3.x results differ
 * from 1.0.0 only in the `version` field of each IP (dropped in 1.0.0); older versions had another
 * result shape altogether and are refused with code 1.
 */

/** The spec's well-known error codes (section "Error"), and ours from 100 on. */
export const CNI_CODES = {
  INCOMPATIBLE_VERSION: 1,
  UNSUPPORTED_FIELD: 2,
  UNKNOWN_CONTAINER: 3,
  INVALID_ENVIRONMENT: 4,
  IO_FAILURE: 5,
  DECODING_FAILURE: 6,
  INVALID_CONFIG: 7,
  TRY_AGAIN_LATER: 11,
  /** 1.1, STATUS: the plugin cannot serve ADD now. */
  PLUGIN_NOT_AVAILABLE: 50,
  /** Ours: the network named in the configuration is not in etcd. */
  NO_SUCH_NETWORK: 100,
  /** Ours: ADD for a container and interface that already has an attachment. */
  ALREADY_ATTACHED: 101,
  /** Ours: the agent could not do what was asked (its sentence says why). */
  AGENT_FAILED: 102,
} as const;

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
/** What VERSION answers in (the newest result shape this plugin writes). */
export const PLUGIN_VERSION = '1.1.0';
export const PLUGIN_TYPE = 'vxlan-wasm';
export const DEFAULT_AGENT_SOCKET = '/run/vxlan-wasm/cni.sock';

/** A refusal in the spec's terms: printed on stdout as `{cniVersion, code, msg, details}`, exit 1. */
export class CniError extends Error {
  override readonly name = 'CniError';
  constructor(readonly code: number, message: string, readonly details = '') {
    super(message);
  }
  toJson(cniVersion: string): CniErrorJson {
    return { cniVersion, code: this.code, msg: this.message, ...(this.details === '' ? {} : { details: this.details }) };
  }
}

export interface CniErrorJson {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'GC' | 'STATUS';
const COMMANDS: readonly CniCommand[] = ['ADD', 'DEL', 'CHECK', 'VERSION', 'GC', 'STATUS'];

/** The CNI_* variables a call carries; which are required depends on the command. */
export interface CniEnvironment {
  command: CniCommand;
  containerId: string;
  netns: string;
  ifname: string;
  /** CNI_ARGS as pairs (`K=V;K2=V2`). */
  args: Record<string, string>;
  path: string[];
}

/** Container ids: the spec's rule (alphanumerics, then also '_', '.', '-'). */
const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** Interface names: Linux's (at most 15 bytes; no '/', ':', whitespace; not '.' or '..'). */
const IFNAME = /^[^/:\s]{1,15}$/;

export function readEnvironment(env: NodeJS.ProcessEnv): CniEnvironment {
  const command = env.CNI_COMMAND ?? '';
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw new CniError(CNI_CODES.INVALID_ENVIRONMENT, `CNI_COMMAND ${JSON.stringify(command)} is not one of ${COMMANDS.join(', ')}`, 'this program is a CNI plugin: a container runtime runs it with CNI_COMMAND and the network configuration on stdin');
  }
  const containerId = env.CNI_CONTAINERID ?? '';
  const netns = env.CNI_NETNS ?? '';
  const ifname = env.CNI_IFNAME ?? '';
  const needs = (name: string, value: string, when: CniCommand[]) => {
    if (value === '' && when.includes(command as CniCommand)) throw new CniError(CNI_CODES.INVALID_ENVIRONMENT, `${name} is required for ${command}`, 'the container runtime sets it; run the plugin through the runtime');
  };
  needs('CNI_CONTAINERID', containerId, ['ADD', 'DEL', 'CHECK']);
  needs('CNI_NETNS', netns, ['ADD', 'CHECK']);
  needs('CNI_IFNAME', ifname, ['ADD', 'DEL', 'CHECK']);
  // Checked only where used: libcni validates a conflist by calling VERSION with CNI_NETNS=dummy.
  const uses = command === 'ADD' || command === 'DEL' || command === 'CHECK';
  if (uses && containerId !== '' && !CONTAINER_ID.test(containerId)) throw new CniError(CNI_CODES.INVALID_ENVIRONMENT, `CNI_CONTAINERID ${JSON.stringify(containerId)} is not a container id (letters, digits, then also '_', '.', '-')`);
  if (uses && ifname !== '' && (!IFNAME.test(ifname) || ifname === '.' || ifname === '..')) throw new CniError(CNI_CODES.INVALID_ENVIRONMENT, `CNI_IFNAME ${JSON.stringify(ifname)} is not an interface name (1..15 characters, no '/', ':' or spaces)`);
  if (uses && netns !== '' && !netns.startsWith('/')) throw new CniError(CNI_CODES.INVALID_ENVIRONMENT, `CNI_NETNS ${JSON.stringify(netns)} is not an absolute path to a network namespace`);
  return { command: command as CniCommand, containerId, netns, ifname, args: parseArgs(env.CNI_ARGS ?? ''), path: (env.CNI_PATH ?? '').split(':').filter((part) => part !== '') };
}

function parseArgs(text: string): Record<string, string> {
  const args: Record<string, string> = {};
  for (const pair of text.split(';')) {
    if (pair === '') continue;
    const at = pair.indexOf('=');
    if (at <= 0) throw new CniError(CNI_CODES.INVALID_ENVIRONMENT, `CNI_ARGS has ${JSON.stringify(pair)}, not KEY=VALUE`);
    args[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return args;
}

/** The plugin's configuration, checked. */
export interface CniConfig {
  cniVersion: string;
  name: string;
  /** The overlay network's name in etcd. */
  network: string;
  agentSocket: string;
  /** The chained result before ours (DEL and CHECK get ours back here). */
  prevResult?: CniResult;
  runtimeConfig: Record<string, unknown>;
  /** The whole configuration as given (the agent may want its `args`). */
  raw: Record<string, unknown>;
}

/** Keys the spec defines for a plugin configuration (and those libcni inserts), then ours. */
const SPEC_KEYS = ['cniVersion', 'cniVersions', 'name', 'type', 'capabilities', 'ipMasq', 'ipam', 'dns', 'args', 'runtimeConfig', 'prevResult', 'disableCheck', 'disableGC'];
const OWN_KEYS = ['network', 'agentSocket'];
const NETWORK_NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

/** Parse stdin's configuration. `command` decides what is needed (VERSION needs only cniVersion). */
export function parseConfig(stdin: string, command: CniCommand): CniConfig {
  let value: unknown;
  try {
    value = JSON.parse(stdin);
  } catch (error) {
    throw new CniError(CNI_CODES.DECODING_FAILURE, `the network configuration on stdin is not JSON: ${(error as Error).message}`, 'give the configuration as the runtime does: one JSON object on stdin');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new CniError(CNI_CODES.DECODING_FAILURE, 'the network configuration on stdin is not a JSON object');
  const raw = value as Record<string, unknown>;
  const cniVersion = raw.cniVersion;
  if (typeof cniVersion !== 'string' || cniVersion === '') throw new CniError(CNI_CODES.INVALID_CONFIG, 'the network configuration has no cniVersion', `add "cniVersion": "1.0.0" (this plugin speaks ${SUPPORTED_VERSIONS.join(', ')})`);
  // VERSION is how a runtime learns what we speak: it is answered whatever version it names.
  if (command !== 'VERSION' && !(SUPPORTED_VERSIONS as readonly string[]).includes(cniVersion)) {
    throw new CniError(CNI_CODES.INCOMPATIBLE_VERSION, `cniVersion ${cniVersion} is not supported`, `use one of ${SUPPORTED_VERSIONS.join(', ')} (1.0.0 recommended)`);
  }
  const config: CniConfig = { cniVersion, name: '', network: '', agentSocket: DEFAULT_AGENT_SOCKET, runtimeConfig: {}, raw };
  if (command === 'VERSION') return config;
  for (const key of Object.keys(raw)) {
    // 1.1 runtimes pass their own keys under cni.dev/ (GC's cni.dev/valid-attachments).
    if (!SPEC_KEYS.includes(key) && !OWN_KEYS.includes(key) && !key.startsWith('cni.dev/')) {
      throw new CniError(CNI_CODES.UNSUPPORTED_FIELD, `unsupported field ${JSON.stringify(key)}: ${JSON.stringify(raw[key])}`, `remove it; a ${PLUGIN_TYPE} configuration takes ${OWN_KEYS.join(', ')} beside the spec's keys`);
    }
  }
  if (typeof raw.name !== 'string' || raw.name === '') throw new CniError(CNI_CODES.INVALID_CONFIG, 'the network configuration has no name', 'add "name": the network\'s name (also the overlay network\'s unless "network" is given)');
  if (raw.type !== PLUGIN_TYPE) throw new CniError(CNI_CODES.INVALID_CONFIG, `type is ${JSON.stringify(raw.type)}, not "${PLUGIN_TYPE}"`);
  const network = raw.network ?? raw.name;
  if (typeof network !== 'string' || !NETWORK_NAME.test(network)) {
    throw new CniError(CNI_CODES.INVALID_CONFIG, `${raw.network === undefined ? 'name' : 'network'} ${JSON.stringify(network)} is not an overlay network name`, 'lower-case letters, digits, \'_\', \'.\', \'-\' (as `vxlan-wasm network create NAME` takes)');
  }
  const agentSocket = raw.agentSocket ?? DEFAULT_AGENT_SOCKET;
  if (typeof agentSocket !== 'string' || !agentSocket.startsWith('/')) throw new CniError(CNI_CODES.INVALID_CONFIG, `agentSocket ${JSON.stringify(agentSocket)} is not an absolute path`);
  if (raw.runtimeConfig !== undefined && (typeof raw.runtimeConfig !== 'object' || raw.runtimeConfig === null || Array.isArray(raw.runtimeConfig))) {
    throw new CniError(CNI_CODES.INVALID_CONFIG, 'runtimeConfig is not an object');
  }
  let prevResult: CniResult | undefined;
  if (raw.prevResult !== undefined && raw.prevResult !== null) {
    if (typeof raw.prevResult !== 'object' || Array.isArray(raw.prevResult)) throw new CniError(CNI_CODES.DECODING_FAILURE, 'prevResult is not an object');
    prevResult = raw.prevResult as CniResult;
  }
  if (command === 'CHECK' && prevResult === undefined) throw new CniError(CNI_CODES.INVALID_CONFIG, 'CHECK needs prevResult (the result of ADD)', 'the runtime passes the cached result of ADD; a CHECK without one cannot be answered');
  return { cniVersion, name: raw.name, network, agentSocket, prevResult, runtimeConfig: (raw.runtimeConfig ?? {}) as Record<string, unknown>, raw };
}

export interface CniInterface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
}

export interface CniIp {
  address: string;
  gateway?: string;
  interface?: number;
  /** 0.3.x and 0.4.0 only. */
  version?: '4' | '6';
}

export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: CniIp[];
  routes?: { dst: string; gw?: string }[];
  dns?: { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] };
}

/**
 * Chain our result after the previous plugin's: its interfaces first, ours appended (our IPs'
 * `interface` indexes shifted to match), its routes and DNS merged, in the version asked for.
 */
export function chainResult(ours: CniResult, previous: CniResult | undefined, cniVersion: string): CniResult {
  const before = previous?.interfaces ?? [];
  const interfaces = [...before, ...(ours.interfaces ?? [])];
  const shift = (ip: CniIp): CniIp => (ip.interface === undefined ? ip : { ...ip, interface: ip.interface + before.length });
  const legacy = cniVersion.startsWith('0.');
  const version = (ip: CniIp): CniIp => {
    const { version: _version, ...rest } = ip;
    return legacy ? { ...rest, version: ip.address.includes(':') ? '6' : '4' } : rest;
  };
  const ips = [...(previous?.ips ?? []), ...(ours.ips ?? []).map(shift)].map(version);
  const routes = [...(previous?.routes ?? []), ...(ours.routes ?? [])];
  const nameservers = [...new Set([...(previous?.dns?.nameservers ?? []), ...(ours.dns?.nameservers ?? [])])];
  const search = [...new Set([...(previous?.dns?.search ?? []), ...(ours.dns?.search ?? [])])];
  const dns = { ...(previous?.dns ?? {}), ...(nameservers.length > 0 ? { nameservers } : {}), ...(search.length > 0 ? { search } : {}) };
  return { cniVersion, interfaces, ips, routes, dns };
}
