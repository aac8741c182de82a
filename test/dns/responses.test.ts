// The pure part of the name server: parsing a query once at the edge (and refusing cheaply what
// cannot be one), and the answers it builds itself (flags, NODATA, truncation by size).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import dnsPacket from 'dns-packet';
import { Rcode, UDP_EDNS_CAP, answerLimit, errorResponse, parseQuery, tableResponse } from '../../src/dns/responses';
import { decode, encodeQuery } from './dns-client';

const opt = (udpPayloadSize: number) => ({ additionals: [{ type: 'OPT' as const, name: '.', udpPayloadSize, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] });

test('parseQuery: id, opcode, RD, the question and the EDNS size; undefined for responses and undecodable bytes', () => {
  const query = parseQuery(encodeQuery('Web', 'AAAA', 0x1234, opt(1400)))!;
  assert.is(query.id, 0x1234);
  assert.is(query.opcode, 0);
  assert.ok(query.recursionDesired);
  assert.equal(query.questions, [{ name: 'Web', type: 'AAAA', class: 'IN' }]);
  assert.is(query.ednsUdpSize, 1400);
  assert.is(parseQuery(encodeQuery('web', 'A', 1))!.ednsUdpSize, undefined);
  const response = dnsPacket.encode({ type: 'response', id: 1, questions: [{ name: 'web', type: 'A' }] });
  assert.is(parseQuery(response), undefined, 'a response is never answered');
  assert.is(parseQuery(Buffer.alloc(11)), undefined);
  assert.is(parseQuery(encodeQuery('web', 'A', 1).subarray(0, 16)), undefined);
});

test('parseQuery: counts the bytes cannot hold are refused without decoding, so garbage costs little', () => {
  const lying = encodeQuery('web', 'A', 9);
  lying.writeUInt16BE(0xffff, 6);
  lying.writeUInt16BE(0xffff, 10);
  assert.is(parseQuery(lying), undefined);
  const noise = Array.from({ length: 500 }, (_, i) => {
    const bytes = Buffer.alloc(40);
    for (let j = 0; j < bytes.length; j++) bytes[j] = (i * 131 + j * 17 + 7) & 0xff;
    bytes[2]! &= 0x7f;
    return bytes;
  });
  const started = performance.now();
  for (let round = 0; round < 4; round++) {
    for (const bytes of noise) parseQuery(bytes);
    parseQuery(lying);
  }
  const elapsedMs = performance.now() - started;
  // Decoding such counts first took ≈ 0.5 ms a message (≈ 1 s for these 2004); now microseconds.
  assert.ok(elapsedMs < 250, `2004 garbage messages took ${elapsedMs.toFixed(0)} ms`);
});

test('answerLimit: 512 without EDNS, the EDNS size within 512..1232 over UDP, 65535 over TCP', () => {
  assert.is(answerLimit(parseQuery(encodeQuery('a', 'A', 1))!, 'udp'), 512);
  assert.is(answerLimit(parseQuery(encodeQuery('a', 'A', 1, opt(4096)))!, 'udp'), UDP_EDNS_CAP);
  assert.is(answerLimit(parseQuery(encodeQuery('a', 'A', 1, opt(100)))!, 'udp'), 512);
  assert.is(answerLimit(parseQuery(encodeQuery('a', 'A', 1, opt(900)))!, 'udp'), 900);
  assert.is(answerLimit(parseQuery(encodeQuery('a', 'A', 1))!, 'tcp'), 65535);
});

test('tableResponse: AA, NOERROR, records in the order given; NODATA when there are none; TC with what fits', () => {
  const query = parseQuery(encodeQuery('svc', 'A', 77))!;
  const options = { recursionAvailable: true };
  const full = decode(tableResponse(query, [{ type: 'A', addresses: ['10.0.0.2', '10.0.0.1'] }], 5, 512, options));
  assert.is(full.id, 77);
  assert.ok(full.flag_aa && full.flag_ra && full.flag_rd);
  assert.not.ok(full.flag_tc);
  assert.equal(full.answers!.map((answer) => (answer as { data: string }).data), ['10.0.0.2', '10.0.0.1']);
  const nodata = decode(tableResponse(query, [{ type: 'A', addresses: [] }], 5, 512, options));
  assert.is(nodata.rcode, 'NOERROR');
  assert.equal(nodata.answers, []);
  const addresses = Array.from({ length: 50 }, (_, i) => `10.0.1.${i + 1}`);
  for (const limit of [60, 100, 512]) {
    const bytes = tableResponse(query, [{ type: 'A', addresses }], 5, limit, options);
    const packet = decode(bytes);
    assert.ok(bytes.length <= limit, `${bytes.length} ≤ ${limit}`);
    assert.ok(packet.flag_tc);
    // One more record would not have fitted: each A record for "svc" is 5 + 10 + 4 bytes.
    assert.ok(bytes.length + 19 > limit, `${packet.answers!.length} records in ${bytes.length} of ${limit} bytes`);
    assert.equal(packet.answers!.map((answer) => (answer as { data: string }).data), addresses.slice(0, packet.answers!.length));
  }
});

test('errorResponse: the rcode, the question echoed, the opcode kept, no records', () => {
  const query = parseQuery(encodeQuery('x.test', 'A', 5, opt(1232)))!;
  const servfail = decode(errorResponse(query, Rcode.SERVFAIL, { recursionAvailable: true }));
  assert.is(servfail.rcode, 'SERVFAIL');
  assert.is(servfail.id, 5);
  assert.not.ok(servfail.flag_aa);
  assert.equal(servfail.questions!.map((q) => q.name), ['x.test']);
  assert.equal(servfail.answers, []);
  assert.ok(servfail.additionals!.some((record) => record.type === 'OPT'));
  assert.is(decode(errorResponse(query, Rcode.REFUSED, { recursionAvailable: false })).rcode, 'REFUSED');
});

test.run();
