// The CNI plugin against a fake agent on a real unix socket (the PluginServer the agent uses, so
// the plugin's HTTP client is the real one): each command, the spec's rules (ADD, CHECK, DEL, DEL
// again; a chained prevResult; a second ADD refused), and bad input with the spec's codes — a
// configuration that is not JSON (6), an unknown key (2), no name or a wrong type (7), an old
// version (1), missing CNI_* (4), no agent (11; STATUS: 50). No root, no etcd.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PluginServer } from '../../src/docker/plugin-server';
import type { Json } from '../../src/docker/protocol';
import { runPlugin } from '../../src/cni/plugin';
import type { AgentRequest } from '../../src/cni/protocol';
import type { CniResult } from '../../src/cni/spec';
import { REPO_ROOT } from '../helpers/netns';
import { temporaryDirs } from '../helpers/temporary';

const { temporaryDir, removeTemporaryDirs } = temporaryDirs();

/** A fake agent: attachments by container/ifname, each ADD handing out the next address. */
class FakeAgent {
  readonly calls: { path: string; body: Json }[] = [];
  readonly attached = new Map<string, AgentRequest>();
  /** When set, every call answers this instead. */
  answer: Json | undefined;
  private next = 2;

  handlers() {
    const record = (path: string, body: Json) => {
      this.calls.push({ path, body });
      return this.answer;
    };
    return {
      'Cni.Add': (body: Json) => record('Cni.Add', body) ?? this.add(body as unknown as AgentRequest),
      'Cni.Check': (body: Json) => record('Cni.Check', body) ?? (this.attached.has(key(body as unknown as AgentRequest)) ? {} : { error: { code: 3, msg: 'no such attachment' } }),
      'Cni.Del': (body: Json) => record('Cni.Del', body) ?? (this.attached.delete(key(body as unknown as AgentRequest)), {}),
      'Cni.Gc': (body: Json) => record('Cni.Gc', body) ?? { removed: 0 },
      'Cni.Status': (body: Json) => record('Cni.Status', body) ?? {},
    };
  }

  private add(request: AgentRequest): Json {
    if (this.attached.has(key(request))) return { error: { code: 101, msg: `container ${request.containerId} has ${request.ifname} on ${request.network} already`, details: 'DEL it first' } };
    this.attached.set(key(request), request);
    const ip = `10.0.9.${this.next++}`;
    const result: CniResult = {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'vwhabcdef0123', mac: '02:00:00:00:00:01' }, { name: request.ifname, mac: '02:42:0a:00:09:02', sandbox: request.netns }],
      ips: [{ address: `${ip}/24`, gateway: '10.0.9.1', interface: 1 }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.0.9.1' }],
      dns: { nameservers: ['10.0.9.1'] },
    };
    return { result };
  }
}

const key = (request: AgentRequest) => `${request.containerId}/${request.ifname}`;

let agent: FakeAgent;
let server: PluginServer;
let socketPath: string;

const env = (command: string, extra: Record<string, string> = {}) => ({
  CNI_COMMAND: command, CNI_CONTAINERID: 'c0ffee1234567890', CNI_NETNS: '/run/netns/vwcni-test', CNI_IFNAME: 'eth0',
  CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=web;K8S_POD_NAME=web', CNI_PATH: '/opt/cni/bin', ...extra,
});
const config = (extra: Record<string, unknown> = {}) => JSON.stringify({ cniVersion: '1.0.0', name: 'blue', type: 'vxlan-wasm', agentSocket: socketPath, ...extra });
const plugin = async (command: string, stdin: string, extraEnv: Record<string, string> = {}) => {
  const outcome = await runPlugin({ env: env(command, extraEnv), stdin });
  return { ...outcome, json: outcome.stdout === '' ? undefined : JSON.parse(outcome.stdout) };
};

test.before(async () => {
  socketPath = join(temporaryDir('vwcni-plugin-'), 'cni.sock');
  agent = new FakeAgent();
  server = await PluginServer.listen({ socketPath, handlers: agent.handlers() });
});

test.after(async () => {
  await server.close();
  removeTemporaryDirs();
});

test.before.each(() => {
  agent.answer = undefined;
  agent.calls.length = 0;
});

test('VERSION: the versions spoken, answered in the version asked for, without the agent', async () => {
  const out = await plugin('VERSION', JSON.stringify({ cniVersion: '0.4.0' }), { CNI_CONTAINERID: '', CNI_NETNS: '', CNI_IFNAME: '' });
  assert.is(out.exitCode, 0);
  assert.is(out.json.cniVersion, '0.4.0');
  assert.ok(out.json.supportedVersions.includes('1.0.0') && out.json.supportedVersions.includes('1.1.0'));
  // A version we do not speak is still answered (that is how a runtime finds out).
  const old = await plugin('VERSION', JSON.stringify({ cniVersion: '0.2.0' }));
  assert.is(old.exitCode, 0);
  assert.is(old.json.cniVersion, '1.1.0');
  assert.is(agent.calls.length, 0);
});

