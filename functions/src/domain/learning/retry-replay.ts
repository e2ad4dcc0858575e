/**
 * What retries, their backoff and the lease cost and buy, replayed from an integration's own
 * history. Pure and seeded.
 *
 * The recovery model: a run whose first attempt failed with a retriable error recovers once its
 * transient cause has cleared, T seconds of backoff after that failure. Each run of the history
 * says where its T lies, under the policy it ran with:
 * - succeeded at once: it needed no retry;
 * - succeeded at retry k: T lies between the expected waits before retries k-1 and k (drawn
 *   uniformly within);
 * - failed after every retry: T lies beyond the whole window it was given; it is drawn from an
 *   exponential tail fitted to the recovered runs (censored maximum likelihood: recoveries over
 *   the seconds waited), so an integration that never recovered never recovers under any policy;
 * - failed with retries left (a non-retriable error): it fails under any policy.
 * A deployment is replayed under a policy by bootstrapping one of those runs for each task of the
 * integration and asking which retry first comes after T: success there, or failure once the
 * retries run out. The rest of the deployment keeps its learned durations, and the planner's
 * scheduler gives the makespan. The same draws serve every policy (common random numbers).
 *
 * What it does not model: failed attempts shorter than successful ones, lease expiries (they count
 * as retries in the history), and the time a failed deployment spends rolling back.
 */
import { mean, probit, quantile } from "simple-statistics";
import type { Task } from "../engine-model.js";
import { scheduleWithLimit } from "../graph.js";
import type { LearnedModel } from "./estimates.js";
import { seededRandom, standardNormal } from "./random.js";
import { deploymentGraphs } from "./replay.js";

/** The policy a replay runs tasks under. */
export interface RetryPolicy {
  max_retries: number;
  retry_base_ms: number;
}

/** The deployment request's default cap on one backoff wait (`configuration.retry_max_ms`). */
const RETRY_MAX_MS = 300_000;

/** The mean backoff before retry n (half fixed, half jitter: 0.75 of its ceiling), in seconds. */
function meanWaitSeconds(retry: number, baseMs: number): number {
  return (0.75 * Math.min(RETRY_MAX_MS, baseMs * 2 ** Math.max(0, retry - 1))) / 1000;
}

/** Seconds of backoff waited before retry k (0 for k = 0), on average. */
export function windowSeconds(retries: number, baseMs: number): number {
  let total = 0;
  for (let retry = 1; retry <= retries; retry++) total += meanWaitSeconds(retry, baseMs);
  return total;
}

/** One run of history, as the recovery model reads it. */
export type RecoveryRun =
  | { kind: "first_try" }
  | { kind: "recovered"; from_seconds: number; to_seconds: number }
  | { kind: "exhausted"; window_seconds: number }
  | { kind: "non_retriable"; retries: number };

export interface RecoveryModel {
  runs: RecoveryRun[];
  /** Recoveries per second of backoff waited (0 when nothing ever recovered). */
  rate_per_second: number;
  /** Seconds of one attempt, from the runs that succeeded at once. */
  attempt_seconds: number[];
  counts: Record<RecoveryRun["kind"], number>;
}

/** Whether a task ran to an end: started, then succeeded, failed, or succeeded and was rolled back. */
function ranToEnd(task: Task): boolean {
  return (
    task.started_at !== null &&
    (task.status === "succeeded" || task.status === "failed" || task.status === "rolled_back")
  );
}

