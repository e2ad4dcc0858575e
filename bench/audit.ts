/**
 * Audit appends a second on the Firestore emulator, and how far the chain writer lags behind:
 * writers append for BENCH_SECONDS (default 20) from BENCH_CLIENTS Admin SDK clients (default 4,
 * like four function instances) with BENCH_CONCURRENCY appends in flight each (default 25) while
 * one chain writer (`AuditLog.drain`, the code the inbox trigger and the sweeper run) chains them;
 * then the same writers run the old design (one transaction on the head document per append) for
 * BENCH_BASELINE_SECONDS (default 10) as the baseline of the same run. Each design has its own
 * project on the emulator, so the functions' triggers do not take part.
 *
 *   npm run bench:audit        (starts its own stack; the JSON goes to out/bench/)
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { deleteApp, initializeApp, type App } from "firebase-admin/app";
import { getFirestore, type Firestore } from "firebase-admin/firestore";
import {
  AUDIT_COLLECTIONS,
  AUDIT_HEAD_ID,
  EMPTY_HEAD,
  auditDocId,
  auditHeadSchema,
  chainRecord,
  type AuditEntry,
} from "../functions/src/domain/audit.js";
import { createAuditLog } from "../functions/src/store/audit-log.js";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const BASELINE_SECONDS = Number(process.env.BENCH_BASELINE_SECONDS ?? 10);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 4);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 25);
/** The target. */
const TARGET_PER_SECOND = 200;
const KEY = Buffer.alloc(32, 1); // a bench key: the key's source is not what is measured

if (!process.env.FIRESTORE_EMULATOR_HOST) {
  console.error("bench:audit needs the Firestore emulator: run it with `npm run bench:audit`");
  process.exit(2);
}

const clock = { now: () => new Date() };
const entry = (i: number): AuditEntry => ({
  actor: { kind: "key", id: `k_${i % 7}`, role: "operator" },
  action: "POST /deploy",
  target: `dep-${i}`,
  source: "203.0.113.9",
  outcome: "ok",
  status: 202,
  correlation_id: `dep-${i}`,
  detail: null,
});

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const round = (n: number) => Math.round(n * 10) / 10;

function clients(project: string): App[] {
  return Array.from({ length: CLIENTS }, (_, i) => initializeApp({ projectId: project }, `${project}-${i}`));
}

/** Runs `append` from every client with CONCURRENCY in flight until `seconds` pass; answers the counts. */
async function drive(
  apps: App[],
  seconds: number,
  append: (db: Firestore, i: number) => Promise<void>,
  onDone: () => void,
): Promise<{ ok: number; failed: number; errors: Map<string, number>; latencies: number[] }> {
  const stop = Date.now() + seconds * 1000;
  let next = 0;
  const result = { ok: 0, failed: 0, errors: new Map<string, number>(), latencies: [] as number[] };
  await Promise.all(
    apps.flatMap((app) =>
      Array.from({ length: CONCURRENCY }, async () => {
        const db = getFirestore(app);
        while (Date.now() < stop) {
          const i = ++next;
          const started = performance.now();
          try {
            await append(db, i);
            result.ok += 1;
            result.latencies.push(performance.now() - started);
            onDone();
          } catch (error) {
            result.failed += 1;
            const message = (error instanceof Error ? error.message : String(error)).slice(0, 80);
            result.errors.set(message, (result.errors.get(message) ?? 0) + 1);
          }
        }
      }),
    ),
  );
  return result;
}

