/**
 * vxlan-wasm/control: the etcd control plane as a library, for a program that embeds the forwarder
 * and runs its own agent (what `vxlan-wasm agent` does). Needs the optional peer `etcd3`.
 *
 *   Agent      one network, one endpoint per host (the host's TAP): `agent --network`
 *   HostAgent  one lease, many networks, many endpoints per host: what the Docker and CNI adapters use
 *
 * Both program anything with the forwarder's runtime methods (ForwarderControl): a Forwarder, a
 * MultiQueueForwarder, or a fake.
 */
export { Agent, AgentError } from './agent';
export type { AgentOptions, AgentStatus, AgentLogger, AgentEvents } from './agent';
export { HostAgent, HostAgentError } from './host-agent';
export type { HostAgentOptions, HostAgentEvents, JoinOptions } from './host-agent';
export { Reconciler } from './reconcile';
export type { ForwarderControl, ResyncResult, ApplyResult } from './reconcile';
export { createNetwork, listNetworks, getNetwork, findNetworkBySubnet, inspectNetwork, removeNetwork, NetworkError } from './networks';
export type { CreateNetworkInput } from './networks';
export { connect, isUnavailable, unreachableSentence } from './store';
export type { StoreOptions } from './store';
export type { NetworkRecord, HostRecord, EndpointRecord, ServedRecord } from './keys';
export { LAYOUT_VERSION } from './keys';
