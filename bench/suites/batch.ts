/**
 * Suite `batch`: the zero-copy batch API (PacketBatch, Encapsulator, Decapsulator from
 * dist/index.mjs), one kernel call per batch of 64 frames already in their slots, each backend
 * (a fresh `createKernels(name)` per worker) on the same frames. Figures are ns per packet:
 * ns per call / 64.
 *
 *   encap-{zero,offload,full}-N   Encapsulator.run(batch, 64) on slots already filled;
 *                        IPv4 tunnel, outer UDP checksum 0 / derived from the (valid) inner
 *                        UDP checksum / computed over the whole datagram; inner N = 64, 1450, 9000 B
 *   set-inner            64 × batch.setInner(i, 1450, 0) alone: what filling a batch adds per slot
 *   set-inner-encap-zero-1450   both: 64 × setInner, then run (a loop that re-marks every slot)
 *   decap-{nocsum,csum}-N  Decapsulator.run(batch, 64), strict, checksums verified: outer UDP
 *                        checksum 0 (so only the IPv4 header checksum is verified) / UDP checksum
 *                        present and verified; outer frame N + 50 B
 *
 * Why the encap rows can run the same batch again: encapsulation works in place and reads only
 * the slot's inner length, peer and partial-checksum request, which a run leaves as they were
 * (the payload is untouched; only the headroom and the record's outputs are rewritten). So each
 * run re-encapsulates the same inner frames, which validate() checks before and after timing.
 * Decapsulation does not modify the frame, so its batch is simply run again.
 */
import {
  createKernels, decapsulate, Decapsulator, DecodeStatus, Encapsulator, encapsulate,
  PacketBatch, slotStatusName, useBackend,
  type BackendName, type TunnelOptions,
} from 'vxlan-wasm';
import { hex, naiveSum } from '../../test/helpers/bytes';
import {
  BACKENDS, BATCH_SIZE, caseId, CHECKSUM_MODES as MODES, DEFAULT_BACKEND, INNER_SIZES, IPV4_OVERHEAD, MODE_LABEL, NATIVE,
  slotSizeFor, TUNNEL, type ChecksumMode as Mode,
} from '../lib/cases';
import { firstDifference } from '../lib/data';
import { innerFrame, innerUdpChecksumValid } from '../lib/frames';
import { find, pairedRatio } from '../lib/harness';
import type { CaseDef, CaseRunner, CreateContender, SuiteDef, SuiteResult, TargetResult } from '../lib/types';
import { nativeBatchContender, withIdentification } from '../native/native';

export { BATCH_SIZE };
/** Identification of slot 0 in a validation run; slots 32.. wrap past 0xffff, which is checked too. */
const FIRST_IDENTIFICATION = 0xffe0;

const TUNNEL_CSUM: TunnelOptions = { ...TUNNEL, udpChecksum: true };
const TUNNEL_NO_CSUM: TunnelOptions = { ...TUNNEL, udpChecksum: false };

const encapCase = caseId.batchEncap;
const decapCase = caseId.batchDecap;
const SET_INNER_CASE = 'set-inner';
const SET_INNER_ENCAP_CASE = 'set-inner-encap-zero-1450';

/** The frames every backend works on, made once in the main thread. */
interface SizeData {
  /** BATCH_SIZE different inner frames (different seeds), each with a valid inner UDP checksum. */
  inners: Uint8Array[];
  /** encapsulate(inner, tunnel with udpChecksum true) on the reference backend. */
  withChecksum: Uint8Array[];
  /** The same with udpChecksum false (outer UDP checksum 0). */
  withoutChecksum: Uint8Array[];
  /** PacketBatch's slot stride for this size (the native twin lays its slots out the same). */
  slotStride: number;
}
export type BatchData = Record<number, SizeData>;

