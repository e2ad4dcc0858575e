/**
 * The API under load, as a CI system drives it: BENCH_REQUESTS (default 100) concurrent
 * `POST /deploy` requests (admin API key, simulated driver, one integration each). Every one must
 * be answered (202 or a clear 4xx, never a timeout), p50 under 500 ms, and every one audited (the
 * bench counts the chained `POST /deploy` records). The baseline of the same run is BENCH_BASELINE
 * (default 5) requests sent one at a time.
 *
 * Where it runs: the API's own handler (`handleApiRequest`, the code behind the `api` function:
 * authentication, validation, the engine's request transaction, the audit staging) in this one
 * Node process, against the Firestore and Pub/Sub emulators, the way one Cloud Functions (2nd gen)
 * instance serves concurrent requests. Not through the Functions emulator: it starts one worker
 * process per concurrent request (firebase-tools' RuntimeWorkerPool hands a worker one request at a
 * time), so 100 concurrent requests mean 100 Node processes loading the functions on this
 * machine's 2 cores, which measures process start-up, not the API. The requests write to their own
 * project on the emulators, so no trigger of the stack runs the deployments they create.
 *
 *   npm run bench:api        (starts its own stack; the JSON goes to out/bench/)
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { initializeApp } from "firebase-admin/app";
import { getFirestore } from "firebase-admin/firestore";
import { createServices } from "../functions/src/app.js";
import { AUDIT_COLLECTIONS } from "../functions/src/domain/audit.js";
import { handleApiRequest } from "../functions/src/handlers/api.js";
import type { Logger } from "../functions/src/logs.js";
import { configWith } from "../test/support/config-builder.js";

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 100);
const BASELINE = Number(process.env.BENCH_BASELINE ?? 5);
/** An answer slower than this counts as a timeout (the issue saw 504s after 60 s). */
const TIMEOUT_MS = 60_000;
const TARGET_P50_MS = 500;
const PROJECT = "demo-bench-api-inproc";

if (!process.env.FIRESTORE_EMULATOR_HOST || !process.env.PUBSUB_EMULATOR_HOST) {
  console.error("bench:api needs the Firestore and Pub/Sub emulators: run it with `npm run bench:api`");
  process.exit(2);
}

/** Nearest-rank percentile of sorted values. */
const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? NaN : sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1]!;
const round = (n: number) => Math.round(n);

// The handler's own log lines (one per request) would bury the story: they go to a file.
const logLines: string[] = [];
const fileLog: Logger = {
  debug: () => undefined,
  info: (message, fields) => logLines.push(JSON.stringify({ severity: "INFO", message, ...fields })),
  warn: (message, fields) => logLines.push(JSON.stringify({ severity: "WARNING", message, ...fields })),
  error: (message, fields) => logLines.push(JSON.stringify({ severity: "ERROR", message, ...fields })),
};

// Everything this process writes or publishes goes to the bench's own project (the bus reads it too).
process.env.GCLOUD_PROJECT = PROJECT;
const db = getFirestore(initializeApp({ projectId: PROJECT }, "bench-api"));
const services = createServices({ db, log: fileLog, warehouse: null });

/** BENCH_CPU_PROFILE=file: a V8 CPU profile of the load phase, for Chrome's DevTools. */
async function startProfile(): Promise<() => Promise<void>> {
  const { Session } = await import("node:inspector/promises");
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
  return async () => {
    const { profile } = await session.post("Profiler.stop");
    writeFileSync(String(process.env.BENCH_CPU_PROFILE), JSON.stringify(profile));
    session.disconnect();
  };
}

interface Answer {
  status: number | "timeout";
  ms: number;
  message: string | null;
}

async function call(method: string, path: string, body: unknown, key: string) {
  return handleApiRequest(services, {
    method,
    path,
    query: {},
    body,
    headers: { "x-api-key": key, "content-type": "application/json" },
    ip: "127.0.0.1",
  });
}

async function deployOnce(key: string, i: number): Promise<Answer> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">(
    (resolve) => (timer = setTimeout(() => resolve("timeout"), TIMEOUT_MS)),
  );
  const answer = await Promise.race([
    call(
      "POST",
      "/deploy",
      {
        environment: "dev",
        integrations: [["auth", "firestore", "hosting", "security"][i % 4]],
        configuration: { driver: "simulated" },
      },
      key,
    ),
    timeout,
  ]);
  clearTimeout(timer);
  const ms = performance.now() - started;
  if (answer === "timeout") return { status: "timeout", ms, message: `no answer in ${TIMEOUT_MS} ms` };
  const error = (answer.body as { error?: { message?: string } }).error;
  return { status: answer.status, ms, message: error?.message ?? null };
}

