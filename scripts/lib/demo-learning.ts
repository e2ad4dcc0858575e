/**
 * The demo's learning step: a prediction before a deploy (learned from the runs the demo has made
 * so far, with the runs each estimate rests on and the integration most likely to fail) and the
 * outcome after it; then the backtest's headline and an anomaly caught, on the seeded history
 * `npm run backtest` replays (test/sim/history-generator.ts), with the alert it opens; a health
 * check's latency anomaly; retries, backoff and leases tuned by replaying a seeded history with an
 * integration whose retries never recover; and a tuning action applied under the guardrails then
 * reverted by its canary on a seeded regression (the same functions `POST /optimize/{id}/apply` and the canary run).
 */
import {
  anomalyAlert,
  detectAnomalies,
  latencyAlert,
  latencyAnomaly,
} from "../../functions/src/domain/learning/anomalies.js";
import { deploymentDocSchema, type Deployment } from "../../functions/src/domain/engine-model.js";
import { canaryFor, guardrail, judgeCanary } from "../../functions/src/domain/learning/tuning.js";
import { backtest } from "../../functions/src/domain/learning/backtest.js";
import type { Firestore } from "firebase-admin/firestore";
import type { ResolvedEnvironment } from "../../functions/src/domain/config-schema.js";
import { loadReplayHistory } from "../../functions/src/store/replay-history.js";
import { runsFromTasks } from "../../functions/src/domain/learning/runs.js";
import { optimizeRequestSchema, recommend } from "../../functions/src/domain/optimize.js";
import { asOptimizeHistory, generateHistory } from "../../test/sim/history-generator.js";

type Call = (
  method: string,
  path: string,
  body?: unknown,
) => Promise<{ status: number; body: Record<string, unknown> }>;
type Deploy = (
  title: string,
  request: Record<string, unknown>,
) => Promise<{ deployment: { status: string; actual_duration: number | null } }>;

interface PlannedTimeline {
  estimated_seconds: number;
  estimated_seconds_p90: number | null;
  failure_probability: number | null;
  most_likely_to_fail: { integration: string; failure_probability: number; runs: number }[];
  tasks: {
    integration: string;
    estimate: {
      source: string;
      p50_seconds: number;
      p90_seconds: number | null;
      runs: number;
      catalog_seconds: number;
    } | null;
  }[];
}

const INTEGRATIONS = ["security", "auth", "firestore", "storage"];
const seconds = (value: number | null | undefined) => (value == null ? "-" : `${value.toFixed(1)} s`);
const percent = (value: number | null | undefined) => (value == null ? "-" : `${(value * 100).toFixed(1)} %`);

