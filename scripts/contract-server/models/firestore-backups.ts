import { ApiError, Operations } from "../resources.js";
import type { ContractServer } from "../server.js";

type Json = Record<string, unknown>;
type Schedule = Json & {
  name: string;
  retention: string;
  dailyRecurrence?: Json;
  weeklyRecurrence?: { day: string };
};
/** A backup as Firestore lists it. */
export type StoredBackup = { name: string; database: string; state: string; snapshotTime: string };
/** A database as the model keeps it. */
export type StoredDatabase = Json & {
  name: string;
  locationId: string;
  sourceInfo?: { backup?: { backup?: string } };
};

/** What the model holds, for tests to inspect and seed. */
export type BackupModel = {
  schedules: Map<string, Schedule>;
  backups: Map<string, StoredBackup>;
  databases: Map<string, StoredDatabase>;
  operations: Operations;
};

const str = (value: string | string[] | undefined): string | undefined =>
  Array.isArray(value) ? value[0] : value;
/** Firestore's limit for scheduled backups: 14 weeks. */
const MAX_RETENTION_SECONDS = 14 * 7 * 86_400;
/** The databaseId rule the RestoreDatabaseRequest reference states. */
const DATABASE_ID = /^[a-z][a-z0-9-]{2,61}[a-z0-9]$/;
const UUID_LIKE = /[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}/;

/**
 * Firestore Admin v1 backups as the reference describes them, on a contract server: backup
 * schedules (one daily and one weekly per database at most, a weekly one names its day, retention at
 * most 14 weeks, only `retention` patched through the update mask), backups (seeded by the test, as
 * Google makes them from a schedule), managed exports to `gs://` (a long-running operation done
 * after `operationPolls` polls, listed with its ExportDocumentsMetadata), and restore: a new database
 * from a READY backup, its id checked as the reference states, answered as an operation whose
 * response is the Database; deleting a database answers a finished operation.
 */
