import assert from "node:assert/strict";
import fc from "fast-check";
import { validateConfig } from "../../functions/src/domain/config.js";
import {
  deploymentDocSchema,
  isRefusal,
  isTerminalTask,
  releasedBySuccess,
  slotProbeOrder,
  taskDocSchema,
  transitionDeployment,
  transitionTask,
  type DeploymentDoc,
  type Refusal,
  type TaskDoc,
  type TaskEvent,
} from "../../functions/src/domain/engine-model.js";
import { planDeployment, taskId, type DeploymentPlan } from "../../functions/src/domain/planner.js";
import { exampleConfig } from "../support/config-builder.js";

const T0 = new Date("2025-03-01T12:00:00.000Z");
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

/** Plans a dev deployment and returns it; task fixtures come from here, not from hand-written documents. */
function planned(
  integrations: string[] = ["security", "auth"],
  configuration: Record<string, unknown> = {},
): DeploymentPlan {
  const config = validateConfig(exampleConfig());
  assert.ok(config.ok);
  const dev = config.config.environments.find((env) => env.name === "dev");
  assert.ok(dev);
  const result = planDeployment(
    "dep-1",
    { environment: "dev", integrations, configuration, requested_by: "engine-model.spec" },
    dev,
    T0,
  );
  assert.ok(result.ok, result.ok ? "" : result.problems.map((p) => p.message).join("; "));
  return result.plan;
}

/**
 * A task document as the planner makes it. `security` has no dependencies (ready); `auth` waits for
 * security (blocked). Options such as max_retries go through the deployment's configuration.
 */
function taskFixture(
  integration: "security" | "auth" = "security",
  configuration: Record<string, unknown> = {},
): TaskDoc {
  const task = planned(["security", "auth"], configuration).tasks.find(
    (candidate) => candidate.integration === integration,
  );
  assert.ok(task);
  const { id, ...doc } = task;
  assert.equal(id, taskId("dep-1", integration));
  return doc;
}

/** Applies an event that must be accepted, and checks the result is a valid document. */
function apply(task: TaskDoc, event: TaskEvent): TaskDoc {
  const next = transitionTask(task, event);
  assert.ok(
    !isRefusal(next),
    `${event.type} on a ${task.status} task was refused: ${isRefusal(next) ? next.refused : ""}`,
  );
  taskDocSchema.parse(next);
  return next;
}

function refusal(result: TaskDoc | DeploymentDoc | Refusal): string {
  assert.ok(
    isRefusal(result),
    `expected a refusal, got a ${"status" in result ? result.status : "?"} document`,
  );
  return result.refused;
}

/** A running task, claimed at `at(claimSeconds)`. */
function runningTask(configuration: Record<string, unknown> = {}, claimSeconds = 10): TaskDoc {
  return apply(taskFixture("security", configuration), { type: "claim", now: at(claimSeconds) });
}

function failRetrying(task: TaskDoc, seconds: number, error = "boom"): TaskDoc {
  return apply(task, { type: "fail", now: at(seconds), error, retryAt: at(seconds + 5) });
}

