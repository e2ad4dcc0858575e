import assert from "node:assert/strict";
import { validateConfig } from "../../functions/src/domain/config.js";
import type { Task } from "../../functions/src/domain/engine-model.js";
import { planDeployment, type DeploymentPlan } from "../../functions/src/domain/planner.js";
import {
  deploymentTrends,
  deploymentViews,
  plannedTimeline,
  planViews,
  predictedAgainstActual,
  taskChangeTracker,
  type FinishedDeployment,
} from "../../functions/src/visual/live-views.js";
import { FirebaseVisualOrchestrator } from "../../functions/src/visual/visual-orchestrator.js";
import { capacityChart, capacitySummary } from "../../functions/src/visual/live-views.js";
import type { MetricForecast } from "../../functions/src/domain/learning/capacity.js";
import { exampleConfig } from "../support/config-builder.js";

const visuals = new FirebaseVisualOrchestrator();

const NOW = new Date("2026-11-20T12:00:00.000Z");

function plan(environment: string, integrations?: string[]): DeploymentPlan {
  const config = validateConfig(exampleConfig());
  assert.ok(config.ok);
  const env = config.config.environments.find((candidate) => candidate.name === environment);
  assert.ok(env);
  const result = planDeployment(
    "dep-1",
    {
      environment,
      integrations: integrations ?? env.integrations.map((integration) => integration.kind),
      configuration: {},
      requested_by: "live-views.spec",
    },
    env,
    NOW,
  );
  assert.ok(result.ok);
  return result.plan;
}

const seconds = (from: Date, s: number) => new Date(from.getTime() + s * 1000);

