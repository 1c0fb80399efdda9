/** Minimal SVG charts for BENCHMARKS.md: no dependencies, readable in GitHub's renderer. */

const COLORS = ['#2f6fde', '#9aa5b1', '#e07a1f', '#2a9d5b'];
const esc = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;');

function niceMax(value: number): number {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 2.5, 5, 10].map((m) => m * power).find((m) => m >= value)!;
}

export interface Series {
  name: string;
  values: number[];
}

/** The 640×300 canvas, the plot area inside it, and its horizontal grid with y labels up to a round maximum. */
function plotArea(series: Series[]) {
  const [width, height, left, top, bottom] = [640, 300, 60, 40, 50];
  const plotW = width - left - 20;
  const plotH = height - top - bottom;
  const max = niceMax(Math.max(...series.flatMap((s) => s.values)));
  const parts: string[] = [];
  for (let i = 0; i <= 4; i++) {
    const y = top + plotH - (plotH * i) / 4;
    parts.push(`<line x1="${left}" y1="${y}" x2="${width - 20}" y2="${y}" stroke="#e3e6ea"/>`);
    parts.push(`<text x="${left - 6}" y="${y + 4}" text-anchor="end" font-size="11">${+((max * i) / 4).toPrecision(3)}</text>`);
  }
  return { width, height, left, top, plotW, plotH, max, parts };
}

/** Grouped bars: one group per category, one bar per series. */
export function barChart({ title, unit, categories, series }: { title: string; unit: string; categories: string[]; series: Series[] }): string {
  const { width, height, left, top, plotW, plotH, max, parts } = plotArea(series);
  const groupW = plotW / categories.length;
  const barW = Math.min(40, (groupW * 0.8) / series.length);
  categories.forEach((category, c) => {
    const x0 = left + c * groupW + (groupW - barW * series.length) / 2;
    series.forEach((s, k) => {
      const value = s.values[c] ?? 0;
      const h = (plotH * value) / max;
      parts.push(`<rect x="${x0 + k * barW}" y="${top + plotH - h}" width="${barW - 2}" height="${h}" fill="${COLORS[k % COLORS.length]}"><title>${esc(s.name)}: ${value}</title></rect>`);
    });
    parts.push(`<text x="${left + c * groupW + groupW / 2}" y="${top + plotH + 16}" text-anchor="middle" font-size="11">${esc(category)}</text>`);
  });
  return frame(width, height, title, unit, series, parts);
}

/** Lines over a shared numeric x axis. */
export function lineChart({ title, unit, xLabel, x, series }: { title: string; unit: string; xLabel: string; x: number[]; series: Series[] }): string {
  const { width, height, left, top, plotW, plotH, max: maxY, parts } = plotArea(series);
  const minX = Math.min(...x);
  const spanX = Math.max(...x) - minX || 1;
  const px = (v: number) => left + (plotW * (v - minX)) / spanX;
  const py = (v: number) => top + plotH - (plotH * Math.min(v, maxY)) / maxY;
  // At most about a dozen x labels, however many points.
  const every = Math.ceil(x.length / 12);
  x.filter((_, i) => i % every === 0).forEach((v) => parts.push(`<text x="${px(v)}" y="${top + plotH + 16}" text-anchor="middle" font-size="11">${v}</text>`));
  parts.push(`<text x="${left + plotW / 2}" y="${top + plotH + 32}" text-anchor="middle" font-size="11">${esc(xLabel)}</text>`);
  series.forEach((s, k) => {
    const points = s.values.map((v, i) => `${px(x[i])},${py(v)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${COLORS[k % COLORS.length]}" stroke-width="2" points="${points}"/>`);
    s.values.forEach((v, i) => parts.push(`<circle cx="${px(x[i])}" cy="${py(v)}" r="3" fill="${COLORS[k % COLORS.length]}"><title>${esc(s.name)}: ${v}</title></circle>`));
  });
  return frame(width, height, title, unit, series, parts);
}

function frame(width: number, height: number, title: string, unit: string, series: Series[], parts: string[]): string {
  const legend = series
    .map((s, k) => `<rect x="${60 + k * 160}" y="${height - 18}" width="10" height="10" fill="${COLORS[k % COLORS.length]}"/><text x="${74 + k * 160}" y="${height - 9}" font-size="11">${esc(s.name)}</text>`)
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" viewBox="0 0 ${width} ${height}">
<rect width="100%" height="100%" fill="white"/>
<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>
<text x="14" y="${height / 2}" font-size="11" transform="rotate(-90 14 ${height / 2})" text-anchor="middle">${esc(unit)}</text>
${parts.join('\n')}
${legend}
</svg>
`;
}
