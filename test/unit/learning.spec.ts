/**
 * Learning from history: learned durations and failure probabilities (expectations from the
 * catalog and from the runs written here), the planner using them, the backtest's goal on a
 * seeded history, and anomaly detection on seeded history with planted anomalies.
 */
import assert from "node:assert/strict";
import { validateConfig } from "../../functions/src/domain/config.js";
import { detectAnomalies, durationAnomaly } from "../../functions/src/domain/learning/anomalies.js";
import { backtest } from "../../functions/src/domain/learning/backtest.js";
import { replayConcurrency } from "../../functions/src/domain/learning/replay.js";
import { anyFails, learn } from "../../functions/src/domain/learning/estimates.js";
import { runsFromTasks, type RunRecord } from "../../functions/src/domain/learning/runs.js";
import { planDeployment } from "../../functions/src/domain/planner.js";
import { generateHistory } from "../sim/history-generator.js";
import { exampleConfig } from "../support/config-builder.js";
import { task } from "../support/history-builder.js";

const T0 = Date.UTC(2026, 10, 1);
let sequence = 0;
/** A run of `integration` in `environment`, `index` minutes after T0. */
function run(
  environment: string,
  integration: string,
  seconds: number,
  index: number,
  outcome: RunRecord["outcome"] = "succeeded",
  retries = 0,
): RunRecord {
  sequence += 1;
  return {
    task_id: `t${sequence}`,
    deployment_id: `d${sequence}`,
    environment,
    integration,
    kind: integration.split(":")[0] as RunRecord["kind"],
    finished_at: new Date(T0 + index * 60_000),
    outcome,
    duration_seconds: seconds,
    retries,
  };
}
const many = (count: number, make: (index: number) => RunRecord) =>
  Array.from({ length: count }, (_, i) => make(i));

/** The normal distribution's 0.9 quantile. */
const Z90 = 1.2815515655446004;

describe("learning: durations", () => {
  it("with no runs, the catalog: p50 its figure, p90 from its assumed spread (log sigma 0.5)", () => {
    const estimate = learn([]).duration("dev", "functions");
    assert.equal(estimate.source, "catalog");
    assert.equal(estimate.runs, 0);
    assert.ok(Math.abs(estimate.p50 - 90) < 1e-9); // INTEGRATION_CATALOG.functions.estimatedSeconds
    // simple-statistics' probit is an approximation good to about 1e-3.
    assert.ok(Math.abs(estimate.p90 - 90 * Math.exp(Z90 * 0.5)) < 0.1);
  });

  it("a few runs move the estimate part of the way from the catalog; many runs all the way", () => {
    const one = learn([run("dev", "functions", 30, 0)]).duration("dev", "functions");
    assert.ok(one.p50 > 30 && one.p50 < 90, `one run of 30 s against a catalog of 90 s: ${one.p50}`);
    const five = learn(many(5, (i) => run("dev", "functions", 30, i))).duration("dev", "functions");
    assert.ok(five.p50 < one.p50 && five.p50 > 30, `five runs: ${five.p50}`);
    const sixty = learn(many(60, (i) => run("dev", "functions", 30, i))).duration("dev", "functions");
    assert.ok(Math.abs(sixty.p50 - 30) / 30 < 0.01, `sixty runs of 30 s: ${sixty.p50}`);
    assert.ok(
      sixty.p90 >= sixty.p50 && sixty.p90 < 33,
      `identical runs leave almost no spread: ${sixty.p90}`,
    );
    assert.equal(sixty.runs, 60);
    assert.equal(sixty.source, "learned");
  });

  it("runs that contradict the catalog (emulated: 2 s against 90 s) take over from the second run", () => {
    // 2 s is ln(90/2) = 3.8 log units from the catalog, 7.6 of its spreads: the catalog's part of
    // the prior explains that with odds of about e^-29 against the vague part's, so it stops pulling.
    const two = learn([run("dev", "functions", 2, 0), run("dev", "functions", 2.2, 1)]).duration(
      "dev",
      "functions",
    );
    assert.ok(two.p50 > 1.9 && two.p50 < 2.4, `two runs of about 2 s against a catalog of 90 s: ${two.p50}`);
    const one = learn([run("dev", "functions", 2, 0)]).duration("dev", "functions");
    assert.ok(one.p50 < 2.5, `one run of 2 s: ${one.p50}`);
  });

  it("weighs recent runs more: after 40 runs at 10 s and 40 at 20 s, the estimate is near 20 s", () => {
    const runs = [
      ...many(40, (i) => run("dev", "hosting", 10, i)),
      ...many(40, (i) => run("dev", "hosting", 20, 40 + i)),
    ];
    const estimate = learn(runs).duration("dev", "hosting");
    // Unweighted, the geometric mean would be sqrt(10 x 20) = 14.1 s.
    assert.ok(estimate.p50 > 18 && estimate.p50 <= 20, `p50 ${estimate.p50}`);
  });

  it("an environment without runs borrows its kind's runs elsewhere; a kind without runs, the runs' speed", () => {
    const model = learn(many(40, (i) => run("dev", "functions", 30, i)));
    const prod = model.duration("prod", "functions");
    assert.equal(prod.runs, 0);
    assert.equal(prod.kind_runs, 40);
    assert.ok(Math.abs(prod.p50 - 30) / 30 < 0.05, `prod borrows dev's 30 s: ${prod.p50}`);
    // A kind not run yet: its catalog figure (40 s) scaled by how fast every run was against the
    // catalog. 40 runs at 1/3 of it, weights halving every 100 runs (sum 35.05), against "as the
    // catalog says" worth 3 runs aged to 3 x 0.5^0.4 = 2.27: log factor 35.05 x ln(1/3) / 37.32.
    const hosting = model.duration("prod", "hosting");
    assert.ok(
      Math.abs(hosting.p50 - 40 * Math.exp((35.05 * Math.log(1 / 3)) / 37.32)) < 0.05,
      `${hosting.p50}`,
    );
    assert.equal(hosting.kind_runs, 0);
    assert.equal(hosting.source, "learned");
  });

  it("only successful runs with a duration count for durations", () => {
    const runs = [
      ...many(30, (i) => run("dev", "auth", 5, i)),
      ...many(10, (i) => run("dev", "auth", 500, 30 + i, "failed")),
    ];
    assert.ok(Math.abs(learn(runs).duration("dev", "auth").p50 - 5) < 0.1);
  });
});

