// The name server on 127.0.0.1 with a random port: answers from the table (A, AAAA, rotation, TTL,
// NODATA), forwarding to a fake upstream on another 127.0.0.x address (the answer relayed with the
// client's id), SERVFAIL when the upstream is a closed port, REFUSED and FORMERR, malformed input
// counted and dropped, truncation and TCP, the bound on forwards in flight, and a burst.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import dnsPacket from 'dns-packet';
import { DnsError, NameServer, NameTable, type NameServerLogger, type NameServerOptions } from '../../src/dns';
import { createLogger } from '../../src/cli/log';
import { warnSkipped } from '../interop/tools';
import { FakeUpstream, answerData, ask, closedUdpPort, decode, encodeQuery, tcpExchange, udpExchange } from './dns-client';

function webTable(): NameTable {
  const table = new NameTable();
  table.set('r1', { names: ['web', 'c1'], ipv4: ['10.0.9.11'], ipv6: ['fd00::11'] });
  table.set('r2', { names: ['web', 'c2'], ipv4: ['10.0.9.12'] });
  table.set('r3', { names: ['web', 'c3'], ipv4: ['10.0.9.13'] });
  return table;
}

/** A server on 127.0.0.1, a random port, no upstreams unless given; closed after `body`. */
async function withServer(options: Partial<NameServerOptions>, body: (server: NameServer) => Promise<void>): Promise<void> {
  const server = await NameServer.listen({ address: '127.0.0.1', port: 0, table: options.table ?? webTable(), upstreams: [], ...options });
  try {
    await body(server);
  } finally {
    await server.close();
  }
}

test('A: every replica, authoritative, TTL 5 by default, the client\'s id and its spelling of the name', () =>
  withServer({}, async (server) => {
    assert.is.not(server.port, 0);
    assert.is(server.address, '127.0.0.1');
    const reply = await ask(server.port, 'WEB.', 'A', 0xbeef);
    assert.is(reply.id, 0xbeef);
    assert.is(reply.type, 'response');
    assert.is(reply.rcode, 'NOERROR');
    assert.ok(reply.flag_aa, 'authoritative');
    assert.ok(reply.flag_rd, 'RD copied from the query');
    assert.not.ok(reply.flag_ra, 'no upstreams: no recursion on offer');
    assert.equal(reply.questions, [{ name: 'WEB', type: 'A', class: 'IN' }]);
    assert.equal(answerData(reply).sort(), ['10.0.9.11', '10.0.9.12', '10.0.9.13']);
    for (const answer of reply.answers!) {
      assert.is((answer as { ttl: number }).ttl, 5);
      assert.is(answer.name, 'WEB');
    }
    assert.equal(server.counters(), { answered: 1, forwarded: 0, refused: 0, failed: 0, malformed: 0 });
  }));

test('ttlSeconds is what the records carry', () =>
  withServer({ ttlSeconds: 1 }, async (server) => {
    const reply = await ask(server.port, 'c2', 'A');
    assert.equal(reply.answers!.map((answer) => (answer as { ttl: number }).ttl), [1]);
  }));

test('rotation across queries: each replica first in turn', () =>
  withServer({}, async (server) => {
    const firsts: string[] = [];
    for (let i = 0; i < 6; i++) firsts.push(answerData(await ask(server.port, 'web', 'A'))[0]!);
    assert.equal(new Set(firsts.slice(0, 3)).size, 3, `three different firsts: ${firsts}`);
    assert.equal(firsts.slice(3), firsts.slice(0, 3), 'and round again');
  }));

test('AAAA; a known name asked for a type it lacks is NODATA (NOERROR, no records), not NXDOMAIN; ANY is A and AAAA', () =>
  withServer({}, async (server) => {
    const v6 = await ask(server.port, 'c1', 'AAAA');
    assert.is(v6.rcode, 'NOERROR');
    assert.equal(v6.answers!.map((answer) => [answer.type, (answer as { data: string }).data]), [['AAAA', 'fd00::11']]);
    for (const [name, type] of [['c2', 'AAAA'], ['c2', 'MX'], ['web', 'TXT']] as const) {
      const reply = await ask(server.port, name, type);
      assert.is(reply.rcode, 'NOERROR', `${name} ${type}`);
      assert.ok(reply.flag_aa);
      assert.equal(reply.answers, [], `${name} ${type}: no records`);
    }
    const any = await ask(server.port, 'c1', 'ANY');
    assert.equal(any.answers!.map((answer) => answer.type).sort(), ['A', 'AAAA']);
    assert.is(server.counters().answered, 5);
  }));

