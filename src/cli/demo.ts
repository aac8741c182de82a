/**
 * `vxlan-wasm demo`: the overlay forwarder at work, step by step, with every step checked.
 *
 * Rootless (the default, `npm run demo`): two Forwarders in this process, each a userspace VTEP
 * whose underlay is a UDP socket on loopback (127.0.0.1 and 127.0.0.2, ports the kernel picks)
 * and whose device is a UserspaceHost (10.42.0.1 and 10.42.0.2, one overlay on VNI 42). Host a
 * pings host b: its ARP request is flooded to the peer VTEP, b's reply comes back unicast because
 * forwarder B learned a's MAC from the request; then echo requests and replies, then a UDP stream
 * a → b, measured. Each underlay is wrapped in a capture tap (CapturingUnderlay) that copies the
 * first datagrams as they leave; they are printed, one is decoded, and all are written to a pcap.
 * A UDP socket sends only the VXLAN datagram (the kernel writes the outer IPv4/UDP headers and
 * loopback has no Ethernet), so the pcap's outer headers are rebuilt with `encapsulate()` from
 * the real addresses and ports, and the output says so.
 *
 * `--netns` (root, Linux): namespaces A and B joined by a veth; in A a Forwarder with a TAP
 * (10.42.0.1/24), in B the Linux kernel's own `vxlan` device (10.42.0.2/24). The system `ping`
 * both ways and iperf3 (when installed) run through the tunnel. The TAP and the UDP socket are
 * opened with this thread inside namespace A (setns), which is all "running in A" means for
 * them: a TAP or socket belongs for good to the namespace it was created in, whatever thread
 * reads it afterwards. Namespaces, devices and processes are removed in every case, on SIGINT
 * and SIGTERM too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { decapsulate, encapsulate } from '../api';
import { backendName } from '../backend';
import type { PacketBatch } from '../batch/packet-batch';
import { writePcap } from '../pcap/index';
import { endpointText } from './config';
import { formatMac } from '../wire/address';
import type { Endpoint, Underlay, UnderlayCounters, UnderlayEvents } from '../forwarder/contracts';
import { datagramLength, datagramStart } from '../forwarder/contracts';
import { TapDevice } from '../forwarder/device/tap';
import { UserspaceHost } from '../forwarder/device/userspace-host';
import { DROP_REASONS, Forwarder, type ForwarderCounters } from '../forwarder/forwarder';
import * as C from '../forwarder/io/libc';
import { UdpUnderlay } from '../forwarder/underlay/udp';
import { formatInnerSummary, summarizeInner } from './inner-summary';

export interface DemoOptions {
  /** Datagrams in the UDP stream (default 20 000 of 1400 payload bytes). */
  count?: number;
  /** One line of output. */
  write: (line: string) => void;
  /** Why it cannot run at all (default: stderr). */
  writeError?: (line: string) => void;
  /** Network namespaces, a TAP and a kernel vxlan peer instead of loopback (root, Linux). */
  netns?: boolean;
  /** Where to write the capture (default: overlay.pcap in a new temporary directory, kept). */
  pcap?: string;
  /**
   * SO_RCVBUF and SO_SNDBUF asked for the rootless demo's two underlay sockets, in bytes (default
   * UdpUnderlay's 4 MiB; without root the kernel grants at most net.core.rmem_max, doubled). The
   * tests ask for a stock kernel's 212992 to see the stream fit in what a user gets there.
   */
  underlaySocketBytes?: number;
}

export const DEFAULT_STREAM_COUNT = 20_000;
export const MAX_STREAM_COUNT = 1_000_000;
const VNI = 42;
const STREAM_PORT = 9000;
const STREAM_PAYLOAD = 1400;
const PINGS = 3;
const PING_TIMEOUT_MS = 10_000;
/** Datagrams copied per VTEP before the stream (ARP and pings: 8 in all, more when ARP is retried), and of the stream. */
const CAPTURE_BEFORE_STREAM = 32;
const CAPTURE_OF_STREAM = 2;
/** Datagrams the stream keeps in flight at most (fewer when b's socket buffer holds fewer). */
const STREAM_WINDOW = 1024;
/**
 * Bytes of b's socket receive buffer one datagram in flight is counted for. The kernel charges a
 * 1450-byte datagram 2304 bytes (its 2 KiB data allocation and the sk_buff; 1477 when GRO keeps a
 * GSO burst whole), as SO_MEMINFO shows on Linux 6.x; the rest is a margin for other kernels.
 */
const STREAM_DATAGRAM_CHARGE = 4096;
/**
 * Nothing arrived for this long with datagrams in flight: the stream stops and fails. Not a
 * measure of loss (the window never holds more than b's socket buffer, so none is dropped for
 * want of room while the reader thread waits for a core); a guard against a forwarder that stopped.
 */
const STREAM_STALL_MS = 5000;

// ---------------------------------------------------------------------------- capture tap

