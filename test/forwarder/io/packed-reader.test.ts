// The 'packed' reader (the tunnel TAP's): frames one read() each, packed into big cells as
// records [i32 length, frame, padding to 4], a cell closed when the largest frame would no longer
// fit. Read here from a nonblocking UDP socket on loopback (read() returns one datagram, as a TAP
// returns one frame), in this thread through the reader's own code (InlineReader): every datagram
// arrives once, in order, byte for byte, no record crosses its cell, a 60 KB one shares a cell
// with small ones, and an empty socket ends the fill (EAGAIN) with the cell so far published.
import { createSocket } from 'node:dgram';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as C from '../../../src/forwarder/io/libc';
import { InlineReader } from '../../../src/forwarder/io/inline-reader';
import { PACKED_FRAME_READ, PACKED_RECORD_HEADER } from '../../../src/forwarder/io/reader-worker';
import { Ring } from '../../../src/forwarder/io/ring';

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

test('packed cells: every datagram once, in order, byte for byte; records stay inside their cell; a 60 KB one shares a cell', async () => {
  const { fd, port } = boundSocket();
  const sender = createSocket('udp4');
  try {
    const sizes = [...Array.from({ length: 30 }, () => 1000), 60_000, ...Array.from({ length: 20 }, (_, i) => 1 + i * 37)];
    for (const [index, size] of sizes.entries()) {
      await new Promise<void>((resolve, reject) => sender.send(Buffer.alloc(size, index + 1), port, '127.0.0.1', (error) => (error ? reject(error) : resolve())));
    }
    await sleep(50);
    const ring = new Ring(4, 131072, false);
    const reader = new InlineReader(fd, 'packed', { wake: () => {}, fail: (error) => { throw error; } }, ring, false, 1000);
    assert.ok(reader.fill(1000), 'something was read');
    assert.not.ok(reader.fill(1000), 'then nothing: the socket is empty');
    const cells = ring.available();
    assert.is(cells, 2, '51 datagrams in two cells: the 60 KB one left no room for another of the largest');
    const received: { size: number; ok: boolean }[] = [];
    for (let c = 0; c < cells; c++) {
      const k = ring.index(c);
      const used = ring.lengths[k];
      assert.ok(used > 0 && used <= ring.layout.cellSize, `cell ${c} used ${used}`);
      let offset = 0;
      while (offset < used) {
        const at = ring.cellStart(k) + offset;
        const length = ring.bytes.readInt32LE(at);
        assert.ok(length > 0 && length < PACKED_FRAME_READ, `a whole datagram (${length})`);
        const bytes = ring.bytes.subarray(at + PACKED_RECORD_HEADER, at + PACKED_RECORD_HEADER + length);
        received.push({ size: length, ok: bytes.every((byte) => byte === ((received.length + 1) & 0xff)) });
        offset += PACKED_RECORD_HEADER + ((length + 3) & ~3);
      }
      assert.is(offset, used, 'the records fill the cell exactly');
    }
    assert.equal(received.map((r) => r.size), sizes, 'every datagram, in order');
    assert.ok(received.every((r) => r.ok), 'byte for byte');
  } finally {
    sender.close();
    C.libc().close(fd);
  }
});

test.run();
