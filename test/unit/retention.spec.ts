/**
 * Firestore keeps hot state only: what gets an `expire_at`, when, and which collections Firestore's
 * TTL policies cover. Expected times are written here from the issue (operational records 90 days by
 * default, `base.schedules.retention_days` when configured; an open alert never expires), not read
 * from the code under test.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { validateConfig } from "../../functions/src/domain/config.js";
import {
  deploymentDocSchema,
  isRefusal,
  rollbackClaimDocSchema,
  taskDocSchema,
  transitionDeployment,
  transitionTask,
  type DeploymentDoc,
  type DeploymentEvent,
  type TaskDoc,
  type TaskEvent,
} from "../../functions/src/domain/engine-model.js";
import { jobRunSchema, type JobRun } from "../../functions/src/domain/job-runs.js";
import { alertDocSchema, type AlertDoc } from "../../functions/src/domain/model.js";
import { planDeployment } from "../../functions/src/domain/planner.js";
import {
  alertExpireAt,
  jobRunExpireAt,
  resolvedAlert,
  retentionDaysOf,
  withAlertExpiry,
} from "../../functions/src/domain/retention.js";
import { JOB_KINDS, jobDefinitionSchema } from "../../functions/src/domain/schedules.js";
import { RETENTION_TARGETS } from "../../functions/src/engine/job-actions.js";
import { createJobRunner, type JobActions } from "../../functions/src/engine/jobs.js";
import { createMemoryJobStore } from "../../functions/src/store/job-store.js";
import { exampleConfig } from "../support/config-builder.js";

/** When things end in these tests; every expected expiry below is written out from it. */
const ENDED = new Date("2026-03-10T08:00:00.000Z");
const ENDED_PLUS_90_DAYS = new Date("2026-06-08T08:00:00.000Z");
const ENDED_PLUS_7_DAYS = new Date("2026-03-17T08:00:00.000Z");
const STARTED = new Date("2026-03-10T07:55:00.000Z");

function plannedTasks(retentionDays: number | null): TaskDoc[] {
  const config = validateConfig(exampleConfig());
  assert.ok(config.ok);
  const dev = config.config.environments.find((env) => env.name === "dev")!;
  const plan = planDeployment(
    "dep-ttl",
    {
      environment: "dev",
      integrations: ["security", "auth"],
      configuration: { max_retries: 1 },
      requested_by: "retention.spec",
    },
    dev,
    STARTED,
    undefined,
    retentionDays,
  );
  assert.ok(plan.ok);
  return plan.plan.tasks.map(({ id: _id, ...task }) => task);
}

function step(task: TaskDoc, event: TaskEvent): TaskDoc {
  const next = transitionTask(task, event);
  assert.ok(!isRefusal(next), isRefusal(next) ? next.refused : "");
  return taskDocSchema.parse(next);
}

/** The ready task (security), claimed at STARTED. */
function running(retentionDays: number | null): TaskDoc {
  const ready = plannedTasks(retentionDays).find((task) => task.status === "ready")!;
  return step(ready, { type: "claim", now: STARTED });
}

