// The recovery loop both agents share (src/control/recovery.ts), with a fake attempt and no etcd:
// the doubling wait between attempts and its cap, one loop for trouble that comes during one, the
// connection state and its events, a fatal error that stops it, close that stops it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Recovery, type RecoveryOptions } from '../../src/control/recovery';

interface Seen {
  lines: string[];
  connected: boolean[];
  troubles: number;
  attempts: number[];
  fatal: Error[];
}

function recovery(attempt: (n: number) => Promise<object>, options: Partial<RecoveryOptions> = {}): { recovery: Recovery; seen: Seen } {
  const seen: Seen = { lines: [], connected: [], troubles: 0, attempts: [], fatal: [] };
  const started = Date.now();
  let n = 0;
  const log = (level: string) => (fields: object, message: string) => seen.lines.push(`${level} ${message} ${JSON.stringify(fields)}`);
  const made = new Recovery({
    logger: { info: log('info'), warn: log('warn'), error: log('error'), debug: log('debug') },
    retryMinMs: 20, retryMaxMs: 80,
    onConnected: (connected) => seen.connected.push(connected),
    onTrouble: () => seen.troubles++,
    attempt: () => {
      seen.attempts.push(Date.now() - started);
      return attempt(++n);
    },
    onFatal: (error) => seen.fatal.push(error),
    ...options,
  });
  return { recovery: made, seen };
}

async function until(what: string, predicate: () => boolean, ms = 3000): Promise<void> {
  const started = Date.now();
  while (!predicate()) {
    if (Date.now() - started > ms) throw new Error(`not ${what} within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

test('failed attempts are retried after a doubling wait, capped; success: connected again, one "resynced" line with the attempt\'s fields', async () => {
  const { recovery: r, seen } = recovery(async (n) => {
    if (n < 5) throw new Error(`etcd away (${n})`);
    return { hosts: 3 };
  }, { describe: () => ({ hosts: 3 }) });
  r.setConnected(true);
  assert.equal(seen.connected, [true]);
  r.trouble('the lease was lost');
  assert.is(r.connected, false);
  assert.ok(r.disconnectedSince !== undefined);
  r.trouble('a watch broke'); // joins the recovery under way
  await until('connected again', () => r.connected);
  assert.equal(seen.connected, [true, false, true]);
  assert.is(seen.troubles, 1, 'one loop for both troubles');
  assert.is(seen.attempts.length, 5);
  // Waits 20, 40, 80, 80, 80 ms: each gap at least its wait (timers never fire early).
  const gaps = seen.attempts.map((at, i) => at - (i === 0 ? 0 : seen.attempts[i - 1]));
  for (const [i, wanted] of [20, 40, 80, 80, 80].entries()) assert.ok(gaps[i] >= wanted - 2, `gap ${i} ${gaps[i]} ms, wanted ≥ ${wanted}: ${gaps.join(', ')}`);
  assert.is(r.resyncs, 1);
  assert.is(r.disconnectedSince, undefined);
  assert.equal(seen.lines.filter((line) => line.startsWith('warn ')), ['warn lost etcd; forwarding continues on the last known state {"reason":"the lease was lost","hosts":3}']);
  assert.equal(seen.lines.filter((line) => line.startsWith('info ')), ['info resynced with etcd {"reason":"the lease was lost","attempts":5,"hosts":3}']);
  assert.is(seen.lines.filter((line) => line.startsWith('debug resync failed; retrying')).length, 4);
  // Trouble again after: a new loop.
  r.trouble('again');
  await until('connected again', () => r.connected && r.resyncs === 2);
  assert.is(seen.troubles, 2);
});

test('a fatal error stops the loop and goes to onFatal; trouble after it starts a new loop', async () => {
  class Final extends Error {}
  const { recovery: r, seen } = recovery(async (n) => {
    if (n === 1) throw new Error('etcd away');
    if (n === 2) throw new Final('the network is gone');
    return {};
  }, { isFatal: (error) => error instanceof Final });
  r.setConnected(true);
  r.trouble('lost');
  await until('the fatal error', () => seen.fatal.length === 1);
  assert.is(seen.fatal[0].message, 'the network is gone');
  assert.is(r.connected, false, 'still disconnected');
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.is(seen.attempts.length, 2, 'no attempt after it');
  r.trouble('lost again');
  await until('recovered', () => r.connected);
  assert.is(seen.attempts.length, 3);
});

test('close stops the loop: no attempt after it, never connected again; trouble after close is ignored', async () => {
  const { recovery: r, seen } = recovery(async () => {
    throw new Error('etcd away');
  });
  r.setConnected(true);
  r.trouble('lost');
  await until('two attempts', () => seen.attempts.length >= 2);
  r.close();
  const made = seen.attempts.length;
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.is(seen.attempts.length, made);
  r.trouble('later');
  assert.is(seen.troubles, 1);
  assert.equal(seen.connected, [true, false]);
});

test.run();
