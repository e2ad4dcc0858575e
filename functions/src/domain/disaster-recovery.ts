/**
 * Disaster recovery of the control plane, the pure parts: how an export writes a document so that
 * a restore gets the same types back, what a complete export's manifest says, the checks a drill
 * makes of the files before anything is written, which export a drill takes, and the RPO and RTO
 * it measured.
 *
 * JSON has no time type, and the control plane keeps ISO strings of its own in Firestore (events in
 * the outbox, job results, recorded releases) beside its Timestamps, so a string that looks like a
 * time cannot be taken for one. Each exported line therefore lists the paths of the fields that
 * were Timestamps (`timestamps`), and only those come back as times.
 */
import { z } from "zod";
import { sha256 } from "./digest.js";
import { formatPath, zodIssueToProblem } from "./problems.js";
import { isTimestamp } from "./timestamps.js";

/** The folder under the backups root that holds the control plane's exports (environment names cannot start with "_"). */
export const CONTROL_PLANE_FOLDER = "_control-plane";

/** How an export's lines are written; an export without it predates typed lines and cannot be restored exactly. */
export const EXPORT_ENCODING = "jsonl+timestamp-paths";

/** Where a value sits in a document: field names, and indexes into arrays. */
const fieldPathSchema = z.array(z.union([z.string(), z.int().min(0)])).min(1);
type FieldPath = z.infer<typeof fieldPathSchema>;

/** One line of a collection's file. */
export const exportLineSchema = z.strictObject({
  id: z.string().min(1),
  data: z.record(z.string(), z.unknown()),
  /** The fields that were Timestamps, written as ISO 8601 strings; absent when there were none. */
  timestamps: z.array(fieldPathSchema).optional(),
});

const verifyResultSchema = z.union([
  z.strictObject({ ok: z.literal(true), count: z.int().min(0) }),
  z.strictObject({
    ok: z.literal(false),
    seq: z.int(),
    problem: z.string(),
    message: z.string(),
  }),
]);

/** `manifest.json`: written last, so a folder without one is an unfinished export. */
export const controlPlaneManifestSchema = z.strictObject({
  kind: z.literal("control-plane-backup"),
  encoding: z.literal(EXPORT_ENCODING),
  project_id: z.string().min(1),
  export_id: z.string().min(1),
  created_at: z.iso.datetime(),
  collections: z.array(
    z.strictObject({
      name: z.string().min(1),
      documents: z.int().min(0),
      file: z.string().regex(/^[^/\\]+\.jsonl$/, "a file name ending in .jsonl, without folders"),
      sha256: z.string().regex(/^[0-9a-f]{64}$/, "64 lower-case hex digits"),
    }),
  ),
  documents: z.int().min(0),
  audit_chain: verifyResultSchema,
  note: z.string(),
});
export type ControlPlaneManifest = z.infer<typeof controlPlaneManifestSchema>;

/**
 * One document as a line of its collection's file: Timestamps (and Dates) as ISO strings, their
 * paths listed. Values JSON cannot carry as they are (bytes, references, geo points, NaN) are
 * refused naming the document and field, rather than written as something else.
 */
export function encodeExportLine(where: string, id: string, data: Record<string, unknown>): string {
  const timestamps: FieldPath[] = [];
  const encode = (value: unknown, at: FieldPath): unknown => {
    if (value === null || typeof value === "string" || typeof value === "boolean") return value;
    if (typeof value === "number") {
      if (!Number.isFinite(value)) throw unsupported(value);
      return value;
    }
    if (Array.isArray(value)) return value.map((item, index) => encode(item, [...at, index]));
    if (typeof value === "object") {
      if (value instanceof Date || isTimestamp(value)) {
        timestamps.push(at);
        return (value instanceof Date ? value : value.toDate()).toISOString();
      }
      if (Object.getPrototypeOf(value) === Object.prototype)
        return Object.fromEntries(
          Object.entries(value).map(([key, inner]) => [key, encode(inner, [...at, key])]),
        );
    }
    throw unsupported(value);

    function unsupported(found: unknown): Error {
      const kind =
        typeof found === "object" && found !== null
          ? `a ${found.constructor?.name ?? "object"}`
          : `${typeof found} ${String(found)}`;
      return new Error(
        `${where}/${id}: field ${formatPath(at)} holds ${kind}, which a control-plane export cannot carry (allowed: strings, numbers, booleans, null, maps, arrays, timestamps)`,
      );
    }
  };
  const encoded = encode(data, []) as Record<string, unknown>;
  return JSON.stringify(timestamps.length > 0 ? { id, data: encoded, timestamps } : { id, data: encoded });
}

