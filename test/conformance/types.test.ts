// The public API's byte arrays are typed Uint8Array<ArrayBuffer>, so `new Blob([encapsulate(…)])`
// type-checks with the DOM lib of TypeScript ≥ 5.7. blob-types.ts states that; this runs tsc on
// it, with a control file that must fail the same way a regression would.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');

test('new Blob([encapsulate(…)]) and Blobs of batch views type-check; a bare Uint8Array would not', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vxlan-wasm-types-'));
  try {
    const control = join(dir, 'bare-uint8array.ts');
    writeFileSync(control, 'declare const bare: Uint8Array;\nexport const blob = new Blob([bare]);\n');
    // The project's compiler options (tsconfig.json), on these two files only.
    const child = spawnSync(process.execPath, [
      tsc, '--noEmit', '--pretty', 'false', '--strict', '--target', 'ES2022', '--module', 'ESNext', '--moduleResolution', 'Bundler',
      '--lib', 'ES2022,DOM', '--types', 'node', '--skipLibCheck', '--isolatedModules', '--esModuleInterop', '--resolveJsonModule',
      join(root, 'test/conformance/blob-types.ts'), control,
    ], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    const errors = child.stdout.split('\n').filter((line) => /error TS\d+/.test(line));
    assert.ok(errors.length > 0 && errors.every((line) => line.includes('bare-uint8array.ts')), `only the control file fails:\n${child.stdout}${child.stderr}`);
    assert.ok(errors.some((line) => /TS2322/.test(line) && /ArrayBufferLike/.test(line)), `the control fails for its ArrayBufferLike:\n${errors.join('\n')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
