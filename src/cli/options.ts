/**
 * The etcd flags `network` and `agent` share, checked before anything connects:
 *
 *   --etcd URL[,URL…]     client URLs (default http://127.0.0.1:2379); all http or all https
 *   --etcd-ca FILE        CA certificate (PEM) that signed etcd's; https only
 *   --etcd-cert FILE      client certificate (PEM), with --etcd-key
 *   --etcd-key FILE       its private key (PEM)
 *   --etcd-user NAME      user for etcd's authentication, with --etcd-password
 *   --etcd-password TEXT
 *   --etcd-timeout S      how long a call may wait for etcd (default 5 s)
 */
import { accessSync, constants } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError } from './config';
import { joinNegativeValues } from './args';
import type { Etcd3 } from 'etcd3';
import { connect, isUnavailable, unreachableSentence, type StoreOptions } from '../control/store';
import { LayoutError } from '../control/layout';
import { NetworkError } from '../control/networks';

export const ETCD_FLAGS = {
  etcd: { type: 'string' },
  'etcd-ca': { type: 'string' },
  'etcd-cert': { type: 'string' },
  'etcd-key': { type: 'string' },
  'etcd-user': { type: 'string' },
  'etcd-password': { type: 'string' },
  'etcd-timeout': { type: 'string' },
} as const;

export const ETCD_FLAGS_HELP = `etcd:
  --etcd URL[,URL…]    etcd client URLs (default http://127.0.0.1:2379); https:// for TLS
  --etcd-ca FILE       CA certificate (PEM) for etcd's server certificate (default: the system's)
  --etcd-cert FILE     client certificate (PEM) for etcd's client-certificate authentication
  --etcd-key FILE      the client certificate's private key (PEM)
  --etcd-user NAME     etcd user (with --etcd-password)
  --etcd-password PW   etcd password
  --etcd-timeout S     give up on an etcd call after S seconds (default 5)`;

export const DEFAULT_ETCD = 'http://127.0.0.1:2379';

export interface EtcdFlags {
  etcd?: string;
  'etcd-ca'?: string;
  'etcd-cert'?: string;
  'etcd-key'?: string;
  'etcd-user'?: string;
  'etcd-password'?: string;
  'etcd-timeout'?: string;
}

function readable(path: string, flag: string): string {
  try {
    accessSync(path, constants.R_OK);
  } catch (error) {
    throw new ConfigError(flag, `${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'denied'}).`);
  }
  return path;
}

/** The flags as StoreOptions; every mistake a ConfigError (one sentence, exit 2). */
export function storeOptions(flags: EtcdFlags): StoreOptions {
  const endpoints = (flags.etcd ?? DEFAULT_ETCD).split(',').map((url) => url.trim()).filter((url) => url !== '');
  if (endpoints.length === 0) throw new ConfigError('--etcd', 'needs at least one URL, e.g. http://127.0.0.1:2379.');
  for (const url of endpoints) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ConfigError('--etcd', `${JSON.stringify(url)} is not a URL like http://10.0.0.5:2379.`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new ConfigError('--etcd', `${JSON.stringify(url)} must start with http:// or https://.`);
    }
    if (parsed.port === '' || (parsed.pathname !== '/' && parsed.pathname !== '')) {
      throw new ConfigError('--etcd', `${JSON.stringify(url)} needs a port and no path, like http://10.0.0.5:2379.`);
    }
  }
  const tls = endpoints.map((url) => url.startsWith('https:'));
  if (tls.some((x) => x) && !tls.every((x) => x)) throw new ConfigError('--etcd', 'mixes http:// and https:// URLs; use one or the other.');
  const secure = tls[0];
  const { 'etcd-ca': ca, 'etcd-cert': cert, 'etcd-key': key, 'etcd-user': user, 'etcd-password': password } = flags;
  if (!secure && (ca !== undefined || cert !== undefined || key !== undefined)) {
    throw new ConfigError(ca !== undefined ? '--etcd-ca' : cert !== undefined ? '--etcd-cert' : '--etcd-key', 'needs https:// etcd URLs (TLS).');
  }
  if ((cert === undefined) !== (key === undefined)) throw new ConfigError(cert === undefined ? '--etcd-key' : '--etcd-cert', 'needs --etcd-cert and --etcd-key together.');
  if ((user === undefined) !== (password === undefined)) throw new ConfigError(user === undefined ? '--etcd-password' : '--etcd-user', 'needs --etcd-user and --etcd-password together.');
  let timeoutMs = 5000;
  if (flags['etcd-timeout'] !== undefined) {
    const seconds = Number(flags['etcd-timeout']);
    if (!/^[0-9]+(\.[0-9]+)?$/.test(flags['etcd-timeout']) || seconds < 0.1 || seconds > 600) {
      throw new ConfigError('--etcd-timeout', `${JSON.stringify(flags['etcd-timeout'])} is not a number of seconds in 0.1..600.`);
    }
    timeoutMs = Math.round(seconds * 1000);
  }
  return {
    endpoints, tls: secure, callTimeoutMs: timeoutMs,
    ca: ca === undefined ? undefined : readable(ca, '--etcd-ca'),
    cert: cert === undefined ? undefined : readable(cert, '--etcd-cert'),
    key: key === undefined ? undefined : readable(key, '--etcd-key'),
    user, password,
  };
}

/** node:util parseArgs with its errors as ConfigErrors naming the flag (exit 2). */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(
  command: string, argv: string[], options: T, allowPositionals: boolean,
): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: joinNegativeValues(argv, options), options, strict: true, allowPositionals });
    return { values: values as Record<string, string | boolean | string[] | undefined>, positionals };
  } catch (error) {
    const { code, message } = error as { code?: string; message: string };
    const flag = /'(-[^' ]*)/.exec(message)?.[1] ?? 'arguments';
    switch (code) {
      case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
        throw new ConfigError(flag, `is not a flag of ${command} (see ${command} --help).`);
      case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
        throw new ConfigError(/'([^']*)'/.exec(message)?.[1] ?? 'arguments', `is not a flag: ${command} takes flags only (see --help).`);
      case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
        throw new ConfigError(flag, message.includes('argument missing') ? 'needs a value.' : `${message.replace(/\.$/, '')}.`);
      default:
        throw error;
    }
  }
}

/**
 * Run a command's work against etcd and turn what fails into its one sentence and exit code: a
 * refusal the control plane names (no such network, exists, in use: 1; INVALID, a mistake: 2), the
 * old key layout (1), etcd unreachable (1, saying which URLs), anything else etcd refused (1).
 * The client is closed whatever happens.
 */
export async function runWithStore(
  command: string, store: StoreOptions, stderr: NodeJS.WritableStream, work: (client: Etcd3) => Promise<void>,
): Promise<number> {
  const client = connect(store);
  try {
    await work(client);
    return 0;
  } catch (error) {
    if (error instanceof NetworkError || error instanceof LayoutError) {
      stderr.write(`vxlan-wasm ${command}: ${error.message}\n`);
      return error instanceof NetworkError && error.code === 'INVALID' ? 2 : 1;
    }
    if (isUnavailable(error)) {
      stderr.write(`vxlan-wasm ${command}: ${unreachableSentence(store, error)}\n`);
      return 1;
    }
    stderr.write(`vxlan-wasm ${command}: etcd refused the request: ${(error as Error).message}\n`);
    return 1;
  } finally {
    client.close();
  }
}
