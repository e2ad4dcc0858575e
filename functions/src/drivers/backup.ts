/**
 * The backup driver: a backup policy (schedule, retention, collections) and real exports of an
 * environment's emulator data under `<backupRoot>/<environment>/<timestamp>/`.
 *
 * Why not the hub's POST /_admin/export (checked by hand): it exports only the project the
 * Emulator Suite was started with (firebase-tools' HubExport uses its own projectId), so for an
 * environment project such as demo-acme-dev it writes an empty Firestore export and no users.
 * This driver makes the same calls the hub makes, for the environment's project: Firestore's
 * POST /emulator/v1/projects/{id}:export, the Auth emulator's accounts:batchGet and
 * /emulator/v1/projects/{id}/config, and writes the same firebase-export-metadata.json, so the
 * directory also works with `firebase emulators:start --import`.
 *
 * Restore check (verify): the latest export is imported into a scratch project
 * (restoreCheckProject, one per environment and instance) through POST /emulator/v1/projects/{scratch}:import,
 * and the instance's marker document (`_orchestration/backup`, `_orchestration/backup:weekly`)
 * written just before the export is read back from there.
 *
 * The Firestore emulator exports every collection; `collections` is validated and recorded in the
 * export's metadata for live mode, where exports can be limited to them.
 */
import { sha256 } from "../domain/digest.js";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { IntegrationSettings } from "../domain/config-schema.js";
import { NonRetriableError } from "../domain/errors.js";
import { instanceOf } from "../domain/integrations.js";
import type { Problem } from "../domain/problems.js";
import {
  emulatedOrLive,
  ensureOk,
  hostProblem,
  liveNotImplemented,
  markerPath,
  OWNER_HEADERS,
  problem,
  readDocument,
  requireHost,
  rest,
  writeDocument,
} from "./emulator-rest.js";
import type { DriverIO, DriverSpec, DriverTarget } from "./types.js";

export interface BackupState {
  schedule: string;
  retention_days: number;
  collections: string[];
}

/** What each export directory records about itself (orchestration-backup.json). */
export interface ExportMetadata extends BackupState {
  environment: string;
  project_id: string;
  export_id: string;
  created_at: string;
  contents: string[];
}

/**
 * A scratch project per environment and backup instance, so restore checks of different
 * environments, or of two instances checked at once, never clear each other's scratch data.
 */
export function restoreCheckProject(projectId: string, integration = "backup"): string {
  return `demo-restore-${sha256(integration === "backup" ? projectId : `${projectId} ${integration}`).slice(0, 12)}`;
}
/**
 * Where an instance's exports live below the backup root: `<environment>` for the default
 * instance, `<environment>/<instance>` for others (export ids start with a digit, instances with
 * a letter, so the two never mix, and listExports skips directories without metadata).
 */
export function exportsKey(target: Pick<DriverTarget<"backup">, "environment" | "integration">): string {
  const instance = instanceOf(target.integration);
  return instance === null ? target.environment.name : path.join(target.environment.name, instance);
}
const METADATA_FILE = "orchestration-backup.json";
const FIRESTORE_EXPORT = "firestore_export";

/** The policy and its problems from settings alone (pure). */
export function buildBackupDesired(
  integration: string,
  settings: IntegrationSettings<"backup">,
): { state: BackupState; problems: Problem[] } {
  const problems: Problem[] = [];
  const seen = new Set<string>();
  settings.collections.forEach((collection, index) => {
    if (!/^[A-Za-z0-9_-]+$/.test(collection) || /^__.*__$/.test(collection))
      problems.push(
        problem(
          [integration, "collections", index],
          `"${collection}"`,
          "a collection id (letters, digits, _ and -, not __reserved__)",
        ),
      );
    if (seen.has(collection))
      problems.push(
        problem([integration, "collections", index], `"${collection}" a second time`, "each collection once"),
      );
    seen.add(collection);
  });
  return {
    state: {
      schedule: settings.schedule,
      retention_days: settings.retention_days,
      collections: settings.collections,
    },
    problems,
  };
}

