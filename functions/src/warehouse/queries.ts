/**
 * Every SQL the control plane runs on its warehouse, by name: written once against `Dialect`, so
 * each runs on DuckDB locally and as GoogleSQL on BigQuery. Parameters are validated by zod before
 * any SQL runs; a bad one is named.
 */
import { z } from "zod";
import { FIRESTORE_ROUND_TRIPS } from "../domain/learning/capacity.js";
import type { Dialect } from "./dialect.js";
import { RETENTION_DAYS } from "./schema.js";

const isoTime = z.iso.datetime({ offset: true });

/** A window `from <= time < to` and the caller's scope (null: every environment). */
export const windowParamsSchema = z.strictObject({
  from: isoTime,
  to: isoTime,
  environments: z.array(z.string().min(1)).nullable(),
});
export type WindowParams = z.infer<typeof windowParamsSchema>;

/** Longest window `daily_activity` reads: the operational retention, with room for the audit year. */
export const MAX_ACTIVITY_DAYS = 400;

/** `daily_activity`'s window: whole UTC days (the forecast must not see a partial one), `from` before `to`. */
export const activityParamsSchema = windowParamsSchema
  .refine((w) => Date.parse(w.from) % 86_400_000 === 0 && Date.parse(w.to) % 86_400_000 === 0, {
    message: "from and to must be UTC midnights (whole days)",
    path: ["from"],
  })
  .refine((w) => Date.parse(w.from) < Date.parse(w.to), { message: "from must be before to", path: ["from"] })
  .refine((w) => Date.parse(w.to) - Date.parse(w.from) <= MAX_ACTIVITY_DAYS * 86_400_000, {
    message: `the window may span at most ${MAX_ACTIVITY_DAYS} days`,
    path: ["to"],
  });

/** Most search terms matched at once; the rest of the text is ignored. */
export const MAX_SEARCH_TERMS = 8;
/** Most events a search answers. */
export const MAX_SEARCH_RESULTS = 500;

/** `GET /events/search`: free text plus exact filters, in a window and the caller's scope. */
export const searchParamsSchema = windowParamsSchema.extend({
  q: z.string().max(200).default(""),
  correlation_id: z.string().min(1).max(200).optional(),
  deployment_id: z.string().min(1).max(200).optional(),
  integration: z.string().min(1).max(64).optional(),
  limit: z.int().min(1).max(MAX_SEARCH_RESULTS).default(200),
});
export type SearchParams = z.input<typeof searchParamsSchema>;

const TERMINAL_DEPLOYMENT = "('succeeded', 'failed', 'rolled_back', 'cancelled')";
const RUN_STATUSES = "('succeeded', 'failed', 'rolled_back')";
/**
 * A deployment that ran: one refused, declined or left unapproved ends with duration 0 and never
 * runs, and is not a duration (as the documents' reports leave out deployments without started_at).
 * Null in facts written before `started` was kept: read as started, as then.
 */
const STARTED = "COALESCE(started, 1) = 1";

function where(d: Dialect, extra: string): string {
  return `time >= ${d.timestampParam("from")} AND time < ${d.timestampParam("to")} AND ${d.inScope("environment")} AND ${extra}`;
}

/** The facts of deployments whose first event is in the window, in the caller's scope. */
const deploymentStates = (d: Dialect) =>
  `SELECT * FROM ${d.deploymentFacts} WHERE first_time >= ${d.timestampParam("from")} AND first_time < ${d.timestampParam("to")} AND ${d.inScope("environment")}`;

/** The facts of tasks whose first event is in the window, in the caller's scope. */
const taskStates = (d: Dialect) =>
  `SELECT * FROM ${d.taskFacts} WHERE first_time >= ${d.timestampParam("from")} AND first_time < ${d.timestampParam("to")} AND ${d.inScope("environment")}`;

/**
 * How the facts are derived from events (grouped by subject, latest status by event time): the
 * BigQuery views, and the rows the DuckDB writer upserts for every batch.
 */
export function deploymentFactsSelect(d: Dialect, source: string): string {
  return `SELECT deployment_id,
    ANY_VALUE(environment) AS environment,
    MAX_BY(${d.id("to")}, time) AS status,
    MAX(time) AS status_time,
    MIN(time) AS first_time,
    MAX_BY(duration, time) AS duration,
    MAX(CASE WHEN ${d.id("to")} = 'running' THEN 1 ELSE 0 END) AS started
  FROM ${source}
  WHERE kind = 'deployment' AND deployment_id IS NOT NULL
  GROUP BY deployment_id`;
}

