/**
 * The capacity forecast: events, deployments and Firestore operations a day over the next days,
 * from the warehouse's per-day counts, against the control plane's Firebase plan (the free daily
 * quotas), the events a day the warehouse is sized for, and the monthly budget. Pure: the rows
 * come from the warehouse's `daily_activity` query.
 */
import type { CapacityConfig } from "../config-schema.js";
import { PRICE_CATALOG } from "../planning/price-catalog.js";
import {
  checkLimit,
  denseSeries,
  forecastDaily,
  type DailyForecast,
  type DailyPoint,
  type LimitCheck,
} from "./forecast.js";

/**
 * Firestore round trips the engine makes, counted by `bench/hot-path.ts` (README, "Scale: what a
 * task and a request cost", 10 tasks one at a time): a task run reads 7 times (transaction reads
 * 2.5, gets 1.2, queries 2.7, counts 0.6) and commits 5.8 times; a `POST /deploy` alone reads 4
 * times (2 queries, 2 gets) and commits twice. `test/unit/task-costs.spec.ts` fails when the
 * engine's counts move away from these. Each round trip is taken as one document operation, so
 * the estimate is a floor: a commit writing or deleting several documents, a query returning
 * several, and the audit chain writer's calls (1.5 a task one at a time) are not counted; neither
 * are the retention job's deletes (they are not in the warehouse).
 */
export const FIRESTORE_ROUND_TRIPS = {
  reads_per_task_run: 7,
  writes_per_task_run: 5.8,
  reads_per_deployment: 4,
  writes_per_deployment: 2,
} as const;

/** One row of `daily_activity`: an environment's counts on one UTC day. */
export interface DailyActivity {
  environment: string;
  day: string;
  events: number;
  deployments: number;
  task_runs: number;
  firestore_reads: number;
  firestore_writes: number;
}

export const CAPACITY_METRICS = ["events", "deployments", "firestore_reads", "firestore_writes"] as const;
export type CapacityMetric = (typeof CAPACITY_METRICS)[number];

const DAY_MS = 86_400_000;

/** Days of history each metric carries for a chart (the forecast rests on up to 90). */
export const HISTORY_SHOWN_DAYS = 28;

export interface MetricForecast {
  forecast: DailyForecast;
  /** The last HISTORY_SHOWN_DAYS days of the series, a day without a row counted as 0 (as the forecast counts it). */
  history: { date: string; value: number }[];
  /** Expected total over the next 7 days and over the horizon (null without a forecast). */
  expected_next_7_days: number | null;
  expected_over_horizon: number | null;
  /** The daily limit it is compared with, and where it comes from (null: none applies). */
  limit: (LimitCheck & { source: string }) | null;
}

export interface BudgetCheck {
  monthly_budget_usd: number | null;
  /** Firestore operations beyond the free tier over the horizon, at the regional price. */
  expected_cost_usd: number;
  /** The same at the interval's high end every day. */
  high_cost_usd: number;
  /** Day on which the expected cost from tomorrow on passes the monthly budget (null: not within the horizon, or no budget). */
  exceeds_on: string | null;
}

export interface CapacityForecast {
  status: "ok";
  /** Full days read from the warehouse (the day under way is left out: it is partial). */
  history: { from: string; to: string };
  horizon_days: number;
  plan: CapacityConfig["plan"];
  /** Over every environment in scope: the control plane's one Firestore serves them all. */
  metrics: Record<CapacityMetric, MetricForecast>;
  budget: BudgetCheck;
  /** Each environment's expected totals (its share of the load). */
  by_environment: Record<
    string,
    Record<
      CapacityMetric,
      Omit<MetricForecast, "forecast" | "limit" | "history"> & {
        status: DailyForecast["status"];
        history_days: number;
      }
    >
  >;
  firestore_estimate: string;
  notes: string[];
}

const FREE = PRICE_CATALOG.firestore.free_tier;
const PRICES = PRICE_CATALOG.firestore.regional;
const round = (value: number, decimals = 2) => Math.round(value * 10 ** decimals) / 10 ** decimals;

/** The daily limit a metric is held to under the plan, or null. */
function limitOf(metric: CapacityMetric, config: CapacityConfig): { value: number; source: string } | null {
  const quota = (what: string) =>
    config.plan === "spark"
      ? `Spark plan: ${what} a day are refused beyond the free quota`
      : `Blaze plan: ${what} a day beyond the free tier are billed`;
  switch (metric) {
    case "firestore_reads":
      return { value: FREE.reads_per_day.value, source: quota("document reads") };
    case "firestore_writes":
      return { value: FREE.writes_per_day.value, source: quota("document writes") };
    case "events":
      return { value: config.events_per_day_limit, source: "base.capacity.events_per_day_limit" };
    case "deployments":
      return null;
  }
}

function sumOver(forecast: DailyForecast, days: number): number | null {
  if (forecast.status !== "ok") return null;
  return round(forecast.points.slice(0, days).reduce((total, point) => total + point.expected, 0));
}

/** Series of one metric, summed over rows, on every day from the first active one to `lastDay`. */
function seriesOf(rows: readonly DailyActivity[], metric: CapacityMetric, lastDay: string): DailyPoint[] {
  const byDay = new Map<string, number>();
  for (const row of rows) byDay.set(row.day, (byDay.get(row.day) ?? 0) + row[metric]);
  // The last full day is always part of the history: a quiet yesterday is a zero, not a shorter series.
  if (byDay.size > 0 && !byDay.has(lastDay)) byDay.set(lastDay, 0);
  return [...byDay.entries()].filter(([day]) => day <= lastDay).map(([date, value]) => ({ date, value }));
}

