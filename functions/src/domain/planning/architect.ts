/**
 * Goal-oriented architecture planning: from goals and constraints to the cheapest (or the most
 * available) architecture that meets them, solved as a mixed-integer program. Each environment
 * picks exactly one option per slot; rows enforce the budget, the availability of every request
 * path (a sum of log-SLAs is the log of their product), RPO and RTO, the controls of each
 * compliance framework and data residency. When nothing fits, deletion filtering over those rows
 * finds the smallest set of fields that cannot hold together, and each is relaxed to its nearest
 * feasible value by solving again.
 */
import type { OrchestrationConfigInput } from "../config-schema.js";
import type { IntegrationKind } from "../integrations.js";
import { INTEGRATION_KINDS } from "../integrations.js";
import {
  infeasibleSets,
  solveModel,
  type MilpSolver,
  type Model,
  type ModelRow,
  type ModelVariable,
} from "./model.js";
import {
  CONTROLS,
  downtimePpm,
  environmentLoad,
  environmentOptions,
  FRAMEWORK_CONTROLS,
  functionInstances,
  LOCATIONS,
  PATHS,
  SLOTS,
  type PathName,
  type PlanOption,
  type Slot,
} from "./options.js";
import { PRICE_CATALOG } from "./price-catalog.js";
import {
  GEOGRAPHIES,
  PLANNED_ENVIRONMENTS,
  type PlannedEnvironment,
  type PlanningRequest,
} from "./request.js";
import { RISK_REGISTER, type RiskCondition } from "./risk-register.js";

/** Field names of the groups of rows, as the request names them. */
export const FIELDS = {
  budget: "constraints.monthly_budget_usd",
  availability: "goals.availability",
  rpo: "goals.rpo_minutes",
  rto: "goals.rto_minutes",
  residency: "constraints.data_residency",
  security: "constraints.security_level",
  compliance: "constraints.compliance",
} as const;

const ENV_TYPES = { dev: "development", staging: "staging", prod: "production" } as const;
const PROMOTE_TO: Record<PlannedEnvironment, string> = { dev: "staging", staging: "prod", prod: "" };

interface Built {
  model: Model;
  options: Map<string, PlanOption>;
  envs: PlannedEnvironment[];
  bySlot: Map<string, PlanOption[]>;
}

const slotKey = (env: string, slot: Slot) => `${env}/${slot}`;

