/**
 * Anomalies in task runs, watched per environment and integration with robust statistics:
 *
 * - **duration**: a run's log duration against the median and MAD (scaled to a standard
 *   deviation) of the same integration's last runs; outside median +/- `duration_z` MADs is an
 *   anomaly. Only runs that needed no retry are watched and compared: a retried run's time
 *   includes backoff, and retries are the failure watch's business.
 * - **failure rate**: the failures among the last `failure_window` runs against the rate of the
 *   runs before them (a Beta-smoothed base rate): a count whose binomial tail probability is below
 *   `failure_p_value` is an anomaly.
 *
 * Median and MAD rather than mean and standard deviation: the anomalies being looked for would
 * otherwise widen the very range they are judged against. Pure.
 */
import { binomialDistribution, median, medianAbsoluteDeviation } from "simple-statistics";
import type { AlertDoc } from "../model.js";
import type { RunRecord } from "./runs.js";

export const ANOMALY_SETTINGS = {
  /** Runs of the same integration a duration is compared with. */
  duration_window_runs: 60,
  /** Fewest earlier runs before durations are judged. */
  duration_min_runs: 20,
  /** How many scaled MADs from the median a duration must be. */
  duration_z: 4.5,
  /** Floor of the scaled log MAD: runs that all took the same time must not make 1 % slower an anomaly. */
  min_log_spread: 0.05,
  /** Recent runs whose failures are counted. */
  failure_window: 10,
  /** Earlier runs the base failure rate comes from (at most), and the fewest needed. */
  failure_baseline_runs: 100,
  failure_min_baseline_runs: 20,
  /** A count of failures this unlikely under the base rate is an anomaly. */
  failure_p_value: 1e-5,
  /** Beta prior of the base rate: a 5 % rate worth 20 runs. */
  failure_prior: { alpha: 1, beta: 19 },
} as const;
export type AnomalySettings = typeof ANOMALY_SETTINGS;

/** Scales a MAD to the standard deviation of a normal distribution. */
const MAD_TO_SIGMA = 1.4826;

export interface Anomaly {
  metric: "duration" | "failure_rate";
  level: "warning" | "critical";
  environment: string;
  integration: string;
  /** The run that showed it, and how many runs of its integration came before it. */
  task_id: string;
  run_number: number;
  deployment_id: string;
  /** Seconds (duration) or failures in the window (failure_rate). */
  observed: number;
  /** The range judged normal, in the same unit. */
  expected: { low: number; high: number; typical: number };
  /** Earlier runs the expectation rests on. */
  runs: number;
  /** How far out: scaled MADs (duration) or the binomial tail probability (failure_rate). */
  score: number;
  message: string;
}

const keyOf = (run: RunRecord) => `${run.environment}\u0000${run.integration}`;
const watchedDuration = (run: RunRecord): run is RunRecord & { duration_seconds: number } =>
  run.outcome === "succeeded" && run.retries === 0 && run.duration_seconds !== null;
const logOf = (seconds: number) => Math.log(Math.max(0.1, seconds));
const round1 = (value: number) => Math.round(value * 10) / 10;

/** Judges one run's duration against earlier runs of its integration (oldest first). */
export function durationAnomaly(
  earlier: readonly RunRecord[],
  run: RunRecord,
  settings: AnomalySettings = ANOMALY_SETTINGS,
): Anomaly | null {
  if (!watchedDuration(run)) return null;
  const window = earlier.filter(watchedDuration).slice(-settings.duration_window_runs);
  if (window.length < settings.duration_min_runs) return null;
  const logs = window.map((previous) => logOf(previous.duration_seconds));
  const center = median(logs);
  const spread = Math.max(settings.min_log_spread, MAD_TO_SIGMA * medianAbsoluteDeviation(logs));
  const score = (logOf(run.duration_seconds) - center) / spread;
  if (score <= settings.duration_z) return null;
  const expected = {
    low: round1(Math.exp(center - settings.duration_z * spread)),
    high: round1(Math.exp(center + settings.duration_z * spread)),
    typical: round1(Math.exp(center)),
  };
  const slower = score > 0;
  return {
    metric: "duration",
    // Twice as far out as the threshold, or slower: a person should look now.
    level: slower && score > 2 * settings.duration_z ? "critical" : "warning",
    environment: run.environment,
    integration: run.integration,
    task_id: run.task_id,
    run_number: earlier.length,
    deployment_id: run.deployment_id,
    observed: round1(run.duration_seconds),
    expected,
    runs: window.length,
    score: Math.round(score * 100) / 100,
    message: `${run.integration} in ${run.environment} took ${round1(run.duration_seconds)} s, ${slower ? "slower" : "faster"} than the ${expected.low}-${expected.high} s its last ${window.length} runs make normal (typical ${expected.typical} s)`,
  };
}