export interface CapturedDatagram {
  /** Nanoseconds since the Unix epoch, when it was handed to the socket. */
  timeNs: bigint;
  /** The UDP payload as sent: VXLAN header, then the inner frame. */
  datagram: Uint8Array;
  from: Endpoint;
  to: Endpoint;
}

/**
 * An Underlay that passes everything to the real one and copies the datagrams of the first
 * `budget` sends as they leave (after the kernel took them). It copies nothing once the budget
 * is spent: the per-call cost is then one comparison.
 */
export class CapturingUnderlay implements Underlay {
  budget = 0;
  readonly captured: CapturedDatagram[] = [];
  /** Called for each datagram copied, in the transmit call (keep it cheap). */
  onCapture: ((datagram: CapturedDatagram) => void) | undefined;
  private readonly endpoints: (Endpoint | undefined)[] = [];

  constructor(readonly inner: Underlay) {}

  get family(): 4 | 6 {
    return this.inner.family;
  }

  get localAddress(): string {
    return this.inner.localAddress;
  }

  get localPort(): number {
    return this.inner.localPort;
  }

  get counters(): UnderlayCounters {
    return this.inner.counters;
  }

  start(events: UnderlayEvents): void {
    this.inner.start(events);
  }

  setEndpoint(id: number, endpoint: Endpoint | undefined): void {
    this.inner.setEndpoint(id, endpoint);
    this.endpoints[id] = endpoint;
  }

  receive(batch: PacketBatch, first: number, max: number, sources: Int32Array): number {
    return this.inner.receive(batch, first, max, sources);
  }

  transmit(batch: PacketBatch, slots: Int32Array, destinations: Int32Array, count: number): number {
    const sent = this.inner.transmit(batch, slots, destinations, count);
    if (this.budget > 0) this.capture(batch, slots, destinations, Math.min(count, this.budget));
    return sent;
  }

