// The reconciler (layout v2) against a fake forwarder: each remote host becomes a peer, each of
// its endpoints a static FDB entry and a neighbour; an endpoint waits for its host; a host's
// going takes its endpoints' pieces; local endpoints are neighbours only when asked; every step
// is idempotent; a resync from any starting point ends in the same state (which is what makes a
// resync after a lost watch the same code as a start); shared pieces are never removed from
// under another record; a record the forwarder refuses is rolled back whole.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { Reconciler } from '../../src/control/reconcile';
import type { EndpointRecord, HostRecord } from '../../src/control/keys';
import { FakeForwarder } from './fake-forwarder';

const host = (n: number, changes: Partial<HostRecord> = {}): HostRecord => ({
  hostId: `h${n}`, vtep: { address: `192.0.2.${n}`, port: 4789 }, joined: '', ...changes,
});
const endpoint = (n: number, hostN: number, changes: Partial<EndpointRecord> = {}): EndpointRecord => ({
  endpointId: `e${n}`, hostId: `h${hostN}`, mac: `02:00:00:00:00:${n.toString(16).padStart(2, '0')}`, ipv4: `10.42.0.${n}`, name: `c${n}`, aliases: [], ...changes,
});
const hostsOf = (...records: HostRecord[]) => new Map(records.map((r) => [r.hostId, r]));
const endpointsOf = (...records: EndpointRecord[]) => new Map(records.map((r) => [r.endpointId, r]));

/** What the forwarder should hold, computed independently of the reconciler. */
function expected(hosts: HostRecord[], endpoints: EndpointRecord[], self = 'self', localNeighbours = false) {
  const remote = hosts.filter((h) => h.hostId !== self);
  const vtepOf = new Map(remote.map((h) => [h.hostId, `${h.vtep.address}:${h.vtep.port}`]));
  const placed = endpoints.filter((e) => vtepOf.has(e.hostId));
  const local = localNeighbours ? endpoints.filter((e) => e.hostId === self) : [];
  return {
    peers: [...new Set(vtepOf.values())].sort(),
    fdb: placed.map((e) => `${e.mac}@${vtepOf.get(e.hostId)}`).sort(),
    neighbours: [...placed, ...local].map((e) => `${e.ipv4}=${e.mac}`).sort(),
  };
}

test('a remote host is a peer; its endpoints a static FDB entry and a neighbour each; removed, all go', () => {
  const forwarder = new FakeForwarder();
  const reconciler = new Reconciler(forwarder, 42, 'self');
  assert.is(reconciler.setHost('h1', host(1)), 'added');
  assert.is(reconciler.setEndpoint('e1', endpoint(1, 1)), 'added');
  assert.is(reconciler.setEndpoint('e2', endpoint(2, 1)), 'added');
  assert.equal(forwarder.state(), expected([host(1)], [endpoint(1, 1), endpoint(2, 1)]));
  assert.is(reconciler.setEndpoint('e1', undefined), 'removed');
  assert.equal(forwarder.state(), expected([host(1)], [endpoint(2, 1)]));
  assert.is(reconciler.setHost('h1', undefined), 'removed');
  assert.equal(forwarder.state(), { peers: [], fdb: [], neighbours: [] }, "the host's going takes its endpoints' pieces");
  assert.is(reconciler.size, 0);
});

test('dual stack: an endpoint with IPv4 and IPv6 is two neighbours (ARP and ND answered locally); IPv6-only is one; a changed IPv6 address moves', () => {
  const forwarder = new FakeForwarder();
  const reconciler = new Reconciler(forwarder, 42, 'self');
  reconciler.setHost('h1', host(1));
  assert.is(reconciler.setEndpoint('e1', endpoint(1, 1, { ipv6: 'fd00:9::1:1' })), 'added');
  assert.is(reconciler.setEndpoint('e2', endpoint(2, 1, { ipv4: undefined, ipv6: 'fd00:9::1:2' })), 'added');
  assert.equal(forwarder.state().neighbours, ['10.42.0.1=02:00:00:00:00:01', 'fd00:9::1:1=02:00:00:00:00:01', 'fd00:9::1:2=02:00:00:00:00:02']);
  assert.is(reconciler.setEndpoint('e1', endpoint(1, 1, { ipv6: 'fd00:9::1:1' })), 'unchanged');
  assert.is(reconciler.setEndpoint('e1', endpoint(1, 1, { ipv6: 'fd00:9::1:3' })), 'changed');
  assert.equal(forwarder.state().neighbours, ['10.42.0.1=02:00:00:00:00:01', 'fd00:9::1:2=02:00:00:00:00:02', 'fd00:9::1:3=02:00:00:00:00:01']);
  reconciler.setHost('h1', undefined);
  assert.equal(forwarder.state(), { peers: [], fdb: [], neighbours: [] }, 'both families go with the host');
});

