// The forwarder's switching, on in-memory ports: head-end replication, learning, unicast to the
// learned peer only, split horizon, static entries, the source filter, strict VXLAN checks and
// every drop counted. Real sockets and TAPs are tested in test/forwarder/e2e.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Forwarder, type DropReason } from '../../src/forwarder/forwarder';
import { createKernels } from '../../src/backend';
import { ethernetFrame, FakeDevice, FakeNetwork, settle, vxlanDatagram } from './fakes';

const BROADCAST = 'ff:ff:ff:ff:ff:ff';
const HOST_A = '02:00:00:00:00:0a';
const HOST_B = '02:00:00:00:00:0b';
const HOST_C = '02:00:00:00:00:0c';
const peerB = { address: '10.0.0.2', port: 4789 };
const peerC = { address: '10.0.0.3', port: 4789 };

function threeHosts(options: { clock?: () => number; ageingMs?: number } = {}) {
  const network = new FakeNetwork();
  const underlayA = network.underlay('10.0.0.1');
  const underlayB = network.underlay('10.0.0.2');
  const underlayC = network.underlay('10.0.0.3');
  const kernels = createKernels('reference');
  const deviceA = new FakeDevice('a');
  const deviceB = new FakeDevice('b');
  const deviceC = new FakeDevice('c');
  const a = new Forwarder({ underlay: underlayA, networks: [{ vni: 42, device: deviceA, peers: [peerB, peerC] }], kernels, ...options });
  const b = new Forwarder({ underlay: underlayB, networks: [{ vni: 42, device: deviceB, peers: [{ address: '10.0.0.1', port: 4789 }, peerC] }], kernels });
  const c = new Forwarder({ underlay: underlayC, networks: [{ vni: 42, device: deviceC, peers: [{ address: '10.0.0.1', port: 4789 }, peerB] }], kernels });
  for (const forwarder of [a, b, c]) forwarder.start();
  return { a, b, c, deviceA, deviceB, deviceC, underlayA, underlayB, underlayC };
}

test('broadcast is replicated to every peer of the VNI, and arrives intact on each device', async () => {
  const { a, deviceA, deviceB, deviceC, underlayA } = threeHosts();
  const frame = ethernetFrame(BROADCAST, HOST_A, 64);
  deviceA.inject(frame);
  await settle();
  assert.equal(underlayA.sentLog.map((entry) => entry.to.address).sort(), ['10.0.0.2', '10.0.0.3']);
  assert.equal(underlayA.sentLog[0].datagram.subarray(0, 8), new Uint8Array([8, 0, 0, 0, 0, 0, 42, 0]));
  assert.equal(deviceB.written.map((f) => [...f]), [[...frame]], `${deviceB.written.length} frames`);
  assert.equal(deviceC.written, [frame]);
  assert.equal(deviceA.written, [], 'never back to the device it came from');
  assert.is(a.counters().networks[0].flooded, 1);
  assert.is(a.counters().networks[0].toUnderlay.frames, 2);
  await Promise.all([a.close()]);
});

test('a reply is sent only to the peer the destination was learned behind', async () => {
  const { a, b, c, deviceA, deviceB, underlayB } = threeHosts();
  deviceA.inject(ethernetFrame(BROADCAST, HOST_A));
  await settle();
  // B learned HOST_A behind 10.0.0.1: its reply goes there only.
  assert.equal(b.fdbEntries(42).map(({ mac, address, static: isStatic }) => [mac, address, isStatic]), [[HOST_A, '10.0.0.1', false]]);
  underlayB.sentLog.length = 0;
  const reply = ethernetFrame(HOST_A, HOST_B);
  deviceB.inject(reply);
  await settle();
  assert.equal(underlayB.sentLog.map((entry) => entry.to.address), ['10.0.0.1']);
  assert.equal(deviceA.written, [reply]);
  assert.is(b.counters().networks[0].flooded, 0);
  assert.is(c.counters().networks[0].toDevice.frames, 1, 'C saw only the broadcast');
  assert.is(a.counters().fdb.learned, 1);
});

test('FDB events come in batches: learned, moved, aged', async () => {
  let now = 0;
  const { a, deviceB, deviceC } = threeHosts({ clock: () => now, ageingMs: 1000 });
  const batches: unknown[][] = [];
  a.on('fdb', (events) => batches.push(events));
  for (let i = 0; i < 10; i++) deviceB.inject(ethernetFrame(BROADCAST, `02:00:00:00:01:${i.toString(16).padStart(2, '0')}`));
  await settle();
  const learned = batches.flat() as { type: string; endpoint: number }[];
  assert.is(learned.length, 10);
  assert.ok(batches.length < 10, `10 learnings in ${batches.length} events`);
  assert.ok(learned.every((event) => event.type === 'learned'));
  // The same MAC now behind C: moved.
  deviceC.inject(ethernetFrame(BROADCAST, '02:00:00:00:01:00'));
  await settle();
  assert.is((batches.at(-1)![0] as { type: string }).type, 'moved');
  now = 999;
  a.age();
  assert.is(a.counters().fdb.aged, 0);
  now = 1000;
  a.age();
  assert.is(a.counters().fdb.aged, 10, 'every entry was last confirmed at time 0');
});

