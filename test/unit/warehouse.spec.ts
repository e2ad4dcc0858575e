import assert from "node:assert/strict";
import type { OrchestrationEvent } from "../../functions/src/bus.js";
import { orchestrationEventSchema } from "../../functions/src/bus.js";
import { openDuckDbWarehouse, type DuckDbWarehouse } from "../../functions/src/warehouse/duckdb.js";
import { eventToRow, parseEventMessage } from "../../functions/src/warehouse/schema.js";
import { historyEvents } from "../../functions/src/warehouse/backfill.js";
import { loadWarehouseFacts, withWarehouseAggregates } from "../../functions/src/warehouse/report.js";
import { windowAggregates } from "../../functions/src/warehouse/optimize.js";
import { buildReport, reportRequestSchema } from "../../functions/src/domain/reports.js";
import { optimizeRequestSchema, recommend } from "../../functions/src/domain/optimize.js";
import { busyHistory } from "../support/history-builder.js";

const WINDOW = { from: "2026-11-01T00:00:00Z", to: "2026-11-04T00:00:00Z", environments: null };
const RANGE = { from: new Date(WINDOW.from), to: new Date(WINDOW.to) };
const INGESTED = new Date("2026-11-05T00:00:00Z");

let seq = 0;
/** One event; ids are deterministic per call order, as the engine's are per transition. */
function ev(
  fields: Partial<OrchestrationEvent> & Pick<OrchestrationEvent, "kind" | "to" | "at">,
): OrchestrationEvent {
  seq += 1;
  return {
    event_id: `e${String(seq).padStart(3, "0")}`,
    deployment_id: null,
    task_id: null,
    environment: "dev",
    integration: null,
    from: null,
    attempt: null,
    detail: null,
    correlation_id: fields.deployment_id ?? "none",
    ...fields,
  };
}
const dep = (
  id: string,
  environment: string,
  at: string,
  from: string | null,
  to: string,
  duration?: number,
) => ev({ kind: "deployment", deployment_id: id, environment, at, from, to, duration: duration ?? null });
const task = (
  id: string,
  deployment: string,
  environment: string,
  integration: string,
  at: string,
  from: string,
  to: string,
  extra: { duration?: number; retry_count?: number } = {},
) =>
  ev({
    kind: "task",
    task_id: id,
    deployment_id: deployment,
    environment,
    integration,
    at,
    from,
    to,
    duration: extra.duration ?? null,
    payload: { retry_count: extra.retry_count ?? 0 },
  });

/** The scenario of the expectation tables below. */
function scenario(): OrchestrationEvent[] {
  seq = 0;
  return [
    dep("d1", "dev", "2026-11-01T10:00:00Z", "requested", "running"),
    task("t1", "d1", "dev", "auth", "2026-11-01T10:00:01Z", "blocked", "ready"),
    task("t1", "d1", "dev", "auth", "2026-11-01T10:00:02Z", "ready", "running"),
    task("t1", "d1", "dev", "auth", "2026-11-01T10:00:04Z", "running", "succeeded", { duration: 2 }),
    task("t2", "d1", "dev", "firestore", "2026-11-01T10:00:05Z", "ready", "running"),
    task("t2", "d1", "dev", "firestore", "2026-11-01T10:00:06Z", "running", "ready", { retry_count: 1 }),
    task("t2", "d1", "dev", "firestore", "2026-11-01T10:00:07Z", "ready", "running", { retry_count: 1 }),
    task("t2", "d1", "dev", "firestore", "2026-11-01T10:00:11Z", "running", "succeeded", {
      duration: 4,
      retry_count: 1,
    }),
    dep("d1", "dev", "2026-11-01T10:00:12Z", "running", "succeeded", 10),
    dep("d2", "dev", "2026-11-01T12:00:00Z", "requested", "running"),
    task("t3", "d2", "dev", "auth", "2026-11-01T12:00:01Z", "ready", "running", { retry_count: 2 }),
    task("t3", "d2", "dev", "auth", "2026-11-01T12:00:02Z", "running", "failed", {
      duration: 1,
      retry_count: 2,
    }),
    dep("d2", "dev", "2026-11-01T12:00:20Z", "running", "failed", 20),
    dep("d3", "prod", "2026-11-02T09:00:00Z", "requested", "running"),
    task("t4", "d3", "prod", "auth", "2026-11-02T09:00:01Z", "ready", "running"),
    task("t4", "d3", "prod", "auth", "2026-11-02T09:00:07Z", "running", "succeeded", { duration: 6 }),
    task("t5", "d3", "prod", "hosting", "2026-11-02T09:00:08Z", "blocked", "skipped"),
    dep("d3", "prod", "2026-11-02T09:00:30Z", "running", "succeeded", 30),
    dep("d4", "prod", "2026-11-03T09:00:00Z", "requested", "running"),
    dep("d5", "staging", "2026-10-30T09:00:00Z", "requested", "running"),
    ev({
      kind: "alert",
      environment: "prod",
      at: "2026-11-02T09:01:00Z",
      to: "critical:open",
      detail: "hosting down",
    }),
    ev({ kind: "alert", environment: "prod", at: "2026-11-02T09:05:00Z", to: "critical:resolved" }),
    ev({ kind: "alert", environment: "dev", at: "2026-11-01T10:00:13Z", to: "info:open" }),
  ];
}

