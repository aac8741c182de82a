/**
 * The configuration of `vxlan-wasm forward`: a JSON file (`--config FILE`) merged with flags, and
 * checked in full before anything is opened. Every mistake is one ConfigError: one sentence that
 * starts with where it is (`networks[1].vni`, `--peer`), and exit code 2 in the CLI.
 *
 * Merge rule (also in FORWARD_USAGE):
 * - `--local`, `--port`, `--metrics`, `--log-level` replace the file's value; `--allow` (repeatable)
 *   replaces the file's whole `allowedSources` list.
 * - `--vni`, `--tap`, `--mtu`, `--peer` describe ONE network. `--vni N` picks the file's network
 *   with that VNI (the other flags replace its values; `--peer` its whole peer list) or, when the
 *   file has none, adds one (`--tap` needed). Without `--vni` they change the file's only network;
 *   with several networks in the file `--vni` must say which.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { formatMac, parseIp, parseMac, type ParsedIp } from '../wire/address';
import { canonicalIp, parseCidr } from '../forwarder/address-set';
import type { Endpoint } from '../forwarder/contracts';
import { DEFAULT_AGEING_MS, DEFAULT_MAX_ENTRIES } from '../forwarder/fdb';
import { DEFAULT_BUSY_POLL_US, DEFAULT_IDLE_WAKE_MS, MAX_BUSY_POLL_US, MAX_IDLE_WAKE_MS, MAX_QUEUES } from '../forwarder/multi-queue/multi-queue-forwarder';

/** Queue workers by default: one, run to completion (the fastest engine on 2 cores, BENCHMARKS.md). */
export const DEFAULT_QUEUES = 1;

/** A configuration mistake: `path` names the field or flag, the message is one sentence starting with it. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  /** The CLI's exit code for every configuration error. */
  readonly exitCode = 2;
  constructor(readonly path: string, sentence: string) {
    // "--local is required: …", "networks[0].vni: 16777216 is not a VNI …": the path is the subject or the topic.
    super(/^(is|must|needs|does) /.test(sentence) ? `${path} ${sentence}` : `${path}: ${sentence}`);
  }
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The default VXLAN port (IANA, RFC 7348 §5); Linux's legacy default 8472 works as well. */
export const DEFAULT_VXLAN_PORT = 4789;
/** Underlay MTU assumed when the TAP's MTU is not given (the Linux vxlan device does the same without `dev`). */
export const UNDERLAY_MTU = 1500;
/** What VXLAN adds to an inner IP packet inside the underlay's MTU: outer IP (20 / 40) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export const VXLAN_OVERHEAD = { 4: 20 + 8 + 8 + 14, 6: 40 + 8 + 8 + 14 } as const;
export const MIN_MTU = 68;
export const MAX_VNI = 0xffffff;
/** Bounds of the numbers a file may give (the forwarder's own checks would accept more; these are sane). */
const MAX_AGEING_SECONDS = 1_000_000;
const MAX_FDB_ENTRIES = 1 << 24;
/** Linux IFNAMSIZ is 16 with the terminating NUL. */
const MAX_IFNAME = 15;

/** One network as the file writes it (every field optional here; checked below). */
export interface NetworkFileConfig {
  vni?: number;
  tap?: string;
  mtu?: number;
  peers?: string[];
  fdb?: { mac: string; peer: string }[];
}

/** The file's format (JSON). */
export interface ForwardFileConfig {
  local?: string;
  port?: number;
  networks?: NetworkFileConfig[];
  allowedSources?: string[];
  metrics?: string;
  logLevel?: LogLevel;
  ageingSeconds?: number;
  maxFdbEntries?: number;
  offloads?: OffloadConfig;
  queues?: number;
  busyPollUs?: number;
  idleWakeMs?: number;
}

/**
 * Which offloads to use (each on by default where the kernel takes it): UDP GSO on send and GRO
 * on receive for the underlay, TSO/GRO through the TAP's virtio-net header for the devices.
 */
