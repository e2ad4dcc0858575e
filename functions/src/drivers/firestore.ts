/**
 * The firestore driver: security rules, composite index definitions and seed documents of an
 * environment's database; in emulated mode against the Firestore emulator (live environments go to
 * live/firestore-live.ts, which uses this driver's validation).
 *
 * What the emulator offers (checked by hand):
 * - PUT /emulator/v1/projects/{id}:securityRules loads rules, answering 400 "Error compiling
 *   rules:\nL4:24 Unexpected ';'." for rules that do not compile and keeping the rules it had;
 *   GET on the same URL returns the rules loaded (a project never loaded answers with the rules
 *   the emulator started with). There is no compile-only call, so desired() compiles the rules by
 *   loading them into a scratch project (RULES_CHECK_PROJECT): a plan refuses rules that do not
 *   compile, with the emulator's line and column, before anything is applied.
 * - The emulator has no index API (it serves every query without composite indexes), so the
 *   validated index definitions are recorded in the marker document `_orchestration/firestore`
 *   of the target project and read back from there; nothing builds them.
 * - Seed documents are written through the REST API as the owner (rules bypassed); the marker
 *   lists the seeded paths so observe can read exactly those back.
 * - An instance (`firestore:analytics-db`) is a named database of the project, its id the
 *   instance's name; its seed and marker live in that database. The emulator keeps one ruleset
 *   per project for every database, so in an emulated environment all firestore instances must
 *   name the same rules file (desired() refuses otherwise rather than let one overwrite another's).
 */
import { z } from "zod";
import type { IntegrationSettings } from "../domain/config-schema.js";
import { NonRetriableError } from "../domain/errors.js";
import { instanceOf } from "../domain/integrations.js";
import { describeValue, formatPath, zodIssueToProblem, type Problem } from "../domain/problems.js";
import {
  emulatedOrLive,
  ensureOk,
  errorMessage,
  firestoreValueProblem,
  hostProblem,
  DEFAULT_DATABASE,
  MARKER_COLLECTION,
  markerPath,
  problem,
  readDocument,
  requireHost,
  rest,
  writeDocument,
  type Json,
} from "./emulator-rest.js";
import type { DriverIO, DriverSpec, DriverTarget } from "./types.js";
import { sha256 } from "../domain/digest.js";

export interface IndexField {
  fieldPath: string;
  order?: "ASCENDING" | "DESCENDING";
  arrayConfig?: "CONTAINS";
}

export interface IndexDefinition {
  collectionGroup: string;
  queryScope: "COLLECTION" | "COLLECTION_GROUP";
  fields: IndexField[];
}

export interface FirestoreState {
  /** The rules text loaded into the emulator. */
  rules: string;
  /** Validated composite index definitions (recorded, not built: the emulator has no indexes). */
  indexes: IndexDefinition[];
  /** collection -> document id -> fields. */
  seed: Record<string, Record<string, { [key: string]: Json }>>;
}

/** The project desired() loads rules into to compile them without touching the environment. */
export const RULES_CHECK_PROJECT = "demo-orchestrator-rules-check";

/** The database an instance lives in: the default one, or the database named after the instance. */
export const databaseOf = (integration: string): string => instanceOf(integration) ?? DEFAULT_DATABASE;

const collectionId = /^[A-Za-z0-9_-]+$/;

const indexFieldSchema = z.strictObject({
  fieldPath: z.string().min(1),
  order: z.enum(["ASCENDING", "DESCENDING"]).optional(),
  arrayConfig: z.enum(["CONTAINS"]).optional(),
});
const indexSchema = z.strictObject({
  collectionGroup: z.string().regex(collectionId, { error: "a collection id (letters, digits, _ and -)" }),
  queryScope: z.enum(["COLLECTION", "COLLECTION_GROUP"]),
  fields: z.array(indexFieldSchema).min(1),
  apiScope: z.string().optional(),
  density: z.string().optional(),
});
const indexesFileSchema = z.strictObject({
  indexes: z.array(indexSchema),
  fieldOverrides: z.array(z.unknown()).optional(),
});