test('learnedElsewhere (the queues of a multi-queue forwarder share an FDB): unicast without a flood, no event, no echo, ages as learned', async () => {
  let now = 0;
  const { a, deviceA, underlayA } = threeHosts({ clock: () => now, ageingMs: 1000 });
  const events: unknown[] = [];
  a.on('fdb', (batch) => events.push(...batch));
  // Another queue heard HOST_B behind B: this one sends HOST_B's frames to B alone.
  a.learnedElsewhere(42, HOST_B, peerB);
  deviceA.inject(ethernetFrame(HOST_B, HOST_A));
  await settle();
  assert.equal(underlayA.sentLog.map((entry) => entry.to.address), ['10.0.0.2'], 'unicast to B, not flooded');
  assert.is(a.counters().networks[0].flooded, 0);
  assert.equal(a.fdbEntries(42).map((entry) => [entry.mac, entry.address, entry.static]), [[HOST_B, '10.0.0.2', false]]);
  assert.equal(events, [], 'no fdb event: the queue that heard it reported it');
  assert.is(a.counters().fdb.learned, 0, 'not counted here either');
  // What it was told is not passed back (the queues would otherwise keep each other's entries alive).
  assert.equal(a.recentlyLearned(1000), []);
  // A move told by another queue moves it here; a static entry stays.
  a.learnedElsewhere(42, HOST_B, peerC);
  assert.equal(a.fdbEntries(42).map((entry) => entry.address), ['10.0.0.3']);
  a.addFdbEntry(42, HOST_C, peerC);
  a.learnedElsewhere(42, HOST_C, peerB);
  assert.equal(a.fdbEntries(42).find((entry) => entry.mac === HOST_C)?.address, '10.0.0.3');
  // It ages like any learned entry.
  now = 1000;
  a.age();
  assert.equal(a.fdbEntries(42).map((entry) => entry.mac), [HOST_C]);
  assert.throws(() => a.learnedElsewhere(7, HOST_B, peerB), /vni 7 is not served/);
  assert.throws(() => a.learnedElsewhere(42, 'nonsense', peerB), /MAC/);
});

test('recentlyLearned lists what frames to this instance confirmed within the window', async () => {
  let now = 0;
  const { a, deviceB } = threeHosts({ clock: () => now, ageingMs: 10_000 });
  deviceB.inject(ethernetFrame(BROADCAST, HOST_B));
  await settle();
  assert.equal(a.recentlyLearned(100), [{ vni: 42, mac: HOST_B, endpoint: { address: '10.0.0.2', port: 4789 } }]);
  now = 500;
  assert.equal(a.recentlyLearned(100), [], 'not heard within the last 100 ms');
  deviceB.inject(ethernetFrame(BROADCAST, HOST_B));
  await settle();
  assert.is(a.recentlyLearned(100).length, 1, 'a new frame confirms it again');
});

test('static entries: unicast goes to the configured VTEP and learning never moves it', async () => {
  const { a, deviceA, deviceC, underlayA } = threeHosts();
  a.addFdbEntry(42, HOST_B, peerB);
  deviceC.inject(ethernetFrame(BROADCAST, HOST_B)); // HOST_B claimed from C: must not move
  await settle();
  assert.equal(a.fdbEntries(42).map((entry) => [entry.mac, entry.address, entry.static]), [[HOST_B, '10.0.0.2', true]]);
  deviceA.inject(ethernetFrame(HOST_B, HOST_A));
  await settle();
  assert.equal(underlayA.sentLog.map((entry) => entry.to.address), ['10.0.0.2']);
  assert.ok(a.removeFdbEntry(42, HOST_B));
  assert.equal(a.fdbEntries(42), []);
});