function buildData(): BatchData {
  useBackend('reference');
  const data: BatchData = {};
  for (const innerLen of INNER_SIZES) {
    const inners = Array.from({ length: BATCH_SIZE }, (_, slot) => innerFrame(innerLen, innerLen * 1000 + slot, true));
    for (const inner of inners) {
      // 'offload' only equals 'full' when the inner checksum is right: make sure it is.
      if (!innerUdpChecksumValid(inner)) throw new Error(`bench/lib/frames.ts made an inner frame of ${innerLen} B whose UDP checksum does not verify`);
    }
    data[innerLen] = {
      slotStride: new PacketBatch({ capacity: 1, slotSize: slotSizeFor(innerLen), kernels: createKernels('reference') }).slotStride,
      inners,
      withChecksum: inners.map((inner) => encapsulate(inner, TUNNEL_CSUM)),
      withoutChecksum: inners.map((inner) => encapsulate(inner, TUNNEL_NO_CSUM)),
    };
  }
  return data;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The object API's decapsulate() must accept the frame, with our VNI and inner frame. */
function decapsulatesTo(frame: Uint8Array, inner: Uint8Array): string | null {
  try {
    const decoded = decapsulate(frame.slice());
    if (decoded.vxlan.vni !== TUNNEL.vni) return `decapsulate() gives VNI ${decoded.vxlan.vni}, expected ${TUNNEL.vni}`;
    if (!sameBytes(decoded.inner, inner)) return 'decapsulate() gives other inner bytes than were encapsulated';
  } catch (error) {
    return `decapsulate() rejects it: ${String(error)}`;
  }
  return null;
}

export const createContender: CreateContender = (name, workerData) => {
  const data = workerData as BatchData;
  const backend = name as BackendName;
  // The object API (used only to validate) on the same backend, so this worker runs one backend.
  useBackend(backend);
  const kernels = createKernels(backend); // instantiation is init, never timed
  const runners: Record<string, CaseRunner> = {};

  for (const innerLen of INNER_SIZES) {
    const { inners, withChecksum, withoutChecksum } = data[innerLen];
    const slotSize = slotSizeFor(innerLen);

    for (const mode of MODES) {
      const batch = new PacketBatch({ capacity: BATCH_SIZE, slotSize, kernels });
      inners.forEach((inner, slot) => batch.writeInner(slot, inner, 0));
      const encapsulator = new Encapsulator(TUNNEL, { udpChecksumMode: mode, kernels });
      // 'offload' must give exactly what 'full' gives (the inner checksums are valid).
      const expected = mode === 'zero' ? withoutChecksum : withChecksum;
      const run = () => encapsulator.run(batch, BATCH_SIZE);
      const validate = (): string | null => {
        encapsulator.setIdentification(0, FIRST_IDENTIFICATION);
        const done = run();
        if (done !== BATCH_SIZE) return `run() encapsulated ${done} of ${BATCH_SIZE} slots`;
        for (let slot = 0; slot < BATCH_SIZE; slot++) {
          const status = batch.status(slot);
          if (status !== 0) return `slot ${slot}: status ${slotStatusName(status)}`;
          const got = batch.frame(slot).slice();
          const want = withIdentification(expected[slot], (FIRST_IDENTIFICATION + slot) & 0xffff);
          if (!sameBytes(got, want)) {
            return `slot ${slot}: frame differs from encapsulate()'s (same identification) ${firstDifference(hex(got), hex(want))}`;
          }
          const problem = decapsulatesTo(got, inners[slot]);
          if (problem !== null) return `slot ${slot}: ${problem}`;
        }
        return null;
      };
      runners[encapCase(mode, innerLen)] = { run, validate };
      if (mode === 'zero' && innerLen === 1450) {
        const marked = new PacketBatch({ capacity: BATCH_SIZE, slotSize, kernels });
        inners.forEach((inner, slot) => marked.writeInner(slot, inner, 0));
        runners[SET_INNER_ENCAP_CASE] = {
          run: () => {
            for (let slot = 0; slot < BATCH_SIZE; slot++) marked.setInner(slot, innerLen, 0);
            return encapsulator.run(marked, BATCH_SIZE);
          },
          validate: () => {
            encapsulator.setIdentification(0, FIRST_IDENTIFICATION);
            for (let slot = 0; slot < BATCH_SIZE; slot++) marked.setInner(slot, innerLen, 0);
            if (encapsulator.run(marked, BATCH_SIZE) !== BATCH_SIZE) return 'run() did not encapsulate every slot';
            for (let slot = 0; slot < BATCH_SIZE; slot++) {
              const want = withIdentification(expected[slot], (FIRST_IDENTIFICATION + slot) & 0xffff);
              if (!sameBytes(marked.frame(slot), want)) return `slot ${slot}: frame differs from encapsulate()'s`;
            }
            return null;
          },
        };
      }
    }

    for (const udpChecksum of [false, true]) {
      const frames = udpChecksum ? withChecksum : withoutChecksum;
      const batch = new PacketBatch({ capacity: BATCH_SIZE, slotSize, kernels });
      frames.forEach((frame, slot) => batch.writeFrame(slot, frame));
      const decapsulator = new Decapsulator({ strict: true, verifyChecksums: true, kernels });
      const run = () => decapsulator.run(batch, BATCH_SIZE);
      /** Slot 0 with one byte flipped must be rejected with `status`. */
      const rejects = (at: number, status: number): string | null => {
        const corrupted = frames[0].slice();
        corrupted[at] ^= 0x01;
        batch.writeFrame(0, corrupted);
        decapsulator.run(batch, 1);
        const got = batch.status(0);
        batch.writeFrame(0, frames[0]);
        return got === status ? null : `a frame with byte ${at} flipped: status ${slotStatusName(got)}, expected ${slotStatusName(status)}`;
      };
      const validate = (): string | null => {
        const valid = run();
        if (valid !== BATCH_SIZE) return `run() found ${valid} of ${BATCH_SIZE} frames valid (slot 0: ${slotStatusName(batch.status(0))})`;
        for (let slot = 0; slot < BATCH_SIZE; slot++) {
          if (batch.status(slot) !== 0) return `slot ${slot}: status ${slotStatusName(batch.status(slot))}`;
          if (batch.vni(slot) !== TUNNEL.vni) return `slot ${slot}: VNI ${batch.vni(slot)}, expected ${TUNNEL.vni}`;
          if (!sameBytes(batch.inner(slot), inners[slot])) return `slot ${slot}: the inner frame is not the one encapsulated`;
        }
        // Verification must really happen: the IPv4 header checksum (TTL flipped) always, and the
        // UDP checksum (last payload byte flipped) when the frame has one.
        const ipProblem = rejects(14 + 8, DecodeStatus.BAD_IPV4_CHECKSUM);
        if (ipProblem !== null) return ipProblem;
        if (udpChecksum) return rejects(frames[0].length - 1, DecodeStatus.BAD_UDP_CHECKSUM);
        return null;
      };
      runners[decapCase(udpChecksum, innerLen)] = { run, validate };
    }
  }

  // What filling a slot costs: setInner alone, on a batch of 1450-byte frames.
  const marked = new PacketBatch({ capacity: BATCH_SIZE, kernels });
  data[1450].inners.forEach((inner, slot) => marked.writeInner(slot, inner, 0));
  runners[SET_INNER_CASE] = {
    run: () => {
      for (let slot = 0; slot < BATCH_SIZE; slot++) marked.setInner(slot, 1450, 0);
      return BATCH_SIZE;
    },
    validate: () => {
      for (let slot = 0; slot < BATCH_SIZE; slot++) {
        if (marked.innerLength(slot) !== 1450 || marked.frameLength(slot) !== 1450) return `slot ${slot}: setInner did not record the length`;
      }
      return null;
    },
  };
  return runners;
};

const ENCAP_GROUP = 'Encapsulate, IPv4: `Encapsulator.run(batch, 64)` on filled slots, ns per packet';
const FILL_GROUP = 'Filling the slots: 64 × `batch.setInner(i, 1450, 0)`, alone and before a run, ns per packet';
const cases: CaseDef[] = [
  ...MODES.flatMap((mode) => INNER_SIZES.map((n) => ({
    id: encapCase(mode, n),
    group: ENCAP_GROUP,
    label: `${MODE_LABEL[mode]}, inner ${n} B`,
    bytes: n + IPV4_OVERHEAD,
    baseline: DEFAULT_BACKEND,
    opsPerCall: BATCH_SIZE,
  }))),
  {
    id: SET_INNER_CASE,
    group: FILL_GROUP,
    label: '`setInner` alone',
    bytes: 0,
    baseline: DEFAULT_BACKEND,
    opsPerCall: BATCH_SIZE,
  },
  {
    id: SET_INNER_ENCAP_CASE,
    group: FILL_GROUP,
    label: '`setInner` for every slot, then `run`: UDP checksum 0, inner 1450 B',
    bytes: 1450 + IPV4_OVERHEAD,
    baseline: DEFAULT_BACKEND,
    opsPerCall: BATCH_SIZE,
  },
  ...[false, true].flatMap((udpChecksum) => INNER_SIZES.map((n) => ({
    id: decapCase(udpChecksum, n),
    group: 'Decapsulate: `Decapsulator.run(batch, 64)`, strict, checksums verified, ns per packet',
    label: `${udpChecksum ? 'IPv4 + UDP checksum verified' : 'IPv4 checksum verified, UDP checksum 0'}, frame ${n + IPV4_OVERHEAD} B`,
    bytes: n + IPV4_OVERHEAD,
    baseline: DEFAULT_BACKEND,
    opsPerCall: BATCH_SIZE,
  }))),
];

function targets(result: SuiteResult): TargetResult[] {
  const rows: TargetResult[] = [];
  const check = (text: string, id: string, limitNs: number) => {
    const ns = find(result, id, 'wasm-simd')?.stats?.medianNs;
    const speedup = pairedRatio(result, id, 'reference', 'wasm-simd');
    if (ns === undefined || speedup === undefined) {
      rows.push({ target: text, measured: 'not measured (wasm-simd or reference has no figure)', met: null });
      return;
    }
    rows.push({
      target: `${text}: wasm-simd ≤ ${limitNs} ns/packet and ≥ 4× the reference`,
      measured: `${ns.toFixed(1)} ns; reference ${speedup.toFixed(1)}× slower`,
      met: ns <= limitNs && speedup >= 4,
    });
  };
  for (const mode of ['zero', 'offload'] as const) {
    for (const n of INNER_SIZES) check(`encap ${MODE_LABEL[mode]}, inner ${n} B`, encapCase(mode, n), 10);
  }
  check('encap full UDP checksum, inner 1450 B', encapCase('full', 1450), 70);
  for (const n of INNER_SIZES) check(`decap strict + IPv4 checksum (UDP checksum 0), frame ${n + IPV4_OVERHEAD} B`, decapCase(false, n), 15);
  // Issue 12: every batch kernel within 2× of its native C twin, measured in the same run.
  const nativeCheck = (text: string, id: string) => {
    const ratio = pairedRatio(result, id, DEFAULT_BACKEND, NATIVE);
    if (ratio === undefined) {
      rows.push({ target: `${text}: ≤ 2× native C`, measured: `not measured (${DEFAULT_BACKEND} or native C has no figure)`, met: null });
      return;
    }
    rows.push({ target: `${text}: ≤ 2× native C`, measured: `${ratio.toFixed(2)}× native time`, met: ratio <= 2 });
  };
  for (const mode of MODES) for (const n of INNER_SIZES) nativeCheck(`encap ${MODE_LABEL[mode]}, inner ${n} B`, encapCase(mode, n));
  for (const csum of [false, true]) for (const n of INNER_SIZES) nativeCheck(`decap ${csum ? 'IPv4 + UDP checksum verified' : 'IPv4 checksum verified, UDP checksum 0'}, frame ${n + IPV4_OVERHEAD} B`, decapCase(csum, n));
  return rows;
}

export const suite: SuiteDef = {
  name: 'batch',
  title: `batch API (PacketBatch, Encapsulator, Decapsulator), batches of ${BATCH_SIZE}`,
  method: [
    'One worker per backend, each with its own `createKernels(name)` instance holding every batch. Frames are',
    'built in the main thread (inner frames with valid inner UDP checksums; expected outer frames from',
    '`encapsulate()` on the reference backend). Before and after timing each encap case must produce, in every',
    'slot, exactly `encapsulate()`\'s frame with the same IPv4 identification (offload: the full-checksum frame),',
    'which `decapsulate()` must accept with the right VNI and inner bytes; each decap case must accept every',
    'slot with the right VNI and inner frame and reject a flipped IPv4 header byte (and payload byte, when the',
    'UDP checksum is present). The native C twin (bench/native/batch.c) gets the same frames in the same slot layout',
    'and is held to the same: byte-equal frames and the same records on encap, the same records, rejections and counters on decap.',
  ].join(' '),
  cases,
  contenders: BACKENDS.map((name) => ({ name, description: `\`createKernels('${name}')\` from dist/index.mjs; PacketBatch, Encapsulator, Decapsulator on it` })),
  external: [nativeBatchContender()],
  workerData: buildData,
  targets,
};
