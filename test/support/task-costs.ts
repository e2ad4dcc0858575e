/**
 * What one task costs the engine: Firestore round trips, publishes and function invocations per
 * task, counted exactly by running the real engine steps in the simulation's memory Firestore with
 * no fault (every call the engine makes is an await point the simulation sees). The shape: the ten
 * integrations of an environment in their dependency order, at a given concurrency. The sweeper
 * does not run (the deployment ends before its first minute), so the figures are the hot path
 * alone; the counts of an empty run (loading the config) are taken off. `bench/hot-path.ts` prints
 * them; the capacity forecast's constants are checked against them.
 */
import { INTEGRATION_KINDS } from "../../functions/src/domain/integrations.js";
import { simulate, type Scenario } from "../sim/world.js";
import { oneDeployment } from "./scenarios.js";

/** Calls that are one round trip to Firestore, by the label the memory store gives them. */
export const ROUND_TRIP = /^(get|query|count|getAll|tx\.get|tx\.query|tx\.getAll|commit) /;
/**
 * The audit chain writer's own calls (its lease, head, index, records, and the inbox it drains). It
 * runs at most once a second per instance whatever the number of tasks, so it is counted apart: per
 * task it shrinks as more tasks share a second.
 */
const CHAIN_WRITER = /audit_(?:head|index|log)\/|^query audit_inbox/;

/** A call's kind (`get`, `commit`...), with `audit ` in front when the audit chain writer made it. */
function kindOf(label: string): string {
  const kind = label.split(" ")[0]!;
  return CHAIN_WRITER.test(label) ? `audit ${kind}` : kind;
}

interface Counts {
  calls: Map<string, number>;
  invocations: Map<string, number>;
  statuses: string[];
}

async function count(shape: Scenario): Promise<Counts> {
  const calls = new Map<string, number>();
  const invocations = new Map<string, number>();
  const bump = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);
  const result = await simulate(1, {
    scenario: shape,
    faults: false,
    onCall: (label) => bump(calls, kindOf(label)),
    onInvocation: (trigger) => bump(invocations, trigger),
  });
  if (result.violations.length > 0)
    throw new Error(`the run broke an invariant: ${result.violations.map((v) => v.detail).join("; ")}`);
  return { calls, invocations, statuses: result.deployments.map((d) => d.status) };
}

function minus(a: Map<string, number>, b: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [key, value] of a) if (value - (b.get(key) ?? 0) > 0) out.set(key, value - (b.get(key) ?? 0));
  return out;
}

export const sumOf = (map: Map<string, number>, keep: (key: string) => boolean = () => true) =>
  [...map].filter(([key]) => keep(key)).reduce((total, [, value]) => total + value, 0);

/** Per task, to one decimal. */
export interface TaskCosts {
  tasks: number;
  round_trips_per_task: number;
  /** Of those, the commits; the rest are reads (gets, queries, counts, transaction reads). */
  commits_per_task: number;
  reads_per_task: number;
  round_trips_by_kind_per_task: Record<string, number>;
  audit_chain_writer_round_trips_per_task: number;
  publishes_per_task: number;
  invocations_per_task: number;
  invocations_by_trigger_per_task: Record<string, number>;
}

/** The costs of the ten integrations of an environment deployed at `concurrency`. */
export async function taskCosts(concurrency: number): Promise<TaskCosts> {
  const empty = await count(oneDeployment(concurrency, []));
  const measured = await count(oneDeployment(concurrency));
  if (measured.statuses.join() !== "succeeded")
    throw new Error(`the deployment ended ${measured.statuses.join()}`);
  const calls = minus(measured.calls, empty.calls);
  const invocations = minus(measured.invocations, empty.invocations);
  const tasks = INTEGRATION_KINDS.length;
  const perTask = (value: number) => Number((value / tasks).toFixed(1));
  const engineCall = (key: string) => ROUND_TRIP.test(`${key} `);
  const byKind = Object.fromEntries(
    [...calls].filter(([key]) => engineCall(key)).map(([key, value]) => [key, perTask(value)]),
  );
  const commits = calls.get("commit") ?? 0;
  return {
    tasks,
    round_trips_per_task: perTask(sumOf(calls, engineCall)),
    commits_per_task: perTask(commits),
    reads_per_task: perTask(sumOf(calls, engineCall) - commits),
    round_trips_by_kind_per_task: byKind,
    audit_chain_writer_round_trips_per_task: perTask(sumOf(calls, (key) => key.startsWith("audit "))),
    publishes_per_task: perTask(calls.get("publish") ?? 0),
    invocations_per_task: perTask(sumOf(invocations)),
    invocations_by_trigger_per_task: Object.fromEntries(
      [...invocations].map(([key, value]) => [key, perTask(value)]),
    ),
  };
}
