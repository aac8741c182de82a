/**
 * bench/forwarder/measure.ts summariseProfile: self time per function of a V8 .cpuprofile, and
 * which thread a profile is (a reader worker of the TAP, the socket or the tunnel TAP, or a queue
 * worker), which the report prints beside each profile.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { summariseProfile } from '../../bench/forwarder/measure';

const dir = mkdtempSync(join(tmpdir(), 'vxlan-wasm-profile-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** A profile whose samples fall, in turn, on functions `[name, url, samples, µs each]`. */
function profileFile(name: string, functions: [string, string, number, number][]): string {
  const nodes = [{ id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 } }];
  const samples: number[] = [];
  const timeDeltas: number[] = [];
  functions.forEach(([functionName, url, count, us], i) => {
    nodes.push({ id: i + 2, callFrame: { functionName, url, lineNumber: 9 } });
    for (let k = 0; k < count; k++) {
      samples.push(i + 2);
      timeDeltas.push(us);
    }
  });
  const path = join(dir, `${name}.cpuprofile`);
  writeFileSync(path, JSON.stringify({ nodes, samples, timeDeltas }));
  return path;
}

test('self time per function, highest first, with percentages of the sampled time', () => {
  const summary = summariseProfile(profileFile('self', [
    ['flush', 'file:///repo/dist/chunks/udp-x.mjs', 3, 1000],
    ['readFrames', '', 1, 1000],
    ['flush', 'file:///repo/dist/chunks/udp-x.mjs', 2, 1000],
    ['call', 'file:///repo/node_modules/koffi/index.js', 4, 500],
  ]), 10);
  assert.is(summary.totalMs, 8);
  assert.equal(summary.entries.map((e) => [e.functionName, e.where, e.selfMs]), [
    ['flush', 'chunks/udp-x.mjs:10', 5],
    ['call', 'the koffi package', 2],
    ['readFrames', '', 1],
  ]);
  assert.is(summary.entries[0]!.percent, 62.5);
});

test('the thread role: each reader worker by what it reads, a queue worker by its file', () => {
  const role = (functions: string[], url = ''): string | undefined =>
    summariseProfile(profileFile(functions.join('-') + url.length, functions.map((f) => [f, url, 1, 10])), 5).reader;
  assert.is(role(['readFrames']), 'tap');
  assert.is(role(['readDatagrams']), 'udp');
  assert.is(role(['readPacked']), 'tunnel');
  // The main thread of a forwarder reads nothing itself; a thread that reads two kinds is not a reader worker.
  assert.is(role(['pump']), undefined);
  assert.is(role(['readFrames', 'readPacked']), undefined);
  // A queue worker reads every kind itself, and runs from its own file: the built one in dist/ or queue-worker.ts.
  assert.is(role(['readFrames', 'readPacked', 'loop'], 'file:///repo/dist/queue-worker.mjs'), 'queue');
  assert.is(role(['loop'], 'file:///repo/src/forwarder/multi-queue/queue-worker.ts'), 'queue');
});

test.run();
