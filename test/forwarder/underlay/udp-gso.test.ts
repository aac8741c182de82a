// UdpUnderlay with UDP GSO and GRO over loopback (no root needed): a run of equal-sized datagrams
// goes out as one UDP_SEGMENT message and arrives as the same datagrams at a plain receiver;
// mixed sizes and destinations are cut into the right runs; a GRO receiver splits coalesced
// bursts back into the exact datagrams with the right source ids (also when a batch fills up in
// the middle of a burst); a kernel refusal (SO_NO_CHECK makes it say EINVAL) and `gso: false`
// give the same bytes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createSocket, type Socket } from 'node:dgram';
import { PacketBatch } from '../../../src/batch/index';
import { VXLAN_HEADER_LEN, datagramLength, datagramStart, type UnderlayEvents } from '../../../src/forwarder/contracts';
import * as C from '../../../src/forwarder/io/libc';
import { GSO_MAX_BYTES, GSO_MAX_SEGMENTS, UdpUnderlay } from '../../../src/forwarder/underlay/udp';

const HOST = '127.0.0.1';

/** Slots with datagrams of the given lengths (VXLAN header included); every byte depends on slot and seed. */
function batchOf(lengths: readonly number[], seed: number): PacketBatch {
  const batch = new PacketBatch({ capacity: lengths.length, slotSize: 9216 });
  lengths.forEach((length, i) => {
    batch.setInner(i, length - VXLAN_HEADER_LEN, 0);
    const at = datagramStart(batch, i);
    for (let j = 0; j < length; j++) batch.bytes[at + j] = (i * 131 + j * 7 + seed) & 0xff;
    batch.bytes[at] = 0x08;
    batch.bytes[at + 6] = i & 0xff;
  });
  return batch;
}

function datagram(batch: PacketBatch, i: number): Buffer {
  return Buffer.from(batch.bytes.subarray(datagramStart(batch, i), datagramStart(batch, i) + datagramLength(batch, i)));
}

/** The runs the GSO rule makes: same destination, same length, the last may be shorter, capped. */
function expectedRuns(lengths: readonly number[], destinations: readonly number[]): number[] {
  const runs: number[] = [];
  let segment = 0;
  let bytes = 0;
  let open = false;
  lengths.forEach((length, n) => {
    if (open && destinations[n] === destinations[n - 1] && length <= segment && bytes + length <= GSO_MAX_BYTES) {
      runs[runs.length - 1]++;
      bytes += length;
      if (length < segment || runs[runs.length - 1] === GSO_MAX_SEGMENTS) open = false;
    } else {
      runs.push(1);
      segment = length;
      bytes = length;
      open = true;
    }
  });
  return runs;
}

interface Inbox {
  socket: Socket;
  port: number;
  messages: Buffer[];
  until(count: number, ms?: number): Promise<void>;
}