/** Parses and validates an indexes file; problem paths are `<file>:<JSON path>`. */
export function parseIndexesFile(
  file: string,
  text: string,
): { indexes: IndexDefinition[]; problems: Problem[] } {
  const at = (path: (string | number)[]) => `${file}:${formatPath(path)}`;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return {
      indexes: [],
      problems: [problem(at([]), `text that is not JSON (${reason})`, "a JSON document")],
    };
  }
  const parsed = indexesFileSchema.safeParse(raw);
  if (!parsed.success) {
    return {
      indexes: [],
      problems: parsed.error.issues.map((issue) => {
        const p = zodIssueToProblem(issue, raw, indexesFileSchema);
        const path = `${file}:${p.path}`;
        return { ...p, path, message: `${path}: found ${p.found}; allowed: ${p.allowed}` };
      }),
    };
  }
  const problems: Problem[] = [];
  const seen = new Map<string, number>();
  const indexes = parsed.data.indexes.map((index, i): IndexDefinition => {
    const fieldPaths = new Set<string>();
    const fields = index.fields.map((field, j): IndexField => {
      if ((field.order === undefined) === (field.arrayConfig === undefined)) {
        problems.push(
          problem(
            at(["indexes", i, "fields", j]),
            field.order === undefined ? "neither order nor arrayConfig" : "both order and arrayConfig",
            'exactly one of order ("ASCENDING" | "DESCENDING") or arrayConfig ("CONTAINS")',
          ),
        );
      }
      if (fieldPaths.has(field.fieldPath))
        problems.push(
          problem(
            at(["indexes", i, "fields", j, "fieldPath"]),
            `"${field.fieldPath}" a second time`,
            "each field once per index",
          ),
        );
      fieldPaths.add(field.fieldPath);
      return field.order !== undefined
        ? { fieldPath: field.fieldPath, order: field.order }
        : { fieldPath: field.fieldPath, arrayConfig: field.arrayConfig ?? "CONTAINS" };
    });
    const definition: IndexDefinition = {
      collectionGroup: index.collectionGroup,
      queryScope: index.queryScope,
      fields,
    };
    const key = JSON.stringify(definition);
    const first = seen.get(key);
    if (first !== undefined)
      problems.push(problem(at(["indexes", i]), `the same index as indexes[${first}]`, "each index once"));
    else seen.set(key, i);
    return definition;
  });
  return { indexes, problems };
}

/** Seed documents with stable ids (the doc's string `id`, else `seed-<n>` by position), validated. */
export function buildSeed(
  integration: string,
  seed: IntegrationSettings<"firestore">["seed"],
): { seed: FirestoreState["seed"]; problems: Problem[] } {
  const problems: Problem[] = [];
  const out: FirestoreState["seed"] = {};
  for (const [collection, docs] of Object.entries(seed)) {
    if (collection === MARKER_COLLECTION || /^__.*__$/.test(collection)) {
      problems.push(
        problem(
          [integration, "seed", collection],
          `collection "${collection}"`,
          `a collection other than ${MARKER_COLLECTION} (the driver's own) and __reserved__ ones`,
        ),
      );
      continue;
    }
    const byId: Record<string, { [key: string]: Json }> = {};
    docs.forEach((doc, index) => {
      const path = [integration, "seed", collection, index];
      const rawId = doc.id;
      let id = `seed-${index + 1}`;
      if (rawId !== undefined) {
        if (typeof rawId !== "string") {
          problems.push(problem([...path, "id"], describeValue(rawId), "a string document id"));
          return;
        }
        if (
          rawId === "" ||
          rawId.includes("/") ||
          rawId === "." ||
          rawId === ".." ||
          /^__.*__$/.test(rawId) ||
          Buffer.byteLength(rawId) > 1500
        ) {
          problems.push(
            problem(
              [...path, "id"],
              describeValue(rawId),
              "a document id: not empty, no '/', not '.' or '..', not __reserved__, at most 1500 bytes",
            ),
          );
          return;
        }
        id = rawId;
      }
      if (byId[id] !== undefined) {
        problems.push(
          problem(
            [...path, "id"],
            `id "${id}" a second time in ${collection}`,
            "each document id once per collection",
          ),
        );
        return;
      }
      const invalid = firestoreValueProblem(doc, path);
      if (invalid) {
        problems.push(invalid);
        return;
      }
      byId[id] = doc as { [key: string]: Json };
    });
    out[collection] = byId;
  }
  return { seed: out, problems };
}