test('a name outside the table goes to the upstream: its answer relayed with the client\'s id; over TCP too', async () => {
  const upstream = await FakeUpstream.start('127.0.0.2', '192.0.2.7');
  try {
    await withServer({ upstreams: [upstream.endpoint] }, async (server) => {
      const ids = [0x0001, 0x7777, 0xfffe];
      for (const id of ids) {
        const reply = await ask(server.port, 'example.test', 'A', id);
        assert.is(reply.id, id, 'the client\'s id back');
        assert.is(reply.rcode, 'NOERROR');
        assert.ok(reply.flag_ra);
        assert.equal(answerData(reply), ['192.0.2.7']);
        assert.is((reply.answers![0] as { ttl: number }).ttl, 300, 'the upstream\'s answer as it was');
      }
      assert.is(upstream.seen.length, 3);
      assert.ok(upstream.seen.some((seen, i) => seen.id !== ids[i]), 'the server uses ids of its own upstream');
      // A name like one of ours but longer is not ours.
      assert.equal(answerData(await ask(server.port, 'web.example.test', 'A')), ['192.0.2.7']);
      const tcpReply = decode(await tcpExchange(server.port, encodeQuery('tcp.example.test', 'A', 0x4321)));
      assert.is(tcpReply.id, 0x4321);
      assert.equal(answerData(tcpReply), ['192.0.2.7']);
      assert.is(upstream.seen.at(-1)!.transport, 'tcp', 'a TCP query goes upstream over TCP');
      assert.equal(server.counters(), { answered: 0, forwarded: 5, refused: 0, failed: 0, malformed: 0 });
      assert.is(server.pendingForwards, 0);
    });
  } finally {
    await upstream.close();
  }
});

test('the first upstream silent: the next one answers after the timeout', async () => {
  const silent = await FakeUpstream.start('127.0.0.3', '192.0.2.1');
  silent.silent = true;
  const answering = await FakeUpstream.start('127.0.0.4', '192.0.2.9');
  try {
    await withServer({ upstreams: [silent.endpoint, answering.endpoint], forwardTimeoutMs: 300 }, async (server) => {
      const started = performance.now();
      const reply = await ask(server.port, 'slow.test', 'A', 0x0a0a);
      const elapsedMs = performance.now() - started;
      assert.equal(answerData(reply), ['192.0.2.9']);
      assert.is(reply.id, 0x0a0a);
      assert.is(silent.seen.length, 1, 'the first was asked');
      assert.ok(elapsedMs >= 250 && elapsedMs < 2500, `answered after ${elapsedMs.toFixed(0)} ms`);
    });
  } finally {
    await silent.close();
    await answering.close();
  }
});

test('SERVFAIL when the upstream is a closed port on 127.0.0.1, and when there is none', async () => {
  const port = await closedUdpPort();
  await withServer({ upstreams: [`127.0.0.1:${port}`], forwardTimeoutMs: 300 }, async (server) => {
    const reply = await ask(server.port, 'nowhere.test', 'A', 0x5150);
    assert.is(reply.rcode, 'SERVFAIL');
    assert.is(reply.id, 0x5150);
    assert.equal(reply.questions!.map((q) => q.name), ['nowhere.test']);
    assert.equal(server.counters(), { answered: 0, forwarded: 0, refused: 0, failed: 1, malformed: 0 });
    assert.is(server.pendingForwards, 0, 'nothing left behind after the timeout');
  });
  await withServer({ upstreams: [] }, async (server) => {
    assert.is((await ask(server.port, 'nowhere.test', 'A')).rcode, 'SERVFAIL');
    assert.is(server.counters().failed, 1);
  });
});

