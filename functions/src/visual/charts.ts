/**
 * Dashboard charts as SVG: the health matrix (environment x integration), line charts over time
 * (success rate, p50/p95 durations) and bar charts (throughput, retry rates). Every mark carries
 * its value in data attributes, so what is drawn can be checked against what was given.
 */
import { el, label, niceStep, num, svgDocument, textWidth, title, truncate } from "./svg.js";

export type HealthStatus = "healthy" | "degraded" | "down" | "unknown";

export const HEALTH_COLORS: Readonly<Record<HealthStatus, string>> = {
  healthy: "#86efac",
  degraded: "#fde68a",
  down: "#fca5a5",
  unknown: "#e5e7eb",
};

/** Series colours, in order; distinct for the usual colour-vision deficiencies (Okabe-Ito). */
export const SERIES_COLORS = [
  "#0072b2",
  "#d55e00",
  "#009e73",
  "#cc79a7",
  "#e69f00",
  "#56b4e9",
  "#000000",
] as const;

export interface HealthCell {
  environment: string;
  integration: string;
  status: HealthStatus;
  latency_ms?: number | null;
}

const SEVERITY: Readonly<Record<HealthStatus, number>> = { healthy: 0, unknown: 1, degraded: 2, down: 3 };

/**
 * Rows are environments, columns integrations, both in order of first appearance. A pair given
 * twice shows the worse status. A pair never given is drawn as an empty dashed cell.
 */
export function renderHealthMatrix(cells: readonly HealthCell[], options: { title?: string } = {}): string {
  const environments: string[] = [];
  const integrations: string[] = [];
  const byPair = new Map<string, HealthCell>();
  for (const cell of cells) {
    if (!environments.includes(cell.environment)) environments.push(cell.environment);
    if (!integrations.includes(cell.integration)) integrations.push(cell.integration);
    const key = `${cell.environment}\u0000${cell.integration}`;
    const known = byPair.get(key);
    if (!known || SEVERITY[cell.status] > SEVERITY[known.status]) byPair.set(key, cell);
  }
  const heading = options.title ?? "Health";
  const rowLabelWidth = Math.min(180, Math.max(80, ...environments.map((name) => textWidth(name, 12) + 20)));
  const cellWidth = Math.min(140, Math.max(76, ...integrations.map((name) => textWidth(name, 12) + 14)));
  const cellHeight = 34;
  const left = 16 + rowLabelWidth;
  const top = 60;
  const maxChars = Math.floor((cellWidth - 8) / 7.2);
  const marks: string[] = [
    label(16, 22, heading, { "font-size": 14, "font-weight": "bold", fill: "#0f172a" }),
  ];
  integrations.forEach((integration, column) => {
    marks.push(
      label(left + column * cellWidth + cellWidth / 2, top - 8, truncate(integration, maxChars), {
        "text-anchor": "middle",
        fill: "#334155",
        "data-column": integration,
      }),
    );
  });
  environments.forEach((environment, row) => {
    const y = top + row * cellHeight;
    marks.push(
      label(16, y + cellHeight / 2 + 4, truncate(environment, 24), {
        fill: "#0f172a",
        "font-weight": "bold",
        "data-row": environment,
      }),
    );
    integrations.forEach((integration, column) => {
      const x = left + column * cellWidth;
      const cell = byPair.get(`${environment}\u0000${integration}`);
      if (!cell) {
        marks.push(
          el("rect", {
            x: x + 2,
            y: y + 2,
            width: cellWidth - 4,
            height: cellHeight - 4,
            rx: 4,
            fill: "none",
            stroke: "#cbd5e1",
            "stroke-dasharray": "3 3",
            "data-missing": "true",
            "data-environment": environment,
            "data-integration": integration,
          }),
        );
        return;
      }
      const latency = cell.latency_ms ?? null;
      const caption = latency === null ? cell.status : `${num(latency)} ms`;
      marks.push(
        el(
          "g",
          {
            "data-environment": environment,
            "data-integration": integration,
            "data-status": cell.status,
            "data-value": latency ?? undefined,
          },
          [
            title(
              `${environment} / ${integration}: ${cell.status}${latency === null ? "" : `, ${num(latency)} ms`}`,
            ),
            el("rect", {
              x: x + 2,
              y: y + 2,
              width: cellWidth - 4,
              height: cellHeight - 4,
              rx: 4,
              fill: HEALTH_COLORS[cell.status],
              stroke: "#64748b",
              "stroke-width": 0.5,
            }),
            label(x + cellWidth / 2, y + cellHeight / 2 + 4, truncate(caption, maxChars), {
              "text-anchor": "middle",
              fill: "#0f172a",
              "font-size": 11,
            }),
          ],
        ),
      );
    });
  });
  const bottom = top + Math.max(1, environments.length) * cellHeight;
  const legendY = bottom + 16;
  let lx = 16;
  for (const status of Object.keys(HEALTH_COLORS) as HealthStatus[]) {
    marks.push(
      el("rect", {
        x: lx,
        y: legendY,
        width: 14,
        height: 14,
        rx: 3,
        fill: HEALTH_COLORS[status],
        stroke: "#64748b",
        "stroke-width": 0.5,
        "data-legend": status,
      }),
      label(lx + 19, legendY + 11, status, { fill: "#334155" }),
    );
    lx += 19 + textWidth(status, 12) + 16;
  }
  if (cells.length === 0) marks.push(label(16, top + 20, "no health checks yet", { fill: "#64748b" }));
  return svgDocument({
    width: Math.max(left + integrations.length * cellWidth + 16, lx + 16, 260),
    height: legendY + 30,
    title: heading,
    kind: "health-matrix",
    children: marks,
  });
}