export function firestoreBackupModel(server: ContractServer, operationPolls = 2): BackupModel {
  const model: BackupModel = {
    schedules: new Map(),
    backups: new Map(),
    databases: new Map(),
    operations: new Operations(),
  };
  let counter = 0;
  const recurrenceOf = (s: Pick<Schedule, "dailyRecurrence" | "weeklyRecurrence">) =>
    s.dailyRecurrence ? "daily" : "weekly";
  const checkRetention = (retention: unknown) => {
    const seconds = typeof retention === "string" ? Number(retention.replace(/s$/, "")) : NaN;
    if (!(seconds > 0) || seconds > MAX_RETENTION_SECONDS)
      throw new ApiError(
        "INVALID_ARGUMENT",
        "BackupSchedule.retention must be positive and at most 14 weeks.",
      );
  };
  const databaseMustExist = (name: string) => {
    if (!model.databases.has(name)) throw new ApiError("NOT_FOUND", `Database ${name} was not found.`);
  };
  server
    .on("firestore.projects.databases.backupSchedules.create", ({ params, body }) => {
      const parent = params.parent ?? "";
      databaseMustExist(parent);
      const input = (body ?? {}) as Partial<Schedule>;
      if (Boolean(input.dailyRecurrence) === Boolean(input.weeklyRecurrence))
        throw new ApiError(
          "INVALID_ARGUMENT",
          "BackupSchedule: exactly one of daily_recurrence and weekly_recurrence.",
        );
      if (
        input.weeklyRecurrence &&
        (!input.weeklyRecurrence.day || input.weeklyRecurrence.day === "DAY_OF_WEEK_UNSPECIFIED")
      )
        throw new ApiError(
          "INVALID_ARGUMENT",
          "WeeklyRecurrence.day: DAY_OF_WEEK_UNSPECIFIED is not allowed.",
        );
      checkRetention(input.retention);
      const recurrence = recurrenceOf(input);
      for (const existing of model.schedules.values())
        if (existing.name.startsWith(`${parent}/`) && recurrenceOf(existing) === recurrence)
          throw new ApiError(
            "ALREADY_EXISTS",
            `A ${recurrence} backup schedule already exists for ${parent}.`,
          );
      counter += 1;
      const stamp = new Date(Date.UTC(2026, 11, 1, 0, counter)).toISOString();
      const schedule: Schedule = {
        name: `${parent}/backupSchedules/bs-${String(counter).padStart(4, "0")}`,
        retention: String(input.retention),
        ...(input.dailyRecurrence
          ? { dailyRecurrence: {} }
          : { weeklyRecurrence: { day: input.weeklyRecurrence?.day ?? "" } }),
        createTime: stamp,
        updateTime: stamp,
      };
      model.schedules.set(schedule.name, schedule);
      return { body: schedule };
    })
    .on("firestore.projects.databases.backupSchedules.list", ({ params }) => {
      databaseMustExist(params.parent ?? "");
      const found = [...model.schedules.values()].filter((s) => s.name.startsWith(`${params.parent ?? ""}/`));
      return { body: { backupSchedules: found.map((s) => structuredClone(s)) } };
    })
    .on("firestore.projects.databases.backupSchedules.patch", ({ params, query, body }) => {
      const schedule = model.schedules.get(params.name ?? "");
      if (!schedule) throw new ApiError("NOT_FOUND", `BackupSchedule ${params.name} was not found.`);
      const mask = str(query.updateMask)?.split(",") ?? [];
      if (mask.some((field) => field !== "retention"))
        throw new ApiError("INVALID_ARGUMENT", "Only retention can be updated on a backup schedule.");
      const retention = (body as { retention?: string } | undefined)?.retention;
      checkRetention(retention);
      const updated = { ...schedule, retention: String(retention) };
      model.schedules.set(updated.name, updated);
      return { body: structuredClone(updated) };
    })
    .on("firestore.projects.databases.backupSchedules.delete", ({ params }) => {
      if (!model.schedules.delete(params.name ?? ""))
        throw new ApiError("NOT_FOUND", `BackupSchedule ${params.name} was not found.`);
      return { body: {} };
    })
    .on("firestore.projects.locations.backups.list", ({ params }) => {
      const [project, location] = (params.parent ?? "").split("/locations/");
      const found = [...model.backups.values()].filter((b) =>
        b.name.startsWith(location === "-" ? `${project}/locations/` : `${params.parent ?? ""}/backups/`),
      );
      return { body: { backups: found.map((b) => structuredClone(b)) } };
    })
    .on("firestore.projects.databases.exportDocuments", ({ params, body }) => {
      const name = params.name ?? "";
      databaseMustExist(name);
      const input = (body ?? {}) as { collectionIds?: string[]; outputUriPrefix?: string };
      if (!/^gs:\/\/[a-z0-9][a-z0-9._-]{1,221}[a-z0-9](\/.*)?$/.test(input.outputUriPrefix ?? ""))
        throw new ApiError(
          "INVALID_ARGUMENT",
          "outputUriPrefix must be a Cloud Storage URI gs://BUCKET_NAME[/NAMESPACE_PATH].",
        );
      const ids = input.collectionIds ?? [];
      if (new Set(ids).size !== ids.length)
        throw new ApiError("INVALID_ARGUMENT", "collectionIds: each collection group once.");
      const metadata = {
        "@type": "type.googleapis.com/google.firestore.admin.v1.ExportDocumentsMetadata",
        operationState: "PROCESSING",
        collectionIds: ids,
        outputUriPrefix: input.outputUriPrefix,
      };
      const response = {
        "@type": "type.googleapis.com/google.firestore.admin.v1.ExportDocumentsResponse",
        outputUriPrefix: input.outputUriPrefix,
      };
      return { body: model.operations.start(name, { response }, operationPolls, metadata) };
    })
    .on("firestore.projects.databases.operations.get", ({ params }) => ({
      body: model.operations.get(params.name ?? ""),
    }))
    .on("firestore.projects.databases.operations.list", ({ params }) => ({
      body: { operations: model.operations.list(params.name ?? "") },
    }))
    .on("firestore.projects.databases.restore", ({ params, body }) => {
      const project = params.parent ?? "";
      const input = (body ?? {}) as { databaseId?: string; backup?: string };
      const id = input.databaseId ?? "";
      if (!DATABASE_ID.test(id) || UUID_LIKE.test(id))
        throw new ApiError(
          "INVALID_ARGUMENT",
          `databaseId "${id}": 4-63 characters of a-z, 0-9 and -, a letter first.`,
        );
      const backup = model.backups.get(input.backup ?? "");
      if (!backup || !backup.name.startsWith(`${project}/`))
        throw new ApiError("NOT_FOUND", `Backup ${input.backup ?? "(none)"} was not found.`);
      if (backup.state !== "READY")
        throw new ApiError("FAILED_PRECONDITION", `Backup ${backup.name} is not READY.`);
      const name = `${project}/databases/${id}`;
      if (model.databases.has(name)) throw new ApiError("ALREADY_EXISTS", `Database ${name} already exists.`);
      const database: StoredDatabase = {
        name,
        locationId: backup.name.split("/locations/")[1]?.split("/")[0] ?? "",
        type: "FIRESTORE_NATIVE",
        sourceInfo: { backup: { backup: backup.name } },
      };
      model.databases.set(name, database);
      const response = { "@type": "type.googleapis.com/google.firestore.admin.v1.Database", ...database };
      return {
        body: model.operations.start(name, { response }, operationPolls, {
          "@type": "type.googleapis.com/google.firestore.admin.v1.RestoreDatabaseMetadata",
          database: name,
          backup: backup.name,
        }),
      };
    })
    .on("firestore.projects.databases.get", ({ params }) => {
      const database = model.databases.get(params.name ?? "");
      if (!database) throw new ApiError("NOT_FOUND", `Database ${params.name} was not found.`);
      return { body: structuredClone(database) };
    })
    .on("firestore.projects.databases.list", ({ params }) => ({
      body: {
        databases: [...model.databases.values()]
          .filter((d) => d.name.startsWith(`${params.parent ?? ""}/databases/`))
          .map((d) => structuredClone(d)),
      },
    }))
    .on("firestore.projects.databases.delete", ({ params }) => {
      const name = params.name ?? "";
      const database = model.databases.get(name);
      if (!database) throw new ApiError("NOT_FOUND", `Database ${name} was not found.`);
      model.databases.delete(name);
      const response = { "@type": "type.googleapis.com/google.firestore.admin.v1.Database", ...database };
      return { body: { ...model.operations.start(name, { response }, 0), done: true, response } };
    });
  return model;
}
