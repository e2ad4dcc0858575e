/**
 * A discrete-event replay of recent deployments under other settings: each deployment's task graph
 * is scheduled again by the planner's list scheduler, with durations drawn from the learned
 * log-normal distributions, under the old and the new concurrency limit. The same draws serve both
 * settings (common random numbers), so the difference measures the setting, not the luck. Pure
 * and seeded.
 *
 * What it models: the tasks of one deployment competing for the environment's slots. What it does
 * not: several deployments of one environment queueing for the same slots at once.
 */
import { mean, probit, quantile } from "simple-statistics";
import type { Task } from "../engine-model.js";
import { scheduleWithLimit } from "../graph.js";
import type { LearnedModel } from "./estimates.js";
import { seededRandom, standardNormal } from "./random.js";

export type ConcurrencyReplay = {
  method: string;
  deployments: number;
  samples: number;
  old_limit: number;
  new_limit: number;
  /** Mean seconds per deployment under each limit. */
  old_mean_seconds: number;
  new_mean_seconds: number;
  /** new - old, seconds per deployment: the mean, and the 5th and 95th percentiles over samples. */
  change_mean_seconds: number;
  change_p05_seconds: number;
  change_p95_seconds: number;
};

const Z90 = probit(0.9);
const round = (value: number) => Math.round(value * 1000) / 1000;

/**
 * The deployments some tasks belong to, each as a graph to schedule again: its tasks in order,
 * by id, and each task's learned log-normal duration (mu, sigma of the log).
 */
export function deploymentGraphs(tasks: readonly Task[], model: LearnedModel) {
  const byDeployment = new Map<string, Task[]>();
  for (const task of tasks)
    byDeployment.set(task.deployment_id, [...(byDeployment.get(task.deployment_id) ?? []), task]);
  return [...byDeployment.values()].map((members) => ({
    order: members.map((task) => task.id),
    ids: new Set(members.map((task) => task.id)),
    byId: new Map(members.map((task) => [task.id, task])),
    limit: members[0]!.concurrency_limit,
    distribution: new Map(
      members.map((task) => {
        const estimate = model.duration(task.environment, task.integration);
        return [task.id, { mu: Math.log(estimate.p50), sigma: Math.log(estimate.p90 / estimate.p50) / Z90 }];
      }),
    ),
  }));
}

/** Replays the deployments `tasks` belong to under two concurrency limits; null without any. */
export function replayConcurrency(
  tasks: readonly Task[],
  model: LearnedModel,
  oldLimit: number,
  newLimit: number,
  options: { samples?: number; seed?: number } = {},
): ConcurrencyReplay | null {
  const samples = options.samples ?? 200;
  const random = seededRandom(options.seed ?? 1);
  const graphs = deploymentGraphs(tasks, model);
  if (graphs.length === 0) return null;

  const normal = () => standardNormal(random);
  const oldMeans: number[] = [];
  const newMeans: number[] = [];
  for (let sample = 0; sample < samples; sample++) {
    let oldTotal = 0;
    let newTotal = 0;
    for (const graph of graphs) {
      const drawn = new Map(
        graph.order.map((id) => {
          const { mu, sigma } = graph.distribution.get(id)!;
          return [id, Math.exp(mu + sigma * normal())];
        }),
      );
      const schedule = (limit: number) =>
        scheduleWithLimit(
          graph.order,
          (id) => graph.byId.get(id)!.dependencies.filter((dependency) => graph.ids.has(dependency)),
          (id) => drawn.get(id)!,
          (id) => graph.byId.get(id)!.priority,
          limit,
        ).makespan;
      oldTotal += schedule(oldLimit);
      newTotal += schedule(newLimit);
    }
    oldMeans.push(oldTotal / graphs.length);
    newMeans.push(newTotal / graphs.length);
  }
  const changes = newMeans.map((value, index) => value - oldMeans[index]!);
  return {
    method: `the last ${graphs.length} deployment(s) replayed ${samples} times through the planner's scheduler, durations drawn from the learned log-normal of each task, the same draws under both limits`,
    deployments: graphs.length,
    samples,
    old_limit: oldLimit,
    new_limit: newLimit,
    old_mean_seconds: round(mean(oldMeans)),
    new_mean_seconds: round(mean(newMeans)),
    change_mean_seconds: round(mean(changes)),
    change_p05_seconds: round(quantile(changes, 0.05)),
    change_p95_seconds: round(quantile(changes, 0.95)),
  };
}
