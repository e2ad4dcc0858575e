/**
 * The API under load, as a CI system drives it: BENCH_REQUESTS (default 100) concurrent
 * `POST /deploy` requests (admin API key, simulated driver, one integration each) to a warm
 * local stack. Every one must be answered (202 or a clear 4xx, never a timeout), p50 under
 * 500 ms, and every one audited: the bench counts the chained `POST /deploy` records. The
 * baseline of the same run is BENCH_BASELINE (default 5) requests sent one at a time.
 *
 *   npm run bench:api        (starts its own stack; the JSON goes to out/bench/)
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { freemem } from "node:os";
import { getFirestore } from "firebase-admin/firestore";
import { AUDIT_COLLECTIONS } from "../functions/src/domain/audit.js";
import { configWith } from "../test/support/config-builder.js";
import { adminDb, api, waitFor } from "../test/support/emulators.js";

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 100);
const BASELINE = Number(process.env.BENCH_BASELINE ?? 5);
/** A request not answered in this time counts as a timeout (the issue saw 504s after 60 s). */
const TIMEOUT_MS = 65_000;
const TARGET_P50_MS = 500;

if (!process.env.ORCH_API_URL) {
  console.error("bench:api needs a stack: run it with `npm run bench:api`");
  process.exit(2);
}

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const round = (n: number) => Math.round(n);

interface Answer {
  status: number | "timeout" | "error";
  ms: number;
  deploymentId: string | null;
  message: string | null;
}

