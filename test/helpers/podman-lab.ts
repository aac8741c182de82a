// Two podman hosts for the CNI end-to-end suites (test/cni/podman*.test.ts): two network
// namespaces of a Lab joined by an underlay veth, etcd on the first, on each host its own
// PodmanHost (the plugin from the sources through a wrapper, or the built bin with
// VXLAN_CNI_E2E_BUILT=1) and its agent (`agent --cni` from the sources), busybox imported. The
// suites differ only in addresses, networks and agent flags; what they assert stays in each suite.
import { join } from 'node:path';
import { startEtcd, type EtcdServer } from './etcd';
import { Lab, REPO_ROOT, sleep, type LabProcess } from './netns';
import { PodmanHost, type PodmanResult } from './podman-host';
import { temporaryDirs } from './temporary';

export interface PodmanLabOptions {
  /** The Lab's tag (namespace prefix) and the temporary directories' prefix. */
  tag: string;
  /** Each host's underlay addresses with their prefix lengths (host 1, host 2). */
  underlay: [string[], string[]];
  /** etcd's address, on host 1's namespace. */
  etcdHost: string;
  /** Each host's VTEP address (`agent --local`). */
  local: [string, string];
  /** Each host's id (`agent --host-id`). */
  hostIds: [string, string];
  /** More agent flags, the same on both hosts (e.g. --metrics). */
  agentArgs?: string[];
  /** Adds the suite's CNI networks to a host; `socket` is its agent's CNI socket. */
  addNetworks: (host: PodmanHost, socket: string, hostDir: string) => void;
  /** Runs once etcd is up, before the agents start (e.g. `network create`). */
  beforeAgents?: (lab: PodmanLab) => void;
}

export class PodmanLab {
  lab!: Lab;
  etcd: EtcdServer | undefined;
  readonly hosts: PodmanHost[] = [];
  readonly agents: LabProcess[] = [];
  readonly sockets: string[] = [];
  nsNames: string[] = [];
  private readonly temporary = temporaryDirs();

  constructor(private readonly options: PodmanLabOptions) {}

  get etcdUrl(): string {
    return this.etcd!.url;
  }

  /** The CLI from the sources inside host `ns`. */
  runCli(ns: string, args: string[]): string {
    return this.lab.exec(ns, process.execPath, '--import', 'tsx', '-e', `import('./src/cli/main.ts').then(async (m) => { process.exitCode = await m.main(${JSON.stringify(args)}); })`);
  }

  /** The keys and string values under `prefix` in etcd, read from host 1's namespace where etcd listens. */
  async etcdValues(prefix: string): Promise<Record<string, string>> {
    const out = this.lab.exec(this.nsNames[0], process.execPath, '--import', 'tsx', '-e',
      `import('etcd3').then(async ({ Etcd3 }) => { const c = new Etcd3({ hosts: ${JSON.stringify(this.etcdUrl)} }); console.log(JSON.stringify(await c.getAll().prefix(${JSON.stringify(prefix)}).strings())); c.close(); })`);
    return JSON.parse(out.trim().split('\n').pop()!) as Record<string, string>;
  }

  async etcdKeys(prefix: string): Promise<string[]> {
    return Object.keys(await this.etcdValues(prefix));
  }

  /** Host i's agent, from the sources. */
  startAgent(i: number): LabProcess {
    const { local, hostIds, agentArgs = [] } = this.options;
    return this.lab.spawn(this.nsNames[i], process.execPath, [
      '--import', 'tsx', 'test/docker/run-agent.ts', '--cni', '--cni-socket', this.sockets[i], '--local', local[i], '--etcd', this.etcdUrl,
      '--host-id', hostIds[i], '--log-level', 'info', ...agentArgs,
    ], { label: `agent ${hostIds[i]}` });
  }

  async serving(agent: LabProcess): Promise<void> {
    await agent.waitFor('serving CNI', () => agent.stderr.includes('serving CNI') || agent.stdout.includes('serving CNI'), 30_000);
  }

  async setUp(): Promise<void> {
    const { tag, underlay, etcdHost, addNetworks, beforeAgents } = this.options;
    this.lab = new Lab(tag);
    const dir = this.temporary.temporaryDir(`vw${tag}-podman-`);
    this.nsNames = [this.lab.namespace('h1'), this.lab.namespace('h2')];
    this.lab.veth(this.nsNames[0], this.nsNames[1], { a: underlay[0], b: underlay[1] });
    this.etcd = await startEtcd({ ns: this.nsNames[0], host: etcdHost });
    beforeAgents?.(this);
    // From the sources (no build needed); VXLAN_CNI_E2E_BUILT=1 runs the built bin instead, as a
    // user's runtime would (~0.1 s per call, where tsx takes ~1 s): for podman run's real time.
    const plugin = process.env.VXLAN_CNI_E2E_BUILT === '1'
      ? `exec ${process.execPath} ${join(REPO_ROOT, 'bin', 'vxlan-wasm-cni.mjs')}`
      : `cd ${REPO_ROOT} && exec ${process.execPath} --import tsx test/cni/run-plugin.ts`;
    for (const [i, ns] of this.nsNames.entries()) {
      const hostDir = join(dir, `h${i + 1}`);
      const socket = join(hostDir, 'cni.sock');
      const host = new PodmanHost(hostDir, ns, plugin);
      addNetworks(host, socket, hostDir);
      this.hosts.push(host);
      this.sockets.push(socket);
      this.agents.push(this.startAgent(i));
    }
    for (const agent of this.agents) await this.serving(agent);
    const imageDir = this.temporary.temporaryDir(`vw${tag}-image-`);
    for (const host of this.hosts) host.importBusybox(imageDir);
  }

  /** Stops podman's containers, the agents (with the Lab), etcd; removes the directories. Returns what podman left. */
  async cleanup(): Promise<string[]> {
    const problems: string[] = [];
    for (const host of this.hosts) problems.push(...(await host.stop()));
    await this.lab?.cleanup();
    await this.etcd?.stop();
    this.temporary.removeTemporaryDirs();
    return problems;
  }
}

/** `podman exec container ...args` until it succeeds (the other host learns endpoints through etcd's watch). */
export async function execUntilOk(host: PodmanHost, container: string, args: string[], tries = 20): Promise<PodmanResult> {
  let result: PodmanResult = { status: -1, stdout: '', stderr: '' };
  for (let i = 0; i < tries && result.status !== 0; i++) {
    if (i > 0) await sleep(500);
    result = host.podman(['exec', container, ...args]);
  }
  return result;
}
