import assert from "node:assert/strict";
import { INTEGRATION_KINDS } from "../../functions/src/domain/integrations.js";
import { simulate } from "../sim/world.js";
import { oneDeployment } from "../support/scenarios.js";

/** One deployment of the ten kinds, `concurrency` at once, every task 150 ms; no fault but the one injected. */
const scenario = (concurrency = 2) => oneDeployment(concurrency);

describe("an outcome the store fails to record is recorded again by its executor", () => {
  it("does not leave the task to wait out its lease and run a second attempt", async () => {
    const claims: string[] = [];
    const outcomes: string[] = [];
    let failed: string | undefined;
    const result = await simulate(1, {
      scenario: scenario(),
      faults: false,
      onCall: (label) => {
        if (!label.startsWith("commit ")) return;
        // A claim takes a slot and gives up its reservation; an outcome frees a slot with no reservation to give.
        const slot = label.includes("concurrency_slots/");
        if (slot && label.includes("delete task_reservations/")) claims.push(label);
        else if (slot && label.includes("orchestration_tasks/")) {
          outcomes.push(label);
          if (outcomes.length === 3 && failed === undefined) {
            failed = label;
            throw new Error("14 UNAVAILABLE: the store did not answer");
          }
        }
      },
    });
    assert.deepEqual(result.violations, []);
    assert.ok(failed, "the fault was injected");
    assert.deepEqual(result.deployments, [{ id: "d1", status: "succeeded" }]);
    // Ten tasks, ten claims: the task whose outcome failed once was not claimed again after its lease.
    assert.equal(claims.length, INTEGRATION_KINDS.length, claims.join("\n"));
    // The failed outcome's own fact (`task:<id>:succeed:<attempt>`) was committed by a later try.
    const fact = (label: string) => /outbox\/(task:[^,]+:(?:succeed|fail):\d+)/.exec(label)?.[1];
    const failedFact = fact(failed ?? "");
    assert.ok(failedFact, failed);
    assert.ok(outcomes.filter((label) => fact(label) === failedFact).length >= 2, outcomes.join("\n"));
  });
});

describe("an executor that keeps a task claims it on the slot it has just freed", () => {
  it("reads that one slot, not four from the task's own start", async () => {
    const slotsReadByClaims: number[] = [];
    const result = await simulate(1, {
      scenario: scenario(8),
      faults: false,
      onCall: (label) => {
        // A claim reads its task, its deployment and its first slots in one getAll.
        if (label.startsWith("tx.getAll orchestration_tasks/") && label.includes("concurrency_slots/"))
          slotsReadByClaims.push(label.split("concurrency_slots/").length - 1);
      },
    });
    assert.deepEqual(result.deployments, [{ id: "d1", status: "succeeded" }]);
    // Published tasks read four of the eight slots; kept ones (a step after a success) read one.
    assert.ok(slotsReadByClaims.includes(4), slotsReadByClaims.join(" "));
    assert.ok(slotsReadByClaims.includes(1), slotsReadByClaims.join(" "));
    assert.ok(
      slotsReadByClaims.every((count) => count === 1 || count === 4),
      slotsReadByClaims.join(" "),
    );
  });
});