const rows = (events: readonly OrchestrationEvent[]) =>
  events.map((e) => eventToRow(orchestrationEventSchema.parse(e), INGESTED));

describe("local warehouse (DuckDB)", () => {
  let wh: DuckDbWarehouse;
  beforeEach(async () => {
    wh = await openDuckDbWarehouse(":memory:");
  });
  afterEach(() => wh.close());

  describe("aggregates against an independent table", () => {
    beforeEach(async () => {
      await wh.insert(rows(scenario()));
    });

    it("counts deployments by environment, day of first event and latest status", async () => {
      assert.deepEqual(await wh.query("deployment_outcomes", WINDOW), [
        { environment: "dev", day: "2026-11-01", status: "failed", deployments: 1 },
        { environment: "dev", day: "2026-11-01", status: "succeeded", deployments: 1 },
        { environment: "prod", day: "2026-11-02", status: "succeeded", deployments: 1 },
        { environment: "prod", day: "2026-11-03", status: "running", deployments: 1 },
      ]);
    });

    it("gives finished deployments' durations over all and per environment", async () => {
      assert.deepEqual(await wh.query("deployment_durations", WINDOW), [
        { environment: null, count: 3, mean: 20, p50: 20, p95: 30, max: 30 },
        { environment: "dev", count: 2, mean: 15, p50: 10, p95: 20, max: 20 },
        { environment: "prod", count: 1, mean: 30, p50: 30, p95: 30, max: 30 },
      ]);
    });

    it("counts tasks, runs and retries by integration and status", async () => {
      assert.deepEqual(await wh.query("task_outcomes", WINDOW), [
        {
          environment: "dev",
          integration: "auth",
          status: "failed",
          tasks: 1,
          runs: 1,
          retries: 2,
          retried_runs: 1,
        },
        {
          environment: "dev",
          integration: "auth",
          status: "succeeded",
          tasks: 1,
          runs: 1,
          retries: 0,
          retried_runs: 0,
        },
        {
          environment: "dev",
          integration: "firestore",
          status: "succeeded",
          tasks: 1,
          runs: 1,
          retries: 1,
          retried_runs: 1,
        },
        {
          environment: "prod",
          integration: "auth",
          status: "succeeded",
          tasks: 1,
          runs: 1,
          retries: 0,
          retried_runs: 0,
        },
        {
          environment: "prod",
          integration: "hosting",
          status: "skipped",
          tasks: 1,
          runs: 0,
          retries: 0,
          retried_runs: 0,
        },
      ]);
    });

    it("gives /optimize its counts, retries and durations per integration and environment", async () => {
      const dist = (count: number, p50: number | null) => ({
        count,
        mean: p50,
        p50,
        p95: p50,
        max: p50,
      });
      const aggregates = windowAggregates(await loadWarehouseFacts(wh, RANGE, null));
      assert.equal(aggregates.source, "duckdb");
      // environment, integration, tasks, runs, succeeded, failed, retried, recovered, flaky, retries, duration
      const table: [
        string,
        string,
        number,
        number,
        number,
        number,
        number,
        number,
        number,
        number,
        number | null,
      ][] = [
        ["dev", "auth", 2, 2, 1, 1, 1, 0, 1, 2, 2],
        ["dev", "firestore", 1, 1, 1, 0, 1, 1, 1, 1, 4],
        ["prod", "auth", 1, 1, 1, 0, 0, 0, 0, 0, 6],
        ["prod", "hosting", 1, 0, 0, 0, 0, 0, 0, 0, null],
      ];
      assert.deepEqual(
        aggregates.integrations,
        table.map(
          ([
            environment,
            integration,
            tasks,
            runs,
            succeeded,
            failed,
            retried_runs,
            recovered_runs,
            flaky_runs,
            retries,
            p50,
          ]) => ({
            environment,
            integration,
            tasks,
            runs,
            succeeded,
            failed,
            retried_runs,
            recovered_runs,
            flaky_runs,
            retries,
            duration: p50 === null ? { count: 0, mean: null, p50: null, p95: null, max: null } : dist(1, p50),
          }),
        ),
      );
      assert.deepEqual(aggregates.environments, [
        {
          environment: "dev",
          deployments_by_status: { failed: 1, succeeded: 1 },
          deployment_duration: { count: 2, mean: 15, p50: 10, p95: 20, max: 20 },
          tasks: 3,
          runs: 3,
          retries: 3,
        },
        {
          environment: "prod",
          deployments_by_status: { succeeded: 1, running: 1 },
          deployment_duration: dist(1, 30),
          tasks: 2,
          runs: 1,
          retries: 0,
        },
      ]);
      assert.deepEqual(aggregates.task_duration, { count: 3, mean: 4, p50: 4, p95: 6, max: 6 });
    });

    it("gives successful task runs' durations per integration and over all", async () => {
      assert.deepEqual(await wh.query("task_durations", WINDOW), [
        { environment: null, integration: null, count: 3, mean: 4, p50: 4, p95: 6, max: 6 },
        { environment: "dev", integration: "auth", count: 1, mean: 2, p50: 2, p95: 2, max: 2 },
        { environment: "dev", integration: "firestore", count: 1, mean: 4, p50: 4, p95: 4, max: 4 },
        { environment: "prod", integration: "auth", count: 1, mean: 6, p50: 6, p95: 6, max: 6 },
      ]);
    });

    it("counts alerts opened by level", async () => {
      assert.deepEqual(await wh.query("alerts_opened", WINDOW), [
        { level: "critical", alerts: 1 },
        { level: "info", alerts: 1 },
      ]);
    });

    it("counts events per kind in the window (d5 is before it)", async () => {
      assert.deepEqual(await wh.query("event_counts", WINDOW), [
        { kind: "alert", events: 3 },
        { kind: "deployment", events: 7 },
        { kind: "task", events: 12 },
      ]);
    });

    it("counts each environment's events, deployments and task runs a day, and the Firestore operations they cost", async () => {
      // README "Scale": a task run 7 reads and 5.8 commits, a deployment request 4 reads and 2 commits.
      const cost = (runs: number, deployments: number) => ({
        firestore_reads: runs * 7 + deployments * 4,
        firestore_writes: Math.round((runs * 5.8 + deployments * 2) * 10) / 10,
      });
      const got = (await wh.query("daily_activity", WINDOW)).map((row) => ({
        ...row,
        firestore_writes: Math.round(Number(row.firestore_writes) * 10) / 10,
      }));
      assert.deepEqual(got, [
        // d1 and d2 with their 8 task events (t1 ran once, t2 twice, t3 once) and the info alert.
        { environment: "dev", day: "2026-11-01", events: 14, deployments: 2, task_runs: 4, ...cost(4, 2) },
        { environment: "prod", day: "2026-11-02", events: 7, deployments: 1, task_runs: 1, ...cost(1, 1) },
        { environment: "prod", day: "2026-11-03", events: 1, deployments: 1, task_runs: 0, ...cost(0, 1) },
      ]);
      assert.deepEqual(
        (await wh.query("daily_activity", { ...WINDOW, environments: ["prod"] })).map((row) => row.day),
        ["2026-11-02", "2026-11-03"],
      );
      const bad: [Record<string, unknown>, RegExp][] = [
        [{ ...WINDOW, from: "2026-11-01T06:00:00Z" }, /"from"[\s\S]*must be UTC midnights/],
        [{ ...WINDOW, from: WINDOW.to }, /"from"[\s\S]*from must be before to/],
        [{ ...WINDOW, from: "2025-01-01T00:00:00Z" }, /"to"[\s\S]*may span at most 400 days/],
      ];
      for (const [params, message] of bad)
        await assert.rejects(wh.query("daily_activity", params as never), message);
    });

    it("answers only the caller's environments", async () => {
      const prod = { ...WINDOW, environments: ["prod"] };
      assert.deepEqual(await wh.query("deployment_outcomes", prod), [
        { environment: "prod", day: "2026-11-02", status: "succeeded", deployments: 1 },
        { environment: "prod", day: "2026-11-03", status: "running", deployments: 1 },
      ]);
      assert.deepEqual(await wh.query("alerts_opened", prod), [{ level: "critical", alerts: 1 }]);
      assert.deepEqual(await wh.query("event_counts", { ...WINDOW, environments: [] }), []);
      const found = await wh.search({ ...WINDOW, environments: ["prod"], q: "auth" });
      assert.deepEqual(
        found.map((r) => r.event_id),
        ["e015", "e016"],
      );
    });
  });

  it("leaves deployments that never ran (refused, declined) out of the durations, as the documents do", async () => {
    const never = [
      dep("d6", "dev", "2026-11-01T13:00:00Z", "requested", "cancelled", 0),
      dep("d7", "dev", "2026-11-01T14:00:00Z", "requested", "failed", 0),
      dep("d8", "dev", "2026-11-01T15:00:00Z", "awaiting_approval", "cancelled", 0),
    ];
    await wh.insert(rows([...scenario(), ...never]));
    // The same table as without them: dev's two deployments that ran, 10 s and 20 s.
    assert.deepEqual(await wh.query("deployment_durations", WINDOW), [
      { environment: null, count: 3, mean: 20, p50: 20, p95: 30, max: 30 },
      { environment: "dev", count: 2, mean: 15, p50: 10, p95: 20, max: 20 },
      { environment: "prod", count: 1, mean: 30, p50: 30, p95: 30, max: 30 },
    ]);
    const byDay = await wh.query("deployment_durations_by_day", WINDOW);
    assert.deepEqual(
      byDay.find((r) => r.day === "2026-11-01"),
      { day: "2026-11-01", count: 2, mean: 15, p50: 10, p95: 20, max: 20 },
    );
    // They are still counted as deployments, by outcome.
    const outcomes = await wh.query("deployment_outcomes", WINDOW);
    assert.deepEqual(
      outcomes.filter((r) => r.environment === "dev"),
      [
        { environment: "dev", day: "2026-11-01", status: "cancelled", deployments: 2 },
        { environment: "dev", day: "2026-11-01", status: "failed", deployments: 2 },
        { environment: "dev", day: "2026-11-01", status: "succeeded", deployments: 1 },
      ],
    );
  });

  it("gives exact nearest-rank percentiles of millisecond durations over thousands of tasks", async () => {
    // Durations at millisecond resolution, with ties, in groups whose ranks are not whole numbers, from a seeded generator; the expectation is
    // the definition written here (value at rank ceil(p * n) of the sorted sample), not the query.
    let state = 20261201;
    const next = () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const sample: { integration: string; duration: number }[] = [];
    const events: OrchestrationEvent[] = [];
    seq = 0;
    for (let i = 0; i < 2999; i++) {
      const integration = ["auth", "firestore", "hosting"][i % 3]!;
      const duration = Math.round(next() * (i % 3 === 2 ? 900_000 : 40_000)) / 1000;
      sample.push({ integration, duration });
      const startedAt = Date.parse("2026-11-02T00:00:00Z") + i * 1000;
      const at = (ms: number) => new Date(ms).toISOString();
      events.push(task(`r${i}`, "d", "dev", integration, at(startedAt), "ready", "running"));
      events.push(
        task(`r${i}`, "d", "dev", integration, at(startedAt + duration * 1000), "running", "succeeded", {
          duration,
        }),
      );
    }
    await wh.insert(rows(events));
    const nearestRank = (values: number[], p: number) =>
      [...values].sort((a, b) => a - b)[Math.max(1, Math.ceil((p * values.length) / 100)) - 1];
    const expected = (values: number[]) => ({
      count: values.length,
      p50: nearestRank(values, 50),
      p95: nearestRank(values, 95),
      max: Math.max(...values),
      mean: values.reduce((a, b) => a + b, 0) / values.length,
    });
    const answered = await wh.query("task_durations", WINDOW);
    const groups: [string | null, number[]][] = [
      [null, sample.map((s) => s.duration)],
      ...["auth", "firestore", "hosting"].map((name): [string, number[]] => [
        name,
        sample.filter((s) => s.integration === name).map((s) => s.duration),
      ]),
    ];
    for (const [integration, values] of groups) {
      const row = answered.find((r) => r.integration === integration);
      const want = expected(values);
      assert.ok(row, `a row for ${integration ?? "all"}`);
      assert.deepEqual(
        { count: row.count, p50: row.p50, p95: row.p95, max: row.max },
        { count: want.count, p50: want.p50, p95: want.p95, max: want.max },
        `integration ${integration ?? "all"}`,
      );
      assert.ok(Math.abs(Number(row.mean) - want.mean) < 1e-6, `mean of ${integration ?? "all"}`);
    }
  });

  it("lands every event delivered twice once, across and within batches", async () => {
    const events = rows(scenario());
    assert.deepEqual(await wh.insert(events), { inserted: 23 });
    assert.deepEqual(await wh.insert(events), { inserted: 0 });
    assert.deepEqual(await wh.insert([...events.slice(0, 5), ...events.slice(0, 5)]), { inserted: 0 });
    assert.equal(await wh.count(), 23);
    const fresh = await openDuckDbWarehouse(":memory:");
    try {
      assert.deepEqual(await fresh.insert([...events, ...events]), { inserted: 23 });
      assert.equal(await fresh.count(), 23);
    } finally {
      fresh.close();
    }
  });

  it("takes each deployment's and task's state from event time, whatever order events arrive in", async () => {
    const inOrder = rows(scenario());
    await wh.insert([...inOrder].reverse().slice(0, 10));
    await wh.insert([...inOrder].reverse().slice(10));
    const outcomes = await wh.query("deployment_outcomes", WINDOW);
    assert.deepEqual(
      outcomes.map((r) => `${r.environment}/${r.status}`),
      ["dev/failed", "dev/succeeded", "prod/succeeded", "prod/running"],
    );
    const tasks = await wh.query("task_outcomes", WINDOW);
    assert.equal(tasks.find((r) => r.integration === "firestore")?.status, "succeeded");
  });

  it("purges operational events after 90 days and audit records after a year", async () => {
    const now = new Date("2027-06-01T00:00:00Z");
    const daysAgo = (days: number) => new Date(now.getTime() - days * 86_400_000).toISOString();
    seq = 100;
    const events = [
      ev({ kind: "task", at: daysAgo(89), to: "running" }), // kept
      ev({ kind: "task", at: daysAgo(91), to: "running" }), // purged
      ev({ kind: "alert", at: daysAgo(120), to: "info:open" }), // purged
      ev({ kind: "audit", at: daysAgo(200), to: "ok" }), // kept: audit lasts a year
      ev({ kind: "audit", at: daysAgo(366), to: "ok" }), // purged
    ];
    await wh.insert(rows(events));
    assert.deepEqual(await wh.purge(now), { deleted: 3 });
    const left = await wh.search({ from: daysAgo(1000), to: now.toISOString(), environments: null });
    assert.deepEqual(
      left.map((r) => r.event_id),
      ["e104", "e101"],
    );
    assert.deepEqual(await wh.purge(now), { deleted: 0 });
  });

  describe("search", () => {
    beforeEach(async () => {
      await wh.insert(rows(scenario()));
    });

    it("finds a deployment's whole story by correlation id, in time order", async () => {
      const story = await wh.search({ ...WINDOW, correlation_id: "d1" });
      assert.deepEqual(
        story.map((r) => `${r.kind}:${r.task_id ?? r.deployment_id}:${r.to}`),
        [
          "deployment:d1:running",
          "task:t1:ready",
          "task:t1:running",
          "task:t1:succeeded",
          "task:t2:running",
          "task:t2:ready",
          "task:t2:running",
          "task:t2:succeeded",
          "deployment:d1:succeeded",
        ],
      );
      assert.equal(story[0]?.time, "2026-11-01T10:00:00.000Z");
    });

    it("matches every term, case-insensitive, anywhere in the event", async () => {
      assert.deepEqual(
        (await wh.search({ ...WINDOW, q: "HOSTING down" })).map((r) => r.event_id),
        ["e021"],
      );
      assert.deepEqual(
        (await wh.search({ ...WINDOW, q: "firestore succeeded" })).map((r) => r.event_id),
        ["e008"],
      );
      assert.deepEqual(await wh.search({ ...WINDOW, q: "nothing-like-this" }), []);
    });

    it("filters by deployment and integration, and limits", async () => {
      const d3 = await wh.search({ ...WINDOW, deployment_id: "d3", integration: "auth" });
      assert.deepEqual(
        d3.map((r) => r.event_id),
        ["e015", "e016"],
      );
      assert.equal((await wh.search({ ...WINDOW, limit: 2 })).length, 2);
    });

    it("refuses bad parameters, naming them, and reads nothing", async () => {
      const bad: [Record<string, unknown>, string][] = [
        [{ ...WINDOW, from: "yesterday" }, "from"],
        [{ ...WINDOW, to: 5 }, "to"],
        [{ ...WINDOW, limit: 0 }, "limit"],
        [{ ...WINDOW, limit: 10_000 }, "limit"],
        [{ ...WINDOW, q: "x".repeat(201) }, "q"],
        [{ ...WINDOW, environments: "prod" }, "environments"],
        [{ ...WINDOW, deployment_id: "" }, "deployment_id"],
        [{ ...WINDOW, extra: 1 }, "extra"],
      ];
      for (const [params, field] of bad) {
        await assert.rejects(
          wh.search(params as never),
          (error: Error) => error.message.includes(field),
          `expected a complaint about ${field}`,
        );
      }
      await assert.rejects(wh.query("event_counts", { ...WINDOW, from: "nope" }), /from/);
    });
  });

  it("parses messages from the topic and names what is wrong with bad ones", () => {
    const good = scenario()[0]!;
    const parsed = parseEventMessage(Buffer.from(JSON.stringify(good)));
    assert.ok(parsed.ok);
    assert.equal(parsed.ok && parsed.event.payload, null);
    const cases: [string, RegExp][] = [
      ["not json", /not JSON/],
      [JSON.stringify({ ...good, kind: "weather" }), /^kind:/],
      [JSON.stringify({ ...good, at: "monday" }), /^at:/],
      [JSON.stringify({ ...good, event_id: "" }), /^event_id:/],
      [JSON.stringify({ ...good, duration: -1 }), /^duration:/],
      [JSON.stringify({ ...good, surprise: true }), /surprise|Unrecognized/],
    ];
    for (const [text, expected] of cases) {
      const result = parseEventMessage(text);
      assert.equal(result.ok, false, text);
      if (!result.ok) assert.match(result.reason, expected);
    }
  });
});

