/**
 * An agent's default host id, the same for `agent --network` and `agent --docker/--cni`: a hash of
 * the machine id, the VTEP address and port, so a restart keeps it (and with it the host's address
 * and MAC), while two VTEPs on one machine differ.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

export function defaultHostId(local: string, port: number, machineIdPath = '/etc/machine-id'): string {
  let machine: string;
  try {
    machine = readFileSync(machineIdPath, 'utf8').trim();
  } catch {
    machine = hostname();
  }
  return `h-${createHash('sha256').update(`${machine}|${local}|${port}`).digest('hex').slice(0, 16)}`;
}
