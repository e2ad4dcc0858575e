/**
 * The engine's worst days, one defect each (issue 10): lost triggers, a removed environment, slow
 * drivers, stale attempts, leaked reservations, head-of-line blocking, crashes between a commit and
 * its side effects, a policy changed mid-deployment, rollbacks run twice. Each test plants the state
 * a fault leaves behind (documents created directly fire no task trigger, as a lost trigger would)
 * or drives the fault itself, then checks the engine repairs it; each is written against the old
 * engine's behaviour for the defect it names (issue 10's list).
 */
import assert from "node:assert/strict";
import { createServices } from "../../functions/src/app.js";
import type { Bus, OrchestrationEvent } from "../../functions/src/bus.js";
import { StaleAttemptError } from "../../functions/src/domain/errors.js";
import { integrationDocId } from "../../functions/src/domain/model.js";
import { taskEventId } from "../../functions/src/engine/engine.js";
import { createOutbox } from "../../functions/src/store/outbox.js";
import { createReleaseStore } from "../../functions/src/store/releases.js";
import { adminDb, api, clearFirestore, requireEmulators, waitFor } from "../support/emulators.js";
import {
  byIntegration,
  deploy,
  engineStore,
  loadTestConfig,
  settled,
  simulatedRuns,
} from "../support/engine.js";
import { configWith } from "../support/config-builder.js";
import { expiredRunning, past, plantDeployment, SIMULATED, succeeded } from "../../scripts/lib/faults.js";

/** A bus that keeps what it is given, for in-process engine steps. */
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

const plant = (...args: Parameters<typeof plantDeployment> extends [unknown, ...infer Rest] ? Rest : never) =>
  plantDeployment(adminDb(), ...args);

