/**
 * Turns plans, deployments and metrics into pictures, server-side: a thin facade over the pure
 * renderers in this folder, returning standalone SVG documents. No I/O: callers load the plan,
 * the task documents and the metrics, and store or serve the SVG.
 */
import type { Task } from "../domain/engine-model.js";
import type { DeploymentPlan } from "../domain/planner.js";
import {
  renderBarChart,
  renderHealthMatrix,
  renderLineChart,
  type BarChartInput,
  type HealthCell,
  type LineChartInput,
} from "./charts.js";
import { fromTasks, renderDependencyGraph, type DependencyGraphOptions } from "./dependency-graph.js";
import { ganttFromPlan, renderGantt, type GanttOptions } from "./gantt.js";

/** A deployment's tasks as stored, with the critical path recorded on the deployment. */
export interface DeploymentTasks {
  tasks: readonly Task[];
  criticalPath: readonly string[];
}

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
}
