import { ApiError } from "../resources.js";
import type { ContractServer } from "../server.js";

type Json = Record<string, unknown>;
type Field = { name: string; type: string; mode?: string };
type Table = Json & { schema?: { fields?: Field[] }; view?: { query?: string } };

/** One query the server received, with the parameters it declared. */
export interface ReceivedQuery {
  query: string;
  parameters: Record<string, { type: string; value: unknown }>;
}

/** Answers a query the test expects: column names and rows (values as BigQuery's REST sends them: strings). */
export type QueryResponder = (query: ReceivedQuery) => { fields: Field[]; rows: (string | null)[][] } | null;

/** The state of a BigQuery model, for assertions. */
export interface BigQueryModel {
  datasets: Map<string, Json>;
  tables: Map<string, Table>;
  /** Rows per `project.dataset.table`, by insertId (what streaming dedupe keeps). */
  rows: Map<string, Map<string, Json>>;
  queries: ReceivedQuery[];
  /** Makes the next `count` rows of insertAll fail with a transient per-row error (as `backendError`). */
  failRows(count: number): void;
  answerQueries(responder: QueryResponder): void;
}

const INT = /^-?\d+$/;

/** Why a value does not fit a column, or null when it does (BigQuery's JSON ingestion rules). */
function misfit(field: Field, value: unknown): string | null {
  if (value === null || value === undefined)
    return field.mode === "REQUIRED" ? `Missing required field: ${field.name}.` : null;
  switch (field.type) {
    case "STRING":
    case "JSON":
      return typeof value === "string" ? null : `Cannot convert value to string: ${field.name}`;
    case "INT64":
    case "INTEGER":
      return (typeof value === "number" && Number.isInteger(value)) ||
        (typeof value === "string" && INT.test(value))
        ? null
        : `Cannot convert value to integer: ${field.name}`;
    case "FLOAT64":
    case "FLOAT":
      return typeof value === "number" || (typeof value === "string" && !Number.isNaN(Number(value)))
        ? null
        : `Cannot convert value to floating point: ${field.name}`;
    case "TIMESTAMP":
      return typeof value === "string" && !Number.isNaN(Date.parse(value))
        ? null
        : `Cannot convert value to timestamp: ${field.name}`;
    case "BOOL":
    case "BOOLEAN":
      return typeof value === "boolean" ? null : `Cannot convert value to boolean: ${field.name}`;
    default:
      return null;
  }
}

/**
 * BigQuery v2's behaviour as its reference documents it, registered on a contract server: datasets
 * and tables (get 404 when missing, insert 409 when present, patch merges: null clears a field,
 * labels merge key by key; a dataset's location, a table's partitioning type and column, a column's
 * type are fixed; a patched schema keeps every column, relaxes REQUIRED only and adds NULLABLE
 * ones), streaming inserts with `insertId` dedupe and partial failures (an invalid row is `invalid`,
 * the rest of its request `stopped`, nothing lands, unless skipInvalidRows), and `jobs.query`, which
 * checks that every `@parameter` of the SQL is declared with a type and that every table it names
 * exists, then answers the rows a test supplies (the server runs no SQL: DuckDB runs the same
 * queries in the tests).
 */
