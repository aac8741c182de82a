/**
 * Instantiates the WASM kernels once, synchronously, from the bytes embedded in generated.ts.
 * The SIMD build is used where the engine validates it; otherwise the scalar build.
 */
import { KERNEL_NAMES } from './abi';
import type { BackendName, KernelFunctions, Kernels } from './abi';
import { scalarWasmBase64, simdWasmBase64 } from './generated';

/** What an instance of either build exports: the kernels, its memory, and two functions for init. */
type WasmExports = KernelFunctions & {
  memory: WebAssembly.Memory;
  reserve(size: number): number;
  simdEnabled(): number;
};

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  if (typeof Buffer !== 'undefined') {
    const decoded = Buffer.from(text, 'base64');
    return new Uint8Array(decoded.buffer.slice(decoded.byteOffset, decoded.byteOffset + decoded.length) as ArrayBuffer);
  }
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** The kernels are own properties of each instance (bound in the constructor), not class methods. */
interface WasmKernels extends KernelFunctions {}

/** One instance of a WASM build. `bytes` is rebuilt whenever the memory has grown. */
class WasmKernels implements Kernels {
  readonly name: BackendName;
  private readonly exports: WasmExports;
  /** The whole linear memory; rebuilt by reserve(), the only place the memory grows. */
  bytes: Uint8Array;

  constructor(name: BackendName, module: WebAssembly.Module) {
    this.name = name;
    // The module imports nothing: it is built with `--use abort=` and the stub runtime.
    const e = new WebAssembly.Instance(module, {}).exports as unknown as WasmExports;
    this.exports = e;
    this.bytes = new Uint8Array(e.memory.buffer);
    // Bind the kernels as own properties: the hot path calls the WASM function with no extra hop.
    const kernels = this as Record<keyof KernelFunctions, unknown>;
    for (const kernel of KERNEL_NAMES) kernels[kernel] = e[kernel];
    // flowHash returns an i32; the hash is unsigned.
    this.flowHash = (frame, len) => e.flowHash(frame, len) >>> 0;
  }

  get simd(): boolean {
    return this.exports.simdEnabled() === 1;
  }

  reserve(size: number): number {
    const ptr = this.exports.reserve(size) >>> 0;
    // Only reserve() grows the memory (the kernels never allocate), and growing detaches the old
    // buffer: rebuild the view here, so reading `bytes` on the hot path costs nothing.
    if (this.bytes.buffer !== this.exports.memory.buffer) this.bytes = new Uint8Array(this.exports.memory.buffer);
    return ptr;
  }
}

export type { WasmKernels };

let simdModule: WebAssembly.Module | null | undefined;
let scalarModule: WebAssembly.Module | undefined;

/** Whether this engine runs the SIMD build (WebAssembly.validate on the real bytes). */
export function simdSupported(): boolean {
  if (simdModule === undefined) {
    const bytes = decodeBase64(simdWasmBase64);
    simdModule = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  }
  return simdModule !== null;
}

/**
 * Compile both builds off the main thread's critical path (browsers refuse synchronous
 * compilation of large modules on the main thread). Optional in Node, where the synchronous
 * path is used on first call anyway.
 */
export async function compileAsync(): Promise<void> {
  if (simdModule === undefined) {
    const bytes = decodeBase64(simdWasmBase64);
    simdModule = WebAssembly.validate(bytes) ? await WebAssembly.compile(bytes) : null;
  }
  scalarModule ??= await WebAssembly.compile(decodeBase64(scalarWasmBase64));
}

/** A fresh instance of the requested build. Throws if that build cannot run here. */
export function instantiateWasm(build: 'wasm-simd' | 'wasm-scalar'): WasmKernels {
  if (build === 'wasm-simd') {
    if (!simdSupported()) throw new Error('this WebAssembly engine does not support SIMD');
    return new WasmKernels(build, simdModule!);
  }
  scalarModule ??= new WebAssembly.Module(decodeBase64(scalarWasmBase64));
  return new WasmKernels(build, scalarModule);
}