test('ADD, CHECK, DEL, DEL again: the result, the request the agent got, a silent CHECK and idempotent DELs', async () => {
  const add = await plugin('ADD', config());
  assert.is(add.exitCode, 0, add.stdout);
  assert.is(add.json.cniVersion, '1.0.0');
  assert.is(add.json.interfaces[1].sandbox, '/run/netns/vwcni-test');
  assert.is(add.json.ips[0].interface, 1);
  assert.is(add.json.ips[0].version, undefined, '1.0.0 IPs carry no version');
  assert.equal(add.json.dns.nameservers, ['10.0.9.1']);
  const sent = agent.calls[0].body as unknown as AgentRequest;
  assert.equal({ network: sent.network, containerId: sent.containerId, ifname: sent.ifname, netns: sent.netns, name: sent.containerName }, { network: 'blue', containerId: 'c0ffee1234567890', ifname: 'eth0', netns: '/run/netns/vwcni-test', name: 'web' });

  const check = await plugin('CHECK', config({ prevResult: add.json }));
  assert.is(check.exitCode, 0, check.stdout);
  assert.is(check.stdout, '');
  assert.equal((agent.calls[1].body as unknown as AgentRequest).prevResult, add.json);

  const del = await plugin('DEL', config({ prevResult: add.json }));
  assert.is(del.exitCode, 0, del.stdout);
  assert.is(del.stdout, '');
  const again = await plugin('DEL', config(), { CNI_NETNS: '' });
  assert.is(again.exitCode, 0, again.stdout);
  assert.is(agent.attached.size, 0);
  // CHECK after DEL: the agent's refusal, printed as is.
  const gone = await plugin('CHECK', config({ prevResult: add.json }));
  assert.is(gone.exitCode, 1);
  assert.is(gone.json.code, 3);
});

test('a second ADD for the same container and interface is refused (101); another ifname is not', async () => {
  const first = await plugin('ADD', config());
  assert.is(first.exitCode, 0);
  const second = await plugin('ADD', config());
  assert.is(second.exitCode, 1);
  assert.is(second.json.code, 101);
  assert.match(second.json.msg, /already/);
  assert.is(second.json.details, 'DEL it first');
  const other = await plugin('ADD', config(), { CNI_IFNAME: 'eth1' });
  assert.is(other.exitCode, 0, other.stdout);
  await plugin('DEL', config());
  await plugin('DEL', config(), { CNI_IFNAME: 'eth1' });
});

test('chained: the previous plugin\'s interfaces, IPs, routes and DNS kept, ours after them with shifted indexes', async () => {
  const prevResult: CniResult = {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'lo0' }, { name: 'other', sandbox: '/run/netns/x' }],
    ips: [{ address: '192.0.2.5/24', interface: 1 }],
    routes: [{ dst: '192.0.2.0/24' }],
    dns: { nameservers: ['192.0.2.53'], search: ['example'] },
  };
  const add = await plugin('ADD', config({ prevResult }));
  assert.is(add.exitCode, 0, add.stdout);
  assert.equal(add.json.interfaces.map((i: { name: string }) => i.name), ['lo0', 'other', 'vwhabcdef0123', 'eth0']);
  assert.equal(add.json.ips.map((ip: { address: string; interface: number }) => [ip.address.split('/')[0], ip.interface]), [['192.0.2.5', 1], [add.json.ips[1].address.split('/')[0], 3]]);
  assert.equal(add.json.routes.map((r: { dst: string }) => r.dst), ['192.0.2.0/24', '0.0.0.0/0']);
  assert.equal(add.json.dns.nameservers, ['192.0.2.53', '10.0.9.1']);
  assert.equal(add.json.dns.search, ['example']);
  await plugin('DEL', config());
});

test('0.4.0: the result in 0.4.0, each IP with its version', async () => {
  const add = await plugin('ADD', config({ cniVersion: '0.4.0' }));
  assert.is(add.exitCode, 0, add.stdout);
  assert.is(add.json.cniVersion, '0.4.0');
  assert.is(add.json.ips[0].version, '4');
  await plugin('DEL', config({ cniVersion: '0.4.0' }));
});

