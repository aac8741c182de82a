// UdpUnderlay over loopback (no root needed): datagrams from one PacketBatch land byte for byte in
// another's slots with the admitted source id; refused sources are counted; close() ends the
// reader worker; a reader that dies is reported through events.fail.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PacketBatch } from '../../../src/batch/index';
import { SLOT_HEADROOM } from '../../../src/wasm/abi';
import { VXLAN_HEADER_LEN, datagramLength, datagramStart, type Endpoint, type UnderlayEvents } from '../../../src/forwarder/contracts';
import { UdpUnderlay } from '../../../src/forwarder/underlay/udp';
import { InlinePoller } from '../../../src/forwarder/io/inline-reader';
import { temporaryDirs } from '../../helpers/temporary';

const { removeTemporaryDirs, temporaryDir } = temporaryDirs();

const root = fileURLToPath(new URL('../../..', import.meta.url));

interface Recorder extends UnderlayEvents {
  admitted: Endpoint[];
  failures: Error[];
  /** Resolves on the next wake(). */
  woken(): Promise<void>;
}

function recorder(answer: (endpoint: Endpoint) => number): Recorder {
  let waiters: (() => void)[] = [];
  let pending = false;
  const r: Recorder = {
    admitted: [],
    failures: [],
    wake() {
      pending = true;
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    },
    fail(error) {
      r.failures.push(error);
    },
    admit(endpoint) {
      r.admitted.push(endpoint);
      return answer(endpoint);
    },
    woken() {
      if (pending) {
        pending = false;
        return Promise.resolve();
      }
      return new Promise((resolve) => waiters.push(() => {
        pending = false;
        resolve();
      }));
    },
  };
  return r;
}

/** Fill `count` slots with inner frames of various sizes and a VXLAN header carrying the slot number. */
function fill(batch: PacketBatch, count: number, seed: number): void {
  for (let i = 0; i < count; i++) {
    const length = 14 + ((i * 97 + seed) % 1437);
    const payload = batch.payload(i);
    for (let j = 0; j < length; j++) payload[j] = (i * 31 + j * 7 + seed) & 0xff;
    batch.setInner(i, length, 0);
    const at = datagramStart(batch, i);
    const bytes = batch.bytes;
    bytes.fill(0, at, at + VXLAN_HEADER_LEN);
    bytes[at] = 0x08;
    bytes[at + 6] = i;
  }
}

/** Receive until `want` datagrams arrived (or the deadline). */
async function receiveAll(underlay: UdpUnderlay, events: Recorder, batch: PacketBatch, sources: Int32Array, want: number, ms = 3000): Promise<number> {
  const deadline = Date.now() + ms;
  let got = 0;
  while (got < want && Date.now() < deadline) {
    const n = underlay.receive(batch, got, batch.capacity - got, sources);
    got += n;
    if (got >= want) break;
    if (n === 0) await Promise.race([events.woken(), new Promise((resolve) => setTimeout(resolve, 200))]);
  }
  return got;
}

