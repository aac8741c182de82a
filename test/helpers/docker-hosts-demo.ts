// One lab of Docker hosts (test/helpers/docker-hosts.ts) with a container running, held until
// the process is ended: for the harness test that kills it outright (SIGKILL, as a runner's
// timeout would) and checks that the janitor removes everything, and for looking around by hand.
//
//   node --import tsx test/helpers/docker-hosts-demo.ts PREFIX [COUNT]
// prints one line `READY {"dir":…,"namespaces":[…],"pids":[…]}` when up; Ctrl-C removes it all.
import { BUSYBOX_IMAGE, spawnOnHost, startDockerHosts } from './docker-hosts';

const [prefix = 'vwdkdemo', count = '1'] = process.argv.slice(2);
startDockerHosts({ count: Number(count), prefix }).then(async (lab) => {
  const host = lab.hosts[0];
  await host.dockerOk(['run', '-d', '--name', 'demo', BUSYBOX_IMAGE, 'sleep', '600']);
  const onHost = spawnOnHost(host, 'sleep', ['600']);
  const pids = [await host.containerPid('demo'), onHost.pid!, ...lab.hosts.flatMap((h) => [h.daemonPid, h.holderPid])];
  console.log(`READY ${JSON.stringify({ dir: lab.dir, namespaces: lab.namespaces, pids })}`);
  setInterval(() => undefined, 60_000);
}, (error: Error) => {
  console.error(error.message);
  process.exit(1);
});
