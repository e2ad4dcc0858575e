/** Plans a deployment: from the environment's config and the requested integrations to a task graph. */
import { z } from "zod";
import type { ResolvedEnvironment, TaskEngineSetting } from "./config-schema.js";
import {
  engineOptionsSchema,
  type DeploymentRequest,
  type EngineOptions,
  type TaskDoc,
} from "./engine-model.js";
import { criticalPath, scheduleWithLimit, topologicalOrder, type ScheduledNode } from "./graph.js";
import { INTEGRATION_CATALOG, instanceOf, kindOf, type IntegrationKind } from "./integrations.js";
import { anyFails, type LearnedModel } from "./learning/estimates.js";
import { formatPath, zodIssueToProblem, type Problem } from "./problems.js";

/** Extra ordering a deployment may ask for on top of the catalog: `{ "hosting": ["cicd"] }`. */
const ENGINE_KEYS = [
  "driver",
  "simulate",
  "max_retries",
  "retry_base_ms",
  "retry_max_ms",
  "lease_seconds",
  "depends_on",
] as const;

/** A planned deployment: tasks (by id) in dependency order, the critical path and the timeline. */
export interface DeploymentPlan {
  options: EngineOptions;
  tasks: (TaskDoc & { id: string })[];
  criticalPath: string[];
  timeline: ScheduledNode[];
  estimatedSeconds: number;
  estimatedCompletion: Date;
  /** The makespan with every task at its p90: a pessimistic bound, null without learned estimates. */
  estimatedSecondsP90: number | null;
  /** What each task's estimate rests on, in task order. */
  estimates: TaskEstimate[];
  /** The chance that at least one task fails (after its retries), from history; null without it. */
  failureProbability: number | null;
}

/** Where a task's duration estimate comes from and how sure it is. */
export interface TaskEstimate {
  integration: string;
  /** `learned` from runs, `catalog` (no run at all yet, or no history read), `simulation` (the request's latency_ms). */
  source: "learned" | "catalog" | "simulation";
  p50_seconds: number;
  p90_seconds: number | null;
  /** Successful runs of this integration in this environment behind the estimate. */
  runs: number;
  catalog_seconds: number;
  /** Chance the task fails after its retries, from its history (null without history). */
  failure_probability: number | null;
  /** Finished runs behind the failure probability. */
  failure_runs: number;
}

export type PlanResult = { ok: true; plan: DeploymentPlan } | { ok: false; problems: Problem[] };

/** The id of the task that deploys one integration in one deployment: stable, so planning twice writes the same documents. */
export function taskId(deploymentId: string, integration: string): string {
  return `${deploymentId}--${integration.replace(":", "-")}`;
}

function bad(path: (string | number)[], found: string, allowed: string): Problem {
  const at = formatPath(path);
  return { path: at, found, allowed, message: `${at}: found ${found}; allowed: ${allowed}` };
}

/** Splits a deployment's configuration into the engine's options (validated) and the drivers' settings. */
export function engineOptions(
  configuration: Record<string, unknown>,
): { options: EngineOptions; dependsOn: Record<string, string[]> } | { problems: Problem[] } {
  const picked = Object.fromEntries(
    ENGINE_KEYS.filter((key) => key !== "depends_on" && key in configuration).map((key) => [
      key,
      configuration[key],
    ]),
  );
  const parsed = engineOptionsSchema.safeParse(picked);
  const problems: Problem[] = parsed.success
    ? []
    : parsed.error.issues.map((issue) => {
        const located = { ...issue, path: ["configuration", ...issue.path] };
        return zodIssueToProblem(
          located,
          { configuration },
          z.strictObject({ configuration: engineOptionsSchema }),
        );
      });
  const rawDependsOn = configuration.depends_on ?? {};
  const dependsOn: Record<string, string[]> = {};
  if (typeof rawDependsOn !== "object" || rawDependsOn === null || Array.isArray(rawDependsOn)) {
    problems.push(
      bad(["configuration", "depends_on"], "not an object", 'an object such as {"hosting": ["cicd"]}'),
    );
  } else {
    for (const [node, list] of Object.entries(rawDependsOn)) {
      if (!Array.isArray(list) || !list.every((item): item is string => typeof item === "string")) {
        problems.push(
          bad(
            ["configuration", "depends_on", node],
            "not a list of integration names",
            "a list of integration names",
          ),
        );
      } else dependsOn[node] = list;
    }
  }
  if (!parsed.success || problems.length > 0) return { problems };
  return { options: parsed.data, dependsOn };
}

