/**
 * The life of a long-running command (forward, agent): it runs until SIGINT or SIGTERM (exit 0)
 * or until one of its ports breaks (exit 1), then closes everything within a time limit, and
 * exits hard with 1 if shutdown hangs — never a process that neither works nor ends.
 */
import type { Logger } from 'pino';

export class StopRequest {
  /** Resolves to the exit code once something asked to stop. */
  readonly stopped: Promise<number>;
  /** The signal that asked to stop, if one did. */
  signal: string | undefined;
  private resolve!: (code: number) => void;
  private readonly onSigint = () => this.fromSignal('SIGINT');
  private readonly onSigterm = () => this.fromSignal('SIGTERM');

  /** Listens for SIGINT and SIGTERM on `signals` until dispose(). */
  constructor(private readonly signals: NodeJS.EventEmitter) {
    this.stopped = new Promise<number>((resolve) => {
      this.resolve = resolve;
    });
    signals.on('SIGINT', this.onSigint);
    signals.on('SIGTERM', this.onSigterm);
  }

  /** Stop with `code` (the first request wins). */
  stop(code: number): void {
    this.resolve(code);
  }

  private fromSignal(signal: string): void {
    this.signal ??= signal;
    this.stop(0);
  }

  dispose(): void {
    this.signals.off('SIGINT', this.onSigint);
    this.signals.off('SIGTERM', this.onSigterm);
  }
}

export interface ShutdownOptions {
  /** The command's name, for the one plain sentence on stderr. */
  command: string;
  timeoutMs: number;
  logger: Logger;
  stderr: NodeJS.WritableStream;
  /** The hard exit when shutdown hangs (default process.exit). */
  exit?: (code: number) => void;
}

/** Run `close`; if it has not finished within the time limit, say so and exit with 1. */
export async function closeWithin(close: () => Promise<unknown>, options: ShutdownOptions): Promise<void> {
  const { command, timeoutMs, logger, stderr } = options;
  const hardTimer = setTimeout(() => {
    logger.fatal({ timeoutMs }, 'shutdown hung: exiting without waiting for the rest');
    stderr.write(`vxlan-wasm ${command}: shutdown did not finish within ${timeoutMs} ms; exiting with code 1\n`);
    (options.exit ?? process.exit)(1);
  }, timeoutMs);
  try {
    await close();
  } finally {
    clearTimeout(hardTimer);
  }
}
