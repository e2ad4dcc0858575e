/**
 * Tuning under guardrails: a recommendation's setting change applied as a config override, recorded
 * as a tuning action (before, after, evidence, expected gain, who, when, why), and watched as a
 * canary over the environment's next deployments. Pure: the store and the engine keep the records.
 *
 * The canary's metric is each deployment's actual seconds over the seconds its plan predicted (the
 * planner schedules with the learned durations under the setting in force), so deployments of
 * different integrations compare, and a change whose predicted cost was accepted (a lower limit
 * makes deployments longer) is not held against it: only doing worse than predicted is. The
 * change is reverted when the mean ratio of the watched deployments exceeds the baseline's (the
 * same ratio over the deployments before the change) by more than its spread and the configured
 * margin, or when more of them fail than the baseline's share allows (beyond its spread).
 */
import { mean, sampleStandardDeviation } from "simple-statistics";
import { z } from "zod";
import { TUNABLE_SETTINGS, type ResolvedEnvironment, type TuningConfig } from "../config-schema.js";
import type { Deployment } from "../engine-model.js";
import { INTEGRATION_KINDS, type IntegrationKind } from "../integrations.js";

export const TUNING_COLLECTIONS = {
  /** `tuning_actions/{id}`: every change applied, with its canary and its outcome. */
  actions: "tuning_actions",
  /** `tuning_overrides/{environment}__{setting}`: the value in force instead of the config's. */
  overrides: "tuning_overrides",
} as const;

/** A setting change a recommendation proposes, in the operator's terms: a config path and two values. */
export const settingChangeSchema = z.strictObject({
  setting: z.enum(TUNABLE_SETTINGS),
  environment: z.string().min(1),
  /** The integration kind a task engine setting is of; null for the environment's `concurrency`. */
  integration: z.enum(INTEGRATION_KINDS).nullable().default(null),
  /** The config path the override stands in for, e.g. `environments[name=dev].engine.functions.max_retries`. */
  path: z.string().min(1),
  before: z.number(),
  after: z.number(),
});
export type SettingChange = z.infer<typeof settingChangeSchema>;

/** The config path of a setting of an environment (of one of its integrations for the task engine settings). */
export function settingPath(
  setting: SettingChange["setting"],
  environment: string,
  integration: IntegrationKind | null = null,
): string {
  return integration === null
    ? `environments[name=${environment}].${setting}`
    : `environments[name=${environment}].engine.${integration}.${setting}`;
}

/** Whether a change may be applied without a person, and why (or why not), in config terms. */
export function guardrail(
  change: SettingChange,
  tuning: TuningConfig,
): { automatic: boolean; reason: string } {
  if (!tuning.auto_apply.includes(change.setting))
    return {
      automatic: false,
      reason: `tuning.auto_apply does not list "${change.setting}": a person applies it with POST /optimize/{id}/apply`,
    };
  const share = Math.abs(change.after - change.before) / Math.max(1, Math.abs(change.before));
  if (share > tuning.max_change)
    return {
      automatic: false,
      reason: `${change.path} ${change.before} -> ${change.after} changes it by ${round(share * 100, 1)} %, beyond tuning.max_change ${round(tuning.max_change * 100, 1)} %`,
    };
  return {
    automatic: true,
    reason: `tuning.auto_apply lists "${change.setting}" and ${change.before} -> ${change.after} (${round(share * 100, 1)} %) is within tuning.max_change ${round(tuning.max_change * 100, 1)} %`,
  };
}

const round = (value: number, decimals = 3) => Math.round(value * 10 ** decimals) / 10 ** decimals;

/** Shortest predicted time a ratio is taken over: plans of a fraction of a second would blow ratios up. */
const MIN_PLANNED_SECONDS = 1;

/** The deployments that ended (succeeded, failed or rolled back) with a duration and a plan. */
function finished<D extends Deployment>(deployments: readonly D[]): D[] {
  return deployments.filter(
    (deployment) =>
      (deployment.status === "succeeded" ||
        deployment.status === "failed" ||
        deployment.status === "rolled_back") &&
      deployment.actual_duration !== null &&
      deployment.estimated_completion !== null,
  );
}

/** A deployment's actual seconds over the seconds its plan predicted; null while it has not ended. */
export function overPlan(deployment: Deployment): number | null {
  if (finished([deployment]).length === 0) return null;
  const planned = (deployment.estimated_completion!.getTime() - deployment.created_at.getTime()) / 1000;
  return deployment.actual_duration! / Math.max(MIN_PLANNED_SECONDS, planned);
}

/** How many deployments before a change the baseline is taken over (the newest). */
export const BASELINE_DEPLOYMENTS = 20;

