/**
 * Self-contained SVG bar charts for BENCHMARKS.md: plain SVG text, no script, no font or style
 * sheet from the network, so GitHub and any viewer draw them offline. Hand-written rather than a
 * chart library: the npm chart libraries either need a DOM (Chart.js, chartist, d3 with jsdom) or
 * bring a large dependency tree (vega) for what is here a few horizontal bars per row with a
 * noise whisker and a value label.
 */

export interface Bar {
  series: string;
  value: number;
  /** The noise band (p25–p75), drawn as a whisker when given. */
  low?: number;
  high?: number;
  /** Shown instead of the value when the bar could not be measured (e.g. "NOT RUN"). */
  note?: string;
}

export interface BarGroup {
  label: string;
  bars: Bar[];
}

export interface BarChart {
  title: string;
  subtitle?: string;
  /** Axis unit, e.g. "Mpackets/s (higher is better)". */
  unit: string;
  groups: BarGroup[];
  /** Series in legend order; colours follow this order. */
  series: string[];
  /** Digits after the point in value labels (default: 3 significant digits). */
  format?: (value: number) => string;
}

/** Colour-blind-safe palette (Okabe–Ito). */
const COLOURS = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000'];

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function significant(value: number): string {
  if (!Number.isFinite(value)) return '–';
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  if (value >= 1) return value.toFixed(2);
  return value.toPrecision(2);
}

/** A "nice" axis maximum and tick step at or above `max`. */
function niceAxis(max: number): { top: number; step: number } {
  if (!(max > 0)) return { top: 1, step: 0.25 };
  const magnitude = 10 ** Math.floor(Math.log10(max));
  for (const factor of [1, 2, 2.5, 5, 10]) {
    const step = (factor * magnitude) / 4;
    if (step * 4 >= max) return { top: step * 4, step };
  }
  return { top: 10 * magnitude, step: 2.5 * magnitude };
}

export function barChart(chart: BarChart): string {
  const format = chart.format ?? significant;
  const width = 820;
  const labelWidth = 270;
  const valueRoom = 80;
  const plotLeft = labelWidth + 10;
  const plotWidth = width - plotLeft - valueRoom;
  const barHeight = 14;
  const groupGap = 10;
  const top = chart.subtitle ? 62 : 44;
  // The legend wraps; its rows are counted the way it is drawn below.
  let legendRows = 1;
  for (let lx = 12, i = 0; i < chart.series.length; i++) {
    const itemWidth = 16 + chart.series[i].length * 6.2 + 14;
    if (lx + itemWidth > width - 12) {
      legendRows++;
      lx = 12;
    }
    lx += itemWidth;
  }
  const legendHeight = 8 + legendRows * 16;
  const colour = (series: string) => COLOURS[Math.max(0, chart.series.indexOf(series)) % COLOURS.length];
  const max = Math.max(0, ...chart.groups.flatMap((g) => g.bars.map((b) => Math.max(b.value || 0, b.high ?? 0))));
  const axis = niceAxis(max);
  const x = (value: number) => plotLeft + (Math.max(0, value) / axis.top) * plotWidth;

  const parts: string[] = [];
  let y = top + legendHeight;
  for (const group of chart.groups) {
    const groupHeight = group.bars.length * barHeight;
    parts.push(`<text x="${labelWidth}" y="${y + groupHeight / 2 + 4}" text-anchor="end" font-size="12">${escape(group.label)}</text>`);
    for (const bar of group.bars) {
      const fill = colour(bar.series);
      if (bar.note !== undefined || !Number.isFinite(bar.value)) {
        parts.push(`<text x="${plotLeft + 4}" y="${y + barHeight - 3}" font-size="11" fill="#666">${escape(`${bar.series}: ${bar.note ?? 'no figure'}`)}</text>`);
      } else {
        const end = x(bar.value);
        parts.push(`<rect x="${plotLeft}" y="${y + 1}" width="${Math.max(1, end - plotLeft).toFixed(1)}" height="${barHeight - 2}" fill="${fill}"><title>${escape(`${group.label}, ${bar.series}: ${format(bar.value)}`)}</title></rect>`);
        if (bar.low !== undefined && bar.high !== undefined) {
          const mid = y + barHeight / 2;
          parts.push(`<path d="M${x(bar.low).toFixed(1)} ${mid}H${x(bar.high).toFixed(1)}M${x(bar.low).toFixed(1)} ${mid - 3}v6M${x(bar.high).toFixed(1)} ${mid - 3}v6" stroke="#333" stroke-width="1" fill="none"/>`);
        }
        parts.push(`<text x="${(Math.max(end, bar.high !== undefined ? x(bar.high) : end) + 4).toFixed(1)}" y="${y + barHeight - 3}" font-size="11">${escape(format(bar.value))}</text>`);
      }
      y += barHeight;
    }
    y += groupGap;
  }
  const plotBottom = y - groupGap + 4;
  const grid: string[] = [];
  for (let tick = 0; tick <= axis.top + axis.step / 2; tick += axis.step) {
    const tx = x(tick);
    grid.push(`<line x1="${tx.toFixed(1)}" y1="${top + legendHeight - 4}" x2="${tx.toFixed(1)}" y2="${plotBottom}" stroke="#ddd"/>`);
    grid.push(`<text x="${tx.toFixed(1)}" y="${plotBottom + 14}" text-anchor="middle" font-size="11" fill="#444">${escape(String(Number(tick.toPrecision(3))))}</text>`);
  }
  const legend: string[] = [];
  let lx = 12;
  let ly = top;
  for (const series of chart.series) {
    const itemWidth = 16 + series.length * 6.2 + 14; // about 6 px per character at 11 px
    if (lx + itemWidth > width - 12) {
      lx = 12;
      ly += 16;
    }
    legend.push(`<rect x="${lx}" y="${ly}" width="12" height="12" fill="${colour(series)}"/><text x="${lx + 16}" y="${ly + 10}" font-size="11">${escape(series)}</text>`);
    lx += itemWidth;
  }
  const height = plotBottom + 36;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="12" y="22" font-size="15" font-weight="bold">${escape(chart.title)}</text>`,
    chart.subtitle ? `<text x="12" y="42" font-size="11" fill="#444">${escape(chart.subtitle)}</text>` : '',
    ...grid,
    ...legend,
    ...parts,
    `<text x="${plotLeft + plotWidth / 2}" y="${plotBottom + 30}" text-anchor="middle" font-size="11" fill="#444">${escape(chart.unit)}</text>`,
    '</svg>',
    '',
  ].join('\n');
}
