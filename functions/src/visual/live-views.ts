/**
 * The pictures the dashboard draws live, from what it reads: a deployment's task documents, or a
 * `/plan` answer. Pure, shared by the browser bundle and the server, so both draw the same thing.
 */
import type { Deployment, Task, TaskStatus } from "../domain/engine-model.js";
import { scheduleWithLimit, topologicalOrder, type ScheduledNode } from "../domain/graph.js";
import { distribution } from "../domain/optimize.js";
import type { IntegrationDoc } from "../domain/model.js";
import type { CapacityMetric, MetricForecast } from "../domain/learning/capacity.js";
import type { ForecastPoint } from "../domain/learning/forecast.js";
import type { TrendDay } from "../warehouse/trends.js";
import type { BarChartInput, HealthCell, LineChartInput, SeriesBarChartInput } from "./charts.js";
import { fromTasks, type DependencyGraphInput } from "./dependency-graph.js";
import { ganttFromPlan, type GanttInput } from "./gantt.js";

/**
 * The timeline a deployment was planned with, rebuilt from its tasks: the planner's list schedule
 * over the same estimates, dependencies, priorities and concurrency limit.
 */
export function plannedTimeline(tasks: readonly Task[]): ScheduledNode[] {
  if (tasks.length === 0) return [];
  const byId = new Map(tasks.map((task) => [task.id, task]));
  const dependencies = (id: string) => (byId.get(id)?.dependencies ?? []).filter((dep) => byId.has(dep));
  const ordered = topologicalOrder([...byId.keys()], dependencies);
  // Stored tasks were planned acyclic; should one be damaged, draw them in id order rather than fail.
  const order = "order" in ordered ? ordered.order : [...byId.keys()].sort();
  const limit = Math.max(1, ...tasks.map((task) => task.concurrency_limit));
  return scheduleWithLimit(
    order,
    dependencies,
    (id) => byId.get(id)?.estimated_duration ?? 0,
    (id) => byId.get(id)?.priority ?? 0,
    limit,
  ).schedule;
}

/** A deployment's graph and Gantt (planned against actual) as they are at `now`. */
export function deploymentViews(
  deployment: Pick<Deployment, "critical_path" | "started_at">,
  tasks: readonly Task[],
  now: Date,
): { graph: DependencyGraphInput; gantt: GanttInput } {
  const timeline = plannedTimeline(tasks);
  // The deployment document may arrive before its tasks (two listeners): draw what is known.
  const known = new Set(tasks.map((task) => task.id));
  return {
    graph: fromTasks(
      tasks,
      deployment.critical_path.filter((id) => known.has(id)),
    ),
    gantt: ganttFromPlan({ timeline, tasks: [...tasks] }, tasks, deployment.started_at, now),
  };
}

/** One environment's timeline as `POST /plan` answers it. */
export interface PlanTimeline {
  environment: string;
  estimated_seconds: number;
  critical_path: string[];
  tasks: { id: string; integration: string; start: number; finish: number; dependencies: string[] }[];
}

/** A plan's graph (every task `planned`) and its Gantt (planned bars only). */
export function planViews(plan: PlanTimeline): { graph: DependencyGraphInput; gantt: GanttInput } {
  return {
    graph: {
      nodes: plan.tasks.map((task) => ({
        id: task.id,
        label: task.integration,
        status: "planned" as const,
        environment: plan.environment,
        durationSeconds: task.finish - task.start,
      })),
      edges: plan.tasks.flatMap((task) => task.dependencies.map((from) => ({ from, to: task.id }))),
      criticalPath: plan.critical_path,
    },
    gantt: {
      rows: [...plan.tasks]
        .sort((a, b) => a.start - b.start || a.id.localeCompare(b.id))
        .map((task) => ({
          id: task.id,
          label: task.integration,
          status: "planned" as const,
          planned: { start: task.start, end: task.finish },
          attempts: 0,
          retries: 0,
        })),
    },
  };
}

/** The health matrix's cells from the integration documents: their last check, `unknown` before one. */
export function healthCells(
  integrations: readonly Pick<IntegrationDoc, "environment" | "name" | "health">[],
): HealthCell[] {
  return integrations.map((integration) => ({
    environment: integration.environment,
    integration: integration.name,
    status: integration.health?.status ?? "unknown",
    latency_ms: integration.health?.latency_ms ?? null,
  }));
}

/** A deployment's prediction against its outcome, in the dashboard's words. */
export interface PredictedAgainstActual {
  /** Seconds the plan predicted when the deployment was requested (its estimated completion less its creation). */
  predicted_seconds: number | null;
  actual_seconds: number | null;
  /** (actual - predicted) / predicted: above 0 slower than predicted. */
  error: number | null;
  text: string;
}