export interface LineSeries {
  name: string;
  /** x: milliseconds since the epoch; y: the value, in `yUnit`. */
  points: readonly { x: number; y: number }[];
}

export interface LineChartInput {
  title: string;
  series: readonly LineSeries[];
  yUnit: string;
  /** Fix the y range (a success rate: 0..100); by default 0 (or the lowest value) to a round number above the highest. */
  yMin?: number;
  yMax?: number;
  /** Widen the x range to include these times (a window of days, its empty ones too); by default the points' range. */
  xMin?: number;
  xMax?: number;
}

export interface ChartScale {
  /** Data range and the pixels it maps to: pixel = left + (value - min) / (max - min) * (right - left). */
  x: { min: number; max: number; left: number; right: number };
  /** pixel = bottom - (value - min) / (max - min) * (bottom - top). */
  y: { min: number; max: number; top: number; bottom: number };
}

export interface ChartResult {
  svg: string;
  scale: ChartScale;
}

const PLOT = { left: 64, top: 56, width: 640, height: 260 };

function finite(value: number, what: string): number {
  if (!Number.isFinite(value)) throw new RangeError(`${what} is not a finite number: ${value}`);
  return value;
}

/** UTC time labels: the date when the range spans days, the time of day otherwise. */
function timeLabel(ms: number, span: number): string {
  const iso = new Date(ms).toISOString();
  if (span >= 3 * 86_400_000) return iso.slice(5, 10);
  if (span >= 86_400_000) return `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
  if (span >= 120_000) return iso.slice(11, 16);
  return iso.slice(11, 19);
}

const TIME_STEPS = [
  1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000,
  3_600_000, 7_200_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000, 172_800_000, 604_800_000,
];

/** A line chart over time: one polyline and one dot per point per series, axes, grid and legend. */
export function renderLineChart(input: LineChartInput): ChartResult {
  const points = input.series.flatMap((series) =>
    series.points.map((point) => ({
      x: finite(point.x, `${series.name}: x`),
      y: finite(point.y, `${series.name}: y`),
    })),
  );
  const xs = points.map((point) => point.x);
  const ys = points.map((point) => point.y);
  const bounds = [
    ...xs,
    ...[input.xMin, input.xMax].filter((x) => x !== undefined).map((x) => finite(x, "x range")),
  ];
  let xMin = bounds.length > 0 ? Math.min(...bounds) : 0;
  let xMax = bounds.length > 0 ? Math.max(...bounds) : 1;
  if (xMax === xMin) {
    xMin -= 30_000;
    xMax += 30_000;
  }
  const lowest = Math.min(0, ...ys);
  const highest = Math.max(0, ...ys);
  const step = niceStep(highest - lowest, 5);
  const yMin = input.yMin ?? Math.floor(lowest / step) * step;
  let yMax = input.yMax ?? Math.ceil(highest / step) * step;
  if (!(yMax > yMin)) yMax = yMin + step;
  const scale: ChartScale = {
    x: { min: xMin, max: xMax, left: PLOT.left, right: PLOT.left + PLOT.width },
    y: { min: yMin, max: yMax, top: PLOT.top, bottom: PLOT.top + PLOT.height },
  };
  const px = (x: number) => scale.x.left + ((x - xMin) / (xMax - xMin)) * (scale.x.right - scale.x.left);
  const py = (y: number) => scale.y.bottom - ((y - yMin) / (yMax - yMin)) * (scale.y.bottom - scale.y.top);

  const marks: string[] = [
    label(16, 22, input.title, { "font-size": 14, "font-weight": "bold", fill: "#0f172a" }),
  ];
  marks.push(...valueGrid(scale, py));
  const span = xMax - xMin;
  const xStep = TIME_STEPS.find((step) => (step / span) * PLOT.width >= 80) ?? 604_800_000;
  for (let t = Math.ceil(xMin / xStep) * xStep; t <= xMax; t += xStep) {
    const x = px(t);
    marks.push(
      el("line", {
        x1: x,
        y1: scale.y.bottom,
        x2: x,
        y2: scale.y.bottom + 5,
        stroke: "#475569",
        "data-x-tick": t,
      }),
      label(x, scale.y.bottom + 18, timeLabel(t, span), {
        "text-anchor": "middle",
        "font-size": 11,
        fill: "#334155",
      }),
    );
  }
  marks.push(
    ...axes(scale, input.yUnit),
    label(scale.x.right, scale.y.bottom + 34, "time (UTC)", {
      "text-anchor": "end",
      "font-size": 11,
      fill: "#334155",
    }),
  );
  input.series.forEach((series, index) => {
    const color = SERIES_COLORS[index % SERIES_COLORS.length] ?? "#000000";
    const sorted = [...series.points].sort((a, b) => a.x - b.x);
    const d = sorted
      .map((point, i) => `${i === 0 ? "M" : "L"} ${num(px(point.x))} ${num(py(point.y))}`)
      .join(" ");
    marks.push(
      el("g", { "data-series": series.name, stroke: color, fill: color }, [
        ...(sorted.length > 1 ? [el("path", { d, fill: "none", "stroke-width": 2 })] : []),
        ...sorted.map((point) =>
          el(
            "circle",
            {
              cx: px(point.x),
              cy: py(point.y),
              r: 3,
              "data-x": point.x,
              "data-value": point.y,
              "data-label": series.name,
            },
            [title(`${series.name} at ${new Date(point.x).toISOString()}: ${num(point.y)} ${input.yUnit}`)],
          ),
        ),
      ]),
    );
  });
  const legendY = scale.y.bottom + 48;
  let lx = scale.x.left;
  input.series.forEach((series, index) => {
    const color = SERIES_COLORS[index % SERIES_COLORS.length] ?? "#000000";
    marks.push(
      el("line", {
        x1: lx,
        y1: legendY,
        x2: lx + 20,
        y2: legendY,
        stroke: color,
        "stroke-width": 3,
        "data-legend": series.name,
      }),
      label(lx + 26, legendY + 4, truncate(series.name, 30), { fill: "#334155" }),
    );
    lx += 26 + textWidth(truncate(series.name, 30), 12) + 20;
  });
  if (points.length === 0)
    marks.push(
      label(PLOT.left + PLOT.width / 2, PLOT.top + PLOT.height / 2, "no data", {
        "text-anchor": "middle",
        fill: "#64748b",
      }),
    );
  const svg = svgDocument({
    width: Math.max(PLOT.left + PLOT.width + 24, lx + 16),
    height: legendY + 20,
    title: input.title,
    kind: "line-chart",
    children: marks,
  });
  return { svg, scale };
}

/** The top of a bar chart's value axis: a round number at or above the highest value (1 when all are 0). */
function roundedMax(highest: number): number {
  const step = niceStep(highest, 5);
  return highest > 0 ? Math.ceil(highest / step) * step : 1;
}

/** Horizontal grid lines with their values, about five, across the scale's y range. */
function valueGrid(scale: ChartScale, py: (value: number) => number): string[] {
  const marks: string[] = [];
  const { min, max } = scale.y;
  const yStep = niceStep(max - min, 5);
  for (let k = Math.ceil(min / yStep); k * yStep <= max + 1e-9; k++) {
    const value = k * yStep;
    const y = py(value);
    marks.push(
      el("line", {
        x1: scale.x.left,
        y1: y,
        x2: scale.x.right,
        y2: y,
        stroke: "#e2e8f0",
        "data-y-tick": num(value),
      }),
      label(scale.x.left - 6, y + 4, num(value), {
        "text-anchor": "end",
        "font-size": 11,
        fill: "#334155",
      }),
    );
  }
  return marks;
}

/** The x and y axis lines and the unit above the y axis. */
function axes(scale: ChartScale, unit: string): string[] {
  return [
    el("line", {
      x1: scale.x.left,
      y1: scale.y.bottom,
      x2: scale.x.right,
      y2: scale.y.bottom,
      stroke: "#475569",
    }),
    el("line", {
      x1: scale.x.left,
      y1: scale.y.top,
      x2: scale.x.left,
      y2: scale.y.bottom,
      stroke: "#475569",
    }),
    label(16, scale.y.top - 8, unit, { "font-size": 11, fill: "#334155", "data-unit": unit }),
  ];
}

export interface BarChartInput {
  title: string;
  bars: readonly { label: string; value: number }[];
  unit: string;
}

/** A bar chart: one bar per label in the given order, from 0 up to a round number above the largest value. */
export function renderBarChart(input: BarChartInput): ChartResult {
  for (const bar of input.bars) {
    finite(bar.value, `bar "${bar.label}"`);
    if (bar.value < 0) throw new RangeError(`bar "${bar.label}" is negative (${bar.value}); bars start at 0`);
  }
  const highest = Math.max(0, ...input.bars.map((bar) => bar.value));
  const yMax = roundedMax(highest);
  const slot = Math.max(36, Math.min(90, PLOT.width / Math.max(1, input.bars.length)));
  const plotWidth = slot * Math.max(1, input.bars.length);
  const scale: ChartScale = {
    x: { min: 0, max: input.bars.length, left: PLOT.left, right: PLOT.left + plotWidth },
    y: { min: 0, max: yMax, top: PLOT.top, bottom: PLOT.top + PLOT.height },
  };
  const py = (value: number) => scale.y.bottom - (value / yMax) * PLOT.height;
  const marks: string[] = [
    label(16, 22, input.title, { "font-size": 14, "font-weight": "bold", fill: "#0f172a" }),
  ];
  marks.push(...valueGrid(scale, py));
  const maxChars = Math.max(3, Math.floor(slot / 6.2));
  input.bars.forEach((bar, index) => {
    const x = scale.x.left + index * slot + slot * 0.15;
    const width = slot * 0.7;
    const top = py(bar.value);
    marks.push(
      el("g", { "data-bar-group": bar.label }, [
        el(
          "rect",
          {
            x,
            y: top,
            width,
            height: scale.y.bottom - top,
            fill: SERIES_COLORS[0],
            "data-label": bar.label,
            "data-value": bar.value,
          },
          [title(`${bar.label}: ${num(bar.value)} ${input.unit}`)],
        ),
        label(x + width / 2, top - 4, num(bar.value), {
          "text-anchor": "middle",
          "font-size": 11,
          fill: "#0f172a",
        }),
        label(x + width / 2, scale.y.bottom + 16, truncate(bar.label, maxChars), {
          "text-anchor": "middle",
          "font-size": 11,
          fill: "#334155",
        }),
      ]),
    );
  });
  marks.push(...axes(scale, input.unit));
  if (input.bars.length === 0)
    marks.push(
      label(PLOT.left + 100, PLOT.top + PLOT.height / 2, "no data", {
        "text-anchor": "middle",
        fill: "#64748b",
      }),
    );
  return {
    svg: svgDocument({
      width: scale.x.right + 24,
      height: scale.y.bottom + 36,
      title: input.title,
      kind: "bar-chart",
      children: marks,
    }),
    scale,
  };
}

export interface SeriesBarChartInput {
  title: string;
  /** One slot per category, in this order. */
  categories: readonly string[];
  /** `values[i]` belongs to `categories[i]`; null is drawn as "n/a" (grouped) or left out (stacked). */
  series: readonly { name: string; values: readonly (number | null)[] }[];
  unit: string;
  /** Stack the series in each slot (parts of a whole) instead of setting them side by side. */
  stacked?: boolean;
}

/** `2026-11-03` becomes `11-03`: a month of days fits under the bars. */
const shortCategory = (value: string) => (/^\d{4}-\d{2}-\d{2}$/.test(value) ? value.slice(5) : value);

/**
 * Several series over the same categories, side by side or stacked, with a legend: p50 beside p95,
 * deployments per day by outcome. Labels thin out when there are more slots than fit.
 */
export function renderSeriesBarChart(input: SeriesBarChartInput): ChartResult {
  for (const series of input.series) {
    if (series.values.length !== input.categories.length)
      throw new RangeError(
        `series "${series.name}" has ${series.values.length} values for ${input.categories.length} categories`,
      );
    for (const value of series.values) {
      if (value === null) continue;
      finite(value, `series "${series.name}"`);
      if (value < 0)
        throw new RangeError(`series "${series.name}" has a negative value (${value}); bars start at 0`);
    }
  }
  const count = input.categories.length;
  const heights = input.categories.map((_, i) =>
    input.stacked
      ? input.series.reduce((total, series) => total + (series.values[i] ?? 0), 0)
      : Math.max(0, ...input.series.map((series) => series.values[i] ?? 0)),
  );
  const highest = Math.max(0, ...heights);
  const yMax = roundedMax(highest);
  const groupWidth = input.stacked ? 1 : Math.max(1, input.series.length);
  const slot = Math.max(
    input.stacked ? 22 : 18 * groupWidth + 8,
    Math.min(90, PLOT.width / Math.max(1, count)),
  );
  const plotWidth = slot * Math.max(1, count);
  const scale: ChartScale = {
    x: { min: 0, max: count, left: PLOT.left, right: PLOT.left + plotWidth },
    y: { min: 0, max: yMax, top: PLOT.top, bottom: PLOT.top + PLOT.height },
  };
  const py = (value: number) => scale.y.bottom - (value / yMax) * PLOT.height;
  const marks: string[] = [
    label(16, 22, input.title, { "font-size": 14, "font-weight": "bold", fill: "#0f172a" }),
  ];
  marks.push(...valueGrid(scale, py));
  const labelChars = Math.max(5, ...input.categories.map((c) => [...shortCategory(c)].length));
  // Every `every`-th category is labelled, so labels never overlap.
  const every = Math.max(1, Math.ceil((Math.min(labelChars, 8) * 6.6 + 6) / slot));
  const maxChars = Math.max(3, Math.floor((slot * every - 6) / 6.6));
  const barWidth = (slot * 0.8) / groupWidth;
  input.categories.forEach((category, i) => {
    const x0 = scale.x.left + i * slot + slot * 0.1;
    const bars: string[] = [];
    let base = 0;
    input.series.forEach((series, s) => {
      const value = series.values[i] ?? null;
      const color = SERIES_COLORS[s % SERIES_COLORS.length] ?? "#000000";
      const x = input.stacked ? x0 : x0 + s * barWidth;
      if (value === null) {
        if (!input.stacked)
          bars.push(
            label(x + barWidth / 2, scale.y.bottom - 4, "n/a", {
              "text-anchor": "middle",
              "font-size": 9,
              fill: "#64748b",
              "data-label": `${category}/${series.name}`,
              "data-missing": "true",
            }),
          );
        return;
      }
      const bottom = input.stacked ? py(base) : scale.y.bottom;
      const top = input.stacked ? py(base + value) : py(value);
      base += input.stacked ? value : 0;
      bars.push(
        el(
          "rect",
          {
            x,
            y: top,
            width: barWidth,
            height: bottom - top,
            fill: color,
            "data-label": category,
            "data-series": series.name,
            "data-value": value,
          },
          [title(`${category} / ${series.name}: ${num(value)} ${input.unit}`)],
        ),
      );
      if (!input.stacked && barWidth >= 16)
        bars.push(
          label(x + barWidth / 2, top - 4, num(value), {
            "text-anchor": "middle",
            "font-size": 10,
            fill: "#0f172a",
          }),
        );
    });
    if (input.stacked && heights[i]! > 0 && slot >= 20)
      bars.push(
        label(x0 + barWidth / 2, py(heights[i]!) - 4, num(heights[i]!), {
          "text-anchor": "middle",
          "font-size": 10,
          fill: "#0f172a",
        }),
      );
    if (i % every === 0)
      bars.push(
        label(
          scale.x.left + i * slot + slot / 2,
          scale.y.bottom + 16,
          truncate(shortCategory(category), maxChars),
          {
            "text-anchor": "middle",
            "font-size": 11,
            fill: "#334155",
          },
        ),
      );
    marks.push(el("g", { "data-bar-group": category }, bars));
  });
  marks.push(...axes(scale, input.unit));
  const legendY = scale.y.bottom + 40;
  let lx = scale.x.left;
  input.series.forEach((series, s) => {
    const name = truncate(series.name, 30);
    marks.push(
      el("rect", {
        x: lx,
        y: legendY - 10,
        width: 14,
        height: 14,
        rx: 3,
        fill: SERIES_COLORS[s % SERIES_COLORS.length],
        "data-legend": series.name,
      }),
      label(lx + 19, legendY + 1, name, { fill: "#334155" }),
    );
    lx += 19 + textWidth(name, 12) + 16;
  });
  if (count === 0)
    marks.push(
      label(PLOT.left + 100, PLOT.top + PLOT.height / 2, "no data", {
        "text-anchor": "middle",
        fill: "#64748b",
      }),
    );
  return {
    svg: svgDocument({
      width: Math.max(scale.x.right + 24, lx + 16),
      height: legendY + 16,
      title: input.title,
      kind: input.stacked ? "stacked-bar-chart" : "grouped-bar-chart",
      children: marks,
    }),
    scale,
  };
}
