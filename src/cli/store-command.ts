/**
 * What the commands over etcd's networks (`network`, `endpoint`) decide alike: the subcommand and
 * its one argument checked before connecting (a mistake: one sentence, exit 2), a network name
 * checked the same way, --help, then the work on a connected client (runWithStore: refusals and an
 * unreachable etcd one sentence, exit 1), and the tables they print.
 */
import type { Etcd3 } from 'etcd3';
import { ConfigError } from './config';
import { checkNetworkName } from '../control/networks';
import { runWithStore } from './options';
import type { StoreOptions } from '../control/store';

/** A sentence ends with a full stop (or a question mark). */
export const sentence = (text: string) => (/[.?]$/.test(text) ? text : `${text}.`);

export interface SubcommandRules {
  /** The subcommands, as the usage lists them. */
  commands: readonly string[];
  /** Other spellings (list → ls). */
  aliases?: Record<string, string>;
  /** Subcommands that take no argument, each with a hint for one given anyway ('' for none). */
  noArgument?: Record<string, string>;
  /** Subcommands that need their argument, each with what it is. */
  needsArgument?: Record<string, string>;
}

const either = (items: readonly string[]) => (items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`);

/** The subcommand (aliases resolved) and its argument, from the positionals of `vxlan-wasm CLI …`. */
export function subcommandOf(cli: string, positionals: string[], rules: SubcommandRules): { command: string; argument?: string } {
  const [sub, argument, ...extra] = positionals;
  if (sub === undefined) throw new ConfigError(cli, `needs a subcommand: ${either(rules.commands)} (see ${cli} --help).`);
  const command = rules.aliases?.[sub] ?? sub;
  if (!rules.commands.includes(command)) throw new ConfigError(sub, `is not ${/^[aeiou]/.test(cli) ? 'an' : 'a'} ${cli} subcommand (${rules.commands.join(', ')}).`);
  if (extra.length > 0) throw new ConfigError(extra[0], `is one argument too many for ${cli} ${command}.`);
  const hint = rules.noArgument?.[command];
  if (hint !== undefined && argument !== undefined) throw new ConfigError(argument, `is one argument too many for ${cli} ${command}${hint}.`);
  const needed = rules.needsArgument?.[command];
  if (needed !== undefined && argument === undefined) throw new ConfigError(`${cli} ${command}`, `needs ${needed}.`);
  return { command, argument };
}

/** A network name given on the command line: a usage error (exit 2) naming `what` if it is not one. */
export function checkNetworkNameArgument(what: string, name: string): string {
  try {
    checkNetworkName(name);
  } catch (error) {
    throw new ConfigError(what, sentence((error as Error).message));
  }
  return name;
}

export interface StoreCommandIo {
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
}

/**
 * Run `vxlan-wasm CLI …`: `parse` (a ConfigError: its sentence, exit 2), --help (the usage, exit
 * 0), then `work` on a client of the parsed store options; resolves to the exit code once the
 * client is closed.
 */
export async function runStoreCommand<Parsed extends { store: StoreOptions }>(
  cli: string, argv: string[], io: StoreCommandIo, usage: string,
  parse: (argv: string[]) => Parsed | 'help',
  work: (client: Etcd3, parsed: Parsed, write: (line: string) => void) => Promise<void>,
): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  let parsed: Parsed | 'help';
  try {
    parsed = parse(argv);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    stderr.write(`vxlan-wasm ${cli}: ${error.message}\n`);
    return 2;
  }
  if (parsed === 'help') {
    stdout.write(`${usage}\n`);
    return 0;
  }
  const command = parsed;
  return runWithStore(cli, command.store, stderr, (client) => work(client, command, (line) => stdout.write(`${line}\n`)));
}

/** Rows as columns two spaces apart, each as wide as its widest cell (the first row: the heads). */
export function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column])).join('  ').trimEnd());
}
