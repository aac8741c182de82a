/**
 * The stream reader: the same packets and errors as readPcap on whole files, whatever the chunk
 * boundaries, while pulling only the chunks the next record needs.
 */
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_MAX_RECORD_LENGTH, PcapError, openPcapStream, pcapPackets, readPcap, writePcap, type PcapPacket } from '../../src/pcap';

const FIXTURES = new URL('../fixtures/pcap/', import.meta.url);
const fixture = (name: string) => new Uint8Array(readFileSync(new URL(name, FIXTURES)));

function* chunksOf(bytes: Uint8Array, size: number): Generator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

/** An async source that counts the chunks pulled from it and whether it was released. */
function countingSource(chunks: Iterable<Uint8Array>) {
  const state = { pulled: 0, released: false };
  const source = {
    [Symbol.asyncIterator]() {
      const inner = chunks[Symbol.iterator]();
      return {
        async next() {
          const next = inner.next();
          if (!next.done) state.pulled++;
          return next;
        },
        async return() {
          state.released = true;
          return { done: true as const, value: undefined };
        },
      };
    },
  };
  return { source, state };
}

type Outcome = { packets: Array<[bigint, number[], number, number, number]>; error?: [string, number] };

const summary = (packet: PcapPacket): Outcome['packets'][number] =>
  [packet.timestampNs, [...packet.data], packet.originalLength, packet.interfaceId, packet.linkType];

function wholeFileOutcome(bytes: Uint8Array): Outcome {
  const outcome: Outcome = { packets: [] };
  try {
    for (const packet of pcapPackets(bytes)) outcome.packets.push(summary(packet));
  } catch (error) {
    if (!(error instanceof PcapError)) throw error;
    outcome.error = [error.code, error.offset];
  }
  return outcome;
}

async function streamOutcome(chunks: Parameters<typeof openPcapStream>[0]): Promise<Outcome> {
  const outcome: Outcome = { packets: [] };
  try {
    for await (const packet of await openPcapStream(chunks)) outcome.packets.push(summary(packet));
  } catch (error) {
    if (!(error instanceof PcapError)) throw error;
    outcome.error = [error.code, error.offset];
  }
  return outcome;
}

test('fixtures: the same packets, format and link type as readPcap, for any chunk size', async () => {
  for (const name of ['vxlan-arp.pcap', 'vxlan-arp.pcapng', 'two-links.pcapng']) {
    const bytes = fixture(name);
    const whole = readPcap(bytes);
    for (const size of [1, 3, 7, 64, bytes.length]) {
      const stream = await openPcapStream(chunksOf(bytes, size));
      assert.is(stream.format, whole.format, name);
      const packets: PcapPacket[] = [];
      for await (const packet of stream) packets.push(packet);
      assert.is(stream.linkType, whole.linkType, name);
      assert.equal(packets.map(summary), whole.packets.map(summary), `${name} in chunks of ${size}`);
    }
  }
});

test('a file cut anywhere or damaged: the same packets, then the same error at the same offset', async () => {
  for (const name of ['vxlan-arp.pcap', 'vxlan-arp.pcapng', 'two-links.pcapng']) {
    const bytes = fixture(name);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const short = bytes.subarray(0, cut);
      assert.equal(await streamOutcome(chunksOf(short, 5)), wholeFileOutcome(short), `${name} cut at ${cut}`);
    }
    // One byte flipped at a time: lengths, magics, versions, option codes all get damaged somewhere.
    for (let at = 0; at < bytes.length; at++) {
      const damaged = bytes.slice();
      damaged[at] ^= 0x80;
      let expected: Outcome;
      try {
        expected = wholeFileOutcome(damaged);
      } catch {
        continue;
      }
      const actual = await streamOutcome(chunksOf(damaged, 13));
      // A length flipped to over 16 MiB is refused as such by the stream; the whole file, which
      // cannot hold it either, calls it TRUNCATED, at the same offset.
      if (actual.error?.[0] === 'TOO_LARGE' && expected.error?.[0] === 'TRUNCATED') actual.error[0] = 'TRUNCATED';
      assert.equal(actual, expected, `${name} with byte ${at} flipped`);
    }
  }
});