/** Every export of an environment, newest first, read from its metadata file (others are ignored). */
export async function listExports(
  backupRoot: string,
  environment: string,
): Promise<(ExportMetadata & { dir: string })[]> {
  const base = path.join(backupRoot, environment);
  let names: string[];
  try {
    names = await readdir(base);
  } catch {
    return [];
  }
  const found: (ExportMetadata & { dir: string })[] = [];
  for (const name of names) {
    const dir = path.join(base, name);
    try {
      const meta = JSON.parse(await readFile(path.join(dir, METADATA_FILE), "utf8")) as ExportMetadata;
      found.push({ ...meta, dir });
    } catch {
      // Not an export this driver wrote (or an unfinished one).
    }
  }
  return found.sort(
    (a, b) => b.created_at.localeCompare(a.created_at) || b.export_id.localeCompare(a.export_id),
  );
}

async function fileExists(file: string): Promise<boolean> {
  try {
    await readFile(file);
    return true;
  } catch {
    return false;
  }
}

const firestoreMetadataFile = (dir: string) =>
  path.join(dir, FIRESTORE_EXPORT, `${FIRESTORE_EXPORT}.overall_export_metadata`);

/** Exports a project's Firestore and Auth data into `dir` (which the emulators must be able to reach). */
async function exportProject(io: DriverIO, projectId: string, dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const firestore = requireHost(io, "firestore");
  const answer = await rest(io, "POST", `http://${firestore}/emulator/v1/projects/${projectId}:export`, {
    database: `projects/${projectId}/databases/(default)`,
    export_directory: dir,
    export_name: FIRESTORE_EXPORT,
  });
  ensureOk(answer, `exporting the Firestore data of ${projectId}`);
  const contents = ["firestore"];
  const metadata: Record<string, unknown> = {
    version: "orchestrator",
    firestore: {
      version: "emulator",
      path: FIRESTORE_EXPORT,
      metadata_file: `${FIRESTORE_EXPORT}/${FIRESTORE_EXPORT}.overall_export_metadata`,
    },
  };
  const auth = io.emulators.auth;
  if (auth) {
    const authDir = path.join(dir, "auth_export");
    await mkdir(authDir, { recursive: true });
    const accounts = await rest(
      io,
      "GET",
      `http://${auth}/identitytoolkit.googleapis.com/v1/projects/${projectId}/accounts:batchGet?maxResults=-1`,
      undefined,
      { ...OWNER_HEADERS },
    );
    ensureOk(accounts, `exporting the users of ${projectId}`);
    const config = await rest(io, "GET", `http://${auth}/emulator/v1/projects/${projectId}/config`);
    ensureOk(config, `exporting the Auth emulator config of ${projectId}`);
    await writeFile(path.join(authDir, "accounts.json"), JSON.stringify(accounts.body));
    await writeFile(path.join(authDir, "config.json"), JSON.stringify(config.body));
    metadata.auth = { version: "emulator", path: "auth_export" };
    contents.push("auth");
  }
  await writeFile(path.join(dir, "firebase-export-metadata.json"), JSON.stringify(metadata, null, 2));
  return contents;
}

/** Deletes the exports older than the retention, judged by `now`; the newest export always stays. */
export async function pruneExports(
  backupRoot: string,
  environment: string,
  retentionDays: number,
  now: Date,
): Promise<string[]> {
  const exports = await listExports(backupRoot, environment);
  const cutoff = now.getTime() - retentionDays * 86_400_000;
  const removed: string[] = [];
  for (const entry of exports.slice(1)) {
    if (Date.parse(entry.created_at) < cutoff) {
      await rm(entry.dir, { recursive: true, force: true });
      removed.push(entry.export_id);
    }
  }
  return removed;
}

async function clearProject(io: DriverIO, projectId: string) {
  const answer = await rest(
    io,
    "DELETE",
    `http://${requireHost(io, "firestore")}/emulator/v1/projects/${projectId}/databases/(default)/documents`,
  );
  ensureOk(answer, `clearing scratch project ${projectId}`);
}

/**
 * Takes one export of an environment now (what `apply` does, and what its scheduled backup job
 * runs), then prunes the exports past retention; answers the export's metadata.
 */