export interface OffloadConfig {
  gso: boolean;
  gro: boolean;
  tap: boolean;
  /**
   * TCP super-frames moved whole, as UDP-tunnel GSO packets, through a tunnel TAP (see
   * src/forwarder/underlay/tunnel-gso.ts). 'auto' (the default): on where this host allows it
   * (tunnel-gso-probe.ts: Linux 6.17+, an IPv4 or IPv6 underlay on a device other than lo, no
   * strict rp_filter, no FORWARD DROP policy), else off with a sentence saying why; true: required
   * (starting fails when it cannot run); false: off.
   */
  tunnelGso: boolean | 'auto';
  /**
   * With tunnelGso: VXLAN for the local address is taken at the underlay device's ingress (a tc
   * filter) and read from the tunnel TAP, whole (ingress-redirect.ts). Default true; false
   * (--no-tunnel-ingress) sends whole only, for peers whose packets arrive cut anyway (one read
   * per packet from the TAP costs more than the socket's batches).
   */
  tunnelIngress: boolean;
}

/** The flags, as node:util parseArgs gives them (text). */
export interface ForwardFlags {
  config?: string;
  tap?: string;
  vni?: string;
  local?: string;
  peer?: string[];
  port?: string;
  mtu?: string;
  metrics?: string;
  'log-level'?: string;
  allow?: string[];
  'no-gso'?: boolean;
  'no-gro'?: boolean;
  'no-tap-offloads'?: boolean;
  'tunnel-gso'?: boolean;
  'no-tunnel-gso'?: boolean;
  'no-tunnel-ingress'?: boolean;
  queues?: string;
  'busy-poll-us'?: string;
  'idle-wake-ms'?: string;
}

export interface NetworkConfig {
  vni: number;
  tap: string;
  /** The TAP's MTU (the inner IP MTU). */
  mtu: number;
  peers: Endpoint[];
  fdb: { mac: string; endpoint: Endpoint }[];
}

/** The checked, complete configuration: what the CLI opens and builds the Forwarder from. */
export interface ForwardConfig {
  /** The underlay address to bind (canonical text; 0.0.0.0 or :: for any). */
  local: string;
  family: 4 | 6;
  /** The UDP port bound and, for peers given without one, the port they listen on. 0: any (tests). */
  port: number;
  networks: NetworkConfig[];
  allowedSources: string[];
  metrics?: { host: string; port: number };
  logLevel: LogLevel;
  ageingSeconds: number;
  maxFdbEntries: number;
  offloads: OffloadConfig;
  /**
   * Worker threads, each with a queue of every TAP and its own socket on the port, reading them
   * itself, run to completion (default 1: on 2 cores one such worker carried the most and gave
   * the shortest round trip); 0: the forwarder on the main thread, with a reader thread per port.
   */
  queues: number;
  /**
   * With queue workers: after each burst, how long a worker keeps looking for the next frame
   * before it sleeps (µs; default DEFAULT_BUSY_POLL_US, 0: sleep at once). See InlinePoller.
   */
  busyPollUs: number;
  /** With queue workers: how often an idle worker wakes to poll again (ms; default DEFAULT_IDLE_WAKE_MS, 0: never). */
  idleWakeMs: number;
}

const FILE_KEYS = ['local', 'port', 'networks', 'allowedSources', 'metrics', 'logLevel', 'ageingSeconds', 'maxFdbEntries', 'offloads', 'queues', 'busyPollUs', 'idleWakeMs'];
const OFFLOAD_KEYS = ['gso', 'gro', 'tap', 'tunnelGso', 'tunnelIngress'] as const;
const NETWORK_KEYS = ['vni', 'tap', 'mtu', 'peers', 'fdb'];
const FDB_KEYS = ['mac', 'peer'];

const describe = (value: unknown): string =>
  value === undefined ? 'nothing' : typeof value === 'string' ? JSON.stringify(value) : Array.isArray(value) ? 'a list' : value === null ? 'null' : typeof value === 'object' ? 'an object' : String(value);