export const canarySchema = z.strictObject({
  metric: z.literal("seconds_over_plan"),
  unit: z.string(),
  /** Finished deployments watched before the change is kept. */
  deployments_needed: z.int().min(1),
  /** The metric over the deployments before the change: mean, spread, how many. */
  baseline_mean: z.number(),
  baseline_sd: z.number(),
  baseline_deployments: z.int().min(0),
  /** The mean the watched deployments may reach; above it the change is reverted. */
  allowed_mean: z.number(),
  rule: z.string(),
  /** The deployments watched so far, and their mean once judged. */
  watched: z.array(z.string()),
  observed_mean: z.number().nullable(),
  /**
   * The share of the baseline's deployments that failed or were rolled back, and the share the
   * watched ones may reach: a change that makes deployments fail is reverted even when they are
   * quick about it (fewer retries fail sooner). Records written before it had no such limit.
   */
  baseline_failure_share: z.number().default(0),
  allowed_failure_share: z.number().default(1),
  observed_failure_share: z.number().nullable().default(null),
});
export type Canary = z.infer<typeof canarySchema>;

/** With fewer deployments than this before the change, the baseline is the plan itself (ratio 1). */
const MIN_BASELINE_DEPLOYMENTS = 3;
/** The spread assumed without a baseline: a quarter of the plan. */
const DEFAULT_SD = 0.25;

/**
 * The canary of a change: the baseline from the environment's deployments before it, and the mean
 * the next `canary_deployments` may reach: baseline mean + 2 standard errors of a mean of that many
 * deployments (the spread) + `canary_margin` x the baseline mean.
 */
export function canaryFor(before: readonly Deployment[], tuning: TuningConfig): Canary {
  const baseline = finished(before)
    .sort((a, b) => b.created_at.getTime() - a.created_at.getTime())
    .slice(0, BASELINE_DEPLOYMENTS);
  const ratios = baseline.flatMap((deployment) => {
    const ratio = overPlan(deployment);
    return ratio === null ? [] : [ratio];
  });
  const known = ratios.length >= MIN_BASELINE_DEPLOYMENTS;
  const baselineMean = known ? mean(ratios) : 1;
  const sd = known ? sampleStandardDeviation(ratios) : DEFAULT_SD;
  const needed = tuning.canary_deployments;
  const spread = (2 * sd) / Math.sqrt(needed);
  const allowed = baselineMean + spread + tuning.canary_margin * baselineMean;
  const failureShare = baseline.length > 0 ? failedShare(baseline) : 0;
  const allowedFailures = allowedFailureShare(failureShare, needed);
  return {
    metric: "seconds_over_plan",
    unit: "a deployment's actual seconds / the seconds its plan predicted",
    deployments_needed: needed,
    baseline_mean: round(baselineMean),
    baseline_sd: round(sd),
    baseline_deployments: ratios.length,
    allowed_mean: round(allowed),
    rule: `reverted if the mean over the next ${needed} finished deployment(s) exceeds ${round(allowed)}: the baseline ${round(baselineMean)} (${known ? `mean of the last ${ratios.length} deployments` : `fewer than ${MIN_BASELINE_DEPLOYMENTS} deployments before the change: the plan itself`}) + 2 x ${round(sd)} / sqrt(${needed}) (the spread) + tuning.canary_margin ${tuning.canary_margin} x the baseline, or if more than ${round(allowedFailures)} of them fail or are rolled back (the baseline's ${round(failureShare)} + 2 standard errors of a share of ${needed})`,
    watched: [],
    observed_mean: null,
    baseline_failure_share: round(failureShare),
    allowed_failure_share: round(allowedFailures),
    observed_failure_share: null,
  };
}

/** The share of some ended deployments that failed or were rolled back. */
function failedShare(deployments: readonly Deployment[]): number {
  return deployments.filter((deployment) => deployment.status !== "succeeded").length / deployments.length;
}

/**
 * The failure share `needed` watched deployments may reach: the baseline's plus 2 standard errors
 * of a share of that many, the share taken as at least 1 in `needed` so that a baseline without
 * failures still allows one (5 watched: 0 -> 0.358, so 1 failure of 5 is kept and 2 reverted).
 */
function allowedFailureShare(baseline: number, needed: number): number {
  const p = Math.max(baseline, 1 / needed);
  return Math.min(1, baseline + 2 * Math.sqrt((p * (1 - p)) / needed));
}

export type CanaryVerdict =
  | { decision: "watching"; watched: string[]; message: string }
  | {
      decision: "keep" | "revert";
      watched: string[];
      observed_mean: number;
      observed_failure_share: number;
      message: string;
    };