test('a large capture is read record by record: the first packet comes after pulling one chunk of a thousand', async () => {
  const frames = Array.from({ length: 4000 }, (_, i) => ({ data: new Uint8Array(1000).fill(i & 0xff) }));
  const bytes = writePcap(frames);
  const { source, state } = countingSource(chunksOf(bytes, 4096));
  const stream = await openPcapStream(source);
  let seen = 0;
  for await (const packet of stream) {
    seen++;
    assert.is(packet.data[0], (seen - 1) & 0xff);
    // Never more than the records read so far plus the one being assembled.
    const needed = Math.ceil((24 + seen * 1016) / 4096) + 1;
    assert.ok(state.pulled <= needed, `after ${seen} packets ${state.pulled} chunks were pulled, at most ${needed} needed`);
  }
  assert.is(seen, 4000);
  assert.is(state.pulled, Math.ceil(bytes.length / 4096));
  assert.ok(state.released, 'source released at the end');
});

test('endless zeros (/dev/zero) are refused as BAD_MAGIC after the first chunk', async () => {
  const zeros = function* () {
    for (;;) yield new Uint8Array(65536);
  };
  const { source, state } = countingSource(zeros());
  try {
    await openPcapStream(source);
    assert.unreachable('opened');
  } catch (error) {
    assert.instance(error, PcapError);
    assert.is((error as PcapError).code, 'BAD_MAGIC');
  }
  assert.is(state.pulled, 1);
  assert.ok(state.released, 'source released after the error');
});

test('a record or block length over the limit is TOO_LARGE before any allocation for it', async () => {
  const classic = writePcap([{ data: new Uint8Array(100) }]);
  new DataView(classic.buffer).setUint32(24 + 8, 0xffff_fff0, true); // captured length
  const endless = function* (head: Uint8Array) {
    yield head;
    for (;;) yield new Uint8Array(65536);
  };
  const classicSource = countingSource(endless(classic));
  const classicOutcome = await streamOutcome(classicSource.source);
  assert.equal(classicOutcome, { packets: [], error: ['TOO_LARGE', 24] });
  assert.is(classicSource.state.pulled, 1);

  const pcapng = fixture('vxlan-arp.pcapng').slice();
  const view = new DataView(pcapng.buffer);
  const sectionLength = view.getUint32(4, true);
  const interfaceLength = view.getUint32(sectionLength + 4, true);
  const packetBlock = sectionLength + interfaceLength;
  view.setUint32(packetBlock + 4, DEFAULT_MAX_RECORD_LENGTH + 4, true);
  assert.equal(await streamOutcome(chunksOf(pcapng, 64)), { packets: [], error: ['TOO_LARGE', packetBlock] });
  // The limit is the caller's to set.
  const small = await openPcapStream([writePcap([{ data: new Uint8Array(101) }])], { maxRecordLength: 100 });
  try {
    for await (const _ of small) assert.unreachable('a 101-byte record under a 100-byte limit');
  } catch (error) {
    assert.is((error as PcapError).code, 'TOO_LARGE');
  }
});

test('close() releases the source, even before the first packet', async () => {
  const { source, state } = countingSource(chunksOf(writePcap([{ data: new Uint8Array(60) }]), 10));
  const stream = await openPcapStream(source);
  await stream.close();
  assert.ok(state.released);
  const packets: PcapPacket[] = [];
  for await (const packet of stream) packets.push(packet);
  assert.is(packets.length, 0);
});

test('bad arguments: a clear TypeError or RangeError naming them', async () => {
  for (const bad of [undefined, 42, 'file.pcap', {}]) {
    try {
      await openPcapStream(bad as never);
      assert.unreachable(String(bad));
    } catch (error) {
      assert.instance(error, TypeError);
      assert.match((error as Error).message, /source must be an iterable/);
    }
  }
  for (const maxRecordLength of [0, -1, 1.5, 2 ** 32, NaN]) {
    try {
      await openPcapStream([new Uint8Array(0)], { maxRecordLength });
      assert.unreachable(String(maxRecordLength));
    } catch (error) {
      assert.instance(error, RangeError);
      assert.match((error as Error).message, /maxRecordLength/);
    }
  }
  try {
    const stream = await openPcapStream([writePcap([]).subarray(0, 4), 'not bytes' as never]);
    for await (const _ of stream) assert.unreachable('read a string chunk');
    assert.unreachable('no error');
  } catch (error) {
    assert.instance(error, TypeError);
    assert.match((error as Error).message, /Uint8Array chunks/);
  }
});

test.run();
