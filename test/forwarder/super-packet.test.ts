// The forwarder's side of a whole super-packet from the underlay (UnderlayEvents.superPacket, what
// a tunnel TAP offers with `--tunnel-gso`), on in-memory ports: written to the VNI's device whole
// when the device takes super-frames, its source learned, counted as the segments it carries;
// declined (so the underlay splits it) when the device cannot; and every VXLAN or inner-frame
// check of the datagram path applied, with the same drop counted. And the device's super-frame the
// other way (a SuperFrameSink: what the tunnel TAP sends). Real TAPs: e2e/tunnel-gso.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Forwarder } from '../../src/forwarder/forwarder';
import { emptySuperFrame, type DeviceEvents, type SuperFrame, type SuperFrameWrite } from '../../src/forwarder/contracts';
import { createKernels } from '../../src/backend';
import { ethernetFrame, FakeDevice, FakeNetwork, settle, vxlanDatagram } from './fakes';

const HOST_A = '02:00:00:00:00:0a';
const HOST_B = '02:00:00:00:00:0b';
const peerB = { address: '10.0.0.2', port: 4789 };

/** A device that takes super-frames whole: it keeps what it was given and answers `result`. */
class WholeDevice extends FakeDevice {
  readonly whole: Uint8Array[] = [];
  result: SuperFrameWrite = 'written';
  transmitSuperFrame(frame: SuperFrame): SuperFrameWrite {
    this.whole.push(frame.bytes.slice(frame.start, frame.start + frame.length));
    return this.result;
  }
}

function forwarderWith(device: FakeDevice) {
  const network = new FakeNetwork();
  const underlay = network.underlay('10.0.0.1');
  const forwarder = new Forwarder({ underlay, networks: [{ vni: 42, device, peers: [peerB] }], kernels: createKernels('reference') });
  forwarder.start();
  return { forwarder, underlay };
}

/** A 2854-byte super-frame from HOST_B: 2800 bytes of TCP payload after 54 bytes of headers, two 1400-byte segments. */
const superFrame = () => ethernetFrame(HOST_A, HOST_B, 2840);

test('a device that takes super-frames gets it whole, the source is learned, and it counts as the segments it carries', async () => {
  const device = new WholeDevice('a');
  const { forwarder, underlay } = forwarderWith(device);
  const inner = superFrame();
  assert.is(underlay.offerWhole(peerB, vxlanDatagram(42, inner), 1400), true);
  assert.equal(device.whole.map((frame) => [...frame]), [[...inner]]);
  const counters = forwarder.counters();
  assert.is(counters.networks[0].toDevice.frames, 2, 'two segments');
  assert.is(counters.networks[0].toDevice.bytes, inner.length + 54, 'the bytes of the two segments: the headers twice');
  assert.equal(forwarder.fdbEntries(42).map((entry) => [entry.mac, entry.address]), [[HOST_B, peerB.address]]);
  await settle();
  await forwarder.close();
});

test('the other way: a device\'s super-frame for a MAC behind one known VTEP goes to the sink whole, counted as its segments and their bytes; a broadcast or unknown one is declined', async () => {
  class OfferingDevice extends FakeDevice {
    portEvents: DeviceEvents | undefined;
    override start(events: DeviceEvents): void {
      this.portEvents = events;
      super.start(events);
    }
  }
  const device = new OfferingDevice('a');
  const sent: [number, string, number, number][] = [];
  const network = new FakeNetwork();
  const forwarder = new Forwarder({
    underlay: network.underlay('10.0.0.1'), networks: [{ vni: 42, device, peers: [peerB], fdb: [{ mac: HOST_B, endpoint: peerB }] }],
    kernels: createKernels('reference'), superFrames: { send: (frame, vni, address, port) => (sent.push([vni, address, port, frame.length]), true) },
  });
  forwarder.start();
  const offer = (inner: Uint8Array): boolean | undefined => device.portEvents?.superFrame?.({
    ...emptySuperFrame(), bytes: inner, start: 0, length: inner.length, gsoType: 1, gsoSize: 1400, csumStart: 34, csumOffset: 16, headerLength: 54,
  });
  const inner = ethernetFrame(HOST_B, HOST_A, 2840);
  assert.is(offer(inner), true);
  assert.equal(sent, [[42, peerB.address, peerB.port, inner.length]]);
  const counters = forwarder.counters().networks[0];
  assert.equal([counters.toUnderlay.frames, counters.toUnderlay.bytes], [2, inner.length + 54], 'two segments, the headers twice');
  assert.is(offer(ethernetFrame('ff:ff:ff:ff:ff:ff', HOST_A, 2840)), false, 'broadcast: replicated the usual way');
  assert.is(offer(ethernetFrame('02:00:00:00:00:0c', HOST_A, 2840)), false, 'unknown unicast: flooded the usual way');
  assert.is(sent.length, 1);
  await forwarder.close();
});

test('a device without transmitSuperFrame: declined (the underlay splits it), nothing counted or learned', async () => {
  const { forwarder, underlay } = forwarderWith(new FakeDevice('a'));
  assert.is(underlay.offerWhole(peerB, vxlanDatagram(42, superFrame()), 1400), false);
  assert.is(forwarder.counters().networks[0].toDevice.frames, 0);
  assert.is(forwarder.fdbEntries(42).length, 0);
  await forwarder.close();
});

test('a write the device refuses: taken, its segments counted as DEVICE_ERROR drops', async () => {
  const device = new WholeDevice('a');
  device.result = 'failed';
  const { forwarder, underlay } = forwarderWith(device);
  assert.is(underlay.offerWhole(peerB, vxlanDatagram(42, superFrame()), 1400), true);
  assert.is(forwarder.counters().drops.DEVICE_ERROR, 2);
  assert.is(forwarder.counters().networks[0].toDevice.frames, 0);
  await forwarder.close();
});

test('the datagram path\'s checks: no I flag, reserved bits, another VNI, a multicast inner source: taken, dropped and counted, never written', async () => {
  const device = new WholeDevice('a');
  const { forwarder, underlay } = forwarderWith(device);
  const cases = [
    ['VXLAN_I_FLAG_MISSING', vxlanDatagram(42, superFrame(), 0x00)],
    ['VXLAN_RESERVED_BITS', vxlanDatagram(42, superFrame(), 0x0c)],
    ['UNKNOWN_VNI', vxlanDatagram(43, superFrame())],
    ['INNER_SOURCE_MULTICAST', vxlanDatagram(42, ethernetFrame(HOST_A, '03:00:00:00:00:0b', 2840))],
  ] as const;
  for (const [reason, datagram] of cases) {
    assert.is(underlay.offerWhole(peerB, datagram, 1400), true, reason);
    assert.is(forwarder.counters().drops[reason], 1, reason);
  }
  assert.is(device.whole.length, 0, 'nothing written');
  assert.is(forwarder.fdbEntries(42).length, 0, 'nothing learned');
  await forwarder.close();
});

test.run();