/** The recovery model of some runs (tasks of one integration of one environment). */
export function recoveryModel(tasks: readonly Task[]): RecoveryModel {
  const runs: RecoveryRun[] = [];
  const attemptSeconds: number[] = [];
  for (const task of tasks) {
    if (!ranToEnd(task)) continue;
    const base = task.retry_base_ms;
    if (task.status !== "failed") {
      if (task.retry_count === 0) {
        runs.push({ kind: "first_try" });
        if (task.actual_duration !== null) attemptSeconds.push(task.actual_duration);
      } else
        runs.push({
          kind: "recovered",
          from_seconds: windowSeconds(task.retry_count - 1, base),
          to_seconds: windowSeconds(task.retry_count, base),
        });
    } else if (task.retry_count >= task.max_retries)
      runs.push({ kind: "exhausted", window_seconds: windowSeconds(task.retry_count, base) });
    else runs.push({ kind: "non_retriable", retries: task.retry_count });
  }
  const counts = { first_try: 0, recovered: 0, exhausted: 0, non_retriable: 0 };
  let waited = 0;
  for (const run of runs) {
    counts[run.kind] += 1;
    if (run.kind === "recovered") waited += (run.from_seconds + run.to_seconds) / 2;
    if (run.kind === "exhausted") waited += run.window_seconds;
  }
  return {
    runs,
    rate_per_second: counts.recovered > 0 && waited > 0 ? counts.recovered / waited : 0,
    attempt_seconds: attemptSeconds,
    counts,
  };
}

/** What one drawn run does under a policy: retries taken, backoff waited, and whether it ends failed. */
export function underPolicy(
  drawn:
    | { kind: "first_try" }
    | { kind: "recovers_after"; seconds: number }
    | { kind: "non_retriable"; retries: number },
  policy: RetryPolicy,
): { retries: number; waited_seconds: number; failed: boolean } {
  if (drawn.kind === "first_try") return { retries: 0, waited_seconds: 0, failed: false };
  if (drawn.kind === "non_retriable") {
    const retries = Math.min(drawn.retries, policy.max_retries);
    return { retries, waited_seconds: windowSeconds(retries, policy.retry_base_ms), failed: true };
  }
  for (let retry = 1; retry <= policy.max_retries; retry++) {
    const waited = windowSeconds(retry, policy.retry_base_ms);
    if (waited >= drawn.seconds) return { retries: retry, waited_seconds: waited, failed: false };
  }
  return {
    retries: policy.max_retries,
    waited_seconds: windowSeconds(policy.max_retries, policy.retry_base_ms),
    failed: true,
  };
}

const Z90 = probit(0.9);
const round = (value: number) => Math.round(value * 1000) / 1000;

/** One policy's figures in a replay. */
export interface PolicyFigures {
  max_retries: number;
  retry_base_ms: number;
  /** Mean seconds per replayed deployment. */
  mean_seconds: number;
  /** Share of the integration's replayed runs that end failed. */
  run_failure_share: number;
  /** new - old seconds per deployment, per sample: mean, 5th and 95th percentiles (0 for the old policy). */
  change_mean_seconds: number;
  change_p05_seconds: number;
  change_p95_seconds: number;
}

export interface RetryReplay {
  method: string;
  deployments: number;
  samples: number;
  runs: number;
  recovery_rate_per_second: number;
  old: PolicyFigures;
  candidates: PolicyFigures[];
}

/**
 * Replays the deployments `tasks` belong to (those with a task of `kind`) under the old policy and
 * each candidate, with the integration's runs bootstrapped from `model`; null without a deployment
 * or a run to draw from.
 */
