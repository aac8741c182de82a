/**
 * vxlan-wasm/forwarder: the userspace VTEP as a library. A Forwarder switches frames between the
 * devices of this host (a Linux TAP, the in-process UserspaceHost, or your own Device) and the
 * other hosts' VTEPs over an Underlay (a UDP socket), like the Linux `vxlan` device.
 *
 * A separate entry point from the codec ('vxlan-wasm'), because it needs Node (worker threads,
 * koffi for the TAP and socket syscalls) while the codec also runs in browsers.
 */
export { Forwarder, DROP_REASONS } from './forwarder';
export type {
  ForwarderOptions, NetworkOptions, ForwarderCounters, NetworkCounters, DirectionCounters, DropReason, ForwarderEvents, SuperFrameSink,
} from './forwarder';
export { VXLAN_HEADER_LEN, datagramStart, datagramLength } from './contracts';
export type { Device, Underlay, UnderlayEvents, UnderlayCounters, DeviceEvents, PortEvents, Endpoint, SuperFrame, SuperFrameWrite } from './contracts';
export { Fdb, DEFAULT_AGEING_MS, DEFAULT_MAX_ENTRIES, macKey, macKeyAt, macText } from './fdb';
export type { FdbEvent, FdbEntrySnapshot, FdbOptions, LearnResult } from './fdb';
export { AddressSet, parseCidr, canonicalIp } from './address-set';
export { NeighbourTable } from './neighbours';
export type { NeighbourCounters } from './neighbours';
export { TapDevice } from './device/tap';
export type { TapDeviceOptions, TapCounters, TapError } from './device/tap';
export { UserspaceHost } from './device/userspace-host';
export type {
  UserspaceHostOptions, UserspaceHostCounters, PingOptions, PingResult, UdpStreamOptions, UdpStreamResult, UdpPortStats,
} from './device/userspace-host';
export { MemoryDevice, connectDevices } from './device/memory-device';
export type { MemoryDeviceOptions, MemoryDeviceCounters, Wire, WireOptions, WireCounters } from './device/memory-device';
export { UdpUnderlay } from './underlay/udp';
export type { UdpUnderlayOptions } from './underlay/udp';
export { TunnelGsoTap } from './underlay/tunnel-gso';
export type { TunnelGsoOptions, TunnelGsoCounters } from './underlay/tunnel-gso';
export { IngressRedirect } from './underlay/ingress-redirect';
export type { IngressRedirectOptions } from './underlay/ingress-redirect';
export { MultiQueueForwarder, MAX_QUEUES, DEFAULT_BUSY_POLL_US, MAX_BUSY_POLL_US, DEFAULT_IDLE_WAKE_MS, MAX_IDLE_WAKE_MS } from './multi-queue/multi-queue-forwarder';
export type {
  MultiQueueForwarderOptions, MultiQueueForwarderEvents, QueueDeviceInfo, QueueNetworkOptions, QueueForwarderOptions,
} from './multi-queue/multi-queue-forwarder';
export { buildVtep, buildThreadVtep } from './vtep';
export { optimizeEarly, EARLY_INTERRUPT_BUDGET } from './io/early-optimization';
export type {
  VtepSpec, VtepHooks, VtepPorts, Vtep, ThreadVtep, QueuesVtep, ThreadVtepSpec, ThreadVtepHooks, VtepNetwork, VtepForwarderOptions,
} from './vtep';
export { probeTunnelGso, kernelTakesTunnelGso } from './underlay/tunnel-gso-probe';
export type { TunnelGsoDecision, TunnelGsoProbeOptions } from './underlay/tunnel-gso-probe';
