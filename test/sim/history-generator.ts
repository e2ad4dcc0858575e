/**
 * A seeded generator of deployment history, for the backtest and the anomaly tests: what the real
 * drivers would have recorded over weeks of deployments to the example config's environments.
 *
 * It is independent of the predictor under test: the truth is its own table of log-normal
 * durations per environment and kind (the catalog off by a seeded factor of up to 3.3x either way,
 * prod slower than dev), with a seeded regime change halfway through, retriable failures that cost
 * a partial attempt and the engine's backoff, non-retriable failures that fail the task and skip
 * its dependents (about one pair in ten is flaky), and a dispatch delay per task. The task graph and the timeline come from the
 * planner and its list scheduler (what the engine does), with the true durations. Known anomalies
 * (very slow runs, a burst of failures) are planted on request and listed, so tests can check
 * that each is found.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { ResolvedEnvironment } from "../../functions/src/domain/config-schema.js";
import { validateConfig } from "../../functions/src/domain/config.js";
import type { Deployment, Task } from "../../functions/src/domain/engine-model.js";
import { scheduleWithLimit } from "../../functions/src/domain/graph.js";
import { INTEGRATION_CATALOG } from "../../functions/src/domain/integrations.js";
import type { ReplayedDeployment } from "../../functions/src/domain/learning/backtest.js";
import { emptyHistory, type History } from "../../functions/src/domain/optimize.js";
import { planDeployment, retryDelayMs } from "../../functions/src/domain/planner.js";
import { Prng } from "./scheduler.js";

export interface GeneratorOptions {
  seed: number;
  days: number;
  /** Mean deployments a day over every environment. */
  deploymentsPerDay: number;
  /** Share of runs without retries made anomalously slow (at least 8x, and 8 to 10 standard deviations); 0 for none. */
  slowAnomalyRate?: number;
  /** Whether a few integrations change behaviour for good halfway (x1.8 slower). Default true. */
  regimeShift?: boolean;
  /** Plant one burst of failures: this many consecutive runs of one integration fail. 0 for none. */
  failureBurstRuns?: number;
  start?: Date;
  /**
   * A shape for the daily volume (for the capacity forecast's backtest): day d's deployments are
   * Poisson with mean deploymentsPerDay x (1 + trendPerDay x d) x weekly[its UTC weekday, 0 Sunday],
   * at uniform times within it. Without it, deployments fall uniformly over the whole span.
   */
  volume?: { trendPerDay: number; weekly: readonly number[] };
  /**
   * One integration of one environment whose retriable failures outlast any backoff: it fails an
   * attempt with chance `rate`, and once it has, every retry fails too (its retries never recover).
   */
  stuckRetries?: { environment: string; kind: string; rate: number };
}

/**
 * The volume shape of the capacity forecast's backtest history (`npm run backtest`, its unit test
 * and the demo): +1 % of the base a day, busy weekdays, quiet weekends (Sunday first).
 */
export const BACKTEST_VOLUME: NonNullable<GeneratorOptions["volume"]> = {
  trendPerDay: 0.01,
  weekly: [0.3, 1.2, 1.25, 1.2, 1.15, 1.0, 0.35],
};

/** A planted anomaly: which run, and what was done to it. */
export interface PlantedAnomaly {
  kind: "slow" | "failure_burst";
  environment: string;
  integration: string;
  /** The slow run, or the first run of the burst. */
  task_id: string;
  /** Every run of the burst (one for a slow run). */
  task_ids: string[];
}

export interface GeneratedHistory {
  environments: ResolvedEnvironment[];
  deployments: ReplayedDeployment[];
  anomalies: PlantedAnomaly[];
}

const examplePath = fileURLToPath(new URL("../../orchestration.json", import.meta.url));

/** The example config's environments, resolved. */
export function exampleEnvironments(): ResolvedEnvironment[] {
  const validated = validateConfig(JSON.parse(readFileSync(examplePath, "utf8")));
  assert.ok(validated.ok, "orchestration.json validates");
  return validated.config.environments;
}