/** Builds the model of a request; `objective` overrides what is optimized (relaxations use it). */
function buildModel(
  request: PlanningRequest,
  objective: "minimize_cost" | "maximize_availability" | "minimize_rto" = request.objective ??
    "minimize_cost",
): Built {
  const goals = request.goals;
  const constraints = request.constraints ?? {};
  const envs = PLANNED_ENVIRONMENTS.filter((env) =>
    (goals.environments ?? PLANNED_ENVIRONMENTS).includes(env),
  );
  const variables: ModelVariable[] = [];
  const rows: ModelRow[] = [];
  const options = new Map<string, PlanOption>();
  const bySlot = new Map<string, PlanOption[]>();
  const costTerms: [string, number][] = [];
  const objectiveTerms: (readonly [string, number])[] = [];
  let counter = 0;
  const nameOf = new Map<PlanOption, string>();

  for (const env of envs) {
    const next = PROMOTE_TO[env];
    const all = environmentOptions(
      environmentLoad(goals, env),
      next !== "" && envs.includes(next as PlannedEnvironment) ? next : "",
    );
    for (const slot of SLOTS) {
      const list = all[slot];
      bySlot.set(slotKey(env, slot), list);
      const names: string[] = [];
      for (const option of list) {
        const name = `x${counter++}`;
        variables.push({ name, kind: "binary" });
        options.set(name, option);
        nameOf.set(option, name);
        names.push(name);
        costTerms.push([name, option.cost]);
      }
      rows.push({
        name: `pick_${env}_${slot}`,
        group: null,
        terms: names.map((name) => [name, 1]),
        sense: "=",
        rhs: 1,
      });
    }
    const inGeo = (slot: Slot, geo: string) =>
      (bySlot.get(slotKey(env, slot)) ?? [])
        .filter((option) => option.geo === geo)
        .map((option) => nameOf.get(option) ?? "");
    // Functions run next to their database; analytics, when exported, stays in the database's geography.
    for (const geo of GEOGRAPHIES) {
      rows.push({
        name: `colocate_fn_${env}_${geo}`,
        group: null,
        terms: [
          ...inGeo("data", geo).map((n) => [n, 1] as const),
          ...inGeo("functions", geo).map((n) => [n, -1] as const),
        ],
        sense: "=",
        rhs: 0,
      });
      rows.push({
        name: `colocate_an_${env}_${geo}`,
        group: null,
        terms: [
          ...inGeo("analytics", geo).map((n) => [n, 1] as const),
          ...inGeo("data", geo).map((n) => [n, -1] as const),
        ],
        sense: "<=",
        rhs: 0,
      });
    }
    const residency = constraints.data_residency;
    if (residency !== undefined && residency !== "none") {
      const outside = SLOTS.flatMap((slot) => bySlot.get(slotKey(env, slot)) ?? []).filter(
        (option) => option.geo !== "global" && option.geo !== residency,
      );
      rows.push({
        name: `residency_${env}`,
        group: FIELDS.residency,
        terms: outside.map((o) => [nameOf.get(o) ?? "", 1]),
        sense: "<=",
        rhs: 0,
      });
    }
    if (env !== "prod") continue;
    const prodOptions = SLOTS.flatMap((slot) => bySlot.get(slotKey(env, slot)) ?? []);
    const pathTerms = (path: PathName) =>
      prodOptions.flatMap((option) =>
        option.paths
          .filter((p) => p.path === path)
          .map((p) => [nameOf.get(option) ?? "", downtimePpm(p.sla)] as const),
      );
    if (goals.availability !== undefined) {
      for (const path of Object.keys(PATHS) as PathName[]) {
        rows.push({
          name: `availability_${path}`,
          group: FIELDS.availability,
          terms: pathTerms(path),
          sense: "<=",
          rhs: downtimePpm(goals.availability),
        });
      }
    }
    if (objective === "maximize_availability") {
      variables.push({ name: "worst_downtime", kind: "continuous" });
      for (const path of Object.keys(PATHS) as PathName[]) {
        rows.push({
          name: `worst_${path}`,
          group: null,
          terms: [...pathTerms(path), ["worst_downtime", -1]],
          sense: "<=",
          rhs: 0,
        });
      }
      objectiveTerms.push(["worst_downtime", 1]);
    }
    const rpo = goals.rpo_minutes;
    if (rpo !== undefined) {
      const qualifying = prodOptions.filter(
        (option) => option.rpoMinutes !== null && option.rpoMinutes <= rpo,
      );
      rows.push({
        name: "rpo",
        group: FIELDS.rpo,
        terms: qualifying.map((o) => [nameOf.get(o) ?? "", 1]),
        sense: ">=",
        rhs: 1,
      });
    }
    const rtoTerms = prodOptions
      .filter((o) => o.rtoMinutes !== 0)
      .map((o) => [nameOf.get(o) ?? "", o.rtoMinutes] as const);
    if (goals.rto_minutes !== undefined) {
      rows.push({ name: "rto", group: FIELDS.rto, terms: rtoTerms, sense: "<=", rhs: goals.rto_minutes });
    }
    if (objective === "minimize_rto") objectiveTerms.push(...rtoTerms);
    const required: [string, string][] = [
      ...(constraints.compliance ?? []).map(
        (framework) => [`${FIELDS.compliance}:${framework}`, framework] as [string, string],
      ),
      ...(constraints.security_level === "high"
        ? [[FIELDS.security, "security_high"] as [string, string]]
        : []),
    ];
    for (const [group, framework] of required) {
      for (const control of FRAMEWORK_CONTROLS[framework as keyof typeof FRAMEWORK_CONTROLS]) {
        const providers = prodOptions.filter((option) => option.provides.includes(control));
        rows.push({
          name: `control_${framework}_${control}`,
          group,
          terms: providers.map((o) => [nameOf.get(o) ?? "", 1]),
          sense: ">=",
          rhs: 1,
        });
      }
    }
  }
  if (constraints.monthly_budget_usd !== undefined) {
    rows.push({
      name: "budget",
      group: FIELDS.budget,
      terms: costTerms,
      sense: "<=",
      rhs: constraints.monthly_budget_usd,
    });
  }
  // Cost decides first; the tie-break (1e-4 per step) only orders options of equal cost.
  const weight = objective === "minimize_cost" || objectiveTerms.length === 0 ? 1 : 1e-9;
  for (const [name, option] of options) objectiveTerms.push([name, weight * (option.cost + option.tieBreak)]);
  return {
    model: { variables, rows, objective: { sense: "minimize", terms: objectiveTerms } },
    options,
    envs,
    bySlot,
  };
}