describe("live views: what the dashboard draws from Firestore documents and /plan answers", () => {
  it("rebuilds the planner's timeline from the stored tasks, in every environment", () => {
    for (const environment of ["dev", "staging", "prod"]) {
      const planned = plan(environment);
      const rebuilt = plannedTimeline(planned.tasks);
      const sort = (entries: { id: string }[]) => [...entries].sort((a, b) => a.id.localeCompare(b.id));
      assert.deepEqual(sort(rebuilt), sort(planned.timeline), environment);
    }
  });

  it("draws a running deployment: the graph has its tasks and edges, the Gantt a planned bar per task and actual bars for started ones", () => {
    const planned = plan("dev");
    const started = NOW;
    const [first, second, ...rest] = planned.tasks;
    assert.ok(first && second);
    const tasks: Task[] = [
      {
        ...first,
        status: "succeeded",
        attempt: 1,
        started_at: seconds(started, 1),
        completed_at: seconds(started, 4),
        actual_duration: 3,
      },
      {
        ...second,
        status: "running",
        attempt: 2,
        retry_count: 1,
        started_at: seconds(started, 5),
        lease_expires_at: seconds(started, 125),
      },
      ...rest,
    ];
    const views = deploymentViews(
      { critical_path: planned.criticalPath, started_at: started },
      tasks,
      seconds(started, 8),
    );
    assert.deepEqual(
      views.graph.nodes.map((node) => node.id).sort(),
      planned.tasks.map((task) => task.id).sort(),
    );
    assert.equal(
      views.graph.edges.length,
      planned.tasks.reduce((total, task) => total + task.dependencies.length, 0),
    );
    const rows = new Map(views.gantt.rows.map((row) => [row.id, row]));
    assert.equal(rows.size, planned.tasks.length);
    assert.deepEqual(rows.get(first.id)?.actual, { start: 1, end: 4 });
    assert.deepEqual(rows.get(second.id)?.actual, { start: 5, end: null });
    assert.equal(rows.get(second.id)?.retries, 1);
    assert.equal(views.gantt.now, 8);
    for (const task of rest) assert.equal(rows.get(task.id)?.actual, undefined);
    const svg = visuals.deployment(
      { critical_path: planned.criticalPath, started_at: started },
      tasks,
      seconds(started, 8),
    );
    for (const task of planned.tasks) assert.ok(svg.graph.includes(`data-node-id="${task.id}"`));
  });

  it("draws a deployment whose tasks have not arrived yet (its critical path names them) without throwing", () => {
    const planned = plan("dev");
    const [first] = planned.tasks;
    assert.ok(first);
    for (const tasks of [[], [first]]) {
      const views = deploymentViews({ critical_path: planned.criticalPath, started_at: null }, tasks, NOW);
      assert.ok(views.graph.criticalPath?.every((id) => tasks.some((task) => task.id === id)));
      const svg = visuals.deployment({ critical_path: planned.criticalPath, started_at: null }, tasks, NOW);
      assert.match(svg.graph, /^<svg /);
      assert.match(svg.gantt, /^<svg /);
    }
  });

  it("draws a task planned to take no time as a milestone, not an invisible bar", () => {
    const { gantt } = visuals.plan({
      environment: "dev",
      estimated_seconds: 30,
      critical_path: ["p--auth", "p--functions"],
      tasks: [
        { id: "p--auth", integration: "auth", start: 0, finish: 30, dependencies: [] },
        { id: "p--functions", integration: "functions", start: 30, finish: 30, dependencies: ["p--auth"] },
      ],
    });
    assert.ok(gantt.includes('data-milestone="p--functions"'));
    assert.ok(!gantt.includes('data-milestone="p--auth"'));
  });

  it("draws a /plan answer: every task planned, bars where the timeline puts them, the critical path kept", () => {
    const planned = plan("staging", ["auth", "firestore", "functions"]);
    const answer = {
      environment: "staging",
      estimated_seconds: planned.estimatedSeconds,
      critical_path: planned.criticalPath,
      tasks: planned.timeline.map((entry) => {
        const task = planned.tasks.find((candidate) => candidate.id === entry.id)!;
        return { ...entry, integration: task.integration, dependencies: task.dependencies };
      }),
    };
    const views = planViews(answer);
    assert.deepEqual(views.graph.nodes.map((node) => node.label).sort(), ["auth", "firestore", "functions"]);
    assert.ok(views.graph.nodes.every((node) => node.status === "planned"));
    assert.deepEqual(views.graph.criticalPath, planned.criticalPath);
    for (const entry of planned.timeline) {
      const row = views.gantt.rows.find((candidate) => candidate.id === entry.id);
      assert.deepEqual(row?.planned, { start: entry.start, end: entry.finish });
      assert.equal(row?.actual, undefined);
    }
  });

  it("tracks task changes the engine timestamped: none from the first snapshot or a repeated one, starts and ends after", () => {
    const [auth, firestore] = plan("dev").tasks;
    assert.ok(auth && firestore);
    const changesOf = taskChangeTracker();
    assert.deepEqual(changesOf([auth, firestore]), []);
    const running: Task = {
      ...auth,
      status: "running",
      attempt: 1,
      started_at: seconds(NOW, 1),
      lease_expires_at: seconds(NOW, 121),
    };
    assert.deepEqual(changesOf([running, firestore]), [
      { task: auth.id, status: "running", at: seconds(NOW, 1) },
    ]);
    assert.deepEqual(changesOf([running, firestore]), [], "a snapshot delivered again");
    const retried: Task = {
      ...running,
      attempt: 2,
      started_at: seconds(NOW, 5),
      lease_expires_at: seconds(NOW, 125),
    };
    const done: Task = {
      ...firestore,
      status: "succeeded",
      attempt: 1,
      started_at: seconds(NOW, 1),
      completed_at: seconds(NOW, 3),
    };
    assert.deepEqual(changesOf([retried, done]), [
      { task: auth.id, status: "running", at: seconds(NOW, 5) },
      { task: firestore.id, status: "succeeded", at: seconds(NOW, 3) },
    ]);
    const skipped: Task = { ...done, id: "new-task", status: "skipped", completed_at: null };
    assert.deepEqual(changesOf([retried, done, skipped]), [], "a new task, or a change without a time");
  });

  describe("deployment trends", () => {
    const at = (minutesAgo: number) => new Date(NOW.getTime() - minutesAgo * 60_000);
    const done = (
      status: FinishedDeployment["status"],
      minutesAgo: number,
      duration: number,
    ): FinishedDeployment => ({ status, completed_at: at(minutesAgo), actual_duration: duration });

    it("computes success rate, p50/p95 durations and throughput per interval from the given deployments", () => {
      const deployments: FinishedDeployment[] = [
        done("succeeded", 59, 10),
        done("failed", 58, 30),
        done("succeeded", 1, 20),
        done("succeeded", 1, 40),
        done("rolled_back", 0.5, 50),
        { status: "running", completed_at: null, actual_duration: null },
      ];
      const trends = deploymentTrends(deployments, 2, NOW);
      // Two half-hour intervals from the oldest finish (59 min ago) to now.
      const [success] = trends.successRate.series;
      assert.deepEqual(
        success?.points.map((point) => point.y),
        [50, (100 * 2) / 3],
      );
      const [p50, p95] = trends.durations.series;
      assert.deepEqual(
        p50?.points.map((point) => point.y),
        [10, 40],
      );
      assert.deepEqual(
        p95?.points.map((point) => point.y),
        [30, 50],
      );
      assert.deepEqual(
        trends.throughput.bars.map((bar) => bar.value),
        [2, 3],
      );
      assert.equal(success?.points.at(-1)?.x, NOW.getTime());
    });

    it("leaves a gap, not a zero, where an interval had no finished deployment, and copes with none at all", () => {
      const trends = deploymentTrends([done("succeeded", 50, 5)], 5, NOW);
      assert.equal(trends.successRate.series[0]?.points.length, 1);
      assert.equal(trends.throughput.bars.length, 5);
      assert.deepEqual(
        trends.throughput.bars.map((bar) => bar.value),
        [1, 0, 0, 0, 0],
      );
      const empty = deploymentTrends([], 4, NOW);
      assert.equal(empty.successRate.series[0]?.points.length, 0);
      assert.deepEqual(
        empty.throughput.bars.map((bar) => bar.value),
        [0, 0, 0, 0],
      );
    });
  });
});