const rulesUrl = (host: string, projectId: string) =>
  `http://${host}/emulator/v1/projects/${projectId}:securityRules`;

interface RulesIssue {
  sourcePosition?: { line?: number; column?: number };
  description?: string;
  severity?: string;
}

/** Loads rules into a project; returns the compile errors (with line:column), [] when loaded. */
async function loadRules(io: DriverIO, projectId: string, rules: string): Promise<string[]> {
  const answer = await rest(io, "PUT", rulesUrl(requireHost(io, "firestore"), projectId), {
    rules: { files: [{ name: "firestore.rules", content: rules }] },
  });
  if (answer.status === 400) {
    // "Error compiling rules:\nL4:24 Unexpected ';'."
    return errorMessage(answer)
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line !== "" && !/^Error compiling rules:?$/.test(line));
  }
  ensureOk(answer, `loading rules into ${projectId}`);
  const issues = (answer.body as { issues?: RulesIssue[] }).issues ?? [];
  return issues
    .filter((issue) => issue.severity === "ERROR")
    .map(
      (issue) =>
        `L${issue.sourcePosition?.line ?? "?"}:${issue.sourcePosition?.column ?? "?"} ${issue.description ?? ""}`,
    );
}

async function readRules(io: DriverIO, projectId: string): Promise<string | undefined> {
  const answer = await rest(io, "GET", rulesUrl(requireHost(io, "firestore"), projectId));
  if (answer.status === 404) return undefined;
  ensureOk(answer, `reading the rules of ${projectId}`);
  return (answer.body as { rules?: { files?: { content?: string }[] } }).rules?.files?.[0]?.content;
}

interface Marker {
  rules_digest: string;
  indexes_json: string;
  seeded: string[];
  applied_at: string;
}

async function readMarker(io: DriverIO, projectId: string, integration: string): Promise<Marker | undefined> {
  const data = await readDocument(io, projectId, markerPath(integration), databaseOf(integration));
  if (!data) return undefined;
  return {
    rules_digest: typeof data.rules_digest === "string" ? data.rules_digest : "",
    indexes_json: typeof data.indexes_json === "string" ? data.indexes_json : "[]",
    seeded: Array.isArray(data.seeded) ? data.seeded.filter((p): p is string => typeof p === "string") : [],
    applied_at: typeof data.applied_at === "string" ? data.applied_at : "",
  };
}

