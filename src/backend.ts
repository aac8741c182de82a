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
    result: reserveMemory(kernels, RESULT_LEN, 'the decapsulate result record'),
    template: reserveMemory(kernels, TEMPLATE_LEN, 'the encapsulate template'),
    scratch: reserveMemory(kernels, scratchLen, 'the single-frame scratch area'),
    scratchLen,
  };
}

let active: Workspace | undefined;
/** Why the single-frame API runs on the reference backend although WASM was wanted, if it does. */
let fallbackReason: string | undefined;

function wasmAvailable(): boolean {
  return typeof WebAssembly === 'object' && typeof WebAssembly.Module === 'function';
}

function wasmRefused(error: unknown): string {
  return `WebAssembly could not be compiled or instantiated here (${String(error)}); a Content-Security-Policy without 'wasm-unsafe-eval' does this`;
}

/** The best backend this engine runs: 'reference' where WebAssembly is absent or refused. */
export function defaultBackendName(): BackendName {
  if (!wasmAvailable()) return 'reference';
  try {
    return simdSupported() ? 'wasm-simd' : 'wasm-scalar';
  } catch {
    return 'reference';
  }
}

/**
 * The best kernels this engine runs. A page whose Content-Security-Policy lacks
 * 'wasm-unsafe-eval' refuses to compile any WebAssembly (CompileError): the library still works
 * there, on the reference backend, and backendFallbackReason() says why.
 */
function bestKernels(): Kernels {
  if (!wasmAvailable()) {
    fallbackReason = 'this JavaScript engine has no WebAssembly';
    return createKernels('reference');
  }
  try {
    return createKernels(simdSupported() ? 'wasm-simd' : 'wasm-scalar');
  } catch (error) {
    fallbackReason = wasmRefused(error);
    return createKernels('reference');
  }
}

/** Instantiate the kernels (idempotent: later calls return the same backend). */
export function init(): BackendName {
  active ??= createWorkspace(bestKernels());
  return active.kernels.name;
}

/**
 * Like init(), but compiles asynchronously first: use it in browsers before the first call.
 * Resolves to the backend's name: 'reference' where WebAssembly is refused (see init()).
 */
export async function ready(): Promise<BackendName> {
  if (active === undefined && wasmAvailable()) {
    try {
      await compileAsync();
    } catch (error) {
      fallbackReason = wasmRefused(error);
      active = createWorkspace(createKernels('reference'));
    }
  }
  return init();
}

/**
 * Why the single-frame API runs on the reference backend instead of WebAssembly (no
 * WebAssembly, or compiling it was refused), or undefined when it runs what it chose.
 */
export function backendFallbackReason(): string | undefined {
  return active !== undefined && active.kernels.name === 'reference' ? fallbackReason : undefined;
}

/** Every Kernels instance createKernels() made: the batch API accepts only these. */
const madeKernels = new WeakSet<object>();

/** A fresh, independent instance of one backend (the batch API and tests use their own). */
export function createKernels(name: BackendName): Kernels {
  const kernels = name === 'reference' ? new ReferenceKernels() : instantiateWasm(name);
  madeKernels.add(kernels);
  return kernels;
}

/**
 * `kernels` from an options object, or the single-frame API's backend when it is undefined.
 * Anything else than an instance from createKernels() would fail deep inside with an engine
 * message, or write into memory nobody reads: refuse it here.
 */
export function kernelsOption(kernels: unknown): Kernels {
  if (kernels === undefined) return workspace().kernels;
  if (typeof kernels !== 'object' || kernels === null || !madeKernels.has(kernels)) {
    throw new TypeError('kernels must be a Kernels instance from createKernels()');
  }
  return kernels as Kernels;
}

/**
 * How much one reserve() call can give. WASM: the AssemblyScript stub runtime refuses (traps on)
 * a block above 2^30 - 4 bytes. Reference: its bump pointer is kept with 32-bit integer
 * arithmetic (`& ~15`), so its top must stay below 2^31.
 */
const WASM_MAX_RESERVATION = 2 ** 30 - 4;
/**
 * wasm32 memory ends at 4 GiB (65536 pages); the stub runtime computes the memory's end as
 * `pages << 16` in 32 bits, which wraps to 0 on the last page, so stop one page short of it.
 */
const WASM_MEMORY_LIMIT = 2 ** 32 - 2 ** 16;
const REFERENCE_MEMORY_LIMIT = 2 ** 31 - 16;
/** reserve() aligns every block to 16 bytes and the stub runtime puts a 4-byte header in front. */
const RESERVATION_OVERHEAD = 32;

const bytesText = (n: number) => `${n.toLocaleString('en-US')} bytes`;

/**
 * Reserve `size` bytes in `kernels`' memory, or throw a RangeError that says what `purpose`
 * needs and what the limit is, with nothing reserved. Sizes are checked before the call because
 * past the limits reserve() traps the WASM instance or wraps its pointer, and the caller's
 * slots would overlap other memory.
 */
export function reserveMemory(kernels: Kernels, size: number, purpose: string): number {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`${purpose}: ${String(size)} is not a size in bytes`);
  const wasm = kernels.name !== 'reference';
  const perCall = wasm ? WASM_MAX_RESERVATION : REFERENCE_MEMORY_LIMIT;
  const total = wasm ? WASM_MEMORY_LIMIT : REFERENCE_MEMORY_LIMIT;
  const limitText = wasm
    ? `the ${kernels.name} backend reserves at most ${bytesText(perCall)} at once, in a wasm32 memory of at most 4 GiB`
    : `the reference backend's memory is limited to ${bytesText(total)}`;
  if (size > perCall) throw new RangeError(`${purpose} needs ${bytesText(size)} of memory; ${limitText}`);
  // Nothing reserved so far lies beyond the end of the memory, so its length bounds what is in use.
  const inUse = kernels.bytes.length;
  if (inUse + size + RESERVATION_OVERHEAD > total) {
    throw new RangeError(`${purpose} needs ${bytesText(size)} of memory, and ${bytesText(inUse)} of the ${kernels.name} backend's memory are in use; ${limitText}`);
  }
  try {
    return kernels.reserve(size);
  } catch (error) {
    // The engine refused to grow the memory (WASM traps in the runtime before its pointer moves,
    // so the instance stays usable; the reference's ArrayBuffer allocation throws a RangeError).
    throw new RangeError(`${purpose} needs ${bytesText(size)} of memory, and the engine refused to grow the ${kernels.name} backend's memory (${bytesText(inUse)} now): ${String(error)}`);
  }
}

/** Switch the single-frame API to another backend, e.g. to compare them. Returns its name. */
export function useBackend(name: BackendName): BackendName {
  if (active?.kernels.name !== name) {
    active = createWorkspace(createKernels(name));
    fallbackReason = undefined; // chosen, not fallen back to
  }
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
