/**
 * CNI calls by command and result, counted from the agent's start and exposed as
 * `vxlan_cni_calls_total{command, result}` once a registry exists (the agent serves metrics only
 * after its first network makes the forwarder, but calls are counted from the first).
 */
import { Counter, type Registry } from 'prom-client';

/** "ok", or the spec's error code as text ("11", "101"): what an operator alerts on. */
export type CallResult = 'ok' | `${number}`;

export class CniCallTally {
  private readonly counts = new Map<string, number>();

  record(command: string, result: CallResult): void {
    const key = `${command}\u0000${result}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /** The count of one command and result (tests). */
  count(command: string, result: CallResult): number {
    return this.counts.get(`${command}\u0000${result}`) ?? 0;
  }

  /** Put the counter on `registry`; each scrape reads the tally. */
  register(registry: Registry): void {
    const counts = this.counts;
    new Counter({
      name: 'vxlan_cni_calls_total',
      help: 'CNI plugin calls the agent answered, by command (ADD, CHECK, DEL, GC, STATUS) and result (ok or the CNI error code)',
      labelNames: ['command', 'result'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [key, value] of counts) {
          const [command, result] = key.split('\u0000');
          this.inc({ command, result }, value);
        }
      },
    });
  }
}
