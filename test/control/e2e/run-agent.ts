// `vxlan-wasm agent …` from the sources (agentCommand), as a process inside a test's namespace.
// Besides the agent's own logs (stderr) it prints JSON lines on stdout for the test:
//   {"event":"ready","ip":…,"ip6":…,"mac":…,"hostId":…,"tap":…}                 once joined
//   {"event":"status","seq":n,"agent":…,"hosts":[…],"counters":…,"peers":[…],"neighbours":[…],"fdb":[…]}
//                                                                        on SIGUSR2
// and exits with agentCommand's code.
import { agentCommand, resolveAgentConfig } from '../../../src/cli/agent';
import type { Agent } from '../../../src/control/agent';
import { Forwarder } from '../../../src/forwarder/forwarder';
import type { MultiQueueForwarder } from '../../../src/forwarder/multi-queue/multi-queue-forwarder';

const print = (object: object) => process.stdout.write(`${JSON.stringify(object)}\n`);

/** The TAP the agent made (its --tap, or the default for its --network). */
function tapName(): string {
  const config = resolveAgentConfig(process.argv.slice(2));
  return config === 'help' ? '' : config.tap;
}
let seq = 0;
let ready: { agent: Agent; forwarder: Forwarder | MultiQueueForwarder; vni: number } | undefined;
process.on('SIGUSR2', async () => {
  const mine = ++seq;
  if (ready === undefined) {
    print({ event: 'status', seq: mine, joined: false });
    return;
  }
  const { agent, forwarder, vni } = ready;
  // Queue workers (the default engine) report their counters every 500 ms: wait for one report.
  if (!(forwarder instanceof Forwarder)) await new Promise((resolve) => setTimeout(resolve, 600));
  print({
    event: 'status', seq: mine, joined: true, agent: agent.status(),
    hosts: agent.hosts().map((host) => host.hostId).sort(),
    counters: forwarder.counters(),
    peers: forwarder.peers(vni).map((peer) => peer.address).sort(),
    neighbours: forwarder.neighbours(vni),
    // The static entries (every remote host's MAC): what the queues were told, or the one forwarder's table.
    fdb: (forwarder instanceof Forwarder ? forwarder.fdbEntries(vni) : forwarder.staticFdbEntries(vni)).map(({ mac, address }) => ({ mac, address })),
  });
});

process.exitCode = await agentCommand(process.argv.slice(2), {
  onReady: ({ agent, forwarder }) => {
    ready = { agent, forwarder, vni: agent.network!.vni };
    print({ event: 'ready', ip: agent.ip, ip6: agent.addresses.ipv6, mac: agent.mac, hostId: agent.hostId, tap: tapName(), pid: process.pid });
  },
});