test('an endpoint that arrives before its host waits for it, and is programmed when the host comes', () => {
  const forwarder = new FakeForwarder();
  const reconciler = new Reconciler(forwarder, 42, 'self');
  reconciler.setEndpoint('e5', endpoint(5, 3));
  assert.equal(forwarder.state(), { peers: [], fdb: [], neighbours: [] });
  reconciler.setHost('h3', host(3));
  assert.equal(forwarder.state(), expected([host(3)], [endpoint(5, 3)]));
  // The host moves to another VTEP: its endpoints follow.
  const moved = host(3, { vtep: { address: '192.0.2.99', port: 4789 } });
  assert.is(reconciler.setHost('h3', moved), 'changed');
  assert.equal(forwarder.state(), expected([moved], [endpoint(5, 3)]));
});

test('idempotent: the same record twice, or a delete of an unknown one, changes nothing and calls nothing', () => {
  const forwarder = new FakeForwarder();
  const reconciler = new Reconciler(forwarder, 42, 'self');
  reconciler.setHost('h1', host(1));
  reconciler.setEndpoint('e1', endpoint(1, 1));
  const calls = forwarder.calls.length;
  assert.is(reconciler.setHost('h1', host(1, { joined: 'later' })), 'unchanged', 'only the join time differs');
  assert.is(reconciler.setEndpoint('e1', endpoint(1, 1, { aliases: ['web'] })), 'unchanged', 'only the aliases differ (names are not the forwarder\'s)');
  assert.is(reconciler.setHost('h9', undefined), 'unchanged');
  assert.is(reconciler.setEndpoint('e9', undefined), 'unchanged');
  assert.is(forwarder.calls.length, calls, 'no forwarder call');
  assert.equal(reconciler.endpoint('e1')?.aliases, ['web'], 'the newest record is kept for the name table');
});

test('its own host is never a peer; its own endpoints are neighbours only with localNeighbours', () => {
  const plain = new FakeForwarder();
  new Reconciler(plain, 42, 'h1').resync(hostsOf(host(1), host(2)), endpointsOf(endpoint(1, 1), endpoint(2, 2)));
  assert.equal(plain.state(), expected([host(1), host(2)], [endpoint(1, 1), endpoint(2, 2)], 'h1'));
  const docker = new FakeForwarder();
  new Reconciler(docker, 42, 'h1', { localNeighbours: true }).resync(hostsOf(host(1), host(2)), endpointsOf(endpoint(1, 1), endpoint(2, 2)));
  assert.equal(docker.state(), expected([host(1), host(2)], [endpoint(1, 1), endpoint(2, 2)], 'h1', true));
  assert.equal(docker.state().fdb, ['02:00:00:00:00:02@192.0.2.2:4789'], 'no FDB entry for a local endpoint (the bridge switches it)');
});

test('a piece two records share (one VTEP, one MAC) stays until neither needs it', () => {
  const forwarder = new FakeForwarder();
  const reconciler = new Reconciler(forwarder, 42, 'self');
  const vtep = { address: '192.0.2.7', port: 4789 };
  reconciler.setHost('h1', host(1, { vtep }));
  reconciler.setHost('h2', host(2, { vtep }));
  reconciler.setEndpoint('e2', endpoint(2, 2));
  reconciler.setHost('h1', undefined);
  assert.equal(forwarder.state(), expected([host(2, { vtep })], [endpoint(2, 2)]), "h2's peer and FDB entry survive h1's removal");
  // Two endpoints with one MAC (a re-registration under a new id): the survivor's entry stays.
  reconciler.setEndpoint('e3', endpoint(2, 2, { endpointId: 'e3', ipv4: '10.42.0.3' }));
  reconciler.setEndpoint('e2', undefined);
  assert.equal(forwarder.state().fdb, ['02:00:00:00:00:02@192.0.2.7:4789']);
  assert.equal(forwarder.state().neighbours, ['10.42.0.3=02:00:00:00:00:02']);
  reconciler.setHost('h2', undefined);
  assert.equal(forwarder.state(), { peers: [], fdb: [], neighbours: [] });
});

