/**
 * Interop with the real tools: tshark reads what we write; editcap, mergecap and tcpdump rewrite
 * it (pcapng, nanosecond pcap, two link types) and we read their output back. CI installs them
 * (`apt-get install -y tshark tcpdump`); a missing tool skips its case with a loud warning.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readPcap, writePcap, type PcapPacket } from '../../src/pcap';

const dir = mkdtempSync(join(tmpdir(), 'vxlan-wasm-pcap-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const installed = new Map<string, boolean>();
/** True if `tool` runs; otherwise says loudly that the case is skipped. */
function has(tool: string, caseName: string): boolean {
  if (!installed.has(tool)) installed.set(tool, !spawnSync(tool, ['--version'], { stdio: 'ignore' }).error);
  if (!installed.get(tool)) console.warn(`\n*** SKIPPED: ${tool} not installed — "${caseName}" did not run (apt-get install -y tshark tcpdump) ***\n`);
  return installed.get(tool)!;
}

function run(tool: string, args: string[]): string {
  const result = spawnSync(tool, args, { encoding: 'utf8', timeout: 20_000 });
  if (result.error || result.status !== 0) throw new Error(`${tool} ${args.join(' ')} failed: ${result.error ?? result.stderr}`);
  return result.stdout;
}

const file = (name: string) => join(dir, name);
const readBack = (name: string) => readPcap(new Uint8Array(readFileSync(file(name))));

/** A few frames of different sizes with nanosecond timestamps that a microsecond file cannot hold. */
const packets = [60, 1514, 100, 9000].map((length, i) => ({
  data: Uint8Array.from({ length }, (_, j) => (i * 31 + j) & 0xff),
  timestampNs: 1_700_000_000_123_456_789n + BigInt(i) * 1_000_000_001n,
}));
const toMicroseconds = (ns: bigint) => (ns / 1000n) * 1000n;

function assertSamePackets(read: PcapPacket[], timestamps: bigint[], linkType = 1) {
  assert.equal(read.map((p) => p.timestampNs), timestamps);
  assert.equal(read.map((p) => [...p.data]), packets.map((p) => [...p.data]));
  assert.equal(read.map((p) => [p.originalLength, p.linkType]), packets.map((p) => [p.data.length, linkType]));
}

writeFileSync(file('micro.pcap'), writePcap(packets));
writeFileSync(file('nano.pcap'), writePcap(packets, { nanosecond: true }));

/** "1700000000.123456789" → 1700000000123456789n, exactly. */
function epochToNs(text: string): bigint {
  const [seconds, fraction = ''] = text.split('.');
  return BigInt(seconds) * 1_000_000_000n + BigInt(fraction.padEnd(9, '0').slice(0, 9));
}

test('tshark reads our microsecond and nanosecond files', () => {
  if (!has('tshark', 'tshark reads our files')) return;
  for (const [name, expected] of [['micro.pcap', packets.map((p) => toMicroseconds(p.timestampNs))], ['nano.pcap', packets.map((p) => p.timestampNs)]] as const) {
    const rows = run('tshark', ['-r', file(name), '-T', 'fields', '-e', 'frame.time_epoch', '-e', 'frame.len', '-e', 'frame.cap_len', '-e', 'frame.encap_type'])
      .trim().split('\n').map((line) => line.split('\t'));
    assert.equal(rows.map((r) => epochToNs(r[0])), expected, name);
    assert.equal(rows.map((r) => [Number(r[1]), Number(r[2]), Number(r[3])]), packets.map((p) => [p.data.length, p.data.length, 1]), name);
  }
});

test('editcap -F pcapng: read back from pcapng, microseconds and nanoseconds', () => {
  if (!has('editcap', 'editcap -F pcapng')) return;
  run('editcap', ['-F', 'pcapng', file('micro.pcap'), file('micro.pcapng')]);
  run('editcap', ['-F', 'pcapng', file('nano.pcap'), file('nano.pcapng')]);
  const micro = readBack('micro.pcapng');
  assert.is(micro.format, 'pcapng');
  assertSamePackets(micro.packets, packets.map((p) => toMicroseconds(p.timestampNs)));
  const nano = readBack('nano.pcapng');
  assertSamePackets(nano.packets, packets.map((p) => p.timestampNs));
});

test('editcap -F nsecpcap: a nanosecond pcap from a microsecond one', () => {
  if (!has('editcap', 'editcap -F nsecpcap')) return;
  run('editcap', ['-F', 'nsecpcap', file('micro.pcap'), file('converted.pcap')]);
  const bytes = readFileSync(file('converted.pcap'));
  assert.is(bytes.readUInt32LE(0), 0xa1b23c4d, 'editcap wrote the nanosecond magic');
  assertSamePackets(readBack('converted.pcap').packets, packets.map((p) => toMicroseconds(p.timestampNs)));
});

test('tcpdump rewrites our files, in microseconds and in nanoseconds', () => {
  if (!has('tcpdump', 'tcpdump -r -w')) return;
  run('tcpdump', ['-r', file('micro.pcap'), '-w', file('tcpdump-micro.pcap')]);
  run('tcpdump', ['--time-stamp-precision=nano', '-r', file('nano.pcap'), '-w', file('tcpdump-nano.pcap')]);
  assertSamePackets(readBack('tcpdump-micro.pcap').packets, packets.map((p) => toMicroseconds(p.timestampNs)));
  assertSamePackets(readBack('tcpdump-nano.pcap').packets, packets.map((p) => p.timestampNs));
});

test('mergecap -F pcapng of two link types gives two interfaces', () => {
  if (!has('mergecap', 'mergecap two link types')) return;
  // Raw IP (101) packets half a second after each Ethernet packet, so they interleave.
  const raw = packets.map((p) => ({ data: Uint8Array.of(0x45, 0, 0, 20, ...new Uint8Array(16)), timestampNs: p.timestampNs + 500_000_000n }));
  writeFileSync(file('raw.pcap'), writePcap(raw, { linkType: 101, nanosecond: true }));
  run('mergecap', ['-F', 'pcapng', '-w', file('merged.pcapng'), file('nano.pcap'), file('raw.pcap')]);
  const merged = readBack('merged.pcapng');
  assert.is(merged.linkType, 1);
  assert.equal(merged.packets.map((p) => [p.interfaceId, p.linkType, p.timestampNs]), packets.flatMap((p, i) => [
    [0, 1, p.timestampNs],
    [1, 101, raw[i].timestampNs],
  ]));
});

test.run();
