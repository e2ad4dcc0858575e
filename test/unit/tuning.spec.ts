/**
 * Tuning under guardrails, the pure part: which changes the config lets the nightly job apply, the
 * canary's baseline and limit, its verdict, the override in force; and what `/optimize` says about
 * changes (a setting change in config terms, never a source file; shares combined over their
 * counts, never added). Expected figures are computed by hand in the comments.
 */
import assert from "node:assert/strict";
import type { ResolvedEnvironment, TuningConfig } from "../../functions/src/domain/config-schema.js";
import { validateConfig } from "../../functions/src/domain/config.js";
import type { Deployment, Task } from "../../functions/src/domain/engine-model.js";
import {
  canaryFor,
  guardrail,
  judgeCanary,
  overPlan,
  withOverrides,
  type SettingChange,
} from "../../functions/src/domain/learning/tuning.js";
import {
  combineImprovements,
  optimizeRequestSchema,
  recommend,
} from "../../functions/src/domain/optimize.js";
import { configWith } from "../support/config-builder.js";
import { NOW, deployment, history, task } from "../support/history-builder.js";

const TUNING: TuningConfig = {
  auto_apply: ["concurrency"],
  max_change: 0.5,
  canary_deployments: 4,
  canary_margin: 0.2,
};

const change = (before: number, after: number): SettingChange => ({
  setting: "concurrency",
  environment: "dev",
  integration: null,
  path: "environments[name=dev].concurrency",
  before,
  after,
});

/** A finished deployment that took `ratio` x its 60 s plan (history-builder plans every deployment at 60 s). */
const took = (id: string, ratio: number, created = 0): Deployment & { id: string } =>
  deployment(id, "succeeded", { created, duration: 60 * ratio });

describe("tuning: guardrails", () => {
  const cases: [string, TuningConfig, SettingChange, boolean, RegExp][] = [
    [
      "not listed in auto_apply",
      { ...TUNING, auto_apply: [] },
      change(4, 6),
      false,
      /tuning\.auto_apply does not list "concurrency"/,
    ],
    ["4 -> 6 is 50 %, at the bound", TUNING, change(4, 6), true, /within tuning\.max_change 50 %/],
    ["4 -> 8 is 100 %", TUNING, change(4, 8), false, /changes it by 100 %, beyond tuning\.max_change 50 %/],
    ["6 -> 2 is 66.7 %", TUNING, change(6, 2), false, /66\.7 %, beyond/],
    ["6 -> 2 under max_change 1", { ...TUNING, max_change: 1 }, change(6, 2), true, /66\.7 %/],
  ];
  for (const [name, tuning, proposed, automatic, reason] of cases)
    it(name, () => {
      const verdict = guardrail(proposed, tuning);
      assert.equal(verdict.automatic, automatic);
      assert.match(verdict.reason, reason);
    });
});

