/**
 * Event-to-screen latency of the live dashboard against a plain Firestore listener, both measured
 * in the same run from the engine's own timestamp of each task change (`started_at` when a task
 * starts running, `completed_at` when it ends):
 *   - baseline: an Admin SDK listener in Node on the deployment's tasks (what Firestore alone costs);
 *   - dashboard: headless Chromium signed in to the dashboard, which listens, redraws the table,
 *     the graph and the Gantt, and records the frame that shows each change.
 * Run inside a stack by `npm run bench:dashboard` (scripts/bench-dashboard.mjs). Flags through
 * the environment: BENCH_ROUNDS (3 deployments), BENCH_LATENCY_MS (300 per simulated task).
 */
import { getApps, initializeApp } from "firebase-admin/app";
import { getFirestore } from "firebase-admin/firestore";
import { COLLECTIONS } from "../functions/src/domain/model.js";
import { INTEGRATION_KINDS } from "../functions/src/domain/integrations.js";
import { emulatorToken } from "../scripts/lib/auth.mjs";
import { launchChromium, signIn } from "../scripts/lib/browser.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TASK_LATENCY_MS = Number(process.env.BENCH_LATENCY_MS ?? 300);
const PASSWORD = "local-emulator-only";

const apiBase = `${process.env.ORCH_API_URL ?? ""}/api/orchestration`;
const hostingBase = process.env.ORCH_HOSTING_URL ?? "";
const projectId = process.env.GCLOUD_PROJECT ?? "";
const authHost = process.env.FIREBASE_AUTH_EMULATOR_HOST ?? "";

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

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

/** Timestamps of the changes a Node listener saw on one deployment's tasks, as latencies in ms. */
function listenToTasks(deploymentId: string): { samples: number[]; stop: () => void } {
  if (getApps().length === 0) initializeApp({ projectId });
  const samples: number[] = [];
  const seen = new Map<string, string>();
  const stop = getFirestore()
    .collection(COLLECTIONS.tasks)
    .where("deployment_id", "==", deploymentId)
    .onSnapshot((snapshot) => {
      const arrived = Date.now();
      for (const doc of snapshot.docs) {
        const data = doc.data() as {
          status: string;
          attempt: number;
          started_at: { toDate(): Date } | null;
          completed_at: { toDate(): Date } | null;
        };
        const stamp = `${data.status}#${data.attempt}`;
        const previous = seen.get(doc.id);
        seen.set(doc.id, stamp);
        const at = data.status === "running" ? data.started_at : data.completed_at;
        if (previous !== undefined && previous !== stamp && at) samples.push(arrived - at.toDate().getTime());
      }
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
    `${name.padEnd(24)} ${String(values.length).padStart(7)} ${String(percentile(values, 50)).padStart(7)} ${String(percentile(values, 95)).padStart(7)} ${String(Math.max(...values)).padStart(7)}`;
  console.log(`\n${"from engine timestamp to".padEnd(24)} samples  p50 ms  p95 ms  max ms`);
  console.log(line("Node Firestore listener", baseline));
  console.log(line("dashboard frame", screen));
  const ratio = percentile(screen, 50) / Math.max(1, percentile(baseline, 50));
  console.log(
    `\ndashboard / listener at p50: ${ratio.toFixed(2)}x (target: under 1000 ms on screen; the specification allows 10 s)`,
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
