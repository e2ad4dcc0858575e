/**
 * The dashboard's trends from the warehouse: `deployment_durations_by_day` on DuckDB over a small
 * hand-made event table, the per-day series `GET /trends` answers (expected numbers written here,
 * worked out by hand from the table), and the pure step from that series to the charts.
 */
import assert from "node:assert/strict";
import { orchestrationEventSchema, type OrchestrationEvent } from "../../functions/src/bus.js";
import { openDuckDbWarehouse, type DuckDbWarehouse } from "../../functions/src/warehouse/duckdb.js";
import { eventToRow } from "../../functions/src/warehouse/schema.js";
import {
  daysOf,
  loadDeploymentTrends,
  trendSeries,
  type TrendDay,
} from "../../functions/src/warehouse/trends.js";
import { dailyTrendCharts } from "../../functions/src/visual/live-views.js";
import { renderLineChart } from "../../functions/src/visual/charts.js";
import { FirebaseVisualOrchestrator } from "../../functions/src/visual/visual-orchestrator.js";

const INGESTED = new Date("2026-11-05T00:00:00Z");
/** Mid-afternoon of the third day: three days back is 2026-11-01 to the midnight after 2026-11-03. */
const NOW = new Date("2026-11-03T15:00:00Z");
const WINDOW = { from: "2026-11-01T00:00:00Z", to: "2026-11-04T00:00:00Z", environments: null };

let seq = 0;
/**
 * A deployment's events: requested -> running at `start`, then, when it ended, running -> `end`
 * `seconds` later with that duration (as the engine publishes its finish).
 */
function deployment(
  id: string,
  environment: string,
  start: string,
  end?: { status: string; seconds: number },
): OrchestrationEvent[] {
  const event = (at: string, from: string, to: string, duration: number | null): OrchestrationEvent => {
    seq += 1;
    return {
      event_id: `t${String(seq).padStart(3, "0")}`,
      kind: "deployment",
      deployment_id: id,
      task_id: null,
      environment,
      integration: null,
      from,
      to,
      attempt: null,
      detail: null,
      correlation_id: id,
      at,
      duration,
    };
  };
  const events = [event(start, "requested", "running", null)];
  if (end) {
    const at = new Date(Date.parse(start) + end.seconds * 1000).toISOString();
    events.push(event(at, "running", end.status, end.seconds));
  }
  return events;
}

/** The table the expectations below are worked out from. */
function history(): OrchestrationEvent[] {
  seq = 0;
  return [
    // Before the window: not counted.
    ...deployment("old", "dev", "2026-10-31T12:00:00Z", { status: "succeeded", seconds: 100 }),
    // 2026-11-01: dev 5 s, 7 s ok, 9 s failed, a 20 s one started just before midnight (ends on the
    // 2nd, counts on the 1st); prod 30 s rolled back.
    ...deployment("a", "dev", "2026-11-01T08:00:00Z", { status: "succeeded", seconds: 5 }),
    ...deployment("b", "dev", "2026-11-01T09:00:00Z", { status: "succeeded", seconds: 7 }),
    ...deployment("c", "dev", "2026-11-01T10:00:00Z", { status: "failed", seconds: 9 }),
    ...deployment("d", "prod", "2026-11-01T11:00:00Z", { status: "rolled_back", seconds: 30 }),
    ...deployment("e", "dev", "2026-11-01T23:59:50Z", { status: "succeeded", seconds: 20 }),
    // 2026-11-02: dev 4 s ok and one still running; prod 12 s ok, 2 s cancelled.
    ...deployment("f", "dev", "2026-11-02T08:00:00Z", { status: "succeeded", seconds: 4 }),
    ...deployment("g", "prod", "2026-11-02T09:00:00Z", { status: "succeeded", seconds: 12 }),
    ...deployment("h", "prod", "2026-11-02T10:00:00Z", { status: "cancelled", seconds: 2 }),
    ...deployment("i", "dev", "2026-11-02T11:00:00Z"),
    // 2026-11-03: nothing. 2026-11-04: after the window.
    ...deployment("late", "dev", "2026-11-04T01:00:00Z", { status: "succeeded", seconds: 50 }),
  ];
}

