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
import { INTEGRATION_KINDS } from "../../functions/src/domain/integrations.js";
import type { AlertDoc, IntegrationDoc } from "../../functions/src/domain/model.js";
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

const BUSY_ENVIRONMENTS = ["dev", "staging", "prod"] as const;

/** A deterministic pseudo-random sequence, so every run measures the same history. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

/**
 * A busy month for the reports benchmark and load tests: `perDay` deployments a day over `days`
 * days from T0 - 9 days, round-robin over dev, staging and prod, each running all ten integrations
 * one after another (about 3% of tasks fail, 10% retry once), with the integrations' health and
 * 60 alerts. Deterministic. The history's range ends at `now`.
 */
export function busyHistory(days = 30, perDay = 40): { history: History; now: Date } {
  const next = random(42);
  const first = -9 * 86_400;
  const deployments: Deployment[] = [];
  const tasks: Task[] = [];
  for (let day = 0; day < days; day++) {
    for (let n = 0; n < perDay; n++) {
      const env = BUSY_ENVIRONMENTS[n % BUSY_ENVIRONMENTS.length]!;
      const id = `${env}-${day}-${n}`;
      const created = first + day * 86_400 + n * 1800;
      let start = created;
      const runs = INTEGRATION_KINDS.map((integration) => {
        const failed = next() < 0.03;
        const duration = Math.round(5 + next() * 60);
        const run = task({
          id: `${id}-${integration}`,
          deployment: id,
          env,
          integration,
          created,
          start,
          duration,
          retries: next() < 0.1 ? 1 : 0,
          status: failed ? "failed" : "succeeded",
        });
        start += duration;
        return run;
      });
      tasks.push(...runs);
      const failed = runs.some((run) => run.status === "failed");
      deployments.push(
        deployment(id, failed ? "failed" : "succeeded", {
          env,
          created,
          duration: start - created,
          tasks: runs,
        }),
      );
    }
  }
  const integrations: IntegrationDoc[] = BUSY_ENVIRONMENTS.flatMap((environment) =>
    INTEGRATION_KINDS.map((name) => ({
      name,
      type: name,
      environment,
      status: "deployed" as const,
      configuration: {},
      last_updated: T0,
      release: 1,
      health: {
        status: next() < 0.9 ? ("healthy" as const) : ("degraded" as const),
        latency_ms: Math.round(next() * 200),
        details: "",
        mode: "emulated" as const,
        checked_at: at(20 * 86_400),
      },
      open_alert: null,
      incidents: 0,
    })),
  );
  const alerts: (AlertDoc & { id: string })[] = Array.from({ length: 60 }, (_, i) => ({
    id: `alert-${i}`,
    level: i % 10 === 0 ? "critical" : "warning",
    status: i % 4 === 0 ? "open" : "resolved",
    source: "health",
    environment: BUSY_ENVIRONMENTS[i % 3]!,
    integration: INTEGRATION_KINDS[i % 10]!,
    deployment_id: null,
    message: `health check ${i} slow`,
    opened_at: at(first + i * 40_000),
    last_seen_at: at(first + i * 40_000),
    resolved_at: i % 4 === 0 ? null : at(first + i * 40_000 + 600),
  }));
  const now = at(first + days * 86_400);
  return {
    now,
    history: {
      ...history(deployments.reverse(), tasks),
      range: { from: at(first), to: now },
      integrations,
      alerts: alerts.reverse(),
    },
  };
}