export function replayRetryPolicy(
  tasks: readonly Task[],
  kind: string,
  recovery: RecoveryModel,
  learned: LearnedModel,
  old: RetryPolicy,
  candidates: readonly RetryPolicy[],
  options: { samples?: number; seed?: number } = {},
): RetryReplay | null {
  const samples = options.samples ?? 100;
  const random = seededRandom(options.seed ?? 1);
  if (recovery.runs.length === 0) return null;
  const graphs = deploymentGraphs(tasks, learned).filter((graph) =>
    [...graph.byId.values()].some((task) => task.kind === kind),
  );
  if (graphs.length === 0) return null;
  const policies = [old, ...candidates];
  const normal = () => standardNormal(random);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const totals = policies.map(() => [] as number[]);
  const failures = policies.map(() => 0);
  let kindRuns = 0;
  for (let sample = 0; sample < samples; sample++) {
    const sums = policies.map(() => 0);
    for (const graph of graphs) {
      const drawnSeconds = new Map<string, number>();
      const drawnRuns = new Map<string, Parameters<typeof underPolicy>[0]>();
      for (const id of graph.order) {
        const task = graph.byId.get(id)!;
        if (task.kind !== kind) {
          const { mu, sigma } = graph.distribution.get(id)!;
          drawnSeconds.set(id, Math.exp(mu + sigma * normal()));
          continue;
        }
        kindRuns += 1;
        const run = pick(recovery.runs);
        drawnSeconds.set(
          id,
          recovery.attempt_seconds.length > 0
            ? pick(recovery.attempt_seconds)
            : learned.duration(task.environment, task.integration).p50,
        );
        if (run.kind === "first_try" || run.kind === "non_retriable") drawnRuns.set(id, run);
        else if (run.kind === "recovered")
          drawnRuns.set(id, {
            kind: "recovers_after",
            seconds: run.from_seconds + random() * (run.to_seconds - run.from_seconds),
          });
        else
          drawnRuns.set(id, {
            kind: "recovers_after",
            seconds:
              recovery.rate_per_second > 0
                ? run.window_seconds - Math.log(1 - random()) / recovery.rate_per_second
                : Number.POSITIVE_INFINITY,
          });
      }
      // Policies often agree on every task (a run that succeeded at once): schedule each distinct case once.
      const makespans = new Map<string, number>();
      policies.forEach((policy, index) => {
        const seconds = new Map(drawnSeconds);
        for (const [id, drawnRun] of drawnRuns) {
          const outcome = underPolicy(drawnRun, policy);
          if (outcome.failed) failures[index]! += 1;
          seconds.set(id, drawnSeconds.get(id)! * (outcome.retries + 1) + outcome.waited_seconds);
        }
        const key = [...drawnRuns.keys()].map((id) => seconds.get(id)).join(",");
        let makespan = makespans.get(key);
        if (makespan === undefined) {
          makespan = scheduleWithLimit(
            graph.order,
            (id) => graph.byId.get(id)!.dependencies.filter((dependency) => graph.ids.has(dependency)),
            (id) => seconds.get(id)!,
            (id) => graph.byId.get(id)!.priority,
            graph.limit,
          ).makespan;
          makespans.set(key, makespan);
        }
        sums[index]! += makespan;
      });
    }
    sums.forEach((sum, index) => totals[index]!.push(sum / graphs.length));
  }
  const runsPerSample = kindRuns / samples;
  const figures = policies.map((policy, index): PolicyFigures => {
    const changes = totals[index]!.map((value, at) => value - totals[0]![at]!);
    return {
      max_retries: policy.max_retries,
      retry_base_ms: policy.retry_base_ms,
      mean_seconds: round(mean(totals[index]!)),
      run_failure_share: round(failures[index]! / (runsPerSample * samples)),
      change_mean_seconds: round(mean(changes)),
      change_p05_seconds: round(quantile(changes, 0.05)),
      change_p95_seconds: round(quantile(changes, 0.95)),
    };
  });
  return {
    method: `the last ${graphs.length} deployment(s) with ${kind} replayed ${samples} times through the planner's scheduler: each ${kind} task one of its ${recovery.runs.length} recorded runs (recovery time drawn within the retry it recovered at; beyond its window at ${round(recovery.rate_per_second)} recoveries per second waited when it failed after every retry), the other tasks at their learned durations; the same draws under every policy`,
    deployments: graphs.length,
    samples,
    runs: recovery.runs.length,
    recovery_rate_per_second: round(recovery.rate_per_second),
    old: figures[0]!,
    candidates: figures.slice(1),
  };
}

