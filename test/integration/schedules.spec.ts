import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { configWith } from "../support/config-builder.js";
import { adminDb, api, clearFirestore, requireEmulators, tokenFor } from "../support/emulators.js";

/** POSTs a tick to the scheduledJob function, as the local ticker (or Cloud Scheduler) does. */
async function tick(body: unknown, token?: string): Promise<{ status: number; body: any }> {
  const url = `${process.env.ORCH_API_URL?.replace(/\/api$/, "")}/scheduledJob`;
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

const ORCH = fileURLToPath(new URL("../../bin/orch.mjs", import.meta.url));

/** Runs `orch ...args` as the given token; answers the exit code and output. */
function orch(args: string[], token: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [ORCH, ...args],
      { env: { ...process.env, ORCH_TOKEN: token } },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe("scheduled jobs on the emulators", function () {
  this.timeout(120_000);

  before(async function () {
    requireEmulators(this);
    await clearFirestore();
    const config = configWith((c) => {
      c.base.schedules = { time_zone: "Europe/Berlin", retention_days: 30 };
      c.environments.push({
        name: "remote",
        type: "development",
        project_id: "acme-remote-live",
        mode: "live",
        integrations: ["firestore", "backup"],
      });
    });
    const loaded = await api("POST", "/config", config);
    assert.equal(loaded.status, 200, JSON.stringify(loaded.body));
  });

  it("lists the catalog with cron, time zone, catch-up policy and next run", async () => {
    const { status, body } = await api("GET", "/jobs", undefined, {}, "viewer");
    assert.equal(status, 200, JSON.stringify(body));
    const byName = new Map<string, any>(body.jobs.map((j: any) => [j.name, j]));
    for (const name of [
      "lease-sweeper",
      "optimization",
      "control-plane-backup",
      "retention-purge",
      "warehouse-maintenance",
      "backup-prod",
      "health-prod",
      "backup-remote",
    ]) {
      assert.ok(byName.has(name), `${name} in ${[...byName.keys()].join(", ")}`);
    }
    const backup = byName.get("backup-prod");
    assert.equal(backup.cron, "0 */6 * * *", "prod's backup.schedule from the config");
    assert.equal(backup.time_zone, "Europe/Berlin");
    assert.equal(backup.catch_up, "run-once");
    assert.ok(Date.parse(backup.next_run) > Date.now());
    assert.equal(byName.get("lease-sweeper").cron, "* * * * *");
  });

  it("runs a scheduled tick of an environment's backup through the scheduledJob function, once", async () => {
    const admin = await tokenFor("admin");
    const at = "2026-12-01T06:00:00.000Z";
    const first = await tick({ job: "backup-prod", scheduled_for: at }, admin);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.status, "ran");
    const run = first.body.runs.at(-1);
    assert.equal(run.id, "backup-prod_20261201T060000Z");
    assert.equal(run.outcome, "succeeded", run.summary);
    assert.ok(existsSync(run.result.dir), `export folder ${run.result.dir}`);
    assert.ok(existsSync(path.join(run.result.dir, "orchestration-backup.json")));

    const again = await tick({ job: "backup-prod", scheduled_for: at }, admin);
    assert.deepEqual(again.body, { status: "duplicate", run_id: "backup-prod_20261201T060000Z" });
    const stored = await adminDb().collection("job_runs").doc("backup-prod_20261201T060000Z").get();
    assert.equal(stored.get("outcome"), "succeeded");
    assert.equal(stored.get("trigger"), "schedule");
  });

  it("refuses ticks without the stack's admin on the emulator, and bad ticks naming the field", async () => {
    assert.equal((await tick({ job: "lease-sweeper" })).status, 401);
    assert.equal((await tick({ job: "lease-sweeper" }, await tokenFor("operator"))).status, 403);
    const bad = await tick(
      { job: "lease-sweeper", scheduled_for: "tomorrow", colour: "red" },
      await tokenFor("admin"),
    );
    assert.equal(bad.status, 400);
    const paths = bad.body.error.problems.map((p: any) => p.path);
    assert.ok(
      paths.includes("scheduled_for") && paths.some((p: string) => p.includes("colour")),
      JSON.stringify(bad.body),
    );
    assert.equal((await tick({ job: "no-such-job" }, await tokenFor("admin"))).status, 404);
  });

  it("backs up the control plane's Firestore and audit chain with a manifest of counts", async () => {
    const { status, body } = await api("POST", "/jobs/control-plane-backup/run");
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.run.outcome, "succeeded", body.run.summary);
    assert.equal(body.run.trigger, "manual");
    const manifest = JSON.parse(readFileSync(path.join(body.run.result.dir, "manifest.json"), "utf8"));
    const counts = new Map<string, number>(manifest.collections.map((c: any) => [c.name, c.documents]));
    const environments = await adminDb().collection("environments").count().get();
    assert.equal(counts.get("environments"), environments.data().count);
    assert.ok((counts.get("audit_log") ?? 0) >= 1, "the audit chain is in the export");
    assert.equal(manifest.audit_chain.ok, true);
    const lines = readFileSync(path.join(body.run.result.dir, "environments.jsonl"), "utf8")
      .trim()
      .split("\n");
    assert.equal(lines.length, environments.data().count);
  });

  it("records a failed run, raises the job's alert, and lists the run", async () => {
    const { body } = await api("POST", "/jobs/backup-remote/run");
    assert.equal(body.run.outcome, "failed");
    assert.match(body.run.summary, /live/);
    const alert = await adminDb().collection("alerts").doc("job__backup-remote").get();
    assert.equal(alert.get("status"), "open");
    assert.equal(alert.get("source"), "job");
    const alerts = await api("GET", "/alerts?status=open");
    assert.ok(
      alerts.body.alerts.some((a: any) => a.message.includes("backup-remote")),
      JSON.stringify(alerts.body),
    );
    const runs = await api("GET", "/jobs/backup-remote/runs", undefined, {}, "viewer");
    assert.equal(runs.body.runs[0].id, body.run.id);
    const listed = await api("GET", "/jobs");
    const view = listed.body.jobs.find((j: any) => j.name === "backup-remote");
    assert.equal(view.last_run.outcome, "failed");
  });

  it("pauses and resumes a job (admin only, audited); a paused job's ticks do not run", async () => {
    assert.equal((await api("POST", "/jobs/optimization/pause", undefined, {}, "operator")).status, 403);
    const paused = await api("POST", "/jobs/optimization/pause");
    assert.deepEqual(paused.body, { job: "optimization", paused: true, paused_by: paused.body.paused_by });
    const skipped = await tick(
      { job: "optimization", scheduled_for: "2026-12-02T01:30:00.000Z" },
      await tokenFor("admin"),
    );
    assert.deepEqual(skipped.body, { status: "paused", job: "optimization" });
    const listed = await api("GET", "/jobs");
    assert.equal(listed.body.jobs.find((j: any) => j.name === "optimization").next_run, null);
    const resumed = await api("POST", "/jobs/optimization/resume");
    assert.equal(resumed.body.paused, false);
    const ran = await tick(
      { job: "optimization", scheduled_for: "2026-12-03T01:30:00.000Z" },
      await tokenFor("admin"),
    );
    assert.equal(ran.body.runs.at(-1).outcome, "succeeded", JSON.stringify(ran.body));
    assert.match(ran.body.runs.at(-1).summary, /recommendation/);
    // Requests are audited off the request path: the sweeper chains what they staged.
    await api("POST", "/jobs/sweep");
    const audit = await adminDb().collection("audit_log").orderBy("seq", "desc").limit(10).get();
    const actions = audit.docs.map((d) => d.get("action"));
    assert.ok(
      actions.includes("POST /jobs/{name}/pause") && actions.includes("POST /jobs/{name}/resume"),
      actions.join(", "),
    );
  });

  it("runs the warehouse hook (the stack's local warehouse purges past retention), and the retention purge", async () => {
    const warehouse = await api("POST", "/jobs/warehouse-maintenance/run");
    assert.match(warehouse.body.run.summary, /^duckdb: \d+ row\(s\) past retention purged$/);
    const old = new Date(Date.now() - 40 * 86_400_000);
    await adminDb().collection("alerts").doc("old-resolved").set({
      level: "warning",
      status: "resolved",
      source: "health",
      environment: "dev",
      integration: "auth",
      deployment_id: null,
      message: "old",
      opened_at: old,
      last_seen_at: old,
      resolved_at: old,
    });
    const purge = await api("POST", "/jobs/retention-purge/run");
    assert.equal(purge.body.run.outcome, "succeeded", purge.body.run.summary);
    assert.ok(purge.body.run.result.deleted["resolved alerts"] >= 1);
    assert.equal((await adminDb().collection("alerts").doc("old-resolved").get()).exists, false);
    assert.equal(
      (await adminDb().collection("alerts").doc("job__backup-remote").get()).exists,
      true,
      "open alerts stay",
    );
  });

  it("drives the same through `orch jobs`", async () => {
    const admin = await tokenFor("admin");
    const list = await orch(["jobs", "list"], admin);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /backup-prod\s+0 \*\/6 \* \* \*\s+Europe\/Berlin\s+run-once/);
    const run = await orch(["jobs", "run", "warehouse-maintenance"], admin);
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stdout,
      /warehouse-maintenance\s+succeeded.*\(manual\): duckdb: \d+ row\(s\) past retention purged/,
    );
    const runs = await orch(["jobs", "runs", "warehouse-maintenance", "--limit", "1", "--json"], admin);
    assert.equal(JSON.parse(runs.stdout)[0].job, "warehouse-maintenance");
    const refused = await orch(["jobs", "pause", "optimization"], await tokenFor("viewer"));
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /run_jobs/);
    const missing = await orch(["jobs", "run", "no-such-job"], admin);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /no scheduled job "no-such-job"/);
  });

  it("shows the Cloud Scheduler difference in /plan, saying why when no Cloud Scheduler is configured", async () => {
    const { status, body } = await api("POST", "/plan", { environments: ["dev"] });
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.scheduled_jobs.existing, null);
    assert.match(body.scheduled_jobs.note, /ORCH_SCHEDULER_TARGET_URI/);
  });
});