/** Runs the step; true when the prediction was learned, the deploy succeeded and the anomaly was caught. */
export async function demoLearning(
  call: Call,
  heading: (text: string) => void,
  deploy: Deploy,
): Promise<boolean> {
  heading("Learning from history: a prediction before a deploy, and the outcome after");
  const planned = await call("POST", "/plan", { environments: ["dev"], integrations: INTEGRATIONS });
  const timeline = (planned.body.timeline as PlannedTimeline[] | undefined)?.[0];
  if (planned.status !== 200 || !timeline) {
    console.log(`POST /plan -> ${planned.status} ${JSON.stringify(planned.body).slice(0, 300)}`);
    return false;
  }
  console.log(`POST /plan {environments: [dev], integrations: ${INTEGRATIONS.join(", ")}} -> 200`);
  for (const { integration, estimate } of timeline.tasks)
    console.log(
      `  ${integration.padEnd(10)} ${estimate?.source ?? "-"}: p50 ${seconds(estimate?.p50_seconds)}, p90 ${seconds(estimate?.p90_seconds)} from ${estimate?.runs ?? 0} run(s) in dev (catalog ${seconds(estimate?.catalog_seconds)})`,
    );
  const catalogSum = timeline.tasks.reduce((total, t) => total + (t.estimate?.catalog_seconds ?? 0), 0);
  const likeliest = timeline.most_likely_to_fail[0];
  console.log(
    `  predicted: ${seconds(timeline.estimated_seconds)} (p90 ${seconds(timeline.estimated_seconds_p90)}), chance of a failure ${percent(timeline.failure_probability)}; most likely to fail: ${likeliest ? `${likeliest.integration} (${percent(likeliest.failure_probability)} over ${likeliest.runs} runs)` : "-"}; the catalog's figures for these tasks sum to ${seconds(catalogSum)}`,
  );
  const learned = timeline.tasks.every((t) => t.estimate?.source === "learned");
  const deployed = await deploy("Deploy what was just predicted (real drivers)", {
    environment: "dev",
    integrations: INTEGRATIONS,
  });
  const actual = deployed.deployment.actual_duration;
  console.log(
    `  outcome: ${deployed.deployment.status} in ${seconds(actual)}; predicted ${seconds(timeline.estimated_seconds)}, off by ${actual === null ? "-" : seconds(Math.abs(actual - timeline.estimated_seconds))}`,
  );

  heading("Backtest and anomalies on a seeded history (npm run backtest; test/sim/history-generator.ts)");
  const history = generateHistory({ seed: 1, days: 60, deploymentsPerDay: 8 });
  const report = backtest(history.deployments, history.environments);
  const duration = report.deployment_duration;
  console.log(
    `  ${report.deployments} deployments replayed in time order: deployment duration MAE learned ${seconds(duration.learned.mae)} vs catalog ${seconds(duration.catalog.mae)} (${duration.mae_ratio.toFixed(2)}x less); failures: Brier ${report.task_failure.brier_learned.toFixed(4)} vs base rate ${report.task_failure.brier_base_rate.toFixed(4)}`,
  );
  const watched = generateHistory({
    seed: 1,
    days: 30,
    deploymentsPerDay: 8,
    slowAnomalyRate: 0.005,
    regimeShift: false,
  });
  const runs = runsFromTasks(watched.deployments.flatMap((d) => d.tasks));
  const found = detectAnomalies([], runs);
  const planted = watched.anomalies;
  const caught = planted.filter((a) => found.some((f) => a.task_ids.includes(f.task_id)));
  console.log(
    `  ${runs.length} seeded runs with ${planted.length} slow run(s) planted: ${caught.length} caught, ${found.length - caught.length} false alarm(s)`,
  );
  const first = found.find((f) => planted.some((a) => a.task_ids.includes(f.task_id)));
  if (first) {
    const { id, alert } = anomalyAlert(first, new Date());
    console.log(`  the alert it opens: alerts/${id} (${alert.level}, source ${alert.source})`);
    console.log(`    ${alert.message}`);
    console.log(`    evidence: ${JSON.stringify(alert.evidence)}`);
  }
  const engineTuned = demoEngineSettings();
  const tuned = demoTuning();
  const latencyCaught = demoLatency();
  const ok =
    tuned &&
    engineTuned &&
    latencyCaught &&
    learned &&
    deployed.deployment.status === "succeeded" &&
    duration.mae_ratio >= 2 &&
    planted.length > 0 &&
    caught.length === planted.length;
  console.log(
    `learning: ${ok ? "predicted from history, deployed, backtest goal met, every planted anomaly caught (runs and health latency), retries, backoff and leases tuned by replay, a tuning change reverted by its canary on a seeded regression" : "did not behave"}`,
  );
  if (!ok) process.exitCode = 1;
  return ok;
}

/** A finished deployment of staging that took `ratio` x its 60 s plan, `minutes` after the start. */
function seededDeployment(id: string, minutes: number, ratio: number): Deployment & { id: string } {
  const created = new Date(Date.UTC(2026, 11, 1) + minutes * 60_000);
  const seconds = 60 * ratio;
  return {
    ...deploymentDocSchema.parse({
      status: "succeeded",
      environment: "staging",
      integrations: ["security", "firestore"],
      configuration: {},
      requested_by: "demo",
      created_at: created,
      task_ids: [],
      estimated_completion: new Date(created.getTime() + 60_000),
      critical_path: [],
      started_at: created,
      completed_at: new Date(created.getTime() + seconds * 1000),
      actual_duration: seconds,
      error_message: null,
      correlation_id: id,
    }),
    id,
  };
}

/**
 * A tuning action under the guardrails: lowering staging's limit 4 -> 3 is within
 * `tuning.auto_apply: ["concurrency"], max_change: 0.5`; its canary's baseline is 8 deployments that
 * took about their plans; the 5 after the change take 2.4x theirs (the seeded regression): reverted.
 */