test('REFUSED for zone transfers and opcodes other than QUERY; FORMERR for two questions', () =>
  withServer({}, async (server) => {
    assert.is((await ask(server.port, 'web', 'AXFR')).rcode, 'REFUSED');
    assert.is((await ask(server.port, 'web', 'IXFR')).rcode, 'REFUSED');
    const status = encodeQuery('web', 'A', 0x2222);
    status.writeUInt16BE(status.readUInt16BE(2) | (2 << 11), 2); // opcode STATUS
    const statusReply = decode((await udpExchange(server.port, status))!);
    assert.is(statusReply.rcode, 'REFUSED');
    assert.is(statusReply.opcode, 'STATUS', 'the opcode echoed');
    const two = dnsPacket.encode({ type: 'query', id: 3, questions: [{ name: 'web', type: 'A' }, { name: 'c1', type: 'A' }] });
    assert.is(decode((await udpExchange(server.port, two))!).rcode, 'FORMERR');
    assert.equal(server.counters(), { answered: 0, forwarded: 0, refused: 3, failed: 0, malformed: 1 });
  }));

test('malformed input is counted and dropped, never answered; the server answers afterwards', () =>
  withServer({}, async (server) => {
    const garbage = [
      Buffer.alloc(0),
      Buffer.from([1, 2, 3]),
      Buffer.alloc(12, 0xff), // QR set: a response
      Buffer.concat([encodeQuery('web', 'A', 9).subarray(0, 15)]), // cut inside the question
      (() => {
        const lying = encodeQuery('web', 'A', 9);
        lying.writeUInt16BE(0xffff, 6); // 65535 answers announced, none there
        return lying;
      })(),
      (() => {
        const loop = Buffer.from(encodeQuery('web', 'A', 9));
        loop[12] = 0xc0; // a compression pointer to itself
        loop[13] = 12;
        return loop;
      })(),
    ];
    for (const bytes of garbage) assert.is(await udpExchange(server.port, bytes, 200), undefined, `no answer to ${bytes.toString('hex')}`);
    // A flood of random bytes: all dropped, nothing kept.
    const socket = createSocket('udp4');
    try {
      // In rounds of 50, so the server's receive buffer (~270 small datagrams) is not what drops them.
      for (let i = 0; i < 2000; i++) {
        const bytes = Buffer.alloc(12 + (i % 40));
        for (let j = 0; j < bytes.length; j++) bytes[j] = (i * 31 + j * 17) & 0xff;
        if (i % 2 === 0) bytes[2]! |= 0x80; // QR: no query, whatever follows
        else bytes[2]! &= 0x7f; // a "query" whose sections are noise
        socket.send(bytes, server.port, '127.0.0.1');
        if (i % 50 === 49) await new Promise<void>((resolve) => setTimeout(resolve, 5));
      }
    } finally {
      await new Promise<void>((resolve) => setTimeout(resolve, 300));
      socket.close();
    }
    const reply = await ask(server.port, 'c3', 'A');
    assert.equal(answerData(reply), ['10.0.9.13']);
    const counters = server.counters();
    // Half the noise has QR clear: some of it may decode as a query after all (and get an answer).
    const handled = counters.malformed + counters.answered + counters.refused + counters.failed;
    assert.ok(counters.malformed >= garbage.length + 1000, `malformed ${counters.malformed}`);
    assert.ok(handled <= garbage.length + 2000 + 1 && handled >= garbage.length + 1800 + 1, `${handled} handled (UDP may lose a few of 2000)`);
    assert.is(server.pendingForwards, 0);
  }));

test('an answer too big for UDP keeps what fits and sets TC; TCP carries all; EDNS raises the limit to 1232', async () => {
  const table = new NameTable();
  for (let i = 0; i < 100; i++) table.set(`r${i}`, { names: ['big-service'], ipv4: [`10.0.${i >> 8}.${(i & 255) + 1}`] });
  await withServer({ table }, async (server) => {
    const plain = await udpExchange(server.port, encodeQuery('big-service', 'A', 1));
    assert.ok(plain!.length <= 512, `${plain!.length} bytes over UDP without EDNS`);
    const plainReply = decode(plain!);
    assert.ok(plainReply.flag_tc, 'TC');
    assert.ok(plainReply.answers!.length > 10 && plainReply.answers!.length < 100, `${plainReply.answers!.length} records fit`);
    const edns = await udpExchange(server.port, encodeQuery('big-service', 'A', 2, { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] }));
    const ednsReply = decode(edns!);
    assert.ok(edns!.length <= 1232 && edns!.length > 512, `${edns!.length} bytes with EDNS 4096`);
    assert.ok(ednsReply.flag_tc);
    assert.ok(ednsReply.additionals!.some((record) => record.type === 'OPT'), 'OPT back to an EDNS client');
    const tcpReply = decode(await tcpExchange(server.port, encodeQuery('big-service', 'A', 3)));
    assert.not.ok(tcpReply.flag_tc);
    assert.is(new Set(answerData(tcpReply)).size, 100, 'every replica over TCP');
  });
});

