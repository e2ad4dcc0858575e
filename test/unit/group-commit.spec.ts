import assert from "node:assert/strict";
import { groupCommit } from "../../functions/src/store/group-commit.js";
import { asFirestore, MemoryFirestore } from "../sim/memory-firestore.js";

function store() {
  const memory = new MemoryFirestore({ point: () => Promise.resolve() }, () => new Date(0));
  return { memory, db: asFirestore(memory) };
}

describe("group commit", () => {
  it("commits writes staged in the same turn together: fifty creates, one commit", async () => {
    const { memory, db } = store();
    const before = memory.stats.commits;
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        groupCommit(db, (batch) => batch.create(db.collection("deployments").doc(`d${i}`), { n: i })),
      ),
    );
    assert.equal(memory.stats.commits - before, 1);
    assert.equal((await db.collection("deployments").get()).size, 50);
  });

  it("refuses only the write that fails: a create of an existing document, among nine that succeed", async () => {
    const { db } = store();
    await db.collection("deployments").doc("taken").create({ n: -1 });
    const outcomes = await Promise.allSettled(
      ["a", "b", "c", "d", "taken", "e", "f", "g", "h", "i"].map((id) =>
        groupCommit(db, (batch) => batch.create(db.collection("deployments").doc(id), { n: id })),
      ),
    );
    const refused = outcomes.flatMap((outcome, index) => (outcome.status === "rejected" ? [index] : []));
    assert.deepEqual(refused, [4]);
    const rejected = outcomes[4] as PromiseRejectedResult;
    assert.equal((rejected.reason as { code?: number }).code, 6, "ALREADY_EXISTS");
    assert.equal((await db.collection("deployments").get()).size, 10);
    assert.equal(
      (await db.collection("deployments").doc("taken").get()).data()?.n,
      -1,
      "the existing one is kept",
    );
  });

  it("commits separately what is staged in different turns", async () => {
    const { memory, db } = store();
    const before = memory.stats.commits;
    await groupCommit(db, (batch) => batch.set(db.collection("x").doc("1"), { n: 1 }));
    await groupCommit(db, (batch) => batch.set(db.collection("x").doc("2"), { n: 2 }));
    assert.equal(memory.stats.commits - before, 2);
  });
});
