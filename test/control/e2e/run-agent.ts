// `vxlan-wasm agent …` from the sources (agentCommand), as a process inside a test's namespace.
// Besides the agent's own logs (stderr) it prints JSON lines on stdout for the test:
//   {"event":"ready","ip":…,"mac":…,"hostId":…,"tap":…}                 once joined
//   {"event":"status","seq":n,"agent":…,"hosts":[…],"counters":…,"peers":[…],"neighbours":[…],"fdb":[…]}
//                                                                        on SIGUSR2
// and exits with agentCommand's code.
import { agentCommand } from '../../../src/cli/agent';
import type { Agent } from '../../../src/control/agent';
import type { Forwarder } from '../../../src/forwarder/forwarder';

const print = (object: object) => process.stdout.write(`${JSON.stringify(object)}\n`);
let seq = 0;
let ready: { agent: Agent; forwarder: Forwarder; vni: number } | undefined;
process.on('SIGUSR2', () => {
  seq++;
  if (ready === undefined) {
    print({ event: 'status', seq, joined: false });
    return;
  }
  const { agent, forwarder, vni } = ready;
  print({
    event: 'status', seq, joined: true, agent: agent.status(),
    hosts: agent.hosts().map((host) => host.hostId).sort(),
    counters: forwarder.counters(),
    peers: forwarder.peers(vni).map((peer) => peer.address).sort(),
    neighbours: forwarder.neighbours(vni),
    fdb: forwarder.fdbEntries(vni).map(({ mac, address }) => ({ mac, address })),
  });
});

process.exitCode = await agentCommand(process.argv.slice(2), {
  onReady: ({ agent, forwarder, device }) => {
    ready = { agent, forwarder, vni: agent.network!.vni };
    print({ event: 'ready', ip: agent.ip, mac: agent.mac, hostId: agent.hostId, tap: device.name, pid: process.pid });
  },
});