for (const [family, address] of [[4, '127.0.0.1'], [6, '::1']] as const) {
  test(`IPv${family}: 64 datagrams of various sizes arrive byte for byte, from the admitted id`, async () => {
    const a = UdpUnderlay.open({ address, port: 0 });
    const b = UdpUnderlay.open({ address, port: 0 });
    try {
      assert.is(a.family, family);
      assert.ok(a.localPort > 0 && b.localPort > 0 && a.localPort !== b.localPort);
      const aEvents = recorder(() => -1);
      const bEvents = recorder((endpoint) => (endpoint.address === address && endpoint.port === a.localPort ? 7 : -1));
      a.start(aEvents);
      b.start(bEvents);
      a.setEndpoint(3, { address: address, port: b.localPort });

      const out = new PacketBatch({ capacity: 64 });
      fill(out, 64, family);
      const slots = Int32Array.from({ length: 64 }, (_, i) => i);
      const destinations = new Int32Array(64).fill(3);
      assert.is(a.transmit(out, slots, destinations, 64), 64);
      assert.is(a.counters.sent, 64);
      assert.is(a.counters.sendErrors, 0);

      const into = new PacketBatch({ capacity: 128 });
      const sources = new Int32Array(128).fill(-5);
      const got = await receiveAll(b, bEvents, into, sources, 64);
      assert.is(got, 64);
      for (let i = 0; i < 64; i++) {
        const sent = out.bytes.subarray(datagramStart(out, i), datagramStart(out, i) + datagramLength(out, i));
        assert.is(into.frameLength(i), sent.length, `datagram ${i} length`);
        assert.is(into.frameStart(i), into.slotPointer(i) + SLOT_HEADROOM - VXLAN_HEADER_LEN);
        assert.ok(Buffer.from(into.frame(i)).equals(Buffer.from(sent)), `datagram ${i} bytes`);
        assert.is(sources[i], 7);
      }
      assert.is(sources[64], -5, 'nothing past the received slots');
      assert.equal(bEvents.admitted, [{ address, port: a.localPort }], 'admit once per new source');
      assert.is(b.counters.received, 64);
      assert.is(b.counters.unknownSource, 0);

      // The forwarder set the endpoint itself from now on: a second batch needs no admit.
      b.setEndpoint(7, { address, port: a.localPort });
      assert.is(a.transmit(out, slots, destinations, 16), 16);
      assert.is(await receiveAll(b, bEvents, into, sources, 16), 16);
      assert.is(bEvents.admitted.length, 1);
      assert.equal(Array.from(sources.subarray(0, 16)), new Array(16).fill(7));

      // A source the forwarder refuses: dropped and counted, admit asked once.
      const stranger = UdpUnderlay.open({ address, port: 0 });
      try {
        stranger.start(recorder(() => -1));
        stranger.setEndpoint(0, { address, port: b.localPort });
        assert.is(stranger.transmit(out, slots, new Int32Array(64), 10), 10);
        const deadline = Date.now() + 3000;
        while (b.counters.unknownSource < 10 && Date.now() < deadline) {
          b.receive(into, 0, 64, sources);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        assert.is(b.counters.unknownSource, 10);
        assert.is(bEvents.admitted.length, 2);
        assert.is(bEvents.admitted[1].port, stranger.localPort);
      } finally {
        await stranger.close();
      }
      assert.equal(aEvents.failures, []);
      assert.equal(bEvents.failures, []);
    } finally {
      await a.close();
      await b.close();
    }
  });
}

test('datagrams from another source port of a known endpoint keep its id, and sends still go to its VXLAN port', async () => {
  // A Linux VTEP sends from a per-flow source port: the forwarder admits it by address, and the
  // endpoint's destination must stay the port it listens on.
  const a = UdpUnderlay.open({ address: '127.0.0.1', port: 0 });
  const listener = UdpUnderlay.open({ address: '127.0.0.2', port: 0 });
  const flowSocket = createSocket('udp4');
  await new Promise<void>((resolve) => flowSocket.bind(0, '127.0.0.2', resolve));
  try {
    const events = recorder((endpoint) => (endpoint.address === '127.0.0.2' ? 0 : -1));
    a.start(events);
    a.setEndpoint(0, { address: '127.0.0.2', port: listener.localPort });
    const listenerEvents = recorder(() => 0);
    listener.start(listenerEvents);
    flowSocket.send(Buffer.from([8, 0, 0, 0, 0, 0, 42, 0, ...new Array(60).fill(1)]), a.localPort, '127.0.0.1');
    const batch = new PacketBatch({ capacity: 4 });
    const sources = new Int32Array(4);
    let got = 0;
    for (let tries = 0; got === 0 && tries < 50; tries++) {
      await Promise.race([events.woken(), new Promise((resolve) => setTimeout(resolve, 20))]);
      got = a.receive(batch, 0, 4, sources);
    }
    assert.is(got, 1);
    assert.is(sources[0], 0);
    assert.equal(events.admitted, [{ address: '127.0.0.2', port: (flowSocket.address() as { port: number }).port }]);
    // Now send to id 0: it must reach the listener's port, not the flow's source port.
    const out = new PacketBatch({ capacity: 1 });
    fill(out, 1, 3);
    assert.is(a.transmit(out, Int32Array.of(0), Int32Array.of(0), 1), 1);
    const inbox = new PacketBatch({ capacity: 4 });
    let arrived = 0;
    for (let tries = 0; arrived === 0 && tries < 50; tries++) {
      await Promise.race([listenerEvents.woken(), new Promise((resolve) => setTimeout(resolve, 20))]);
      arrived = listener.receive(inbox, 0, 4, sources);
    }
    assert.is(arrived, 1, 'the datagram went to the endpoint\'s VXLAN port');
  } finally {
    flowSocket.close();
    await a.close();
    await listener.close();
  }
});

test('transmit to an unknown id is a send error, not an exception; endpoints of the other family are refused', async () => {
  const a = UdpUnderlay.open({ address: '127.0.0.1', port: 0 });
  try {
    const batch = new PacketBatch({ capacity: 4 });
    fill(batch, 2, 1);
    assert.is(a.transmit(batch, Int32Array.of(0, 1), Int32Array.of(9, 12), 2), 0);
    assert.is(a.counters.sendErrors, 2);
    assert.throws(() => a.setEndpoint(1, { address: '::1', port: 4789 }), /IPv6 but this underlay is IPv4/);
    assert.throws(() => a.setEndpoint(-1, { address: '127.0.0.1', port: 4789 }), /endpoint id/);
  } finally {
    await a.close();
  }
  await a.close(); // idempotent
});

test('a datagram longer than the slot is counted oversize, never truncated', async () => {
  const a = UdpUnderlay.open({ address: '127.0.0.1', port: 0 });
  const b = UdpUnderlay.open({ address: '127.0.0.1', port: 0, maxDatagramLength: 1000 });
  try {
    const events = recorder(() => 1);
    a.start(recorder(() => -1));
    b.start(events);
    a.setEndpoint(0, { address: '127.0.0.1', port: b.localPort });
    const out = new PacketBatch({ capacity: 4 });
    fill(out, 1, 0);
    out.setInner(0, 1200, 0); // 1208-byte datagram: past b's 1000-byte cells
    out.setInner(1, 100, 0);
    assert.is(a.transmit(out, Int32Array.of(0, 1), Int32Array.of(0, 0), 2), 2);
    const into = new PacketBatch({ capacity: 4 });
    const sources = new Int32Array(4);
    assert.is(await receiveAll(b, events, into, sources, 1), 1);
    assert.is(into.frameLength(0), 108);
    assert.is(b.counters.oversize, 1);
  } finally {
    await a.close();
    await b.close();
  }
});

/** Run a script in a child process under tsx; returns its exit code, output and time taken. */
function child(source: string, timeout = 15000) {
  const file = join(temporaryDir('vxlan-udp-'), 'child.mts');
  writeFileSync(file, source);
  const started = Date.now();
  const run = spawnSync(process.execPath, ['--import', 'tsx', file], { cwd: root, encoding: 'utf8', timeout });
  return { code: run.status, signal: run.signal, stdout: run.stdout, stderr: run.stderr, ms: Date.now() - started };
}

const udpModule = JSON.stringify(join(root, 'src/forwarder/underlay/udp.ts'));
const libcModule = JSON.stringify(join(root, 'src/forwarder/io/libc.ts'));

for (const gro of [false, true]) {
  test(`read in this thread by an InlinePoller (GRO ${gro ? 'on' : 'off'}): the same datagrams arrive byte for byte, with no reader thread`, async () => {
    const threads = () => readdirSync('/proc/self/task').length;
    const poller = new InlinePoller();
    const a = UdpUnderlay.open({ address: '127.0.0.1', port: 0 });
    const b = UdpUnderlay.open({ address: '127.0.0.1', port: 0, gro, poller });
    try {
      const aEvents = recorder(() => -1);
      const bEvents = recorder(() => 2);
      a.start(aEvents);
      const before = threads();
      b.start(bEvents);
      assert.is(threads(), before, 'starting the polled underlay made no thread');
      const polling = poller.run();
      a.setEndpoint(0, { address: '127.0.0.1', port: b.localPort });
      const out = new PacketBatch({ capacity: 64 });
      fill(out, 64, 11);
      assert.is(a.transmit(out, Int32Array.from({ length: 64 }, (_, i) => i), new Int32Array(64), 64), 64);
      const into = new PacketBatch({ capacity: 128 });
      const sources = new Int32Array(128);
      assert.is(await receiveAll(b, bEvents, into, sources, 64), 64);
      for (let i = 0; i < 64; i++) {
        const sent = out.bytes.subarray(datagramStart(out, i), datagramStart(out, i) + datagramLength(out, i));
        assert.ok(Buffer.from(into.frame(i)).equals(Buffer.from(sent)), `datagram ${i} bytes`);
        assert.is(sources[i], 2);
      }
      assert.equal(bEvents.failures, []);
      await poller.stop();
      await polling;
    } finally {
      await poller.stop();
      await Promise.all([a.close(), b.close()]);
    }
  });
}

test('close() ends the reader worker: the process exits by itself', () => {
  const run = child(`
    import { UdpUnderlay } from ${udpModule};
    const u = UdpUnderlay.open({ address: '127.0.0.1', port: 0 });
    u.start({ wake() {}, fail(e) { console.log('FAIL', e.message); }, admit() { return -1; } });
    setTimeout(async () => { const t = Date.now(); await u.close(); console.log('closed in ' + (Date.now() - t) + ' ms'); }, 300);
  `);
  assert.is(run.signal, null, `the child was killed (left running): ${run.stderr}`);
  assert.is(run.code, 0, run.stderr);
  assert.match(run.stdout, /closed in \d+ ms/, JSON.stringify(run));
  assert.not.match(run.stdout, /FAIL/);
  const ms = Number(/closed in (\d+)/.exec(run.stdout)![1]);
  assert.ok(ms <= 500, `close took ${ms} ms (the worker sees the stop flag within its 100 ms poll)`);
});

test('a reader worker that dies (its socket closed under it) is reported through events.fail', () => {
  // In a child: closing the fd behind the underlay's back must not be done where other fds live.
  const run = child(`
    import { UdpUnderlay } from ${udpModule};
    import { libc } from ${libcModule};
    const u = UdpUnderlay.open({ address: '127.0.0.1', port: 0 });
    const timer = setTimeout(() => { console.log('NO FAIL'); process.exit(3); }, 3000);
    u.start({ wake() {}, admit() { return -1; }, fail(e) { console.log('FAIL', e.message); clearTimeout(timer); process.exit(0); } });
    setTimeout(() => libc().close(u.fd), 150);
  `);
  assert.is(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /FAIL the reader of udp 127\.0\.0\.1:\d+ failed: .*POLLNVAL/);
});

test.after(removeTemporaryDirs);
test.run();
