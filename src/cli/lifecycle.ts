/**
 * The life of a long-running command (forward, agent): it runs until SIGINT or SIGTERM (exit 0)
 * or until one of its ports breaks (exit 1), then closes everything within a time limit, and
 * exits hard with 1 if shutdown hangs — never a process that neither works nor ends.
 */
import type { AddressInfo } from 'node:net';
import { endpointText, type LogLevel } from './config';
import type { EventEmitter } from 'node:events';
import { createLogger, DropReporter, type Logger } from './log';
import { createMetrics, type ForwarderMetrics, type MetricsSource } from './metrics';

/** A Forwarder, or a MultiQueueForwarder: counters to report, and 'error' when a port breaks. */
export type ObservedForwarder = MetricsSource & Pick<EventEmitter, 'on'>;

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

/**
 * What a long-running command says about its forwarder: the pino logger, a broken port logged as
 * fatal (and the command stopped with 1), drop summaries, and Prometheus metrics if asked for.
 * Two steps because the error listener must be on before the forwarder starts, while the agent
 * reports and serves metrics only once it has joined.
 */
export class ForwarderObservability {
  readonly logger: Logger;
  private reporter: DropReporter | undefined;
  private metrics: ForwarderMetrics | undefined;

  /** Logs at `level` to `destination` (default fd 2, stderr). */
  constructor(level: LogLevel, destination: number | NodeJS.WritableStream = 2) {
    this.logger = createLogger(level, destination);
  }

  /** Before `forwarder.start()`: a port that breaks is logged and stops the command with exit code 1. */
  stopOnBrokenPort(forwarder: ObservedForwarder, stop: StopRequest): void {
    forwarder.on('error', (error: Error) => {
      this.logger.fatal({ err: error }, `a port of the forwarder broke, stopping: ${error.message}`);
      stop.stop(1);
    });
  }

  /**
   * Once the forwarder runs: drop summaries start and, with `listen`, metrics are served there
   * (`addMetrics` first puts the command's own on the registry). Resolves to the metrics' bound
   * address and URL, both undefined without `listen`.
   */
  async report(
    forwarder: ObservedForwarder,
    listen: { host: string; port: number } | undefined,
    addMetrics?: (metrics: ForwarderMetrics) => void,
  ): Promise<{ address?: AddressInfo; url?: string }> {
    this.reporter = new DropReporter(forwarder, this.logger);
    this.reporter.start();
    if (listen === undefined) return {};
    this.metrics = createMetrics(forwarder);
    addMetrics?.(this.metrics);
    const address = (await this.metrics.serve(listen.host, listen.port)).address() as AddressInfo;
    return { address, url: `http://${endpointText({ address: address.address, port: address.port })}/metrics` };
  }

  /** Stop the drop summaries (a last one covers the rest) and close the metrics server. */
  close(): Promise<void> {
    this.reporter?.stop();
    return this.metrics?.close() ?? Promise.resolve();
  }
}