describe("live views: a deployment's prediction against its outcome", () => {
  const format = (s: number) => `${s.toFixed(1)} s`;
  const created = new Date("2026-11-20T12:00:00.000Z");
  it("says what was predicted when it was requested, what it took, and by how much it missed", () => {
    const slower = predictedAgainstActual(
      { created_at: created, estimated_completion: seconds(created, 40), actual_duration: 50 },
      format,
    );
    assert.deepEqual(slower, {
      predicted_seconds: 40,
      actual_seconds: 50,
      error: 0.25,
      text: "Predicted 40.0 s when requested; took 50.0 s (25 % slower than predicted).",
    });
    const faster = predictedAgainstActual(
      { created_at: created, estimated_completion: seconds(created, 80), actual_duration: 60 },
      format,
    );
    assert.equal(faster.text, "Predicted 80.0 s when requested; took 60.0 s (25 % faster than predicted).");
  });
  it("says when nothing was predicted or the deployment is still running", () => {
    assert.equal(
      predictedAgainstActual({ created_at: created, estimated_completion: null, actual_duration: 12 }, format)
        .text,
      "No prediction was made; took 12.0 s.",
    );
    assert.equal(
      predictedAgainstActual(
        { created_at: created, estimated_completion: seconds(created, 30), actual_duration: null },
        format,
      ).text,
      "Predicted 30.0 s when requested; not finished yet.",
    );
  });
});

