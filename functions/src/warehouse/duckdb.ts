/**
 * The local warehouse: one DuckDB file, written by one process (DuckDB admits one writer). It
 * stands in for BigQuery: same table, same queries (`queries.ts` in the DuckDB dialect).
 * Inserts are batched through an appender into a staging table, then moved with
 * `INSERT OR IGNORE`, so an event delivered twice lands once (`event_id` is the primary key).
 */
import {
  DuckDBInstance,
  LIST,
  VARCHAR,
  listValue,
  type DuckDBConnection,
  type DuckDBValue,
} from "@duckdb/node-api";
import { duckdb } from "./dialect.js";
import {
  QUERIES,
  bindWindow,
  deploymentFactsSelect,
  taskFactsSelect,
  purgeQuery,
  countPersonQuery,
  erasePersonQuery,
  searchQuery,
  type BoundParams,
  type QueryName,
  type Row,
  type SearchParams,
  type WindowParams,
} from "./queries.js";
import {
  DEPLOYMENT_FACTS,
  EVENTS_TABLE,
  EVENT_COLUMNS,
  RETENTION_DAYS,
  TASK_FACTS,
  type EventRow,
} from "./schema.js";
import type { Warehouse } from "./warehouse.js";

/** The table's DDL in DuckDB. */
export function duckdbDdl(table = EVENTS_TABLE): string {
  const columns = EVENT_COLUMNS.map(
    (c) => `"${c.name}" ${duckdb.type(c.type)}${c.required ? " NOT NULL" : ""}`,
  ).join(",\n  ");
  return `CREATE TABLE IF NOT EXISTS ${table} (\n  ${columns},\n  PRIMARY KEY (event_id)\n)`;
}

const STAGING = "staging_events";

/** The facts tables' DDL in DuckDB (the writer keeps them current with every batch). */
export const DUCKDB_FACTS_DDL = [
  `CREATE TABLE IF NOT EXISTS ${DEPLOYMENT_FACTS} (
  deployment_id VARCHAR PRIMARY KEY, environment VARCHAR NOT NULL, status VARCHAR NOT NULL,
  status_time TIMESTAMP NOT NULL, first_time TIMESTAMP NOT NULL, duration DOUBLE, started INTEGER)`,
  // Files written before deployment facts kept "started": null there counts as started, as it was read then.
  `ALTER TABLE ${DEPLOYMENT_FACTS} ADD COLUMN IF NOT EXISTS started INTEGER`,
  `CREATE TABLE IF NOT EXISTS ${TASK_FACTS} (
  task_id VARCHAR PRIMARY KEY, environment VARCHAR NOT NULL, integration VARCHAR, status VARCHAR NOT NULL,
  status_time TIMESTAMP NOT NULL, first_time TIMESTAMP NOT NULL, started INTEGER NOT NULL,
  retries BIGINT NOT NULL, duration DOUBLE)`,
];

/**
 * Folds a batch of events (duplicates and any order allowed) into the facts: the later status by
 * event time wins, first_time keeps the earliest, started and retries the largest. Folding the same
 * events again changes nothing, so a redelivered batch is harmless.
 */
export function duckdbFactsUpserts(source: string): string[] {
  const later = (table: string, column: string) =>
    `${column} = CASE WHEN excluded.status_time >= ${table}.status_time THEN excluded.${column} ELSE ${table}.${column} END`;
  const common = (table: string) =>
    `${later(table, "status")}, ${later(table, "duration")}, status_time = GREATEST(excluded.status_time, ${table}.status_time), first_time = LEAST(excluded.first_time, ${table}.first_time)`;
  return [
    `INSERT INTO ${DEPLOYMENT_FACTS} BY NAME ${deploymentFactsSelect(duckdb, source)}
ON CONFLICT (deployment_id) DO UPDATE SET ${common(DEPLOYMENT_FACTS)}, started = GREATEST(excluded.started, ${DEPLOYMENT_FACTS}.started)`,
    `INSERT INTO ${TASK_FACTS} ${taskFactsSelect(duckdb, source)}
ON CONFLICT (task_id) DO UPDATE SET ${common(TASK_FACTS)}, started = GREATEST(excluded.started, ${TASK_FACTS}.started), retries = GREATEST(excluded.retries, ${TASK_FACTS}.retries)`,
  ];
}

function bindable(params: BoundParams): {
  values: Record<string, DuckDBValue>;
  types: Record<string, ReturnType<typeof LIST>>;
} {
  const values: Record<string, DuckDBValue> = {};
  const types: Record<string, ReturnType<typeof LIST>> = {};
  for (const [key, value] of Object.entries(params)) {
    if (Array.isArray(value)) {
      values[key] = listValue(value);
      types[key] = LIST(VARCHAR);
    } else values[key] = value;
  }
  return { values, types };
}

/** Plain JSON values: DuckDB hands BIGINT and HUGEINT back as bigint, DECIMAL as its own value. */
function plain(row: Record<string, unknown>): Row {
  const out: Row = {};
  for (const [key, value] of Object.entries(row)) {
    if (typeof value === "bigint") out[key] = Number(value);
    else if (
      value === null ||
      typeof value === "string" ||
      typeof value === "number" ||
      typeof value === "boolean"
    )
      out[key] = value;
    else out[key] = Number(value);
  }
  return out;
}

