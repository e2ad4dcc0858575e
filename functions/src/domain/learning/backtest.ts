/**
 * The backtest: replays a history in time order, predicts each deployment from only what had
 * finished before it was requested, and compares with what happened. Learned estimates are
 * measured against the static catalog (durations) and against the base rate (failures). Pure.
 */
import { mean, quantile } from "simple-statistics";
import type { ResolvedEnvironment } from "../config-schema.js";
import type { DeploymentRequest, Task } from "../engine-model.js";
import { planDeployment, type DeploymentPlan } from "../planner.js";
import { FIRESTORE_ROUND_TRIPS } from "./capacity.js";
import { backtestForecast, type DailyPoint, type HorizonBacktest } from "./forecast.js";
import { learn, type LearnedModel, type LearningSettings, LEARNING_SETTINGS } from "./estimates.js";
import { runsFromTasks } from "./runs.js";

/** One deployment of the history: what was asked, when, and how it went. */
export interface ReplayedDeployment {
  id: string;
  request: DeploymentRequest;
  created_at: Date;
  status: "succeeded" | "failed" | "rolled_back";
  /** Seconds from start to end. */
  actual_seconds: number;
  tasks: Task[];
}

/** Errors of one predictor of durations, in seconds. */
export interface DurationErrors {
  /** Mean absolute error. */
  mae: number;
  /** 90th percentile of the absolute error. */
  p90_error: number;
}

export interface DurationComparison {
  /** Predictions compared. */
  count: number;
  learned: DurationErrors & {
    /** Share of actual durations at or below the predicted p90 (null where no p90 was predicted). */
    p90_coverage: number | null;
  };
  catalog: DurationErrors;
  /** catalog MAE / learned MAE: 2 means the error was halved. */
  mae_ratio: number;
}

export interface FailureComparison {
  /** Outcomes predicted. */
  count: number;
  /** Of which failed. */
  failures: number;
  /** Mean squared error of the learned probabilities (lower is better). */
  brier_learned: number;
  /** Mean squared error of the base rate (every prediction the share of failures so far). */
  brier_base_rate: number;
}

export interface BacktestReport {
  deployments: number;
  /** Finished runs the last prediction rested on. */
  runs_learned_from: number;
  /** Succeeded deployments: predicted (p50 makespan) against actual seconds. */
  deployment_duration: DurationComparison;
  /** Succeeded tasks: predicted p50 against actual seconds. */
  task_duration: DurationComparison;
  /** Tasks that ran: predicted chance of failure against whether they failed. */
  task_failure: FailureComparison;
  /** Deployments: predicted chance that any task fails against whether the deployment failed. */
  deployment_failure: FailureComparison;
  /** Each succeeded deployment's predictions and actual seconds, in time order. */
  deployment_predictions: DeploymentPrediction[];
}

/** One succeeded deployment as the backtest predicted it. */
export interface DeploymentPrediction {
  deployment_id: string;
  environment: string;
  integrations: number;
  learned_seconds: number;
  catalog_seconds: number;
  actual_seconds: number;
  /** Finished runs the learned prediction rested on (0: it could only be the catalog's). */
  runs_learned_from: number;
}

function errors(pairs: readonly { predicted: number; actual: number }[]): DurationErrors {
  const absolute = pairs.map(({ predicted, actual }) => Math.abs(predicted - actual));
  return absolute.length === 0
    ? { mae: 0, p90_error: 0 }
    : { mae: mean(absolute), p90_error: quantile(absolute, 0.9) };
}

/** One duration predicted both ways, and what it really was. */
interface DurationRow {
  learned: number;
  learnedP90: number | null;
  catalog: number;
  actual: number;
}
/** One outcome predicted both ways, and whether it failed. */
interface FailureRow {
  learned: number;
  base: number;
  failed: boolean;
}

function compare(rows: readonly DurationRow[]): DurationComparison {
  const learned = errors(rows.map((row) => ({ predicted: row.learned, actual: row.actual })));
  const catalog = errors(rows.map((row) => ({ predicted: row.catalog, actual: row.actual })));
  const withP90 = rows.filter((row) => row.learnedP90 !== null);
  return {
    count: rows.length,
    learned: {
      ...learned,
      p90_coverage:
        withP90.length === 0
          ? null
          : withP90.filter((row) => row.actual <= row.learnedP90!).length / withP90.length,
    },
    catalog,
    mae_ratio: learned.mae === 0 ? Number.POSITIVE_INFINITY : catalog.mae / learned.mae,
  };
}

