/**
 * `/optimize`'s counts and durations from the warehouse: the report's queries, over the whole
 * window, turned into the aggregates `recommend` puts in place of the documents' (which are cut
 * at the newest few thousand deployments).
 */
import type { TimeRange, WindowAggregates } from "../domain/optimize.js";
import { distributionOf, num, type WarehouseFacts } from "./report.js";
import type { Warehouse } from "./warehouse.js";

const SUCCESSFUL_RUN = new Set(["succeeded", "rolled_back"]);

/** The query results the aggregates are made of (a report's facts, less its alerts). */
type AggregateFacts = Pick<
  WarehouseFacts,
  "engine" | "deployment_outcomes" | "deployment_durations" | "task_outcomes" | "task_durations"
>;

/** The aggregates of the facts (pure). */
export function windowAggregates(facts: AggregateFacts): WindowAggregates {
  const integrations = new Map<string, WindowAggregates["integrations"][number]>();
  for (const row of facts.task_outcomes) {
    const environment = String(row.environment);
    const integration = String(row.integration);
    const key = `${environment}\u0000${integration}`;
    const entry = integrations.get(key) ?? {
      environment,
      integration,
      tasks: 0,
      runs: 0,
      succeeded: 0,
      failed: 0,
      retried_runs: 0,
      recovered_runs: 0,
      flaky_runs: 0,
      retries: 0,
      duration: distributionOf(
        facts.task_durations.find((r) => r.environment === environment && r.integration === integration),
      ),
    };
    const runs = num(row.runs);
    const retried = num(row.retried_runs);
    const status = String(row.status);
    entry.tasks += num(row.tasks);
    entry.runs += runs;
    entry.retries += num(row.retries);
    entry.retried_runs += retried;
    if (SUCCESSFUL_RUN.has(status)) {
      entry.succeeded += runs;
      entry.recovered_runs += retried;
    }
    if (status === "failed") entry.failed += runs;
    // Every failed run is flaky; of the others, those that needed a retry.
    entry.flaky_runs += status === "failed" ? runs : retried;
    integrations.set(key, entry);
  }
  const environments = new Map<string, WindowAggregates["environments"][number]>();
  const environmentOf = (environment: string) => {
    const entry = environments.get(environment) ?? {
      environment,
      deployments_by_status: {},
      deployment_duration: distributionOf(
        facts.deployment_durations.find((r) => r.environment === environment),
      ),
      tasks: 0,
      runs: 0,
      retries: 0,
    };
    environments.set(environment, entry);
    return entry;
  };
  for (const row of facts.deployment_outcomes) {
    const entry = environmentOf(String(row.environment));
    const status = String(row.status);
    entry.deployments_by_status[status] = (entry.deployments_by_status[status] ?? 0) + num(row.deployments);
  }
  for (const i of integrations.values()) {
    const entry = environmentOf(i.environment);
    entry.tasks += i.tasks;
    entry.runs += i.runs;
    entry.retries += i.retries;
  }
  const byName = <T extends { environment: string; integration?: string }>(a: T, b: T) =>
    a.environment.localeCompare(b.environment) || (a.integration ?? "").localeCompare(b.integration ?? "");
  return {
    source: facts.engine,
    integrations: [...integrations.values()].sort(byName),
    environments: [...environments.values()].sort(byName),
    task_duration: distributionOf(
      facts.task_durations.find((r) => r.environment === null && r.integration === null),
    ),
  };
}

/** Runs the queries over a window in a scope (null: every environment) and returns the aggregates. */
export async function loadWindowAggregates(
  warehouse: Warehouse,
  range: TimeRange,
  environments: string[] | null,
): Promise<WindowAggregates> {
  const window = { from: range.from.toISOString(), to: range.to.toISOString(), environments };
  const [deployment_outcomes, deployment_durations, task_outcomes, task_durations] = await Promise.all([
    warehouse.query("deployment_outcomes", window),
    warehouse.query("deployment_durations", window),
    warehouse.query("task_outcomes", window),
    warehouse.query("task_durations", window),
  ]);
  return windowAggregates({
    engine: warehouse.engine,
    deployment_outcomes,
    deployment_durations,
    task_outcomes,
    task_durations,
  });
}