  private capture(batch: PacketBatch, slots: Int32Array, destinations: Int32Array, count: number): void {
    const timeNs = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
    const from = { address: this.localAddress, port: this.localPort };
    for (let k = 0; k < count; k++) {
      const start = datagramStart(batch, slots[k]);
      const to = this.endpoints[destinations[k]];
      if (to === undefined) continue;
      const record = { timeNs, datagram: batch.bytes.slice(start, start + datagramLength(batch, slots[k])), from, to };
      this.captured.push(record);
      this.budget--;
      this.onCapture?.(record);
    }
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

// ---------------------------------------------------------------------------- formatting

const ms = (value: number) => (value < 10 ? value.toFixed(2) : value.toFixed(1));
const where = endpointText;
const vxlanFlags = (flags: number) => `0x${flags.toString(16).padStart(2, '0')}${flags === 0x08 ? ' (I: VNI valid)' : ''}`;
const vniOf = (datagram: Uint8Array) => (datagram[4] << 16) | (datagram[5] << 8) | datagram[6];

/** Columns padded to their widest cell; the first left-aligned, the others right-aligned. */
function table(rows: string[][], indent = '  '): string[] {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  return rows.map((row) => indent + row.map((cell, column) => (column === 0 ? cell.padEnd(widths[0]) : cell.padStart(widths[column]))).join('   ').trimEnd());
}

/** The rows of the counters table: one column per forwarder. */
function counterRows(names: string[], snapshots: ForwarderCounters[], underlays: UnderlayCounters[]): string[][] {
  const net = (c: ForwarderCounters) => c.networks.find((network) => network.vni === VNI) ?? c.networks[0];
  const mean = (frames: number, batches: number) => (batches === 0 ? '0' : `${batches} (mean ${(frames / batches).toFixed(1)})`);
  const rows: string[][] = [
    ['', ...names],
    ['frames device -> underlay', ...snapshots.map((c) => String(net(c).toUnderlay.frames))],
    ['bytes device -> underlay', ...snapshots.map((c) => String(net(c).toUnderlay.bytes))],
    ['frames underlay -> device', ...snapshots.map((c) => String(net(c).toDevice.frames))],
    ['bytes underlay -> device', ...snapshots.map((c) => String(net(c).toDevice.bytes))],
    ['flooded to every peer', ...snapshots.map((c) => String(net(c).flooded))],
    ['FDB entries (learned)', ...snapshots.map((c) => `${net(c).fdbEntries} (${c.fdb.learned})`)],
    ['batches from device', ...snapshots.map((c) => mean(c.batches.fromDeviceFrames, c.batches.fromDevice))],
    ['batches from underlay', ...snapshots.map((c) => mean(c.batches.fromUnderlayFrames, c.batches.fromUnderlay))],
    ['underlay datagrams sent', ...underlays.map((u) => String(u.sent))],
    ['underlay datagrams received', ...underlays.map((u) => String(u.received))],
  ];
  if (underlays.some((u) => u.sendErrors > 0)) rows.push(['underlay send errors', ...underlays.map((u) => String(u.sendErrors))]);
  const dropped = DROP_REASONS.filter((reason) => snapshots.some((c) => c.drops[reason] > 0));
  for (const reason of dropped) rows.push([`drops ${reason}`, ...snapshots.map((c) => String(c.drops[reason]))]);
  if (dropped.length === 0) rows.push(['drops (any reason)', ...snapshots.map(() => '0')]);
  return rows;
}

// ---------------------------------------------------------------------------- entry

export async function demoCommand(options: DemoOptions): Promise<number> {
  const count = options.count ?? DEFAULT_STREAM_COUNT;
  if (!Number.isInteger(count) || count < 1 || count > MAX_STREAM_COUNT) throw new RangeError(`--count must be 1..${MAX_STREAM_COUNT}`);
  const socketBytes = options.underlaySocketBytes;
  if (socketBytes !== undefined && !(Number.isInteger(socketBytes) && socketBytes >= 4096 && socketBytes <= 2 ** 30)) {
    throw new RangeError(`underlaySocketBytes must be an integer in 4096..${2 ** 30}, got ${String(socketBytes)}`);
  }
  const writeError = options.writeError ?? ((line: string) => process.stderr.write(line + '\n'));
  if (process.platform !== 'linux') {
    writeError(`vxlan-wasm demo: the forwarder's sockets and TAP are made through Linux system calls; this is ${process.platform}`);
    return 2;
  }
  return options.netns ? netnsDemo(options.write, writeError) : loopbackDemo(count, options.write, options.pcap, options.underlaySocketBytes);
}

// ---------------------------------------------------------------------------- rootless demo

async function loopbackDemo(count: number, write: (line: string) => void, pcapPath: string | undefined, socketBuffer: number | undefined): Promise<number> {
  const failures: string[] = [];
  const underlayA = new CapturingUnderlay(UdpUnderlay.open({ address: '127.0.0.1', port: 0, socketBuffer }));
  let underlayB: CapturingUnderlay;
  try {
    underlayB = new CapturingUnderlay(UdpUnderlay.open({ address: '127.0.0.2', port: 0, socketBuffer }));
  } catch (error) {
    await underlayA.close();
    throw error;
  }
  const a = { name: 'A', underlay: underlayA, host: new UserspaceHost({ name: 'a', mac: '02:00:00:00:00:0a', ip: '10.42.0.1' }) };
  const b = { name: 'B', underlay: underlayB, host: new UserspaceHost({ name: 'b', mac: '02:00:00:00:00:0b', ip: '10.42.0.2' }) };
  const endpointA = { address: underlayA.localAddress, port: underlayA.localPort };
  const endpointB = { address: underlayB.localAddress, port: underlayB.localPort };
  const fa = new Forwarder({ underlay: underlayA, networks: [{ vni: VNI, device: a.host, peers: [endpointB] }] });
  const fb = new Forwarder({ underlay: underlayB, networks: [{ vni: VNI, device: b.host, peers: [endpointA] }] });
  const vteps = [{ ...a, forwarder: fa, peer: b }, { ...b, forwarder: fb, peer: a }];
  const nameOf = (endpoint: Endpoint) => (endpoint.address === endpointA.address && endpoint.port === endpointA.port ? 'A' : endpoint.address === endpointB.address && endpoint.port === endpointB.port ? 'B' : where(endpoint));

  write(`vxlan-wasm demo: two forwarders (userspace VTEPs) over loopback UDP, no root needed; kernels: ${backendName()}`);
  for (const v of vteps) {
    write(`  forwarder ${v.name}  underlay udp ${where({ address: v.underlay.localAddress, port: v.underlay.localPort })}  VNI ${VNI}  peer ${v.peer.name}  device: userspace host ${v.host.name} ${v.host.macText} ${v.host.ipText}/24`);
  }

  let tracing = false;
  for (const v of vteps) {
    v.forwarder.on('fdb', (events: { type: string; mac: string; endpoint: number }[]) => {
      for (const event of events) {
        const endpoint = v.forwarder.endpoint(event.endpoint);
        write(`  ${v.name} ${event.type} ${event.mac} behind ${endpoint === undefined ? `endpoint ${event.endpoint}` : `${nameOf(endpoint)} (${where(endpoint)})`}`);
      }
    });
    v.forwarder.on('error', (error: Error) => failures.push(`forwarder ${v.name} failed: ${error.message}`));
    v.underlay.budget = CAPTURE_BEFORE_STREAM;
    // Live, for the few datagrams of the ARP and ping steps: how each one left and why.
    v.underlay.onCapture = (record) => {
      if (!tracing) return;
      const inner = record.datagram.subarray(8);
      const destination = formatMac(inner);
      const known = (inner[0] & 1) === 0 && v.forwarder.fdbEntries(VNI).some((entry) => entry.mac === destination);
      const how = known ? `unicast (${destination} is in ${v.name}'s FDB)` : (inner[0] & 1) === 1 ? 'flooded (broadcast: every peer of the VNI)' : 'flooded (unknown unicast)';
      write(`  ${v.name} -> ${nameOf(record.to)}  VNI ${vniOf(record.datagram)}  ${formatInnerSummary(summarizeInner(inner))}  ${how}`);
    };
  }

  let pcapWritten: string | undefined;
  try {
    fa.start();
    fb.start();

    write('');
    write(`ping 10.42.0.2 from host a: ARP first, through the overlay (a knows no MAC for 10.42.0.2, no FDB knows a MAC)`);
    tracing = true;
    // 10 s for ARP and each reply. The first ARP request waits in B's socket until B's reader
    // thread runs, which starts after fb.start() returns: on a shared 2-core machine under load
    // that took more than 3 s. The requests are retried, less and less often (at most 12 in 10 s);
    // a reply lost for good still fails the check.
    const ping = await a.host.ping('10.42.0.2', { count: PINGS, intervalMs: 50, timeoutMs: PING_TIMEOUT_MS });
    tracing = false;
    write(`  a resolved 10.42.0.2 is-at ${a.host.neighbour('10.42.0.2') ?? '(nothing)'}`);
    ping.rttMs.forEach((rtt, i) => write(`  echo reply ${i + 1} from 10.42.0.2: ${ms(rtt)} ms`));
    const sorted = [...ping.rttMs].sort((x, y) => x - y);
    write(`  ${ping.received}/${ping.sent} replies` + (sorted.length ? `, rtt min/median/max ${ms(sorted[0])}/${ms(sorted[sorted.length >> 1])}/${ms(sorted[sorted.length - 1])} ms` : ''));
    if (ping.received !== PINGS) failures.push(`ping: ${ping.received} of ${PINGS} echo replies`);

    write('');
    const window = streamWindow(underlayB.inner as UdpUnderlay);
    write(`UDP stream a -> b (10.42.0.2:${STREAM_PORT}): ${count} datagrams of ${STREAM_PAYLOAD} B payload (${STREAM_PAYLOAD + 42} B frames), at most ${window.datagrams} in flight (${window.why})`);
    for (const v of vteps) v.underlay.budget = CAPTURE_OF_STREAM;
    const stream = await sendWindowed(a.host, b.host, count, window.datagrams);
    if (stream.stalled) failures.push(`UDP stream: nothing arrived for ${STREAM_STALL_MS} ms with ${stream.sent - b.host.udpReceived(STREAM_PORT).count} datagrams in flight`);
    const stats = b.host.udpReceived(STREAM_PORT);
    const seconds = Math.max(stream.elapsedMs, 0.001) / 1000;
    const lost = stream.sent - stats.count;
    write(`  sent ${stream.sent}; b received ${stats.count} (${lost} lost, ${stats.outOfOrder} out of order, ${stats.duplicates} duplicated) in ${ms(stream.elapsedMs)} ms`);
    write(`  ${Math.round(stats.count / seconds)} datagrams/s, ${((stats.count * STREAM_PAYLOAD * 8) / seconds / 1e9).toFixed(2)} Gbit/s of UDP payload (both forwarders share this one thread)`);
    if (stream.sent !== count || stats.count !== count || stats.duplicates !== 0) failures.push(`UDP stream: ${stats.count} of ${count} datagrams arrived (${stream.sent} sent, ${stats.duplicates} duplicated)`);

    write('');
    write(`MAC learning: each forwarder's FDB for VNI ${VNI} (learned from the outer source of what it received)`);
    for (const v of vteps) {
      const entries = v.forwarder.fdbEntries(VNI);
      for (const entry of entries) {
        write(`  ${v.name}: ${entry.mac} -> ${nameOf(entry)} (${where(entry)}) ${entry.static ? 'static' : `learned, last seen ${ms(entry.ageMs ?? 0)} ms ago`}`);
      }
      const peerEndpoint = { address: v.peer.underlay.localAddress, port: v.peer.underlay.localPort };
      const expected = entries.length === 1 && entries[0].mac === v.peer.host.macText && !entries[0].static
        && entries[0].address === peerEndpoint.address && entries[0].port === peerEndpoint.port;
      if (!expected) failures.push(`FDB of ${v.name}: expected only ${v.peer.host.macText} learned behind ${where(peerEndpoint)}, found ${entries.length} entries`);
    }
    const flooded = [fa, fb].map((f) => f.counters().networks[0].flooded);
    if (flooded[0] < 1 || flooded[1] !== 0) failures.push(`flooding: A flooded ${flooded[0]} (expected the ARP request), B flooded ${flooded[1]} (expected none: its reply is unicast)`);
  } catch (error) {
    failures.push((error as Error).message);
  } finally {
    tracing = false;
  }

  write('');
  write('Counters');
  const snapshots = [fa.counters(), fb.counters()];
  for (const line of table(counterRows(['forwarder A', 'forwarder B'], snapshots, [underlayA.counters, underlayB.counters]))) write(line);
  const drops = snapshots.flatMap((c, i) => DROP_REASONS.filter((r) => c.drops[r] > 0).map((r) => `${vteps[i].name} ${r} ${c.drops[r]}`));
  if (drops.length > 0) failures.push(`drops: ${drops.join(', ')}`);

  try {
    pcapWritten = writeSample(write, [...underlayA.captured, ...underlayB.captured], nameOf, pcapPath, failures);
  } catch (error) {
    failures.push(`capture: ${(error as Error).message}`);
  }

  await Promise.all([fa.close(), fb.close()]);

  write('');
  if (failures.length === 0) {
    write(`all checks passed: ARP through the overlay (request flooded, reply unicast), ${PINGS}/${PINGS} pings, ${count}/${count} datagrams, both MACs learned, no drops`);
    if (pcapWritten) write(`the capture is kept at ${pcapWritten}`);
    return 0;
  }
  for (const failure of failures) write(`FAILED: ${failure}`);
  return 1;
}

/**
 * How many stream datagrams may be in flight: STREAM_WINDOW, or fewer when b's socket receive
 * buffer (what the kernel granted: without root, at most net.core.rmem_max, 208 KiB on a stock
 * kernel, doubled) holds fewer. B's reader thread takes datagrams off that socket; on a busy
 * machine it may wait for a core while a, on the main thread, keeps sending, and whatever the
 * buffer cannot hold the kernel drops. A window the buffer holds cannot overflow it.
 */
function streamWindow(underlay: UdpUnderlay): { datagrams: number; why: string } {
  const value = new Uint32Array(1);
  const granted = C.libc().getsockopt(underlay.fd, C.SOL_SOCKET, C.SO_RCVBUF, value, new Uint32Array([4])) === 0 ? value[0] : 0;
  const fits = Math.floor(granted / STREAM_DATAGRAM_CHARGE);
  if (fits >= STREAM_WINDOW) return { datagrams: STREAM_WINDOW, why: `b's socket buffer of ${granted >> 10} KiB holds more` };
  return { datagrams: Math.max(1, fits), why: `what b's socket buffer of ${granted >> 10} KiB holds` };
}

/**
 * The stream, with a window: UDP has no flow control, and a burst larger than what the receiving
 * side buffers would be lost on the way however fast the forwarders are. So a keeps at most
 * `window` datagrams in flight, as a TCP sender would, and sends a quarter window at a time when
 * that much has arrived; both hosts are in this process, so a knows what b received, and waits
 * for it without spinning (udpArrival: woken by the arrival itself), leaving the cores to the
 * reader threads. The rate is then what the two forwarders sustain. Stops (stalled) only when
 * nothing arrives for STREAM_STALL_MS.
 */
async function sendWindowed(sender: UserspaceHost, receiver: UserspaceHost, count: number, window: number): Promise<{ sent: number; elapsedMs: number; stalled: boolean }> {
  const chunk = Math.max(1, window >> 2);
  const base = receiver.udpReceived(STREAM_PORT).count;
  const started = performance.now();
  let sent = 0;
  let lastAt = started;
  let arrived = 0;
  while (arrived < count) {
    if (sent < count && sent - arrived <= window - chunk) {
      sent += (await sender.sendUdpStream('10.42.0.2', STREAM_PORT, { count: Math.min(chunk, count - sent), payloadLength: STREAM_PAYLOAD, stallTimeoutMs: STREAM_STALL_MS })).sent;
      continue;
    }
    // Room for the next chunk, or after the last one every datagram.
    const needed = sent < count ? sent - (window - chunk) : sent;
    const reached = await receiver.udpArrival(STREAM_PORT, base + needed, STREAM_STALL_MS);
    const now = receiver.udpReceived(STREAM_PORT).count - base;
    if (now !== arrived) {
      arrived = now;
      lastAt = performance.now();
    } else if (!reached) {
      return { sent, elapsedMs: lastAt - started, stalled: true };
    }
  }
  return { sent, elapsedMs: lastAt - started, stalled: false };
}

/**
 * Decode one sample datagram (the first echo request A sent) and write every captured datagram to
 * a pcap, each inside outer Ethernet/IPv4/UDP headers rebuilt by encapsulate(). Returns the path.
 */
function writeSample(
  write: (line: string) => void, captured: CapturedDatagram[], nameOf: (endpoint: Endpoint) => string,
  pcapPath: string | undefined, failures: string[],
): string | undefined {
  captured.sort((x, y) => (x.timeNs < y.timeNs ? -1 : x.timeNs > y.timeNs ? 1 : 0));
  if (captured.length === 0) {
    failures.push('no datagram was captured');
    return undefined;
  }
  const frames = captured.map((record) => {
    const frame = encapsulate(record.datagram.subarray(8), {
      vni: vniOf(record.datagram),
      // Loopback has no Ethernet: the outer MACs are zero, as a capture on `lo` shows them.
      source: { mac: '00:00:00:00:00:00', ip: record.from.address, port: record.from.port },
      destination: { mac: '00:00:00:00:00:00', ip: record.to.address, port: record.to.port },
    });
    // The rebuilt VXLAN header must be the one that was sent, byte for byte.
    const sent = record.datagram.subarray(0, 8);
    const rebuilt = frame.subarray(frame.length - record.datagram.length, frame.length - record.datagram.length + 8);
    if (!sent.every((byte, i) => byte === rebuilt[i])) failures.push(`capture: the VXLAN header sent (${Buffer.from(sent).toString('hex')}) is not what encapsulate() writes`);
    return frame;
  });

  const sampleIndex = Math.max(0, captured.findIndex((record) => summarizeInner(record.datagram.subarray(8)).icmp?.type === 8));
  const sample = captured[sampleIndex];
  const header = sample.datagram.subarray(0, 8);
  const ports = [...new Set(captured.map((record) => record.to.port))].slice(0, 4);
  const outer = decapsulate(frames[sampleIndex], { ports });
  write('');
  write(`Sample frame: datagram ${sampleIndex + 1} of the capture, as ${nameOf(sample.from)} sent it to ${nameOf(sample.to)}`);
  write(`  VXLAN header ${Buffer.from(header).toString('hex').replace(/(..)(?!$)/g, '$1 ')}: flags ${vxlanFlags(header[0])}, VNI ${outer.vxlan.vni}, reserved bytes zero`);
  write(`  inner frame  ${formatInnerSummary(summarizeInner(sample.datagram.subarray(8)))}`);
  write(`  outer (rebuilt) IPv4 ${where(sample.from)} > ${where(sample.to)} UDP ${sample.datagram.length + 8} B, checksums verified by decapsulate()`);

  const path = pcapPath === undefined ? join(mkdtempSync(join(tmpdir(), 'vxlan-demo-')), 'overlay.pcap') : resolve(pcapPath);
  if (pcapPath !== undefined) mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, writePcap(frames.map((data, i) => ({ data, timestampNs: captured[i].timeNs }))));
  write(`  ${captured.length} datagrams (ARP, ping, the first of the stream) written to ${path}`);
  write(`  their outer Ethernet/IPv4/UDP headers are RECONSTRUCTED with encapsulate() from the real addresses and ports: a UDP socket underlay sends only the VXLAN datagram, the kernel adds the rest`);
  // As a clone runs it (the package is not on PATH there): npx finds the bin of the package it is in.
  write(`  read it: npx vxlan-wasm decode ${path} ${ports.map((port) => `--port ${port}`).join(' ')}`);
  return path;
}

// ---------------------------------------------------------------------------- --netns demo

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Processes started here that may still run: killed by the cleanup. */
const children = new Set<ChildProcess>();

function run(command: string, args: string[], timeoutMs = 10_000): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      children.delete(child);
      fail(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      done({ code, stdout, stderr });
    });
  });
}

