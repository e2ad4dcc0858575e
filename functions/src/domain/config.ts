/**
 * Validates an orchestration config and resolves it (base + overrides + defaults) into what the
 * engine works from. Every problem names the JSON path, what was found there and what is allowed.
 */
import {
  INTEGRATION_DEFAULTS,
  TASK_ENGINE_DEFAULTS,
  integrationSettingsShapes,
  orchestrationConfigSchema,
  type EnvironmentInput,
  type OrchestrationConfigInput,
  type ResolvedConfig,
  type ResolvedEnvironment,
  type ResolvedIntegration,
} from "./config-schema.js";
import { formatPath, zodIssueToProblem, type Problem } from "./problems.js";
import {
  INTEGRATION_CATALOG,
  LIVE_DEFAULT_ONLY_KINDS,
  SINGLE_INSTANCE_KINDS,
  instanceOf,
  integrationNameProblem,
  kindOf,
  type IntegrationKind,
} from "./integrations.js";
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

    const declared = new Set<string>();
    const kinds = new Set<IntegrationKind>();
    env.integrations.forEach((name, position) => {
      if (declared.has(name))
        problems.push(
          problem(at("integrations", position), `"${name}" listed twice`, "each integration once"),
        );
      const kind = kindOf(name);
      const single = SINGLE_INSTANCE_KINDS[kind];
      if (single && kinds.has(kind) && !declared.has(name))
        problems.push(
          problem(
            at("integrations", position),
            `"${name}", a second instance of "${kind}"`,
            `one instance of "${kind}" per environment: ${single}`,
          ),
        );
      const liveOnce = LIVE_DEFAULT_ONLY_KINDS[kind];
      if (env.mode === "live" && liveOnce && instanceOf(name) !== null)
        problems.push(
          problem(
            at("integrations", position),
            `"${name}", an instance of "${kind}" in a live environment`,
            `"${kind}" alone in a live environment: ${liveOnce} (instances work in emulated environments)`,
          ),
        );
      declared.add(name);
      kinds.add(kind);
    });
    for (const kind of kinds) {
      for (const needed of INTEGRATION_CATALOG[kind].requires) {
        if (!kinds.has(needed)) {
          problems.push(
            problem(
              at("integrations"),
              `"${kind}" without "${needed}"`,
              `"${kind}" together with "${needed}" (any instance of it), which it needs`,
            ),
          );
        }
      }
    }
    // Settings of an integration the environment does not declare would apply to nothing. A bare
    // kind's settings apply to every instance of it, so any declared instance makes it apply.
    const blocks = [
      { key: "overrides", block: env.overrides, what: "an override", plural: "overrides" },
      { key: "engine", block: env.engine, what: "engine settings", plural: "engine settings" },
    ] as const;
    for (const { key, block, what, plural } of blocks)
      for (const name of Object.keys(block ?? {})) {
        const malformed = integrationNameProblem(name);
        if (malformed) {
          problems.push(
            problem(at(key, name), `${what} of "${name}", which is no integration name`, malformed),
          );
          continue;
        }
        const applies = name.includes(":") ? declared.has(name) : kinds.has(kindOf(name));
        if (!applies)
          problems.push(
            problem(
              at(key, name),
              `${what} of "${name}", which this environment does not declare`,
              `${plural} of its integrations (or their kinds): ${[...declared].join(", ")}`,
            ),
          );
      }
    const before = problems.length;
    for (const [name, value] of Object.entries(env.overrides ?? {})) {
      if (!name.includes(":") || integrationNameProblem(name)) continue;
      const shape = integrationSettingsShapes[kindOf(name)];
      const parsed = shape.safeParse(value);
      if (!parsed.success)
        for (const issue of parsed.error.issues) {
          const inner = zodIssueToProblem(issue, value, shape);
          const path = `${formatPath(at("overrides", name))}${inner.path === "$" ? "" : inner.path.startsWith("[") ? inner.path : `.${inner.path}`}`;
          problems.push({
            ...inner,
            path,
            message: `${path}: found ${inner.found}; allowed: ${inner.allowed}`,
          });
        }
    }
    // Malformed instance overrides cannot be merged: what they would give is already reported.
    if (problems.length > before) return;

    const resolved = resolveIntegrations(config, env);
    const from = (integration: ResolvedIntegration, field: string) =>
      sourcePath(config, env, index, integration, field);
    for (const integration of resolved) problems.push(...settingsProblems(integration, from, env, names));
    problems.push(...sharedResourceProblems(resolved, from));
  });
  return problems;
}