export function bigQueryModel(server: ContractServer): BigQueryModel {
  const datasets = new Map<string, Json>();
  const tables = new Map<string, Table>();
  const rows = new Map<string, Map<string, Json>>();
  const queries: ReceivedQuery[] = [];
  let transient = 0;
  let responder: QueryResponder = () => null;
  const key = (...parts: (string | undefined)[]) => parts.join(".");

  const tableOrThrow = (p: Record<string, string>): Table => {
    const found = tables.get(key(p.projectId, p.datasetId, p.tableId));
    if (!found)
      throw new ApiError("NOT_FOUND", `Not found: Table ${p.projectId}:${p.datasetId}.${p.tableId}`);
    return found;
  };

  server
    .on("bigquery.datasets.get", ({ params }) => {
      const found = datasets.get(key(params.projectId, params.datasetId));
      if (!found)
        throw new ApiError("NOT_FOUND", `Not found: Dataset ${params.projectId}:${params.datasetId}`);
      return { body: found };
    })
    .on("bigquery.datasets.insert", ({ params, body }) => {
      const ref = (body as Json).datasetReference as { projectId?: string; datasetId?: string };
      const id = key(params.projectId, ref.datasetId);
      if (datasets.has(id))
        throw new ApiError("ALREADY_EXISTS", `Already Exists: Dataset ${params.projectId}:${ref.datasetId}`);
      const dataset = {
        ...(body as Json),
        kind: "bigquery#dataset",
        id: `${params.projectId}:${ref.datasetId}`,
        datasetReference: { projectId: params.projectId, datasetId: ref.datasetId },
      };
      datasets.set(id, dataset);
      return { body: dataset };
    })
    .on("bigquery.tables.get", ({ params }) => ({ body: tableOrThrow(params) }))
    .on("bigquery.tables.insert", ({ params, body }) => {
      if (!datasets.has(key(params.projectId, params.datasetId)))
        throw new ApiError("NOT_FOUND", `Not found: Dataset ${params.projectId}:${params.datasetId}`);
      const ref = (body as Json).tableReference as { tableId?: string };
      const id = key(params.projectId, params.datasetId, ref.tableId);
      if (tables.has(id))
        throw new ApiError(
          "ALREADY_EXISTS",
          `Already Exists: Table ${params.projectId}:${params.datasetId}.${ref.tableId}`,
        );
      const table: Table = {
        ...(body as Json),
        kind: "bigquery#table",
        id: `${params.projectId}:${params.datasetId}.${ref.tableId}`,
        type: (body as Table).view ? "VIEW" : "TABLE",
      };
      tables.set(id, table);
      rows.set(id, new Map());
      return { body: table };
    })
    .on("bigquery.datasets.patch", ({ params, body }) => {
      const dataset = datasets.get(key(params.projectId, params.datasetId));
      if (!dataset)
        throw new ApiError("NOT_FOUND", `Not found: Dataset ${params.projectId}:${params.datasetId}`);
      const patch = body as Json;
      if (patch.location !== undefined && patch.location !== dataset.location)
        throw new ApiError("INVALID_ARGUMENT", "Cannot change dataset location.");
      for (const [field, value] of Object.entries(patch)) {
        if (field === "labels") {
          // Labels merge: a key set to null is removed, keys left out are kept.
          const labels = { ...((dataset.labels as Record<string, string> | undefined) ?? {}) };
          for (const [label, v] of Object.entries((value as Record<string, string | null> | null) ?? {}))
            if (v === null) delete labels[label];
            else labels[label] = v;
          dataset.labels = labels;
        } else if (value === null) delete dataset[field];
        else dataset[field] = value;
      }
      return { body: dataset };
    })
    .on("bigquery.tables.patch", ({ params, body }) => {
      const table = tableOrThrow(params);
      const patch = body as Table & { timePartitioning?: Json | null };
      // What tables.patch refuses (BigQuery's "Modifying table schemas" and partitioning guides).
      const before = table.timePartitioning as Json | undefined;
      if (
        patch.timePartitioning !== undefined &&
        (patch.timePartitioning?.type !== before?.type || patch.timePartitioning?.field !== before?.field)
      )
        throw new ApiError("INVALID_ARGUMENT", "Cannot change partitioning spec for a partitioned table.");
      if (patch.schema?.fields) {
        const next = new Map(patch.schema.fields.map((f) => [f.name, f]));
        for (const old of table.schema?.fields ?? []) {
          const now = next.get(old.name);
          const [was, is] = [old.mode ?? "NULLABLE", now?.mode ?? "NULLABLE"];
          if (!now)
            throw new ApiError(
              "INVALID_ARGUMENT",
              `Provided Schema does not match Table ${params.projectId}:${params.datasetId}.${params.tableId}. Field ${old.name} is missing in new schema`,
            );
          if (now.type !== old.type)
            throw new ApiError(
              "INVALID_ARGUMENT",
              `Provided Schema does not match Table ${params.projectId}:${params.datasetId}.${params.tableId}. Field ${old.name} has changed type from ${old.type} to ${now.type}`,
            );
          if (was !== is && !(was === "REQUIRED" && is === "NULLABLE"))
            throw new ApiError(
              "INVALID_ARGUMENT",
              `Provided Schema does not match Table ${params.projectId}:${params.datasetId}.${params.tableId}. Field ${old.name} has changed mode from ${was} to ${is}`,
            );
        }
        const known = new Set((table.schema?.fields ?? []).map((f) => f.name));
        for (const added of patch.schema.fields)
          if (!known.has(added.name) && added.mode === "REQUIRED")
            throw new ApiError(
              "INVALID_ARGUMENT",
              `Provided Schema does not match Table ${params.projectId}:${params.datasetId}.${params.tableId}. Cannot add required fields to an existing schema. (field: ${added.name})`,
            );
      }
      for (const [field, value] of Object.entries(patch as Json))
        if (value === null) delete table[field];
        else table[field] = value;
      return { body: table };
    })
    .on("bigquery.tabledata.insertAll", ({ params, body }) => {
      const table = tableOrThrow(params);
      if (table.view) throw new ApiError("INVALID_ARGUMENT", "Cannot add rows to a view.");
      const request = body as {
        rows?: { insertId?: string; json?: Json }[];
        skipInvalidRows?: boolean;
        ignoreUnknownValues?: boolean;
      };
      const fields = table.schema?.fields ?? [];
      const errors: { index: number; errors: Json[] }[] = [];
      (request.rows ?? []).forEach((row, index) => {
        const json = row.json ?? {};
        const problems: string[] = [];
        for (const field of fields) {
          const why = misfit(field, json[field.name]);
          if (why) problems.push(why);
        }
        if (!request.ignoreUnknownValues)
          for (const name of Object.keys(json))
            if (!fields.some((f) => f.name === name)) problems.push(`no such field: ${name}.`);
        if (problems.length > 0)
          errors.push({
            index,
            errors: problems.map((message) => ({ reason: "invalid", location: "", message })),
          });
      });
      const all = request.rows ?? [];
      if (errors.length > 0 && !request.skipInvalidRows) {
        const bad = new Set(errors.map((e) => e.index));
        all.forEach((_, index) => {
          if (!bad.has(index))
            errors.push({ index, errors: [{ reason: "stopped", location: "", message: "" }] });
        });
        return {
          body: {
            kind: "bigquery#tableDataInsertAllResponse",
            insertErrors: errors.sort((a, b) => a.index - b.index),
          },
        };
      }
      const bad = new Set(errors.map((e) => e.index));
      const stored = rows.get(key(params.projectId, params.datasetId, params.tableId))!;
      all.forEach((row, index) => {
        if (bad.has(index)) return;
        if (transient > 0) {
          transient -= 1;
          errors.push({
            index,
            errors: [{ reason: "backendError", location: "", message: "Backend error. Please try again." }],
          });
          return;
        }
        // insertId dedupe: a row whose id was seen keeps the first copy.
        const id = row.insertId ?? `auto-${stored.size}`;
        if (!stored.has(id)) stored.set(id, row.json ?? {});
      });
      return {
        body: {
          kind: "bigquery#tableDataInsertAllResponse",
          ...(errors.length > 0 && { insertErrors: errors.sort((a, b) => a.index - b.index) }),
        },
      };
    })
    .on("bigquery.jobs.query", ({ params, body }) => {
      const request = body as {
        query: string;
        useLegacySql?: boolean;
        queryParameters?: {
          name?: string;
          parameterType?: { type?: string; arrayType?: { type?: string } };
          parameterValue?: Json;
        }[];
      };
      if (request.useLegacySql !== false)
        throw new ApiError(
          "INVALID_ARGUMENT",
          "The control plane's SQL is GoogleSQL: useLegacySql must be false.",
        );
      const declared = new Map((request.queryParameters ?? []).map((p) => [p.name ?? "", p]));
      const used = [...request.query.matchAll(/@([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1] ?? "");
      for (const name of used) {
        if (!declared.has(name))
          throw new ApiError(
            "INVALID_ARGUMENT",
            `Query parameter '${name}' not found at [${request.query.indexOf(`@${name}`)}]`,
          );
        if (!declared.get(name)?.parameterType?.type)
          throw new ApiError("INVALID_ARGUMENT", `Query parameter '${name}' has no type`);
      }
      for (const match of request.query.matchAll(/`([^`]+)\.([^`.]+)\.([^`.]+)`/g)) {
        const [, project, dataset, table] = match;
        if (!tables.has(key(project, dataset, table)))
          throw new ApiError(
            "NOT_FOUND",
            `Not found: Table ${project}:${dataset}.${table} was not found in location US`,
          );
      }
      let depth = 0;
      for (const ch of request.query) {
        depth += ch === "(" ? 1 : ch === ")" ? -1 : 0;
        if (depth < 0) break;
      }
      if (depth !== 0) throw new ApiError("INVALID_ARGUMENT", "Syntax error: unbalanced parentheses");
      const received: ReceivedQuery = {
        query: request.query,
        parameters: Object.fromEntries(
          [...declared].map(([name, p]) => [
            name,
            { type: p.parameterType?.type ?? "", value: p.parameterValue },
          ]),
        ),
      };
      queries.push(received);
      const answer = responder(received) ?? { fields: [], rows: [] };
      return {
        body: {
          kind: "bigquery#queryResponse",
          jobReference: { projectId: params.projectId, jobId: `job_${queries.length}` },
          jobComplete: true,
          totalRows: String(answer.rows.length),
          schema: { fields: answer.fields },
          rows: answer.rows.map((row) => ({ f: row.map((v) => ({ v })) })),
          cacheHit: false,
        },
      };
    });

  return {
    datasets,
    tables,
    rows,
    queries,
    failRows: (count) => void (transient = count),
    answerQueries: (r) => void (responder = r),
  };
}
