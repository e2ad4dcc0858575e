import assert from "node:assert/strict";
import type { Deployment, Task } from "../../functions/src/domain/engine-model.js";
import {
  analyze,
  distribution,
  emptyHistory,
  parseOptimizeRequest,
  peakOverlap,
  percentile,
  recommend,
  type OptimizeRequest,
} from "../../functions/src/domain/optimize.js";
import { NOW, RANGE, deployment, history, task } from "../support/history-builder.js";

function request(body: unknown = {}): OptimizeRequest {
  const parsed = parseOptimizeRequest(body);
  assert.ok(parsed.ok, parsed.ok ? "" : parsed.problems.map((p) => p.message).join("; "));
  return parsed.request;
}

describe("optimize: statistics", () => {
  it("percentiles are nearest-rank, means exact", () => {
    assert.equal(percentile([5, 1, 3, 2, 4], 50), 3);
    assert.equal(percentile([5, 1, 3, 2, 4], 95), 5);
    const twelve = Array.from({ length: 12 }, (_, i) => i + 1);
    assert.equal(percentile(twelve, 50), 6);
    assert.equal(percentile(twelve, 95), 12);
    assert.equal(percentile([], 50), null);
    assert.deepEqual(distribution([10, 12, 11, 40, 13]), { count: 5, mean: 17.2, p50: 12, p95: 40, max: 40 });
    assert.deepEqual(distribution([]), { count: 0, mean: null, p50: null, p95: null, max: null });
  });

  it("overlap: an interval ending when another starts does not overlap it", () => {
    assert.equal(peakOverlap([]), 0);
    assert.equal(
      peakOverlap([
        { start: 0, end: 10 },
        { start: 5, end: 15 },
        { start: 10, end: 20 },
      ]),
      2,
    );
    assert.equal(
      peakOverlap([
        { start: 0, end: 10 },
        { start: 1, end: 9 },
        { start: 2, end: 8 },
      ]),
      3,
    );
  });

  it("per integration: runs, flakiness, retry rate, durations and estimate error", () => {
    const tasks = [
      task({ integration: "hosting", duration: 10 }),
      task({ integration: "hosting", duration: 30, retries: 2 }),
      task({ integration: "hosting", duration: 50, status: "failed", retries: 3 }),
      task({ integration: "hosting", status: "rolled_back", duration: 20 }),
      task({ integration: "hosting", status: "skipped" }),
    ];
    const [stats] = analyze(history([deployment("d1", "failed", { tasks })], tasks), NOW).integrations;
    assert.ok(stats);
    assert.equal(stats.tasks, 5);
    assert.equal(stats.runs, 4);
    assert.equal(stats.succeeded, 3);
    assert.equal(stats.failed, 1);
    assert.equal(stats.failed_after_all_retries, 1);
    assert.equal(stats.retried_runs, 2);
    assert.equal(stats.recovered_runs, 1);
    assert.equal(stats.retries, 5);
    assert.equal(stats.attempts, 9);
    assert.equal(stats.flaky_rate, 0.5);
    assert.equal(stats.retry_rate, 1.25);
    assert.equal(stats.failure_rate, 0.25);
    // Durations of successful runs only: 10, 30, 20.
    assert.deepEqual(stats.duration, { count: 3, mean: 20, p50: 20, p95: 30, max: 30 });
    assert.equal(stats.estimated_duration, 20);
    assert.equal(stats.estimate_error, 0);
    assert.equal(stats.last_error, "boom");
  });

  it("per environment: success rate, peak concurrency from overlaps, queue wait from dependencies", () => {
    const a = task({ id: "a", start: 0, duration: 10 });
    const b = task({ id: "b", start: 5, duration: 10 });
    // c waits for a (done at 10) and starts at 14: 4 s of queueing.
    const c = task({ id: "c", start: 14, duration: 5, deps: ["a"] });
    // d is still running at NOW: it overlaps nothing else here.
    const d = task({ id: "d", created: 100, start: 100, status: "running", deployment: "d4" });
    const env = analyze(
      history(
        [
          deployment("d1", "succeeded", { tasks: [a, b, c], duration: 20 }),
          deployment("d2", "failed", { duration: 40 }),
          deployment("d3", "cancelled", { duration: 5 }),
          deployment("d4", "running", { tasks: [d] }),
        ],
        [a, b, c, d],
      ),
      NOW,
    ).environments[0];
    assert.ok(env);
    assert.equal(env.deployments, 4);
    assert.deepEqual(env.deployments_by_status, { succeeded: 1, failed: 1, cancelled: 1, running: 1 });
    assert.equal(env.success_rate, 0.5);
    assert.equal(env.failed_deployments, 1);
    assert.deepEqual(env.deployment_duration, { count: 3, mean: 21.667, p50: 20, p95: 40, max: 40 });
    assert.equal(env.concurrency_limit, 4);
    assert.equal(env.peak_concurrency, 2);
    assert.equal(env.headroom, 2);
    assert.deepEqual(env.queue_wait, { count: 4, mean: 2.25, p50: 0, p95: 5, max: 5 });
  });
});

