/**
 * The backtest's reader of a real history (store/replay-history.ts) against an in-memory Firestore:
 * finished deployments come back with their tasks and durations; one whose environment the config
 * lacks and one that never finished are left out, with the reason.
 */
import assert from "node:assert/strict";
import { validateConfig } from "../../functions/src/domain/config.js";
import type { DeploymentDoc } from "../../functions/src/domain/engine-model.js";
import { planDeployment } from "../../functions/src/domain/planner.js";
import { createEngineStore } from "../../functions/src/store/engine-store.js";
import { loadReplayHistory } from "../../functions/src/store/replay-history.js";
import { MemoryFirestore, asFirestore } from "../sim/memory-firestore.js";
import { exampleConfig } from "../support/config-builder.js";

const T0 = Date.UTC(2026, 10, 1);

describe("replay history: a control plane's own deployments for the backtest", () => {
  it("reads finished deployments with their tasks, and leaves out what cannot be replayed", async () => {
    const db = asFirestore(new MemoryFirestore({ point: () => Promise.resolve() }, () => new Date(T0)));
    const config = validateConfig(exampleConfig());
    assert.ok(config.ok);
    const dev = config.config.environments.find((env) => env.name === "dev")!;
    const store = createEngineStore(db);
    // [id, environment, status, seconds, minutes after T0]: an independent table.
    const written: [string, string, DeploymentDoc["status"], number | null, number][] = [
      ["d-ok", "dev", "succeeded", 12.5, 0],
      ["d-failed", "dev", "failed", 4, 10],
      ["d-gone", "gone", "succeeded", 3, 20],
      ["d-running", "dev", "running", null, 30],
    ];
    for (const [id, environment, status, seconds, minutes] of written) {
      const created = new Date(T0 + minutes * 60_000);
      const request = {
        environment: "dev",
        integrations: ["security"],
        configuration: {},
        requested_by: "test",
      };
      const planned = planDeployment(id, request, dev, created);
      assert.ok(planned.ok);
      for (const { id: taskId, ...task } of planned.plan.tasks) await store.tasks.doc(taskId).set(task);
      await store.deployments.doc(id).set({
        status,
        environment,
        integrations: ["security"],
        configuration: {},
        requested_by: "test",
        rollback_policy: "failed-only",
        created_at: created,
        task_ids: planned.plan.tasks.map((task) => task.id),
        estimated_completion: planned.plan.estimatedCompletion,
        critical_path: planned.plan.criticalPath,
        started_at: seconds === null ? null : new Date(created.getTime() + 1000),
        completed_at: seconds === null ? null : new Date(created.getTime() + 1000 + seconds * 1000),
        actual_duration: seconds,
        error_message: status === "failed" ? "a task failed" : null,
        correlation_id: id,
        approval: null,
        expire_at: null,
      });
    }
    const history = await loadReplayHistory(db, config.config.environments);
    assert.deepEqual(
      history.deployments.map((d) => [
        d.id,
        d.status,
        d.actual_seconds,
        d.tasks.length,
        d.request.environment,
      ]),
      [
        ["d-failed", "failed", 4, 1, "dev"],
        ["d-ok", "succeeded", 12.5, 1, "dev"],
      ],
    );
    assert.deepEqual(history.skipped, [
      { id: "d-gone", reason: "environment gone is not in the loaded config" },
    ]);
    // Over the limit, the newest finished deployments are read (d-gone, then d-failed), then judged.
    const limited = await loadReplayHistory(db, config.config.environments, 2);
    assert.deepEqual(
      [limited.deployments.map((d) => d.id), limited.skipped.map((s) => s.id)],
      [["d-failed"], ["d-gone"]],
    );
  });
});
