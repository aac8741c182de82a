// The two-host topologies the forwarder's namespace tests share, so each suite states only what
// it checks: hosts A and B joined by a veth carrying the underlay (IPv4 or IPv6), B with the
// kernel's own `vxlan` device or a second forwarder, A with a forwarder whose TAP has the
// overlay address 10.42.0.1/24 (B's side 10.42.0.2/24).
//
//   const { a, b, forwarder } = await forwarderAndKernel(lab, UNDERLAYS[1], { offloads: false });
import * as assert from 'uvu/assert';
import type { Lab, PingResult } from '../../helpers/netns';
import { startForwarder, type ForwarderProcess, type RunnerConfig } from './forwarder-process';

export const VNI = 42;
/** The forwarders' TAP name (names are per namespace, so every host may use it). */
export const TAP = 'vxtap0';
/** The MAC of B's kernel vx0, so a test can look for it in the forwarder's FDB. */
export const KERNEL_MAC = '02:42:0a:2a:00:02';
/** Overlay addresses of A and B (both /24). */
export const OVERLAY = { a: '10.42.0.1', b: '10.42.0.2' } as const;

export interface UnderlayPlan {
  family: 4 | 6;
  /** A's and B's underlay addresses, and the prefix length of the veth's subnet. */
  a: string;
  b: string;
  prefix: number;
  /** The overlay MTU: 1500 less VXLAN's overhead for the family (50 or 70 bytes). */
  mtu: number;
}

export const UNDERLAYS: readonly [UnderlayPlan, UnderlayPlan] = [
  { family: 4, a: '192.168.77.1', b: '192.168.77.2', prefix: 24, mtu: 1450 },
  { family: 6, a: 'fd77::1', b: 'fd77::2', prefix: 64, mtu: 1430 },
];
export const IPV4 = UNDERLAYS[0];

/** Forwarder options beyond the topology's own (offloads, batch size, allowed sources…). */
export type ForwarderOptions = Partial<Omit<RunnerConfig, 'tap' | 'mtu' | 'vni' | 'local' | 'peers'>>;

/**
 * Namespaces A and B joined by a veth with the underlay's addresses. The veth keeps Linux's
 * default transmit offloads (a kernel VTEP's super-packets cross it whole, its inner checksums
 * partial); `checksumOffload` false turns them off, for a case about that switch (see VethOptions).
 */
export function twoHosts(lab: Lab, underlay: UnderlayPlan = IPV4, checksumOffload = true): { a: string; b: string } {
  const a = lab.namespace('a');
  const b = lab.namespace('b');
  lab.veth(a, b, { a: [`${underlay.a}/${underlay.prefix}`], b: [`${underlay.b}/${underlay.prefix}`], checksumOffload });
  return { a, b };
}

/** twoHosts with the kernel's vx0 in B (KERNEL_MAC, OVERLAY.b) whose one remote is A. */
export function kernelInB(lab: Lab, underlay: UnderlayPlan = IPV4, checksumOffload = true): { a: string; b: string } {
  const hosts = twoHosts(lab, underlay, checksumOffload);
  lab.kernelVxlan(hosts.b, { vni: VNI, local: underlay.b, remote: underlay.a, mac: KERNEL_MAC, address: `${OVERLAY.b}/24`, mtu: underlay.mtu });
  return hosts;
}

/** A forwarder in `ns` at `local` with `peers`, its TAP addressed with `overlay`/24 once it is up. */
export async function forwarderIn(
  lab: Lab, ns: string, local: string, peers: readonly string[], overlay: string, mtu: number, options: ForwarderOptions = {},
): Promise<ForwarderProcess> {
  const forwarder = await startForwarder(lab, ns, { ...options, tap: TAP, mtu, vni: VNI, local, peers: [...peers] });
  lab.addresses(ns, TAP, [`${overlay}/24`]);
  return forwarder;
}

/** A with a forwarder, B with the kernel's vx0. */
export async function forwarderAndKernel(
  lab: Lab, underlay: UnderlayPlan = IPV4, options: ForwarderOptions = {},
): Promise<{ a: string; b: string; forwarder: ForwarderProcess }> {
  const { a, b } = kernelInB(lab, underlay);
  const forwarder = await forwarderIn(lab, a, underlay.a, [underlay.b], OVERLAY.a, underlay.mtu, options);
  return { a, b, forwarder };
}

/** A and B each with a forwarder whose one peer is the other. */
export async function twoForwarders(
  lab: Lab, underlay: UnderlayPlan = IPV4, options: ForwarderOptions = {},
): Promise<{ a: string; b: string; fa: ForwarderProcess; fb: ForwarderProcess }> {
  const { a, b } = twoHosts(lab, underlay);
  const [fa, fb] = await Promise.all([
    forwarderIn(lab, a, underlay.a, [underlay.b], OVERLAY.a, underlay.mtu, options),
    forwarderIn(lab, b, underlay.b, [underlay.a], OVERLAY.b, underlay.mtu, options),
  ]);
  return { a, b, fa, fb };
}

/** Print a ping's replies and RTTs, and assert that every echo was answered. */
export function expectPing(result: PingResult, what: string): void {
  console.log(`  ${what}: ${result.received}/${result.transmitted} replies, rtt min/avg/max ${result.min}/${result.avg}/${result.max} ms`);
  assert.ok(result.transmitted > 0 && result.received === result.transmitted, `${what}: every echo answered\n${result.output}`);
}