describe("learning: failure probabilities", () => {
  it("with no runs, the base prior: 5 %", () => {
    assert.ok(Math.abs(learn([]).failure("dev", "auth").probability - 0.05) < 1e-9);
  });

  it("a key that fails 30 % of the time is predicted near 30 %; one that never fails near 0", () => {
    const flaky = many(100, (i) => run("dev", "backup", 10, i, i % 10 < 3 ? "failed" : "succeeded"));
    const steady = many(100, (i) => run("dev", "auth", 10, i));
    const model = learn([...flaky, ...steady]);
    const backup = model.failure("dev", "backup");
    assert.equal(backup.runs, 100);
    assert.equal(backup.failures, 30);
    assert.ok(backup.probability > 0.2 && backup.probability < 0.35, `backup ${backup.probability}`);
    assert.ok(model.failure("dev", "auth").probability < 0.03);
  });

  it("the chance a deployment fails is that of any of its tasks: 1 - (1 - 0.1)(1 - 0.2) = 0.28", () => {
    assert.ok(Math.abs(anyFails([0.1, 0.2]) - 0.28) < 1e-12);
    assert.equal(anyFails([]), 0);
  });
});

describe("learning: runs from task documents", () => {
  it("keeps finished runs of the real drivers, oldest first; a rolled-back task had succeeded", () => {
    const tasks = [
      task({ id: "late", status: "succeeded", start: 100, duration: 5 }),
      task({ id: "early", status: "failed", start: 0, duration: 7 }),
      task({ id: "undone", status: "rolled_back", start: 50, duration: 3 }),
      task({ id: "skipped", status: "skipped" }),
      task({ id: "running", status: "running" }),
      { ...task({ id: "simulated", status: "succeeded" }), driver: "simulated" as const },
    ];
    const runs = runsFromTasks(tasks);
    assert.deepEqual(
      runs.map((r) => [r.task_id, r.outcome, r.duration_seconds]),
      [
        ["early", "failed", 7],
        ["undone", "succeeded", 3],
        ["late", "succeeded", 5],
      ],
    );
  });
});

