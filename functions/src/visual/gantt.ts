/**
 * A Gantt timeline as SVG: per task, the planned bar (outlined) and the actual bar (filled by
 * status), retries as tick marks, failures as a cross carrying the error. Times are seconds from
 * the deployment's start; x = x0 + seconds * pixelsPerSecond, exactly (to 0.01 px).
 */
import type { DeploymentPlan } from "../domain/planner.js";
import type { Task } from "../domain/engine-model.js";
import { CRITICAL_COLOR, STATUS_COLORS, type VisualStatus } from "./dependency-graph.js";
import { el, formatSeconds, label, num, svgDocument, textWidth, title, truncate } from "./svg.js";

export interface GanttRow {
  id: string;
  label: string;
  status: VisualStatus;
  planned: { start: number; end: number };
  /** Absent until the task starts; `end` null while it runs (drawn up to `now`). */
  actual?: { start: number; end: number | null };
  attempts: number;
  retries: number;
  error?: string | null;
}

export interface GanttInput {
  rows: readonly GanttRow[];
  /** Seconds from t0: draws a "now" line and ends the bars of running tasks. */
  now?: number;
}

export interface GanttOptions {
  /** Horizontal scale; by default the whole timeline fits in about 720 px. */
  pixelsPerSecond?: number;
  title?: string;
  /** Task ids to mark as on the critical path (a red label). */
  criticalPath?: readonly string[];
}

export interface GanttResult {
  svg: string;
  scale: { x0: number; pixelsPerSecond: number };
}

const ROW_HEIGHT = 30;
const TOP = 54;
const PADDING = 16;
const PLOT_WIDTH = 720;
const PLANNED_STROKE = "#334155";

function check(row: GanttRow): void {
  const times = [row.planned.start, row.planned.end, row.actual?.start ?? 0, row.actual?.end ?? 0];
  if (!times.every(Number.isFinite))
    throw new RangeError(`gantt: task ${row.id} has a time that is not a number`);
  if (row.planned.end < row.planned.start)
    throw new RangeError(
      `gantt: task ${row.id} is planned to end (${row.planned.end}) before it starts (${row.planned.start})`,
    );
  if (row.actual && row.actual.end !== null && row.actual.end < row.actual.start)
    throw new RangeError(
      `gantt: task ${row.id} ended (${row.actual.end}) before it started (${row.actual.start})`,
    );
}

/** Where an actual bar ends: its end, or `now` while running (never before its start). */
function actualEnd(row: GanttRow, now: number | undefined): number | undefined {
  if (!row.actual) return undefined;
  if (row.actual.end !== null) return row.actual.end;
  return Math.max(row.actual.start, now ?? row.actual.start);
}

