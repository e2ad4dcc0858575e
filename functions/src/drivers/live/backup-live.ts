/**
 * Backup, live: Firestore's own backups through the Firestore Admin API (v1). Apply keeps the
 * default database's backup schedule as the config asks (Firestore runs schedules daily or weekly,
 * at a time of day it picks, keeping each backup at most 14 weeks) and takes a managed export of
 * the listed collections to the project's Firebase bucket, waiting for it to finish. Verify
 * restores the newest READY backup into a scratch database (`orch-restore-<digest of the backup>`)
 * and checks Google names that backup as its source: one restore per backup, since the scratch
 * database of the newest backup is kept (and older ones deleted), so a health probe does not pay a
 * restore each time.
 */
import type { firestore_v1 } from "googleapis/build/src/apis/firestore/v1.js";
import { NonRetriableError } from "../../domain/errors.js";
import type { Problem } from "../../domain/problems.js";
import { buildBackupDesired } from "../backup.js";
import { problem } from "../emulator-rest.js";

import type { DriverSpec, DriverTarget } from "../types.js";
import {
  awaitOperation,
  callGoogle,
  callGoogleData,
  firestoreApi,
  requireAccess,
  type GoogleAccess,
  type OperationBudget,
} from "./google.js";
import { sha256 } from "../../domain/digest.js";

/** One backup schedule as our state spells it. */
export interface LiveSchedule {
  recurrence: "daily" | "weekly";
  /** The weekday of a weekly schedule (MONDAY ... SUNDAY); null for daily. */
  day: string | null;
  /** Seconds, as Firestore's duration ("1209600s"). */
  retention: string;
}

/** What the default database holds of ours. */
export interface BackupLiveState {
  schedules: LiveSchedule[];
  /** The collection groups the newest managed export of ours covered ([] = all); null before the first. */
  export_collections: string[] | null;
}

const WEEKDAYS = ["SUNDAY", "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY"];
/** Firestore's limit for scheduled backups: 14 weeks. */
export const MAX_RETENTION_DAYS = 98;
/** Where managed exports go, under the project's Firebase bucket. */
const EXPORT_FOLDER = "orchestration-backups";
const SCRATCH_PREFIX = "orch-restore-";

/**
 * The Firestore recurrence of a cron schedule: `M H * * *` is daily, `M H * * D` (one weekday, 0
 * or 7 = Sunday) weekly; anything else has no Firestore equivalent (undefined).
 */
export function recurrenceOf(cron: string): Pick<LiveSchedule, "recurrence" | "day"> | undefined {
  const fields = cron.trim().split(/\s+/);
  if (fields.length !== 5 || fields[2] !== "*" || fields[3] !== "*") return undefined;
  if (!/^\d+$/.test(fields[0] ?? "") || !/^\d+$/.test(fields[1] ?? "")) return undefined;
  if (fields[4] === "*") return { recurrence: "daily", day: null };
  if (/^[0-7]$/.test(fields[4] ?? ""))
    return { recurrence: "weekly", day: WEEKDAYS[Number(fields[4]) % 7] ?? null };
  return undefined;
}

const database = (project: string) => `projects/${project}/databases/(default)`;
const bucketOf = (project: string) => `${project}.firebasestorage.app`;
const exportPrefix = (target: DriverTarget<"backup">) =>
  `gs://${bucketOf(target.environment.project_id)}/${EXPORT_FOLDER}/${target.environment.name}`;
const scheduleOf = (s: firestore_v1.Schema$GoogleFirestoreAdminV1BackupSchedule): LiveSchedule => ({
  recurrence: s.weeklyRecurrence ? "weekly" : "daily",
  day: s.weeklyRecurrence?.day ?? null,
  retention: s.retention ?? "",
});
const sameRecurrence = (a: LiveSchedule, b: LiveSchedule) => a.recurrence === b.recurrence && a.day === b.day;
const sortSchedules = (schedules: LiveSchedule[]) =>
  [...schedules].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

async function liveSchedules(access: GoogleAccess, api: firestore_v1.Firestore, project: string) {
  const answer = await callGoogleData(
    access,
    `listing the backup schedules of ${database(project)}`,
    "datastore.backupSchedules.list",
    () => api.projects.databases.backupSchedules.list({ parent: database(project) }),
  );
  return answer.backupSchedules ?? [];
}

