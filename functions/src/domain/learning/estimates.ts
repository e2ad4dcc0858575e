/**
 * Learned estimates from the runs of the past: how long each integration takes in each
 * environment (a log-normal p50 and p90) and how likely it is to fail (a Beta-Binomial).
 *
 * Both are shrunk in levels, so that few runs move an estimate a little and many runs move it all
 * the way: an environment's integration toward its kind over every environment, and the kind
 * toward the catalog scaled by how fast every run was against it (durations) or the base rate of
 * every run (failures). Both weigh recent runs
 * more: a run's weight halves every `half_life_runs` newer runs of the same key, so a change in
 * behaviour takes over the estimate within a few dozen runs. Pure.
 */
import { probit, weightedMean } from "simple-statistics";
import { groupBy } from "../group-by.js";
import { INTEGRATION_CATALOG, type IntegrationKind } from "../integrations.js";
import type { RunRecord } from "./runs.js";

export const LEARNING_SETTINGS = {
  /** Prior strength of the catalog's estimate for a kind, in runs. */
  catalog_strength_runs: 2,
  /** Prior strength of the kind (every environment) for one environment's integration, in runs. */
  kind_strength_runs: 1,
  /** Spread assumed by the catalog: log-space standard deviation (p90 = 1.9 x p50). */
  catalog_log_sigma: 0.5,
  /**
   * Prior strength, in runs, of "as fast as the catalog says" for how much faster or slower than
   * the catalog every run is (one factor for all kinds: emulators are tens of times faster), and
   * how many newer runs halve a run's weight in it.
   */
  speed_strength_runs: 3,
  speed_half_life_runs: 100,
  /** The share of the prior that doubts the catalog, and its log-space spread (p90 = 47 x p50). */
  vague_weight: 0.1,
  vague_log_sigma: 3,
  /** Duration weights halve every this many newer runs of the same key. */
  duration_half_life_runs: 12,
  /** Failure weights halve every this many newer runs of the same key. */
  failure_half_life_runs: 150,
  /** Prior of the base failure rate of a task: Beta(alpha, beta), a 5 % rate worth 20 runs. */
  base_failure_prior: { alpha: 1, beta: 19 },
  /** Prior strength of the base rate for a kind, and of the kind for one environment's integration, in runs. */
  failure_strength_runs: 10,
} as const;
export type LearningSettings = typeof LEARNING_SETTINGS;

/** How long one integration is expected to take in one environment. */
export interface DurationEstimate {
  /** Median, seconds. */
  p50: number;
  /** 90th percentile, seconds. */
  p90: number;
  /** Successful runs of this integration in this environment the estimate rests on. */
  runs: number;
  /** Successful runs of the kind in every environment, behind the kind-level prior. */
  kind_runs: number;
  /** `catalog` when no run exists at all: the catalog's figure alone; else the catalog scaled by the runs' speed, and the kind's runs. */
  source: "learned" | "catalog";
  /** The catalog's figure, for comparison. */
  catalog_seconds: number;
}

/** How likely one integration is to fail (after its retries) in one environment. */
export interface FailureEstimate {
  probability: number;
  /** Finished runs the estimate rests on, and how many of them failed. */
  runs: number;
  failures: number;
}

export interface LearnedModel {
  duration(environment: string, integration: string): DurationEstimate;
  failure(environment: string, integration: string): FailureEstimate;
  /** Runs learned from. */
  runs: number;
  /** The base failure rate of a task over every run (smoothed by its prior). */
  base_failure_rate: number;
}

const kindOf = (integration: string) => integration.split(":")[0] as IntegrationKind;
const Z90 = probit(0.9);

/** Weights by recency: the newest of `count` items weighs 1, and weights halve every `halfLife` items back. */
function recencyWeights(count: number, halfLife: number): number[] {
  return Array.from({ length: count }, (_, index) => 0.5 ** ((count - 1 - index) / halfLife));
}

/** A log-normal belief: mean and variance of the log duration, and the weight of evidence behind them. */
interface LogBelief {
  mu: number;
  variance: number;
}