const rows = (events: readonly OrchestrationEvent[]) =>
  events.map((e) => eventToRow(orchestrationEventSchema.parse(e), INGESTED));

/** A day of the series with the fields not named zero or null. */
const day = (name: string, fields: Partial<TrendDay>): TrendDay => ({
  day: name,
  deployments: 0,
  succeeded: 0,
  failed: 0,
  rolled_back: 0,
  cancelled: 0,
  in_progress: 0,
  success_rate: null,
  finished: 0,
  duration_p50: null,
  duration_p95: null,
  ...fields,
});

describe("trends from the warehouse (DuckDB)", () => {
  let wh: DuckDbWarehouse;
  beforeEach(async () => {
    wh = await openDuckDbWarehouse(":memory:");
    await wh.insert(rows(history()));
  });
  afterEach(() => wh.close());

  it("gives finished deployments' duration percentiles per UTC day of their first event, and over the window", async () => {
    // Nearest rank: the value at rank ceil(p * n / 100) of the sorted durations.
    // All: 2 4 5 7 9 12 20 30 -> p50 rank 4 = 7, p95 rank 8 = 30, mean 89 / 8.
    // 11-01: 5 7 9 20 30 -> p50 rank 3 = 9, p95 rank 5 = 30, mean 71 / 5. 11-02: 2 4 12 -> 4, 12.
    assert.deepEqual(await wh.query("deployment_durations_by_day", WINDOW), [
      { day: null, count: 8, mean: 11.125, p50: 7, p95: 30, max: 30 },
      { day: "2026-11-01", count: 5, mean: 14.2, p50: 9, p95: 30, max: 30 },
      { day: "2026-11-02", count: 3, mean: 6, p50: 4, p95: 12, max: 12 },
    ]);
    assert.deepEqual(await wh.query("deployment_durations_by_day", { ...WINDOW, environments: ["prod"] }), [
      { day: null, count: 3, mean: 44 / 3, p50: 12, p95: 30, max: 30 },
      { day: "2026-11-01", count: 1, mean: 30, p50: 30, p95: 30, max: 30 },
      { day: "2026-11-02", count: 2, mean: 7, p50: 2, p95: 12, max: 12 },
    ]);
    assert.deepEqual(await wh.query("deployment_durations_by_day", { ...WINDOW, environments: [] }), []);
    await assert.rejects(wh.query("deployment_durations_by_day", { ...WINDOW, to: "tomorrow" }), /to/);
  });

  it("answers one entry per day of the last N, empty days included, and the window's totals", async () => {
    const answer = await loadDeploymentTrends(wh, NOW, 3, null);
    assert.ok(answer.status === "ok", JSON.stringify(answer));
    assert.equal(answer.aggregates_from, "duckdb");
    assert.deepEqual(
      { from: answer.from, to: answer.to, days: answer.days, environments: answer.environments },
      { from: "2026-11-01T00:00:00.000Z", to: "2026-11-04T00:00:00.000Z", days: 3, environments: null },
    );
    assert.deepEqual(answer.series, [
      day("2026-11-01", {
        deployments: 5,
        succeeded: 3,
        failed: 1,
        rolled_back: 1,
        success_rate: 0.6,
        finished: 5,
        duration_p50: 9,
        duration_p95: 30,
      }),
      // Cancelled counts as a deployment but not in the success rate: 2 of 2 that ran to an end.
      day("2026-11-02", {
        deployments: 4,
        succeeded: 2,
        cancelled: 1,
        in_progress: 1,
        success_rate: 1,
        finished: 3,
        duration_p50: 4,
        duration_p95: 12,
      }),
      day("2026-11-03", {}),
    ]);
    assert.deepEqual(answer.window, {
      deployments: 9,
      succeeded: 5,
      failed: 1,
      rolled_back: 1,
      cancelled: 1,
      in_progress: 1,
      success_rate: 0.7143,
      finished: 8,
      duration_p50: 7,
      duration_p95: 30,
    });
    assert.match(answer.notes[0] ?? "", /DuckDB warehouse \(standing in for BigQuery\)/);
  });

  it("counts only the caller's environments, and a longer window reaches back further", async () => {
    const prod = await loadDeploymentTrends(wh, NOW, 3, ["prod"]);
    assert.ok(prod.status === "ok");
    assert.deepEqual(prod.series, [
      day("2026-11-01", {
        deployments: 1,
        rolled_back: 1,
        success_rate: 0,
        finished: 1,
        duration_p50: 30,
        duration_p95: 30,
      }),
      day("2026-11-02", {
        deployments: 2,
        succeeded: 1,
        cancelled: 1,
        success_rate: 1,
        finished: 2,
        duration_p50: 2,
        duration_p95: 12,
      }),
      day("2026-11-03", {}),
    ]);
    const none = await loadDeploymentTrends(wh, NOW, 3, []);
    assert.ok(none.status === "ok");
    assert.equal(none.window.deployments, 0);
    const four = await loadDeploymentTrends(wh, NOW, 4, null);
    assert.ok(four.status === "ok");
    assert.deepEqual(
      four.series.map((d) => [d.day, d.deployments, d.duration_p50]),
      [
        ["2026-10-31", 1, 100],
        ["2026-11-01", 5, 9],
        ["2026-11-02", 4, 4],
        ["2026-11-03", 0, null],
      ],
    );
  });

  it("says there is no warehouse, or that it did not answer, rather than inventing numbers", async () => {
    const missing = await loadDeploymentTrends(null, NOW, 30, null);
    assert.equal(missing.status, "no_warehouse");
    assert.match("message" in missing ? missing.message : "", /ORCH_WAREHOUSE_URL or ORCH_BIGQUERY_DATASET/);
    wh.close();
    const failed = await loadDeploymentTrends(wh, NOW, 30, null);
    assert.equal(failed.status, "warehouse_error");
    assert.match("message" in failed ? failed.message : "", /^the warehouse did not answer: .+/);
    wh = await openDuckDbWarehouse(":memory:");
  });
});

