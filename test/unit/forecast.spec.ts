/**
 * The capacity forecaster on series made here from known formulas (trend, weekday effects, noise):
 * expectations come from the generating formula, not from the code.
 */
import assert from "node:assert/strict";
import {
  backtestForecast,
  checkLimit,
  forecastDaily,
  type DailyForecast,
  type DailyPoint,
} from "../../functions/src/domain/learning/forecast.js";
import { capacityForecast, type DailyActivity } from "../../functions/src/domain/learning/capacity.js";
import { backtestCapacityForecast, dailyCounts } from "../../functions/src/domain/learning/backtest.js";
import { loadCapacityForecast } from "../../functions/src/warehouse/capacity.js";
import { openDuckDbWarehouse, type DuckDbWarehouse } from "../../functions/src/warehouse/duckdb.js";
import type { EventRow } from "../../functions/src/warehouse/schema.js";
import { BACKTEST_VOLUME, generateHistory } from "../sim/history-generator.js";
import { Prng } from "../sim/scheduler.js";

const DAY = 86_400_000;
const START = Date.UTC(2026, 8, 7); // a Monday
const date = (t: number) => new Date(START + t * DAY).toISOString().slice(0, 10);
/** Weekday effects by JavaScript's getUTCDay (0 Sunday); they sum to zero. */
const EFFECT = [-40, 10, 15, 12, 8, 5, -10];
const effectOn = (day: string) => EFFECT[new Date(`${day}T00:00:00Z`).getUTCDay()]!;

function series(days: number, value: (t: number, day: string) => number): DailyPoint[] {
  return Array.from({ length: days }, (_, t) => ({ date: date(t), value: value(t, date(t)) }));
}

function normal(random: Prng): number {
  return Math.sqrt(-2 * Math.log(1 - random.next())) * Math.cos(2 * Math.PI * random.next());
}

function ok(result: DailyForecast): Extract<DailyForecast, { status: "ok" }> {
  assert.equal(result.status, "ok", JSON.stringify(result));
  return result;
}

describe("forecast: trend and weekly seasonality", () => {
  it("recovers an exact trend and weekday effects and extrapolates them", () => {
    const truth = (t: number) => 100 + 3 * t + effectOn(date(t));
    const result = ok(forecastDaily(series(56, truth), { horizon: 30 }));
    assert.equal(result.history_days, 56);
    assert.equal(result.from, date(0));
    assert.equal(result.to, date(55));
    assert.equal(result.short_history, false);
    assert.ok(Math.abs(result.model.slope_per_day - 3) < 1e-6, `slope ${result.model.slope_per_day}`);
    assert.equal(result.model.seasonality, "additive");
    assert.equal(result.model.weekday_terms.sun, -40);
    assert.equal(result.model.weekday_terms.tue, 15);
    assert.equal(result.points.length, 30);
    result.points.forEach((point, h) => {
      assert.equal(point.date, date(56 + h));
      assert.ok(Math.abs(point.expected - truth(56 + h)) < 1e-3, `${point.date}: ${point.expected}`);
      assert.ok(point.high - point.low < 1e-3, "no noise, no spread");
    });
  });

  it("recovers weekday factors that multiply a growing trend, and extrapolates them", () => {
    // Factors by getUTCDay (0 Sunday), averaging 1: quiet weekends that grow with the load.
    const FACTOR = [0.3, 1.2, 1.25, 1.2, 1.15, 1.0, 0.9];
    const truth = (t: number) => (80 + 4 * t) * FACTOR[new Date(START + t * DAY).getUTCDay()]!;
    const result = ok(forecastDaily(series(42, truth), { horizon: 30 }));
    assert.equal(result.model.seasonality, "multiplicative");
    assert.ok(Math.abs(result.model.slope_per_day - 4) < 1e-6, `slope ${result.model.slope_per_day}`);
    assert.ok(Math.abs(result.model.weekday_terms.sun - 0.3) < 1e-4);
    assert.ok(Math.abs(result.model.weekday_terms.tue - 1.25) < 1e-4);
    result.points.forEach((point, h) =>
      assert.ok(
        Math.abs(point.expected - truth(42 + h)) < 1e-2,
        `${point.date}: ${point.expected} vs ${truth(42 + h)}`,
      ),
    );
  });

  it("holds the noise's 90 % interval about 90 % of the time, and the slope within its error", () => {
    const random = new Prng(11);
    let inside = 0;
    let total = 0;
    const slopes: number[] = [];
    for (let run = 0; run < 150; run++) {
      const truth = (t: number) => 500 + 2 * t + effectOn(date(t));
      const values = series(84, (t) => truth(t) + 20 * normal(random));
      const result = ok(forecastDaily(values, { horizon: 14, level: 0.9 }));
      slopes.push(result.model.slope_per_day);
      result.points.forEach((point, h) => {
        const actual = truth(84 + h) + 20 * normal(random);
        total += 1;
        if (actual >= point.low && actual <= point.high) inside += 1;
      });
    }
    const coverage = inside / total;
    assert.ok(coverage > 0.87 && coverage < 0.93, `coverage ${coverage}`);
    // The slope's standard error over 84 days at noise 20 is 20 / sqrt(sum (t - mean)^2) = 0.083.
    const meanSlope = slopes.reduce((a, b) => a + b, 0) / slopes.length;
    assert.ok(Math.abs(meanSlope - 2) < 0.03, `mean slope ${meanSlope}`);
  });

  it("never forecasts below zero on a falling series", () => {
    const result = ok(
      forecastDaily(
        series(28, (t) => Math.max(0, 100 - 5 * t)),
        { horizon: 30 },
      ),
    );
    for (const point of result.points) assert.ok(point.low >= 0 && point.expected >= 0 && point.high >= 0);
  });
});

