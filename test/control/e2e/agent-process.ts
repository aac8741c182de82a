// `vxlan-wasm agent` processes (run-agent.ts) in a Lab's namespaces: started with flags, their
// ready line awaited, their state read over SIGUSR2. Shared by the e2e tests and the bench.
import type { ForwarderCounters } from '../../../src/forwarder/forwarder';
import type { AgentStatus } from '../../../src/control/agent';
import type { Lab, LabProcess } from '../../helpers/netns';

export const AGENT_RUNNER = 'test/control/e2e/run-agent.ts';

export interface AgentReady {
  /** Its first address (IPv4 when the network has it) and its IPv6 one, if the network has IPv6. */
  ip: string;
  ip6?: string;
  mac: string;
  hostId: string;
  tap: string;
  pid: number;
}

export interface AgentSnapshot {
  seq: number;
  joined: boolean;
  agent: AgentStatus;
  hosts: string[];
  counters: ForwarderCounters;
  peers: string[];
  neighbours: { ip: string; mac: string }[];
  fdb: { mac: string; address: string }[];
}

function events(proc: LabProcess): { event: string; [key: string]: unknown }[] {
  return proc.lines.filter((line) => line.startsWith('{"event"')).map((line) => JSON.parse(line));
}

export class AgentProcess {
  ready!: AgentReady;
  private requests = 0;

  constructor(readonly proc: LabProcess, readonly ns: string) {}

  async waitReady(ms = 15_000): Promise<AgentReady> {
    const event = await this.proc.waitFor('the ready line', () => events(this.proc).find((e) => e.event === 'ready'), ms);
    this.ready = event as unknown as AgentReady;
    return this.ready;
  }

  async status(ms = 5000): Promise<AgentSnapshot> {
    const seq = ++this.requests;
    this.proc.signal('SIGUSR2');
    const event = await this.proc.waitFor(`status #${seq}`, () => events(this.proc).find((e) => e.event === 'status' && e.seq === seq), ms);
    return event as unknown as AgentSnapshot;
  }

  /** Poll status until `predicate` holds; returns the snapshot and when it first held (ms since the call). */
  async until(what: string, predicate: (snapshot: AgentSnapshot) => boolean, ms = 10_000, everyMs = 100): Promise<{ snapshot: AgentSnapshot; elapsedMs: number }> {
    const started = performance.now();
    let last: AgentSnapshot | undefined;
    while (performance.now() - started < ms) {
      last = await this.status();
      if (predicate(last)) return { snapshot: last, elapsedMs: performance.now() - started };
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
    throw new Error(`agent in ${this.ns}: not ${what} within ${ms} ms; last status ${JSON.stringify(last?.agent)} hosts ${JSON.stringify(last?.hosts)}\nstderr: ${this.proc.stderr.slice(-3000)}`);
  }
}

/** Start an agent in `ns` with `args` (the CLI's flags). */
export function spawnAgent(lab: Lab, ns: string, args: string[], label = `agent in ${ns}`): AgentProcess {
  return new AgentProcess(lab.spawnNode(ns, AGENT_RUNNER, args, { label }), ns);
}

export async function startAgent(lab: Lab, ns: string, args: string[], label?: string): Promise<AgentProcess> {
  const agent = spawnAgent(lab, ns, args, label);
  await agent.waitReady();
  return agent;
}
