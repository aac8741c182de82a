// Metrics and drop logs of a Forwarder on in-memory ports: traffic the forwarder counted shows in
// /metrics over a real HTTP request to 127.0.0.1:0, each forwarder has its own registry, and
// drops are logged as one summary line per interval, never per packet.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { createKernels } from '../../src/backend';
import { Forwarder } from '../../src/forwarder/forwarder';
import { createLogger, DropReporter, kernelChecksumErrors } from '../../src/cli/log';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMetrics } from '../../src/cli/metrics';
import { ethernetFrame, FakeDevice, FakeNetwork, settle, vxlanDatagram } from '../forwarder/fakes';

const BROADCAST = 'ff:ff:ff:ff:ff:ff';
const HOST_A = '02:00:00:00:00:0a';
const HOST_B = '02:00:00:00:00:0b';

function twoHosts() {
  const network = new FakeNetwork();
  const kernels = createKernels('reference');
  const deviceA = new FakeDevice('a');
  const deviceB = new FakeDevice('b');
  const underlayA = network.underlay('10.0.0.1');
  const underlayB = network.underlay('10.0.0.2');
  const a = new Forwarder({ underlay: underlayA, networks: [{ vni: 42, device: deviceA, peers: [{ address: '10.0.0.2', port: 4789 }] }], kernels });
  const b = new Forwarder({ underlay: underlayB, networks: [{ vni: 42, device: deviceB, peers: [{ address: '10.0.0.1', port: 4789 }] }], kernels });
  a.start();
  b.start();
  return { a, b, deviceA, deviceB, underlayA, underlayB };
}

function scrape(port: number, path = '/metrics'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const request = get({ host: '127.0.0.1', port, path, agent: false, timeout: 5000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => { body += chunk; });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, type: String(response.headers['content-type']), body }));
    });
    request.on('timeout', () => request.destroy(new Error('scrape timed out')));
    request.on('error', reject);
  });
}

