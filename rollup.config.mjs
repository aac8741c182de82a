// Builds dist/: the library as ESM (.mjs) and CJS (.cjs) with bundled type declarations for
// each, and the CLI as ESM. The WASM bytes travel inside the JS (src/wasm/generated.ts), so
// there is no asset to copy and no file to look up at run time.
import typescript from '@rollup/plugin-typescript';
import { dts } from 'rollup-plugin-dts';
import { readFileSync } from 'node:fs';

const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));

/** Writes package.json's version where src/cli/version.ts names __PACKAGE_VERSION__, so it is stated once. */
const packageVersion = () => ({
  name: 'package-version',
  transform(code, id) {
    if (!code.includes('__PACKAGE_VERSION__')) return null;
    return { code: code.replaceAll('__PACKAGE_VERSION__', JSON.stringify(version)), map: null };
  },
});

const external = (id) => id.startsWith('node:');
const ts = () => typescript({ tsconfig: './tsconfig.json', declaration: false, noEmitOnError: true });

export default [
  {
    input: 'src/index.ts',
    external,
    output: [
      { file: 'dist/index.mjs', format: 'es' },
      { file: 'dist/index.cjs', format: 'cjs' },
    ],
    plugins: [ts()],
  },
  {
    input: 'src/index.ts',
    output: [
      { file: 'dist/index.d.mts', format: 'es' },
      { file: 'dist/index.d.cts', format: 'es' },
    ],
    plugins: [dts()],
  },
  {
    input: 'src/cli/main.ts',
    external,
    output: { file: 'dist/cli.mjs', format: 'es' },
    plugins: [ts(), packageVersion()],
  },
];
