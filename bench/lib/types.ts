/**
 * The shapes shared by the bench runner (main thread) and its workers: what a suite declares,
 * what a contender hands back for timing, and what a run records.
 */

/** One row group of a table: one operation on one input size, e.g. "checksum of 1500 B". */
export interface CaseDef {
  id: string;
  /** Cases with the same group share a table. */
  group: string;
  /** Shown in the table, e.g. "1500 B". */
  label: string;
  /** Bytes processed per operation (for GB/s); 0 where throughput means nothing. */
  bytes: number;
  /** The contender every other one in this case is compared with. */
  baseline: string;
  /**
   * Operations per timed call (default 1): a batch case's `run` processes a whole batch, and its
   * figures are per packet (ns per call / opsPerCall); `bytes` is then per packet too.
   */
  opsPerCall?: number;
}

export interface ContenderDef {
  name: string;
  /** One line for the table legend. */
  description: string;
  /** False for a contender whose bytes/s means nothing (the empty loop). */
  throughput?: boolean;
  /** Why it cannot run on this machine (an optional package missing): reported NOT RUN in `cases`, never started. */
  notRun?: string;
  /** The cases it takes part in, where NOT RUN is reported (all of the suite's when absent). */
  cases?: string[];
}

/**
 * What a contender gives the worker for one case. `run` is the timed operation: it must return
 * a number derived from its result so the work cannot be optimised away. `validate` compares the
 * contender's real output with the reference and returns null when it agrees, else what differs.
 */
export interface CaseRunner {
  run(): number;
  validate(): string | null;
}

/** A contender that is not JavaScript (the native C checksum): timed by its own process. */
export interface ExternalContender {
  name: string;
  description: string;
  /** The cases it takes part in (all of the suite's when absent): where a failure to prepare is reported. */
  caseIds?: string[];
  /**
   * Build and validate, given the suite's workerData; returns the case ids it takes part in, or
   * throws with the reason (a NotRunError when it cannot exist on this machine, e.g. no compiler).
   */
  prepare(quick: boolean, data: unknown): Promise<{ cases: string[]; wrong: Record<string, string> }>;
  /** One sample of every case it takes part in: ns per operation by case id. */
  sample(sampleMs: number): Promise<Record<string, number>>;
}

/** A suite, as the main thread sees it. The worker side is `createContender` in the same module. */
export interface SuiteDef {
  name: string;
  title: string;
  /** Markdown: what is measured and how. */
  method: string;
  cases: CaseDef[];
  contenders: ContenderDef[];
  external?: ExternalContender[];
  /** Data the workers need (frames, expected outputs), made once in the main thread. */
  workerData?(): Promise<unknown> | unknown;
  /** When the suite cannot run at all (e.g. an API not written yet): the reason, printed loudly. */
  unavailable?(): Promise<string | null>;
  targets?(results: SuiteResult): TargetResult[];
}

/** The worker half of a suite module. */
export type CreateContender = (name: string, data: unknown) => Promise<Record<string, CaseRunner>> | Record<string, CaseRunner>;

export interface Stats {
  medianNs: number;
  p25Ns: number;
  p75Ns: number;
  minNs: number;
  samples: number;
}

export interface Measurement {
  caseId: string;
  contender: string;
  /** 'not run': the contender cannot exist on this machine (an optional package or a compiler missing). */
  status: 'ok' | 'wrong' | 'failed' | 'not run';
  /** Why it is wrong or failed. */
  detail?: string;
  stats?: Stats;
  /** Median over rounds of (this contender's ns / the baseline's ns in the same round). */
  ratioToBaseline?: number;
  samplesNs?: number[];
}

export interface TargetResult {
  target: string;
  measured: string;
  met: boolean | null;
}

export interface SuiteResult {
  name: string;
  title: string;
  available: boolean;
  unavailableReason?: string;
  cases: CaseDef[];
  contenders: ContenderDef[];
  measurements: Measurement[];
  targets: TargetResult[];
}

/** Thrown by a contender that cannot exist on this machine: reported as NOT RUN, not as a failure. */
export class NotRunError extends Error {
  override name = 'NotRunError';
}