describe("tuning: the canary", () => {
  it("a deployment's seconds over its plan: finished ones only, plans under a second count as one", () => {
    assert.equal(overPlan(took("a", 1.5)), 1.5);
    assert.equal(overPlan(deployment("r", "running")), null);
    assert.equal(overPlan(deployment("c", "cancelled")), null);
    const instant = { ...took("i", 1), estimated_completion: took("i", 1).created_at, actual_duration: 3 };
    assert.equal(overPlan(instant), 3);
  });

  it("baseline from the deployments before, limit = mean + 2 sd / sqrt(n) + margin x mean", () => {
    // Ratios 1.0, 1.2, 0.8, 1.0: mean 1, sample sd sqrt(0.08 / 3) = 0.1633; 4 watched:
    // 1 + 2 x 0.1633 / 2 + 0.2 x 1 = 1.3633.
    const before = [
      took("a", 1),
      took("b", 1.2, 100),
      took("c", 0.8, 200),
      took("d", 1, 300),
      deployment("e", "running"),
    ];
    const canary = canaryFor(before, TUNING);
    assert.equal(canary.baseline_mean, 1);
    assert.equal(canary.baseline_sd, 0.163);
    assert.equal(canary.baseline_deployments, 4);
    assert.equal(canary.allowed_mean, 1.363);
    assert.equal(canary.deployments_needed, 4);
    assert.match(canary.rule, /reverted if the mean over the next 4 finished deployment\(s\) exceeds 1\.363/);
  });

  it("without three deployments before, the plan itself is the baseline (ratio 1, spread 0.25)", () => {
    // 1 + 2 x 0.25 / sqrt(5) + 0.2 = 1.4236.
    const canary = canaryFor([took("a", 3), took("b", 3)], { ...TUNING, canary_deployments: 5 });
    assert.equal(canary.baseline_mean, 1);
    assert.equal(canary.baseline_deployments, 2);
    assert.equal(canary.allowed_mean, 1.424);
  });

  it("reverts a change whose deployments fail more often, even when they take their plans", () => {
    // 4 baseline deployments, none failed: 4 watched may reach 0 + 2 x sqrt(0.25 x 0.75 / 4) =
    // 0.433 failed (one in four is taken as the least share, so a clean baseline allows one).
    const canary = canaryFor([took("a", 1), took("b", 1, 100), took("c", 1, 200), took("d", 1, 300)], TUNING);
    assert.equal(canary.baseline_failure_share, 0);
    assert.equal(canary.allowed_failure_share, 0.433);
    const failedAt = (id: string, created: number): Deployment & { id: string } =>
      deployment(id, "failed", { created, duration: 60 });
    const one = judgeCanary(canary, [
      failedAt("f0", 1000),
      took("k1", 1, 1001),
      took("k2", 1, 1002),
      took("k3", 1, 1003),
    ]);
    assert.equal(one.decision, "keep");
    const two = judgeCanary(canary, [
      failedAt("f0", 1000),
      failedAt("f1", 1001),
      took("k2", 1, 1002),
      took("k3", 1, 1003),
    ]);
    assert.equal(two.decision, "revert");
    assert.equal("observed_failure_share" in two ? two.observed_failure_share : null, 0.5);
    assert.match(
      two.message,
      /within the 1\.\d+ allowed .*; 2 of them failed or were rolled back \(0\.5\), beyond the 0\.433 allowed \(baseline 0\)/,
    );
  });

  it("watches until enough deployments ended, then keeps or reverts on the first n in order", () => {
    const canary = canaryFor(
      [took("a", 1), took("b", 1.2, 100), took("c", 0.8, 200), took("d", 1, 300)],
      TUNING,
    );
    const watching = judgeCanary(canary, [took("x1", 2, 1000), { ...deployment("x2", "running"), id: "x2" }]);
    assert.equal(watching.decision, "watching");
    assert.deepEqual(watching.watched, ["x1"]);
    // 1.1, 1.3, 1.2, 1.4: mean 1.25 <= 1.363.
    const kept = judgeCanary(
      canary,
      [1.1, 1.3, 1.2, 1.4].map((ratio, i) => took(`k${i}`, ratio, 1000 + i)),
    );
    assert.equal(kept.decision, "keep");
    assert.equal("observed_mean" in kept ? kept.observed_mean : null, 1.25);
    // 1.5, 1.5, 1.5, 1.5 then a fast fifth that comes too late to count: mean 1.5 > 1.363.
    const slow = [1.5, 1.5, 1.5, 1.5, 0.1].map((ratio, i) => took(`s${i}`, ratio, 1000 + i));
    const reverted = judgeCanary(canary, slow.reverse());
    assert.equal(reverted.decision, "revert");
    assert.deepEqual(reverted.watched, ["s0", "s1", "s2", "s3"]);
    assert.match(
      reverted.message,
      /took 1\.5x their plans on average, beyond the 1\.363 allowed \(baseline 1\)/,
    );
  });

  it("an override in force replaces the environment's concurrency, and only its own environment's", () => {
    const env = resolvedEnvironment();
    const override = {
      environment: "dev",
      setting: "concurrency" as const,
      integration: null,
      value: 2,
      action_id: "t1",
      since: NOW,
    };
    assert.deepEqual(withOverrides(env, [override]), { ...env, concurrency: 2 });
    assert.deepEqual(withOverrides(env, [{ ...override, environment: "prod" }]), env);
  });

  it("an override of a task engine setting replaces it for its integration only", () => {
    const env = resolvedEnvironment();
    const override = {
      environment: "dev",
      setting: "max_retries" as const,
      integration: "hosting" as const,
      value: 5,
      action_id: "t2",
      since: NOW,
    };
    const tuned = withOverrides(env, [override]);
    assert.deepEqual(tuned.engine.hosting, { max_retries: 5, retry_base_ms: 2000, lease_seconds: 120 });
    assert.deepEqual(tuned.engine.firestore, { max_retries: 3, retry_base_ms: 2000, lease_seconds: 120 });
    assert.equal(tuned.concurrency, 4);
    // An integration the environment does not declare (any more) gets nothing.
    assert.deepEqual(withOverrides(env, [{ ...override, integration: "cicd" }]), env);
  });
});

