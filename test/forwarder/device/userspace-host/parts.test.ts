// Parts of the userspace host on their own (the host as a whole is host.test.ts):
// the per-port tally's sequence window, the waits that close() ends, and that no part reaches
// for the object API's global workspace (the host is given what it uses: its batch's kernels,
// plain TypeScript checksums).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UdpStreamTally } from '../../../../src/forwarder/device/userspace-host/udp-stream-tally';
import { Waits } from '../../../../src/forwarder/device/userspace-host/waits';

const FOLDER = fileURLToPath(new URL('../../../../src/forwarder/device/userspace-host/', import.meta.url));

test('UdpStreamTally: late, duplicate and too-old datagrams, a jump past the window, datagrams without a number', () => {
  const tally = new UdpStreamTally();
  assert.equal(tally.snapshot(), { count: 0, bytes: 0, lastSequence: -1, highestSequence: -1, outOfOrder: 0, duplicates: 0 });
  for (const seq of [0, 1, 3]) tally.add(10, seq);
  tally.add(10, 2); // late, within the window
  tally.add(10, 2); // repeated
  tally.add(10, 5000); // far ahead: the window starts again there
  tally.add(10, 3); // older than the window can tell: counted late
  tally.add(10, 4990); // never seen, within the window below 5000: late
  tally.add(10, 4990); // now seen: repeated
  tally.add(3, -1); // too short to carry a sequence number: counted, order untouched
  assert.equal(tally.snapshot(), { count: 10, bytes: 93, lastSequence: 4990, highestSequence: 5000, outOfOrder: 3, duplicates: 2 });
});

test('Waits: a wake ends a delay early, close() rejects pending and later delays with the closed error', async () => {
  const waits = new Waits(() => new Error('host h closed'));
  const early: { wake?: () => void } = {};
  const woken = waits.delay(60_000, early);
  early.wake?.();
  assert.is(await woken, true);
  assert.is(await waits.delay(1), false);
  const pending = waits.delay(60_000);
  waits.close();
  await pending.then(() => assert.unreachable('resolved after close'), (error: Error) => assert.match(error.message, /host h closed/));
  await waits.delay(1).then(() => assert.unreachable('a delay after close'), (error: Error) => assert.match(error.message, /closed/));
  assert.throws(() => waits.checkOpen(), /host h closed/);
});

test('no part of the host imports the object API, the backend or the WASM loader (no hidden global workspace)', () => {
  const files = readdirSync(FOLDER).filter((name) => name.endsWith('.ts'));
  assert.ok(files.length >= 10, `the folder holds the host's parts (${files.join(', ')})`);
  for (const file of files) {
    const imports = [...readFileSync(join(FOLDER, file), 'utf8').matchAll(/from '([^']+)'/g)].map((match) => match[1]);
    for (const path of imports) {
      assert.not.match(path, /(^|\/)(api|backend|wasm)(\/|$)/, `${file} imports ${path}`);
    }
  }
});

test.run();
