/**
 * Learning on the emulators: task history written to Firestore is read back by the run-history
 * reader; /plan and /deploy estimate from it (with the runs they rest on and the integrations most
 * likely to fail), and a finished deployment whose run is far slower than its history opens an
 * anomaly alert with the evidence; the same history read back and backtested (`npm run backtest --
 * --from-firestore`).
 */
import assert from "node:assert/strict";
import { createServices } from "../../functions/src/app.js";
import type { Bus, OrchestrationEvent } from "../../functions/src/bus.js";
import { validateConfig } from "../../functions/src/domain/config.js";
import {
  TERMINAL_DEPLOYMENT_STATUSES,
  type DeploymentDoc,
  type TaskDoc,
} from "../../functions/src/domain/engine-model.js";
import { COLLECTIONS, alertDocSchema } from "../../functions/src/domain/model.js";
import { planDeployment } from "../../functions/src/domain/planner.js";
import { createEngineStore } from "../../functions/src/store/engine-store.js";
import { backtest } from "../../functions/src/domain/learning/backtest.js";
import { loadReplayHistory } from "../../functions/src/store/replay-history.js";
import { typedCollection } from "../../functions/src/store/typed-collection.js";
import { exampleConfig } from "../support/config-builder.js";
import { MODEL_TTL_MS } from "../../functions/src/engine/learning.js";
import { adminDb, api, clearFirestore, requireEmulators, waitFor } from "../support/emulators.js";

const T0 = Date.UTC(2026, 10, 1);

/** Writes a finished deployment of dev with one task per integration, each taking `seconds[integration]`. */
async function writeRun(
  id: string,
  index: number,
  seconds: Record<string, number>,
  failed: ReadonlySet<string> = new Set(),
): Promise<DeploymentDoc & { id: string }> {
  const config = validateConfig(exampleConfig());
  assert.ok(config.ok);
  const dev = config.config.environments.find((env) => env.name === "dev")!;
  const created = new Date(T0 + index * 600_000);
  const integrations = Object.keys(seconds);
  const planned = planDeployment(
    id,
    { environment: "dev", integrations, configuration: {}, requested_by: "learning.spec" },
    dev,
    created,
  );
  assert.ok(planned.ok);
  const engine = createEngineStore(adminDb());
  let clock = created.getTime() + 1000;
  const tasks = planned.plan.tasks.map(({ id: taskId, ...doc }): [string, TaskDoc] => {
    const start = clock;
    clock += seconds[doc.integration]! * 1000;
    const isFailed = failed.has(doc.integration);
    return [
      taskId,
      {
        ...doc,
        status: isFailed ? "failed" : "succeeded",
        started_at: new Date(start),
        completed_at: new Date(clock),
        actual_duration: seconds[doc.integration]!,
        attempt: 1,
        applied: !isFailed,
        error_message: isFailed ? "attempt 1 of 4: refused" : null,
      },
    ];
  });
  const deployment: DeploymentDoc = {
    status: failed.size > 0 ? "failed" : "succeeded",
    environment: "dev",
    integrations,
    configuration: {},
    requested_by: "learning.spec",
    rollback_policy: "failed-only",
    created_at: created,
    task_ids: tasks.map(([taskId]) => taskId),
    estimated_completion: planned.plan.estimatedCompletion,
    critical_path: planned.plan.criticalPath,
    started_at: new Date(created.getTime() + 1000),
    completed_at: new Date(clock),
    actual_duration: (clock - created.getTime() - 1000) / 1000,
    error_message: failed.size > 0 ? "a task failed" : null,
    correlation_id: id,
    approval: null,
    expire_at: null,
  };
  await engine.deployments.doc(id).set(deployment);
  await Promise.all(tasks.map(([taskId, task]) => engine.tasks.doc(taskId).set(task)));
  return { ...deployment, id };
}

/** A bus that keeps what it is given, for the in-process finish step. */
function recordingBus(): Bus & { events: OrchestrationEvent[] } {
  const events: OrchestrationEvent[] = [];
  return {
    events,
    publishTask: () => Promise.resolve(),
    publishEvent: (event) => {
      events.push(event);
      return Promise.resolve();
    },
  };
}

