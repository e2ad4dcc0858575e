/**
 * Analytics, live: the environment's event-stream dataset and its `orchestration_events` table in
 * the environment's project, through BigQuery v2 (`datasets.get/insert/patch`,
 * `tables.get/insert/patch`, what `bq mk` and `bq update` call). The definitions are the staged
 * driver's (analytics.ts): the bus's event fields as columns, partitioned by day on `at` with the
 * retention as partition expiration, clustered on environment and kind.
 *
 * Client: googleapis' per-API module `bigquery/v2`, not `@google-cloud/bigquery` (which the
 * warehouse uses to stream and query): every other live driver goes through googleapis, so the same
 * credentials, `rootUrl` for the contract server, `retry: false` and callGoogle's single retry and
 * 403 policy hold unchanged; `@google-cloud/bigquery` brings its own retries and error shape, a
 * second policy to keep in step.
 *
 * What BigQuery cannot change in place is refused before anything is written, naming the field: the
 * dataset's location, the table's partitioning type and column, a column's type, a column made
 * REQUIRED, a REQUIRED column added to an existing table, a column dropped (tables.patch keeps every
 * column; dropping one is a DDL statement that loses its data, left to a person). A rollback that
 * would undo a column a release added is refused the same way. Ours are found by the config's
 * dataset id; of the dataset's labels only `orchestration_*` ones are ours, others are never
 * touched. A dataset a later config no longer names is left in place (it holds the events).
 */
import type { bigquery_v2 } from "googleapis/build/src/apis/bigquery/v2.js";
import { NonRetriableError } from "../../domain/errors.js";
import { stableJson } from "../../domain/digest.js";
import { analyticsDriver, EVENTS_TABLE } from "../analytics.js";
import type { DriverSpec } from "../types.js";
import { bigqueryApi, callGoogle, callGoogleData, requireAccess, type GoogleAccess } from "./google.js";

/** One column, as BigQuery's REST API names its type and mode (legacy names: INTEGER, FLOAT, BOOLEAN). */
export interface LiveColumn {
  type: string;
  mode: "REQUIRED" | "NULLABLE" | "REPEATED";
}

/** The dataset's settings we manage. */
export interface LiveDataset {
  /** "US" / "EU", or a region in lower case. */
  location: string;
  description: string;
  /** Only the `orchestration_*` labels. */
  labels: Record<string, string>;
  /** A dataset default would give our table an expiration time: none is wanted. */
  default_table_expiration_ms: string | null;
}

/** The events table's settings we manage. */
export interface LiveTable {
  description: string;
  /** By column name: BigQuery appends added columns, so order is not compared. */
  columns: Record<string, LiveColumn>;
  partitioning: { type: string; field: string | null; expiration_ms: string | null } | null;
  clustering: string[];
  require_partition_filter: boolean;
}

/** What the project holds of ours; `dataset` and `table` are absent when BigQuery has none. */
export interface AnalyticsLiveState {
  dataset_id: string;
  table_id: string;
  dataset?: LiveDataset;
  table?: LiveTable;
}

const DATASET_GET = "bigquery.datasets.get";
const DATASET_CREATE = "bigquery.datasets.create";
const DATASET_UPDATE = "bigquery.datasets.update";
const TABLE_GET = "bigquery.tables.get";
const TABLE_CREATE = "bigquery.tables.create";
const TABLE_UPDATE = "bigquery.tables.update";
const LABEL_PREFIX = "orchestration_";
const ENV_LABEL = "orchestration_environment";

const TYPE_ALIASES: Record<string, string> = { INT64: "INTEGER", FLOAT64: "FLOAT", BOOL: "BOOLEAN" };

const canonicalLocation = (location: string): string =>
  ["US", "EU"].includes(location.toUpperCase()) ? location.toUpperCase() : location.toLowerCase();

function datasetOf(dataset: bigquery_v2.Schema$Dataset): LiveDataset {
  return {
    location: canonicalLocation(dataset.location ?? ""),
    description: dataset.description ?? "",
    labels: Object.fromEntries(
      Object.entries(dataset.labels ?? {})
        .filter(([key]) => key.startsWith(LABEL_PREFIX))
        .sort(([a], [b]) => a.localeCompare(b)),
    ),
    default_table_expiration_ms: dataset.defaultTableExpirationMs ?? null,
  };
}