/** How much slower than dev each environment is (more data, more instances, approvals). */
const ENVIRONMENT_FACTOR: Record<string, number> = { dev: 0.6, staging: 0.9, prod: 1.4 };
/** Chance a deployment goes to each environment. */
const ENVIRONMENT_SHARE: [string, number][] = [
  ["dev", 0.5],
  ["staging", 0.3],
  ["prod", 0.2],
];

interface Truth {
  medianSeconds: number;
  logSigma: number;
  /** Chance one attempt fails with a retriable error. */
  retriable: number;
  /** Chance a run fails for good (a non-retriable error). */
  permanent: number;
}

function normal(random: Prng): number {
  // Box-Muller; 1 - u keeps the logarithm finite.
  const u = 1 - random.next();
  const v = random.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** Slow runs are planted only once an integration has this many normal runs (without retries). */
const SLOW_AFTER_CLEAN_RUNS = 25;

const uniform = (random: Prng, low: number, high: number) => low + (high - low) * random.next();

/** A Poisson draw (Knuth's: fine for the tens of deployments a day drawn here). */
function poisson(random: Prng, mean: number): number {
  const floor = Math.exp(-mean);
  let count = -1;
  for (let product = 1; product > floor; product *= random.next()) count += 1;
  return count;
}

function shapedTimes(
  random: Prng,
  start: Date,
  days: number,
  perDay: number,
  volume: NonNullable<GeneratorOptions["volume"]>,
): number[] {
  const times: number[] = [];
  for (let day = 0; day < days; day++) {
    const dayStart = start.getTime() + day * 86_400_000;
    const weekday = new Date(dayStart).getUTCDay();
    const mean = Math.max(0, perDay * (1 + volume.trendPerDay * day) * (volume.weekly[weekday] ?? 1));
    const count = poisson(random, mean);
    for (let i = 0; i < count; i++) times.push(dayStart + random.next() * 86_400_000);
  }
  return times.sort((a, b) => a - b);
}

export function generateHistory(options: GeneratorOptions): GeneratedHistory {
  const random = new Prng(options.seed);
  const environments = exampleEnvironments();
  const start = options.start ?? new Date(Date.UTC(2026, 9, 1));
  const truth = new Map<string, Truth>();
  const key = (environment: string, integration: string) => `${environment}/${integration}`;
  for (const env of environments) {
    for (const { kind } of env.integrations) {
      const catalog = INTEGRATION_CATALOG[kind].estimatedSeconds;
      truth.set(key(env.name, kind), {
        medianSeconds: catalog * (ENVIRONMENT_FACTOR[env.name] ?? 1) * Math.exp(uniform(random, -1.2, 1.2)),
        logSigma: uniform(random, 0.1, 0.35),
        retriable: Math.exp(uniform(random, Math.log(0.005), Math.log(0.2))),
        // Most integrations rarely fail for good; about one in ten is flaky (10 to 25 % of its runs).
        permanent:
          random.next() < 0.1
            ? uniform(random, 0.1, 0.25)
            : Math.exp(uniform(random, Math.log(0.002), Math.log(0.03))),
      });
    }
  }
  const stuckKey = options.stuckRetries
    ? key(options.stuckRetries.environment, options.stuckRetries.kind)
    : null;
  if (options.stuckRetries && stuckKey) truth.get(stuckKey)!.retriable = options.stuckRetries.rate;
  // Halfway, up to three integrations change behaviour for good (a bigger bundle, a new rules file).
  const shifts = [...truth.keys()]
    .sort()
    .filter(() => random.next() < 0.08)
    .slice(0, options.regimeShift === false ? 0 : 3);
  const shiftAt = start.getTime() + (options.days / 2) * 86_400_000;

  const times = options.volume
    ? shapedTimes(random, start, options.days, options.deploymentsPerDay, options.volume)
    : Array.from(
        { length: Math.round(options.days * options.deploymentsPerDay) },
        () => start.getTime() + random.next() * options.days * 86_400_000,
      ).sort((a, b) => a - b);
  const deploymentCount = times.length;

  const anomalies: PlantedAnomaly[] = [];
  /** Runs of each integration without retries or failure so far: a slow run needs normal ones to stand out from. */
  const cleanRuns = new Map<string, number>();
  const burst = { key: "", left: 0, ids: [] as string[], environment: "", integration: "" };
  const burstAt = options.failureBurstRuns ? Math.floor(deploymentCount * 0.7) : -1;

  const deployments: ReplayedDeployment[] = [];
  let busyUntil = new Map<string, number>();
  times.forEach((at, index) => {
    const roll = random.next();
    let cumulative = 0;
    const envName = ENVIRONMENT_SHARE.find(([, share]) => (cumulative += share) >= roll)?.[0] ?? "dev";
    const env = environments.find((candidate) => candidate.name === envName)!;
    const kinds = env.integrations.map((integration) => integration.kind);
    const integrations = random.next() < 0.35 ? kinds : kinds.filter(() => random.next() < 0.5);
    if (integrations.length === 0) integrations.push(kinds[Math.floor(random.next() * kinds.length)]!);
    // Deployments of one environment do not overlap: the next waits for the last to end.
    const createdAt = Math.max(at, busyUntil.get(envName) ?? 0);
    const id = `${envName}-${String(index).padStart(4, "0")}`;
    const request = { environment: envName, integrations, configuration: {}, requested_by: "generator" };
    const planned = planDeployment(id, request, env, new Date(createdAt));
    assert.ok(planned.ok, `deployment ${id} plans`);
    const plan = planned.plan;

    if (index === burstAt) {
      const target = plan.tasks[Math.floor(random.next() * plan.tasks.length)]!;
      Object.assign(burst, {
        key: key(envName, target.integration),
        left: options.failureBurstRuns,
        ids: [],
        environment: envName,
        integration: target.integration,
      });
    }

    // What each task really does: its duration (retries included) and how it ends.
    const outcome = new Map<
      string,
      { seconds: number; failed: boolean; retries: number; error: string | null }
    >();
    // Dependents of a failed task never run: they are skipped (tasks come in dependency order).
    const skipped = new Set<string>();
    for (const task of plan.tasks) {
      if (task.dependencies.some((dep) => skipped.has(dep) || outcome.get(dep)?.failed)) {
        skipped.add(task.id);
        continue;
      }
      const k = key(envName, task.kind);
      const t = truth.get(k)!;
      const median = t.medianSeconds * (shifts.includes(k) && createdAt >= shiftAt ? 1.8 : 1);
      const attemptSeconds = () => median * Math.exp(t.logSigma * normal(random));
      let seconds = uniform(random, 0.2, 2); // dispatch: the message, the claim
      let retries = 0;
      let failed = false;
      let error: string | null = null;
      const inBurst = burst.left > 0 && burst.key === k;
      for (;;) {
        if (inBurst || random.next() < t.permanent) {
          seconds += attemptSeconds() * uniform(random, 0.1, 0.9);
          failed = true;
          error = `attempt ${retries + 1} of ${task.max_retries + 1}: ${task.kind} refused the change`;
          break;
        }
        // A stuck integration's retries fail without a draw, so other histories keep their draws.
        if ((k === stuckKey && retries > 0) || random.next() < t.retriable) {
          seconds += attemptSeconds() * uniform(random, 0.1, 0.9);
          if (retries === task.max_retries) {
            failed = true;
            error = `attempt ${retries + 1} of ${task.max_retries + 1}: ${task.kind} timed out`;
            break;
          }
          retries += 1;
          seconds += retryDelayMs(retries, plan.options, () => random.next()) / 1000;
          continue;
        }
        seconds += attemptSeconds();
        break;
      }
      if (inBurst) {
        burst.ids.push(task.id);
        burst.left -= 1;
        if (burst.left === 0)
          anomalies.push({
            kind: "failure_burst",
            environment: burst.environment,
            integration: burst.integration,
            task_id: burst.ids[0]!,
            task_ids: [...burst.ids],
          });
      } else if (
        !failed &&
        retries === 0 &&
        (cleanRuns.get(k) ?? 0) >= SLOW_AFTER_CLEAN_RUNS &&
        options.slowAnomalyRate &&
        random.next() < options.slowAnomalyRate
      ) {
        // 8 to 10 of its own standard deviations above its median, and at least 8 times it: beyond
        // anything its noise (the dispatch delay included) makes.
        seconds =
          uniform(random, 0.2, 2) +
          median * Math.max(uniform(random, 8, 10), Math.exp(uniform(random, 8, 10) * t.logSigma));
        anomalies.push({
          kind: "slow",
          environment: envName,
          integration: task.integration,
          task_id: task.id,
          task_ids: [task.id],
        });
      } else if (!failed && retries === 0) cleanRuns.set(k, (cleanRuns.get(k) ?? 0) + 1);
      outcome.set(task.id, { seconds, failed, retries, error });
    }

    const byId = new Map(plan.tasks.map((task) => [task.id, task]));
    const ran = plan.tasks.filter((task) => !skipped.has(task.id)).map((task) => task.id);
    const { schedule, makespan } = scheduleWithLimit(
      ran,
      (taskId) => byId.get(taskId)!.dependencies.filter((dep) => !skipped.has(dep)),
      (taskId) => outcome.get(taskId)!.seconds,
      (taskId) => byId.get(taskId)!.priority,
      env.concurrency,
    );
    const when = (seconds: number) => new Date(createdAt + seconds * 1000);
    const slots = new Map(schedule.map((entry) => [entry.id, entry]));
    const anyFailed = ran.some((taskId) => outcome.get(taskId)!.failed);
    const tasks: Task[] = plan.tasks.map((task) => {
      const slot = slots.get(task.id);
      const result = outcome.get(task.id);
      if (!slot || !result)
        return {
          ...task,
          status: "skipped",
          completed_at: when(makespan),
          reason: "a dependency failed",
        };
      return {
        ...task,
        status: result.failed
          ? "failed"
          : anyFailed && env.rollback_policy === "all"
            ? "rolled_back"
            : "succeeded",
        started_at: when(slot.start),
        completed_at: when(slot.finish),
        actual_duration: slot.finish - slot.start,
        retry_count: result.retries,
        attempt: result.retries + 1,
        applied: !result.failed,
        error_message: result.error,
        ready_at: when(0),
      };
    });
    busyUntil = new Map(busyUntil).set(envName, createdAt + makespan * 1000);
    deployments.push({
      id,
      request,
      created_at: new Date(createdAt),
      status: anyFailed ? (env.rollback_policy === "all" ? "rolled_back" : "failed") : "succeeded",
      actual_seconds: makespan,
      tasks,
    });
  });
  return { environments, deployments, anomalies };
}

/**
 * A generated history as `POST /optimize` reads one (deployments newest first, with their tasks),
 * over the whole generated span. The deployments carry no plan (estimated_completion null).
 */
export function asOptimizeHistory(generated: GeneratedHistory): History {
  const ordered = [...generated.deployments].sort((a, b) => b.created_at.getTime() - a.created_at.getTime());
  const rollback = new Map(generated.environments.map((env) => [env.name, env.rollback_policy]));
  const deployments: Deployment[] = ordered.map((deployment) => {
    const completed = new Date(deployment.created_at.getTime() + deployment.actual_seconds * 1000);
    return {
      id: deployment.id,
      status: deployment.status,
      environment: deployment.request.environment,
      integrations: deployment.request.integrations,
      configuration: deployment.request.configuration,
      requested_by: deployment.request.requested_by,
      rollback_policy: rollback.get(deployment.request.environment) ?? "failed-only",
      created_at: deployment.created_at,
      task_ids: deployment.tasks.map((task) => task.id),
      estimated_completion: null,
      critical_path: [],
      started_at: deployment.created_at,
      completed_at: completed,
      actual_duration: deployment.actual_seconds,
      error_message: deployment.status === "succeeded" ? null : "a task failed",
      correlation_id: deployment.id,
      approval: null,
      expire_at: null,
    };
  });
  const oldest = ordered.at(-1)?.created_at ?? new Date(0);
  const newest = ordered[0]?.created_at ?? new Date(0);
  return {
    ...emptyHistory({ from: oldest, to: new Date(newest.getTime() + 86_400_000) }),
    deployments,
    tasks: ordered.flatMap((deployment) => deployment.tasks),
  };
}