export const firestoreDriver: DriverSpec<"firestore", FirestoreState> = {
  kind: "firestore",
  mode: emulatedOrLive,

  async desired(target: DriverTarget<"firestore">, io) {
    const { integration, settings } = target;
    const problems: Problem[] = [];
    const emulated = emulatedOrLive(target.environment) === "emulated";
    if (emulated) {
      const missing = hostProblem(io, "firestore");
      if (missing) problems.push(missing);
    }

    if (emulated) {
      const other = target.environment.integrations.find(
        (candidate) =>
          candidate.kind === "firestore" &&
          candidate.name !== integration &&
          candidate.settings.rules_file !== settings.rules_file,
      );
      if (other?.kind === "firestore")
        problems.push(
          problem(
            [integration, "rules_file"],
            `"${settings.rules_file}", while ${other.name} names "${other.settings.rules_file}"`,
            "the same rules file for every firestore instance of an emulated environment (the emulator keeps one ruleset per project)",
          ),
        );
    }

    const rules = await io.sources.readText(settings.rules_file);
    if (rules === undefined) {
      problems.push(
        problem(
          [integration, "rules_file"],
          `"${settings.rules_file}", which does not exist`,
          "the path of a rules file in the repository",
        ),
      );
    } else if (emulated && io.emulators.firestore) {
      const errors = await loadRules(io, RULES_CHECK_PROJECT, rules);
      if (errors.length > 0)
        problems.push(
          problem(
            [integration, "rules_file"],
            `${settings.rules_file} with rules that do not compile: ${errors.join("; ")}`,
            "rules the Firestore rules compiler accepts",
          ),
        );
    }

    let indexes: IndexDefinition[] = [];
    const indexesText = await io.sources.readText(settings.indexes_file);
    if (indexesText === undefined) {
      problems.push(
        problem(
          [integration, "indexes_file"],
          `"${settings.indexes_file}", which does not exist`,
          "the path of an indexes JSON file in the repository",
        ),
      );
    } else {
      const parsed = parseIndexesFile(settings.indexes_file, indexesText);
      indexes = parsed.indexes;
      problems.push(...parsed.problems);
    }

    const seed = buildSeed(integration, settings.seed);
    problems.push(...seed.problems);

    const state: FirestoreState = { rules: rules ?? "", indexes, seed: seed.seed };
    return {
      state,
      problems,
      artifact: {
        name: "firestore.indexes.json",
        content: `${JSON.stringify({ indexes, fieldOverrides: [] }, null, 2)}\n`,
      },
    };
  },

  async observe(target, io) {
    if (!io.emulators.firestore) return undefined;
    const projectId = target.environment.project_id;
    const database = databaseOf(target.integration);
    const rules = await readRules(io, projectId);
    const marker = await readMarker(io, projectId, target.integration);
    const seed: FirestoreState["seed"] = {};
    const docs = await Promise.all(
      (marker?.seeded ?? []).map(
        async (path) => [path, await readDocument(io, projectId, path, database)] as const,
      ),
    );
    for (const [path, data] of docs) {
      const [collection, id] = path.split("/");
      if (!collection || !id) continue;
      seed[collection] ??= {};
      if (data) seed[collection][id] = data;
    }
    // Without a marker, indexes and seed are absent: nothing was recorded there yet.
    return {
      rules: rules ?? "",
      indexes: marker ? (JSON.parse(marker.indexes_json) as IndexDefinition[]) : undefined,
      seed: marker ? seed : undefined,
    } as FirestoreState;
  },

  async apply(target, state, io) {
    const projectId = target.environment.project_id;
    // Rules first: when they do not compile, the emulator keeps the rules it had and nothing else is touched.
    const errors = await loadRules(io, projectId, state.rules);
    if (errors.length > 0)
      throw new NonRetriableError(
        `the Firestore emulator refused the rules for ${projectId} (the previous rules stay loaded): ${errors.join("; ")}`,
      );
    const database = databaseOf(target.integration);
    const seeded: string[] = [];
    for (const [collection, docs] of Object.entries(state.seed)) {
      for (const [id, data] of Object.entries(docs)) {
        await writeDocument(io, projectId, `${collection}/${id}`, data, database);
        seeded.push(`${collection}/${id}`);
      }
    }
    await writeDocument(
      io,
      projectId,
      markerPath(target.integration),
      {
        rules_digest: sha256(state.rules),
        indexes_json: JSON.stringify(state.indexes),
        seeded: seeded.sort(),
        applied_at: io.now().toISOString(),
      },
      database,
    );
  },

  async verify(target, io, release) {
    const projectId = target.environment.project_id;
    const marker = await readMarker(io, projectId, target.integration);
    const where = `${projectId}${instanceOf(target.integration) === null ? "" : ` (database ${databaseOf(target.integration)})`}`;
    if (!marker)
      return {
        status: "down",
        details: `${markerPath(target.integration)} is missing in ${where}: never applied, or wiped`,
      };
    const loaded = sha256((await readRules(io, projectId)) ?? "");
    const expected = release ? sha256((release.state as FirestoreState).rules) : marker.rules_digest;
    if (loaded !== expected)
      return {
        status: "degraded",
        details: `rules loaded in ${projectId} (${loaded.slice(0, 12)}) differ from the release's (${expected.slice(0, 12)})`,
      };
    return {
      status: "healthy",
      details: `marker read back from ${where}; rules ${loaded.slice(0, 12)} loaded; ${marker.seeded.length} seed doc(s); indexes recorded, not built (the emulator has no indexes)`,
    };
  },
};
