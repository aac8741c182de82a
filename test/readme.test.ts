// The README's ten-line example runs as written, against the built package.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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
  const example = readme.split('### An agent in twenty lines')[1].match(/```js\n([\s\S]*?)```/)![1];
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

test.run();
