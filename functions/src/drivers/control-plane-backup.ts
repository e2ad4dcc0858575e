/**
 * Backs up the control plane itself: every root collection of its Firestore (state, audit chain,
 * job runs) as one JSON-lines file each in a dated folder, with a manifest of document counts,
 * file digests and the audit chain's verification at export time. Each line lists which of its
 * fields were Timestamps (domain/disaster-recovery.ts), so a restore gets the same types back.
 * Written through the Admin SDK, so it reads the same on the emulator and in a project; the folder
 * is local (the stack's backups folder), and a cloud deployment would point it at mounted or
 * synced storage. `scripts/dr-drill.ts` restores the latest export and checks it.
 */
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Firestore } from "firebase-admin/firestore";
import type { VerifyResult } from "../domain/audit.js";
import {
  CONTROL_PLANE_FOLDER,
  EXPORT_ENCODING,
  encodeExportLine,
  exportFolderName,
  exportTimeOf,
  type ControlPlaneManifest,
} from "../domain/disaster-recovery.js";
import { sha256 } from "../domain/digest.js";

/** Exports the control plane's root collections to `<backupRoot>/_control-plane/<timestamp>/`; prunes exports past `retentionDays`. */
export async function exportControlPlane(deps: {
  db: Firestore;
  backupRoot: string;
  projectId: string;
  now: Date;
  retentionDays: number;
  verifyAudit: () => Promise<VerifyResult>;
}): Promise<ControlPlaneManifest & { dir: string }> {
  const exportId = exportFolderName(deps.now);
  const dir = path.join(deps.backupRoot, CONTROL_PLANE_FOLDER, exportId);
  await mkdir(dir, { recursive: true });
  const collections: ControlPlaneManifest["collections"] = [];
  for (const collection of (await deps.db.listCollections()).sort((a, b) => a.id.localeCompare(b.id))) {
    const snapshot = await collection.get();
    const lines = snapshot.docs.map((doc) => encodeExportLine(collection.id, doc.id, doc.data()));
    const text = lines.length > 0 ? `${lines.join("\n")}\n` : "";
    const file = `${collection.id}.jsonl`;
    await writeFile(path.join(dir, file), text);
    collections.push({ name: collection.id, documents: snapshot.size, file, sha256: sha256(text) });
  }
  const manifest: ControlPlaneManifest = {
    kind: "control-plane-backup",
    encoding: EXPORT_ENCODING,
    project_id: deps.projectId,
    export_id: exportId,
    created_at: deps.now.toISOString(),
    collections,
    documents: collections.reduce((sum, c) => sum + c.documents, 0),
    audit_chain: await deps.verifyAudit(),
    note: "root collections only (the control plane keeps no subcollections); timestamps as ISO 8601 strings, their paths listed in each line's `timestamps`",
  };
  // The manifest goes last: a folder without one is an unfinished export.
  await writeFile(path.join(dir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  await pruneControlPlaneExports(deps.backupRoot, deps.retentionDays, deps.now, exportId);
  return { ...manifest, dir };
}

async function pruneControlPlaneExports(
  backupRoot: string,
  retentionDays: number,
  now: Date,
  keep: string,
): Promise<void> {
  const base = path.join(backupRoot, CONTROL_PLANE_FOLDER);
  const cutoff = now.getTime() - retentionDays * 86_400_000;
  for (const name of await readdir(base)) {
    const at = exportTimeOf(name);
    if (name !== keep && at !== null && at.getTime() < cutoff)
      await rm(path.join(base, name), { recursive: true, force: true });
  }
}