test('forwards in flight are bounded: beyond the bound REFUSED at once; after the timeout nothing is left', async () => {
  const silent = await FakeUpstream.start('127.0.0.5', '192.0.2.1');
  silent.silent = true;
  try {
    await withServer({ upstreams: [silent.endpoint], maxPendingForwards: 4, forwardTimeoutMs: 400 }, async (server) => {
      const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => udpExchange(server.port, encodeQuery(`x${i}.test`, 'A', i), 3000)));
      const rcodes = replies.map((reply) => decode(reply!).rcode).sort();
      assert.equal(rcodes, [...Array(6).fill('REFUSED'), ...Array(4).fill('SERVFAIL')]);
      assert.is(server.pendingForwards, 0);
      assert.equal(server.counters(), { answered: 0, forwarded: 0, refused: 6, failed: 4, malformed: 0 });
    });
  } finally {
    await silent.close();
  }
});

test('a burst of 3000 queries, 100 at a time, all answered in bounded time', () =>
  withServer({}, async (server) => {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    const total = 3000;
    const window = 100;
    const started = performance.now();
    try {
      const answered = await new Promise<number>((resolve) => {
        let sent = 0;
        let received = 0;
        // Lost datagrams would stall the window: the deadline ends the run whatever was received.
        const deadline = setTimeout(() => resolve(received), 20_000);
        const send = () => {
          const id = sent++;
          socket.send(encodeQuery(id % 2 === 0 ? 'web' : `c${(id % 3) + 1}`, 'A', id & 0xffff), server.port, '127.0.0.1');
        };
        socket.on('message', (message) => {
          assert.is(decode(message).rcode, 'NOERROR');
          received += 1;
          if (received === total) {
            clearTimeout(deadline);
            resolve(received);
          } else if (sent < total) send();
        });
        for (let i = 0; i < window; i++) send();
      });
      const elapsedMs = performance.now() - started;
      console.log(`dns burst: ${answered} of ${total} queries answered in ${elapsedMs.toFixed(0)} ms (${((answered / elapsedMs) * 1000).toFixed(0)} queries/s)`);
      assert.ok(answered >= total * 0.99, `${answered} of ${total} answered`);
      assert.ok(elapsedMs < 15_000, `${elapsedMs.toFixed(0)} ms`);
      assert.is(server.counters().answered, answered);
    } finally {
      socket.close();
    }
  }));

test('a name that leaves the table stops resolving at once: its next query is not ours and goes upstream', () => {
  const table = webTable();
  return withServer({ table }, async (server) => {
    assert.equal(answerData(await ask(server.port, 'c2', 'A')), ['10.0.9.12']);
    table.delete('r2');
    assert.is((await ask(server.port, 'c2', 'A')).rcode, 'SERVFAIL', 'forwarded (no upstream here), not answered');
    assert.equal(answerData(await ask(server.port, 'web', 'A')).sort(), ['10.0.9.11', '10.0.9.13'], 'the alias without the replica that left');
  });
});