describe("capacity on the dashboard", () => {
  const history = [
    { date: "2026-11-29", value: 100 },
    { date: "2026-11-30", value: 120 },
  ];
  const points = [
    { date: "2026-12-01", expected: 130, low: 90, high: 170 },
    { date: "2026-12-02", expected: 48_000, low: 40_000, high: 56_000 },
  ];
  const ok = (limit: MetricForecast["limit"]): MetricForecast => ({
    forecast: {
      status: "ok",
      from: "2026-11-03",
      to: "2026-11-30",
      history_days: 28,
      missing_days: 0,
      short_history: false,
      level: 110,
      model: {
        seasonality: "additive",
        intercept: 100,
        slope_per_day: 1,
        weekday_terms: { sun: 0, mon: 0, tue: 0, wed: 0, thu: 0, fri: 0, sat: 0 },
        residual_sd: 10,
      },
      points,
    },
    history,
    expected_next_7_days: 48_130,
    expected_over_horizon: 48_130,
    limit,
  });
  const day = (date: string) => Date.parse(`${date}T00:00:00Z`);

  it("charts the history, the forecast with its interval and the limit across both", () => {
    const limit = {
      limit: 50_000,
      peak_expected: 48_000,
      exceeds_on: null,
      days_until_limit: null,
      may_exceed_on: "2026-12-02",
      source: "Blaze",
    };
    const chart = capacityChart("firestore_reads", ok(limit));
    assert.equal(chart.title, "Firestore reads a day");
    assert.deepEqual(
      chart.series.map((s) => [s.name, s.points.map((p) => [p.x, p.y])]),
      [
        [
          "actual",
          [
            [day("2026-11-29"), 100],
            [day("2026-11-30"), 120],
          ],
        ],
        [
          "expected",
          [
            [day("2026-12-01"), 130],
            [day("2026-12-02"), 48_000],
          ],
        ],
        [
          "90 % high",
          [
            [day("2026-12-01"), 170],
            [day("2026-12-02"), 56_000],
          ],
        ],
        [
          "90 % low",
          [
            [day("2026-12-01"), 90],
            [day("2026-12-02"), 40_000],
          ],
        ],
        [
          "limit",
          [
            [day("2026-11-29"), 50_000],
            [day("2026-12-02"), 50_000],
          ],
        ],
      ],
    );
    assert.equal(
      capacitySummary("firestore_reads", ok(limit)),
      "Firestore reads a day: 48,130 over the next 7 days; 48,000 a day by 2026-12-02 (90 %: 40,000 to 56,000); within the limit of 50,000, but the interval reaches it on 2026-12-02. From 28 days of history.",
    );
    const passed = { ...limit, exceeds_on: "2026-12-02", days_until_limit: 2 };
    assert.match(
      capacitySummary("firestore_reads", ok(passed)),
      /expected above the limit of 50,000 on 2026-12-02 \(in 2 days\)/,
    );
    assert.match(
      capacitySummary("deployments", ok(null)),
      /^Deployments a day: .*; no daily limit applies\./,
    );
    // A limit far above the data (more than 4x the highest value) is said, not drawn.
    const far = { ...limit, limit: 1_000_000, may_exceed_on: null };
    assert.deepEqual(
      capacityChart("events", ok(far)).series.map((s) => s.name),
      ["actual", "expected", "90 % high", "90 % low"],
    );
    assert.match(capacitySummary("events", ok(far)), /within the limit of 1,000,000\./);
  });

  it("says why there is no forecast, and draws the history alone", () => {
    const thin: MetricForecast = {
      forecast: {
        status: "insufficient_history",
        history_days: 2,
        minimum_days: 14,
        message: "2 days of history, fewer than 14",
      },
      history,
      expected_next_7_days: null,
      expected_over_horizon: null,
      limit: null,
    };
    assert.deepEqual(
      capacityChart("events", thin).series.map((s) => s.name),
      ["actual"],
    );
    assert.equal(
      capacitySummary("events", thin),
      "Events a day: no forecast yet. 2 days of history, fewer than 14.",
    );
  });
});
