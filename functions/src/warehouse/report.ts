/**
 * Report aggregates computed in the warehouse: the summary (deployments, tasks, retries,
 * durations), alerts opened, and the charts made of them, from the named queries. The rest of a
 * report (integrations' current health, open alerts, recommendations) is hot state from Firestore.
 */
import { TERMINAL_DEPLOYMENT_STATUSES } from "../domain/engine-model.js";
import { ALERT_LEVELS } from "../domain/health.js";
import { distribution, round, type Distribution, type TimeRange } from "../domain/optimize.js";
import type { Report, ReportSummary, Visualization } from "../domain/reports.js";
import type { Row, WindowParams } from "./queries.js";
import type { Warehouse } from "./warehouse.js";

/** The query results a report is made of. */
export interface WarehouseFacts {
  engine: Warehouse["engine"];
  window: WindowParams;
  deployment_outcomes: Row[];
  deployment_durations: Row[];
  task_outcomes: Row[];
  task_durations: Row[];
  alerts_opened: Row[];
}

/** Runs the report's queries over a window in the caller's scope (null: every environment). */
export async function loadWarehouseFacts(
  warehouse: Warehouse,
  range: TimeRange,
  environments: string[] | null,
): Promise<WarehouseFacts> {
  const window = { from: range.from.toISOString(), to: range.to.toISOString(), environments };
  const [deployment_outcomes, deployment_durations, task_outcomes, task_durations, alerts_opened] =
    await Promise.all([
      warehouse.query("deployment_outcomes", window),
      warehouse.query("deployment_durations", window),
      warehouse.query("task_outcomes", window),
      warehouse.query("task_durations", window),
      warehouse.query("alerts_opened", window),
    ]);
  return {
    engine: warehouse.engine,
    window,
    deployment_outcomes,
    deployment_durations,
    task_outcomes,
    task_durations,
    alerts_opened,
  };
}

/** A count from a query row (0 when absent): every warehouse module reads rows through these two. */
export const num = (value: Row[string] | undefined): number => (typeof value === "number" ? value : 0);
/** A measured value from a query row, rounded as reports round; null when absent. */
export const numOrNull = (value: Row[string] | undefined): number | null =>
  typeof value === "number" ? round(value) : null;

export function distributionOf(row: Row | undefined): Distribution {
  if (!row) return distribution([]);
  return {
    count: num(row.count),
    mean: numOrNull(row.mean),
    p50: numOrNull(row.p50),
    p95: numOrNull(row.p95),
    max: numOrNull(row.max),
  };
}

function sumBy(rows: readonly Row[], key: string, value: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const row of rows) out[String(row[key])] = (out[String(row[key])] ?? 0) + num(row[value]);
  return out;
}

/** The report summary, from the facts (same shape and definitions as the Firestore one). */
export function summaryFromFacts(facts: WarehouseFacts, base: ReportSummary): ReportSummary {
  const deployments = sumBy(facts.deployment_outcomes, "status", "deployments");
  const byStatus = { ...base.deployments.by_status };
  for (const key of Object.keys(byStatus) as (keyof typeof byStatus)[]) byStatus[key] = deployments[key] ?? 0;
  const finished = byStatus.succeeded + byStatus.failed + byStatus.rolled_back;
  const tasks = sumBy(facts.task_outcomes, "status", "tasks");
  const taskByStatus = { ...base.tasks.by_status };
  for (const key of Object.keys(taskByStatus) as (keyof typeof taskByStatus)[])
    taskByStatus[key] = tasks[key] ?? 0;
  const runs = facts.task_outcomes.reduce((total, row) => total + num(row.runs), 0);
  const retries = facts.task_outcomes.reduce((total, row) => total + num(row.retries), 0);
  return {
    deployments: {
      total: facts.deployment_outcomes.reduce((total, row) => total + num(row.deployments), 0),
      by_status: byStatus,
    },
    success_rate: finished > 0 ? round(byStatus.succeeded / finished, 4) : null,
    tasks: {
      total: facts.task_outcomes.reduce((total, row) => total + num(row.tasks), 0),
      by_status: taskByStatus,
      runs,
    },
    retries: { total: retries, per_run: runs > 0 ? round(retries / runs, 4) : null },
    durations: {
      deployment_seconds: distributionOf(facts.deployment_durations.find((r) => r.environment === null)),
      task_seconds: distributionOf(
        facts.task_durations.find((r) => r.environment === null && r.integration === null),
      ),
    },
  };
}

