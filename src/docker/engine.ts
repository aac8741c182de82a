/**
 * The one forwarding engine behind every network of a Docker host, made when the FIRST network
 * comes: a Forwarder (and each queue worker's) sizes its slots for the devices it is made with,
 * and a TAP with offloads hands it 64 KiB super-frames, which slots sized before any network
 * (1536 bytes) would not hold. Every TAP here is alike, so the first sizes them for all.
 *
 *   queues ≥ 1 (the default, 1: what `vxlan-wasm forward` runs): a MultiQueueForwarder, whose
 *              queue workers open the TAPs and the UDP socket themselves (run to completion)
 *   queues 0   a Forwarder on the main thread over an underlay opened at start
 *
 * Until the first network the control plane has nothing to program (no VNI is served), so the
 * runtime methods are only called after it.
 */
import type { Endpoint, Underlay } from '../forwarder/contracts';
import { TapDevice } from '../forwarder/device/tap';
import type { Forwarder } from '../forwarder/forwarder';
import { MultiQueueForwarder } from '../forwarder/multi-queue/multi-queue-forwarder';
import { buildVtep } from '../forwarder/vtep';
import type { ForwarderControl } from '../control/reconcile';
import type { ServingForwarder } from './local-network';

export type MadeEngine = Forwarder | MultiQueueForwarder;

export interface EngineOptions {
  queues: number;
  /**
   * queues ≥ 1: TCP super-frames sent whole through a tunnel TAP (and VXLAN taken in whole, when
   * `ingress`), as `forward` does by default where the host allows it (see probeTunnelGso).
   */
  tunnelGso?: { name: string; ingress: boolean };
  /** queues 0: the underlay, opened by the caller at start. */
  underlay?: Underlay;
  /** queues ≥ 1: where the queue workers bind. */
  local: { address: string; port: number; maxDatagramLength: number };
  /** Told once the engine exists (metrics, broken-port handling). */
  onCreate: (engine: MadeEngine) => void;
  onNotice?: (message: string) => void;
}

export class LazyEngine implements ServingForwarder, ForwarderControl {
  private engine: MadeEngine | undefined;
  private making: Promise<MadeEngine> | undefined;

  constructor(private readonly options: EngineOptions) {}

  get made(): MadeEngine | undefined {
    return this.engine;
  }

  private now(): MadeEngine {
    if (this.engine === undefined) throw new RangeError('no network is served yet');
    return this.engine;
  }

  async serveNetwork(vni: number, tap: { name: string; mtu: number }): Promise<void> {
    if (this.engine === undefined && this.making === undefined) {
      this.making = this.make(vni, tap);
      try {
        this.engine = await this.making;
        this.options.onCreate(this.engine);
      } finally {
        this.making = undefined;
      }
      return;
    }
    const engine = this.engine ?? (await this.making!);
    if (engine instanceof MultiQueueForwarder) await engine.addNetwork({ vni, tap: { ...tap, create: true } });
    else {
      const device = TapDevice.open({ ...tap, create: true });
      try {
        engine.addNetwork({ vni, device });
      } catch (error) {
        await device.close();
        throw error;
      }
    }
  }

  private async make(vni: number, tap: { name: string; mtu: number }): Promise<MadeEngine> {
    const { queues, local, underlay, tunnelGso } = this.options;
    if (queues === 0 && underlay === undefined) throw new TypeError('queues 0 needs the underlay');
    const vtep = await buildVtep({
      queues, underlay: local, networks: [{ vni, tap: { ...tap, create: true } }], remotePort: local.port,
      tunnelGso: queues >= 1 && tunnelGso !== undefined ? { name: tunnelGso.name, localAddress: local.address, ingress: tunnelGso.ingress } : undefined,
    }, { sharedUnderlay: queues === 0 ? underlay : undefined, onNotice: this.options.onNotice });
    return vtep.forwarder;
  }

  removeNetwork(vni: number): Promise<void> {
    return this.now().removeNetwork(vni);
  }

  addPeer(vni: number, endpoint: Endpoint): void {
    this.now().addPeer(vni, endpoint);
  }

  removePeer(vni: number, endpoint: Endpoint): boolean {
    return this.now().removePeer(vni, endpoint);
  }

  addFdbEntry(vni: number, mac: string, endpoint: Endpoint): void {
    this.now().addFdbEntry(vni, mac, endpoint);
  }

  removeFdbEntry(vni: number, mac: string): boolean {
    return this.now().removeFdbEntry(vni, mac);
  }

  addNeighbour(vni: number, ip: string, mac: string): void {
    this.now().addNeighbour(vni, ip, mac);
  }

  removeNeighbour(vni: number, ip: string): boolean {
    return this.now().removeNeighbour(vni, ip);
  }

  /** The engine (with its TAPs and sockets), or the start's underlay alone if no network ever came. */
  async close(): Promise<void> {
    const engine = this.engine ?? (await this.making?.catch(() => undefined));
    if (engine !== undefined) await engine.close();
    else await this.options.underlay?.close();
  }
}