function costOfDay(reads: number, writes: number): number {
  return (
    (Math.max(0, reads - FREE.reads_per_day.value) / 100_000) * PRICES.read_per_100k.value +
    (Math.max(0, writes - FREE.writes_per_day.value) / 100_000) * PRICES.write_per_100k.value
  );
}

function budgetCheck(reads: DailyForecast, writes: DailyForecast, config: CapacityConfig): BudgetCheck {
  const none = {
    monthly_budget_usd: config.monthly_budget_usd,
    expected_cost_usd: 0,
    high_cost_usd: 0,
    exceeds_on: null,
  };
  if (reads.status !== "ok" || writes.status !== "ok" || config.plan === "spark") return none;
  let cumulative = 0;
  let high = 0;
  let exceedsOn: string | null = null;
  reads.points.forEach((read, day) => {
    const write = writes.points[day]!;
    cumulative += costOfDay(read.expected, write.expected);
    high += costOfDay(read.high, write.high);
    if (exceedsOn === null && config.monthly_budget_usd !== null && cumulative > config.monthly_budget_usd)
      exceedsOn = read.date;
  });
  return {
    monthly_budget_usd: config.monthly_budget_usd,
    expected_cost_usd: round(cumulative, 4),
    high_cost_usd: round(high, 4),
    exceeds_on: exceedsOn,
  };
}

function metricForecast(
  points: DailyPoint[],
  metric: CapacityMetric,
  config: CapacityConfig,
  horizon: number,
): MetricForecast {
  const forecast = forecastDaily(points, { horizon });
  const limit = limitOf(metric, config);
  const dense = denseSeries(points);
  const shownFrom = Math.max(0, dense.values.length - HISTORY_SHOWN_DAYS);
  return {
    forecast,
    history: dense.values.slice(shownFrom).map((value, i) => ({
      date: new Date((dense.first + shownFrom + i) * DAY_MS).toISOString().slice(0, 10),
      value,
    })),
    expected_next_7_days: sumOver(forecast, 7),
    expected_over_horizon: sumOver(forecast, horizon),
    limit:
      limit === null || forecast.status !== "ok"
        ? null
        : { ...checkLimit(forecast.points, limit.value), source: limit.source },
  };
}

/**
 * The forecast from the warehouse's rows over the full days `from`..`lastDay` (YYYY-MM-DD), in the
 * caller's scope, for `horizon` days after `lastDay`.
 */
export function capacityForecast(
  rows: readonly DailyActivity[],
  config: CapacityConfig,
  window: { from: string; lastDay: string },
  horizon = 30,
): CapacityForecast {
  const metrics = Object.fromEntries(
    CAPACITY_METRICS.map((metric) => [
      metric,
      metricForecast(seriesOf(rows, metric, window.lastDay), metric, config, horizon),
    ]),
  ) as Record<CapacityMetric, MetricForecast>;
  const environments = [...new Set(rows.map((row) => row.environment))].sort();
  const by_environment = Object.fromEntries(
    environments.map((environment) => {
      const own = rows.filter((row) => row.environment === environment);
      return [
        environment,
        Object.fromEntries(
          CAPACITY_METRICS.map((metric) => {
            const { forecast, expected_next_7_days, expected_over_horizon } = metricForecast(
              seriesOf(own, metric, window.lastDay),
              metric,
              config,
              horizon,
            );
            return [
              metric,
              {
                status: forecast.status,
                history_days: forecast.status === "invalid" ? 0 : forecast.history_days,
                expected_next_7_days,
                expected_over_horizon,
              },
            ];
          }),
        ),
      ];
    }),
  ) as CapacityForecast["by_environment"];
  const notes: string[] = [];
  const events = metrics.events.forecast;
  if (events.status === "insufficient_history") notes.push(`No forecast: ${events.message}.`);
  else if (events.status === "ok" && events.short_history)
    notes.push(
      `The forecast rests on ${events.history_days} days (under 28): the trend and weekday effects are uncertain, and the intervals narrower than they should be.`,
    );
  if (events.status === "ok" && events.missing_days > 0)
    notes.push(`${events.missing_days} day(s) without any event in the history were counted as 0.`);
  if (config.plan === "spark")
    notes.push(
      "Spark plan: no billing, so no cost; past a free quota Firestore refuses operations until the next day.",
    );
  else if (config.monthly_budget_usd === null)
    notes.push(
      "No monthly budget is set (base.capacity.monthly_budget_usd): the cost is forecast, not compared.",
    );
  return {
    status: "ok",
    history: { from: window.from, to: window.lastDay },
    horizon_days: horizon,
    plan: config.plan,
    metrics,
    budget: budgetCheck(metrics.firestore_reads.forecast, metrics.firestore_writes.forecast, config),
    by_environment,
    firestore_estimate: `a floor from the engine's round trips (bench/hot-path.ts): ${FIRESTORE_ROUND_TRIPS.reads_per_task_run} reads and ${FIRESTORE_ROUND_TRIPS.writes_per_task_run} writes a task run, ${FIRESTORE_ROUND_TRIPS.reads_per_deployment} and ${FIRESTORE_ROUND_TRIPS.writes_per_deployment} a deployment request; the audit chain writer, multi-document commits and deletes are not counted`,
    notes,
  };
}