test('bad configurations: each the spec\'s code, with a sentence that says what to do; the agent never asked', async () => {
  const cases: [string, string, number, RegExp][] = [
    ['not JSON', '{"cniVersion": ', 6, /not JSON/],
    ['an array', '[]', 6, /not a JSON object/],
    ['no cniVersion', JSON.stringify({ name: 'blue', type: 'vxlan-wasm' }), 7, /no cniVersion/],
    ['an old version', config({ cniVersion: '0.2.0' }), 1, /0\.2\.0 is not supported/],
    ['an unknown key', config({ colour: 'red' }), 2, /unsupported field "colour": "red"/],
    ['no name', config({ name: undefined }), 7, /no name/],
    ['another type', config({ type: 'bridge' }), 7, /type is "bridge"/],
    ['a bad network name', config({ network: 'Blue Net' }), 7, /not an overlay network name/],
    ['a relative socket', config({ agentSocket: 'cni.sock' }), 7, /not an absolute path/],
  ];
  for (const [what, stdin, code, message] of cases) {
    const out = await plugin('ADD', stdin);
    assert.is(out.exitCode, 1, what);
    assert.is(out.json.code, code, `${what}: ${out.stdout}`);
    assert.match(out.json.msg, message, what);
    assert.type(out.json.cniVersion, 'string', what);
  }
  const noCheckResult = await plugin('CHECK', config());
  assert.is(noCheckResult.json.code, 7);
  assert.match(noCheckResult.json.msg, /prevResult/);
  assert.is(agent.calls.length, 0);
});

test('bad environments: a missing CNI_NETNS on ADD, an unknown command, a bad ifname or CNI_ARGS: code 4', async () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ CNI_NETNS: '' }, /CNI_NETNS is required for ADD/],
    [{ CNI_COMMAND: 'ATTACH' }, /CNI_COMMAND "ATTACH"/],
    [{ CNI_IFNAME: 'a/b' }, /not an interface name/],
    [{ CNI_IFNAME: 'a-very-long-interface-name' }, /not an interface name/],
    [{ CNI_ARGS: 'novalue' }, /not KEY=VALUE/],
    [{ CNI_NETNS: 'relative/ns' }, /absolute path/],
  ];
  for (const [extra, message] of cases) {
    const outcome = await runPlugin({ env: env(extra.CNI_COMMAND ?? 'ADD', extra), stdin: config() });
    const json = JSON.parse(outcome.stdout);
    assert.is(outcome.exitCode, 1);
    assert.is(json.code, 4, outcome.stdout);
    assert.match(json.msg, message);
  }
  assert.is(agent.calls.length, 0);
});

test('no agent: 11 with what to start; STATUS says 50; an agent that fails says so (102)', async () => {
  const missing = JSON.stringify({ cniVersion: '1.0.0', name: 'blue', type: 'vxlan-wasm', agentSocket: join(temporaryDir('vwcni-none-'), 'cni.sock') });
  for (const command of ['ADD', 'DEL']) {
    const out = await plugin(command, missing);
    assert.is(out.exitCode, 1);
    assert.is(out.json.code, 11, out.stdout);
    assert.match(out.json.msg, /agent is not running/);
    assert.match(out.json.details, /vxlan-wasm agent --cni/);
  }
  const status = await plugin('STATUS', JSON.stringify({ cniVersion: '1.1.0', name: 'blue', type: 'vxlan-wasm', agentSocket: JSON.parse(missing).agentSocket }));
  assert.is(status.json.code, 50, status.stdout);
  assert.is(status.json.cniVersion, '1.1.0');
  const up = await plugin('STATUS', config({ cniVersion: '1.1.0' }));
  assert.is(up.exitCode, 0, up.stdout);

  agent.answer = { Err: 'vxlan-wasm: internal error: boom' };
  const failed = await plugin('ADD', config());
  assert.is(failed.json.code, 102);
  assert.match(failed.json.msg, /boom/);
});

test('GC (1.1): cni.dev/valid-attachments passed to the agent as containerId/ifname pairs', async () => {
  const out = await plugin('GC', config({ cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ containerID: 'abc', ifname: 'eth0' }] }), { CNI_CONTAINERID: '', CNI_IFNAME: '', CNI_NETNS: '' });
  assert.is(out.exitCode, 0, out.stdout);
  assert.equal(agent.calls[0].body, { network: 'blue', attachments: [{ containerId: 'abc', ifname: 'eth0' }] });
  const bad = await plugin('GC', config({ cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ id: 'abc' }] }));
  assert.is(bad.json.code, 7);
});

test('the executable: stdin in, one JSON object out, exit 1 with the error JSON', () => {
  // Through tsx from the sources (the bin runs the same main from dist/).
  const script = "import('./src/cni/main.ts').then((m) => m.main()).then((code) => { process.exitCode = code; })";
  const version = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: REPO_ROOT, input: JSON.stringify({ cniVersion: '1.0.0' }), env: { ...process.env, CNI_COMMAND: 'VERSION' }, encoding: 'utf8', timeout: 30_000 });
  assert.is(version.status, 0, version.stderr);
  assert.is(JSON.parse(version.stdout).cniVersion, '1.0.0');
  const bad = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: REPO_ROOT, input: 'nope', env: { ...process.env, ...env('ADD') }, encoding: 'utf8', timeout: 30_000 });
  assert.is(bad.status, 1, bad.stderr);
  assert.is(JSON.parse(bad.stdout).code, 6);
});

test.run();
