/**
 * A VTEP built from its configuration: the one place that knows the order in which its parts are
 * opened, wired and started, and closes what it opened when a later step fails. `forward`,
 * `agent --network`, the Docker/CNI engine and each queue worker build theirs here.
 *
 * Two engines, one spec (`queues`):
 *
 *   0     this thread: the UDP underlay, one TAP per network, the tunnel TAP when tunnel GSO is on
 *         (attached to the underlay, which reads what the kernel hands it), a Forwarder over them,
 *         started, and then the ingress redirect that hands VXLAN to the tunnel TAP; the redirect
 *         comes last because the TAP must be read before the kernel sends it anything.
 *   1..N  a MultiQueueForwarder: N workers, each of which builds an engine-0 VTEP of its own here
 *         (with queues of the TAPs and SO_REUSEPORT: `VtepPorts`); it installs the redirect itself.
 *
 * The spec is plain data (what a queue worker receives); how ports are opened and who hears about
 * them are `VtepHooks`, so tests and queue workers open their own ports with the same sequence.
 */
import type { Device, Underlay } from './contracts';
import { Forwarder } from './forwarder';
import { TapDevice, type TapDeviceOptions } from './device/tap';
import { UdpUnderlay, type UdpUnderlayOptions } from './underlay/udp';
import { TunnelGsoTap, type TunnelGsoOptions } from './underlay/tunnel-gso';
import { IngressRedirect } from './underlay/ingress-redirect';
import { MultiQueueForwarder, type MultiQueueForwarderOptions } from './multi-queue/multi-queue-forwarder';
import type { QueueForwarderOptions, QueueNetworkOptions } from './multi-queue/messages';

/** What a VTEP is: plain data, the same for both engines. */
export interface VtepSpec extends QueueForwarderOptions {
  /** 0: one Forwarder on this thread; 1..MAX_QUEUES: a MultiQueueForwarder with that many workers. */
  queues: number;
  /** The UDP socket to bind (ignored on this thread when `VtepHooks.sharedUnderlay` is given). */
  underlay: MultiQueueForwarderOptions['underlay'];
  /** The networks, each with its TAP (made when missing, removed on close if made). */
  networks: QueueNetworkOptions[];
  /**
   * Tunnel GSO: TCP super-frames leave whole through this tunnel TAP; `ingress` also has VXLAN for
   * the local address and port handed to it (IngressRedirect) once it is read.
   */
  tunnelGso?: { name: string; localAddress: string; ingress?: boolean };
  /** Queue workers only: how often each sends its counters (default 500 ms). */
  countersIntervalMs?: number;
}

/** How the ports of an engine-0 VTEP are opened (default: the real ones, read by reader threads). */
export interface VtepPorts {
  openUnderlay?: (options: UdpUnderlayOptions) => Underlay | Promise<Underlay>;
  openDevice?: (options: TapDeviceOptions) => Device | Promise<Device>;
  openTunnel?: (options: TunnelGsoOptions) => TunnelGsoTap;
}

export interface VtepHooks extends VtepPorts {
  /**
   * An underlay already open (engine 0 only): used instead of opening one, closed with the VTEP
   * once built, but left open when building fails (it stays its opener's).
   */
  sharedUnderlay?: Underlay;
  /** Told once per kind of trouble worth a warning (the kernel refused GSO, …), per queue. */
  onNotice?: (message: string) => void;
  /** Engine 0: what the tunnel TAP and the ingress redirect set up, one line each. */
  log?: (message: string) => void;
  /**
   * Called with the VTEP once it is made: engine 0 before its Forwarder starts reading (attach
   * 'error' and 'fdb' listeners here), engine N once its workers run. Throwing fails the build.
   */
  beforeStart?: (vtep: Vtep) => void;
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

/** A VTEP on queue workers (the MultiQueueForwarder owns its TAPs, sockets and redirect). */
export interface QueuesVtep {
  readonly engine: 'queues';
  readonly forwarder: MultiQueueForwarder;
  close(): Promise<void>;
}

export type Vtep = ThreadVtep | QueuesVtep;

/**
 * Build and start a VTEP. Rejects, with everything it opened closed again (a shared underlay
 * excepted), when any step fails.
 */
export async function buildVtep(spec: VtepSpec, hooks: VtepHooks = {}): Promise<Vtep> {
  return spec.queues === 0 ? buildOnThread(spec, hooks) : buildOnQueues(spec, hooks);
}

async function buildOnQueues(spec: VtepSpec, hooks: VtepHooks): Promise<QueuesVtep> {
  if (hooks.sharedUnderlay !== undefined) throw new TypeError('queue workers bind their own sockets: a shared underlay needs queues 0');
  const { queues, underlay, networks, countersIntervalMs, tunnelGso, ...forwarder } = spec;
  // Only plain data reaches the workers (structured clone): the forwarder options, no hooks.
  const options: MultiQueueForwarderOptions = { ...forwarder, queues, underlay, networks, tunnelGso, onNotice: hooks.onNotice };
  if (countersIntervalMs !== undefined) options.countersIntervalMs = countersIntervalMs;
  const opened = await MultiQueueForwarder.open(options);
  const vtep: QueuesVtep = { engine: 'queues', forwarder: opened, close: () => opened.close() };
  try {
    hooks.beforeStart?.(vtep);
  } catch (error) {
    await opened.close();
    throw error;
  }
  return vtep;
}

/** What an engine-0 build has opened so far: what a failure closes. */
interface ThreadParts {
  underlay?: Underlay;
  devices: Device[];
  tunnel?: TunnelGsoTap;
  forwarder?: Forwarder;
  redirect?: IngressRedirect;
}

/** Close in order: the redirect, then the forwarder (it closes its devices and underlay) or the loose ports, then the tunnel TAP. */
async function closeParts(parts: ThreadParts, closeUnderlay: boolean): Promise<void> {
  parts.redirect?.remove();
  parts.redirect = undefined;
  if (parts.forwarder !== undefined && closeUnderlay) await parts.forwarder.close();
  else await Promise.all([...parts.devices.map((device) => device.close()), closeUnderlay ? parts.underlay?.close() : undefined]);
  // After the devices: no super-frame is offered to it any more.
  await parts.tunnel?.close();
}

async function buildOnThread(spec: VtepSpec, hooks: VtepHooks): Promise<ThreadVtep> {
  const openUnderlay = hooks.openUnderlay ?? ((options) => UdpUnderlay.open(options));
  const openDevice = hooks.openDevice ?? ((options) => TapDevice.open(options));
  const openTunnel = hooks.openTunnel ?? ((options) => TunnelGsoTap.open(options));
  const parts: ThreadParts = { devices: [] };
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
