/**
 * `vxlan-wasm network create|ls|inspect|rm`: overlay networks kept in etcd (see src/control/keys.ts
 * for the layout). Arguments are checked before connecting (a mistake: one sentence, exit 2);
 * refusals and an unreachable etcd are one sentence and exit 1.
 */
import { endpointText } from './config';
import type { Etcd3 } from 'etcd3';
import { ConfigError } from './config';
import { keys } from '../control/keys';
import { addressesText, subnetsText } from '../control/address-pool';
import { createNetwork, inspectNetwork, listNetworks, parseNetworkSubnets, removeNetwork } from '../control/networks';
import { ETCD_FLAGS, ETCD_FLAGS_HELP, parseCommandArgs, storeOptions, type EtcdFlags } from './options';
import { checkNetworkNameArgument, runStoreCommand, sentence, subcommandOf, table, type StoreCommandIo, type SubcommandRules } from './store-command';
import type { StoreOptions } from '../control/store';

export const NETWORK_USAGE = `usage: vxlan-wasm network create NAME --vni N --subnet CIDR [--subnet CIDR6] [etcd flags]
       vxlan-wasm network ls [--json] [etcd flags]
       vxlan-wasm network inspect NAME [--json] [etcd flags]
       vxlan-wasm network rm NAME [--force] [etcd flags]

Overlay networks shared by many hosts through etcd: create one once, then run
\`vxlan-wasm agent --network NAME\` on every host that joins it.

  create   a network: its VNI (0..16777215) and its subnets (agents take addresses from them):
           an IPv4 subnet (/8../30), an IPv6 subnet (/48../120), or one of each for dual stack;
           refused if the name or the VNI is taken or a subnet overlaps another network's
  ls       every network: name, VNI, subnets, live hosts
  inspect  a network, its live hosts (host id, VTEP, lease and its seconds left) and its endpoints
           (name, aliases, host, addresses, MAC)
  rm       remove a network; refused while hosts are joined, unless --force

${ETCD_FLAGS_HELP}

exit codes: 0 done; 1 refused (exists, not found, in use) or etcd unreachable; 2 a usage error.`;

export type NetworkIo = StoreCommandIo;

