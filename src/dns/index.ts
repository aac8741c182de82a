/**
 * The overlay's name server, as a library: a NameTable per network (endpoint → names and
 * addresses) and a NameServer answering for it on the network's DNS address, forwarding the rest
 * to the host's resolvers. The agent and the Docker driver import it from here:
 *
 *   const table = new NameTable();                       // one per network
 *   const server = await NameServer.listen({ address: '10.0.9.1', table, logger });
 *   table.set(endpointId, { names: ['c1', 'web'], ipv4: ['10.0.9.2'] });   // as endpoints appear
 *   table.delete(endpointId);                            // and go (its names stop resolving at once)
 *   await server.close();
 *
 * The address must exist on this host before `listen` (EADDRNOTAVAIL otherwise: DnsError
 * LISTEN_FAILED), and port 53 needs root or CAP_NET_BIND_SERVICE.
 */
export { NameTable, normaliseName, type AddressType, type NameEntry } from './name-table';
export {
  NameServer,
  DEFAULT_FORWARD_TIMEOUT_MS,
  DEFAULT_MAX_PENDING_FORWARDS,
  DEFAULT_TTL_SECONDS,
  type NameServerCounters,
  type NameServerLogger,
  type NameServerOptions,
} from './name-server';
export { DnsError, DnsErrorCode } from './errors';
export { DNS_PORT, defaultUpstreams, parseUpstream, resolvConfNameservers, type Upstream } from './upstreams';