/** One chosen integration of one environment. */
export interface PlannedIntegration {
  integration: IntegrationKind;
  option: string;
  settings: Record<string, unknown>;
  monthly_cost_usd: number;
  reason: string;
}

/** A conflict: a field of the request that, with the others listed, cannot hold. */
export interface Conflict {
  field: string;
  value: unknown;
  /** Which irreducible set it belongs to: each set alone cannot hold. */
  set: number;
}

/** The nearest value of one conflicting field that makes the request feasible, and what it costs. */
export interface Relaxation {
  field: string;
  value: unknown;
  nearest_feasible_value: unknown;
  /** True when relaxing this field alone makes the whole request feasible. */
  feasible_alone: boolean;
  /** Fields of the other conflicting sets, set aside while this relaxation was computed. */
  assumes_relaxed: string[];
  monthly_cost_usd: number | null;
}

/** What planning answers: a costed, risk-assessed architecture, or why there is none. */
export type PlanningOutcome =
  | { feasible: true; plan: ArchitecturePlan }
  | { feasible: false; conflicts: Conflict[]; relaxations: Relaxation[]; solver: SolverReport };

/** Facts about the solve, for the answer and the bench. */
export interface SolverReport {
  name: string;
  status: string;
  variables: number;
  rows: number;
  solves: number;
}

/** The architecture plan of a feasible request. */
export interface ArchitecturePlan {
  feasible: true;
  objective: string;
  environments: {
    environment: PlannedEnvironment;
    type: string;
    project_id: string;
    region: string;
    integrations: PlannedIntegration[];
    manual_steps: string[];
  }[];
  monthly_cost_usd: {
    total: number;
    by_environment: Record<string, number>;
    by_integration: Record<string, number>;
  };
  availability: {
    environment: string;
    target: number | null;
    achieved: number | null;
    composition: string;
    paths: {
      path: string;
      route: string;
      achieved: number;
      services: { service: string; sla: number; source: string }[];
    }[];
  };
  recovery: {
    environment: string;
    rpo_minutes: { target: number | null; achieved: number | null; by: string | null };
    rto_minutes: { target: number | null; achieved: number | null; composed_of: string[] };
  };
  compliance: { framework: string; control: string; requirement: string; met_by: string }[];
  risks: {
    id: string;
    environment: string;
    risk: string;
    likelihood: number;
    impact: number;
    score: number;
    inherent_score: number;
    mitigation: string;
    applied: string[];
    residual_risk: "low" | "medium" | "high";
  }[];
  resource_requirements: {
    environment: string;
    load_share: number;
    documents: number;
    reads_per_month: number;
    writes_per_month: number;
    function_invocations_per_month: number;
    peak_concurrent_requests: number;
    instances: { min: number; max: number };
    memory_mib: { per_instance: number; at_max_instances: number };
    storage_gib: { firestore: number; backups: number; hosting_gb: number };
  }[];
  price_catalog: {
    version: string;
    date: string;
    currency: string;
    free_tier_policy: string;
    unconfirmed: string[];
  };
  config: OrchestrationConfigInput;
  solver: SolverReport;
}

const round = (value: number, digits = 6) => Number(value.toFixed(digits));

function chosenOptions(built: Built, values: Record<string, number>): Map<string, PlanOption> {
  const chosen = new Map<string, PlanOption>();
  for (const [name, option] of built.options) {
    if ((values[name] ?? 0) > 0.5) chosen.set(slotKey(option.env, option.slot), option);
  }
  return chosen;
}

/** Solves a request once; the chosen options and the total cost, or null when infeasible. */
function solveOnce(
  request: PlanningRequest,
  solver: MilpSolver,
  objective?: "minimize_cost" | "maximize_availability" | "minimize_rto",
): { built: Built; chosen: Map<string, PlanOption>; cost: number } | null {
  const built = buildModel(request, objective);
  const solution = solveModel(built.model, solver);
  if (solution.status !== "optimal") return null;
  const chosen = chosenOptions(built, solution.values);
  return { built, chosen, cost: [...chosen.values()].reduce((sum, option) => sum + option.cost, 0) };
}

