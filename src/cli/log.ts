/**
 * Logs of the forwarder (pino, JSON lines). Never one line per packet: drops are reported by
 * DropReporter as a summary of the counters that changed, at most once per interval, at 'warn'.
 */
import { readFileSync } from 'node:fs';
import pino, { type Logger } from 'pino';
import type { UnderlayCounters } from '../forwarder/contracts';
import type { ForwarderCounters } from '../forwarder/forwarder';
import type { LogLevel } from './config';

export type { Logger } from 'pino';

/**
 * A pino logger writing JSON lines to `destination`: a file descriptor (default 2, stderr) written
 * synchronously, so the last lines before an exit are never lost (logs are rare: no per-packet
 * line ever), or any writable stream (tests).
 */
export function createLogger(level: LogLevel, destination: number | NodeJS.WritableStream = 2): Logger {
  const stream = typeof destination === 'number' ? pino.destination({ dest: destination, sync: true }) : destination;
  return pino({ level, base: { name: 'vxlan-wasm' }, timestamp: pino.stdTimeFunctions.isoTime }, stream);
}

/** What DropReporter reads: a Forwarder, or anything with its counters. */
export interface DropSource {
  counters(): ForwarderCounters;
  readonly underlay: { readonly counters: UnderlayCounters };
}

/** Default: at most one drop summary every 10 s. */
export const DROP_REPORT_INTERVAL_MS = 10_000;

/**
 * TCP and UDP segments this network namespace's kernel dropped for a bad checksum (InCsumErrors of
 * /proc/net/snmp), or undefined where it cannot be read. What a device write hands the kernel with
 * a wrong checksum is dropped there, after the write succeeded: this is where it shows.
 */
export function kernelChecksumErrors(snmpPath = '/proc/net/snmp'): number | undefined {
  try {
    const lines = readFileSync(snmpPath, 'utf8').split('\n');
    let total = 0;
    for (const protocol of ['Tcp:', 'Udp:']) {
      const [names, values] = lines.filter((line) => line.startsWith(protocol)).map((line) => line.split(/\s+/));
      const at = names?.indexOf('InCsumErrors') ?? -1;
      if (at > 0 && values !== undefined) total += Number(values[at]) || 0;
    }
    return total;
  } catch {
    return undefined;
  }
}

/**
 * Every `intervalMs`, compares the drop counters with the last look and, if any grew, logs one
 * 'warn' line with the increase per reason (`drops`), so garbage at any rate costs one line per
 * interval. The forwarder's drop reasons plus the underlay's oversize datagrams (`UNDERLAY_OVERSIZE`)
 * and, where readable, the kernel's own drops of TCP/UDP segments with bad checksums in this
 * network namespace (`KERNEL_CHECKSUM_ERRORS`: what a device took from us and then dropped, though
 * any other interface's traffic counts there too); the first such line also says what it means.
 */
export class DropReporter {
  private last: Record<string, number>;
  private timer: NodeJS.Timeout | undefined;
  private explainedChecksums = false;

  constructor(
    private readonly source: DropSource, private readonly logger: Logger, readonly intervalMs = DROP_REPORT_INTERVAL_MS,
    private readonly checksumErrors: () => number | undefined = kernelChecksumErrors,
  ) {
    this.last = this.read();
  }

  private read(): Record<string, number> {
    const kernel = this.checksumErrors();
    return {
      ...this.source.counters().drops, UNDERLAY_OVERSIZE: this.source.underlay.counters.oversize,
      ...(kernel === undefined ? {} : { KERNEL_CHECKSUM_ERRORS: kernel }),
    };
  }

  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => this.report(), this.intervalMs);
    // Logging is no reason to keep the process alive.
    this.timer.unref();
  }

  /** Log the drops since the last report, if any; returns whether a line was written. */
  report(): boolean {
    const now = this.read();
    const drops: Record<string, number> = {};
    let total = 0;
    for (const [reason, count] of Object.entries(now)) {
      const grown = count - (this.last[reason] ?? 0);
      if (grown > 0) {
        drops[reason] = grown;
        total += grown;
      }
    }
    this.last = now;
    if (total === 0) return false;
    this.logger.warn({ drops, total }, 'frames dropped since the last report');
    if (drops.KERNEL_CHECKSUM_ERRORS !== undefined && !this.explainedChecksums) {
      this.explainedChecksums = true;
      this.logger.warn({ kernelChecksumErrors: drops.KERNEL_CHECKSUM_ERRORS },
        "this host's kernel dropped TCP/UDP segments with bad checksums (/proc/net/snmp InCsumErrors): if they came through the forwarder, a peer sends segments whose checksums nothing finished and that do not look partial, or the underlay corrupts them");
    }
    return true;
  }

  /** Stop the timer; a last report covers what happened since the previous one. */
  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.report();
  }
}
