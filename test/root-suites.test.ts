// The suites that need root, namespaces, Docker, podman or etcd are listed in one place, the table
// in test/README.md: a suite that asks for any of it (through the helpers that decide whether it
// can run) and is missing there fails here, and so does a row naming a file that is not there or
// that asks for none of it. The list is what a contributor without root reads to know what CI
// runs that they did not.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * How a suite says it needs root or a service: the helpers of test/helpers/ (and interop/tools.ts)
 * that decide whether it can run, a Lab (network namespaces), or its own root check.
 */
export const NEEDS_ROOT_OR_SERVICE = /\b(labReady|labUnusable|netnsUnusable|dockerUnusable|startDockerHosts|podmanUnusable|etcdUnusable|isRoot)\b|\bnew Lab\(/;

/** The table rows' first cells: `test/….test.ts`. */
export function listedSuites(readme: string): string[] {
  return [...readme.matchAll(/^\| `(test\/[^`]+)` \|/gm)].map((match) => match[1]);
}

function testFiles(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) return entry.name === 'fixtures' ? [] : testFiles(path);
    return entry.name.endsWith('.test.ts') ? [relative(root, path)] : [];
  });
}

const readme = readFileSync(join(root, 'test/README.md'), 'utf8');
const listed = listedSuites(readme);

test('the detector and the table parser see what they should', () => {
  assert.ok(NEEDS_ROOT_OR_SERVICE.test("if (!labReady(test, 'x', [], TESTS))"));
  assert.ok(NEEDS_ROOT_OR_SERVICE.test('const lab = new Lab(\'tidy\');'));
  assert.not.ok(NEEDS_ROOT_OR_SERVICE.test('const isRooted = 1; // a Label('));
  assert.equal(listedSuites('| suite | needs |\n|---|---|\n| `test/a.test.ts` | root | x |\n| `src/b.ts` | - |\n'), ['test/a.test.ts']);
  assert.ok(listed.length >= 20, `the table in test/README.md has ${listed.length} rows`);
});

test('every suite that needs root, namespaces, Docker, podman or etcd is in test/README.md', () => {
  // This file names the helpers without calling them.
  const needing = testFiles(join(root, 'test'))
    .filter((file) => file !== 'test/root-suites.test.ts' && NEEDS_ROOT_OR_SERVICE.test(readFileSync(join(root, file), 'utf8')));
  const missing = needing.filter((file) => !listed.includes(file));
  assert.equal(missing, [], `add ${missing.join(', ')} to the table in test/README.md (what it needs, what it proves)`);
});

test('every suite test/README.md lists is there, once, and needs what it is listed for', () => {
  const absent = listed.filter((file) => !existsSync(join(root, file)));
  assert.equal(absent, [], `test/README.md lists suites that are not there: ${absent.join(', ')}`);
  const twice = listed.filter((file, i) => listed.indexOf(file) !== i);
  assert.equal(twice, [], `listed twice: ${twice.join(', ')}`);
  const needless = listed.filter((file) => !NEEDS_ROOT_OR_SERVICE.test(readFileSync(join(root, file), 'utf8')));
  assert.equal(needless, [], `listed, but they ask for no root, namespace, Docker, podman or etcd: ${needless.join(', ')}`);
});

test.run();
