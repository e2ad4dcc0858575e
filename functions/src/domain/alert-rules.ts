/**
 * Alert rules that fire: an environment's threshold rules (the monitoring driver installs them in
 * `alert_rules/{environment}`) evaluated against each health check and against the warehouse's
 * recent deployments (failure rate and p95 duration over a trailing window), with durations. A rule fires
 * only once its condition has held for `for_seconds` without a break, so one bad probe is not an
 * incident; one alert per metric and incident opens at the worst severity that has held, escalates
 * to critical, and resolves as soon as no rule of the metric is breached. Pure.
 */
import { z } from "zod";
import type { AlertLevel } from "./health.js";

/** Measured by each health check's probes. */
export const PROBE_METRICS = ["error_rate", "latency_ms"] as const;
/** Measured from the warehouse's deployments of the environment over a trailing window. */
export const WAREHOUSE_METRICS = ["deployment_failure_rate", "deployment_p95_seconds"] as const;
export const RULE_METRICS = [...PROBE_METRICS, ...WAREHOUSE_METRICS] as const;
export type RuleMetric = (typeof RULE_METRICS)[number];

/** One installed rule, as `alert_rules/{environment}` holds it (older installs have no duration: 0). */
export const alertRuleSchema = z.object({
  id: z.string(),
  metric: z.enum([...RULE_METRICS, "health_status"]),
  severity: z.enum(["critical", "warning", "info"]),
  comparison: z.enum([">=", "=="]),
  threshold: z.union([z.number(), z.string()]),
  for_seconds: z.number().min(0).default(0),
});
export type InstalledRule = z.infer<typeof alertRuleSchema>;

/**
 * The environment's deployments that finished within the window, from the warehouse: how many,
 * how many failed or rolled back, their p95 duration. Fewer than `min_deployments` is no evidence.
 */
export interface WarehouseSample {
  window_minutes: number;
  min_deployments: number;
  finished: number;
  failed: number;
  p95_seconds: number | null;
}

/** What a health check measured of an environment: each probe's status and latency, and the warehouse's figures. */
export interface CheckSample {
  probes: { integration: string; status: "healthy" | "degraded" | "down"; latency_ms: number }[];
  /** Null when no warehouse is configured, or it could not answer: its rules are then not evaluated. */
  warehouse?: WarehouseSample | null;
}

/** Deployment statuses the warehouse's failure rate counts, and the ones among them that failed. */
const FINISHED = ["succeeded", "failed", "rolled_back"];
const FAILED = ["failed", "rolled_back"];

/**
 * The warehouse sample of one environment from the `deployment_outcomes` and
 * `deployment_durations` rows of the window (cancelled deployments count for neither).
 */
export function warehouseSample(
  environment: string,
  outcomes: readonly Record<string, unknown>[],
  durations: readonly Record<string, unknown>[],
  settings: { window_minutes: number; min_deployments: number },
): WarehouseSample {
  const mine = outcomes.filter((row) => row.environment === environment);
  const count = (statuses: string[]) =>
    mine
      .filter((row) => statuses.includes(String(row.status)))
      .reduce((sum, row) => sum + Number(row.deployments), 0);
  const p95 = durations.find((row) => row.environment === environment)?.p95;
  return {
    ...settings,
    finished: count(FINISHED),
    failed: count(FAILED),
    p95_seconds: typeof p95 === "number" ? p95 : null,
  };
}

/**
 * A metric's value in a check, and what is behind it (the slowest probe for latency, the failed
 * share for the warehouse); null when the check did not measure it (no warehouse).
 */
export function measure(
  metric: RuleMetric,
  sample: CheckSample,
): { value: number; culprit: string | null } | null {
  if (metric === "deployment_failure_rate" || metric === "deployment_p95_seconds") {
    const figures = sample.warehouse;
    if (!figures) return null;
    if (figures.finished < figures.min_deployments)
      return {
        value: 0,
        culprit: `${figures.finished} deployment(s) in ${figures.window_minutes} min, fewer than ${figures.min_deployments}: no evidence`,
      };
    return metric === "deployment_failure_rate"
      ? {
          value: figures.failed / figures.finished,
          culprit: `${figures.failed} of ${figures.finished} deployments in the last ${figures.window_minutes} min failed`,
        }
      : {
          value: figures.p95_seconds ?? 0,
          culprit: `p95 of ${figures.finished} deployments in the last ${figures.window_minutes} min`,
        };
  }
  if (sample.probes.length === 0) return { value: 0, culprit: null };
  if (metric === "error_rate") {
    const failing = sample.probes.filter((probe) => probe.status !== "healthy");
    return {
      value: failing.length / sample.probes.length,
      culprit: failing.map((probe) => probe.integration).join(", ") || null,
    };
  }
  const slowest = sample.probes.reduce((worst, probe) =>
    probe.latency_ms > worst.latency_ms ? probe : worst,
  );
  return { value: slowest.latency_ms, culprit: slowest.integration };
}

