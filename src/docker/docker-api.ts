/**
 * What the driver asks Docker's own API: the container name and aliases of an endpoint. Docker
 * sends a network driver neither (checked: CreateEndpoint and Join carry ids, addresses and port
 * maps only), but `GET /networks/ID` lists each endpoint's container and name, and
 * `GET /containers/json` (filtered by that id) its aliases on that network (`--network-alias`,
 * and the short id Docker adds on user-defined networks).
 *
 * The daemon's socket: `--docker-host`, else $DOCKER_HOST (unix://PATH), else the `-H unix://…` of
 * the dockerd running in this network namespace (several daemons on one machine, each in its own
 * namespace, as in the tests and benchmarks), else /var/run/docker.sock.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { request } from 'node:http';

export interface EndpointNames {
  name: string;
  aliases: string[];
}

/**
 * An endpoint's names; undefined while Docker does not list it yet. `settled`: read the aliases
 * from the container's inspect, which waits until a starting container runs (the list's snapshot
 * may not have them yet, and has no aliases added by `network connect` until it is refreshed).
 */
export type NameLookup = (networkId: string, endpointId: string, options?: { settled?: boolean }) => Promise<EndpointNames | undefined>;

export function dockerSocket(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = flag ?? env.DOCKER_HOST ?? daemonInThisNetns() ?? 'unix:///var/run/docker.sock';
  return value.replace(/^unix:\/\//, '');
}

/** The unix socket a dockerd in this process's network namespace listens on, if one runs. */
export function daemonInThisNetns(proc = '/proc'): string | undefined {
  try {
    const ours = readlinkSync(`${proc}/self/ns/net`);
    for (const pid of readdirSync(proc)) {
      if (!/^[0-9]+$/.test(pid)) continue;
      try {
        const argv = readFileSync(`${proc}/${pid}/cmdline`, 'utf8').split('\0');
        if (!/(^|\/)dockerd$/.test(argv[0] ?? '') || readlinkSync(`${proc}/${pid}/ns/net`) !== ours) continue;
        for (let i = 1; i < argv.length; i++) {
          const host = argv[i] === '-H' || argv[i] === '--host' ? argv[i + 1] : /^(?:-H|--host)=(.*)$/.exec(argv[i])?.[1];
          if (host?.startsWith('unix://')) return host;
        }
        return undefined;
      } catch {
        // A process that ended while we looked, or one we may not read.
      }
    }
  } catch {
    // No /proc: nothing to find.
  }
  return undefined;
}

function get(socketPath: string, path: string, timeoutMs: number): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'GET', timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null') });
        } catch (error) {
          reject(error);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** A NameLookup over the daemon's API socket; undefined while Docker does not list the endpoint yet. */
export function dockerNameLookup(socketPath: string, timeoutMs = 2000): NameLookup {
  return async (networkId, endpointId, options = {}) => {
    const network = await get(socketPath, `/networks/${networkId}`, timeoutMs);
    if (network.status !== 200) return undefined;
    const { Name: networkName, Containers: containers } = network.body as { Name?: string; Containers?: Record<string, { Name?: string; EndpointID?: string }> };
    const entry = Object.entries(containers ?? {}).find(([, value]) => value.EndpointID === endpointId);
    if (entry === undefined) return undefined;
    const [containerId, { Name: name = '' }] = entry;
    if (options.settled === true) {
      const container = await get(socketPath, `/containers/${containerId}/json`, 10_000);
      const networks = (container.body as { NetworkSettings?: { Networks?: Record<string, { Aliases?: string[] | null }> } } | null)?.NetworkSettings?.Networks;
      if (container.status !== 200 || networkName === undefined) return undefined;
      return { name, aliases: (networks?.[networkName]?.Aliases ?? []).filter((alias) => alias !== name) };
    }
    // The container LIST, not its inspect: inspect waits for the container's lock, which a
    // starting container holds until it runs; the list is a snapshot that has the aliases from
    // the container's creation on, so names are published while `docker run` is still starting it.
    const filters = encodeURIComponent(JSON.stringify({ id: [containerId] }));
    const list = await get(socketPath, `/containers/json?all=1&filters=${filters}`, timeoutMs);
    let aliases: string[] = [];
    if (list.status === 200 && Array.isArray(list.body) && networkName !== undefined) {
      const summary = (list.body as { Id?: string; NetworkSettings?: { Networks?: Record<string, { Aliases?: string[] | null }> } }[]).find((c) => c.Id === containerId);
      aliases = (summary?.NetworkSettings?.Networks?.[networkName]?.Aliases ?? []).filter((alias) => alias !== name);
    }
    return { name, aliases };
  };
}
