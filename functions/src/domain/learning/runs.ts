/**
 * The runs the learning reads: one record per task that ran to an end under the real drivers,
 * taken from task documents. Pure.
 */
import type { Task } from "../engine-model.js";
import type { IntegrationKind } from "../integrations.js";

/** One finished run of one integration in one environment. */
export interface RunRecord {
  task_id: string;
  deployment_id: string;
  environment: string;
  integration: string;
  kind: IntegrationKind;
  /** When the run ended: the order the learning replays runs in. */
  finished_at: Date;
  /** `failed`: it used every retry and failed; a rolled-back task had succeeded before it was undone. */
  outcome: "succeeded" | "failed";
  /** Seconds from the first start to the end (retries included); null when not recorded. */
  duration_seconds: number | null;
  /** Retries the run needed. */
  retries: number;
}

/**
 * The runs among some tasks, oldest first. Only tasks the `integration` driver ran count: the
 * simulated driver's durations are whatever its request asked for, not something to learn.
 */
export function runsFromTasks(tasks: readonly Task[]): RunRecord[] {
  const runs: RunRecord[] = [];
  for (const task of tasks) {
    if (task.driver !== "integration" || task.started_at === null || task.completed_at === null) continue;
    if (task.status !== "succeeded" && task.status !== "failed" && task.status !== "rolled_back") continue;
    runs.push({
      task_id: task.id,
      deployment_id: task.deployment_id,
      environment: task.environment,
      integration: task.integration,
      kind: task.kind,
      finished_at: task.completed_at,
      outcome: task.status === "failed" ? "failed" : "succeeded",
      duration_seconds: task.actual_duration,
      retries: task.retry_count,
    });
  }
  return runs.sort(
    (a, b) => a.finished_at.getTime() - b.finished_at.getTime() || a.task_id.localeCompare(b.task_id),
  );
}
