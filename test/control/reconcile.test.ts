// The reconciler against a fake forwarder: each host becomes a peer, a static FDB entry and a
// neighbour; every step is idempotent; a resync from any starting point ends in the same state
// (which is what makes a resync after a lost watch the same code as a start); shared pieces are
// never removed from under another host; a record the forwarder refuses is rolled back whole.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { Reconciler } from '../../src/control/reconcile';
import type { HostRecord } from '../../src/control/keys';
import { FakeForwarder } from './fake-forwarder';

const host = (n: number, changes: Partial<HostRecord> = {}): HostRecord => ({
  hostId: `h${n}`, vtep: { address: `192.0.2.${n}`, port: 4789 }, mac: `02:00:00:00:00:${n.toString(16).padStart(2, '0')}`,
  ip: `10.42.0.${n}`, joined: '', ...changes,
});

/** What the forwarder should hold for `hosts`, computed independently of the reconciler. */
function expected(hosts: HostRecord[]) {
  return {
    peers: [...new Set(hosts.map((h) => `${h.vtep.address}:${h.vtep.port}`))].sort(),
    fdb: hosts.map((h) => `${h.mac}@${h.vtep.address}:${h.vtep.port}`).sort(),
    neighbours: hosts.map((h) => `${h.ip}=${h.mac}`).sort(),
  };
}

test('a host is programmed as a peer, a static FDB entry and a neighbour; removed, all three go', () => {
  const forwarder = new FakeForwarder();
  const reconciler = new Reconciler(forwarder, 42, 'self');
  assert.is(reconciler.apply('h1', host(1)), 'added');
  assert.equal(forwarder.state(), expected([host(1)]));
  assert.is(reconciler.apply('h1', undefined), 'removed');
  assert.equal(forwarder.state(), { peers: [], fdb: [], neighbours: [] });
  assert.is(reconciler.size, 0);
});

test('idempotent: the same record twice, or a delete of an unknown host, changes nothing and calls nothing', () => {
  const forwarder = new FakeForwarder();
  const reconciler = new Reconciler(forwarder, 42, 'self');
  reconciler.apply('h1', host(1));
  const calls = forwarder.calls.length;
  assert.is(reconciler.apply('h1', host(1, { joined: 'later' })), 'unchanged', 'only the join time differs');
  assert.is(reconciler.apply('h9', undefined), 'unchanged');
  assert.is(forwarder.calls.length, calls, 'no forwarder call');
});

test('its own record is never programmed (a host is not its own peer)', () => {
  const forwarder = new FakeForwarder();
  const reconciler = new Reconciler(forwarder, 42, 'h1');
  assert.is(reconciler.apply('h1', host(1)), 'unchanged');
  reconciler.resync(new Map([['h1', host(1)], ['h2', host(2)]]));
  assert.equal(forwarder.state(), expected([host(2)]));
});

test('a changed record (new VTEP, MAC or address) replaces the old pieces', () => {
  const forwarder = new FakeForwarder();
  const reconciler = new Reconciler(forwarder, 42, 'self');
  reconciler.apply('h1', host(1));
  assert.is(reconciler.apply('h1', host(1, { vtep: { address: '192.0.2.99', port: 4789 } })), 'changed');
  assert.equal(forwarder.state(), expected([host(1, { vtep: { address: '192.0.2.99', port: 4789 } })]));
  reconciler.apply('h1', host(1, { mac: '02:00:00:00:00:99', ip: '10.42.0.99' }));
  assert.equal(forwarder.state(), expected([host(1, { mac: '02:00:00:00:00:99', ip: '10.42.0.99' })]));
});

test('a piece two hosts share (one VTEP) stays until neither needs it', () => {
  const forwarder = new FakeForwarder();
  const reconciler = new Reconciler(forwarder, 42, 'self');
  const vtep = { address: '192.0.2.7', port: 4789 };
  reconciler.apply('h1', host(1, { vtep }));
  reconciler.apply('h2', host(2, { vtep }));
  reconciler.apply('h1', undefined);
  assert.equal(forwarder.state(), expected([host(2, { vtep })]), "h2's peer and FDB entry survive h1's removal");
  reconciler.apply('h2', undefined);
  assert.equal(forwarder.state(), { peers: [], fdb: [], neighbours: [] });
});

test('a record the forwarder refuses is rolled back whole, counted, and reported', () => {
  const forwarder = new FakeForwarder();
  forwarder.refuse.add('192.0.2.3');
  const refused: string[] = [];
  const reconciler = new Reconciler(forwarder, 42, 'self', (hostId, error) => refused.push(`${hostId}: ${error.message}`));
  reconciler.apply('h2', host(2));
  assert.is(reconciler.apply('h3', host(3)), 'invalid');
  assert.equal(forwarder.state(), expected([host(2)]), 'nothing of h3 left');
  assert.is(reconciler.invalid, 1);
  assert.equal(refused, ['h3: peer 192.0.2.3 refused']);
  assert.not.ok(reconciler.has('h3'));
});

test('resync: from ANY programmed state, the end state is exactly the desired one (property)', () => {
  const record = fc.record({
    n: fc.integer({ min: 1, max: 12 }),
    vtep: fc.integer({ min: 1, max: 5 }),
    mac: fc.integer({ min: 1, max: 8 }),
    ip: fc.integer({ min: 1, max: 8 }),
  }).map(({ n, vtep, mac, ip }) => host(n, { vtep: { address: `192.0.2.${vtep}`, port: 4789 }, mac: `02:00:00:00:01:0${mac}`, ip: `10.42.1.${ip}` }));
  const hostsArbitrary = fc.uniqueArray(record, { selector: (h) => h.hostId, maxLength: 10 })
    // A MAC or an address belongs to one host at a time (IPAM and the MAC derivation see to that).
    .filter((hosts) => new Set(hosts.map((h) => h.mac)).size === hosts.length && new Set(hosts.map((h) => h.ip)).size === hosts.length);
  fc.assert(fc.property(hostsArbitrary, hostsArbitrary, fc.array(fc.nat(), { maxLength: 20 }), (start, desired, events) => {
    const forwarder = new FakeForwarder();
    const reconciler = new Reconciler(forwarder, 42, 'self');
    reconciler.resync(new Map(start.map((h) => [h.hostId, h])));
    // Some watch events (adds and deletes from the desired set) before the resync, as a
    // replayed or partly seen watch would give.
    for (const pick of events) {
      const h = desired[pick % Math.max(1, desired.length)];
      if (h !== undefined) reconciler.apply(h.hostId, pick % 3 === 0 ? undefined : h);
    }
    const map = new Map(desired.map((h) => [h.hostId, h]));
    reconciler.resync(map);
    assert.equal(forwarder.state(), expected(desired));
    const calls = forwarder.calls.length;
    reconciler.resync(map);
    assert.is(forwarder.calls.length, calls, 'a second resync calls nothing');
  }), { numRuns: 300 });
});

test.run();
