/**
 * Optimization from real history: statistics per integration and per environment (durations,
 * flakiness, retries, concurrency, queueing, deployment success), and recommendations that each
 * carry the numbers behind them. Pure: the history is loaded by `store/history.ts`.
 */
import { z } from "zod";
import type { TaskEngineSetting } from "./config-schema.js";
import type { Deployment, Task } from "./engine-model.js";
import type { IntegrationKind } from "./integrations.js";
import type { AlertDoc, IntegrationDoc } from "./model.js";
import { groupBy } from "./group-by.js";
import { learn, type LearnedModel } from "./learning/estimates.js";
import { replayConcurrency, type ConcurrencyReplay } from "./learning/replay.js";
import {
  attemptP99,
  recoveryModel,
  replayLease,
  replayRetryPolicy,
  type LeaseReplay,
  type PolicyFigures,
  type RetryPolicy,
  type RetryReplay,
} from "./learning/retry-replay.js";
import { runsFromTasks } from "./learning/runs.js";
import { settingPath, type SettingChange } from "./learning/tuning.js";
import { zodIssueToProblem, type Problem } from "./problems.js";

/** A time window, half-open: `from <= t < to`. */
export interface TimeRange {
  from: Date;
  to: Date;
}

/** What the control plane recorded over a time window: the input of every analysis here. */
export interface History {
  range: TimeRange;
  /** The environment the history was limited to, or null for all. */
  environment: string | null;
  /** Deployments created in the range, newest first. */
  deployments: Deployment[];
  /** The tasks of those deployments. */
  tasks: Task[];
  /** The integrations as they are now, with their last health check. */
  integrations: IntegrationDoc[];
  /** Alerts opened in the range, newest first. */
  alerts: (AlertDoc & { id: string })[];
  /** True when a read limit cut the history: only the newest `limits` documents were read. */
  truncated: boolean;
  limits: { deployments: number; alerts: number };
}

/** An empty history over a range (no deployments, tasks, integrations or alerts). */
export function emptyHistory(range: TimeRange, environment: string | null = null): History {
  return {
    range,
    environment,
    deployments: [],
    tasks: [],
    integrations: [],
    alerts: [],
    truncated: false,
    limits: { deployments: 0, alerts: 0 },
  };
}

// ---------------------------------------------------------------------------------------------
// The request

export const OPTIMIZATION_TARGETS = ["duration", "reliability", "cost", "concurrency"] as const;
export type OptimizationTarget = (typeof OPTIMIZATION_TARGETS)[number];

/** `POST /optimize` body. Every target when none is given. */
export const optimizeRequestSchema = z.strictObject({
  optimization_targets: z
    .array(z.enum(OPTIMIZATION_TARGETS))
    .min(1)
    .default([...OPTIMIZATION_TARGETS]),
  constraints: z
    .strictObject({
      /** No recommendation raises an environment's concurrency above this. */
      max_concurrency: z.int().min(1).max(100).optional(),
      /** Only these environments are analysed. */
      environments: z.array(z.string().min(1)).min(1).optional(),
    })
    .default({}),
});
export type OptimizeRequest = z.infer<typeof optimizeRequestSchema>;

/** Parses a `POST /optimize` body; problems name each field at fault. */
export function parseOptimizeRequest(
  body: unknown,
): { ok: true; request: OptimizeRequest } | { ok: false; problems: Problem[] } {
  const parsed = optimizeRequestSchema.safeParse(body ?? {});
  if (parsed.success) return { ok: true, request: parsed.data };
  return {
    ok: false,
    problems: parsed.error.issues.map((issue) => zodIssueToProblem(issue, body, optimizeRequestSchema)),
  };
}

// ---------------------------------------------------------------------------------------------
// Thresholds: no recommendation is made on fewer samples than these.

export const THRESHOLDS = {
  /** Runs of an integration (or deployments of an environment) needed before any recommendation about it. */
  min_samples: 3,
  /** Duration: the slowest this many integrations (by p95) are candidates. */
  slowest_count: 3,
  /** Duration: the tail (p95 - p50) must be at least this many seconds to be worth investigating. */
  min_tail_seconds: 1,
  /** Duration: an estimate off by at least this share of itself (at the median) is recalibrated. */
  estimate_error_ratio: 0.5,
  /** Reliability: share of runs that needed a retry or failed. */
  flaky_ratio: 0.2,
  /** Reliability: environments whose deployment success rate is below this. */
  deployment_success_rate: 0.9,
  /** Concurrency: p95 queue wait (seconds from ready to started) at the limit. */
  queue_wait_p95_seconds: 5,
  /** Cost: unused concurrency slots at the peak before lowering the limit. */
  idle_slots: 2,
} as const;

// ---------------------------------------------------------------------------------------------
// Statistics

/** Count, mean and nearest-rank percentiles of a sample, in its unit; null when the sample is empty. */
export interface Distribution {
  count: number;
  mean: number | null;
  p50: number | null;
  p95: number | null;
  max: number | null;
}

/** Rounds to a fixed number of decimals, so reported numbers are stable. */
export function round(value: number, decimals = 3): number {
  const factor = 10 ** decimals;
  return Math.round(value * factor) / factor;
}

/** Nearest-rank percentile: the smallest value with at least p% of the sample at or below it. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] ?? null;
}

/** Count, mean, p50, p95 and max of a sample (nearest-rank percentiles, 3 decimals). */
export function distribution(values: readonly number[]): Distribution {
  if (values.length === 0) return { count: 0, mean: null, p50: null, p95: null, max: null };
  const sum = values.reduce((total, value) => total + value, 0);
  const r = (value: number | null) => (value === null ? null : round(value));
  return {
    count: values.length,
    mean: round(sum / values.length),
    p50: r(percentile(values, 50)),
    p95: r(percentile(values, 95)),
    max: r(Math.max(...values)),
  };
}

const ratio = (part: number, whole: number): number | null => (whole > 0 ? round(part / whole, 4) : null);
const secondsBetween = (from: Date, to: Date) => (to.getTime() - from.getTime()) / 1000;

/** A task that ran and finished: it started, and succeeded, failed or was rolled back after success. */
function isRun(task: Task): boolean {
  return (
    task.started_at !== null &&
    (task.status === "succeeded" || task.status === "failed" || task.status === "rolled_back")
  );
}
/** A run that succeeded (a rolled-back task had succeeded before it was undone). */
function isSuccessfulRun(task: Task): boolean {
  return task.started_at !== null && (task.status === "succeeded" || task.status === "rolled_back");
}

/** What one integration of one environment did over the window. */
export interface IntegrationStats {
  environment: string;
  integration: string;
  /** Tasks of this integration in the window, whatever their status. */
  tasks: number;
  /** Tasks that ran and finished (succeeded, failed or rolled back after success). */
  runs: number;
  succeeded: number;
  failed: number;
  /** Failed runs that had used every retry they were allowed. */
  failed_after_all_retries: number;
  /** Runs that needed at least one retry. */
  retried_runs: number;
  /** Retried runs that then succeeded. */
  recovered_runs: number;
  /** Retries over all runs. */
  retries: number;
  /** Attempts started over all runs. */
  attempts: number;
  /** Runs that needed a retry or failed, over runs. */
  flaky_rate: number | null;
  /** Retries per run. */
  retry_rate: number | null;
  failure_rate: number | null;
  /** Seconds from first start to success, over successful runs. */
  duration: Distribution;
  /** The planner's estimate, in seconds (of the latest task). */
  estimated_duration: number | null;
  /** (p50 - estimate) / estimate: positive when the estimate is too low. */
  estimate_error: number | null;
  /** max_retries of the latest run. */
  max_retries: number | null;
  /**
   * Runs read from the documents: what failed_after_all_retries, attempts, the estimate, max_retries
   * and last_error are of. Equal to runs unless the counts came from the warehouse.
   */
  sampled_runs: number;
  /** The error of the latest failed run, if any. */
  last_error: string | null;
}