describe("forecast: short, missing and bad history", () => {
  it("refuses with no history and under 14 days, and says how many days it has", () => {
    const none = forecastDaily([]);
    assert.deepEqual(
      { status: none.status, days: none.status === "insufficient_history" ? none.history_days : -1 },
      { status: "insufficient_history", days: 0 },
    );
    const thirteen = forecastDaily(series(13, () => 5));
    assert.equal(thirteen.status, "insufficient_history");
    assert.match(
      thirteen.status === "insufficient_history" ? thirteen.message : "",
      /13 day\(s\).*at least 14/,
    );
  });

  it("forecasts from 14 days but flags the history as short until 28", () => {
    assert.equal(ok(forecastDaily(series(14, (t) => 10 + t))).short_history, true);
    assert.equal(ok(forecastDaily(series(27, (t) => 10 + t))).short_history, true);
    assert.equal(ok(forecastDaily(series(28, (t) => 10 + t))).short_history, false);
  });

  it("counts a date missing between the first and the last as a day of 0, and says how many", () => {
    const full = series(28, (t) => (t === 10 ? 0 : 50 + effectOn(date(t))));
    const gapped = full.filter((_, t) => t !== 10);
    const fromGapped = ok(forecastDaily(gapped));
    assert.equal(fromGapped.missing_days, 1);
    assert.equal(fromGapped.history_days, 28);
    assert.deepEqual(fromGapped.points, ok(forecastDaily(full)).points);
    // Order does not matter either.
    assert.deepEqual(ok(forecastDaily([...gapped].reverse())).points, fromGapped.points);
  });

  it("refuses NaN, negative, infinite, duplicate and malformed days, and bad options, naming each", () => {
    const base = series(20, () => 3);
    const cases: [unknown, Record<string, unknown>, RegExp][] = [
      [base.map((p, t) => (t === 2 ? { ...p, value: Number.NaN } : p)), {}, /^series\.2\.value: /],
      [base.map((p, t) => (t === 4 ? { ...p, value: -1 } : p)), {}, /^series\.4\.value: .*>=0/],
      [base.map((p, t) => (t === 5 ? { ...p, value: Infinity } : p)), {}, /^series\.5\.value: /],
      [[...base, { ...base[3]! }], {}, /^series\.20\.date: .* is given twice \(also at \[3\]\)/],
      [base.map((p, t) => (t === 1 ? { ...p, date: "2026-13-01" } : p)), {}, /^series\.1\.date: /],
      [base.map((p, t) => (t === 1 ? { ...p, extra: 1 } : p)), {}, /^series\.1: .*extra/],
      ["not a list", {}, /^series: /],
      [base, { horizon: 0 }, /^options\.horizon: /],
      [base, { level: 1 }, /^options\.level: /],
    ];
    for (const [input, options, problem] of cases) {
      const result = forecastDaily(input, options);
      assert.equal(result.status, "invalid");
      assert.ok(
        result.status === "invalid" && result.problems.some((p) => problem.test(p)),
        `${JSON.stringify(result)} should match ${problem}`,
      );
    }
  });
});

