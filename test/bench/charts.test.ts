/**
 * The charts in BENCHMARKS.md: self-contained SVG (nothing fetched, no script), drawn from the
 * JSON's figures, with unmeasured contenders said rather than drawn as zero.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { barChart } from '../../bench/charts/svg';
import { forwarderLatencyChart, forwarderTcpChart } from '../../bench/charts/render';
import type { BenchResult } from '../../bench/forwarder/report';

function assertSelfContained(svg: string) {
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'), 'starts with an svg element');
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  // The only URL is the SVG namespace: no href, no script, no external style or font.
  assert.equal(svg.match(/https?:\/\/[^"]*/g), ['http://www.w3.org/2000/svg']);
  assert.not.match(svg, /<script|href=|@import|url\(/);
  const opened = (svg.match(/<(rect|text|path|line|title)\b/g) ?? []).length;
  const closed = (svg.match(/<\/(rect|text|title)>|\/>/g) ?? []).length;
  assert.ok(closed >= opened, `${opened} elements opened, ${closed} closed`);
}

test('barChart: bars scale with the values, labels escaped, a missing figure is named, not drawn', () => {
  const svg = barChart({
    title: 'A < B & "C"',
    unit: 'Mpackets/s',
    series: ['native C', 'WASM'],
    groups: [
      { label: 'encap, inner 64 B', bars: [{ series: 'native C', value: 200, low: 190, high: 210 }, { series: 'WASM', value: 100 }] },
      { label: 'decap', bars: [{ series: 'native C', value: NaN, note: 'NOT RUN' }, { series: 'WASM', value: 50 }] },
    ],
  });
  assertSelfContained(svg);
  assert.match(svg, /A &lt; B &amp; &quot;C&quot;/);
  const widths = [...svg.matchAll(/<rect x="\d+" y="[\d.]+" width="([\d.]+)" height="12" fill="#[0-9A-F]+"><title>/g)].map((m) => Number(m[1]));
  assert.is(widths.length, 3, 'three measured bars');
  assert.ok(Math.abs(widths[0] / widths[1] - 2) < 0.02, `200 vs 100 drawn ${widths[0]} vs ${widths[1]}`);
  assert.ok(Math.abs(widths[1] / widths[2] - 2) < 0.02, `100 vs 50 drawn ${widths[1]} vs ${widths[2]}`);
  assert.match(svg, />native C: NOT RUN</);
  assert.match(svg, />200</);
});

test('forwarderTcpChart: the median of the repeats per path and direction, from bench/forwarder.ts JSON', () => {
  const runs = (path: string, direction: string, gbps: number[]) => gbps.map((value, repeat) => ({ path, direction, repeat, gbps: value }));
  const result = {
    machine: { cpuModel: 'test CPU', logicalCores: 2, node: 'v20', gitCommit: 'abc', loadAverageAtStart: [1, 1, 1] },
    settings: { repeats: 3 },
    tcp: [...runs('kernel', 'ab', [14, 15, 13]), ...runs('kernel', 'ba', [12, 12, 12]), ...runs('ff', 'ab', [1, 1.2, 1.1])],
  } as unknown as BenchResult;
  const svg = forwarderTcpChart(result);
  assertSelfContained(svg);
  assert.match(svg, /kernel ↔ kernel, host A → host B: 14\.0</);
  assert.match(svg, /forwarder ↔ forwarder, defaults, host A → host B: 1\.10</);
  assert.match(svg, /host B → host A: not measured/);
});

test('forwarderLatencyChart: p50 bars per path, idle and under load; a p99 of tens of ms does not set the axis', () => {
  const q = (p50: number, p99: number) => ({ p50, p99, samples: 100 });
  const round = (path: string, ms: number) => ({ path, round: 0, idle: { ping: q(ms, 50), tcp: q(ms / 4, 40), udp: q(ms / 4, 40) }, load: { ping: q(ms * 2, 60), tcp: q(ms, 60), udp: q(ms, 60) }, loadGbps: 5 });
  const result = {
    machine: { cpuModel: 'test CPU', logicalCores: 2, node: 'v20', gitCommit: 'abcdef0123456789', date: '2026-12-07T10:00:00.000Z', loadAverageAtStart: [1, 1, 1] },
    settings: { latencyRounds: 1 },
    latency: [round('kernel', 0.04), round('fk', 0.4)],
  } as unknown as BenchResult;
  const svg = forwarderLatencyChart(result);
  assertSelfContained(svg);
  assert.match(svg, /run abcdef012345@2026-12-07T10:00:00\.000Z/);
  assert.match(svg, /forwarder ↔ kernel, defaults, ping, under load: 0\.800</);
  assert.match(svg, /kernel ↔ kernel, sockperf TCP, idle: 0\.010</);
  // The axis ends at a nice value above the largest p50 (0.8 ms), not at the p99s (≥ 40 ms).
  const ticks = [...svg.matchAll(/text-anchor="middle" font-size="11" fill="#444">([\d.]+)</g)].map((m) => Number(m[1]));
  assert.ok(Math.max(...ticks) < 2, `axis ticks ${ticks.join(', ')}`);
});

test.run();