function brier(rows: readonly FailureRow[]): FailureComparison {
  const squared = (p: number, failed: boolean) => (p - (failed ? 1 : 0)) ** 2;
  return {
    count: rows.length,
    failures: rows.filter((row) => row.failed).length,
    brier_learned: rows.length === 0 ? 0 : mean(rows.map((row) => squared(row.learned, row.failed))),
    brier_base_rate: rows.length === 0 ? 0 : mean(rows.map((row) => squared(row.base, row.failed))),
  };
}

function plan(
  deployment: ReplayedDeployment,
  env: ResolvedEnvironment,
  learned: LearnedModel | undefined,
): DeploymentPlan {
  const planned = planDeployment(deployment.id, deployment.request, env, deployment.created_at, learned);
  if (!planned.ok)
    throw new Error(
      `deployment ${deployment.id} cannot be planned: ${planned.problems.map((p) => p.message).join("; ")}`,
    );
  return planned.plan;
}

/** Replays `deployments` (any order; replayed by request time) against their environments. */
export function backtest(
  deployments: readonly ReplayedDeployment[],
  environments: readonly ResolvedEnvironment[],
  settings: LearningSettings = LEARNING_SETTINGS,
): BacktestReport {
  const ordered = [...deployments].sort((a, b) => a.created_at.getTime() - b.created_at.getTime());
  const allRuns = runsFromTasks(ordered.flatMap((deployment) => deployment.tasks));
  const deploymentRows: DurationRow[] = [];
  const predictions: DeploymentPrediction[] = [];
  const taskRows: DurationRow[] = [];
  const taskFailures: FailureRow[] = [];
  const deploymentFailures: FailureRow[] = [];
  let known = 0;
  let lastModel: LearnedModel | undefined;
  const finishedBefore: ReplayedDeployment[] = [];

  for (const deployment of ordered) {
    const env = environments.find((candidate) => candidate.name === deployment.request.environment);
    if (!env)
      throw new Error(
        `deployment ${deployment.id}: environment ${deployment.request.environment} is not declared`,
      );
    const cutoff = deployment.created_at.getTime();
    while (known < allRuns.length && allRuns[known]!.finished_at.getTime() <= cutoff) known += 1;
    const model = learn(allRuns.slice(0, known), settings);
    lastModel = model;
    const learnedPlan = plan(deployment, env, model);
    const catalogPlan = plan(deployment, env, undefined);

    if (deployment.status === "succeeded") {
      deploymentRows.push({
        learned: learnedPlan.estimatedSeconds,
        learnedP90: learnedPlan.estimatedSecondsP90,
        catalog: catalogPlan.estimatedSeconds,
        actual: deployment.actual_seconds,
      });
      predictions.push({
        deployment_id: deployment.id,
        environment: env.name,
        integrations: deployment.tasks.length,
        learned_seconds: learnedPlan.estimatedSeconds,
        catalog_seconds: catalogPlan.estimatedSeconds,
        actual_seconds: deployment.actual_seconds,
        runs_learned_from: model.runs,
      });
    }
    for (const task of deployment.tasks) {
      const estimate = learnedPlan.estimates.find((candidate) => candidate.integration === task.integration)!;
      const ran = task.status === "succeeded" || task.status === "rolled_back" || task.status === "failed";
      if (ran && task.status !== "failed" && task.actual_duration !== null)
        taskRows.push({
          learned: estimate.p50_seconds,
          learnedP90: estimate.p90_seconds,
          catalog: estimate.catalog_seconds,
          actual: task.actual_duration,
        });
      if (ran && estimate.failure_probability !== null)
        taskFailures.push({
          learned: estimate.failure_probability,
          base: model.base_failure_rate,
          failed: task.status === "failed",
        });
    }
    const earlier = finishedBefore.filter(
      (previous) => previous.created_at.getTime() + previous.actual_seconds * 1000 <= cutoff,
    );
    const failedEarlier = earlier.filter((previous) => previous.status !== "succeeded").length;
    if (learnedPlan.failureProbability !== null)
      deploymentFailures.push({
        learned: learnedPlan.failureProbability,
        // The share of failed deployments so far, Laplace-smoothed so the first guess is not 0 or 1.
        base: (failedEarlier + 1) / (earlier.length + 2),
        failed: deployment.status !== "succeeded",
      });
    finishedBefore.push(deployment);
  }

  return {
    deployments: ordered.length,
    runs_learned_from: lastModel?.runs ?? 0,
    deployment_duration: compare(deploymentRows),
    task_duration: compare(taskRows),
    task_failure: brier(taskFailures),
    deployment_failure: brier(deploymentFailures),
    deployment_predictions: predictions,
  };
}

