/** Hand-built histories for the optimize and reports tests: tasks and deployments as the engine leaves them. */
import assert from "node:assert/strict";
import { validateConfig } from "../../functions/src/domain/config.js";
import {
  deploymentDocSchema,
  taskDocSchema,
  type Deployment,
  type Task,
  type TaskDoc,
} from "../../functions/src/domain/engine-model.js";
import { emptyHistory, type History } from "../../functions/src/domain/optimize.js";
import { planDeployment } from "../../functions/src/domain/planner.js";
import { exampleConfig } from "./config-builder.js";

export const T0 = new Date("2026-11-10T00:00:00.000Z");
export const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
export const RANGE = { from: new Date("2026-11-01T00:00:00.000Z"), to: new Date("2026-11-25T00:00:00.000Z") };
export const NOW = RANGE.to;

/** The planner's task document for security in dev: every fixture starts from it. */
function template(): TaskDoc {
  const config = validateConfig(exampleConfig());
  assert.ok(config.ok);
  const dev = config.config.environments.find((env) => env.name === "dev");
  assert.ok(dev);
  const result = planDeployment(
    "d0",
    { environment: "dev", integrations: ["security"], configuration: {}, requested_by: "history-builder" },
    dev,
    T0,
  );
  assert.ok(result.ok);
  const { id: _id, ...doc } = result.plan.tasks[0]!;
  return doc;
}
const TEMPLATE = template();

export interface Run {
  id?: string;
  deployment?: string;
  env?: string;
  integration?: string;
  status?: "succeeded" | "failed" | "rolled_back" | "running" | "skipped" | "blocked";
  created?: number;
  start?: number;
  duration?: number;
  retries?: number;
  max_retries?: number;
  limit?: number;
  estimate?: number;
  deps?: string[];
  error?: string;
}
let sequence = 0;
/** A task document as the engine leaves it after one run, validated by the task schema. */
export function task(run: Run): Task {
  const status = run.status ?? "succeeded";
  const ran = status !== "skipped" && status !== "blocked";
  const finished = ran && status !== "running";
  const start = run.start ?? 0;
  const duration = run.duration ?? 10;
  const retries = run.retries ?? 0;
  const integration = run.integration ?? "security";
  const doc = {
    ...TEMPLATE,
    deployment_id: run.deployment ?? "d1",
    name: integration,
    environment: run.env ?? "dev",
    integration,
    kind: integration.split(":")[0],
    estimated_duration: run.estimate ?? 20,
    created_at: at(run.created ?? 0),
    started_at: ran ? at(start) : null,
    completed_at: finished ? at(start + duration) : status === "skipped" ? at(start) : null,
    actual_duration: finished ? duration : null,
    retry_count: retries,
    max_retries: run.max_retries ?? 3,
    attempt: ran ? retries + 1 : 0,
    concurrency_limit: run.limit ?? 4,
    dependencies: run.deps ?? [],
    error_message: status === "failed" ? (run.error ?? "boom") : null,
    applied: status === "succeeded" || status === "rolled_back",
    status,
    ...(status === "running" ? { lease_expires_at: at(start + 120) } : {}),
  };
  return { ...taskDocSchema.parse(doc), id: run.id ?? `t${++sequence}` };
}

/** A deployment document with the given outcome, validated by the deployment schema. */
export function deployment(
  id: string,
  status: Deployment["status"],
  options: { env?: string; created?: number; duration?: number; tasks?: Task[] } = {},
): Deployment {
  const created = options.created ?? 0;
  const finished = ["succeeded", "failed", "rolled_back", "cancelled"].includes(status);
  const doc = deploymentDocSchema.parse({
    status,
    environment: options.env ?? "dev",
    integrations: [...new Set((options.tasks ?? []).map((t) => t.integration))],
    configuration: {},
    requested_by: "history-builder",
    created_at: at(created),
    task_ids: (options.tasks ?? []).map((t) => t.id),
    estimated_completion: at(created + 60),
    critical_path: [],
    started_at: at(created),
    completed_at: finished ? at(created + (options.duration ?? 30)) : null,
    actual_duration: finished ? (options.duration ?? 30) : null,
    error_message: status === "failed" || status === "rolled_back" ? "a task failed" : null,
    correlation_id: id,
  });
  return { ...doc, id };
}

export function history(deployments: Deployment[], tasks: Task[]): History {
  return { ...emptyHistory(RANGE), deployments, tasks, limits: { deployments: 5000, alerts: 5000 } };
}