describe("learning from history (emulators)", function () {
  this.timeout(120_000);

  before(async function () {
    requireEmulators(this);
    await clearFirestore();
    const loaded = await api("POST", "/config", exampleConfig());
    assert.equal(loaded.status, 200, JSON.stringify(loaded.body));
    // 30 deployments of security (about 3 s) then firestore (about 5 s); firestore failed 6 times.
    for (let index = 0; index < 30; index++)
      await writeRun(
        `hist-${String(index).padStart(2, "0")}`,
        index,
        { security: 3 + (index % 3) * 0.1, firestore: 5 + (index % 4) * 0.1 },
        index % 5 === 2 ? new Set(["firestore"]) : new Set(),
      );
    // The functions keep an environment's learned model for MODEL_TTL_MS: a request of an earlier
    // spec may have cached dev's model before this history existed.
    await new Promise((resolve) => setTimeout(resolve, MODEL_TTL_MS + 500));
  });

  it("POST /plan estimates from the runs, names the runs behind each estimate and the likeliest failure", async () => {
    const answer = await api("POST", "/plan", {
      environments: ["dev"],
      integrations: ["security", "firestore"],
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const [timeline] = answer.body.timeline as {
      estimated_seconds: number;
      estimated_seconds_p90: number;
      failure_probability: number;
      most_likely_to_fail: { integration: string; failure_probability: number; runs: number }[];
      tasks: {
        integration: string;
        estimate: { source: string; runs: number; p50_seconds: number; catalog_seconds: number };
      }[];
    }[];
    assert.ok(timeline);
    const security = timeline.tasks.find((t) => t.integration === "security")!.estimate;
    assert.equal(security.source, "learned");
    assert.equal(security.runs, 30);
    assert.ok(Math.abs(security.p50_seconds - 3.1) < 0.2, `security p50 ${security.p50_seconds}`);
    assert.equal(security.catalog_seconds, 20);
    // Firestore succeeded 24 times at about 5 s: security then firestore is about 8 s, not the catalog's 50.
    assert.ok(Math.abs(timeline.estimated_seconds - 8.2) < 0.5, `estimated ${timeline.estimated_seconds}`);
    assert.ok(timeline.estimated_seconds_p90 >= timeline.estimated_seconds);
    assert.equal(timeline.most_likely_to_fail[0]?.integration, "firestore");
    assert.equal(timeline.most_likely_to_fail[0]?.runs, 30);
    assert.ok(timeline.failure_probability > 0.1 && timeline.failure_probability < 0.4);
  });

  it("POST /deploy answers an estimated completion from history, with what it rests on", async () => {
    const before = Date.now();
    const answer = await api("POST", "/deploy", { environment: "dev", integrations: ["security"] });
    assert.equal(answer.status, 202, JSON.stringify(answer.body));
    const estimate = answer.body.estimate as { estimated_seconds: number; runs: number; sources: string[] };
    assert.deepEqual(estimate.sources, ["learned"]);
    assert.equal(estimate.runs, 30);
    const completion = Date.parse(answer.body.estimated_completion as string);
    assert.ok(completion - before < 10_000, "about 3 s from now, not the catalog's 20 s");
    // The deployment really runs: it ends here, so its alerts and writes never land in a later suite.
    const deployments = createEngineStore(adminDb()).deployments;
    await waitFor("the deployment to end", async () => {
      const status = (await deployments.doc(answer.body.deployment_id as string).get()).data()?.status;
      return status !== undefined && (TERMINAL_DEPLOYMENT_STATUSES as readonly string[]).includes(status);
    });
  });

  it("a finished deployment whose run is far slower than its history opens an anomaly alert with the evidence", async () => {
    const slow = await writeRun("hist-slow", 31, { security: 60 });
    const services = createServices({ db: adminDb(), bus: recordingBus() });
    await services.operations.deploymentFinished(slow);
    const alerts = typedCollection(adminDb(), COLLECTIONS.alerts, alertDocSchema);
    const found = (await alerts.where("source", "==", "anomaly").get()).docs.map((doc) => doc.data());
    const anomaly = found.find((alert) => alert.deployment_id === "hist-slow");
    assert.ok(anomaly, `anomaly alerts: ${JSON.stringify(found)}`);
    assert.equal(anomaly.integration, "security");
    assert.equal(anomaly.status, "open");
    assert.equal(anomaly.evidence?.metric, "duration");
    assert.equal(anomaly.evidence?.observed, 60);
    assert.ok(anomaly.evidence.runs >= 20);
    assert.ok(anomaly.evidence.expected_high < 60 && anomaly.evidence.typical < 3.3);
    // Delivered twice, still one alert.
    await services.operations.deploymentFinished(slow);
    const again = (await alerts.where("source", "==", "anomaly").get()).docs.filter(
      (doc) => doc.data().deployment_id === "hist-slow",
    );
    assert.equal(again.length, 1);
  });

  it("reads the history back for the backtest, leaving out what the config cannot plan, and halves the catalog's error", async () => {
    const { id: _id, ...gone } = await writeRun("hist-gone", 40, { security: 3 });
    await createEngineStore(adminDb())
      .deployments.doc("hist-gone")
      .set({ ...gone, environment: "gone" });
    const config = validateConfig(exampleConfig());
    assert.ok(config.ok);
    const history = await loadReplayHistory(adminDb(), config.config.environments);
    const byId = new Map(history.deployments.map((d) => [d.id, d]));
    for (let index = 0; index < 30; index++) {
      const replayed = byId.get(`hist-${String(index).padStart(2, "0")}`);
      assert.ok(replayed, `hist-${index} replayed`);
      // As written: security then firestore, each its own seconds.
      const expected = 3 + (index % 3) * 0.1 + 5 + (index % 4) * 0.1;
      assert.ok(
        Math.abs(replayed.actual_seconds - expected) < 1e-6,
        `${replayed.id}: ${replayed.actual_seconds}`,
      );
      assert.equal(replayed.tasks.length, 2);
      assert.equal(replayed.status, index % 5 === 2 ? "failed" : "succeeded");
    }
    assert.deepEqual(
      history.skipped.filter((s) => s.id === "hist-gone"),
      [{ id: "hist-gone", reason: "environment gone is not in the loaded config" }],
    );
    const report = backtest(
      history.deployments.filter((d) => d.id.startsWith("hist-")),
      config.config.environments,
    );
    // The catalog says 20 s and 30 s for runs of about 3 s and 5 s: the learned error is far smaller.
    assert.ok(report.deployment_duration.mae_ratio >= 2, JSON.stringify(report.deployment_duration));
    assert.ok(report.deployment_duration.catalog.mae > 30, JSON.stringify(report.deployment_duration));
  });
});