/** Draws the timeline. Throws a RangeError on a time that is not a number or a bar that ends before it starts. */
export function renderGantt(input: GanttInput, options: GanttOptions = {}): GanttResult {
  input.rows.forEach(check);
  const critical = new Set(options.criticalPath ?? []);
  const ends = input.rows.flatMap((row) => [row.planned.end, actualEnd(row, input.now) ?? 0]);
  const span = Math.max(1, ...ends, input.now ?? 0);
  const pixelsPerSecond = options.pixelsPerSecond ?? PLOT_WIDTH / span;
  if (!(pixelsPerSecond > 0))
    throw new RangeError(`gantt: pixelsPerSecond must be positive, got ${pixelsPerSecond}`);

  const labelWidth = Math.min(220, Math.max(90, ...input.rows.map((row) => textWidth(row.label, 12) + 30)));
  const maxChars = Math.floor((labelWidth - 30) / 7.2);
  const x0 = PADDING + labelWidth;
  const xOf = (seconds: number) => x0 + seconds * pixelsPerSecond;
  const plotRight = xOf(span);
  const width = plotRight + 60;
  const rowsBottom = TOP + input.rows.length * ROW_HEIGHT;
  const legendY = rowsBottom + 34;
  const height = legendY + 30;

  // Axis: ticks at a step of 1, 2, 5, 10, 15, 30 s, 1, 2, 5, 10, 15, 30 min ... at least 60 px apart.
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400];
  const step = steps.find((candidate) => candidate * pixelsPerSecond >= 60) ?? Math.ceil(span / 10);
  const axis: string[] = [el("line", { x1: x0, y1: TOP - 6, x2: plotRight, y2: TOP - 6, stroke: "#475569" })];
  for (let t = 0; t <= span + 1e-9; t += step) {
    const x = xOf(t);
    axis.push(
      el("line", { x1: x, y1: TOP - 10, x2: x, y2: rowsBottom, stroke: "#e2e8f0", "data-tick": t }),
      el("line", { x1: x, y1: TOP - 10, x2: x, y2: TOP - 6, stroke: "#475569" }),
      label(x, TOP - 14, formatSeconds(t), { "text-anchor": "middle", "font-size": 11, fill: "#334155" }),
    );
  }

  const rows = input.rows.map((row, index) => {
    const top = TOP + index * ROW_HEIGHT;
    const marks: string[] = [];
    const error = row.error ?? null;
    marks.push(
      title(
        `${row.label} (${row.id}): ${row.status}; planned ${formatSeconds(row.planned.start)}–${formatSeconds(row.planned.end)}` +
          (row.actual
            ? `; actual ${formatSeconds(row.actual.start)}–${row.actual.end === null ? "running" : formatSeconds(row.actual.end)}`
            : "; not started") +
          `; ${row.attempts} attempt${row.attempts === 1 ? "" : "s"}, ${row.retries} retr${row.retries === 1 ? "y" : "ies"}` +
          (error ? `; error: ${error}` : ""),
      ),
      el("rect", {
        x: PADDING,
        y: top + 8,
        width: 10,
        height: 10,
        rx: 2,
        fill: STATUS_COLORS[row.status],
        stroke: PLANNED_STROKE,
        "stroke-width": 0.5,
        "data-status-chip": row.status,
      }),
      label(PADDING + 16, top + 17, truncate(row.label, maxChars), {
        fill: critical.has(row.id) ? CRITICAL_COLOR : "#0f172a",
        "font-weight": critical.has(row.id) ? "bold" : undefined,
      }),
      el("rect", {
        "data-bar": "planned",
        "data-task-id": row.id,
        x: xOf(row.planned.start),
        y: top + 4,
        width: (row.planned.end - row.planned.start) * pixelsPerSecond,
        height: 20,
        fill: "none",
        stroke: PLANNED_STROKE,
        "stroke-width": 1,
        "stroke-dasharray": "4 2",
      }),
    );
    if (row.planned.end === row.planned.start) {
      // A zero-length estimate would be an invisible bar: drawn as a milestone diamond instead.
      const x = xOf(row.planned.start);
      const y = top + 14;
      marks.push(
        el("path", {
          "data-milestone": row.id,
          d: `M ${num(x)} ${num(y - 7)} L ${num(x + 7)} ${num(y)} L ${num(x)} ${num(y + 7)} L ${num(x - 7)} ${num(y)} Z`,
          fill: "none",
          stroke: PLANNED_STROKE,
          "stroke-width": 1,
          "stroke-dasharray": "3 2",
        }),
      );
    }
    const end = actualEnd(row, input.now);
    if (row.actual && end !== undefined) {
      const ax = xOf(row.actual.start);
      const ex = xOf(end);
      marks.push(
        el("rect", {
          "data-bar": "actual",
          "data-task-id": row.id,
          "data-status": row.status,
          "data-retries": row.retries,
          "data-attempts": row.attempts,
          "data-open": row.actual.end === null ? "true" : undefined,
          x: ax,
          y: top + 9,
          width: ex - ax,
          height: 10,
          fill: STATUS_COLORS[row.status],
          stroke: "#1e293b",
          "stroke-width": 0.75,
        }),
      );
      // One tick per retry, stacked at the start of the bar: how many, not when.
      for (let retry = 1; retry <= row.retries; retry++) {
        const x = ax + 1 + (retry - 1) * 4;
        marks.push(
          el("line", {
            "data-retry-tick": retry,
            "data-task-id": row.id,
            x1: x,
            y1: top + 2,
            x2: x,
            y2: top + 9,
            stroke: "#b45309",
            "stroke-width": 2,
          }),
        );
      }
      if (row.retries > 0)
        marks.push(
          label(ex + 6, top + 18, `↻${row.retries}`, {
            fill: "#b45309",
            "font-size": 11,
            "data-retries-label": row.retries,
          }),
        );
    }
    if (row.status === "failed") {
      const x = (end !== undefined ? xOf(end) : xOf(row.planned.start)) + (row.retries > 0 ? 30 : 8);
      marks.push(
        el("g", { "data-failure": row.id }, [
          title(error ?? "failed"),
          label(x, top + 19, "✕", { fill: "#b91c1c", "font-size": 14, "font-weight": "bold" }),
        ]),
      );
    }
    return el(
      "g",
      {
        "data-row": row.id,
        "data-status": row.status,
        "data-retries": row.retries,
        "data-attempts": row.attempts,
        "data-error": error ?? undefined,
      },
      marks,
    );
  });

  const extras: string[] = [];
  if (input.now !== undefined) {
    const x = xOf(input.now);
    extras.push(
      el("line", {
        "data-now": input.now,
        x1: x,
        y1: TOP - 10,
        x2: x,
        y2: rowsBottom,
        stroke: "#2563eb",
        "stroke-width": 1.5,
      }),
      label(x, rowsBottom + 14, "now", { "text-anchor": "middle", fill: "#2563eb", "font-size": 11 }),
    );
  }

  const legend = [
    el("rect", {
      x: PADDING,
      y: legendY,
      width: 28,
      height: 14,
      fill: "none",
      stroke: PLANNED_STROKE,
      "stroke-dasharray": "4 2",
    }),
    label(PADDING + 34, legendY + 11, "planned", { fill: "#334155" }),
    el("rect", {
      x: PADDING + 100,
      y: legendY + 2,
      width: 28,
      height: 10,
      fill: STATUS_COLORS.succeeded,
      stroke: "#1e293b",
      "stroke-width": 0.75,
    }),
    label(PADDING + 134, legendY + 11, "actual (colour = status)", { fill: "#334155" }),
    el("line", {
      x1: PADDING + 310,
      y1: legendY,
      x2: PADDING + 310,
      y2: legendY + 10,
      stroke: "#b45309",
      "stroke-width": 2,
    }),
    label(PADDING + 318, legendY + 11, "retry", { fill: "#334155" }),
    label(PADDING + 370, legendY + 12, "✕", { fill: "#b91c1c", "font-size": 14, "font-weight": "bold" }),
    label(PADDING + 386, legendY + 11, "failed (hover for the error)", { fill: "#334155" }),
    label(PADDING + 580, legendY + 11, "critical path", { fill: CRITICAL_COLOR, "font-weight": "bold" }),
  ];

  const svg = svgDocument({
    width: Math.max(width, PADDING + 680),
    height,
    title: options.title ?? "Deployment timeline",
    kind: "gantt",
    children: [
      label(PADDING, 18, options.title ?? "Deployment timeline", {
        "font-size": 14,
        "font-weight": "bold",
        fill: "#0f172a",
      }),
      el("g", { "data-axis": "x", "data-x0": x0, "data-pixels-per-second": pixelsPerSecond }, axis),
      el("g", { "data-layer-group": "rows" }, rows),
      ...extras,
      el("g", { "data-layer-group": "legend" }, legend),
    ],
  });
  return { svg, scale: { x0, pixelsPerSecond } };
}