describe("tuning: the config", () => {
  it("defaults to nothing automatic, 50 %, 5 deployments, 20 %", () => {
    const loaded = validateConfig(configWith(() => undefined));
    assert.ok(loaded.ok);
    assert.deepEqual(loaded.config.tuning, {
      auto_apply: [],
      max_change: 0.5,
      canary_deployments: 5,
      canary_margin: 0.2,
    });
  });

  it("bad tuning settings are refused naming the field", () => {
    const bad = validateConfig(
      configWith((c) => (c.base.tuning = { auto_apply: ["timeouts"], max_change: -1 })),
    );
    assert.ok(!bad.ok);
    const paths = bad.problems.map((problem) => problem.path).sort();
    assert.deepEqual(paths, ["base.tuning.auto_apply[0]", "base.tuning.max_change"]);
  });
});

describe("tuning: what /optimize proposes", () => {
  const request = optimizeRequestSchema.parse({});

  it("a concurrency change is one config path with two values, applied through the API, never in source", () => {
    const tasks = [0, 0, 0, 0, 10, 10, 10, 10].map((start) => task({ start, duration: 10, limit: 4 }));
    const result = recommend(history([deployment("d1", "succeeded", { tasks })], tasks), request, NOW);
    const raise = result.optimization_plan.find((r) => r.id === "concurrency:raise-limit:dev");
    assert.deepEqual(raise?.change, change(4, 6));
    assert.match(raise?.how ?? "", /^POST \/optimize\/concurrency:raise-limit:dev\/apply/);
    for (const recommendation of result.optimization_plan)
      assert.doesNotMatch(
        `${recommendation.action} ${recommendation.how}`,
        /INTEGRATION_CATALOG|\.ts\b|source code/,
      );
  });

  it("failure shares of integrations with different run counts are combined over the runs, not added", () => {
    // storage: 1 failure in 4 runs (0.25); hosting: 3 in 5 (0.6). Added they would claim 0.85;
    // over the 9 runs concerned the failures fixed are 4 / 9 = 0.4444.
    const tasks: Task[] = [
      ...[0, 0, 0, 1].map((failed, i) =>
        task({
          deployment: `s${i}`,
          integration: "storage",
          status: failed ? "failed" : "succeeded",
          max_retries: 0,
        }),
      ),
      ...[0, 0, 1, 1, 1].map((failed, i) =>
        task({
          deployment: `h${i}`,
          integration: "hosting",
          status: failed ? "failed" : "succeeded",
          max_retries: 0,
        }),
      ),
    ];
    const result = recommend(history([deployment("d1", "succeeded", { tasks })], tasks), request, NOW);
    const flaky = result.optimization_plan.filter((r) => r.id.startsWith("reliability:flaky:"));
    assert.deepEqual(flaky.map((r) => r.expected_improvement.value).sort(), [0.25, 0.6]);
    const total = result.expected_improvements.by_target.reliability.improvements.find(
      (improvement) => improvement.metric === "failure_rate",
    );
    assert.equal(total?.value, 0.4444);
    assert.equal(total?.recommendations, 2);
    assert.match(total?.method ?? "", /over the 9 runs of the 2 recommendation/);
  });

  it("counts add up; per-integration percentiles are not combined at all", () => {
    const reads = { metric: "firestore_reads", unit: "reads", method: "m", additive: true };
    assert.equal(
      combineImprovements([
        { ...reads, value: 36 },
        { ...reads, value: 4 },
      ]).value,
      40,
    );
    const tail = { metric: "p95_duration_seconds", unit: "seconds", method: "p95 - p50" };
    const combined = combineImprovements([
      { ...tail, value: 28 },
      { ...tail, value: 3 },
    ]);
    assert.equal(combined.value, null);
    assert.match(combined.method, /not combined/);
  });
});

/** A resolved dev environment from a config written here (defaults: 3 retries, 2000 ms, 120 s leases). */
function resolvedEnvironment(): ResolvedEnvironment {
  const result = validateConfig({
    version: 1,
    base: { region: "us-central1", concurrency: 4, integrations: {} },
    environments: [
      {
        name: "dev",
        type: "development",
        project_id: "demo-tune-dev",
        mode: "emulated",
        integrations: ["firestore", "hosting"],
      },
    ],
  });
  assert.ok(result.ok, result.ok ? "" : result.problems.map((problem) => problem.message).join("; "));
  return result.config.environments[0]!;
}
