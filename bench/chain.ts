/**
 * The engine's overhead per step of a dependency chain, on the emulators: ten simulated 150 ms
 * tasks (the ten kinds, in their dependency order) in an environment of concurrency 1, so each
 * step waits for the one before. Overhead per step is the deployment's span (first claim to
 * finish) less the ten tasks' own 150 ms, over ten; the gaps (one task's end to the next one's
 * start) say where it goes. Runs several deployments one after another and prints each and the
 * median; writes the figures to out/bench/chain-<time>.json.
 *
 *   npm run bench:chain [-- --runs 5]
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { INTEGRATION_KINDS } from "../functions/src/domain/integrations.js";
import { TERMINAL_DEPLOYMENT_STATUSES } from "../functions/src/domain/engine-model.js";
import { configWith } from "../test/support/config-builder.js";
import { adminDb, api, waitFor } from "../test/support/emulators.js";

const TASK_MS = 150;
const runsFlag = process.argv.indexOf("--runs");
const runs = runsFlag >= 0 ? Number(process.argv[runsFlag + 1]) : 5;
if (!Number.isInteger(runs) || runs < 1) throw new Error("--runs: a whole number of deployments, 1 or more");

const ms = (value: unknown): number => {
  if (value && typeof value === "object" && "toDate" in value && typeof value.toDate === "function")
    return (value.toDate as () => Date)().getTime();
  throw new Error(`not a timestamp: ${JSON.stringify(value)}`);
};
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const config = configWith((c) => {
  const environments = c.environments as { name: string; concurrency?: number; integrations: string[] }[];
  const dev = environments.find((env) => env.name === "dev");
  if (!dev) throw new Error("orchestration.json has no dev environment");
  dev.concurrency = 1;
  dev.integrations = [...INTEGRATION_KINDS];
});
const loaded = await api("POST", "/config", config);
if (loaded.status !== 200)
  throw new Error(`POST /config answered ${loaded.status}: ${JSON.stringify(loaded.body)}`);

interface Run {
  request_to_finish_ms: number;
  request_to_first_claim_ms: number;
  span_ms: number;
  overhead_per_step_ms: number;
  gaps_ms: number[];
}

const results: Run[] = [];
for (let run = 0; run <= runs; run += 1) {
  const requested = Date.now();
  const posted = await api("POST", "/deploy", {
    environment: "dev",
    integrations: [...INTEGRATION_KINDS],
    configuration: { driver: "simulated", simulate: { "*": { latency_ms: TASK_MS } } },
  });
  if (posted.status !== 202)
    throw new Error(`POST /deploy answered ${posted.status}: ${JSON.stringify(posted.body)}`);
  const id = String((posted.body as { deployment_id: unknown }).deployment_id);
  const deployment = await waitFor(
    `deployment ${id} ends`,
    async () => {
      const doc = (await adminDb().collection("deployments").doc(id).get()).data();
      return doc && (TERMINAL_DEPLOYMENT_STATUSES as readonly string[]).includes(doc.status as string)
        ? doc
        : undefined;
    },
    120_000,
    50,
  );
  if (deployment.status !== "succeeded") throw new Error(`deployment ${id} ended ${deployment.status}`);
  const tasks = (
    await adminDb().collection("orchestration_tasks").where("deployment_id", "==", id).get()
  ).docs
    .map((doc) => doc.data())
    .sort((a, b) => ms(a.started_at) - ms(b.started_at));
  const first = ms(tasks[0]!.started_at);
  const finished = ms(deployment.completed_at);
  const span = finished - first;
  const row: Run = {
    request_to_finish_ms: finished - requested,
    request_to_first_claim_ms: first - requested,
    span_ms: span,
    overhead_per_step_ms: Math.round((span - tasks.length * TASK_MS) / tasks.length),
    gaps_ms: tasks.slice(1).map((task, index) => ms(task.started_at) - ms(tasks[index]!.completed_at)),
  };
  // The first deployment warms the functions' workers; it is shown but not counted.
  const label = run === 0 ? "warm-up" : `run ${run}/${runs}`;
  console.log(
    `${label}: ${tasks.length} steps in ${(span / 1000).toFixed(2)} s, overhead ${row.overhead_per_step_ms} ms a step ` +
      `(gaps between steps: median ${median(row.gaps_ms)} ms, max ${Math.max(...row.gaps_ms)} ms; ` +
      `request to first claim ${row.request_to_first_claim_ms} ms)`,
  );
  if (run > 0) results.push(row);
}

const summary = {
  measured_at: new Date().toISOString(),
  steps: INTEGRATION_KINDS.length,
  task_ms: TASK_MS,
  runs: results,
  median_overhead_per_step_ms: median(results.map((r) => r.overhead_per_step_ms)),
  median_gap_ms: median(results.flatMap((r) => r.gaps_ms)),
  median_request_to_finish_ms: median(results.map((r) => r.request_to_finish_ms)),
};
console.log(
  `median over ${runs} deployments: ${summary.median_overhead_per_step_ms} ms of engine overhead a step ` +
    `(median gap ${summary.median_gap_ms} ms; request to finish ${(summary.median_request_to_finish_ms / 1000).toFixed(2)} s)`,
);
mkdirSync("out/bench", { recursive: true });
const file = `out/bench/chain-${summary.measured_at.replace(/[:.]/g, "-")}.json`;
writeFileSync(file, `${JSON.stringify(summary, null, 2)}\n`);
console.log(`written: ${file}`);
