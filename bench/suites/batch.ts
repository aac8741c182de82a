/**
 * Suite `batch`: the zero-copy batch API (src/batch/: PacketBatch, Encapsulator, Decapsulator),
 * one WASM call per batch of 64 frames already in WASM slots, each backend on the same batches.
 *
 *   encap-zero       Encapsulator, IPv4, UDP checksum zero (offloaded), 1450-byte inner frames
 *   encap-full       Encapsulator, IPv4, full UDP checksum over 1450-byte inner frames
 *   decap-strict     Decapsulator, strict validation + IPv4 header checksum (+ UDP checksum)
 *
 * ns per packet = ns per batch call / 64. Contenders: wasm-simd, wasm-scalar, reference.
 *
 * >>> STATUS: the batch API did not exist when this suite was written (src/batch/ held only
 * >>> template.ts). `unavailable()` below reports that loudly and the suite is skipped. When the
 * >>> API lands, write `makeBatchRunners` against it (the one place that knows its shape); the
 * >>> cases, validation rules and reporting around it are ready.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BackendName } from '../../src/wasm/abi';
import type { CaseDef, CaseRunner, CreateContender, SuiteDef } from '../lib/types';

export const BATCH_SIZE = 64;
const INNER_LEN = 1450;
const BACKENDS: BackendName[] = ['wasm-simd', 'wasm-scalar', 'reference'];
const BATCH_MODULE = new URL('../../src/batch/index.ts', import.meta.url);

const cases: CaseDef[] = [
  { id: 'encap-zero', group: `Batch of ${BATCH_SIZE}, ns per batch`, label: `encap IPv4, UDP checksum 0 (offload), inner ${INNER_LEN} B`, bytes: BATCH_SIZE * (INNER_LEN + 50), baseline: 'wasm-simd' },
  { id: 'encap-full', group: `Batch of ${BATCH_SIZE}, ns per batch`, label: `encap IPv4, full UDP checksum, inner ${INNER_LEN} B`, bytes: BATCH_SIZE * (INNER_LEN + 50), baseline: 'wasm-simd' },
  { id: 'decap-strict', group: `Batch of ${BATCH_SIZE}, ns per batch`, label: `decap strict + IPv4 checksum (+ UDP checksum), frame ${INNER_LEN + 50} B`, bytes: BATCH_SIZE * (INNER_LEN + 50), baseline: 'wasm-simd' },
];

/**
 * Adapter to the batch API: for one backend, build a PacketBatch of BATCH_SIZE frames
 * (innerFrame(INNER_LEN, slot) from ../lib/frames, TUNNEL as the tunnel), and return one
 * CaseRunner per case id above. Each `validate` must compare the batch's output with the reference
 * backend's output on the same batch (frames byte for byte with IPv4 identification/checksum
 * masked; per-slot statuses and inner offsets for decap); each `run` processes the whole batch
 * in one call and returns something derived from the result (e.g. a status count).
 */
async function makeBatchRunners(backend: BackendName, api: Record<string, unknown>): Promise<Record<string, CaseRunner>> {
  void backend;
  void api;
  throw new Error('bench/suites/batch.ts: makeBatchRunners is not written for the batch API yet');
}

export const createContender: CreateContender = async (name) => {
  const api = (await import(BATCH_MODULE.href)) as Record<string, unknown>;
  return makeBatchRunners(name as BackendName, api);
};

export const suite: SuiteDef = {
  name: 'batch',
  title: `batch API (PacketBatch, Encapsulator, Decapsulator), batches of ${BATCH_SIZE}`,
  method: 'Not run yet: see the status note at the top of bench/suites/batch.ts.',
  cases,
  contenders: BACKENDS.map((name) => ({ name, description: `the batch API on a ${name} instance` })),
  async unavailable() {
    if (!existsSync(fileURLToPath(BATCH_MODULE))) {
      return 'THE BATCH API IS ABSENT: src/batch/index.ts does not exist, so PacketBatch/Encapsulator/Decapsulator cannot be timed';
    }
    const api = (await import(BATCH_MODULE.href)) as Record<string, unknown>;
    const missing = ['PacketBatch', 'Encapsulator', 'Decapsulator'].filter((name) => !(name in api));
    if (missing.length > 0) return `THE BATCH API IS INCOMPLETE: src/batch/index.ts does not export ${missing.join(', ')}`;
    return null;
  },
};