// ---- reading the file --------------------------------------------------------------------------

/** Read and parse the JSON file; a missing, unreadable or malformed file is a ConfigError. */
export function loadConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError('--config', `cannot read ${path} (${code ?? (error as Error).message}).`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError('--config', `${path} is not valid JSON (${(error as Error).message}).`);
  }
}

function checkKeys(value: unknown, allowed: readonly string[], path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(path || 'config', `must be a JSON object, got ${describe(value)}.`);
  }
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw new ConfigError(path ? `${path}.${key}` : key, `is not a known key (known: ${allowed.join(', ')}).`);
    }
  }
  return value as Record<string, unknown>;
}

function fileString(value: unknown, path: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new ConfigError(path, `must be text, got ${describe(value)}.`);
  return value;
}

function fileStrings(value: unknown, path: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw new ConfigError(path, `must be a list, got ${describe(value)}.`);
  return value.map((item, i) => fileString(item, `${path}[${i}]`)!);
}

function fileInteger(value: unknown, path: string, min: number, max: number, what: string): number | undefined {
  if (value === undefined) return undefined;
  if (!(typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max)) {
    throw new ConfigError(path, `${describe(value)} is not ${what} (an integer in ${min}..${max}).`);
  }
  return value;
}

// ---- flags ------------------------------------------------------------------------------------

function flagInteger(text: string | undefined, flag: string, min: number, max: number, what: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9]{1,9}$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new ConfigError(flag, `${JSON.stringify(text)} is not ${what} (an integer in ${min}..${max}).`);
  }
  return Number(text);
}

// ---- addresses --------------------------------------------------------------------------------

function parseAddress(text: string, path: string): ParsedIp {
  if (text.includes('%')) throw new ConfigError(path, `${JSON.stringify(text)}: IPv6 zone ids (%dev) are not supported; give a global or unique-local address.`);
  try {
    return parseIp(text);
  } catch {
    throw new ConfigError(path, `${JSON.stringify(text)} is not an IPv4 or IPv6 address.`);
  }
}

const isUnspecified = (ip: ParsedIp) => ip.bytes.every((byte) => byte === 0);
const isMulticast = (ip: ParsedIp) => (ip.version === 4 ? (ip.bytes[0] & 0xf0) === 0xe0 : ip.bytes[0] === 0xff);
const isBroadcast = (ip: ParsedIp) => ip.version === 4 && ip.bytes.every((byte) => byte === 0xff);

/** `ADDR`, `ADDR:PORT`, `[IPV6]` or `[IPV6]:PORT` (a bare IPv6 address never has a port). */
export function parseEndpointText(text: string, path: string): { address: string; version: 4 | 6; port?: number } {
  let address = text;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const match = /^\[([^\]]*)\](?::(.*))?$/.exec(text);
    if (match === null) throw new ConfigError(path, `${JSON.stringify(text)} is not [IPV6] or [IPV6]:PORT.`);
    [, address, portText] = match;
    if (!address.includes(':')) throw new ConfigError(path, `${JSON.stringify(text)}: only IPv6 addresses go in brackets.`);
  } else if (text.split(':').length === 2) {
    [address, portText] = text.split(':');
  }
  const ip = parseAddress(address, path);
  let port: number | undefined;
  if (portText !== undefined) {
    if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      throw new ConfigError(path, `${JSON.stringify(text)} has no valid UDP port after the colon (an integer in 1..65535).`);
    }
    port = Number(portText);
  }
  return { address: canonicalIp(address), version: ip.version, port };
}

function checkRemote(text: string, path: string): { address: string; version: 4 | 6; port?: number } {
  const endpoint = parseEndpointText(text, path);
  const ip = parseIp(endpoint.address);
  if (isUnspecified(ip)) throw new ConfigError(path, `${JSON.stringify(text)} is the unspecified address, not a VTEP.`);
  if (isMulticast(ip) || isBroadcast(ip)) {
    throw new ConfigError(path, `${JSON.stringify(text)} is a multicast or broadcast address; list each remote VTEP by its unicast address.`);
  }
  return endpoint;
}

