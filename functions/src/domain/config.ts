/**
 * Validates an orchestration config and resolves it (base + overrides + defaults) into what the
 * engine works from. Every problem names the JSON path, what was found there and what is allowed.
 */
import {
  INTEGRATION_DEFAULTS,
  TASK_ENGINE_DEFAULTS,
  orchestrationConfigSchema,
  type EnvironmentInput,
  type OrchestrationConfigInput,
  type ResolvedConfig,
  type ResolvedEnvironment,
  type ResolvedIntegration,
} from "./config-schema.js";
import { formatPath, zodIssueToProblem, type Problem } from "./problems.js";
import { INTEGRATION_CATALOG, type IntegrationKind } from "./integrations.js";
import { plainSecretProblems } from "./secrets.js";
import { DEFAULT_MAX_PER_HOUR } from "./notifications.js";

/** The outcome of validating a config: the resolved config, or every problem found. */
export type ConfigResult = { ok: true; config: ResolvedConfig } | { ok: false; problems: Problem[] };

/** Validates raw JSON (already parsed) and resolves it. Never throws for bad input. */
export function validateConfig(raw: unknown): ConfigResult {
  const parsed = orchestrationConfigSchema.safeParse(raw);
  if (!parsed.success) {
    return {
      ok: false,
      problems: [
        ...parsed.error.issues.map((issue) => zodIssueToProblem(issue, raw, orchestrationConfigSchema)),
        // A secret pasted into a wrong field is still named as a secret: it must not be kept anywhere.
        ...plainSecretProblems(raw),
      ],
    };
  }
  const problems = [...crossCheck(parsed.data), ...plainSecretProblems(raw)];
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, config: resolve(parsed.data) };
}

/** Parses JSON text first, so a syntax error is reported like any other problem. */
export function validateConfigText(text: string): ConfigResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return {
      ok: false,
      problems: [
        { path: "$", found: "text that is not JSON", allowed: "a JSON document", message: `$: ${reason}` },
      ],
    };
  }
  return validateConfig(raw);
}

function problem(path: (string | number)[], found: string, allowed: string): Problem {
  const at = formatPath(path);
  return { path: at, found, allowed, message: `${at}: found ${found}; allowed: ${allowed}` };
}