function tableOf(table: bigquery_v2.Schema$Table): LiveTable {
  const partitioning = table.timePartitioning;
  return {
    description: table.description ?? "",
    columns: Object.fromEntries(
      (table.schema?.fields ?? []).map((field) => {
        const type = (field.type ?? "").toUpperCase();
        const mode = (field.mode ?? "NULLABLE").toUpperCase() as LiveColumn["mode"];
        return [field.name ?? "", { type: TYPE_ALIASES[type] ?? type, mode }];
      }),
    ),
    partitioning: partitioning
      ? {
          type: partitioning.type ?? "DAY",
          field: partitioning.field ?? null,
          expiration_ms: partitioning.expirationMs ?? null,
        }
      : null,
    clustering: table.clustering?.fields ?? [],
    require_partition_filter: table.requirePartitionFilter ?? false,
  };
}

/** The dataset resource an insert sends. */
function datasetBody(
  project: string,
  state: AnalyticsLiveState,
  dataset: LiveDataset,
): bigquery_v2.Schema$Dataset {
  return {
    datasetReference: { projectId: project, datasetId: state.dataset_id },
    location: dataset.location,
    description: dataset.description,
    labels: dataset.labels,
    ...(dataset.default_table_expiration_ms !== null && {
      defaultTableExpirationMs: dataset.default_table_expiration_ms,
    }),
  };
}

const partitioningBody = (partitioning: NonNullable<LiveTable["partitioning"]>) => ({
  type: partitioning.type,
  ...(partitioning.field !== null && { field: partitioning.field }),
  ...(partitioning.expiration_ms !== null && { expirationMs: partitioning.expiration_ms }),
});

/** The table resource an insert sends, columns in the given order. */
function tableBody(project: string, state: AnalyticsLiveState, table: LiveTable): bigquery_v2.Schema$Table {
  return {
    tableReference: { projectId: project, datasetId: state.dataset_id, tableId: state.table_id },
    description: table.description,
    schema: {
      fields: Object.entries(table.columns).map(([name, column]) => ({ name, ...column })),
    },
    ...(table.partitioning && { timePartitioning: partitioningBody(table.partitioning) }),
    ...(table.clustering.length > 0 && { clustering: { fields: table.clustering } }),
    requirePartitionFilter: table.require_partition_filter,
  };
}

const same = (a: unknown, b: unknown) => stableJson(a) === stableJson(b);

/** Why BigQuery cannot turn `live` into `wanted` in place, one line per field; [] when it can. */
export function unchangeable(
  state: AnalyticsLiveState,
  live: { dataset?: LiveDataset; table?: LiveTable },
): string[] {
  const reasons: string[] = [];
  const where = `${state.dataset_id}.${state.table_id}`;
  if (live.dataset && state.dataset && live.dataset.location !== state.dataset.location)
    reasons.push(
      `dataset.location: dataset ${state.dataset_id} is in ${live.dataset.location}, the config asks for ${state.dataset.location}; a dataset's location is fixed when it is created (set analytics.location to ${live.dataset.location}, or name a new dataset and copy the data yourself)`,
    );
  const had = live.table;
  const wants = state.table;
  if (!had || !wants) return reasons;
  const [a, b] = [had.partitioning, wants.partitioning];
  if (a?.type !== b?.type || a?.field !== b?.field)
    reasons.push(
      `table.partitioning: table ${where} is partitioned ${a ? `by ${a.type} on ${a.field ?? "_PARTITIONTIME"}` : "not at all"}, the config asks ${b ? `by ${b.type} on ${b.field ?? "_PARTITIONTIME"}` : "for none"}; BigQuery cannot change a table's partitioning (recreate the table with a copy of its data yourself)`,
    );
  for (const [name, column] of Object.entries(had.columns)) {
    const wanted = wants.columns[name];
    if (!wanted)
      reasons.push(
        `table.columns.${name}: table ${where} has column ${name}, which the wanted schema drops; tables.patch cannot drop a column (drop it yourself with ALTER TABLE ... DROP COLUMN ${name}, which discards its data, then apply again)`,
      );
    else if (wanted.type !== column.type)
      reasons.push(
        `table.columns.${name}.type: column ${name} of ${where} is ${column.type}, the wanted schema says ${wanted.type}; BigQuery cannot change a column's type in place`,
      );
    else if (wanted.mode !== column.mode && !(column.mode === "REQUIRED" && wanted.mode === "NULLABLE"))
      reasons.push(
        `table.columns.${name}.mode: column ${name} of ${where} is ${column.mode}, the wanted schema says ${wanted.mode}; BigQuery only relaxes REQUIRED to NULLABLE`,
      );
  }
  for (const [name, column] of Object.entries(wants.columns))
    if (!had.columns[name] && column.mode === "REQUIRED")
      reasons.push(
        `table.columns.${name}.mode: the wanted schema adds column ${name} as REQUIRED to the existing table ${where}; BigQuery adds only NULLABLE columns (make the event field nullable)`,
      );
  return reasons;
}