/** `HOST:PORT` for the metrics server: an IP literal ([...] for IPv6) or a host name, port 0..65535. */
export function parseListenAddress(text: string, path: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(text);
  if (match === null || Number(match[3]) > 65535) {
    throw new ConfigError(path, `${JSON.stringify(text)} is not HOST:PORT (e.g. 127.0.0.1:9470 or [::1]:9470).`);
  }
  const host = match[1] ?? match[2];
  if (match[1] !== undefined) parseAddress(host, path);
  else if (/^[0-9.]+$/.test(host)) parseAddress(host, path);
  else if (!/^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$/.test(host)) {
    throw new ConfigError(path, `${JSON.stringify(host)} is neither an IP address nor a host name.`);
  }
  return { host, port: Number(match[3]) };
}

/** Linux's rule for interface names (dev_valid_name): 1..15 bytes, not . or .., no slash, colon or space. */
function checkTapName(name: string, path: string): string {
  if (name.length === 0 || Buffer.byteLength(name) > MAX_IFNAME || name === '.' || name === '..' || /[/:\s]/.test(name)) {
    throw new ConfigError(path, `${JSON.stringify(name)} is not an interface name (1..${MAX_IFNAME} bytes, not . or .., no slash, colon or white space).`);
  }
  return name;
}

// ---- the merge and the checks -----------------------------------------------------------------

interface Draft {
  vni?: number;
  tap?: string;
  mtu?: number;
  /** With the path each came from, for the messages of the checks made after the merge. */
  peers?: { text: string; path: string }[];
  fdb?: { mac: string; peer: string; path: string }[];
  /** Where this network came from (`networks[i]` or `flags`), and where vni, tap and mtu came from. */
  path: string;
  paths: { vni: string; tap: string; mtu: string };
}