test('a host the forwarder refuses is counted and reported, and its endpoints are not programmed', () => {
  const forwarder = new FakeForwarder();
  forwarder.refuse.add('192.0.2.3');
  const refused: string[] = [];
  const reconciler = new Reconciler(forwarder, 42, 'self', { onInvalid: (id, error) => refused.push(`${id}: ${error.message}`) });
  reconciler.setHost('h2', host(2));
  assert.is(reconciler.setHost('h3', host(3)), 'invalid');
  reconciler.setEndpoint('e3', endpoint(3, 3));
  assert.equal(forwarder.state(), expected([host(2)], []), 'nothing of h3 left');
  assert.is(reconciler.invalid, 1);
  assert.equal(refused, ['h3: peer 192.0.2.3 refused']);
  assert.not.ok(reconciler.has('h3'));
});

test('resync: from ANY programmed state, the end state is exactly the desired one (property)', () => {
  const hostArbitrary = fc.record({ n: fc.integer({ min: 1, max: 6 }), vtep: fc.integer({ min: 1, max: 4 }) })
    .map(({ n, vtep }) => host(n, { vtep: { address: `192.0.2.${vtep}`, port: 4789 } }));
  const endpointArbitrary = fc.record({ n: fc.integer({ min: 1, max: 12 }), host: fc.integer({ min: 0, max: 7 }), mac: fc.integer({ min: 1, max: 9 }), ip: fc.integer({ min: 1, max: 9 }) })
    .map(({ n, host: h, mac, ip }) => endpoint(n, h, { mac: `02:00:00:00:01:0${mac}`, ipv4: `10.42.1.${ip}`, hostId: h === 0 ? 'self' : `h${h}` }));
  const state = fc.record({
    hosts: fc.uniqueArray(hostArbitrary, { selector: (h) => h.hostId, maxLength: 6 }),
    // A MAC or an address belongs to one endpoint at a time (IPAM and Docker see to that).
    endpoints: fc.uniqueArray(endpointArbitrary, { selector: (e) => e.endpointId, maxLength: 10 })
      .filter((es) => new Set(es.map((e) => e.mac)).size === es.length && new Set(es.map((e) => e.ipv4)).size === es.length),
  });
  fc.assert(fc.property(state, state, fc.array(fc.nat(), { maxLength: 20 }), fc.boolean(), (start, desired, events, localNeighbours) => {
    const forwarder = new FakeForwarder();
    const reconciler = new Reconciler(forwarder, 42, 'self', { localNeighbours });
    reconciler.resync(hostsOf(...start.hosts), endpointsOf(...start.endpoints));
    // Some watch events (adds and deletes from the desired set) before the resync, as a
    // replayed or partly seen watch would give.
    for (const pick of events) {
      const h = desired.hosts[pick % Math.max(1, desired.hosts.length)];
      const e = desired.endpoints[pick % Math.max(1, desired.endpoints.length)];
      if (pick % 2 === 0 && h !== undefined) reconciler.setHost(h.hostId, pick % 3 === 0 ? undefined : h);
      if (pick % 2 === 1 && e !== undefined) reconciler.setEndpoint(e.endpointId, pick % 3 === 0 ? undefined : e);
    }
    const hosts = hostsOf(...desired.hosts);
    const endpoints = endpointsOf(...desired.endpoints);
    reconciler.resync(hosts, endpoints);
    assert.equal(forwarder.state(), expected(desired.hosts, desired.endpoints, 'self', localNeighbours));
    const calls = forwarder.calls.length;
    reconciler.resync(hosts, endpoints);
    assert.is(forwarder.calls.length, calls, 'a second resync calls nothing');
  }), { numRuns: 400 });
});

test.run();
