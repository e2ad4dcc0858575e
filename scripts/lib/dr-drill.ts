/**
 * The disaster-recovery drill of the control plane (`npm run dr-drill`, scripts/dr-drill.ts; the
 * demo and test/integration/dr-drill.spec.ts call `runDrill` directly): takes the latest complete
 * control-plane export, checks its files against the manifest, restores it into a scratch project
 * on the Firestore emulator, checks the document counts, verifies the restored audit chain with
 * the same verifier (and key) the live chain has, reads the restored history the way the engine
 * does and replays it into a scratch DuckDB warehouse, and measures RPO and RTO.
 *
 * It never opens the live project: it reads files, and writes only the scratch project (refused
 * when it is the live one, the export's, or not empty) and a scratch DuckDB file.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { deleteApp, initializeApp } from "firebase-admin/app";
import { getFirestore, type Firestore } from "firebase-admin/firestore";
import { orchestrationEventSchema } from "../../functions/src/bus.js";
import type { AuditKey } from "../../functions/src/domain/audit.js";
import {
  compareAuditChain,
  compareCounts,
  recoveryObjectives,
  type ControlPlaneManifest,
  type DrillCheck,
} from "../../functions/src/domain/disaster-recovery.js";
import { COLLECTIONS, alertDocSchema } from "../../functions/src/domain/model.js";
import {
  ExportUnusableError,
  countCollections,
  findLatestExport,
  readControlPlaneExport,
  releaseJobLeases,
  restoreDocuments,
} from "../../functions/src/drivers/control-plane-restore.js";
import { createAuditLog } from "../../functions/src/store/audit-log.js";
import { auditKeySource, loadAuditKey } from "../../functions/src/store/audit-key.js";
import { createEngineStore } from "../../functions/src/store/engine-store.js";
import { typedCollection } from "../../functions/src/store/typed-collection.js";
import { historyEvents } from "../../functions/src/warehouse/backfill.js";
import { openDuckDbWarehouse } from "../../functions/src/warehouse/duckdb.js";
import { eventToRow } from "../../functions/src/warehouse/schema.js";

export { ExportUnusableError };

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/** Where the functions write a project's backups (functions/src/app.ts: `<source root>/.stack/backups/<project>`). */
export function defaultBackupRoot(projectId: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.ORCH_SOURCE_ROOT ?? repoRoot, ".stack", "backups", projectId);
}

export interface DrillOptions {
  /** The project whose control plane is backed up: never written. */
  liveProject: string;
  /** The backups root (`<repo>/.stack/backups/<project>`); the export is the latest under `_control-plane/`. */
  backupRoot: string;
  /** One export folder instead of the latest. */
  exportDir?: string;
  /** The project to restore into; by default `<live project>-dr-drill-<time>`. */
  scratchProject?: string;
  /**
   * A real restore: into this project, which must be empty and may be the live project's id after
   * its data was lost; the same checks run, and what was restored stays. On the emulator only.
   */
  restoreInto?: string;
  /** Keep the scratch project's documents and the DuckDB file for inspection. */
  keep?: boolean;
  /** The chain's key for the export's project; by default the one the functions use (audit-key.ts), never made anew. */
  auditKey?: (projectId: string) => Promise<AuditKey>;
  now?: () => Date;
}

export interface DrillReport {
  ok: boolean;
  export_dir: string;
  /** The export's project, time and size. */
  manifest: Pick<ControlPlaneManifest, "project_id" | "export_id" | "created_at" | "documents"> & {
    collections: number;
  };
  /** Where the export was restored; null when the files failed their checks and nothing was restored. */
  target_project: string | null;
  /** A drill restores into a scratch project and clears it after; a restore keeps what it wrote. */
  mode: "drill" | "restore";
  warehouse_file: string | null;
  /** Unfinished exports newer than the one taken, whether anything was restored, what was kept. */
  notices: string[];
  checks: DrillCheck[];
  rpo_ms: number;
  rto_ms: number;
}

