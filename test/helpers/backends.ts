/**
 * Every backend a suite loops over: src/wasm/abi.ts's BACKEND_NAMES, less wasm-simd on an engine
 * without WebAssembly SIMD, which is said loudly (uvu counts only what ran, so a backend left out
 * silently would look tested).
 */
import { BACKEND_NAMES, type BackendName } from '../../src/wasm/abi';
import { simdSupported } from '../../src/wasm/loader';

export const BACKENDS: readonly BackendName[] = simdSupported() ? BACKEND_NAMES : BACKEND_NAMES.filter((name) => name !== 'wasm-simd');

if (!simdSupported()) console.error('!!! this engine has no WebAssembly SIMD: the wasm-simd backend is NOT tested or measured here');
