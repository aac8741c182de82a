// Builds dist/: the codec ('vxlan-wasm', dist/index.*), the forwarder ('vxlan-wasm/forwarder',
// dist/forwarder.*), the control plane ('vxlan-wasm/control', dist/control.*), the CLI (dist/cli.mjs) and the CNI plugin (dist/cni.mjs), as ESM (.mjs) and CJS (.cjs) with bundled type
// declarations for each. The entries are built together, so the code they share (the codec and
// its WASM) lands once, in a shared chunk under dist/chunks/, never copied into each entry. The
// WASM bytes travel inside the JS (src/wasm/generated.ts): no asset to copy, no file to look up.
import typescript from '@rollup/plugin-typescript';
import { dts } from 'rollup-plugin-dts';
import { readFileSync, rmSync } from 'node:fs';

// Start from an empty dist/: chunk names carry content hashes, so an old build's chunks would
// otherwise stay behind next to the new ones.
rmSync(new URL('./dist', import.meta.url), { recursive: true, force: true });

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));

/** Writes package.json's version where src/cli/version.ts names __PACKAGE_VERSION__, so it is stated once. */
const packageVersion = () => ({
  name: 'package-version',
  transform(code) {
    if (!code.includes('__PACKAGE_VERSION__')) return null;
    return { code: code.replaceAll('__PACKAGE_VERSION__', JSON.stringify(pkg.version)), map: null };
  },
});

/** Node's modules and the package's (optional peer) dependencies are imported at run time, not bundled. */
const dependencies = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})];
const external = (id) => id.startsWith('node:') || dependencies.some((name) => id === name || id.startsWith(`${name}/`));

const libraryEntries = { index: 'src/index.ts', forwarder: 'src/forwarder/index.ts', control: 'src/control/index.ts' };
const ts = () => typescript({ tsconfig: './tsconfig.json', declaration: false, noEmitOnError: true });

export default [
  {
    // The multi-queue forwarder's worker threads load dist/queue-worker.mjs, and the reader workers
    // dist/reader-thread.mjs (ESM only: a worker started from the CJS build loads them all the same).
    input: {
      ...libraryEntries, cli: 'src/cli/main.ts', cni: 'src/cni/main.ts', 'queue-worker': 'src/forwarder/multi-queue/queue-worker.ts',
      'reader-thread': 'src/forwarder/io/reader-thread.ts',
    },
    external,
    output: { dir: 'dist', format: 'es', entryFileNames: '[name].mjs', chunkFileNames: 'chunks/[name]-[hash].mjs' },
    plugins: [ts(), packageVersion()],
  },
  {
    input: libraryEntries,
    external,
    output: { dir: 'dist', format: 'cjs', entryFileNames: '[name].cjs', chunkFileNames: 'chunks/[name]-[hash].cjs' },
    plugins: [ts(), packageVersion()],
  },
  {
    input: libraryEntries,
    external,
    output: [
      { dir: 'dist', format: 'es', entryFileNames: '[name].d.mts', chunkFileNames: 'chunks/[name]-[hash].d.mts' },
      { dir: 'dist', format: 'es', entryFileNames: '[name].d.cts', chunkFileNames: 'chunks/[name]-[hash].d.cts' },
    ],
    plugins: [dts()],
  },
];
