// MultiQueueForwarder's own checks and failures, without a TAP: options refused before any worker
// starts, and a queue that cannot open (its port taken) rejects open() with the worker's error code
// while every worker started is stopped. The forwarding itself is tested against the kernel's vxlan
// in e2e/multi-queue.test.ts (root, namespaces).
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, readdirSync } from 'node:fs';
import { isRoot } from '../../interop/tools';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MultiQueueForwarder, type MultiQueueForwarderOptions } from '../../../src/forwarder/multi-queue/multi-queue-forwarder';

const NETWORKS: MultiQueueForwarderOptions['networks'] = [{ vni: 42, tap: { name: 'vxmqunit0' }, peers: [{ address: '127.0.0.2', port: 4789 }] }];

test('options are checked before any worker starts', async () => {
  const base: MultiQueueForwarderOptions = { queues: 2, underlay: { address: '127.0.0.1', port: 0 }, networks: NETWORKS };
  for (const [options, pattern] of [
    [{ ...base, queues: 0 }, /queues/],
    [{ ...base, queues: 65 }, /queues/],
    [{ ...base, queues: 1.5 }, /queues/],
    [{ ...base, networks: 'vx0' }, /networks/],
    [{ ...base, countersIntervalMs: 1 }, /countersIntervalMs/],
    [{ ...base, busyPollUs: -1 }, /busyPollUs/],
    [{ ...base, busyPollUs: 10_001 }, /busyPollUs/],
    [{ ...base, busyPollUs: 2.5 }, /busyPollUs/],
    [{ ...base, idleWakeMs: -1 }, /idleWakeMs/],
    [{ ...base, idleWakeMs: 1_001 }, /idleWakeMs/],
    [{ ...base, idleWakeMs: 0.5 }, /idleWakeMs/],
    [{ ...base, optimizeEarly: 'yes' }, /optimizeEarly must be a boolean/],
  ] as const) {
    await MultiQueueForwarder.open(options as MultiQueueForwarderOptions).then(
      () => assert.unreachable(`accepted ${JSON.stringify(options)}`),
      (error: Error) => assert.match(error.message, pattern),
    );
  }
});

test("a queue that cannot open rejects open() with the worker's error code; no worker is left running", async () => {
  // The port is taken by a socket without SO_REUSEPORT, so queue 0's bind fails (before any TAP).
  const threads = () => readdirSync('/proc/self/task').length;
  const before = threads();
  const blocker = createSocket('udp4');
  await new Promise<void>((resolve) => blocker.bind(0, '127.0.0.1', resolve));
  const { port } = blocker.address();
  try {
    const started = performance.now();
    const error = await MultiQueueForwarder.open({ queues: 2, underlay: { address: '127.0.0.1', port }, networks: NETWORKS }).then(
      async (opened) => {
        await opened.close();
        throw new Error('opened on a taken port');
      },
      (reason: Error & { code?: string }) => reason,
    );
    assert.is(error.code, 'EADDRINUSE', error.message);
    assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    console.log(`  refused in ${(performance.now() - started).toFixed(0)} ms: ${error.message}`);
  } finally {
    blocker.close();
  }
  // Every worker thread (the queues' and their reader threads) has ended: the process has no more
  // OS threads than before (V8's and libuv's own were there already).
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.ok(threads() <= before, `threads: ${before} before, ${threads()} after`);
});

test('runtime control: checked at once, mirrored, and made in every queue (a network added and removed; as root, ARP answered from a neighbour the queues were told of)', async () => {
  const forwarder = await MultiQueueForwarder.open({ queues: 2, underlay: { address: '127.0.0.1', port: 0 }, networks: [] });
  const tap = `vxmq${process.pid % 100000}`;
  try {
    assert.throws(() => forwarder.addPeer(7, { address: '127.0.0.2', port: 4789 }), /vni 7 is not served/);
    if (!isRoot) {
      console.warn('\n!!! not root: the runtime-control test stops before making a TAP (addNetwork needs root) !!!\n');
      return;
    }
    const device = await forwarder.addNetwork({ vni: 7, tap: { name: tap, mtu: 1450 } });
    assert.is(device.name, tap);
    assert.ok(existsSync(`/sys/class/net/${tap}`), 'queue 0 made the TAP');
    assert.equal(forwarder.vnis(), [7]);
    await forwarder.addNetwork({ vni: 7, tap: { name: tap } }).then(() => assert.unreachable('a VNI twice'), (error: Error) => assert.match(error.message, /already served/));
    assert.throws(() => forwarder.addPeer(7, { address: 'fd00::1', port: 4789 }), /IPv6 but the underlay is IPv4/);
    assert.throws(() => forwarder.addFdbEntry(7, 'not a mac', { address: '127.0.0.1', port: 9 }));
    // A closed port on loopback: what the queues send there goes nowhere.
    forwarder.addPeer(7, { address: '127.0.0.1', port: 9 });
    forwarder.addFdbEntry(7, '02:00:00:00:99:02', { address: '127.0.0.1', port: 9 });
    forwarder.addNeighbour(7, '10.99.0.2', '02:00:00:00:99:02');
    assert.equal(forwarder.peers(7), [{ address: '127.0.0.1', port: 9 }]);
    assert.equal(forwarder.neighbours(7), [{ ip: '10.99.0.2', mac: '02:00:00:00:99:02' }]);
    assert.equal(forwarder.staticFdbEntries(7), [{ mac: '02:00:00:00:99:02', address: '127.0.0.1', port: 9 }]);
    await forwarder.applied();
    for (const args of [['addr', 'add', '10.99.0.1/24', 'dev', tap], ['link', 'set', tap, 'up']]) {
      const result = spawnSync('ip', args, { encoding: 'utf8' });
      assert.is(result.status, 0, result.stderr);
    }
    spawnSync('ping', ['-c', '1', '-W', '1', '10.99.0.2'], { encoding: 'utf8' });
    const neighbour = spawnSync('ip', ['neigh', 'show', '10.99.0.2', 'dev', tap], { encoding: 'utf8' }).stdout;
    assert.match(neighbour, /lladdr 02:00:00:00:99:02/, `the queues answered ARP from the table: ${neighbour}`);
    await new Promise((resolve) => setTimeout(resolve, 700));
    const counters = forwarder.counters();
    assert.ok(counters.neighbours.arpAnswered >= 1, JSON.stringify(counters.neighbours));
    assert.ok(counters.networks[0].toUnderlay.frames >= 1, 'the echo request went to the static entry, not flooded');
    assert.ok(forwarder.removeNeighbour(7, '10.99.0.2'));
    assert.not.ok(forwarder.removeNeighbour(7, '10.99.0.2'), 'gone already');
    assert.ok(forwarder.removePeer(7, { address: '127.0.0.1', port: 9 }));
    assert.equal(forwarder.staticFdbEntries(7), [], "the peer's static entries went with it, as in Forwarder");
    await forwarder.removeNetwork(7);
    assert.equal(forwarder.vnis(), []);
    assert.not.ok(existsSync(`/sys/class/net/${tap}`), 'the TAP went with the last queue');
  } finally {
    await forwarder.close();
    if (existsSync(`/sys/class/net/${tap}`)) spawnSync('ip', ['link', 'del', tap]);
  }
});

test.run();