/** An ISO 8601 time as `Date.prototype.toISOString` writes it. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** A document read back from a line: the fields listed in `timestamps` are Dates again, nothing else is. */
export interface RestoredDocument {
  id: string;
  data: Record<string, unknown>;
}

/** Parses line `lineNumber` (1-based) of `file`; every problem names the file, the line and the field. */
export function decodeExportLine(file: string, lineNumber: number, text: string): RestoredDocument {
  const where = `${file} line ${lineNumber}`;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`${where}: not JSON (${(error as Error).message})`);
  }
  const parsed = exportLineSchema.safeParse(json);
  if (!parsed.success)
    throw new Error(
      `${where}: ${parsed.error.issues.map((issue) => zodIssueToProblem(issue, json, exportLineSchema).message).join("; ")}`,
    );
  const { id, data, timestamps = [] } = parsed.data;
  for (const at of timestamps) {
    const parentPath = at.slice(0, -1);
    const last = at[at.length - 1]!;
    let parent: unknown = data;
    for (const part of parentPath)
      parent =
        typeof parent === "object" && parent !== null ? (parent as Record<string, unknown>)[part] : undefined;
    const value =
      typeof parent === "object" && parent !== null ? (parent as Record<string, unknown>)[last] : undefined;
    if (typeof value !== "string" || !ISO_TIME.test(value) || Number.isNaN(Date.parse(value)))
      throw new Error(
        `${where}: timestamps lists ${formatPath(at)}, which holds ${JSON.stringify(value) ?? "nothing"} (allowed: an ISO 8601 time such as 2026-12-01T04:00:00.000Z)`,
      );
    (parent as Record<string, unknown>)[last] = new Date(value);
  }
  return { id, data };
}

/** The lines of a collection's file (the file ends each line with a newline; an empty file has none). */
export function exportLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines;
}

/** One check of a drill, with what it found. */
export interface DrillCheck {
  check: string;
  ok: boolean;
  detail: string;
}

/** Parses `manifest.json`'s text; a problem names the file and the field. */
export function parseManifest(
  file: string,
  text: string,
): { ok: true; manifest: ControlPlaneManifest } | { ok: false; message: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { ok: false, message: `${file}: not JSON (${(error as Error).message})` };
  }
  if (typeof json === "object" && json !== null && !("encoding" in json))
    return {
      ok: false,
      message: `${file}: no "encoding": the export predates exports that record which fields are timestamps, so its times cannot be restored as Timestamps; take a new backup (orch jobs run control-plane-backup)`,
    };
  const parsed = controlPlaneManifestSchema.safeParse(json);
  if (parsed.success) return { ok: true, manifest: parsed.data };
  return {
    ok: false,
    message: `${file}: ${parsed.error.issues.map((issue) => zodIssueToProblem(issue, json, controlPlaneManifestSchema).message).join("; ")}`,
  };
}

/**
 * Checks an export's files against its manifest before anything is restored: each file is there,
 * its sha256 is the manifest's, it has as many lines as the manifest counts documents, and every
 * line reads back. `files` maps a file name to its text, or to null when it is missing. Answers the
 * checks and, when all passed, the documents per collection.
 */
export function checkExportFiles(
  manifest: ControlPlaneManifest,
  files: ReadonlyMap<string, string | null>,
): { checks: DrillCheck[]; documents: Map<string, RestoredDocument[]> | null } {
  const checks: DrillCheck[] = [];
  const documents = new Map<string, RestoredDocument[]>();
  for (const collection of manifest.collections) {
    const text = files.get(collection.file) ?? null;
    const check = `file ${collection.file}`;
    if (text === null) {
      checks.push({ check, ok: false, detail: "missing from the export folder" });
      continue;
    }
    const digest = sha256(text);
    if (digest !== collection.sha256) {
      checks.push({
        check,
        ok: false,
        detail: `sha256 ${digest} does not match the manifest's ${collection.sha256}: the file was changed or cut after the export`,
      });
      continue;
    }
    const lines = exportLines(text);
    if (lines.length !== collection.documents) {
      checks.push({
        check,
        ok: false,
        detail: `${lines.length} line(s), the manifest counts ${collection.documents} document(s)`,
      });
      continue;
    }
    try {
      documents.set(
        collection.name,
        lines.map((line, index) => decodeExportLine(collection.file, index + 1, line)),
      );
      checks.push({ check, ok: true, detail: `sha256 matches; ${lines.length} document(s) read` });
    } catch (error) {
      checks.push({ check, ok: false, detail: (error as Error).message });
    }
  }
  const total = manifest.collections.reduce((sum, c) => sum + c.documents, 0);
  if (total !== manifest.documents)
    checks.push({
      check: "manifest totals",
      ok: false,
      detail: `documents ${manifest.documents}, the collections add up to ${total}`,
    });
  return { checks, documents: checks.every((c) => c.ok) ? documents : null };
}

