/** What each kind of scheduled job does, built on the control plane's services. */
import type { DocumentSnapshot, Firestore, Query } from "firebase-admin/firestore";
import type { Clock } from "../app.js";
import type { VerifyResult } from "../domain/audit.js";
import {
  LIVE_DEPLOYMENT_STATUSES,
  TERMINAL_DEPLOYMENT_STATUSES,
  TERMINAL_TASK_STATUSES,
} from "../domain/engine-model.js";
import { COLLECTIONS } from "../domain/model.js";
import { JOB_COLLECTIONS } from "../domain/job-runs.js";
import { EXPIRE_AT, expiryAfter } from "../domain/retention.js";
import { isTimestamp } from "../domain/timestamps.js";
import { buildBackupDesired, takeExport } from "../drivers/backup.js";
import { exportControlPlane } from "../drivers/control-plane-backup.js";
import { targetFor } from "../drivers/integration-driver.js";
import type { DriverIO, DriverTarget } from "../drivers/types.js";
import { ROLLBACK_CLAIMS, SETTLEMENTS } from "../store/engine-store.js";
import type { Engine } from "./engine.js";
import type { EnvironmentResolver } from "./environments.js";
import type { HealthMonitor } from "./health.js";
import type { ActionResult, JobActions } from "./jobs.js";
import type { Tuning } from "./tuning.js";

/** The warehouse's maintenance hook (partition expiry, compaction); the analytics work wires it. */
export interface WarehouseMaintenance {
  maintain(now: Date): Promise<ActionResult>;
}

/**
 * The collections Firestore keeps hot state only in, each with a TTL policy on `expire_at`
 * (firestore.indexes.json): a record gets its `expire_at` when it ends (domain/retention.ts). The
 * retention purge deletes by the same rule, since the emulator runs no TTL, and in the cloud it is
 * the backstop. Records written before `expire_at` was kept (`old`) go by the rule the purge had
 * then: their own time field before the cutoff, and ended (`ended`). Events are not in Firestore
 * (Pub/Sub and the warehouse); the audit chain stays whole (see README, "The warehouse").
 */
export const RETENTION_TARGETS: readonly {
  collection: string;
  what: string;
  old: { field: string; ended: (doc: DocumentSnapshot) => boolean } | null;
}[] = [
  {
    collection: COLLECTIONS.tasks,
    what: "tasks",
    old: { field: "created_at", ended: (doc) => oneOf(doc.get("status"), TERMINAL_TASK_STATUSES) },
  },
  {
    collection: COLLECTIONS.deployments,
    what: "deployments",
    old: { field: "completed_at", ended: (doc) => oneOf(doc.get("status"), TERMINAL_DEPLOYMENT_STATUSES) },
  },
  {
    collection: COLLECTIONS.alerts,
    what: "resolved alerts",
    old: { field: "last_seen_at", ended: (doc) => doc.get("status") === "resolved" },
  },
  // A run still marked running after the retention is a run whose process died: the old rule took it too.
  { collection: JOB_COLLECTIONS.runs, what: "job runs", old: { field: "scheduled_for", ended: () => true } },
  // Claims done before they carried their task's expiry have no time of their own: they stay.
  { collection: ROLLBACK_CLAIMS, what: "rollback claims", old: null },
  // A settlement carries its task's expiry from the start.
  { collection: SETTLEMENTS, what: "task settlements", old: null },
];

const PAGE = 300;
/** Ended tasks of a deployment still live are kept past the next two purges (TTL would delete them under the engine). */
const HOLD_DAYS = 2;

const oneOf = (value: unknown, values: readonly string[]) =>
  typeof value === "string" && values.includes(value);
const hasExpiry = (doc: DocumentSnapshot) => {
  const value: unknown = doc.get(EXPIRE_AT);
  return typeof value === "object" && value !== null && isTimestamp(value);
};

/** Deletes, a page at a time, the documents of `query` (ordered, so a page that keeps some moves on) that `doomed` picks. */
async function purgeWhere(
  db: Firestore,
  query: Query,
  doomed: (doc: DocumentSnapshot) => boolean,
): Promise<number> {
  let deleted = 0;
  let after: DocumentSnapshot | undefined;
  for (;;) {
    const page = await (after ? query.startAfter(after) : query).limit(PAGE).get();
    const picked = page.docs.filter(doomed);
    if (picked.length > 0) {
      const batch = db.batch();
      for (const doc of picked) batch.delete(doc.ref);
      await batch.commit();
      deleted += picked.length;
    }
    if (page.size < PAGE) return deleted;
    after = page.docs[page.docs.length - 1];
  }
}

