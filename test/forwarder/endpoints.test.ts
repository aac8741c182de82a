// The forwarder's endpoint table and flood lists: ids counted by what refers to them and freed
// with the last reference, reused; a source admitted by CIDR swept when no entry took it; a flood
// list that adds and removes in place. Then the same through a Forwarder on fake ports: a peer's
// removal frees its endpoint and its entries, an endpoint shared by two VNIs stays until both let go.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EndpointTable, FloodList } from '../../src/forwarder/endpoints';
import { Fdb } from '../../src/forwarder/fdb';
import { Forwarder } from '../../src/forwarder/forwarder';
import { FakeDevice, FakeNetwork } from './fakes';

function table() {
  const changes: [number, string | undefined][] = [];
  const endpoints = new EndpointTable((id, endpoint) => changes.push([id, endpoint === undefined ? undefined : `${endpoint.address}:${endpoint.port}`]));
  return { endpoints, changes };
}

test('EndpointTable: an id per address and port, canonical; freed with its last reference and reused', () => {
  const { endpoints, changes } = table();
  const a = endpoints.idOf({ address: '10.0.0.1', port: 4789 });
  assert.is(endpoints.idOf({ address: '10.0.0.1', port: 4789 }), a, 'the same endpoint, the same id');
  const b = endpoints.idOf({ address: 'fd00:0::1', port: 4789 });
  assert.is(endpoints.find({ address: 'fd00::1', port: 4789 }), b, 'IPv6 text canonical');
  assert.is(endpoints.findByAddress('10.0.0.1'), a);
  assert.is(endpoints.findByAddress('10.0.0.9'), -1);
  endpoints.ref(a);
  endpoints.ref(a);
  endpoints.unref(a);
  assert.equal(endpoints.get(a), { address: '10.0.0.1', port: 4789 }, 'one reference left');
  endpoints.unref(a);
  assert.is(endpoints.get(a), undefined, 'the last reference freed it');
  assert.is(endpoints.find({ address: '10.0.0.1', port: 4789 }), -1);
  assert.is(endpoints.findByAddress('10.0.0.1'), -1);
  const c = endpoints.idOf({ address: '10.0.0.3', port: 4789 });
  assert.is(c, a, 'a freed id is reused');
  assert.equal(changes, [[a, '10.0.0.1:4789'], [b, 'fd00::1:4789'], [a, undefined], [c, '10.0.0.3:4789']]);
});

test('EndpointTable: an id nothing took is swept; one an entry took stays', () => {
  const { endpoints } = table();
  const spoofed = endpoints.idOf({ address: '10.9.9.9', port: 4789 });
  const learned = endpoints.idOf({ address: '10.9.9.8', port: 4789 });
  endpoints.ref(learned);
  endpoints.sweep();
  assert.is(endpoints.get(spoofed), undefined);
  assert.ok(endpoints.get(learned) !== undefined);
  assert.is(endpoints.size, 1);
});

test('Fdb: every entry refers to its endpoint (learn, move, static, delete, a peer\'s entries, ageing, clear)', () => {
  const { endpoints } = table();
  const fdb = new Fdb({ ageingMs: 1000 }, endpoints);
  const x = endpoints.idOf({ address: '10.0.0.1', port: 4789 });
  const y = endpoints.idOf({ address: '10.0.0.2', port: 4789 });
  assert.is(fdb.learn(1, x, 0), 'learned');
  assert.is(fdb.learn(2, x, 0), 'learned');
  assert.is(fdb.learn(2, y, 0), 'moved');
  fdb.setStatic(3, y);
  fdb.setStatic(1, y); // a learned entry becomes static, behind another endpoint
  assert.is(endpoints.get(x), undefined, 'x: no entry points at it any more');
  assert.is(fdb.lookup(1), y);
  assert.is(fdb.deleteEndpoint(y), 3);
  assert.is(fdb.size, 0);
  assert.is(endpoints.get(y), undefined);
  const z = endpoints.idOf({ address: '10.0.0.3', port: 4789 });
  fdb.learn(4, z, 0);
  fdb.setStatic(5, z);
  assert.equal(fdb.age(5000).map((entry) => entry.mac), [4], 'the learned entry ages, the static one stays');
  assert.ok(endpoints.get(z) !== undefined);
  fdb.clear();
  assert.is(endpoints.get(z), undefined);
});

test('FloodList: add and remove in place, ids in a typed array for the flood loop', () => {
  const list = new FloodList();
  for (let id = 0; id < 10; id++) assert.ok(list.add(id));
  assert.not.ok(list.add(3), 'once');
  assert.ok(list.delete(0));
  assert.not.ok(list.delete(0));
  assert.is(list.count, 9);
  assert.equal(list.list().sort((p, q) => p - q), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(Array.from(list.ids.subarray(0, list.count)).sort((p, q) => p - q), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  for (let id = 1; id < 10; id++) assert.ok(list.delete(id));
  assert.is(list.count, 0);
});

test('Forwarder: a removed peer takes its entries and its endpoint; one shared by two VNIs stays until both let go', async () => {
  const underlay = new FakeNetwork().underlay('192.0.2.1');
  const forwarder = new Forwarder({ underlay, networks: [{ vni: 1, device: new FakeDevice('a') }, { vni: 2, device: new FakeDevice('b') }] });
  const peer = { address: '192.0.2.2', port: 4789 };
  forwarder.addPeer(1, peer);
  forwarder.addPeer(2, peer);
  forwarder.addFdbEntry(1, '02:00:00:00:00:01', peer);
  forwarder.addFdbEntry(1, '02:00:00:00:00:02', { address: '192.0.2.3', port: 4789 });
  assert.ok(forwarder.removePeer(1, peer));
  assert.equal(forwarder.fdbEntries(1).map((entry) => entry.mac), ['02:00:00:00:00:02'], "the peer's entry went with it");
  assert.equal(forwarder.peers(2), [peer], 'VNI 2 still floods to it');
  assert.equal(underlay.knownAddresses(), ['192.0.2.2', '192.0.2.3'], 'the underlay still knows it');
  assert.ok(forwarder.removePeer(2, peer));
  assert.equal(underlay.knownAddresses(), ['192.0.2.3'], 'the underlay forgot it');
  assert.ok(forwarder.removeFdbEntry(1, '02:00:00:00:00:02'));
  assert.equal(underlay.knownAddresses(), [], 'nothing left');
  await forwarder.close();
});

test.run();