describe("reports from the warehouse agree with reports from Firestore's documents", () => {
  it("gives the same summary, alerts and per-day chart for the same history", async () => {
    const busy = busyHistory(5, 8);
    const now = busy.now;
    // As the Firestore loader reads them: alerts opened in the range (the builder spreads 60 over 27 days).
    const history = {
      ...busy.history,
      alerts: busy.history.alerts.filter(
        (a) => a.opened_at >= busy.history.range.from && a.opened_at < busy.history.range.to,
      ),
    };
    const wh = await openDuckDbWarehouse(":memory:");
    try {
      const events = historyEvents(history);
      await wh.insert(rows(events));
      const request = reportRequestSchema.parse({ report_type: "executive" });
      const fromDocs = buildReport(history, request, now);
      const facts = await loadWarehouseFacts(wh, history.range, null);
      const fromWarehouse = withWarehouseAggregates(
        buildReport(history, request, now, undefined, windowAggregates(facts)),
        facts,
      );
      assert.ok(fromDocs.comprehensive_report.summary.deployments.total > 0);
      assert.deepEqual(fromWarehouse.comprehensive_report.summary, fromDocs.comprehensive_report.summary);
      assert.deepEqual(
        fromWarehouse.comprehensive_report.by_environment,
        fromDocs.comprehensive_report.by_environment,
      );
      assert.deepEqual(
        fromWarehouse.comprehensive_report.by_integration,
        fromDocs.comprehensive_report.by_integration,
      );
      assert.ok(fromDocs.recommendations.length > 0);
      assert.deepEqual(fromWarehouse.recommendations, fromDocs.recommendations);
      assert.deepEqual(
        fromWarehouse.comprehensive_report.health.alerts.by_level,
        fromDocs.comprehensive_report.health.alerts.by_level,
      );
      const perDay = (r: typeof fromDocs) => r.visualizations.find((v) => v.id === "deployments-per-day");
      // The warehouse lists the days that had deployments; the documents' chart lists every day of the range.
      for (const series of perDay(fromWarehouse)!.series)
        for (const point of series.points)
          assert.equal(
            point.y,
            perDay(fromDocs)!
              .series.find((s) => s.name === series.name)!
              .points.find((p) => p.x === point.x)?.y,
            `${series.name} on ${point.x}`,
          );
      assert.equal(fromWarehouse.comprehensive_report.aggregates_from, "duckdb");
    } finally {
      wh.close();
    }
  });
});