function readFile(file: unknown): { top: ForwardFileConfig; networks: Draft[] } {
  const raw = checkKeys(file, FILE_KEYS, '');
  const top: ForwardFileConfig = {
    local: fileString(raw.local, 'local'),
    port: fileInteger(raw.port, 'port', 0, 65535, 'a UDP port'),
    allowedSources: fileStrings(raw.allowedSources, 'allowedSources'),
    metrics: fileString(raw.metrics, 'metrics'),
    logLevel: fileString(raw.logLevel, 'logLevel') as LogLevel | undefined,
    maxFdbEntries: fileInteger(raw.maxFdbEntries, 'maxFdbEntries', 0, MAX_FDB_ENTRIES, 'a number of FDB entries'),
    queues: fileInteger(raw.queues, 'queues', 0, MAX_QUEUES, 'a number of queues'),
    busyPollUs: fileInteger(raw.busyPollUs, 'busyPollUs', 0, MAX_BUSY_POLL_US, 'a number of microseconds'),
    idleWakeMs: fileInteger(raw.idleWakeMs, 'idleWakeMs', 0, MAX_IDLE_WAKE_MS, 'a number of milliseconds'),
  };
  if (raw.offloads !== undefined) {
    const offloads = checkKeys(raw.offloads, OFFLOAD_KEYS, 'offloads');
    const chosen: Partial<OffloadConfig> = {};
    for (const key of OFFLOAD_KEYS) {
      const value = offloads[key];
      if (value === undefined) continue;
      if (key === 'tunnelGso' && value === 'auto') {
        chosen.tunnelGso = value;
        continue;
      }
      if (typeof value !== 'boolean') throw new ConfigError(`offloads.${key}`, `${describe(value)} is not true or false${key === 'tunnelGso' ? ' or "auto"' : ''}.`);
      chosen[key] = value;
    }
    top.offloads = {
      gso: chosen.gso ?? true, gro: chosen.gro ?? true, tap: chosen.tap ?? true, tunnelGso: chosen.tunnelGso ?? 'auto', tunnelIngress: chosen.tunnelIngress ?? true,
    };
  }
  if (raw.ageingSeconds !== undefined) {
    const value = raw.ageingSeconds;
    if (!(typeof value === 'number' && value > 0 && value <= MAX_AGEING_SECONDS)) {
      throw new ConfigError('ageingSeconds', `${describe(value)} is not a time in seconds (a number above 0, at most ${MAX_AGEING_SECONDS}).`);
    }
    top.ageingSeconds = value;
  }
  if (raw.networks !== undefined && !Array.isArray(raw.networks)) {
    throw new ConfigError('networks', `must be a list of networks, got ${describe(raw.networks)}.`);
  }
  const networks = ((raw.networks ?? []) as unknown[]).map((item, i): Draft => {
    const path = `networks[${i}]`;
    const network = checkKeys(item, NETWORK_KEYS, path);
    const fdb = network.fdb;
    if (fdb !== undefined && !Array.isArray(fdb)) throw new ConfigError(`${path}.fdb`, `must be a list of { mac, peer }, got ${describe(fdb)}.`);
    if (network.mtu !== undefined && !Number.isInteger(network.mtu)) {
      throw new ConfigError(`${path}.mtu`, `${describe(network.mtu)} is not an MTU (an integer number of bytes).`);
    }
    return {
      path,
      paths: { vni: `${path}.vni`, tap: `${path}.tap`, mtu: `${path}.mtu` },
      vni: fileInteger(network.vni, `${path}.vni`, 0, MAX_VNI, 'a VNI'),
      tap: fileString(network.tap, `${path}.tap`),
      mtu: network.mtu as number | undefined,
      peers: fileStrings(network.peers, `${path}.peers`)?.map((text, k) => ({ text, path: `${path}.peers[${k}]` })),
      fdb: (fdb as unknown[] | undefined)?.map((entry, k) => {
        const entryPath = `${path}.fdb[${k}]`;
        const { mac, peer } = checkKeys(entry, FDB_KEYS, entryPath);
        if (mac === undefined) throw new ConfigError(`${entryPath}.mac`, 'is missing (the MAC address behind the peer).');
        if (peer === undefined) throw new ConfigError(`${entryPath}.peer`, 'is missing (the VTEP the MAC is behind, ADDR[:PORT]).');
        return { mac: fileString(mac, `${entryPath}.mac`)!, peer: fileString(peer, `${entryPath}.peer`)!, path: entryPath };
      }),
    };
  });
  return { top, networks };
}

/** Apply the network flags (--vni, --tap, --mtu, --peer) to the file's networks, as the merge rule says. */
function applyNetworkFlags(networks: Draft[], flags: ForwardFlags): Draft[] {
  const vni = flagInteger(flags.vni, '--vni', 0, MAX_VNI, 'a VNI');
  const given = flags.tap !== undefined || flags.mtu !== undefined || flags.peer !== undefined;
  if (vni === undefined && !given) return networks;
  const override: Draft = {
    path: 'flags',
    paths: { vni: '--vni', tap: '--tap', mtu: '--mtu' },
    tap: flags.tap,
    mtu: flagInteger(flags.mtu, '--mtu', 0, 999_999_999, 'an MTU'),
    peers: flags.peer?.map((text) => ({ text, path: '--peer' })),
  };
  let index: number;
  if (vni !== undefined) {
    index = networks.findIndex((network) => network.vni === vni);
  } else if (networks.length <= 1) {
    index = networks.length - 1;
  } else {
    throw new ConfigError('--vni', `is needed to say which of the ${networks.length} networks of the config file --tap, --mtu and --peer change.`);
  }
  const result = [...networks];
  if (index === -1) {
    result.push({ ...override, vni, fdb: [] });
  } else {
    const base = networks[index];
    result[index] = {
      ...base,
      vni: vni ?? base.vni,
      tap: override.tap ?? base.tap,
      mtu: override.mtu ?? base.mtu,
      peers: override.peers ?? base.peers,
      paths: {
        vni: vni !== undefined ? '--vni' : base.paths.vni,
        tap: override.tap !== undefined ? '--tap' : base.paths.tap,
        mtu: override.mtu !== undefined ? '--mtu' : base.paths.mtu,
      },
    };
  }
  return result;
}

