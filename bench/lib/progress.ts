/**
 * A progress line for long runs, on stderr so the markdown on stdout stays clean: rewritten in
 * place on a terminal, else (CI, a log file) printed as a line at most every 10 seconds.
 */
const QUIET_MS = 10_000;

export class Progress {
  private lastLineAt = 0;
  private shown = false;
  private readonly started = Date.now();

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  /** Show `done` of `total` steps of `what`, with the time left estimated from the pace so far. */
  update(what: string, done: number, total: number): void {
    const elapsed = (Date.now() - this.started) / 1000;
    const left = done > 0 ? (elapsed / done) * (total - done) : NaN;
    const text = `${what}: ${done}/${total} (${Math.round((done / total) * 100)}%, ${elapsed.toFixed(0)} s${Number.isFinite(left) ? `, about ${left.toFixed(0)} s left` : ''})`;
    if (this.stream.isTTY) {
      this.stream.write(`\r\x1b[K${text}`);
      this.shown = true;
    } else if (Date.now() - this.lastLineAt >= QUIET_MS || done === total) {
      this.stream.write(`${text}\n`);
      this.lastLineAt = Date.now();
    }
  }

  /** Clear the line (on a terminal) before other output. */
  done(): void {
    if (this.shown && this.stream.isTTY) this.stream.write('\r\x1b[K');
    this.shown = false;
  }
}