describe("learning: the planner uses the learned estimates", () => {
  const config = validateConfig(exampleConfig());
  assert.ok(config.ok);
  const dev = config.config.environments.find((env) => env.name === "dev")!;
  const model = learn([
    ...many(30, (i) => run("dev", "security", 4, i)),
    ...many(30, (i) => run("dev", "firestore", 6, i, i % 5 === 0 ? "failed" : "succeeded")),
  ]);
  const request = (configuration: Record<string, unknown> = {}) => ({
    environment: "dev",
    integrations: ["security", "firestore"],
    configuration,
    requested_by: "test",
  });

  it("task estimates, the timeline and the completion come from history, with the runs behind them", () => {
    const planned = planDeployment("d", request(), dev, new Date(T0), model);
    assert.ok(planned.ok);
    const { plan } = planned;
    const security = plan.estimates.find((e) => e.integration === "security")!;
    assert.equal(security.source, "learned");
    assert.equal(security.runs, 30);
    assert.ok(Math.abs(security.p50_seconds - 4) < 0.1);
    assert.equal(
      plan.tasks.find((t) => t.integration === "security")!.estimated_duration,
      security.p50_seconds,
    );
    // firestore runs after security: the makespan is the sum of the two medians (about 4 + 6 s).
    assert.ok(Math.abs(plan.estimatedSeconds - 10) < 0.3, `makespan ${plan.estimatedSeconds}`);
    assert.ok(plan.estimatedSecondsP90! >= plan.estimatedSeconds);
    const firestore = plan.estimates.find((e) => e.integration === "firestore")!;
    assert.ok(firestore.failure_probability! > security.failure_probability!);
    assert.ok(
      Math.abs(
        plan.failureProbability! - anyFails([firestore.failure_probability!, security.failure_probability!]),
      ) < 1e-12,
    );
  });

  it("without history, or for the simulated driver, the catalog", () => {
    const catalog = planDeployment("d", request(), dev, new Date(T0));
    assert.ok(catalog.ok);
    assert.equal(catalog.plan.estimatedSeconds, 20 + 30); // security then firestore, catalog figures
    assert.equal(catalog.plan.failureProbability, null);
    const simulated = planDeployment("d", request({ driver: "simulated" }), dev, new Date(T0), model);
    assert.ok(simulated.ok);
    assert.equal(simulated.plan.estimatedSeconds, 50);
    assert.ok(simulated.plan.estimates.every((e) => e.source === "catalog"));
  });
});

describe("learning: backtest on a seeded history", () => {
  it("halves the deployment duration error of the static catalog, and beats the base rate at failures", () => {
    const history = generateHistory({ seed: 1, days: 60, deploymentsPerDay: 8 });
    const report = backtest(history.deployments, history.environments);
    assert.equal(report.deployments, 480);
    const { deployment_duration: deployments, task_duration: tasks } = report;
    assert.ok(deployments.count > 300);
    assert.ok(
      deployments.catalog.mae >= 2 * deployments.learned.mae,
      `deployment MAE learned ${deployments.learned.mae} vs catalog ${deployments.catalog.mae}`,
    );
    assert.ok(tasks.catalog.mae >= 2 * tasks.learned.mae);
    assert.ok(deployments.learned.p90_error < deployments.catalog.p90_error);
    // The task p90 is a p90: about nine actual durations in ten at or below it.
    assert.ok(tasks.learned.p90_coverage! > 0.85 && tasks.learned.p90_coverage! < 0.95);
    assert.ok(report.task_failure.brier_learned < report.task_failure.brier_base_rate);
    assert.ok(report.deployment_failure.brier_learned < report.deployment_failure.brier_base_rate);
  });

  it("predicts from the past only: a lone deployment is predicted from the catalog", () => {
    const history = generateHistory({ seed: 2, days: 1, deploymentsPerDay: 1 });
    const report = backtest(history.deployments.slice(0, 1), history.environments);
    assert.equal(report.runs_learned_from, 0);
    const { learned, catalog } = report.deployment_duration;
    assert.equal(learned.mae, catalog.mae);
    const succeeded = history.deployments.slice(0, 1).filter((d) => d.status === "succeeded");
    assert.equal(report.deployment_predictions.length, succeeded.length);
    for (const row of report.deployment_predictions) {
      assert.equal(row.runs_learned_from, 0);
      assert.equal(row.learned_seconds, row.catalog_seconds);
      assert.equal(row.actual_seconds, succeeded[0]!.actual_seconds);
    }
  });
});