/**
 * Keeps the ended tasks of deployments still live: their expiry (or, for tasks written before it was
 * kept, a new one) moves to at least HOLD_DAYS ahead, so neither TTL nor this purge deletes a task
 * the engine still reads to finish its deployment. Only a deployment live for longer than the
 * retention has any. Answers the live deployments and how many tasks were held.
 */
async function holdLiveDeployments(
  db: Firestore,
  now: Date,
  days: number,
): Promise<{ live: Set<string>; held: number }> {
  const live = new Set<string>();
  const horizon = expiryAfter(now, HOLD_DAYS);
  const until = expiryAfter(now, Math.max(days, HOLD_DAYS));
  let held = 0;
  const deployments = await db
    .collection(COLLECTIONS.deployments)
    .where("status", "in", [...LIVE_DEPLOYMENT_STATUSES])
    .select()
    .get();
  for (const deployment of deployments.docs) {
    live.add(deployment.id);
    const tasks = await db.collection(COLLECTIONS.tasks).where("deployment_id", "==", deployment.id).get();
    const soon = tasks.docs.filter((task) => {
      if (!oneOf(task.get("status"), TERMINAL_TASK_STATUSES)) return false;
      const expireAt: unknown = task.get(EXPIRE_AT);
      return !hasExpiry(task) || (expireAt as { toDate(): Date }).toDate().getTime() < horizon.getTime();
    });
    for (let index = 0; index < soon.length; index += PAGE) {
      const batch = db.batch();
      for (const task of soon.slice(index, index + PAGE)) batch.update(task.ref, { [EXPIRE_AT]: until });
      await batch.commit();
    }
    held += soon.length;
  }
  return { live, held };
}

/** What the purge deleted from one collection: past their `expire_at`, and by the old rule. */
interface Purged {
  expired: number;
  old_rule: number;
}

/** Deletes what has expired by `now` and, without an expiry, what the old rule takes (ended, before `cutoff`). */
async function purgeTarget(
  db: Firestore,
  target: (typeof RETENTION_TARGETS)[number],
  now: Date,
  cutoff: Date,
  live: ReadonlySet<string>,
): Promise<Purged> {
  const collection = db.collection(target.collection);
  // Never a task of a deployment still live (held above; this covers a deployment that started meanwhile).
  const free = (doc: DocumentSnapshot) =>
    target.collection !== COLLECTIONS.tasks || !live.has(String(doc.get("deployment_id")));
  const expired = await purgeWhere(db, collection.where(EXPIRE_AT, "<=", now).orderBy(EXPIRE_AT), free);
  const old = target.old;
  const oldRule =
    old === null
      ? 0
      : await purgeWhere(
          db,
          collection.where(old.field, "<", cutoff).orderBy(old.field),
          (doc) => !hasExpiry(doc) && old.ended(doc) && free(doc),
        );
  return { expired, old_rule: oldRule };
}