async function readDataset(
  access: GoogleAccess,
  api: bigquery_v2.Bigquery,
  project: string,
  datasetId: string,
): Promise<bigquery_v2.Schema$Dataset | undefined> {
  const answer = await callGoogle(
    access,
    `reading dataset ${project}:${datasetId}`,
    DATASET_GET,
    () => api.datasets.get({ projectId: project, datasetId }),
    [404],
  );
  return answer.ok ? answer.data : undefined;
}

async function readTable(
  access: GoogleAccess,
  api: bigquery_v2.Bigquery,
  project: string,
  datasetId: string,
  tableId: string,
): Promise<bigquery_v2.Schema$Table | undefined> {
  const answer = await callGoogle(
    access,
    `reading table ${project}:${datasetId}.${tableId}`,
    TABLE_GET,
    () => api.tables.get({ projectId: project, datasetId, tableId }),
    [404],
  );
  return answer.ok ? answer.data : undefined;
}

/** What BigQuery holds of the state's dataset and table, read with GET calls only. */
async function readLive(
  access: GoogleAccess,
  api: bigquery_v2.Bigquery,
  project: string,
  datasetId: string,
  tableId: string,
): Promise<AnalyticsLiveState> {
  const dataset = await readDataset(access, api, project, datasetId);
  const table = dataset ? await readTable(access, api, project, datasetId, tableId) : undefined;
  return {
    dataset_id: datasetId,
    table_id: tableId,
    ...(dataset && { dataset: datasetOf(dataset) }),
    ...(table && { table: tableOf(table) }),
  };
}

const DAY_MS = 86_400_000;