/** What a lease length costs: heartbeat writes per attempt, and how long a lost executor's task waits. */
export interface LeaseReplay {
  method: string;
  samples: number;
  p99_attempt_seconds: number;
  old_lease_seconds: number;
  new_lease_seconds: number;
  /** Lease renewals (one Firestore write each) per attempt, on average. */
  old_renewals_per_attempt: number;
  new_renewals_per_attempt: number;
  /** Seconds from a lost executor to its task's retry (the lease running out), on average. */
  old_recovery_seconds: number;
  new_recovery_seconds: number;
  /** new - old recovery seconds per lost executor: 5th and 95th percentiles over draws. */
  recovery_change_p05_seconds: number;
  recovery_change_p95_seconds: number;
}

/** The 99th percentile of a log-normal given by its p50 and p90. */
export function attemptP99(duration: { p50: number; p90: number }): number {
  const sigma = Math.max(0, Math.log(duration.p90 / duration.p50) / Z90);
  return Math.exp(Math.log(duration.p50) + sigma * probit(0.99));
}

/** The lease sweeper's schedule (`lease-sweeper`, every minute): it retries tasks whose lease ran out. */
const SWEEP_SECONDS = 60;

/** The engine renews a lease every third of its length (`keepAlive`). */
const RENEWALS_PER_LEASE = 3;

/**
 * Draws attempts from a log-normal (p50, p90) and an executor lost at a uniform moment of each:
 * renewals are one per third of a lease the attempt runs; the lost executor's task is retried by
 * the first sweep after its lease, last renewed up to a third of a lease before, runs out. Same
 * draws for both leases.
 */
export function replayLease(
  duration: { p50: number; p90: number },
  oldLease: number,
  newLease: number,
  options: { samples?: number; seed?: number; sweep_seconds?: number } = {},
): LeaseReplay {
  const samples = options.samples ?? 2000;
  const sweepSeconds = options.sweep_seconds ?? SWEEP_SECONDS;
  const random = seededRandom(options.seed ?? 1);
  const mu = Math.log(duration.p50);
  const sigma = Math.max(0, Math.log(duration.p90 / duration.p50) / Z90);
  const normal = () => standardNormal(random);
  const renewals = (seconds: number, lease: number) => Math.floor(seconds / (lease / RENEWALS_PER_LEASE));
  // The task is retried by the first sweep after its lease runs out (`sweepDelay` after it).
  const recovery = (lostAt: number, lease: number, sweepDelay: number) => {
    const period = lease / RENEWALS_PER_LEASE;
    const lastRenewal = Math.floor(lostAt / period) * period;
    return lastRenewal + lease - lostAt + sweepDelay;
  };
  const oldRenewals: number[] = [];
  const newRenewals: number[] = [];
  const oldRecovery: number[] = [];
  const newRecovery: number[] = [];
  for (let sample = 0; sample < samples; sample++) {
    const seconds = Math.exp(mu + sigma * normal());
    const lostAt = random() * seconds;
    const sweepDelay = random() * sweepSeconds;
    oldRenewals.push(renewals(seconds, oldLease));
    newRenewals.push(renewals(seconds, newLease));
    oldRecovery.push(recovery(lostAt, oldLease, sweepDelay));
    newRecovery.push(recovery(lostAt, newLease, sweepDelay));
  }
  const changes = newRecovery.map((value, index) => value - oldRecovery[index]!);
  return {
    method: `${samples} attempts drawn from the learned log-normal (p50 ${round(duration.p50)} s, p90 ${round(duration.p90)} s), each losing its executor at a uniform moment: renewals every lease/3, the task retried by the first sweep (every ${sweepSeconds} s) after the lease last renewed runs out; the same draws under both leases`,
    samples,
    p99_attempt_seconds: round(attemptP99(duration)),
    old_lease_seconds: oldLease,
    new_lease_seconds: newLease,
    old_renewals_per_attempt: round(mean(oldRenewals)),
    new_renewals_per_attempt: round(mean(newRenewals)),
    old_recovery_seconds: round(mean(oldRecovery)),
    new_recovery_seconds: round(mean(newRecovery)),
    recovery_change_p05_seconds: round(quantile(changes, 0.05)),
    recovery_change_p95_seconds: round(quantile(changes, 0.95)),
  };
}
