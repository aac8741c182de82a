/**
 * Argument helpers every command shares, in a module that imports nothing of the stack: main.ts
 * loads it for every command, and a command's own modules (and their packages) load only when it runs.
 */
import type { ParseArgsConfig } from 'node:util';

/**
 * `--vni -1` as `--vni=-1`: node:util's parseArgs takes a value that starts with a dash for a
 * flag and refuses it as "ambiguous" in three lines; joined, the value reaches the command's own
 * check, which says in one sentence why -1 is no VNI.
 */
export function joinNegativeValues(argv: readonly string[], options: NonNullable<ParseArgsConfig['options']>): string[] {
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const name = /^--([^=]+)$/.exec(argv[i])?.[1];
    if (name !== undefined && options[name]?.type === 'string' && i + 1 < argv.length && /^-\d/.test(argv[i + 1])) {
      joined.push(`${argv[i]}=${argv[i + 1]}`);
      i++;
    } else {
      joined.push(argv[i]);
    }
  }
  return joined;
}