describe("forecast: against a daily limit", () => {
  it("names the first day over the limit and how many days away it is", () => {
    // 1000 + 100 t: t = 41 is the first day above 5000, 14 days after the last day of history (t = 27).
    const result = ok(
      forecastDaily(
        series(28, (t) => 1000 + 100 * t),
        { horizon: 30 },
      ),
    );
    const check = checkLimit(result.points, 5000);
    assert.equal(check.exceeds_on, date(41));
    assert.equal(check.days_until_limit, 14);
    assert.equal(check.may_exceed_on, date(41));
    assert.equal(checkLimit(result.points, 1e6).exceeds_on, null);
    assert.equal(checkLimit(result.points, 1e6).days_until_limit, null);
    assert.equal(checkLimit(result.points, 1e6).peak_expected, 1000 + 100 * 57);
  });
});

describe("forecast: rolling-origin backtest", () => {
  it("beats last week's same day and the mean on a trending seasonal series", () => {
    const random = new Prng(3);
    const noise = 15;
    const values = series(150, (t) =>
      Math.max(0, 200 + 1.5 * t + 2 * effectOn(date(t)) + noise * normal(random)),
    );
    const week = backtestForecast(values, 7)!;
    const month = backtestForecast(values, 30)!;
    assert.equal(week.origins, 150 - 28 - 7 + 1);
    assert.equal(month.origins, 150 - 28 - 30 + 1);
    for (const result of [week, month]) {
      assert.ok(result.forecast.mae < result.seasonal_naive.mae, JSON.stringify(result));
      assert.ok(result.forecast.mae < result.history_mean.mae, JSON.stringify(result));
      // Normal noise alone gives an absolute error of noise x sqrt(2 / pi) = 12.0; fitting adds a little.
      assert.ok(result.forecast.mae < 1.35 * noise * Math.sqrt(2 / Math.PI), JSON.stringify(result));
    }
    assert.equal(backtestForecast(values.slice(0, 40), 30), null, "no origin has 28 days and 30 after");
  });
});

describe("capacity: forecast against the plan and the budget", () => {
  // Two environments, 42 days; dev 100 task runs a day, prod 50 with a Monday peak; both flat.
  const rows: DailyActivity[] = Array.from({ length: 42 }, (_, t) => [
    { environment: "dev", day: date(t), events: 1_000, deployments: 10, task_runs: 100 },
    {
      environment: "prod",
      day: date(t),
      events: 500,
      deployments: 5,
      task_runs: new Date(START + t * DAY).getUTCDay() === 1 ? 200 : 50,
    },
  ])
    .flat()
    .map((row) => ({
      ...row,
      firestore_reads: row.task_runs * 7 + row.deployments * 4,
      firestore_writes: row.task_runs * 5.8 + row.deployments * 2,
    }));
  const window = { from: date(0), lastDay: date(41) };

  it("forecasts the totals of every environment and compares Firestore with the free tier", () => {
    const result = capacityForecast(
      rows,
      { plan: "blaze", monthly_budget_usd: null, events_per_day_limit: 2_000 },
      window,
    );
    const reads = result.metrics.firestore_reads;
    assert.equal(reads.forecast.status, "ok");
    // A Monday (day 42 is one): dev 100 + prod 200 runs, 15 deployments.
    const monday = reads.forecast.status === "ok" ? reads.forecast.points[0]! : null;
    assert.equal(monday?.date, date(42));
    assert.ok(Math.abs(monday.expected - (300 * 7 + 15 * 4)) < 0.01, JSON.stringify(monday));
    assert.equal(reads.limit?.limit, 50_000);
    assert.match(
      reads.limit?.source ?? "",
      /Blaze plan: document reads a day beyond the free tier are billed/,
    );
    assert.equal(reads.limit?.exceeds_on, null);
    assert.equal(result.metrics.events.limit?.limit, 2_000);
    assert.equal(result.metrics.events.expected_next_7_days, 7 * 1_500);
    assert.equal(result.metrics.deployments.limit, null);
    assert.equal(result.by_environment.prod?.deployments.expected_over_horizon, 30 * 5);
    assert.equal(result.by_environment.dev?.firestore_reads.history_days, 42);
  });

  it("carries the last 28 days of each metric for the chart, a day without rows as 0", () => {
    const gapped = rows.filter((row) => row.day !== date(40));
    const result = capacityForecast(
      gapped,
      { plan: "blaze", monthly_budget_usd: null, events_per_day_limit: 2_000 },
      window,
    );
    const history = result.metrics.deployments.history;
    assert.equal(history.length, 28);
    assert.deepEqual(history[0], { date: date(14), value: 15 });
    assert.deepEqual(history.slice(-2), [
      { date: date(40), value: 0 },
      { date: date(41), value: 15 },
    ]);
  });

  it("costs the reads beyond the free tier and names the day the budget runs out", () => {
    // 150,000 reads a day: 100,000 beyond the 50,000 free, $0.03 per 100,000 (regional): $0.03 a day.
    const heavy = rows.map((row) => ({ ...row, firestore_reads: 75_000, firestore_writes: 10_000 }));
    const result = capacityForecast(
      heavy,
      { plan: "blaze", monthly_budget_usd: 0.5, events_per_day_limit: 1e6 },
      window,
    );
    assert.ok(Math.abs(result.budget.expected_cost_usd - 30 * 0.03) < 1e-6, JSON.stringify(result.budget));
    // 0.03 x 16 = 0.48, 0.03 x 17 = 0.51: the 17th day.
    assert.equal(result.budget.exceeds_on, date(41 + 17));
    assert.equal(result.metrics.firestore_reads.limit?.exceeds_on, date(42));
    assert.equal(result.metrics.firestore_reads.limit?.days_until_limit, 1);
    const spark = capacityForecast(
      heavy,
      { plan: "spark", monthly_budget_usd: null, events_per_day_limit: 1e6 },
      window,
    );
    assert.equal(spark.budget.expected_cost_usd, 0);
    assert.match(
      spark.metrics.firestore_reads.limit?.source ?? "",
      /Spark plan: .* refused beyond the free quota/,
    );
  });

  it("says there is no forecast without history, and a quiet last day is a zero", () => {
    const empty = capacityForecast(
      [],
      { plan: "blaze", monthly_budget_usd: null, events_per_day_limit: 1e6 },
      window,
    );
    assert.equal(empty.metrics.events.forecast.status, "insufficient_history");
    assert.equal(empty.metrics.events.limit, null);
    assert.ok(
      empty.notes.some((note) => /0 day\(s\) of history/.test(note)),
      empty.notes.join("; "),
    );
    const stopped = capacityForecast(
      rows.filter((row) => row.day <= date(30)),
      { plan: "blaze", monthly_budget_usd: null, events_per_day_limit: 1e6 },
      window,
    );
    const events = stopped.metrics.events.forecast;
    assert.equal(events.status === "ok" ? events.to : null, date(41));
    assert.equal(events.status === "ok" ? events.missing_days : null, 10);
  });
});