function pathAvailability(chosen: Map<string, PlanOption>, env: string, path: PathName) {
  const services = SLOTS.flatMap(
    (slot) => chosen.get(slotKey(env, slot))?.paths.filter((p) => p.path === path) ?? [],
  );
  return { services, achieved: services.reduce((product, s) => product * s.sla, 1) };
}

function worstAvailability(chosen: Map<string, PlanOption>): number {
  return Math.min(
    ...(Object.keys(PATHS) as PathName[]).map((path) => pathAvailability(chosen, "prod", path).achieved),
  );
}

function achievedRecovery(chosen: Map<string, PlanOption>) {
  const options = SLOTS.map((slot) => chosen.get(slotKey("prod", slot))).filter(
    (o): o is PlanOption => o !== undefined,
  );
  const rpoOption = options
    .filter((o) => o.rpoMinutes !== null)
    .sort((a, b) => (a.rpoMinutes ?? 0) - (b.rpoMinutes ?? 0))[0];
  return {
    rpo: rpoOption?.rpoMinutes ?? null,
    rpoBy: rpoOption?.label ?? null,
    rto: options.reduce((sum, o) => sum + o.rtoMinutes, 0),
    rtoTerms: options.flatMap((o) => (o.rtoTerm ? [o.rtoTerm] : [])),
  };
}

/** Why an option was chosen: the cheapest of its slot, or what the cheaper ones fail. */
function reasonFor(option: PlanOption, candidates: PlanOption[], request: PlanningRequest): string {
  const cheapest = Math.min(...candidates.map((candidate) => candidate.cost));
  const costText = `USD ${option.cost.toFixed(2)} a month`;
  if (option.cost <= cheapest + 1e-9) {
    const equal = candidates.filter((candidate) => candidate.cost <= cheapest + 1e-9).length;
    return equal > 1
      ? `cheapest (${costText}); among equally priced options, ${option.env === "prod" ? "the one that lowers risk in production" : "the lighter one outside production"}`
      : `cheapest option (${costText})`;
  }
  const needs = new Set<string>();
  const constraints = request.constraints ?? {};
  const frameworks = [
    ...(constraints.compliance ?? []),
    ...(constraints.security_level === "high" ? (["security_high"] as const) : []),
  ];
  const required = new Set(option.env === "prod" ? frameworks.flatMap((f) => FRAMEWORK_CONTROLS[f]) : []);
  for (const cheaper of candidates.filter((candidate) => candidate.cost < option.cost)) {
    if (
      constraints.data_residency &&
      constraints.data_residency !== "none" &&
      cheaper.geo !== "global" &&
      cheaper.geo !== constraints.data_residency
    ) {
      needs.add(`data residency ${constraints.data_residency}`);
      continue;
    }
    const slower = cheaper.paths.some((p) => option.paths.some((q) => q.path === p.path && p.sla < q.sla));
    if (slower && request.goals.availability !== undefined)
      needs.add(`availability ${request.goals.availability}`);
    if (
      request.goals.rpo_minutes !== undefined &&
      (cheaper.rpoMinutes ?? Infinity) > (option.rpoMinutes ?? Infinity)
    )
      needs.add(`RPO ${request.goals.rpo_minutes} min`);
    if (request.goals.rto_minutes !== undefined && cheaper.rtoMinutes > option.rtoMinutes)
      needs.add(`RTO ${request.goals.rto_minutes} min`);
    for (const control of option.provides.filter((c) => required.has(c) && !cheaper.provides.includes(c)))
      needs.add(`control ${control}`);
    if (cheaper.geo !== option.geo) needs.add("co-location with the database");
  }
  return `${costText}; cheaper options do not meet: ${[...needs].join(", ") || "the other choices of this environment"}`;
}

function conditionHolds(condition: RiskCondition, features: Record<string, unknown>): boolean {
  if (condition.feature === "backup_interval_minutes") {
    const interval = features.backup_interval_minutes;
    return typeof interval === "number" && interval <= condition.at_most;
  }
  return (features[condition.feature] ?? false) === condition.is;
}

