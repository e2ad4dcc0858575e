/**
 * The demo's scheduled-jobs step: lists the catalog with its next runs (GET /jobs), then runs the
 * real runner, actions and Firestore of the stack under an injected clock from 02:59 to 04:01
 * UTC of the next day, so that dev's and staging's backups (03:00) and the control plane's backup
 * (04:00) fire on their own cron, and shows the runs the API then lists. Runs inside a stack
 * (scripts/demo-run.ts calls it; `tsx scripts/with-stack.ts -- tsx scripts/demo-schedules.ts`
 * runs it alone after loading orchestration.json).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { getApps, initializeApp } from "firebase-admin/app";
import { getFirestore } from "firebase-admin/firestore";
import { createServices, driverIO } from "../functions/src/app.js";
import { startTicker } from "../functions/src/engine/ticker.js";
import { VirtualTime } from "./lib/virtual-time.js";

type Call = (
  method: string,
  path: string,
  body?: unknown,
) => Promise<{ status: number; body: Record<string, unknown> }>;

interface JobRow {
  name: string;
  cron: string;
  time_zone: string;
  catch_up: string;
  next_run: string | null;
}
interface RunRow {
  id: string;
  job: string;
  scheduled_for: string;
  started_at: string | null;
  outcome: string;
  trigger: string;
  duration_ms: number | null;
  summary: string;
}

/** The jobs the demo's injected clock drives (the rest keep their real schedule in the stack's ticker). */
const DEMO_JOBS = ["backup-dev", "backup-staging", "control-plane-backup"];

/** Runs the step; answers whether every expected run succeeded once. */
export async function showScheduledJobs(
  call: Call,
  log: (line: string) => void = console.log,
): Promise<boolean> {
  const listed = await call("GET", "/jobs?limit=1");
  const jobs = listed.body.jobs as JobRow[];
  log(`  GET /jobs -> ${listed.status}: ${jobs.length} jobs in the catalog`);
  for (const job of jobs) {
    log(
      `    ${job.name.padEnd(22)} ${job.cron.padEnd(14)} ${job.time_zone.padEnd(14)} ${job.catch_up.padEnd(9)} next ${job.next_run ?? "-"}`,
    );
  }

  if (getApps().length === 0) initializeApp({ projectId: process.env.GCLOUD_PROJECT });
  const day = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
  const start = new Date(`${day}T02:59:00.000Z`);
  const end = new Date(`${day}T04:01:00.000Z`);
  const vt = new VirtualTime(start);
  // Virtual time stands still while real work runs, so runs show 0 ms; exports are named by the virtual clock too.
  const services = createServices({
    db: getFirestore(),
    clock: vt.clock,
    io: { ...driverIO(), now: vt.clock.now },
  });
  const pending: Promise<unknown>[] = [];
  log(
    `  injected clock: ${start.toISOString()} -> ${end.toISOString()}, ticking ${DEMO_JOBS.join(", ")} on their cron`,
  );
  const ticker = await startTicker({
    clock: vt.clock,
    timer: vt.timer,
    jobs: async () => (await services.jobs.catalog()).filter((job) => DEMO_JOBS.includes(job.name)),
    fire: (job, tick) => {
      log(`    tick ${tick.toISOString()} ${job}`);
      const run = services.jobs.runner.runTick(job, tick);
      pending.push(run);
      return run.then(() => undefined);
    },
    onError: (job, error) => log(`    ${job}: ${error instanceof Error ? error.message : String(error)}`),
  });
  // One virtual minute at a time, each step waiting for the real work its ticks started.
  for (let at = start.getTime() + 60_000; at <= end.getTime(); at += 60_000) {
    await vt.runUntil(new Date(at));
    await Promise.all(pending.splice(0));
  }
  ticker.stop();

  const answer = await call("GET", "/jobs?limit=50");
  const runs = (answer.body.runs as RunRow[]).filter(
    (run) => run.scheduled_for.startsWith(day) && DEMO_JOBS.includes(run.job),
  );
  log(`  GET /jobs -> the runs it recorded (job_runs), oldest first:`);
  for (const run of [...runs].reverse()) {
    log(
      `    ${run.scheduled_for} ${run.job.padEnd(21)} ${run.outcome} (${run.trigger}, ${run.duration_ms ?? "-"} ms): ${run.summary}`,
    );
  }
  const expected = [
    `backup-dev_${day.replace(/-/g, "")}T030000Z`,
    `backup-staging_${day.replace(/-/g, "")}T030000Z`,
    `control-plane-backup_${day.replace(/-/g, "")}T040000Z`,
  ];
  return (
    expected.every((id) => runs.filter((run) => run.id === id && run.outcome === "succeeded").length === 1) &&
    runs.length === expected.length
  );
}

// Alone: load the example config, then run the step.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { emulatorToken } = await import("./lib/auth.js");
  const token = await emulatorToken({
    authHost: process.env.FIREBASE_AUTH_EMULATOR_HOST ?? "",
    projectId: process.env.GCLOUD_PROJECT ?? "",
    role: "admin",
    email: "admin@acme.example",
  });
  const apiBase = `${process.env.ORCH_API_URL ?? ""}/api/orchestration`;
  const call: Call = async (method, path, body) => {
    const response = await fetch(`${apiBase}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const config = JSON.parse(
    readFileSync(fileURLToPath(new URL("../orchestration.json", import.meta.url)), "utf8"),
  ) as unknown;
  const loaded = await call("POST", "/config", config);
  if (loaded.status !== 200) throw new Error(`loading orchestration.json: ${JSON.stringify(loaded.body)}`);
  const ok = await showScheduledJobs(call);
  console.log(ok ? "scheduled jobs: every expected run happened once" : "scheduled jobs: NOT as expected");
  process.exit(ok ? 0 : 1);
}