describe("/optimize from the warehouse", () => {
  const request = optimizeRequestSchema.parse({});

  it("finds the same numbers and recommendations as from the documents when nothing was cut", async () => {
    const { history, now } = busyHistory(5, 8);
    const wh = await openDuckDbWarehouse(":memory:");
    try {
      await wh.insert(rows(historyEvents(history)));
      const aggregates = windowAggregates(await loadWarehouseFacts(wh, history.range, null));
      const fromDocs = recommend(history, request, now);
      const fromWarehouse = recommend(history, request, now, aggregates);
      assert.ok(fromDocs.expected_improvements.baseline.task_runs > 0);
      assert.ok(fromDocs.optimization_plan.some((r) => r.target === "reliability"));
      assert.deepEqual(fromWarehouse.expected_improvements.baseline, fromDocs.expected_improvements.baseline);
      assert.deepEqual(
        fromWarehouse.optimization_plan.map((r) => [r.id, r.evidence.value, r.evidence.sample_size]),
        fromDocs.optimization_plan.map((r) => [r.id, r.evidence.value, r.evidence.sample_size]),
      );
      assert.equal(fromDocs.analyzed.aggregates_from, "firestore");
      assert.equal(fromWarehouse.analyzed.aggregates_from, "duckdb");
    } finally {
      wh.close();
    }
  });

  it("keeps the documents' numbers where the warehouse is behind them, and says so", async () => {
    const { history, now } = busyHistory(5, 8);
    const wh = await openDuckDbWarehouse(":memory:");
    try {
      // Only the events of the last day's deployments reached the warehouse.
      const lastDay = new Date(history.range.to.getTime() - 86_400_000);
      const recent = new Set(history.deployments.filter((d) => d.created_at >= lastDay).map((d) => d.id));
      assert.ok(recent.size > 0 && recent.size < history.deployments.length);
      await wh.insert(
        rows(historyEvents(history).filter((e) => e.deployment_id && recent.has(e.deployment_id))),
      );
      const aggregates = windowAggregates(await loadWarehouseFacts(wh, history.range, null));
      const fromDocs = recommend(history, request, now);
      const fromWarehouse = recommend(history, request, now, aggregates);
      assert.deepEqual(fromWarehouse.expected_improvements.baseline, fromDocs.expected_improvements.baseline);
      assert.equal(fromWarehouse.expected_improvements.baseline.deployments, 40);
      const behind = fromWarehouse.notes.find((n) =>
        n.includes("fewer runs or deployments than the documents"),
      );
      assert.ok(behind, fromWarehouse.notes.join("\n"));
      for (const environment of new Set(history.deployments.map((d) => d.environment)))
        assert.ok(behind.includes(environment), `${environment} in: ${behind}`);
    } finally {
      wh.close();
    }
  });

  it("counts the whole window when the documents were cut at the read limit", async () => {
    const { history, now } = busyHistory(5, 8);
    const total = history.deployments.length;
    const runs = history.tasks.filter(
      (t) => t.started_at !== null && ["succeeded", "failed", "rolled_back"].includes(t.status),
    ).length;
    const wh = await openDuckDbWarehouse(":memory:");
    try {
      await wh.insert(rows(historyEvents(history)));
      const aggregates = windowAggregates(await loadWarehouseFacts(wh, history.range, null));
      // As the Firestore loader leaves it when its limit is 10 deployments: the newest 10 and their tasks.
      const newest = [...history.deployments]
        .sort((a, b) => b.created_at.getTime() - a.created_at.getTime())
        .slice(0, 10);
      const kept = new Set(newest.map((d) => d.id));
      const cut = {
        ...history,
        deployments: newest,
        tasks: history.tasks.filter((t) => kept.has(t.deployment_id)),
        truncated: true,
        limits: { deployments: 10, alerts: 10 },
      };
      const fromCut = recommend(cut, request, now);
      const fromWarehouse = recommend(cut, request, now, aggregates);
      assert.equal(total, 40);
      assert.equal(fromCut.expected_improvements.baseline.deployments, 10);
      assert.equal(fromWarehouse.expected_improvements.baseline.deployments, total);
      assert.equal(fromWarehouse.analyzed.deployments, total);
      assert.equal(fromWarehouse.expected_improvements.baseline.task_runs, runs);
      assert.ok(
        fromWarehouse.notes.some((n) => n.includes("DuckDB") && n.includes("cut at 10")),
        fromWarehouse.notes.join("\n"),
      );
      assert.ok(!fromWarehouse.notes.some((n) => n.includes("narrow time_range")));
      // What the counts do not carry is read from the 10 documents and says so.
      for (const r of fromWarehouse.optimization_plan.filter((r) => r.id.startsWith("cost:lower-limit:")))
        assert.ok(r.evidence.sample_size <= 10, `${r.id}: ${r.evidence.sample_size}`);
      for (const r of fromWarehouse.optimization_plan.filter((r) =>
        r.id.startsWith("reliability:deployments:"),
      ))
        if (r.integration !== null)
          assert.ok(
            (r.expected_improvement.share_of?.count ?? 0) <= 10,
            `${r.id}: ${JSON.stringify(r.expected_improvement)}`,
          );
    } finally {
      wh.close();
    }
  });
});

