// ARP and IPv6 neighbour discovery answered locally from the forwarder's neighbour table (issue
// 13's proxy): a known answer never crosses the underlay; unknown targets, gratuitous ARP and
// duplicate address detection are flooded as before; every case counted.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Forwarder } from '../../src/forwarder/forwarder';
import { UserspaceHost } from '../../src/forwarder/device/userspace-host';
import { createKernels } from '../../src/backend';
import { naiveSum } from '../helpers/bytes';
import { FakeDevice, FakeNetwork, settle } from './fakes';

const peer = { address: '10.0.0.2', port: 4789 };
const HOST_MAC = '02:00:00:00:00:0a';
const REMOTE_MAC = '02:00:00:00:00:0b';

function forwarderWith(device: FakeDevice | UserspaceHost) {
  const network = new FakeNetwork();
  const underlay = network.underlay('10.0.0.1');
  const forwarder = new Forwarder({ underlay, networks: [{ vni: 7, device, peers: [peer] }], kernels: createKernels('reference') });
  forwarder.start();
  return { forwarder, underlay };
}

const macBytes = (mac: string) => mac.split(':').map((byte) => parseInt(byte, 16));

function arpRequest(senderIp: number[], targetIp: number[]): Uint8Array {
  return Uint8Array.from([
    ...macBytes('ff:ff:ff:ff:ff:ff'), ...macBytes(HOST_MAC), 0x08, 0x06,
    0, 1, 0x08, 0, 6, 4, 0, 1, ...macBytes(HOST_MAC), ...senderIp, 0, 0, 0, 0, 0, 0, ...targetIp,
  ]);
}

/** An IPv6 neighbour solicitation for fd42::2 from `source` (16 bytes), with a source link-layer option. */
function neighbourSolicitation(source: number[]): Uint8Array {
  const target = [0xfd, 0x42, ...new Array(13).fill(0), 2];
  const solicitedNode = [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 2];
  const icmp = [135, 0, 0, 0, 0, 0, 0, 0, ...target, 1, 1, ...macBytes(HOST_MAC)];
  const frame = Uint8Array.from([
    0x33, 0x33, 0xff, 0, 0, 2, ...macBytes(HOST_MAC), 0x86, 0xdd,
    0x60, 0, 0, 0, 0, icmp.length, 58, 255, ...source, ...solicitedNode, ...icmp,
  ]);
  const checksum = icmpv6Checksum(frame);
  frame[14 + 40 + 2] = checksum >> 8;
  frame[14 + 40 + 3] = checksum & 0xff;
  return frame;
}

/** The ICMPv6 checksum, from the test's own naive sum (not the code under test). */
function icmpv6Checksum(frame: Uint8Array): number {
  const length = (frame[18] << 8) | frame[19];
  const message = frame.slice(54, 54 + length);
  message[2] = 0;
  message[3] = 0;
  const pseudo = Uint8Array.from([...frame.subarray(22, 54), 0, 0, length >> 8, length & 0xff, 0, 0, 0, 58]);
  return ~naiveSum(message, naiveSum(pseudo)) & 0xffff;
}

test('ARP for a known neighbour is answered locally: the host gets its reply, nothing crosses the underlay', async () => {
  const host = new UserspaceHost({ name: 'a', mac: HOST_MAC, ip: '10.42.0.1' });
  const { forwarder, underlay } = forwarderWith(host);
  forwarder.addNeighbour(7, '10.42.0.2', REMOTE_MAC);
  assert.equal(forwarder.neighbours(7), [{ ip: '10.42.0.2', mac: REMOTE_MAC }]);
  // The ping itself goes nowhere (no peer answers in this test), but ARP must resolve locally.
  await host.ping('10.42.0.2', { count: 1, timeoutMs: 100 }).catch(() => undefined);
  assert.is(host.neighbour('10.42.0.2'), REMOTE_MAC);
  assert.ok(underlay.sentLog.every(({ datagram }) => !(datagram[8 + 12] === 0x08 && datagram[8 + 13] === 0x06)), 'no ARP in any datagram');
  assert.is(forwarder.counters().neighbours.arpAnswered, 1);
  // What did cross: the echo request itself (its destination MAC is in no FDB yet: unknown unicast).
  assert.equal(underlay.sentLog.map(({ datagram }) => (datagram[8 + 12] << 8) | datagram[8 + 13]), [0x0800]);
  await forwarder.close();
});

