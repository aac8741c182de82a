// MultiQueueForwarder's own checks and failures, without a TAP: options refused before any worker
// starts, and a queue that cannot open (its port taken) rejects open() with the worker's error code
// while every worker started is stopped. The forwarding itself is tested against the kernel's vxlan
// in e2e/multi-queue.test.ts (root, namespaces).
import { createSocket } from 'node:dgram';
import { readdirSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MultiQueueForwarder, type MultiQueueForwarderOptions } from '../../src/forwarder/multi-queue/multi-queue-forwarder';

const NETWORKS: MultiQueueForwarderOptions['networks'] = [{ vni: 42, tap: { name: 'vxmqunit0' }, peers: [{ address: '127.0.0.2', port: 4789 }] }];

test('options are checked before any worker starts', async () => {
  const base: MultiQueueForwarderOptions = { queues: 2, underlay: { address: '127.0.0.1', port: 0 }, networks: NETWORKS };
  for (const [options, pattern] of [
    [{ ...base, queues: 0 }, /queues/],
    [{ ...base, queues: 65 }, /queues/],
    [{ ...base, queues: 1.5 }, /queues/],
    [{ ...base, networks: [] }, /networks/],
    [{ ...base, countersIntervalMs: 1 }, /countersIntervalMs/],
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

test.run();
