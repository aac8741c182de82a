/**
 * The native C twins as external contenders: compiled at bench time with `gcc -O3
 * -march=native`, run as a child process once per round; each times itself and prints ns per
 * operation for every case it takes part in, on the same data the WASM kernels work on.
 *   checksum.c  the RFC 1071 sum (checksum suite)
 *   batch.c     the batch encap (zero, offload, full) and decap kernels (batch suite)
 * Each is validated against the reference before it is timed, like every contender; without gcc
 * it is NOT RUN (reported, not a failure).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { internetChecksum } from '../../src/reference/checksum';
import { hex, naiveSum } from '../../test/helpers/bytes';
import { BATCH_SIZE, caseId, CHECKSUM_MODES, INNER_SIZES, IPV4_OVERHEAD, NATIVE, TUNNEL } from '../lib/cases';
import { firstDifference } from '../lib/data';
import { NotRunError, type ExternalContender } from '../lib/types';

const source = fileURLToPath(new URL('./checksum.c', import.meta.url));
const binary = fileURLToPath(new URL('./checksum.out', import.meta.url));
const LENGTHS = [64, 1500, 9000];

/** Compile `source` to `output` with gcc -O3 -march=native; NotRunError when there is no gcc. */
function compile(sourcePath: string, output: string): string {
  const flags = ['-O3', '-march=native', '-o', output, sourcePath];
  try {
    execFileSync('gcc', flags, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const failure = error as { code?: string; stderr?: Buffer };
    if (failure.code === 'ENOENT') throw new NotRunError('gcc is not installed: the native C twin cannot be built here');
    throw new Error(`gcc ${flags.join(' ')} failed: ${failure.stderr?.toString() ?? error}`);
  }
  return `gcc ${flags.slice(0, 2).join(' ')}`;
}

interface NativeRun {
  byLength: Map<number, { checksum: number; nsPerOp: number }>;
  impl: string;
}

function runNative(data: Uint8Array, sampleMs: number, warmupMs: number): NativeRun {
  const child = spawnSync(binary, [String(sampleMs), String(warmupMs)], { input: data, encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`checksum.out exited with ${child.status}: ${child.stderr}`);
  const byLength = new Map<number, { checksum: number; nsPerOp: number }>();
  let impl = 'unknown';
  for (const line of child.stdout.trim().split('\n')) {
    const [first, second, third] = line.split(' ');
    if (first === 'impl') impl = second;
    else byLength.set(Number(first), { checksum: Number(second), nsPerOp: Number(third) });
  }
  return { byLength, impl };
}

/** `caseIdForLength(64)` names the case that the 64-byte figure belongs to. */
export function nativeChecksumContender(data: Uint8Array, caseIdForLength: (length: number) => string): ExternalContender & { impl?: string; compiler?: string } {
  const contender: ExternalContender & { impl?: string; compiler?: string } = {
    name: NATIVE,
    description: 'bench/native/checksum.c: AVX2 vpmaddwd sum, 4 accumulators, data already in memory; its own timing loop, one process per round',
    caseIds: LENGTHS.map(caseIdForLength),
    async prepare() {
      contender.compiler = compile(source, binary);
      // A short run to validate its answers against the reference before it is ever timed.
      const run = runNative(data, 1, 1);
      contender.impl = run.impl;
      const cases: string[] = [];
      const wrong: Record<string, string> = {};
      for (const length of LENGTHS) {
        const expected = internetChecksum(data, 0, length);
        const got = run.byLength.get(length)?.checksum;
        if (got === expected) cases.push(caseIdForLength(length));
        else wrong[caseIdForLength(length)] = `checksum of ${length} B: got ${got}, reference ${expected}`;
      }
      return { cases, wrong };
    },
    async sample(sampleMs: number) {
      const run = runNative(data, sampleMs, Math.max(2, sampleMs / 4));
      const figures: Record<string, number> = {};
      for (const [length, { nsPerOp, checksum }] of run.byLength) {
        // Re-checked every round: a wrong answer must never turn into a figure.
        if (checksum !== internetChecksum(data, 0, length)) throw new Error(`native checksum of ${length} B changed to a wrong value`);
        figures[caseIdForLength(length)] = nsPerOp;
      }
      return figures;
    },
  };
  return contender;
}

/** `frame` (IPv4 outer header at 14) with identification `id` and the IPv4 header checksum recomputed. */
export function withIdentification(frame: Uint8Array, id: number): Uint8Array {
  const copy = frame.slice();
  copy[18] = (id >> 8) & 0xff;
  copy[19] = id & 0xff;
  copy[24] = 0;
  copy[25] = 0;
  const sum = ~naiveSum(copy.subarray(14, 34)) & 0xffff;
  copy[24] = sum >> 8;
  copy[25] = sum & 0xff;
  return copy;
}

/** What the batch suite hands its contenders: per inner size, 64 inner frames and the reference's outer frames. */
export interface BatchFrames {
  [innerLen: number]: { inners: Uint8Array[]; withChecksum: Uint8Array[]; withoutChecksum: Uint8Array[]; slotStride: number };
}

const batchSource = fileURLToPath(new URL('./batch.c', import.meta.url));
const batchBinary = fileURLToPath(new URL('./batch.out', import.meta.url));
/** The IPv4 identification of slot 0 in a validation run (slots 32.. wrap past 0xffff), as in the batch suite. */
const FIRST_IDENTIFICATION = 0xffe0;

/** batch.c's input: per inner size, its length, the slot stride, an outer header and the frames. */
function batchInput(frames: BatchFrames): Buffer {
  const parts: Buffer[] = [];
  const u32 = (value: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(value);
    return b;
  };
  parts.push(u32(INNER_SIZES.length));
  for (const innerLen of INNER_SIZES) {
    const { inners, withChecksum, withoutChecksum, slotStride } = frames[innerLen];
    parts.push(u32(innerLen), u32(slotStride), Buffer.from(withChecksum[0].subarray(0, IPV4_OVERHEAD)));
    for (const list of [inners, withChecksum, withoutChecksum]) for (const frame of list) parts.push(Buffer.from(frame));
  }
  return Buffer.concat(parts);
}

function runBatch(args: string[], input: Buffer): string {
  const child = spawnSync(batchBinary, args, { input, encoding: 'utf8', maxBuffer: 256 * 2 ** 20 });
  if (child.status !== 0) throw new Error(`batch.out ${args.join(' ')} exited with ${child.status}: ${child.stderr}`);
  return child.stdout;
}

// Record fields (assembly/decap.ts RESULT_*, assembly/batch.ts META_*) as i32 indexes.
const FIELD = { status: 0, l3: 3, l4: 4, vxlan: 5, inner: 6, innerLen: 7, vni: 8, ipVersion: 9, sourcePort: 10, frameOffset: 11, frameLen: 12, sourceIp: 14 };

/** What every record of a valid IPv4 frame must say, given the frame and its inner length. */
function recordProblem(record: number[], frame: Uint8Array, innerLen: number, frameOffset?: number): string | null {
  const expected: Record<string, number> = {
    status: 0, l3: 14, l4: 34, vxlan: 42, inner: IPV4_OVERHEAD, innerLen, vni: TUNNEL.vni, ipVersion: 4,
    sourcePort: (frame[34] << 8) | frame[35], sourceIp: 26,
  };
  if (frameOffset !== undefined) Object.assign(expected, { frameOffset, frameLen: innerLen + IPV4_OVERHEAD });
  for (const [name, want] of Object.entries(expected)) {
    const got = record[FIELD[name as keyof typeof FIELD]];
    if (got !== want) return `record field ${name} is ${got}, expected ${want}`;
  }
  return null;
}

/** Check batch.c's validation output against the reference's frames; problems by case id. */
function checkBatchValidation(output: string, frames: BatchFrames): Record<string, string> {
  const wrong: Record<string, string> = {};
  const lines = output.split('\n');
  let at = 0;
  const next = () => lines[at++] ?? '';
  const slotLine = (line: string, slot: number) => {
    const match = /^slot (\d+) record ((?:-?\d+ ?)+?)(?: frame ([0-9a-f]*))?$/.exec(line);
    if (!match || Number(match[1]) !== slot) throw new Error(`batch.out: unexpected line "${line.slice(0, 80)}"`);
    return { record: match[2].trim().split(' ').map(Number), frame: match[3] ?? '' };
  };
  for (const innerLen of INNER_SIZES) {
    const { withChecksum, withoutChecksum } = frames[innerLen];
    for (const mode of CHECKSUM_MODES) {
      const id = caseId.batchEncap(mode, innerLen);
      const header = next();
      if (!header.startsWith(`encap ${mode} ${innerLen} done `)) throw new Error(`batch.out: expected encap ${mode} ${innerLen}, got "${header}"`);
      const done = Number(header.split(' ').pop());
      const expected = mode === 'zero' ? withoutChecksum : withChecksum;
      for (let slot = 0; slot < BATCH_SIZE; slot++) {
        const { record, frame } = slotLine(next(), slot);
        if (wrong[id]) continue;
        if (done !== BATCH_SIZE) wrong[id] = `encapsulated ${done} of ${BATCH_SIZE} slots (slot 0 status ${record[0]})`;
        const want = hex(withIdentification(expected[slot], (FIRST_IDENTIFICATION + slot) & 0xffff));
        if (!wrong[id] && frame !== want) wrong[id] = `slot ${slot}: frame differs from the reference's ${firstDifference(frame, want)}`;
        const problem = wrong[id] ? null : recordProblem(record, expected[slot], innerLen, 128 - IPV4_OVERHEAD);
        if (problem) wrong[id] = `slot ${slot}: ${problem}`;
      }
    }
    for (const csum of [false, true]) {
      const id = caseId.batchDecap(csum, innerLen);
      const header = next();
      const match = new RegExp(`^decap ${csum ? 'csum' : 'nocsum'} ${innerLen} valid (\\d+) counted (\\d+)$`).exec(header);
      if (!match) throw new Error(`batch.out: expected decap ${innerLen}, got "${header}"`);
      if (Number(match[1]) !== BATCH_SIZE || Number(match[2]) !== BATCH_SIZE) wrong[id] = `accepted ${match[1]} of ${BATCH_SIZE} frames (counted ${match[2]})`;
      const list = csum ? withChecksum : withoutChecksum;
      for (let slot = 0; slot < BATCH_SIZE; slot++) {
        const { record } = slotLine(next(), slot);
        const problem = wrong[id] ? null : recordProblem(record, list[slot], innerLen);
        if (problem) wrong[id] = `slot ${slot}: ${problem}`;
      }
      const ttl = Number(next().replace('flipped ttl status ', ''));
      const payload = Number(next().replace('flipped payload status ', ''));
      // DecodeStatus BAD_IPV4_CHECKSUM (5) and BAD_UDP_CHECKSUM (10); with no UDP checksum a payload byte goes unnoticed.
      if (!wrong[id] && ttl !== 5) wrong[id] = `a frame with its TTL flipped: status ${ttl}, expected BAD_IPV4_CHECKSUM (5)`;
      if (!wrong[id] && payload !== (csum ? 10 : 0)) wrong[id] = `a frame with a payload byte flipped: status ${payload}, expected ${csum ? 'BAD_UDP_CHECKSUM (10)' : 'OK (0)'}`;
    }
  }
  return wrong;
}

/** The native batch twin (batch.c) for the batch suite's encap and decap cases; figures in ns per packet. */
export function nativeBatchContender(): ExternalContender {
  const ids = INNER_SIZES.flatMap((n) => [...CHECKSUM_MODES.map((mode) => caseId.batchEncap(mode, n)), caseId.batchDecap(false, n), caseId.batchDecap(true, n)]);
  let input: Buffer | undefined;
  return {
    name: NATIVE,
    description: 'bench/native/batch.c: the batch encap (zero, offload, full) and decap kernels\' fast paths in C, same slot, record and template layout; AVX2 sums; its own timing loop, one process per round',
    caseIds: ids,
    async prepare(_quick, data) {
      compile(batchSource, batchBinary);
      input = batchInput(data as BatchFrames);
      const wrong = checkBatchValidation(runBatch(['validate'], input), data as BatchFrames);
      return { cases: ids.filter((id) => !(id in wrong)), wrong };
    },
    async sample(sampleMs: number) {
      const figures: Record<string, number> = {};
      for (const line of runBatch(['time', String(sampleMs), String(Math.max(2, sampleMs / 4))], input!).trim().split('\n')) {
        const [id, ns] = line.split(' ');
        if (ids.includes(id)) figures[id] = Number(ns);
      }
      return figures;
    },
  };
}