/** Judges the failures of the last runs of an integration (ending with `run`) against the runs before. */
export function failureRateAnomaly(
  earlier: readonly RunRecord[],
  run: RunRecord,
  settings: AnomalySettings = ANOMALY_SETTINGS,
): Anomaly | null {
  if (run.outcome !== "failed") return null;
  const recent = [...earlier.slice(-(settings.failure_window - 1)), run];
  const baseline = earlier
    .slice(0, Math.max(0, earlier.length - (settings.failure_window - 1)))
    .slice(-settings.failure_baseline_runs);
  if (recent.length < settings.failure_window || baseline.length < settings.failure_min_baseline_runs)
    return null;
  const failed = recent.filter((previous) => previous.outcome === "failed").length;
  const baseFailures = baseline.filter((previous) => previous.outcome === "failed").length;
  const rate =
    (baseFailures + settings.failure_prior.alpha) /
    (baseline.length + settings.failure_prior.alpha + settings.failure_prior.beta);
  const probabilities = binomialDistribution(recent.length, rate);
  // Undefined only for a rate outside (0, 1), which the prior rules out.
  if (probabilities === undefined) return null;
  const tail = probabilities.slice(failed).reduce((sum, p) => sum + p, 0);
  if (tail >= settings.failure_p_value) return null;
  const expectedFailures = rate * recent.length;
  // The most failures still within the p-value: the top of the normal range.
  let high = recent.length;
  while (high > 0 && probabilities.slice(high).reduce((sum, p) => sum + p, 0) < settings.failure_p_value)
    high -= 1;
  return {
    metric: "failure_rate",
    level: failed >= recent.length / 2 ? "critical" : "warning",
    environment: run.environment,
    integration: run.integration,
    task_id: run.task_id,
    run_number: earlier.length,
    deployment_id: run.deployment_id,
    observed: failed,
    expected: { low: 0, high, typical: round1(expectedFailures) },
    runs: baseline.length,
    score: tail,
    message: `${run.integration} in ${run.environment} failed ${failed} of its last ${recent.length} runs, against ${round1(rate * 100)} % of the ${baseline.length} runs before (at most ${high} expected; chance ${tail.toExponential(1)})`,
  };
}

/**
 * Judges each of `runs` against the runs of its integration before it (`earlier` plus those of
 * `runs` that precede it), oldest first. A failure-rate anomaly is reported once per incident:
 * failures while the rate stays anomalous belong to the incident already reported.
 */
export function detectAnomalies(
  earlier: readonly RunRecord[],
  runs: readonly RunRecord[],
  settings: AnomalySettings = ANOMALY_SETTINGS,
): Anomaly[] {
  const byKey = new Map<string, RunRecord[]>();
  for (const run of earlier) {
    const list = byKey.get(keyOf(run));
    if (list) list.push(run);
    else byKey.set(keyOf(run), [run]);
  }
  const lastFailureAnomaly = new Map<string, number>();
  const found: Anomaly[] = [];
  for (const run of runs) {
    const key = keyOf(run);
    const before = byKey.get(key) ?? [];
    const duration = durationAnomaly(before, run, settings);
    if (duration) found.push(duration);
    const failure = failureRateAnomaly(before, run, settings);
    if (failure) {
      // One incident lasts while its windows keep crossing the threshold: it is reported when it
      // starts, and again only after a whole window without crossing it.
      const last = lastFailureAnomaly.get(key);
      if (last === undefined || before.length - last > settings.failure_window) found.push(failure);
      lastFailureAnomaly.set(key, before.length);
    }
    before.push(run);
    byKey.set(key, before);
  }
  return found;
}