describe("the engine under faults (issue 10 defects)", function () {
  this.timeout(120_000);

  before(function () {
    requireEmulators(this);
  });
  beforeEach(async () => {
    await clearFirestore();
    await loadTestConfig();
  });

  it("defect 2: a lost task trigger does not hang the deployment: the sweeper releases the dependent and it runs", async () => {
    await plant("lost-trigger", "dev", ["auth", "functions"], (task) =>
      task.integration === "auth" ? succeeded(task) : task,
    );
    const swept = await api("POST", "/jobs/sweep");
    assert.equal(swept.status, 200, JSON.stringify(swept.body));
    assert.ok(swept.body.reconciled >= 1, JSON.stringify(swept.body));
    const { deployment, tasks } = await settled("lost-trigger");
    assert.equal(deployment.status, "succeeded");
    assert.equal(byIntegration(tasks).get("functions")!.status, "succeeded");
  });

  it("defect 2: a lost finalizer does not hang the deployment: every task settled, the sweeper ends it", async () => {
    await plant("lost-finalizer", "dev", ["auth", "functions"], succeeded);
    await api("POST", "/jobs/sweep");
    const { deployment } = await settled("lost-finalizer", 10_000);
    assert.equal(deployment.status, "succeeded");
  });

  it("defect 2: an environment left provisioning after its deployment ended is settled by the sweeper", async () => {
    const { deployment } = await plant("provisioned", "staging", ["auth"], succeeded, {
      ...SIMULATED,
      provision: true,
    });
    const { id, ...doc } = deployment;
    await engineStore()
      .deployments.doc(id)
      .set({
        ...doc,
        status: "succeeded",
        completed_at: past(1000),
        actual_duration: 59,
      });
    const services = createServices({ db: adminDb() });
    await services.store.setEnvironmentStatus("staging", "provisioning", past(30_000));
    const swept = await api("POST", "/jobs/sweep");
    assert.equal(swept.body.environments_settled, 1, JSON.stringify(swept.body));
    assert.equal((await services.store.getEnvironment("staging"))?.status, "ready");
  });

  it("defect 3: an environment removed from the config does not stop the sweep of the others", async () => {
    await plant("ghost-env", "lab", ["auth"], expiredRunning);
    await plant("stuck-dev", "dev", ["auth", "functions"], (task) =>
      task.integration === "auth" ? succeeded(task) : task,
    );
    // `lab` leaves the config while its task's lease is out.
    const response = await api(
      "POST",
      "/config",
      configWith(() => undefined),
    );
    assert.equal(response.status, 200, JSON.stringify(response.body));
    const swept = await api("POST", "/jobs/sweep");
    assert.equal(swept.status, 200, JSON.stringify(swept.body));
    assert.equal(swept.body.expired, 1);
    assert.equal((await settled("stuck-dev")).deployment.status, "succeeded");
    // The removed environment's deployment still ends, on the limits it was planned with.
    assert.equal((await settled("ghost-env")).deployment.status, "succeeded");
  });

  it("defect 4: a driver slower than its lease keeps it with heartbeats: one attempt, nothing for the sweeper", async () => {
    const id = await deploy({
      environment: "dev",
      integrations: ["auth"],
      configuration: { ...SIMULATED, lease_seconds: 1, simulate: { auth: { latency_ms: 5000 } } },
    });
    const taskId = `${id}--auth`;
    await waitFor(
      "the attempt to start",
      async () => (await engineStore().getTask(taskId))?.status === "running",
    );
    let expired = 0;
    while ((await engineStore().getTask(taskId))?.status === "running") {
      expired += (await api("POST", "/jobs/sweep")).body.expired as number;
      await new Promise((resolve) => setTimeout(resolve, 400));
    }
    assert.equal(expired, 0, "the sweeper took the lease of a live attempt");
    const { deployment, tasks } = await settled(id);
    assert.equal(deployment.status, "succeeded");
    assert.equal(tasks[0]!.attempt, 1);
    assert.deepEqual(
      (await simulatedRuns(id)).map((run) => [run.attempt, run.runs]),
      [[1, 1]],
    );
  });

  it("a lost executor's lease expires: the sweeper gives the work to attempt 2, which finishes it", async () => {
    const { tasks } = await plant("lost-executor", "dev", ["auth"], expiredRunning);
    const swept = await api("POST", "/jobs/sweep");
    assert.equal(swept.body.expired, 1, JSON.stringify(swept.body));
    const { deployment, tasks: after } = await settled("lost-executor");
    assert.equal(deployment.status, "succeeded");
    assert.equal(after[0]!.attempt, 2);
    assert.equal(after[0]!.retry_count, 1, "the lost attempt counts against the retries");
    assert.deepEqual(
      (await simulatedRuns("lost-executor")).map((run) => [run.task_id, run.attempt, run.runs]),
      [[tasks[0]!.id, 2, 1]],
    );
  });

  it("defect 4: an attempt that lost its lease can neither record a release nor mark its integration", async () => {
    const { tasks } = await plant("fenced", "dev", ["auth"], (task) => ({
      ...expiredRunning(task),
      attempt: 2,
      lease_expires_at: new Date(Date.now() + 60_000),
    }));
    const task = tasks[0]!;
    const releases = createReleaseStore(adminDb());
    const release = {
      environment: "dev",
      integration: "auth",
      kind: "auth" as const,
      mode: "emulated" as const,
      state: { v: 1 },
      digest: "d",
      artifact: null,
      deployment_id: "fenced",
      action: "apply" as const,
      undoes: null,
      created_at: new Date(),
    };
    await assert.rejects(
      releases.record(release, { path: `orchestration_tasks/${task.id}`, attempt: 1 }),
      StaleAttemptError,
    );
    assert.deepEqual(await releases.list("dev", "auth"), []);
    const integrationRef = adminDb().collection("integrations").doc(integrationDocId("dev", "auth"));
    const before = (await integrationRef.get()).data();
    const { outcome } = await engineStore().recordOutcome(
      task,
      1,
      { type: "succeed", now: new Date() },
      0,
      () => [],
      () => [],
      { status: "deployed", release: 7 },
    );
    assert.equal(outcome.changed, false);
    assert.deepEqual((await integrationRef.get()).data(), before);
    assert.equal(
      (await releases.record(release, { path: `orchestration_tasks/${task.id}`, attempt: 2 })).number,
      1,
    );
  });

  it("defect 5: a refused claim gives its reservation back, so dispatch is not stalled", async () => {
    const { tasks } = await plant("refused", "dev", ["auth"], (task) => ({
      ...expiredRunning(task),
      lease_expires_at: new Date(Date.now() + 60_000),
    }));
    const task = tasks[0]!;
    const reservation = adminDb().collection("task_reservations").doc(task.id);
    await reservation.set({ environment: "dev", deployment_id: "refused", reserved_at: new Date() });
    const claim = await engineStore().claimTask(task.id, { now: () => new Date() }, () => []);
    assert.equal(claim.claimed, false);
    assert.equal((await reservation.get()).exists, false, "the reservation of a refused claim leaked");
  });

  it("defect 6: dispatch passes over a task waiting out a long backoff and reserves ready work behind it", async () => {
    await plant("backing-off", "dev", ["auth"], (task) => ({
      ...task,
      status: "ready",
      priority: 100,
      retry_count: 1,
      attempt: 1,
      ready_at: past(1000),
      not_before: new Date(Date.now() + 10 * 60_000),
    }));
    await plant("ready-now", "dev", ["hosting"], (task) => ({
      ...task,
      status: "ready",
      priority: 1,
      ready_at: past(1000),
    }));
    const now = new Date();
    const due = await engineStore().dueReadyTasks("dev", 1, now);
    const reserved = await engineStore().reserve("dev", due, 1, now, 0);
    assert.deepEqual(
      reserved.map((task) => task.deployment_id),
      ["ready-now"],
    );
  });

  it("defect 7: a crash between a commit and its side effects loses nothing: the sweeper relays the outbox", async () => {
    const { tasks } = await plant("crashed", "dev", ["auth"], expiredRunning);
    const bus = recordingBus();
    const later = { now: () => new Date(Date.now() + 120_000) };
    const services = createServices({ db: adminDb(), bus, clock: later });
    // The step commits the lease expiry with its facts and dies before delivering them.
    const committed = await services.engineStore.expireLease(tasks[0]!.id, later.now(), (before, after) => [
      {
        event: {
          event_id: taskEventId("lease_expired", after),
          kind: "task",
          deployment_id: after.deployment_id,
          task_id: after.id,
          environment: after.environment,
          integration: after.integration,
          from: before.status,
          to: after.status,
          attempt: after.attempt,
          detail: "crash test",
          correlation_id: after.deployment_id,
          at: later.now().toISOString(),
          duration: null,
          actor: null,
          payload: null,
        },
        audit: {
          actor: { kind: "system", id: "engine", role: null },
          action: "task.lease_expired",
          target: after.id,
          source: "trigger",
          outcome: "ok",
          status: null,
          correlation_id: after.deployment_id,
          detail: null,
        },
        finished_deployment: null,
        created_at: new Date(),
      },
    ]);
    assert.ok(committed.changed);
    const id = taskEventId("lease_expired", committed.after);
    const outbox = createOutbox(adminDb());
    assert.ok(await outbox.get(id), "the fact was committed with the change");
    await services.engine.sweep();
    assert.equal(await outbox.get(id), undefined, "the sweeper delivered it");
    assert.deepEqual(
      bus.events.filter((event) => event.event_id === id).map((event) => event.to),
      ["ready"],
    );
    await services.engine.sweep();
    assert.equal(bus.events.filter((event) => event.event_id === id).length, 1, "delivered once");
  });

  it("defect 10: a deployment ends by the rollback policy it was planned with, whatever config is loaded meanwhile", async () => {
    const id = await deploy({
      environment: "lab",
      integrations: ["auth", "functions"],
      configuration: {
        ...SIMULATED,
        max_retries: 0,
        simulate: { functions: { latency_ms: 3000, fail_always: true } },
      },
    });
    await waitFor(
      "functions to start",
      async () => (await engineStore().getTask(`${id}--functions`))?.status === "running",
    );
    const strict = configWith((config) => {
      config.environments.push({
        name: "lab",
        type: "development",
        project_id: "demo-acme-lab",
        mode: "emulated",
        concurrency: 2,
        rollback_policy: "all",
        integrations: ["auth", "functions"],
      });
    });
    assert.equal((await api("POST", "/config", strict)).status, 200);
    const { deployment, tasks } = await settled(id);
    assert.equal(deployment.rollback_policy, "failed-only");
    assert.equal(deployment.status, "failed");
    assert.equal(byIntegration(tasks).get("auth")!.status, "succeeded", "auth was not to be rolled back");
  });

  it("defect 1: under policy all each applied task is rolled back exactly once, however often finalizing runs", async () => {
    const id = await deploy({
      environment: "prod",
      integrations: ["security", "auth", "firestore", "functions", "hosting"],
      configuration: { ...SIMULATED, max_retries: 0, simulate: { hosting: { fail_always: true } } },
    });
    const { deployment } = await settled(id);
    assert.equal(deployment.status, "rolled_back");
    // Late and duplicate deliveries: the sweeper and every task's trigger run again.
    const services = createServices({ db: adminDb() });
    await Promise.all([services.engine.sweep(), services.engine.reconcile(id), api("POST", "/jobs/sweep")]);
    const rollbacks = (await simulatedRuns(id)).filter((run) => run.action === "rollback");
    assert.deepEqual(
      rollbacks.map((run) => run.runs),
      [1, 1, 1, 1, 1],
      "one rollback per task",
    );
    const calls = await adminDb().collection("simulated_runs").where("action", "==", "rollback").get();
    for (const doc of calls.docs)
      assert.equal(doc.data().repeats, undefined, `${doc.id}: the driver was asked to roll back twice`);
  });
});
