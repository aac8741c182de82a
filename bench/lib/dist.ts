/**
 * Every timed contender imports the built package as users do, `from 'vxlan-wasm'`, which Node
 * resolves through package.json "exports" to `dist/index.mjs` (what `npm run bench` builds first),
 * never `src/` through tsx. Why: tsx compiles each source file on its own, and imported
 * constants become getter calls that V8 does not inline; e.g. `PacketBatch.setInner` measured
 * 175 ns per call through tsx and 6.6 ns from dist/index.mjs. (tsconfig.check.json maps the same
 * name to src/index.ts for type-checking only, so that checking bench/ needs no build.)
 * Inputs and validation oracles come from test/helpers/ (the tests' frame builder, PRNG and
 * naive RFC 1071 sum), so a benchmark measures the frames the tests verify; they are not timed.
 *
 * When run without `npm run bench` (e.g. `--quick` while developing), dist/ may be older than the
 * sources: `distProblem()` says so, and run.ts prints it loudly.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
export const DIST_ENTRY = join(root, 'dist/index.mjs');

function newestMtime(dir: string): { path: string; mtimeMs: number } {
  let newest = { path: dir, mtimeMs: 0 };
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const candidate = entry.isDirectory() ? newestMtime(path) : { path, mtimeMs: statSync(path).mtimeMs };
    if (candidate.mtimeMs > newest.mtimeMs) newest = candidate;
  }
  return newest;
}

/** Null when dist/index.mjs exists and is newer than every file in src/ and assembly/; else why not. */
export function distProblem(): string | null {
  if (!existsSync(DIST_ENTRY)) return 'dist/index.mjs does not exist: run `npm run build` (or `npm run bench`, which builds first)';
  const built = statSync(DIST_ENTRY).mtimeMs;
  for (const dir of ['src', 'assembly']) {
    const newest = newestMtime(join(root, dir));
    if (newest.mtimeMs > built) {
      return `dist/index.mjs (built ${new Date(built).toISOString()}) is older than ${newest.path.slice(root.length)} (${new Date(newest.mtimeMs).toISOString()}): the figures are of the old build; run \`npm run build\``;
    }
  }
  return null;
}

/** When dist/index.mjs was built, for the record. */
export function distBuiltAt(): string | null {
  return existsSync(DIST_ENTRY) ? statSync(DIST_ENTRY).mtime.toISOString() : null;
}