/**
 * Merge a parsed config file (or undefined) with the flags and check everything. Pure: it reads
 * nothing and opens nothing (see `checkTunAccess` for the one check that looks at the system).
 */
export function resolveConfig(flags: ForwardFlags, file?: unknown): ForwardConfig {
  const { top, networks: fileNetworks } = file === undefined ? { top: {} as ForwardFileConfig, networks: [] } : readFile(file);

  // -- underlay --
  const localText = flags.local ?? top.local;
  const localPath = flags.local !== undefined ? '--local' : 'local';
  if (localText === undefined) throw new ConfigError('--local', 'is required: the underlay address to bind (0.0.0.0 or :: for any).');
  const localIp = parseAddress(localText, localPath);
  if (isMulticast(localIp) || isBroadcast(localIp)) throw new ConfigError(localPath, `${JSON.stringify(localText)} is not a unicast address to bind.`);
  const local = canonicalIp(localText);
  const family = localIp.version;
  const port = flagInteger(flags.port, '--port', 0, 65535, 'a UDP port') ?? top.port ?? DEFAULT_VXLAN_PORT;

  // -- networks --
  const drafts = applyNetworkFlags(fileNetworks, flags);
  if (drafts.length === 0) throw new ConfigError('--tap', 'no network to serve: give --tap NAME and --vni N, or networks in --config FILE.');
  const overhead = VXLAN_OVERHEAD[family];
  const maxMtu = 65535 - overhead;
  const vnis = new Map<number, string>();
  const taps = new Map<string, string>();
  const networks = drafts.map((draft): NetworkConfig => {
    const { vni: vniPath, tap: tapPath, mtu: mtuPath } = draft.paths;
    if (draft.vni === undefined) throw new ConfigError(vniPath, 'is required: the network\'s VXLAN network identifier (0..16777215).');
    if (draft.tap === undefined) throw new ConfigError(tapPath, `is required: the TAP interface of VNI ${draft.vni}.`);
    const tap = checkTapName(draft.tap, tapPath);
    if (vnis.has(draft.vni)) throw new ConfigError(vniPath, `VNI ${draft.vni} is configured twice (also at ${vnis.get(draft.vni)}).`);
    vnis.set(draft.vni, vniPath);
    if (taps.has(tap)) throw new ConfigError(tapPath, `TAP ${tap} is used by two networks (also at ${taps.get(tap)}).`);
    taps.set(tap, tapPath);

    const mtu = draft.mtu ?? UNDERLAY_MTU - overhead;
    if (mtu < MIN_MTU || mtu > maxMtu) {
      throw new ConfigError(mtuPath, `${mtu} is not a TAP MTU over an IPv${family} underlay (${MIN_MTU}..${maxMtu}: 65535 less ${overhead} bytes of VXLAN overhead).`);
    }

    const remote = (text: string, path: string): Endpoint => {
      const endpoint = checkRemote(text, path);
      if (endpoint.version !== family) {
        throw new ConfigError(path, `${JSON.stringify(text)} is IPv${endpoint.version} but the local address ${local} is IPv${family}; an underlay is one family.`);
      }
      const remotePort = endpoint.port ?? port;
      if (remotePort === 0) throw new ConfigError(path, `${JSON.stringify(text)} needs a port (ADDR:PORT) when the local port is 0.`);
      if (endpoint.address === local && remotePort === port) throw new ConfigError(path, `${JSON.stringify(text)} is this forwarder's own address and port.`);
      return { address: endpoint.address, port: remotePort };
    };
    const peers: Endpoint[] = [];
    for (const { text, path } of draft.peers ?? []) {
      const peer = remote(text, path);
      if (peers.some((other) => other.address === peer.address && other.port === peer.port)) {
        throw new ConfigError(path, `${JSON.stringify(text)} is listed twice as a peer of VNI ${draft.vni}.`);
      }
      peers.push(peer);
    }
    const macs = new Set<string>();
    const fdb = (draft.fdb ?? []).map(({ mac, peer, path }) => {
      let bytes: Uint8Array;
      try {
        bytes = parseMac(mac);
      } catch {
        throw new ConfigError(`${path}.mac`, `${JSON.stringify(mac)} is not a MAC address (six hex bytes, e.g. 02:00:00:00:00:01).`);
      }
      if ((bytes[0] & 1) !== 0) throw new ConfigError(`${path}.mac`, `${JSON.stringify(mac)} is a multicast MAC; static entries are for unicast MACs (multicast is flooded to every peer).`);
      const canonical = formatMac(bytes);
      if (macs.has(canonical)) throw new ConfigError(`${path}.mac`, `${mac} has two static entries in VNI ${draft.vni}.`);
      macs.add(canonical);
      return { mac: canonical, endpoint: remote(peer, `${path}.peer`) };
    });
    return { vni: draft.vni, tap, mtu, peers, fdb };
  });

  // -- the rest --
  const allowedSources = (flags.allow ?? top.allowedSources ?? []).map((cidr, i) => {
    const path = flags.allow !== undefined ? '--allow' : `allowedSources[${i}]`;
    let prefix: ReturnType<typeof parseCidr>;
    try {
      prefix = parseCidr(cidr);
    } catch {
      throw new ConfigError(path, `${JSON.stringify(cidr)} is not a CIDR (ADDRESS/LENGTH like 10.0.0.0/8 or fd00::/64; length 0..32 for IPv4, 0..128 for IPv6).`);
    }
    if (prefix.version !== family) {
      throw new ConfigError(path, `${JSON.stringify(cidr)} is IPv${prefix.version} but the local address ${local} is IPv${family}; no such source can reach this underlay.`);
    }
    return cidr;
  });

  const metricsText = flags.metrics ?? top.metrics;
  const metrics = metricsText === undefined ? undefined : parseListenAddress(metricsText, flags.metrics !== undefined ? '--metrics' : 'metrics');

  const logLevel = flags['log-level'] ?? top.logLevel ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(flags['log-level'] !== undefined ? '--log-level' : 'logLevel', `${JSON.stringify(logLevel)} is not a log level (${LOG_LEVELS.join(', ')}).`);
  }

  const queues = flagInteger(flags.queues, '--queues', 0, MAX_QUEUES, 'a number of queues') ?? top.queues ?? DEFAULT_QUEUES;
  const busyPollUs = flagInteger(flags['busy-poll-us'], '--busy-poll-us', 0, MAX_BUSY_POLL_US, 'a number of microseconds') ?? top.busyPollUs ?? DEFAULT_BUSY_POLL_US;
  const idleWakeMs = flagInteger(flags['idle-wake-ms'], '--idle-wake-ms', 0, MAX_IDLE_WAKE_MS, 'a number of milliseconds') ?? top.idleWakeMs ?? DEFAULT_IDLE_WAKE_MS;
  // Only queue workers busy-poll and wake while idle: asked for on the main thread, it would be silently ignored.
  for (const [flag, key] of [['busy-poll-us', 'busyPollUs'], ['idle-wake-ms', 'idleWakeMs']] as const) {
    if (queues === 0 && (flags[flag] !== undefined || top[key] !== undefined)) {
      const mainThread = flags.queues !== undefined ? '--queues 0' : '"queues": 0';
      throw new ConfigError(flags[flag] !== undefined ? `--${flag}` : key, `is for queue workers, and ${mainThread} runs none: leave it out, or run queue workers.`);
    }
  }
  if (flags['tunnel-gso'] === true && flags['no-tunnel-gso'] === true) throw new ConfigError('--tunnel-gso', 'cannot go with --no-tunnel-gso: give one or the other.');
  // A --no-* flag turns an offload off whatever the file says.
  const offloads: OffloadConfig = {
    gso: flags['no-gso'] !== true && (top.offloads?.gso ?? true),
    gro: flags['no-gro'] !== true && (top.offloads?.gro ?? true),
    tap: flags['no-tap-offloads'] !== true && (top.offloads?.tap ?? true),
    tunnelGso: flags['tunnel-gso'] === true ? true : flags['no-tunnel-gso'] === true ? false : (top.offloads?.tunnelGso ?? 'auto'),
    tunnelIngress: false,
  };
  offloads.tunnelIngress = offloads.tunnelGso !== false && flags['no-tunnel-ingress'] !== true && (top.offloads?.tunnelIngress ?? true);
  // Insisted on: what can be checked here is refused here. 'auto' decides at start (tunnel-gso-probe.ts).
  if (offloads.tunnelGso === true) {
    const where = flags['tunnel-gso'] === true ? '--tunnel-gso' : 'offloads.tunnelGso';
    if (family !== 4 || parseIp(local).bytes.every((byte) => byte === 0)) {
      throw new ConfigError(where, `needs an IPv4 underlay and the local address itself (the outer source of what it sends), not ${local}.`);
    }
    if (!offloads.tap) throw new ConfigError(where, 'needs the TAP offloads (the super-frames it sends whole come from them), not --no-tap-offloads.');
  }

  return {
    local, family, port, networks, allowedSources, metrics,
    logLevel: logLevel as LogLevel,
    ageingSeconds: top.ageingSeconds ?? DEFAULT_AGEING_MS / 1000,
    maxFdbEntries: top.maxFdbEntries ?? DEFAULT_MAX_ENTRIES,
    queues,
    busyPollUs,
    idleWakeMs,
    offloads,
  };
}

