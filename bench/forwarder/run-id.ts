// A run's identity: the commit it measured and the moment it started, written the same way into
// every chart it draws and every report section it writes, so a check can tell whether a chart
// and the table beside it come from one run (test/bench/run-identity.test.ts).
import type { MachineInfo } from '../lib/machine';

/** `run <12 hex digits of the commit>@<ISO start time>`, e.g. `run feac39e98eef@2026-11-30T05:53:17.506Z`. */
export function runId(machine: Pick<MachineInfo, 'gitCommit' | 'date'>): string {
  return `run ${machine.gitCommit?.slice(0, 12) ?? 'unknown'}@${machine.date}`;
}

const RUN_ID = /\brun ([0-9a-f]{12}|unknown)@(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)/g;

/** Every run identity written in `text` (an SVG or a piece of markdown), in order, duplicates kept. */
export function runIdsIn(text: string): string[] {
  return [...text.matchAll(RUN_ID)].map((match) => `run ${match[1]}@${match[2]}`);
}

/** A chart shown in a markdown file, the run it names and the runs its section names. */
export interface ChartInSection {
  /** The path as the markdown gives it, e.g. bench/charts/forwarder-tcp.svg. */
  chart: string;
  /** The heading of the section it sits in. */
  heading: string;
  /** The run the SVG names (undefined: none; a chart naming two runs is a problem of its own). */
  chartRuns: string[];
  /** The runs the section's text names (its image lines left out). */
  sectionRuns: string[];
}

const IMAGE = /!\[[^\]]*\]\(([^)\s]+\.svg)\)/g;

/**
 * Every SVG chart `markdown` shows, with the runs named by the chart and by the section it sits
 * in: the text from the heading above it to the next heading of any level. `svgOf` reads a chart
 * by its path (undefined: missing).
 */
export function chartsInSections(markdown: string, svgOf: (path: string) => string | undefined): ChartInSection[] {
  const lines = markdown.split('\n');
  const found: ChartInSection[] = [];
  let start = 0;
  for (let i = 0; i <= lines.length; i++) {
    if (i < lines.length && !/^#{1,6} /.test(lines[i])) continue;
    // lines[start, i) is one section (the first may have no heading).
    const section = lines.slice(start, i);
    const sectionRuns = [...new Set(runIdsIn(section.map((line) => line.replace(IMAGE, '')).join('\n')))];
    for (const line of section) {
      for (const match of line.matchAll(IMAGE)) {
        const svg = svgOf(match[1]);
        found.push({ chart: match[1], heading: /^#{1,6} /.test(section[0] ?? '') ? section[0] : '(before the first heading)', chartRuns: svg === undefined ? [] : [...new Set(runIdsIn(svg))], sectionRuns });
      }
    }
    start = i;
  }
  return found;
}

/** What is wrong with a chart's place: it names no run or two, its section names none or another. Undefined: nothing. */
export function chartRunProblem(entry: ChartInSection): string | undefined {
  if (entry.chartRuns.length === 0) return `${entry.chart} names no run`;
  if (entry.chartRuns.length > 1) return `${entry.chart} names ${entry.chartRuns.length} runs: ${entry.chartRuns.join(', ')}`;
  if (entry.sectionRuns.length === 0) return `${entry.chart} (${entry.chartRuns[0]}) sits in "${entry.heading}", which names no run`;
  const others = entry.sectionRuns.filter((run) => run !== entry.chartRuns[0]);
  if (others.length > 0) return `${entry.chart} is of ${entry.chartRuns[0]} but its section "${entry.heading}" names ${others.join(', ')}`;
  return undefined;
}
