// Builds dist/: the library as ESM (.mjs) and CJS (.cjs) with bundled type declarations for
// each, and the CLI as ESM. The WASM bytes travel inside the JS (src/wasm/generated.ts), so
// there is no asset to copy and no file to look up at run time. The CLI is a user of the
// library: dist/cli.mjs imports dist/index.mjs rather than carrying a second copy of it.
import typescript from '@rollup/plugin-typescript';
import { dts } from 'rollup-plugin-dts';
import { readFileSync } from 'node:fs';
import { basename, dirname, resolve, sep } from 'node:path';

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

const SOURCE = resolve('src');
const CLI_SOURCE = resolve('src/cli');
const LIBRARY_ENTRY = resolve('src/index.ts');
/** Where dist/cli.mjs finds the library: next to it. */
const LIBRARY_BUILT = './index.mjs';
const VIRTUAL = '\0library:';

/**
 * Every import from src/cli/ into the rest of src/ becomes an import of the built library. The
 * package entry itself maps to ./index.mjs. Another library module (a CLI file importing
 * '../api', say) maps to a small module re-exporting its names from ./index.mjs: the names the
 * entry exports (a name it does not is then a build error: "not exported by"), or, for a wire
 * codec imported whole (`import * as vxlan from '../wire/vxlan'`), the entry's namespace of it.
 */
const libraryAsExternal = () => {
  let entryNames;
  /** The names a module exports, following `export * from`. */
  async function exportedNames(context, id) {
    const info = await context.load({ id });
    const names = new Set(info.exports.filter((name) => name !== '*'));
    for (const [source, bindings] of Object.entries(info.exportedBindings ?? {})) {
      if (!bindings.includes('*')) continue;
      const target = await context.resolve(source, id);
      for (const name of await exportedNames(context, target.id)) if (name !== 'default') names.add(name);
    }
    return names;
  }
  return {
    name: 'library-as-external',
    async resolveId(source, importer, options) {
      if (importer?.startsWith(VIRTUAL) && source === LIBRARY_BUILT) return { id: LIBRARY_BUILT, external: true };
      if (!importer || !importer.startsWith(CLI_SOURCE + sep) || external(source)) return null;
      const resolved = await this.resolve(source, importer, { ...options, skipSelf: true });
      if (!resolved || resolved.external || !resolved.id.startsWith(SOURCE + sep) || resolved.id.startsWith(CLI_SOURCE + sep)) return resolved;
      if (resolved.id === LIBRARY_ENTRY) return { id: LIBRARY_BUILT, external: true };
      return VIRTUAL + resolved.id;
    },
    async load(id) {
      if (!id.startsWith(VIRTUAL)) return null;
      const module = id.slice(VIRTUAL.length);
      entryNames ??= await exportedNames(this, LIBRARY_ENTRY);
      const names = [...(await exportedNames(this, module))];
      const namespace = basename(module, '.ts');
      if (dirname(module) === resolve('src/wire') && entryNames.has(namespace)) {
        return `import { ${namespace} as namespace } from '${LIBRARY_BUILT}';\nexport const { ${names.join(', ')} } = namespace;\n`;
      }
      const shared = names.filter((name) => entryNames.has(name));
      return `export { ${shared.join(', ')} } from '${LIBRARY_BUILT}';\n`;
    },
  };
};
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
    external,
    output: { file: 'dist/cli.mjs', format: 'es' },
    plugins: [libraryAsExternal(), ts(), packageVersion()],
  },
];