/** `ADDR:PORT`, with brackets around IPv6, for logs and messages. */
export function endpointText(endpoint: Endpoint): string {
  return endpoint.address.includes(':') ? `[${endpoint.address}]:${endpoint.port}` : `${endpoint.address}:${endpoint.port}`;
}

/** CAP_NET_ADMIN's bit in the capability sets of /proc/PID/status (linux/capability.h). */
const CAP_NET_ADMIN = 12;

/**
 * Whether this process has CAP_NET_ADMIN in its effective set (root has it; so does a process
 * started with it, e.g. `setcap cap_net_admin+ep` or a container's `--cap-add NET_ADMIN`).
 * Undefined where /proc/self/status cannot tell (not Linux).
 */
export function hasNetAdmin(status = '/proc/self/status'): boolean | undefined {
  let text: string;
  try {
    text = readFileSync(status, 'utf8');
  } catch {
    return undefined;
  }
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(text)?.[1];
  return hex === undefined ? undefined : (BigInt(`0x${hex}`) >> BigInt(CAP_NET_ADMIN) & 1n) === 1n;
}

/**
 * TAP devices are made through /dev/net/tun, and making one (TUNSETIFF), setting its MTU and
 * bringing it up need CAP_NET_ADMIN (root has it): both checked up front, so a user without them
 * gets one sentence and exit 2 before any socket is bound or device touched (the node itself is
 * often 0666, so access() alone does not tell).
 */
export function checkTunAccess(path = '/dev/net/tun', status = '/proc/self/status'): void {
  try {
    accessSync(path, constants.R_OK | constants.W_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new ConfigError(path, 'does not exist, so no TAP can be made (load the tun module, or in a container pass the device in with --device /dev/net/tun).');
    }
    throw new ConfigError(path, `is not readable and writable by this user (${code ?? 'denied'}); TAP devices need root or CAP_NET_ADMIN (run with sudo).`);
  }
  if (hasNetAdmin(status) === false) {
    throw new ConfigError(path, 'can be opened, but this process lacks CAP_NET_ADMIN, which making and configuring a TAP needs; run as root (sudo) or grant CAP_NET_ADMIN.');
  }
}
