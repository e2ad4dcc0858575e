import assert from "node:assert/strict";
import type { AlertDoc, IntegrationDoc } from "../../functions/src/domain/model.js";
import { emptyHistory, type History } from "../../functions/src/domain/optimize.js";
import {
  buildReport,
  parseReportRequest,
  resolveTimeRange,
  type ReportRequest,
} from "../../functions/src/domain/reports.js";
import { NOW, RANGE, T0, at, deployment, history, task } from "../support/history-builder.js";

function integration(
  environment: string,
  name: string,
  health: "healthy" | "degraded" | "down" | null,
): IntegrationDoc {
  return {
    name,
    type: name as IntegrationDoc["type"],
    environment,
    status: "deployed",
    configuration: {},
    last_updated: T0,
    release: 1,
    health: health && { status: health, latency_ms: 12, details: "", mode: "emulated", checked_at: at(50) },
    open_alert: null,
    incidents: 0,
  };
}

function alert(
  id: string,
  level: AlertDoc["level"],
  status: AlertDoc["status"],
  opened: number,
): AlertDoc & { id: string } {
  return {
    id,
    level,
    status,
    source: level === "info" ? "deployment" : "health",
    environment: "dev",
    integration: level === "info" ? null : "hosting",
    deployment_id: null,
    message: `${level} alert`,
    opened_at: at(opened),
    last_seen_at: at(opened),
    resolved_at: status === "resolved" ? at(opened + 60) : null,
  };
}

function parse(query: Record<string, unknown>): ReportRequest {
  const parsed = parseReportRequest(query, NOW);
  assert.ok(parsed.ok, parsed.ok ? "" : parsed.problems.map((p) => p.message).join("; "));
  return parsed.request;
}

/** Two environments: dev (3 deployments, 6 tasks) and prod (1 deployment, 1 task), on two days. */
function sample(): History {
  const d1 = [
    task({ id: "d1-a", deployment: "d1", integration: "auth", start: 0, duration: 10 }),
    task({ id: "d1-b", deployment: "d1", integration: "hosting", start: 10, duration: 30, retries: 1 }),
  ];
  const d2 = [
    task({ id: "d2-a", deployment: "d2", integration: "auth", created: 86400, start: 86400, duration: 20 }),
    task({
      id: "d2-b",
      deployment: "d2",
      integration: "hosting",
      created: 86400,
      start: 86420,
      duration: 5,
      status: "failed",
      retries: 3,
    }),
    task({ id: "d2-c", deployment: "d2", integration: "monitoring", created: 86400, status: "skipped" }),
  ];
  const d3 = [
    task({
      id: "d3-a",
      deployment: "d3",
      integration: "auth",
      created: 86500,
      start: 86500,
      status: "running",
    }),
  ];
  const p1 = [
    task({
      id: "p1-a",
      deployment: "p1",
      env: "prod",
      integration: "auth",
      start: 0,
      duration: 40,
      limit: 6,
    }),
  ];
  return {
    ...emptyHistory(RANGE),
    deployments: [
      deployment("d3", "running", { created: 86500, tasks: d3 }),
      deployment("d2", "failed", { created: 86400, duration: 60, tasks: d2 }),
      deployment("d1", "succeeded", { duration: 40, tasks: d1 }),
      deployment("p1", "succeeded", { env: "prod", duration: 50, tasks: p1 }),
    ],
    tasks: [...d1, ...d2, ...d3, ...p1],
    integrations: [
      integration("dev", "auth", "healthy"),
      integration("dev", "hosting", "down"),
      integration("prod", "auth", "degraded"),
      integration("prod", "hosting", null),
    ],
    alerts: [
      alert("al3", "info", "open", 86500),
      alert("al2", "critical", "open", 86450),
      alert("al1", "warning", "resolved", 100),
    ],
    limits: { deployments: 5000, alerts: 5000 },
  };
}

