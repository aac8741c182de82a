/**
 * The package's version, stated once, in package.json: the build (rollup.config.mjs) writes it in
 * place of the token below. Run from source, unbuilt, the CLI says so instead of guessing.
 */
declare const __PACKAGE_VERSION__: string | undefined;

export const packageVersion: string = typeof __PACKAGE_VERSION__ === 'string' ? __PACKAGE_VERSION__ : 'unbuilt';