// ---------------------------------------------------------------------------------------------
// Capacity: forecast error on the history's daily counts

/** The daily series the capacity forecast works on, as the warehouse would count them. */
export interface DailyCounts {
  deployments: DailyPoint[];
  events: DailyPoint[];
  task_runs: DailyPoint[];
  firestore_reads: DailyPoint[];
  firestore_writes: DailyPoint[];
}

/**
 * A history's counts a day (UTC): deployments by the day they were requested; events as the
 * backfill writes them (a deployment's start and end, a run task's start and end, a task that did
 * not run its one end), each on its own day; Firestore reads from the task runs (one per attempt)
 * and deployments, at FIRESTORE_ROUND_TRIPS. Days between the first and the last without any count 0.
 */
export function dailyCounts(deployments: readonly ReplayedDeployment[]): DailyCounts {
  const day = (at: Date) => at.toISOString().slice(0, 10);
  const tally = {
    deployments: new Map<string, number>(),
    events: new Map<string, number>(),
    runs: new Map<string, number>(),
  };
  const add = (map: Map<string, number>, at: Date, count = 1) =>
    map.set(day(at), (map.get(day(at)) ?? 0) + count);
  for (const deployment of deployments) {
    add(tally.deployments, deployment.created_at);
    add(tally.events, deployment.created_at);
    add(tally.events, new Date(deployment.created_at.getTime() + deployment.actual_seconds * 1000));
    for (const task of deployment.tasks) {
      if (task.started_at) {
        add(tally.events, task.started_at);
        add(tally.runs, task.started_at, (task.retry_count ?? 0) + 1);
      }
      add(tally.events, task.completed_at ?? task.started_at ?? deployment.created_at);
    }
  }
  const days = [...tally.events.keys()].sort();
  if (days.length === 0)
    return { deployments: [], events: [], task_runs: [], firestore_reads: [], firestore_writes: [] };
  const first = Date.parse(`${days[0]}T00:00:00Z`);
  const count = (Date.parse(`${days.at(-1)}T00:00:00Z`) - first) / 86_400_000 + 1;
  const every = Array.from({ length: count }, (_, i) =>
    new Date(first + i * 86_400_000).toISOString().slice(0, 10),
  );
  const of = (pick: (date: string) => number) => every.map((date) => ({ date, value: pick(date) }));
  return {
    deployments: of((date) => tally.deployments.get(date) ?? 0),
    events: of((date) => tally.events.get(date) ?? 0),
    task_runs: of((date) => tally.runs.get(date) ?? 0),
    firestore_reads: of(
      (date) =>
        (tally.runs.get(date) ?? 0) * FIRESTORE_ROUND_TRIPS.reads_per_task_run +
        (tally.deployments.get(date) ?? 0) * FIRESTORE_ROUND_TRIPS.reads_per_deployment,
    ),
    firestore_writes: of(
      (date) =>
        (tally.runs.get(date) ?? 0) * FIRESTORE_ROUND_TRIPS.writes_per_task_run +
        (tally.deployments.get(date) ?? 0) * FIRESTORE_ROUND_TRIPS.writes_per_deployment,
    ),
  };
}

const BACKTESTED = ["deployments", "events", "firestore_reads"] as const;
export type ForecastBacktestReport = Record<(typeof BACKTESTED)[number], (HorizonBacktest | null)[]>;

/**
 * Rolling-origin forecast error of each daily series at the 7- and 30-day horizons, over the days
 * up to `lastDay` (YYYY-MM-DD: the history's last full day; later days hold only its spill-over).
 */
export function backtestCapacityForecast(
  deployments: readonly ReplayedDeployment[],
  lastDay: string,
): ForecastBacktestReport {
  const all = dailyCounts(deployments);
  return Object.fromEntries(
    BACKTESTED.map((metric) => {
      const upTo = all[metric].filter((point) => point.date <= lastDay);
      return [metric, [7, 30].map((horizon) => backtestForecast(upTo, horizon))];
    }),
  ) as ForecastBacktestReport;
}