/** Per environment and metric: since when each severity's rule has been breached, and the open incident. */
export const ruleStateSchema = z.strictObject({
  breaching_since: z.record(z.string(), z.date()),
  open_alert: z.string().nullable(),
  open_level: z.enum(["critical", "warning", "info"]).nullable(),
  incidents: z.int().min(0),
  last_value: z.number(),
  last_checked_at: z.date(),
});
export type RuleState = z.infer<typeof ruleStateSchema>;

export type RuleDecision =
  | { action: "none" }
  | { action: "open"; level: AlertLevel; rule: InstalledRule }
  | { action: "escalate"; level: AlertLevel; rule: InstalledRule }
  | { action: "resolve" };

const RANK: Record<AlertLevel, number> = { info: 0, warning: 1, critical: 2 };

function breached(rule: InstalledRule, value: number): boolean {
  if (typeof rule.threshold !== "number") return false;
  return rule.comparison === ">=" ? value >= rule.threshold : value === rule.threshold;
}

/**
 * One check's verdict on a metric: the next state (breach start times kept while breached, dropped
 * at the first check that is not) and what happens to the metric's alert; an incident's alert id
 * comes from `alertIdFor(incident number)`.
 */
export function evaluateMetric(
  rules: readonly InstalledRule[],
  value: number,
  now: Date,
  previous: RuleState | undefined,
  alertIdFor: (incident: number) => string,
): { state: RuleState; decision: RuleDecision } {
  const since: Record<string, Date> = {};
  let held: InstalledRule | undefined;
  for (const rule of rules) {
    if (!breached(rule, value)) continue;
    const start = previous?.breaching_since[rule.id] ?? now;
    since[rule.id] = start;
    const lasted = (now.getTime() - start.getTime()) / 1000 >= rule.for_seconds;
    if (lasted && (!held || RANK[rule.severity] > RANK[held.severity])) held = rule;
  }
  const openLevel = previous?.open_alert ? previous.open_level : null;
  let decision: RuleDecision = { action: "none" };
  if (!openLevel) {
    if (held) decision = { action: "open", level: held.severity, rule: held };
  } else if (Object.keys(since).length === 0) {
    decision = { action: "resolve" };
  } else if (held && RANK[held.severity] > RANK[openLevel]) {
    decision = { action: "escalate", level: held.severity, rule: held };
  }
  return {
    state: {
      breaching_since: since,
      open_alert:
        decision.action === "resolve"
          ? null
          : decision.action === "open"
            ? alertIdFor((previous?.incidents ?? 0) + 1)
            : (previous?.open_alert ?? null),
      open_level:
        decision.action === "resolve" ? null : decision.action === "none" ? openLevel : decision.level,
      incidents: (previous?.incidents ?? 0) + (decision.action === "open" ? 1 : 0),
      last_value: value,
      last_checked_at: now,
    },
    decision,
  };
}

/** How a rule reads in an alert: `latency_ms 1840 >= 1000 for 300 s (slowest: firestore)`. */
export function ruleMessage(
  environment: string,
  rule: InstalledRule,
  value: number,
  culprit: string | null,
): string {
  const rate = rule.metric === "error_rate" || rule.metric === "deployment_failure_rate";
  const shown = rate ? value.toFixed(3) : String(Math.round(value));
  const who = !culprit
    ? ""
    : rule.metric === "error_rate"
      ? ` (failing: ${culprit})`
      : rule.metric === "latency_ms"
        ? ` (slowest: ${culprit})`
        : ` (${culprit})`;
  return `rule ${rule.id} in ${environment}: ${rule.metric} ${shown} ${rule.comparison} ${rule.threshold} for ${rule.for_seconds} s${who}`;
}
