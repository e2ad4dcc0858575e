/**
 * The few places where DuckDB's SQL and BigQuery's GoogleSQL differ, in one module: identifier
 * quoting, parameters, time and JSON functions, scope filters and text search. Every
 * query in `queries.ts` is written once against this interface.
 */
import { DEPLOYMENT_FACTS, EVENTS_TABLE, TASK_FACTS, type ColumnType } from "./schema.js";

/** How one SQL engine spells what the queries need. */
export interface Dialect {
  name: "duckdb" | "bigquery";
  /** A column name, quoted (`from` and `to` are reserved words in both). */
  id(column: string): string;
  /** The events to read: deduplicated by event_id. */
  events: string;
  /** One row per deployment: its latest status by event time, first event, duration. */
  deploymentFacts: string;
  /** One row per task: its latest status by event time, whether it ran, retries, duration. */
  taskFacts: string;
  /** A named parameter. */
  param(name: string): string;
  /** A timestamp parameter given as ISO text. */
  timestampParam(name: string): string;
  /** The UTC date of a timestamp, as YYYY-MM-DD text. */
  day(expression: string): string;
  /** A timestamp as ISO text with milliseconds and Z. */
  isoTime(expression: string): string;
  /** An integer inside the JSON payload, null when absent. */
  jsonInt(expression: string, field: string): string;
  /** `environment` is in the caller's scope (parameters all_environments and environments). */
  inScope(column: string): string;
  /** Every search term (parameters term0..termN, lower case) occurs in the event's text. */
  matchesTerms(alias: string, termCount: number): string;
  /** The column's value is one of a list parameter's. */
  inList(column: string, param: string): string;
  /** The column, lower-cased, contains a text parameter (given lower-case). */
  containsText(column: string, param: string): string;
  /** A timestamp `days` before a timestamp parameter. */
  daysBefore(param: string, days: number): string;
  /** The type name of a column type. */
  type(type: ColumnType): string;
}

/** The text a local search looks in: every column a person might search by. */
const SEARCH_TEXT = (q: (column: string) => string) =>
  `lower(concat_ws(' ', event_id, kind, environment, coalesce(integration, ''), coalesce(deployment_id, ''), coalesce(task_id, ''), coalesce(${q("from")}, ''), ${q("to")}, coalesce(detail, ''), correlation_id, coalesce(actor, ''), coalesce(CAST(payload AS VARCHAR), '')))`;

/** DuckDB, the local warehouse that stands in for BigQuery. */
export const duckdb: Dialect = {
  name: "duckdb",
  id: (column) => `"${column}"`,
  events: EVENTS_TABLE,
  // Tables the writer maintains with every batch (see duckdb.ts): scans, not regrouping all events.
  deploymentFacts: DEPLOYMENT_FACTS,
  taskFacts: TASK_FACTS,
  param: (name) => `$${name}`,
  timestampParam: (name) => `CAST($${name} AS TIMESTAMP)`,
  day: (expression) => `strftime(${expression}, '%Y-%m-%d')`,
  isoTime: (expression) => `strftime(${expression}, '%Y-%m-%dT%H:%M:%S.%gZ')`,
  jsonInt: (expression, field) => `TRY_CAST(json_extract_string(${expression}, '$.${field}') AS BIGINT)`,
  inScope: (column) => `($all_environments OR list_contains($environments, ${column}))`,
  inList: (column, param) => `list_contains($${param}, ${column})`,
  containsText: (column, param) => `contains(lower(${column}), $${param})`,
  // The fts extension needs a download this machine cannot make, so terms are matched as substrings.
  matchesTerms: (alias, termCount) =>
    Array.from(
      { length: termCount },
      (_, i) => `contains(${SEARCH_TEXT((c) => `${alias}."${c}"`)}, $term${i})`,
    ).join(" AND ") || "TRUE",
  daysBefore: (param, days) => `(CAST($${param} AS TIMESTAMP) - INTERVAL ${days} DAY)`,
  type: (type) =>
    ({ STRING: "VARCHAR", TIMESTAMP: "TIMESTAMP", INT64: "BIGINT", FLOAT64: "DOUBLE", JSON: "JSON" })[type],
};

/** The name of the view that removes duplicate event ids from the BigQuery tables. */
export const BIGQUERY_DEDUP_VIEW = `${EVENTS_TABLE}_dedup`;

/** BigQuery (GoogleSQL) against one dataset: reads go through the deduplicating view. */
export function bigquery(projectId: string, dataset: string): Dialect {
  return {
    name: "bigquery",
    id: (column) => `\`${column}\``,
    events: `\`${projectId}.${dataset}.${BIGQUERY_DEDUP_VIEW}\``,
    // Views over the deduplicating view (bigquery.ts creates them).
    deploymentFacts: `\`${projectId}.${dataset}.${DEPLOYMENT_FACTS}\``,
    taskFacts: `\`${projectId}.${dataset}.${TASK_FACTS}\``,
    param: (name) => `@${name}`,
    timestampParam: (name) => `TIMESTAMP(@${name})`,
    day: (expression) => `FORMAT_TIMESTAMP('%F', ${expression})`,
    isoTime: (expression) => `FORMAT_TIMESTAMP('%Y-%m-%dT%H:%M:%E3SZ', ${expression})`,
    jsonInt: (expression, field) => `SAFE_CAST(JSON_VALUE(${expression}, '$.${field}') AS INT64)`,
    inScope: (column) => `(@all_environments OR ${column} IN UNNEST(@environments))`,
    inList: (column, param) => `${column} IN UNNEST(@${param})`,
    containsText: (column, param) => `STRPOS(LOWER(${column}), @${param}) > 0`,
    // SEARCH() uses the table's search index, tokenised as BigQuery's LOG_ANALYZER does.
    matchesTerms: (alias, termCount) =>
      termCount === 0
        ? "TRUE"
        : `SEARCH(${alias}, ${Array.from({ length: termCount }, (_, i) => `@term${i}`).join(" || ' ' || ")})`,
    daysBefore: (param, days) => `TIMESTAMP_SUB(TIMESTAMP(@${param}), INTERVAL ${days} DAY)`,
    type: (type) => type,
  };
}