describe("reports: the request", () => {
  it("defaults: a deployment report over 7 days, as JSON", () => {
    assert.deepEqual(parse({}), { report_type: "deployment", time_range: "7d", format: "json" });
  });

  it("relative ranges end now; an ISO interval is taken as written", () => {
    assert.deepEqual(resolveTimeRange("24h", NOW), { from: new Date("2026-11-24T00:00:00.000Z"), to: NOW });
    assert.deepEqual(resolveTimeRange("7d", NOW), { from: new Date("2026-11-18T00:00:00.000Z"), to: NOW });
    assert.deepEqual(resolveTimeRange("30d", NOW), { from: new Date("2026-10-26T00:00:00.000Z"), to: NOW });
    const parsed = parseReportRequest({ time_range: "2026-11-01T00:00:00Z/2026-11-25T00:00:00+01:00" }, NOW);
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.range, {
      from: new Date("2026-11-01T00:00:00Z"),
      to: new Date("2026-11-24T23:00:00Z"),
    });
  });

  const TIME_RANGE =
    'allowed: "24h", "7d", "30d" or an ISO interval start/end such as 2026-11-01T00:00:00Z/2026-11-25T00:00:00Z (start before end, with a time zone, at most 366 days)';
  const FORMATS = 'allowed: one of "json", "html", "markdown", "csv", "pdf", "png"';
  const bad: [string, Record<string, unknown>, string[]][] = [
    [
      "an unknown report type",
      { report_type: "weekly" },
      [
        'report_type: found string "weekly"; allowed: one of "deployment", "health", "performance", "executive", "compliance"',
      ],
    ],
    ["a format that does not exist", { format: "docx" }, [`format: found string "docx"; ${FORMATS}`]],
    ["an empty format", { format: "" }, [`format: found string ""; ${FORMATS}`]],
    ["an unknown range word", { time_range: "1w" }, [`time_range: found string "1w"; ${TIME_RANGE}`]],
    ["an empty range", { time_range: "" }, [`time_range: found string ""; ${TIME_RANGE}`]],
    [
      "an interval ending before it starts",
      { time_range: "2026-11-25T00:00:00Z/2026-11-01T00:00:00Z" },
      [`time_range: found string "2026-11-25T00:00:00Z/2026-11-01T00:00:00Z"; ${TIME_RANGE}`],
    ],
    [
      "an interval of dates without times",
      { time_range: "2026-11-01/2026-11-25" },
      [`time_range: found string "2026-11-01/2026-11-25"; ${TIME_RANGE}`],
    ],
    [
      "an interval without a time zone",
      { time_range: "2026-11-01T00:00:00/2026-11-25T00:00:00" },
      [`time_range: found string "2026-11-01T00:00:00/2026-11-25T00:00:00"; ${TIME_RANGE}`],
    ],
    [
      "an interval longer than 366 days",
      { time_range: "2024-01-01T00:00:00Z/2026-01-01T00:00:00Z" },
      [`time_range: found string "2024-01-01T00:00:00Z/2026-01-01T00:00:00Z"; ${TIME_RANGE}`],
    ],
    [
      "an impossible date",
      { time_range: "2026-13-01T00:00:00Z/2026-11-25T00:00:00Z" },
      [`time_range: found string "2026-13-01T00:00:00Z/2026-11-25T00:00:00Z"; ${TIME_RANGE}`],
    ],
    ["a repeated parameter", { format: ["json", "csv"] }, [`format: found an array of 2; ${FORMATS}`]],
    [
      "an unknown parameter",
      { type: "health" },
      ['type: found unknown key "type"; allowed: the keys report_type, time_range, format, environment'],
    ],
    [
      "several problems at once",
      { report_type: "x", format: "xlsx", time_range: "forever" },
      [
        'report_type: found string "x"; allowed: one of "deployment", "health", "performance", "executive", "compliance"',
        `time_range: found string "forever"; ${TIME_RANGE}`,
        `format: found string "xlsx"; ${FORMATS}`,
      ],
    ],
  ];
  for (const [name, query, messages] of bad) {
    it(`refuses ${name}, naming the field`, () => {
      const parsed = parseReportRequest(query, NOW);
      assert.ok(!parsed.ok, "expected problems");
      assert.deepEqual(
        parsed.problems.map((p) => p.message),
        messages,
      );
    });
  }
});

