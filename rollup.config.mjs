// Builds dist/: the library as ESM (.mjs) and CJS (.cjs) with bundled type declarations for
// each, and the CLI as ESM. The WASM bytes travel inside the JS (src/wasm/generated.ts), so
// there is no asset to copy and no file to look up at run time.
import typescript from '@rollup/plugin-typescript';
import { dts } from 'rollup-plugin-dts';

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
    plugins: [ts()],
  },
];
