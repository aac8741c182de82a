/**
 * Access to etcd through the `etcd3` client, set up for a control plane that must notice trouble
 * quickly and recover by itself:
 * - every unary call has a deadline (`callTimeoutMs`), so "etcd is unreachable" is an answer
 *   within seconds, never a hang;
 * - etcd3's own fault handling (a 3-try retry and a per-host circuit breaker that stays open 5 s)
 *   is replaced by a plain "try each endpoint once" policy: the agent has its own resync loop with
 *   backoff, and a breaker would only delay the first call after etcd is back;
 * - TLS (CA, client certificate and key) and user/password authentication as etcd offers them.
 */
import { readFileSync } from 'node:fs';
import { Etcd3, isRecoverableError, type IOptions } from 'etcd3';

export interface StoreOptions {
  /** Client URLs, e.g. ['http://127.0.0.1:2379'] (https:// with TLS). */
  endpoints: string[];
  /** TLS (https:// URLs); default: whether the first URL is https://. */
  tls?: boolean;
  /** PEM files: the CA that signed etcd's certificate (default: the system's), this client's certificate and key. */
  ca?: string;
  cert?: string;
  key?: string;
  user?: string;
  password?: string;
  /** Deadline of each unary call (default 3000 ms). */
  callTimeoutMs?: number;
}

/** A cockatiel-shaped policy (etcd3 only calls `execute`): run the call, retrying a recoverable failure on the next endpoint. */
function tryEachEndpoint(attempts: number) {
  return {
    async execute<T>(fn: (context: { signal: AbortSignal; attempt: number }) => Promise<T> | T): Promise<T> {
      const signal = new AbortController().signal;
      for (let attempt = 0; ; attempt++) {
        try {
          return await fn({ signal, attempt });
        } catch (error) {
          if (attempt + 1 >= attempts || !isRecoverableError(error as Error)) throw error;
        }
      }
    },
  };
}

const passThrough = {
  execute<T>(fn: (context: { signal: AbortSignal; attempt: number }) => Promise<T> | T): Promise<T> {
    return Promise.resolve().then(() => fn({ signal: new AbortController().signal, attempt: 0 }));
  },
};

/** A client for `options` (nothing is sent until the first call). */
export function connect(options: StoreOptions): Etcd3 {
  const callTimeoutMs = options.callTimeoutMs ?? 3000;
  const clientOptions: IOptions = {
    hosts: options.endpoints,
    dialTimeout: callTimeoutMs,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
    faultHandling: {
      host: () => passThrough as never,
      global: tryEachEndpoint(options.endpoints.length) as never,
    },
    grpcOptions: {
      // Notice a dead connection (no FIN: a partition, a suspended VM) within seconds.
      'grpc.keepalive_time_ms': 5000,
      'grpc.keepalive_timeout_ms': 3000,
      'grpc.keepalive_permit_without_calls': 1,
      // Reconnect soon after etcd is back instead of after grpc's default backoff of up to 120 s.
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 2000,
      // A join reads a whole network at one revision: about 290 B a key, so grpc-js's default of
      // 4 MiB a message ended networks at some 14,000 hosts and endpoints (bench/control.ts part D
      // at 10×). 256 MiB takes about 900,000; paging that read is the way past it.
      'grpc.max_receive_message_length': 256 * 1024 * 1024,
    },
  };
  if (options.tls ?? options.endpoints[0]?.startsWith('https:')) {
    clientOptions.credentials = {
      // undefined: grpc's default roots (the system's CAs).
      rootCertificate: (options.ca === undefined ? undefined : readFileSync(options.ca)) as Buffer,
      certChain: options.cert === undefined ? undefined : readFileSync(options.cert),
      privateKey: options.key === undefined ? undefined : readFileSync(options.key),
    };
  }
  if (options.user !== undefined) {
    clientOptions.auth = {
      username: options.user,
      password: options.password ?? '',
      callOptions: () => ({ deadline: Date.now() + callTimeoutMs }),
    };
  }
  return new Etcd3(clientOptions);
}

/** Whether an error from the client means "could not reach etcd" (as opposed to a refusal by etcd). */
export function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (isRecoverableError(error)) return true;
  return /deadline|unavailable|ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|No connection established|failed to connect|timed out/i.test(`${error.name} ${error.message}`);
}

/** One sentence for "etcd could not be reached", with the client's reason cut to its useful part. */
export function unreachableSentence(options: StoreOptions, error: unknown): string {
  const reason = String((error as Error).message ?? error).replace(/\.? *Resolution note:.*$/s, '').replace(/^\d+ [A-Z_]+: /, '');
  return `could not reach etcd at ${options.endpoints.join(', ')} within ${(options.callTimeoutMs ?? 3000) / 1000} s (${reason}); is it running and reachable?`;
}