describe("reports: the numbers", () => {
  it("summary: deployments by status, success rate, tasks, retries and durations match the data", () => {
    const report = buildReport(
      sample(),
      parse({ time_range: "2026-11-01T00:00:00Z/2026-11-25T00:00:00Z" }),
      NOW,
    );
    const r = report.comprehensive_report as any;
    assert.equal(r.report_type, "deployment");
    assert.deepEqual(r.time_range, {
      from: "2026-11-01T00:00:00.000Z",
      to: "2026-11-25T00:00:00.000Z",
      text: "2026-11-01T00:00:00Z/2026-11-25T00:00:00Z",
    });
    assert.equal(r.generated_at, NOW.toISOString());
    assert.deepEqual(r.summary.deployments, {
      total: 4,
      by_status: {
        requested: 0,
        running: 1,
        cancelling: 0,
        rolling_back: 0,
        succeeded: 2,
        failed: 1,
        rolled_back: 0,
        cancelled: 0,
      },
    });
    assert.equal(r.summary.success_rate, 0.6667);
    assert.deepEqual(r.summary.tasks, {
      total: 7,
      by_status: {
        blocked: 0,
        ready: 0,
        running: 1,
        succeeded: 4,
        failed: 1,
        skipped: 1,
        cancelled: 0,
        rolled_back: 0,
      },
      runs: 5,
    });
    assert.deepEqual(r.summary.retries, { total: 4, per_run: 0.8 });
    // Deployments that finished: 40, 60, 50. Successful task runs: 10, 30, 20, 40.
    assert.deepEqual(r.summary.durations.deployment_seconds, {
      count: 3,
      mean: 50,
      p50: 50,
      p95: 60,
      max: 60,
    });
    assert.deepEqual(r.summary.durations.task_seconds, { count: 4, mean: 25, p50: 20, p95: 40, max: 40 });
  });

  it("by environment and by integration", () => {
    const r = buildReport(sample(), parse({}), NOW).comprehensive_report as any;
    assert.deepEqual(
      r.by_environment.map((e: any) => [
        e.environment,
        e.deployments,
        e.success_rate,
        e.tasks,
        e.runs,
        e.retries,
        e.concurrency,
      ]),
      [
        ["dev", 3, 0.5, 6, 4, 4, { limit: 4, peak: 1, headroom: 3 }],
        ["prod", 1, 1, 1, 1, 0, { limit: 6, peak: 1, headroom: 5 }],
      ],
    );
    assert.deepEqual(
      r.by_integration.map((i: any) => [
        i.environment,
        i.integration,
        i.runs,
        i.failed,
        i.flaky_rate,
        i.duration_seconds.p50,
        i.health,
      ]),
      [
        ["dev", "auth", 2, 0, 0, 10, "healthy"],
        ["dev", "hosting", 2, 1, 1, 30, "down"],
        ["dev", "monitoring", 0, 0, null, null, "unchecked"],
        ["prod", "auth", 1, 0, 0, 40, "degraded"],
      ],
    );
  });

  it("health: current statuses, alerts by level, open alerts", () => {
    const r = buildReport(sample(), parse({ report_type: "health" }), NOW).comprehensive_report as any;
    assert.deepEqual(r.health.integrations, { healthy: 1, degraded: 1, down: 1, unchecked: 1 });
    assert.deepEqual(r.health.alerts, {
      opened: 3,
      by_level: { critical: 1, warning: 1, info: 1 },
      by_source: { health: 2, deployment: 1 },
      still_open: 2,
    });
    assert.deepEqual(
      r.health.open_alerts.map((a: any) => a.id),
      ["al3", "al2"],
    );
    assert.deepEqual(
      r.alerts.map((a: any) => [a.id, a.status]),
      [
        ["al3", "open"],
        ["al2", "open"],
        ["al1", "resolved"],
      ],
    );
  });

  it("each report type has its section and charts as data", () => {
    const h = sample();
    const deploymentReport = buildReport(
      h,
      parse({ report_type: "deployment", time_range: "2026-11-10T00:00:00Z/2026-11-12T00:00:00Z" }),
      NOW,
    );
    const dr = deploymentReport.comprehensive_report as any;
    assert.deepEqual(
      dr.deployments.map((d: any) => [d.id, d.status]),
      [
        ["d3", "running"],
        ["d2", "failed"],
        ["d1", "succeeded"],
        ["p1", "succeeded"],
      ],
    );
    assert.deepEqual(
      deploymentReport.visualizations.map((v) => v.id),
      ["deployments-by-status", "deployments-per-day", "success-rate-by-environment"],
    );
    const perDay = deploymentReport.visualizations[1]!;
    // The sample history's own range (Nov 1 to 25) sets the days: 24 of them.
    assert.equal(perDay.series[0]?.points.length, 24);
    const day = (name: string, date: string) =>
      perDay.series.find((s) => s.name === name)?.points.find((p) => p.x === date)?.y;
    assert.equal(day("succeeded", "2026-11-10"), 2);
    assert.equal(day("failed", "2026-11-11"), 1);
    assert.equal(day("in_progress", "2026-11-11"), 1);
    assert.equal(day("succeeded", "2026-11-11"), 0);

    const performance = buildReport(h, parse({ report_type: "performance" }), NOW);
    const pr = performance.comprehensive_report as any;
    assert.deepEqual(
      pr.slowest_tasks.map((t: any) => [t.id, t.actual_duration]),
      [
        ["p1-a", 40],
        ["d1-b", 30],
        ["d2-a", 20],
        ["d1-a", 10],
      ],
    );
    const durations = performance.visualizations.find((v) => v.id === "task-duration-by-integration");
    assert.deepEqual(durations?.series.find((s) => s.name === "p95")?.points[1], { x: "dev/hosting", y: 30 });

    const executive = buildReport(h, parse({ report_type: "executive" }), NOW).comprehensive_report as any;
    assert.deepEqual(executive.headline, [
      "4 deployment(s); success rate 66.7%",
      "5 task run(s), 4 retries",
      "integrations now: 1 healthy, 1 degraded, 1 down, 1 unchecked",
      "3 alert(s) opened, 2 still open",
      "1 recommendation(s)",
    ]);
    // dev ran at most 1 task at once on a limit of 4, over 3 deployments.
    assert.deepEqual(
      buildReport(h, parse({}), NOW).recommendations.map((r) => r.id),
      ["cost:lower-limit:dev"],
    );
  });

  it("recommendations come from optimize with every target", () => {
    const tasks = [0, 0, 0, 0, 10, 10, 10, 10].map((start) =>
      task({ start, duration: 10, limit: 4, estimate: 10 }),
    );
    const report = buildReport(history([deployment("d1", "succeeded", { tasks })], tasks), parse({}), NOW);
    assert.deepEqual(
      report.recommendations.map((r) => r.id),
      ["concurrency:raise-limit:dev"],
    );
  });

  it("an empty history reports zeros and nulls, never invented numbers", () => {
    const report = buildReport(emptyHistory(RANGE), parse({}), NOW);
    const r = report.comprehensive_report as any;
    assert.equal(r.summary.deployments.total, 0);
    assert.equal(r.summary.success_rate, null);
    assert.deepEqual(r.summary.durations.task_seconds, {
      count: 0,
      mean: null,
      p50: null,
      p95: null,
      max: null,
    });
    assert.deepEqual(r.by_environment, []);
    assert.deepEqual(r.by_integration, []);
    assert.deepEqual(r.health.integrations, { healthy: 0, degraded: 0, down: 0, unchecked: 0 });
    assert.deepEqual(report.recommendations, []);
    assert.match(r.notes[0], /^no deployments in /);
  });
});
