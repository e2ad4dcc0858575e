/** Helpers for engine tests on the emulators: a test config, deployments, and what the simulated driver recorded. */
import assert from "node:assert/strict";
import { createEngineStore } from "../../functions/src/store/engine-store.js";
import { isTerminalDeployment, type Deployment, type Task } from "../../functions/src/domain/engine-model.js";
import { INTEGRATION_KINDS } from "../../functions/src/domain/integrations.js";
import { COLLECTIONS, alertDocSchema } from "../../functions/src/domain/model.js";
import type { History } from "../../functions/src/domain/optimize.js";
import { typedCollection } from "../../functions/src/store/typed-collection.js";
import { SIMULATED_RUNS } from "../../functions/src/drivers/simulated.js";
import { configWith } from "./config-builder.js";
import { adminDb, api, waitFor } from "./emulators.js";

export const ALL_TEN: string[] = [...INTEGRATION_KINDS];

/** Loads the example config with production changes waiting for a second person's approval. */
export async function loadConfigRequiringApproval(): Promise<void> {
  const loaded = await api(
    "POST",
    "/config",
    configWith((c) => {
      c.base.access = { production_requires_approval: true };
    }),
  );
  assert.equal(loaded.status, 200, JSON.stringify(loaded.body));
}

/** Instances of one kind `lab` declares: tasks with no dependencies between them (`analytics:t00`...). */
export const LAB_INSTANCES = Array.from({ length: 20 }, (_, i) => `analytics:t${String(i).padStart(2, "0")}`);

/**
 * Loads the example config plus `lab`, a development environment limited to two tasks at a time
 * that also declares LAB_INSTANCES (each its own dataset, as two analytics instances must).
 */
export async function loadTestConfig(): Promise<void> {
  const config = configWith((c) => {
    c.environments.push({
      name: "lab",
      type: "development",
      project_id: "demo-acme-lab",
      mode: "emulated",
      concurrency: 2,
      integrations: [...ALL_TEN, ...LAB_INSTANCES],
      overrides: Object.fromEntries(
        LAB_INSTANCES.map((name) => [name, { dataset: `lab_${name.split(":")[1] ?? ""}` }]),
      ),
    });
  });
  const response = await api("POST", "/config", config);
  assert.equal(response.status, 200, JSON.stringify(response.body));
}

export function engineStore() {
  return createEngineStore(adminDb());
}

/**
 * Requests a prod deployment of simulated tasks as `as` (with a config that requires approval
 * loaded) and waits until the engine parks it for a second person's decision.
 */
export async function prodAwaitingApproval(
  as: "admin" | "operator",
  integrations: string[] = ["auth", "firestore"],
): Promise<Deployment> {
  const requested = await api(
    "POST",
    "/deploy",
    { environment: "prod", integrations, configuration: { driver: "simulated" } },
    {},
    as,
  );
  assert.equal(requested.status, 202, JSON.stringify(requested.body));
  const id = requested.body.deployment_id as string;
  return waitFor(`deployment ${id} to await approval`, async () => {
    const current = await engineStore().getDeployment(id);
    return current?.status === "awaiting_approval" ? current : undefined;
  });
}

/** Requests a deployment through the API and returns its id. */
export async function deploy(request: Record<string, unknown>): Promise<string> {
  const response = await api("POST", "/deploy", request);
  assert.equal(response.status, 202, JSON.stringify(response.body));
  return response.body.deployment_id as string;
}

/** Waits until the deployment reaches a terminal state, then returns it with its tasks. */
export async function settled(
  id: string,
  timeoutMs = 60_000,
): Promise<{ deployment: Deployment; tasks: Task[] }> {
  const store = engineStore();
  const deployment = await waitFor(
    `deployment ${id} to end`,
    async () => {
      const current = await store.getDeployment(id);
      return current && isTerminalDeployment(current.status) ? current : undefined;
    },
    timeoutMs,
    200,
  );
  return { deployment, tasks: await store.tasksOf(id) };
}

export interface SimulatedRun {
  id: string;
  task_id: string;
  attempt: number;
  action: "apply" | "rollback";
  runs: number;
  at: Date;
}

/** Every attempt the simulated driver ran for a deployment: one document per (task, attempt), `runs` counts executions. */
export async function simulatedRuns(deploymentId: string): Promise<SimulatedRun[]> {
  const snap = await adminDb().collection(SIMULATED_RUNS).get();
  return snap.docs
    .filter((doc) => doc.id.startsWith(`${deploymentId}--`))
    .map((doc) => {
      const data = doc.data();
      return {
        id: doc.id,
        task_id: String(data.task_id),
        attempt: Number(data.attempt),
        action: data.action as "apply" | "rollback",
        runs: Number(data.runs),
        at: (data.at as { toDate(): Date }).toDate(),
      };
    });
}

export function byIntegration(tasks: Task[]): Map<string, Task> {
  return new Map(tasks.map((task) => [task.integration, task]));
}

/** Writes a recorded history's deployments, tasks and alerts as the engine and the health monitor leave them. */
export async function plantHistory(
  history: Pick<History, "deployments" | "tasks" | "alerts">,
): Promise<void> {
  const engine = createEngineStore(adminDb());
  const alerts = typedCollection(adminDb(), COLLECTIONS.alerts, alertDocSchema);
  const writer = adminDb().bulkWriter();
  for (const { id, ...doc } of history.deployments) void writer.set(engine.deployments.doc(id), doc);
  for (const { id, ...doc } of history.tasks) void writer.set(engine.tasks.doc(id), doc);
  for (const { id, ...doc } of history.alerts) void writer.set(alerts.doc(id), doc);
  await writer.close();
}