async function pipeline() {
  const project = `demo-audit-bench-${Date.now().toString(36)}`;
  const apps = clients(project);
  const writer = createAuditLog(getFirestore(apps[0]!), clock, { key: () => Promise.resolve(KEY) });
  const started = Date.now();
  let staged = 0;
  let chained = 0;
  const stagedAt: { t: number; n: number }[] = [];
  const lags: number[] = [];
  let appending = true;
  let maxBacklog = 0;
  // The chain writer: one instance draining as the trigger and the sweeper would.
  const chainer = (async () => {
    while (appending || (await writer.pending()) > 0) {
      const done = await writer.drain({
        onBatch: (n) => {
          chained += n;
          // Lag of the newest record chained: how long ago the staged count reached `chained`.
          const reached = stagedAt.find((sample) => sample.n >= chained);
          if (n > 0 && reached) lags.push(Date.now() - reached.t);
        },
      });
      if (done.chained === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  const sampler = setInterval(() => {
    stagedAt.push({ t: Date.now(), n: staged });
    maxBacklog = Math.max(maxBacklog, staged - chained);
    const elapsed = (Date.now() - started) / 1000;
    process.stdout.write(
      `\r  ${elapsed.toFixed(0).padStart(3)} s  staged ${staged}  chained ${chained}  backlog ${staged - chained}   `,
    );
  }, 250);
  // Warm-up: each client's first call opens its connection; that is not what is measured.
  await Promise.all(apps.map((app) => getFirestore(app).collection("bench_warmup").doc("x").get()));
  const measured = Date.now();
  const driven = await drive(
    apps,
    SECONDS,
    async (db, i) => {
      await createAuditLog(db, clock, { key: () => Promise.resolve(KEY) }).append(entry(i));
    },
    () => (staged += 1),
  );
  const appendEnded = Date.now();
  appending = false;
  await chainer;
  const drainedAt = Date.now();
  clearInterval(sampler);
  process.stdout.write("\n");
  const verified = await writer.verify();
  const records = (await getFirestore(apps[0]!).collection(AUDIT_COLLECTIONS.log).count().get()).data().count;
  await Promise.all(apps.map((app) => deleteApp(app)));
  const sortedLags = lags.sort((a, b) => a - b);
  const latencies = driven.latencies.sort((a, b) => a - b);
  return {
    project,
    seconds: SECONDS,
    appends_ok: driven.ok,
    appends_failed: driven.failed,
    errors: Object.fromEntries(driven.errors),
    staged_per_second: round(driven.ok / SECONDS),
    chained_records: records,
    chained_per_second_until_drained: round(records / ((drainedAt - measured) / 1000)),
    drain_after_last_append_ms: drainedAt - appendEnded,
    max_backlog: maxBacklog,
    chain_lag_ms: {
      p50: percentile(sortedLags, 50),
      p90: percentile(sortedLags, 90),
      p99: percentile(sortedLags, 99),
      max: sortedLags.at(-1) ?? NaN,
    },
    append_latency_ms: {
      p50: round(percentile(latencies, 50)),
      p99: round(percentile(latencies, 99)),
    },
    verify: verified,
  };
}

/** The design this replaces: every append is a transaction on the head document. */
async function baseline() {
  const project = `demo-audit-baseline-${Date.now().toString(36)}`;
  const apps = clients(project);
  await Promise.all(apps.map((app) => getFirestore(app).collection("bench_warmup").doc("x").get()));
  const driven = await drive(
    apps,
    BASELINE_SECONDS,
    async (db, i) => {
      const headRef = db.collection(AUDIT_COLLECTIONS.head).doc(AUDIT_HEAD_ID);
      await db.runTransaction(async (tx) => {
        const snap = await tx.get(headRef);
        const head = snap.exists ? auditHeadSchema.parse(snap.data()) : EMPTY_HEAD;
        const record = chainRecord(KEY, head, entry(i), new Date());
        tx.create(db.collection(AUDIT_COLLECTIONS.log).doc(auditDocId(record.seq)), record);
        tx.set(headRef, { seq: record.seq, hash: record.hash });
      });
    },
    () => undefined,
  );
  await Promise.all(apps.map((app) => deleteApp(app)));
  const latencies = driven.latencies.sort((a, b) => a - b);
  return {
    project,
    seconds: BASELINE_SECONDS,
    appends_ok: driven.ok,
    appends_failed: driven.failed,
    errors: Object.fromEntries(driven.errors),
    appends_per_second: round(driven.ok / BASELINE_SECONDS),
    append_latency_ms: { p50: round(percentile(latencies, 50)), p99: round(percentile(latencies, 99)) },
  };
}

console.log(
  `bench:audit: ${CLIENTS} clients x ${CONCURRENCY} appends in flight, ${SECONDS} s with the inbox and one chain writer, then ${BASELINE_SECONDS} s of the old head-transaction design`,
);
const result = await pipeline();
console.log(
  `inbox + chain writer: ${result.appends_ok} appends in ${SECONDS} s = ${result.staged_per_second} appends/s staged (p50 ${result.append_latency_ms.p50} ms, p99 ${result.append_latency_ms.p99} ms), ${result.appends_failed} failed`,
);
console.log(
  `  chained ${result.chained_records} records = ${result.chained_per_second_until_drained} records/s until drained; chain lag p50 ${result.chain_lag_ms.p50} ms, p90 ${result.chain_lag_ms.p90} ms, p99 ${result.chain_lag_ms.p99} ms, max ${result.chain_lag_ms.max} ms; max backlog ${result.max_backlog}; drained ${result.drain_after_last_append_ms} ms after the last append`,
);
console.log(`  verify: ${JSON.stringify(result.verify)}`);
const old = await baseline();
console.log(
  `old design (transaction on the head per append): ${old.appends_ok} appends in ${BASELINE_SECONDS} s = ${old.appends_per_second} appends/s (p50 ${old.append_latency_ms.p50} ms, p99 ${old.append_latency_ms.p99} ms), ${old.appends_failed} failed ${JSON.stringify(old.errors)}`,
);
const ratio = round(result.staged_per_second / Math.max(old.appends_per_second, 0.1));
const chainedRatio = round(result.chained_per_second_until_drained / Math.max(old.appends_per_second, 0.1));
console.log(
  `ratio: ${ratio}x the baseline's appends/s staged, ${chainedRatio}x chained; target ${TARGET_PER_SECOND}/s sustained: ${result.chained_per_second_until_drained >= TARGET_PER_SECOND && result.staged_per_second >= TARGET_PER_SECOND ? "met" : "NOT met"}`,
);
mkdirSync("out/bench", { recursive: true });
const file = `out/bench/audit-${new Date().toISOString().replace(/[:.]/g, "-")}.json`;
writeFileSync(
  file,
  JSON.stringify(
    {
      at: new Date().toISOString(),
      clients: CLIENTS,
      concurrency: CONCURRENCY,
      pipeline: result,
      baseline: old,
      ratio,
    },
    null,
    2,
  ),
);
console.log(`written: ${file}`);
process.exitCode = result.appends_failed === 0 && result.verify.ok ? 0 : 1;
