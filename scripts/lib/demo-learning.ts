/**
 * The demo's learning step: a prediction before a deploy (learned from the runs the demo has made
 * so far, with the runs each estimate rests on and the integration most likely to fail) and the
 * outcome after it; then the backtest's headline and an anomaly caught, on the seeded history
 * `npm run backtest` replays (test/sim/history-generator.ts), with the alert it opens.
 */
import { anomalyAlert, detectAnomalies } from "../../functions/src/domain/learning/anomalies.js";
import { backtest } from "../../functions/src/domain/learning/backtest.js";
import { runsFromTasks } from "../../functions/src/domain/learning/runs.js";
import { generateHistory } from "../../test/sim/history-generator.js";

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
  const ok =
    learned &&
    deployed.deployment.status === "succeeded" &&
    duration.mae_ratio >= 2 &&
    planted.length > 0 &&
    caught.length === planted.length;
  console.log(
    `learning: ${ok ? "predicted from history, deployed, backtest goal met, every planted anomaly caught" : "did not behave"}`,
  );
  if (!ok) process.exitCode = 1;
  return ok;
}
