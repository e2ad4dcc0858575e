/**
 * `npm run bench:warehouse`: the warehouse's figures in one run.
 *
 * 1. Ingest: events published to `orchestration-events` on the stack's Pub/Sub emulator until the
 *    local warehouse process has committed them (events/s end to end, and the writer's memory),
 *    first BENCH_INGEST events (default 100,000), then BENCH_LOAD events (default 1,000,000). The
 *    publisher keeps at most BENCH_MAX_BACKLOG (50,000) events published and not yet in the warehouse, as
 *    producers that publish when things happen do; a million at once makes the Pub/Sub emulator
 *    itself the bottleneck (it held 5.6 GB and slowed to about 800 events/s).
 * 2. Query: BENCH_DAYS days (default 30) at BENCH_PER_DAY events a day (default 1,000,000) written
 *    into a DuckDB file with one SQL statement, folded into the facts by the writer's own upsert,
 *    then the executive and performance reports' aggregates timed against the 2 s goal.
 * 3. Beside them, the same reports computed the current way, from Firestore documents, where that
 *    can run: the Firestore reader stops at 5,000 deployments (HISTORY_LIMITS).
 *
 * Run under the stack (the npm script does) for phase 1; without it phase 1 is skipped, saying why.
 * The figures are also written to out/bench/warehouse-<time>.json.
 */
import fs from "node:fs";
import path from "node:path";
import { PubSub } from "@google-cloud/pubsub";
import { TOPICS, type OrchestrationEvent } from "../functions/src/bus.js";
import { emptyHistory } from "../functions/src/domain/optimize.js";
import { buildReport, reportRequestSchema } from "../functions/src/domain/reports.js";
import { HISTORY_LIMITS } from "../functions/src/store/history.js";
import { duckdbFactsUpserts, openDuckDbWarehouse } from "../functions/src/warehouse/duckdb.js";
import { loadWarehouseFacts, withWarehouseAggregates } from "../functions/src/warehouse/report.js";
import { EVENTS_PER_DEPLOYMENT, syntheticHistorySql } from "./warehouse-history.js";

const INGEST = Number(process.env.BENCH_INGEST ?? 100_000);
const LOAD = Number(process.env.BENCH_LOAD ?? 1_000_000);
const DAYS = Number(process.env.BENCH_DAYS ?? 30);
const PER_DAY = Number(process.env.BENCH_PER_DAY ?? 1_000_000);
const MAX_BACKLOG = Number(process.env.BENCH_MAX_BACKLOG ?? 50_000);
const GOAL_PER_SECOND = 1000;
const GOAL_QUERY_MS = 2000;
const SPEC_PER_SECOND = 1_000_000 / 86_400;

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const mb = (bytes: number) => `${Math.round(bytes / 1e6)} MB`;

interface Status {
  received: number;
  events: number;
  rss_bytes: number;
}
async function status(): Promise<Status> {
  return (await (await fetch(`${process.env.ORCH_WAREHOUSE_URL}/status`)).json()) as Status;
}

function event(run: string, i: number, at: number): OrchestrationEvent {
  return {
    event_id: `${run}:${i}`,
    kind: "task",
    deployment_id: `${run}-d${Math.floor(i / 20)}`,
    task_id: `${run}-t${Math.floor(i / 3)}`,
    environment: ["dev", "staging", "prod"][i % 3]!,
    integration: "functions",
    from: "ready",
    to: "running",
    attempt: 1,
    detail: null,
    correlation_id: `${run}-d${Math.floor(i / 20)}`,
    at: new Date(at + i).toISOString(),
    duration: null,
    payload: { retry_count: 0 },
  };
}

