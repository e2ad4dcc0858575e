/**
 * The states faults leave behind, written straight into Firestore: a started deployment whose tasks
 * are as a lost trigger, a lost finalizer or a lost executor would leave them. Documents created
 * directly fire no task trigger, exactly as a lost trigger would not; the tests and the demo use
 * them to show that the sweeper repairs each shape.
 */
import assert from "node:assert/strict";
import type { Firestore } from "firebase-admin/firestore";
import { createServices } from "../../functions/src/app.js";
import {
  isRefusal,
  requestedDeployment,
  transitionDeployment,
  type Deployment,
  type Task,
  type TaskDoc,
} from "../../functions/src/domain/engine-model.js";
import { planDeployment } from "../../functions/src/domain/planner.js";

/** The simulated driver with short retries: planted deployments run fast and touch nothing. */
export const SIMULATED = { driver: "simulated", retry_base_ms: 50 };

export const past = (ms: number): Date => new Date(Date.now() - ms);

/** A deployment written straight into Firestore, started, with each task as `shape` says. */
export async function plantDeployment(
  db: Firestore,
  id: string,
  environment: string,
  integrations: string[],
  shape: (task: Task) => TaskDoc,
  configuration: Record<string, unknown> = SIMULATED,
): Promise<{ deployment: Deployment; tasks: Task[] }> {
  const services = createServices({ db });
  const env = await services.environments.environment(environment);
  const request = { environment, integrations, configuration, requested_by: "planted" };
  const now = past(60_000);
  const planned = planDeployment(id, request, env, now);
  assert.ok(planned.ok, JSON.stringify(planned));
  const started = transitionDeployment(requestedDeployment(request, "planted", now, id), {
    type: "start",
    now,
    taskIds: planned.plan.tasks.map((task) => task.id),
    estimatedCompletion: planned.plan.estimatedCompletion,
    criticalPath: planned.plan.criticalPath,
    correlationId: id,
    rollbackPolicy: env.rollback_policy,
  });
  assert.ok(!isRefusal(started));
  await services.engineStore.deployments.doc(id).set(started);
  const tasks = planned.plan.tasks.map((task) => ({ ...shape(task), id: task.id }));
  for (const { id: taskId, ...doc } of tasks) await services.engineStore.tasks.doc(taskId).set(doc);
  return { deployment: { ...started, id }, tasks };
}

/** A task that succeeded a while ago. */
export const succeeded = (task: Task): TaskDoc => ({
  ...task,
  status: "succeeded",
  attempt: 1,
  applied: true,
  started_at: past(50_000),
  completed_at: past(40_000),
  actual_duration: 10,
});

/** A task whose executor was lost: running, its lease long expired. */
export const expiredRunning = (task: Task): TaskDoc => ({
  ...task,
  status: "running",
  attempt: 1,
  started_at: past(50_000),
  lease_expires_at: past(30_000),
});
