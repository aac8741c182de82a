/**
 * Encapsulator: the outer headers for one or more tunnels (peers), built once, applied to a
 * whole PacketBatch in one kernel call. Slot i goes to the tunnel its `peer` names, so one batch
 * can carry frames to many peers (head-end replication: PacketBatch.replicate).
 */
import type { TunnelOptions } from '../types';
import type { Kernels } from '../wasm/abi';
import { BATCH_INVALID, TEMPLATE_HEADER_LEN, TEMPLATE_LEN, TEMPLATE_NEXT_ID } from '../wasm/abi';
import { kernelsOption, reserveMemory } from '../backend';
import { buildTunnelTemplate, type UdpChecksumMode } from './template';
import { PacketBatch } from './packet-batch';
import { checkInteger } from '../wire/fields';

export interface EncapsulatorOptions {
  /** Overrides each tunnel's `udpChecksum`: 'full', 'zero' (IPv4 only) or 'offload'. */
  udpChecksumMode?: UdpChecksumMode;
  /** The kernels the batches live in; default the object API's active backend (as PacketBatch). */
  kernels?: Kernels;
}

export class Encapsulator {
  readonly kernels: Kernels;
  /** Number of tunnels: valid peer indices are 0..peerCount-1. */
  readonly peerCount: number;
  /** Pointer to the templates in the kernels' memory (TEMPLATE_LEN bytes each). */
  readonly templatesPtr: number;
  private readonly udpChecksumMode: UdpChecksumMode | undefined;

  constructor(tunnels: TunnelOptions | readonly TunnelOptions[], options: EncapsulatorOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    const list: readonly TunnelOptions[] = Array.isArray(tunnels) ? tunnels : [tunnels as TunnelOptions];
    if (list.length === 0) throw new RangeError('at least one tunnel is needed');
    this.udpChecksumMode = options.udpChecksumMode;
    // Build every template before reserving memory, so bad options reserve nothing.
    const templates = list.map((tunnel, peer) => {
      try {
        return buildTunnelTemplate(tunnel, this.udpChecksumMode);
      } catch (error) {
        if (list.length === 1) throw error;
        const Type = error instanceof TypeError ? TypeError : RangeError;
        throw new Type(`tunnel ${peer}: ${(error as Error).message}`);
      }
    });
    this.kernels = kernelsOption(options.kernels);
    this.peerCount = list.length;
    this.templatesPtr = reserveMemory(this.kernels, this.peerCount * TEMPLATE_LEN, `an Encapsulator of ${this.peerCount} tunnels (${TEMPLATE_LEN} bytes each)`);
    templates.forEach((template, peer) => this.kernels.bytes.set(template.bytes, this.templatesPtr + peer * TEMPLATE_LEN));
  }

  private checkPeer(peer: number): number {
    if (!(Number.isInteger(peer) && peer >= 0 && peer < this.peerCount)) {
      throw new RangeError(`peer must be an integer in 0..${this.peerCount - 1}, got ${String(peer)}`);
    }
    return this.templatesPtr + peer * TEMPLATE_LEN;
  }

  private descriptor(peer: number): DataView {
    const bytes = this.kernels.bytes;
    return new DataView(bytes.buffer, bytes.byteOffset + this.checkPeer(peer), TEMPLATE_LEN);
  }

  /** Replace tunnel `peer` (its IPv4 identification counter restarts at 0). */
  setTunnel(peer: number, tunnel: TunnelOptions): void {
    const at = this.checkPeer(peer);
    this.kernels.bytes.set(buildTunnelTemplate(tunnel, this.udpChecksumMode).bytes, at);
  }

  /** The IPv4 identification the next packet to `peer` gets. */
  identification(peer: number): number {
    return this.descriptor(peer).getInt32(TEMPLATE_NEXT_ID, true) & 0xffff;
  }

  setIdentification(peer: number, identification: number): void {
    if (!(Number.isInteger(identification) && identification >= 0 && identification <= 0xffff)) {
      throw new RangeError(`identification must be an integer in 0..65535, got ${String(identification)}`);
    }
    this.descriptor(peer).setInt32(TEMPLATE_NEXT_ID, identification, true);
  }

  /** Bytes of outer header tunnel `peer` adds. */
  headerLength(peer: number): number {
    return this.descriptor(peer).getInt32(TEMPLATE_HEADER_LEN, true);
  }

  /**
   * Encapsulate slots 0..count-1 of `batch` in place, in one kernel call. Returns how many were
   * encapsulated; a slot that was not has status SLOT_INVALID (its length does not fit) or
   * SLOT_NO_PEER. Allocates nothing.
   */
  run(batch: PacketBatch, count?: number): number {
    if (!(batch instanceof PacketBatch)) throw new TypeError('batch must be a PacketBatch');
    if (batch.kernels !== this.kernels) throw new TypeError('batch lives in another kernels instance than this Encapsulator (give both the same `kernels` option)');
    count = count === undefined ? batch.capacity : checkInteger(count, 'count', 0, batch.capacity);
    const done = this.kernels.encapBatch(this.templatesPtr, this.peerCount, batch.slotsPtr, batch.slotStride, batch.metaPtr, count);
    if (done === BATCH_INVALID) throw new Error('encapBatch rejected the batch geometry (memory smaller than the batch?)');
    return done;
  }
}
