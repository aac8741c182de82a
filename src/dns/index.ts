/**
 * The overlay's name server, as a library: a NameTable per network (endpoint → names and
 * addresses) and a NameServer answering for it on the network's DNS address, forwarding the rest
 * to the host's resolvers. The agent and the Docker driver import it from here.
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
