import assert from "node:assert/strict";
import { ContractServer, bigQueryModel, type BigQueryModel } from "../../scripts/contract-server/index.js";
import { orchestrationEventSchema, type OrchestrationEvent } from "../../functions/src/bus.js";
import {
  AUDIT_EVENTS_TABLE,
  createBigQueryWarehouse,
  type BigQueryWarehouse,
} from "../../functions/src/warehouse/bigquery.js";
import { BIGQUERY_DEDUP_VIEW } from "../../functions/src/warehouse/dialect.js";
import { QUERY_NAMES } from "../../functions/src/warehouse/queries.js";
import { EVENTS_TABLE, eventToRow } from "../../functions/src/warehouse/schema.js";
import { loadDeploymentTrends } from "../../functions/src/warehouse/trends.js";

const PROJECT = "demo-orchestration";
const DATASET = "orchestration";
const WINDOW = { from: "2026-11-01T00:00:00Z", to: "2026-11-04T00:00:00Z", environments: null };

function event(id: string, kind: OrchestrationEvent["kind"] = "task"): OrchestrationEvent {
  return {
    event_id: id,
    kind,
    deployment_id: "d1",
    task_id: kind === "task" ? "t1" : null,
    environment: "prod",
    integration: kind === "task" ? "auth" : null,
    from: "ready",
    to: "running",
    attempt: 1,
    detail: null,
    correlation_id: "d1",
    at: "2026-11-01T10:00:00Z",
    duration: 1.5,
    payload: { retry_count: 0 },
  };
}
const row = (e: OrchestrationEvent) =>
  eventToRow(orchestrationEventSchema.parse(e), new Date("2026-11-01T10:00:01Z"));