/** What one environment did over the window. */
export interface EnvironmentStats {
  environment: string;
  deployments: number;
  deployments_by_status: Record<string, number>;
  /** succeeded / (succeeded + failed + rolled_back); cancelled deployments are not counted. */
  success_rate: number | null;
  /** Deployments that ended failed or rolled back. */
  failed_deployments: number;
  /** Seconds from start to end, over finished deployments that started. */
  deployment_duration: Distribution;
  tasks: number;
  runs: number;
  retries: number;
  attempts: number;
  /** The concurrency limit of the latest task (the environment's `concurrency` when it was planned). */
  concurrency_limit: number | null;
  /** Most tasks running at the same moment, from started_at/completed_at (running tasks end now). */
  peak_concurrency: number;
  /** limit - peak; null without a limit. */
  headroom: number | null;
  /** Seconds from ready (created, or the last dependency completed) to the first start, over started tasks. */
  queue_wait: Distribution;
  /**
   * Deployments read from the documents: what attempts, the peak, the limit and queue waits are of.
   * Equal to deployments unless the counts came from the warehouse.
   */
  sampled_deployments: number;
}

/** Statistics of a history: the numbers every recommendation and report is built from. */
export interface Analysis {
  integrations: IntegrationStats[];
  environments: EnvironmentStats[];
}

const latest = <T extends { created_at: Date }>(items: readonly T[]): T | undefined =>
  items.reduce<T | undefined>(
    (best, item) =>
      best === undefined || item.created_at.getTime() > best.created_at.getTime() ? item : best,
    undefined,
  );

function integrationStats(environment: string, integration: string, tasks: Task[]): IntegrationStats {
  const runs = tasks.filter(isRun);
  const successful = runs.filter(isSuccessfulRun);
  const failed = runs.filter((task) => task.status === "failed");
  const retried = runs.filter((task) => task.retry_count > 0);
  const flaky = runs.filter((task) => task.retry_count > 0 || task.status === "failed");
  const retries = runs.reduce((total, task) => total + task.retry_count, 0);
  const attempts = runs.reduce((total, task) => total + task.attempt, 0);
  const duration = distribution(
    successful.flatMap((task) => (task.actual_duration === null ? [] : [task.actual_duration])),
  );
  const last = latest(tasks);
  const lastRun = latest(runs);
  const estimate = last?.estimated_duration ?? null;
  return {
    environment,
    integration,
    tasks: tasks.length,
    runs: runs.length,
    succeeded: successful.length,
    failed: failed.length,
    failed_after_all_retries: failed.filter((task) => task.retry_count >= task.max_retries).length,
    retried_runs: retried.length,
    recovered_runs: retried.filter(isSuccessfulRun).length,
    retries,
    attempts,
    flaky_rate: ratio(flaky.length, runs.length),
    retry_rate: ratio(retries, runs.length),
    failure_rate: ratio(failed.length, runs.length),
    duration,
    estimated_duration: estimate,
    estimate_error:
      estimate !== null && estimate > 0 && duration.p50 !== null
        ? round((duration.p50 - estimate) / estimate, 4)
        : null,
    max_retries: lastRun?.max_retries ?? null,
    last_error: latest(failed)?.error_message ?? null,
    sampled_runs: runs.length,
  };
}

/** Most intervals open at one moment; an interval ending when another starts does not overlap it. */
export function peakOverlap(intervals: readonly { start: number; end: number }[]): number {
  const events = intervals.flatMap(({ start, end }) => [
    { at: start, delta: 1 },
    { at: end, delta: -1 },
  ]);
  events.sort((a, b) => a.at - b.at || a.delta - b.delta);
  let open = 0;
  let peak = 0;
  for (const event of events) {
    open += event.delta;
    peak = Math.max(peak, open);
  }
  return peak;
}

/** When a task became ready: created, or when the last of its dependencies completed. */
function readyTime(task: Task, byId: Map<string, Task>): Date {
  let ready = task.created_at.getTime();
  for (const dependency of task.dependencies) {
    const completed = byId.get(dependency)?.completed_at;
    if (completed) ready = Math.max(ready, completed.getTime());
  }
  return new Date(ready);
}

const FAILED_DEPLOYMENT = new Set(["failed", "rolled_back"]);

function environmentStats(
  environment: string,
  deployments: Deployment[],
  tasks: Task[],
  byId: Map<string, Task>,
  now: Date,
): EnvironmentStats {
  const byStatus: Record<string, number> = {};
  for (const deployment of deployments) byStatus[deployment.status] = (byStatus[deployment.status] ?? 0) + 1;
  const succeeded = byStatus.succeeded ?? 0;
  const failed = deployments.filter((deployment) => FAILED_DEPLOYMENT.has(deployment.status)).length;
  const runs = tasks.filter(isRun);
  const started = tasks.filter((task) => task.started_at !== null);
  const intervals = started.flatMap((task) => {
    const start = task.started_at!.getTime();
    const end = task.completed_at?.getTime() ?? (task.status === "running" ? now.getTime() : null);
    return end === null ? [] : [{ start, end: Math.max(start, end) }];
  });
  const peak = peakOverlap(intervals);
  const limit = latest(tasks)?.concurrency_limit ?? null;
  return {
    environment,
    deployments: deployments.length,
    deployments_by_status: byStatus,
    success_rate: ratio(succeeded, succeeded + failed),
    failed_deployments: failed,
    deployment_duration: distribution(
      deployments.flatMap((deployment) =>
        deployment.started_at !== null && deployment.actual_duration !== null
          ? [deployment.actual_duration]
          : [],
      ),
    ),
    tasks: tasks.length,
    runs: runs.length,
    retries: runs.reduce((total, task) => total + task.retry_count, 0),
    attempts: runs.reduce((total, task) => total + task.attempt, 0),
    concurrency_limit: limit,
    peak_concurrency: peak,
    headroom: limit === null ? null : limit - peak,
    queue_wait: distribution(
      started.map((task) => Math.max(0, secondsBetween(readyTime(task, byId), task.started_at!))),
    ),
    sampled_deployments: deployments.length,
  };
}

/** Restricts a history to some environments (all when `environments` is undefined). */
export function restrictHistory(history: History, environments: readonly string[] | undefined): History {
  if (!environments) return history;
  const keep = new Set(environments);
  return {
    ...history,
    deployments: history.deployments.filter((d) => keep.has(d.environment)),
    tasks: history.tasks.filter((t) => keep.has(t.environment)),
    integrations: history.integrations.filter((i) => keep.has(i.environment)),
    alerts: history.alerts.filter((a) => keep.has(a.environment)),
  };
}