test('the ARP answer is exact: op 2, sender the neighbour, target the requester, addressed to the requester', async () => {
  const device = new FakeDevice('a');
  const { forwarder, underlay } = forwarderWith(device);
  forwarder.addNeighbour(7, '10.42.0.2', REMOTE_MAC);
  device.inject(arpRequest([10, 42, 0, 1], [10, 42, 0, 2]));
  await settle();
  assert.is(underlay.sentLog.length, 0);
  assert.equal([...device.written[0]], [
    ...macBytes(HOST_MAC), ...macBytes(REMOTE_MAC), 0x08, 0x06,
    0, 1, 0x08, 0, 6, 4, 0, 2, ...macBytes(REMOTE_MAC), 10, 42, 0, 2, ...macBytes(HOST_MAC), 10, 42, 0, 1,
  ]);
  await forwarder.close();
});

test('unknown targets and gratuitous ARP are flooded as before, and counted', async () => {
  const device = new FakeDevice('a');
  const { forwarder, underlay } = forwarderWith(device);
  forwarder.addNeighbour(7, '10.42.0.2', REMOTE_MAC);
  device.inject(arpRequest([10, 42, 0, 1], [10, 42, 0, 9]), arpRequest([10, 42, 0, 2], [10, 42, 0, 2]));
  await settle();
  assert.is(underlay.sentLog.length, 2);
  assert.equal(device.written, []);
  assert.equal(forwarder.counters().neighbours, { arpAnswered: 0, ndAnswered: 0, arpFlooded: 2, ndFlooded: 0 });
  assert.ok(forwarder.removeNeighbour(7, '10.42.0.2'));
  assert.not.ok(forwarder.removeNeighbour(7, '10.42.0.2'));
  await forwarder.close();
});

test('an IPv6 neighbour solicitation for a known neighbour gets a valid neighbour advertisement; DAD is flooded', async () => {
  const device = new FakeDevice('a');
  const { forwarder, underlay } = forwarderWith(device);
  forwarder.addNeighbour(7, 'fd42::2', REMOTE_MAC);
  const source = [0xfd, 0x42, ...new Array(13).fill(0), 1];
  device.inject(neighbourSolicitation(source));
  await settle();
  assert.is(underlay.sentLog.length, 0);
  const answer = device.written[0];
  assert.is(answer.length, 14 + 40 + 32);
  assert.equal([...answer.subarray(0, 12)], [...macBytes(HOST_MAC), ...macBytes(REMOTE_MAC)]);
  assert.equal([answer[19], answer[20], answer[21]], [32, 58, 255], 'payload length, ICMPv6, hop limit 255');
  assert.equal([...answer.subarray(22, 38)], [0xfd, 0x42, ...new Array(13).fill(0), 2], 'from the target');
  assert.equal([...answer.subarray(38, 54)], source, 'to the solicitation\'s source');
  assert.equal([answer[54], answer[55], answer[58]], [136, 0, 0x60], 'NA, code 0, Solicited and Override');
  assert.equal([...answer.subarray(78, 86)], [2, 1, ...macBytes(REMOTE_MAC)], 'target link-layer address option');
  assert.is((answer[56] << 8) | answer[57], icmpv6Checksum(answer), 'ICMPv6 checksum');
  // Duplicate address detection comes from :: and must reach the real owner.
  device.inject(neighbourSolicitation(new Array(16).fill(0)));
  await settle();
  assert.is(underlay.sentLog.length, 1);
  assert.equal(forwarder.counters().neighbours, { arpAnswered: 0, ndAnswered: 1, arpFlooded: 0, ndFlooded: 1 });
  assert.throws(() => forwarder.addNeighbour(7, 'not-an-ip', REMOTE_MAC), /invalid/);
  assert.throws(() => forwarder.addNeighbour(7, '10.0.0.1', 'zz'), /invalid MAC/);
  await forwarder.close();
});

test.run();