test('TCP: two queries in one write and one split over three writes, answered on one connection; an idle connection is closed', () =>
  withServer({ tcpIdleTimeoutMs: 300 }, async (server) => {
    const frame = (message: Buffer) => {
      const prefix = Buffer.alloc(2);
      prefix.writeUInt16BE(message.length);
      return Buffer.concat([prefix, message]);
    };
    const socket = connect({ host: '127.0.0.1', port: server.port });
    try {
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      const replies: Buffer[] = [];
      let received = Buffer.alloc(0);
      const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now())));
      socket.on('data', (chunk) => {
        received = Buffer.concat([received, chunk]);
        while (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0)) {
          replies.push(received.subarray(2, 2 + received.readUInt16BE(0)));
          received = received.subarray(2 + received.readUInt16BE(0));
        }
      });
      socket.write(Buffer.concat([frame(encodeQuery('c1', 'A', 1)), frame(encodeQuery('c2', 'A', 2))]));
      const third = frame(encodeQuery('c3', 'A', 3));
      for (const piece of [third.subarray(0, 1), third.subarray(1, 9), third.subarray(9)]) {
        socket.write(piece);
        await new Promise<void>((resolve) => setTimeout(resolve, 20));
      }
      const lastWriteAt = performance.now();
      const closedAt = await closed;
      assert.equal(replies.map((reply) => [decode(reply).id, answerData(decode(reply))[0]]), [[1, '10.0.9.11'], [2, '10.0.9.12'], [3, '10.0.9.13']]);
      assert.ok(closedAt - lastWriteAt >= 200 && closedAt - lastWriteAt < 3000, `closed ${(closedAt - lastWriteAt).toFixed(0)} ms after the last write`);
    } finally {
      socket.destroy();
    }
  }));

test('no log line per query: only listening, closing and (without upstreams) one warning', async () => {
  const logged: Array<[string, string]> = [];
  const logger = {
    warn: (_: object, message: string) => logged.push(['warn', message]),
    info: (_: object, message: string) => logged.push(['info', message]),
    debug: (_: object, message: string) => logged.push(['debug', message]),
  };
  await withServer({ logger }, async (server) => {
    for (let i = 0; i < 20; i++) await ask(server.port, i % 2 === 0 ? 'web' : 'unknown.test', 'A');
    await udpExchange(server.port, Buffer.from('garbage!garbage!'), 100);
  });
  const notDebug = logged.filter(([level]) => level !== 'debug');
  assert.equal(notDebug, [['warn', 'dns: no upstream resolvers; names outside the network get SERVFAIL'], ['info', 'dns: listening'], ['info', 'dns: closed']]);
});

test('pino\'s logger is a NameServerLogger: its lines are JSON with the address and port', async () => {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      lines.push(String(chunk));
      callback();
    },
  });
  const logger: NameServerLogger = createLogger('info', stream);
  let port = 0;
  await withServer({ logger }, async (server) => {
    port = server.port;
    await ask(server.port, 'web', 'A');
  });
  const records = lines.map((line) => JSON.parse(line) as { msg: string; port: number; address: string });
  assert.equal(records.map((record) => record.msg), ['dns: no upstream resolvers; names outside the network get SERVFAIL', 'dns: listening', 'dns: closed']);
  assert.ok(records.every((record) => record.port === port && record.address === '127.0.0.1'));
});

test('an upstream answer that is not for our query is ignored: wrong question, wrong source port; the right one is relayed', async () => {
  // A fake upstream that first answers with another question, then from another port, then right.
  const upstream = createSocket('udp4');
  const other = createSocket('udp4');
  await new Promise<void>((resolve) => upstream.bind(0, '127.0.0.7', () => resolve()));
  await new Promise<void>((resolve) => other.bind(0, '127.0.0.7', () => resolve()));
  upstream.on('message', (message, remote) => {
    const query = dnsPacket.decode(message);
    const answer = (name: string, data: string) =>
      dnsPacket.encode({ type: 'response', id: query.id, questions: [{ name, type: 'A' }], answers: [{ type: 'A', name, ttl: 60, data }] });
    upstream.send(answer('evil.test', '203.0.113.1'), remote.port, remote.address);
    other.send(answer(query.questions![0]!.name, '203.0.113.2'), remote.port, remote.address);
    setTimeout(() => upstream.send(answer(query.questions![0]!.name, '192.0.2.10'), remote.port, remote.address), 50);
  });
  try {
    await withServer({ upstreams: [`127.0.0.7:${upstream.address().port}`] }, async (server) => {
      assert.equal(answerData(await ask(server.port, 'good.test', 'A')), ['192.0.2.10']);
      assert.is(server.counters().forwarded, 1);
    });
  } finally {
    upstream.close();
    other.close();
  }
});

