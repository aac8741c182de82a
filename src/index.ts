/**
 * vxlan-wasm: VXLAN over UDP over IPv4/IPv6 over Ethernet, encoded and decoded with every
 * checksum by WebAssembly kernels (SIMD where available), with a pure-TS reference twin.
 */
export {
  checksum, onesComplementSum, updateChecksum, encapsulate, encapsulateInto, decapsulate, decapsulateLax, decapsulateSlot, DEFAULT_VXLAN_PORTS,
} from './api';
export { DecodedFrame } from './frame-view';
export { init, ready, useBackend, backendName, backendFallbackReason, defaultBackendName, createKernels } from './backend';
export type { Kernels } from './wasm/abi';
export type { BackendName } from './wasm/abi';
export { DecodeError, DecodeStatus, Layer, statusName } from './errors';
export type { DecodeErrorCode, LayerName } from './errors';
export type {
  VxlanFrame, EthernetHeader, VlanTag, Ipv4Header, Ipv6Header, Ipv6ExtensionHeader, UdpHeader, VxlanHeader,
  GroupPolicy, TunnelOptions, TunnelEndpoint, DecapOptions,
} from './types';
export * from './wire/index';
export * from './pcap/index';
export * from './batch/index';