/** The statistics of a history, per integration and per environment, sorted by name. */
export function analyze(history: History, now: Date): Analysis {
  const byId = new Map(history.tasks.map((task) => [task.id, task]));
  const integrations = [...groupBy(history.tasks, (task) => `${task.environment}\u0000${task.integration}`)]
    .map(([, tasks]) => integrationStats(tasks[0]!.environment, tasks[0]!.integration, tasks))
    .sort((a, b) => a.environment.localeCompare(b.environment) || a.integration.localeCompare(b.integration));
  const deploymentsByEnv = groupBy(history.deployments, (deployment) => deployment.environment);
  const tasksByEnv = groupBy(history.tasks, (task) => task.environment);
  const names = [...new Set([...deploymentsByEnv.keys(), ...tasksByEnv.keys()])].sort();
  const environments = names.map((name) =>
    environmentStats(name, deploymentsByEnv.get(name) ?? [], tasksByEnv.get(name) ?? [], byId, now),
  );
  return { integrations, environments };
}

/**
 * Counts and durations over the whole window, computed in SQL in the warehouse, where every event
 * of the window is kept: the documents `analyze` reads are cut at the newest few thousand
 * deployments (a few hours at the specification's rate). What the events do not carry (peak
 * concurrency, queue wait, estimates, the last error, attempts) stays as counted from the documents.
 * Computed over the environments the request names (its constraints, within the caller's scope).
 */
export interface WindowAggregates {
  source: "duckdb" | "bigquery";
  integrations: (Pick<
    IntegrationStats,
    | "environment"
    | "integration"
    | "tasks"
    | "runs"
    | "succeeded"
    | "failed"
    | "retried_runs"
    | "recovered_runs"
    | "retries"
    | "duration"
  > & {
    /** Runs that needed a retry or failed. */
    flaky_runs: number;
  })[];
  environments: Pick<
    EnvironmentStats,
    "environment" | "deployments_by_status" | "deployment_duration" | "tasks" | "runs" | "retries"
  >[];
  /** Successful task runs' durations over every integration. */
  task_duration: Distribution;
}

/**
 * The analysis with the warehouse's counts and durations in place of the documents'. The documents
 * are the newest part of the window, so a warehouse that holds the window has at least their runs
 * and deployments; one that has fewer (its events not all ingested, or a dataset newer than the
 * window) is behind, and for that integration or environment the documents' numbers are kept and
 * named in `behind`. One only the warehouse has gets the counts alone. Rates are recomputed.
 */
export function withWindowAggregates(
  analysis: Analysis,
  aggregates: WindowAggregates,
  now: Date,
): { analysis: Analysis; behind: string[] } {
  const behind: string[] = [];
  const integrations = new Map(
    analysis.integrations.map((s) => [`${s.environment}\u0000${s.integration}`, s]),
  );
  for (const w of aggregates.integrations) {
    const key = `${w.environment}\u0000${w.integration}`;
    const documents = integrations.get(key);
    if (documents && w.runs < documents.runs) {
      behind.push(`${w.environment}/${w.integration}`);
      continue;
    }
    const base = documents ?? integrationStats(w.environment, w.integration, []);
    const estimate = base.estimated_duration;
    integrations.set(key, {
      ...base,
      tasks: w.tasks,
      runs: w.runs,
      succeeded: w.succeeded,
      failed: w.failed,
      retried_runs: w.retried_runs,
      recovered_runs: w.recovered_runs,
      retries: w.retries,
      flaky_rate: ratio(w.flaky_runs, w.runs),
      retry_rate: ratio(w.retries, w.runs),
      failure_rate: ratio(w.failed, w.runs),
      duration: w.duration,
      estimate_error:
        estimate !== null && estimate > 0 && w.duration.p50 !== null
          ? round((w.duration.p50 - estimate) / estimate, 4)
          : null,
    });
  }
  const environments = new Map(analysis.environments.map((e) => [e.environment, e]));
  for (const w of aggregates.environments) {
    const documents = environments.get(w.environment);
    const byStatus = w.deployments_by_status;
    const deployments = Object.values(byStatus).reduce((total, n) => total + n, 0);
    if (documents && (deployments < documents.deployments || w.runs < documents.runs)) {
      behind.push(w.environment);
      continue;
    }
    const base = documents ?? environmentStats(w.environment, [], [], new Map(), now);
    const succeeded = byStatus.succeeded ?? 0;
    const failed = [...FAILED_DEPLOYMENT].reduce((total, status) => total + (byStatus[status] ?? 0), 0);
    environments.set(w.environment, {
      ...base,
      deployments,
      deployments_by_status: byStatus,
      success_rate: ratio(succeeded, succeeded + failed),
      failed_deployments: failed,
      deployment_duration: w.deployment_duration,
      tasks: w.tasks,
      runs: w.runs,
      retries: w.retries,
    });
  }
  return {
    analysis: {
      integrations: [...integrations.values()].sort(
        (a, b) => a.environment.localeCompare(b.environment) || a.integration.localeCompare(b.integration),
      ),
      environments: [...environments.values()].sort((a, b) => a.environment.localeCompare(b.environment)),
    },
    behind,
  };
}

// ---------------------------------------------------------------------------------------------
// Recommendations

/** The numbers behind a recommendation. */
export interface Evidence {
  /** What was measured, e.g. `p95_duration_seconds`. */
  metric: string;
  value: number;
  unit: string;
  /** How many runs, tasks or deployments the value comes from. */
  sample_size: number;
  /** The fewest samples any recommendation needs. */
  min_sample_size: number;
  /** The value at which this recommendation is made. */
  threshold: number;
  /** The rule, in words. */
  rule: string;
  /** The other numbers the action quotes. */
  related: Record<string, number | null>;
}

/** What a recommendation is expected to change, and how the estimate was computed. */
export interface ExpectedImprovement {
  metric: string;
  value: number;
  unit: string;
  method: string;
  /**
   * For a share (a rate): how many runs or deployments it is a share of, so that shares of
   * different counts are combined over their counts, never added.
   */
  share_of?: { count: number; of: string };
  /** True for counts that add up across recommendations (document reads saved). */
  additive?: boolean;
  /**
   * Concurrency changes: the environment's recent deployments replayed under the old and the new
   * limit with learned durations: seconds per deployment, with the spread of the difference.
   */
  simulated?: ConcurrencyReplay | RetryPolicyFigures | LeaseReplay | null;
}

/** The expected improvements of one target's recommendations on one metric, combined where they combine. */
export interface ImprovementTotal {
  metric: string;
  unit: string;
  recommendations: number;
  /** Null when the figures do not combine (a p95 of one integration and of another do not add up). */
  value: number | null;
  method: string;
}

/**
 * Combines the improvements of several recommendations on one metric and unit: counts are added,
 * shares are re-weighted by what they are shares of (saved runs over the runs concerned), and
 * per-item figures (percentiles, seconds per task) are not combined at all.
 */