/** See deploymentFactsSelect. */
export function taskFactsSelect(d: Dialect, source: string): string {
  return `SELECT task_id,
    ANY_VALUE(environment) AS environment,
    ANY_VALUE(integration) AS integration,
    MAX_BY(${d.id("to")}, time) AS status,
    MAX(time) AS status_time,
    MIN(time) AS first_time,
    MAX(CASE WHEN ${d.id("to")} = 'running' THEN 1 ELSE 0 END) AS started,
    COALESCE(MAX(${d.jsonInt("payload", "retry_count")}), 0) AS retries,
    MAX_BY(duration, time) AS duration
  FROM ${source}
  WHERE kind = 'task' AND task_id IS NOT NULL
  GROUP BY task_id`;
}

/**
 * Count, mean, nearest-rank p50 and p95, and max of `duration` in `rows` (a query with the `keys`
 * columns and a `duration` column), per key and over all (keys null). Percentiles come from a
 * histogram at millisecond resolution, which loses nothing (durations are differences of
 * millisecond timestamps) and turns a sort of millions of values into a scan: 30 days of tasks
 * answer in well under a second where `quantile_disc` took many. Same SQL on DuckDB and BigQuery.
 */
function distributionQuery(rows: string, keys: readonly string[]): string {
  const list = keys.join(", ");
  const rank = (p: number) => `CEIL(total * ${p} / 100.0)`;
  return `WITH v AS (${rows}),
h AS (SELECT ${list}, ROUND(duration, 3) AS x, COUNT(*) AS n, SUM(duration) AS s, MAX(duration) AS m
  FROM v WHERE duration IS NOT NULL GROUP BY ${list}, x),
g AS (SELECT ${list}, x, n, s, m FROM h
  UNION ALL SELECT ${keys.map((k) => `NULL AS ${k}`).join(", ")}, x, SUM(n) AS n, SUM(s) AS s, MAX(m) AS m FROM h GROUP BY x),
c AS (SELECT *,
  SUM(n) OVER (PARTITION BY ${list} ORDER BY x ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cum,
  SUM(n) OVER (PARTITION BY ${list}) AS total FROM g)
SELECT ${list}, MAX(total) AS count, SUM(s) / MAX(total) AS mean,
  MIN(CASE WHEN cum >= ${rank(50)} THEN x END) AS p50, MIN(CASE WHEN cum >= ${rank(95)} THEN x END) AS p95,
  MAX(m) AS max
FROM c GROUP BY ${list} ORDER BY ${keys.map((k) => `${k} NULLS FIRST`).join(", ")}`;
}

