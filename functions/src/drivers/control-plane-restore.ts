/**
 * Reads a control-plane export back (scripts/dr-drill.ts): finds the latest complete one, checks
 * its files against the manifest before anything is written, and restores its documents into a
 * Firestore, with the fields that were Timestamps written as Timestamps again.
 */
import { existsSync } from "node:fs";
import { readFile, readdir } from "node:fs/promises";
import path from "node:path";
import type { Firestore } from "firebase-admin/firestore";
import {
  CONTROL_PLANE_FOLDER,
  checkExportFiles,
  parseManifest,
  pickLatestExport,
  type ControlPlaneManifest,
  type DrillCheck,
  type RestoredDocument,
} from "../domain/disaster-recovery.js";
import { JOB_COLLECTIONS } from "../domain/job-runs.js";

/** An export that cannot be used at all (none there, unfinished, unreadable manifest): the message names the folder or file. */
export class ExportUnusableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ExportUnusableError";
  }
}

/** The latest complete export under `<backupRoot>/_control-plane/`, and the unfinished ones newer than it. */
export async function findLatestExport(
  backupRoot: string,
): Promise<{ dir: string; unfinishedNewer: string[] }> {
  const base = path.join(backupRoot, CONTROL_PLANE_FOLDER);
  if (!existsSync(base))
    throw new ExportUnusableError(
      `no control-plane backup: ${base} does not exist (run the control-plane-backup job first: orch jobs run control-plane-backup)`,
    );
  const names = await readdir(base);
  const folders = names.map((name) => ({
    name,
    complete: existsSync(path.join(base, name, "manifest.json")),
  }));
  const { chosen, unfinishedNewer } = pickLatestExport(folders);
  if (chosen === null)
    throw new ExportUnusableError(
      unfinishedNewer.length > 0
        ? `no complete control-plane backup in ${base}: ${unfinishedNewer.map((name) => path.join(base, name)).join(", ")} has no manifest.json (unfinished export)`
        : `no control-plane backup in ${base} (no export folders)`,
    );
  return {
    dir: path.join(base, chosen),
    unfinishedNewer: unfinishedNewer.map((name) => path.join(base, name)),
  };
}

/** Reads an export folder and checks every file against its manifest; documents only when every check passed. */
export async function readControlPlaneExport(dir: string): Promise<{
  manifest: ControlPlaneManifest;
  checks: DrillCheck[];
  documents: Map<string, RestoredDocument[]> | null;
}> {
  const manifestFile = path.join(dir, "manifest.json");
  if (!existsSync(dir)) throw new ExportUnusableError(`no export folder ${dir}`);
  if (!existsSync(manifestFile))
    throw new ExportUnusableError(
      `unfinished export: ${dir} has no manifest.json (the manifest is written last; this export did not complete)`,
    );
  const parsed = parseManifest(manifestFile, await readFile(manifestFile, "utf8"));
  if (!parsed.ok) throw new ExportUnusableError(parsed.message);
  const files = new Map<string, string | null>();
  for (const { file } of parsed.manifest.collections) {
    const where = path.join(dir, file);
    files.set(file, existsSync(where) ? await readFile(where, "utf8") : null);
  }
  return { manifest: parsed.manifest, ...checkExportFiles(parsed.manifest, files) };
}

/** Writes every document (Dates become Timestamps); answers how many were written. */
export async function restoreDocuments(
  db: Firestore,
  documents: ReadonlyMap<string, readonly RestoredDocument[]>,
): Promise<number> {
  const writer = db.bulkWriter();
  let written = 0;
  const failures: string[] = [];
  writer.onWriteError((error) => {
    if (error.failedAttempts < 5) return true;
    failures.push(`${error.documentRef.path}: ${error.message}`);
    return false;
  });
  for (const [collection, docs] of documents)
    for (const doc of docs)
      void writer.set(db.collection(collection).doc(doc.id), doc.data).then(
        () => written++,
        () => undefined, // counted in failures by onWriteError
      );
  await writer.close();
  if (failures.length > 0)
    throw new Error(
      `${failures.length} document(s) could not be restored: ${failures.slice(0, 3).join("; ")}`,
    );
  return written;
}

/** Documents per root collection of `db` (count aggregations: nothing is read but the numbers). */
export async function countCollections(db: Firestore): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const collection of await db.listCollections())
    counts.set(collection.id, (await collection.count().get()).data().count);
  return counts;
}

/**
 * After a real restore: no process of the lost control plane holds a job's lease any more, but the
 * export kept the leases of the runs in progress when it was taken (always its own job's), and they
 * would refuse those jobs until they expire (the job's timeout and a grace). Answers the jobs freed.
 */
export async function releaseJobLeases(db: Firestore): Promise<string[]> {
  const states = await db.collection(JOB_COLLECTIONS.state).get();
  const held = states.docs.filter((doc) => doc.get("lease") != null);
  await Promise.all(held.map((doc) => doc.ref.update({ lease: null })));
  return held.map((doc) => doc.id);
}