async function auditedDeploys(): Promise<number> {
  return (
    await db.collection(AUDIT_COLLECTIONS.log).where("action", "==", "POST /deploy").count().get()
  ).data().count;
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

// Set-up as an administrator would: a key for the CI system, then the config through the API.
const { key } = await services.access.createKey(
  { role: "admin", environments: null, label: "bench-api" },
  { kind: "user", uid: "bench-setup", email: null, role: "admin", environments: null },
);
const loaded = await call(
  "POST",
  "/config",
  configWith(() => undefined),
  key,
);
if (loaded.status !== 200)
  throw new Error(`loading the config: ${loaded.status} ${JSON.stringify(loaded.body)}`);

console.log(`baseline: ${BASELINE} POST /deploy one at a time (the first warms the clients)`);
const alone: Answer[] = [];
for (let i = 0; i < BASELINE + 1; i++) {
  const answer = await deployOnce(key, i);
  if (i > 0) alone.push(answer);
}
const baseline = summary(alone);
console.log(
  `  one at a time: p50 ${baseline.p50} ms, max ${baseline.max} ms, statuses ${JSON.stringify(baseline.statuses)}`,
);

const auditedBefore = await auditedDeploys();
const rssBefore = process.memoryUsage().rss;
let rssPeak = rssBefore;
const memory = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 100);
console.log(`load: ${REQUESTS} concurrent POST /deploy (admin API key, simulated driver)`);
const started = performance.now();
const cpuBefore = process.cpuUsage();
const profiling = process.env.BENCH_CPU_PROFILE ? await startProfile() : null;
let answered = 0;
const answers = await Promise.all(
  Array.from({ length: REQUESTS }, async (_, i) => {
    const answer = await deployOnce(key, i);
    answered += 1;
    if (answered % 25 === 0)
      console.log(`  ${answered}/${REQUESTS} answered after ${round(performance.now() - started)} ms`);
    return answer;
  }),
);
const wall = performance.now() - started;
const cpu = process.cpuUsage(cpuBefore);
if (profiling) await profiling();
clearInterval(memory);
const load = summary(answers);
console.log(
  `  ${REQUESTS} concurrent: statuses ${JSON.stringify(load.statuses)}; p50 ${load.p50} ms, p90 ${load.p90} ms, p99 ${load.p99} ms, max ${load.max} ms; all answered in ${round(wall)} ms`,
);
console.log(
  `  this process's CPU: ${round((cpu.user + cpu.system) / 1000 / REQUESTS)} ms a request (${round((cpu.user + cpu.system) / 1000)} ms over ${round(wall)} ms of wall time)`,
);
console.log(
  `  ratio: p50 under load / p50 alone = ${(load.p50 / Math.max(baseline.p50, 1)).toFixed(1)}x; process memory +${Math.round((rssPeak - rssBefore) / 2 ** 20)} MiB at its peak`,
);
const odd = answers.filter((a) => a.status === "timeout" || a.status >= 500);
for (const a of odd.slice(0, 5))
  console.log(`  not answered well: ${a.status} after ${round(a.ms)} ms: ${a.message}`);

// Every request is audited: each one staged its record; the chain writer (what the sweeper and the
// engine's inline pass run) chains them.
const auditStarted = performance.now();
await services.audit.drain({ timeoutMs: 60_000 });
const audited = (await auditedDeploys()) - auditedBefore;
const pending = (await db.collection(AUDIT_COLLECTIONS.inbox).count().get()).data().count;
console.log(
  `audit: ${audited}/${REQUESTS} requests chained in ${round(performance.now() - auditStarted)} ms after the last answer (still staged: ${pending})`,
);
const p50Met = load.p50 < TARGET_P50_MS;
const allAnswered = odd.length === 0;
console.log(
  `targets: every request answered with 202 or a 4xx: ${allAnswered ? "met" : "NOT met"}; p50 < ${TARGET_P50_MS} ms: ${p50Met ? "met" : "NOT met"}; every request audited: ${audited >= REQUESTS ? "met" : "NOT met"}`,
);
mkdirSync("out/bench", { recursive: true });
const stamp = new Date().toISOString().replace(/[:.]/g, "-");
const file = `out/bench/api-${stamp}.json`;
writeFileSync(
  file,
  JSON.stringify(
    {
      at: new Date().toISOString(),
      served_by: "handleApiRequest in one Node process, Firestore and Pub/Sub emulators",
      requests: REQUESTS,
      baseline,
      load,
      wall_ms: round(wall),
      audited,
      still_staged: pending,
      peak_rss_increase_mib: Math.round((rssPeak - rssBefore) / 2 ** 20),
    },
    null,
    2,
  ),
);
writeFileSync(`out/bench/api-${stamp}.log`, logLines.join("\n") + "\n");
console.log(`written: ${file} (the handler's log: out/bench/api-${stamp}.log)`);
process.exitCode = allAnswered && p50Met && audited >= REQUESTS ? 0 : 1;
process.exit();
