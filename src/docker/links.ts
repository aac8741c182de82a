/**
 * The Linux links a Docker host's networks need: per network a bridge (the gateway/DNS address on
 * it, the forwarder's TAP and every local container's veth in it), per container a veth pair
 * (the host end in the bridge, the other end named for Docker to move into the container).
 *
 * Why iproute2 (`ip`) and not netlink from Node: bridges and veth pairs need rtnetlink messages
 * with nested attributes; `ip` is on every host that runs Docker, each call is a few ms and happens
 * per container start, not per packet, and its error text is what an operator would see anyway.
 * Everything is behind the `Links` interface so the driver's tests run on a fake.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';

export class LinkError extends Error {
  override readonly name = 'LinkError';
}

export interface Links {
  /**
   * Make a bridge (up, MTU, its addresses "IP/LEN": the network's gateways, IPv4 and/or IPv6); a
   * leftover of the same name is replaced. Returns its MAC.
   */
  createBridge(name: string, options: { mtu: number; addresses: readonly string[] }): string;
  /**
   * Put a link in a bridge and bring it up. With `mac` (a container's veth: the MAC of its other
   * end), that MAC is pinned to this port in the bridge (see pinMac).
   */
  attach(name: string, bridge: string, options?: { mac?: string }): void;
  /**
   * A veth pair: `hostName` up in `bridge`, `mac` pinned to it there (see pinMac); `peerName`
   * with `mac` and `mtu`, left down for Docker to move.
   */
  createVeth(hostName: string, peerName: string, options: { mac: string; mtu: number; bridge: string }): void;
  /** Delete a link; no error when it is gone already. */
  remove(name: string): void;
  exists(name: string): boolean;
}

function ip(args: string[]): string {
  const result = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  if (result.error !== undefined) throw new LinkError(`ip ${args.join(' ')}: ${result.error.message}`);
  if (result.status !== 0) throw new LinkError(`ip ${args.join(' ')}: ${result.stderr.trim() || `exit ${result.status}`}`);
  return result.stdout;
}

/**
 * The MAC a bridge is made with: set explicitly, because a bridge made without one takes the
 * lowest MAC of its ports and changes it as ports come and go (addr_assign_type "random"), while
 * the forwarder's neighbour table answers containers' ARP for the gateway with the MAC read at
 * creation; and stable across agent restarts (from the machine, the network namespace and the
 * bridge's name), so containers' cached gateway/DNS MAC stays right when the bridge is made again.
 */
export function bridgeMac(name: string): string {
  const read = (read: () => string) => {
    try {
      return read();
    } catch {
      return '';
    }
  };
  const machine = read(() => readFileSync('/etc/machine-id', 'utf8').trim());
  const namespace = read(() => readlinkSync('/proc/self/ns/net'));
  const bytes = createHash('sha256').update(`${machine}\u0000${namespace}\u0000${name}`).digest().subarray(0, 6);
  // Locally administered, unicast.
  bytes[0] = (bytes[0] & 0xfc) | 0x02;
  return [...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join(':');
}

/**
 * A container's MAC pinned to its veth's port in the bridge: a static, sticky FDB entry. Why: the
 * forwarder answers a container's ARP (and ND) for another container of this host from its
 * neighbour table, into the TAP, from that container's MAC (as Linux's vxlan `proxy` answers for
 * remote ones); the bridge would then learn the other container's MAC on the TAP's port, and
 * frames to it would go to the forwarder (which floods them to the other hosts) instead of to
 * its veth, until it spoke again (seen: a podman and a Docker container on one host lost every
 * other ping). A static entry alone still moves with learning; sticky ones never do. The entry
 * goes with the port.
 */
function pinMac(link: string, mac: string): void {
  const result = spawnSync('bridge', ['fdb', 'replace', mac, 'dev', link, 'master', 'static', 'sticky'], { encoding: 'utf8', timeout: 10_000 });
  if (result.error !== undefined) throw new LinkError(`bridge fdb replace ${mac} dev ${link}: ${result.error.message}`);
  if (result.status !== 0) throw new LinkError(`bridge fdb replace ${mac} dev ${link}: ${result.stderr.trim() || `exit ${result.status}`}`);
}

/** The real thing, through iproute2 in the agent's network namespace. */
export const linuxLinks: Links = {
  createBridge(name, { mtu, addresses }) {
    if (existsSync(`/sys/class/net/${name}`)) ip(['link', 'del', name]);
    ip(['link', 'add', name, 'address', bridgeMac(name), 'type', 'bridge']);
    try {
      // IPAM in etcd made the IPv6 gateway unique: `nodad`, so it is usable at once (not
      // "tentative" for a second or more, which a name server cannot bind to).
      // A namespace may make new links with IPv6 off (net.ipv6.conf.default.disable_ipv6).
      if (addresses.some((address) => address.includes(':'))) {
        try {
          writeFileSync(`/proc/sys/net/ipv6/conf/${name}/disable_ipv6`, '0');
        } catch (error) {
          throw new LinkError(`cannot turn IPv6 on for bridge ${name} (${(error as Error).message}); a network with an IPv6 subnet needs IPv6 on this host`);
        }
      }
      ip(['link', 'set', name, 'mtu', String(mtu), 'up']);
      for (const address of addresses) ip(['addr', 'add', address, 'dev', name, ...(address.includes(':') ? ['nodad'] : [])]);
      return readFileSync(`/sys/class/net/${name}/address`, 'utf8').trim();
    } catch (error) {
      spawnSync('ip', ['link', 'del', name]);
      throw error;
    }
  },
  attach(name, bridge, options = {}) {
    ip(['link', 'set', name, 'master', bridge, 'up']);
    if (options.mac !== undefined) pinMac(name, options.mac);
  },
  createVeth(hostName, peerName, { mac, mtu, bridge }) {
    // Leftovers of a crashed run with these names would make `add` fail.
    for (const name of [hostName, peerName]) if (existsSync(`/sys/class/net/${name}`)) spawnSync('ip', ['link', 'del', name]);
    ip(['link', 'add', hostName, 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', peerName, 'mtu', String(mtu), 'address', mac]);
    try {
      ip(['link', 'set', hostName, 'master', bridge, 'up']);
      pinMac(hostName, mac);
    } catch (error) {
      spawnSync('ip', ['link', 'del', hostName]);
      throw error;
    }
  },
  remove(name) {
    if (!existsSync(`/sys/class/net/${name}`)) return;
    const result = spawnSync('ip', ['link', 'del', name], { encoding: 'utf8', timeout: 10_000 });
    if (result.status !== 0 && existsSync(`/sys/class/net/${name}`)) throw new LinkError(`ip link del ${name}: ${result.stderr.trim()}`);
  },
  exists(name) {
    return existsSync(`/sys/class/net/${name}`);
  },
};

/** Interface names (at most 15 bytes) for a network and an endpoint. */
export const linkNames = {
  bridge: (vni: number) => `vwb${vni}`,
  tap: (vni: number) => `vwt${vni}`,
  hostVeth: (endpointId: string) => `vwh${endpointId.slice(0, 10)}`,
  containerVeth: (endpointId: string) => `vwc${endpointId.slice(0, 10)}`,
};
