/**
 * An install without optional dependencies (`npm ci --omit=optional`, or a machine where
 * raw-socket's node-gyp build failed, which npm treats the same way) leaves node_modules without
 * raw-socket. The checksum bench must then report that contender NOT RUN and run everything
 * else, exiting 0.
 *
 * Rather than a second `npm ci`, this lays out that exact node_modules: a copy of the sources the
 * bench reads (bench/, src/, assembly/, test/helpers/, dist/, package.json) in a temporary directory whose
 * node_modules links every installed package but raw-socket. Resolution from the copy's
 * bench/suites/checksum.ts finds no raw-socket, as after `npm ci --omit=optional`.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const root = fileURLToPath(new URL('../../', import.meta.url));

test('checksum bench --quick without raw-socket: NOT RUN reported, every other contender validated and timed, exit 0', () => {
  assert.ok(existsSync(join(root, 'dist/index.mjs')), 'dist/index.mjs is missing: build first (npm run build)');
  const copy = mkdtempSync(join(tmpdir(), 'vxlan-wasm-no-optional-'));
  try {
    for (const path of ['bench', 'src', 'assembly', 'test/helpers', 'dist', 'package.json', 'tsconfig.json']) {
      cpSync(join(root, path), join(copy, path), { recursive: true, preserveTimestamps: true, filter: (from) => !from.includes('/bench/results') && !from.endsWith('.out') });
    }
    mkdirSync(join(copy, 'node_modules'));
    for (const name of readdirSync(join(root, 'node_modules'))) {
      if (name === 'raw-socket') continue;
      symlinkSync(join(root, 'node_modules', name), join(copy, 'node_modules', name));
    }
    const out = join(copy, 'quick.json');
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick', '--suite', 'checksum', '--out', out], {
      cwd: copy,
      encoding: 'utf8',
      timeout: 120_000,
    });
    const output = `${run.stdout}\n${run.stderr}`;
    assert.is(run.status, 0, `bench exited ${run.status}:\n${output.slice(-3000)}`);
    assert.match(output, /raw-socket createChecksum: NOT RUN: raw-socket is not installed/);

    const result = JSON.parse(readFileSync(out, 'utf8')) as {
      suites: { measurements: { caseId: string; contender: string; status: string; stats?: unknown }[] }[];
    };
    const measurements = result.suites[0].measurements;
    const raw = measurements.filter((m) => m.contender === 'raw-socket createChecksum');
    assert.equal(raw.map((m) => `${m.caseId}:${m.status}`), ['heap-64:not run', 'heap-1500:not run', 'heap-9000:not run']);
    const others = measurements.filter((m) => m.contender !== 'raw-socket createChecksum');
    assert.ok(others.length >= 20, `only ${others.length} other measurements`);
    for (const m of others) {
      // gcc is part of the test machine's image; without it the native twin is NOT RUN too.
      if (m.contender.startsWith('native C') && m.status === 'not run') continue;
      assert.is(m.status, 'ok', `${m.contender} on ${m.caseId}: ${m.status}`);
      assert.ok(m.stats, `${m.contender} on ${m.caseId} has no figures`);
    }
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
});

test.run();
