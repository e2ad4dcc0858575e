import assert from "node:assert/strict";
import { FIRESTORE_ROUND_TRIPS } from "../../functions/src/domain/learning/capacity.js";
import { taskCosts } from "../support/task-costs.js";

describe("what a task costs the engine (the counts bench/hot-path.ts prints)", () => {
  it("the capacity forecast prices a task run at the engine's counted reads and commits", async () => {
    const costs = await taskCosts(1);
    assert.equal(costs.tasks, 10);
    assert.equal(
      FIRESTORE_ROUND_TRIPS.reads_per_task_run,
      costs.reads_per_task,
      `a task run now reads ${costs.reads_per_task} times: update FIRESTORE_ROUND_TRIPS and the README`,
    );
    assert.equal(
      FIRESTORE_ROUND_TRIPS.writes_per_task_run,
      costs.commits_per_task,
      `a task run now commits ${costs.commits_per_task} times: update FIRESTORE_ROUND_TRIPS and the README`,
    );
  });

  it("a chain of ten tasks is one runTask invocation and stays under 13 round trips a task", async () => {
    // Issue 15's figures on this engine (README, "Scale"): 12.8 round trips and 0.4 invocations a
    // task; a change that adds a round trip or a Pub/Sub hop between chained steps fails here.
    const costs = await taskCosts(1);
    assert.equal(costs.invocations_by_trigger_per_task.runTask, 0.1);
    assert.ok(costs.round_trips_per_task <= 13, `${costs.round_trips_per_task} round trips a task`);
  });
});
