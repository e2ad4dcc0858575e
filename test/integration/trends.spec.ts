/**
 * `GET /trends` on the emulators: deployments of two environments of their own published to
 * orchestration-events over the last three UTC days, read back per day from the local warehouse
 * (expected numbers written here), in the caller's scope; bad queries refused naming the field.
 */
import assert from "node:assert/strict";
import type { OrchestrationEvent } from "../../functions/src/bus.js";
import { api, requireEmulators } from "../support/emulators.js";
import { loadTestConfig } from "../support/engine.js";
import { publishToWarehouse, requireWarehouse } from "../support/warehouse.js";

const DAY = 86_400_000;

describe("GET /trends: per-day deployment trends from the warehouse on the emulators", function () {
  this.timeout(180_000);
  const run = Date.now().toString(36);
  const envA = `trend-a-${run}`;
  const envB = `trend-b-${run}`;
  const today = Math.floor(Date.now() / DAY) * DAY;
  const date = (day: number) => new Date(day).toISOString().slice(0, 10);
  let scopedToA: { headers: Record<string, string> };

  /** A deployment's events: running at `start` (ms), then its end `seconds` later when given. */
  function deployment(
    environment: string,
    id: string,
    start: number,
    end?: { status: string; seconds: number },
  ): OrchestrationEvent[] {
    const base = {
      kind: "deployment" as const,
      environment,
      deployment_id: `${environment}-${id}`,
      correlation_id: `${environment}-${id}`,
      task_id: null,
      integration: null,
      attempt: null,
      detail: null,
      payload: null,
    };
    const events: OrchestrationEvent[] = [
      {
        ...base,
        event_id: `${environment}-${id}:running`,
        from: "requested",
        to: "running",
        at: new Date(start).toISOString(),
        duration: null,
      },
    ];
    if (end)
      events.push({
        ...base,
        event_id: `${environment}-${id}:${end.status}`,
        from: "running",
        to: end.status,
        at: new Date(start + end.seconds * 1000).toISOString(),
        duration: end.seconds,
      });
    return events;
  }

  before(async function () {
    requireEmulators(this);
    requireWarehouse(this, "trends");
    await loadTestConfig();
    // Just after midnight, so every event is in the past whenever the suite runs.
    const at = (daysBack: number, minute: number) => today - daysBack * DAY + 10_000 + minute * 60_000;
    await publishToWarehouse([
      ...deployment(envA, "1", at(2, 0), { status: "succeeded", seconds: 10 }),
      ...deployment(envA, "2", at(2, 1), { status: "failed", seconds: 30 }),
      ...deployment(envA, "3", at(0, 0), { status: "succeeded", seconds: 20 }),
      ...deployment(envA, "4", at(0, 1)),
      ...deployment(envB, "1", at(1, 0), { status: "succeeded", seconds: 5 }),
      // Three days back: outside a three-day window.
      ...deployment(envA, "old", at(3, 0), { status: "failed", seconds: 99 }),
    ]);
    const created = await api("POST", "/keys", { role: "viewer", environments: [envA], label: "trends" });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    scopedToA = { headers: { "x-api-key": created.body.key as string } };
  });

  const zero = {
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
  };

  it("answers each of the last N UTC days of an environment, empty days included, labelled duckdb", async () => {
    const answer = await api("GET", `/trends?days=3&environment=${envA}`, undefined, {}, "viewer");
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.status, "ok", JSON.stringify(answer.body));
    assert.equal(answer.body.aggregates_from, "duckdb");
    assert.deepEqual(answer.body.environments, [envA]);
    assert.equal(answer.body.from, new Date(today - 2 * DAY).toISOString());
    assert.equal(answer.body.to, new Date(today + DAY).toISOString());
    assert.deepEqual(answer.body.series, [
      {
        ...zero,
        day: date(today - 2 * DAY),
        deployments: 2,
        succeeded: 1,
        failed: 1,
        success_rate: 0.5,
        finished: 2,
        duration_p50: 10,
        duration_p95: 30,
      },
      { ...zero, day: date(today - DAY) },
      {
        ...zero,
        day: date(today),
        deployments: 2,
        succeeded: 1,
        in_progress: 1,
        success_rate: 1,
        finished: 1,
        duration_p50: 20,
        duration_p95: 20,
      },
    ]);
    // 10, 20, 30: nearest-rank p50 is the 2nd, p95 the 3rd.
    assert.deepEqual(answer.body.window, {
      deployments: 4,
      succeeded: 2,
      failed: 1,
      rolled_back: 0,
      cancelled: 0,
      in_progress: 1,
      success_rate: 0.6667,
      finished: 3,
      duration_p50: 20,
      duration_p95: 30,
    });
    const four = await api("GET", `/trends?days=4&environment=${envA}`, undefined, {}, "viewer");
    assert.equal(four.body.window.deployments, 5, "the fourth day back holds one more");
    const todayOnly = await api("GET", `/trends?days=1&environment=${envA}`);
    assert.deepEqual(
      todayOnly.body.series.map((d: { day: string }) => d.day),
      [date(today)],
    );
    const month = await api("GET", `/trends?environment=${envA}`);
    assert.equal(month.body.days, 30, "30 days when not told");
    assert.equal(month.body.series.length, 30);
  });

  it("keeps a scoped caller to their environments: all of theirs without one, 403 for another", async () => {
    const mine = await api("GET", "/trends?days=3", undefined, {}, scopedToA);
    assert.equal(mine.status, 200, JSON.stringify(mine.body));
    assert.deepEqual(mine.body.environments, [envA]);
    assert.equal(mine.body.window.deployments, 4, "only envA's deployments, not envB's");
    const named = await api("GET", `/trends?days=3&environment=${envA}`, undefined, {}, scopedToA);
    assert.equal(named.status, 200);
    const theirs = await api("GET", `/trends?days=3&environment=${envB}`, undefined, {}, scopedToA);
    assert.equal(theirs.status, 403, JSON.stringify(theirs.body));
    assert.match(theirs.body.error.message, new RegExp(`its environments are ${envA}`));
    assert.equal((await api("GET", "/trends", undefined, {}, "anonymous")).status, 401);
    // An unscoped caller without an environment sees every environment, both of these among them.
    const all = await api("GET", "/trends?days=3", undefined, {}, "viewer");
    assert.equal(all.body.environments, null);
    assert.ok(all.body.window.deployments >= 5, JSON.stringify(all.body.window));
  });

  const bad: [string, string][] = [
    ["days=0", "days"],
    ["days=91", "days"],
    ["days=ten", "days"],
    ["days=1.5", "days"],
    ["days=-3", "days"],
    ["days=", "days"],
    ["environment=", "environment"],
    ["colour=blue", "colour"],
  ];
  for (const [query, field] of bad) {
    it(`refuses ?${query} with a 400 naming ${field}`, async () => {
      const response = await api("GET", `/trends?${query}`, undefined, {}, "viewer");
      assert.equal(response.status, 400, JSON.stringify(response.body));
      assert.ok(
        (response.body.error.problems as { path: string }[]).some((p) => p.path === field),
        JSON.stringify(response.body.error.problems),
      );
    });
  }
});
