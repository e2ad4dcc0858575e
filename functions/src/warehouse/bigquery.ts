/**
 * The cloud warehouse: BigQuery through `@google-cloud/bigquery`. The control plane's dataset, its
 * two day-partitioned event tables (operational events expire after 90 days, audit records after
 * a year), the view that removes duplicate event ids, the per-deployment and per-task fact views
 * over it, and the search index are created
 * idempotently; events are streamed with `insertAll`, `insertId` = `event_id`; reads run the
 * queries of `queries.ts` in the GoogleSQL dialect.
 */
import { BigQuery, type TableMetadata } from "@google-cloud/bigquery";
import { OAuth2Client } from "google-auth-library";
import { BIGQUERY_DEDUP_VIEW, bigquery as bigqueryDialect } from "./dialect.js";
import {
  QUERIES,
  bindWindow,
  deploymentFactsSelect,
  countPersonQuery,
  erasePersonQuery,
  searchQuery,
  taskFactsSelect,
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

/** The audit records' table: the same columns, kept a year. */
export const AUDIT_EVENTS_TABLE = "orchestration_audit_events";
/** The search index over both event tables' columns. */
export const SEARCH_INDEX = "orchestration_events_search";

const DAY_MS = 86_400_000;

/** The definition of an event table: partitioned by day on `time`, clustered by environment and kind. */
export function eventTableMetadata(retentionDays: number, description: string): TableMetadata {
  return {
    description,
    schema: {
      fields: EVENT_COLUMNS.map((c) => ({
        name: c.name,
        type: c.type,
        mode: c.required ? "REQUIRED" : "NULLABLE",
      })),
    },
    timePartitioning: { type: "DAY", field: "time", expirationMs: String(retentionDays * DAY_MS) },
    clustering: { fields: ["environment", "kind"] },
  };
}

/** The GoogleSQL of the view every read goes through: both tables, one row per event_id. */
export function dedupViewSql(projectId: string, dataset: string): string {
  const table = (name: string) => `\`${projectId}.${dataset}.${name}\``;
  return `SELECT * EXCEPT(row_number) FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY ingested_at) AS row_number
  FROM (SELECT * FROM ${table(EVENTS_TABLE)} UNION ALL SELECT * FROM ${table(AUDIT_EVENTS_TABLE)})
) WHERE row_number = 1`;
}

/** What an insert did: rows BigQuery refused for good (invalid) are named; the rest landed. */
export interface InsertOutcome {
  inserted: number;
  rejected: { event_id: string; reason: string }[];
}

export interface BigQueryWarehouseOptions {
  projectId: string;
  dataset: string;
  location: string;
  /** A local endpoint (a contract server or the open-source emulator): no Google credentials are used. */
  apiEndpoint?: string | undefined;
  /** Attempts for rows BigQuery stopped or failed transiently in a partial insert. */
  maxAttempts?: number;
}

/** The BigQuery warehouse, with the writer's methods `ensure` (idempotent setup) and `insert`. */
export interface BigQueryWarehouse extends Warehouse {
  ensure(): Promise<{ created: string[]; updated: string[] }>;
  insert(rows: readonly EventRow[]): Promise<InsertOutcome>;
}

interface InsertError {
  row: { insertId?: string };
  errors: { reason?: string; message?: string }[];
}

/** Field-level types BigQuery needs for parameters it cannot infer (empty arrays). */
function paramTypes(params: BoundParams): Record<string, string | string[]> {
  const types: Record<string, string | string[]> = {};
  for (const [key, value] of Object.entries(params)) {
    if (Array.isArray(value)) types[key] = ["STRING"];
    else if (typeof value === "number") types[key] = "INT64";
    else if (typeof value === "boolean") types[key] = "BOOL";
    else types[key] = "STRING";
  }
  return types;
}

const plain = (row: Record<string, unknown>): Row =>
  Object.fromEntries(
    Object.entries(row).map(([key, value]) => [
      key,
      value === null || typeof value === "string" || typeof value === "number" || typeof value === "boolean"
        ? value
        : JSON.stringify(value),
    ]),
  );

/** The BigQuery warehouse of one dataset. */
export function createBigQueryWarehouse(options: BigQueryWarehouseOptions): BigQueryWarehouse {
  const { projectId, dataset: datasetId, location } = options;
  const local = options.apiEndpoint !== undefined;
  let authClient: OAuth2Client | undefined;
  if (local) {
    // A local endpoint takes no Google credentials; a fixed token keeps the client off the metadata server.
    authClient = new OAuth2Client();
    authClient.setCredentials({
      access_token: "local-endpoint",
      expiry_date: Date.now() + 10 * 365 * DAY_MS,
    });
  }
  const client = new BigQuery({
    projectId,
    location,
    ...(local && { apiEndpoint: options.apiEndpoint, authClient }),
  });
  const dialect = bigqueryDialect(projectId, datasetId);
  const dataset = client.dataset(datasetId, { location });
  const maxAttempts = options.maxAttempts ?? 5;

  async function exists(get: () => Promise<unknown>): Promise<boolean> {
    try {
      await get();
      return true;
    } catch (error) {
      if ((error as { code?: number }).code === 404) return false;
      throw error;
    }
  }

  async function run(sql: string, params: BoundParams): Promise<Row[]> {
    // Parameter values travel as JSON strings (QueryParameterValue.value); the client would send
    // booleans and numbers as JSON booleans and numbers.
    const values = Object.fromEntries(
      Object.entries(params).map(([key, value]) => [key, Array.isArray(value) ? value : String(value)]),
    );
    const [rows] = await client.query({
      query: sql,
      params: values,
      types: paramTypes(params),
      location,
      useLegacySql: false,
    });
    return (rows as Record<string, unknown>[]).map(plain);
  }

  return {
    engine: "bigquery",
    async ensure() {
      const created: string[] = [];
      const updated: string[] = [];
      if (!(await exists(() => dataset.get()))) {
        try {
          // Not dataset.create(): it copies the client's projectId into the body, a field Dataset does not have.
          await client.createDataset(datasetId, { location });
          created.push(`dataset ${datasetId}`);
        } catch (error) {
          // Another instance created it between our get and insert.
          if ((error as { code?: number }).code !== 409) throw error;
        }
      }
      const tables: [string, number, string][] = [
        [EVENTS_TABLE, RETENTION_DAYS.operational, "Orchestration events (operational: kept 90 days)"],
        [AUDIT_EVENTS_TABLE, RETENTION_DAYS.audit, "Orchestration audit records (kept one year)"],
      ];
      for (const [id, days, description] of tables) {
        const table = dataset.table(id);
        const wanted = eventTableMetadata(days, description);
        let current: TableMetadata | undefined;
        try {
          current = (await table.getMetadata())[0] as TableMetadata;
        } catch (error) {
          if ((error as { code?: number }).code !== 404) throw error;
        }
        if (!current) {
          try {
            await dataset.createTable(id, wanted);
            created.push(`table ${id}`);
          } catch (error) {
            if ((error as { code?: number }).code !== 409) throw error;
          }
        } else if (current.timePartitioning?.expirationMs !== wanted.timePartitioning?.expirationMs) {
          await table.setMetadata({ timePartitioning: wanted.timePartitioning });
          updated.push(`table ${id} partition expiration`);
        }
      }
      const views: [string, string][] = [
        [BIGQUERY_DEDUP_VIEW, dedupViewSql(projectId, datasetId)],
        [DEPLOYMENT_FACTS, deploymentFactsSelect(dialect, dialect.events)],
        [TASK_FACTS, taskFactsSelect(dialect, dialect.events)],
      ];
      for (const [id, viewSql] of views) {
        const view = dataset.table(id);
        let currentView: TableMetadata | undefined;
        try {
          currentView = (await view.getMetadata())[0] as TableMetadata;
        } catch (error) {
          if ((error as { code?: number }).code !== 404) throw error;
        }
        if (!currentView) {
          try {
            await dataset.createTable(id, { view: { query: viewSql, useLegacySql: false } });
            created.push(`view ${id}`);
          } catch (error) {
            if ((error as { code?: number }).code !== 409) throw error;
          }
        } else if (currentView.view?.query !== viewSql) {
          await view.setMetadata({ view: { query: viewSql, useLegacySql: false } });
          updated.push(`view ${id}`);
        }
      }
      for (const table of [EVENTS_TABLE, AUDIT_EVENTS_TABLE]) {
        await run(
          `CREATE SEARCH INDEX IF NOT EXISTS ${SEARCH_INDEX}_${table} ON \`${projectId}.${datasetId}.${table}\`(ALL COLUMNS)`,
          {},
        );
      }
      return { created, updated };
    },
    async insert(rows) {
      const rejected: InsertOutcome["rejected"] = [];
      let inserted = 0;
      const byTable = new Map<string, EventRow[]>();
      for (const row of rows) {
        const table = row.kind === "audit" ? AUDIT_EVENTS_TABLE : EVENTS_TABLE;
        byTable.set(table, [...(byTable.get(table) ?? []), row]);
      }
      for (const [tableId, tableRows] of byTable) {
        let pending = tableRows;
        for (let attempt = 1; pending.length > 0; attempt += 1) {
          try {
            await dataset.table(tableId).insert(
              pending.map((row) => ({ insertId: row.event_id, json: row })),
              { raw: true, skipInvalidRows: false, ignoreUnknownValues: false },
            );
            inserted += pending.length;
            pending = [];
          } catch (error) {
            const partial = (error as { name?: string; errors?: InsertError[] }).errors;
            if ((error as { name?: string }).name !== "PartialFailureError" || !partial) throw error;
            const failed = new Map(partial.map((e) => [e.row.insertId ?? "", e.errors]));
            const retry: EventRow[] = [];
            for (const row of pending) {
              const errors = failed.get(row.event_id);
              if (!errors) inserted += 1;
              else if (errors.some((e) => e.reason === "invalid"))
                rejected.push({
                  event_id: row.event_id,
                  reason: errors.map((e) => e.message ?? e.reason).join("; "),
                });
              else retry.push(row);
            }
            if (retry.length > 0 && attempt >= maxAttempts) {
              throw new Error(
                `BigQuery kept refusing ${retry.length} rows of ${tableId} after ${attempt} attempts`,
              );
            }
            pending = retry;
          }
        }
      }
      return { inserted, rejected };
    },
    query: (name: QueryName, params: WindowParams) =>
      run(QUERIES[name].sql(dialect), bindWindow(QUERIES[name].params.parse(params))),
    search: (params: SearchParams) => {
      const { sql, params: bound } = searchQuery(dialect, params);
      return run(sql, bound);
    },
    // Partition expiration drops old days without a job.
    purge: () => Promise.resolve({ deleted: 0 }),
    countPerson: async (match) => {
      const { sql, params } = countPersonQuery(dialect, match);
      return Number((await run(sql, params))[0]?.n ?? 0);
    },
    // Rows still in the streaming buffer (the last ~30 minutes of inserts) refuse DML: the erasure
    // then fails, naming BigQuery's reason, and can be run again later.
    erasePerson: async (erasure) => {
      const counted = countPersonQuery(dialect, erasure);
      const updated = Number((await run(counted.sql, counted.params))[0]?.n ?? 0);
      for (const table of [EVENTS_TABLE, AUDIT_EVENTS_TABLE]) {
        const { sql, params } = erasePersonQuery(dialect, `\`${projectId}.${datasetId}.${table}\``, erasure);
        await run(sql, params);
      }
      return { updated };
    },
  };
}
