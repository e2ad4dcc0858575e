/**
 * The capacity forecast read from the warehouse: the `daily_activity` rows of the last 90 full UTC
 * days (the operational retention) in the caller's scope, forecast by `domain/learning/capacity.ts`.
 */
import type { CapacityConfig } from "../domain/config-schema.js";
import { capacityForecast, type CapacityForecast, type DailyActivity } from "../domain/learning/capacity.js";
import type { Row } from "./queries.js";
import { RETENTION_DAYS } from "./schema.js";
import type { Warehouse } from "./warehouse.js";

const DAY_MS = 86_400_000;

/** What `/optimize` answers under `capacity_forecast`: the forecast, or why there is none. */
export type CapacityAnswer =
  | (CapacityForecast & { aggregates_from: Warehouse["engine"] })
  | { status: "no_warehouse" | "warehouse_error"; message: string };

const count = (value: Row[string] | undefined): number =>
  typeof value === "number" ? value : Number(value ?? 0);

export function activityFromRows(rows: readonly Row[]): DailyActivity[] {
  return rows.map((row) => ({
    environment: String(row.environment),
    day: String(row.day),
    events: count(row.events),
    deployments: count(row.deployments),
    task_runs: count(row.task_runs),
    firestore_reads: count(row.firestore_reads),
    firestore_writes: count(row.firestore_writes),
  }));
}

/** The forecast for `horizon` days after yesterday (UTC); the day under way is partial and left out. */
export async function loadCapacityForecast(
  warehouse: Warehouse | null,
  config: CapacityConfig,
  now: Date,
  environments: string[] | null,
  horizon = 30,
): Promise<CapacityAnswer> {
  if (!warehouse)
    return {
      status: "no_warehouse",
      message:
        "No warehouse is configured (ORCH_WAREHOUSE_URL or ORCH_BIGQUERY_DATASET): the forecast reads the warehouse's daily history and is not made without it",
    };
  const to = new Date(Math.floor(now.getTime() / DAY_MS) * DAY_MS);
  const from = new Date(to.getTime() - RETENTION_DAYS.operational * DAY_MS);
  let rows: Row[];
  try {
    rows = await warehouse.query("daily_activity", {
      from: from.toISOString(),
      to: to.toISOString(),
      environments,
    });
  } catch (error) {
    return {
      status: "warehouse_error",
      message: `the warehouse did not answer: ${(error as Error).message}`,
    };
  }
  const lastDay = new Date(to.getTime() - DAY_MS).toISOString().slice(0, 10);
  return {
    ...capacityForecast(
      activityFromRows(rows),
      config,
      { from: from.toISOString().slice(0, 10), lastDay },
      horizon,
    ),
    aggregates_from: warehouse.engine,
  };
}