describe("engine model", () => {
  describe("slotProbeOrder: which slots a claim reads, a few at a time", () => {
    it("starts at the task id's FNV-1a hash (published test vectors) modulo the limit", () => {
      // FNV-1a 32-bit: "a" -> 0xe40c292c, "foobar" -> 0xbf9cf968.
      const table: [string, number, number][] = [
        ["a", 100, 20],
        ["foobar", 100, 20],
        ["foobar", 7, 0],
        ["a", 1, 0],
      ];
      for (const [id, limit, start] of table)
        assert.equal(slotProbeOrder(id, limit)[0]![0], start, `${id} of ${limit}`);
    });

    it("reads four slots at a time round the ring, and looks at every slot exactly once", () => {
      assert.deepEqual(slotProbeOrder("foobar", 7), [
        [0, 1, 2, 3],
        [4, 5, 6],
      ]);
      // 0xe40c292c % 22 = 18.
      assert.deepEqual(slotProbeOrder("a", 22), [
        [18, 19, 20, 21],
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [8, 9, 10, 11],
        [12, 13, 14, 15],
        [16, 17],
      ]);
      assert.deepEqual(slotProbeOrder("a", 1), [[0]]);
      fc.assert(
        fc.property(fc.string(), fc.integer({ min: 1, max: 100 }), (id, limit) => {
          const reads = slotProbeOrder(id, limit);
          assert.equal(reads.length, Math.ceil(limit / 4));
          assert.ok(reads.every((read) => read.length >= 1 && read.length <= 4));
          assert.deepEqual(
            reads.flat().sort((x, y) => x - y),
            Array.from({ length: limit }, (_, index) => index),
          );
        }),
      );
    });

    it("spreads the claims of different tasks over the slots", () => {
      const starts = new Set(
        Array.from({ length: 100 }, (_, n) => slotProbeOrder(`dep-1__task-${n}`, 100)[0]![0]),
      );
      // 100 ids into 100 slots at random would leave about 63 distinct starts; far fewer means clustering.
      assert.ok(starts.size >= 50, `only ${starts.size} distinct first slots`);
    });
  });

  describe("releasedBySuccess: what a success releases in its own transaction", () => {
    type Status = TaskDoc["status"];
    const running = { status: "running", rollback_policy: "failed-only" } as const;
    // A just succeeded. Each row: the deployment, the dependents (id, status, dependencies), the
    // other tasks' statuses, and what the specification says: release when every dependency
    // succeeded, wait while one has not ended, leave it to reconcile (null) when one ended otherwise
    // or when the deployment is not plainly running.
    const table: [
      string,
      Pick<DeploymentDoc, "status" | "rollback_policy">,
      [string, Status, string[]][],
      Record<string, Status>,
      string[] | null,
    ][] = [
      ["its only dependency succeeded", running, [["D", "blocked", ["A"]]], {}, ["D"]],
      ["another dependency still runs", running, [["D", "blocked", ["A", "B"]]], { B: "running" }, []],
      ["another dependency waits to start", running, [["D", "blocked", ["A", "B"]]], { B: "ready" }, []],
      ["every dependency succeeded", running, [["D", "blocked", ["A", "B"]]], { B: "succeeded" }, ["D"]],
      ["another dependency failed", running, [["D", "blocked", ["A", "B"]]], { B: "failed" }, null],
      ["another dependency was skipped", running, [["D", "blocked", ["A", "B"]]], { B: "skipped" }, null],
      ["another dependency was cancelled", running, [["D", "blocked", ["A", "B"]]], { B: "cancelled" }, null],
      [
        "another dependency was rolled back",
        running,
        [["D", "blocked", ["A", "B"]]],
        { B: "rolled_back" },
        null,
      ],
      ["a dependency it cannot see", running, [["D", "blocked", ["A", "X"]]], {}, []],
      ["the dependent was released already", running, [["D", "ready", ["A"]]], {}, []],
      ["the dependent was skipped already", running, [["D", "skipped", ["A"]]], {}, []],
      [
        "two dependents, one still waiting",
        running,
        [
          ["D", "blocked", ["A"]],
          ["E", "blocked", ["A", "B"]],
        ],
        { B: "running" },
        ["D"],
      ],
      ["no dependents", running, [], {}, []],
      [
        "the deployment is cancelling",
        { status: "cancelling", rollback_policy: "failed-only" },
        [["D", "blocked", ["A"]]],
        {},
        null,
      ],
      [
        "the deployment rolls all back on a failure",
        { status: "running", rollback_policy: "all" },
        [["D", "blocked", ["A"]]],
        {},
        null,
      ],
      [
        "a deployment planned before policies were kept",
        { status: "running", rollback_policy: null },
        [["D", "blocked", ["A"]]],
        {},
        null,
      ],
    ];
    for (const [name, deployment, dependents, others, expected] of table) {
      it(`${name}: ${expected === null ? "reconcile decides" : `releases [${expected.join(", ")}]`}`, () => {
        const known = new Map<string, { status: Status }>([["A", { status: "succeeded" }]]);
        for (const [id, status] of Object.entries(others)) known.set(id, { status });
        const rows = dependents.map(([id, status, dependencies]) => ({ id, status, dependencies }));
        assert.deepEqual(releasedBySuccess(deployment, rows, known), expected);
      });
    }
  });

  describe("task fixtures", () => {
    it("are valid task documents as planned", () => {
      taskDocSchema.parse(taskFixture("security"));
      taskDocSchema.parse(taskFixture("auth"));
      assert.equal(taskFixture("security").status, "ready");
      assert.equal(taskFixture("auth").status, "blocked");
    });
  });

  describe("transitionTask", () => {
    it("walks the happy path: blocked -> ready -> running -> succeeded", () => {
      const blocked = taskFixture("auth");
      const ready = apply(blocked, { type: "release", now: at(5) });
      assert.equal(ready.status, "ready");
      assert.deepEqual(ready.ready_at, at(5));

      const running = apply(ready, { type: "claim", now: at(10) });
      assert.equal(running.status, "running");
      assert.equal(running.attempt, 1);
      assert.deepEqual(running.started_at, at(10));
      assert.ok(running.status === "running");
      assert.deepEqual(running.lease_expires_at, at(10 + running.lease_seconds));

      const succeeded = apply(running, { type: "succeed", now: at(42.5) });
      assert.equal(succeeded.status, "succeeded");
      assert.equal(succeeded.actual_duration, 32.5);
      assert.deepEqual(succeeded.completed_at, at(42.5));
      assert.equal(succeeded.applied, true);
      assert.equal(succeeded.error_message, null);
      assert.ok(!("lease_expires_at" in succeeded), "a finished task holds no lease");
    });

    it("uses the lease length from the deployment's configuration", () => {
      const running = runningTask({ lease_seconds: 30 }, 0);
      assert.ok(running.status === "running");
      assert.deepEqual(running.lease_expires_at, at(30));
    });

    it("refuses a claim before not_before, naming the time", () => {
      const retrying = failRetrying(runningTask(), 20);
      const notBefore = at(25).toISOString();
      const message = refusal(transitionTask(retrying, { type: "claim", now: at(24) }));
      assert.ok(message.includes(notBefore), message);
      assert.ok(message.includes("attempt 2"), message);
    });

    it("allows the claim once not_before has come, and clears it", () => {
      const retrying = failRetrying(runningTask(), 20);
      const running = apply(retrying, { type: "claim", now: at(25) });
      assert.equal(running.attempt, 2);
      assert.equal(running.not_before, null);
      assert.deepEqual(running.started_at, at(10), "started_at stays the first attempt's start");
    });

    it("puts a failed attempt with retries left back to ready, with backoff", () => {
      const ready = failRetrying(runningTask(), 20, "quota exceeded");
      assert.equal(ready.status, "ready");
      assert.equal(ready.retry_count, 1);
      assert.equal(ready.attempt, 1);
      assert.deepEqual(ready.not_before, at(25));
      assert.deepEqual(ready.ready_at, at(20));
      assert.equal(ready.error_message, "attempt 1 of 4: quota exceeded");
      assert.equal(ready.completed_at, null);
    });

    it("fails the task on the last retry", () => {
      let task = taskFixture("security", { max_retries: 2 });
      for (let attempt = 1; attempt <= 2; attempt++) {
        task = apply(task, { type: "claim", now: at(attempt * 100) });
        task = failRetrying(task, attempt * 100 + 10);
        assert.equal(task.status, "ready");
        assert.equal(task.retry_count, attempt);
      }
      task = apply(task, { type: "claim", now: at(300) });
      const failed = apply(task, { type: "fail", now: at(310), error: "still broken", retryAt: at(400) });
      assert.equal(failed.status, "failed");
      assert.equal(failed.retry_count, 2);
      assert.equal(failed.error_message, "attempt 3 of 3: still broken");
      assert.deepEqual(failed.completed_at, at(310));
      assert.equal(failed.actual_duration, 210, "measured from the first attempt's start");
    });

    it("fails at once when the failure is not retryable", () => {
      const failed = apply(runningTask(), {
        type: "fail",
        now: at(20),
        error: "bad credentials",
        retryAt: null,
      });
      assert.equal(failed.status, "failed");
      assert.equal(failed.retry_count, 0);
      assert.equal(failed.error_message, "attempt 1 of 4: bad credentials");
    });

    it("fails at once when max_retries is 0", () => {
      const failed = apply(runningTask({ max_retries: 0 }), {
        type: "fail",
        now: at(20),
        error: "x",
        retryAt: at(30),
      });
      assert.equal(failed.status, "failed");
      assert.equal(failed.error_message, "attempt 1 of 1: x");
    });

    it("expires a lease only once it is really past", () => {
      const running = runningTask({ lease_seconds: 60 }, 10);
      refusal(transitionTask(running, { type: "lease_expired", now: at(69) }));
      refusal(transitionTask(running, { type: "lease_expired", now: at(69.999) }));
      const expired = apply(running, { type: "lease_expired", now: at(71) });
      assert.equal(expired.status, "ready");
      assert.deepEqual(expired.ready_at, at(71));
      assert.equal(expired.attempt, 1);
      assert.ok(expired.error_message?.includes("lease expired"), expired.error_message ?? "");
      assert.ok(expired.error_message?.includes(at(70).toISOString()), expired.error_message ?? "");
    });

    it("refuses lease_expired for a task that is not running", () => {
      refusal(transitionTask(taskFixture("security"), { type: "lease_expired", now: at(10_000) }));
      const done = apply(runningTask(), { type: "succeed", now: at(20) });
      refusal(transitionTask(done, { type: "lease_expired", now: at(10_000) }));
    });

    it("refuses a duplicate claim instead of starting a second attempt", () => {
      const running = runningTask();
      const message = refusal(transitionTask(running, { type: "claim", now: at(11) }));
      assert.equal(message, "claim does not apply to a running task");
    });

    it("refuses a duplicate succeed instead of completing twice", () => {
      const done = apply(runningTask(), { type: "succeed", now: at(20) });
      assert.equal(
        refusal(transitionTask(done, { type: "succeed", now: at(30) })),
        "succeed does not apply to a succeeded task",
      );
    });

    it("refuses a fail delivered after the task succeeded", () => {
      const done = apply(runningTask(), { type: "succeed", now: at(20) });
      refusal(transitionTask(done, { type: "fail", now: at(21), error: "late", retryAt: at(30) }));
    });

    it("refuses release of a task that is already ready", () => {
      refusal(transitionTask(taskFixture("security"), { type: "release", now: at(1) }));
    });

    it("skips and cancels only tasks that have not started", () => {
      const skipped = apply(taskFixture("auth"), { type: "skip", now: at(3), reason: "security failed" });
      assert.equal(skipped.status, "skipped");
      assert.equal(skipped.reason, "security failed");
      const cancelled = apply(taskFixture("security"), {
        type: "cancel",
        now: at(3),
        reason: "deployment cancelled",
      });
      assert.equal(cancelled.status, "cancelled");
      refusal(transitionTask(runningTask(), { type: "cancel", now: at(20), reason: "too late" }));
      refusal(transitionTask(runningTask(), { type: "skip", now: at(20), reason: "too late" }));
    });

    it("rolls back a succeeded task, and records the note on a failed one without leaving failed", () => {
      const done = apply(runningTask(), { type: "succeed", now: at(20) });
      const rolledBack = apply(done, { type: "roll_back", now: at(30), note: "restored previous rules" });
      assert.equal(rolledBack.status, "rolled_back");
      assert.equal(rolledBack.rollback_note, "restored previous rules");
      refusal(transitionTask(rolledBack, { type: "roll_back", now: at(31), note: "again" }));

      const failed = apply(runningTask(), { type: "fail", now: at(20), error: "x", retryAt: null });
      const noted = apply(failed, { type: "roll_back", now: at(30), note: "nothing to undo" });
      assert.equal(noted.status, "failed");
      assert.equal(noted.rollback_note, "nothing to undo");
    });

    describe("properties", () => {
      const eventArbitrary: fc.Arbitrary<(now: Date) => TaskEvent> = fc.oneof(
        fc.constant((now: Date): TaskEvent => ({ type: "release", now })),
        fc.constant((now: Date): TaskEvent => ({ type: "claim", now })),
        fc.constant((now: Date): TaskEvent => ({ type: "succeed", now })),
        fc.option(fc.integer({ min: 0, max: 30 }), { nil: null }).map((delay) => (now: Date): TaskEvent => ({
          type: "fail",
          now,
          error: "e",
          retryAt: delay === null ? null : new Date(now.getTime() + delay * 1000),
        })),
        fc.constant((now: Date): TaskEvent => ({ type: "lease_expired", now })),
        fc.constant((now: Date): TaskEvent => ({ type: "skip", now, reason: "r" })),
        fc.constant((now: Date): TaskEvent => ({ type: "cancel", now, reason: "r" })),
        fc.constant((now: Date): TaskEvent => ({ type: "roll_back", now, note: "n" })),
      );
      const scenario = fc.record({
        start: fc.constantFrom<"security" | "auth">("security", "auth"),
        maxRetries: fc.integer({ min: 0, max: 4 }),
        leaseSeconds: fc.integer({ min: 1, max: 60 }),
        steps: fc.array(fc.tuple(eventArbitrary, fc.integer({ min: 0, max: 90 })), { maxLength: 40 }),
      });

      it("property: terminal states hold, retries stay within max_retries, attempts never go back, documents stay valid", () => {
        fc.assert(
          fc.property(scenario, ({ start, maxRetries, leaseSeconds, steps }) => {
            let task = taskFixture(start, { max_retries: maxRetries, lease_seconds: leaseSeconds });
            let clock = 0;
            for (const [makeEvent, advance] of steps) {
              clock += advance;
              const event = makeEvent(at(clock));
              const next = transitionTask(task, event);
              if (isRefusal(next)) {
                assert.ok(next.refused.length > 0);
                continue;
              }
              taskDocSchema.parse(next);
              if (isTerminalTask(task.status)) {
                const allowed =
                  next.status === task.status ||
                  (task.status === "succeeded" &&
                    next.status === "rolled_back" &&
                    event.type === "roll_back");
                assert.ok(allowed, `${task.status} left for ${next.status} on ${event.type}`);
              }
              assert.ok(
                next.retry_count <= next.max_retries,
                `retry_count ${next.retry_count} over ${next.max_retries}`,
              );
              assert.ok(next.retry_count >= task.retry_count, "retry_count never goes back");
              assert.ok(next.attempt >= task.attempt, `attempt went from ${task.attempt} to ${next.attempt}`);
              assert.equal(next.max_retries, maxRetries);
              task = next;
            }
          }),
          { numRuns: 300 },
        );
      });

      it("property: an event accepted once is refused when delivered again", () => {
        const duplicable = fc.constantFrom<TaskEvent["type"]>(
          "release",
          "claim",
          "succeed",
          "skip",
          "cancel",
          "roll_back",
        );
        fc.assert(
          fc.property(scenario, duplicable, ({ start, steps }, type) => {
            let task = taskFixture(start);
            let clock = 0;
            for (const [makeEvent, advance] of steps) {
              clock += advance;
              const next = transitionTask(task, makeEvent(at(clock)));
              if (!isRefusal(next)) task = next;
            }
            const make = (now: Date): TaskEvent =>
              type === "skip" || type === "cancel"
                ? { type, now, reason: "r" }
                : type === "roll_back"
                  ? { type, now, note: "n" }
                  : { type: type as "release" | "claim" | "succeed", now };
            const once = transitionTask(task, make(at(clock + 1)));
            if (isRefusal(once)) return;
            // roll_back on a failed task only records a note, so repeating it is harmless and allowed.
            if (type === "roll_back" && once.status === "failed") return;
            refusal(transitionTask(once, make(at(clock + 2))));
          }),
        );
      });
    });
  });

  describe("transitionDeployment", () => {
    /** A requested deployment built from a plan, the way the engine would record it. */
    function requestedDeployment(): { deployment: DeploymentDoc; plan: DeploymentPlan } {
      const plan = planned(["security", "auth", "firestore"]);
      const deployment: DeploymentDoc = {
        status: "requested",
        environment: "dev",
        integrations: ["security", "auth", "firestore"],
        configuration: {},
        requested_by: "engine-model.spec",
        created_at: T0,
        task_ids: [],
        estimated_completion: null,
        critical_path: [],
        started_at: null,
        completed_at: null,
        actual_duration: null,
        error_message: null,
        correlation_id: "corr-1",
        rollback_policy: null,
        approval: null,
        expire_at: null,
      };
      deploymentDocSchema.parse(deployment);
      return { deployment, plan };
    }

    function applyDeployment(
      deployment: DeploymentDoc,
      event: Parameters<typeof transitionDeployment>[1],
    ): DeploymentDoc {
      const next = transitionDeployment(deployment, event);
      assert.ok(!isRefusal(next), isRefusal(next) ? next.refused : "");
      deploymentDocSchema.parse(next);
      return next;
    }

    function started(): DeploymentDoc {
      const { deployment, plan } = requestedDeployment();
      return applyDeployment(deployment, {
        type: "start",
        now: at(1),
        taskIds: plan.tasks.map((task) => task.id),
        estimatedCompletion: plan.estimatedCompletion,
        criticalPath: plan.criticalPath,
        correlationId: "corr-start",
        rollbackPolicy: "all",
      });
    }

    it("goes requested -> running -> succeeded", () => {
      const { plan } = requestedDeployment();
      const running = started();
      assert.equal(running.status, "running");
      assert.deepEqual(
        running.task_ids,
        plan.tasks.map((task) => task.id),
      );
      assert.deepEqual(running.critical_path, plan.criticalPath);
      assert.deepEqual(running.estimated_completion, plan.estimatedCompletion);
      assert.deepEqual(running.started_at, at(1));

      const done = applyDeployment(running, {
        type: "finish",
        now: at(61),
        outcome: "succeeded",
        error: null,
      });
      assert.equal(done.status, "succeeded");
      assert.equal(done.actual_duration, 60);
      assert.deepEqual(done.completed_at, at(61));
    });

    it("turns a success after a cancel into cancelled", () => {
      const cancelling = applyDeployment(started(), { type: "cancel", now: at(5) });
      assert.equal(cancelling.status, "cancelling");
      const done = applyDeployment(cancelling, {
        type: "finish",
        now: at(9),
        outcome: "succeeded",
        error: null,
      });
      assert.equal(done.status, "cancelled");
    });

    it("keeps a failure after a cancel as failed", () => {
      const cancelling = applyDeployment(started(), { type: "cancel", now: at(5) });
      const done = applyDeployment(cancelling, {
        type: "finish",
        now: at(9),
        outcome: "failed",
        error: "auth: attempt 1 of 4: boom",
      });
      assert.equal(done.status, "failed");
      assert.equal(done.error_message, "auth: attempt 1 of 4: boom");
    });

    it("refuses finish on a terminal deployment", () => {
      const done = applyDeployment(started(), {
        type: "finish",
        now: at(61),
        outcome: "succeeded",
        error: null,
      });
      assert.equal(
        refusal(
          transitionDeployment(done, { type: "finish", now: at(62), outcome: "failed", error: "late" }),
        ),
        "finish does not apply to a succeeded deployment",
      );
      refusal(transitionDeployment(done, { type: "cancel", now: at(62) }));
    });

    it("refuses a second start and a cancel of a cancelling deployment", () => {
      const running = started();
      const { plan } = requestedDeployment();
      refusal(
        transitionDeployment(running, {
          type: "start",
          now: at(2),
          taskIds: [],
          estimatedCompletion: plan.estimatedCompletion,
          criticalPath: [],
          correlationId: "again",
          rollbackPolicy: "all",
        }),
      );
      const cancelling = applyDeployment(running, { type: "cancel", now: at(3) });
      refusal(transitionDeployment(cancelling, { type: "cancel", now: at(4) }));
    });

    it("keeps the correlation id it was requested with, and takes the engine's when there is none", () => {
      assert.equal(started().correlation_id, "corr-1");
      const { deployment, plan } = requestedDeployment();
      const fresh = applyDeployment(
        { ...deployment, correlation_id: "" },
        {
          type: "start",
          now: at(1),
          taskIds: [],
          estimatedCompletion: plan.estimatedCompletion,
          criticalPath: [],
          correlationId: "corr-start",
          rollbackPolicy: "all",
        },
      );
      assert.equal(fresh.correlation_id, "corr-start");
    });

    it("rolls back: running -> rolling_back -> rolled_back, keeping the reason", () => {
      const rollingBack = applyDeployment(started(), {
        type: "begin_rollback",
        now: at(30),
        error: "functions: attempt 4 of 4: boom",
      });
      assert.equal(rollingBack.status, "rolling_back");
      assert.equal(rollingBack.error_message, "functions: attempt 4 of 4: boom");
      refusal(transitionDeployment(rollingBack, { type: "begin_rollback", now: at(31), error: "again" }));
      const done = applyDeployment(rollingBack, {
        type: "finish",
        now: at(40),
        outcome: "rolled_back",
        error: "functions: attempt 4 of 4: boom",
      });
      assert.equal(done.status, "rolled_back");
      assert.equal(done.actual_duration, 39);
      refusal(transitionDeployment(done, { type: "begin_rollback", now: at(41), error: "late" }));
    });

    it("rejects a requested deployment as failed, with the reason", () => {
      const { deployment } = requestedDeployment();
      const rejected = applyDeployment(deployment, {
        type: "reject",
        now: at(1),
        error: "integrations[1]: found ...",
      });
      assert.equal(rejected.status, "failed");
      assert.equal(rejected.error_message, "integrations[1]: found ...");
      assert.equal(rejected.actual_duration, 0);
      refusal(transitionDeployment(started(), { type: "reject", now: at(2), error: "late" }));
    });
  });
});
