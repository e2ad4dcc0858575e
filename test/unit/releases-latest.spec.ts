import assert from "node:assert/strict";
import type { Release } from "../../functions/src/drivers/types.js";
import { createReleaseStore, RELEASES } from "../../functions/src/store/releases.js";
import { asFirestore, MemoryFirestore } from "../sim/memory-firestore.js";

const NOW = new Date("2026-03-01T12:00:00.000Z");

function release(integration: string, digest: string): Omit<Release, "number"> {
  return {
    environment: "dev",
    integration,
    kind: integration.split(":")[0] as Release["kind"],
    mode: "staged",
    state: { digest },
    digest,
    artifact: null,
    deployment_id: null,
    action: "apply",
    undoes: null,
    promoted_from: null,
    created_at: NOW,
  };
}

describe("latest releases of an environment, read together", () => {
  it("answers each integration's latest in two reads, and looks up by query only what has no counter", async () => {
    const points: string[] = [];
    const memory = new MemoryFirestore(
      {
        point: (label) => {
          points.push(label.split(" ")[0] ?? label);
          return Promise.resolve();
        },
      },
      () => NOW,
    );
    const store = createReleaseStore(asFirestore(memory));
    for (const digest of ["a1", "a2", "a3"]) await store.record(release("hosting", digest));
    await store.record(release("hosting:marketing", "m1"));
    // A release written without the store (as a restore might): no counter names it.
    await asFirestore(memory)
      .collection(RELEASES)
      .doc("dev__auth__000001")
      .set({ ...release("auth", "x1"), number: 1 });
    points.length = 0;

    const latest = await store.latestOf("dev", ["hosting", "hosting:marketing", "auth", "storage"]);

    assert.deepEqual(
      [...latest].map(([name, found]) => [name, found?.number, found?.digest]),
      [
        ["hosting", 3, "a3"],
        ["hosting:marketing", 1, "m1"],
        ["auth", 1, "x1"],
        ["storage", undefined, undefined],
      ],
    );
    // The counters, then the releases they name; a query each for the two without a counter.
    assert.deepEqual(points.filter((point) => point === "getAll").length, 2, points.join(", "));
    assert.equal(points.filter((point) => point.startsWith("query")).length, 2, points.join(", "));
  });
});