export function combineImprovements(parts: readonly ExpectedImprovement[]): ImprovementTotal {
  const [first] = parts;
  if (!first) throw new Error("combineImprovements needs at least one improvement");
  const base = { metric: first.metric, unit: first.unit, recommendations: parts.length };
  if (parts.every((part) => part.additive === true))
    return {
      ...base,
      value: round(
        parts.reduce((sum, part) => sum + part.value, 0),
        4,
      ),
      method: `sum over ${parts.length} recommendation(s) of: ${first.method}`,
    };
  const shares = parts.flatMap((part) => (part.share_of ? [{ value: part.value, ...part.share_of }] : []));
  const units = new Set(shares.map((share) => share.of));
  if (shares.length === parts.length && units.size === 1) {
    const count = shares.reduce((sum, share) => sum + share.count, 0);
    const saved = shares.reduce((sum, share) => sum + share.value * share.count, 0);
    return {
      ...base,
      value: count > 0 ? round(saved / count, 4) : 0,
      method: `over the ${count} ${[...units][0]} of the ${parts.length} recommendation(s): sum of (share x its ${[...units][0]}) / ${count}, each share being: ${first.method}`,
    };
  }
  return {
    ...base,
    value: null,
    method: `not combined: each of the ${parts.length} figure(s) is about one ${first.metric === "queue_wait_p95_seconds" ? "environment" : "integration"} and they do not add up (see each recommendation)`,
  };
}

/** How many of an environment's newest deployments a concurrency change is replayed on. */
const REPLAYED_DEPLOYMENTS = 20;

/** Replays the newest deployments of an environment under two limits (see learning/replay.ts). */
function replayLimits(
  history: History,
  model: LearnedModel,
  environment: string,
  oldLimit: number,
  newLimit: number,
): ConcurrencyReplay | null {
  const newest = new Set(
    history.deployments
      .filter((deployment) => deployment.environment === environment)
      .sort((a, b) => b.created_at.getTime() - a.created_at.getTime())
      .slice(0, REPLAYED_DEPLOYMENTS)
      .map((deployment) => deployment.id),
  );
  return replayConcurrency(
    history.tasks.filter((task) => newest.has(task.deployment_id)),
    model,
    oldLimit,
    newLimit,
  );
}

export interface Recommendation {
  /** Stable for the same finding: `{target}:{rule}:{environment}[:{integration}]`. */
  id: string;
  target: OptimizationTarget;
  environment: string;
  integration: string | null;
  /** What to change, concretely. */
  action: string;
  /** Where the change is made. */
  how: string;
  evidence: Evidence;
  expected_improvement: ExpectedImprovement;
  /** The setting change it proposes, when one config value is the whole action (`POST /optimize/{id}/apply`). */
  change: SettingChange | null;
}

export interface TimelineStep {
  step: number;
  recommendation_id: string;
  /** `now`: a config or request change; `investigation`: someone has to find the cause first. */
  phase: "now" | "investigation";
  action: string;
  /** When to look again: after this many new runs, re-run POST /optimize and compare the evidence. */
  verify_after_runs: number;
}

export interface OptimizationResult {
  optimization_plan: Recommendation[];
  expected_improvements: {
    baseline: {
      deployments: number;
      deployment_success_rate: number | null;
      task_runs: number;
      task_failure_rate: number | null;
      retries_per_run: number | null;
      task_duration: Distribution;
    };
    by_target: Record<OptimizationTarget, { recommendations: number; improvements: ImprovementTotal[] }>;
  };
  timeline: TimelineStep[];
  analyzed: {
    from: string;
    to: string;
    environments: string[];
    deployments: number;
    tasks: number;
    /** True when the documents were cut at the read limit (the warehouse's aggregates never are). */
    truncated: boolean;
    /** Where the counts, rates and durations were computed. */
    aggregates_from: "firestore" | "duckdb" | "bigquery";
  };
  /** Why the plan is what it is: empty history, too few samples, a constraint that blocked a change. */
  notes: string[];
}

const min = THRESHOLDS.min_samples;
const fmt = (value: number | null) => (value === null ? "n/a" : String(round(value, 1)));
const pct = (value: number | null) => (value === null ? "n/a" : `${round(value * 100, 1)}%`);

function durationRecommendations(analysis: Analysis): Recommendation[] {
  const out: Recommendation[] = [];
  const measured = analysis.integrations.filter((s) => s.duration.count >= min && s.duration.p95 !== null);
  const slowest = [...measured]
    .sort((a, b) => b.duration.p95! - a.duration.p95! || a.integration.localeCompare(b.integration))
    .slice(0, THRESHOLDS.slowest_count);
  for (const s of slowest) {
    const tail = round(s.duration.p95! - s.duration.p50!);
    if (tail < THRESHOLDS.min_tail_seconds) continue;
    out.push({
      id: `duration:slow-tail:${s.environment}:${s.integration}`,
      target: "duration",
      environment: s.environment,
      integration: s.integration,
      action: `investigate slowest task ${s.integration} in ${s.environment} (p95 ${fmt(s.duration.p95)} s, p50 ${fmt(s.duration.p50)} s over ${s.duration.count} runs)`,
      how: `compare the slow runs' task documents (orchestration_tasks, integration ${s.integration}) with the median ones`,
      evidence: {
        metric: "p95_duration_seconds",
        value: s.duration.p95!,
        unit: "seconds",
        sample_size: s.duration.count,
        min_sample_size: min,
        threshold: THRESHOLDS.min_tail_seconds,
        rule: `among the ${THRESHOLDS.slowest_count} slowest integrations by p95 with at least ${min} successful runs, p95 - p50 >= ${THRESHOLDS.min_tail_seconds} s`,
        related: { p50: s.duration.p50, mean: s.duration.mean, max: s.duration.max, tail_seconds: tail },
      },
      expected_improvement: {
        metric: "p95_duration_seconds",
        value: tail,
        unit: "seconds",
        method: "p95 - p50: what the p95 loses if the slow runs come down to the median",
      },
      change: null,
    });
  }
  for (const s of measured) {
    if (s.estimate_error === null || s.estimated_duration === null) continue;
    if (Math.abs(s.estimate_error) < THRESHOLDS.estimate_error_ratio) continue;
    const error = round(Math.abs(s.duration.p50! - s.estimated_duration));
    out.push({
      id: `duration:estimate:${s.environment}:${s.integration}`,
      target: "duration",
      environment: s.environment,
      integration: s.integration,
      action: `recalibrate the estimate of ${s.integration} from ${fmt(s.estimated_duration)} s to ${fmt(s.duration.p50)} s (its p50 over ${s.duration.count} runs; the estimate is off by ${pct(s.estimate_error)})`,
      how: `nothing to edit: the planner estimates from the runs of ${s.integration} in ${s.environment} (POST /plan shows the learned p50, p90 and the runs behind them); the estimate was made before those runs were learned from`,
      evidence: {
        metric: "estimate_error_ratio",
        value: s.estimate_error,
        unit: "ratio (p50 - estimate) / estimate",
        sample_size: s.duration.count,
        min_sample_size: min,
        threshold: THRESHOLDS.estimate_error_ratio,
        rule: `|p50 - estimate| / estimate >= ${THRESHOLDS.estimate_error_ratio} over at least ${min} successful runs`,
        related: { estimated_duration: s.estimated_duration, p50: s.duration.p50 },
      },
      expected_improvement: {
        metric: "estimate_error_seconds",
        value: error,
        unit: "seconds per task",
        method: "|p50 - estimate|: the error removed from estimated_completion per task at the median",
      },
      change: null,
    });
  }
  return out;
}