describe("learning: anomalies", () => {
  it("a run far slower than its integration's last runs is an anomaly, with the evidence", () => {
    const earlier = many(30, (i) => run("prod", "functions", 60 + (i % 7), i));
    assert.equal(durationAnomaly(earlier, run("prod", "functions", 64, 31)), null);
    const slow = durationAnomaly(earlier, run("prod", "functions", 600, 31));
    assert.ok(slow);
    assert.equal(slow.metric, "duration");
    assert.equal(slow.runs, 30);
    assert.equal(slow.observed, 600);
    assert.ok(slow.expected.typical >= 60 && slow.expected.typical <= 66);
    assert.ok(slow.expected.high < 600 && slow.expected.high > 66);
    assert.match(slow.message, /functions in prod took 600 s/);
    // Too few runs to know what normal is: nothing is judged.
    assert.equal(durationAnomaly(earlier.slice(0, 5), run("prod", "functions", 600, 31)), null);
    // A retried run's time includes backoff: not judged.
    assert.equal(durationAnomaly(earlier, run("prod", "functions", 600, 31, "succeeded", 2)), null);
  });

  it("a burst of failures is one incident, reported when it starts", () => {
    const normal = many(100, (i) => run("dev", "backup", 10, i, i % 50 === 7 ? "failed" : "succeeded"));
    const burst = many(8, (i) => run("dev", "backup", 10, 100 + i, "failed"));
    const found = detectAnomalies([], [...normal, ...burst]);
    assert.equal(found.length, 1);
    assert.equal(found[0]!.metric, "failure_rate");
    assert.ok(burst.some((r) => r.task_id === found[0]!.task_id));
    assert.ok(found[0]!.expected.high < found[0]!.observed);
  });

  it("on seeded histories, every planted anomaly is found and at most 1 false alarm per 1,000 normal runs", () => {
    let runs = 0;
    let falseAlarms = 0;
    let planted = 0;
    for (const seed of [1, 2, 3]) {
      const history = generateHistory({
        seed,
        days: 60,
        deploymentsPerDay: 8,
        slowAnomalyRate: 0.005,
        failureBurstRuns: 10,
        regimeShift: false,
      });
      const all = runsFromTasks(history.deployments.flatMap((d) => d.tasks));
      const found = detectAnomalies([], all);
      const plantedIds = new Set(history.anomalies.flatMap((a) => a.task_ids));
      for (const anomaly of history.anomalies)
        assert.ok(
          found.some((f) => anomaly.task_ids.includes(f.task_id)),
          `seed ${seed}: planted ${anomaly.kind} of ${anomaly.environment}/${anomaly.integration} (${anomaly.task_id}) not found`,
        );
      planted += history.anomalies.length;
      runs += all.length - plantedIds.size;
      falseAlarms += found.filter((f) => !plantedIds.has(f.task_id)).length;
    }
    assert.ok(planted >= 20, `${planted} anomalies planted`);
    assert.ok(falseAlarms <= runs / 1000, `${falseAlarms} false alarms over ${runs} normal runs`);
  });
});

describe("learning: replaying deployments under another concurrency limit", () => {
  // Sixty runs of 10 s: the learned distribution is 10 s with almost no spread.
  const model = learn(many(60, (i) => run("dev", "security", 10, i)));
  const independent = (count: number, deploymentId = "d1") =>
    Array.from({ length: count }, (_, i) =>
      task({ id: `${deploymentId}-t${i}`, deployment: deploymentId, integration: "security" }),
    );

  it("four independent 10 s tasks: one slot takes 40 s, four take 10 s", () => {
    const replay = replayConcurrency(independent(4), model, 1, 4, { samples: 50 });
    assert.ok(replay);
    assert.equal(replay.deployments, 1);
    assert.ok(Math.abs(replay.old_mean_seconds - 40) < 1, `old ${replay.old_mean_seconds}`);
    assert.ok(Math.abs(replay.new_mean_seconds - 10) < 0.5, `new ${replay.new_mean_seconds}`);
    assert.ok(Math.abs(replay.change_mean_seconds + 30) < 1);
    assert.ok(replay.change_p05_seconds <= replay.change_mean_seconds);
    assert.ok(replay.change_p95_seconds >= replay.change_mean_seconds);
  });

  it("eight tasks: 4 -> 6 slots still takes two waves (little gained), 4 -> 8 takes one", () => {
    const six = replayConcurrency(independent(8), model, 4, 6, { samples: 50 })!;
    assert.ok(Math.abs(six.old_mean_seconds - 20) < 1);
    assert.ok(
      six.change_mean_seconds <= 0 && six.change_mean_seconds > -2,
      `4 -> 6: ${six.change_mean_seconds}`,
    );
    const eight = replayConcurrency(independent(8), model, 4, 8, { samples: 50 })!;
    assert.ok(Math.abs(eight.change_mean_seconds + 10) < 1, `4 -> 8: ${eight.change_mean_seconds}`);
  });

  it("dependencies are kept: a chain gains nothing from more slots", () => {
    const chain = independent(3).map((t, i, all) => ({
      ...t,
      dependencies: i === 0 ? [] : [all[i - 1]!.id],
    }));
    const replay = replayConcurrency(chain, model, 1, 3, { samples: 20 })!;
    assert.ok(Math.abs(replay.old_mean_seconds - 30) < 1);
    assert.ok(Math.abs(replay.change_mean_seconds) < 1e-9);
    assert.equal(replayConcurrency([], model, 1, 3), null);
  });
});
