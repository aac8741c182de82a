// `vxlan-wasm agent --docker` as a command: usage mistakes are one sentence and exit 2 before
// anything opens; --help prints the driver's usage; an unreachable etcd is one sentence and exit 1
// within the timeout, with its UDP port released (no root needed: loopback only).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PassThrough } from 'node:stream';
import { createSocket } from 'node:dgram';
import { agentCommand } from '../../src/cli/agent';
import { resolveDockerAgentConfig } from '../../src/cli/agent-docker';
import { freePort } from '../helpers/etcd';

async function agent(...argv: string[]) {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (chunk) => (stdout += chunk));
  err.on('data', (chunk) => (stderr += chunk));
  const code = await agentCommand(argv, { stdout: out, stderr: err, tunPath: null, log: new PassThrough(), signals: new PassThrough() });
  return { code, stdout, stderr };
}

test('usage mistakes: one sentence each, exit 2', async () => {
  const cases: [string[], RegExp][] = [
    [['--docker'], /--local is required/],
    [['--docker', '--local', '10.0.0.1:5'], /has a port; give the address alone/],
    [['--docker', '--local', '0.0.0.0'], /is not an address the other hosts can send to/],
    [['--docker', '--local', '10.0.0.1', '--network', 'blue'], /--network is not a flag of agent --docker/],
    [['--docker', '--local', '10.0.0.1', '--docker-socket', 'plugins/x.sock'], /--docker-socket: "plugins\/x\.sock" is not an absolute path/],
    [['--docker', '--local', '10.0.0.1', '--docker-host', 'tcp://10.0.0.1:2375'], /--docker-host: "tcp:\/\/10\.0\.0\.1:2375" is not unix:\/\/\/PATH/],
    [['--docker', '--local', '10.0.0.1', '--ttl', '1'], /--ttl: "1" is not a whole number of seconds in 2\.\.300/],
    [['--docker', '--local', '10.0.0.1', '--mtu', '40'], /--mtu: "40" is not an MTU/],
    [['--docker', '--local', '10.0.0.1', '--etcd', 'ftp://x:1'], /--etcd: "ftp:\/\/x:1" must start with http:\/\/ or https:\/\//],
  ];
  for (const [argv, pattern] of cases) {
    const result = await agent(...argv);
    assert.is(result.code, 2, `${argv.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, /^vxlan-wasm agent: /);
    assert.match(result.stderr, pattern);
    assert.is(result.stderr.trim().split('\n').length, 1, 'one line');
  }
});

test('--help prints the driver\'s usage; defaults: the plugin socket, a stable host id, DOCKER_HOST', async () => {
  const help = await agent('--docker', '--help');
  assert.is(help.code, 0);
  assert.match(help.stdout, /docker network create -d vxlan-wasm --ipam-driver vxlan-wasm --subnet 10\.0\.9\.0\/24/);
  assert.match(help.stdout, /vxlan-wasm\.vni=N/);
  const env = process.env.DOCKER_HOST;
  process.env.DOCKER_HOST = 'unix:///run/test-docker.sock';
  try {
    const config = resolveDockerAgentConfig(['--docker', '--local', '10.0.0.1'], '/nonexistent');
    assert.ok(config !== 'help');
    assert.equal([config.socketPath, config.dockerApi, config.port, config.mtu, config.ttlSeconds], ['/run/docker/plugins/vxlan-wasm.sock', '/run/test-docker.sock', 4789, 1450, 10]);
    const again = resolveDockerAgentConfig(['--docker', '--local', '10.0.0.1'], '/nonexistent');
    assert.is(again === 'help' ? undefined : again.hostId, config.hostId, 'the same host id on a restart');
  } finally {
    if (env === undefined) delete process.env.DOCKER_HOST;
    else process.env.DOCKER_HOST = env;
  }
});

test('etcd unreachable: one sentence, exit 1 within the timeout, the UDP port released', async () => {
  const port = await freePort();
  const started = performance.now();
  const result = await agent('--docker', '--local', '127.0.0.1', '--port', String(port), '--etcd', `http://127.0.0.1:${await freePort()}`, '--etcd-timeout', '0.5');
  const ms = performance.now() - started;
  assert.is(result.code, 1, result.stderr);
  assert.match(result.stderr, /^vxlan-wasm agent: could not reach etcd at http:\/\/127\.0\.0\.1:\d+ within 0\.5 s/);
  assert.ok(ms < 5000, `within seconds (${ms.toFixed(0)} ms)`);
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, '127.0.0.1', () => resolve());
  });
  socket.close();
});

test.run();