describe("retention: expire_at of tasks", () => {
  it("is none while a task is planned, blocked, ready or running, whatever the retention", () => {
    for (const task of plannedTasks(90)) assert.equal(task.expire_at, null, task.status);
    assert.equal(running(90).expire_at, null);
  });

  it("is 90 days (the default) after a task succeeded, 7 when 7 are configured", () => {
    assert.deepEqual(step(running(90), { type: "succeed", now: ENDED }).expire_at, ENDED_PLUS_90_DAYS);
    assert.deepEqual(step(running(7), { type: "succeed", now: ENDED }).expire_at, ENDED_PLUS_7_DAYS);
  });

  it("is none on a failure that retries, set on the one that ends it", () => {
    const retrying = step(running(90), {
      type: "fail",
      now: new Date("2026-03-10T07:56:00.000Z"),
      error: "boom",
      retryAt: new Date("2026-03-10T07:57:00.000Z"),
    });
    assert.equal(retrying.status, "ready");
    assert.equal(retrying.expire_at, null);
    const again = step(retrying, { type: "claim", now: new Date("2026-03-10T07:58:00.000Z") });
    const failed = step(again, { type: "fail", now: ENDED, error: "boom", retryAt: null });
    assert.equal(failed.status, "failed");
    assert.deepEqual(failed.expire_at, ENDED_PLUS_90_DAYS);
  });

  it("is set when a task is skipped or cancelled, and kept when a succeeded one is rolled back later", () => {
    const blocked = plannedTasks(90).find((task) => task.status === "blocked")!;
    assert.deepEqual(step(blocked, { type: "skip", now: ENDED, reason: "x" }).expire_at, ENDED_PLUS_90_DAYS);
    assert.deepEqual(
      step(blocked, { type: "cancel", now: ENDED, reason: "x" }).expire_at,
      ENDED_PLUS_90_DAYS,
    );
    const succeeded = step(running(90), { type: "succeed", now: ENDED });
    const undone = step(succeeded, {
      type: "roll_back",
      now: new Date("2026-03-11T00:00:00.000Z"),
      note: "undone",
    });
    assert.equal(undone.status, "rolled_back");
    assert.deepEqual(undone.expire_at, ENDED_PLUS_90_DAYS);
  });

  it("is none on a task planned without a retention (before it was kept): the purge's old rule takes it", () => {
    assert.equal(step(running(null), { type: "succeed", now: ENDED }).expire_at, null);
  });

  it("reads a task document written before these fields existed", () => {
    const { retention_days: _r, expire_at: _e, ...old } = running(90);
    const parsed = taskDocSchema.parse(old);
    assert.equal(parsed.retention_days, null);
    assert.equal(parsed.expire_at, null);
  });
});

describe("retention: expire_at of deployments", () => {
  const requested = (): DeploymentDoc =>
    deploymentDocSchema.parse({
      status: "requested",
      environment: "dev",
      integrations: ["auth"],
      requested_by: "retention.spec",
      created_at: STARTED,
    });
  const apply = (doc: DeploymentDoc, event: DeploymentEvent): DeploymentDoc => {
    const next = transitionDeployment(doc, event);
    assert.ok(!isRefusal(next), isRefusal(next) ? next.refused : "");
    return deploymentDocSchema.parse(next);
  };
  const start: DeploymentEvent = {
    type: "start",
    now: STARTED,
    taskIds: ["t"],
    estimatedCompletion: ENDED,
    criticalPath: ["t"],
    correlationId: "c",
    rollbackPolicy: "failed-only",
  };

  it("is none while a deployment is requested, running or cancelling", () => {
    assert.equal(requested().expire_at, null);
    const run = apply(requested(), start);
    assert.equal(run.expire_at, null);
    assert.equal(apply(run, { type: "cancel", now: ENDED }).expire_at, null);
  });

  it("is the retention after it finished, however it ended", () => {
    const run = apply(requested(), start);
    for (const outcome of ["succeeded", "failed", "rolled_back", "cancelled"] as const)
      assert.deepEqual(
        apply(run, { type: "finish", now: ENDED, outcome, error: null, retentionDays: 90 }).expire_at,
        ENDED_PLUS_90_DAYS,
        outcome,
      );
    assert.deepEqual(
      apply(requested(), { type: "reject", now: ENDED, error: "no", retentionDays: 7 }).expire_at,
      ENDED_PLUS_7_DAYS,
    );
  });

  it("is set when an approval is declined or runs out", () => {
    const waiting = (expiresAt: Date) =>
      apply(requested(), { type: "await_approval", now: STARTED, expiresAt });
    const open = waiting(new Date("2026-03-11T00:00:00.000Z"));
    assert.equal(open.expire_at, null);
    const declined = apply(open, {
      type: "decline",
      now: ENDED,
      by: ["user:b"],
      reason: "no",
      retentionDays: 90,
    });
    assert.deepEqual(declined.expire_at, ENDED_PLUS_90_DAYS);
    const lapsed = waiting(new Date("2026-03-10T07:59:00.000Z"));
    assert.deepEqual(
      apply(lapsed, { type: "expire_approval", now: ENDED, retentionDays: 7 }).expire_at,
      ENDED_PLUS_7_DAYS,
    );
  });

  it("is none when the ending event carries no retention, and old documents still parse", () => {
    const run = apply(requested(), start);
    assert.equal(
      apply(run, { type: "finish", now: ENDED, outcome: "succeeded", error: null }).expire_at,
      null,
    );
    const { expire_at: _e, ...old } = apply(run, {
      type: "finish",
      now: ENDED,
      outcome: "failed",
      error: "x",
    });
    assert.equal(deploymentDocSchema.parse(old).expire_at, null);
    const claim = rollbackClaimDocSchema.parse({
      status: "done",
      task_id: "t",
      deployment_id: "d",
      attempt: 1,
      note: "undone",
    });
    assert.equal(claim.status === "done" ? claim.expire_at : "running", null);
  });
});