/** Rules that span fields or entries, checked once the shape is right. */
function crossCheck(config: OrchestrationConfigInput): Problem[] {
  const problems: Problem[] = [];
  const names = config.environments.map((env) => env.name);
  const firstIndex = new Map<string, number>();
  const projectOwner = new Map<string, number>();

  config.environments.forEach((env, index) => {
    const at = (...rest: (string | number)[]) => ["environments", index, ...rest];
    const earlier = firstIndex.get(env.name);
    if (earlier !== undefined) {
      problems.push(
        problem(
          at("name"),
          `"${env.name}", already used by environments[${earlier}]`,
          "a name no other environment uses",
        ),
      );
    } else {
      firstIndex.set(env.name, index);
    }
    const owner = projectOwner.get(env.project_id);
    if (owner !== undefined) {
      problems.push(
        problem(
          at("project_id"),
          `"${env.project_id}", already used by environments[${owner}]`,
          "a project id no other environment uses",
        ),
      );
    } else {
      projectOwner.set(env.project_id, index);
    }
    if (env.mode === "emulated" && !env.project_id.startsWith("demo-")) {
      problems.push(
        problem(
          at("project_id"),
          `"${env.project_id}" with mode "emulated"`,
          'a "demo-" project id, which the Emulator Suite keeps offline',
        ),
      );
    }
    if (env.mode === "live" && env.project_id.startsWith("demo-")) {
      problems.push(
        problem(
          at("project_id"),
          `"${env.project_id}" with mode "live"`,
          'a real project id; "demo-" ids exist only in the Emulator Suite',
        ),
      );
    }

    const declared = new Set<IntegrationKind>();
    env.integrations.forEach((kind, position) => {
      if (declared.has(kind))
        problems.push(
          problem(at("integrations", position), `"${kind}" listed twice`, "each integration once"),
        );
      declared.add(kind);
    });
    for (const kind of declared) {
      for (const needed of INTEGRATION_CATALOG[kind].requires) {
        if (!declared.has(needed)) {
          problems.push(
            problem(
              at("integrations"),
              `"${kind}" without "${needed}"`,
              `"${kind}" together with "${needed}", which it needs`,
            ),
          );
        }
      }
    }
    // Settings of an integration the environment does not declare would apply to nothing.
    const blocks = [
      { key: "overrides", block: env.overrides, what: "an override", plural: "overrides" },
      { key: "engine", block: env.engine, what: "engine settings", plural: "engine settings" },
    ] as const;
    for (const { key, block, what, plural } of blocks)
      for (const kind of Object.keys(block ?? {}) as IntegrationKind[])
        if (!declared.has(kind))
          problems.push(
            problem(
              at(key, kind),
              `${what} of "${kind}", which this environment does not declare`,
              `${plural} of its integrations: ${[...declared].join(", ")}`,
            ),
          );

    const merged = mergedSettings(config, env);
    const functions = merged.functions;
    if (declared.has("functions") && functions.min_instances > functions.max_instances) {
      problems.push(
        problem(
          sourcePath(config, env, index, "functions", "min_instances"),
          `min_instances ${functions.min_instances} above max_instances ${functions.max_instances}`,
          "min_instances <= max_instances",
        ),
      );
    }
    const monitoring = merged.monitoring;
    if (declared.has("monitoring") && monitoring.error_rate_warning >= monitoring.error_rate_critical) {
      problems.push(
        problem(
          sourcePath(config, env, index, "monitoring", "error_rate_warning"),
          `error_rate_warning ${monitoring.error_rate_warning} not below error_rate_critical ${monitoring.error_rate_critical}`,
          "error_rate_warning < error_rate_critical",
        ),
      );
    }
    if (declared.has("monitoring") && monitoring.latency_ms_warning >= monitoring.latency_ms_critical) {
      problems.push(
        problem(
          sourcePath(config, env, index, "monitoring", "latency_ms_warning"),
          `latency_ms_warning ${monitoring.latency_ms_warning} not below latency_ms_critical ${monitoring.latency_ms_critical}`,
          "latency_ms_warning < latency_ms_critical",
        ),
      );
    }
    const promoteTo = merged.cicd.promote_to;
    if (declared.has("cicd") && promoteTo !== "") {
      if (promoteTo === env.name || !names.includes(promoteTo)) {
        problems.push(
          problem(
            sourcePath(config, env, index, "cicd", "promote_to"),
            `"${promoteTo}"`,
            `another declared environment: ${names.filter((name) => name !== env.name).join(", ") || "(none)"}`,
          ),
        );
      }
    }
    if (env.type === "production" && declared.has("security") && !merged.security.forbid_open_rules) {
      problems.push(
        problem(
          sourcePath(config, env, index, "security", "forbid_open_rules"),
          "false in a production environment",
          "true: production never accepts open rules",
        ),
      );
    }
  });
  return problems;
}

/** Where a merged field came from: the environment's override if it set one, else base. */
function sourcePath(
  config: OrchestrationConfigInput,
  env: EnvironmentInput,
  index: number,
  kind: IntegrationKind,
  field: string,
): (string | number)[] {
  const override = env.overrides?.[kind] as Record<string, unknown> | undefined;
  if (override && field in override) return ["environments", index, "overrides", kind, field];
  const base = config.base.integrations[kind] as Record<string, unknown> | undefined;
  if (base && field in base) return ["base", "integrations", kind, field];
  return ["environments", index, "overrides", kind, field];
}

type MergedSettings = { [K in IntegrationKind]: (typeof INTEGRATION_DEFAULTS)[K] };