/** The named read queries: their parameters and their SQL in a dialect. */
export const QUERIES = {
  /** Events per kind in the window. */
  event_counts: {
    params: windowParamsSchema,
    sql: (d: Dialect) =>
      `SELECT kind, COUNT(*) AS events FROM ${d.events} WHERE ${where(d, "TRUE")} GROUP BY kind ORDER BY kind`,
  },
  /** Deployments by environment, UTC day of their first event, and latest status. */
  deployment_outcomes: {
    params: windowParamsSchema,
    sql: (d: Dialect) => `WITH d AS (${deploymentStates(d)})
SELECT environment, ${d.day("first_time")} AS day, status, COUNT(*) AS deployments
FROM d GROUP BY environment, day, status ORDER BY environment, day, status`,
  },
  /** Duration (seconds) of finished deployments, over all and per environment (environment null: all). */
  deployment_durations: {
    params: windowParamsSchema,
    sql: (d: Dialect) =>
      distributionQuery(
        `SELECT environment, duration FROM (${deploymentStates(d)}) AS d WHERE status IN ${TERMINAL_DEPLOYMENT} AND ${STARTED}`,
        ["environment"],
      ),
  },
  /**
   * Duration (seconds) of finished deployments per UTC day of their first event (the day
   * `deployment_outcomes` counts them on) over the caller's scope, and over the window (day null):
   * the dashboard's trends (`GET /trends`). Days without a finished deployment have no row.
   */
  deployment_durations_by_day: {
    params: windowParamsSchema,
    sql: (d: Dialect) =>
      distributionQuery(
        `SELECT ${d.day("first_time")} AS day, duration FROM (${deploymentStates(d)}) AS d WHERE status IN ${TERMINAL_DEPLOYMENT} AND ${STARTED}`,
        ["day"],
      ),
  },
  /** Tasks by environment, integration and latest status: how many, how many ran, their retries, how many runs retried. */
  task_outcomes: {
    params: windowParamsSchema,
    sql: (d: Dialect) => `WITH t AS (${taskStates(d)})
SELECT environment, integration, status, COUNT(*) AS tasks,
  SUM(CASE WHEN started = 1 AND status IN ${RUN_STATUSES} THEN 1 ELSE 0 END) AS runs,
  SUM(CASE WHEN started = 1 AND status IN ${RUN_STATUSES} THEN retries ELSE 0 END) AS retries,
  SUM(CASE WHEN started = 1 AND status IN ${RUN_STATUSES} AND retries > 0 THEN 1 ELSE 0 END) AS retried_runs
FROM t GROUP BY environment, integration, status ORDER BY environment, integration, status`,
  },
  /** Duration (seconds) of successful task runs, per integration and over all (both keys null). */
  task_durations: {
    params: windowParamsSchema,
    sql: (d: Dialect) =>
      distributionQuery(
        `SELECT environment, integration, duration FROM (${taskStates(d)}) AS t WHERE started = 1 AND status IN ('succeeded', 'rolled_back')`,
        ["environment", "integration"],
      ),
  },
  /**
   * Per environment and UTC day: events, deployments (by their first event's day), task runs (a
   * task event to `running`, one per attempt) and the Firestore operations they cost, estimated
   * from the engine's counted round trips (FIRESTORE_ROUND_TRIPS: a floor). Days without any
   * activity have no row.
   */
  daily_activity: {
    params: activityParamsSchema,
    sql: (d: Dialect) => {
      const f = FIRESTORE_ROUND_TRIPS;
      return `WITH a AS (
  SELECT environment, ${d.day("time")} AS day, COUNT(*) AS events, 0 AS deployments,
    SUM(CASE WHEN kind = 'task' AND ${d.id("to")} = 'running' THEN 1 ELSE 0 END) AS task_runs
  FROM ${d.events} WHERE ${where(d, "TRUE")} GROUP BY environment, day
  UNION ALL
  SELECT environment, ${d.day("first_time")} AS day, 0 AS events, COUNT(*) AS deployments, 0 AS task_runs
  FROM (${deploymentStates(d)}) AS d GROUP BY environment, day)
SELECT environment, day, SUM(events) AS events, SUM(deployments) AS deployments, SUM(task_runs) AS task_runs,
  CAST(SUM(task_runs) * ${f.reads_per_task_run} + SUM(deployments) * ${f.reads_per_deployment} AS ${d.type("FLOAT64")}) AS firestore_reads,
  CAST(SUM(task_runs) * ${f.writes_per_task_run} + SUM(deployments) * ${f.writes_per_deployment} AS ${d.type("FLOAT64")}) AS firestore_writes
FROM a GROUP BY environment, day ORDER BY environment, day`;
    },
  },
  /** Alerts opened in the window, by level (an alert event's `to` is `level:status`). */
  alerts_opened: {
    params: windowParamsSchema,
    sql: (
      d: Dialect,
    ) => `SELECT SUBSTR(${d.id("to")}, 1, STRPOS(${d.id("to")}, ':') - 1) AS level, COUNT(*) AS alerts
FROM ${d.events} WHERE ${where(d, `kind = 'alert' AND ${d.id("to")} LIKE '%:open'`)}
GROUP BY level ORDER BY level`,
  },
} as const;

export type QueryName = keyof typeof QUERIES;
export const QUERY_NAMES = Object.keys(QUERIES) as QueryName[];

/** A query's rows: column name to value (numbers as numbers, times as ISO text). */
export type Row = Record<string, string | number | boolean | null>;

/** Parameters as the engines bind them: scope flattened into all_environments and environments. */
export type BoundParams = Record<string, string | number | boolean | string[]>;

/** Flattens a window's scope for binding. */
export function bindWindow(params: WindowParams): BoundParams {
  return {
    from: new Date(params.from).toISOString(),
    to: new Date(params.to).toISOString(),
    all_environments: params.environments === null,
    environments: params.environments ?? [],
  };
}

/** Lower-case search terms, at most MAX_SEARCH_TERMS. */
export function searchTerms(q: string): string[] {
  return q.toLowerCase().split(/\s+/).filter(Boolean).slice(0, MAX_SEARCH_TERMS);
}