/**
 * Judges a canary on the deployments of its environment created after the change (any order):
 * once `deployments_needed` of them have ended, keep or revert; before that, keep watching.
 */
export function judgeCanary(canary: Canary, after: readonly (Deployment & { id: string })[]): CanaryVerdict {
  const ended = finished(after)
    .sort((a, b) => a.created_at.getTime() - b.created_at.getTime() || a.id.localeCompare(b.id))
    .slice(0, canary.deployments_needed);
  const watched = ended.map((deployment) => deployment.id);
  if (ended.length < canary.deployments_needed)
    return {
      decision: "watching",
      watched,
      message: `${ended.length} of ${canary.deployments_needed} deployment(s) ended since the change`,
    };
  const observed = round(mean(ended.map((deployment) => overPlan(deployment)!)));
  const failures = ended.filter((deployment) => deployment.status !== "succeeded").length;
  const failureShare = round(failures / ended.length);
  const slower = observed > canary.allowed_mean;
  const failing = failureShare > canary.allowed_failure_share;
  const timing = `the ${ended.length} deployment(s) after the change took ${observed}x their plans on average, ${slower ? "beyond" : "within"} the ${canary.allowed_mean} allowed (baseline ${canary.baseline_mean})`;
  const outcomes = `${failures} of them failed or were rolled back (${failureShare}), ${failing ? "beyond" : "within"} the ${canary.allowed_failure_share} allowed (baseline ${canary.baseline_failure_share})`;
  return {
    decision: slower || failing ? "revert" : "keep",
    watched,
    observed_mean: observed,
    observed_failure_share: failureShare,
    message: `${timing}; ${outcomes}`,
  };
}

/** What a recommendation expected of a change, as `/optimize` reported it. */
export const expectedGainSchema = z.strictObject({
  metric: z.string(),
  value: z.number(),
  unit: z.string(),
  method: z.string(),
  /** The replay's figures (seconds per deployment under each setting, the spread of the difference). */
  simulated: z.record(z.string(), z.union([z.number(), z.string()])).nullable(),
});

/** `tuning_actions/{id}`: one change applied, its canary and what became of it. */
export const tuningActionSchema = z.strictObject({
  recommendation_id: z.string().min(1),
  change: settingChangeSchema,
  /** `auto`: the nightly job within the guardrails; `manual`: a person with POST /optimize/{id}/apply. */
  mode: z.enum(["auto", "manual"]),
  applied_by: z.string().min(1),
  applied_at: z.date(),
  /** Why: the recommendation's action, and the person's reason or the guardrail that allowed it. */
  reason: z.string().min(1),
  evidence: z.strictObject({
    metric: z.string(),
    value: z.number(),
    unit: z.string(),
    sample_size: z.int(),
    rule: z.string(),
    related: z.record(z.string(), z.number().nullable()),
  }),
  expected_gain: expectedGainSchema,
  canary: canarySchema,
  status: z.enum(["canary", "kept", "reverted"]),
  decided_at: z.date().nullable(),
  decision: z.string().nullable(),
});
export type TuningAction = z.infer<typeof tuningActionSchema>;

/** `tuning_overrides/{environment}__{setting}`: the value in force, and the action that set it. */
export const tuningOverrideSchema = z.strictObject({
  environment: z.string().min(1),
  setting: z.enum(TUNABLE_SETTINGS),
  integration: z.enum(INTEGRATION_KINDS).nullable().default(null),
  value: z.number(),
  action_id: z.string().min(1),
  since: z.date(),
});
export type TuningOverride = z.infer<typeof tuningOverrideSchema>;

/** The override document of a change: `{environment}__{setting}`, `__{integration}` for task engine settings. */
export const overrideId = (change: Pick<SettingChange, "environment" | "setting" | "integration">) =>
  change.integration === null
    ? `${change.environment}__${change.setting}`
    : `${change.environment}__${change.setting}__${change.integration}`;

/** An environment with the overrides in force applied. */
export function withOverrides(
  env: ResolvedEnvironment,
  overrides: readonly TuningOverride[],
): ResolvedEnvironment {
  let tuned = env;
  for (const override of overrides) {
    if (override.environment !== env.name) continue;
    if (override.setting === "concurrency") {
      tuned = { ...tuned, concurrency: override.value };
      continue;
    }
    const kind = override.integration;
    const current = kind === null ? undefined : tuned.engine[kind];
    // An override of an integration the config no longer declares has nothing to apply to.
    if (kind === null || !current) continue;
    tuned = {
      ...tuned,
      engine: { ...tuned.engine, [kind]: { ...current, [override.setting]: override.value } },
    };
  }
  return tuned;
}