/**
 * Builds the task graph for a deployment request, or says precisely why it cannot. With a learned
 * model, tasks the real drivers run are estimated from history (p50 for the timeline, p90 for the
 * pessimistic makespan); without one, from the catalog. `retentionDays` (`base.schedules.retention_days`)
 * is kept on each task: it expires that long after it ends (none given: it never gets an expiry).
 */
export function planDeployment(
  deploymentId: string,
  request: DeploymentRequest,
  env: ResolvedEnvironment,
  now: Date,
  learned?: LearnedModel,
  retentionDays: number | null = null,
): PlanResult {
  const problems: Problem[] = [];
  // By name: an instance (`functions:orders`) is deployable only where the environment declares it.
  const declared = new Set(env.integrations.map((integration) => integration.name));
  const seen = new Set<string>();
  request.integrations.forEach((integration, index) => {
    if (seen.has(integration))
      problems.push(bad(["integrations", index], `"${integration}" listed twice`, "each integration once"));
    seen.add(integration);
    if (!declared.has(integration)) {
      problems.push(
        bad(
          ["integrations", index],
          `"${integration}", not declared in environment "${env.name}"`,
          `one of ${[...declared].join(", ")}`,
        ),
      );
    }
  });

  const split = engineOptions(request.configuration);
  if ("problems" in split) problems.push(...split.problems);
  if (problems.length > 0 || "problems" in split) return { ok: false, problems };
  const { options, dependsOn } = split;

  const requested = [...seen];
  for (const [node, list] of Object.entries(dependsOn)) {
    if (!seen.has(node))
      problems.push(
        bad(
          ["configuration", "depends_on", node],
          `"${node}", which this deployment does not include`,
          `one of ${requested.join(", ")}`,
        ),
      );
    list.forEach((dependency, index) => {
      if (!seen.has(dependency)) {
        problems.push(
          bad(
            ["configuration", "depends_on", node, index],
            `unknown dependency "${dependency}"`,
            `one of ${requested.join(", ")}`,
          ),
        );
      }
    });
  }
  if (problems.length > 0) return { ok: false, problems };

  const dependencies = new Map<string, string[]>();
  for (const integration of requested) {
    const after = new Set<IntegrationKind>(INTEGRATION_CATALOG[kindOf(integration)].after);
    const implicit = requested.filter((other) => other !== integration && after.has(kindOf(other)));
    dependencies.set(integration, [...new Set([...implicit, ...(dependsOn[integration] ?? [])])].sort());
  }
  const depsOf = (node: string) => dependencies.get(node) ?? [];
  const sorted = topologicalOrder(requested, depsOf);
  if ("cycle" in sorted) {
    return {
      ok: false,
      problems: [
        bad(
          ["configuration", "depends_on"],
          `the cycle ${sorted.cycle.join(" -> ")}`,
          "dependencies without cycles",
        ),
      ],
    };
  }

  const simulationFor = (integration: string) =>
    options.simulate[integration] ?? options.simulate[kindOf(integration)] ?? options.simulate["*"] ?? null;
  const estimates = new Map(
    requested.map((integration): [string, TaskEstimate] => {
      const catalogSeconds = INTEGRATION_CATALOG[kindOf(integration)].estimatedSeconds;
      const simulation = simulationFor(integration);
      const failure = learned?.failure(env.name, integration);
      const failureFields = {
        failure_probability: failure?.probability ?? null,
        failure_runs: failure?.runs ?? 0,
      };
      if (simulation)
        return [
          integration,
          {
            integration,
            source: "simulation",
            p50_seconds: simulation.latency_ms / 1000,
            p90_seconds: simulation.latency_ms / 1000,
            runs: 0,
            catalog_seconds: catalogSeconds,
            failure_probability: null,
            failure_runs: 0,
          },
        ];
      // The simulated driver's durations are whatever its request asks: history does not apply.
      const duration =
        options.driver === "integration" ? learned?.duration(env.name, integration) : undefined;
      return [
        integration,
        duration
          ? {
              integration,
              source: duration.source,
              p50_seconds: duration.p50,
              p90_seconds: duration.p90,
              runs: duration.runs,
              catalog_seconds: catalogSeconds,
              ...failureFields,
            }
          : {
              integration,
              source: "catalog",
              p50_seconds: catalogSeconds,
              p90_seconds: null,
              runs: 0,
              catalog_seconds: catalogSeconds,
              ...failureFields,
            },
      ];
    }),
  );
  const estimateOf = (integration: string) => estimates.get(integration)!;
  const estimate = (integration: string) => estimateOf(integration).p50_seconds;
  const priorityOf = (integration: string) => INTEGRATION_CATALOG[kindOf(integration)].priority;
  const critical = criticalPath(sorted.order, depsOf, estimate);
  const { schedule, makespan } = scheduleWithLimit(
    sorted.order,
    depsOf,
    estimate,
    priorityOf,
    env.concurrency,
  );
  const pessimistic = requested.every((integration) => estimateOf(integration).p90_seconds !== null)
    ? scheduleWithLimit(
        sorted.order,
        depsOf,
        (integration) => estimateOf(integration).p90_seconds!,
        priorityOf,
        env.concurrency,
      ).makespan
    : null;
  const failureProbabilities = requested.flatMap((integration) => {
    const probability = estimateOf(integration).failure_probability;
    return probability === null ? [] : [probability];
  });
  const dependents = new Map<string, string[]>(requested.map((node) => [node, []]));
  for (const [node, list] of dependencies)
    for (const dependency of list) dependents.get(dependency)?.push(node);

  // The request's own setting wins; then the environment's for the integration; then the default.
  const engineSetting = (integration: string, setting: TaskEngineSetting) =>
    setting in request.configuration
      ? options[setting]
      : (env.engine[integration]?.[setting] ?? options[setting]);
  const tasks = sorted.order.map((integration) => {
    const kind = kindOf(integration);
    const deps = depsOf(integration);
    return {
      id: taskId(deploymentId, integration),
      status: deps.length === 0 ? ("ready" as const) : ("blocked" as const),
      deployment_id: deploymentId,
      name: `${env.name}/${integration}`,
      description: `Deploy ${INTEGRATION_CATALOG[kind].title}${instanceOf(integration) === null ? "" : ` (${instanceOf(integration)})`} to ${env.name}`,
      environment: env.name,
      integration,
      kind,
      priority: priorityOf(integration),
      dependencies: deps.map((dep) => taskId(deploymentId, dep)),
      dependents: (dependents.get(integration) ?? []).sort().map((dep) => taskId(deploymentId, dep)),
      estimated_duration: estimate(integration),
      actual_duration: null,
      created_at: now,
      started_at: null,
      completed_at: null,
      error_message: null,
      retry_count: 0,
      max_retries: engineSetting(integration, "max_retries"),
      retry_base_ms: engineSetting(integration, "retry_base_ms"),
      attempt: 0,
      driver: options.driver,
      simulation: simulationFor(integration),
      lease_seconds: engineSetting(integration, "lease_seconds"),
      concurrency_limit: env.concurrency,
      ready_at: deps.length === 0 ? now : null,
      not_before: null,
      applied: false,
      rollback_note: null,
      reason: null,
      retention_days: retentionDays,
      expire_at: null,
    };
  });
  return {
    ok: true,
    plan: {
      options,
      tasks,
      criticalPath: critical.path.map((node) => taskId(deploymentId, node)),
      timeline: schedule.map((entry) => ({ ...entry, id: taskId(deploymentId, entry.id) })),
      estimatedSeconds: makespan,
      estimatedCompletion: new Date(now.getTime() + makespan * 1000),
      estimatedSecondsP90: pessimistic,
      estimates: sorted.order.map(estimateOf),
      failureProbability:
        failureProbabilities.length === requested.length ? anyFails(failureProbabilities) : null,
    },
  };
}

/** Exponential backoff with full jitter: attempt 1 waits up to base, attempt 2 up to 2x base, ... capped. */
export function retryDelayMs(
  retryNumber: number,
  options: Pick<EngineOptions, "retry_base_ms" | "retry_max_ms">,
  random: () => number,
): number {
  const ceiling = Math.min(options.retry_max_ms, options.retry_base_ms * 2 ** Math.max(0, retryNumber - 1));
  // Half fixed, half jitter: never zero, so "backoff visible" holds, and duplicates spread out.
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
