// Running the real tools the interop suites compare against (tshark, scapy, ip, tcpdump), and
// saying loudly when a suite cannot run, so that nothing passes without having run.
import { execFileSync, spawnSync } from 'node:child_process';

/** Debian's python3-scapy is installed for /usr/bin/python3, not for a pyenv python on PATH. */
export const PYTHON = '/usr/bin/python3';

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

export function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', name], { encoding: 'utf8' }).status === 0;
}

/** Run a command and return its stdout; throws (with stderr in the message) on a non-zero exit. */
export function run(command: string, args: string[], input?: string): string {
  return execFileSync(command, args, { encoding: 'utf8', input, maxBuffer: 256 * 1024 * 1024, stdio: ['pipe', 'pipe', 'pipe'] });
}

/**
 * Why a suite that needs `commands` cannot run here, or undefined when it can. As root (CI) a
 * missing tool is a failure, not a skip: `.ci/run` installs them (apt-get: tshark python3-scapy
 * tcpdump iproute2 iputils-ping ethtool).
 */
export function missingTools(suiteName: string, commands: string[]): string | undefined {
  const missing = commands.filter((name) => !hasCommand(name));
  if (missing.length === 0) return undefined;
  const reason = `${suiteName}: ${missing.join(', ')} not installed`;
  if (isRoot) throw new Error(`${reason}; as root this is a failure (.ci/run installs them with apt-get)`);
  return reason;
}

/**
 * Print, loudly and once per test, that these tests did not run: uvu counts only what ran, so
 * the only trace of a skip is this message. `kind` is e.g. 'needs root' or 'needs tshark'.
 */
export function warnSkipped(kind: string, testNames: string[], reason: string): void {
  const bar = '*'.repeat(100);
  const lines = testNames.map((name) => `SKIPPED (${kind}): ${name}`);
  console.warn(`\n${bar}\n${lines.join('\n')}\n  why: ${reason}\n  These tests were NOT run and did NOT pass.\n${bar}\n`);
}

/**
 * Whether network namespaces can be made here: root is not enough inside some containers (no
 * CAP_SYS_ADMIN, no /run/netns mount). Returns why not, or undefined. Probes with a namespace
 * named after this process, removed at once.
 */
export function netnsUnusable(): string | undefined {
  if (!isRoot) return `not root (uid ${process.getuid?.()})`;
  for (const command of ['ip', 'tcpdump', 'ethtool', 'ping']) {
    if (!hasCommand(command)) return `${command} not installed`;
  }
  const probe = `vxprobe${process.pid}`;
  const added = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  spawnSync('ip', ['netns', 'del', probe]);
  if (added.status !== 0) return `\`ip netns add\` failed: ${added.stderr.trim()}`;
  return undefined;
}