/** The actions of every job kind. */
export function createJobActions(deps: {
  db: Firestore;
  clock: Clock;
  engine: Engine;
  health: HealthMonitor;
  environments: EnvironmentResolver;
  tuning: Pick<Tuning, "autoTune">;
  io: DriverIO;
  backupRoot: string;
  projectId: string;
  verifyAudit: () => Promise<VerifyResult>;
  /** Chains the audit records staged since the last pass. */
  chainAudit: () => Promise<{ chained: number }>;
  /** The warehouse's maintenance, once resolved; null when no warehouse is configured. */
  warehouse: () => Promise<WarehouseMaintenance | null>;
}): JobActions {
  return {
    "lease-sweep": async () => {
      // The audit chain catches up even when the engine's sweep fails: a record is delayed, never dropped.
      const [swept, chained] = await Promise.allSettled([deps.engine.sweep(), deps.chainAudit()]);
      if (swept.status === "rejected") throw swept.reason;
      if (chained.status === "rejected") throw chained.reason;
      const { expired, republished, reconciled, relayed, errors } = swept.value;
      return {
        summary: `${expired} expired lease(s) returned, ${republished} message(s) republished, ${reconciled} deployment(s) reconciled, ${relayed} fact(s) relayed, ${chained.value.chained} audit record(s) chained${errors.length > 0 ? `; ${errors.length} error(s): ${errors.join("; ")}` : ""}`,
        result: { ...swept.value, audit: chained.value },
      };
    },
    "health-check": async (job) => {
      const report = await deps.health.check(job.environment ?? undefined);
      const counts = new Map<string, number>();
      for (const entry of report.integration_status)
        counts.set(entry.health, (counts.get(entry.health) ?? 0) + 1);
      const tally = [...counts].map(([health, n]) => `${n} ${health}`).join(", ") || "no integrations";
      return {
        summary: `${job.environment ?? "all"}: ${report.system_health.status} (${tally})`,
        result: { status: report.system_health.status },
      };
    },
    optimization: async () => {
      const { result, judged, applied, recommended } = await deps.tuning.autoTune();
      const plan = result.optimization_plan;
      const settled = judged.filter((verdict) => verdict.decision !== "watching");
      return {
        summary: `${plan.length} recommendation(s) from ${result.expected_improvements.baseline.deployments} deployment(s) in the last 30 days; ${applied.length} change(s) applied within tuning.auto_apply and tuning.max_change${applied.length > 0 ? ` (${applied.map((a) => a.change).join("; ")})` : ""}; ${recommended.length} left for a person; ${settled.length} canary(ies) settled (${settled.map((verdict) => `${verdict.action_id} ${verdict.decision}`).join(", ") || "none"})`,
        result: {
          optimization_plan: plan,
          baseline: result.expected_improvements.baseline,
          analyzed: result.analyzed,
          applied,
          recommended,
          canaries: judged,
        },
      };
    },
    "environment-backup": async (job) => {
      const env = await deps.environments.environment(job.environment ?? "");
      const target = targetFor(env, job.integration ?? "backup") as DriverTarget<"backup">;
      const { state, problems } = buildBackupDesired(target.integration, target.settings);
      if (problems.length > 0) throw new Error(problems.map((p) => p.message).join("; "));
      const taken = await takeExport(deps.backupRoot, target, state, deps.io);
      return {
        summary: `export ${taken.export_id} of ${env.name} (${taken.contents.join(" and ")}) in ${taken.dir}`,
        result: { export_id: taken.export_id, dir: taken.dir, contents: taken.contents },
      };
    },
    "control-plane-backup": async () => {
      // Chain what is staged first, so the backup holds the audit trail up to this moment.
      await deps.chainAudit();
      const config = await deps.environments.config();
      const manifest = await exportControlPlane({
        db: deps.db,
        backupRoot: deps.backupRoot,
        projectId: deps.projectId,
        now: deps.clock.now(),
        retentionDays: config.schedules.retention_days,
        verifyAudit: deps.verifyAudit,
      });
      const chain = manifest.audit_chain.ok
        ? `audit chain verified (${manifest.audit_chain.count} records)`
        : `audit chain NOT intact: ${manifest.audit_chain.message}`;
      return {
        summary: `${manifest.documents} document(s) in ${manifest.collections.length} collection(s) to ${manifest.dir}; ${chain}`,
        result: {
          dir: manifest.dir,
          documents: manifest.documents,
          collections: manifest.collections.map(({ name, documents }) => ({ name, documents })),
          audit_chain_ok: manifest.audit_chain.ok,
        },
      };
    },
    "retention-purge": async () => {
      const config = await deps.environments.config();
      const days = config.schedules.retention_days;
      const now = deps.clock.now();
      const cutoff = new Date(now.getTime() - days * 86_400_000);
      const { live, held } = await holdLiveDeployments(deps.db, now, days);
      const deleted: Record<string, number> = {};
      const byCollection: Record<string, Purged> = {};
      for (const target of RETENTION_TARGETS) {
        const purged = await purgeTarget(deps.db, target, now, cutoff, live);
        byCollection[target.collection] = purged;
        deleted[target.what] = purged.expired + purged.old_rule;
      }
      const parts = RETENTION_TARGETS.map(({ collection, what }) => {
        const { expired, old_rule } = byCollection[collection] ?? { expired: 0, old_rule: 0 };
        return `${expired + old_rule} ${what} (${expired} expired, ${old_rule} by the old rule)`;
      });
      return {
        summary: `deleted ${parts.join(", ")}: expired by ${now.toISOString()}, or without an expiry and older than ${days} days (before ${cutoff.toISOString()}); ${held} ended task(s) of live deployments held; events live on Pub/Sub and in the warehouse`,
        result: {
          now: now.toISOString(),
          cutoff: cutoff.toISOString(),
          retention_days: days,
          deleted,
          by_collection: byCollection,
          held_tasks: held,
        },
      };
    },
    "warehouse-maintenance": async () => {
      const warehouse = await deps.warehouse();
      if (warehouse === null) return { summary: "no warehouse configured", skipped: true };
      return warehouse.maintain(deps.clock.now());
    },
  };
}