/** Input the drill refuses before doing anything (no emulator, a scratch project that is not scratch). */
export class DrillRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DrillRefusedError";
  }
}

const defaultAuditKey = (projectId: string): Promise<AuditKey> =>
  loadAuditKey(auditKeySource({ ...process.env, GCLOUD_PROJECT: projectId }), { create: false });

async function clearEmulatorProject(host: string, projectId: string): Promise<void> {
  const response = await fetch(
    `http://${host}/emulator/v1/projects/${projectId}/databases/(default)/documents`,
    { method: "DELETE" },
  );
  if (!response.ok)
    throw new Error(`clearing scratch project ${projectId}: ${response.status} ${await response.text()}`);
}

/** Reads the restored history as the engine does (typed, validated) and replays it into a scratch warehouse. */
async function replayWarehouse(db: Firestore, file: string, now: Date): Promise<DrillCheck[]> {
  const engine = createEngineStore(db);
  let history;
  try {
    const [deployments, tasks, alerts] = await Promise.all([
      engine.deployments.get(),
      engine.tasks.get(),
      typedCollection(db, COLLECTIONS.alerts, alertDocSchema).get(),
    ]);
    history = {
      deployments: deployments.docs.map((doc) => ({ ...doc.data(), id: doc.id })),
      tasks: tasks.docs.map((doc) => ({ ...doc.data(), id: doc.id })),
      alerts: alerts.docs.map((doc) => ({ ...doc.data(), id: doc.id })),
    };
  } catch (error) {
    return [{ check: "engine reads restored history", ok: false, detail: (error as Error).message }];
  }
  const checks: DrillCheck[] = [
    {
      check: "engine reads restored history",
      ok: true,
      detail: `${history.deployments.length} deployment(s), ${history.tasks.length} task(s), ${history.alerts.length} alert(s) valid`,
    },
  ];
  const events = historyEvents(history);
  const expected = new Set(events.map((event) => event.event_id)).size;
  const warehouse = await openDuckDbWarehouse(file);
  try {
    await warehouse.insert(events.map((event) => eventToRow(orchestrationEventSchema.parse(event), now)));
    const stored = await warehouse.count();
    checks.push({
      check: "warehouse events",
      ok: stored === expected,
      detail: `${stored} event(s) in orchestration_events, ${expected} implied by the restored history`,
    });
    const window = { from: "2000-01-01T00:00:00Z", to: new Date(now.getTime() + 86_400_000).toISOString() };
    const outcomes = await warehouse.query("deployment_outcomes", { ...window, environments: null });
    const deployments = outcomes.reduce((sum, row) => sum + Number(row.deployments), 0);
    checks.push({
      check: "warehouse deployments",
      ok: deployments === history.deployments.length,
      detail: `${deployments} deployment(s) in deployment_facts, ${history.deployments.length} restored`,
    });
    const opened = await warehouse.query("alerts_opened", { ...window, environments: null });
    const alerts = opened.reduce((sum, row) => sum + Number(row.alerts), 0);
    checks.push({
      check: "warehouse alerts",
      ok: alerts === history.alerts.length,
      detail: `${alerts} alert(s) opened in the warehouse, ${history.alerts.length} restored`,
    });
  } finally {
    warehouse.close();
  }
  return checks;
}

/**
 * Runs the drill. Throws ExportUnusableError (no backup, an unfinished export, an unreadable
 * manifest) or DrillRefusedError before anything is written; a file that fails its digest is a
 * failed check in the report, and nothing is restored.
 */