function reliabilityRecommendations(analysis: Analysis, history: History): Recommendation[] {
  const out: Recommendation[] = [];
  for (const s of analysis.integrations) {
    if (s.runs < min || s.flaky_rate === null || s.flaky_rate < THRESHOLDS.flaky_ratio) continue;
    const evidence: Evidence = {
      metric: "flaky_rate",
      value: s.flaky_rate,
      unit: "share of runs that needed a retry or failed",
      sample_size: s.runs,
      min_sample_size: min,
      threshold: THRESHOLDS.flaky_ratio,
      rule: `flaky_rate >= ${THRESHOLDS.flaky_ratio} over at least ${min} runs`,
      related: {
        failed: s.failed,
        failed_after_all_retries: s.failed_after_all_retries,
        runs_read: s.sampled_runs,
        retried_runs: s.retried_runs,
        recovered_runs: s.recovered_runs,
        retry_rate: s.retry_rate,
        max_retries: s.max_retries,
      },
    };
    // A retry policy the replay finds better is its own recommendation (retryPolicyRecommendations).
    out.push({
      id: `reliability:flaky:${s.environment}:${s.integration}`,
      target: "reliability",
      environment: s.environment,
      integration: s.integration,
      action: `investigate flaky ${s.integration} in ${s.environment}: ${s.failed} of ${s.runs} runs failed and ${s.retried_runs} needed retries (${pct(s.flaky_rate)})${s.last_error ? `; last error: ${s.last_error}` : ""}`,
      how: `GET /deployments/{id} of the deployments of ${s.environment} where ${s.integration} failed or retried: each task's error_message (GET /events/search?integration=${s.integration}&environment=${s.environment} for its story)`,
      evidence,
      expected_improvement:
        s.failed > 0
          ? {
              metric: "failure_rate",
              value: s.failure_rate ?? 0,
              unit: "fewer failed runs, as a share of runs (at most)",
              method: "failed / runs: every failure removed if the cause is fixed",
              share_of: { count: s.runs, of: "runs" },
            }
          : {
              metric: "retries_per_run",
              value: s.retry_rate ?? 0,
              unit: "fewer retries per run (at most)",
              method: "retries / runs: every retry removed if the transient cause is fixed",
              share_of: { count: s.runs, of: "runs" },
            },
      change: null,
    });
  }
  for (const e of analysis.environments) {
    const finished = e.deployments_by_status.succeeded ?? 0;
    const sample = finished + e.failed_deployments;
    if (sample < min || e.success_rate === null || e.success_rate >= THRESHOLDS.deployment_success_rate)
      continue;
    // Which integration failed most often in the failed deployments of this environment, among
    // the documents (the warehouse's counts do not say which task failed in which deployment).
    const finishedDocuments = history.deployments.filter(
      (d) => d.environment === e.environment && (d.status === "succeeded" || FAILED_DEPLOYMENT.has(d.status)),
    );
    const failedIds = new Set(
      finishedDocuments.filter((d) => FAILED_DEPLOYMENT.has(d.status)).map((d) => d.id),
    );
    const blame = new Map<string, Set<string>>();
    for (const task of history.tasks) {
      if (task.status !== "failed" || !failedIds.has(task.deployment_id)) continue;
      const set = blame.get(task.integration) ?? new Set<string>();
      set.add(task.deployment_id);
      blame.set(task.integration, set);
    }
    const [culprit, culpritDeployments] = [...blame].sort(
      (a, b) => b[1].size - a[1].size || a[0].localeCompare(b[0]),
    )[0] ?? [null, new Set<string>()];
    out.push({
      id: `reliability:deployments:${e.environment}`,
      target: "reliability",
      environment: e.environment,
      integration: culprit,
      action: `investigate failed deployments of ${e.environment}: ${e.failed_deployments} of ${sample} ended failed or rolled back (success rate ${pct(e.success_rate)})${culprit ? `; ${culprit} failed in ${culpritDeployments.size} of the ${failedIds.size} failed among the newest ${finishedDocuments.length} read` : ""}`,
      how: `GET /deployments/{id} of the failed deployments of ${e.environment} (GET /reports?environment=${e.environment} lists them): their error_message`,
      evidence: {
        metric: "deployment_success_rate",
        value: e.success_rate,
        unit: "succeeded / (succeeded + failed + rolled_back)",
        sample_size: sample,
        min_sample_size: min,
        threshold: THRESHOLDS.deployment_success_rate,
        rule: `success rate < ${THRESHOLDS.deployment_success_rate} over at least ${min} finished deployments`,
        related: {
          succeeded: finished,
          failed_or_rolled_back: e.failed_deployments,
          deployments_where_culprit_failed: culprit ? culpritDeployments.size : null,
          finished_deployments_read: finishedDocuments.length,
        },
      },
      expected_improvement: {
        metric: "deployment_success_rate",
        value: culprit
          ? round(culpritDeployments.size / finishedDocuments.length, 4)
          : round(e.failed_deployments / sample, 4),
        unit: "higher success rate, as a share of deployments (at most)",
        method: culprit
          ? `deployments in which ${culprit} failed / finished deployments, among those read: those that fixing ${culprit} could have saved`
          : "failed deployments / finished deployments",
        share_of: { count: culprit ? finishedDocuments.length : sample, of: "finished deployments" },
      },
      change: null,
    });
  }
  return out;
}

function concurrencyRecommendations(
  analysis: Analysis,
  request: OptimizeRequest,
  notes: string[],
  replay: (environment: string, oldLimit: number, newLimit: number) => ConcurrencyReplay | null,
): Recommendation[] {
  const out: Recommendation[] = [];
  const cap = request.constraints.max_concurrency ?? 100;
  for (const e of analysis.environments) {
    const limit = e.concurrency_limit;
    const wait = e.queue_wait.p95;
    if (limit === null || wait === null || e.queue_wait.count < min) continue;
    if (e.peak_concurrency < limit || wait < THRESHOLDS.queue_wait_p95_seconds) continue;
    const proposed = Math.min(Math.ceil(limit * 1.5), cap);
    if (proposed <= limit) {
      notes.push(
        `${e.environment} runs at its concurrency limit ${limit} with p95 queue wait ${fmt(wait)} s, but the constraint max_concurrency ${cap} leaves no room to raise it`,
      );
      continue;
    }
    out.push({
      id: `concurrency:raise-limit:${e.environment}`,
      target: "concurrency",
      environment: e.environment,
      integration: null,
      action: `raise concurrency of ${e.environment} from ${limit} to ${proposed}: it peaked at ${e.peak_concurrency} running tasks and tasks waited p95 ${fmt(wait)} s for a slot`,
      how: `POST /optimize/concurrency:raise-limit:${e.environment}/apply (a tuning override of environments[name=${e.environment}].concurrency, watched as a canary), or set it in orchestration.json and POST /config`,
      evidence: {
        metric: "queue_wait_p95_seconds",
        value: wait,
        unit: "seconds from ready to started",
        sample_size: e.queue_wait.count,
        min_sample_size: min,
        threshold: THRESHOLDS.queue_wait_p95_seconds,
        rule: `peak concurrency >= limit and p95 queue wait >= ${THRESHOLDS.queue_wait_p95_seconds} s over at least ${min} started tasks`,
        related: {
          concurrency_limit: limit,
          peak_concurrency: e.peak_concurrency,
          headroom: e.headroom,
          queue_wait_p50: e.queue_wait.p50,
          max_concurrency_constraint: request.constraints.max_concurrency ?? null,
        },
      },
      expected_improvement: {
        metric: "queue_wait_p95_seconds",
        value: round(wait * (1 - limit / proposed)),
        unit: "seconds less p95 queue wait (estimate)",
        method: `p95 wait x (1 - ${limit}/${proposed}), assuming the wait shrinks in proportion to the slots added`,
        simulated: replay(e.environment, limit, proposed),
      },
      change: concurrencyChange(e.environment, limit, proposed),
    });
  }
  return out;
}