function environmentConfig(
  request: PlanningRequest,
  env: PlannedEnvironment,
  chosen: Map<string, PlanOption>,
): OrchestrationConfigInput["environments"][number] {
  const overrides: Record<string, Record<string, unknown>> = {};
  const integrations: IntegrationKind[] = [];
  let region = "us-central1";
  for (const slot of SLOTS) {
    const option = chosen.get(slotKey(env, slot));
    if (!option) continue;
    if (option.region) region = option.region;
    for (const [kind, settings] of Object.entries(option.settings) as [
      IntegrationKind,
      Record<string, unknown> | null,
    ][]) {
      if (settings === null) continue;
      integrations.push(kind);
      if (Object.keys(settings).length > 0) overrides[kind] = settings;
    }
  }
  const prefix = request.project_prefix ?? "demo-planned";
  return {
    name: env,
    type: ENV_TYPES[env],
    project_id: `${prefix}-${env}`,
    region: region as OrchestrationConfigInput["base"]["region"],
    mode: "emulated",
    integrations: INTEGRATION_KINDS.filter((kind) => integrations.includes(kind)),
    overrides,
  };
}

function unconfirmedFigures(): string[] {
  const found: string[] = [];
  const walk = (value: unknown, path: string) => {
    if (value && typeof value === "object") {
      if ("status" in value && "value" in value) {
        if ((value as { status: string }).status !== "confirmed")
          found.push(`${path} (${(value as { status: string }).status})`);
        return;
      }
      for (const [key, child] of Object.entries(value)) walk(child, path ? `${path}.${key}` : key);
    }
  };
  walk(PRICE_CATALOG, "");
  return found;
}

