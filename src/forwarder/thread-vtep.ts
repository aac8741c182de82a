/**
 * A VTEP on this thread, built from plain data: the UDP underlay, one TAP per network, the tunnel
 * TAP when tunnel GSO is on (attached to the underlay, which reads what the kernel hands it), a
 * Forwarder over them, started, and then the ingress redirect that hands VXLAN to the tunnel TAP
 * (last: the TAP must be read before the kernel sends it anything). What it opened is closed
 * again when a later step fails.
 *
 * buildVtep (vtep.ts) builds one of these for `queues: 0`; each queue worker of a
 * MultiQueueForwarder builds its own here too, with its ports opened as queues (`VtepPorts`).
 */
import type { Device, Endpoint, Underlay } from './contracts';
import { Forwarder, type ForwarderOptions } from './forwarder';
import { TapDevice, type TapDeviceOptions } from './device/tap';
import { UdpUnderlay, type UdpUnderlayOptions } from './underlay/udp';
import { TunnelGsoTap, type TunnelGsoOptions } from './underlay/tunnel-gso';
import { IngressRedirect } from './underlay/ingress-redirect';

/** The Forwarder options a VTEP spec carries (the ones that are plain data: a queue worker gets them as such). */
export type VtepForwarderOptions = Pick<ForwarderOptions, 'allowedSources' | 'ageingMs' | 'maxFdbEntries' | 'gbp' | 'remotePort' | 'batchSize'>;

/** One network: its VNI, its TAP (made when missing, removed on close if made), peers and static entries. */
export interface VtepNetwork {
  vni: number;
  tap: Omit<TapDeviceOptions, 'log' | 'multiQueue' | 'poller'>;
  peers?: readonly Endpoint[];
  fdb?: readonly { mac: string; endpoint: Endpoint }[];
}

/** A VTEP on this thread, as plain data. */
export interface ThreadVtepSpec extends VtepForwarderOptions {
  /** The UDP socket to bind (not bound when `ThreadVtepHooks.sharedUnderlay` is given). */
  underlay: Omit<UdpUnderlayOptions, 'onNotice' | 'reusePort' | 'poller'>;
  networks: VtepNetwork[];
  /**
   * Tunnel GSO: TCP super-frames leave whole through this tunnel TAP; `ingress` also has VXLAN for
   * the local address and port handed to it (IngressRedirect) once it is read.
   */
  tunnelGso?: { name: string; localAddress: string; ingress?: boolean };
}

/** How the ports are opened (default: the real ones, each read by a reader thread). */
export interface VtepPorts {
  openUnderlay?: (options: UdpUnderlayOptions) => Underlay | Promise<Underlay>;
  openDevice?: (options: TapDeviceOptions) => Device | Promise<Device>;
  openTunnel?: (options: TunnelGsoOptions) => TunnelGsoTap;
}

export interface ThreadVtepHooks extends VtepPorts {
  /**
   * An underlay already open: used instead of opening one, closed with the VTEP once built, but
   * left open when building fails (it stays its opener's).
   */
  sharedUnderlay?: Underlay;
  /** Told once per kind of trouble worth a warning (the kernel refused GSO, …). */
  onNotice?: (message: string) => void;
  /** What the tunnel TAP and the ingress redirect set up, one line each. */
  log?: (message: string) => void;
  /** Called once the Forwarder is made, before it starts reading: attach 'error' and 'fdb' listeners here. Throwing fails the build. */
  beforeStart?: (vtep: ThreadVtep) => void;
}

/** A VTEP on this thread: its Forwarder and the ports it owns. */
export interface ThreadVtep {
  readonly engine: 'thread';
  readonly forwarder: Forwarder;
  readonly underlay: Underlay;
  /** The TAPs, in the order of `spec.networks`. */
  readonly devices: readonly Device[];
  readonly tunnel?: TunnelGsoTap;
  /** Close everything: the redirect first (VXLAN reaches the socket again), the tunnel TAP last. */
  close(): Promise<void>;
}

/** What a build has opened so far: what a failure closes. */
interface Parts {
  underlay?: Underlay;
  devices: Device[];
  tunnel?: TunnelGsoTap;
  forwarder?: Forwarder;
  redirect?: IngressRedirect;
}

/** Close in order: the redirect, then the forwarder (it closes its devices and underlay) or the loose ports, then the tunnel TAP. */
async function closeParts(parts: Parts, closeUnderlay: boolean): Promise<void> {
  parts.redirect?.remove();
  parts.redirect = undefined;
  if (parts.forwarder !== undefined && closeUnderlay) await parts.forwarder.close();
  else await Promise.all([...parts.devices.map((device) => device.close()), closeUnderlay ? parts.underlay?.close() : undefined]);
  // After the devices: no super-frame is offered to it any more.
  await parts.tunnel?.close();
}

/**
 * Build and start a VTEP on this thread. Rejects, with everything it opened closed again (a
 * shared underlay excepted), when any step fails.
 */
export async function buildThreadVtep(spec: ThreadVtepSpec, hooks: ThreadVtepHooks = {}): Promise<ThreadVtep> {
  const openUnderlay = hooks.openUnderlay ?? ((options) => UdpUnderlay.open(options));
  const openDevice = hooks.openDevice ?? ((options) => TapDevice.open(options));
  const openTunnel = hooks.openTunnel ?? ((options) => TunnelGsoTap.open(options));
  const parts: Parts = { devices: [] };
  const ownsUnderlay = hooks.sharedUnderlay === undefined;
  try {
    const underlay = hooks.sharedUnderlay
      ?? await openUnderlay(hooks.onNotice === undefined ? { ...spec.underlay } : { ...spec.underlay, onNotice: hooks.onNotice });
    parts.underlay = underlay;
    for (const network of spec.networks) parts.devices.push(await openDevice({ ...network.tap }));
    const { tunnelGso } = spec;
    if (tunnelGso !== undefined) {
      parts.tunnel = openTunnel({ name: tunnelGso.name, localAddress: tunnelGso.localAddress, log: hooks.log });
      if (!(underlay instanceof UdpUnderlay)) throw new TypeError('tunnel GSO needs the UDP underlay');
      underlay.attachTunnel(parts.tunnel);
    }
    const { allowedSources, ageingMs, maxFdbEntries, gbp, remotePort, batchSize } = spec;
    const forwarder = new Forwarder({
      allowedSources, ageingMs, maxFdbEntries, gbp, remotePort, batchSize,
      superFrames: parts.tunnel,
      underlay,
      networks: spec.networks.map((network, i) => ({ vni: network.vni, device: parts.devices[i], peers: network.peers, fdb: network.fdb })),
    });
    parts.forwarder = forwarder;
    const vtep: ThreadVtep = {
      engine: 'thread', forwarder, underlay, devices: parts.devices, tunnel: parts.tunnel,
      close: () => closeParts(parts, true),
    };
    hooks.beforeStart?.(vtep);
    forwarder.start();
    if (tunnelGso?.ingress === true) {
      parts.redirect = IngressRedirect.install({ localAddress: tunnelGso.localAddress, port: underlay.localPort, tap: tunnelGso.name, log: hooks.log });
    }
    return vtep;
  } catch (error) {
    await closeParts(parts, ownsUnderlay);
    throw error;
  }
}
