/**
 * The native C checksum (checksum.c) as an external contender: compiled at bench time with
 * `gcc -O3 -march=native`, run as a child process once per round; it times itself and prints
 * ns/op for 64, 1500 and 9000 bytes of the same data the WASM kernel sums.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { internetChecksum } from '../../src/reference/checksum';
import type { ExternalContender } from '../lib/types';

const source = fileURLToPath(new URL('./checksum.c', import.meta.url));
const binary = fileURLToPath(new URL('./checksum.out', import.meta.url));
const LENGTHS = [64, 1500, 9000];

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
    name: 'native C (gcc -O3 -march=native)',
    description: 'bench/native/checksum.c: AVX2 vpmaddwd sum, 4 accumulators, data already in memory; its own timing loop, one process per round',
    async prepare() {
      const flags = ['-O3', '-march=native', '-o', binary, source];
      try {
        execFileSync('gcc', flags, { stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (error) {
        throw new Error(`gcc ${flags.join(' ')} failed (is gcc installed?): ${(error as { stderr?: Buffer }).stderr?.toString() ?? error}`);
      }
      contender.compiler = `gcc ${flags.slice(0, 2).join(' ')}`;
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