function concurrencyChange(environment: string, before: number, after: number): SettingChange {
  return {
    setting: "concurrency",
    environment,
    integration: null,
    path: settingPath("concurrency", environment),
    before,
    after,
  };
}

function costRecommendations(
  analysis: Analysis,
  request: OptimizeRequest,
  replay: (environment: string, oldLimit: number, newLimit: number) => ConcurrencyReplay | null,
): Recommendation[] {
  const out: Recommendation[] = [];
  for (const e of analysis.environments) {
    const limit = e.concurrency_limit;
    if (limit === null || e.sampled_deployments < min) continue;
    if (limit - e.peak_concurrency < THRESHOLDS.idle_slots) continue;
    const proposed = Math.max(
      1,
      Math.min(e.peak_concurrency + 1, request.constraints.max_concurrency ?? 100),
    );
    if (proposed >= limit) continue;
    out.push({
      id: `cost:lower-limit:${e.environment}`,
      target: "cost",
      environment: e.environment,
      integration: null,
      action: `lower concurrency of ${e.environment} from ${limit} to ${proposed}: at most ${e.peak_concurrency} tasks ran at once over ${e.sampled_deployments} deployments`,
      how: `POST /optimize/cost:lower-limit:${e.environment}/apply (a tuning override of environments[name=${e.environment}].concurrency, watched as a canary), or set it in orchestration.json and POST /config`,
      evidence: {
        metric: "idle_slots_at_peak",
        value: limit - e.peak_concurrency,
        unit: "concurrency slots",
        sample_size: e.sampled_deployments,
        min_sample_size: min,
        threshold: THRESHOLDS.idle_slots,
        rule: `limit - peak >= ${THRESHOLDS.idle_slots} over at least ${min} deployments; the new limit keeps one slot above the peak`,
        related: { concurrency_limit: limit, peak_concurrency: e.peak_concurrency, attempts: e.attempts },
      },
      expected_improvement: {
        metric: "firestore_reads",
        value: e.attempts * (limit - proposed),
        unit: "fewer Firestore document reads over the window",
        method: `every claim reads one slot document per slot of the limit: attempts (${e.attempts}) x (${limit} - ${proposed})`,
        additive: true,
        simulated: replay(e.environment, limit, proposed),
      },
      change: concurrencyChange(e.environment, limit, proposed),
    });
  }
  return out;
}

/** How many of an environment's newest deployments with an integration a retry policy is replayed on. */
const RETRY_REPLAYED_DEPLOYMENTS = 20;
/** Runs that retried or failed after their retries before a retry policy is replayed at all. */
const MIN_RETRY_EVIDENCE = 3;
/** A policy must cut the integration's failed runs by this share to count as more reliable. */
const MIN_FAILURE_GAIN = 0.005;
/** Or save at least this many seconds per deployment, the 95th percentile of the change below 0. */
const MIN_SECONDS_GAIN = 1;
/** Successful runs before a lease is sized from their p99. */
const LEASE_MIN_RUNS = 20;
/** The lease sized as this many times the attempts' p99, in steps of 10 s, within the bounds. */
const LEASE_P99_FACTOR = 1.5;
/** The shortest lease proposed: heartbeats every 10 s leave room for a slow write or a pause. */
const MIN_LEASE_SECONDS = 30;
/** A shorter lease is only worth proposing at this share of the current one or less. */
const LEASE_SHORTER_SHARE = 0.5;
/** A longer lease is only worth proposing when it saves at least this many renewal writes per attempt. */
const LEASE_MIN_RENEWALS_SAVED = 1;

/** The tasks of each (environment, integration kind) that ran to an end, newest last. */
function runsByEnvironmentAndKind(tasks: readonly Task[]): Map<string, Task[]> {
  return groupBy(
    tasks
      .filter(isRun)
      .sort((a, b) => a.created_at.getTime() - b.created_at.getTime() || a.id.localeCompare(b.id)),
    (task) => `${task.environment}\u0000${task.kind}`,
  );
}

function taskEngineChange(
  setting: TaskEngineSetting,
  environment: string,
  kind: IntegrationKind,
  before: number,
  after: number,
): SettingChange {
  return {
    setting,
    environment,
    integration: kind,
    path: settingPath(setting, environment, kind),
    before,
    after,
  };
}

/** A retry policy's replay, old against the chosen candidate (as a recommendation and a tuning action record it). */
export type RetryPolicyFigures = {
  method: string;
  deployments: number;
  samples: number;
  runs: number;
  recovery_rate_per_second: number;
  old_max_retries: number;
  old_retry_base_ms: number;
  new_max_retries: number;
  new_retry_base_ms: number;
  old_mean_seconds: number;
  new_mean_seconds: number;
  change_mean_seconds: number;
  change_p05_seconds: number;
  change_p95_seconds: number;
  old_run_failure_share: number;
  new_run_failure_share: number;
};

function flatFigures(replay: RetryReplay, chosen: PolicyFigures): RetryPolicyFigures {
  return {
    method: replay.method,
    deployments: replay.deployments,
    samples: replay.samples,
    runs: replay.runs,
    recovery_rate_per_second: replay.recovery_rate_per_second,
    old_max_retries: replay.old.max_retries,
    old_retry_base_ms: replay.old.retry_base_ms,
    new_max_retries: chosen.max_retries,
    new_retry_base_ms: chosen.retry_base_ms,
    old_mean_seconds: replay.old.mean_seconds,
    new_mean_seconds: chosen.mean_seconds,
    change_mean_seconds: chosen.change_mean_seconds,
    change_p05_seconds: chosen.change_p05_seconds,
    change_p95_seconds: chosen.change_p95_seconds,
    old_run_failure_share: replay.old.run_failure_share,
    new_run_failure_share: chosen.run_failure_share,
  };
}

/**
 * Retry policies from each integration's recovery history: `max_retries` (within 2 of the current,
 * at least 1) and `retry_base_ms` (a quarter to 4x the current), each replayed against the current
 * policy (learning/retry-replay.ts). The best candidate of each setting is recommended when it fails
 * fewer runs, or fails no more and saves time with 95 % of the replays agreeing.
 */
