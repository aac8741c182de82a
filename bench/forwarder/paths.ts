// The pairs of hosts bench/forwarder.ts measures: which VTEP runs on each host, with which
// `vxlan-wasm forward` flags, and what each veth keeps. Every veth keeps Linux's default offloads
// (what users get) except in the rows that are about that switch: kernelOff (the kernel pair with
// tx checksum offload off on both ends, a reference) and the forwarder ↔ kernel rows with
// `peerTxOff` (the kernel's veth with tx off, so its packets arrive cut and with full checksums).

/** The main table's paths: the kernel reference, the defaults, and the same forwarders with one flag. */
export type PathId = 'kernel' | 'kernelOff' | 'fk' | 'ff' | 'fkNoTunnelGso' | 'ffNoTunnelGso' | 'fkQueues0' | 'ffQueues0';

/** The ablation's extra forwarder ↔ kernel pairs: each differs from its `base` row in one thing. */
export type AblationId = 'fkQueues2' | 'fkPeerTxOff' | 'fkPeerTxOffNoIngress' | 'fkNoTap' | 'fkNoGso' | 'fkNoGro' | 'fkAllOff' | 'fkNoTunnelGsoVethGro';

export type ForwarderPathId = Exclude<PathId, 'kernel' | 'kernelOff'> | AblationId;

export interface ForwarderPath {
  id: ForwarderPathId;
  /** `vxlan-wasm forward` flags on A (and on B when `peerForwarder`); none: the defaults. */
  flags: readonly string[];
  label: string;
  /** B runs a forwarder with the same flags, not the kernel's vxlan. */
  peerForwarder?: true;
  /** B's veth has tx checksum offload off (`ethtool -K veth0 tx off`): the one switch this row is about. */
  peerTxOff?: true;
  /** GRO on A's veth (the forwarder's underlay device), as a NIC has it; a veth's is off. */
  vethGro?: true;
  /** The row this one differs from in one thing (the ablation's "vs its base"). */
  base?: ForwarderPathId;
}

/** Forwarder rows of the main table: the defaults (no flags) and the two flags a user may reach for. */
export const MAIN_PATHS: readonly ForwarderPath[] = [
  { id: 'fk', flags: [], label: 'defaults (no flags)' },
  { id: 'ff', flags: [], label: 'defaults (no flags)', peerForwarder: true },
  { id: 'fkNoTunnelGso', flags: ['--no-tunnel-gso'], label: '`--no-tunnel-gso` (what kernels before 6.17 get)', base: 'fk' },
  { id: 'ffNoTunnelGso', flags: ['--no-tunnel-gso'], label: '`--no-tunnel-gso` (what kernels before 6.17 get)', peerForwarder: true, base: 'ff' },
  { id: 'fkQueues0', flags: ['--queues', '0'], label: '`--queues 0` (the old default: main thread, reader threads)', base: 'fk' },
  { id: 'ffQueues0', flags: ['--queues', '0'], label: '`--queues 0` (the old default: main thread, reader threads)', peerForwarder: true, base: 'ff' },
];

/**
 * The ablation (issue 10, redone for issue 19's defaults): forwarder ↔ kernel vxlan with one thing
 * changed from a base row. Tunnel GSO carries TCP whole past the socket, so the socket path's
 * techniques (TAP offloads, UDP GSO, UDP GRO, the veth's GRO) are measured against
 * `--no-tunnel-gso`, where they are what carries the traffic; the engine and the peer's offload
 * against the defaults. Batched syscalls (recvmmsg, sendmmsg) have no switch: every row has them.
 * Before issue 19 the defaults were the main thread and the socket path; its rows `--tunnel-gso
 * --queues 1` (with the peer's offloads on) are now `fk` and `ff`, and were dropped as duplicates.
 */
export const ABLATION: readonly ForwarderPath[] = [
  { id: 'fkQueues2', flags: ['--queues', '2'], label: 'two queue workers, each with a TAP queue and a socket', base: 'fk' },
  { id: 'fkPeerTxOff', flags: [], label: "the kernel vxlan's veth with tx checksum offload off (its packets arrive cut, checksums full)", peerTxOff: true, base: 'fk' },
  { id: 'fkPeerTxOffNoIngress', flags: ['--no-tunnel-ingress'], label: "the same, VXLAN in through the socket (`--no-tunnel-ingress`: GSO out only)", peerTxOff: true, base: 'fkPeerTxOff' },
  { id: 'fkNoTap', flags: ['--no-tunnel-gso', '--no-tap-offloads'], label: 'socket path, TAP offloads off (no TSO split, no GRO merge)', base: 'fkNoTunnelGso' },
  { id: 'fkNoGso', flags: ['--no-tunnel-gso', '--no-gso'], label: 'socket path, UDP GSO off', base: 'fkNoTunnelGso' },
  { id: 'fkNoGro', flags: ['--no-tunnel-gso', '--no-gro'], label: 'socket path, UDP GRO off', base: 'fkNoTunnelGso' },
  { id: 'fkAllOff', flags: ['--no-tunnel-gso', '--no-tap-offloads', '--no-gso', '--no-gro'], label: 'socket path, TAP offloads, UDP GSO and GRO all off (batched syscalls only)', base: 'fkNoTunnelGso' },
  { id: 'fkNoTunnelGsoVethGro', flags: ['--no-tunnel-gso'], label: "socket path, GRO on the forwarder's veth (as a NIC has it)", vethGro: true, base: 'fkNoTunnelGso' },
];

export const FORWARDER_PATHS: readonly ForwarderPath[] = [...MAIN_PATHS, ...ABLATION];

export const forwarderPath = (id: string): ForwarderPath | undefined => FORWARDER_PATHS.find((path) => path.id === id);

/** A path's name in a chart or a table (direction-free). */
export const PATH_NAME: Record<PathId, string> = {
  kernel: 'kernel ↔ kernel',
  kernelOff: 'kernel ↔ kernel, veth tx offload off',
  fk: 'forwarder ↔ kernel, defaults',
  ff: 'forwarder ↔ forwarder, defaults',
  fkNoTunnelGso: 'forwarder ↔ kernel, --no-tunnel-gso',
  ffNoTunnelGso: 'forwarder ↔ forwarder, --no-tunnel-gso',
  fkQueues0: 'forwarder ↔ kernel, --queues 0',
  ffQueues0: 'forwarder ↔ forwarder, --queues 0',
};

/** The paths of the main table, in its order. */
export const MAIN_PATH_IDS: readonly PathId[] = ['kernel', 'kernelOff', 'fk', 'ff', 'fkNoTunnelGso', 'ffNoTunnelGso', 'fkQueues0', 'ffQueues0'];

/** The paths whose round trips are measured with sockperf (idle and under load). */
export const LATENCY_PATH_IDS: readonly PathId[] = ['kernel', 'fk', 'fkNoTunnelGso', 'fkQueues0', 'ff', 'ffNoTunnelGso'];

/** The paths measured with parallel flows: the engines side by side. */
export const PARALLEL_PATH_IDS = ['kernel', 'fk', 'fkQueues0', 'fkQueues2'] as const;
export type ParallelPathId = (typeof PARALLEL_PATH_IDS)[number];
