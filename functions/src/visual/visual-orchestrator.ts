/**
 * Turns plans, deployments and metrics into pictures, server-side: a thin facade over the pure
 * renderers in this folder, returning standalone SVG documents. No I/O: callers load the plan,
 * the task documents and the metrics, and store or serve the SVG.
 */
import type { Deployment, Task } from "../domain/engine-model.js";
import type { DeploymentPlan } from "../domain/planner.js";
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
import { fromTasks, renderDependencyGraph, type DependencyGraphOptions } from "./dependency-graph.js";
import { ganttFromPlan, renderGantt, type GanttOptions } from "./gantt.js";
import {
  deploymentTrends,
  deploymentViews,
  planViews,
  type FinishedDeployment,
  type PlanTimeline,
} from "./live-views.js";

/** A deployment's tasks as stored, with the critical path recorded on the deployment. */
export interface DeploymentTasks {
  tasks: readonly Task[];
  criticalPath: readonly string[];
}

const HEALTH_STATUSES = ["healthy", "degraded", "down"] as const;

export class FirebaseVisualOrchestrator {
  constructor(private readonly options: { graph?: DependencyGraphOptions; gantt?: GanttOptions } = {}) {}

  /**
   * The dependency graph of a plan (tasks as planned) or of a deployment (its task documents as
   * they are now, with the deployment's `critical_path`): a DeploymentPlan fits as it is.
   */
  dependencyGraph(source: DeploymentTasks): string {
    return renderDependencyGraph(fromTasks(source.tasks, source.criticalPath), this.options.graph).svg;
  }

  /** Planned (from the plan's timeline) against actual (from the task documents) per task. */
  gantt(
    plan: Pick<DeploymentPlan, "timeline" | "tasks" | "criticalPath">,
    tasks: readonly Task[],
    deploymentStartedAt: Date | null,
    now?: Date,
  ): string {
    return renderGantt(ganttFromPlan(plan, tasks, deploymentStartedAt, now), {
      criticalPath: plan.criticalPath,
      ...this.options.gantt,
    }).svg;
  }

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