/** The search's SQL and parameters: exact filters, then every term somewhere in the event. */
export function searchQuery(d: Dialect, input: SearchParams): { sql: string; params: BoundParams } {
  const params = searchParamsSchema.parse(input);
  const terms = searchTerms(params.q);
  const bound: BoundParams = { ...bindWindow(params), limit: params.limit };
  const filters = [d.matchesTerms("e", terms.length)];
  terms.forEach((term, i) => (bound[`term${i}`] = term));
  for (const key of ["correlation_id", "deployment_id", "integration"] as const) {
    const value = params[key];
    if (value !== undefined) {
      filters.push(`e.${key} = ${d.param(key)}`);
      bound[key] = value;
    }
  }
  const columns = [
    "event_id",
    "kind",
    `${d.isoTime("e.time")} AS time`,
    "environment",
    "integration",
    "deployment_id",
    "task_id",
    `e.${d.id("from")} AS ${d.id("from")}`,
    `e.${d.id("to")} AS ${d.id("to")}`,
    "attempt",
    "duration",
    "detail",
    "correlation_id",
    "actor",
  ];
  const sql = `SELECT ${columns.join(", ")} FROM ${d.events} AS e
WHERE e.time >= ${d.timestampParam("from")} AND e.time < ${d.timestampParam("to")} AND ${d.inScope("e.environment")} AND ${filters.join(" AND ")}
ORDER BY e.time, e.event_id LIMIT ${d.param("limit")}`;
  return { sql, params: bound };
}

/** Deletes rows past retention (the local warehouse; BigQuery expires partitions itself). */
export function purgeQuery(d: Dialect): string {
  return `DELETE FROM ${d.events} WHERE (kind = 'audit' AND time < ${d.daysBefore("now", RETENTION_DAYS.audit)})
  OR (kind <> 'audit' AND time < ${d.daysBefore("now", RETENTION_DAYS.operational)})`;
}

/** The events about a person: their name as actor, or their email or uid in the detail text. */
export const personMatchSchema = z.strictObject({
  /** Exact actor values that name the person. */
  actors: z.array(z.string().min(1)).min(1).max(30),
  /** Texts whose presence in the detail (any case) mentions the person. */
  mentions: z.array(z.string().min(3)).max(2),
});
export type PersonMatch = z.infer<typeof personMatchSchema>;

/** What erasure writes: each actor value's pseudonym, and what a detail mentioning the person becomes. */
export const personErasureSchema = personMatchSchema.extend({
  pseudonyms: z.record(z.string(), z.string().min(1)),
  erased_detail: z.string().min(1),
});
export type PersonErasure = z.infer<typeof personErasureSchema>;

function personWhere(d: Dialect, match: PersonMatch): { where: string; params: BoundParams } {
  const params: BoundParams = { actors: match.actors };
  const mentioned = match.mentions.map((mention, i) => {
    params[`mention${i}`] = mention.toLowerCase();
    return d.containsText("detail", `mention${i}`);
  });
  return { where: [d.inList("actor", "actors"), ...mentioned].join(" OR "), params };
}

/** How many events name or mention the person. */
export function countPersonQuery(d: Dialect, match: PersonMatch): { sql: string; params: BoundParams } {
  const { where, params } = personWhere(d, match);
  return { sql: `SELECT COUNT(*) AS n FROM ${d.events} WHERE ${where}`, params };
}

/**
 * Rewrites the events of `table` that name or mention the person: the actor becomes its
 * pseudonym, a detail that mentions them becomes `erased_detail` (free text cannot be rewritten
 * in part with any confidence).
 */
export function erasePersonQuery(
  d: Dialect,
  table: string,
  erasure: PersonErasure,
): { sql: string; params: BoundParams } {
  const { where, params } = personWhere(d, erasure);
  const cases = erasure.actors.map((actor, i) => {
    params[`actor${i}`] = actor;
    params[`pseudonym${i}`] = erasure.pseudonyms[actor] ?? erasure.erased_detail;
    return `WHEN ${d.param(`actor${i}`)} THEN ${d.param(`pseudonym${i}`)}`;
  });
  params.erased_detail = erasure.erased_detail;
  const mentioned =
    erasure.mentions.map((_, i) => d.containsText("detail", `mention${i}`)).join(" OR ") || "FALSE";
  const sql = `UPDATE ${table} SET actor = CASE actor ${cases.join(" ")} ELSE actor END,
  detail = CASE WHEN ${mentioned} THEN ${d.param("erased_detail")} ELSE detail END
WHERE ${where}`;
  return { sql, params };
}
