import assert from "node:assert/strict";
import type { IntegrationSettings } from "../../functions/src/domain/config-schema.js";
import { NonRetriableError } from "../../functions/src/domain/errors.js";
import { analyticsDriver } from "../../functions/src/drivers/analytics.js";
import { createFabricator } from "../../functions/src/drivers/fabricator.js";
import { liveAnalyticsSpec } from "../../functions/src/drivers/live/analytics-live.js";
import { bigqueryApi } from "../../functions/src/drivers/live/google.js";
import { byMode } from "../../functions/src/drivers/registry.js";
import type { DriverTarget } from "../../functions/src/drivers/types.js";
import { ContractServer, bigQueryModel, type BigQueryModel } from "../../scripts/contract-server/index.js";
import { contractAccess, liveEnvironment, liveIO, memoryReleases, memorySources } from "../support/live.js";

const PROJECT = "acme-prod";
const DATASET = "app_events";
const TABLE = "orchestration_events";
const DATASET_KEY = `${PROJECT}.${DATASET}`;
const TABLE_KEY = `${PROJECT}.${DATASET}.${TABLE}`;
const DAY_MS = 86_400_000;

// The bus's event fields as BigQuery columns, written out from bus.ts's schema by hand (not taken from the driver).
const COLUMNS = [
  { name: "event_id", type: "STRING", mode: "REQUIRED" },
  { name: "kind", type: "STRING", mode: "REQUIRED" },
  { name: "deployment_id", type: "STRING", mode: "NULLABLE" },
  { name: "task_id", type: "STRING", mode: "NULLABLE" },
  { name: "environment", type: "STRING", mode: "REQUIRED" },
  { name: "integration", type: "STRING", mode: "NULLABLE" },
  { name: "from", type: "STRING", mode: "NULLABLE" },
  { name: "to", type: "STRING", mode: "REQUIRED" },
  { name: "attempt", type: "INTEGER", mode: "NULLABLE" },
  { name: "detail", type: "STRING", mode: "NULLABLE" },
  { name: "correlation_id", type: "STRING", mode: "REQUIRED" },
  { name: "at", type: "TIMESTAMP", mode: "REQUIRED" },
  { name: "duration", type: "FLOAT", mode: "NULLABLE" },
  { name: "actor", type: "STRING", mode: "NULLABLE" },
  { name: "payload", type: "STRING", mode: "NULLABLE" },
];