/** The value of one sample line, e.g. value(text, 'vxlan_frames_total{direction="to_underlay",vni="42"}'). */
function value(text: string, sample: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${sample} `));
  return line === undefined ? undefined : Number(line.slice(sample.length + 1));
}

test('traffic the forwarder counted shows in /metrics, read over HTTP from 127.0.0.1:0', async () => {
  const { a, b, deviceA, underlayA } = twoHosts();
  const metrics = createMetrics(a);
  try {
    const server = await metrics.serve('127.0.0.1', 0);
    const { port } = server.address() as AddressInfo;
    const before = await scrape(port);
    assert.is(before.status, 200);
    assert.match(before.type, /^text\/plain/);
    assert.is(value(before.body, 'vxlan_frames_total{direction="to_underlay",vni="42"}'), 0);

    // A broadcast out (flooded), a reply in (learned), then garbage from the peer (a drop).
    deviceA.inject(ethernetFrame(BROADCAST, HOST_A, 100));
    await settle();
    underlayA.deliver({ address: '10.0.0.2', port: 4789 }, vxlanDatagram(42, ethernetFrame(HOST_A, HOST_B, 46)));
    underlayA.deliver({ address: '10.0.0.2', port: 4789 }, vxlanDatagram(42, ethernetFrame(HOST_A, HOST_B), 0x00));
    underlayA.deliver({ address: '10.0.0.9', port: 4789 }, vxlanDatagram(42, ethernetFrame(HOST_A, HOST_B)));
    await settle();

    const { body } = await scrape(port);
    const counters = a.counters();
    assert.is(value(body, 'vxlan_frames_total{direction="to_underlay",vni="42"}'), 1);
    assert.is(value(body, 'vxlan_bytes_total{direction="to_underlay",vni="42"}'), 114);
    assert.is(value(body, 'vxlan_frames_total{direction="to_device",vni="42"}'), 1);
    assert.is(value(body, 'vxlan_bytes_total{direction="to_device",vni="42"}'), 60);
    assert.is(value(body, 'vxlan_flooded_total{vni="42"}'), 1);
    assert.is(value(body, 'vxlan_drops_total{reason="vxlan_i_flag_missing"}'), 1);
    assert.is(value(body, 'vxlan_drops_total{reason="unknown_source"}'), 1);
    assert.is(value(body, 'vxlan_drops_total{reason="unknown_vni"}'), 0);
    assert.is(value(body, 'vxlan_fdb_entries{vni="42"}'), 1);
    assert.is(value(body, 'vxlan_peers{vni="42"}'), 1);
    assert.is(value(body, 'vxlan_fdb_events_total{type="learned"}'), 1);
    // The broadcast was no ARP request: nothing answered, nothing counted as a flooded request.
    assert.is(value(body, 'vxlan_neighbour_requests_total{protocol="arp",outcome="answered"}'), 0);
    assert.is(value(body, 'vxlan_neighbour_requests_total{protocol="nd",outcome="flooded"}'), 0);
    assert.is(value(body, 'vxlan_fdb_events_total{type="not_learned_full"}'), 0);
    assert.is(value(body, 'vxlan_batches_total{from="device"}'), counters.batches.fromDevice);
    assert.is(value(body, 'vxlan_batch_frames_total{from="underlay"}'), counters.batches.fromUnderlayFrames);
    assert.is(value(body, 'vxlan_underlay_datagrams_total{direction="sent"}'), 1);
    assert.is(value(body, 'vxlan_underlay_datagrams_total{direction="received"}'), 2);
    assert.is(value(body, 'vxlan_underlay_errors_total{kind="unknown_source"}'), 1);
    assert.match(body, /^# TYPE vxlan_frames_total counter$/m);
    assert.match(body, /^# TYPE vxlan_fdb_entries gauge$/m);
    assert.ok(value(body, 'process_resident_memory_bytes')! > 0, 'default process metrics are there');
    assert.ok(value(body, 'process_cpu_seconds_total')! > 0);

    const missing = await scrape(port, '/');
    assert.is(missing.status, 404);
  } finally {
    await metrics.close();
    await Promise.all([a.close(), b.close()]);
  }
});

test('two forwarders in one process: own registries, no clash, the global registry untouched', async () => {
  const { a, b, deviceA } = twoHosts();
  const metricsA = createMetrics(a);
  const metricsB = createMetrics(b, { defaultMetrics: false });
  try {
    deviceA.inject(ethernetFrame(BROADCAST, HOST_A), ethernetFrame(BROADCAST, HOST_A));
    await settle();
    const textA = await metricsA.registry.metrics();
    const textB = await metricsB.registry.metrics();
    assert.is(value(textA, 'vxlan_frames_total{direction="to_underlay",vni="42"}'), 2);
    assert.is(value(textB, 'vxlan_frames_total{direction="to_underlay",vni="42"}'), 0);
    assert.is(value(textB, 'vxlan_frames_total{direction="to_device",vni="42"}'), 2);
    assert.not.match(textB, /process_resident_memory_bytes/);
    const { register } = await import('prom-client');
    assert.not.match(await register.metrics(), /vxlan_/);
  } finally {
    await Promise.all([metricsA.close(), metricsB.close(), a.close(), b.close()]);
  }
});

test("queue workers' polls: vxlan_queue_polls_total by kind where the source reports them (a MultiQueueForwarder), absent where it does not", async () => {
  const { a, b } = twoHosts();
  const polls = { waits: 7, timeouts: 1, reads: 3, drainsBusy: 0, turns: 2, rings: 0, busyPolls: 40, busyPollHits: 5 };
  let reported: typeof polls | undefined;
  const queued = createMetrics({ counters: () => a.counters(), underlay: a.underlay, pollerCounters: () => reported }, { defaultMetrics: false });
  const plain = createMetrics(a, { defaultMetrics: false });
  try {
    assert.is(value(await queued.registry.metrics(), 'vxlan_queue_polls_total{kind="wait"}'), undefined, 'nothing before the workers first report');
    reported = polls;
    const text = await queued.registry.metrics();
    assert.is(value(text, 'vxlan_queue_polls_total{kind="wait"}'), 7);
    assert.is(value(text, 'vxlan_queue_polls_total{kind="busy_poll"}'), 40);
    assert.is(value(text, 'vxlan_queue_polls_total{kind="busy_poll_hit"}'), 5);
    assert.not.match(await plain.registry.metrics(), /vxlan_queue_polls_total/);
  } finally {
    await Promise.all([queued.close(), plain.close(), a.close(), b.close()]);
  }
});

test('close() ends a kept-alive scrape connection at once and frees the port', async () => {
  const { a } = twoHosts();
  const metrics = createMetrics(a, { defaultMetrics: false });
  const server = await metrics.serve('127.0.0.1', 0);
  const { port } = server.address() as AddressInfo;
  const { Agent } = await import('node:http');
  const agent = new Agent({ keepAlive: true });
  await new Promise<void>((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/metrics', agent }, (response) => {
      response.resume();
      response.on('end', resolve);
    }).on('error', reject);
  });
  const started = performance.now();
  await metrics.close();
  agent.destroy();
  assert.ok(performance.now() - started < 1000, `close took ${performance.now() - started} ms`);
  assert.ok(!server.listening);
  await a.close();
});

test('drops are logged as one warn line per interval with what grew, nothing when nothing did', async () => {
  const { a, underlayA } = twoHosts();
  const lines: { level: number; msg: string; drops?: Record<string, number>; total?: number }[] = [];
  const sink = new PassThrough();
  sink.on('data', (chunk: Buffer) => lines.push(...chunk.toString().trim().split('\n').map((line) => JSON.parse(line))));
  const reporter = new DropReporter(a, createLogger('info', sink), 60_000, () => 7);
  try {
    for (let i = 0; i < 500; i++) underlayA.deliver({ address: '10.0.0.2', port: 4789 }, vxlanDatagram(99, ethernetFrame(HOST_A, HOST_B)));
    for (let i = 0; i < 3; i++) underlayA.deliver({ address: '10.0.0.2', port: 4789 }, new Uint8Array(4));
    await settle(40);
    assert.is(reporter.report(), true);
    assert.is(reporter.report(), false, 'nothing new: no line');
    await settle();
    assert.is(lines.length, 1, JSON.stringify(lines));
    assert.is(lines[0].level, 40);
    assert.equal(lines[0].drops, { UNKNOWN_VNI: 500, TRUNCATED: 3 });
    assert.is(lines[0].total, 503);
  } finally {
    reporter.stop();
    await a.close();
  }
});

test("the kernel's own checksum drops are reported with the forwarder's, explained once", async () => {
  const { a } = twoHosts();
  const lines: { level: number; msg: string; drops?: Record<string, number> }[] = [];
  const sink = new PassThrough();
  sink.on('data', (chunk: Buffer) => lines.push(...chunk.toString().trim().split('\n').map((line) => JSON.parse(line))));
  let kernel = 100;
  const reporter = new DropReporter(a, createLogger('info', sink), 60_000, () => kernel);
  try {
    kernel = 130;
    assert.is(reporter.report(), true);
    kernel = 131;
    assert.is(reporter.report(), true);
    await settle();
    assert.equal(lines.map((line) => line.drops?.KERNEL_CHECKSUM_ERRORS), [30, undefined, 1], JSON.stringify(lines));
    assert.match(lines[1].msg, /bad checksums \(\/proc\/net\/snmp InCsumErrors\)/);
    assert.is(lines.filter((line) => /InCsumErrors/.test(line.msg)).length, 1, 'explained once');
  } finally {
    reporter.stop();
    await a.close();
  }
});

test('kernelChecksumErrors reads the TCP and UDP InCsumErrors of /proc/net/snmp', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vxlan-snmp-'));
  try {
    const file = join(dir, 'snmp');
    writeFileSync(file, [
      'Ip: Forwarding DefaultTTL', 'Ip: 1 64',
      'Tcp: RtoAlgorithm InSegs InErrs InCsumErrors', 'Tcp: 1 100 3 5',
      'Udp: InDatagrams InErrors InCsumErrors', 'Udp: 10 2 4', '',
    ].join('\n'));
    assert.is(kernelChecksumErrors(file), 9);
    assert.is(kernelChecksumErrors(join(dir, 'missing')), undefined);
    assert.type(kernelChecksumErrors(), 'number', "this host's own");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
