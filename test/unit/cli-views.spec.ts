/** The CLI's deployment views: the progress line and the task graph by dependency level. */
import assert from "node:assert/strict";
import { graphLines, progressLine, type TaskView } from "../../scripts/lib/cli-views.js";

const task = (integration: string, status: string, dependencies: string[] = []): TaskView => ({
  id: `d1--${integration}`,
  integration,
  status,
  attempt: status === "pending" ? 0 : 1,
  dependencies: dependencies.map((name) => `d1--${name}`),
});

// A deployment shaped like the planner's: auth and firestore first, functions after both,
// storage after firestore only, hosting after functions.
const TASKS = [
  task("auth", "succeeded"),
  task("firestore", "succeeded"),
  task("functions", "running", ["auth", "firestore"]),
  task("storage", "failed", ["firestore"]),
  task("hosting", "pending", ["functions"]),
];

describe("the CLI's deployment views", () => {
  it("draws the graph one dependency level a line, naming dependencies that are not the whole level before", () => {
    assert.deepEqual(graphLines(TASKS), [
      " 1  ✓ auth   ✓ firestore",
      " 2  ● functions   ✗ storage (after firestore)",
      " 3  ○ hosting (after functions)",
    ]);
  });

  it("survives a dependency cycle or an unknown dependency instead of hanging", () => {
    const cyclic = [task("auth", "pending", ["hosting"]), task("hosting", "pending", ["auth", "nowhere"])];
    const drawn = graphLines(cyclic).join("\n");
    for (const name of ["auth", "hosting"]) assert.equal(drawn.split(`○ ${name}`).length, 2, drawn);
  });

  it("says how many tasks ended, in a bar, and what the rest are doing", () => {
    const line = progressLine({ deployment: { status: "running" }, tasks: TASKS }, 12_345, 10);
    // 3 of 5 ended (2 succeeded, 1 failed): 6 of 10 cells filled.
    assert.equal(line, "deployment running · 12.3s · [######....] 3/5 done (1 running, 1 pending, 1 failed)");
    assert.equal(
      progressLine({ deployment: { status: "pending" }, tasks: [] }, 0, 4),
      "deployment pending · 0.0s · [....] 0/0 done",
    );
  });
});
