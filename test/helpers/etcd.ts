// A real etcd for tests and benchmarks: one member on a temporary data directory and loopback
// ports (or, given a namespace, on an address inside it), stopped and its
// directory removed by `stop()`, and by a process-exit hook if a test crashed before its finally.
//
//   const etcd = await startEtcd();
//   try { ... connect({ endpoints: [etcd.url] }) ... } finally { await etcd.stop(); }
//
// `kill()` + `restart()` stop and start the same member on the same directory and ports (the
// "etcd went away and came back" tests). Debian's etcd-server is /usr/bin/etcd (3.4).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasCommand, isRoot } from '../interop/tools';
import { diesWithUs } from './host-processes';

export const ETCD = process.env.ETCD_BIN ?? 'etcd';

/**
 * Why etcd tests cannot run here (a reason for a loud skip), or undefined when they can. As root
 * (CI) a missing etcd is a failure: .ci/run installs etcd-server.
 */
export function etcdUnusable(suiteName: string): string | undefined {
  if (hasCommand(ETCD)) return undefined;
  const reason = `${suiteName}: etcd is not installed (Debian: apt-get install etcd-server)`;
  if (isRoot) throw new Error(`${reason}; as root this is a failure (.ci/run installs it)`);
  return reason;
}

/** A free TCP port on 127.0.0.1 (bound and released: good enough for a test's own etcd). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface EtcdOptions {
  /** Run inside this network namespace (`ip netns exec`); default: this process's namespace. */
  ns?: string;
  /** The address to listen on (default 127.0.0.1). */
  host?: string;
  clientPort?: number;
  peerPort?: number;
}

const live = new Set<EtcdServer>();
let hookInstalled = false;

export class EtcdServer {
  readonly dir: string;
  readonly url: string;
  readonly host: string;
  readonly clientPort: number;
  readonly peerPort: number;
  private child: ChildProcess | undefined;
  private output = '';
  private readonly options: EtcdOptions;

  constructor(options: EtcdOptions, clientPort: number, peerPort: number) {
    this.options = options;
    this.host = options.host ?? '127.0.0.1';
    this.clientPort = clientPort;
    this.peerPort = peerPort;
    this.url = `http://${this.host}:${clientPort}`;
    this.dir = mkdtempSync(join(tmpdir(), 'vxlan-etcd-'));
    live.add(this);
    if (!hookInstalled) {
      hookInstalled = true;
      process.on('exit', () => {
        for (const server of live) server.stopSync();
      });
    }
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Start (or start again, on the same directory) and wait until it answers /health. */
  async start(timeoutMs = 15_000): Promise<void> {
    if (this.running) return;
    const args = [
      '--name', 'test', '--data-dir', join(this.dir, 'data'),
      '--listen-client-urls', this.url, '--advertise-client-urls', this.url,
      '--listen-peer-urls', `http://${this.host}:${this.peerPort}`,
      '--initial-advertise-peer-urls', `http://${this.host}:${this.peerPort}`,
      '--initial-cluster', `test=http://${this.host}:${this.peerPort}`,
      // Small and quick: a test member, not a production one.
      '--heartbeat-interval', '50', '--election-timeout', '500', '--snapshot-count', '10000',
      '--log-level', 'warn',
    ];
    const command = this.options.ns === undefined ? [ETCD, ...args] : ['ip', 'netns', 'exec', this.options.ns, ETCD, ...args];
    this.output = '';
    // Killed with this process even when it dies by SIGKILL (no exit hook runs then).
    const child = spawn(...diesWithUs(command[0], command.slice(1)), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout!.on('data', (chunk: Buffer) => this.keep(chunk));
    child.stderr!.on('data', (chunk: Buffer) => this.keep(chunk));
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.running) throw new Error(`etcd exited (${child.exitCode ?? child.signalCode}) while starting:\n${this.output}`);
      if (await this.healthy()) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`etcd did not become healthy within ${timeoutMs} ms:\n${this.output}`);
  }

  private keep(chunk: Buffer): void {
    // The last 16 kB is plenty to say why it failed.
    this.output = (this.output + chunk.toString()).slice(-16_384);
  }

  /** GET /health (from inside the namespace when there is one). */
  private async healthy(): Promise<boolean> {
    if (this.options.ns !== undefined) {
      const result = spawnSync('ip', ['netns', 'exec', this.options.ns, 'curl', '-sf', '--max-time', '1', `${this.url}/health`], { encoding: 'utf8' });
      return result.status === 0 && result.stdout.includes('"true"');
    }
    try {
      const response = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(1000) });
      return response.ok && (await response.text()).includes('"true"');
    } catch {
      return false;
    }
  }

  /** Stop the process (SIGKILL by default: the test case is "etcd went away"), keep the directory. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running) return;
    const exited = new Promise((resolve) => child.once('close', resolve));
    child.kill(signal);
    await exited;
  }

  /** Start again after kill(): same directory, same ports. */
  restart(): Promise<void> {
    return this.start();
  }

  /** Stop for good and remove the directory. Never throws. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child !== undefined && this.running) {
      const exited = new Promise((resolve) => child.once('close', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
    live.delete(this);
  }

  /** The exit hook's last resort. */
  stopSync(): void {
    if (this.running) this.child!.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
    live.delete(this);
  }

  /** What etcd printed lately (for failure messages). */
  get log(): string {
    return this.output;
  }
}

/** Start a one-member etcd; see EtcdOptions. Ports default to free loopback ports (outside a namespace) or 2379/2380 (inside one). */
export async function startEtcd(options: EtcdOptions = {}): Promise<EtcdServer> {
  const inNamespace = options.ns !== undefined;
  const clientPort = options.clientPort ?? (inNamespace ? 2379 : await freePort());
  const peerPort = options.peerPort ?? (inNamespace ? 2380 : await freePort());
  const server = new EtcdServer(options, clientPort, peerPort);
  try {
    await server.start();
  } catch (error) {
    await server.stop();
    throw error;
  }
  return server;
}