function retryPolicyRecommendations(history: History, model: LearnedModel): Recommendation[] {
  const out: Recommendation[] = [];
  for (const runs of runsByEnvironmentAndKind(history.tasks).values()) {
    const latestRun = runs.at(-1)!;
    const { environment, kind } = latestRun;
    const recovery = recoveryModel(runs);
    const retried = recovery.counts.recovered + recovery.counts.exhausted;
    if (runs.length < min || retried < MIN_RETRY_EVIDENCE) continue;
    const current: RetryPolicy = {
      max_retries: latestRun.max_retries,
      retry_base_ms: latestRun.retry_base_ms,
    };
    const maxCandidates = range(Math.max(1, current.max_retries - 2), Math.min(10, current.max_retries + 2))
      .filter((value) => value !== current.max_retries)
      .map((value) => ({ ...current, max_retries: value }));
    const baseCandidates = [0.25, 0.5, 2, 4]
      .map((factor) =>
        Math.min(600_000, Math.max(500, Math.round((current.retry_base_ms * factor) / 100) * 100)),
      )
      .filter((value, index, all) => value !== current.retry_base_ms && all.indexOf(value) === index)
      .map((value) => ({ ...current, retry_base_ms: value }));
    const newest = new Set(
      history.deployments
        .filter((deployment) => deployment.environment === environment)
        .map((deployment) => deployment.id),
    );
    const replayed = [...new Set(runs.map((task) => task.deployment_id))]
      .filter((id) => newest.has(id))
      .slice(-RETRY_REPLAYED_DEPLOYMENTS);
    const members = new Set(replayed);
    const replay = replayRetryPolicy(
      history.tasks.filter((task) => members.has(task.deployment_id)),
      kind,
      recovery,
      model,
      current,
      [...maxCandidates, ...baseCandidates],
    );
    if (!replay) continue;
    const better = (figures: PolicyFigures) =>
      figures.run_failure_share <= replay.old.run_failure_share - MIN_FAILURE_GAIN ||
      (figures.run_failure_share <= replay.old.run_failure_share &&
        figures.change_p95_seconds < 0 &&
        figures.change_mean_seconds <= -MIN_SECONDS_GAIN);
    const best = (setting: "max_retries" | "retry_base_ms") =>
      replay.candidates
        .filter((figures) => figures[setting] !== current[setting] && better(figures))
        // Failure shares within a percentage point are a tie: then the faster, then the smaller step.
        .sort(
          (a, b) =>
            Math.round(a.run_failure_share * 100) - Math.round(b.run_failure_share * 100) ||
            a.mean_seconds - b.mean_seconds ||
            Math.abs(a[setting] - current[setting]) - Math.abs(b[setting] - current[setting]),
        )[0];
    for (const setting of ["max_retries", "retry_base_ms"] as const) {
      const chosen = best(setting);
      if (!chosen) continue;
      const fewerFailures = chosen.run_failure_share < replay.old.run_failure_share;
      const unit = setting === "retry_base_ms" ? " ms" : "";
      out.push({
        id: `${fewerFailures ? "reliability" : "duration"}:${setting === "max_retries" ? "max-retries" : "retry-backoff"}:${environment}:${kind}`,
        target: fewerFailures ? "reliability" : "duration",
        environment,
        integration: kind,
        action: `set ${setting} of ${kind} in ${environment} from ${current[setting]}${unit} to ${chosen[setting]}${unit}: replayed on its ${replay.runs} recorded runs, ${fewerFailures ? `${pct(replay.old.run_failure_share)} -> ${pct(chosen.run_failure_share)} of its runs fail` : `deployments take ${fmt(-chosen.change_mean_seconds)} s less with no more failures`}`,
        how: `POST /optimize/${fewerFailures ? "reliability" : "duration"}:${setting === "max_retries" ? "max-retries" : "retry-backoff"}:${environment}:${kind}/apply (a tuning override of ${settingPath(setting, environment, kind)}, watched as a canary), or set it in orchestration.json and POST /config`,
        evidence: {
          metric: "recovered_runs",
          value: recovery.counts.recovered,
          unit: "runs that succeeded after a retry",
          sample_size: runs.length,
          min_sample_size: min,
          threshold: MIN_RETRY_EVIDENCE,
          rule: `at least ${min} runs and ${MIN_RETRY_EVIDENCE} that retried or failed after their retries; a replayed policy that fails ${MIN_FAILURE_GAIN * 100} % fewer runs, or no more and saves ${MIN_SECONDS_GAIN} s per deployment in 95 % of replays`,
          related: {
            first_try: recovery.counts.first_try,
            recovered: recovery.counts.recovered,
            failed_after_all_retries: recovery.counts.exhausted,
            failed_non_retriable: recovery.counts.non_retriable,
            max_retries: current.max_retries,
            retry_base_ms: current.retry_base_ms,
          },
        },
        expected_improvement: fewerFailures
          ? {
              metric: "failure_rate",
              value: round(replay.old.run_failure_share - chosen.run_failure_share, 4),
              unit: "fewer failed runs, as a share of runs",
              method: `simulated: ${replay.method}`,
              share_of: { count: runs.length, of: "runs" },
              simulated: flatFigures(replay, chosen),
            }
          : {
              metric: "seconds_per_deployment",
              value: round(-chosen.change_mean_seconds),
              unit: "seconds less per deployment",
              method: `simulated: ${replay.method}`,
              simulated: flatFigures(replay, chosen),
            },
        change: taskEngineChange(setting, environment, kind, current[setting], chosen[setting]),
      });
    }
  }
  return out;
}

/**
 * Leases sized from each integration's duration p99 (1.5x, in steps of 10 s, at least 30 s): long
 * enough that nearly every attempt ends within its first lease, short enough that a lost
 * executor's task is retried soon. Recommended when the new lease is at most half the current one,
 * or a longer one saves a renewal write per attempt, with the replayed figures of both.
 */
function leaseRecommendations(history: History, model: LearnedModel): Recommendation[] {
  const out: Recommendation[] = [];
  for (const runs of runsByEnvironmentAndKind(history.tasks).values()) {
    const latestRun = runs.at(-1)!;
    const { environment, kind } = latestRun;
    const successful = runs.filter(isSuccessfulRun).length;
    if (successful < LEASE_MIN_RUNS || latestRun.driver !== "integration") continue;
    const duration = model.duration(environment, latestRun.integration);
    const proposed = Math.min(
      3600,
      Math.max(MIN_LEASE_SECONDS, Math.ceil((LEASE_P99_FACTOR * attemptP99(duration)) / 10) * 10),
    );
    const current = latestRun.lease_seconds;
    const shorter = proposed < current;
    if (shorter ? proposed > current * LEASE_SHORTER_SHARE : proposed === current) continue;
    const replay = replayLease(duration, current, proposed);
    // A longer lease is only worth its slower recovery when it saves a write per attempt.
    if (
      !shorter &&
      replay.old_renewals_per_attempt - replay.new_renewals_per_attempt < LEASE_MIN_RENEWALS_SAVED
    )
      continue;
    const id = `${shorter ? "duration" : "cost"}:lease:${environment}:${kind}`;
    out.push({
      id,
      target: shorter ? "duration" : "cost",
      environment,
      integration: kind,
      action: `set lease_seconds of ${kind} in ${environment} from ${current} to ${proposed}: 1.5x its attempts' p99 of ${fmt(replay.p99_attempt_seconds)} s over ${duration.runs} runs (${shorter ? `a lost executor's task is retried after ${fmt(replay.new_recovery_seconds)} s instead of ${fmt(replay.old_recovery_seconds)} s` : `${fmt(replay.old_renewals_per_attempt)} -> ${fmt(replay.new_renewals_per_attempt)} lease renewals per attempt`})`,
      how: `POST /optimize/${id}/apply (a tuning override of ${settingPath("lease_seconds", environment, kind)}, watched as a canary), or set it in orchestration.json and POST /config`,
      evidence: {
        metric: "p99_attempt_seconds",
        value: replay.p99_attempt_seconds,
        unit: "seconds",
        sample_size: duration.runs,
        min_sample_size: LEASE_MIN_RUNS,
        threshold: LEASE_SHORTER_SHARE,
        rule: `lease = max(${MIN_LEASE_SECONDS}, 1.5 x p99 rounded up to 10 s) over at least ${LEASE_MIN_RUNS} successful runs, when it is at most ${LEASE_SHORTER_SHARE} x the current lease, or longer and saves ${LEASE_MIN_RENEWALS_SAVED} renewal write(s) per attempt`,
        related: { lease_seconds: current, p50: duration.p50, p90: duration.p90 },
      },
      expected_improvement: shorter
        ? {
            metric: "lost_executor_recovery_seconds",
            value: round(replay.old_recovery_seconds - replay.new_recovery_seconds),
            unit: "seconds sooner a lost executor's task is retried",
            method: `simulated: ${replay.method}`,
            simulated: replay,
          }
        : {
            metric: "lease_renewals_per_attempt",
            value: round(replay.old_renewals_per_attempt - replay.new_renewals_per_attempt),
            unit: "fewer Firestore writes per attempt",
            method: `simulated: ${replay.method}`,
            simulated: replay,
          },
      change: taskEngineChange("lease_seconds", environment, kind, current, proposed),
    });
  }
  return out;
}

