/**
 * Instantiates the WASM kernels once, synchronously, from the bytes embedded in generated.ts.
 * The SIMD build is used where the engine validates it; otherwise the scalar build.
 */
import type { BackendName, Kernels } from './abi';
import { scalarWasmBase64, simdWasmBase64 } from './generated';

interface WasmExports {
  memory: WebAssembly.Memory;
  reserve(size: number): number;
  simdEnabled(): number;
  onesComplementSum(ptr: number, len: number, seed: number): number;
  internetChecksum(ptr: number, len: number): number;
  updateChecksum(oldChecksum: number, oldWord: number, newWord: number): number;
  ipv4PseudoHeaderSum(srcPtr: number, dstPtr: number, protocol: number, length: number): number;
  ipv6PseudoHeaderSum(srcPtr: number, dstPtr: number, protocol: number, length: number): number;
  decapFrame(frame: number, len: number, options: number, expectedVni: number, portsLow: number, portsHigh: number, out: number): number;
  encapFrame(template: number, inner: number, innerLen: number): number;
  flowHash(frame: number, len: number): number;
  sourcePortFromHash(hash: number, low: number, high: number): number;
  encapBatch: Kernels['encapBatch'];
  decapBatch: Kernels['decapBatch'];
  verifyInnerChecksum: Kernels['verifyInnerChecksum'];
  completeInnerChecksum: Kernels['completeInnerChecksum'];
}

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

/** One instance of a WASM build. `bytes` is rebuilt whenever the memory has grown. */
class WasmKernels implements Kernels {
  readonly name: BackendName;
  private readonly exports: WasmExports;
  /** The whole linear memory; rebuilt by reserve(), the only place the memory grows. */
  bytes: Uint8Array;

  constructor(name: BackendName, module: WebAssembly.Module) {
    this.name = name;
    // The module imports nothing: it is built with `--use abort=` and the stub runtime.
    this.exports = new WebAssembly.Instance(module, {}).exports as unknown as WasmExports;
    this.bytes = new Uint8Array(this.exports.memory.buffer);
    const e = this.exports;
    // Bind the kernels as own properties: the hot path calls them with no extra hop.
    this.onesComplementSum = e.onesComplementSum;
    this.internetChecksum = e.internetChecksum;
    this.updateChecksum = e.updateChecksum;
    this.ipv4PseudoHeaderSum = e.ipv4PseudoHeaderSum;
    this.ipv6PseudoHeaderSum = e.ipv6PseudoHeaderSum;
    this.decapFrame = e.decapFrame;
    this.encapFrame = e.encapFrame;
    this.sourcePortFromHash = e.sourcePortFromHash;
    this.flowHash = (frame, len) => e.flowHash(frame, len) >>> 0;
    this.encapBatch = e.encapBatch;
    this.decapBatch = e.decapBatch;
    this.verifyInnerChecksum = e.verifyInnerChecksum;
    this.completeInnerChecksum = e.completeInnerChecksum;
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

  onesComplementSum: Kernels['onesComplementSum'];
  internetChecksum: Kernels['internetChecksum'];
  updateChecksum: Kernels['updateChecksum'];
  ipv4PseudoHeaderSum: Kernels['ipv4PseudoHeaderSum'];
  ipv6PseudoHeaderSum: Kernels['ipv6PseudoHeaderSum'];
  decapFrame: Kernels['decapFrame'];
  encapFrame: Kernels['encapFrame'];
  flowHash: Kernels['flowHash'];
  sourcePortFromHash: Kernels['sourcePortFromHash'];
  encapBatch: Kernels['encapBatch'];
  decapBatch: Kernels['decapBatch'];
  verifyInnerChecksum: Kernels['verifyInnerChecksum'];
  completeInnerChecksum: Kernels['completeInnerChecksum'];
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
