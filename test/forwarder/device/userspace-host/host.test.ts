// The in-process UserspaceHost device and the in-memory ports: two hosts joined back to back
// (no forwarder) ping each other, stream UDP, shrug off garbage, keep their queue bounded and
// reject what is pending when closed. Frames the tests build are made byte by byte here, with
// checksums from the RFC 1071 definition in this file, not by the code under test.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PacketBatch } from '../../../../src/batch/packet-batch';
import type { DeviceEvents } from '../../../../src/forwarder/contracts';
import { connectDevices, MemoryDevice } from '../../../../src/forwarder/device/memory-device';
import { UserspaceHost } from '../../../../src/forwarder/device/userspace-host';
import { parseIpv6 } from '../../../../src/wire/address';
import { prng } from '../../../helpers/random';

const A = { name: 'host-a', mac: '02:00:00:00:00:0a', ip: '10.9.0.1' };
const B = { name: 'host-b', mac: '02:00:00:00:00:0b', ip: '10.9.0.2' };

function mac(text: string): number[] {
  return text.split(':').map((h) => parseInt(h, 16));
}

function ip(text: string): number[] {
  return text.split('.').map(Number);
}

function u16(value: number): number[] {
  return [(value >> 8) & 0xff, value & 0xff];
}

/** RFC 1071: the complement of the folded sum of network-order words (odd byte padded). */
function internetChecksum(bytes: number[], seed = 0): number {
  let sum = seed;
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i] << 8) | (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function arpFrame(op: number, senderMac: string, senderIp: string, targetMac: string, targetIp: string, destination = 'ff:ff:ff:ff:ff:ff'): Uint8Array {
  return Uint8Array.from([
    ...mac(destination), ...mac(senderMac), 0x08, 0x06,
    0, 1, 0x08, 0x00, 6, 4, ...u16(op), ...mac(senderMac), ...ip(senderIp), ...mac(targetMac), ...ip(targetIp),
  ]);
}

function ipv4Frame(destinationMac: string, sourceMac: string, source: string, destination: string, protocol: number, l4: number[]): Uint8Array {
  const header = [0x45, 0, ...u16(20 + l4.length), 0, 1, 0x40, 0, 64, protocol, 0, 0, ...ip(source), ...ip(destination)];
  const sum = internetChecksum(header);
  header[10] = sum >> 8;
  header[11] = sum & 0xff;
  return Uint8Array.from([...mac(destinationMac), ...mac(sourceMac), 0x08, 0x00, ...header, ...l4]);
}

function udpSegment(source: string, destination: string, sourcePort: number, destinationPort: number, payload: number[]): number[] {
  const length = 8 + payload.length;
  const segment = [...u16(sourcePort), ...u16(destinationPort), ...u16(length), 0, 0, ...payload];
  const pseudo = [...ip(source), ...ip(destination), 0, 17, ...u16(length)];
  let sum = internetChecksum([...pseudo, ...segment]);
  if (sum === 0) sum = 0xffff;
  segment[6] = sum >> 8;
  segment[7] = sum & 0xff;
  return segment;
}

function echoRequest(id: number, seq: number, data: number[]): number[] {
  const message = [8, 0, 0, 0, ...u16(id), ...u16(seq), ...data];
  const sum = internetChecksum(message);
  message[2] = sum >> 8;
  message[3] = sum & 0xff;
  return message;
}

/** A device started with events that record wakes and never drain it. */
function startIdle(device: { start(events: DeviceEvents): void }): { wakes: number; failures: Error[] } {
  const record = { wakes: 0, failures: [] as Error[] };
  device.start({ wake: () => record.wakes++, fail: (error) => record.failures.push(error) });
  return record;
}

/** Hand `frames` to `device.transmit` through a batch, as the forwarder would. */
function transmitFrames(device: { transmit(batch: PacketBatch, slots: Int32Array, count: number): number }, batch: PacketBatch, frames: Uint8Array[]): number {
  const slots = new Int32Array(batch.capacity);
  let taken = 0;
  for (let first = 0; first < frames.length; first += batch.capacity) {
    const n = Math.min(batch.capacity, frames.length - first);
    for (let k = 0; k < n; k++) {
      batch.writeInner(k, frames[first + k]);
      slots[k] = k;
    }
    taken += device.transmit(batch, slots, n);
  }
  return taken;
}


test('the constructor checks its arguments and names the field', () => {
  const bad: [Record<string, unknown>, typeof TypeError | typeof RangeError, RegExp][] = [
    [{ ...A, name: '' }, TypeError, /name/],
    [{ ...A, mac: 'nope' }, TypeError, /mac/],
    [{ ...A, mac: 42 }, TypeError, /mac/],
    [{ ...A, mac: '01:00:5e:00:00:01' }, RangeError, /mac.*unicast/],
    [{ ...A, mac: '00:00:00:00:00:00' }, RangeError, /mac/],
    [{ ...A, ip: '10.0.0' }, TypeError, /ip/],
    [{ ...A, ip: undefined }, TypeError, /ip/],
    [{ ...A, ip: '224.0.0.1' }, RangeError, /ip/],
    [{ ...A, ip: '0.0.0.0' }, RangeError, /ip/],
    [{ ...A, mtu: 20 }, RangeError, /mtu/],
    [{ ...A, mtu: 1500.5 }, RangeError, /mtu/],
    [{ ...A, queueCapacity: 0 }, RangeError, /queueCapacity/],
    [{ ...A, neighbourLimit: -1 }, RangeError, /neighbourLimit/],
  ];
  for (const [options, type, message] of bad) {
    assert.throws(() => new UserspaceHost(options as never), (error: Error) => error instanceof type && message.test(error.message), JSON.stringify(options));
  }
  assert.throws(() => new UserspaceHost(null as never), TypeError);
  const host = new UserspaceHost({ ...A, mtu: 9000 });
  assert.is(host.maxFrameLength, 9014);
  assert.is(new UserspaceHost(A).maxFrameLength, 1514);
});

test('two hosts back to back: ping resolves by ARP, replies are counted with RTTs, and the other way needs no ARP', async () => {
  const a = new UserspaceHost(A);
  const b = new UserspaceHost(B);
  const wire = connectDevices(a, b, { batch: new PacketBatch({ capacity: 64 }) });
  try {
    const result = await a.ping(B.ip, { count: 3, intervalMs: 5, timeoutMs: 1000 });
    assert.is(result.sent, 3);
    assert.is(result.received, 3);
    assert.is(result.rttMs.length, 3);
    for (const rtt of result.rttMs) assert.ok(rtt >= 0 && rtt < 1000, `rtt ${rtt}`);
    assert.ok(a.counters.arpRequestsOut >= 1);
    assert.is(b.counters.arpRequestsIn, a.counters.arpRequestsOut);
    assert.ok(b.counters.arpRepliesOut >= 1);
    assert.ok(a.counters.arpRepliesIn >= 1);
    assert.is(b.counters.echoRequestsIn, 3);
    assert.is(b.counters.echoRepliesOut, 3);
    assert.is(a.counters.echoRepliesIn, 3);
    assert.is(a.counters.echoRepliesUnmatched, 0);
    assert.is(a.neighbour(B.ip), B.mac);
    // b learned a from its ARP request (RFC 826), so b's ping sends no ARP.
    assert.is(b.neighbour(A.ip), A.mac);
    const back = await b.ping(A.ip, { count: 2, intervalMs: 0, payloadLength: 1000 });
    assert.equal([back.sent, back.received], [2, 2]);
    assert.is(b.counters.arpRequestsOut, 0);
    for (const host of [a, b]) {
      const c = host.counters;
      assert.is(c.malformed + c.badChecksum + c.unsupported + c.notForMe + c.queueDrops + c.oversize, 0, host.name);
    }
    assert.is(wire.error, undefined);
  } finally {
    wire.close();
    await a.close();
    await b.close();
  }
});

test('a UDP stream of 1000 datagrams arrives complete and in order, every one verified', async () => {
  const a = new UserspaceHost(A);
  const b = new UserspaceHost(B);
  const wire = connectDevices(a, b);
  try {
    const sent = await a.sendUdpStream(B.ip, 5001, { count: 1000, payloadLength: 200 });
    assert.is(sent.sent, 1000);
    assert.is(sent.firstSequence, 0);
    await wire.idle();
    assert.equal(b.udpReceived(5001), { count: 1000, bytes: 200_000, lastSequence: 999, highestSequence: 999, outOfOrder: 0, duplicates: 0 });
    assert.is(b.udpReceived(5002).count, 0);
    assert.is(b.counters.udpIn, 1000);
    assert.is(b.counters.udpBad + b.counters.udpNoChecksum + b.counters.badChecksum, 0);
    assert.is(a.counters.udpOut, 1000);
    // A second stream to the same port continues the numbering.
    const more = await a.sendUdpStream(B.ip, 5001, { count: 10, payloadLength: 4, sourcePort: 999 });
    assert.is(more.firstSequence, 1000);
    await wire.idle();
    const stats = b.udpReceived(5001);
    assert.equal([stats.count, stats.lastSequence, stats.outOfOrder, stats.duplicates], [1010, 1009, 0, 0]);
  } finally {
    wire.close();
    await a.close();
    await b.close();
  }
});

test('udpArrival resolves when the port\'s count reaches the number asked (at once when it has), false at its time limit', async () => {
  const a = new UserspaceHost(A);
  const b = new UserspaceHost(B);
  const wire = connectDevices(a, b);
  try {
    await a.ping(B.ip); // ARP out of the way
    const woken: number[] = [];
    const waits = [50, 100].map((count) => b.udpArrival(5003, count, 60_000).then((reached) => {
      woken.push(b.udpReceived(5003).count);
      return reached;
    }));
    const other = b.udpArrival(5004, 1, 60_000);
    await a.sendUdpStream(B.ip, 5003, { count: 100, payloadLength: 16 });
    assert.equal(await Promise.all(waits), [true, true]);
    // Woken by the arrival that reached each number (the wire moves a batch at a time, so by then
    // the rest of that batch has arrived too), not at the time limit.
    assert.ok(woken[0] >= 50 && woken[0] <= 100 && woken[1] === 100, `woken at ${woken}`);
    assert.is(await b.udpArrival(5003, 100, 1), true, 'already there');
    assert.is(await b.udpArrival(5003, 101, 20), false, 'never comes');
    await a.sendUdpStream(B.ip, 5004, { count: 1 });
    assert.is(await other, true, 'another port has its own count');
    await b.udpArrival(70_000, 1, 10).then(() => assert.unreachable('port 70000 was taken'), (error: Error) => assert.match(error.message, /port must be an integer/));
  } finally {
    wire.close();
    await a.close();
    await b.close();
  }
});

test('a paced UDP stream keeps its rate', async () => {
  const a = new UserspaceHost(A);
  const b = new UserspaceHost(B);
  const wire = connectDevices(a, b);
  try {
    await a.ping(B.ip); // ARP out of the way
    const result = await a.sendUdpStream(B.ip, 6000, { count: 100, ratePerSecond: 1000 });
    assert.is(result.sent, 100);
    // Never ahead of its rate: the 100th goes out 99 ms after the first at the earliest. No upper
    // bound: a loaded machine makes it late, and how late says nothing about the pacing.
    assert.ok(result.elapsedMs >= 80, `elapsed ${result.elapsedMs} ms for 100 at 1000/s`);
    await wire.idle();
    assert.is(b.udpReceived(6000).count, 100);
  } finally {
    wire.close();
    await a.close();
    await b.close();
  }
});

test('out-of-order and duplicate datagrams are told apart; bad UDP length and checksum are dropped', async () => {
  const host = new UserspaceHost(B);
  startIdle(host);
  const batch = new PacketBatch({ capacity: 64 });
  const datagram = (seq: number) => ipv4Frame(B.mac, A.mac, A.ip, B.ip, 17, udpSegment(A.ip, B.ip, 1234, 7000, [...u16(0), ...u16(seq), 1, 2, 3]));
  transmitFrames(host, batch, [0, 1, 3, 2, 2, 5, 4, 0].map(datagram));
  const stats = host.udpReceived(7000);
  assert.equal(stats, { count: 8, bytes: 56, lastSequence: 0, highestSequence: 5, outOfOrder: 2, duplicates: 2 });
  const badSum = datagram(9);
  badSum[badSum.length - 1] ^= 0xff;
  const badLength = datagram(9);
  badLength[14 + 20 + 5] += 2;
  const noSum = datagram(9);
  noSum[14 + 20 + 6] = 0;
  noSum[14 + 20 + 7] = 0;
  transmitFrames(host, batch, [badSum, badLength, noSum]);
  assert.is(host.counters.udpBad, 2);
  assert.is(host.counters.udpNoChecksum, 1);
  assert.is(host.udpReceived(7000).count, 9);
  await host.close();
});

test('an ARP request for another address is ignored and counted; one for ours is answered by the wire', async () => {
  const probe = new MemoryDevice({ name: 'probe' });
  const host = new UserspaceHost(B);
  const wire = connectDevices(probe, host);
  try {
    probe.inject(arpFrame(1, A.mac, A.ip, '00:00:00:00:00:00', '10.9.0.99'));
    await wire.idle();
    assert.is(host.counters.arpRequestsIn, 1);
    assert.is(host.counters.arpIgnored, 1);
    assert.is(host.counters.arpRepliesOut, 0);
    assert.is(host.neighbourCount, 0, 'nothing learned from ARP for another host');
    assert.equal(probe.takeTransmitted(), []);

    probe.inject(arpFrame(1, A.mac, A.ip, '00:00:00:00:00:00', B.ip));
    await wire.idle();
    const [reply] = probe.takeTransmitted();
    assert.equal(Array.from(reply), Array.from(arpFrame(2, B.mac, B.ip, A.mac, A.ip, A.mac)));
    assert.is(host.neighbour(A.ip), A.mac);

    // An echo request: the reply swaps addresses and carries a checksum that verifies.
    probe.inject(ipv4Frame(B.mac, A.mac, A.ip, B.ip, 1, echoRequest(0x1234, 7, [1, 2, 3, 4, 5])));
    await wire.idle();
    const [echo] = probe.takeTransmitted();
    assert.equal(Array.from(echo.subarray(0, 12)), [...mac(A.mac), ...mac(B.mac)]);
    assert.is(internetChecksum(Array.from(echo.subarray(14, 34))), 0, 'IPv4 header checksum');
    assert.equal(Array.from(echo.subarray(26, 34)), [...ip(B.ip), ...ip(A.ip)]);
    assert.equal(Array.from(echo.subarray(34)).filter((_, i) => i !== 2 && i !== 3), [0, 0, 0x12, 0x34, 0, 7, 1, 2, 3, 4, 5]);
    assert.is(internetChecksum(Array.from(echo.subarray(34))), 0, 'ICMP checksum');
  } finally {
    wire.close();
    await host.close();
    await probe.close();
  }
});

test('garbage frames are counted by reason and never throw; the host still works afterwards', async () => {
  const host = new UserspaceHost(B);
  startIdle(host);
  const batch = new PacketBatch({ capacity: 64 });
  const good = ipv4Frame(B.mac, A.mac, A.ip, B.ip, 17, udpSegment(A.ip, B.ip, 1, 2, [0, 0, 0, 1]));
  const truncated = good.subarray(0, 30);
  const shortTotal = good.slice();
  shortTotal[14 + 3] = 10; // total length below the header length
  const badHeaderSum = good.slice();
  badHeaderSum[14 + 11] ^= 1;
  const badIcmp = ipv4Frame(B.mac, A.mac, A.ip, B.ip, 1, echoRequest(1, 1, [9, 9]));
  badIcmp[badIcmp.length - 1] ^= 0x40;
  const cases: [string, Uint8Array, keyof typeof host.counters][] = [
    ['runt', new Uint8Array(5), 'malformed'],
    ['truncated IPv4', truncated, 'malformed'],
    ['total length below the header', shortTotal, 'malformed'],
    ['IPv4 header checksum', badHeaderSum, 'badChecksum'],
    ['ICMP checksum', badIcmp, 'badChecksum'],
    ['short ARP', arpFrame(1, A.mac, A.ip, '00:00:00:00:00:00', B.ip).subarray(0, 30), 'malformed'],
    ['ARP opcode 3', arpFrame(3, A.mac, A.ip, '00:00:00:00:00:00', B.ip), 'unsupported'],
    ['IPv6', Uint8Array.from([...mac(B.mac), ...mac(A.mac), 0x86, 0xdd, ...new Array(40).fill(0)]), 'unsupported'],
    ['TCP', ipv4Frame(B.mac, A.mac, A.ip, B.ip, 6, new Array(20).fill(0)), 'unsupported'],
    ['another MAC', ipv4Frame('02:00:00:00:00:99', A.mac, A.ip, B.ip, 17, []), 'notForMe'],
    ['another IP', ipv4Frame(B.mac, A.mac, A.ip, '10.9.0.77', 17, []), 'notForMe'],
    ['oversize', new Uint8Array(1515), 'oversize'],
  ];
  for (const [what, frame, counter] of cases) {
    const before = host.counters[counter];
    assert.is(transmitFrames(host, batch, [frame]), 1, what);
    assert.is(host.counters[counter], before + 1, `${what} counted as ${counter}`);
  }
  // Random bytes, half of them addressed to the host as IPv4 or ARP so they get past the MAC check.
  const random = prng(0x5eed);
  const frames: Uint8Array[] = [];
  for (let n = 0; n < 5000; n++) {
    const frame = new Uint8Array(Math.floor(random() * 200));
    for (let i = 0; i < frame.length; i++) frame[i] = Math.floor(random() * 256);
    if (n % 2 === 0 && frame.length >= 15) {
      frame.set(mac(B.mac), 0);
      frame.set(n % 4 === 0 ? [0x08, 0x00, 0x45] : [0x08, 0x06], 12);
    }
    frames.push(frame);
  }
  const before = { ...host.counters };
  assert.is(transmitFrames(host, batch, frames), frames.length);
  const c = host.counters;
  const counted = (c.malformed - before.malformed) + (c.badChecksum - before.badChecksum) + (c.unsupported - before.unsupported)
    + (c.notForMe - before.notForMe) + (c.udpBad - before.udpBad) + (c.udpIn - before.udpIn) + (c.arpIgnored - before.arpIgnored)
    + (c.arpRequestsIn - before.arpRequestsIn - (c.arpIgnored - before.arpIgnored)) + (c.arpRepliesIn - before.arpRepliesIn)
    + (c.echoRequestsIn - before.echoRequestsIn) + (c.echoRepliesIn - before.echoRepliesIn);
  assert.is(c.framesIn - before.framesIn, 5000);
  assert.ok(counted >= 5000 - 5, `every random frame lands in a counter (${counted})`);
  await host.close();

  // After all that, two fresh hosts on a wire still talk (nothing global was disturbed).
  const a = new UserspaceHost(A);
  const b = new UserspaceHost(B);
  const wire = connectDevices(a, b);
  try {
    assert.is((await a.ping(B.ip)).received, 1);
  } finally {
    wire.close();
    await a.close();
    await b.close();
  }
});

test('the queue bound holds under a flood: replies beyond it are dropped and counted, memory does not grow', async () => {
  const host = new UserspaceHost({ ...B, queueCapacity: 128 });
  startIdle(host);
  const batch = new PacketBatch({ capacity: 64 });
  const request = ipv4Frame(B.mac, A.mac, A.ip, B.ip, 1, echoRequest(7, 1, new Array(56).fill(0xab)));
  const frames = new Array(64).fill(request) as Uint8Array[];
  for (let i = 0; i < 20; i++) transmitFrames(host, batch, frames);
  const heapBefore = process.memoryUsage().heapUsed;
  for (let i = 0; i < 200; i++) transmitFrames(host, batch, frames);
  const heapAfter = process.memoryUsage().heapUsed;
  assert.is(host.waiting, 128);
  assert.is(host.counters.echoRequestsIn, 220 * 64);
  assert.is(host.counters.echoRepliesOut, 128);
  assert.is(host.counters.queueDrops, 220 * 64 - 128);
  assert.ok(heapAfter - heapBefore < 8 * 2 ** 20, `heap grew by ${heapAfter - heapBefore} bytes over 12800 frames`);
  await host.close();
  assert.is(host.waiting, 0);
});

test('wake is deferred out of transmit and given when the queue goes from empty to non-empty', async () => {
  const host = new UserspaceHost(B);
  let inside = false;
  let wakesInside = 0;
  let wakes = 0;
  host.start({ wake: () => { wakes++; if (inside) wakesInside++; }, fail: () => {} });
  const batch = new PacketBatch({ capacity: 64 });
  inside = true;
  transmitFrames(host, batch, [arpFrame(1, A.mac, A.ip, '00:00:00:00:00:00', B.ip), arpFrame(1, A.mac, A.ip, '00:00:00:00:00:00', B.ip)]);
  inside = false;
  assert.is(wakes, 0, 'no wake inside transmit');
  await Promise.resolve();
  assert.is(wakes, 1, 'one wake for the two replies');
  assert.is(wakesInside, 0);
  // A receive that leaves frames waiting wakes again; a smaller batch's slots drop longer frames.
  assert.is(host.receive(batch, 0, 1), 1);
  await Promise.resolve();
  assert.is(wakes, 2);
  assert.is(host.receive(batch, 0, 64), 1);
  assert.equal(Array.from(batch.inner(0)), Array.from(arpFrame(2, B.mac, B.ip, A.mac, A.ip, A.mac)));
  assert.throws(() => host.start({ wake() {}, fail() {} }), /already started/);
  await host.close();
});

test('a ping with no answer fails after retried ARP requests; close() rejects pending pings and streams', async () => {
  const host = new UserspaceHost(A);
  const drained = new PacketBatch({ capacity: 64 });
  // Drain the queue (nothing answers) so every ARP retry goes out.
  host.start({ wake: () => setImmediate(() => host.receive(drained, 0, 64)), fail: () => {} });
  const started = performance.now();
  // 2000 ms: requests at 0, 250, 750 and 1750 ms (each retry twice as late as the one before, up
  // to one a second), where one every 250 ms would be 8. At least one retry even when a loaded
  // machine fires a timer a second late; at most 5 even when one fires early (a timer counts from
  // the event loop's time, which lags while the loop is busy).
  try {
    await host.ping('10.9.0.50', { timeoutMs: 2000 });
    assert.unreachable('ping without an ARP answer resolved');
  } catch (error) {
    assert.match((error as Error).message, /no ARP reply from 10\.9\.0\.50 within 2000 ms \(\d+ requests\)/);
  }
  assert.ok(performance.now() - started >= 1990);
  const requests = host.counters.arpRequestsOut;
  assert.ok(requests >= 2 && requests <= 5, `ARP retried, less and less often (${requests} requests)`);

  const pendingPing = host.ping('10.9.0.51', { timeoutMs: 60_000 });
  const pendingStream = host.sendUdpStream('10.9.0.52', 9, { count: 10, timeoutMs: 60_000 });
  await new Promise((resolve) => setTimeout(resolve, 20));
  await host.close();
  for (const pending of [pendingPing, pendingStream]) {
    try {
      await pending;
      assert.unreachable('resolved after close');
    } catch (error) {
      assert.match((error as Error).message, /UserspaceHost host-a closed/);
    }
  }
  await host.close(); // idempotent
  try {
    await host.ping(B.ip);
    assert.unreachable('ping on a closed host');
  } catch (error) {
    assert.match((error as Error).message, /closed/);
  }
  assert.is(host.transmit(drained, new Int32Array(1), 1), 0);
  assert.is(host.receive(drained, 0, 64), 0);
});

test('close() during the wait for echo replies rejects the ping', async () => {
  const a = new UserspaceHost(A);
  const b = new UserspaceHost(B);
  const wire = connectDevices(a, b);
  try {
    const pending = a.ping(B.ip, { count: 3, intervalMs: 60_000 });
    while (a.counters.echoRepliesIn === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    await a.close();
    try {
      await pending;
      assert.unreachable('resolved after close');
    } catch (error) {
      assert.match((error as Error).message, /closed/);
    }
  } finally {
    wire.close();
    await a.close();
    await b.close();
  }
});

/** An IPv6 frame carrying an ICMPv6 message whose checksum is filled in here. */
function icmpv6Frame(destinationMac: string, sourceMac: string, source: string, destination: string, hopLimit: number, message: number[]): Uint8Array {
  const src = Array.from(parseIpv6(source));
  const dst = Array.from(parseIpv6(destination));
  const body = message.slice();
  body[2] = 0;
  body[3] = 0;
  const sum = internetChecksum([...src, ...dst, ...u16(0), ...u16(body.length), 0, 0, 0, 58, ...body]);
  body[2] = sum >> 8;
  body[3] = sum & 0xff;
  return Uint8Array.from([
    ...mac(destinationMac), ...mac(sourceMac), 0x86, 0xdd,
    0x60, 0, 0, 0, ...u16(body.length), 58, hopLimit, ...src, ...dst, ...body,
  ]);
}

function icmpv6Valid(frame: Uint8Array): boolean {
  const bytes = Array.from(frame);
  const length = (bytes[18] << 8) | bytes[19];
  return internetChecksum([...bytes.slice(22, 54), ...u16(0), ...u16(length), 0, 0, 0, 58, ...bytes.slice(54, 54 + length)]) === 0;
}

test('IPv6: neighbour solicitations for our address are answered, others ignored; echo requests answered', async () => {
  const probe = new MemoryDevice({ name: 'probe6' });
  const host = new UserspaceHost({ ...B, ipv6: 'fd00::b' });
  const wire = connectDevices(probe, host);
  const target = Array.from(parseIpv6('fd00::b'));
  const solicit = (targetAddress: number[], withOption: boolean, source = 'fd00::a', hop = 255) => icmpv6Frame(
    '33:33:ff:00:00:0b', A.mac, source, 'ff02::1:ff00:b', hop,
    [135, 0, 0, 0, 0, 0, 0, 0, ...targetAddress, ...(withOption ? [1, 1, ...mac('02:00:00:00:00:aa')] : [])],
  );
  try {
    probe.inject(solicit(target, true));
    await wire.idle();
    const [advert] = probe.takeTransmitted();
    assert.ok(advert !== undefined, 'an advertisement');
    assert.equal(Array.from(advert.subarray(0, 14)), [...mac('02:00:00:00:00:aa'), ...mac(B.mac), 0x86, 0xdd], 'to the option\'s MAC');
    assert.is(advert[21], 255, 'hop limit 255');
    assert.equal(Array.from(advert.subarray(38, 54)), Array.from(parseIpv6('fd00::a')));
    assert.equal(Array.from(advert.subarray(54)).filter((_, i) => i !== 2 && i !== 3),
      [136, 0, 0x60, 0, 0, 0, ...target, 2, 1, ...mac(B.mac)]);
    assert.ok(icmpv6Valid(advert), 'ICMPv6 checksum');

    // Duplicate address detection (from ::): to all nodes, not marked solicited.
    probe.inject(solicit(target, false, '::'));
    await wire.idle();
    const [dad] = probe.takeTransmitted();
    assert.equal(Array.from(dad.subarray(0, 6)), [0x33, 0x33, 0, 0, 0, 1]);
    assert.is(dad[58], 0x20);
    assert.ok(icmpv6Valid(dad));

    probe.inject(solicit(Array.from(parseIpv6('fd00::1:b')), true));
    probe.inject(solicit(target, true, 'fd00::a', 64));
    const broken = solicit(target, true);
    broken[broken.length - 1] ^= 1;
    probe.inject(broken);
    probe.inject(icmpv6Frame(B.mac, A.mac, 'fd00::a', 'fd00::b', 64, [128, 0, 0, 0, 0, 9, 0, 1, 0xde, 0xad, 0xbe]));
    await wire.idle();
    const c = host.counters;
    assert.equal([c.ndSolicitationsIn, c.ndAdvertisementsOut, c.ndIgnored, c.malformed, c.badChecksum], [4, 2, 1, 1, 1]);
    const [echo] = probe.takeTransmitted();
    assert.equal(Array.from(echo.subarray(54)).filter((_, i) => i !== 2 && i !== 3), [129, 0, 0, 9, 0, 1, 0xde, 0xad, 0xbe]);
    assert.equal(Array.from(echo.subarray(22, 38)), target);
    assert.ok(icmpv6Valid(echo), 'echo reply checksum');
    assert.is(c.echoRepliesOut, 1);
    assert.throws(() => new UserspaceHost({ ...B, ipv6: 'ff02::1' }), /ipv6.*unicast/);
    assert.throws(() => new UserspaceHost({ ...B, ipv6: 'nope' }), (error: Error) => error instanceof TypeError && /ipv6/.test(error.message));
  } finally {
    wire.close();
    await host.close();
    await probe.close();
  }
});

test('MemoryDevice: bounded queue, kept frames, oversize into small slots', async () => {
  const device = new MemoryDevice({ queueCapacity: 4, keep: 2, maxFrameLength: 200 });
  const seen: number[] = [];
  const record = startIdle(device);
  for (let i = 0; i < 6; i++) device.inject(new Uint8Array(60 + i));
  assert.is(record.wakes, 0, 'the wake is deferred');
  await Promise.resolve();
  assert.is(record.wakes, 1, 'one wake for the queue going from empty to non-empty');
  assert.is(device.waiting, 4);
  assert.is(device.counters.injectDrops, 2);
  assert.is(device.inject(new Uint8Array(201)), false);
  const small = new PacketBatch({ capacity: 8, slotSize: 64 });
  assert.is(device.receive(small, 0, 8), 4 - 0);
  assert.equal([0, 1, 2, 3].map((i) => small.innerLength(i)), [60, 61, 62, 63]);
  device.inject(new Uint8Array(100));
  assert.is(device.receive(small, 0, 8), 0);
  assert.is(device.counters.oversize, 1);
  const slots = Int32Array.from([0, 1, 2]);
  assert.is(device.transmit(small, slots, 3), 3);
  assert.equal(device.takeTransmitted().map((f) => f.length), [61, 62]);
  const withCallback = new MemoryDevice({ onTransmit: (frame) => seen.push(frame.length), keep: 0 });
  withCallback.transmit(small, slots, 2);
  assert.equal(seen, [60, 61]);
  await device.close();
  await withCallback.close();
});

test('throughput: a back-to-back UDP stream (figure printed)', async () => {
  const a = new UserspaceHost(A);
  const b = new UserspaceHost(B);
  const wire = connectDevices(a, b);
  try {
    await a.ping(B.ip);
    const count = 200_000;
    const started = performance.now();
    await a.sendUdpStream(B.ip, 5201, { count, payloadLength: 64 });
    await wire.idle();
    const seconds = (performance.now() - started) / 1000;
    const stats = b.udpReceived(5201);
    assert.equal([stats.count, stats.outOfOrder, stats.duplicates, stats.lastSequence], [count, 0, 0, count - 1]);
    const rate = count / seconds;
    console.log(`  back-to-back UDP stream: ${count} datagrams (106-byte frames) in ${(seconds * 1000).toFixed(0)} ms = ${Math.round(rate).toLocaleString('en-US')} frames/s`);
    assert.ok(rate > 50_000, `only ${Math.round(rate)} frames/s`);
  } finally {
    wire.close();
    await a.close();
    await b.close();
  }
});

test.run();
