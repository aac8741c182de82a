// The README's examples, against the built package: the ten-line one and the twenty-line one run
// as written, and every example that imports the package type-checks with `tsc --strict` as a
// user's TypeScript file would (JavaScript ones too: what a strict editor would say of them).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

test('the README example prints the VNI, the source port, the address and the inner length, then the error', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const example = readme.split('## Ten lines')[1].match(/```ts\n([\s\S]*?)```/)![1];
  // Plain JavaScript as well as TypeScript: run it as an ES module from the package root.
  const output = execFileSync(process.execPath, ['--input-type=module', '-e', example], {
    cwd: root, encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' }, // uncoloured console.log
  });
  const [first, second] = output.trim().split('\n');
  assert.match(first, /^42 \d+ 10\.0\.0\.1 64$/, output);
  assert.is(second, 'TRUNCATED ipv4 14');
});

test('the README\'s twenty-line agent runs as written: two forwarders learn each other\'s host, ping gets its replies', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const example = readme.split('### Two VTEPs in twenty lines')[1].match(/```js\n([\s\S]*?)```/)![1];
  assert.ok(example.split('\n').length <= 24, 'about twenty lines');
  const output = execFileSync(process.execPath, ['--input-type=module', '-e', example], {
    cwd: root, encoding: 'utf8', timeout: 20_000, env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
  });
  const lines = output.trim().split('\n');
  assert.ok(lines.includes('vtep 2: learned 02:00:00:00:00:01 behind 127.0.0.1'), output);
  assert.ok(lines.includes('vtep 1: learned 02:00:00:00:00:02 behind 127.0.0.2'), output);
  assert.ok(lines.includes('ping: 3/3 replies, 3 round trips timed'), output);
  assert.match(output, /^vtep 1: \d+ frames out, \d+ in, 1 flooded$/m);
});

test('every README example that imports the package compiles with tsc --strict against the built types', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const examples = [...readme.matchAll(/```(ts|js)\n([\s\S]*?)```/g)].map((match) => match[2]).filter((code) => /from 'vxlan-wasm(\/forwarder|\/control)?'/.test(code));
  assert.ok(examples.length >= 5, `${examples.length} examples found`);
  // A consumer's project: node_modules holds this package (a link to the repository) and its
  // installed dependencies, as after `npm install vxlan-wasm` and the optional peers.
  const dir = mkdtempSync(join(tmpdir(), 'vxlan-readme-'));
  try {
    mkdirSync(join(dir, 'node_modules'));
    for (const name of readdirSync(join(root, 'node_modules'))) symlinkSync(join(root, 'node_modules', name), join(dir, 'node_modules', name));
    symlinkSync(root, join(dir, 'node_modules', 'vxlan-wasm'));
    const files = examples.map((code, i) => {
      const file = `example-${i + 1}.mts`;
      // Top-level await and imports: each example is a module of its own.
      writeFileSync(join(dir, file), `${code}\nexport {};\n`);
      return file;
    });
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', types: ['node'], skipLibCheck: false },
      files,
    }));
    const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', dir], { encoding: 'utf8', timeout: 120_000 });
    const listing = examples.map((code, i) => `example-${i + 1}.mts:\n${code}`).join('\n');
    assert.is(tsc.status, 0, `tsc --strict:\n${tsc.stdout}${tsc.stderr}\n${listing}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
