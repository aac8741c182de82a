/**
 * One overlay network as it exists on this host: a Linux bridge with the network's gateway/DNS
 * address on it, the forwarder's TAP in the bridge (its VNI served by the one shared Forwarder),
 * and a NameServer on the gateway address answering the network's names.
 *
 *   container ─veth─┐
 *   container ─veth─┼─ bridge vwbVNI (10.0.9.1/24 and/or fd00:9::1/64, the name server) ─ TAP vwtVNI ─ Forwarder ─ UDP ─ other hosts
 *
 * Containers on this host reach each other through the bridge alone, at Linux bridge speed,
 * never through the underlay. The gateway address is the same on every host, and the forwarder's
 * neighbour table maps it to THIS host's bridge MAC, so a container's ARP for its name server is
 * answered here and never crosses the underlay; nor do its DNS queries. A dual-stack network has
 * both gateways on the bridge, and a name server on each (one table: A and AAAA from the same
 * records).
 *
 * Opening undoes its own steps when a later one fails; close() removes all of it.
 */
import type { NetworkRecord, EndpointRecord } from '../control/keys';
import { poolsOf } from '../control/address-pool';
import { NameTable, NameServer, type NameServerCounters, type NameServerLogger } from '../dns/index';
import { linkNames, type Links } from './links';

/** What a local network needs of the engine (engine.ts): serve a VNI on a TAP it makes, and stop. */
export interface ServingForwarder {
  serveNetwork(vni: number, tap: { name: string; mtu: number }): Promise<void>;
  removeNetwork(vni: number): Promise<void>;
  addNeighbour(vni: number, ip: string, mac: string): void;
}

export interface LocalNetwork {
  readonly network: NetworkRecord;
  readonly bridge: string;
  /** The name server's table: an endpoint's names and address (undefined: gone). */
  setEndpoint(endpointId: string, record: EndpointRecord | undefined): void;
  /** What the network's name server answered, forwarded, refused (for the agent's metrics). */
  dnsCounters(): NameServerCounters;
  close(): Promise<void>;
}

export type OpenLocalNetwork = (network: NetworkRecord) => Promise<LocalNetwork>;

export interface LocalNetworkOptions {
  forwarder: ServingForwarder;
  links: Links;
  /** The MTU of the TAP, the bridge and every veth (the underlay's less VXLAN's overhead). */
  mtu: number;
  /** Where names the network does not hold are forwarded (default: the host's resolv.conf). */
  upstreams?: string[];
  /** DNS port (default 53; tests use another). */
  dnsPort?: number;
  logger?: NameServerLogger & { error(object: object, message: string): void };
  /** Where every network opened is kept while open (the agent's metrics read them). */
  opened?: Set<LocalNetwork>;
}

/** An endpoint's names for the table: its name and aliases, those that are DNS names. */
function names(record: EndpointRecord): string[] {
  return [record.name, ...record.aliases].filter((name) => name !== '');
}

function sumCounters(all: NameServerCounters[]): NameServerCounters {
  const sum: NameServerCounters = { answered: 0, forwarded: 0, refused: 0, failed: 0, malformed: 0 };
  for (const counters of all) for (const key of Object.keys(sum) as (keyof NameServerCounters)[]) sum[key] += counters[key];
  return sum;
}

export function localNetworkOpener(options: LocalNetworkOptions): OpenLocalNetwork {
  return async (network) => {
    const { links, forwarder, mtu } = options;
    const pools = poolsOf(network);
    const bridge = linkNames.bridge(network.vni);
    const tap = linkNames.tap(network.vni);
    const undo: (() => Promise<void> | void)[] = [];
    try {
      const bridgeMac = links.createBridge(bridge, { mtu, addresses: pools.map((pool) => `${pool.gateway}/${pool.prefixLength}`) });
      undo.push(() => links.remove(bridge));
      await forwarder.serveNetwork(network.vni, { name: tap, mtu });
      undo.push(() => forwarder.removeNetwork(network.vni));
      links.attach(tap, bridge);
      for (const pool of pools) forwarder.addNeighbour(network.vni, pool.gateway, bridgeMac);
      const table = new NameTable();
      // One name server per gateway address (IPv4 and/or IPv6), all on one table.
      const servers: NameServer[] = [];
      for (const pool of pools) {
        const server = await NameServer.listen({ address: pool.gateway, port: options.dnsPort, table, upstreams: options.upstreams, logger: options.logger });
        servers.push(server);
        undo.push(() => server.close());
      }
      const local: LocalNetwork = {
        network,
        bridge,
        setEndpoint(endpointId, record) {
          if (record === undefined || names(record).length === 0) {
            table.delete(endpointId);
            return;
          }
          try {
            table.set(endpointId, { names: names(record), ipv4: record.ipv4 === undefined ? [] : [record.ipv4], ipv6: record.ipv6 === undefined ? [] : [record.ipv6] });
          } catch (error) {
            options.logger?.warn({ endpointId, err: (error as Error).message }, 'an endpoint whose names the name server refused');
          }
        },
        dnsCounters: () => sumCounters(servers.map((server) => server.counters())),
        async close() {
          options.opened?.delete(local);
          for (const step of undo.reverse()) await step();
          undo.length = 0;
        },
      };
      options.opened?.add(local);
      return local;
    } catch (error) {
      for (const step of undo.reverse()) {
        try {
          await step();
        } catch {
          // Undoing what failed halfway: the first error is the one to report.
        }
      }
      throw error;
    }
  };
}