export function predictedAgainstActual(
  deployment: Pick<Deployment, "created_at" | "estimated_completion" | "actual_duration">,
  format: (seconds: number) => string,
): PredictedAgainstActual {
  const predicted =
    deployment.estimated_completion === null
      ? null
      : (deployment.estimated_completion.getTime() - deployment.created_at.getTime()) / 1000;
  const actual = deployment.actual_duration;
  const error =
    predicted !== null && predicted > 0 && actual !== null ? (actual - predicted) / predicted : null;
  const said =
    predicted === null ? "No prediction was made" : `Predicted ${format(predicted)} when requested`;
  const outcome =
    actual === null
      ? "not finished yet"
      : `took ${format(actual)}${
          error === null
            ? ""
            : ` (${Math.abs(Math.round(error * 100))} % ${error > 0 ? "slower" : "faster"} than predicted)`
        }`;
  return { predicted_seconds: predicted, actual_seconds: actual, error, text: `${said}; ${outcome}.` };
}

/** A finished deployment, as the trends need it. */
export type FinishedDeployment = Pick<Deployment, "status" | "completed_at" | "actual_duration">;

/**
 * Success rate, p50/p95 durations and throughput of finished deployments over `buckets` equal
 * spans ending at `now` and starting at the oldest finish. Spans with no finished deployment
 * have no point (a gap, not a zero) in the line charts and a zero bar in the throughput.
 */
export function deploymentTrends(
  deployments: readonly FinishedDeployment[],
  buckets: number,
  now: Date,
): { successRate: LineChartInput; durations: LineChartInput; throughput: BarChartInput } {
  const finished = deployments.filter(
    (d): d is FinishedDeployment & { completed_at: Date } =>
      d.completed_at !== null && ["succeeded", "failed", "rolled_back"].includes(d.status),
  );
  const end = now.getTime();
  const start = Math.min(end - 60_000, ...finished.map((d) => d.completed_at.getTime()));
  const span = (end - start) / buckets;
  const groups: (typeof finished)[] = Array.from({ length: buckets }, () => []);
  for (const deployment of finished) {
    const index = Math.min(buckets - 1, Math.floor((deployment.completed_at.getTime() - start) / span));
    groups[Math.max(0, index)]!.push(deployment);
  }
  const bucketEnd = (index: number) => Math.round(start + (index + 1) * span);
  const points = (value: (group: typeof finished) => number | null) =>
    groups.flatMap((group, index) => {
      const y = group.length > 0 ? value(group) : null;
      return y === null ? [] : [{ x: bucketEnd(index), y }];
    });
  const percentile = (key: "p50" | "p95") => (group: typeof finished) =>
    distribution(group.flatMap((d) => (d.actual_duration === null ? [] : [d.actual_duration])))[key];
  return {
    successRate: {
      title: "Deployment success rate",
      yUnit: "%",
      yMin: 0,
      yMax: 100,
      series: [
        {
          name: "succeeded",
          points: points(
            (group) => (100 * group.filter((d) => d.status === "succeeded").length) / group.length,
          ),
        },
      ],
    },
    durations: {
      title: "Deployment duration (p50, p95)",
      yUnit: "s",
      series: [
        { name: "p50", points: points(percentile("p50")) },
        { name: "p95", points: points(percentile("p95")) },
      ],
    },
    throughput: {
      title: "Deployments finished per interval",
      unit: "deployments",
      bars: groups.map((group, index) => ({
        label: new Date(bucketEnd(index)).toISOString().slice(11, 16),
        value: group.length,
      })),
    },
  };
}

/** A task change the engine timestamped: the task entered `status` at `at`. */
export interface TaskChange {
  task: string;
  status: TaskStatus;
  at: Date;
}

/**
 * Follows the snapshots a listener gets of some tasks and answers, for each, the changes it brings
 * that carry the engine's own time: a start (`started_at`) or an end (`completed_at`). The first
 * snapshot is the starting point and brings none; a snapshot delivered again brings none. What the
 * dashboard measures its event-to-screen latency from, and the benchmark its baseline.
 */
export function taskChangeTracker(): (tasks: readonly Task[]) => TaskChange[] {
  let seen: Map<string, string> | null = null;
  return (tasks) => {
    const previous = seen;
    const current = new Map(tasks.map((task) => [task.id, `${task.status}#${task.attempt}`]));
    seen = current;
    if (previous === null) return [];
    return tasks.flatMap((task) => {
      const before = previous.get(task.id);
      const at = task.status === "running" ? task.started_at : task.completed_at;
      return before !== undefined && before !== current.get(task.id) && at
        ? [{ task: task.id, status: task.status, at }]
        : [];
    });
  };
}

/** How a capacity metric is named to people. */
export const CAPACITY_LABELS: Record<CapacityMetric, string> = {
  events: "Events a day",
  deployments: "Deployments a day",
  firestore_reads: "Firestore reads a day",
  firestore_writes: "Firestore writes a day",
};

const dayMs = (date: string) => Date.parse(`${date}T00:00:00Z`);

/** A limit further than this many times the chart's highest value is said, not drawn: it would flatten the data. */
const LIMIT_DRAWN_WITHIN = 4;