/** `ip ARGS`, which must succeed. Never spawnSync while a forwarder runs on this thread. */
async function ip(...args: string[]): Promise<string> {
  const result = await run('ip', args);
  if (result.code !== 0) throw new Error(`ip ${args.join(' ')}: ${result.stderr.trim() || `exit ${result.code}`}`);
  return result.stdout;
}

async function installed(command: string, args: string[]): Promise<boolean> {
  try {
    await run(command, args, 5000);
    return true;
  } catch {
    return false;
  }
}

const CLONE_NEWNET = 0x40000000;
/** An iperf3 run of 3 s, with its connection and report, gets this long before it is killed. */
const IPERF_LIMIT_MS = 8000;
/** Seconds the first ping through the --netns forwarder may take (see netnsDemo). */
const WARM_UP_S = 10;

/**
 * Run `open` with this thread inside the named network namespace, then come back. What `open`
 * creates (a TAP, a socket) stays in that namespace; workers reading it later need not be there.
 */
function inNamespace<T>(namespace: string, open: () => T): T {
  const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
  const setns = koffi.load('libc.so.6').func('int setns(int fd, int nstype)') as (fd: number, type: number) => number;
  const home = openSync('/proc/thread-self/ns/net', 'r');
  try {
    const target = openSync(`/var/run/netns/${namespace}`, 'r');
    try {
      if (setns(target, CLONE_NEWNET) !== 0) throw new Error(`setns into namespace ${namespace} failed (errno ${koffi.errno()})`);
    } finally {
      closeSync(target);
    }
    try {
      return open();
    } finally {
      // Staying in the demo's namespace would put everything this process opens later there.
      if (setns(home, CLONE_NEWNET) !== 0) throw new Error(`setns back to this process's network namespace failed (errno ${koffi.errno()})`);
    }
  } finally {
    closeSync(home);
  }
}