/** The alert an anomaly opens: a stable id (one per run and metric), its level, message and evidence. */
export function anomalyAlert(anomaly: Anomaly, now: Date): { id: string; alert: AlertDoc } {
  const safe = (text: string) => text.replace(/[^A-Za-z0-9_-]/g, "-");
  return {
    id: `anomaly__${safe(anomaly.task_id)}__${anomaly.metric}`,
    alert: {
      level: anomaly.level,
      status: "open",
      source: "anomaly",
      environment: anomaly.environment,
      integration: anomaly.integration,
      deployment_id: anomaly.deployment_id,
      message: `anomaly: ${anomaly.message}`,
      opened_at: now,
      last_seen_at: now,
      resolved_at: null,
      evidence: {
        metric: anomaly.metric,
        unit:
          anomaly.metric === "duration"
            ? "seconds"
            : `failures in the last ${ANOMALY_SETTINGS.failure_window} runs`,
        observed: anomaly.observed,
        expected_low: anomaly.expected.low,
        expected_high: anomaly.expected.high,
        typical: anomaly.expected.typical,
        runs: anomaly.runs,
        task_id: anomaly.task_id,
        score: anomaly.score,
      },
    },
  };
}

/** Health-check latencies watched like durations: the same robust statistics, over the last checks. */
export const LATENCY_SETTINGS = {
  /** Checks of the same integration a latency is compared with (kept in `health_latency`). */
  window_checks: 60,
  /** Fewest earlier checks before latencies are judged. */
  min_checks: 20,
  /** How many scaled MADs above the median a latency must be. */
  z: ANOMALY_SETTINGS.duration_z,
  /** Floor of the scaled log MAD, as for durations. */
  min_log_spread: ANOMALY_SETTINGS.min_log_spread,
  /** Latencies below a millisecond are measured as one: timer noise is not an anomaly. */
  floor_ms: 1,
} as const;

export interface LatencyAnomaly {
  level: "warning" | "critical";
  observed_ms: number;
  expected: { low: number; high: number; typical: number };
  checks: number;
  score: number;
  message: string;
}

/**
 * Judges one health check's latency against the integration's earlier checks (oldest first): its
 * log against the median and scaled MAD of their logs. Only slower is an anomaly (a fast answer is
 * no incident); twice the threshold or more is critical.
 */
export function latencyAnomaly(
  environment: string,
  integration: string,
  earlier: readonly number[],
  observedMs: number,
  settings: typeof LATENCY_SETTINGS = LATENCY_SETTINGS,
): LatencyAnomaly | null {
  const window = earlier.slice(-settings.window_checks);
  if (window.length < settings.min_checks) return null;
  const logOfMs = (ms: number) => Math.log(Math.max(settings.floor_ms, ms));
  const logs = window.map(logOfMs);
  const center = median(logs);
  const spread = Math.max(settings.min_log_spread, MAD_TO_SIGMA * medianAbsoluteDeviation(logs));
  const score = (logOfMs(observedMs) - center) / spread;
  if (score <= settings.z) return null;
  const expected = {
    low: round1(Math.exp(center - settings.z * spread)),
    high: round1(Math.exp(center + settings.z * spread)),
    typical: round1(Math.exp(center)),
  };
  return {
    level: score > 2 * settings.z ? "critical" : "warning",
    observed_ms: round1(observedMs),
    expected,
    checks: window.length,
    score: Math.round(score * 100) / 100,
    message: `${integration} in ${environment} answered its health check in ${round1(observedMs)} ms, slower than the ${expected.low}-${expected.high} ms its last ${window.length} checks make normal (typical ${expected.typical} ms)`,
  };
}

/** The alert a latency anomaly opens (`id` is the caller's: one per incident). */
export function latencyAlert(
  anomaly: LatencyAnomaly,
  environment: string,
  integration: string,
  now: Date,
): AlertDoc {
  return {
    level: anomaly.level,
    status: "open",
    source: "anomaly",
    environment,
    integration,
    deployment_id: null,
    message: `anomaly: ${anomaly.message}`,
    opened_at: now,
    last_seen_at: now,
    resolved_at: null,
    evidence: {
      metric: "health_latency",
      unit: "milliseconds",
      observed: anomaly.observed_ms,
      expected_low: anomaly.expected.low,
      expected_high: anomaly.expected.high,
      typical: anomaly.expected.typical,
      runs: anomaly.checks,
      task_id: null,
      score: anomaly.score,
    },
  };
}