/** Rules between the fields of one integration's merged settings. */
function settingsProblems(
  integration: ResolvedIntegration,
  from: (integration: ResolvedIntegration, field: string) => (string | number)[],
  env: EnvironmentInput,
  names: string[],
): Problem[] {
  const problems: Problem[] = [];
  if (integration.kind === "functions") {
    const functions = integration.settings;
    if (functions.min_instances > functions.max_instances) {
      problems.push(
        problem(
          from(integration, "min_instances"),
          `min_instances ${functions.min_instances} above max_instances ${functions.max_instances}`,
          "min_instances <= max_instances",
        ),
      );
    }
  }
  if (integration.kind === "monitoring") {
    const monitoring = integration.settings;
    if (monitoring.error_rate_warning >= monitoring.error_rate_critical) {
      problems.push(
        problem(
          from(integration, "error_rate_warning"),
          `error_rate_warning ${monitoring.error_rate_warning} not below error_rate_critical ${monitoring.error_rate_critical}`,
          "error_rate_warning < error_rate_critical",
        ),
      );
    }
    if (monitoring.latency_ms_warning >= monitoring.latency_ms_critical) {
      problems.push(
        problem(
          from(integration, "latency_ms_warning"),
          `latency_ms_warning ${monitoring.latency_ms_warning} not below latency_ms_critical ${monitoring.latency_ms_critical}`,
          "latency_ms_warning < latency_ms_critical",
        ),
      );
    }
  }
  if (integration.kind === "cicd") {
    const promoteTo = integration.settings.promote_to;
    if (promoteTo !== "" && (promoteTo === env.name || !names.includes(promoteTo))) {
      problems.push(
        problem(
          from(integration, "promote_to"),
          `"${promoteTo}"`,
          `another declared environment: ${names.filter((name) => name !== env.name).join(", ") || "(none)"}`,
        ),
      );
    }
  }
  if (
    env.type === "production" &&
    integration.kind === "security" &&
    !integration.settings.forbid_open_rules
  ) {
    problems.push(
      problem(
        from(integration, "forbid_open_rules"),
        "false in a production environment",
        "true: production never accepts open rules",
      ),
    );
  }
  return problems;
}

/**
 * Two instances of a kind that would name the same thing in the project would overwrite each
 * other: each Hosting site, BigQuery dataset and Pub/Sub topic belongs to one instance.
 */
function sharedResourceProblems(
  integrations: ResolvedIntegration[],
  from: (integration: ResolvedIntegration, field: string) => (string | number)[],
): Problem[] {
  const problems: Problem[] = [];
  const owners = new Map<string, string>();
  const claim = (
    integration: ResolvedIntegration,
    field: string,
    what: string,
    value: string,
    at = from(integration, field),
  ) => {
    const key = `${integration.kind} ${what} ${value}`;
    const owner = owners.get(key);
    if (owner === undefined) owners.set(key, integration.name);
    else
      problems.push(
        problem(
          at,
          `${what} "${value}" of "${integration.name}", already used by "${owner}"`,
          `a ${what} no other instance of ${integration.kind} uses (set it in overrides["${integration.name}"].${field})`,
        ),
      );
  };
  for (const integration of integrations) {
    if (integration.kind === "hosting") claim(integration, "site", "site", integration.settings.site);
    if (integration.kind === "analytics")
      claim(integration, "dataset", "dataset", integration.settings.dataset);
    if (integration.kind === "functions")
      for (const topic of new Set(integration.settings.topics)) claim(integration, "topics", "topic", topic);
  }
  return problems;
}

/** Where a merged field came from: the instance's override, the kind's override, else base. */
function sourcePath(
  config: OrchestrationConfigInput,
  env: EnvironmentInput,
  index: number,
  integration: Pick<ResolvedIntegration, "kind" | "name">,
  field: string,
): (string | number)[] {
  const { kind, name } = integration;
  for (const key of new Set([name, kind])) {
    const override = env.overrides?.[key];
    if (isPlainObject(override) && field in override) return ["environments", index, "overrides", key, field];
  }
  const base: unknown = config.base.integrations[kind];
  if (isPlainObject(base) && field in base) return ["base", "integrations", kind, field];
  return ["environments", index, "overrides", name, field];
}

/** Every declared integration with its settings: defaults < base[kind] < overrides[kind] < overrides[name]. */
function resolveIntegrations(config: OrchestrationConfigInput, env: EnvironmentInput): ResolvedIntegration[] {
  return env.integrations.map((name) => {
    const kind = kindOf(name);
    const settings = [
      config.base.integrations[kind],
      env.overrides?.[kind],
      name === kind ? undefined : env.overrides?.[name],
    ].reduce(deepMerge, INTEGRATION_DEFAULTS[kind]);
    // The layers were each validated against the kind's shape, and defaults fill every field.
    return { kind, name, settings } as ResolvedIntegration;
  });
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
      return {
        name: env.name,
        type: env.type,
        project_id: env.project_id,
        region: env.region ?? config.base.region,
        mode: env.mode,
        concurrency: env.concurrency ?? config.base.concurrency,
        rollback_policy: env.rollback_policy ?? (env.type === "production" ? "all" : "failed-only"),
        integrations: resolveIntegrations(config, env),
        // The same layering as settings: defaults < engine[kind] < engine["kind:instance"].
        engine: Object.fromEntries(
          env.integrations.map((name) => [
            name,
            { ...TASK_ENGINE_DEFAULTS, ...env.engine?.[kindOf(name)], ...env.engine?.[name] },
          ]),
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
  const byName = (env: ResolvedEnvironment) =>
    Object.fromEntries(env.integrations.map((i) => [i.name, i.settings]));
  const { integrations: _a, name: _an, ...restA } = a;
  const { integrations: _b, name: _bn, ...restB } = b;
  walk({ ...restA, integrations: byName(a) }, { ...restB, integrations: byName(b) }, []);
  return out;
}

export type { Problem };