describe("capacity forecast: backtest on the generator's shaped history (npm run backtest)", () => {
  it("counts every deployment once and beats both baselines' error on every series, 7 and 30 days ahead", () => {
    const start = new Date(Date.UTC(2026, 9, 1));
    const history = generateHistory({
      seed: 1,
      start,
      days: 150,
      deploymentsPerDay: 8,
      regimeShift: false,
      volume: BACKTEST_VOLUME,
    });
    const counts = dailyCounts(history.deployments);
    assert.equal(
      counts.deployments.reduce((total, point) => total + point.value, 0),
      history.deployments.length,
    );
    const lastDay = new Date(start.getTime() + 149 * DAY).toISOString().slice(0, 10);
    const report = backtestCapacityForecast(history.deployments, lastDay);
    for (const [metric, horizons] of Object.entries(report))
      for (const result of horizons) {
        assert.ok(result, `${metric}: a result`);
        assert.ok(result.forecast.mae < result.seasonal_naive.mae, `${metric}: ${JSON.stringify(result)}`);
        assert.ok(result.forecast.mae < result.history_mean.mae, `${metric}: ${JSON.stringify(result)}`);
      }
  });
});

describe("capacity forecast read from the warehouse (DuckDB)", () => {
  let wh: DuckDbWarehouse;
  beforeEach(async () => {
    wh = await openDuckDbWarehouse(":memory:");
  });
  afterEach(() => wh.close());

  const CAPACITY = { plan: "blaze", monthly_budget_usd: 100, events_per_day_limit: 1_000_000 } as const;
  // "Now" is 2026-11-16 14:00 UTC: the history is the 90 full days before 2026-11-16, today is partial.
  const NOW = new Date("2026-11-16T14:00:00Z");

  /** One deployment with `runs` task runs on a day, in an environment: 2 + 2 x runs events. */
  function deploymentOn(day: string, environment: string, index: number, runs: number): EventRow[] {
    const at = (second: number) =>
      `${day}T10:${String(index % 60).padStart(2, "0")}:${String(second).padStart(2, "0")}Z`;
    const id = `${environment}-${day}-${index}`;
    const event = (fields: Partial<EventRow> & Pick<EventRow, "kind" | "to" | "time">): EventRow => ({
      event_id: `${id}:${fields.kind}:${fields.task_id ?? ""}:${fields.to}`,
      environment,
      integration: null,
      deployment_id: id,
      task_id: null,
      from: null,
      attempt: null,
      duration: null,
      detail: null,
      correlation_id: id,
      actor: null,
      payload: null,
      ingested_at: NOW.toISOString(),
      ...fields,
    });
    return [
      event({ kind: "deployment", from: "requested", to: "running", time: at(0) }),
      ...Array.from({ length: runs }, (_, run) => [
        event({
          kind: "task",
          task_id: `${id}-t${run}`,
          integration: "auth",
          from: "ready",
          to: "running",
          time: at(1),
        }),
        event({
          kind: "task",
          task_id: `${id}-t${run}`,
          integration: "auth",
          from: "running",
          to: "succeeded",
          time: at(2),
        }),
      ]).flat(),
      event({ kind: "deployment", from: "running", to: "succeeded", time: at(3) }),
    ];
  }

  it("says there is no warehouse rather than inventing numbers", async () => {
    const answer = await loadCapacityForecast(null, CAPACITY, NOW, null);
    assert.equal(answer.status, "no_warehouse");
    assert.match("message" in answer ? answer.message : "", /ORCH_WAREHOUSE_URL or ORCH_BIGQUERY_DATASET/);
  });

  it("says the warehouse did not answer, with its message, rather than failing the whole answer", async () => {
    wh.close();
    const answer = await loadCapacityForecast(wh, CAPACITY, NOW, null);
    assert.equal(answer.status, "warehouse_error");
    assert.match("message" in answer ? answer.message : "", /^the warehouse did not answer: .+/);
    wh = await openDuckDbWarehouse(":memory:");
  });

  it("forecasts from the full days before today, in the caller's scope", async () => {
    // 35 days to 2026-11-15: dev 3 deployments of 2 runs on weekdays, 1 on weekends; prod 1 of 4 runs a day.
    const rows: EventRow[] = [];
    for (let t = 0; t < 35; t++) {
      const day = new Date(Date.UTC(2026, 10, 15) - (34 - t) * DAY).toISOString().slice(0, 10);
      const weekend = [0, 6].includes(new Date(`${day}T00:00:00Z`).getUTCDay());
      for (let i = 0; i < (weekend ? 1 : 3); i++) rows.push(...deploymentOn(day, "dev", i, 2));
      rows.push(...deploymentOn(day, "prod", 9, 4));
    }
    // Today's events are partial and left out.
    rows.push(...deploymentOn("2026-11-16", "dev", 0, 50));
    await wh.insert(rows);
    const answer = await loadCapacityForecast(wh, CAPACITY, NOW, null);
    assert.ok(answer.status === "ok", JSON.stringify(answer));
    assert.equal(answer.aggregates_from, "duckdb");
    assert.deepEqual(answer.history, { from: "2026-08-18", to: "2026-11-15" });
    const deployments = answer.metrics.deployments.forecast;
    assert.ok(deployments.status === "ok");
    assert.equal(deployments.history_days, 35);
    assert.equal(deployments.to, "2026-11-15");
    // 2026-11-16 is a Monday: 3 dev + 1 prod; 2026-11-21, a Saturday: 1 + 1.
    assert.equal(deployments.points[0]?.date, "2026-11-16");
    assert.ok(Math.abs(deployments.points[0].expected - 4) < 1e-3, JSON.stringify(deployments.points[0]));
    assert.ok(Math.abs(deployments.points[5]!.expected - 2) < 1e-3, JSON.stringify(deployments.points[5]));
    // Reads on that Monday: 3 x 2 + 4 = 10 runs x 15 + 4 deployments x 4.
    const reads = answer.metrics.firestore_reads.forecast;
    assert.ok(reads.status === "ok" && Math.abs(reads.points[0]!.expected - (10 * 7 + 4 * 4)) < 1e-2);
    const prodOnly = await loadCapacityForecast(wh, CAPACITY, NOW, ["prod"]);
    assert.ok(prodOnly.status === "ok");
    assert.deepEqual(Object.keys(prodOnly.by_environment), ["prod"]);
    assert.equal(prodOnly.metrics.events.expected_next_7_days, 7 * (2 + 2 * 4));
  });
});
