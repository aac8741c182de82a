/**
 * The reaper's timer, shared by the CNI service and the Docker driver: each checks every
 * `everyMs` for endpoints whose container is gone (a crash, a namespace deleted by hand, a DEL or
 * Leave that never came). A failed round is logged at debug and the next one tries again; the
 * timer never keeps the process alive.
 */
import type { AgentLogger } from './logger';

/** Start calling `reap` every `everyMs`; undefined (no timer) when `everyMs` ≤ 0. Stop it with clearInterval. */
export function startReaping(reap: () => Promise<unknown>, everyMs: number, logger: AgentLogger): NodeJS.Timeout | undefined {
  if (everyMs <= 0) return undefined;
  const timer = setInterval(() => {
    void reap().catch((error: Error) => logger.debug({ err: error.message }, 'reaping failed; next round'));
  }, everyMs);
  timer.unref();
  return timer;
}