/**
 * One capacity metric as a chart: the recent days as they were, then the forecast's expected
 * count with its 90 % interval, and the daily limit across both when it is within reach (at most
 * LIMIT_DRAWN_WITHIN times the highest value; the summary says it either way).
 */
export function capacityChart(metric: CapacityMetric, metricForecast: MetricForecast): LineChartInput {
  const series: LineChartInput["series"][number][] = [
    { name: "actual", points: metricForecast.history.map((day) => ({ x: dayMs(day.date), y: day.value })) },
  ];
  const forecast = metricForecast.forecast;
  if (forecast.status === "ok") {
    const along = (pick: (point: ForecastPoint) => number) =>
      forecast.points.map((point) => ({ x: dayMs(point.date), y: pick(point) }));
    series.push(
      { name: "expected", points: along((point) => point.expected) },
      { name: "90 % high", points: along((point) => point.high) },
      { name: "90 % low", points: along((point) => point.low) },
    );
  }
  const limit = metricForecast.limit;
  const points = series.flatMap((line) => line.points);
  const days = points.map((point) => point.x);
  const highest = Math.max(0, ...points.map((point) => point.y));
  if (limit && days.length > 0 && limit.limit <= highest * LIMIT_DRAWN_WITHIN)
    series.push({
      name: "limit",
      points: [
        { x: Math.min(...days), y: limit.limit },
        { x: Math.max(...days), y: limit.limit },
      ],
    });
  return { title: CAPACITY_LABELS[metric], series, yUnit: metric.replace("firestore_", "") };
}

/** The metric in one sentence: what is expected, and whether and when it passes its limit. */
export function capacitySummary(metric: CapacityMetric, metricForecast: MetricForecast): string {
  const forecast = metricForecast.forecast;
  const label = CAPACITY_LABELS[metric];
  if (forecast.status === "insufficient_history") return `${label}: no forecast yet. ${forecast.message}.`;
  if (forecast.status !== "ok") return `${label}: no forecast (${forecast.problems.join("; ")}).`;
  const round = (value: number) => Math.round(value).toLocaleString("en-US");
  const next = metricForecast.expected_next_7_days ?? 0;
  const lastDay = forecast.points[forecast.points.length - 1]!;
  const limit = metricForecast.limit;
  const against = !limit
    ? "no daily limit applies"
    : limit.exceeds_on
      ? `expected above the limit of ${round(limit.limit)} on ${limit.exceeds_on} (in ${limit.days_until_limit} days)`
      : limit.may_exceed_on
        ? `within the limit of ${round(limit.limit)}, but the interval reaches it on ${limit.may_exceed_on}`
        : `within the limit of ${round(limit.limit)}`;
  return `${label}: ${round(next)} over the next 7 days; ${round(lastDay.expected)} a day by ${lastDay.date} (90 %: ${round(lastDay.low)} to ${round(lastDay.high)}); ${against}. From ${forecast.history_days} days of history${forecast.short_history ? " (short: the weekly pattern is uncertain)" : ""}.`;
}

/** The outcomes the per-day bars stack, bottom up, as `GET /trends` names them. */
export const TREND_OUTCOMES = ["succeeded", "failed", "rolled_back", "cancelled", "in_progress"] as const;

/**
 * The trends' charts from `GET /trends`'s per-day series (the warehouse's numbers): success rate
 * and p50/p95 duration per UTC day (a day without an ended deployment has no point, not a zero;
 * the x axis spans every day of the window), and the deployments started each day stacked by
 * outcome, every day a slot.
 */
export function dailyTrendCharts(series: readonly TrendDay[]): {
  successRate: LineChartInput;
  durations: LineChartInput;
  throughput: SeriesBarChartInput;
} {
  const points = (value: (day: TrendDay) => number | null) =>
    series.flatMap((day) => {
      const y = value(day);
      return y === null ? [] : [{ x: dayMs(day.day), y }];
    });
  // The x axis spans the whole window, so a day with a point sits where it belongs among empty ones.
  const window =
    series.length > 0 ? { xMin: dayMs(series[0]!.day), xMax: dayMs(series[series.length - 1]!.day) } : {};
  return {
    successRate: {
      title: "Deployment success rate per day (UTC)",
      yUnit: "%",
      yMin: 0,
      yMax: 100,
      ...window,
      series: [
        {
          name: "succeeded",
          points: points((day) => (day.success_rate === null ? null : 100 * day.success_rate)),
        },
      ],
    },
    durations: {
      title: "Deployment duration per day (p50, p95)",
      yUnit: "s",
      ...window,
      series: [
        { name: "p50", points: points((day) => day.duration_p50) },
        { name: "p95", points: points((day) => day.duration_p95) },
      ],
    },
    throughput: {
      title: "Deployments started per day (UTC), by outcome",
      unit: "deployments",
      categories: series.map((day) => day.day),
      stacked: true,
      series: TREND_OUTCOMES.map((name) => ({ name, values: series.map((day) => day[name]) })),
    },
  };
}