/** Publishes `count` events and waits until the warehouse committed them; prints the rate and memory. */
async function ingest(label: string, count: number): Promise<IngestFigures> {
  const pubsub = new PubSub({ projectId: process.env.GCLOUD_PROJECT });
  const [topic] = await pubsub.topic(TOPICS.events).get({ autoCreate: true });
  topic.setPublishOptions({ batching: { maxMessages: 1000, maxMilliseconds: 10 } });
  const before = await status();
  const run = `bench-${Date.now().toString(36)}`;
  const started = performance.now();
  let peakRss = before.rss_bytes;
  let done = false;
  const sampler = (async () => {
    let lastPrint = 0;
    while (!done) {
      const now = await status();
      peakRss = Math.max(peakRss, now.rss_bytes);
      const elapsed = performance.now() - started;
      if (elapsed - lastPrint > 10_000) {
        lastPrint = elapsed;
        process.stdout.write(
          `  ${label}: ${fmt(now.events - before.events)} of ${fmt(count)} in the warehouse after ${(elapsed / 1000).toFixed(0)} s\n`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  const at = Date.now() - 3600_000;
  const CHUNK = 20_000;
  for (let offset = 0; offset < count; offset += CHUNK) {
    // Producers publish as events happen, not a million at once: the next chunk waits while more
    // than MAX_BACKLOG published events are not yet in the warehouse (the emulator slows with its backlog).
    while (offset - ((await status()).events - before.events) > MAX_BACKLOG)
      await new Promise((r) => setTimeout(r, 50));
    const pending: Promise<string>[] = [];
    for (let i = offset; i < Math.min(count, offset + CHUNK); i++) {
      const e = event(run, i, at);
      pending.push(topic.publishMessage({ json: e, attributes: { dedupe_key: e.event_id } }));
    }
    await Promise.all(pending);
  }
  const published = performance.now() - started;
  for (;;) {
    const now = await status();
    if (now.events >= before.events + count) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const seconds = (performance.now() - started) / 1000;
  done = true;
  await sampler;
  const after = await status();
  await pubsub.close();
  const rate = count / seconds;
  console.log(
    `${label}: ${fmt(count)} events in ${seconds.toFixed(1)} s (published in ${(published / 1000).toFixed(1)} s) = ${fmt(rate)} events/s end to end; ` +
      `${(rate / GOAL_PER_SECOND).toFixed(2)}x the 1,000/s goal, ${(rate / SPEC_PER_SECOND).toFixed(0)}x the specification's ${SPEC_PER_SECOND.toFixed(1)}/s; ` +
      `writer memory ${mb(before.rss_bytes)} before, peak ${mb(peakRss)}; ${fmt(after.received - before.received - count)} deliveries were redeliveries (dropped by event_id)`,
  );
  return {
    label,
    events: count,
    seconds: Number(seconds.toFixed(1)),
    events_per_second: Math.round(rate),
    redeliveries: after.received - before.received - count,
    max_backlog: MAX_BACKLOG,
    writer_rss_bytes: { before: before.rss_bytes, peak: peakRss },
  };
}

interface IngestFigures {
  label: string;
  events: number;
  seconds: number;
  events_per_second: number;
  redeliveries: number;
  max_backlog: number;
  writer_rss_bytes: { before: number; peak: number };
}

interface QueryFigures {
  days: number;
  events: number;
  write_seconds: number;
  fold_seconds: number;
  reports_ms: Record<string, number[]>;
  search_ms: Record<string, number>;
}

async function queries(): Promise<QueryFigures> {
  const dir = path.resolve(".stack", "bench");
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, "warehouse-30d.duckdb");
  for (const f of [file, `${file}.wal`]) fs.rmSync(f, { force: true });
  const wh = await openDuckDbWarehouse(file);
  const end = new Date("2026-12-01T00:00:00Z");
  const range = { from: new Date(end.getTime() - DAYS * 86_400_000), to: end };
  const rows = Math.floor(PER_DAY / EVENTS_PER_DEPLOYMENT) * EVENTS_PER_DEPLOYMENT * DAYS;
  // The same columns as orchestration_events without its event_id index: the rows are generated
  // unique, and the reports read the facts, not this table.
  await wh.exec("CREATE TABLE bench_events AS SELECT * FROM orchestration_events LIMIT 0");
  let t = performance.now();
  for (let day = 0; day < DAYS; day++) {
    const dayEnd = new Date(range.from.getTime() + (day + 1) * 86_400_000);
    await wh.exec(syntheticHistorySql(dayEnd, 1, PER_DAY, "bench_events", `d${day}-`));
    if ((day + 1) % 5 === 0 || day === DAYS - 1)
      console.log(
        `  history: day ${day + 1} of ${DAYS} written (${((performance.now() - t) / 1000).toFixed(0)} s, process memory ${mb(process.memoryUsage().rss)})`,
      );
  }
  const writeSeconds = (performance.now() - t) / 1000;
  console.log(
    `history: ${fmt(rows)} events (${DAYS} days at ${fmt(PER_DAY)}/day) written in ${writeSeconds.toFixed(1)} s`,
  );
  t = performance.now();
  for (const sql of duckdbFactsUpserts("bench_events")) await wh.exec(sql);
  const foldSeconds = (performance.now() - t) / 1000;
  console.log(
    `facts: folded in ${foldSeconds.toFixed(1)} s (the writer does this per batch as events arrive)`,
  );
  const now = end;
  const reportsMs: Record<string, number[]> = {};
  for (const type of ["executive", "performance"] as const) {
    const request = reportRequestSchema.parse({ report_type: type, time_range: "30d" });
    const times: number[] = [];
    for (let run = 0; run < 3; run++) {
      const started = performance.now();
      const facts = await loadWarehouseFacts(wh, range, null);
      const report = withWarehouseAggregates(buildReport(emptyHistory(range), request, now), facts);
      times.push(performance.now() - started);
      if (run === 0)
        console.log(
          `  ${type}: ${fmt(report.comprehensive_report.summary.deployments.total)} deployments, ${fmt(report.comprehensive_report.summary.tasks.total)} tasks, success rate ${report.comprehensive_report.summary.success_rate}`,
        );
    }
    const best = Math.min(...times);
    reportsMs[type] = times.map((x) => Math.round(x));
    console.log(
      `${type} report over ${DAYS} days (${fmt(rows)} events): ${times.map((x) => `${Math.round(x)} ms`).join(", ")}; best ${Math.round(best)} ms = ${(best / GOAL_QUERY_MS).toFixed(2)}x the ${GOAL_QUERY_MS} ms goal`,
    );
  }
  // The search reads orchestration_events: the history becomes it (the writer's table is empty).
  await wh.exec(`DROP TABLE orchestration_events`);
  await wh.exec(`ALTER TABLE bench_events RENAME TO orchestration_events`);
  const searchMs: Record<string, number> = {};
  const week = { from: new Date(end.getTime() - 7 * 86_400_000).toISOString(), to: end.toISOString() };
  const whole = { from: range.from.toISOString(), to: end.toISOString() };
  const lastDeployment = `d${DAYS - 1}-${Math.floor(PER_DAY / EVENTS_PER_DEPLOYMENT) - 1}`;
  const searches: [string, Parameters<typeof wh.search>[0]][] = [
    [
      `correlation id ${lastDeployment}, last 7 days`,
      { ...week, environments: null, correlation_id: lastDeployment },
    ],
    ['text "hosting failed", last 7 days', { ...week, environments: null, q: "hosting failed" }],
    ['text "hosting failed" in prod, last 7 days', { ...week, environments: ["prod"], q: "hosting failed" }],
    [`text "hosting failed", ${DAYS} days`, { ...whole, environments: null, q: "hosting failed" }],
  ];
  for (const [label, params] of searches) {
    const times: number[] = [];
    let found = 0;
    for (let run = 0; run < 3; run++) {
      const started = performance.now();
      found = (await wh.search(params)).length;
      times.push(performance.now() - started);
    }
    searchMs[label] = Math.round(Math.min(...times));
    console.log(
      `search (${label}): ${found} events; ${times.map((x) => `${Math.round(x)} ms`).join(", ")}; best ${searchMs[label]} ms`,
    );
  }
  wh.close();
  console.log(
    `Firestore, the current way, on the same history: not run. It would need ${fmt(rows / EVENTS_PER_DEPLOYMENT)} deployment and ${fmt((rows / EVENTS_PER_DEPLOYMENT) * 6)} task documents in the emulator, and its reader stops at ${fmt(HISTORY_LIMITS.deployments)} deployments (the report says truncated).`,
  );
  return {
    days: DAYS,
    events: rows,
    write_seconds: Number(writeSeconds.toFixed(1)),
    fold_seconds: Number(foldSeconds.toFixed(1)),
    reports_ms: reportsMs,
    search_ms: searchMs,
  };
}

async function main() {
  const os = await import("node:os");
  const load = os.loadavg().map((x) => Number(x.toFixed(1)));
  console.log(`machine: ${os.cpus().length} cores, load average ${load.join(" ")}`);
  const ingests: IngestFigures[] = [];
  let skipped: string | null = null;
  if (
    process.env.ORCH_WAREHOUSE_URL &&
    process.env.PUBSUB_EMULATOR_HOST &&
    !process.env.ORCH_EMULATORS_MISSING
  ) {
    ingests.push(await ingest("ingest", INGEST));
    if (LOAD > 0) ingests.push(await ingest(`load ${fmt(LOAD)}`, LOAD));
  } else {
    skipped = process.env.ORCH_EMULATORS_MISSING ?? "no stack: run npm run bench:warehouse";
    console.log(`ingest: skipped (${skipped})`);
  }
  const query = await queries();
  fs.mkdirSync("out/bench", { recursive: true });
  const file = `out/bench/warehouse-${new Date().toISOString().replace(/[:.]/g, "-")}.json`;
  fs.writeFileSync(
    file,
    JSON.stringify(
      {
        machine: { cores: os.cpus().length, load_average: load },
        ingest: ingests,
        ingest_skipped: skipped,
        query,
      },
      null,
      2,
    ) + "\n",
  );
  console.log(`written: ${file}`);
}

await main();
