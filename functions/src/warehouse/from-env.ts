/** Picks the warehouse the functions talk to from their environment: BigQuery, the local process, or none. */
import { createLocalWarehouseClient, type Warehouse } from "./warehouse.js";

/**
 * ORCH_BIGQUERY_DATASET (with GCLOUD_PROJECT) selects BigQuery; ORCH_WAREHOUSE_URL the local DuckDB
 * process that the local stack starts; neither leaves analytics on Firestore's history.
 */
export async function warehouseFromEnv(env: NodeJS.ProcessEnv): Promise<Warehouse | null> {
  if (env.ORCH_BIGQUERY_DATASET) {
    // Loaded only in the cloud path: the local stack never needs the BigQuery client.
    const { createBigQueryWarehouse } = await import("./bigquery.js");
    return createBigQueryWarehouse({
      projectId: env.GCLOUD_PROJECT ?? "",
      dataset: env.ORCH_BIGQUERY_DATASET,
      location: env.ORCH_BIGQUERY_LOCATION ?? "US",
      apiEndpoint: env.BIGQUERY_EMULATOR_HOST,
    });
  }
  if (env.ORCH_WAREHOUSE_URL) return createLocalWarehouseClient(env.ORCH_WAREHOUSE_URL);
  return null;
}
