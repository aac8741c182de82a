// The forward configuration: every mistake is one ConfigError naming its field, and the flags
// override the file by the documented rule. Pure: nothing here opens a socket or a device.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ConfigError, checkTunAccess, hasNetAdmin, loadConfigFile, parseEndpointText, resolveConfig, type ForwardFlags,
} from '../../src/cli/config';
import { temporaryDirs } from '../helpers/temporary';
import { DEFAULT_BUSY_POLL_US, DEFAULT_IDLE_WAKE_MS, MAX_BUSY_POLL_US, MAX_IDLE_WAKE_MS } from '../../src/forwarder/multi-queue/multi-queue-forwarder';

const { removeTemporaryDirs, temporaryDir } = temporaryDirs();

const base: ForwardFlags = { tap: 'vx0', vni: '5', local: '10.0.0.1' };

/** Each bad input: flags (over `base` unless `bare`), an optional file, the path and the words of its sentence. */
const BAD: { name: string; flags?: ForwardFlags; file?: unknown; bare?: boolean; path: string; says: RegExp }[] = [
  { name: 'no local', flags: { tap: 'vx0', vni: '5' }, bare: true, path: '--local', says: /is required/ },
  { name: 'no network', flags: { local: '10.0.0.1' }, bare: true, path: '--tap', says: /no network to serve/ },
  { name: 'no vni', flags: { local: '10.0.0.1', tap: 'vx0' }, bare: true, path: '--vni', says: /is required/ },
  { name: 'no tap', flags: { local: '10.0.0.1', vni: '5' }, bare: true, path: '--tap', says: /is required/ },
  { name: 'VNI too big', flags: { vni: '16777216' }, path: '--vni', says: /not a VNI \(an integer in 0\.\.16777215\)/ },
  { name: 'VNI not a number', flags: { vni: '5x' }, path: '--vni', says: /not a VNI/ },
  { name: 'VNI negative in the file', file: { networks: [{ vni: -1, tap: 'a' }] }, bare: true, flags: { local: '10.0.0.1' }, path: 'networks[0].vni', says: /-1 is not a VNI/ },
  { name: 'VNI as text in the file', file: { networks: [{ vni: '5', tap: 'a' }] }, bare: true, flags: { local: '10.0.0.1' }, path: 'networks[0].vni', says: /"5" is not a VNI/ },
  { name: 'bad local address', flags: { local: '10.0.0.256' }, path: '--local', says: /not an IPv4 or IPv6 address/ },
  { name: 'multicast local address', flags: { local: '239.1.1.1' }, path: '--local', says: /not a unicast address/ },
  { name: 'bad peer address', flags: { peer: ['10.0.0.2', 'host.example'] }, path: '--peer', says: /"host\.example" is not an IPv4 or IPv6 address/ },
  { name: 'peer port 0', flags: { peer: ['10.0.0.2:0'] }, path: '--peer', says: /no valid UDP port/ },
  { name: 'peer port too big', flags: { peer: ['10.0.0.2:65536'] }, path: '--peer', says: /no valid UDP port/ },
  { name: 'IPv6 peer with a port, no brackets, on IPv4', flags: { peer: ['fd00::2'] }, path: '--peer', says: /is IPv6 but the local address 10\.0\.0\.1 is IPv4/ },
  { name: 'IPv4 in brackets', flags: { peer: ['[10.0.0.2]:4789'] }, path: '--peer', says: /only IPv6 addresses go in brackets/ },
  { name: 'unclosed bracket', flags: { local: 'fd00::1', peer: ['[fd00::2:4789'] }, path: '--peer', says: /not \[IPV6\] or \[IPV6\]:PORT/ },
  { name: 'IPv4 peer on IPv6 local', flags: { local: 'fd00::1', peer: ['10.0.0.2'] }, path: '--peer', says: /is IPv4 but the local address fd00::1 is IPv6/ },
  { name: 'zone id', flags: { local: 'fe80::1%eth0' }, path: '--local', says: /zone ids/ },
  { name: 'multicast peer', flags: { peer: ['239.1.1.1'] }, path: '--peer', says: /multicast or broadcast/ },
  { name: 'unspecified peer', flags: { peer: ['0.0.0.0'] }, path: '--peer', says: /unspecified address/ },
  { name: 'peer is ourselves', flags: { peer: ['10.0.0.1'] }, path: '--peer', says: /this forwarder's own address and port/ },
  { name: 'peer twice', flags: { peer: ['10.0.0.2', '10.0.0.2:4789'] }, path: '--peer', says: /listed twice/ },
  { name: 'peer without port when --port 0', flags: { port: '0', peer: ['10.0.0.2'] }, path: '--peer', says: /needs a port/ },
  { name: 'port too big', flags: { port: '65536' }, path: '--port', says: /not a UDP port/ },
  { name: 'port in the file not a number', file: { port: '4789' }, path: 'port', says: /"4789" is not a UDP port/ },
  { name: 'MTU too small', flags: { mtu: '67' }, path: '--mtu', says: /67 is not a TAP MTU over an IPv4 underlay \(68\.\.65485/ },
  { name: 'MTU too big for IPv4', flags: { mtu: '65486' }, path: '--mtu', says: /68\.\.65485: 65535 less 50/ },
  { name: 'MTU too big for IPv6', flags: { local: 'fd00::1', mtu: '65466' }, path: '--mtu', says: /IPv6 underlay \(68\.\.65465: 65535 less 70/ },
  { name: 'MTU not an integer in the file', file: { networks: [{ vni: 5, tap: 'a', mtu: 1400.5 }] }, bare: true, flags: { local: '10.0.0.1' }, path: 'networks[0].mtu', says: /not an MTU/ },
  { name: 'MTU out of range in the file', file: { networks: [{ vni: 5, tap: 'a', mtu: 70000 }] }, bare: true, flags: { local: '10.0.0.1' }, path: 'networks[0].mtu', says: /70000 is not a TAP MTU/ },
  { name: 'TAP name too long', flags: { tap: 'a-very-long-name' }, path: '--tap', says: /not an interface name \(1\.\.15 bytes/ },
  { name: 'TAP name with a slash', flags: { tap: 'a/b' }, path: '--tap', says: /not an interface name/ },
  {
    name: 'duplicate VNIs', bare: true, flags: { local: '10.0.0.1' },
    file: { networks: [{ vni: 5, tap: 'a' }, { vni: 5, tap: 'b' }] }, path: 'networks[1].vni', says: /VNI 5 is configured twice \(also at networks\[0\]\.vni\)/,
  },
  {
    name: 'duplicate TAP names', bare: true, flags: { local: '10.0.0.1' },
    file: { networks: [{ vni: 5, tap: 'a' }, { vni: 6, tap: 'a' }] }, path: 'networks[1].tap', says: /TAP a is used by two networks/,
  },
  {
    name: 'a flag TAP clashing with a file network', bare: true, flags: { local: '10.0.0.1', vni: '7', tap: 'a' },
    file: { networks: [{ vni: 5, tap: 'a' }] }, path: '--tap', says: /TAP a is used by two networks \(also at networks\[0\]\.tap\)/,
  },
  { name: 'unknown top-level key', file: { lcoal: '10.0.0.1' }, path: 'lcoal', says: /is not a known key \(known: local, port/ },
  { name: 'unknown network key', bare: true, flags: { local: '10.0.0.1' }, file: { networks: [{ vni: 5, tap: 'a', peer: ['10.0.0.2'] }] }, path: 'networks[0].peer', says: /is not a known key \(known: vni, tap, mtu, peers, fdb\)/ },
  { name: 'unknown fdb key', bare: true, flags: { local: '10.0.0.1' }, file: { networks: [{ vni: 5, tap: 'a', fdb: [{ mac: '02:00:00:00:00:01', peer: '10.0.0.2', vni: 5 }] }] }, path: 'networks[0].fdb[0].vni', says: /not a known key/ },
  { name: 'file not an object', file: [1, 2], path: 'config', says: /must be a JSON object, got a list/ },
  { name: 'networks not a list', file: { networks: { vni: 5 } }, path: 'networks', says: /must be a list of networks/ },
  { name: 'peers not a list', bare: true, flags: { local: '10.0.0.1' }, file: { networks: [{ vni: 5, tap: 'a', peers: '10.0.0.2' }] }, path: 'networks[0].peers', says: /must be a list/ },
  { name: 'fdb bad MAC', bare: true, flags: { local: '10.0.0.1' }, file: { networks: [{ vni: 5, tap: 'a', fdb: [{ mac: '02:00:00:00:00', peer: '10.0.0.2' }] }] }, path: 'networks[0].fdb[0].mac', says: /not a MAC address/ },
  { name: 'fdb multicast MAC', bare: true, flags: { local: '10.0.0.1' }, file: { networks: [{ vni: 5, tap: 'a', fdb: [{ mac: '01:00:5e:00:00:01', peer: '10.0.0.2' }] }] }, path: 'networks[0].fdb[0].mac', says: /multicast MAC/ },
  { name: 'fdb MAC twice', bare: true, flags: { local: '10.0.0.1' }, file: { networks: [{ vni: 5, tap: 'a', fdb: [{ mac: '02:00:00:00:00:01', peer: '10.0.0.2' }, { mac: '02:00:00:00:00:01', peer: '10.0.0.3' }] }] }, path: 'networks[0].fdb[1].mac', says: /two static entries/ },
  { name: 'fdb without peer', bare: true, flags: { local: '10.0.0.1' }, file: { networks: [{ vni: 5, tap: 'a', fdb: [{ mac: '02:00:00:00:00:01' }] }] }, path: 'networks[0].fdb[0].peer', says: /is missing/ },
  { name: 'fdb peer of the other family', bare: true, flags: { local: '10.0.0.1' }, file: { networks: [{ vni: 5, tap: 'a', fdb: [{ mac: '02:00:00:00:00:01', peer: '[fd00::2]:4789' }] }] }, path: 'networks[0].fdb[0].peer', says: /is IPv6 but the local address/ },
  { name: 'bad CIDR', flags: { allow: ['10.0.0.0/33'] }, path: '--allow', says: /"10\.0\.0\.0\/33" is not a CIDR .*0\.\.32 for IPv4/ },
  { name: 'CIDR not an address', flags: { allow: ['tenet/8'] }, path: '--allow', says: /"tenet\/8" is not a CIDR/ },
  { name: 'CIDR of the other family', file: { allowedSources: ['fd00::/64'] }, path: 'allowedSources[0]', says: /is IPv6 but the local address/ },
  { name: 'bad metrics address', flags: { metrics: '9470' }, path: '--metrics', says: /not HOST:PORT/ },
  { name: 'bad metrics IPv6 without brackets', flags: { metrics: '::1:9470' }, path: '--metrics', says: /not HOST:PORT/ },
  { name: 'bad metrics port', flags: { metrics: '127.0.0.1:99999' }, path: '--metrics', says: /not HOST:PORT/ },
  { name: 'bad log level', flags: { 'log-level': 'loud' }, path: '--log-level', says: /not a log level \(fatal, error, warn, info, debug, trace, silent\)/ },
  { name: 'bad ageing', file: { ageingSeconds: 0 }, path: 'ageingSeconds', says: /not a time in seconds/ },
  { name: 'bad maxFdbEntries', file: { maxFdbEntries: -1 }, path: 'maxFdbEntries', says: /not a number of FDB entries/ },
  {
    name: 'several networks and no --vni', bare: true, flags: { local: '10.0.0.1', peer: ['10.0.0.2'] },
    file: { networks: [{ vni: 5, tap: 'a' }, { vni: 6, tap: 'b' }] }, path: '--vni', says: /is needed to say which of the 2 networks/,
  },
];

for (const bad of BAD) {
  test(`config error: ${bad.name} → ${bad.path}`, () => {
    const flags = bad.bare ? bad.flags ?? {} : { ...base, ...bad.flags };
    try {
      resolveConfig(flags, bad.file);
    } catch (error) {
      assert.instance(error, ConfigError);
      const { path, message, exitCode } = error as ConfigError;
      assert.is(path, bad.path, message);
      assert.match(message, bad.says);
      assert.ok(message.startsWith(path), message);
      assert.is(exitCode, 2);
      // One sentence: one line, one full stop at the end (dots inside addresses and numbers aside).
      assert.not.match(message, /\n/);
      assert.match(message, /\.$/);
      return;
    }
    assert.unreachable(`no error for ${bad.name}`);
  });
}

test('defaults: port 4789, MTU 1500 less 50 over IPv4 and less 70 over IPv6, info, 300 s, peers on the port', () => {
  const v4 = resolveConfig({ ...base, peer: ['10.0.0.2', '10.0.0.3:8472'] });
  assert.is(v4.port, 4789);
  assert.is(v4.family, 4);
  assert.is(v4.networks[0].mtu, 1450);
  assert.equal(v4.networks[0].peers, [{ address: '10.0.0.2', port: 4789 }, { address: '10.0.0.3', port: 8472 }]);
  assert.is(v4.logLevel, 'info');
  assert.is(v4.ageingSeconds, 300);
  assert.is(v4.maxFdbEntries, 16384);
  assert.equal(v4.allowedSources, []);
  assert.is(v4.metrics, undefined);
  const v6 = resolveConfig({ ...base, local: 'FD00:0::1', port: '8472', peer: ['[fd00::2]:4789', 'fd00::3'], metrics: '[::1]:9470' });
  assert.is(v6.local, 'fd00::1');
  assert.is(v6.networks[0].mtu, 1430);
  assert.equal(v6.networks[0].peers, [{ address: 'fd00::2', port: 4789 }, { address: 'fd00::3', port: 8472 }]);
  assert.equal(v6.metrics, { host: '::1', port: 9470 });
});

test('offloads: all on by default; the file turns each off; a --no-* flag wins over the file; non-booleans refused', () => {
  const flags = { local: '10.0.0.1', tap: 'vx0', vni: '7' };
  assert.equal(resolveConfig(flags).offloads, { gso: true, gro: true, tap: true, tunnelGso: 'auto', tunnelIngress: true });
  assert.equal(resolveConfig(flags, { offloads: { gro: false } }).offloads, { gso: true, gro: false, tap: true, tunnelGso: 'auto', tunnelIngress: true });
  assert.equal(resolveConfig({ ...flags, 'no-gso': true, 'no-tap-offloads': true, 'no-tunnel-gso': true }, { offloads: { gso: true } }).offloads, { gso: false, gro: true, tap: false, tunnelGso: false, tunnelIngress: false });
  assert.throws(() => resolveConfig(flags, { offloads: { gso: 'yes' } }), (error: Error) => error instanceof ConfigError && /offloads\.gso/.test(error.message));
  assert.throws(() => resolveConfig(flags, { offloads: { tso: false } }), (error: Error) => error instanceof ConfigError && /tso/.test(error.message));
});

test('queues: 1 (one run-to-completion worker) by default; the file or --queues (which wins) sets 0..64; anything else refused, naming the flag or key', () => {
  const flags = { tap: 'vx0', vni: '1', local: '10.0.0.1' };
  assert.is(resolveConfig(flags).queues, 1);
  assert.is(resolveConfig(flags, { queues: 4 }).queues, 4);
  assert.is(resolveConfig({ ...flags, queues: '2' }, { queues: 4 }).queues, 2);
  assert.is(resolveConfig({ ...flags, queues: '0' }, { queues: 4 }).queues, 0);
  for (const bad of ['65', 'two', '-1', '1.5', '']) {
    assert.throws(() => resolveConfig({ ...flags, queues: bad }), (error: Error) => error instanceof ConfigError && /--queues/.test(error.message), bad);
  }
  assert.throws(() => resolveConfig(flags, { queues: 65 }), (error: Error) => error instanceof ConfigError && /^queues/.test(error.message));
});

/** A queue workers' knob (flag and file key): its default, the file's value, the flag winning, its range, and refusal with --queues 0. */
const QUEUE_WORKER_KNOBS = [
  { name: 'busy polling', flag: 'busy-poll-us', key: 'busyPollUs', fallback: DEFAULT_BUSY_POLL_US, max: MAX_BUSY_POLL_US, sample: 300 },
  { name: 'idle wakes', flag: 'idle-wake-ms', key: 'idleWakeMs', fallback: DEFAULT_IDLE_WAKE_MS, max: MAX_IDLE_WAKE_MS, sample: 20 },
] as const;

for (const { name, flag, key, fallback, max, sample } of QUEUE_WORKER_KNOBS) {
  test(`${name}: on by default (${fallback}); the file's ${key} or --${flag} (which wins) sets 0..${max}; anything else refused, naming the flag or key; refused with --queues 0`, () => {
    const flags = { tap: 'vx0', vni: '1', local: '10.0.0.1' };
    assert.is(resolveConfig(flags)[key], fallback);
    assert.ok(fallback > 0, 'on by default');
    assert.is(resolveConfig(flags, { [key]: sample })[key], sample);
    assert.is(resolveConfig({ ...flags, [flag]: '0' }, { [key]: sample })[key], 0, 'the flag wins, and 0 turns it off');
    assert.is(resolveConfig({ ...flags, [flag]: String(max) })[key], max);
    for (const bad of [String(max + 1), 'fast', '-1', '2.5', '']) {
      assert.throws(() => resolveConfig({ ...flags, [flag]: bad }), (error: Error) => error instanceof ConfigError && error.message.includes(`--${flag}`), bad);
    }
    assert.throws(() => resolveConfig(flags, { [key]: -5 }), (error: Error) => error instanceof ConfigError && error.message.startsWith(key));
    // The main thread (--queues 0) runs no queue worker: asking for it there is refused, not ignored.
    assert.is(resolveConfig({ ...flags, queues: '0' })[key], fallback, 'the default is no request');
    assert.throws(() => resolveConfig({ ...flags, queues: '0', [flag]: '10' }), (error: Error) => error instanceof ConfigError && new RegExp(`--${flag}.*queue workers`).test(error.message));
    assert.throws(() => resolveConfig(flags, { queues: 0, [key]: 10 }), (error: Error) => error instanceof ConfigError && new RegExp(`^${key}.*queue workers`).test(error.message));
  });
}

test('tunnel GSO: "auto" by default (decided at start); --no-tunnel-gso or offloads.tunnelGso false decline it; --tunnel-gso insists, refused without an IPv4 local address or without TAP offloads', () => {
  const flags = { local: '10.0.0.1', tap: 'vx0', vni: '7' };
  assert.is(resolveConfig(flags).offloads.tunnelGso, 'auto');
  assert.is(resolveConfig({ ...flags, local: '0.0.0.0' }).offloads.tunnelGso, 'auto', 'auto is never refused here: the start decides and says why');
  assert.is(resolveConfig({ ...flags, local: 'fd00::1' }).offloads.tunnelGso, 'auto');
  assert.is(resolveConfig({ ...flags, 'no-tunnel-gso': true }).offloads.tunnelGso, false);
  assert.is(resolveConfig({ ...flags, 'no-tunnel-gso': true }, { offloads: { tunnelGso: true } }).offloads.tunnelGso, false, 'the flag wins');
  assert.is(resolveConfig(flags, { offloads: { tunnelGso: false } }).offloads.tunnelGso, false);
  assert.is(resolveConfig(flags, { offloads: { tunnelGso: 'auto' } }).offloads.tunnelGso, 'auto');
  assert.is(resolveConfig({ ...flags, 'tunnel-gso': true }).offloads.tunnelGso, true);
  assert.is(resolveConfig(flags, { offloads: { tunnelGso: true } }).offloads.tunnelGso, true);
  const refused = (f: object, file: object | undefined, pattern: RegExp) => assert.throws(
    () => resolveConfig({ ...flags, ...f }, file), (error: Error) => error instanceof ConfigError && pattern.test(error.message), JSON.stringify([f, file]),
  );
  refused({ 'tunnel-gso': true, local: '0.0.0.0' }, undefined, /--tunnel-gso.*IPv4 underlay and the local address itself/);
  refused({ 'tunnel-gso': true, local: 'fd00::1' }, undefined, /--tunnel-gso.*IPv4/);
  assert.is(resolveConfig({ ...flags, 'tunnel-gso': true, queues: '2' }).offloads.tunnelGso, true, 'with queue workers too');
  refused({ 'tunnel-gso': true, 'no-tap-offloads': true }, undefined, /--tunnel-gso.*TAP offloads/);
  refused({ local: '0.0.0.0' }, { offloads: { tunnelGso: true } }, /^offloads\.tunnelGso/);
  refused({}, { offloads: { tunnelGso: 'yes' } }, /offloads\.tunnelGso.*"auto"/);
  refused({ 'tunnel-gso': true, 'no-tunnel-gso': true }, undefined, /--tunnel-gso: cannot go with --no-tunnel-gso/);
});

test('tunnel ingress: on with tunnel GSO unless --no-tunnel-ingress or offloads.tunnelIngress false; never without tunnel GSO', () => {
  const flags = { local: '10.0.0.1', tap: 'vx0', vni: '7' };
  assert.is(resolveConfig({ ...flags, 'tunnel-gso': true }).offloads.tunnelIngress, true);
  assert.is(resolveConfig({ ...flags, 'tunnel-gso': true, 'no-tunnel-ingress': true }).offloads.tunnelIngress, false);
  assert.is(resolveConfig({ ...flags, 'tunnel-gso': true }, { offloads: { tunnelIngress: false } }).offloads.tunnelIngress, false);
  assert.is(resolveConfig(flags).offloads.tunnelIngress, true, 'with tunnel GSO "auto"');
  assert.is(resolveConfig({ ...flags, 'no-tunnel-gso': true }, { offloads: { tunnelIngress: true } }).offloads.tunnelIngress, false, 'nothing to take it in without tunnel GSO');
  assert.throws(() => resolveConfig(flags, { offloads: { tunnelIngress: 1 } }), /offloads\.tunnelIngress/);
});

test('parseEndpointText: ADDR, ADDR:PORT, bare IPv6 (never a port), [IPV6]:PORT', () => {
  assert.equal(parseEndpointText('10.0.0.2', 'x'), { address: '10.0.0.2', version: 4, port: undefined });
  assert.equal(parseEndpointText('10.0.0.2:8472', 'x'), { address: '10.0.0.2', version: 4, port: 8472 });
  assert.equal(parseEndpointText('fd00::1:4789', 'x'), { address: 'fd00::1:4789', version: 6, port: undefined });
  assert.equal(parseEndpointText('[fd00::1]:4789', 'x'), { address: 'fd00::1', version: 6, port: 4789 });
  assert.equal(parseEndpointText('[fd00::1]', 'x'), { address: 'fd00::1', version: 6, port: undefined });
});

const FILE = {
  local: '10.0.0.1',
  port: 8472,
  networks: [
    { vni: 100, tap: 'vx100', mtu: 1400, peers: ['10.0.0.2', '10.0.0.3:4789'], fdb: [{ mac: '02:00:00:00:00:0A', peer: '10.0.0.2' }] },
    { vni: 200, tap: 'vx200', peers: ['10.0.0.2'] },
  ],
  allowedSources: ['10.1.0.0/16'],
  metrics: '127.0.0.1:9470',
  logLevel: 'warn',
  ageingSeconds: 60,
  maxFdbEntries: 100,
};

test('the file alone: every field read, static entries canonical', () => {
  const config = resolveConfig({}, FILE);
  assert.is(config.local, '10.0.0.1');
  assert.is(config.port, 8472);
  assert.equal(config.networks[0], {
    vni: 100, tap: 'vx100', mtu: 1400,
    peers: [{ address: '10.0.0.2', port: 8472 }, { address: '10.0.0.3', port: 4789 }],
    fdb: [{ mac: '02:00:00:00:00:0a', endpoint: { address: '10.0.0.2', port: 8472 } }],
  });
  assert.equal(config.networks[1], { vni: 200, tap: 'vx200', mtu: 1450, peers: [{ address: '10.0.0.2', port: 8472 }], fdb: [] });
  assert.equal(config.allowedSources, ['10.1.0.0/16']);
  assert.equal(config.metrics, { host: '127.0.0.1', port: 9470 });
  assert.is(config.logLevel, 'warn');
  assert.is(config.ageingSeconds, 60);
  assert.is(config.maxFdbEntries, 100);
});

test('flags override the file: top-level values replaced, --allow replaces the list', () => {
  const config = resolveConfig({ local: '10.0.0.9', port: '4789', metrics: '0.0.0.0:9000', 'log-level': 'debug', allow: ['10.2.0.0/16', '10.3.0.0/16'] }, FILE);
  assert.is(config.local, '10.0.0.9');
  assert.is(config.port, 4789);
  // Peers without a port follow the new --port.
  assert.equal(config.networks[1].peers, [{ address: '10.0.0.2', port: 4789 }]);
  assert.equal(config.metrics, { host: '0.0.0.0', port: 9000 });
  assert.is(config.logLevel, 'debug');
  assert.equal(config.allowedSources, ['10.2.0.0/16', '10.3.0.0/16']);
});

test('flags override the file: --vni picks a network, --tap/--mtu replace, --peer replaces the list', () => {
  const config = resolveConfig({ vni: '200', tap: 'other', mtu: '1300', peer: ['10.0.0.7'] }, FILE);
  assert.is(config.networks.length, 2);
  assert.equal(config.networks[1], { vni: 200, tap: 'other', mtu: 1300, peers: [{ address: '10.0.0.7', port: 8472 }], fdb: [] });
  assert.is(config.networks[0].tap, 'vx100', 'the other network is untouched');
});

test('flags override the file: a --vni the file lacks adds a network; without --vni the only network changes', () => {
  const added = resolveConfig({ vni: '300', tap: 'vx300' }, FILE);
  assert.equal(added.networks.map((network) => network.vni), [100, 200, 300]);
  const single = { local: '10.0.0.1', networks: [{ vni: 7, tap: 'a', peers: ['10.0.0.2'] }] };
  const changed = resolveConfig({ tap: 'b', peer: ['10.0.0.5', '10.0.0.6'] }, single);
  assert.equal(changed.networks.map(({ vni, tap, peers }) => ({ vni, tap, peers: peers.map((peer) => peer.address) })), [{ vni: 7, tap: 'b', peers: ['10.0.0.5', '10.0.0.6'] }]);
  // The error names the flag that made the mistake, not the file.
  try {
    resolveConfig({ vni: '200', mtu: '20' }, FILE);
    assert.unreachable();
  } catch (error) {
    assert.is((error as ConfigError).path, '--mtu');
  }
});

test('loadConfigFile: missing file and bad JSON are ConfigErrors on --config', () => {
  const dir = temporaryDir('vxlan-config-');
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, '{ "local": ');
  assert.throws(() => loadConfigFile(join(dir, 'missing.json')), (error: ConfigError) => error.path === '--config' && /cannot read .*ENOENT/.test(error.message));
  assert.throws(() => loadConfigFile(bad), (error: ConfigError) => error.path === '--config' && /is not valid JSON/.test(error.message));
  const good = join(dir, 'good.json');
  writeFileSync(good, JSON.stringify(FILE));
  assert.equal(loadConfigFile(good), FILE);
});

test('checkTunAccess: a missing device is one sentence naming what to do', () => {
  assert.throws(() => checkTunAccess('/nonexistent/net/tun'), (error: ConfigError) =>
    error instanceof ConfigError && error.path === '/nonexistent/net/tun' && /does not exist, so no TAP can be made/.test(error.message));
});

test('hasNetAdmin reads CapEff bit 12; checkTunAccess refuses a process without it', () => {
  const dir = temporaryDir('vxlan-caps-');
  const status = (capEff: string) => {
    const file = join(dir, `status-${capEff}`);
    writeFileSync(file, `Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t${capEff}\nCapBnd:\t000001ffffffffff\n`);
    return file;
  };
  assert.is(hasNetAdmin(status('000001ffffffffff')), true);
  assert.is(hasNetAdmin(status('0000000000001000')), true);
  assert.is(hasNetAdmin(status('0000000000000fff')), false);
  assert.is(hasNetAdmin(join(dir, 'missing')), undefined);
  // /dev/null is readable and writable by anyone: the capability decides.
  assert.throws(() => checkTunAccess('/dev/null', status('0000000000000000')), (error: ConfigError) =>
    error.path === '/dev/null' && /lacks CAP_NET_ADMIN.*root \(sudo\) or grant CAP_NET_ADMIN\.$/.test(error.message));
  checkTunAccess('/dev/null', status('0000000000001000'));
});

test.after(removeTemporaryDirs);
test.run();