function mergedSettings(config: OrchestrationConfigInput, env: EnvironmentInput): MergedSettings {
  const merge = <K extends IntegrationKind>(kind: K): MergedSettings[K] =>
    deepMerge(
      deepMerge(INTEGRATION_DEFAULTS[kind], config.base.integrations[kind]),
      env.overrides?.[kind],
    ) as MergedSettings[K];
  return {
    auth: merge("auth"),
    firestore: merge("firestore"),
    storage: merge("storage"),
    functions: merge("functions"),
    hosting: merge("hosting"),
    monitoring: merge("monitoring"),
    backup: merge("backup"),
    security: merge("security"),
    analytics: merge("analytics"),
    cicd: merge("cicd"),
  };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Objects merge key by key; arrays and scalars from `top` replace those below. */
function deepMerge(below: unknown, top: unknown): unknown {
  if (top === undefined) return below;
  if (isPlainObject(below) && isPlainObject(top)) {
    const out: Record<string, unknown> = { ...below };
    for (const [key, value] of Object.entries(top)) out[key] = deepMerge(below[key], value);
    return out;
  }
  return top;
}

/** How long an approval request stays open when the config does not say. */
export const DEFAULT_APPROVAL_TTL_HOURS = 24;

/**
 * Whether a deployment to `env` must wait for a second person's approval, and for how long it may
 * wait: only production environments, and only when the config asks for it. Null when none is needed.
 */
export function approvalPolicyFor(
  config: ResolvedConfig,
  env: Pick<ResolvedEnvironment, "type">,
): { ttl_hours: number } | null {
  return env.type === "production" && config.access.production_requires_approval
    ? { ttl_hours: config.access.approval_ttl_hours }
    : null;
}

function resolve(config: OrchestrationConfigInput): ResolvedConfig {
  return {
    version: 1,
    access: {
      production_requires_admin: config.base.access?.production_requires_admin ?? false,
      production_requires_approval: config.base.access?.production_requires_approval ?? false,
      approval_ttl_hours: config.base.access?.approval_ttl_hours ?? DEFAULT_APPROVAL_TTL_HOURS,
    },
    notifications: {
      channels: config.base.notifications?.channels ?? {},
      max_per_hour: config.base.notifications?.max_per_hour ?? DEFAULT_MAX_PER_HOUR,
    },
    schedules: {
      time_zone: config.base.schedules?.time_zone ?? "UTC",
      retention_days: config.base.schedules?.retention_days ?? 90,
    },
    tuning: {
      auto_apply: [...new Set(config.base.tuning?.auto_apply ?? [])],
      max_change: config.base.tuning?.max_change ?? 0.5,
      canary_deployments: config.base.tuning?.canary_deployments ?? 5,
      canary_margin: config.base.tuning?.canary_margin ?? 0.2,
    },
    capacity: {
      plan: config.base.capacity?.plan ?? "blaze",
      monthly_budget_usd: config.base.capacity?.monthly_budget_usd ?? null,
      events_per_day_limit: config.base.capacity?.events_per_day_limit ?? 1_000_000,
    },
    environments: config.environments.map((env): ResolvedEnvironment => {
      const merged = mergedSettings(config, env);
      return {
        name: env.name,
        type: env.type,
        project_id: env.project_id,
        region: env.region ?? config.base.region,
        mode: env.mode,
        concurrency: env.concurrency ?? config.base.concurrency,
        rollback_policy: env.rollback_policy ?? (env.type === "production" ? "all" : "failed-only"),
        integrations: env.integrations.map(
          (kind) => ({ kind, settings: merged[kind] }) as ResolvedIntegration,
        ),
        engine: Object.fromEntries(
          env.integrations.map((kind) => [kind, { ...TASK_ENGINE_DEFAULTS, ...env.engine?.[kind] }]),
        ),
      };
    }),
  };
}

/** Field-by-field differences between two resolved environments: how staging and prod really differ. */
export function diffEnvironments(
  a: ResolvedEnvironment,
  b: ResolvedEnvironment,
): { path: string; left: unknown; right: unknown }[] {
  const out: { path: string; left: unknown; right: unknown }[] = [];
  const walk = (left: unknown, right: unknown, path: (string | number)[]) => {
    if (isPlainObject(left) && isPlainObject(right)) {
      for (const key of new Set([...Object.keys(left), ...Object.keys(right)]))
        walk(left[key], right[key], [...path, key]);
      return;
    }
    if (JSON.stringify(left) !== JSON.stringify(right)) out.push({ path: formatPath(path), left, right });
  };
  const byKind = (env: ResolvedEnvironment) =>
    Object.fromEntries(env.integrations.map((i) => [i.kind, i.settings]));
  const { integrations: _a, name: _an, ...restA } = a;
  const { integrations: _b, name: _bn, ...restB } = b;
  walk({ ...restA, integrations: byKind(a) }, { ...restB, integrations: byKind(b) }, []);
  return out;
}

export type { Problem };