export async function runDrill(options: DrillOptions): Promise<DrillReport> {
  const now = options.now ?? (() => new Date());
  const emulator = process.env.FIRESTORE_EMULATOR_HOST;
  if (!emulator)
    throw new DrillRefusedError(
      "FIRESTORE_EMULATOR_HOST is not set: the drill restores into a scratch project on the Firestore emulator only (export the Client env lines that npm run emulators prints)",
    );
  const startedAt = now();
  const mode = options.restoreInto === undefined ? "drill" : "restore";
  const notices: string[] = [];
  let exportDir = options.exportDir;
  if (exportDir === undefined) {
    const latest = await findLatestExport(options.backupRoot);
    exportDir = latest.dir;
    for (const unfinished of latest.unfinishedNewer)
      notices.push(`skipped unfinished export ${unfinished} (no manifest.json)`);
  }
  const read = await readControlPlaneExport(exportDir);
  const { manifest } = read;
  const summary = {
    project_id: manifest.project_id,
    export_id: manifest.export_id,
    created_at: manifest.created_at,
    documents: manifest.documents,
    collections: manifest.collections.length,
  };
  const objectives = () =>
    recoveryObjectives({ exportedAt: new Date(manifest.created_at), startedAt, verifiedAt: now() });
  if (read.documents === null) {
    notices.push("nothing was restored: the export's files failed their checks");
    return {
      ok: false,
      export_dir: exportDir,
      manifest: summary,
      target_project: null,
      mode,
      warehouse_file: null,
      notices,
      checks: read.checks,
      ...objectives(),
    };
  }

  const stamp = startedAt
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "z")
    .toLowerCase();
  const target = options.restoreInto ?? options.scratchProject ?? `${options.liveProject}-dr-drill-${stamp}`;
  if (mode === "drill" && (target === options.liveProject || target === manifest.project_id))
    throw new DrillRefusedError(
      `scratch project ${target} is the live project: a drill restores into a project of its own (a real restore names its target with --restore-into)`,
    );
  const keep = mode === "restore" || (options.keep ?? false);
  const app = initializeApp({ projectId: target }, `dr-drill-${target}`);
  const warehouseDir = await mkdtemp(path.join(os.tmpdir(), "orch-dr-drill-"));
  const warehouseFile = path.join(warehouseDir, "warehouse.duckdb");
  let restoring = false;
  try {
    const db = getFirestore(app);
    if ((await db.listCollections()).length > 0)
      throw new DrillRefusedError(
        mode === "drill"
          ? `scratch project ${target} is not empty: name a new one (--scratch-project)`
          : `project ${target} is not empty: a restore writes only into an empty project, never over data`,
      );
    const checks = [...read.checks];
    restoring = true;
    const written = await restoreDocuments(db, read.documents);
    checks.push({
      check: "restore",
      ok: written === manifest.documents,
      detail: `${written} document(s) written to ${target}`,
    });
    checks.push(...compareCounts(manifest, await countCollections(db)));
    const key = options.auditKey ?? defaultAuditKey;
    const chain = await createAuditLog(db, { now }, { key: () => key(manifest.project_id) }).verify();
    checks.push(compareAuditChain(manifest.audit_chain, chain));
    checks.push(...(await replayWarehouse(db, warehouseFile, now())));
    if (mode === "restore") {
      const freed = await releaseJobLeases(db);
      if (freed.length > 0)
        notices.push(`released the lease(s) of ${freed.join(", ")}, running when the export was taken`);
    }
    const measured = objectives();
    if (keep) notices.push(`kept project ${target} and the replayed warehouse ${warehouseFile}`);
    else await clearEmulatorProject(emulator, target);
    return {
      ok: checks.every((check) => check.ok),
      export_dir: exportDir,
      manifest: summary,
      target_project: target,
      mode,
      warehouse_file: keep ? warehouseFile : null,
      notices,
      checks,
      ...measured,
    };
  } catch (error) {
    // A drill that failed halfway leaves no half-restored scratch project behind; the error it
    // failed with is what matters, so a failed clean-up is only added to it.
    if (restoring && !keep)
      await clearEmulatorProject(emulator, target).catch((cleanup: unknown) => {
        throw new Error(`${(error as Error).message} (and clearing ${target} failed: ${String(cleanup)})`);
      });
    throw error;
  } finally {
    await deleteApp(app);
    if (!keep) await rm(warehouseDir, { recursive: true, force: true });
  }
}