test('a flood of unknown names at a silent upstream: never more than 1024 forwards in flight (the default), the rest REFUSED', async () => {
  const silent = await FakeUpstream.start('127.0.0.8', '192.0.2.1');
  silent.silent = true;
  try {
    await withServer({ upstreams: [silent.endpoint], forwardTimeoutMs: 1500 }, async (server) => {
      const socket = createSocket('udp4');
      let most = 0;
      try {
        for (let i = 0; i < 1500; i++) {
          socket.send(encodeQuery(`n${i}.flood.test`, 'A', i), server.port, '127.0.0.1');
          if (i % 50 === 49) {
            await new Promise<void>((resolve) => setTimeout(resolve, 5));
            most = Math.max(most, server.pendingForwards);
          }
        }
        await new Promise<void>((resolve) => setTimeout(resolve, 200));
        most = Math.max(most, server.pendingForwards);
        assert.is(most, 1024, 'the bound is reached and not passed');
        assert.ok(server.counters().refused >= 1500 - 1024 - 50, `refused ${server.counters().refused}`);
        // After the timeout every forward has ended: nothing stays behind.
        await new Promise<void>((resolve) => setTimeout(resolve, 1800));
        assert.is(server.pendingForwards, 0);
        assert.is(server.counters().failed, 1024);
      } finally {
        socket.close();
      }
    });
  } finally {
    await silent.close();
  }
});

test('IPv6: a server on ::1 answers over UDP and TCP', async () => {
  const table = new NameTable();
  table.set('e', { names: ['six'], ipv6: ['fd00::6'] });
  let server: NameServer;
  try {
    server = await NameServer.listen({ address: '::1', port: 0, table, upstreams: [] });
  } catch (error) {
    // A kernel without IPv6 on lo: say so loudly rather than pass silently.
    warnSkipped('needs IPv6 on lo', ['IPv6: a server on ::1'], (error as Error).message);
    return;
  }
  try {
    const socket = createSocket('udp6');
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer on ::1')), 3000);
      socket.on('message', (message) => {
        clearTimeout(timer);
        resolve(message);
      });
      socket.send(encodeQuery('six', 'AAAA', 6), server.port, '::1');
    }).finally(() => socket.close());
    assert.equal(answerData(decode(reply)), ['fd00::6']);
    assert.equal(answerData(decode(await tcpExchange(server.port, encodeQuery('six', 'AAAA', 7), 3000, '::1'))), ['fd00::6']);
  } finally {
    await server.close();
  }
});

test('close is idempotent and frees the port; a taken port and a bad upstream are typed errors', async () => {
  const server = await NameServer.listen({ address: '127.0.0.1', port: 0, table: new NameTable(), upstreams: [] });
  const port = server.port;
  try {
    await NameServer.listen({ address: '127.0.0.1', port, table: new NameTable(), upstreams: [] });
    assert.unreachable('a second server on the same port');
  } catch (error) {
    assert.instance(error, DnsError);
    assert.is((error as DnsError).code, 'LISTEN_FAILED');
    assert.match((error as Error).message, /EADDRINUSE/);
  }
  const first = server.close();
  assert.is(server.close(), first, 'the same promise');
  await first;
  await server.close();
  const again = await NameServer.listen({ address: '127.0.0.1', port, table: new NameTable(), upstreams: [] });
  await again.close();
  // An address this host does not have (TEST-NET-1): bound only, nothing is sent.
  try {
    await NameServer.listen({ address: '192.0.2.123', port: 0, table: new NameTable(), upstreams: [] });
    assert.unreachable('listening on an address the host lacks');
  } catch (error) {
    assert.is((error as DnsError).code, 'LISTEN_FAILED');
    assert.match((error as Error).message, /EADDRNOTAVAIL/);
  }
  for (const bad of ['nameserver', '10.0.0.1:99999', 'fd00::1:53:x', '[fd00::1]']) {
    try {
      await NameServer.listen({ address: '127.0.0.1', port: 0, table: new NameTable(), upstreams: [bad] });
      assert.unreachable(`${bad} accepted`);
    } catch (error) {
      assert.is((error as DnsError).code, 'BAD_UPSTREAM', bad);
    }
  }
});

test.run();