describe("retention: expire_at of alerts", () => {
  const open: AlertDoc = {
    level: "critical",
    status: "open",
    source: "health",
    environment: "dev",
    integration: "auth",
    deployment_id: null,
    message: "auth is down",
    opened_at: STARTED,
    last_seen_at: STARTED,
    resolved_at: null,
  };

  it("never expires an open alert, however old or whatever the retention", () => {
    assert.equal(alertExpireAt(open, 90), null);
    assert.equal(alertExpireAt(open, 1), null);
    assert.equal("expire_at" in withAlertExpiry({ ...open, expire_at: ENDED }, 90), false);
  });

  it("expires a resolved alert 90 days (the default) or the configured days after it was resolved", () => {
    const resolved = resolvedAlert(open, ENDED, 90);
    assert.equal(resolved.status, "resolved");
    assert.deepEqual(resolved.resolved_at, ENDED);
    assert.deepEqual(resolved.expire_at, ENDED_PLUS_90_DAYS);
    assert.deepEqual(resolvedAlert(open, ENDED, 7).expire_at, ENDED_PLUS_7_DAYS);
    const bornResolved = { ...open, level: "info" as const, status: "resolved" as const, resolved_at: ENDED };
    assert.deepEqual(withAlertExpiry(bornResolved, 90).expire_at, ENDED_PLUS_90_DAYS);
  });

  it("reads alerts written before expire_at was kept", () => {
    assert.equal(
      alertDocSchema.parse({ ...open, status: "resolved", resolved_at: ENDED }).expire_at,
      undefined,
    );
  });
});

describe("retention: expire_at of job runs and job alerts", () => {
  const base = {
    id: "r",
    job: "lease-sweeper",
    kind: "lease-sweep" as const,
    environment: null,
    trigger: "schedule" as const,
    scheduled_for: STARTED,
    requested_by: null,
    summary: "",
    expire_at: null,
  };

  it("is none while a run runs; the retention after it finished, or was recorded missed or skipped", () => {
    const runningRun: JobRun = {
      ...base,
      outcome: "running",
      started_at: STARTED,
      finished_at: null,
      duration_ms: null,
      result: null,
    };
    assert.equal(jobRunExpireAt(runningRun, 90), null);
    for (const outcome of ["succeeded", "failed", "timed_out"] as const) {
      const ended: JobRun = {
        ...base,
        outcome,
        started_at: STARTED,
        finished_at: ENDED,
        duration_ms: 1,
        result: null,
      };
      assert.deepEqual(jobRunExpireAt(ended, 90), ENDED_PLUS_90_DAYS, outcome);
    }
    const missed: JobRun = {
      ...base,
      outcome: "missed",
      started_at: null,
      finished_at: ENDED,
      duration_ms: null,
      result: null,
    };
    assert.deepEqual(jobRunExpireAt(missed, 7), ENDED_PLUS_7_DAYS);
    const { expire_at: _e, ...old } = runningRun;
    assert.equal(jobRunSchema.parse(old).expire_at, null);
  });

  it("the runner writes them: a failed run and a succeeded one expire, the job's alert only once resolved", async () => {
    const store = createMemoryJobStore();
    let now = ENDED;
    let fail = true;
    const act = () => (fail ? Promise.reject(new Error("boom")) : Promise.resolve({ summary: "done" }));
    const actions = Object.fromEntries(JOB_KINDS.map((kind) => [kind, act])) as unknown as JobActions;
    const runner = createJobRunner({
      store,
      clock: { now: () => now },
      bus: { publishTask: () => Promise.resolve(), publishEvent: () => Promise.resolve() },
      log: {
        info: () => undefined,
        warn: () => undefined,
        error: () => undefined,
        debug: () => undefined,
      },
      timer: () => ({ done: new Promise<void>(() => undefined), cancel: () => undefined }),
      catalog: () =>
        Promise.resolve([
          jobDefinitionSchema.parse({
            name: "retention-purge",
            kind: "retention-purge",
            description: "",
            cron: "30 4 * * *",
            time_zone: "UTC",
            environment: null,
            host: "control-plane",
            catch_up: "run-once",
            timeout_seconds: 60,
          }),
        ]),
      actions,
      newHolder: () => "h",
      retentionDays: () => Promise.resolve(7),
    });
    const failed = await runner.runNow("retention-purge", "user:a");
    assert.equal(failed.outcome, "failed");
    assert.deepEqual(failed.expire_at, ENDED_PLUS_7_DAYS);
    assert.deepEqual(store.runs.get(failed.id)?.expire_at, ENDED_PLUS_7_DAYS);
    const alert = store.alerts.get("job__retention-purge");
    assert.equal(alert?.status, "open");
    assert.equal(alert?.expire_at ?? null, null, "an open alert never expires");

    fail = false;
    now = new Date("2026-03-10T09:00:00.000Z");
    const succeeded = await runner.runNow("retention-purge", "user:a");
    assert.deepEqual(succeeded.expire_at, new Date("2026-03-17T09:00:00.000Z"));
    const resolved = store.alerts.get("job__retention-purge");
    assert.equal(resolved?.status, "resolved");
    assert.deepEqual(resolved?.expire_at, new Date("2026-03-17T09:00:00.000Z"));

    fail = true;
    now = new Date("2026-03-10T10:00:00.000Z");
    await runner.runNow("retention-purge", "user:a");
    const reopened = store.alerts.get("job__retention-purge");
    assert.equal(reopened?.status, "open");
    assert.equal(reopened?.expire_at ?? null, null, "a reopened alert loses its expiry");
  });
});

