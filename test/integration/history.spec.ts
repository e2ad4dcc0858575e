import assert from "node:assert/strict";
import { validateConfig } from "../../functions/src/domain/config.js";
import type { Deployment, DeploymentDoc, TaskDoc } from "../../functions/src/domain/engine-model.js";
import { COLLECTIONS, alertDocSchema, type AlertDoc } from "../../functions/src/domain/model.js";
import { planDeployment } from "../../functions/src/domain/planner.js";
import { createEngineStore } from "../../functions/src/store/engine-store.js";
import { createHistory } from "../../functions/src/store/history.js";
import { createStore } from "../../functions/src/store/store.js";
import { typedCollection } from "../../functions/src/store/typed-collection.js";
import { exampleConfig } from "../support/config-builder.js";
import { adminDb, clearFirestore, requireEmulators } from "../support/emulators.js";

const day = (n: number, hour = 0) => new Date(Date.UTC(2026, 10, n, hour));
const RANGE = { from: day(10), to: day(20) };

/** Writes a finished deployment of `environment` created at `created`, with its planned tasks succeeded. */
async function writeDeployment(
  id: string,
  environment: string,
  created: Date,
  integrations = ["security", "auth"],
) {
  const config = validateConfig(exampleConfig());
  assert.ok(config.ok);
  const env = config.config.environments.find((e) => e.name === environment);
  assert.ok(env);
  const planned = planDeployment(
    id,
    { environment, integrations, configuration: {}, requested_by: "history.spec" },
    env,
    created,
  );
  assert.ok(planned.ok);
  const engine = createEngineStore(adminDb());
  const started = new Date(created.getTime() + 1000);
  const tasks = planned.plan.tasks.map(({ id: taskId, ...doc }, index): [string, TaskDoc] => [
    taskId,
    {
      ...doc,
      status: "succeeded",
      started_at: started,
      completed_at: new Date(started.getTime() + (index + 1) * 5000),
      actual_duration: (index + 1) * 5,
      attempt: 1,
      applied: true,
    },
  ]);
  const doc: DeploymentDoc = {
    status: "succeeded",
    environment,
    integrations,
    configuration: {},
    requested_by: "history.spec",
    rollback_policy: "failed-only",
    approval: null,
    expire_at: null,
    created_at: created,
    task_ids: tasks.map(([taskId]) => taskId),
    estimated_completion: planned.plan.estimatedCompletion,
    critical_path: planned.plan.criticalPath,
    started_at: started,
    completed_at: new Date(started.getTime() + 10_000),
    actual_duration: 10,
    error_message: null,
    correlation_id: id,
  };
  await engine.deployments.doc(id).set(doc);
  await Promise.all(tasks.map(([taskId, task]) => engine.tasks.doc(taskId).set(task)));
  return { id, tasks: tasks.map(([taskId]) => taskId) };
}

async function writeAlert(id: string, environment: string, opened: Date): Promise<void> {
  const alert: AlertDoc = {
    level: "warning",
    status: "open",
    source: "health",
    environment,
    integration: "hosting",
    deployment_id: null,
    message: "degraded",
    opened_at: opened,
    last_seen_at: opened,
    resolved_at: null,
  };
  await typedCollection(adminDb(), COLLECTIONS.alerts, alertDocSchema).doc(id).set(alert);
}

const ids = (deployments: Deployment[]) => deployments.map((d) => d.id);

describe("history on the Firestore emulator", function () {
  before(function () {
    requireEmulators(this);
  });
  beforeEach(clearFirestore);

  it("loads exactly the deployments created in the range, their tasks, alerts opened in it, and the integrations", async () => {
    await createStore(adminDb()).loadConfig(
      (() => {
        const config = validateConfig(exampleConfig());
        assert.ok(config.ok);
        return config.config;
      })(),
      exampleConfig(),
      day(1),
    );
    const before = await writeDeployment("before", "dev", day(9, 23));
    const first = await writeDeployment("first", "dev", day(10));
    const second = await writeDeployment("second", "prod", day(15), ["security"]);
    const last = await writeDeployment("last", "dev", day(19, 23));
    await writeDeployment("at-end", "dev", day(20));
    await writeAlert("old", "dev", day(9));
    await writeAlert("new", "prod", day(12));

    const history = await createHistory(adminDb()).load(RANGE);
    assert.deepEqual(
      ids(history.deployments),
      ["last", "second", "first"],
      "newest first; from inclusive, to exclusive",
    );
    assert.deepEqual(
      history.tasks.map((t) => t.id).sort(),
      [...first.tasks, ...second.tasks, ...last.tasks].sort(),
    );
    assert.ok(!history.tasks.some((t) => before.tasks.includes(t.id)));
    assert.ok(history.deployments[0]?.created_at instanceof Date, "timestamps come back as Dates");
    assert.deepEqual(
      history.alerts.map((a) => a.id),
      ["new"],
    );
    assert.equal(history.integrations.length, 30);
    assert.equal(history.truncated, false);
    assert.deepEqual(history.range, RANGE);
    assert.equal(history.environment, null);
  });

  it("limits the history to one environment when asked", async () => {
    await writeDeployment("dev-1", "dev", day(11));
    await writeDeployment("prod-1", "prod", day(12), ["security"]);
    await writeAlert("dev-alert", "dev", day(11));
    await writeAlert("prod-alert", "prod", day(12));
    const history = await createHistory(adminDb()).load(RANGE, "prod");
    assert.deepEqual(ids(history.deployments), ["prod-1"]);
    assert.deepEqual(
      history.tasks.map((t) => t.environment),
      ["prod"],
    );
    assert.deepEqual(
      history.alerts.map((a) => a.id),
      ["prod-alert"],
    );
    assert.equal(history.environment, "prod");
  });

  it("stops at the read limit, keeps the newest and says it was truncated", async () => {
    for (const n of [11, 12, 13]) await writeDeployment(`d${n}`, "dev", day(n), ["security"]);
    const history = await createHistory(adminDb(), { deployments: 2, alerts: 10 }).load(RANGE);
    assert.deepEqual(ids(history.deployments), ["d13", "d12"]);
    assert.equal(history.tasks.length, 2);
    assert.equal(history.truncated, true);
    assert.deepEqual(history.limits, { deployments: 2, alerts: 10 });

    const exact = await createHistory(adminDb(), { deployments: 3, alerts: 10 }).load(RANGE);
    assert.equal(exact.truncated, false);
  });

  it("an empty window loads empty", async () => {
    const history = await createHistory(adminDb()).load(RANGE);
    assert.deepEqual(
      [history.deployments, history.tasks, history.alerts, history.integrations],
      [[], [], [], []],
    );
    assert.equal(history.truncated, false);
  });
});
