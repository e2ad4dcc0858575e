/**
 * The dashboard's deployment trends read from the warehouse (`GET /trends`): per UTC day of the
 * last N, deployments by outcome, the success rate and finished deployments' p50/p95 durations,
 * from the named queries `deployment_outcomes` and `deployment_durations_by_day`, in the caller's
 * scope. The merge of their rows into one series, one entry per day, is pure (`trendSeries`).
 */
import { TERMINAL_DEPLOYMENT_STATUSES } from "../domain/engine-model.js";
import { round } from "../domain/optimize.js";
import type { Row } from "./queries.js";
import { num, numOrNull } from "./report.js";
import { RETENTION_DAYS } from "./schema.js";
import type { Warehouse } from "./warehouse.js";

const DAY_MS = 86_400_000;

/** Most days `GET /trends` reads: the operational retention (older events are purged). */
export const MAX_TREND_DAYS = RETENTION_DAYS.operational;
/** Days `GET /trends` reads when not told. */
export const DEFAULT_TREND_DAYS = 30;

/** Outcome counts of the deployments that started in a span, and the success rate of those that ended. */
export interface TrendCounts {
  deployments: number;
  succeeded: number;
  failed: number;
  rolled_back: number;
  cancelled: number;
  /** Not ended yet (any state before a terminal one). */
  in_progress: number;
  /** succeeded / (succeeded + failed + rolled_back), 4 decimals; null when none of those. */
  success_rate: number | null;
  /** Finished deployments with a duration: what the percentiles are of. */
  finished: number;
  /** Nearest-rank p50 and p95 of their durations, in seconds; null when none finished. */
  duration_p50: number | null;
  duration_p95: number | null;
}

/** One UTC day of the trends: the deployments whose first event is on that day. */
export interface TrendDay extends TrendCounts {
  /** YYYY-MM-DD (UTC). */
  day: string;
}

/** What `GET /trends` answers: the per-day series from the warehouse, or why there is none. */
export type TrendsAnswer =
  | {
      status: "ok";
      /** Which engine computed the numbers ("duckdb" stands in for BigQuery locally). */
      aggregates_from: Warehouse["engine"];
      /** Whole UTC days: `from` is the first day's midnight, `to` the midnight after today. */
      from: string;
      to: string;
      days: number;
      /** The environments counted; null: every environment. */
      environments: string[] | null;
      /** One entry per day, oldest first, days without deployments included (zeros, null rates). */
      series: TrendDay[];
      /** The same numbers over the whole window. */
      window: TrendCounts;
      notes: string[];
    }
  | { status: "no_warehouse" | "warehouse_error"; message: string };

const TERMINAL: readonly string[] = TERMINAL_DEPLOYMENT_STATUSES;

function counts(outcomes: readonly Row[], durations: Row | undefined): TrendCounts {
  const by = (status: string) =>
    outcomes.filter((row) => row.status === status).reduce((total, row) => total + num(row.deployments), 0);
  const [succeeded, failed, rolled_back, cancelled] = [
    by("succeeded"),
    by("failed"),
    by("rolled_back"),
    by("cancelled"),
  ];
  const deployments = outcomes.reduce((total, row) => total + num(row.deployments), 0);
  const ended = succeeded + failed + rolled_back;
  return {
    deployments,
    succeeded,
    failed,
    rolled_back,
    cancelled,
    in_progress: outcomes
      .filter((row) => !TERMINAL.includes(String(row.status)))
      .reduce((total, row) => total + num(row.deployments), 0),
    success_rate: ended > 0 ? round(succeeded / ended, 4) : null,
    finished: durations ? num(durations.count) : 0,
    duration_p50: numOrNull(durations?.p50),
    duration_p95: numOrNull(durations?.p95),
  };
}

/** The UTC days from `from` (a midnight) before `to`, as YYYY-MM-DD. */
export function daysOf(from: Date, to: Date): string[] {
  const out: string[] = [];
  for (let t = from.getTime(); t < to.getTime(); t += DAY_MS)
    out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}

/**
 * Merges the rows of `deployment_outcomes` (environment, day, status, deployments) and
 * `deployment_durations_by_day` (day, count, p50, p95; day null over the window) into one entry
 * per day of `days`, and the window's totals. Outcomes are summed over environments.
 */
export function trendSeries(
  outcomes: readonly Row[],
  durations: readonly Row[],
  days: readonly string[],
): { series: TrendDay[]; window: TrendCounts } {
  const inDays = outcomes.filter((row) => days.includes(String(row.day)));
  return {
    series: days.map((day) => ({
      day,
      ...counts(
        inDays.filter((row) => row.day === day),
        durations.find((row) => row.day === day),
      ),
    })),
    window: counts(
      inDays,
      durations.find((row) => row.day === null),
    ),
  };
}

/**
 * The trends of the last `days` UTC days, today (so far) included, in the caller's scope (null:
 * every environment). Never throws: without a warehouse, or when it fails, the answer says why.
 */
export async function loadDeploymentTrends(
  warehouse: Warehouse | null,
  now: Date,
  days: number,
  environments: string[] | null,
): Promise<TrendsAnswer> {
  if (!warehouse)
    return {
      status: "no_warehouse",
      message:
        "No warehouse is configured (ORCH_WAREHOUSE_URL or ORCH_BIGQUERY_DATASET): the trends are computed in the warehouse and are not made without it",
    };
  const to = new Date((Math.floor(now.getTime() / DAY_MS) + 1) * DAY_MS);
  const from = new Date(to.getTime() - days * DAY_MS);
  const window = { from: from.toISOString(), to: to.toISOString(), environments };
  let outcomes: Row[];
  let durations: Row[];
  try {
    [outcomes, durations] = await Promise.all([
      warehouse.query("deployment_outcomes", window),
      warehouse.query("deployment_durations_by_day", window),
    ]);
  } catch (error) {
    return {
      status: "warehouse_error",
      message: `the warehouse did not answer: ${(error as Error).message}`,
    };
  }
  const source =
    warehouse.engine === "bigquery" ? "BigQuery" : "the local DuckDB warehouse (standing in for BigQuery)";
  return {
    status: "ok",
    aggregates_from: warehouse.engine,
    from: window.from,
    to: window.to,
    days,
    environments,
    ...trendSeries(outcomes, durations, daysOf(from, to)),
    notes: [
      `Computed in ${source} over orchestration_events: each deployment counts on the UTC day of its first event; durations are of finished deployments (nearest-rank percentiles); today is partial.`,
    ],
  };
}