/** The collections of the newest finished managed export under our prefix, or null. */
async function lastExport(
  access: GoogleAccess,
  api: firestore_v1.Firestore,
  target: DriverTarget<"backup">,
): Promise<string[] | null> {
  const project = target.environment.project_id;
  const answer = await callGoogleData(
    access,
    `listing the operations of ${database(project)}`,
    "datastore.operations.list",
    () => api.projects.databases.operations.list({ name: database(project), pageSize: 100 }),
  );
  const prefix = `${exportPrefix(target)}/`;
  const exports = (answer.operations ?? [])
    .filter((op) => op.done && !op.error)
    .map(
      (op) =>
        (op.metadata ?? {}) as {
          "@type"?: string;
          outputUriPrefix?: string;
          collectionIds?: string[];
          startTime?: string;
        },
    )
    .filter((m) => m["@type"]?.endsWith("ExportDocumentsMetadata") && m.outputUriPrefix?.startsWith(prefix))
    // The folder name is the export's timestamp, so the greatest is the newest.
    .sort((a, b) => (b.outputUriPrefix ?? "").localeCompare(a.outputUriPrefix ?? ""));
  const newest = exports[0];
  return newest ? [...(newest.collectionIds ?? [])].sort() : null;
}

/** The live half of the backup driver; the emulated half (backup.ts) validates the same settings. */
export function createLiveBackupSpec(budget?: OperationBudget): DriverSpec<"backup", BackupLiveState> {
  return {
    kind: "backup",
    mode: () => "live",

    desired(target) {
      const base = buildBackupDesired(target.integration, target.settings);
      const problems: Problem[] = [...base.problems];
      const recurrence = recurrenceOf(target.settings.schedule);
      if (!recurrence)
        problems.push(
          problem(
            [target.integration, "schedule"],
            JSON.stringify(target.settings.schedule),
            "a daily (`M H * * *`) or weekly (`M H * * D`) cron: Firestore runs backup schedules daily or weekly (at a time of day it picks)",
          ),
        );
      if (target.settings.retention_days > MAX_RETENTION_DAYS)
        problems.push(
          problem(
            [target.integration, "retention_days"],
            String(target.settings.retention_days),
            `at most ${MAX_RETENTION_DAYS} days (14 weeks, Firestore's limit for scheduled backups)`,
          ),
        );
      return Promise.resolve({
        state: {
          schedules: recurrence
            ? [{ ...recurrence, retention: `${target.settings.retention_days * 86_400}s` }]
            : [],
          export_collections: [...base.state.collections].sort(),
        },
        problems,
      });
    },

    async observe(target, io) {
      const access = requireAccess(io.google, "backup");
      const api = await firestoreApi(access);
      const project = target.environment.project_id;
      return {
        schedules: sortSchedules((await liveSchedules(access, api, project)).map(scheduleOf)),
        export_collections: await lastExport(access, api, target),
      };
    },

    async apply(target, state, io) {
      const access = requireAccess(io.google, "backup");
      const api = await firestoreApi(access);
      const project = target.environment.project_id;
      const existing = await liveSchedules(access, api, project);
      for (const live of existing) {
        const wanted = state.schedules.find((s) => sameRecurrence(s, scheduleOf(live)));
        const name = live.name ?? "";
        if (!wanted)
          await callGoogleData(
            access,
            `deleting backup schedule ${name}`,
            "datastore.backupSchedules.delete",
            () => api.projects.databases.backupSchedules.delete({ name }),
          );
        else if (wanted.retention !== live.retention)
          await callGoogleData(
            access,
            `changing the retention of ${name}`,
            "datastore.backupSchedules.update",
            () =>
              api.projects.databases.backupSchedules.patch({
                name,
                updateMask: "retention",
                requestBody: { retention: wanted.retention },
              }),
          );
      }
      for (const wanted of state.schedules.filter(
        (s) => !existing.some((e) => sameRecurrence(s, scheduleOf(e))),
      ))
        await callGoogleData(
          access,
          `creating a ${wanted.recurrence} backup schedule on ${database(project)}`,
          "datastore.backupSchedules.create",
          () =>
            api.projects.databases.backupSchedules.create({
              parent: database(project),
              requestBody: {
                retention: wanted.retention,
                ...(wanted.recurrence === "daily"
                  ? { dailyRecurrence: {} }
                  : { weeklyRecurrence: { day: wanted.day } }),
              },
            }),
        );

      if (state.export_collections === null) return;
      const current = await lastExport(access, api, target);
      if (JSON.stringify(current) === JSON.stringify(state.export_collections)) return;
      const what = `exporting ${state.export_collections.length === 0 ? "every collection" : state.export_collections.join(", ")} of ${database(project)}`;
      const started = await callGoogleData(access, what, "datastore.databases.export", () =>
        api.projects.databases.exportDocuments({
          name: database(project),
          requestBody: {
            collectionIds: state.export_collections ?? [],
            outputUriPrefix: `${exportPrefix(target)}/${io.now().toISOString().replace(/[:.]/g, "-")}`,
          },
        }),
      );
      await awaitOperation(
        access,
        what,
        "datastore.operations.get",
        started,
        (name) => api.projects.databases.operations.get({ name }),
        budget,
      );
    },

    async verify(target, io, release) {
      const access = requireAccess(io.google, "backup");
      const api = await firestoreApi(access);
      const project = target.environment.project_id;
      const schedules = sortSchedules((await liveSchedules(access, api, project)).map(scheduleOf));
      const wanted = release ? (release.state as BackupLiveState) : undefined;
      if (wanted && JSON.stringify(schedules) !== JSON.stringify(sortSchedules(wanted.schedules)))
        return {
          status: "degraded",
          details: `the backup schedules of ${database(project)} differ from release ${release?.number ?? "?"}'s (changed outside the control plane?)`,
        };
      const listed = await callGoogleData(
        access,
        `listing the backups of ${project}`,
        "datastore.backups.list",
        () => api.projects.locations.backups.list({ parent: `projects/${project}/locations/-` }),
      );
      const newest = (listed.backups ?? [])
        .filter((b) => b.database === database(project) && b.state === "READY" && b.name)
        .sort((a, b) => (b.snapshotTime ?? "").localeCompare(a.snapshotTime ?? ""))[0];
      const scheduled = `${schedules.length} backup schedule(s) on ${database(project)}`;
      if (!newest?.name)
        return {
          status: "healthy",
          details: `Google reports ${scheduled}; no backup taken yet, so no restore check (the first comes within a day of the schedule)`,
        };
      const backupName = newest.name;
      const scratchId = `${SCRATCH_PREFIX}${sha256(backupName).slice(0, 12)}`;
      const scratchName = `projects/${project}/databases/${scratchId}`;
      const databases = await callGoogleData(
        access,
        `listing the databases of ${project}`,
        "datastore.databases.list",
        () => api.projects.databases.list({ parent: `projects/${project}` }),
      );
      const scratches = (databases.databases ?? []).filter((d) =>
        d.name?.split("/databases/")[1]?.startsWith(SCRATCH_PREFIX),
      );
      let restored = scratches.find((d) => d.name === scratchName);
      let checked = "checked earlier";
      if (!restored) {
        const what = `restoring ${backupName} into ${scratchName}`;
        const started = await callGoogle(
          access,
          what,
          "datastore.backups.restoreDatabase",
          () =>
            api.projects.databases.restore({
              parent: `projects/${project}`,
              requestBody: { databaseId: scratchId, backup: backupName },
            }),
          [400],
        );
        if (!started.ok)
          return {
            status: "down",
            details: `Google refused to restore ${backupName}: ${started.failure.message}`,
          };
        await awaitOperation(
          access,
          what,
          "datastore.operations.get",
          started.data,
          (name) => api.projects.databases.operations.get({ name }),
          budget,
        );
        restored = await callGoogleData(
          access,
          `reading ${scratchName}`,
          "datastore.databases.getMetadata",
          () => api.projects.databases.get({ name: scratchName }),
        );
        checked = "restored now";
      }
      if (restored.sourceInfo?.backup?.backup !== backupName)
        throw new NonRetriableError(
          `${scratchName} does not name ${backupName} as its source (it names ${restored.sourceInfo?.backup?.backup ?? "none"}); delete it and verify again`,
        );
      for (const old of scratches.filter((d) => d.name && d.name !== scratchName)) {
        const name = old.name ?? "";
        const deleted = await callGoogle(
          access,
          `deleting ${name}`,
          "datastore.databases.delete",
          () => api.projects.databases.delete({ name }),
          [404],
        );
        if (!deleted.ok && deleted.failure.status !== 404) throw new Error(deleted.failure.message);
      }
      return {
        status: "healthy",
        details: `Google reports ${scheduled}; the newest backup (${newest.snapshotTime ?? "?"}) restores: ${scratchName} ${checked}`,
      };
    },
  };
}

/** The live backup spec with the default operation budget. */
export const liveBackupSpec = createLiveBackupSpec();
