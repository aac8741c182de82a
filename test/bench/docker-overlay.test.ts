/**
 * bench/docker-overlay.ts's report and charts, from a made-up run: medians of the repetitions,
 * the ratios against swarm and the kernel and whether the goals are met, a failed path
 * said rather than drawn, and BENCHMARKS.md's section replaced between its markers only. The
 * DNS responder the Docker hosts use (test/helpers/dns-nxdomain.ts) answers NXDOMAIN with the
 * question and id, and drops what is not a query.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import dnsPacket from 'dns-packet';
import {
  BEGIN_MARKER, dockerLatencyChart, dockerNamesChart, dockerOverlayMarkdown, dockerTcpChart, END_MARKER, writeBenchmarksSection,
  type DockerOverlayResult, type RoundResult,
} from '../../bench/docker/report';
import { nxdomainFor } from '../helpers/dns-nxdomain';

function round(path: string, repeat: number, tcp: number, extra: Partial<RoundResult> = {}): RoundResult {
  return { path, repeat, tcpForwardGbps: tcp, tcpReverseGbps: tcp * 2, pingMedianMs: 0.05 * repeat, pingP99Ms: 0.1, sockperfP50Us: 10, sockperfP99Us: 20, errors: [], ...extra };
}

function result(): DockerOverlayResult {
  return {
    machine: { cpuModel: 'test CPU', logicalCores: 2, cpuFlags: [], memoryGiB: 8, kernel: 'Linux 6', node: 'v20', v8: '11', gcc: null, gitCommit: 'abcdef0123456789', gitDirty: false, distBuiltAt: null, date: '2026-01-01T00:00:00Z', loadAverageAtStart: [1, 1, 1] },
    settings: { repeats: 3, tcpSeconds: 5, pingCount: 200, pingIntervalSeconds: 0.01, sockperfSeconds: 3, quick: false, contenders: ['swarm', 'vxlan-wasm', 'broken'] },
    harness: { totalMs: 900, daemonsMs: 300, imageMs: 200 },
    paths: [
      { id: 'kernel', label: 'kernel ↔ kernel' },
      { id: 'swarm', label: 'swarm', setUpMs: 800 },
      { id: 'vxlan-wasm', label: 'vxlan-wasm', setUpMs: 2000 },
      { id: 'broken', label: 'broken one', error: 'no driver' },
    ],
    rounds: [
      round('kernel', 1, 14), round('kernel', 2, 16), round('kernel', 3, 15),
      round('swarm', 1, 12, { nameResolveMs: 400, dockerRunMs: 900 }), round('swarm', 2, 10, { nameResolveMs: 500, dockerRunMs: 1000 }),
      round('swarm', 3, 11, { nameResolveMs: 450, dockerRunMs: 950 }),
      round('vxlan-wasm', 1, 6, { nameResolveMs: 200 }), round('vxlan-wasm', 2, 4, { nameResolveMs: 100 }),
      round('vxlan-wasm', 3, 5, { nameResolveMs: 150, errors: ['ping: no reply'], pingMedianMs: undefined }),
    ],
  };
}

test('dockerOverlayMarkdown: medians per path, ratios to swarm and the kernel, goals, failures listed', () => {
  const markdown = dockerOverlayMarkdown(result());
  // The medians: kernel TCP 15 / 30, swarm 11 / 22 and names 450 ms, vxlan-wasm 5 / 10 and names 150 ms.
  assert.match(markdown, /\| kernel ↔ kernel \| 15\.00 \| 30\.00 \| 0\.100 \|/);
  assert.match(markdown, /\| swarm \(set up in 0\.8 s\) \| 11\.00 \| 22\.00 \|.*\| 450 \| 950 \|/);
  // vxlan-wasm's ping: the two runs that had one (0.05 and 0.10 ms) give 0.075.
  assert.match(markdown, /\| vxlan-wasm \(set up in 2\.0 s\) \| 5\.00 \| 10\.00 \| 0\.075 \|.*\| 150 \| – \|/);
  assert.match(markdown, /\| broken one \| – \| – \|/);
  assert.match(markdown, /Swarm's overlay carries 0\.73× \/ 0\.73× the TCP of the bare kernel/);
  assert.match(markdown, /vxlan-wasm: 0\.45× \/ 0\.45× swarm's TCP \(goal ≥ 0\.5×: NOT met\); names resolve after 150 ms vs swarm's 450 ms \(goal: sooner: met\)/);
  assert.match(markdown, /- broken one: no driver/);
  assert.match(markdown, /- vxlan-wasm #3: ping: no reply/);
  assert.match(markdown, /3 repetitions, medians\./);
});

test('the charts: self-contained SVG, bars from the medians, a failed path named and not drawn', () => {
  for (const svg of [dockerTcpChart(result()), dockerLatencyChart(result()), dockerNamesChart(result())]) {
    assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
    assert.equal(svg.match(/https?:\/\/[^"]*/g), ['http://www.w3.org/2000/svg']);
    assert.not.match(svg, /<script|href=/);
  }
  const tcp = dockerTcpChart(result());
  assert.match(tcp, /swarm, h1 → h2: 11\.0</);
  assert.match(tcp, /vxlan-wasm, h2 → h1: 10\.0</);
  assert.match(tcp, />h1 → h2: not measured \(set-up failed\)</);
  assert.match(tcp, />broken one</);
  // Ping in µs: the kernel's median 0.1 ms is 100 µs.
  assert.match(dockerLatencyChart(result()), /kernel ↔ kernel, ping median: 100</);
  const names = dockerNamesChart(result());
  assert.match(names, /swarm, name resolves on h2: 450</);
  assert.not.match(names, /kernel ↔ kernel/, 'no names row for the kernel path');
});

test('writeBenchmarksSection: replaces between the markers, or appends a section', () => {
  const before = `# B\n\ntext\n\n${BEGIN_MARKER}\n\nold\n\n${END_MARKER}\n\nafter\n`;
  const after = writeBenchmarksSection(before, 'new');
  assert.is(after, `# B\n\ntext\n\n${BEGIN_MARKER}\n\nnew\n\n${END_MARKER}\n\nafter\n`);
  const appended = writeBenchmarksSection('# B\n', 'first');
  assert.ok(appended.startsWith('# B\n\n## Containers across two Docker hosts\n'));
  assert.is(writeBenchmarksSection(appended, 'second').includes('first'), false);
});

test('dns-nxdomain: NXDOMAIN with the id and question of the query; a response or garbage dropped', () => {
  const query = dnsPacket.encode({ type: 'query', id: 4242, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: 'nothing.invalid' }] });
  const answer = dnsPacket.decode(nxdomainFor(query)!);
  assert.is(answer.type, 'response');
  assert.is(answer.id, 4242);
  assert.is((answer as { rcode?: string }).rcode, 'NXDOMAIN', 'dns-packet decodes the response code as rcode');
  assert.ok(answer.flag_rd && answer.flag_ra);
  assert.equal(answer.questions, [{ type: 'A', name: 'nothing.invalid', class: 'IN' }]);
  assert.equal(answer.answers, []);
  assert.is(nxdomainFor(nxdomainFor(query)!), undefined, 'a response is not answered');
  assert.is(nxdomainFor(Buffer.from([1, 2, 3])), undefined, 'garbage is dropped');
});

test.run();