const range = (from: number, to: number) =>
  Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

/** Recommendations from a history: each with its evidence and expected improvement, never below the sample threshold. */
export function recommend(
  history: History,
  request: OptimizeRequest,
  now: Date,
  aggregates: WindowAggregates | null = null,
): OptimizationResult {
  const scoped = restrictHistory(history, request.constraints.environments);
  const fromDocuments = analyze(scoped, now);
  const merged = aggregates ? withWindowAggregates(fromDocuments, aggregates, now) : null;
  const analysis = merged?.analysis ?? fromDocuments;
  const model = learn(runsFromTasks(scoped.tasks));
  const replay = (environment: string, oldLimit: number, newLimit: number) =>
    replayLimits(scoped, model, environment, oldLimit, newLimit);
  const notes: string[] = [];
  const targets = new Set(request.optimization_targets);
  const plan: Recommendation[] = [];
  for (const target of OPTIMIZATION_TARGETS) {
    if (!targets.has(target)) continue;
    if (target === "duration") plan.push(...durationRecommendations(analysis));
    if (target === "reliability") plan.push(...reliabilityRecommendations(analysis, scoped));
    if (target === "concurrency") plan.push(...concurrencyRecommendations(analysis, request, notes, replay));
    if (target === "cost") plan.push(...costRecommendations(analysis, request, replay));
  }
  // Task engine settings: each recommendation names the target its gain is on.
  const tuned = [...retryPolicyRecommendations(scoped, model), ...leaseRecommendations(scoped, model)];
  plan.push(...tuned.filter((recommendation) => targets.has(recommendation.target)));

  const window = `${history.range.from.toISOString()}/${history.range.to.toISOString()}`;
  const deployments = aggregates
    ? analysis.environments.reduce((total, e) => total + e.deployments, 0)
    : scoped.deployments.length;
  if (deployments === 0) {
    notes.unshift(
      `no deployments in ${window}${request.constraints.environments ? ` for ${request.constraints.environments.join(", ")}` : ""}: nothing to recommend. A recommendation needs at least ${min} runs of an integration or ${min} deployments of an environment`,
    );
  } else if (plan.length === 0) {
    const enough = analysis.integrations.filter((s) => s.runs >= min).length;
    notes.push(
      `no recommendation: ${enough} of ${analysis.integrations.length} integration(s) have at least ${min} runs, and none of them crossed a threshold (${JSON.stringify(THRESHOLDS)})`,
    );
  }
  if (aggregates && merged) {
    notes.push(
      `counts, failure and retry rates and durations are computed in ${aggregates.source === "bigquery" ? "BigQuery" : "the local DuckDB warehouse (standing in for BigQuery)"} over every event of the window; attempts, peak concurrency, queue waits, estimates, failures after all retries and the replays come from the newest ${scoped.deployments.length} deployment documents${history.truncated ? ` (cut at ${history.limits.deployments})` : ""}`,
    );
    if (merged.behind.length > 0)
      notes.push(
        `the warehouse holds fewer runs or deployments than the documents for ${merged.behind.join(", ")} (events not all ingested yet, or a dataset younger than the window): their numbers come from the documents`,
      );
  } else if (history.truncated) {
    notes.push(
      `the history was cut at the newest ${history.limits.deployments} deployments and ${history.limits.alerts} alerts; narrow time_range for a complete analysis`,
    );
  }

  const runs = scoped.tasks.filter(isRun);
  const taskRuns = aggregates
    ? analysis.integrations.reduce(
        (acc, s) => ({
          runs: acc.runs + s.runs,
          failed: acc.failed + s.failed,
          retries: acc.retries + s.retries,
        }),
        { runs: 0, failed: 0, retries: 0 },
      )
    : {
        runs: runs.length,
        failed: runs.filter((t) => t.status === "failed").length,
        retries: runs.reduce((total, task) => total + task.retry_count, 0),
      };
  const finished = analysis.environments.reduce(
    (acc, e) => ({
      succeeded: acc.succeeded + (e.deployments_by_status.succeeded ?? 0),
      failed: acc.failed + e.failed_deployments,
    }),
    { succeeded: 0, failed: 0 },
  );
  const byTarget = Object.fromEntries(
    OPTIMIZATION_TARGETS.map((target) => {
      const own = plan.filter((r) => r.target === target);
      const byMetric = groupBy(
        own.map((r) => r.expected_improvement),
        (e) => `${e.metric}\u0000${e.unit}`,
      );
      return [
        target,
        { recommendations: own.length, improvements: [...byMetric.values()].map(combineImprovements) },
      ];
    }),
  ) as OptimizationResult["expected_improvements"]["by_target"];

  return {
    optimization_plan: plan,
    expected_improvements: {
      baseline: {
        deployments,
        deployment_success_rate: ratio(finished.succeeded, finished.succeeded + finished.failed),
        task_runs: taskRuns.runs,
        task_failure_rate: ratio(taskRuns.failed, taskRuns.runs),
        retries_per_run: ratio(taskRuns.retries, taskRuns.runs),
        task_duration:
          aggregates && merged?.behind.length === 0
            ? aggregates.task_duration
            : distribution(
                runs
                  .filter(isSuccessfulRun)
                  .flatMap((t) => (t.actual_duration === null ? [] : [t.actual_duration])),
              ),
      },
      by_target: byTarget,
    },
    timeline: plan
      .map((r) => ({
        r,
        phase: r.action.startsWith("investigate") ? ("investigation" as const) : ("now" as const),
      }))
      .sort((a, b) => (a.phase === b.phase ? 0 : a.phase === "now" ? -1 : 1))
      .map(({ r, phase }, index) => ({
        step: index + 1,
        recommendation_id: r.id,
        phase,
        action: r.action,
        verify_after_runs: min,
      })),
    analyzed: {
      from: history.range.from.toISOString(),
      to: history.range.to.toISOString(),
      environments: analysis.environments.map((e) => e.environment),
      deployments,
      tasks: aggregates
        ? analysis.integrations.reduce((total, s) => total + s.tasks, 0)
        : scoped.tasks.length,
      truncated: history.truncated,
      aggregates_from: aggregates?.source ?? "firestore",
    },
    notes,
  };
}