async function plainReceiver(): Promise<Inbox> {
  const socket = createSocket({ type: 'udp4', recvBufferSize: 8 << 20 });
  const messages: Buffer[] = [];
  socket.on('message', (message) => messages.push(message));
  await new Promise<void>((resolve) => socket.bind(0, HOST, resolve));
  return {
    socket,
    port: socket.address().port,
    messages,
    async until(count, ms = 3000) {
      const deadline = Date.now() + ms;
      while (messages.length < count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    },
  };
}

function events(answer: (port: number) => number): UnderlayEvents & { woken(): Promise<void>; failures: Error[] } {
  let waiter: (() => void) | undefined;
  const failures: Error[] = [];
  return {
    failures,
    wake() {
      const w = waiter;
      waiter = undefined;
      w?.();
    },
    fail(error) {
      failures.push(error);
    },
    admit(endpoint) {
      return answer(endpoint.port);
    },
    woken() {
      return new Promise<void>((resolve) => {
        waiter = resolve;
        setTimeout(resolve, 50);
      });
    },
  };
}

/** receive() with at most `step` slots per call until `want` datagrams arrived (or 3 s). */
async function receiveAll(u: UdpUnderlay, e: ReturnType<typeof events>, want: number, step: number): Promise<{ batch: PacketBatch; sources: Int32Array; got: number }> {
  const batch = new PacketBatch({ capacity: want + step, slotSize: 9216 });
  const sources = new Int32Array(want + step).fill(-9);
  const deadline = Date.now() + 3000;
  let got = 0;
  while (got < want && Date.now() < deadline) {
    const n = u.receive(batch, got, Math.min(step, batch.capacity - got), sources);
    got += n;
    if (n === 0) await e.woken();
  }
  return { batch, sources, got };
}

test('GSO: 64 equal datagrams are one message and arrive as 64 datagrams, byte for byte, at a plain receiver', async () => {
  const inbox = await plainReceiver();
  const u = UdpUnderlay.open({ address: HOST, port: 0 });
  try {
    assert.ok(u.gso, 'this kernel has UDP_SEGMENT (Linux 4.18+)');
    u.setEndpoint(0, { address: HOST, port: inbox.port });
    const lengths = new Array(64).fill(1000); // 64 000 bytes: under the 64 KB cap
    const batch = batchOf(lengths, 1);
    assert.is(u.transmit(batch, Int32Array.from(lengths, (_, i) => i), new Int32Array(64), 64), 64);
    assert.equal(u.offloadCounters, { gsoMessages: 1, gsoDatagrams: 64, gsoFallbacks: 0, groMessages: 0, groDatagrams: 0, superPackets: 0 });
    assert.is(u.counters.sent, 64);
    await inbox.until(64);
    assert.is(inbox.messages.length, 64);
    inbox.messages.forEach((message, i) => assert.ok(message.equals(datagram(batch, i)), `datagram ${i}`));
  } finally {
    inbox.socket.close();
    await u.close();
  }
});

test('GSO: mixed sizes and destinations are cut into the right runs (shorter last, 64 segments, 64 KB), order kept per destination', async () => {
  const inboxes = [await plainReceiver(), await plainReceiver()];
  const u = UdpUnderlay.open({ address: HOST, port: 0 });
  try {
    inboxes.forEach((inbox, id) => u.setEndpoint(id, { address: HOST, port: inbox.port }));
    const lengths: number[] = [];
    const destinations: number[] = [];
    const add = (length: number, destination: number, times = 1) => {
      for (let k = 0; k < times; k++) {
        lengths.push(length);
        destinations.push(destination);
      }
    };
    add(100, 0, 3); add(50, 0); add(100, 0); add(100, 1); add(200, 1, 2); // runs 4, 1, 1, 2
    add(300, 0, 70); // 64 + 6
    add(1100, 1, 64); // the 64 KB cap: 59 + 5
    add(80, 0); add(90, 0); // a longer one starts a run: 1, 1
    add(500, 0, 3); add(500, 1, 3); // a new destination starts a run: 3, 3
    const runs = expectedRuns(lengths, destinations);
    assert.equal(runs, [4, 1, 1, 2, 64, 6, 59, 5, 1, 1, 3, 3]);
    const batch = batchOf(lengths, 2);
    const count = lengths.length;
    assert.is(u.transmit(batch, Int32Array.from(lengths, (_, i) => i), Int32Array.from(destinations), count), count);
    const multi = runs.filter((n) => n > 1);
    assert.is(u.offloadCounters.gsoMessages, multi.length, 'one GSO message per run of two or more');
    assert.is(u.offloadCounters.gsoDatagrams, multi.reduce((a, b) => a + b, 0));
    for (const [id, inbox] of inboxes.entries()) {
      const want = lengths.map((_, i) => i).filter((i) => destinations[i] === id);
      await inbox.until(want.length);
      assert.is(inbox.messages.length, want.length, `datagrams at destination ${id}`);
      want.forEach((i, k) => assert.ok(inbox.messages[k].equals(datagram(batch, i)), `datagram ${i} at destination ${id}`));
    }
  } finally {
    for (const inbox of inboxes) inbox.socket.close();
    await u.close();
  }
});

test('GRO: bursts from two senders come back as the exact datagrams with their source ids, also through small batches', async () => {
  const r = UdpUnderlay.open({ address: HOST, port: 0 });
  const a = UdpUnderlay.open({ address: HOST, port: 0 });
  const b = UdpUnderlay.open({ address: HOST, port: 0 });
  try {
    assert.ok(r.gro, 'this kernel has UDP_GRO (Linux 5.0+)');
    const e = events((port) => (port === a.localPort ? 1 : port === b.localPort ? 2 : -1));
    r.start(e);
    a.setEndpoint(0, { address: HOST, port: r.localPort });
    b.setEndpoint(0, { address: HOST, port: r.localPort });
    const aLengths = [...new Array(64).fill(1000), 400, ...new Array(10).fill(1400)];
    const bLengths = [...new Array(20).fill(700), 9000, 9000, 64];
    const aBatch = batchOf(aLengths, 3);
    const bBatch = batchOf(bLengths, 4);
    assert.is(a.transmit(aBatch, Int32Array.from(aLengths, (_, i) => i), new Int32Array(aLengths.length), aLengths.length), aLengths.length);
    assert.is(b.transmit(bBatch, Int32Array.from(bLengths, (_, i) => i), new Int32Array(bLengths.length), bLengths.length), bLengths.length);
    const want = aLengths.length + bLengths.length;
    // 7 slots per call: bursts of 64 and 20 are split over several calls.
    const { batch, sources, got } = await receiveAll(r, e, want, 7);
    assert.is(got, want);
    assert.is(sources[got], -9, 'nothing written past the datagrams received');
    assert.ok(r.offloadCounters.groMessages >= 2, `coalesced bursts arrived (${JSON.stringify(r.offloadCounters)})`);
    assert.is(r.counters.received, want, 'segments are counted as datagrams');
    const next = [0, 0];
    for (let s = 0; s < got; s++) {
      const id = sources[s];
      assert.ok(id === 1 || id === 2, `slot ${s}: source id ${id}`);
      const from = id === 1 ? aBatch : bBatch;
      const i = next[id - 1]++;
      const frame = Buffer.from(batch.frame(s));
      assert.ok(frame.equals(datagram(from, i)), `slot ${s}: datagram ${i} of sender ${id} (${frame.length} bytes)`);
    }
    assert.equal(next, [aLengths.length, bLengths.length]);
    assert.equal(e.failures, []);
  } finally {
    await r.close();
    await a.close();
    await b.close();
  }
});

test('GRO: a refused source costs every datagram of its burst as unknownSource; an oversize segment is counted alone', async () => {
  const r = UdpUnderlay.open({ address: HOST, port: 0, maxDatagramLength: 1000 });
  const a = UdpUnderlay.open({ address: HOST, port: 0 });
  const stranger = UdpUnderlay.open({ address: HOST, port: 0 });
  try {
    const e = events((port) => (port === a.localPort ? 5 : -1));
    r.start(e);
    a.setEndpoint(0, { address: HOST, port: r.localPort });
    stranger.setEndpoint(0, { address: HOST, port: r.localPort });
    const strange = batchOf(new Array(30).fill(600), 5);
    assert.is(stranger.transmit(strange, Int32Array.from({ length: 30 }, (_, i) => i), new Int32Array(30), 30), 30);
    const lengths = [1200, 300]; // one GSO message of segment 1200: the first is past 1000 bytes
    const out = batchOf(lengths, 6);
    assert.is(a.transmit(out, Int32Array.of(0, 1), Int32Array.of(0, 0), 2), 2);
    const { batch, sources, got } = await receiveAll(r, e, 1, 64);
    const deadline = Date.now() + 2000;
    while (r.counters.unknownSource < 30 && Date.now() < deadline) await e.woken();
    assert.is(got, 1);
    assert.is(sources[0], 5);
    assert.ok(Buffer.from(batch.frame(0)).equals(datagram(out, 1)));
    assert.is(r.counters.oversize, 1);
    assert.is(r.counters.unknownSource, 30);
  } finally {
    await r.close();
    await a.close();
    await stranger.close();
  }
});

test('fallback: a kernel refusal (EINVAL under SO_NO_CHECK) resends as plain datagrams, counted once, told once; gso: false and gro: false give the same bytes', async () => {
  const lengths = [...new Array(40).fill(1200), 77, ...new Array(30).fill(900)];
  const slots = Int32Array.from(lengths, (_, i) => i);
  const batch = batchOf(lengths, 7);
  const inbox = await plainReceiver();
  const notices: string[] = [];
  const refused = UdpUnderlay.open({ address: HOST, port: 0, onNotice: (message) => notices.push(message) });
  const plain = UdpUnderlay.open({ address: HOST, port: 0, gso: false });
  const receiver = UdpUnderlay.open({ address: HOST, port: 0, gro: false });
  try {
    // SO_NO_CHECK (no UDP checksum): the kernel refuses GSO sends with EINVAL.
    const one = new Uint8Array(new Int32Array([1]).buffer);
    assert.is(C.libc().setsockopt(refused.fd, C.SOL_SOCKET, 11 /* SO_NO_CHECK */, one, 4), 0);
    refused.setEndpoint(0, { address: HOST, port: inbox.port });
    const destinations = new Int32Array(lengths.length);
    assert.is(refused.transmit(batch, slots, destinations, lengths.length), lengths.length);
    assert.is(refused.transmit(batch, slots, destinations, lengths.length), lengths.length);
    assert.is(refused.counters.sendErrors, 0);
    assert.is(refused.offloadCounters.gsoMessages, 0);
    // A first EINVAL is taken as "segments this long are refused" (1200), a second (900) as GSO
    // refused altogether: two fallbacks, two notices, never again.
    assert.is(refused.offloadCounters.gsoFallbacks, 2);
    assert.not.ok(refused.gso);
    assert.is(notices.length, 2, notices.join('\n'));
    assert.match(notices[0], /UDP GSO refused for 1200-byte datagrams/);
    assert.match(notices[1], /UDP GSO refused by the kernel \(EINVAL/);
    await inbox.until(2 * lengths.length);
    assert.is(inbox.messages.length, 2 * lengths.length);
    inbox.messages.forEach((message, k) => assert.ok(message.equals(datagram(batch, k % lengths.length)), `datagram ${k}`));

    assert.not.ok(plain.gso);
    assert.not.ok(receiver.gro);
    const e = events((port) => (port === plain.localPort ? 3 : -1));
    receiver.start(e);
    plain.setEndpoint(0, { address: HOST, port: receiver.localPort });
    assert.is(plain.transmit(batch, slots, destinations, lengths.length), lengths.length);
    assert.is(plain.offloadCounters.gsoMessages, 0);
    const got = await receiveAll(receiver, e, lengths.length, 64);
    assert.is(got.got, lengths.length);
    for (let i = 0; i < lengths.length; i++) {
      assert.ok(Buffer.from(got.batch.frame(i)).equals(datagram(batch, i)), `datagram ${i}`);
      assert.is(got.sources[i], 3);
    }
    assert.is(receiver.offloadCounters.groMessages, 0);
  } finally {
    inbox.socket.close();
    await refused.close();
    await plain.close();
    await receiver.close();
  }
});

test.run();