/** The DuckDB warehouse, with the writer's extra method `insert`. */
export interface DuckDbWarehouse extends Warehouse {
  /** Inserts rows in one transaction; answers how many were new (the rest were duplicates). */
  insert(rows: readonly EventRow[]): Promise<{ inserted: number }>;
  count(): Promise<number>;
  /** Runs SQL as is (benches build large histories with it). */
  exec(sql: string): Promise<void>;
  /** Folds every stored event into the facts (after rows were written with `exec`). */
  refreshFacts(): Promise<void>;
  close(): void;
}

/** Opens (creating if needed) the warehouse at `path` (":memory:" for tests). */
export async function openDuckDbWarehouse(path: string): Promise<DuckDbWarehouse> {
  const instance = await DuckDBInstance.create(path);
  const connection: DuckDBConnection = await instance.connect();
  await connection.run(duckdbDdl());
  for (const ddl of DUCKDB_FACTS_DDL) await connection.run(ddl);
  await connection.run(`CREATE TEMP TABLE ${STAGING} AS SELECT * FROM ${EVENTS_TABLE} LIMIT 0`);
  // One statement at a time: a query never reads a half-moved batch.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work, work);
    queue = next.catch(() => undefined);
    return next;
  };

  async function rows(sql: string, params: BoundParams): Promise<Row[]> {
    const { values, types } = bindable(params);
    const reader = await connection.runAndReadAll(sql, values, types);
    return reader.getRowObjectsJS().map((row) => plain(row as Record<string, unknown>));
  }

  return {
    engine: "duckdb",
    insert: (batch) =>
      serial(async () => {
        if (batch.length === 0) return { inserted: 0 };
        const appender = await connection.createAppender(STAGING);
        for (const row of batch) {
          for (const column of EVENT_COLUMNS) {
            const value = row[column.name as keyof EventRow];
            if (value === null) appender.appendNull();
            else if (column.type === "INT64") appender.appendBigInt(BigInt(value));
            else if (column.type === "FLOAT64") appender.appendDouble(Number(value));
            else appender.appendVarchar(String(value));
          }
          appender.endRow();
        }
        appender.closeSync();
        await connection.run("BEGIN TRANSACTION");
        try {
          // Duplicates inside one batch too: keep the first of each event_id.
          const result = await connection.run(
            `INSERT OR IGNORE INTO ${EVENTS_TABLE} SELECT * FROM ${STAGING} QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY ingested_at) = 1`,
          );
          for (const upsert of duckdbFactsUpserts(STAGING)) await connection.run(upsert);
          await connection.run(`DELETE FROM ${STAGING}`);
          await connection.run("COMMIT");
          return { inserted: result.rowsChanged };
        } catch (error) {
          await connection.run("ROLLBACK");
          await connection.run(`DELETE FROM ${STAGING}`);
          throw error;
        }
      }),
    query: (name: QueryName, params: WindowParams) =>
      serial(() => rows(QUERIES[name].sql(duckdb), bindWindow(QUERIES[name].params.parse(params)))),
    search: (params: SearchParams) =>
      serial(() => {
        const { sql, params: bound } = searchQuery(duckdb, params);
        return rows(sql, bound);
      }),
    purge: (now: Date) =>
      serial(async () => {
        const reader = await connection.runAndReadAll(purgeQuery(duckdb), { now: now.toISOString() });
        // Facts last as long as operational events: a subject silent for 90 days is dropped.
        for (const table of [DEPLOYMENT_FACTS, TASK_FACTS])
          await connection.run(
            `DELETE FROM ${table} WHERE status_time < CAST($now AS TIMESTAMP) - INTERVAL ${RETENTION_DAYS.operational} DAY`,
            { now: now.toISOString() },
          );
        return { deleted: Number(reader.getRows()[0]?.[0] ?? 0) };
      }),
    countPerson: (match) =>
      serial(async () => {
        const { sql, params } = countPersonQuery(duckdb, match);
        return Number((await rows(sql, params))[0]?.n ?? 0);
      }),
    erasePerson: (erasure) =>
      serial(async () => {
        const counted = countPersonQuery(duckdb, erasure);
        const updated = Number((await rows(counted.sql, counted.params))[0]?.n ?? 0);
        const { sql, params } = erasePersonQuery(duckdb, EVENTS_TABLE, erasure);
        const { values, types } = bindable(params);
        await connection.run(sql, values, types);
        return { updated };
      }),
    count: () =>
      serial(async () => Number((await rows(`SELECT COUNT(*) AS n FROM ${EVENTS_TABLE}`, {}))[0]?.n ?? 0)),
    exec: (sql) => serial(async () => void (await connection.run(sql))),
    refreshFacts: () =>
      serial(async () => {
        for (const upsert of duckdbFactsUpserts(EVENTS_TABLE)) await connection.run(upsert);
      }),
    close: () => {
      connection.closeSync();
      instance.closeSync();
    },
  };
}
