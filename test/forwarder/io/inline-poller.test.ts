// The InlinePoller's loop (a queue worker's run to completion), on nonblocking UDP sockets on
// loopback, in this thread (no root): with a drain, what a pass read is drained before the event
// loop turns (a lone datagram leaves at once, not a turn later), and the loop polls again at once
// after a read, so what is already waiting on another port (a pipe here) is drained in the same burst; the
// drain's "work left" makes it drain again without a poll's wait; without a drain, the ports' wake
// still moves everything (one turn later); timers keep running while datagrams keep coming; stop()
// ends the loop. With a doorbell (a queue worker's), lone datagrams are drained with no turn of the
// event loop between them, and a message from another thread is seen when that thread rings. Busy
// polling reads what comes within its window without a wait in poll(), and ends with the window.
// Idle wakes: for a span after a frame, the loop still wakes every idleWakeMs while nothing comes.
import { createSocket, type Socket } from 'node:dgram';
import { writeSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as C from '../../../src/forwarder/io/libc';
import { INLINE_POLL_TIMEOUT_MS, INLINE_TURN_MS, InlinePoller, type InlinePollerCounters, type InlineRunOptions } from '../../../src/forwarder/io/inline-reader';
import { Ring } from '../../../src/forwarder/io/ring';
import { Doorbell } from '../../../src/forwarder/io/doorbell';
import { Worker } from 'node:worker_threads';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A nonblocking UDP socket bound to 127.0.0.1 on a free port: its fd and port. */
function boundSocket(): { fd: number; port: number } {
  const libc = C.libc();
  const fd = libc.socket(C.AF_INET, C.SOCK_DGRAM | C.SOCK_NONBLOCK | C.SOCK_CLOEXEC, 0);
  assert.ok(fd >= 0, 'socket');
  const address = new Uint8Array(C.SOCKADDR_ROOM);
  const length = C.writeSockaddr(address, 0, new Uint8Array([127, 0, 0, 1]), 0);
  assert.is(libc.bind(fd, address, length), 0, 'bind');
  const bound = new Uint8Array(C.SOCKADDR_ROOM);
  assert.is(libc.getsockname(fd, bound, new Uint32Array([C.SOCKADDR_ROOM])), 0, 'getsockname');
  return { fd, port: (bound[2] << 8) | bound[3] };
}

function send(sender: Socket, port: number, payload: Buffer): Promise<void> {
  return new Promise((resolve, reject) => sender.send(payload, port, '127.0.0.1', (error) => (error ? reject(error) : resolve())));
}

async function until(what: string, condition: () => boolean, ms = 3000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

/** One socket read by a poller into a ring; `consume()` takes what is waiting (as a port's receive would). */
function port(poller: InlinePoller, onWake: () => void = () => {}) {
  const socket = boundSocket();
  const ring = new Ring(64, 2048, false);
  const failures: Error[] = [];
  poller.add(socket.fd, ring, 'datagrams', { wake: onWake, fail: (error) => failures.push(error) });
  const payloads: number[] = [];
  return {
    ...socket,
    ring,
    failures,
    payloads,
    /** Take every waiting datagram (its first byte recorded); how many. */
    consume(): number {
      const count = ring.available();
      for (let k = 0; k < count; k++) payloads.push(ring.bytes[ring.cellStart(ring.index(k))]);
      ring.release(count);
      return count;
    },
  };
}

test('with a drain, each lone datagram is drained before the event loop turns', async () => {
  const poller = new InlinePoller();
  // A port's wake schedules an immediate, as the Forwarder's schedulePump does: if it ran before
  // the drain, the event loop turned between the read and the drain.
  let turnedSinceWake = false;
  const p = port(poller, () => {
    turnedSinceWake = false;
    setImmediate(() => {
      turnedSinceWake = true;
    });
  });
  const drainsAfterTurn: number[] = [];
  let drains = 0;
  const sender = createSocket('udp4');
  // The loop also drains after each turn of the event loop (for what a message woke): only drains
  // that found a datagram count.
  const running = poller.run(() => {
    drains++;
    const turned = turnedSinceWake;
    if (p.consume() > 0 && turned) drainsAfterTurn.push(drains);
    return false;
  });
  try {
    const lone = 10;
    for (let i = 1; i <= lone; i++) {
      await send(sender, p.port, Buffer.from([i]));
      await until(`datagram ${i}`, () => p.payloads.length === i);
      // Idle long enough that the loop waits in poll() again.
      await sleep(5);
    }
    assert.equal(p.payloads, Array.from({ length: lone }, (_, i) => i + 1), 'each datagram once, in order');
    assert.equal(drainsAfterTurn, [], 'no drain came after a turn of the event loop');
    assert.ok(drains >= lone, `a drain per read pass (${drains} drains for ${lone} datagrams)`);
    assert.ok(poller.counters.reads >= lone, `reads counted (${poller.counters.reads})`);
    assert.ok(poller.counters.waits >= lone, `the loop waited between lone datagrams (${poller.counters.waits} waits)`);
    assert.equal(p.failures, []);
  } finally {
    sender.close();
    await poller.stop();
    await running;
    C.libc().close(p.fd);
  }
});

/**
 * Another thread (as a queue's owner is): sends `count` datagrams to `port` `gapMs` apart, then posts
 * 'done' and rings the doorbell (an eventfd: any 8-byte write rings it).
 */
function senderThread(port: number, count: number, gapMs: number, doorbell: number): Worker {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { writeSync } = require('node:fs');
    const socket = require('node:dgram').createSocket('udp4');
    let sent = 0;
    const next = () => {
      if (sent === workerData.count) {
        socket.close();
        parentPort.postMessage('done');
        writeSync(workerData.doorbell, Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]));
        return;
      }
      socket.send(Buffer.from([++sent]), workerData.port, '127.0.0.1', () => setTimeout(next, workerData.gapMs));
    };
    next();
  `;
  return new Worker(code, { eval: true, workerData: { port, count, gapMs, doorbell } });
}

type Port = ReturnType<typeof port>;

/**
 * A poller with a doorbell (as a queue worker has) reading one port, running `drain` with `options`
 * until `body` is done; stopped, and its port and bell closed, whatever happens.
 */
async function withBelledPort<T>(options: InlineRunOptions, drain: (p: Port, poller: InlinePoller) => boolean, body: (p: Port, poller: InlinePoller, bell: Doorbell) => Promise<T>): Promise<T> {
  const poller = new InlinePoller();
  const bell = new Doorbell();
  const p = port(poller);
  const running = poller.run(() => drain(p, poller), { ...options, doorbell: bell.fd });
  try {
    return await body(p, poller, bell);
  } finally {
    const stopped = poller.stop();
    bell.ring();
    await stopped;
    await running;
    C.libc().close(p.fd);
    bell.close();
  }
}

/** Resolves once a senderThread has sent everything (and rung). */
function sent(sender: Worker): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    sender.once('message', () => resolve());
    sender.once('error', reject);
  });
}

test('with a doorbell, lone datagrams are drained with no turn of the event loop between them; a message turns it when its sender rings', async () => {
  let drains = 0;
  const drain = (p: Port): boolean => {
    drains++;
    p.consume();
    return false;
  };
  // Timers alone would turn the loop only every 5 s: the message below can come only through the bell.
  await withBelledPort({ idleTurnMs: 5000 }, drain, async (p, poller, bell) => {
    const lone = 20;
    const started = performance.now();
    const sender = senderThread(p.port, lone, 5, bell.fd);
    try {
      await sent(sender);
      const seconds = (performance.now() - started) / 1000;
      assert.equal(p.payloads, Array.from({ length: lone }, (_, i) => i + 1), 'each datagram once, in order');
      assert.ok(poller.counters.rings >= 1, `the doorbell rang (${poller.counters.rings})`);
      assert.ok(seconds < 4, `the message was seen when the sender rang, not on the idle turn (${seconds.toFixed(2)} s)`);
      // The first pass turns, the bell's message turns it; a few more for the worker's own start and
      // exit events at most, never one per datagram.
      assert.ok(poller.counters.turns < lone / 2, `${poller.counters.turns} turns of the event loop for ${lone} lone datagrams`);
      assert.ok(poller.counters.reads >= lone / 2 && drains >= poller.counters.reads, `drains right after the reads (${poller.counters.reads} reads, ${drains} drains)`);
      assert.equal(p.failures, []);
    } finally {
      await sender.terminate();
    }
  });
});

/** Lone datagrams `gapMs` apart from another thread, read by a poller with a doorbell busy-polling `busyPollUs`: its counters once they all came. */
async function loneDatagrams(busyPollUs: number, count: number, gapMs: number): Promise<{ counters: InlinePollerCounters; payloads: number[]; waitsAfterFirst: number; waitsAfterLast: number }> {
  let waitsAfterFirst = -1;
  const drain = (p: Port, poller: InlinePoller): boolean => {
    p.consume();
    if (p.payloads.length === 1 && waitsAfterFirst < 0) waitsAfterFirst = poller.counters.waits;
    return false;
  };
  return withBelledPort({ busyPollUs }, drain, async (p, poller, bell) => {
    const sender = senderThread(p.port, count, gapMs, bell.fd);
    try {
      await sent(sender);
      await until(`${count} datagrams`, () => p.payloads.length === count);
      assert.equal(p.failures, []);
      return { counters: { ...poller.counters }, payloads: p.payloads, waitsAfterFirst, waitsAfterLast: poller.counters.waits };
    } finally {
      await sender.terminate();
    }
  });
}

test('busy polling: datagrams that come within busyPollUs of the last read are read without sleeping in poll(); with 0 the loop sleeps between them', async () => {
  const count = 12;
  // 5 ms apart, with a 200 ms window: every datagram after the first comes while the loop still looks.
  const polling = await loneDatagrams(200_000, count, 5);
  assert.equal(polling.payloads, Array.from({ length: count }, (_, i) => i + 1), 'each datagram once, in order');
  assert.is(polling.waitsAfterLast, polling.waitsAfterFirst, `no wait in poll() from the first datagram to the last (${polling.waitsAfterFirst} → ${polling.waitsAfterLast})`);
  assert.ok(polling.counters.busyPollHits >= count - 1, `busy-polling looks found the datagrams (${polling.counters.busyPollHits} hits)`);
  assert.ok(polling.counters.busyPolls > polling.counters.busyPollHits, `most looks found nothing (${polling.counters.busyPolls} looks)`);
  const sleeping = await loneDatagrams(0, count, 5);
  assert.equal(sleeping.payloads, polling.payloads);
  assert.ok(sleeping.waitsAfterLast - sleeping.waitsAfterFirst >= count - 1, `without busy polling the loop waited before each datagram (${sleeping.waitsAfterFirst} → ${sleeping.waitsAfterLast})`);
  assert.is(sleeping.counters.busyPolls, 0);
});

test('busy polling ends busyPollUs after the last read: the loop then sleeps in poll() again', async () => {
  const drain = (p: Port): boolean => {
    p.consume();
    return false;
  };
  await withBelledPort({ busyPollUs: 20_000 }, drain, async (p, poller) => {
    await sendOne(p);
    const looks = poller.counters.busyPolls;
    const waits = poller.counters.waits;
    await sleep(150);
    assert.ok(poller.counters.waits > waits, `the loop went back to waiting (${waits} → ${poller.counters.waits} waits)`);
    const settled = poller.counters.busyPolls;
    assert.ok(settled > looks, 'it looked for a while first');
    await sleep(100);
    assert.is(poller.counters.busyPolls, settled, 'and stopped looking once the window passed');
  });
});

test('idle wakes: for idleWakeSpanMs after a frame, a poller with a doorbell wakes every idleWakeMs; before any frame, after the span, or with idleWakeMs 0 only for its idle turns', async () => {
  const drain = (p: Port): boolean => {
    p.consume();
    return false;
  };
  // The poller runs on this thread: this test's timers run only on the loop's turns, every 200 ms.
  const idleTurnMs = 200;
  /** Wakes that ended in nothing (poll timeouts) while `wait` ran, and how long it ran. */
  async function wakesDuring(poller: InlinePoller, wait: () => Promise<unknown>): Promise<{ wakes: number; ms: number }> {
    const before = poller.counters.timeouts;
    const started = performance.now();
    await wait();
    return { wakes: poller.counters.timeouts - before, ms: performance.now() - started };
  }
  const onlyTurns = (what: string, { wakes, ms }: { wakes: number; ms: number }) => assert.ok(wakes <= ms / idleTurnMs + 1, `${what}: woke ${wakes} times in ${ms.toFixed(0)} ms, only for the idle turns`);
  await withBelledPort({ idleTurnMs, idleWakeMs: 10, idleWakeSpanMs: 600 }, drain, async (p, poller) => {
    onlyTurns('before any frame', await wakesDuring(poller, () => sleep(500)));
    await sendOne(p);
    const waking = await wakesDuring(poller, () => sleep(400));
    // A wait never ends early; on a loaded machine it may end late.
    assert.ok(waking.wakes >= waking.ms / 10 / 3 && waking.wakes <= waking.ms / 10 + 1, `after a frame: woke ${waking.wakes} times in ${waking.ms.toFixed(0)} ms with idleWakeMs 10`);
    await sleep(400);
    onlyTurns('after the span', await wakesDuring(poller, () => sleep(600)));
  });
  await withBelledPort({ idleTurnMs, idleWakeMs: 0 }, drain, async (p, poller) => {
    await sendOne(p);
    onlyTurns('idleWakeMs 0', await wakesDuring(poller, () => sleep(600)));
  });
});

/** One datagram to the port, from a socket of its own, and read by the poller. */
async function sendOne(p: Port): Promise<void> {
  const sender = createSocket('udp4');
  try {
    await send(sender, p.port, Buffer.from([1]));
    await until('the datagram', () => p.payloads.length === 1);
  } finally {
    sender.close();
  }
}

test('the busy-polling window opens once the drain has sent what was read: a drain slower than busyPollUs still gets its window', async () => {
  // A cold send can take longer than the window (a forwarder's first frame after idle): the
  // reply comes after the send, so a window counted from the read would already be over.
  const drainMs = 30;
  const drain = (p: Port): boolean => {
    if (p.consume() > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, drainMs);
    return false;
  };
  await withBelledPort({ busyPollUs: 10_000 }, drain, async (p, poller) => {
    await sendOne(p);
    await until('a look after the drain', () => poller.counters.busyPolls > 0, 1000).catch(() => undefined);
    assert.ok(poller.counters.busyPolls > 0, `the loop looked after the ${drainMs} ms drain (${poller.counters.busyPolls} looks)`);
  });
});

/** A nonblocking pipe (read end, write end): read() returns what was written, as a TAP returns a frame. */
function pipe(): { read: number; write: number } {
  const pipe2 = C.koffi().load(C.LIBC_SONAME).func('int pipe2(_Out_ int *fds, int flags)');
  const fds = [0, 0];
  assert.is(pipe2(fds, C.SOCK_NONBLOCK | C.SOCK_CLOEXEC), 0, 'pipe2');
  return { read: fds[0], write: fds[1] };
}

test('with a doorbell, a lone frame whose drain runs long is not followed by a turn of the event loop before the answer to what it sent is read', async () => {
  // A cold thread's lone frame can take longer than INLINE_TURN_MS to switch and send. Its answer
  // (written to b within the drain, as a peer on this host answers within the send) must be read
  // and drained before any turn: a turn then runs timers cold and delays the answer by as much.
  const b = pipe();
  const bRing = new Ring(8, 2048, false);
  let turnsAtSend = -1;
  let turnsAtAnswer = -2;
  const drain = (p: Port, poller: InlinePoller): boolean => {
    if (p.consume() > 0) {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5 * INLINE_TURN_MS);
      assert.is(writeSync(b.write, Buffer.from([7])), 1, 'write to the pipe');
      turnsAtSend = poller.counters.turns;
    }
    const waiting = bRing.available();
    if (waiting > 0) {
      bRing.release(waiting);
      turnsAtAnswer = poller.counters.turns;
    }
    return false;
  };
  try {
    await withBelledPort({ busyPollUs: 100 }, drain, async (p, poller) => {
      poller.add(b.read, bRing, 'frames', { wake: () => {}, fail: (error) => { throw error; } });
      // Let the loop settle into its idle wait (the first pass turns), then send the lone frame.
      await sleep(50);
      await sendOne(p);
      await until('the answer drained', () => turnsAtAnswer >= 0);
      assert.is(turnsAtAnswer, turnsAtSend, `no turn of the event loop between the slow send and its answer (${turnsAtSend} → ${turnsAtAnswer})`);
    });
  } finally {
    for (const fd of [b.read, b.write]) C.libc().close(fd);
  }
});

test('after a read the loop polls again at once: what is already waiting on another port is drained in the same burst', async () => {
  const poller = new InlinePoller();
  const a = port(poller);
  // b: a pipe read as a TAP is ('frames'), written synchronously by the drain below.
  const b = pipe();
  const bRing = new Ring(8, 2048, false);
  poller.add(b.read, bRing, 'frames', { wake: () => {}, fail: (error) => { throw error; } });
  const sender = createSocket('udp4');
  // The drain of a's datagram writes to b, as a forwarder's send to a peer on this host gets its
  // answer back within the send: b's bytes must be read and drained before the loop waits again.
  let drains = 0;
  let waitsAtAnswer = -1;
  let waitsAtRead = -2;
  const bPayloads: number[] = [];
  const answered = new Promise<void>((resolve) => {
    void poller.run(() => {
      drains++;
      if (a.consume() > 0) {
        assert.is(writeSync(b.write, Buffer.from([7])), 1, 'write to the pipe');
        waitsAtAnswer = poller.counters.waits;
      }
      const waiting = bRing.available();
      if (waiting > 0) {
        bPayloads.push(bRing.bytes[bRing.cellStart(bRing.index(0))]);
        bRing.release(waiting);
        waitsAtRead = poller.counters.waits;
        resolve();
      }
      return false;
    });
  });
  try {
    await sleep(2 * INLINE_POLL_TIMEOUT_MS);
    await send(sender, a.port, Buffer.from([1]));
    await Promise.race([answered, sleep(3000).then(() => Promise.reject(new Error("b's bytes were never drained")))]);
    assert.is(waitsAtRead, waitsAtAnswer, 'no wait in poll() between the write and its read');
    assert.equal(a.payloads, [1]);
    assert.equal(bPayloads, [7]);
    assert.ok(drains >= 2);
  } finally {
    sender.close();
    await poller.stop();
    for (const fd of [a.fd, b.read, b.write]) C.libc().close(fd);
  }
});

test('a drain that leaves work is called again before the loop waits', async () => {
  const poller = new InlinePoller();
  const p = port(poller);
  const sender = createSocket('udp4');
  // Take one datagram per drain, saying "work left" while more wait, as a pump that hit its rounds.
  const running = poller.run(() => {
    const available = p.ring.available();
    if (available === 0) return false;
    p.payloads.push(p.ring.bytes[p.ring.cellStart(p.ring.index(0))]);
    p.ring.release(1);
    return available > 1;
  });
  try {
    for (let i = 1; i <= 5; i++) await send(sender, p.port, Buffer.from([i]));
    await until('5 datagrams', () => p.payloads.length === 5);
    assert.equal(p.payloads, [1, 2, 3, 4, 5]);
    assert.ok(poller.counters.drainsBusy >= 1, `drains that left work counted (${poller.counters.drainsBusy})`);
  } finally {
    sender.close();
    await poller.stop();
    await running;
    C.libc().close(p.fd);
  }
});

test('without a drain the wake moves everything; timers run while datagrams keep coming; stop() ends the loop', async () => {
  const poller = new InlinePoller();
  let p: ReturnType<typeof port> | undefined;
  p = port(poller, () => setImmediate(() => p?.consume()));
  const sender = createSocket('udp4');
  const running = poller.run();
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  try {
    const total = 200;
    for (let i = 0; i < total; i++) await send(sender, p.port, Buffer.from([i & 0xff]));
    await until(`${total} datagrams`, () => p!.payloads.length === total);
    assert.equal(p.payloads, Array.from({ length: total }, (_, i) => i & 0xff));
    const before = ticks;
    await sleep(60);
    assert.ok(ticks > before, 'the interval timer kept firing');
  } finally {
    clearInterval(timer);
    sender.close();
    await poller.stop();
    C.libc().close(p.fd);
  }
  // stop() resolved, so the loop's promise has settled too.
  let settled = false;
  void running.then(() => {
    settled = true;
  });
  await sleep(0);
  assert.ok(settled, 'run() settles once stopped');
});

test.run();
