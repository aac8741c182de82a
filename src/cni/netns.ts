/**
 * The container's side of a CNI attachment: a veth end moved into the container's network
 * namespace (CNI_NETNS, a path such as /run/netns/cni-…), renamed to CNI_IFNAME, its address set
 * and brought up; read back for CHECK.
 *
 * Why iproute2 through `nsenter --net=PATH` and not setns(2) from Node: setns applies to one
 * thread, and Node's event loop and threadpool would then run in the container's namespace;
 * a child process keeps that confinement to itself. `ip link set DEV netns PATH` takes a path
 * (iproute2 opens any name with a '/' as a file). Each call is a few ms, once per container start,
 * and its error text is what an operator would see anyway. Behind the `ContainerNetns` interface
 * so the service's tests can run on a fake.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export class NetnsError extends Error {
  override readonly name = 'NetnsError';
}

export interface ContainerInterface {
  mac: string;
  /** IPv4 addresses as "IP/LEN". */
  ipv4: string[];
  /** Global IPv6 addresses as "IP/LEN" (link-local ones left out). */
  ipv6: string[];
  up: boolean;
  mtu: number;
}

export interface ContainerNetns {
  /** Whether the namespace file is there (a container that is gone has none). */
  exists(netns: string): boolean;
  /**
   * Move `link` (a veth end in the agent's namespace) into `netns` as `ifname` with `addresses`
   * ("IP/LEN", IPv4 and/or IPv6), up, with `routes` through it. On failure nothing of it stays in
   * `netns` (the caller removes the pair).
   */
  attach(link: string, netns: string, options: { ifname: string; addresses: readonly string[]; routes?: readonly { dst: string; gw: string }[] }): void;
  /** The interface as the container sees it, or undefined when there is none. */
  inspect(netns: string, ifname: string): ContainerInterface | undefined;
  /** Whether `ifname` exists in `netns` (false when the namespace is gone). */
  has(netns: string, ifname: string): boolean;
  /** Delete `ifname` in `netns`; no error when it or the namespace is gone. */
  remove(netns: string, ifname: string): void;
}

function run(args: string[]): string {
  const result = spawnSync(args[0], args.slice(1), { encoding: 'utf8', timeout: 10_000 });
  if (result.error !== undefined) throw new NetnsError(`${args.join(' ')}: ${result.error.message}`);
  if (result.status !== 0) throw new NetnsError(`${args.join(' ')}: ${result.stderr.trim() || `exit ${result.status}`}`);
  return result.stdout;
}

const inNetns = (netns: string, args: string[]) => run(['nsenter', `--net=${netns}`, 'ip', ...args]);

interface IpLinkJson {
  ifname: string;
  address: string;
  mtu: number;
  flags: string[];
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

export const linuxNetns: ContainerNetns = {
  exists(netns) {
    return existsSync(netns);
  },
  attach(link, netns, { ifname, addresses, routes = [] }) {
    run(['ip', 'link', 'set', link, 'netns', netns]);
    try {
      inNetns(netns, ['link', 'set', link, 'name', ifname]);
      // /proc/sys/net is the namespace of whoever opens it: a shell in the container's turns IPv6
      // on for the interface (a runtime may make links with it off by default).
      if (addresses.some((address) => address.includes(':'))) run(['nsenter', `--net=${netns}`, 'sh', '-c', 'echo 0 > "/proc/sys/net/ipv6/conf/$1/disable_ipv6"', 'sh', ifname]);
      // IPv6: the address is unique by IPAM in etcd, so no duplicate address detection: usable at
      // once rather than "tentative" for a second or more (a ping right after ADD would fail).
      for (const address of addresses) inNetns(netns, ['addr', 'add', address, 'dev', ifname, ...(address.includes(':') ? ['nodad'] : [])]);
      inNetns(netns, ['link', 'set', ifname, 'up']);
      for (const route of routes) {
        const args = [route.dst.includes(':') ? '-6' : '-4', 'route', 'add', route.dst, 'via', route.gw, 'dev', ifname];
        try {
          inNetns(netns, args);
        } catch (error) {
          // A default route from another network the container joined first wins: ours would
          // only fight it. The overlay's own subnet stays reachable on-link.
          if (!/File exists/.test((error as Error).message)) throw error;
        }
      }
    } catch (error) {
      // Whatever name it has by now, it goes (its host end then goes with it).
      for (const name of [ifname, link]) spawnSync('nsenter', [`--net=${netns}`, 'ip', 'link', 'del', name]);
      throw error;
    }
  },
  inspect(netns, ifname) {
    if (!existsSync(netns)) return undefined;
    const result = spawnSync('nsenter', [`--net=${netns}`, 'ip', '-j', 'addr', 'show', 'dev', ifname], { encoding: 'utf8', timeout: 10_000 });
    if (result.status !== 0) return undefined;
    const [link] = JSON.parse(result.stdout) as IpLinkJson[];
    if (link === undefined) return undefined;
    return {
      mac: link.address,
      ipv4: (link.addr_info ?? []).filter((info) => info.family === 'inet').map((info) => `${info.local}/${info.prefixlen}`),
      ipv6: (link.addr_info ?? []).filter((info) => info.family === 'inet6' && !/^fe[89ab]/i.test(info.local)).map((info) => `${info.local}/${info.prefixlen}`),
      up: link.flags.includes('UP'),
      mtu: link.mtu,
    };
  },
  has(netns, ifname) {
    return existsSync(netns) && spawnSync('nsenter', [`--net=${netns}`, 'ip', 'link', 'show', 'dev', ifname], { timeout: 10_000 }).status === 0;
  },
  remove(netns, ifname) {
    if (!linuxNetns.has(netns, ifname)) return;
    spawnSync('nsenter', [`--net=${netns}`, 'ip', 'link', 'del', ifname], { timeout: 10_000 });
  },
};