function describePlan(
  request: PlanningRequest,
  built: Built,
  chosen: Map<string, PlanOption>,
  solver: SolverReport,
): ArchitecturePlan {
  const goals = request.goals;
  const byEnvironment: Record<string, number> = {};
  const byIntegration: Record<string, number> = {};
  const environments: ArchitecturePlan["environments"] = [];
  for (const env of built.envs) {
    const integrations: PlannedIntegration[] = [];
    const manual: string[] = [];
    let envCost = 0;
    for (const slot of SLOTS) {
      const option = chosen.get(slotKey(env, slot));
      if (!option) continue;
      envCost += option.cost;
      manual.push(...option.manualSteps);
      const reason = reasonFor(option, built.bySlot.get(slotKey(env, slot)) ?? [], request);
      for (const [kind, settings] of Object.entries(option.settings) as [
        IntegrationKind,
        Record<string, unknown> | null,
      ][]) {
        if (settings === null) continue;
        const cost = option.costBy[kind] ?? 0;
        byIntegration[kind] = (byIntegration[kind] ?? 0) + cost;
        integrations.push({
          integration: kind,
          option: `${slot}:${option.id}`,
          settings,
          monthly_cost_usd: round(cost),
          reason: `${option.label}: ${reason}; ${option.costTerms.join("; ")}`,
        });
      }
    }
    byEnvironment[env] = round(envCost);
    const config = environmentConfig(request, env, chosen);
    environments.push({
      environment: env,
      type: ENV_TYPES[env],
      project_id: config.project_id,
      region: config.region ?? "us-central1",
      integrations,
      manual_steps: manual,
    });
  }
  const total = Object.values(byEnvironment).reduce((sum, value) => sum + value, 0);
  const hasProd = built.envs.includes("prod");
  const paths = hasProd
    ? (Object.keys(PATHS) as PathName[]).map((path) => {
        const { services, achieved } = pathAvailability(chosen, "prod", path);
        return { path, route: PATHS[path], achieved: round(achieved, 8), services };
      })
    : [];
  const recovery = hasProd ? achievedRecovery(chosen) : null;
  const constraints = request.constraints ?? {};
  const frameworks = [
    ...(constraints.compliance ?? []),
    ...(constraints.security_level === "high" ? ["security_high" as const] : []),
  ];
  const compliance = hasProd
    ? frameworks.flatMap((framework) =>
        FRAMEWORK_CONTROLS[framework].map((control) => {
          const by = SLOTS.map((slot) => chosen.get(slotKey("prod", slot))).find((option) =>
            option?.provides.includes(control),
          );
          return {
            framework,
            control,
            requirement: CONTROLS[control] ?? control,
            met_by: by ? `prod ${by.slot}: ${by.label}` : "not met",
          };
        }),
      )
    : [];
  const risks = built.envs
    .filter((env) => env === "prod")
    .flatMap((env) => {
      const features: Record<string, unknown> = {
        residency_constrained:
          constraints.data_residency !== undefined && constraints.data_residency !== "none",
      };
      for (const slot of SLOTS) Object.assign(features, chosen.get(slotKey(env, slot))?.features ?? {});
      return RISK_REGISTER.map((entry) => {
        const applied = entry.modifiers.filter((modifier) => conditionHolds(modifier.when, features));
        const likelihood = Math.min(
          5,
          Math.max(1, entry.likelihood + applied.reduce((sum, m) => sum + m.likelihood, 0)),
        );
        const score = likelihood * entry.impact;
        return {
          id: entry.id,
          environment: env,
          risk: entry.risk,
          likelihood,
          impact: entry.impact,
          score,
          inherent_score: entry.likelihood * entry.impact,
          mitigation: entry.mitigation,
          applied: applied.map((m) => m.why),
          residual_risk:
            score >= 15 ? ("high" as const) : score >= 8 ? ("medium" as const) : ("low" as const),
        };
      });
    })
    .sort((a, b) => b.score - a.score);
  const resources = built.envs.map((env) => {
    const load = environmentLoad(goals, env);
    const fn = chosen.get(slotKey(env, "functions"));
    const data = chosen.get(slotKey(env, "data"));
    const settings = (fn?.settings.functions ?? {}) as { min_instances?: number; max_instances?: number };
    const { peakConcurrent } = functionInstances(load.invocationsPerDay);
    const a = PRICE_CATALOG.assumptions;
    const exportsPerDay = 1440 / (data?.features.backup_interval_minutes ?? 1440);
    const max = settings.max_instances ?? 0;
    return {
      environment: env,
      load_share: load.share,
      documents: Math.round((load.storageGib * 1024 * 1024) / a.average_document_kib),
      reads_per_month: load.readsPerDay * a.days_per_month,
      writes_per_month: load.writesPerDay * a.days_per_month,
      function_invocations_per_month: load.invocationsPerDay * a.days_per_month,
      peak_concurrent_requests: round(peakConcurrent, 3),
      instances: { min: settings.min_instances ?? 0, max },
      memory_mib: {
        per_instance: a.function_memory_gib * 1024,
        at_max_instances: a.function_memory_gib * 1024 * max,
      },
      storage_gib: {
        firestore: load.storageGib,
        backups: round(load.storageGib * a.backup_retention_days * exportsPerDay, 3),
        hosting_gb: a.hosting_site_gb,
      },
    };
  });
  const configEnvs = built.envs.map((env) => environmentConfig(request, env, chosen));
  return {
    feasible: true,
    objective: request.objective ?? "minimize_cost",
    environments,
    monthly_cost_usd: {
      total: round(total),
      by_environment: byEnvironment,
      by_integration: Object.fromEntries(Object.entries(byIntegration).map(([k, v]) => [k, round(v)])),
    },
    availability: {
      environment: hasProd ? "prod" : "none planned",
      target: goals.availability ?? null,
      achieved: hasProd ? round(worstAvailability(chosen), 8) : null,
      composition:
        "product of the published SLAs of the services on each request path; achieved is the weakest path",
      paths,
    },
    recovery: {
      environment: hasProd ? "prod" : "none planned",
      rpo_minutes: {
        target: goals.rpo_minutes ?? null,
        achieved: recovery?.rpo ?? null,
        by: recovery?.rpoBy ?? null,
      },
      rto_minutes: {
        target: goals.rto_minutes ?? null,
        achieved: recovery ? round(recovery.rto, 3) : null,
        composed_of: recovery?.rtoTerms ?? [],
      },
    },
    compliance,
    risks,
    resource_requirements: resources,
    price_catalog: {
      version: PRICE_CATALOG.version,
      date: PRICE_CATALOG.date,
      currency: PRICE_CATALOG.currency,
      free_tier_policy: PRICE_CATALOG.free_tier_policy,
      unconfirmed: unconfirmedFigures(),
    },
    config: {
      version: 1,
      base: { region: configEnvs[0]?.region ?? "us-central1", concurrency: 4, integrations: {} },
      environments: configEnvs,
    },
    solver,
  };
}

function conflictValue(request: PlanningRequest, group: string): { field: string; value: unknown } {
  if (group.startsWith(`${FIELDS.compliance}:`))
    return { field: FIELDS.compliance, value: group.slice(FIELDS.compliance.length + 1) };
  const [section, key] = group.split(".") as ["goals" | "constraints", string];
  const source = (section === "goals" ? request.goals : (request.constraints ?? {})) as Record<
    string,
    unknown
  >;
  return { field: group, value: source[key] };
}

