/** What each kind of scheduled job does, built on the control plane's services. */
import type { Firestore } from "firebase-admin/firestore";
import type { Clock } from "../app.js";
import type { VerifyResult } from "../domain/audit.js";
import { COLLECTIONS } from "../domain/model.js";
import { JOB_COLLECTIONS } from "../domain/job-runs.js";
import { buildBackupDesired, takeExport } from "../drivers/backup.js";
import { exportControlPlane } from "../drivers/control-plane-backup.js";
import { targetFor } from "../drivers/integration-driver.js";
import type { DriverIO, DriverTarget } from "../drivers/types.js";
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
 * What the retention purge deletes, each by its own timestamp field. Events are published on
 * Pub/Sub and kept by the warehouse, not in Firestore, so no event collection is listed here.
 */
export const RETENTION_TARGETS = [
  { collection: COLLECTIONS.tasks, field: "created_at", what: "tasks" },
  {
    collection: COLLECTIONS.alerts,
    field: "last_seen_at",
    what: "resolved alerts",
    only: { field: "status", equals: "resolved" },
  },
  { collection: JOB_COLLECTIONS.runs, field: "scheduled_for", what: "job runs" },
] as const;

const PAGE = 300;

/** Deletes the documents of one collection whose `field` is before `cutoff`, a page at a time. */
async function purge(
  db: Firestore,
  target: (typeof RETENTION_TARGETS)[number],
  cutoff: Date,
): Promise<number> {
  let deleted = 0;
  for (;;) {
    const page = await db.collection(target.collection).where(target.field, "<", cutoff).limit(PAGE).get();
    const doomed = page.docs.filter(
      (doc) => !("only" in target) || doc.get(target.only.field) === target.only.equals,
    );
    if (doomed.length > 0) {
      const batch = db.batch();
      for (const doc of doomed) batch.delete(doc.ref);
      await batch.commit();
      deleted += doomed.length;
    }
    // A page whose documents all stay (open alerts) would come back forever: stop there.
    if (page.size < PAGE || doomed.length === 0) return deleted;
  }
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
      const target = targetFor(env, "backup") as DriverTarget<"backup">;
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
      const cutoff = new Date(deps.clock.now().getTime() - days * 86_400_000);
      const deleted: Record<string, number> = {};
      for (const target of RETENTION_TARGETS) deleted[target.what] = await purge(deps.db, target, cutoff);
      const parts = Object.entries(deleted).map(([what, n]) => `${n} ${what}`);
      return {
        summary: `deleted ${parts.join(", ")} older than ${days} days (before ${cutoff.toISOString()}); events live on Pub/Sub and in the warehouse`,
        result: { cutoff: cutoff.toISOString(), deleted },
      };
    },
    "warehouse-maintenance": async () => {
      const warehouse = await deps.warehouse();
      if (warehouse === null) return { summary: "no warehouse configured", skipped: true };
      return warehouse.maintain(deps.clock.now());
    },
  };
}
