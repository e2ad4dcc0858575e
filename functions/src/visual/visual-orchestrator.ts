/**
 * Turns plans, deployments and metrics into pictures: a thin facade over the pure renderers in
 * this folder, returning standalone SVG documents, used alike by the API, the demo and the
 * dashboard's browser bundle. No I/O: callers load the documents, and store or serve the SVG.
 * A planned deployment (the planner's tasks, not started) draws through `deployment` too.
 */
import type { Deployment, Task } from "../domain/engine-model.js";
import type { ReportHealth, Visualization } from "../domain/reports.js";
import {
  renderBarChart,
  renderHealthMatrix,
  renderLineChart,
  renderSeriesBarChart,
  type BarChartInput,
  type HealthCell,
  type LineChartInput,
} from "./charts.js";
import { renderDependencyGraph, type DependencyGraphOptions } from "./dependency-graph.js";
import { renderGantt, type GanttOptions } from "./gantt.js";
import type { TrendDay } from "../warehouse/trends.js";
import {
  dailyTrendCharts,
  deploymentTrends,
  deploymentViews,
  planViews,
  type FinishedDeployment,
  type PlanTimeline,
} from "./live-views.js";

const HEALTH_STATUSES = ["healthy", "degraded", "down"] as const;

export class FirebaseVisualOrchestrator {
  constructor(private readonly options: { graph?: DependencyGraphOptions; gantt?: GanttOptions } = {}) {}

  /** A stored deployment's graph and its Gantt (planned against actual) as they are at `now`. */
  deployment(
    deployment: Pick<Deployment, "critical_path" | "started_at">,
    tasks: readonly Task[],
    now: Date,
  ): { graph: string; gantt: string } {
    const views = deploymentViews(deployment, tasks, now);
    return {
      graph: renderDependencyGraph(views.graph, this.options.graph).svg,
      gantt: renderGantt(views.gantt, { criticalPath: deployment.critical_path, ...this.options.gantt }).svg,
    };
  }

  /** One environment's timeline from a `POST /plan` answer: its graph and planned Gantt. */
  plan(timeline: PlanTimeline): { graph: string; gantt: string } {
    const views = planViews(timeline);
    return {
      graph: renderDependencyGraph(views.graph, this.options.graph).svg,
      gantt: renderGantt(views.gantt, { criticalPath: timeline.critical_path, ...this.options.gantt }).svg,
    };
  }

  /** Success rate, p50/p95 durations and throughput of finished deployments over time. */
  trends(
    deployments: readonly FinishedDeployment[],
    now: Date,
    buckets = 12,
  ): { successRate: string; durations: string; throughput: string } {
    const trends = deploymentTrends(deployments, buckets, now);
    return {
      successRate: renderLineChart(trends.successRate).svg,
      durations: renderLineChart(trends.durations).svg,
      throughput: renderBarChart(trends.throughput).svg,
    };
  }

  /** The same three trends per UTC day, from the warehouse's series (`GET /trends`). */
  dailyTrends(series: readonly TrendDay[]): { successRate: string; durations: string; throughput: string } {
    const charts = dailyTrendCharts(series);
    return {
      successRate: renderLineChart(charts.successRate).svg,
      durations: renderLineChart(charts.durations).svg,
      throughput: renderSeriesBarChart(charts.throughput).svg,
    };
  }

  /** Environment x integration health. */
  healthMatrix(cells: readonly HealthCell[], title?: string): string {
    return renderHealthMatrix(cells, title === undefined ? {} : { title });
  }

  /** Success rate, p50/p95 durations and the like over time. */
  lineChart(input: LineChartInput): string {
    return renderLineChart(input).svg;
  }

  /** Throughput, retry rates and the like per label. */
  barChart(input: BarChartInput): string {
    return renderBarChart(input).svg;
  }

  /**
   * A report's chart spec drawn: bars side by side or stacked; a line over time when every x is a
   * date (otherwise as bars, since a line between unrelated categories would suggest a trend).
   */
  visualization(v: Visualization): string {
    const unit = v.y.unit ? `${v.y.label} (${v.y.unit})` : v.y.label;
    const categories = [...new Set(v.series.flatMap((s) => s.points.map((p) => p.x)))];
    const times = categories.map((x) => Date.parse(x));
    if (v.kind === "line" && categories.length > 0 && times.every(Number.isFinite)) {
      return renderLineChart({
        title: v.title,
        yUnit: unit,
        series: v.series.map((s) => ({
          name: s.name,
          points: s.points.flatMap((p) => (p.y === null ? [] : [{ x: Date.parse(p.x), y: p.y }])),
        })),
      }).svg;
    }
    return renderSeriesBarChart({
      title: v.title,
      unit,
      categories,
      stacked: v.kind === "stacked_bar",
      series: v.series.map((s) => ({
        name: s.name,
        values: categories.map((x) => s.points.find((p) => p.x === x)?.y ?? null),
      })),
    }).svg;
  }

  /** The health section of a report as an environment x integration matrix. */
  reportHealthMatrix(health: ReportHealth): string {
    return renderHealthMatrix(
      health.current.map((row) => ({
        environment: row.environment,
        integration: row.integration,
        status: HEALTH_STATUSES.find((status) => status === row.health) ?? "unknown",
        latency_ms: row.latency_ms,
      })),
      { title: "Integration health now" },
    );
  }
}