/** The live half of the analytics driver; the staged half (analytics.ts) validates the same settings. */
export const liveAnalyticsSpec: DriverSpec<"analytics", AnalyticsLiveState> = {
  kind: "analytics",
  mode: () => "live",

  async desired(target, io) {
    const staged = await analyticsDriver.desired(target, io);
    const environment = target.environment;
    const release = staged.state;
    const state: AnalyticsLiveState = {
      dataset_id: release.dataset,
      table_id: release.table,
      dataset: {
        location: canonicalLocation(release.location),
        description: `Orchestration event stream of ${environment.name}`,
        labels: { [ENV_LABEL]: environment.name.toLowerCase().replace(/[^a-z0-9_-]/g, "_") },
        default_table_expiration_ms: null,
      },
      table: {
        description: `Orchestration events of ${environment.name}: one row per event the bus publishes`,
        columns: Object.fromEntries(release.fields.map((f) => [f.name, { type: f.type, mode: f.mode }])),
        partitioning: {
          type: release.partitioning.type,
          field: release.partitioning.field,
          expiration_ms: String(release.retention_days * DAY_MS),
        },
        clustering: ["environment", "kind"],
        require_partition_filter: false,
      },
    };
    const project = environment.project_id;
    return {
      state,
      problems: staged.problems,
      artifact: {
        name: `analytics/${environment.name}/${release.dataset}.${EVENTS_TABLE}.json`,
        content: stableJson({
          dataset: datasetBody(project, state, state.dataset!),
          table: tableBody(project, state, state.table!),
        }),
      },
    };
  },

  async observe(target, io) {
    const access = requireAccess(io.google, "analytics");
    return readLive(
      access,
      await bigqueryApi(access),
      target.environment.project_id,
      target.settings.dataset,
      EVENTS_TABLE,
    );
  },

  async apply(target, state, io) {
    const access = requireAccess(io.google, "analytics");
    const api = await bigqueryApi(access);
    const project = target.environment.project_id;
    const live = await readLive(access, api, project, state.dataset_id, state.table_id);
    const refused = unchangeable(state, live);
    if (refused.length > 0)
      throw new NonRetriableError(
        `BigQuery cannot make these changes in place, so nothing was changed: ${refused.join("; ")}`,
      );
    const ref = { projectId: project, datasetId: state.dataset_id };

    const wantedDataset = state.dataset;
    if (wantedDataset && !live.dataset) {
      await callGoogleData(access, `creating dataset ${project}:${state.dataset_id}`, DATASET_CREATE, () =>
        api.datasets.insert({ projectId: project, requestBody: datasetBody(project, state, wantedDataset) }),
      );
    } else if (wantedDataset && live.dataset && !same(live.dataset, wantedDataset)) {
      // A patch merges labels: ours no longer wanted are sent as null, others' are left out and kept.
      const labels: Record<string, string | null> = { ...wantedDataset.labels };
      for (const key of Object.keys(live.dataset.labels)) if (!(key in labels)) labels[key] = null;
      await callGoogleData(access, `updating dataset ${project}:${state.dataset_id}`, DATASET_UPDATE, () =>
        api.datasets.patch({
          ...ref,
          requestBody: {
            description: wantedDataset.description,
            labels: labels as Record<string, string>,
            // null clears a default expiration (what `bq update --default_table_expiration 0` does).
            defaultTableExpirationMs: wantedDataset.default_table_expiration_ms,
          },
        }),
      );
    }

    const wantedTable = state.table;
    if (!wantedTable) return;
    const where = `${project}:${state.dataset_id}.${state.table_id}`;
    if (!live.table) {
      await callGoogleData(access, `creating table ${where}`, TABLE_CREATE, () =>
        api.tables.insert({ ...ref, requestBody: tableBody(project, state, wantedTable) }),
      );
      return;
    }
    const had = live.table;
    const patch: bigquery_v2.Schema$Table = {};
    if (had.description !== wantedTable.description) patch.description = wantedTable.description;
    if (!same(had.columns, wantedTable.columns)) {
      // The whole schema: the live columns in their order (relaxed where wanted), then the added ones.
      const names = [
        ...Object.keys(had.columns),
        ...Object.keys(wantedTable.columns).filter((n) => !had.columns[n]),
      ];
      patch.schema = {
        fields: names.map((name) => ({ name, ...(wantedTable.columns[name] ?? had.columns[name]!) })),
      };
    }
    if (wantedTable.partitioning && !same(had.partitioning, wantedTable.partitioning))
      patch.timePartitioning = partitioningBody(wantedTable.partitioning);
    if (!same(had.clustering, wantedTable.clustering))
      // null removes clustering; googleapis' types have no null, the JSON body does.
      patch.clustering =
        wantedTable.clustering.length > 0
          ? { fields: wantedTable.clustering }
          : (null as unknown as bigquery_v2.Schema$Clustering);
    if (had.require_partition_filter !== wantedTable.require_partition_filter)
      patch.requirePartitionFilter = wantedTable.require_partition_filter;
    if (Object.keys(patch).length > 0)
      await callGoogleData(access, `updating table ${where}`, TABLE_UPDATE, () =>
        api.tables.patch({ ...ref, tableId: state.table_id, requestBody: patch }),
      );
  },

  async verify(target, io, release) {
    const access = requireAccess(io.google, "analytics");
    const project = target.environment.project_id;
    // A release recorded while the environment was staged holds no live definition to compare with.
    const wanted = release?.mode === "live" ? (release.state as AnalyticsLiveState) : undefined;
    const datasetId = wanted?.dataset_id ?? target.settings.dataset;
    const live = await readLive(access, await bigqueryApi(access), project, datasetId, EVENTS_TABLE);
    const where = `${project}:${datasetId}.${EVENTS_TABLE}`;
    if (!live.dataset || !live.table)
      return {
        status: wanted ? "down" : "degraded",
        details: `Google reports no ${live.dataset ? "table" : "dataset"} for ${where}${wanted ? ` though release ${release?.number ?? "?"} made it (deleted outside the control plane?)` : "; apply to create it"}`,
      };
    if (wanted && (!same(live.dataset, wanted.dataset) || !same(live.table, wanted.table)))
      return {
        status: "degraded",
        details: `${where} differs from release ${release?.number ?? "?"} (changed outside the control plane?)`,
      };
    return {
      status: "healthy",
      details: `Google reports ${where} in ${live.dataset.location} with ${Object.keys(live.table.columns).length} columns, partitions kept ${live.table.partitioning?.expiration_ms ? `${Number(live.table.partitioning.expiration_ms) / DAY_MS} days` : "forever"}`,
    };
  },
};
