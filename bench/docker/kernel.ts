// The reference row of bench/docker-overlay.ts: the kernel's vxlan device in each host's own
// network namespace (no container, no bridge, no Docker), over the same underlay. What the
// overlays are measured against: the same kernel data path without a container's veth and bridge
// in front of it. Port 4791 and VNI 99, so it runs beside swarm (4790) and vxlan-wasm (4789).
import { run } from '../../test/helpers/netns';
import type { DockerHosts } from '../../test/helpers/docker-hosts';
import type { Endpoint } from './measure';

export const KERNEL_VXLAN_PORT = 4791;
const DEVICE = 'vxref';

/** A kernel vxlan device on each of the first two hosts (10.98.0.1/24, .2), each the other's remote. */
export function setUpKernelReference(lab: DockerHosts): [Endpoint, Endpoint] {
  const [h1, h2] = lab.hosts;
  const endpoints = [h1, h2].map((host, i) => {
    const other = i === 0 ? h2 : h1;
    const exec = (...args: string[]) => run('ip', ['netns', 'exec', host.netns, ...args]);
    exec('ip', 'link', 'add', DEVICE, 'type', 'vxlan', 'id', '99', 'local', host.underlayAddress, 'remote', other.underlayAddress, 'dstport', String(KERNEL_VXLAN_PORT), 'dev', host.underlayDevice);
    // The overlay MTU Docker's overlay uses too: 1500 minus VXLAN's 50 bytes.
    exec('ip', 'link', 'set', DEVICE, 'mtu', '1450');
    exec('ip', 'addr', 'add', `10.98.0.${i + 1}/24`, 'dev', DEVICE);
    exec('ip', 'link', 'set', DEVICE, 'up');
    return { label: `${host.name}'s namespace`, netnsPath: `/run/netns/${host.netns}`, address: `10.98.0.${i + 1}` };
  });
  return [endpoints[0], endpoints[1]];
}

/** Remove the devices (the namespaces' removal would too); never throws. */
export function tearDownKernelReference(lab: DockerHosts): void {
  for (const host of lab.hosts.slice(0, 2)) {
    try {
      run('ip', ['netns', 'exec', host.netns, 'ip', 'link', 'del', DEVICE]);
    } catch {
      // Gone already.
    }
  }
}
