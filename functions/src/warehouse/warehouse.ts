/**
 * What the functions ask of the warehouse: a named query, a search, a purge. BigQuery answers in
 * the cloud (`bigquery.ts`); locally one process holding a DuckDB file stands in for BigQuery and
 * answers over loopback (`local-server.ts`, reached through `createLocalWarehouseClient`).
 */
import {
  QUERIES,
  type PersonErasure,
  type PersonMatch,
  type QueryName,
  type Row,
  type SearchParams,
  type WindowParams,
} from "./queries.js";

/** One analytical store of `orchestration_events`. */
export interface Warehouse {
  /** Which engine answers, so every answer can say so ("duckdb" stands in for BigQuery). */
  readonly engine: "duckdb" | "bigquery";
  query(name: QueryName, params: WindowParams): Promise<Row[]>;
  search(params: SearchParams): Promise<Row[]>;
  /** Deletes what is past retention; answers how many rows went (BigQuery: 0, its partitions expire). */
  purge(now: Date): Promise<{ deleted: number }>;
  /** How many events name the person as actor or mention them in their detail. */
  countPerson(match: PersonMatch): Promise<number>;
  /** Rewrites those events with the person's pseudonyms; answers how many there were. */
  erasePerson(erasure: PersonErasure): Promise<{ updated: number }>;
}

/** A warehouse that could not answer: the message says which and why. */
export class WarehouseError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = "WarehouseError";
  }
}

/** The local warehouse process over HTTP (loopback); `baseUrl` like http://127.0.0.1:9350. */
export function createLocalWarehouseClient(baseUrl: string, fetchImpl: typeof fetch = fetch): Warehouse {
  async function call(path: string, body: unknown): Promise<unknown> {
    const response = await fetchImpl(`${baseUrl}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new WarehouseError(`local warehouse ${path}: ${text}`, response.status);
    return JSON.parse(text) as unknown;
  }
  return {
    engine: "duckdb",
    async query(name, params) {
      QUERIES[name].params.parse(params);
      return ((await call("/query", { name, params })) as { rows: Row[] }).rows;
    },
    async search(params) {
      return ((await call("/search", params)) as { rows: Row[] }).rows;
    },
    async purge(now) {
      return (await call("/purge", { now: now.toISOString() })) as { deleted: number };
    },
    async countPerson(match) {
      return ((await call("/person/count", match)) as { count: number }).count;
    },
    async erasePerson(erasure) {
      return (await call("/person/erase", erasure)) as { updated: number };
    },
  };
}
