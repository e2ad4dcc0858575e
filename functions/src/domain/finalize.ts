/** Decides how a deployment ends once every task has settled, and what the fallback must undo. */
import type { ResolvedEnvironment } from "./config-schema.js";
import { mayHaveApplied, type Deployment, type Task } from "./engine-model.js";
import { topologicalOrder } from "./graph.js";

/** The cause of a failed deployment in one line: which task, integration, attempt and error. */
export function describeFailure(task: Task): string {
  return `task ${task.id} (integration ${task.integration} in ${task.environment}) failed: ${task.error_message ?? `attempt ${task.attempt}, no error recorded`}`;
}

export type Settlement =
  | { outcome: "succeeded"; error: null }
  | { outcome: "cancelled"; error: string | null }
  | { outcome: "failed"; error: string }
  | { outcome: "rolled_back"; error: string; rollbackOrder: string[] };

/** How a deployment whose tasks are all terminal ends, and which applied tasks to undo, last applied first. */
export function settle(
  deployment: Deployment,
  tasks: readonly Task[],
  policy: ResolvedEnvironment["rollback_policy"],
): Settlement {
  const failed = tasks
    .filter((task) => task.status === "failed")
    .sort((a, b) => (a.completed_at?.getTime() ?? 0) - (b.completed_at?.getTime() ?? 0));
  const firstFailure = failed[0];
  if (firstFailure) {
    const error =
      failed.length > 1
        ? `${describeFailure(firstFailure)} (and ${failed.length - 1} more)`
        : describeFailure(firstFailure);
    if (policy === "failed-only") return { outcome: "failed", error };
    const byId = new Map(tasks.map((task) => [task.id, task]));
    const sorted = topologicalOrder(
      tasks.map((task) => task.id),
      (id) => (byId.get(id)?.dependencies ?? []).filter((dep) => byId.has(dep)),
    );
    const order = "order" in sorted ? sorted.order : tasks.map((task) => task.id);
    // Every task whose change may be in place: the ones that succeeded, and the ones skipped or
    // cancelled after an attempt whose outcome was lost. The failed ones have had their fallback.
    const rollbackOrder = order
      .filter((id) => {
        const task = byId.get(id);
        return (
          task !== undefined &&
          (task.status === "succeeded" || (task.status !== "failed" && mayHaveApplied(task)))
        );
      })
      .reverse();
    return { outcome: "rolled_back", error, rollbackOrder };
  }
  if (deployment.status === "cancelling" || tasks.some((task) => task.status === "cancelled")) {
    return { outcome: "cancelled", error: null };
  }
  return { outcome: "succeeded", error: null };
}