function demoTuning(): boolean {
  const tuning = {
    auto_apply: ["concurrency" as const],
    max_change: 0.5,
    canary_deployments: 5,
    canary_margin: 0.2,
  };
  const change = {
    setting: "concurrency" as const,
    environment: "staging",
    integration: null,
    path: "environments[name=staging].concurrency",
    before: 4,
    after: 3,
  };
  const allowed = guardrail(change, tuning);
  const before = [0.95, 1.05, 1.0, 1.1, 0.9, 1.0, 1.02, 0.98].map((ratio, i) =>
    seededDeployment(`b${i}`, i * 10, ratio),
  );
  const canary = canaryFor(before, tuning);
  const after = [2.2, 2.6, 2.3, 2.5, 2.4].map((ratio, i) => seededDeployment(`a${i}`, 100 + i * 10, ratio));
  const verdict = judgeCanary(canary, after);
  console.log(
    `  tuning: ${change.path} ${change.before} -> ${change.after} applied automatically (${allowed.reason}); canary: ${canary.rule}`,
  );
  console.log(`  after 5 deployments of the seeded regression: ${verdict.decision} (${verdict.message})`);
  return allowed.automatic && verdict.decision === "revert";
}

/**
 * `POST /optimize` on 30 seeded days in which staging's hosting has retries that never recover (a
 * cause that outlasts any backoff): its retry policy and every lease are replayed, and the changes
 * the replays find better are recommended, each one setting of one integration.
 */
function demoEngineSettings(): boolean {
  const seeded = asOptimizeHistory(
    generateHistory({
      seed: 1,
      days: 30,
      deploymentsPerDay: 8,
      stuckRetries: { environment: "staging", kind: "hosting", rate: 0.2 },
    }),
  );
  const started = performance.now();
  const result = recommend(seeded, optimizeRequestSchema.parse({}), seeded.range.to);
  const elapsed = performance.now() - started;
  const engine = result.optimization_plan.filter(
    (recommendation) => recommendation.change && recommendation.change.setting !== "concurrency",
  );
  const count = (setting: string) => engine.filter((r) => r.change?.setting === setting).length;
  console.log(
    `  POST /optimize on 30 seeded days (${seeded.deployments.length} deployments, ${Math.round(elapsed)} ms): ${count("max_retries")} max_retries, ${count("retry_base_ms")} retry_base_ms and ${count("lease_seconds")} lease_seconds change(s) replayed as better`,
  );
  const retries = engine.find((r) => r.id === "duration:max-retries:staging:hosting");
  const lease = engine
    .filter((r) => r.change?.setting === "lease_seconds")
    .sort((a, b) => b.expected_improvement.value - a.expected_improvement.value)[0];
  for (const shown of [retries, lease]) {
    if (!shown) continue;
    const simulated = shown.expected_improvement.simulated;
    const spread =
      simulated && "change_p05_seconds" in simulated
        ? ` (90 % of replays: ${(-simulated.change_p95_seconds).toFixed(1)} to ${(-simulated.change_p05_seconds).toFixed(1)} s)`
        : "";
    console.log(`  ${shown.id}: ${shown.action}${spread}`);
  }
  return retries?.change?.after === 1 && retries.expected_improvement.value > 0 && lease !== undefined;
}

/** A health check's latency 10x its integration's last 60 checks (seeded around 40 ms) opens an alert. */
function demoLatency(): boolean {
  const earlier = Array.from({ length: 60 }, (_, i) => 40 * Math.exp(0.15 * Math.sin(i * 1.7)));
  const found = latencyAnomaly("prod", "hosting", earlier, 400);
  const normal = latencyAnomaly("prod", "hosting", earlier, 46);
  if (found) console.log(`  ${latencyAlert(found, "prod", "hosting", new Date()).message}`);
  return found !== null && normal === null;
}

/**
 * The backtest of this run's own history: every finished deployment of the stack's Firestore
 * replayed in time order, each predicted from the runs finished before it (what `npm run backtest
 * -- --from-firestore` prints). Answers the line to show.
 */
export async function backtestOwnHistory(
  db: Firestore,
  environments: readonly ResolvedEnvironment[],
): Promise<string> {
  const history = await loadReplayHistory(db, environments);
  if (history.deployments.length < 2)
    return `backtest of this run: ${history.deployments.length} finished deployment(s), nothing to replay`;
  const report = backtest(history.deployments, environments);
  const d = report.deployment_duration;
  for (const row of report.deployment_predictions)
    console.log(
      `  ${row.deployment_id} (${row.environment}, ${row.integrations} tasks, ${row.runs_learned_from} runs known): actual ${row.actual_seconds.toFixed(1)} s, learned ${row.learned_seconds.toFixed(1)} s, catalog ${row.catalog_seconds.toFixed(1)} s`,
    );
  return `backtest of this run's ${history.deployments.length} finished deployments (${history.skipped.length} left out): duration MAE learned ${d.learned.mae.toFixed(1)} s vs catalog ${d.catalog.mae.toFixed(1)} s (${d.mae_ratio.toFixed(1)}x less)`;
}
