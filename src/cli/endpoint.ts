/**
 * `vxlan-wasm endpoint ls|inspect`: the endpoints of the overlay networks kept in etcd (containers
 * the Docker driver or the CNI plugin attached, and each `agent --network` host's TAP), read from
 * the store as every host sees them. Arguments are checked before connecting (a mistake: one
 * sentence, exit 2); an unknown network or endpoint and an unreachable etcd are one sentence, exit 1.
 */
import type { Etcd3 } from 'etcd3';
import { addressesText } from '../control/address-pool';
import type { EndpointRecord } from '../control/keys';
import { inspectNetwork, listNetworks, NetworkError } from '../control/networks';
import { ETCD_FLAGS, ETCD_FLAGS_HELP, parseCommandArgs, storeOptions, type EtcdFlags } from './options';
import { checkNetworkNameArgument, runStoreCommand, subcommandOf, table, type StoreCommandIo, type SubcommandRules } from './store-command';
import type { StoreOptions } from '../control/store';

export const ENDPOINT_USAGE = `usage: vxlan-wasm endpoint ls [--network NAME] [--json] [etcd flags]
       vxlan-wasm endpoint inspect ID|NAME [--network NAME] [--json] [etcd flags]

The endpoints of the overlay networks in etcd: containers attached by the Docker driver or the CNI
plugin, and each \`agent --network\` host's TAP, as every host sees them.

  ls       every endpoint (of one network with --network): network, name, aliases, host, address,
           MAC, endpoint id
  inspect  one endpoint, by its id (or the start of it) or its name, every field

${ETCD_FLAGS_HELP}

exit codes: 0 done; 1 no such network or endpoint, or etcd unreachable; 2 a usage error.`;

export type EndpointIo = StoreCommandIo;

const FLAGS = {
  ...ETCD_FLAGS,
  network: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const ENDPOINT_SUBCOMMANDS: SubcommandRules = {
  commands: ['ls', 'inspect'], aliases: { list: 'ls' },
  noArgument: { ls: ' (give the network with --network)' }, needsArgument: { inspect: 'the endpoint\'s id (or the start of it) or its name' },
};

type Parsed = { sub: 'ls' | 'inspect'; target?: string; network?: string; json: boolean; store: StoreOptions };

function parse(argv: string[]): Parsed | 'help' {
  const { values, positionals } = parseCommandArgs('endpoint', argv, FLAGS, true);
  if (values.help === true) return 'help';
  const { command, argument: target } = subcommandOf('endpoint', positionals, ENDPOINT_SUBCOMMANDS);
  const network = values.network as string | undefined;
  if (network !== undefined) checkNetworkNameArgument('--network', network);
  return { sub: command as Parsed['sub'], target, network, json: values.json === true, store: storeOptions(values as EtcdFlags) };
}

/** Run `vxlan-wasm endpoint …`; resolves to the exit code once the etcd client is closed. */
export function endpointCommand(argv: string[], io: EndpointIo = {}): Promise<number> {
  return runStoreCommand('endpoint', argv, io, ENDPOINT_USAGE, parse, run);
}

type Listed = EndpointRecord & { network: string };

/** Every endpoint of the named network, or of every network. */
async function endpointsOf(client: Etcd3, network: string | undefined): Promise<Listed[]> {
  const names = network !== undefined ? [network] : (await listNetworks(client)).map((record) => record.name);
  const inspections = await Promise.all(names.map((name) => inspectNetwork(client, name)));
  return inspections.flatMap((inspection) => inspection.endpoints.map((endpoint) => ({ ...endpoint, network: inspection.network.name })));
}

async function run(client: Etcd3, parsed: Parsed, write: (line: string) => void): Promise<void> {
  const endpoints = await endpointsOf(client, parsed.network);
  if (parsed.sub === 'ls') {
    if (parsed.json) {
      write(JSON.stringify(endpoints));
      return;
    }
    const rows = [['NETWORK', 'NAME', 'ALIASES', 'HOST', 'ADDRESS', 'MAC', 'ENDPOINT'], ...endpoints.map((endpoint) => [
      endpoint.network, endpoint.name || '-', endpoint.aliases.join(',') || '-', endpoint.hostId, addressesText(endpoint), endpoint.mac, endpoint.endpointId.slice(0, 24),
    ])];
    for (const line of table(rows)) write(line);
    return;
  }
  const target = parsed.target!;
  const matches = endpoints.filter((endpoint) => endpoint.endpointId === target || endpoint.name === target || (target.length >= 4 && endpoint.endpointId.startsWith(target)));
  if (matches.length === 0) throw new NetworkError(`no endpoint ${target}${parsed.network === undefined ? '' : ` in network ${parsed.network}`}`, 'NOT_FOUND');
  if (matches.length > 1) throw new NetworkError(`${target} names ${matches.length} endpoints (${matches.map((endpoint) => `${endpoint.endpointId.slice(0, 12)} in ${endpoint.network}`).join(', ')}): give more of the id, or --network`, 'NOT_FOUND');
  const [endpoint] = matches;
  if (parsed.json) {
    write(JSON.stringify(endpoint));
    return;
  }
  for (const [field, value] of Object.entries(endpoint)) write(`${field}: ${Array.isArray(value) ? value.join(', ') || '-' : String(value ?? '-')}`);
}