const secondsBetween = (from: Date, to: Date) => (to.getTime() - from.getTime()) / 1000;

/**
 * Rows from a plan's timeline (planned) and the deployment's task documents (actual, relative to
 * the deployment's `started_at`). Tasks never started have no actual bar; a plan task without a
 * document is drawn as `planned`.
 */
export function ganttFromPlan(
  plan: Pick<DeploymentPlan, "timeline" | "tasks">,
  tasks: readonly Task[],
  deploymentStartedAt: Date | null,
  now?: Date,
): GanttInput {
  const documents = new Map(tasks.map((task) => [task.id, task]));
  const planned = new Map(plan.tasks.map((task) => [task.id, task]));
  const rows = [...plan.timeline]
    .sort((a, b) => a.start - b.start || a.finish - b.finish || a.id.localeCompare(b.id))
    .map((entry): GanttRow => {
      const task = documents.get(entry.id);
      const label = task?.integration ?? planned.get(entry.id)?.integration ?? entry.id;
      const row: GanttRow = {
        id: entry.id,
        label,
        status: task?.status ?? "planned",
        planned: { start: entry.start, end: entry.finish },
        attempts: task?.attempt ?? 0,
        retries: task?.retry_count ?? 0,
        error: task?.error_message ?? null,
      };
      if (task?.started_at && deploymentStartedAt) {
        row.actual = {
          start: secondsBetween(deploymentStartedAt, task.started_at),
          end: task.completed_at ? secondsBetween(deploymentStartedAt, task.completed_at) : null,
        };
      }
      return row;
    });
  return {
    rows,
    ...(now && deploymentStartedAt ? { now: secondsBetween(deploymentStartedAt, now) } : {}),
  };
}
