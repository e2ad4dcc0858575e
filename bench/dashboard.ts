/**
 * Event-to-screen latency of the live dashboard against a plain Firestore listener, both measured
 * in the same run from the engine's own timestamp of each task change (`started_at` when a task
 * starts running, `completed_at` when it ends):
 *   - baseline: an Admin SDK listener in Node on the deployment's tasks (what Firestore alone costs);
 *   - dashboard: headless Chromium signed in to the dashboard, which listens, redraws the table,
 *     the graph and the Gantt, and records the frame that shows each change.
 * Run inside a stack by `npm run bench:dashboard` (scripts/bench-dashboard.ts). Flags through
 * the environment: BENCH_ROUNDS (3 deployments), BENCH_LATENCY_MS (300 per simulated task).
 */
import { getApps, initializeApp } from "firebase-admin/app";
import { getFirestore } from "firebase-admin/firestore";
import { INTEGRATION_KINDS } from "../functions/src/domain/integrations.js";
import { percentile } from "../functions/src/domain/optimize.js";
import { createEngineStore } from "../functions/src/store/engine-store.js";
import { taskChangeTracker } from "../functions/src/visual/live-views.js";
import { emulatorToken } from "../scripts/lib/auth.js";
import { launchChromium, signIn } from "../scripts/lib/browser.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TASK_LATENCY_MS = Number(process.env.BENCH_LATENCY_MS ?? 300);
const PASSWORD = "local-emulator-only";

const apiBase = `${process.env.ORCH_API_URL ?? ""}/api/orchestration`;
const hostingBase = process.env.ORCH_HOSTING_URL ?? "";
const projectId = process.env.GCLOUD_PROJECT ?? "";
const authHost = process.env.FIREBASE_AUTH_EMULATOR_HOST ?? "";

/** Nearest-rank, as everywhere in the control plane. */
const at = (values: readonly number[], p: number) => percentile(values, p) ?? NaN;

async function call(token: string, method: string, path: string, body?: unknown) {
  const response = await fetch(`${apiBase}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = (await response.json()) as Record<string, unknown>;
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(answer)}`);
  return answer;
}

/** Latencies of the task changes a Node listener saw on one deployment's tasks, in ms. */
function listenToTasks(deploymentId: string): { samples: number[]; stop: () => void } {
  if (getApps().length === 0) initializeApp({ projectId });
  const samples: number[] = [];
  const changesOf = taskChangeTracker();
  const stop = createEngineStore(getFirestore())
    .tasks.where("deployment_id", "==", deploymentId)
    .onSnapshot((snapshot) => {
      const arrived = Date.now();
      const tasks = snapshot.docs.map((doc) => ({ ...doc.data(), id: doc.id }));
      for (const change of changesOf(tasks)) samples.push(arrived - change.at.getTime());
    });
  return { samples, stop };
}

async function main(): Promise<void> {
  const chromium = process.env.ORCH_CHROMIUM;
  if (!chromium)
    throw new Error(`no Chromium: ${process.env.ORCH_CHROMIUM_MISSING ?? "ORCH_CHROMIUM unset"}`);
  const admin = await emulatorToken({ authHost, projectId, role: "admin" });
  await emulatorToken({ authHost, projectId, role: "operator", email: "operator@bench.example" });
  const config = {
    version: 1,
    base: { region: "us-central1", concurrency: 2, integrations: {} },
    environments: [
      {
        name: "bench",
        type: "development",
        project_id: "demo-bench-dashboard",
        mode: "emulated",
        integrations: [...INTEGRATION_KINDS],
      },
    ],
  };
  await call(admin, "POST", "/config", config);

  const browser = await launchChromium(chromium);
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await signIn(page, `${hostingBase}/`, { email: "operator@bench.example", password: PASSWORD });
  await page.waitForFunction(
    () => (window as unknown as { orchestrator: { ready: boolean } }).orchestrator.ready,
  );

  const baseline: number[] = [];
  let screen: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const answer = await call(admin, "POST", "/deploy", {
      environment: "bench",
      integrations: [...INTEGRATION_KINDS],
      configuration: { driver: "simulated", simulate: { "*": { latency_ms: TASK_LATENCY_MS } } },
    });
    const id = String(answer.deployment_id);
    const listener = listenToTasks(id);
    await page.evaluate((deployment) => (location.hash = `#/deployments/${deployment}`), id);
    await page.waitForSelector(`#detail[data-deployment="${id}"][data-status=succeeded]`, {
      timeout: 180_000,
    });
    listener.stop();
    baseline.push(...listener.samples);
    screen = await page.evaluate(() =>
      (window as unknown as { orchestrator: { latencies: { ms: number }[] } }).orchestrator.latencies.map(
        (sample) => sample.ms,
      ),
    );
    console.log(
      `round ${round}/${ROUNDS}: deployment ${id} succeeded; ${listener.samples.length} changes seen by the listener, ${screen.length} on screen so far`,
    );
  }
  await browser.close();

  const line = (name: string, values: number[]) =>
    `${name.padEnd(24)} ${String(values.length).padStart(7)} ${String(at(values, 50)).padStart(7)} ${String(at(values, 95)).padStart(7)} ${String(Math.max(...values)).padStart(7)}`;
  console.log(`\n${"from engine timestamp to".padEnd(24)} samples  p50 ms  p95 ms  max ms`);
  console.log(line("Node Firestore listener", baseline));
  console.log(line("dashboard frame", screen));
  const ratio = at(screen, 50) / Math.max(1, at(baseline, 50));
  console.log(
    `\ndashboard / listener at p50: ${ratio.toFixed(2)}x (target: under 1000 ms on screen; the specification allows 10 s)`,
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
