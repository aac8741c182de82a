// A podman "host" for the CNI tests: Debian's podman (rootful, 4.3) with everything of its own
// under one directory — --root, --runroot, its tmp_dir, its CNI configuration directory and a
// plugin directory holding the plugin under test — so two of them run side by side, each in a
// network namespace of a Lab, and leave nothing behind. Its containers.conf sets what this machine
// needs: default ulimits within the machine's (podman's exceed them here), the CNI network
// backend, cgroupfs, file events.
//
// Commands run through `nsenter --net=/run/netns/NS` rather than `ip netns exec`, which remounts
// /sys (dockerd then loses its cgroup mount; podman is kept clear of it the same way).
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isRoot } from '../interop/tools';
import { BUSYBOX_IMAGE, busyboxTarball } from './busybox-image';

const PACKAGES = ['podman', 'containernetworking-plugins', 'busybox-static'];

/** Why podman tests cannot run here (a loud skip), or undefined; missing packages are installed first. */
export function podmanUnusable(): string | undefined {
  if (!isRoot) return `not root (uid ${process.getuid?.()})`;
  const missing = () => PACKAGES.filter((name) => spawnSync('dpkg', ['-s', name], { stdio: 'ignore' }).status !== 0);
  if (missing().length > 0) {
    console.warn(`podman-host: installing ${missing().join(' ')} (apt-get)`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    let result = spawnSync('apt-get', ['install', '-y', '-qq', ...missing()], { encoding: 'utf8', env, timeout: 600_000 });
    if (result.status !== 0) {
      spawnSync('apt-get', ['update', '-qq'], { env, timeout: 300_000 });
      result = spawnSync('apt-get', ['install', '-y', '-qq', ...missing()], { encoding: 'utf8', env, timeout: 600_000 });
    }
    if (missing().length > 0) return `${missing().join(', ')} missing after apt-get install: ${(result.stderr ?? '').trim().split('\n').slice(-2).join(' / ')}`;
  }
  return undefined;
}

export interface PodmanResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export class PodmanHost {
  readonly confPath: string;
  readonly cniConfigDir: string;
  readonly pluginDir: string;

  /**
   * `plugin` is the command line that runs the CNI plugin (installed as `vxlan-wasm` in this
   * host's plugin directory through a shell wrapper, which also records each call's environment
   * in `calls.log` for the test to read what podman passed).
   */
  constructor(readonly dir: string, readonly ns: string, plugin: string) {
    this.cniConfigDir = join(dir, 'cni-net');
    this.pluginDir = join(dir, 'cni-bin');
    for (const sub of ['root', 'runroot', 'tmp', this.cniConfigDir, this.pluginDir]) mkdirSync(sub.startsWith('/') ? sub : join(dir, sub), { recursive: true });
    const wrapper = join(this.pluginDir, 'vxlan-wasm');
    writeFileSync(wrapper, `#!/bin/sh\necho "$CNI_COMMAND $CNI_CONTAINERID $CNI_IFNAME $CNI_NETNS $CNI_ARGS" >> ${join(dir, 'calls.log')}\n${plugin}\n`);
    chmodSync(wrapper, 0o755);
    this.confPath = join(dir, 'containers.conf');
    writeFileSync(this.confPath, [
      '[containers]',
      'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]',
      '[network]',
      'network_backend = "cni"',
      `cni_plugin_dirs = ["${this.pluginDir}", "/usr/lib/cni"]`,
      `network_config_dir = "${this.cniConfigDir}"`,
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `tmp_dir = "${join(dir, 'tmp')}"`,
      '',
    ].join('\n'));
  }

  /** A conflist for `network`, of one plugin of type vxlan-wasm. */
  addNetwork(name: string, plugin: Record<string, unknown>): void {
    writeFileSync(join(this.cniConfigDir, `${name}.conflist`), JSON.stringify({ cniVersion: '1.0.0', name, plugins: [{ type: 'vxlan-wasm', ...plugin }] }, null, 2));
  }

  /** `podman ARGS` on this host. */
  podman(args: string[], timeoutMs = 60_000): PodmanResult {
    const result = spawnSync('nsenter', [`--net=/run/netns/${this.ns}`, 'podman', '--root', join(this.dir, 'root'), '--runroot', join(this.dir, 'runroot'), '--storage-driver', 'vfs', ...args], {
      encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, CONTAINERS_CONF: this.confPath },
    });
    return { status: result.status, stdout: result.stdout ?? '', stderr: (result.stderr ?? '') + (result.error !== undefined ? `\n${result.error.message}` : '') };
  }

  /** `podman ARGS`, throwing with its stderr when it fails. */
  podmanOk(args: string[], timeoutMs = 60_000): string {
    const result = this.podman(args, timeoutMs);
    if (result.status !== 0) throw new Error(`podman ${args.join(' ')} on ${this.ns} failed (${result.status}): ${result.stderr.trim()}`);
    return result.stdout;
  }

  /** The busybox image, imported from a tarball made once in `imageDir`. */
  importBusybox(imageDir: string): void {
    this.podmanOk(['import', busyboxTarball(imageDir), BUSYBOX_IMAGE], 120_000);
  }

  /** What the plugin was called with, one line per call: "COMMAND ID IFNAME NETNS ARGS". */
  calls(): string[] {
    const log = join(this.dir, 'calls.log');
    return existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];
  }

  /**
   * Remove every container (podman calls DEL for each), wait for the podman and conmon processes
   * of this host to end (conmon runs `podman container cleanup` after a container exits), and
   * kill, by pid, those still there after 10 s. Returns what went wrong, never throws.
   */
  async stop(): Promise<string[]> {
    const problems: string[] = [];
    const removed = this.podman(['rm', '-f', '-a', '-t', '0'], 60_000);
    if (removed.status !== 0) problems.push(`podman rm -a: ${removed.stderr.trim()}`);
    const deadline = Date.now() + 10_000;
    for (let left = this.processes(); left.length > 0; left = this.processes()) {
      if (Date.now() > deadline) {
        for (const [pid, cmdline] of left) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // Gone meanwhile.
          }
          problems.push(`killed a leftover process ${pid}: ${cmdline}`);
        }
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return problems;
  }

  /** podman and conmon processes working on this host's directories: [pid, command line]. */
  private processes(): [number, string][] {
    const found: [number, string][] = [];
    for (const pid of readdirSync('/proc').filter((name) => /^[0-9]+$/.test(name))) {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        if (/(^|\/)(podman|conmon)$/.test(argv[0]) && argv.some((arg) => arg.includes(this.dir))) found.push([Number(pid), argv.slice(0, 4).join(' ')]);
      } catch {
        // Gone meanwhile.
      }
    }
    return found;
  }
}