describe("BigQuery warehouse against the BigQuery v2 contract", () => {
  let server: ContractServer;
  let model: BigQueryModel;
  let wh: BigQueryWarehouse;

  beforeEach(async () => {
    server = ContractServer.fromRepository("bigquery-v2");
    model = bigQueryModel(server);
    const { url } = await server.start();
    wh = createBigQueryWarehouse({ projectId: PROJECT, dataset: DATASET, location: "US", apiEndpoint: url });
  });
  afterEach(async () => {
    const refused = server.requests.filter((r) => r.verdict === "refused");
    await server.stop();
    assert.deepEqual(
      refused.map(
        (r) => `${r.methodId}: ${r.violations.map((v) => `${v.field} ${v.description}`).join("; ")}`,
      ),
      [],
      "every request the client sent holds to the discovery document",
    );
  });

  it("creates the dataset, both tables, the dedup view and the search indexes once", async () => {
    const first = await wh.ensure();
    assert.deepEqual(first.created, [
      `dataset ${DATASET}`,
      `table ${EVENTS_TABLE}`,
      `table ${AUDIT_EVENTS_TABLE}`,
      `view ${BIGQUERY_DEDUP_VIEW}`,
      "view deployment_facts",
      "view task_facts",
    ]);
    const events = model.tables.get(`${PROJECT}.${DATASET}.${EVENTS_TABLE}`)!;
    assert.deepEqual(events.timePartitioning, {
      type: "DAY",
      field: "time",
      expirationMs: String(90 * 86_400_000),
    });
    assert.deepEqual(events.clustering, { fields: ["environment", "kind"] });
    const audit = model.tables.get(`${PROJECT}.${DATASET}.${AUDIT_EVENTS_TABLE}`)!;
    assert.equal((audit.timePartitioning as { expirationMs: string }).expirationMs, String(365 * 86_400_000));
    assert.equal(
      model.queries.filter((q) => q.query.startsWith("CREATE SEARCH INDEX IF NOT EXISTS")).length,
      2,
    );
    const second = await wh.ensure();
    assert.deepEqual(second, { created: [], updated: [] });
  });

  it("restores a partition expiration someone changed", async () => {
    await wh.ensure();
    (
      model.tables.get(`${PROJECT}.${DATASET}.${EVENTS_TABLE}`)!.timePartitioning as { expirationMs: string }
    ).expirationMs = "1000";
    assert.deepEqual((await wh.ensure()).updated, [`table ${EVENTS_TABLE} partition expiration`]);
  });

  it("streams with insertId = event_id, so a row sent twice is kept once; audit records go to their table", async () => {
    await wh.ensure();
    const rows = [row(event("a")), row(event("b")), row(event("c", "audit"))];
    assert.deepEqual(await wh.insert(rows), { inserted: 3, rejected: [] });
    assert.deepEqual(await wh.insert(rows), { inserted: 3, rejected: [] });
    assert.deepEqual([...model.rows.get(`${PROJECT}.${DATASET}.${EVENTS_TABLE}`)!.keys()], ["a", "b"]);
    assert.deepEqual([...model.rows.get(`${PROJECT}.${DATASET}.${AUDIT_EVENTS_TABLE}`)!.keys()], ["c"]);
  });

  it("retries rows a partial failure stopped or failed transiently, and names rows refused for good", async () => {
    await wh.ensure();
    const bad = { ...row(event("bad")), to: null as unknown as string };
    const outcome = await wh.insert([row(event("x")), bad, row(event("y"))]);
    assert.deepEqual(outcome.inserted, 2);
    assert.deepEqual(
      outcome.rejected.map((r) => r.event_id),
      ["bad"],
    );
    assert.match(outcome.rejected[0]!.reason, /Missing required field: to/);
    model.failRows(1);
    assert.deepEqual(await wh.insert([row(event("z")), row(event("w"))]), { inserted: 2, rejected: [] });
    assert.deepEqual([...model.rows.get(`${PROJECT}.${DATASET}.${EVENTS_TABLE}`)!.keys()].sort(), [
      "w",
      "x",
      "y",
      "z",
    ]);
  });

  it("retries after 503 and 429 answers", async () => {
    await wh.ensure();
    server.inject("bigquery.tabledata.insertAll", { kind: "unavailable" }, 1);
    server.inject("bigquery.tabledata.insertAll", { kind: "rate-limited", retryAfterSeconds: 0 }, 1);
    assert.deepEqual(await wh.insert([row(event("r"))]), { inserted: 1, rejected: [] });
    assert.deepEqual(
      server.requests.filter((r) => r.methodId === "bigquery.tabledata.insertAll").map((r) => r.status),
      [503, 429, 200],
    );
  });

  it("sends every named query and the search as GoogleSQL with typed parameters, and reads the rows back", async () => {
    await wh.ensure();
    model.answerQueries((q) =>
      q.query.includes("COUNT(*) AS events")
        ? {
            fields: [
              { name: "kind", type: "STRING" },
              { name: "events", type: "INTEGER" },
            ],
            rows: [["task", "12"]],
          }
        : null,
    );
    for (const name of QUERY_NAMES) await wh.query(name, { ...WINDOW, environments: ["prod"] });
    assert.deepEqual(await wh.query("event_counts", WINDOW), [{ kind: "task", events: 12 }]);
    await wh.search({ ...WINDOW, q: "auth failed", correlation_id: "d1" });
    const reads = model.queries.filter((q) => !q.query.startsWith("CREATE"));
    assert.equal(reads.length, QUERY_NAMES.length + 2);
    for (const q of reads) {
      assert.ok(
        [BIGQUERY_DEDUP_VIEW, "deployment_facts", "task_facts"].some((view) =>
          q.query.includes(`\`${PROJECT}.${DATASET}.${view}\``),
        ),
        "reads go through the dedup view or the fact views over it",
      );
      for (const duckdbOnly of ["quantile_disc", "list_contains", "strftime", '"to"', "json_extract"])
        assert.ok(!q.query.includes(duckdbOnly), `no DuckDB-only ${duckdbOnly} in ${q.query}`);
      assert.doesNotMatch(q.query, /\$[a-z_]/, "no DuckDB-style $parameters");
    }
    const search = reads.at(-1)!;
    assert.match(search.query, /SEARCH\(e, @term0 \|\| ' ' \|\| @term1\)/);
    assert.deepEqual(search.parameters.environments, { type: "ARRAY", value: { arrayValues: [] } });
  });

  it("reads the per-day trends through the deployment facts view in GoogleSQL, and says BigQuery computed them", async () => {
    await wh.ensure();
    const field = (name: string, type: string) => ({ name, type });
    model.answerQueries((q) => {
      if (q.query.includes("COUNT(*) AS deployments"))
        return {
          fields: [
            field("environment", "STRING"),
            field("day", "STRING"),
            field("status", "STRING"),
            field("deployments", "INTEGER"),
          ],
          rows: [
            ["prod", "2026-11-01", "failed", "1"],
            ["prod", "2026-11-01", "succeeded", "3"],
            ["prod", "2026-11-02", "running", "1"],
          ],
        };
      if (q.query.includes("AS day, duration FROM"))
        return {
          fields: ["day", "count", "mean", "p50", "p95", "max"].map((name) =>
            field(name, name === "day" ? "STRING" : name === "count" ? "INTEGER" : "FLOAT"),
          ),
          rows: [
            [null, "4", "12.5", "10", "20", "20"],
            ["2026-11-01", "4", "12.5", "10", "20", "20"],
          ],
        };
      return null;
    });
    const answer = await loadDeploymentTrends(wh, new Date("2026-11-02T15:00:00Z"), 2, ["prod"]);
    assert.ok(answer.status === "ok", JSON.stringify(answer));
    assert.equal(answer.aggregates_from, "bigquery");
    assert.deepEqual(
      answer.series.map((d) => [
        d.day,
        d.deployments,
        d.succeeded,
        d.failed,
        d.in_progress,
        d.success_rate,
        d.duration_p50,
        d.duration_p95,
      ]),
      [
        ["2026-11-01", 4, 3, 1, 0, 0.75, 10, 20],
        ["2026-11-02", 1, 0, 0, 1, null, null, null],
      ],
    );
    assert.match(answer.notes[0] ?? "", /Computed in BigQuery/);
    const sent = model.queries.filter((q) => !q.query.startsWith("CREATE"));
    assert.equal(sent.length, 2);
    const byDay = sent.find((q) => q.query.includes("AS day, duration FROM"))!;
    assert.ok(
      byDay.query.includes(
        `SELECT FORMAT_TIMESTAMP('%F', first_time) AS day, duration FROM (SELECT * FROM \`${PROJECT}.${DATASET}.deployment_facts\` WHERE first_time >= TIMESTAMP(@from) AND first_time < TIMESTAMP(@to) AND (@all_environments OR environment IN UNNEST(@environments)))`,
      ),
      byDay.query,
    );
    assert.match(byDay.query, /PARTITION BY day ORDER BY x/);
    assert.deepEqual(byDay.parameters.from, { type: "STRING", value: { value: "2026-11-01T00:00:00.000Z" } });
    assert.deepEqual(byDay.parameters.to, { type: "STRING", value: { value: "2026-11-03T00:00:00.000Z" } });
    assert.deepEqual(byDay.parameters.all_environments, { type: "BOOL", value: { value: "false" } });
    assert.deepEqual(byDay.parameters.environments, {
      type: "ARRAY",
      value: { arrayValues: [{ value: "prod" }] },
    });
  });

  it("erases a person with a count through the dedup view and an UPDATE of both tables, in GoogleSQL", async () => {
    await wh.ensure();
    model.answerQueries((q) =>
      q.query.includes("COUNT(*) AS n") ? { fields: [{ name: "n", type: "INTEGER" }], rows: [["3"]] } : null,
    );
    const result = await wh.erasePerson({
      actors: ["ann@acme.dev", "user:ann@acme.dev"],
      mentions: ["ann@acme.dev"],
      pseudonyms: { "ann@acme.dev": "pseudonym:a", "user:ann@acme.dev": "pseudonym:b" },
      erased_detail: "(erased)",
    });
    assert.deepEqual(result, { updated: 3 });
    const sent = model.queries.filter((q) => !q.query.startsWith("CREATE"));
    assert.equal(sent.length, 3);
    assert.ok(sent[0]!.query.includes(`\`${PROJECT}.${DATASET}.${BIGQUERY_DEDUP_VIEW}\``), sent[0]!.query);
    assert.deepEqual(
      sent.slice(1).map((q) => /^UPDATE `([^`]+)`/.exec(q.query)?.[1]),
      [`${PROJECT}.${DATASET}.${EVENTS_TABLE}`, `${PROJECT}.${DATASET}.${AUDIT_EVENTS_TABLE}`],
    );
    for (const q of sent) {
      assert.match(q.query, /actor IN UNNEST\(@actors\)/);
      assert.match(q.query, /STRPOS\(LOWER\(detail\), @mention0\) > 0/);
      assert.doesNotMatch(q.query, /\$[a-z_]/, "no DuckDB-style $parameters");
    }
    assert.deepEqual(sent[1]!.parameters.actors, {
      type: "ARRAY",
      value: { arrayValues: [{ value: "ann@acme.dev" }, { value: "user:ann@acme.dev" }] },
    });
  });
});
