// The FDB's rules, on explicit times (no timers): learning, refresh, moves, static entries,
// ageing, the entry limit, and the MAC keys read from frames.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Fdb, isMulticastAt, macKey, macKeyAt, macText } from '../../src/forwarder/fdb';

const A = macKey('02:00:00:00:00:0a');
const B = macKey('02:00:00:00:00:0b');

test('MAC keys round-trip through text and read the same from bytes', () => {
  for (const mac of ['00:00:00:00:00:00', 'ff:ff:ff:ff:ff:ff', '02:42:ac:11:00:02', 'fe:dc:ba:98:76:54']) {
    assert.is(macText(macKey(mac)), mac);
    const bytes = new Uint8Array([9, ...mac.split(':').map((b) => parseInt(b, 16))]);
    assert.is(macKeyAt(bytes, 1), macKey(mac));
  }
  assert.ok(isMulticastAt(new Uint8Array([0x01, 0, 0x5e]), 0));
  assert.not.ok(isMulticastAt(new Uint8Array([0x02]), 0));
});

test('learn, refresh, move; lookup follows', () => {
  const fdb = new Fdb();
  assert.is(fdb.lookup(A), -1);
  assert.is(fdb.learn(A, 1, 0), 'learned');
  assert.is(fdb.lookup(A), 1);
  assert.is(fdb.learn(A, 1, 10), 'refreshed');
  assert.is(fdb.learn(A, 2, 20), 'moved');
  assert.is(fdb.lookup(A), 2);
});

test('static entries are never moved by learning and never aged', () => {
  const fdb = new Fdb({ ageingMs: 100 });
  fdb.setStatic(A, 5);
  assert.is(fdb.learn(A, 6, 0), 'static');
  assert.is(fdb.lookup(A), 5);
  assert.equal(fdb.age(1e9), []);
  assert.is(fdb.lookup(A), 5);
  assert.equal(fdb.snapshot(0), [{ mac: '02:00:00:00:00:0a', endpoint: 5, static: true }]);
});

test('learned entries age out ageingMs after the last frame, not after the first', () => {
  const fdb = new Fdb({ ageingMs: 300_000 });
  fdb.learn(A, 1, 0);
  fdb.learn(B, 2, 0);
  fdb.learn(A, 1, 200_000);
  assert.equal(fdb.age(299_999), []);
  assert.equal(fdb.age(300_000), [{ mac: B, endpoint: 2 }]);
  assert.is(fdb.lookup(A), 1);
  assert.equal(fdb.age(500_000), [{ mac: A, endpoint: 1 }]);
  assert.is(fdb.size, 0);
});

test('a full table learns nothing new but still refreshes and moves what it has', () => {
  const fdb = new Fdb({ maxEntries: 1 });
  assert.is(fdb.learn(A, 1, 0), 'learned');
  assert.is(fdb.learn(B, 1, 0), 'full');
  assert.is(fdb.lookup(B), -1);
  assert.is(fdb.learn(A, 3, 1), 'moved');
  // A static entry may always be added by configuration.
  fdb.setStatic(B, 4);
  assert.is(fdb.lookup(B), 4);
});

test('entries behind an endpoint go together; bad options are refused', () => {
  const fdb = new Fdb();
  fdb.learn(A, 1, 0);
  fdb.setStatic(B, 1);
  assert.is(fdb.deleteEndpoint(1), 2);
  assert.is(fdb.size, 0);
  assert.throws(() => new Fdb({ ageingMs: 0 }), /ageingMs/);
  assert.throws(() => new Fdb({ maxEntries: 1.5 }), /maxEntries/);
});

test.run();