test('VXLAN only from peers or allowed CIDRs; strict header checks; every drop counted by reason', async () => {
  const network = new FakeNetwork();
  const underlay = network.underlay('10.0.0.1');
  const device = new FakeDevice('a');
  const forwarder = new Forwarder({
    underlay, networks: [{ vni: 7, device, peers: [peerB] }], allowedSources: ['192.168.0.0/16'], kernels: createKernels('reference'),
  });
  forwarder.start();
  const good = ethernetFrame(HOST_A, HOST_B);
  underlay.deliver({ address: '10.9.9.9', port: 4789 }, vxlanDatagram(7, good));
  underlay.deliver({ address: '192.168.3.4', port: 4789 }, vxlanDatagram(7, ethernetFrame(HOST_A, HOST_C)));
  underlay.deliver(peerB, vxlanDatagram(7, good, 0x00));
  underlay.deliver(peerB, vxlanDatagram(7, good, 0x0c));
  underlay.deliver(peerB, vxlanDatagram(8, good));
  underlay.deliver(peerB, vxlanDatagram(7, good).subarray(0, 5));
  underlay.deliver(peerB, vxlanDatagram(7, good.subarray(0, 10)));
  underlay.deliver(peerB, vxlanDatagram(7, ethernetFrame(HOST_A, '01:00:5e:00:00:01')));
  underlay.deliver(peerB, vxlanDatagram(7, good));
  await settle();
  const drops = forwarder.counters().drops;
  const expected: Partial<Record<DropReason, number>> = {
    UNKNOWN_SOURCE: 1, VXLAN_I_FLAG_MISSING: 1, VXLAN_RESERVED_BITS: 1, UNKNOWN_VNI: 1, TRUNCATED: 1,
    INNER_TOO_SHORT: 1, INNER_SOURCE_MULTICAST: 1,
  };
  for (const [reason, count] of Object.entries(drops)) assert.is(count, expected[reason as DropReason] ?? 0, reason);
  assert.is(device.written.length, 2, 'the CIDR-admitted frame and the good one');
  // The CIDR source was learned from but is not flooded to.
  assert.equal(forwarder.fdbEntries(7).map((entry) => entry.address).sort(), ['10.0.0.2', '192.168.3.4']);
  assert.equal(forwarder.peers(7), [peerB]);
  await forwarder.close();
  assert.ok(underlay.closed && device.closed);
});

test('a peer is recognised by its address whatever its per-flow source port (as Linux VTEPs send)', async () => {
  const network = new FakeNetwork();
  const underlay = network.underlay('10.0.0.1');
  const device = new FakeDevice('a');
  const forwarder = new Forwarder({ underlay, networks: [{ vni: 7, device, peers: [peerB] }], kernels: createKernels('reference') });
  forwarder.start();
  for (const port of [49152, 51234, 65535]) underlay.deliver({ address: '10.0.0.2', port }, vxlanDatagram(7, ethernetFrame(HOST_A, HOST_B)));
  await settle();
  assert.is(device.written.length, 3);
  assert.is(forwarder.counters().drops.UNKNOWN_SOURCE, 0);
  assert.equal(forwarder.fdbEntries(7).map((entry) => [entry.mac, entry.address, entry.port]), [[HOST_B, '10.0.0.2', 4789]]);
  await forwarder.close();
});

test('runtime control: peers and networks come and go; bad arguments are refused', async () => {
  const network = new FakeNetwork();
  const underlay = network.underlay('10.0.0.1');
  const forwarder = new Forwarder({ underlay, kernels: createKernels('reference') });
  forwarder.start();
  const device = new FakeDevice('x');
  forwarder.addNetwork({ vni: 5, device });
  device.inject(ethernetFrame(BROADCAST, HOST_A));
  await settle();
  assert.is(forwarder.counters().drops.NO_PEERS, 1);
  forwarder.addPeer(5, peerB);
  forwarder.addPeer(5, peerB);
  assert.equal(forwarder.peers(5), [peerB]);
  device.inject(ethernetFrame(BROADCAST, HOST_A));
  await settle();
  assert.equal(underlay.sentLog.map((entry) => entry.to), [peerB]);
  assert.ok(forwarder.removePeer(5, peerB));
  assert.not.ok(forwarder.removePeer(5, peerB));
  assert.throws(() => forwarder.addPeer(5, { address: 'fd00::1', port: 4789 }), /IPv6 but the underlay is IPv4/);
  assert.throws(() => forwarder.addPeer(6, peerB), /vni 6 is not served/);
  assert.throws(() => forwarder.addNetwork({ vni: 5, device: new FakeDevice('y') }), /already served/);
  assert.throws(() => forwarder.addNetwork({ vni: 2 ** 24, device: new FakeDevice('y') }), /vni/);
  assert.throws(() => new Forwarder({ underlay, allowedSources: ['10.0.0.0/33'] }), /prefix length/);
  assert.equal(forwarder.vnis(), [5]);
  await forwarder.removeNetwork(5);
  assert.ok(device.closed);
  assert.equal(forwarder.vnis(), []);
  await forwarder.close();
});

test('a broken port stops the forwarder loudly', async () => {
  const network = new FakeNetwork();
  const underlay = network.underlay('10.0.0.1');
  const device = new FakeDevice('a');
  let captured: DeviceEventsLike | undefined;
  type DeviceEventsLike = { fail(error: Error): void };
  const start = device.start.bind(device);
  device.start = (events) => { captured = events; start(events); };
  const forwarder = new Forwarder({ underlay, networks: [{ vni: 1, device }], kernels: createKernels('reference') });
  forwarder.start();
  const failed = new Promise<Error>((resolve) => forwarder.once('error', resolve));
  captured!.fail(new Error('worker died'));
  assert.match((await failed).message, 'worker died');
  assert.ok(underlay.closed && device.closed);
});

test.run();