describe("optimize: recommendations", () => {
  it("duration: the slow tail and a wrong estimate, each with its numbers; nothing below 3 runs", () => {
    const tasks = [
      ...[10, 12, 11, 40, 13].map((duration) => task({ integration: "functions", duration, estimate: 30 })),
      // Slower, but only two runs: no recommendation.
      task({ integration: "auth", duration: 100 }),
      task({ integration: "auth", duration: 200 }),
    ];
    const result = recommend(
      history([deployment("d1", "succeeded", { tasks })], tasks),
      request({ optimization_targets: ["duration"] }),
      NOW,
    );
    assert.deepEqual(
      result.optimization_plan.map((r) => r.id),
      ["duration:slow-tail:dev:functions", "duration:estimate:dev:functions"],
    );
    const [tail, estimate] = result.optimization_plan;
    assert.equal(tail?.action, "investigate slowest task functions in dev (p95 40 s, p50 12 s over 5 runs)");
    assert.deepEqual(
      { ...tail?.evidence, rule: undefined },
      {
        metric: "p95_duration_seconds",
        value: 40,
        unit: "seconds",
        sample_size: 5,
        min_sample_size: 3,
        threshold: 1,
        rule: undefined,
        related: { p50: 12, mean: 17.2, max: 40, tail_seconds: 28 },
      },
    );
    assert.equal(tail?.expected_improvement.value, 28);
    assert.equal(tail?.expected_improvement.unit, "seconds");
    assert.equal(estimate?.evidence.value, -0.6);
    assert.equal(estimate?.expected_improvement.value, 18);
    assert.match(estimate?.action ?? "", /from 30 s to 12 s/);
    assert.deepEqual(result.expected_improvements.by_target.duration.recommendations, 2);
    assert.deepEqual(result.expected_improvements.by_target.reliability, {
      recommendations: 0,
      improvements: [],
    });
  });

  it("reliability: more retries and a longer backoff, replayed, when failures ran out of retries that recover", () => {
    const tasks = [
      task({ integration: "hosting" }),
      task({ integration: "hosting" }),
      task({ integration: "hosting", retries: 2 }),
      task({ integration: "hosting", status: "failed", retries: 3 }),
      task({ integration: "hosting", status: "failed", retries: 3, error: "attempt 4 of 4: timeout" }),
    ];
    const result = recommend(
      history([deployment("d1", "succeeded", { tasks })], tasks),
      request({ optimization_targets: ["reliability"] }),
      NOW,
    );
    assert.deepEqual(
      result.optimization_plan.map((r) => r.id),
      [
        "reliability:flaky:dev:hosting",
        "reliability:max-retries:dev:hosting",
        "reliability:retry-backoff:dev:hosting",
      ],
    );
    const [, retries, backoff] = result.optimization_plan;
    // The candidates are 1-5 retries; 5 waits 36 s beyond the 10.5 s the failed runs had, and the
    // fitted tail (1 recovery per 24 s waited) recovers a failed run within it with 1 - e^-1.5.
    assert.deepEqual(retries?.change, {
      setting: "max_retries",
      environment: "dev",
      integration: "hosting",
      path: "environments[name=dev].engine.hosting.max_retries",
      before: 3,
      after: 5,
    });
    assert.match(retries?.how ?? "", /^POST \/optimize\/reliability:max-retries:dev:hosting\/apply/);
    assert.equal(retries?.expected_improvement.metric, "failure_rate");
    const expectedGain = 0.4 * (1 - Math.exp(-1.5));
    assert.ok(
      Math.abs((retries?.expected_improvement.value ?? 0) - expectedGain) < 0.08,
      `failure share saved ${retries?.expected_improvement.value}, expected about ${expectedGain}`,
    );
    assert.equal(retries?.evidence.related.failed_after_all_retries, 2);
    assert.equal(retries?.evidence.related.recovered, 1);
    // 4x the base (8000 ms) waits 6 + 12 + 24 = 42 s over 3 retries: 1 - e^(-31.5/24) recovered.
    assert.equal(backoff?.change?.setting, "retry_base_ms");
    assert.equal(backoff?.change?.after, 8000);
    assert.ok(Math.abs((backoff?.expected_improvement.value ?? 0) - 0.4 * (1 - Math.exp(-31.5 / 24))) < 0.08);
    const simulated = retries?.expected_improvement.simulated;
    assert.ok(simulated && "old_max_retries" in simulated);
    assert.equal(simulated.old_max_retries, 3);
    assert.equal(simulated.new_max_retries, 5);
    assert.equal(result.timeline[1]?.phase, "now");
  });

  it("duration: fewer retries for an integration whose retries never recovered anything", () => {
    const tasks = [1, 2, 3, 4, 5, 6].map((n) =>
      task({
        deployment: `d${n}`,
        created: n * 100,
        integration: "hosting",
        ...(n % 2 === 0 ? { status: "failed" as const, retries: 3 } : {}),
      }),
    );
    const result = recommend(
      history(
        [1, 2, 3, 4, 5, 6].map((n) =>
          deployment(`d${n}`, n % 2 === 0 ? "failed" : "succeeded", {
            created: n * 100,
            tasks: tasks.filter((t) => t.deployment_id === `d${n}`),
          }),
        ),
        tasks,
      ),
      request({ optimization_targets: ["duration"] }),
      NOW,
    );
    const fewer = result.optimization_plan.find((r) => r.id === "duration:max-retries:dev:hosting");
    // Half the runs fail after 3 retries and none ever recovered: 1 retry (the fewest proposed)
    // fails the same runs 2 attempts of 10 s and 9 s of backoff sooner: 29 s x 1/2 per deployment.
    assert.equal(fewer?.change?.after, 1);
    assert.equal(fewer?.expected_improvement.metric, "seconds_per_deployment");
    assert.ok(
      Math.abs((fewer?.expected_improvement.value ?? 0) - 14.5) < 4,
      `${fewer?.expected_improvement.value}`,
    );
    const simulated = fewer?.expected_improvement.simulated;
    assert.ok(simulated && "old_run_failure_share" in simulated);
    assert.equal(simulated.new_run_failure_share, simulated.old_run_failure_share);
    assert.equal(
      result.optimization_plan.some((r) => r.id.startsWith("reliability:")),
      false,
      "targets other than duration are left out",
    );
  });

  it("reliability: investigate a flaky integration that retries would not help, and failing deployments", () => {
    const storage = [
      task({ deployment: "d1", integration: "storage" }),
      task({ deployment: "d2", integration: "storage" }),
      task({ deployment: "d3", integration: "storage" }),
      task({
        deployment: "d4",
        integration: "storage",
        status: "failed",
        max_retries: 0,
        error: "bucket refused",
      }),
    ];
    const deployments = [
      deployment("d1", "succeeded", { tasks: [storage[0]!] }),
      deployment("d2", "succeeded", { tasks: [storage[1]!] }),
      deployment("d3", "rolled_back", { tasks: [storage[2]!] }),
      deployment("d4", "failed", { tasks: [storage[3]!] }),
    ];
    const result = recommend(
      history(deployments, storage),
      request({ optimization_targets: ["reliability"] }),
      NOW,
    );
    assert.deepEqual(
      result.optimization_plan.map((r) => r.id),
      ["reliability:flaky:dev:storage", "reliability:deployments:dev"],
    );
    const [flaky, deploys] = result.optimization_plan;
    assert.equal(
      flaky?.action,
      "investigate flaky storage in dev: 1 of 4 runs failed and 0 needed retries (25%); last error: bucket refused",
    );
    assert.equal(flaky?.expected_improvement.value, 0.25);
    assert.equal(deploys?.evidence.value, 0.5);
    assert.equal(deploys?.evidence.sample_size, 4);
    assert.equal(deploys?.integration, "storage");
    assert.equal(deploys?.expected_improvement.value, 0.25);
    assert.deepEqual(
      result.timeline.map((step) => [step.step, step.phase, step.recommendation_id]),
      [
        [1, "investigation", "reliability:flaky:dev:storage"],
        [2, "investigation", "reliability:deployments:dev"],
      ],
    );
  });

  it("reliability: below 3 runs nothing is recommended, however bad", () => {
    const tasks = [task({ status: "failed" }), task({ status: "failed" })];
    const deployments = [
      deployment("d1", "failed", { tasks: [tasks[0]!] }),
      deployment("d2", "failed", { tasks: [tasks[1]!] }),
    ];
    const result = recommend(history(deployments, tasks), request(), NOW);
    assert.deepEqual(result.optimization_plan, []);
    assert.match(result.notes[0] ?? "", /^no recommendation: 0 of 1 integration\(s\) have at least 3 runs/);
  });

  const saturated = () => {
    // 8 tasks on a limit of 4: four start at 0, four wait 10 s for a slot.
    const tasks = [0, 0, 0, 0, 10, 10, 10, 10].map((start) => task({ start, duration: 10, limit: 4 }));
    return history([deployment("d1", "succeeded", { tasks })], tasks);
  };

  it("concurrency: raise the limit when it is reached and tasks queue", () => {
    const result = recommend(saturated(), request({ optimization_targets: ["concurrency"] }), NOW);
    assert.deepEqual(
      result.optimization_plan.map((r) => r.id),
      ["concurrency:raise-limit:dev"],
    );
    const [rec] = result.optimization_plan;
    assert.equal(
      rec?.action,
      "raise concurrency of dev from 4 to 6: it peaked at 4 running tasks and tasks waited p95 10 s for a slot",
    );
    assert.equal(rec?.evidence.value, 10);
    assert.equal(rec?.evidence.sample_size, 8);
    assert.deepEqual(rec?.evidence.related, {
      concurrency_limit: 4,
      peak_concurrency: 4,
      headroom: 0,
      queue_wait_p50: 0,
      max_concurrency_constraint: null,
    });
    assert.equal(rec?.expected_improvement.value, 3.333);
    // Replayed with learned durations: 8 tasks of about 10 s take two waves under 4 slots and
    // still two under 6, so the simulated gain is small, and never a loss.
    const simulated = rec?.expected_improvement.simulated;
    assert.ok(simulated && "old_limit" in simulated);
    assert.equal(simulated.old_limit, 4);
    assert.equal(simulated.new_limit, 6);
    assert.ok(simulated.change_mean_seconds <= 0);
    assert.ok(simulated.change_mean_seconds > -0.25 * simulated.old_mean_seconds);
  });

  it("concurrency: max_concurrency caps the raise, and at the cap there is a note instead", () => {
    const capped = recommend(
      saturated(),
      request({ optimization_targets: ["concurrency"], constraints: { max_concurrency: 5 } }),
      NOW,
    );
    assert.match(capped.optimization_plan[0]?.action ?? "", /from 4 to 5/);
    assert.equal(capped.optimization_plan[0]?.expected_improvement.value, 2);
    const blocked = recommend(
      saturated(),
      request({ optimization_targets: ["concurrency"], constraints: { max_concurrency: 4 } }),
      NOW,
    );
    assert.deepEqual(blocked.optimization_plan, []);
    assert.ok(
      blocked.notes.some((note) => note.includes("max_concurrency 4 leaves no room")),
      blocked.notes.join("\n"),
    );
  });

  it("cost: lower an idle limit after 3 deployments, counting the slot reads saved; not after 2", () => {
    const build = (count: number) => {
      const tasks: Task[] = [];
      const deployments: Deployment[] = [];
      for (let i = 0; i < count; i += 1) {
        const own = [
          task({ env: "staging", deployment: `s${i}`, limit: 6, start: i * 100, duration: 10 }),
          task({
            env: "staging",
            deployment: `s${i}`,
            limit: 6,
            start: i * 100 + 10,
            duration: 10,
            retries: 1,
          }),
        ];
        tasks.push(...own);
        deployments.push(deployment(`s${i}`, "succeeded", { env: "staging", created: i * 100, tasks: own }));
      }
      return history(deployments, tasks);
    };
    const result = recommend(build(3), request({ optimization_targets: ["cost"] }), NOW);
    assert.deepEqual(
      result.optimization_plan.map((r) => r.id),
      ["cost:lower-limit:staging"],
    );
    const [rec] = result.optimization_plan;
    assert.equal(
      rec?.action,
      "lower concurrency of staging from 6 to 2: at most 1 tasks ran at once over 3 deployments",
    );
    assert.equal(rec?.evidence.value, 5);
    // 3 deployments x (1 + 2) attempts = 9 claims, each reading 4 fewer slot documents.
    assert.equal(rec?.expected_improvement.value, 36);
    assert.deepEqual(
      recommend(build(2), request({ optimization_targets: ["cost"] }), NOW).optimization_plan,
      [],
    );
  });

  it("constraints.environments limits the analysis", () => {
    const tasks = [0, 0, 0, 0, 10, 10, 10, 10].map((start) => task({ start, duration: 10, limit: 4 }));
    const h = history([deployment("d1", "succeeded", { tasks })], tasks);
    const result = recommend(h, request({ constraints: { environments: ["prod"] } }), NOW);
    assert.deepEqual(result.optimization_plan, []);
    assert.deepEqual(result.analyzed.environments, []);
    assert.match(
      result.notes[0] ?? "",
      /^no deployments in 2026-11-01T00:00:00.000Z\/2026-11-25T00:00:00.000Z for prod/,
    );
  });

  it("an empty history gives an empty plan, a note and no invented numbers", () => {
    const result = recommend(emptyHistory(RANGE), request(), NOW);
    assert.deepEqual(result.optimization_plan, []);
    assert.deepEqual(result.timeline, []);
    assert.deepEqual(result.expected_improvements.baseline, {
      deployments: 0,
      deployment_success_rate: null,
      task_runs: 0,
      task_failure_rate: null,
      retries_per_run: null,
      task_duration: { count: 0, mean: null, p50: null, p95: null, max: null },
    });
    for (const target of ["duration", "reliability", "cost", "concurrency"] as const)
      assert.deepEqual(result.expected_improvements.by_target[target], {
        recommendations: 0,
        improvements: [],
      });
    assert.equal(
      result.notes[0],
      "no deployments in 2026-11-01T00:00:00.000Z/2026-11-25T00:00:00.000Z: nothing to recommend. A recommendation needs at least 3 runs of an integration or 3 deployments of an environment",
    );
  });

  it("a truncated history says so", () => {
    const result = recommend(
      { ...emptyHistory(RANGE), truncated: true, limits: { deployments: 5000, alerts: 5000 } },
      request(),
      NOW,
    );
    assert.ok(
      result.notes.some((note) => note.startsWith("the history was cut at the newest 5000 deployments")),
    );
    assert.equal(result.analyzed.truncated, true);
  });
});