/** An export folder's name is its time with ':' and '.' made '-'; answers that time, or null for another name. */
export function exportTimeOf(folder: string): Date | null {
  const iso = folder.replace(/^(\d{4}-\d{2}-\d{2}T\d{2})-(\d{2})-(\d{2})-(\d{3}Z)$/, "$1:$2:$3.$4");
  if (iso === folder) return null;
  const at = Date.parse(iso);
  return Number.isNaN(at) ? null : new Date(at);
}

/** The folder name of an export taken at `at`. */
export function exportFolderName(at: Date): string {
  return at.toISOString().replace(/[:.]/g, "-");
}

/**
 * Which export a drill takes: the latest folder that has a manifest. Unfinished ones (no manifest)
 * newer than it are named, so a drill says that a later backup did not complete.
 */
export function pickLatestExport(folders: readonly { name: string; complete: boolean }[]): {
  chosen: string | null;
  unfinishedNewer: string[];
} {
  const exports = folders
    .filter((folder) => exportTimeOf(folder.name) !== null)
    .sort((a, b) => exportTimeOf(b.name)!.getTime() - exportTimeOf(a.name)!.getTime());
  const index = exports.findIndex((folder) => folder.complete);
  return {
    chosen: index === -1 ? null : exports[index]!.name,
    unfinishedNewer: (index === -1 ? exports : exports.slice(0, index)).map((folder) => folder.name),
  };
}

/** Per collection: the restored project holds as many documents as the manifest counts (and no collection more). */
export function compareCounts(
  manifest: ControlPlaneManifest,
  restored: ReadonlyMap<string, number>,
): DrillCheck[] {
  const checks = manifest.collections.map((collection) => {
    const found = restored.get(collection.name) ?? 0;
    return {
      check: `count ${collection.name}`,
      ok: found === collection.documents,
      detail: `${found} restored, manifest ${collection.documents}`,
    };
  });
  const listed = new Set(manifest.collections.map((collection) => collection.name));
  for (const [name, count] of restored)
    if (!listed.has(name))
      checks.push({ check: `count ${name}`, ok: false, detail: `${count} restored, not in the manifest` });
  return checks;
}

type VerifyResult = z.infer<typeof verifyResultSchema>;

/** The restored chain verifies, with as many records as it had at export time. */
export function compareAuditChain(atExport: VerifyResult, restored: VerifyResult): DrillCheck {
  const check = "audit chain";
  if (!restored.ok)
    return {
      check,
      ok: false,
      detail: `record #${restored.seq} was ${restored.problem}: ${restored.message}`,
    };
  if (!atExport.ok)
    return {
      check,
      ok: false,
      detail: `already broken at export time (record #${atExport.seq} ${atExport.problem}); the restored chain verifies ${restored.count} record(s)`,
    };
  return {
    check,
    ok: restored.count === atExport.count,
    detail: `${restored.count} record(s) verify, ${atExport.count} at export time`,
  };
}

/** The recovery point (how much time of changes a restore of this export loses) and recovery time (how long restore and verification took). */
export function recoveryObjectives(times: { exportedAt: Date; startedAt: Date; verifiedAt: Date }): {
  rpo_ms: number;
  rto_ms: number;
} {
  return {
    rpo_ms: times.startedAt.getTime() - times.exportedAt.getTime(),
    rto_ms: times.verifiedAt.getTime() - times.startedAt.getTime(),
  };
}

/** A duration for people: `850 ms`, `12.4 s`, `7 min 05 s`, `26 h 03 min`. */
export function formatDuration(ms: number): string {
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const totalSeconds = Math.floor(ms / 1000);
  if (totalSeconds < 3600)
    return `${Math.floor(totalSeconds / 60)} min ${String(totalSeconds % 60).padStart(2, "0")} s`;
  const totalMinutes = Math.floor(totalSeconds / 60);
  return `${Math.floor(totalMinutes / 60)} h ${String(totalMinutes % 60).padStart(2, "0")} min`;
}