const FLAGS = {
  ...ETCD_FLAGS,
  vni: { type: 'string' },
  subnet: { type: 'string', multiple: true },
  json: { type: 'boolean' },
  force: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const NETWORK_SUBCOMMANDS: SubcommandRules = {
  commands: ['create', 'ls', 'inspect', 'rm'], aliases: { list: 'ls', remove: 'rm' },
  noArgument: { ls: '' }, needsArgument: { create: 'the network\'s NAME', inspect: 'the network\'s NAME', rm: 'the network\'s NAME' },
};

type Parsed = { sub: string; name?: string; vni?: number; subnets?: string[]; json: boolean; force: boolean; store: StoreOptions };

function parse(argv: string[]): Parsed | 'help' {
  const { values, positionals } = parseCommandArgs('network', argv, FLAGS, true);
  if (values.help === true) return 'help';
  const { command, argument: name } = subcommandOf('network', positionals, NETWORK_SUBCOMMANDS);
  if (name !== undefined) checkNetworkNameArgument('NAME', name);
  const only = (flag: 'vni' | 'subnet' | 'force' | 'json', commands: string[]) => {
    if (values[flag] !== undefined && !commands.includes(command)) throw new ConfigError(`--${flag}`, `is not a flag of network ${command}.`);
  };
  only('vni', ['create']);
  only('subnet', ['create']);
  only('force', ['rm']);
  only('json', ['ls', 'inspect']);
  let vni: number | undefined;
  let subnets: string[] | undefined;
  if (command === 'create') {
    const vniText = values.vni as string | undefined;
    if (vniText === undefined) throw new ConfigError('--vni', 'is required: the network\'s VXLAN network identifier, 0..16777215.');
    if (!/^[0-9]{1,8}$/.test(vniText) || Number(vniText) > 0xffffff) throw new ConfigError('--vni', `${JSON.stringify(vniText)} is not a VNI (an integer in 0..16777215).`);
    vni = Number(vniText);
    const subnetTexts = (values.subnet as string[] | undefined) ?? [];
    if (subnetTexts.length === 0) throw new ConfigError('--subnet', 'is required: the subnet agents take addresses from, e.g. 10.42.0.0/24, and again for an IPv6 one, e.g. fd00:42::/64.');
    try {
      const parsed = parseNetworkSubnets(subnetTexts);
      subnets = [parsed.v4?.cidr, parsed.v6?.cidr].filter((cidr) => cidr !== undefined);
    } catch (error) {
      throw new ConfigError('--subnet', sentence((error as Error).message));
    }
  }
  return { sub: command, name, vni, subnets, json: values.json === true, force: values.force === true, store: storeOptions(values as EtcdFlags) };
}

/** Run `vxlan-wasm network …`; resolves to the exit code once the etcd client is closed. */
export function networkCommand(argv: string[], io: NetworkIo = {}): Promise<number> {
  return runStoreCommand('network', argv, io, NETWORK_USAGE, parse, run);
}

async function run(client: Etcd3, parsed: Parsed, write: (line: string) => void): Promise<void> {
  switch (parsed.sub) {
    case 'create': {
      const record = await createNetwork(client, { name: parsed.name!, vni: parsed.vni!, subnets: parsed.subnets! });
      const subnets = subnetsText(record);
      write(`network ${record.name} created: VNI ${record.vni}, subnet${subnets.includes(',') ? 's' : ''} ${subnets}`);
      return;
    }
    case 'ls': {
      const networks = await listNetworks(client);
      const counts = await Promise.all(networks.map((network) => client.getAll().prefix(keys.hostsPrefix(network.name)).count()));
      const endpoints = await Promise.all(networks.map((network) => client.getAll().prefix(keys.endpointsPrefix(network.name)).count()));
      if (parsed.json) {
        write(JSON.stringify(networks.map((network, i) => ({ ...network, hosts: counts[i], endpoints: endpoints[i] }))));
        return;
      }
      const rows = [['NAME', 'VNI', 'SUBNET', 'HOSTS', 'ENDPOINTS', 'CREATED'], ...networks.map((network, i) => [network.name, String(network.vni), subnetsText(network), String(counts[i]), String(endpoints[i]), network.created])];
      for (const line of table(rows)) write(line);
      return;
    }
    case 'inspect': {
      const inspection = await inspectNetwork(client, parsed.name!);
      if (parsed.json) {
        write(JSON.stringify(inspection));
        return;
      }
      const { network, hosts, endpoints, invalidKeys } = inspection;
      const subnets = subnetsText(network);
      const gateways = [network.gateway, network.gateway6].filter((ip) => ip !== undefined).join(', ');
      write(`network ${network.name}: VNI ${network.vni}, subnet${subnets.includes(',') ? 's' : ''} ${subnets}, gateway and DNS ${gateways}${network.internal ? ', internal' : ''}, created ${network.created}, ${hosts.length} live host(s), ${endpoints.length} endpoint(s)`);
      if (hosts.length > 0) {
        const rows = [['HOST ID', 'VTEP', 'LEASE', 'TTL LEFT', 'JOINED'], ...hosts.map((host) => [
          host.hostId, endpointText(host.vtep), host.lease, host.ttlSeconds < 0 ? '-' : `${host.ttlSeconds} s`, host.joined,
        ])];
        for (const line of table(rows)) write(`  ${line}`);
      }
      if (endpoints.length > 0) {
        write('  endpoints:');
        const rows = [['NAME', 'ALIASES', 'HOST', 'ADDRESS', 'MAC', 'ENDPOINT'], ...endpoints.map((endpoint) => [
          endpoint.name || '-', endpoint.aliases.join(',') || '-', endpoint.hostId, addressesText(endpoint), endpoint.mac, endpoint.endpointId.slice(0, 24),
        ])];
        for (const line of table(rows)) write(`  ${line}`);
      }
      for (const key of invalidKeys) write(`  (ignored: ${key} does not hold a valid host record)`);
      return;
    }
    case 'rm': {
      const { hostsRemoved } = await removeNetwork(client, parsed.name!, { force: parsed.force });
      write(`network ${parsed.name} removed${hostsRemoved > 0 ? ` (with ${hostsRemoved} host registration(s))` : ''}`);
      return;
    }
    default:
      throw new Error(`unreachable: ${parsed.sub}`);
  }
}
