import assert from "node:assert/strict";
import { PubSub } from "@google-cloud/pubsub";
import { TOPICS, type OrchestrationEvent } from "../../functions/src/bus.js";
import { api, clearFirestore, projectId, requireEmulators, waitFor } from "../support/emulators.js";
import { deploy, loadTestConfig, settled } from "../support/engine.js";
import { requireWarehouse, warehouseCaughtUp, warehouseStatus } from "../support/warehouse.js";

const status = warehouseStatus;

const HOUR = 3600_000;

describe("the warehouse on the emulators (local DuckDB process fed by orchestration-events)", function () {
  this.timeout(240_000);
  let pubsub: PubSub;

  before(async function () {
    requireEmulators(this);
    requireWarehouse(this, "warehouse");
    pubsub = new PubSub({ projectId: projectId() });
    await clearFirestore();
    await loadTestConfig();
  });
  after(async () => {
    await pubsub?.close();
  });

  it("lands every event delivered twice once, whatever order they arrive in, and keeps each one's latest state by time", async () => {
    const run = `dup-${Date.now().toString(36)}`;
    const base = Date.now() - HOUR;
    const events: OrchestrationEvent[] = Array.from({ length: 40 }, (_, i) => ({
      event_id: `${run}:${i}`,
      kind: "task",
      deployment_id: run,
      task_id: `${run}-t${i % 4}`,
      environment: "dev",
      integration: ["auth", "firestore", "functions", "hosting"][i % 4]!,
      from: i < 20 ? "ready" : "running",
      to: i < 20 ? "running" : "succeeded",
      attempt: 1,
      detail: null,
      correlation_id: run,
      at: new Date(base + i * 1000).toISOString(),
      duration: i < 20 ? null : 2,
      payload: { retry_count: 0 },
    }));
    const before = await status();
    const [topic] = await pubsub.topic(TOPICS.events).get({ autoCreate: true });
    // Newest first, then every one again: a late duplicate of each.
    for (const event of [...events].reverse())
      await topic.publishMessage({ json: event, attributes: { dedupe_key: event.event_id } });
    for (const event of events)
      await topic.publishMessage({ json: event, attributes: { dedupe_key: event.event_id } });
    await warehouseCaughtUp(before, 80, 60_000);
    // Counted by this run's correlation id: events of earlier suites may still land meanwhile.
    const found = await api(
      "GET",
      `/events/search?correlation_id=${run}&limit=500&from=${new Date(base - HOUR).toISOString()}`,
    );
    assert.equal(found.status, 200, JSON.stringify(found.body));
    assert.equal(found.body.count, 40, "40 distinct events, each delivered twice, land once");
    assert.deepEqual(
      found.body.events.map((e: { event_id: string }) => e.event_id),
      events.map((e) => e.event_id),
      "in event time order, not arrival order",
    );
  });

  it("refuses a malformed message without stopping the stream", async () => {
    const before = await status();
    const [topic] = await pubsub.topic(TOPICS.events).get({ autoCreate: true });
    await topic.publishMessage({ json: { event_id: "x", kind: "weather" } });
    await waitFor("the bad message to be refused", async () => (await status()).rejected > before.rejected);
    assert.equal((await status()).events, before.events);
  });

  it("finds a real deployment's whole story by correlation id, from request to outcome", async () => {
    const id = await deploy({
      environment: "dev",
      integrations: ["auth", "firestore"],
      configuration: { driver: "simulated", retry_base_ms: 50, simulate: { auth: { fail_first: 1 } } },
    });
    // A retried task on a busy two-core machine: give the engine time (its speed is not what this tests).
    const { deployment, tasks } = await settled(id, 150_000);
    assert.equal(deployment.status, "succeeded");
    const story = await waitFor("the deployment's final event in the warehouse", async () => {
      const found = await api(
        "GET",
        `/events/search?correlation_id=${encodeURIComponent(deployment.correlation_id)}`,
      );
      const events = found.body.events as { kind: string; to: string; task_id: string | null }[];
      return events.some((e) => e.kind === "deployment" && e.to === "succeeded") ? events : undefined;
    });
    const deploymentSteps = story.filter((e) => e.kind === "deployment").map((e) => e.to);
    assert.deepEqual(deploymentSteps, ["running", "succeeded"]);
    for (const task of tasks) {
      const steps = story.filter((e) => e.task_id === task.id).map((e) => e.to);
      assert.equal(steps.at(-1), "succeeded", `${task.integration}: ${steps.join(" -> ")}`);
      assert.ok(steps.includes("running"));
    }
    // auth failed once and was retried: the story shows the retry.
    const auth = tasks.find((t) => t.integration === "auth")!;
    assert.ok(story.filter((e) => e.task_id === auth.id && e.to === "running").length >= 2);
  });

  it("answers only the caller's environments, and refuses a search outside them", async () => {
    const created = await api("POST", "/keys", {
      role: "viewer",
      environments: ["prod"],
      label: "prod-viewer",
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const prodViewer = { headers: { "x-api-key": created.body.key as string } };
    const mine = await api("GET", "/events/search?q=auth", undefined, {}, prodViewer);
    assert.equal(mine.status, 200, JSON.stringify(mine.body));
    assert.deepEqual(mine.body.environments, ["prod"]);
    assert.ok(mine.body.events.every((e: { environment: string }) => e.environment === "prod"));
    const theirs = await api("GET", "/events/search?q=auth&environment=dev", undefined, {}, prodViewer);
    assert.equal(theirs.status, 403);
    assert.equal((await api("GET", "/events/search?q=auth", undefined, {}, "anonymous")).status, 401);
  });

  const bad: [string, string][] = [
    ["from=yesterday", "from"],
    ["to=2026-13-01", "to"],
    ["limit=0", "limit"],
    ["limit=ten", "limit"],
    ["limit=100000", "limit"],
    [`q=${"x".repeat(201)}`, "q"],
    ["from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z", "from"],
    ["colour=blue", "colour"],
  ];
  for (const [query, field] of bad) {
    it(`refuses ?${query.slice(0, 40)} with a 400 naming ${field}`, async () => {
      const response = await api("GET", `/events/search?${query}`);
      assert.equal(response.status, 400, JSON.stringify(response.body));
      assert.ok(
        (response.body.error.problems as { path: string }[]).some((p) => p.path === field),
        JSON.stringify(response.body.error.problems),
      );
    });
  }

  it("computes a report's aggregates in the warehouse", async () => {
    const response = await api("GET", "/reports?report_type=executive&time_range=24h");
    assert.equal(response.status, 200, JSON.stringify(response.body).slice(0, 500));
    const report = response.body.comprehensive_report;
    assert.equal(report.aggregates_from, "duckdb");
    assert.ok(report.summary.deployments.total >= 1);
    assert.ok(report.notes.some((n: string) => n.includes("standing in for BigQuery")));
  });
});
