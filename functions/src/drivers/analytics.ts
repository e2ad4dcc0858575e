/**
 * Analytics export, staged: validates where the event stream lands (dataset id, location,
 * retention) and builds the BigQuery dataset and `orchestration_events` table definition from the
 * event schema the bus publishes, partitioned by day on `at`. No dataset is created.
 *
 * Location policy: the multi-regions US and EU are accepted for any environment region (BigQuery
 * accepts streaming from anywhere, and a multi-region is a deliberate residency choice). A single
 * region must lie in the same geography as the environment's region (us-* and northamerica-* with
 * US regions, europe-* with europe-*, ...): a single-region dataset on another continent is clearly
 * a mistake, so it is a problem.
 */
import { orchestrationEventSchema } from "../bus.js";
import type { ResolvedEnvironment } from "../domain/config-schema.js";
import type { Problem } from "../domain/problems.js";
import { liveNote, nothingStaged, problem, STAGED, settingPath } from "./rules-lint.js";
import type { DriverSpec } from "./types.js";
import { stableJson } from "../domain/digest.js";

export const EVENTS_TABLE = "orchestration_events";
const DAY_MS = 86_400_000;

/** A BigQuery column. */
export interface TableField {
  name: string;
  type: "STRING" | "INTEGER" | "FLOAT" | "BOOLEAN" | "TIMESTAMP";
  mode: "REQUIRED" | "NULLABLE";
}

/** The staged dataset and table. */
export interface AnalyticsRelease {
  project_id: string;
  dataset: string;
  location: string;
  retention_days: number;
  table: string;
  fields: TableField[];
  partitioning: { type: "DAY"; field: "at"; expiration_ms: number };
}

type ZodDef = { type: string; format?: string; innerType?: { _zod: { def: ZodDef } } };

/** The table columns, read from the bus's event schema so the two cannot drift apart. */
export function eventTableFields(): TableField[] {
  return Object.entries(orchestrationEventSchema.shape).map(([name, schema]) => {
    let def = (schema as unknown as { _zod: { def: ZodDef } })._zod.def;
    let mode: TableField["mode"] = "REQUIRED";
    // `.nullable().default(null)` wraps the nullable in a default: unwrap both, or the column
    // would be a REQUIRED STRING that every event without the field fails.
    while ((def.type === "nullable" || def.type === "optional" || def.type === "default") && def.innerType) {
      if (def.type !== "default") mode = "NULLABLE";
      def = def.innerType._zod.def;
    }
    let type: TableField["type"];
    if (name === "at")
      type = "TIMESTAMP"; // an ISO 8601 string on the bus; the partition column in BigQuery
    else if (def.type === "number") type = def.format?.includes("int") ? "INTEGER" : "FLOAT";
    else if (def.type === "boolean") type = "BOOLEAN";
    else type = "STRING"; // strings and enums
    return { name, type, mode };
  });
}

/** us / europe / asia / ... : the geography of a region, for the location policy above. */
function geography(location: string): string {
  const prefix = location.toLowerCase().split("-")[0] ?? "";
  if (prefix === "us" || prefix === "northamerica") return "north america";
  if (prefix === "southamerica") return "south america";
  if (prefix === "europe") return "europe";
  if (prefix === "asia" || prefix === "australia") return "asia-pacific";
  if (prefix === "me") return "middle east";
  return prefix;
}

export function locationProblem(location: string, environment: ResolvedEnvironment): string | undefined {
  if (location === "US" || location === "EU") return undefined;
  if (geography(location) !== geography(environment.region)) {
    return `a location in the environment's geography (${geography(environment.region)}, region ${environment.region}), or the multi-region US or EU`;
  }
  return undefined;
}

export const analyticsDriver: DriverSpec<"analytics", AnalyticsRelease> = {
  kind: "analytics",
  ...STAGED,

  desired(target) {
    const settings = target.settings;
    const environment = target.environment;
    const problems: Problem[] = [];
    const at = (...rest: (string | number)[]) => settingPath(target.integration, ...rest);
    if (!/^[A-Za-z0-9_]{1,1024}$/.test(settings.dataset)) {
      problems.push(
        problem(
          at("dataset"),
          JSON.stringify(settings.dataset),
          "a BigQuery dataset id (1-1024 letters, digits, underscores)",
        ),
      );
    }
    const badLocation = locationProblem(settings.location, environment);
    if (badLocation) {
      problems.push(
        problem(
          at("location"),
          `"${settings.location}" for an environment in ${environment.region}`,
          badLocation,
        ),
      );
    }
    const days = settings.retention_days;
    if (!Number.isInteger(days) || days < 1 || days > 3650) {
      problems.push(problem(at("retention_days"), String(days), "an integer from 1 to 3650"));
    }

    const fields = eventTableFields();
    const state: AnalyticsRelease = {
      project_id: environment.project_id,
      dataset: settings.dataset,
      location: settings.location,
      retention_days: days,
      table: EVENTS_TABLE,
      fields,
      partitioning: { type: "DAY", field: "at", expiration_ms: days * DAY_MS },
    };
    const definition = {
      dataset: {
        datasetReference: { projectId: environment.project_id, datasetId: settings.dataset },
        location: settings.location,
        description: `Orchestration event stream of ${environment.name} (staged)`,
      },
      table: {
        tableReference: {
          projectId: environment.project_id,
          datasetId: settings.dataset,
          tableId: EVENTS_TABLE,
        },
        schema: { fields: fields.map((field) => ({ name: field.name, type: field.type, mode: field.mode })) },
        timePartitioning: { type: "DAY", field: "at", expirationMs: String(days * DAY_MS) },
        clustering: { fields: ["environment", "kind"] },
        requirePartitionFilter: false,
      },
    };
    return Promise.resolve({
      state,
      problems,
      artifact: {
        name: `analytics/${environment.name}/${settings.dataset}.${EVENTS_TABLE}.json`,
        content: stableJson(definition),
      },
    });
  },

  verify(target, _io, release) {
    if (!release) return Promise.resolve(nothingStaged(target));
    const suffix = liveNote(target.environment);
    const recorded = release.state as Partial<AnalyticsRelease> | undefined;
    const current = eventTableFields();
    const recordedNames = (recorded?.fields ?? []).map(
      (field) => `${field.name}:${field.type}:${field.mode}`,
    );
    const currentNames = current.map((field) => `${field.name}:${field.type}:${field.mode}`);
    const missing = currentNames.filter((name) => !recordedNames.includes(name));
    const extra = recordedNames.filter((name) => !currentNames.includes(name));
    if (missing.length > 0 || extra.length > 0) {
      return Promise.resolve({
        status: "degraded" as const,
        details: `staged table ${recorded?.dataset ?? "?"}.${EVENTS_TABLE} (release ${release.number}) no longer matches the event schema: ${[
          ...missing.map((field) => `missing ${field}`),
          ...extra.map((field) => `no longer emitted ${field}`),
        ].join("; ")}${suffix}`,
      });
    }
    return Promise.resolve({
      status: "healthy" as const,
      details: `staged table ${recorded?.dataset ?? "?"}.${EVENTS_TABLE} (release ${release.number}) matches the event schema; nothing live touched${suffix}`,
    });
  },
};
