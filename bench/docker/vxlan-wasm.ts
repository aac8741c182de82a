// The hook for this project's own contender in bench/docker-overlay.ts: vxlan-wasm's Docker
// network and IPAM driver, served by `vxlan-wasm agent --docker` on every host (issue 20, item 2).
// setUp starts `node bin/vxlan-wasm.mjs agent --docker --etcd URL --local ADDR` on each host with
// spawnOnHost (in the host's network and mount namespaces, so its socket lands in that host's
// /run/docker/plugins, where only that host's daemon finds it), waits for the socket, then runs
// `docker network create -d vxlan-wasm --ipam-driver vxlan-wasm --subnet 10.0.9.0/24 blue` on each
// host (the first creates the network in etcd, the others join it). Containers get `--dns
// 10.0.9.1`, the network's name server (the subnet's first address).
//
// OPT-IN: the default run measures swarm only; `--contenders swarm,vxlan-wasm` adds this one
// (written before the driver existed; it runs the driver as issue 20 describes it). It uses the
// BUILT CLI (dist/, `npm run bench:docker` builds first; `--source src` runs the sources through
// tsx instead: bench/docker/run-cli.ts) and needs the lab's etcd (bench/docker-overlay.ts starts one when
// this contender is asked for). Its agents use VXLAN port 4789; swarm's is 4790, the kernel
// reference's 4791, so all three run side by side.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { processOnHost, type DockerHosts } from '../../test/helpers/docker-hosts';
import type { LabProcess } from '../../test/helpers/netns';
import type { Contender } from './contender';

export interface VxlanWasmOptions {
  network?: string;
  subnet?: string;
  /** The network's DNS address, given to containers as --dns (default: the subnet's first address). */
  dns?: string;
  /** The driver's name (its socket is /run/docker/plugins/NAME.sock). */
  driver?: string;
  /** The built CLI (bin/vxlan-wasm.mjs, default) or the sources through tsx (bench/docker/run-cli.ts). */
  source?: 'dist' | 'src';
}

/**
 * Start the agent on every host and create the network on each; returns the agents (stop them
 * with LabProcess.stop()). Throws with the agent's output when one exits or its socket does not
 * appear within 20 s.
 */
export async function startVxlanWasmNetwork(lab: DockerHosts, etcdUrl: string, options: Required<VxlanWasmOptions>): Promise<LabProcess[]> {
  const cli = options.source === 'src' ? ['--import', 'tsx', 'bench/docker/run-cli.ts'] : ['bin/vxlan-wasm.mjs'];
  const agents = lab.hosts.map((host) => processOnHost(host, process.execPath, [...cli, 'agent', '--docker', '--etcd', etcdUrl, '--local', host.underlayAddress], {}, `vxlan-wasm agent on ${host.name}`));
  try {
    await Promise.all(lab.hosts.map((host, i) => agents[i].waitFor(`its socket ${options.driver}.sock in ${host.pluginDir}`, () => existsSync(join(host.pluginDir, `${options.driver}.sock`)), 20_000)));
    for (const host of lab.hosts) {
      await host.dockerOk(['network', 'create', '-d', options.driver, '--ipam-driver', options.driver, '--subnet', options.subnet, options.network], { timeoutMs: 60_000 });
    }
    return agents;
  } catch (error) {
    await Promise.all(agents.map((agent) => agent.stop(2000)));
    // An agent that exited says why in one line; otherwise the error as it came.
    const exited = agents.filter((agent) => agent.exitCode !== null && agent.exitCode !== 0);
    if (exited.length > 0) throw new Error(exited.map((agent) => `${agent.label} exited (${agent.exitCode}): ${why(agent.stderr)}`).join('; '));
    throw error;
  }
}

/** The line of a process's stderr that says why it failed: the first naming an error, else the last. */
function why(stderr: string): string {
  const lines = stderr.split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('at '));
  return lines.find((line) => /\b\w*Error\b|error:|is not a flag/i.test(line)) ?? lines.at(-1) ?? '(nothing on stderr)';
}

export function vxlanWasmContender(options: VxlanWasmOptions = {}): Contender {
  const settings: Required<VxlanWasmOptions> = {
    network: options.network ?? 'blue',
    subnet: options.subnet ?? '10.0.9.0/24',
    dns: options.dns ?? '10.0.9.1',
    driver: options.driver ?? 'vxlan-wasm',
    source: options.source ?? 'dist',
  };
  let lab: DockerHosts | undefined;
  let agents: LabProcess[] = [];
  return {
    id: 'vxlan-wasm',
    label: "vxlan-wasm's Docker driver",
    network: settings.network,
    runArgs: () => ['--dns', settings.dns],
    async setUp(hosts) {
      if (hosts.etcd === undefined) throw new Error('the vxlan-wasm contender needs the lab started with etcd: true');
      lab = hosts;
      agents = await startVxlanWasmNetwork(hosts, hosts.etcd.url, settings);
    },
    async tearDown() {
      if (lab === undefined) return;
      for (const host of lab.hosts) await host.docker(['network', 'rm', settings.network], { timeoutMs: 30_000 });
      await Promise.all(agents.map((agent) => agent.stop(2000)));
      agents = [];
      lab = undefined;
    },
  };
}
