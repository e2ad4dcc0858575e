import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { configWith } from "../support/config-builder.js";
import { adminDb, api, clearFirestore, requireEmulators, tokenFor, waitFor } from "../support/emulators.js";
import { byIntegration, deploy, settled } from "../support/engine.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

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

  it("gives what ended an expire_at (this config's 30 days after it ended) and nothing live one", async () => {
    const days = (from: Date | null | undefined, n: number) => new Date((from?.getTime() ?? NaN) + n * DAY);
    const ok = await settled(
      await deploy({
        environment: "dev",
        integrations: ["auth", "hosting"],
        configuration: { driver: "simulated" },
      }),
    );
    assert.equal(ok.deployment.status, "succeeded");
    assert.deepEqual(ok.deployment.expire_at, days(ok.deployment.completed_at, 30));
    for (const task of ok.tasks) assert.deepEqual(task.expire_at, days(task.completed_at, 30), task.id);
    const info = await waitFor("the deployment's info alert", async () => {
      const snap = await adminDb().collection("alerts").doc(`deployment__${ok.deployment.id}`).get();
      return snap.exists ? snap : undefined;
    });
    assert.equal(info.get("status"), "resolved");
    assert.deepEqual(info.get("expire_at").toDate(), ok.deployment.expire_at, "it goes with its deployment");

    const bad = await settled(
      await deploy({
        environment: "dev",
        integrations: ["auth", "firestore"],
        configuration: {
          driver: "simulated",
          max_retries: 0,
          simulate: { firestore: { fail_always: true } },
        },
      }),
    );
    assert.equal(bad.deployment.status, "failed");
    assert.deepEqual(bad.deployment.expire_at, days(bad.deployment.completed_at, 30));
    const failed = byIntegration(bad.tasks).get("firestore")!;
    assert.equal(failed.status, "failed");
    assert.deepEqual(failed.expire_at, days(failed.completed_at, 30));
    const claim = await adminDb().collection("rollback_claims").doc(failed.id).get();
    assert.equal(claim.get("status"), "done", "the failed task's fallback ran");
    assert.deepEqual(claim.get("expire_at").toDate(), failed.expire_at, "the claim goes with its task");
    const critical = await waitFor("the failed deployment's alert", async () => {
      const snap = await adminDb().collection("alerts").doc(`deployment__${bad.deployment.id}`).get();
      return snap.exists ? snap : undefined;
    });
    assert.equal(critical.get("status"), "open");
    assert.equal(critical.get("expire_at"), undefined, "an open alert never expires");

    const { body } = await api("POST", "/jobs/backup-remote/run");
    assert.equal(body.run.outcome, "failed");
    const run = await adminDb().collection("job_runs").doc(body.run.id).get();
    assert.deepEqual(run.get("expire_at").toDate(), days(run.get("finished_at").toDate(), 30));
    const jobAlert = await adminDb().collection("alerts").doc("job__backup-remote").get();
    assert.equal(jobAlert.get("status"), "open");
    assert.equal(jobAlert.get("expire_at"), undefined);
  });

  it("purges locally what TTL deletes in the cloud: past expire_at, and without one by the old rule; holds a live deployment's tasks", async () => {
    const db = adminDb();
    const now = Date.now();
    const at = (offsetMs: number) => new Date(now + offsetMs);
    // Templates of valid documents (so that the triggers read them), from a deployment of this stack.
    const model = await settled(
      await deploy({ environment: "dev", integrations: ["auth"], configuration: { driver: "simulated" } }),
    );
    const { id: _task, ...template } = model.tasks[0]!;
    const { id: _deployment, ...deploymentTemplate } = model.deployment;
    /** A raw document; `expire_at` undefined leaves the field out, as documents written before it was kept. */
    const put = async (collection: string, id: string, doc: Record<string, unknown>) => {
      const { expire_at, ...rest } = doc;
      await db
        .collection(collection)
        .doc(id)
        .set(expire_at === undefined ? rest : { ...rest, expire_at });
    };
    const task = (id: string, fields: Record<string, unknown>) =>
      put("orchestration_tasks", id, {
        ...template,
        deployment_id: "ttl-gone",
        expire_at: undefined,
        ...fields,
      });
    const deployment = (id: string, fields: Record<string, unknown>) =>
      put("deployments", id, { ...deploymentTemplate, expire_at: undefined, ...fields });
    const alert = (id: string, fields: Record<string, unknown>) =>
      put("alerts", id, {
        level: "warning",
        status: "resolved",
        source: "health",
        environment: "dev",
        integration: "auth",
        deployment_id: null,
        message: id,
        opened_at: at(-41 * DAY),
        last_seen_at: at(-40 * DAY),
        resolved_at: at(-40 * DAY),
        ...fields,
      });
    const run = (id: string, fields: Record<string, unknown>) =>
      put("job_runs", id, {
        id,
        job: "lease-sweeper",
        kind: "lease-sweep",
        environment: null,
        trigger: "schedule",
        scheduled_for: at(-40 * DAY),
        requested_by: null,
        summary: "",
        outcome: "succeeded",
        started_at: at(-40 * DAY),
        finished_at: at(-40 * DAY),
        duration_ms: 1,
        result: null,
        ...fields,
      });
    const settlement = (id: string, expireAt: Date) =>
      put("task_settlements", id, {
        deployment_id: "ttl-gone",
        status: "succeeded",
        settled_at: at(-40 * DAY),
        expire_at: expireAt,
      });
    const claim = (id: string, fields: Record<string, unknown>) =>
      put("rollback_claims", id, {
        status: "done",
        task_id: id,
        deployment_id: "ttl-gone",
        attempt: 1,
        note: "",
        ...fields,
      });

    await Promise.all([
      // Past their expiry: deleted.
      task("ttl-task-expired", { expire_at: at(-HOUR) }),
      deployment("ttl-dep-expired", { expire_at: at(-HOUR) }),
      alert("ttl-alert-expired", { last_seen_at: at(-HOUR), resolved_at: at(-HOUR), expire_at: at(-HOUR) }),
      run("ttl-run-expired", { scheduled_for: at(-HOUR), expire_at: at(-HOUR) }),
      claim("ttl-claim-expired", { expire_at: at(-HOUR) }),
      settlement("ttl-settlement-expired", at(-HOUR)),
      settlement("ttl-settlement-fresh", at(DAY)),
      // Not yet expired, though older than 30 days by their own times: kept.
      task("ttl-task-fresh", { created_at: at(-40 * DAY), expire_at: at(DAY) }),
      deployment("ttl-dep-fresh", { completed_at: at(-40 * DAY), expire_at: at(DAY) }),
      alert("ttl-alert-fresh", { expire_at: at(DAY) }),
      run("ttl-run-fresh", { expire_at: at(DAY) }),
      // Without expire_at (written before it was kept): the old rule, on records that ended.
      task("ttl-task-legacy-old", { created_at: at(-40 * DAY) }),
      task("ttl-task-legacy-recent", { created_at: at(-10 * DAY) }),
      task("ttl-task-legacy-live", { status: "ready", created_at: at(-40 * DAY), completed_at: null }),
      deployment("ttl-dep-legacy-old", { completed_at: at(-40 * DAY) }),
      deployment("ttl-dep-legacy-recent", { completed_at: at(-10 * DAY) }),
      alert("ttl-alert-legacy-old", {}),
      alert("ttl-alert-legacy-open", { status: "open", resolved_at: null }),
      run("ttl-run-legacy-old", {}),
      run("ttl-run-legacy-recent", { scheduled_for: at(-10 * DAY) }),
      claim("ttl-claim-legacy", {}),
      // A deployment still running: its ended tasks stay, whatever their expiry or age.
      deployment("ttl-live", { status: "running", completed_at: null, actual_duration: null }),
      task("ttl-task-held", { deployment_id: "ttl-live", expire_at: at(-HOUR) }),
      task("ttl-task-held-legacy", {
        deployment_id: "ttl-live",
        status: "failed",
        created_at: at(-40 * DAY),
      }),
    ]);

    const purge = await api("POST", "/jobs/retention-purge/run");
    assert.equal(purge.body.run.outcome, "succeeded", purge.body.run.summary);
    const result = purge.body.run.result;
    assert.deepEqual(result.by_collection, {
      orchestration_tasks: { expired: 1, old_rule: 1 },
      deployments: { expired: 1, old_rule: 1 },
      alerts: { expired: 1, old_rule: 1 },
      job_runs: { expired: 1, old_rule: 1 },
      rollback_claims: { expired: 1, old_rule: 0 },
      task_settlements: { expired: 1, old_rule: 0 },
    });
    assert.deepEqual(result.deleted, {
      tasks: 2,
      deployments: 2,
      "resolved alerts": 2,
      "job runs": 2,
      "rollback claims": 1,
      "task settlements": 1,
    });
    assert.equal(result.held_tasks, 2);
    assert.equal(result.retention_days, 30);

    const exists = async (collection: string, id: string) =>
      (await db.collection(collection).doc(id).get()).exists;
    const expectations: [string, string, boolean][] = [
      ["orchestration_tasks", "ttl-task-expired", false],
      ["deployments", "ttl-dep-expired", false],
      ["alerts", "ttl-alert-expired", false],
      ["job_runs", "ttl-run-expired", false],
      ["rollback_claims", "ttl-claim-expired", false],
      ["task_settlements", "ttl-settlement-expired", false],
      ["task_settlements", "ttl-settlement-fresh", true],
      ["orchestration_tasks", "ttl-task-fresh", true],
      ["deployments", "ttl-dep-fresh", true],
      ["alerts", "ttl-alert-fresh", true],
      ["job_runs", "ttl-run-fresh", true],
      ["orchestration_tasks", "ttl-task-legacy-old", false],
      ["orchestration_tasks", "ttl-task-legacy-recent", true],
      ["orchestration_tasks", "ttl-task-legacy-live", true],
      ["deployments", "ttl-dep-legacy-old", false],
      ["deployments", "ttl-dep-legacy-recent", true],
      ["alerts", "ttl-alert-legacy-old", false],
      ["alerts", "ttl-alert-legacy-open", true],
      ["job_runs", "ttl-run-legacy-old", false],
      ["job_runs", "ttl-run-legacy-recent", true],
      ["rollback_claims", "ttl-claim-legacy", true],
      ["deployments", "ttl-live", true],
      ["orchestration_tasks", "ttl-task-held", true],
      ["orchestration_tasks", "ttl-task-held-legacy", true],
    ];
    const found = await Promise.all(expectations.map(([collection, id]) => exists(collection, id)));
    assert.deepEqual(
      expectations.map(
        ([collection, id], index) => `${collection}/${id}: ${found[index] ? "kept" : "deleted"}`,
      ),
      expectations.map(([collection, id, kept]) => `${collection}/${id}: ${kept ? "kept" : "deleted"}`),
    );
    // Held: the live deployment's ended tasks expire no sooner than 30 days from now.
    for (const id of ["ttl-task-held", "ttl-task-held-legacy"]) {
      const held = (await db.collection("orchestration_tasks").doc(id).get()).get("expire_at").toDate();
      assert.ok(held.getTime() >= now + 30 * DAY, `${id} held until ${held.toISOString()}`);
    }
    // The stack's own records (runs, the deployments above) expire in the future: the purge left them.
    assert.ok((await db.collection("job_runs").doc(purge.body.run.id).get()).exists);
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