async function netnsDemo(write: (line: string) => void, writeError: (line: string) => void): Promise<number> {
  if (process.getuid?.() !== 0) {
    writeError('vxlan-wasm demo --netns needs root: it makes network namespaces, a veth pair, a TAP and a kernel vxlan device (run `vxlan-wasm demo` without --netns for the rootless demo)');
    return 2;
  }
  for (const [tool, args, what] of [['ip', ['-V'], 'iproute2'], ['ping', ['-V'], 'iputils-ping']] as const) {
    if (!(await installed(tool, [...args]))) {
      writeError(`vxlan-wasm demo --netns needs \`${tool}\` (${what}), which is not installed`);
      return 2;
    }
  }
  const hasIperf = await installed('iperf3', ['--version']);
  const id = process.pid;
  const nsA = `vxdemo-a-${id}`;
  const nsB = `vxdemo-b-${id}`;
  const vethA = `vxa${id}`;
  const vethB = `vxb${id}`;
  const tapName = `vxt${id}`;
  const failures: string[] = [];
  const made: string[] = [];
  let forwarder: Forwarder | undefined;
  let underlay: UdpUnderlay | undefined;
  let tap: TapDevice | undefined;

  let cleaning: Promise<void> | undefined;
  const cleanup = () => (cleaning ??= (async () => {
    for (const child of children) child.kill('SIGKILL');
    // The forwarder first: closing the TAP's fd removes the TAP; then the namespaces can go.
    if (forwarder !== undefined) await forwarder.close();
    else await Promise.all([tap?.close(), underlay?.close()]);
    for (const namespace of made.reverse()) {
      const result = await run('ip', ['netns', 'del', namespace]).catch((error: Error) => ({ code: 1, stderr: error.message }));
      if (result.code !== 0) writeError(`could not remove network namespace ${namespace}: ${result.stderr.trim()}`);
    }
  })());
  const onSignal = (signal: NodeJS.Signals) => {
    writeError(`${signal}: removing the demo's namespaces`);
    void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    write(`vxlan-wasm demo --netns: a forwarder with a TAP in namespace ${nsA}, the Linux kernel's vxlan device in ${nsB}; kernels: ${backendName()}`);
    for (const namespace of [nsA, nsB]) {
      await ip('netns', 'add', namespace);
      made.push(namespace);
      await ip('-n', namespace, 'link', 'set', 'lo', 'up');
    }
    await ip('-n', nsA, 'link', 'add', vethA, 'type', 'veth', 'peer', 'name', vethB, 'netns', nsB);
    await ip('-n', nsA, 'addr', 'add', '10.77.0.1/24', 'dev', vethA);
    await ip('-n', nsA, 'link', 'set', vethA, 'up');
    await ip('-n', nsB, 'addr', 'add', '10.77.0.2/24', 'dev', vethB);
    await ip('-n', nsB, 'link', 'set', vethB, 'up');
    write(`  underlay: veth ${vethA} 10.77.0.1/24 (${nsA}) <-> ${vethB} 10.77.0.2/24 (${nsB})`);
    // The veths keep Linux's default offloads: the kernel's vxlan leaves inner TCP/UDP checksums
    // partial (CHECKSUM_PARTIAL survives a veth) and sends super-packets whole; the forwarder
    // finishes the one and splits the other.
    await ip('-n', nsB, 'link', 'add', 'vx0', 'type', 'vxlan', 'id', String(VNI), 'local', '10.77.0.2', 'remote', '10.77.0.1', 'dstport', '4789', 'dev', vethB);
    await ip('-n', nsB, 'addr', 'add', '10.42.0.2/24', 'dev', 'vx0');
    await ip('-n', nsB, 'link', 'set', 'vx0', 'up');
    write(`  ${nsB}: kernel vxlan vx0 id ${VNI} local 10.77.0.2 remote 10.77.0.1 dstport 4789, 10.42.0.2/24`);

    ({ underlay, tap } = inNamespace(nsA, () => {
      const socket = UdpUnderlay.open({ address: '10.77.0.1', port: 4789 });
      try {
        // 1450: the veth's 1500 less the 50 bytes of outer IPv4, UDP and VXLAN, as the kernel's vxlan device picks.
        return { underlay: socket, tap: TapDevice.open({ name: tapName, mtu: 1450 }) };
      } catch (error) {
        void socket.close();
        throw error;
      }
    }));
    await ip('-n', nsA, 'addr', 'add', '10.42.0.1/24', 'dev', tapName);
    forwarder = new Forwarder({ underlay, networks: [{ vni: VNI, device: tap, peers: [{ address: '10.77.0.2', port: 4789 }] }] });
    const f = forwarder;
    f.on('fdb', (events: { type: string; mac: string; endpoint: number }[]) => {
      for (const event of events) write(`  forwarder ${event.type} ${event.mac} behind ${where(f.endpoint(event.endpoint) ?? { address: '?', port: 0 })}`);
    });
    f.on('error', (error: Error) => failures.push(`forwarder failed: ${error.message}`));
    f.start();
    write(`  ${nsA}: forwarder, TAP ${tap.name} ${tap.mac} mtu ${tap.mtu} 10.42.0.1/24, underlay udp 10.77.0.1:4789, peer 10.77.0.2:4789`);

    // The forwarder reads its TAP and socket in reader threads, which start after start()
    // returns; on a busy machine that takes seconds, longer than the kernel's ARP in A tries
    // (3 probes a second apart) before it drops what waits for an answer. So one ping, resent
    // each second, first: the three that are counted then find the path up, ARP answered.
    write('');
    write(`ping 10.42.0.2 in ${nsA} until the first reply (the forwarder's reader threads may still be starting)`);
    const warmUpStarted = performance.now();
    const warmUp = await run('ip', ['netns', 'exec', nsA, 'ping', '-c', '1', '-i', '1', '-w', String(WARM_UP_S), '10.42.0.2'], (WARM_UP_S + 5) * 1000);
    if (/\b1 (?:packets )?received/.test(warmUp.stdout)) write(`  first reply after ${ms(performance.now() - warmUpStarted)} ms`);
    else failures.push(`no ping reply from 10.42.0.2 in ${nsA} within ${WARM_UP_S} s${warmUp.stderr ? ` (${warmUp.stderr.trim()})` : ''}`);

    for (const [namespace, target] of [[nsA, '10.42.0.2'], [nsB, '10.42.0.1']]) {
      write('');
      write(`ping -c ${PINGS} ${target} in ${namespace}`);
      const ping = await run('ip', ['netns', 'exec', namespace, 'ping', '-c', String(PINGS), '-i', '0.2', '-W', '2', target], 15_000);
      for (const line of ping.stdout.split('\n')) if (/bytes from|packets transmitted|rtt/.test(line)) write(`  ${line.trim()}`);
      const received = Number(/(\d+) (?:packets )?received/.exec(ping.stdout)?.[1] ?? 0);
      if (received !== PINGS) failures.push(`ping ${target} from ${namespace}: ${received} of ${PINGS} replies${ping.stderr ? ` (${ping.stderr.trim()})` : ''}`);
    }

    write('');
    if (!hasIperf) {
      write('iperf3 is not installed: no TCP throughput measured (apt-get install iperf3)');
    } else {
      const server = spawn('ip', ['netns', 'exec', nsB, 'iperf3', '-s', '-B', '10.42.0.2', '--forceflush'], { stdio: ['ignore', 'pipe', 'ignore'] });
      children.add(server);
      server.on('close', () => children.delete(server));
      await new Promise<void>((ready) => {
        const timer = setTimeout(ready, 3000);
        server.stdout!.setEncoding('utf8').on('data', (text: string) => {
          if (text.includes('listening')) {
            clearTimeout(timer);
            ready();
          }
        });
      });
      for (const reverse of [false, true]) {
        const label = reverse ? 'kernel vxlan (B) -> forwarder (A)' : 'forwarder (A) -> kernel vxlan (B)';
        const result = await run('ip', ['netns', 'exec', nsA, 'iperf3', '-c', '10.42.0.2', '-t', '3', '-J', '--connect-timeout', '3000', ...(reverse ? ['-R'] : [])], IPERF_LIMIT_MS);
        let report: { end?: { sum_received?: { bits_per_second?: number } }; error?: string } = {};
        try {
          report = JSON.parse(result.stdout);
        } catch {
          // no JSON: killed at the time limit, or iperf3 failed before it printed any
        }
        const bits = report.end?.sum_received?.bits_per_second ?? 0;
        if (bits > 0) {
          write(`iperf3 TCP 3 s, ${label}: ${(bits / 1e9).toFixed(2)} Gbit/s`);
        } else {
          const why = report.error ?? (result.code === null ? `no result within ${IPERF_LIMIT_MS / 1000} s` : (result.stderr.trim() || `exit ${result.code}`));
          failures.push(`iperf3 ${label}: ${why}`);
        }
      }
      server.kill('SIGTERM');
    }

    write('');
    write('Counters');
    for (const line of table(counterRows(['forwarder A'], [f.counters()], [underlay.counters]))) write(line);
    write(`  TAP ${tap.name}: ${tap.counters.received} frames read, ${tap.counters.sent} written, ${tap.counters.writeErrors} refused`);
  } catch (error) {
    failures.push((error as Error).message);
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  write('');
  if (failures.length === 0) {
    write(`all checks passed: ping both ways through the forwarder and the kernel's vxlan${hasIperf ? ', iperf3 both ways' : ''}; namespaces removed`);
    return 0;
  }
  for (const failure of failures) write(`FAILED: ${failure}`);
  return 1;
}
