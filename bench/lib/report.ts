/** Markdown tables from suite results: what run.ts prints and BENCHMARKS.md quotes. */
import type { MachineInfo } from './machine';
import type { SuiteResult } from './types';

function formatNs(ns: number): string {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e4) return `${(ns / 1e3).toFixed(1)} µs`;
  if (ns >= 100) return ns.toFixed(0);
  return ns.toFixed(1);
}

export function machineMarkdown(machine: MachineInfo): string {
  const commit = machine.gitCommit ? `${machine.gitCommit.slice(0, 12)}${machine.gitDirty ? ' (with uncommitted changes)' : ''}` : 'unknown';
  return [
    `- Machine: ${machine.cpuModel}, ${machine.logicalCores} logical cores (${machine.cpuFlags.join(' ')}), ${machine.memoryGiB} GiB, ${machine.kernel}`,
    `- Node ${machine.node} (V8 ${machine.v8}); gcc ${machine.gcc ?? 'not found'}`,
    `- Commit ${commit}; ${machine.date}; load average at start ${machine.loadAverageAtStart.join(' ')}`,
    `- Code timed: dist/index.mjs (the built package), built ${machine.distBuiltAt ?? 'NEVER (missing)'}`,
  ].join('\n');
}

export function suiteMarkdown(result: SuiteResult): string {
  const lines: string[] = [`### ${result.name}: ${result.title}`, ''];
  if (!result.available) {
    lines.push(`**NOT RUN: ${result.unavailableReason}**`, '');
    return lines.join('\n');
  }
  const groups = [...new Set(result.cases.map((c) => c.group))];
  for (const group of groups) {
    const groupCases = result.cases.filter((c) => c.group === group);
    lines.push(`**${group}**`, '');
    lines.push('| case | contender | median ns/op | p25–p75 ns | GB/s | time vs baseline |', '|---|---|---:|---:|---:|---:|');
    for (const c of groupCases) {
      for (const m of result.measurements.filter((x) => x.caseId === c.id)) {
        const name = m.contender === c.baseline ? `**${m.contender}** (baseline)` : m.contender;
        if (m.status !== 'ok' || !m.stats) {
          const detail = (m.detail ?? 'no samples').replace(/\|/g, '\\|').slice(0, 160);
          lines.push(`| ${c.label} | ${name} | **${m.status.toUpperCase()}**: ${detail} | | | |`);
          continue;
        }
        const s = m.stats;
        const showThroughput = result.contenders.find((x) => x.name === m.contender)?.throughput !== false;
        const gbps = c.bytes > 0 && showThroughput ? (c.bytes / s.medianNs).toFixed(1) : '';
        const ratio = m.ratioToBaseline === undefined ? '' : `${m.ratioToBaseline.toFixed(2)}×`;
        lines.push(`| ${c.label} | ${name} | ${formatNs(s.medianNs)} | ${formatNs(s.p25Ns)}–${formatNs(s.p75Ns)} | ${gbps} | ${ratio} |`);
      }
    }
    lines.push('');
  }
  if (result.targets.length > 0) {
    lines.push('| target | measured (median of per-round ratios) | met |', '|---|---|---|');
    for (const t of result.targets) lines.push(`| ${t.target} | ${t.measured} | ${t.met === null ? 'not measured' : t.met ? 'yes' : '**NO**'} |`);
    lines.push('');
  }
  lines.push('Contenders:', '');
  for (const c of result.contenders) lines.push(`- ${c.name}: ${c.description}`);
  lines.push('');
  return lines.join('\n');
}