export async function takeExport(
  backupRoot: string,
  target: DriverTarget<"backup">,
  state: BackupState,
  io: DriverIO,
): Promise<ExportMetadata & { dir: string }> {
  if (emulatedOrLive(target.environment) === "live") liveNotImplemented("backup", "export data");
  const { name, project_id: projectId } = target.environment;
  const key = exportsKey(target);
  const marker = markerPath(target.integration);
  const now = io.now();
  let exportId = now.toISOString().replace(/[:.]/g, "-");
  // Two exports in the same millisecond get distinct directories.
  const taken = new Set((await listExports(backupRoot, key)).map((e) => e.export_id));
  for (let n = 2; taken.has(exportId); n++) exportId = `${now.toISOString().replace(/[:.]/g, "-")}-${n}`;
  const dir = path.join(backupRoot, key, exportId);
  // The marker goes in first, so the export carries a document the restore check can look for.
  await writeDocument(io, projectId, marker, { export_id: exportId, taken_at: now.toISOString() });
  const contents = await exportProject(io, projectId, dir);
  const metadata: ExportMetadata = {
    ...state,
    environment: name,
    project_id: projectId,
    export_id: exportId,
    created_at: now.toISOString(),
    contents,
  };
  await writeFile(path.join(dir, METADATA_FILE), `${JSON.stringify(metadata, null, 2)}\n`);
  await pruneExports(backupRoot, key, state.retention_days, now);
  return { ...metadata, dir };
}

export function createBackupDriver({
  backupRoot,
}: {
  backupRoot: string;
}): DriverSpec<"backup", BackupState> {
  if (!path.isAbsolute(backupRoot))
    throw new Error(`backupRoot must be an absolute path, got "${backupRoot}"`);
  return {
    kind: "backup",
    mode: emulatedOrLive,

    desired(target: DriverTarget<"backup">, io) {
      const built = buildBackupDesired(target.integration, target.settings);
      if (emulatedOrLive(target.environment) === "emulated") {
        const missing = hostProblem(io, "firestore");
        if (missing) built.problems.push(missing);
      }
      return Promise.resolve(built);
    },

    async observe(target) {
      if (emulatedOrLive(target.environment) === "live") liveNotImplemented("backup", "list exports");
      const latest = (await listExports(backupRoot, exportsKey(target)))[0];
      if (!latest || !(await fileExists(firestoreMetadataFile(latest.dir)))) return undefined;
      return {
        schedule: latest.schedule,
        retention_days: latest.retention_days,
        collections: latest.collections,
      };
    },

    async apply(target, state, io) {
      await takeExport(backupRoot, target, state, io);
    },

    async verify(target, io) {
      if (emulatedOrLive(target.environment) === "live") liveNotImplemented("backup", "check a restore");
      const latest = (await listExports(backupRoot, exportsKey(target)))[0];
      if (!latest)
        return {
          status: "down",
          details: `no export under ${path.join(backupRoot, exportsKey(target))}`,
        };
      const metadataFile = firestoreMetadataFile(latest.dir);
      if (!(await fileExists(metadataFile)))
        return { status: "down", details: `export ${latest.export_id} has no Firestore metadata file` };
      const scratch = restoreCheckProject(target.environment.project_id, target.integration);
      const marker = markerPath(target.integration);
      await clearProject(io, scratch);
      try {
        const imported = await rest(
          io,
          "POST",
          `http://${requireHost(io, "firestore")}/emulator/v1/projects/${scratch}:import`,
          {
            database: `projects/${scratch}/databases/(default)`,
            export_directory: metadataFile,
          },
        );
        ensureOk(imported, `importing export ${latest.export_id} into ${scratch}`);
        const restored = await readDocument(io, scratch, marker);
        if (restored?.export_id !== latest.export_id)
          throw new NonRetriableError(
            `export ${latest.export_id} restored, but ${marker} reads ${JSON.stringify(restored?.export_id ?? null)}`,
          );
      } finally {
        await clearProject(io, scratch);
      }
      let users = "";
      if (latest.contents.includes("auth")) {
        const accounts = JSON.parse(
          await readFile(path.join(latest.dir, "auth_export", "accounts.json"), "utf8"),
        ) as {
          users?: unknown[];
        };
        users = `, ${accounts.users?.length ?? 0} user(s) in the auth export`;
      }
      return {
        status: "healthy",
        details: `export ${latest.export_id} restored into ${scratch} and ${marker} read back${users}`,
      };
    },
  };
}