async function deployOnce(key: string, i: number): Promise<Answer> {
  const started = performance.now();
  try {
    const response = await fetch(`${process.env.ORCH_API_URL}/api/orchestration/deploy`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": key },
      body: JSON.stringify({
        environment: "dev",
        integrations: [["auth", "firestore", "hosting", "security"][i % 4]],
        configuration: { driver: "simulated" },
      }),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const body = (await response.json()) as { deployment_id?: string; error?: { message?: string } };
    return {
      status: response.status,
      ms: performance.now() - started,
      deploymentId: body.deployment_id ?? null,
      message: body.error?.message ?? null,
    };
  } catch (error) {
    const timeout = error instanceof Error && error.name === "TimeoutError";
    return {
      status: timeout ? "timeout" : "error",
      ms: performance.now() - started,
      deploymentId: null,
      message: error instanceof Error ? error.message : String(error),
    };
  }
}

async function auditedDeploys(): Promise<number> {
  const snap = await adminDb()
    .collection(AUDIT_COLLECTIONS.log)
    .where("action", "==", "POST /deploy")
    .count()
    .get();
  return snap.data().count;
}

function summary(answers: Answer[]) {
  const ms = answers.map((a) => a.ms).sort((a, b) => a - b);
  const statuses: Record<string, number> = {};
  for (const a of answers) statuses[String(a.status)] = (statuses[String(a.status)] ?? 0) + 1;
  return {
    statuses,
    p50: round(percentile(ms, 50)),
    p90: round(percentile(ms, 90)),
    p99: round(percentile(ms, 99)),
    max: round(ms.at(-1) ?? NaN),
  };
}

const config = configWith(() => undefined);
const loaded = await api("POST", "/config", config);
if (loaded.status !== 200)
  throw new Error(`loading the config: ${loaded.status} ${JSON.stringify(loaded.body)}`);
const created = await api("POST", "/keys", { role: "admin", label: "bench-api" });
if (created.status !== 201)
  throw new Error(`creating the key: ${created.status} ${JSON.stringify(created.body)}`);
const key = String((created.body as { key: unknown }).key);

// Warm-up: the Functions emulator starts one worker per concurrent invocation; a warm stack has them.
console.log(`warming up: ${REQUESTS} concurrent GET /health, then ${BASELINE} deploys one at a time`);
// A round of health requests warms one worker per request; cold workers can be slow to start, so
// rounds repeat (at most 5) until a whole round answers.
for (let round = 1; round <= 5; round++) {
  const warmed = await Promise.all(
    Array.from({ length: REQUESTS }, () =>
      fetch(`${process.env.ORCH_API_URL}/api/orchestration/health`, {
        signal: AbortSignal.timeout(TIMEOUT_MS),
      }).then(
        (response) => response.ok,
        () => false,
      ),
    ),
  );
  const ok = warmed.filter(Boolean).length;
  console.log(`  warm-up round ${round}: ${ok}/${REQUESTS} answered`);
  if (ok === REQUESTS) break;
}
const alone: Answer[] = [];
for (let i = 0; i < BASELINE; i++) alone.push(await deployOnce(key, i));
const baseline = summary(alone);
console.log(`baseline, one at a time: ${JSON.stringify(baseline)}`);

const auditedBefore = await auditedDeploys();
const freeBefore = freemem();
let lowestFree = freeBefore;
const memory = setInterval(() => (lowestFree = Math.min(lowestFree, freemem())), 200);
console.log(`sending ${REQUESTS} concurrent POST /deploy (admin API key, simulated driver)`);
const started = performance.now();
let answered = 0;
const answers = await Promise.all(
  Array.from({ length: REQUESTS }, async (_, i) => {
    const answer = await deployOnce(key, i);
    answered += 1;
    if (answered % 10 === 0)
      console.log(`  ${answered}/${REQUESTS} answered after ${round(performance.now() - started)} ms`);
    return answer;
  }),
);
const wall = performance.now() - started;
clearInterval(memory);
const load = summary(answers);
console.log(
  `${REQUESTS} concurrent: statuses ${JSON.stringify(load.statuses)}; p50 ${load.p50} ms, p90 ${load.p90} ms, p99 ${load.p99} ms, max ${load.max} ms; all answered in ${round(wall)} ms`,
);
console.log(
  `ratio: p50 under load / p50 alone = ${(load.p50 / Math.max(baseline.p50, 1)).toFixed(1)}x; memory used by the run: ${Math.round((freeBefore - lowestFree) / 2 ** 20)} MiB at its peak`,
);
const odd = answers.filter((a) => typeof a.status !== "number" || a.status >= 500);
for (const a of odd.slice(0, 5))
  console.log(`  not answered well: ${a.status} after ${round(a.ms)} ms: ${a.message}`);

// Every request is audited: the API stages a record per mutating request; the inbox trigger chains it.
const auditStarted = performance.now();
let audited = 0;
try {
  audited = await waitFor(
    `${REQUESTS} POST /deploy records in the audit chain`,
    async () => {
      const now = (await auditedDeploys()) - auditedBefore;
      return now >= REQUESTS ? now : false;
    },
    120_000,
    500,
  );
} catch {
  audited = (await auditedDeploys()) - auditedBefore;
}
const pending = (await getFirestore().collection(AUDIT_COLLECTIONS.inbox).count().get()).data().count;
console.log(
  `audited: ${audited}/${REQUESTS} requests chained ${round(performance.now() - auditStarted)} ms after the last answer (still staged: ${pending})`,
);
const p50Met = load.p50 < TARGET_P50_MS;
const allAnswered = odd.length === 0;
console.log(
  `targets: every request answered with 202 or a 4xx: ${allAnswered ? "met" : "NOT met"}; p50 < ${TARGET_P50_MS} ms: ${p50Met ? "met" : "NOT met"}; every request audited: ${audited >= REQUESTS ? "met" : "NOT met"}`,
);
mkdirSync("out/bench", { recursive: true });
const file = `out/bench/api-${new Date().toISOString().replace(/[:.]/g, "-")}.json`;
writeFileSync(
  file,
  JSON.stringify(
    {
      at: new Date().toISOString(),
      requests: REQUESTS,
      baseline,
      load,
      wall_ms: round(wall),
      audited,
      still_staged: pending,
      peak_memory_mib: Math.round((freeBefore - lowestFree) / 2 ** 20),
    },
    null,
    2,
  ),
);
console.log(`written: ${file}`);
process.exitCode = allAnswered && p50Met && audited >= REQUESTS ? 0 : 1;
