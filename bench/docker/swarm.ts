// Docker's own overlay network between the hosts: swarm mode (host 1 the manager, the others
// workers joined with its token) and an attachable overlay network, so plain `docker run
// --network` containers join it, as the seed's walk-through does. Its data path is the kernel's
// vxlan device; names resolve through Docker's embedded DNS, fed by swarm's gossip.
//
// Its VXLAN port is 4790 (`--data-path-port`), not 4789: another contender (vxlan-wasm's agent)
// and the kernel reference run beside it in the same host namespaces, and two VTEPs cannot share a
// port in one namespace. The address pool is 10.20.0.0/16 and the network's subnet given, so
// nothing swarm picks overlaps the underlay (10.99.0.0/24) or vxlan-wasm's 10.0.9.0/24.
import type { DockerHosts } from '../../test/helpers/docker-hosts';
import type { Contender } from './contender';

export const SWARM_DATA_PATH_PORT = 4790;

export interface SwarmOptions {
  network?: string;
  subnet?: string;
}

/** Swarm mode on every host: host 1 inits (the manager), the others join as workers. */
export async function initSwarm(lab: DockerHosts): Promise<void> {
  const [manager, ...workers] = lab.hosts;
  await manager.dockerOk([
    'swarm', 'init', '--advertise-addr', manager.underlayAddress, '--listen-addr', `${manager.underlayAddress}:2377`,
    '--data-path-port', String(SWARM_DATA_PATH_PORT), '--default-addr-pool', '10.20.0.0/16',
  ], { timeoutMs: 60_000 });
  const token = (await manager.dockerOk(['swarm', 'join-token', '-q', 'worker'])).trim();
  for (const worker of workers) {
    await worker.dockerOk([
      'swarm', 'join', '--token', token, '--advertise-addr', worker.underlayAddress, '--listen-addr', `${worker.underlayAddress}:2377`,
      `${manager.underlayAddress}:2377`,
    ], { timeoutMs: 60_000 });
  }
}

/** Every host leaves (workers first; the manager with --force, which ends the swarm). Never throws. */
export async function leaveSwarm(lab: DockerHosts): Promise<void> {
  for (const host of [...lab.hosts].reverse()) await host.docker(['swarm', 'leave', '--force'], { timeoutMs: 30_000 });
}

export function swarmContender(options: SwarmOptions = {}): Contender {
  const network = options.network ?? 'swarm-ov';
  const subnet = options.subnet ?? '10.0.8.0/24';
  let lab: DockerHosts | undefined;
  return {
    id: 'swarm',
    label: "Docker swarm's overlay (kernel vxlan)",
    network,
    runArgs: () => [],
    async setUp(hosts) {
      lab = hosts;
      await initSwarm(hosts);
      await hosts.hosts[0].dockerOk(['network', 'create', '-d', 'overlay', '--attachable', '--subnet', subnet, network]);
    },
    async tearDown() {
      if (lab === undefined) return;
      await lab.hosts[0].docker(['network', 'rm', network], { timeoutMs: 30_000 });
      await leaveSwarm(lab);
      lab = undefined;
    },
  };
}
