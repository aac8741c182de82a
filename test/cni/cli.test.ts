// `vxlan-wasm agent --cni` as a command: its flags' mistakes are one sentence and exit 2 before
// anything opens; --cni alone (no --docker) is a mode of its own with the default socket; --help
// names the flags (no root, no etcd).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PassThrough } from 'node:stream';
import { agentCommand } from '../../src/cli/agent';
import { resolveDockerAgentConfig } from '../../src/cli/agent-docker';

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

test('usage mistakes of --cni: one sentence each, exit 2', async () => {
  const cases: [string[], RegExp][] = [
    [['--cni'], /--local is required/],
    [['--cni', '--local', '10.0.0.1', '--cni-socket', 'cni.sock'], /--cni-socket: "cni\.sock" is not an absolute path/],
    [['--docker', '--local', '10.0.0.1', '--cni-socket', '/run/x.sock'], /--cni-socket needs --cni/],
    [['--cni', '--local', '10.0.0.1', '--network', 'blue'], /--network is not a flag/],
  ];
  for (const [argv, pattern] of cases) {
    const result = await agent(...argv);
    assert.is(result.code, 2, `${argv.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, /^vxlan-wasm agent: /);
    assert.match(result.stderr, pattern);
    assert.is(result.stderr.trim().split('\n').length, 1, 'one line');
  }
});

test('--cni alone, --cni with --docker, the default socket; --help names the flags', async () => {
  const alone = resolveDockerAgentConfig(['--cni', '--local', '10.0.0.1'], '/nonexistent');
  assert.ok(alone !== 'help');
  assert.equal([alone.docker, alone.cniSocket], [false, '/run/vxlan-wasm/cni.sock']);
  const both = resolveDockerAgentConfig(['--cni', '--docker', '--local', '10.0.0.1', '--cni-socket', '/run/test/cni.sock'], '/nonexistent');
  assert.ok(both !== 'help');
  assert.equal([both.docker, both.cniSocket], [true, '/run/test/cni.sock']);
  const docker = resolveDockerAgentConfig(['--docker', '--local', '10.0.0.1'], '/nonexistent');
  assert.ok(docker !== 'help');
  assert.is(docker.cniSocket, undefined);
  const help = await agent('--cni', '--help');
  assert.is(help.code, 0);
  assert.match(help.stdout, /--cni-socket PATH/);
  assert.match(help.stdout, /vxlan-wasm-cni/);
  // The order rule of one host serving both, which Docker's refusal alone used to say.
  assert.match(help.stdout.replace(/\s+/g, ' '), /create the Docker network \(docker network create …\) before the first podman container on that host/);
});

test.run();