const TERMINAL: readonly string[] = TERMINAL_DEPLOYMENT_STATUSES;

/** The charts the warehouse computes, with the ids the Firestore report uses. */
export function visualizationsFromFacts(facts: WarehouseFacts): Visualization[] {
  const days = [...new Set(facts.deployment_outcomes.map((r) => String(r.day)))].sort();
  const perDay: Visualization = {
    id: "deployments-per-day",
    kind: "stacked_bar",
    title: "Deployments per day (UTC), by outcome",
    x: { label: "day", unit: "UTC date" },
    y: { label: "deployments", unit: null },
    series: (["succeeded", "failed", "rolled_back", "cancelled", "in_progress"] as const).map((name) => ({
      name,
      points: days.map((day) => ({
        x: day,
        y: facts.deployment_outcomes
          .filter(
            (r) =>
              r.day === day &&
              (name === "in_progress" ? !TERMINAL.includes(String(r.status)) : r.status === name),
          )
          .reduce((total, r) => total + num(r.deployments), 0),
      })),
    })),
  };
  const environments = [...new Set(facts.deployment_outcomes.map((r) => String(r.environment)))].sort();
  const successByEnv: Visualization = {
    id: "success-rate-by-environment",
    kind: "bar",
    title: "Deployment success rate by environment",
    x: { label: "environment", unit: null },
    y: { label: "success rate", unit: "ratio" },
    series: [
      {
        name: "success_rate",
        points: environments.map((environment) => {
          const rows = facts.deployment_outcomes.filter((r) => r.environment === environment);
          const count = (status: string) =>
            rows.filter((r) => r.status === status).reduce((total, r) => total + num(r.deployments), 0);
          const finished = count("succeeded") + count("failed") + count("rolled_back");
          return { x: environment, y: finished > 0 ? round(count("succeeded") / finished, 4) : null };
        }),
      },
    ],
  };
  const perIntegration = facts.task_durations.filter((r) => r.integration !== null);
  const durations: Visualization = {
    id: "task-duration-by-integration",
    kind: "bar",
    title: "Task duration by integration (p50 and p95)",
    x: { label: "environment/integration", unit: null },
    y: { label: "duration", unit: "seconds" },
    series: (["p50", "p95"] as const).map((name) => ({
      name,
      points: perIntegration.map((r) => ({ x: `${r.environment}/${r.integration}`, y: numOrNull(r[name]) })),
    })),
  };
  return [perDay, successByEnv, durations];
}

/**
 * A report whose aggregates come from the warehouse: the summary, alerts opened and the charts
 * above replace the Firestore ones; the report says which engine computed them.
 */
export function withWarehouseAggregates(report: Report, facts: WarehouseFacts): Report {
  const charts = new Map(visualizationsFromFacts(facts).map((v) => [v.id, v]));
  const opened = sumBy(facts.alerts_opened, "level", "alerts");
  const byLevel = Object.fromEntries(ALERT_LEVELS.map((level) => [level, opened[level] ?? 0])) as Record<
    (typeof ALERT_LEVELS)[number],
    number
  >;
  const source =
    facts.engine === "bigquery" ? "BigQuery" : "the local DuckDB warehouse (standing in for BigQuery)";
  const c = report.comprehensive_report;
  return {
    ...report,
    comprehensive_report: {
      ...c,
      summary: summaryFromFacts(facts, c.summary),
      health: {
        ...c.health,
        alerts: {
          ...c.health.alerts,
          opened: Object.values(byLevel).reduce((a, b) => a + b, 0),
          by_level: byLevel,
        },
      },
      aggregates_from: facts.engine,
      notes: [
        ...c.notes,
        `Summary, alerts opened and the per-day, success-rate and duration charts are computed in ${source} over orchestration_events, and so are the per-environment and per-integration counts and the recommendations' (as POST /optimize computes them); integration health, open alerts and what events do not carry (attempts, concurrency, queue waits, estimates) come from Firestore's documents.`,
      ],
    },
    visualizations: report.visualizations.map((v) => charts.get(v.id) ?? v),
  };
}
