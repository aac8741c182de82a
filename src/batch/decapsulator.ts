/**
 * Decapsulator: validates every slot of a PacketBatch in one kernel call, with per-slot status
 * (the DecodeStatus codes), VNI, outer source address and port and the inner frame's place,
 * and a counter per status kept in the kernels' memory.
 */
import { decapSettings, type DecapSettings } from './decap-settings';
import { DecodeStatus } from '../errors';
import type { DecapOptions } from '../types';
import type { Kernels } from '../wasm/abi';
import { BATCH_INVALID, COUNTER_COUNT, COUNTER_INVALID_SLOT } from '../wasm/abi';
import { kernelsOption, reserveMemory } from '../backend';
import { PacketBatch } from './packet-batch';
import { checkInteger } from '../wire/fields';

export interface DecapsulatorOptions extends DecapOptions {
  /** Accept only these VNIs (instead of `vni`, which accepts one). */
  vnis?: Iterable<number>;
  /** The kernels the batches live in; default the object API's active backend (as PacketBatch). */
  kernels?: Kernels;
}

/** Frames counted per status name, plus INVALID_SLOT for slots whose lengths did not fit. */
export type DecapCounters = Record<keyof typeof DecodeStatus | 'INVALID_SLOT', number>;

const statusNames = Object.keys(DecodeStatus) as (keyof typeof DecodeStatus)[];

export class Decapsulator {
  readonly kernels: Kernels;
  readonly settings: DecapSettings;
  /** The accepted VNIs, ascending; empty when any VNI is accepted. */
  readonly vnis: readonly number[];
  private readonly vniSetPtr: number;
  private readonly countersPtr: number;

  constructor(options: DecapsulatorOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    const { vnis, kernels, ...decapOptions } = options;
    this.settings = decapSettings(decapOptions);
    let accepted: number[] = [];
    if (vnis !== undefined) {
      if (options.vni !== undefined) throw new RangeError('give either vni or vnis, not both');
      if (vnis === null || typeof (vnis as Iterable<number>)[Symbol.iterator] !== 'function') throw new TypeError('vnis must be iterable');
      for (const vni of vnis) {
        if (!Number.isInteger(vni) || vni < 0 || vni > 0xffffff) throw new RangeError(`vnis: ${String(vni)} is not a VNI in 0..16777215`);
        accepted.push(vni);
      }
      if (accepted.length === 0) throw new RangeError('vnis is empty: no frame could be accepted');
    } else if (options.vni !== undefined) {
      accepted = [this.settings.vni];
    }
    this.vnis = [...new Set(accepted)].sort((a, b) => a - b);
    this.kernels = kernelsOption(kernels);
    // The VNI set and the counters in one reservation, checked first: all or nothing.
    const vniSetLen = Math.max(16, Math.ceil(this.vnis.length / 4) * 16);
    this.vniSetPtr = reserveMemory(this.kernels, vniSetLen + COUNTER_COUNT * 8, `a Decapsulator of ${this.vnis.length} VNIs`);
    const memory = new DataView(this.kernels.bytes.buffer, this.kernels.bytes.byteOffset);
    this.vnis.forEach((vni, i) => memory.setInt32(this.vniSetPtr + i * 4, vni, true));
    this.countersPtr = this.vniSetPtr + vniSetLen;
    this.resetCounters();
  }

  /**
   * Validate slots 0..count-1 of `batch` (each holds a frame declared with setFrame/writeFrame).
   * Returns how many are valid; read each slot's status, inner frame, VNI and source from the
   * batch. Allocates nothing.
   */
  run(batch: PacketBatch, count?: number): number {
    if (!(batch instanceof PacketBatch)) throw new TypeError('batch must be a PacketBatch');
    if (batch.kernels !== this.kernels) throw new TypeError('batch lives in another kernels instance than this Decapsulator (give both the same `kernels` option)');
    count = count === undefined ? batch.capacity : checkInteger(count, 'count', 0, batch.capacity);
    const { optionBits, portsLow, portsHigh } = this.settings;
    const done = this.kernels.decapBatch(
      batch.slotsPtr, batch.slotStride, batch.metaPtr, count, optionBits,
      this.vniSetPtr, this.vnis.length, portsLow, portsHigh, this.countersPtr,
    );
    if (done === BATCH_INVALID) throw new Error('decapBatch rejected the batch geometry (memory smaller than the batch?)');
    return done;
  }

  /** How many slots ended with `status` (a DecodeStatus code; SLOT_INVALID for invalid slots) since the last reset. */
  counter(status: number): number {
    const index = status < 0 || status >= COUNTER_INVALID_SLOT ? COUNTER_INVALID_SLOT : status;
    const memory = new DataView(this.kernels.bytes.buffer, this.kernels.bytes.byteOffset + this.countersPtr + index * 8, 8);
    return memory.getUint32(4, true) * 2 ** 32 + memory.getUint32(0, true);
  }

  /** Every counter by status name. */
  counters(): DecapCounters {
    const result = {} as DecapCounters;
    for (const name of statusNames) result[name] = this.counter(DecodeStatus[name]);
    result.INVALID_SLOT = this.counter(-1);
    return result;
  }

  resetCounters(): void {
    this.kernels.bytes.fill(0, this.countersPtr, this.countersPtr + COUNTER_COUNT * 8);
  }
}
