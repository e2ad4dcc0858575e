/**
 * A large synthetic event history written straight into a DuckDB warehouse with one SQL statement:
 * `days` days at `perDay` events a day, 20 events per deployment (its start and end, and six tasks
 * that each become ready, run and end). Outcomes, durations and retries follow fixed hashes, so the
 * same arguments give the same history.
 */
import { EVENTS_TABLE } from "../functions/src/warehouse/schema.js";

/** Events one deployment yields in this history. */
export const EVENTS_PER_DEPLOYMENT = 20;
const TASKS_PER_DEPLOYMENT = 6;

/** The INSERT that writes the history, ending at `end` (exclusive). */
export function syntheticHistorySql(
  end: Date,
  days: number,
  perDay: number,
  table: string = EVENTS_TABLE,
  prefix = "d",
): string {
  const deploymentsPerDay = Math.floor(perDay / EVENTS_PER_DEPLOYMENT);
  const deployments = deploymentsPerDay * days;
  const start = new Date(end.getTime() - days * 86_400_000).toISOString();
  const spacing = 86_400 / deploymentsPerDay;
  // d: the deployment, e: its event (0 start, 1 end, then three per task), k: the task, s: its step.
  return `INSERT INTO ${table}
WITH base AS (
  SELECT d, e,
    (e - 2) // 3 AS k,
    (e - 2) % 3 AS s,
    CAST('${start}' AS TIMESTAMP) + to_microseconds(CAST(d * ${spacing} * 1000000 AS BIGINT)) AS t0,
    ['dev', 'staging', 'prod'][1 + d % 3] AS environment,
    hash(d) % 100 AS roll
  FROM range(0, ${deployments}) r(d), range(0, ${EVENTS_PER_DEPLOYMENT}) x(e)
), shaped AS (
  SELECT *,
    ['auth', 'firestore', 'storage', 'functions', 'hosting', 'monitoring', 'backup', 'security', 'analytics', 'cicd'][1 + (d + k) % 10] AS integration,
    CASE WHEN roll < 90 THEN 'succeeded' WHEN roll < 95 THEN 'failed' ELSE 'rolled_back' END AS outcome,
    1 + (hash(d * 7 + k) % 200) / 10.0 AS task_seconds,
    CASE WHEN hash(d * 13 + k) % 10 = 0 THEN 1 ELSE 0 END AS retries
  FROM base
)
SELECT
  CASE WHEN e = 0 THEN 'deployment:${prefix}' || d || ':running'
       WHEN e = 1 THEN 'deployment:${prefix}' || d || ':' || outcome
       ELSE 'task:${prefix}' || d || '-' || k || ':' || s END AS event_id,
  CASE WHEN e < 2 THEN 'deployment' ELSE 'task' END AS kind,
  CASE WHEN e = 0 THEN t0
       WHEN e = 1 THEN t0 + INTERVAL 80 SECOND
       ELSE t0 + to_microseconds(CAST((1 + k * 10 + s * 3) * 1000000 AS BIGINT)) END AS time,
  environment,
  CASE WHEN e < 2 THEN NULL ELSE integration END AS integration,
  '${prefix}' || d AS deployment_id,
  CASE WHEN e < 2 THEN NULL ELSE '${prefix}' || d || '-' || k END AS task_id,
  CASE WHEN e = 0 THEN 'requested' WHEN e = 1 THEN 'running'
       WHEN s = 0 THEN 'blocked' WHEN s = 1 THEN 'ready' ELSE 'running' END AS "from",
  CASE WHEN e = 0 THEN 'running' WHEN e = 1 THEN outcome
       WHEN s = 0 THEN 'ready' WHEN s = 1 THEN 'running'
       WHEN outcome = 'failed' AND k = ${TASKS_PER_DEPLOYMENT - 1} THEN 'failed' ELSE 'succeeded' END AS "to",
  CASE WHEN e < 2 OR s = 0 THEN NULL ELSE 1 + retries END AS attempt,
  CASE WHEN e = 1 THEN 30 + (hash(d) % 600) / 10.0 WHEN e >= 2 AND s = 2 THEN task_seconds ELSE NULL END AS duration,
  NULL AS detail,
  '${prefix}' || d AS correlation_id,
  CASE WHEN e < 2 THEN 'bench' ELSE NULL END AS actor,
  CASE WHEN e < 2 THEN NULL ELSE '{"retry_count":' || retries || '}' END AS payload,
  t0 AS ingested_at
FROM shaped`;
}