/**
 * The weight of a prior worth `strength` runs once `count` runs are known: it ages like a run older
 * than all of them. Recency weighting caps the weight of the data (about 1.44 half-lives' worth of
 * runs), so a prior that did not age would keep a fixed share of every estimate forever.
 */
function agedStrength(strength: number, count: number, halfLife: number): number {
  return strength * 0.5 ** (count / halfLife);
}

/**
 * The posterior of a log-normal's location and spread given weighted log durations and a prior
 * worth `strength` runs: a weighted mean of the prior and the data, and the pooled variance
 * around it (the prior's variance counts `strength` runs).
 */
function updateLogBelief(prior: LogBelief, strength: number, logs: number[], weights: number[]): LogBelief {
  if (logs.length === 0) return prior;
  const mu = weightedMean([prior.mu, ...logs], [strength, ...weights]);
  const total = strength + weights.reduce((sum, weight) => sum + weight, 0);
  const spread =
    strength * (prior.variance + (prior.mu - mu) ** 2) +
    logs.reduce((sum, value, index) => sum + weights[index]! * (value - mu) ** 2, 0);
  return { mu, variance: spread / total };
}

/**
 * How far the catalog is to be believed for a kind, given its runs: the catalog as one part of a
 * mixture prior, a vague one (log spread `vague_log_sigma`) the other part with weight
 * `vague_weight`, and this the catalog part's posterior probability. The catalog's figures are for
 * real projects; runs against the emulators can be a hundred times faster, and a prior the data
 * contradict by many of its spreads would otherwise hold the estimate off for dozens of runs.
 */
function catalogCredence(catalog: LogBelief, logs: readonly number[], settings: LearningSettings): number {
  if (logs.length === 0) return 1;
  const m = logs.reduce((sum, value) => sum + value, 0) / logs.length;
  const spread =
    logs.length > 1
      ? logs.reduce((sum, value) => sum + (value - m) ** 2, 0) / (logs.length - 1)
      : catalog.variance;
  const density = (variance: number) =>
    Math.exp(-((m - catalog.mu) ** 2) / (2 * variance)) / Math.sqrt(variance);
  const ofMean = spread / logs.length;
  const fromCatalog = (1 - settings.vague_weight) * density(catalog.variance + ofMean);
  const fromVague = settings.vague_weight * density(settings.vague_log_sigma ** 2 + ofMean);
  return fromCatalog / (fromCatalog + fromVague);
}

interface BetaBelief {
  alpha: number;
  beta: number;
}

/** A Beta posterior from a prior mean worth `strength` runs and weighted failures. */
function updateBeta(priorMean: number, strength: number, failed: boolean[], weights: number[]): BetaBelief {
  let alpha = priorMean * strength;
  let beta = (1 - priorMean) * strength;
  failed.forEach((isFailure, index) => {
    if (isFailure) alpha += weights[index]!;
    else beta += weights[index]!;
  });
  return { alpha, beta };
}

const keyOf = (environment: string, integration: string) => `${environment}\u0000${integration}`;