describe("live analytics: the event-stream dataset and table through BigQuery v2 (contract server)", () => {
  let server: ContractServer;
  let bigquery: BigQueryModel;
  let access: Awaited<ReturnType<typeof contractAccess>>;
  let fabricator: ReturnType<typeof createFabricator>;
  const targetWith = (
    settings: Partial<IntegrationSettings<"analytics">> = {},
  ): DriverTarget<"analytics"> => {
    const environment = liveEnvironment(["analytics"], {
      analytics: { dataset: DATASET, location: "US", retention_days: 90, ...settings },
    });
    return {
      environment,
      integration: "analytics",
      kind: "analytics",
      settings: environment.integrations[0]!.settings as DriverTarget<"analytics">["settings"],
    };
  };
  const target = targetWith();

  beforeEach(async () => {
    server = ContractServer.fromRepository("bigquery-v2");
    bigquery = bigQueryModel(server);
    const { url } = await server.start();
    access = await contractAccess({ bigquery: url });
    fabricator = createFabricator(
      { analytics: byMode(analyticsDriver, liveAnalyticsSpec) },
      memoryReleases(),
      liveIO(memorySources({}), access),
    );
  });
  afterEach(() => server.stop());

  const dataset = () => bigquery.datasets.get(DATASET_KEY);
  const table = () => bigquery.tables.get(TABLE_KEY);
  const writes = (from = 0) =>
    server
      .calls()
      .slice(from)
      .filter((c) => !c.startsWith("bigquery.datasets.get") && !c.startsWith("bigquery.tables.get"));
  const everyRequestWithinContract = () =>
    server.requests.every((r) => r.verdict === "accepted" || r.status === 404);
  /** A table as someone else made it, in BigQuery's stored shape. */
  const existingTable = (overrides: Record<string, unknown>) => ({
    kind: "bigquery#table",
    id: `${PROJECT}:${DATASET}.${TABLE}`,
    type: "TABLE",
    tableReference: { projectId: PROJECT, datasetId: DATASET, tableId: TABLE },
    description: `Orchestration events of prod: one row per event the bus publishes`,
    schema: { fields: COLUMNS },
    timePartitioning: { type: "DAY", field: "at", expirationMs: String(90 * DAY_MS) },
    clustering: { fields: ["environment", "kind"] },
    requirePartitionFilter: false,
    ...overrides,
  });
  const existingDataset = (overrides: Record<string, unknown> = {}) => ({
    kind: "bigquery#dataset",
    id: `${PROJECT}:${DATASET}`,
    datasetReference: { projectId: PROJECT, datasetId: DATASET },
    location: "US",
    description: "Orchestration event stream of prod",
    labels: { orchestration_environment: "prod" },
    ...overrides,
  });

  it("plans read-only, field by field, when nothing is there yet", async () => {
    const plan = await fabricator.plan(target);
    assert.equal(plan.mode, "live");
    for (const [path, to] of [
      ["dataset.location", "US"],
      ["dataset.labels.orchestration_environment", "prod"],
      ["table.columns.at.type", "TIMESTAMP"],
      ["table.columns.at.mode", "REQUIRED"],
      ["table.columns.duration.type", "FLOAT"],
      ["table.partitioning.field", "at"],
      ["table.partitioning.expiration_ms", String(90 * DAY_MS)],
    ])
      assert.deepEqual(
        plan.changes.find((c) => c.path === path),
        { path, from: undefined, to },
        `plan shows ${path}`,
      );
    assert.deepEqual(plan.changes.find((c) => c.path === "table.clustering")?.to, ["environment", "kind"]);
    // No dataset: the table is not asked for.
    assert.deepEqual(server.calls(), [`bigquery.datasets.get ${PROJECT} ${DATASET}`]);
    assert.ok(server.requests.every((r) => r.httpMethod === "GET"));
  });

  it("first apply creates the dataset and the table; the second changes nothing", async () => {
    const first = await fabricator.apply(target, "d1");
    assert.equal(first.changed, true);
    assert.equal(dataset()?.location, "US");
    assert.deepEqual(dataset()?.labels, { orchestration_environment: "prod" });
    assert.equal(dataset()?.defaultTableExpirationMs, undefined);
    const created = table()!;
    assert.deepEqual(created.schema?.fields, COLUMNS);
    assert.deepEqual(created.timePartitioning, { type: "DAY", field: "at", expirationMs: "7776000000" });
    assert.deepEqual(created.clustering, { fields: ["environment", "kind"] });
    assert.equal(created.requirePartitionFilter, false);
    assert.deepEqual(writes(), [
      `bigquery.datasets.insert ${PROJECT}`,
      `bigquery.tables.insert ${PROJECT} ${DATASET}`,
    ]);
    assert.ok(everyRequestWithinContract(), "every request within the contract");

    const before = server.calls().length;
    const second = await fabricator.apply(target, "d2");
    assert.equal(second.changed, false);
    assert.deepEqual(writes(before), []);
    assert.deepEqual(server.calls().slice(before), [
      `bigquery.datasets.get ${PROJECT} ${DATASET}`,
      `bigquery.tables.get ${PROJECT} ${DATASET} ${TABLE}`,
    ]);
  });

  it("a changed retention patches the partition expiration only; rollback restores the previous one", async () => {
    await fabricator.apply(target, "d1");
    const before = server.calls().length;
    const shorter = targetWith({ retention_days: 30 });
    const plan = await fabricator.plan(shorter);
    assert.deepEqual(plan.changes, [
      { path: "table.partitioning.expiration_ms", from: "7776000000", to: "2592000000" },
    ]);
    await fabricator.apply(shorter, "d2");
    assert.deepEqual(writes(before), [`bigquery.tables.patch ${PROJECT} ${DATASET} ${TABLE}`]);
    assert.deepEqual(table()?.timePartitioning, { type: "DAY", field: "at", expirationMs: "2592000000" });
    assert.deepEqual(table()?.schema?.fields, COLUMNS, "the schema is untouched");

    const undone = await fabricator.rollback(shorter, "d2");
    assert.match(undone.summary, /^live: rolled back to the state of release 1/);
    assert.deepEqual(table()?.timePartitioning, { type: "DAY", field: "at", expirationMs: "7776000000" });
    assert.ok(everyRequestWithinContract(), "every request within the contract");
  });

  it("adopts a dataset made elsewhere: our label and no default expiration patched, other labels kept", async () => {
    bigquery.datasets.set(
      DATASET_KEY,
      existingDataset({
        description: "made by hand",
        labels: { team: "data", orchestration_environment: "staging", orchestration_old: "x" },
        defaultTableExpirationMs: String(7 * DAY_MS),
      }),
    );
    const plan = await fabricator.plan(target);
    assert.ok(plan.changes.some((c) => c.path === "dataset.default_table_expiration_ms" && c.to === null));
    assert.ok(
      plan.changes.every((c) => !c.path.includes("team")),
      "others' labels are not ours to plan",
    );
    await fabricator.apply(target, "d1");
    assert.deepEqual(dataset()?.labels, { team: "data", orchestration_environment: "prod" });
    assert.equal(dataset()?.defaultTableExpirationMs, undefined, "cleared before the table is created");
    assert.equal(dataset()?.description, "Orchestration event stream of prod");
    assert.deepEqual(writes(), [
      `bigquery.datasets.patch ${PROJECT} ${DATASET}`,
      `bigquery.tables.insert ${PROJECT} ${DATASET}`,
    ]);
    assert.ok(everyRequestWithinContract(), "every request within the contract");
  });

  it("appends columns the event schema gained and relaxes one it made nullable, in one patch", async () => {
    bigquery.datasets.set(DATASET_KEY, existingDataset());
    const older = COLUMNS.filter((c) => c.name !== "actor" && c.name !== "payload").map((c) =>
      c.name === "detail" ? { ...c, mode: "REQUIRED" } : c,
    );
    bigquery.tables.set(TABLE_KEY, existingTable({ schema: { fields: older } }));
    await fabricator.apply(target, "d1");
    assert.deepEqual(writes(), [`bigquery.tables.patch ${PROJECT} ${DATASET} ${TABLE}`]);
    assert.deepEqual(
      table()?.schema?.fields?.map((f) => `${f.name} ${f.mode}`),
      [...COLUMNS.filter((c) => c.name !== "actor" && c.name !== "payload"), COLUMNS[13]!, COLUMNS[14]!].map(
        (f) => `${f.name} ${f.mode}`,
      ),
    );
    const again = await fabricator.plan(target);
    assert.equal(again.summary, "live: no changes", "column order is not a difference");
  });

  it("refuses a location other than the dataset's, naming the field, and writes nothing", async () => {
    bigquery.datasets.set(DATASET_KEY, existingDataset({ location: "EU", description: "old" }));
    await assert.rejects(fabricator.apply(target, "d1"), (error: Error) => {
      assert.ok(error instanceof NonRetriableError);
      assert.match(error.message, /dataset\.location: dataset app_events is in EU, the config asks for US/);
      assert.match(error.message, /fixed when it is created/);
      return true;
    });
    assert.deepEqual(writes(), []);
    assert.equal(dataset()?.description, "old");
  });

  it("refuses another partitioning and a dropped column, naming each, and writes nothing", async () => {
    bigquery.datasets.set(DATASET_KEY, existingDataset({ description: "old" }));
    bigquery.tables.set(
      TABLE_KEY,
      existingTable({
        timePartitioning: { type: "DAY", field: "time", expirationMs: String(90 * DAY_MS) },
        schema: { fields: [...COLUMNS, { name: "legacy", type: "STRING", mode: "NULLABLE" }] },
      }),
    );
    await assert.rejects(fabricator.apply(target, "d1"), (error: Error) => {
      assert.ok(error instanceof NonRetriableError);
      assert.match(
        error.message,
        /table\.partitioning: table app_events\.orchestration_events is partitioned by DAY on time, the config asks by DAY on at/,
      );
      assert.match(error.message, /table\.columns\.legacy: .*cannot drop a column/);
      return true;
    });
    assert.deepEqual(writes(), []);
    assert.equal(dataset()?.description, "old", "the dataset is not patched either");
  });

  it("the contract model refuses what BigQuery refuses: a patch dropping a column", async () => {
    bigquery.datasets.set(DATASET_KEY, existingDataset());
    bigquery.tables.set(TABLE_KEY, existingTable({}));
    const api = await bigqueryApi(access);
    await assert.rejects(
      api.tables.patch({
        projectId: PROJECT,
        datasetId: DATASET,
        tableId: TABLE,
        requestBody: { schema: { fields: COLUMNS.slice(1) } },
      }),
      (error: { response?: { status?: number; data?: { error?: { message?: string } } } }) => {
        assert.equal(error.response?.status, 400);
        assert.match(error.response?.data?.error?.message ?? "", /Field event_id is missing in new schema/);
        return true;
      },
    );
    await assert.rejects(
      api.tables.patch({
        projectId: PROJECT,
        datasetId: DATASET,
        tableId: TABLE,
        requestBody: { timePartitioning: { type: "DAY", field: "time" } },
      }),
      /Cannot change partitioning spec/,
    );
    assert.deepEqual(table()?.schema?.fields, COLUMNS, "nothing changed");
  });

  it("backs off on 429 from BigQuery and then succeeds", async () => {
    server.inject("bigquery.datasets.insert", { kind: "rate-limited", retryAfterSeconds: 3 }, 2);
    await fabricator.apply(target, "d1");
    // Retry-After 3 s plus 25% of it times random() = 0.5: 3375 ms, twice.
    assert.deepEqual(access.slept, [3375, 3375]);
    assert.equal(dataset()?.location, "US");
    assert.ok(table(), "the table follows");
  });

  it("a 403 on creating the table names bigquery.tables.create and its role", async () => {
    server.inject("bigquery.tables.insert", {
      kind: "permission-denied",
      permission: "bigquery.tables.create",
    });
    await assert.rejects(fabricator.apply(target, "d1"), (error: Error) => {
      assert.ok(error instanceof NonRetriableError);
      assert.match(
        error.message,
        /needs permission bigquery\.tables\.create, granted by roles\/bigquery\.dataEditor/,
      );
      return true;
    });
  });

  it("a 403 on patching the dataset names bigquery.datasets.update and roles/bigquery.dataOwner", async () => {
    bigquery.datasets.set(DATASET_KEY, existingDataset({ description: "old" }));
    server.inject("bigquery.datasets.patch", {
      kind: "permission-denied",
      permission: "bigquery.datasets.update",
    });
    await assert.rejects(
      fabricator.apply(target, "d1"),
      /needs permission bigquery\.datasets\.update, granted by roles\/bigquery\.dataOwner/,
    );
  });

  it("verify says healthy from Google's answer, degraded when the table was changed outside", async () => {
    await fabricator.apply(target, "d1");
    const healthy = await fabricator.verify(target);
    assert.equal(healthy.status, "healthy");
    assert.equal(healthy.mode, "live");
    assert.match(
      healthy.details,
      /^Google reports acme-prod:app_events\.orchestration_events in US with 15 columns, partitions kept 90 days$/,
    );
    table()!.clustering = { fields: ["kind"] };
    const drifted = await fabricator.verify(target);
    assert.equal(drifted.status, "degraded");
    assert.match(drifted.details, /differs from release 1/);
    bigquery.tables.delete(TABLE_KEY);
    assert.equal((await fabricator.verify(target)).status, "down");
  });
});
