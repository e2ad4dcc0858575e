/**
 * The demo's capacity step: `POST /optimize`'s `capacity_forecast` from the stack's warehouse (the
 * demo's own history is a few minutes old, so it says how many days it has and that it needs 14),
 * then the same forecast on the seeded 150-day history `npm run backtest` uses, against the plan's
 * free tier and a budget.
 */
import { dailyCounts } from "../../functions/src/domain/learning/backtest.js";
import { capacityForecast, type DailyActivity } from "../../functions/src/domain/learning/capacity.js";
import { BACKTEST_VOLUME, generateHistory } from "../../test/sim/history-generator.js";

type Call = (
  method: string,
  path: string,
  body?: unknown,
) => Promise<{ status: number; body: Record<string, unknown> }>;

interface MetricView {
  forecast: { status: string; history_days?: number; minimum_days?: number; points?: { date: string }[] };
  expected_over_horizon: number | null;
  limit: { limit: number; exceeds_on: string | null; days_until_limit: number | null } | null;
}

/** How many teams like the seeded one the demo's second forecast stands for. */
const SCALE = 20;
const BUDGET_USD = 1;
const count = (value: number | null) => (value === null ? "-" : Math.round(value).toLocaleString("en-US"));

/** Runs the step; true when the API answered a forecast (or said why none) and the seeded one was made. */
export async function demoForecast(
  call: Call,
  heading: (text: string) => void,
  say: (line: string) => void,
): Promise<boolean> {
  heading("Capacity: events, deployments and Firestore operations a day over the next 30 days");
  const answer = await call("POST", "/optimize", {});
  const capacity = answer.body.capacity_forecast as
    | { status: string; message?: string; aggregates_from?: string; metrics?: Record<string, MetricView> }
    | undefined;
  const events = capacity?.metrics?.events?.forecast;
  console.log(
    `POST /optimize -> ${answer.status}; capacity_forecast ${capacity?.status ?? "absent"}${
      capacity?.aggregates_from ? ` (from ${capacity.aggregates_from})` : ""
    }: ${
      capacity?.message ??
      (events?.status === "ok"
        ? `events ${count(capacity?.metrics?.events?.expected_over_horizon ?? null)} over 30 days, from ${events.history_days} days`
        : `${events?.status ?? "?"}, ${events?.history_days ?? 0} full day(s) of history, ${events?.minimum_days ?? "?"} needed`)
    }`,
  );

  const analyzed = answer.body.analyzed as { aggregates_from?: string; deployments?: number } | undefined;
  const baseline = (answer.body.expected_improvements as { baseline?: { task_runs?: number } } | undefined)
    ?.baseline;
  console.log(
    `  its recommendations' counts and durations from ${analyzed?.aggregates_from ?? "?"}: ${count(analyzed?.deployments ?? null)} deployments and ${count(baseline?.task_runs ?? null)} task runs in the last 30 days`,
  );

  // The seeded history of npm run backtest: +1 % a day, quiet weekends, 150 days.
  const start = new Date(Date.UTC(2026, 5, 1));
  const history = generateHistory({
    seed: 1,
    start,
    days: 150,
    deploymentsPerDay: 8,
    regimeShift: false,
    volume: BACKTEST_VOLUME,
  });
  const lastDay = new Date(start.getTime() + 149 * 86_400_000).toISOString().slice(0, 10);
  const counts = dailyCounts(history.deployments);
  // As if SCALE teams deployed like this one: the free tier is then within reach.
  const rows: DailyActivity[] = counts.deployments
    .filter((point) => point.date <= lastDay)
    .map((point, i) => ({
      environment: "all",
      day: point.date,
      deployments: point.value * SCALE,
      events: counts.events[i]!.value * SCALE,
      task_runs: counts.task_runs[i]!.value * SCALE,
      firestore_reads: counts.firestore_reads[i]!.value * SCALE,
      firestore_writes: counts.firestore_writes[i]!.value * SCALE,
    }));
  const seeded = capacityForecast(
    rows,
    { plan: "blaze", monthly_budget_usd: BUDGET_USD, events_per_day_limit: 1_000_000 },
    { from: rows[0]!.day, lastDay },
  );
  const reads = seeded.metrics.firestore_reads;
  const writes = seeded.metrics.firestore_writes;
  const deployments = seeded.metrics.deployments;
  const passes = (metric: MetricView) =>
    metric.limit?.exceeds_on
      ? `on ${metric.limit.exceeds_on} (in ${metric.limit.days_until_limit} day(s))`
      : "not within 30 days";
  console.log(
    `seeded 150-day history x${SCALE}: ${count(deployments.expected_over_horizon)} deployments, ${count(reads.expected_over_horizon)} Firestore reads and ${count(writes.expected_over_horizon)} writes expected in the 30 days after ${lastDay}`,
  );
  say(
    `seeded history x${SCALE}: the free tier's ${count(reads.limit?.limit ?? null)} reads a day is passed ${passes(reads)}, its ${count(writes.limit?.limit ?? null)} writes ${passes(writes)}; cost beyond it $${seeded.budget.expected_cost_usd.toFixed(2)} (high $${seeded.budget.high_cost_usd.toFixed(2)}) against a $${BUDGET_USD} budget${
      seeded.budget.exceeds_on ? `, spent on ${seeded.budget.exceeds_on}` : ""
    }`,
  );
  return answer.status === 200 && capacity !== undefined && reads.forecast.status === "ok";
}