/** Learns from runs (any order; they are sorted oldest first here). */
export function learn(
  runs: readonly RunRecord[],
  settings: LearningSettings = LEARNING_SETTINGS,
): LearnedModel {
  const ordered = [...runs].sort((a, b) => a.finished_at.getTime() - b.finished_at.getTime());
  const successful = ordered.filter(
    (run): run is RunRecord & { duration_seconds: number } =>
      run.outcome === "succeeded" && run.duration_seconds !== null,
  );
  // A zero-second run would be log(0): a tenth of a second is the floor of what is measured.
  const logOf = (run: { duration_seconds: number }) => Math.log(Math.max(0.1, run.duration_seconds));
  const durationsByKind = groupBy(successful, (run) => run.kind);
  const durationsByKey = groupBy(successful, (run) => keyOf(run.environment, run.integration));
  const runsByKind = groupBy(ordered, (run) => run.kind);
  const runsByKey = groupBy(ordered, (run) => keyOf(run.environment, run.integration));

  const base = updateBeta(
    settings.base_failure_prior.alpha /
      (settings.base_failure_prior.alpha + settings.base_failure_prior.beta),
    settings.base_failure_prior.alpha + settings.base_failure_prior.beta,
    ordered.map((run) => run.outcome === "failed"),
    ordered.map(() => 1),
  );
  const baseRate = base.alpha / (base.alpha + base.beta);

  // How much faster or slower than the catalog the runs are, as a log factor: it carries what the
  // known kinds say over to the kinds not run yet.
  const speed = updateLogBelief(
    { mu: 0, variance: settings.catalog_log_sigma ** 2 },
    agedStrength(settings.speed_strength_runs, successful.length, settings.speed_half_life_runs),
    successful.map((run) => logOf(run) - Math.log(INTEGRATION_CATALOG[run.kind].estimatedSeconds)),
    recencyWeights(successful.length, settings.speed_half_life_runs),
  ).mu;

  const kindBeliefs = new Map<IntegrationKind, LogBelief>();
  const kindBelief = (kind: IntegrationKind): LogBelief => {
    const known = kindBeliefs.get(kind);
    if (known) return known;
    const sample = durationsByKind.get(kind) ?? [];
    const catalog = {
      mu: Math.log(INTEGRATION_CATALOG[kind].estimatedSeconds) + speed,
      variance: settings.catalog_log_sigma ** 2,
    };
    const logs = sample.map(logOf);
    const belief = updateLogBelief(
      catalog,
      agedStrength(settings.catalog_strength_runs, sample.length, settings.duration_half_life_runs) *
        catalogCredence(catalog, logs, settings),
      logs,
      recencyWeights(sample.length, settings.duration_half_life_runs),
    );
    kindBeliefs.set(kind, belief);
    return belief;
  };

  const kindFailureRates = new Map<IntegrationKind, number>();
  const kindFailureRate = (kind: IntegrationKind): number => {
    const known = kindFailureRates.get(kind);
    if (known !== undefined) return known;
    const sample = runsByKind.get(kind) ?? [];
    const belief = updateBeta(
      baseRate,
      agedStrength(settings.failure_strength_runs, sample.length, settings.failure_half_life_runs),
      sample.map((run) => run.outcome === "failed"),
      recencyWeights(sample.length, settings.failure_half_life_runs),
    );
    const rate = belief.alpha / (belief.alpha + belief.beta);
    kindFailureRates.set(kind, rate);
    return rate;
  };

  return {
    runs: ordered.length,
    base_failure_rate: baseRate,
    duration(environment, integration) {
      const kind = kindOf(integration);
      const catalogSeconds = INTEGRATION_CATALOG[kind].estimatedSeconds;
      const kindRuns = durationsByKind.get(kind)?.length ?? 0;
      const sample = durationsByKey.get(keyOf(environment, integration)) ?? [];
      const belief = updateLogBelief(
        kindBelief(kind),
        agedStrength(settings.kind_strength_runs, sample.length, settings.duration_half_life_runs),
        sample.map(logOf),
        recencyWeights(sample.length, settings.duration_half_life_runs),
      );
      return {
        p50: Math.exp(belief.mu),
        p90: Math.exp(belief.mu + Z90 * Math.sqrt(belief.variance)),
        runs: sample.length,
        kind_runs: kindRuns,
        source: successful.length === 0 ? "catalog" : "learned",
        catalog_seconds: catalogSeconds,
      };
    },
    failure(environment, integration) {
      const sample = runsByKey.get(keyOf(environment, integration)) ?? [];
      const belief = updateBeta(
        kindFailureRate(kindOf(integration)),
        agedStrength(settings.failure_strength_runs, sample.length, settings.failure_half_life_runs),
        sample.map((run) => run.outcome === "failed"),
        recencyWeights(sample.length, settings.failure_half_life_runs),
      );
      return {
        probability: belief.alpha / (belief.alpha + belief.beta),
        runs: sample.length,
        failures: sample.filter((run) => run.outcome === "failed").length,
      };
    },
  };
}

/** The chance that at least one of several independent tasks fails. */
export function anyFails(probabilities: readonly number[]): number {
  return 1 - probabilities.reduce((none, probability) => none * (1 - probability), 1);
}
