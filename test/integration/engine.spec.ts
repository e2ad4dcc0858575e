import assert from "node:assert/strict";
import { PubSub, type Message } from "@google-cloud/pubsub";
import { createServices } from "../../functions/src/app.js";
import { TOPICS } from "../../functions/src/bus.js";
import { adminDb, api, clearFirestore, projectId, requireEmulators, waitFor } from "../support/emulators.js";
import {
  ALL_TEN,
  byIntegration,
  deploy,
  engineStore,
  LAB_INSTANCES,
  loadTestConfig,
  settled,
  simulatedRuns,
} from "../support/engine.js";

const millis = (date: Date | null) => date?.getTime() ?? Number.NaN;

describe("the engine on the emulators", function () {
  this.timeout(120_000);

  before(function () {
    requireEmulators(this);
  });
  beforeEach(async () => {
    await clearFirestore();
    await loadTestConfig();
  });

  it("runs a deployment requested by a document write, all ten integrations in dependency order", async () => {
    const id = "doc-write-dev";
    await adminDb()
      .collection("deployments")
      .doc(id)
      .set({
        status: "requested",
        environment: "dev",
        integrations: ALL_TEN,
        configuration: { driver: "simulated", simulate: { "*": { latency_ms: 50 } } },
        requested_by: "system:engine.spec",
      });
    const { deployment, tasks } = await settled(id);
    assert.equal(deployment.status, "succeeded", deployment.error_message ?? "");
    assert.equal(tasks.length, 10);
    assert.ok(deployment.actual_duration !== null && deployment.actual_duration > 0);
    const byId = new Map(tasks.map((task) => [task.id, task]));
    for (const task of tasks) {
      assert.equal(task.status, "succeeded");
      assert.equal(task.driver, "simulated");
      assert.ok(task.actual_duration !== null);
      for (const dependencyId of task.dependencies) {
        const dependency = byId.get(dependencyId);
        assert.ok(
          millis(task.started_at) >= millis(dependency?.completed_at ?? null),
          `${task.integration} started ${task.started_at?.toISOString()} before ${dependency?.integration} finished ${dependency?.completed_at?.toISOString()}`,
        );
      }
    }
    const named = byIntegration(tasks);
    assert.ok(
      millis(named.get("monitoring")!.started_at) >=
        Math.max(...tasks.filter((t) => t.integration !== "monitoring").map((t) => millis(t.completed_at))),
    );
  });

  it("refuses a malformed deployment document by failing it with the reason", async () => {
    await adminDb()
      .collection("deployments")
      .doc("doc-bad")
      .set({
        status: "requested",
        environment: "nowhere",
        integrations: ["auth"],
        requested_by: "system:engine.spec",
      });
    const { deployment } = await settled("doc-bad");
    assert.equal(deployment.status, "failed");
    assert.match(deployment.error_message ?? "", /environment "nowhere" is not declared/);
  });

  for (const [name, doc, reason] of [
    [
      "integrations that are not a list",
      { status: "requested", environment: "dev", integrations: "auth" },
      /integrations: found string "auth"; allowed: an array/,
    ],
    [
      "an unknown integration",
      {
        status: "requested",
        environment: "dev",
        integrations: ["auth", "crashlytics"],
        requested_by: "system:engine.spec",
      },
      /integrations\[1\]: found "crashlytics", not declared|integrations\[1\]: found string "crashlytics"/,
    ],
    [
      "an unknown field",
      { status: "requested", environment: "dev", integrations: ["auth"], colour: "red" },
      /colour: found unknown key "colour"/,
    ],
  ] as const) {
    it(`fails a deployment document with ${name}, saying why`, async () => {
      await adminDb().collection("deployments").doc("doc-malformed").set(doc);
      const { deployment, tasks } = await settled("doc-malformed");
      assert.equal(deployment.status, "failed");
      assert.match(deployment.error_message ?? "", reason);
      assert.equal(tasks.length, 0);
    });
  }

  it("does each attempt's driver work once when every task message arrives twice, some out of order, and the trigger fires again", async () => {
    const pubsub = new PubSub({ projectId: projectId() });
    const [subscription] = await pubsub.topic(TOPICS.tasks).createSubscription(`duplicator-${Date.now()}`);
    const duplicates: Promise<unknown>[] = [];
    let originals = 0;
    const onMessage = (message: Message) => {
      message.ack();
      if (message.attributes.duplicate) return;
      originals += 1;
      const payload = JSON.parse(message.data.toString()) as unknown;
      // One copy at once, one late: the executor sees each message two or three times, out of order.
      duplicates.push(
        pubsub.topic(TOPICS.tasks).publishMessage({ json: payload, attributes: { duplicate: "1" } }),
      );
      const delay = Math.floor(Math.random() * 400);
      duplicates.push(
        new Promise((resolve) => setTimeout(resolve, delay)).then(() =>
          pubsub.topic(TOPICS.tasks).publishMessage({ json: payload, attributes: { duplicate: "2" } }),
        ),
      );
    };
    subscription.on("message", onMessage);
    try {
      const id = await deploy({
        environment: "dev",
        integrations: ALL_TEN,
        configuration: { driver: "simulated", simulate: { "*": { latency_ms: 30 } } },
      });
      const { deployment, tasks } = await settled(id);
      assert.equal(deployment.status, "succeeded");
      // An executor that frees a slot runs the next task itself, so fewer messages go out than tasks.
      assert.ok(originals >= 1, "no task message was seen");
      assert.equal(duplicates.length, 2 * originals, "each message published twice more");
      await Promise.all(duplicates);

      // Every task succeeded on the plain path, so none left a settlement: its executor finished
      // the deployment. What a late settlement trigger does is reconcile the deployment: once more a task.
      const services = createServices({ db: adminDb() });
      for (const task of tasks) {
        const settlement = await adminDb().collection("task_settlements").doc(task.id).get();
        assert.equal(settlement.exists, false, `${task.integration} left a settlement`);
        await services.engine.reconcile(id);
      }

      const runs = await simulatedRuns(id);
      const applies = runs.filter((run) => run.action === "apply");
      assert.equal(applies.length, 10, "one attempt per task");
      for (const run of applies) assert.equal(run.runs, 1, `${run.id} ran ${run.runs} times`);
      assert.equal(runs.filter((run) => run.action === "rollback").length, 0);
      const after = await settled(id);
      assert.equal(after.deployment.status, "succeeded");
      assert.deepEqual(
        after.tasks.map((task) => [task.integration, task.status, task.attempt]).sort(),
        ALL_TEN.map((name) => [name, "succeeded", 1]).sort(),
      );
    } finally {
      subscription.off("message", onMessage);
      await subscription.close();
      await subscription.delete();
    }
  });

  it("publishes every state change to orchestration-events with a dedupe key", async () => {
    const pubsub = new PubSub({ projectId: projectId() });
    const [subscription] = await pubsub.topic(TOPICS.events).createSubscription(`events-${Date.now()}`);
    const events: {
      event_id: string;
      kind: string;
      task_id: string | null;
      from: string | null;
      to: string;
      deployment_id: string | null;
    }[] = [];
    const onMessage = (message: Message) => {
      message.ack();
      assert.equal(
        message.attributes.dedupe_key,
        (JSON.parse(message.data.toString()) as { event_id: string }).event_id,
      );
      events.push(JSON.parse(message.data.toString()) as (typeof events)[number]);
    };
    subscription.on("message", onMessage);
    try {
      const id = await deploy({
        environment: "dev",
        integrations: ["auth", "firestore"],
        configuration: { driver: "simulated", retry_base_ms: 50, simulate: { auth: { fail_first: 1 } } },
      });
      const { tasks } = await settled(id);
      await waitFor("the deployment's final event", () =>
        Promise.resolve(
          events.some(
            (event) => event.kind === "deployment" && event.deployment_id === id && event.to === "succeeded",
          ),
        ),
      );
      const mine = events.filter((event) => event.deployment_id === id);
      const unique = new Map(mine.map((event) => [event.event_id, event]));
      const transitions = (taskId: string) =>
        [...unique.values()]
          .filter((event) => event.task_id === taskId)
          .map((event) => `${event.from}->${event.to}`);
      const auth = tasks.find((task) => task.integration === "auth")!;
      const firestore = tasks.find((task) => task.integration === "firestore")!;
      assert.deepEqual(transitions(firestore.id).sort(), ["ready->running", "running->succeeded"].sort());
      assert.deepEqual(
        transitions(auth.id).sort(),
        ["ready->running", "ready->running", "running->ready", "running->succeeded"].sort(),
      );
      const deployment = [...unique.values()]
        .filter((event) => event.kind === "deployment")
        .map((event) => `${event.from}->${event.to}`);
      assert.deepEqual(deployment.sort(), ["requested->running", "running->succeeded"].sort());
    } finally {
      subscription.off("message", onMessage);
      await subscription.close();
      await subscription.delete();
    }
  });

  it("retries a transient failure with visible backoff and succeeds on attempt 3", async () => {
    const id = await deploy({
      environment: "dev",
      integrations: ["auth", "firestore", "functions"],
      configuration: { driver: "simulated", retry_base_ms: 400, simulate: { functions: { fail_first: 2 } } },
    });
    const { deployment, tasks } = await settled(id);
    assert.equal(deployment.status, "succeeded");
    const functions = byIntegration(tasks).get("functions")!;
    assert.equal(functions.attempt, 3);
    assert.equal(functions.retry_count, 2);
    const attempts = (await simulatedRuns(id))
      .filter((run) => run.task_id === functions.id)
      .sort((a, b) => a.attempt - b.attempt);
    assert.deepEqual(
      attempts.map((run) => [run.attempt, run.runs]),
      [
        [1, 1],
        [2, 1],
        [3, 1],
      ],
    );
    // Backoff with jitter: retry n waits at least half of base * 2^(n-1).
    const gap1 = attempts[1]!.at.getTime() - attempts[0]!.at.getTime();
    const gap2 = attempts[2]!.at.getTime() - attempts[1]!.at.getTime();
    assert.ok(gap1 >= 200, `first retry after ${gap1} ms, before its time`);
    assert.ok(gap2 >= 400, `second retry after ${gap2} ms, before its time`);
  });

  it("on permanent failure (policy failed-only) runs the fallback, skips dependents and names the cause", async () => {
    const id = await deploy({
      environment: "dev",
      integrations: ["security", "auth", "firestore", "functions", "hosting", "monitoring"],
      configuration: {
        driver: "simulated",
        retry_base_ms: 50,
        max_retries: 1,
        simulate: { functions: { fail_always: true } },
      },
    });
    const { deployment, tasks } = await settled(id);
    const named = byIntegration(tasks);
    assert.equal(deployment.status, "failed");
    assert.match(
      deployment.error_message ?? "",
      new RegExp(
        `task ${id}--functions \\(integration functions in dev\\) failed: attempt 2 of 2: simulated failure`,
      ),
    );
    assert.equal(named.get("functions")!.status, "failed");
    assert.match(named.get("functions")!.rollback_note ?? "", /fallback: simulated rollback of functions/);
    for (const skipped of ["hosting", "monitoring"]) {
      assert.equal(named.get(skipped)!.status, "skipped");
      assert.match(named.get(skipped)!.reason ?? "", /skipped because/);
    }
    for (const kept of ["security", "auth", "firestore"])
      assert.equal(named.get(kept)!.status, "succeeded", `${kept} stays applied under failed-only`);
  });

  it("on permanent failure in production (policy all) rolls back every applied task in reverse dependency order", async () => {
    const id = await deploy({
      environment: "prod",
      integrations: ["security", "auth", "firestore", "storage", "functions", "hosting", "monitoring"],
      configuration: {
        driver: "simulated",
        retry_base_ms: 50,
        max_retries: 1,
        simulate: { hosting: { fail_always: true } },
      },
    });
    const { deployment, tasks } = await settled(id);
    assert.equal(deployment.status, "rolled_back");
    assert.match(deployment.error_message ?? "", /integration hosting in prod/);
    const named = byIntegration(tasks);
    for (const undone of ["security", "auth", "firestore", "storage", "functions"])
      assert.equal(named.get(undone)!.status, "rolled_back", undone);
    assert.equal(named.get("monitoring")!.status, "skipped");
    const rollbacks = new Map(
      (await simulatedRuns(id)).filter((run) => run.action === "rollback").map((run) => [run.task_id, run]),
    );
    for (const task of tasks.filter((t) => t.status === "rolled_back")) {
      for (const dependencyId of task.dependencies) {
        const mine = rollbacks.get(task.id)!;
        const theirs = rollbacks.get(dependencyId);
        if (theirs)
          assert.ok(
            mine.at <= theirs.at,
            `${task.integration} must be rolled back before its dependency ${dependencyId}`,
          );
      }
    }
  });

  it("never runs more than the environment's limit of 2 at once, with 20 independent tasks", async () => {
    const integrations = LAB_INSTANCES;
    const id = await deploy({
      environment: "lab",
      integrations,
      configuration: { driver: "simulated", simulate: { "*": { latency_ms: 150 } } },
    });
    const { deployment, tasks } = await settled(id, 90_000);
    assert.equal(deployment.status, "succeeded");
    assert.equal(tasks.length, 20);
    const edges = tasks.flatMap((task) => [
      { at: millis(task.started_at), delta: 1 },
      { at: millis(task.completed_at), delta: -1 },
    ]);
    edges.sort((a, b) => a.at - b.at || a.delta - b.delta);
    let running = 0;
    let peak = 0;
    for (const edge of edges) {
      running += edge.delta;
      peak = Math.max(peak, running);
    }
    assert.ok(peak <= 2, `${peak} tasks ran at once`);
    assert.equal(peak, 2, "the limit is used, not just respected");
  });

  it("cancels mid-way: nothing new starts, running work finishes, the deployment ends cancelled", async () => {
    const id = await deploy({
      environment: "dev",
      integrations: ["security", "auth", "functions", "hosting", "cicd"],
      configuration: { driver: "simulated", simulate: { "*": { latency_ms: 1500 } } },
    });
    await waitFor("the first task to run", async () =>
      (await engineStore().tasksOf(id)).some((task) => task.status === "running"),
    );
    const cancel = await api("POST", `/deployments/${id}/cancel`);
    assert.equal(cancel.status, 200);
    const cancelledAt = Date.now();
    const { deployment, tasks } = await settled(id);
    assert.equal(deployment.status, "cancelled");
    const cancelled = tasks.filter((task) => task.status === "cancelled");
    assert.ok(cancelled.length >= 3, `only ${cancelled.length} tasks cancelled`);
    for (const task of cancelled)
      assert.equal(task.started_at, null, `${task.integration} started after the cancel`);
    for (const task of tasks.filter((t) => t.started_at !== null)) {
      assert.equal(task.status, "succeeded", "running work finishes");
      assert.ok(millis(task.started_at) < cancelledAt);
    }
    const again = await api("POST", `/deployments/${id}/cancel`);
    assert.equal(again.body.deployment.status, "cancelled", "cancelling twice changes nothing");
  });

  for (const [name, body, path] of [
    ["an undeclared environment", { environment: "qa", integrations: ["auth"] }, "environment"],
    [
      "an unknown integration",
      { environment: "dev", integrations: ["auth", "crashlytics"] },
      "integrations[1]",
    ],
    ["no integrations", { environment: "dev", integrations: [] }, "integrations"],
    ["an unknown field", { environment: "dev", integrations: ["auth"], priority: "high" }, "priority"],
    [
      "a dependency cycle",
      {
        environment: "dev",
        integrations: ["auth", "functions"],
        configuration: { driver: "simulated", depends_on: { auth: ["functions"] } },
      },
      "configuration.depends_on",
    ],
    [
      "an unknown dependency",
      {
        environment: "dev",
        integrations: ["auth"],
        configuration: { driver: "simulated", depends_on: { auth: ["hosting"] } },
      },
      "configuration.depends_on.auth[0]",
    ],
    [
      "a negative retry count",
      { environment: "dev", integrations: ["auth"], configuration: { driver: "simulated", max_retries: -1 } },
      "configuration.max_retries",
    ],
  ] as const) {
    it(`refuses a deploy request with ${name} (400, names ${path}, writes nothing)`, async () => {
      const response = await api("POST", "/deploy", body);
      assert.equal(response.status, 400, JSON.stringify(response.body));
      assert.ok(
        response.body.error.problems.some((problem: { path: string }) => problem.path === path),
        JSON.stringify(response.body.error.problems),
      );
      if (name === "a dependency cycle")
        assert.match(response.body.error.message, /auth -> functions -> auth|functions -> auth -> functions/);
      assert.equal((await adminDb().collection("deployments").get()).size, 0);
      assert.equal((await adminDb().collection("orchestration_tasks").get()).size, 0);
    });
  }
});