describe("retention: the configured days", () => {
  it("reads base.schedules.retention_days from the stored config, 90 days without one", () => {
    assert.equal(retentionDaysOf(undefined), 90);
    assert.equal(retentionDaysOf({ base: {} }), 90);
    assert.equal(retentionDaysOf({ base: { schedules: { time_zone: "UTC" } } }), 90);
    assert.equal(retentionDaysOf({ base: { schedules: { retention_days: 30 } } }), 30);
    assert.equal(retentionDaysOf({ base: { schedules: { retention_days: "thirty" } } }), 90);
  });
});

describe("retention: TTL policies in firestore.indexes.json", () => {
  /** The collection groups that hold only hot state, from the issue and this change's decisions. */
  const EXPECTED = [
    "alerts",
    "deployments",
    "job_runs",
    "orchestration_tasks",
    "rollback_claims",
    "task_settlements",
  ];
  const file = JSON.parse(readFileSync(new URL("../../firestore.indexes.json", import.meta.url), "utf8")) as {
    indexes: unknown[];
    fieldOverrides: {
      collectionGroup: string;
      fieldPath: string;
      ttl?: boolean;
      indexes: Record<string, unknown>[];
    }[];
  };

  it("declares a TTL on expire_at for exactly the hot-state collection groups, never the audit chain", () => {
    const ttl = file.fieldOverrides.filter((override) => override.ttl === true);
    assert.deepEqual(ttl.map((override) => override.collectionGroup).sort(), EXPECTED);
    for (const override of ttl) assert.equal(override.fieldPath, "expire_at", override.collectionGroup);
    assert.equal(file.fieldOverrides.length, EXPECTED.length, "no other field override");
    assert.ok(!ttl.some((override) => override.collectionGroup.startsWith("audit_")));
  });

  it("keeps only the ascending single-field index the purge's query needs (no descending, array or group ones)", () => {
    for (const override of file.fieldOverrides)
      assert.deepEqual(
        override.indexes,
        [{ order: "ASCENDING", queryScope: "COLLECTION" }],
        override.collectionGroup,
      );
  });

  it("is a spec firebase-tools accepts (its own validator, as `firebase deploy --only firestore:indexes` runs it)", () => {
    const require = createRequire(import.meta.url);
    const { FirestoreApi } = require("firebase-tools/lib/firestore/api.js") as {
      FirestoreApi: new () => { upgradeOldSpec(spec: unknown): unknown; validateSpec(spec: unknown): void };
    };
    const api = new FirestoreApi();
    assert.doesNotThrow(() => api.validateSpec(api.upgradeOldSpec(file)));
    const broken = { ...file, fieldOverrides: [{ ...file.fieldOverrides[0], ttl: "yes" }] };
    assert.throws(() => api.validateSpec(api.upgradeOldSpec(broken)), /ttl/);
  });

  it("is what the retention purge enforces locally: the same collections", () => {
    assert.deepEqual(RETENTION_TARGETS.map((target) => target.collection).sort(), EXPECTED);
  });
});
