/**
 * Which implementation of the kernels runs: the WASM SIMD build where the engine supports it,
 * else the scalar build, else the pure-TS reference. Each backend gets one workspace (a result
 * record, a template and a scratch frame area) reserved once, at first use.
 */
import type { BackendName, Kernels } from './wasm/abi';
import { RESULT_LEN, TEMPLATE_LEN } from './wasm/abi';
import { compileAsync, instantiateWasm, simdSupported } from './wasm/loader';
import { ReferenceKernels } from './reference/index';

/** Room in front of a frame for the largest outer header (Ethernet + 802.1Q + IPv6 + UDP + VXLAN = 74). */
export const HEADROOM = 128;
/** The largest frame the single-frame API handles: any IP packet with up to 8 VLAN tags fits. */
export const MAX_FRAME_LEN = 14 + 8 * 4 + 40 + 65535;

export interface Workspace {
  readonly kernels: Kernels;
  /** decapFrame result record. */
  readonly result: number;
  /** encapFrame template. */
  readonly template: number;
  /** HEADROOM + MAX_FRAME_LEN bytes for one frame. */
  readonly scratch: number;
  readonly scratchLen: number;
}

function createWorkspace(kernels: Kernels): Workspace {
  const scratchLen = HEADROOM + MAX_FRAME_LEN;
  return {
    kernels,
    result: kernels.reserve(RESULT_LEN),
    template: kernels.reserve(TEMPLATE_LEN),
    scratch: kernels.reserve(scratchLen),
    scratchLen,
  };
}

let active: Workspace | undefined;

function wasmAvailable(): boolean {
  return typeof WebAssembly === 'object' && typeof WebAssembly.Module === 'function';
}

/** The best backend this engine runs. */
export function defaultBackendName(): BackendName {
  if (!wasmAvailable()) return 'reference';
  return simdSupported() ? 'wasm-simd' : 'wasm-scalar';
}

/** Instantiate the kernels (idempotent: later calls return the same backend). */
export function init(): BackendName {
  active ??= createWorkspace(createKernels(defaultBackendName()));
  return active.kernels.name;
}

/** Like init(), but compiles asynchronously first: use it in browsers before the first call. */
export async function ready(): Promise<BackendName> {
  if (wasmAvailable()) await compileAsync();
  return init();
}

/** A fresh, independent instance of one backend (the batch API and tests use their own). */
export function createKernels(name: BackendName): Kernels {
  return name === 'reference' ? new ReferenceKernels() : instantiateWasm(name);
}

/** Switch the single-frame API to another backend, e.g. to compare them. Returns its name. */
export function useBackend(name: BackendName): BackendName {
  if (active?.kernels.name !== name) active = createWorkspace(createKernels(name));
  return name;
}

/** The name of the backend the single-frame API runs on. */
export function backendName(): BackendName {
  return workspace().kernels.name;
}

export function workspace(): Workspace {
  if (active === undefined) init();
  return active!;
}