describe("local warehouse (DuckDB): a person's erasure", () => {
  it("rewrites the events naming or mentioning the person, and only those", async () => {
    const wh = await openDuckDbWarehouse(":memory:");
    try {
      const at = "2026-11-01T10:00:00Z";
      await wh.insert(
        rows([
          ev({ kind: "deployment", to: "running", at, actor: "user:ann@acme.dev" }),
          ev({ kind: "deployment", to: "running", at, actor: "ann@acme.dev" }),
          ev({
            kind: "audit",
            to: "ok",
            at,
            actor: "key:k_1",
            detail: "requested_by user:ANN@acme.dev refused",
          }),
          ev({ kind: "deployment", to: "running", at, actor: "user:bob@acme.dev", detail: "annotated" }),
          ev({ kind: "task", to: "running", at, actor: null, detail: "uid-ann-7 signed in" }),
        ]),
      );
      const match = {
        actors: ["ann@acme.dev", "user:ann@acme.dev", "uid-ann-7"],
        mentions: ["ann@acme.dev", "uid-ann-7"],
      };
      assert.equal(await wh.countPerson(match), 4);
      const result = await wh.erasePerson({
        ...match,
        pseudonyms: {
          "ann@acme.dev": "pseudonym:a",
          "user:ann@acme.dev": "pseudonym:b",
          "uid-ann-7": "pseudonym:c",
        },
        erased_detail: "(erased)",
      });
      assert.deepEqual(result, { updated: 4 });
      assert.equal(await wh.countPerson(match), 0);
      const all = await wh.search({
        from: "2026-10-01T00:00:00Z",
        to: "2026-12-01T00:00:00Z",
        environments: null,
      });
      assert.deepEqual(
        all.map((r) => [r.actor, r.detail]).sort(),
        [
          ["key:k_1", "(erased)"],
          ["pseudonym:a", null],
          ["pseudonym:b", null],
          ["user:bob@acme.dev", "annotated"],
          [null, "(erased)"],
        ].sort(),
      );
    } finally {
      wh.close();
    }
  });
});