describe("trends: rows to series to charts (pure)", () => {
  it("lists the UTC days of a window", () => {
    assert.deepEqual(daysOf(new Date("2026-02-27T00:00:00Z"), new Date("2026-03-02T00:00:00Z")), [
      "2026-02-27",
      "2026-02-28",
      "2026-03-01",
    ]);
  });

  it("sums outcomes over environments, groups states before an end as in progress, ignores rows outside the days", () => {
    const { series, window } = trendSeries(
      [
        { environment: "dev", day: "2026-11-01", status: "succeeded", deployments: 2 },
        { environment: "prod", day: "2026-11-01", status: "succeeded", deployments: 1 },
        { environment: "prod", day: "2026-11-01", status: "awaiting_approval", deployments: 1 },
        { environment: "prod", day: "2026-11-01", status: "rolling_back", deployments: 1 },
        { environment: "dev", day: "2026-10-01", status: "failed", deployments: 9 },
      ],
      [
        { day: null, count: 3, mean: 2, p50: 1.23449, p95: 3, max: 3 },
        { day: "2026-11-01", count: 3, mean: 2, p50: 1.23449, p95: 3, max: 3 },
      ],
      ["2026-11-01"],
    );
    assert.deepEqual(series, [
      day("2026-11-01", {
        deployments: 5,
        succeeded: 3,
        in_progress: 2,
        success_rate: 1,
        finished: 3,
        duration_p50: 1.234,
        duration_p95: 3,
      }),
    ]);
    assert.deepEqual(window, omitDay(series[0]!));
  });

  it("turns the series into a success-rate line and p50/p95 lines without points on empty days, and bars stacked by outcome", () => {
    const series = [
      day("2026-11-01", {
        deployments: 5,
        succeeded: 3,
        failed: 1,
        rolled_back: 1,
        success_rate: 0.6,
        duration_p50: 9,
        duration_p95: 30,
      }),
      day("2026-11-02", { deployments: 2, cancelled: 1, in_progress: 1 }),
      day("2026-11-03", { deployments: 1, succeeded: 1, success_rate: 1, duration_p50: 4, duration_p95: 4 }),
    ];
    const charts = dailyTrendCharts(series);
    const nov = (d: number) => Date.UTC(2026, 10, d);
    assert.deepEqual(charts.successRate.series, [
      {
        name: "succeeded",
        points: [
          { x: nov(1), y: 60 },
          { x: nov(3), y: 100 },
        ],
      },
    ]);
    assert.deepEqual(
      [charts.successRate.yMin, charts.successRate.yMax, charts.successRate.yUnit],
      [0, 100, "%"],
    );
    // Both line charts span the whole window: a day's point sits at its place among the empty days.
    for (const chart of [charts.successRate, charts.durations])
      assert.deepEqual([chart.xMin, chart.xMax], [nov(1), nov(3)], chart.title);
    const middleOnly = dailyTrendCharts([
      day("2026-11-01", {}),
      day("2026-11-02", { deployments: 1, succeeded: 1, success_rate: 1 }),
      day("2026-11-03", {}),
    ]);
    const { scale } = renderLineChart(middleOnly.successRate);
    assert.deepEqual([scale.x.min, scale.x.max], [nov(1), nov(3)]);
    assert.deepEqual(charts.durations.series, [
      {
        name: "p50",
        points: [
          { x: nov(1), y: 9 },
          { x: nov(3), y: 4 },
        ],
      },
      {
        name: "p95",
        points: [
          { x: nov(1), y: 30 },
          { x: nov(3), y: 4 },
        ],
      },
    ]);
    assert.deepEqual(charts.throughput.categories, ["2026-11-01", "2026-11-02", "2026-11-03"]);
    assert.equal(charts.throughput.stacked, true);
    assert.deepEqual(charts.throughput.series, [
      { name: "succeeded", values: [3, 0, 1] },
      { name: "failed", values: [1, 0, 0] },
      { name: "rolled_back", values: [1, 0, 0] },
      { name: "cancelled", values: [0, 1, 0] },
      { name: "in_progress", values: [0, 1, 0] },
    ]);
    // The facade draws them: one dot per point, and a bar segment per outcome and day with its count.
    const drawn = new FirebaseVisualOrchestrator().dailyTrends(series);
    assert.equal((drawn.successRate.match(/<circle/g) ?? []).length, 2);
    assert.equal((drawn.durations.match(/<circle/g) ?? []).length, 4);
    const segments = [
      ...drawn.throughput.matchAll(/data-label="([\d-]+)" data-series="(\w+)" data-value="([1-9]\d*)"/g),
    ].map((m) => `${m[1]} ${m[2]} ${m[3]}`);
    assert.deepEqual(segments.sort(), [
      "2026-11-01 failed 1",
      "2026-11-01 rolled_back 1",
      "2026-11-01 succeeded 3",
      "2026-11-02 cancelled 1",
      "2026-11-02 in_progress 1",
      "2026-11-03 succeeded 1",
    ]);
  });

  it("draws an empty window without failing", () => {
    const charts = dailyTrendCharts([day("2026-11-01", {})]);
    assert.deepEqual(charts.successRate.series[0]?.points, []);
    assert.deepEqual(charts.throughput.series[0]?.values, [0]);
    const drawn = new FirebaseVisualOrchestrator().dailyTrends([day("2026-11-01", {})]);
    assert.match(drawn.throughput, /^<svg/);
  });
});

function omitDay(entry: TrendDay): Omit<TrendDay, "day"> {
  const { day: _day, ...rest } = entry;
  return rest;
}