describe("optimize: the request", () => {
  it("defaults to every target and no constraints", () => {
    assert.deepEqual(request({}), {
      optimization_targets: ["duration", "reliability", "cost", "concurrency"],
      constraints: {},
    });
    assert.deepEqual(request(undefined).optimization_targets.length, 4);
  });

  const bad: [string, unknown, string][] = [
    [
      "unknown target",
      { optimization_targets: ["speed"] },
      'optimization_targets[0]: found string "speed"; allowed: one of "duration", "reliability", "cost", "concurrency"',
    ],
    [
      "no targets",
      { optimization_targets: [] },
      "optimization_targets: found an array of 0; allowed: at least 1 item(s)",
    ],
    [
      "targets not an array",
      { optimization_targets: "duration" },
      'optimization_targets: found string "duration"; allowed: an array',
    ],
    [
      "max_concurrency 0",
      { constraints: { max_concurrency: 0 } },
      "constraints.max_concurrency: found number 0; allowed: at least 1",
    ],
    [
      "max_concurrency 101",
      { constraints: { max_concurrency: 101 } },
      "constraints.max_concurrency: found number 101; allowed: at most 100",
    ],
    [
      "max_concurrency 2.5",
      { constraints: { max_concurrency: 2.5 } },
      "constraints.max_concurrency: found number 2.5; allowed: an integer",
    ],
    [
      "empty environment name",
      { constraints: { environments: [""] } },
      'constraints.environments[0]: found string ""; allowed: at least 1 character(s)',
    ],
    [
      "no environments",
      { constraints: { environments: [] } },
      "constraints.environments: found an array of 0; allowed: at least 1 item(s)",
    ],
    [
      "unknown constraint",
      { constraints: { budget: 10 } },
      'constraints.budget: found unknown key "budget"; allowed: the keys max_concurrency, environments',
    ],
    [
      "unknown top-level key",
      { targets: ["cost"] },
      'targets: found unknown key "targets"; allowed: the keys optimization_targets, constraints',
    ],
    [
      "constraints not an object",
      { constraints: [] },
      "constraints: found an array of 0; allowed: an object",
    ],
    ["body not an object", [], "$: found an array of 0; allowed: an object"],
  ];
  for (const [name, body, message] of bad) {
    it(`refuses ${name}, naming the field`, () => {
      const parsed = parseOptimizeRequest(body);
      assert.ok(!parsed.ok, "expected problems");
      assert.deepEqual(
        parsed.problems.map((p) => p.message),
        [message],
      );
    });
  }
});