/** The request with one field relaxed to `value` (undefined removes it). */
function withField(request: PlanningRequest, group: string, value: unknown): PlanningRequest {
  const constraints = { ...(request.constraints ?? {}) };
  const goals = { ...request.goals };
  if (group.startsWith(`${FIELDS.compliance}:`)) {
    const framework = group.slice(FIELDS.compliance.length + 1);
    constraints.compliance = (constraints.compliance ?? []).filter((name) => name !== framework);
  } else {
    const [section, key] = group.split(".") as ["goals" | "constraints", string];
    const target = (section === "goals" ? goals : constraints) as Record<string, unknown>;
    if (value === undefined) delete target[key];
    else target[key] = value;
  }
  return { ...request, goals, constraints };
}

function relax(
  original: PlanningRequest,
  group: string,
  others: string[],
  alone: boolean,
  solver: MilpSolver,
): Relaxation {
  const { field, value } = conflictValue(original, group);
  const request = others.reduce((current, other) => withField(current, other, undefined), original);
  const open = withField(request, group, undefined);
  let nearest: unknown;
  if (group === FIELDS.budget) {
    const cheapest = solveOnce(open, solver, "minimize_cost");
    nearest = cheapest ? Math.ceil(cheapest.cost * 100) / 100 : null;
  } else if (group === FIELDS.availability) {
    const best = solveOnce(open, solver, "maximize_availability");
    // Rounded down, so the relaxed target is one the best architecture meets.
    nearest = best ? Math.floor(worstAvailability(best.chosen) * 1e6) / 1e6 : null;
  } else if (group === FIELDS.rto) {
    const best = solveOnce(open, solver, "minimize_rto");
    nearest = best ? Math.ceil(achievedRecovery(best.chosen).rto) : null;
  } else if (group === FIELDS.rpo) {
    const candidates = [1, 60, 360, 1440].filter((minutes) => minutes >= (request.goals.rpo_minutes ?? 0));
    nearest =
      candidates.find((minutes) => solveOnce(withField(request, group, minutes), solver) !== null) ?? null;
  } else if (group === FIELDS.security) {
    nearest = "baseline";
  } else if (group === FIELDS.residency) {
    nearest = "none";
  } else {
    nearest = (request.constraints?.compliance ?? []).filter(
      (name) => `${FIELDS.compliance}:${name}` !== group,
    );
  }
  const assumes = others.map((other) => conflictValue(original, other).field);
  if (nearest === null)
    return {
      field,
      value,
      nearest_feasible_value: null,
      feasible_alone: false,
      assumes_relaxed: assumes,
      monthly_cost_usd: null,
    };
  const relaxed = group.startsWith(`${FIELDS.compliance}:`) ? open : withField(request, group, nearest);
  const solved = solveOnce(relaxed, solver, "minimize_cost");
  return {
    field,
    value,
    nearest_feasible_value: nearest,
    feasible_alone: alone && solved !== null,
    assumes_relaxed: assumes,
    monthly_cost_usd: solved ? round(solved.cost) : null,
  };
}

/** Plans an architecture for a request, with the given MILP solver. */
export function planArchitecture(request: PlanningRequest, solver: MilpSolver): PlanningOutcome {
  let solves = 0;
  const counting: MilpSolver = { solve: (lp) => (solves++, solver.solve(lp)) };
  const built = buildModel(request);
  const solution = solveModel(built.model, counting);
  const report = (status: string): SolverReport => ({
    name: "HiGHS",
    status,
    variables: built.model.variables.length,
    rows: built.model.rows.length,
    solves,
  });
  if (solution.status === "optimal") {
    return {
      feasible: true,
      plan: describePlan(request, built, chosenOptions(built, solution.values), report(solution.detail)),
    };
  }
  const sets = infeasibleSets(built.model, counting);
  const conflicts = sets.flatMap((set, index) =>
    set.map((group) => ({ ...conflictValue(request, group), set: index })),
  );
  const relaxations = sets.flatMap((set) => {
    const others = sets.filter((other) => other !== set).flat();
    return set.map((group) => relax(request, group, others, sets.length === 1, counting));
  });
  return { feasible: false, conflicts, relaxations, solver: report(solution.detail) };
}

/** Locations the planner may choose, by geography (for callers that check residency). */
export const PLANNED_LOCATIONS = LOCATIONS;
