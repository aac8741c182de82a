// Running the real tools the interop suites compare against (tshark, scapy, ip, tcpdump).
import { execFileSync, spawnSync } from 'node:child_process';
import { checksum } from '../../src/index';

export function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).status === 0;
}

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * Interop suites need root (namespaces) or installed tools. Where they cannot run they say so
 * loudly and register no test, so nothing passes without having run. As root (CI) a missing
 * tool is a failure: .ci/run installs them.
 */
export function cannotRun(suiteName: string, needs: { root?: boolean; commands?: string[] }): string | undefined {
  if (needs.root && !isRoot) return `${suiteName}: needs root (network namespaces)`;
  const missing = (needs.commands ?? []).filter((name) => !hasCommand(name));
  if (missing.length === 0) return undefined;
  if (isRoot) throw new Error(`${suiteName}: ${missing.join(', ')} not installed; .ci/run installs them`);
  return `${suiteName}: ${missing.join(', ')} not installed`;
}

export function warnSkipped(reason: string): void {
  console.warn(`\n*** SKIPPED (not run, not passed): ${reason} ***\n`);
}

export function run(command: string, args: string[], input?: string): string {
  return execFileSync(command, args, { encoding: 'utf8', input, maxBuffer: 64 * 1024 * 1024, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** An inner Ethernet/IPv4/UDP frame with valid checksums and `payloadLen` payload bytes. */
export function innerUdpFrame(payloadLen: number, options: { ipOptions?: number[]; seed?: number } = {}): Uint8Array {
  const ipOptions = options.ipOptions ?? [];
  const ipHeaderLen = 20 + ipOptions.length;
  const frame = new Uint8Array(14 + ipHeaderLen + 8 + payloadLen);
  frame.set([0x52, 0x54, 0, 0, 0, 2, 0x52, 0x54, 0, 0, 0, 1, 0x08, 0x00]);
  const ipLength = ipHeaderLen + 8 + payloadLen;
  frame.set([0x40 | (ipHeaderLen / 4), 0, ipLength >> 8, ipLength & 0xff, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 9, 0, 1, 10, 9, 0, 2, ...ipOptions], 14);
  const ipChecksum = checksum(frame.subarray(14, 14 + ipHeaderLen));
  frame[24] = ipChecksum >> 8;
  frame[25] = ipChecksum & 0xff;
  const l4 = 14 + ipHeaderLen;
  const udpLength = 8 + payloadLen;
  frame.set([0x30, 0x39, 0x1f, 0x90, udpLength >> 8, udpLength & 0xff, 0, 0], l4);
  for (let i = 0; i < payloadLen; i++) frame[l4 + 8 + i] = (i * 31 + (options.seed ?? 0)) & 0xff;
  const pseudo = new Uint8Array(12 + udpLength);
  pseudo.set(frame.subarray(26, 34));
  pseudo.set([0, 17, udpLength >> 8, udpLength & 0xff], 8);
  pseudo.set(frame.subarray(l4), 12);
  const udpChecksum = checksum(pseudo) || 0xffff;
  frame[l4 + 6] = udpChecksum >> 8;
  frame[l4 + 7] = udpChecksum & 0xff;
  return frame;
}
