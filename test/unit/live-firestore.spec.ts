import assert from "node:assert/strict";
import { NonRetriableError } from "../../functions/src/domain/errors.js";
import { createFabricator } from "../../functions/src/drivers/fabricator.js";
import { firestoreDriver } from "../../functions/src/drivers/firestore.js";
import { liveFirestoreSpec } from "../../functions/src/drivers/live/firestore-live.js";
import { byMode } from "../../functions/src/drivers/registry.js";
import type { DriverTarget } from "../../functions/src/drivers/types.js";
import {
  ContractServer,
  firebaseRulesModel,
  firestoreIndexModel,
  type IndexModel,
  type RulesModel,
} from "../../scripts/contract-server/index.js";
import { contractAccess, liveEnvironment, liveIO, memoryReleases, memorySources } from "../support/live.js";

const PROJECT = "acme-prod";
const RELEASE = `projects/${PROJECT}/releases/cloud.firestore`;
const R = "firebaserules.projects";
const I = "firestore.projects.databases.collectionGroups.indexes";
const ALL_GROUPS = `projects/${PROJECT}/databases/(default)/collectionGroups/-`;

const RULES_V1 = `rules_version = '2';
service cloud.firestore {
  match /databases/{database}/documents {
    match /orders/{id} { allow read: if request.auth != null; }
  }
}
`;
const RULES_V2 = RULES_V1.replace("allow read", "allow read, write");
const ORDERS_INDEX = {
  collectionGroup: "orders",
  queryScope: "COLLECTION",
  fields: [
    { fieldPath: "owner", order: "ASCENDING" },
    { fieldPath: "created_at", order: "DESCENDING" },
  ],
};
const TAGS_INDEX = {
  collectionGroup: "posts",
  queryScope: "COLLECTION_GROUP",
  fields: [
    { fieldPath: "tags", arrayConfig: "CONTAINS" },
    { fieldPath: "at", order: "ASCENDING" },
  ],
};
const indexesFile = (...indexes: unknown[]) => JSON.stringify({ indexes, fieldOverrides: [] });

describe("live firestore: rules through Firebase Rules v1, indexes through Firestore Admin v1 (contract servers)", () => {
  let rulesServer: ContractServer;
  let indexServer: ContractServer;
  let rules: RulesModel;
  let indexes: IndexModel;
  let files: Record<string, string>;
  let access: Awaited<ReturnType<typeof contractAccess>>;
  let fabricator: ReturnType<typeof createFabricator>;
  const targetWith = (seed: Record<string, Record<string, unknown>[]> = {}): DriverTarget<"firestore"> => {
    const environment = liveEnvironment(["firestore"], {
      firestore: { rules_file: "db/firestore.rules", indexes_file: "db/indexes.json", seed },
    });
    return {
      environment,
      integration: "firestore",
      kind: "firestore",
      settings: environment.integrations[0]!.settings as DriverTarget<"firestore">["settings"],
    };
  };
  const target = targetWith();

  beforeEach(async () => {
    rulesServer = ContractServer.fromRepository("firebaserules-v1");
    indexServer = ContractServer.fromRepository("firestore-v1");
    rules = firebaseRulesModel(rulesServer);
    indexes = firestoreIndexModel(indexServer, 2);
    const [r, i] = await Promise.all([rulesServer.start(), indexServer.start()]);
    access = await contractAccess({ firebaserules: r.url, firestore: i.url });
    files = { "db/firestore.rules": RULES_V1, "db/indexes.json": indexesFile(ORDERS_INDEX) };
    fabricator = createFabricator(
      { firestore: byMode(firestoreDriver, liveFirestoreSpec) },
      memoryReleases(),
      liveIO(memorySources(files), access),
    );
  });
  afterEach(() => Promise.all([rulesServer.stop(), indexServer.stop()]));

  const served = () => {
    const release = rules.releases.get(RELEASE);
    return release ? rules.rulesets.get(release.rulesetName)?.source.files[0]?.content : undefined;
  };
  const indexShapes = () =>
    [...indexes.indexes.values()].map((i) => [
      i.name.split("/collectionGroups/")[1]?.split("/")[0],
      i.fields.map((f) => f.fieldPath),
    ]);

  it("plans read-only against a project with nothing yet", async () => {
    const plan = await fabricator.plan(target);
    assert.equal(plan.mode, "live");
    assert.deepEqual(
      plan.changes.map((c) => c.path),
      ["indexes", "rules"],
    );
    assert.equal(plan.changes.find((c) => c.path === "rules")?.from, null);
    assert.deepEqual(rulesServer.calls(), [`${R}.releases.get ${RELEASE}`]);
    assert.deepEqual(indexServer.calls(), [`${I}.list ${ALL_GROUPS}`]);
    assert.ok([...rulesServer.requests, ...indexServer.requests].every((r) => r.httpMethod === "GET"));
  });

  it("first apply compiles, releases and creates the index; the second changes nothing", async () => {
    const first = await fabricator.apply(target, "d1");
    assert.equal(first.changed, true);
    assert.deepEqual(rulesServer.calls().slice(1), [
      `${R}.releases.get ${RELEASE}`,
      `${R}.rulesets.create projects/${PROJECT}`,
      `${R}.releases.patch ${RELEASE}`,
      `${R}.releases.create projects/${PROJECT}`,
    ]);
    assert.equal(served(), RULES_V1);
    // Firestore appends __name__ (with the last field's direction); our state leaves it out.
    assert.deepEqual(indexShapes(), [["orders", ["owner", "created_at", "__name__"]]]);
    assert.ok(
      [...rulesServer.requests, ...indexServer.requests].every(
        (r) => r.verdict === "accepted" || r.status === 404,
      ),
      "every request within the contract",
    );

    const before = [rulesServer.calls().length, indexServer.calls().length] as const;
    const second = await fabricator.apply(target, "d2");
    assert.equal(second.changed, false);
    assert.deepEqual(
      rulesServer
        .calls()
        .slice(before[0])
        .map((c) => c.split(" ")[0]),
      [`${R}.releases.get`, `${R}.rulesets.get`],
    );
    assert.deepEqual(indexServer.calls().slice(before[1]), [`${I}.list ${ALL_GROUPS}`]);
    assert.equal(rules.rulesets.size, 1, "no second ruleset");
  });

  it("a change releases new rules and swaps indexes; rollback restores the previous rules and indexes", async () => {
    await fabricator.apply(target, "d1");
    files["db/firestore.rules"] = RULES_V2;
    files["db/indexes.json"] = indexesFile(TAGS_INDEX);
    const changed = await fabricator.apply(target, "d2");
    assert.equal(changed.changed, true);
    assert.equal(served(), RULES_V2);
    assert.deepEqual(indexShapes(), [["posts", ["tags", "at", "__name__"]]]);
    assert.equal(rules.releases.size, 1, "the release is patched, not duplicated");

    const undone = await fabricator.rollback(target, "d2");
    assert.match(undone.summary, /^live: rolled back to the state of release 1/);
    assert.equal(served(), RULES_V1);
    assert.deepEqual(indexShapes(), [["orders", ["owner", "created_at", "__name__"]]]);
  });

  it("rules the Rules API does not compile change nothing live and say why", async () => {
    await fabricator.apply(target, "d1");
    files["db/firestore.rules"] = RULES_V1.replace(/}\n$/, "");
    await assert.rejects(fabricator.apply(target, "d2"), (error: Error) => {
      assert.ok(error instanceof NonRetriableError);
      assert.match(
        error.message,
        /refused firestore\.rules for acme-prod \(nothing was released; the previous rules stay\): Syntax error in firestore\.rules: L\d+:1 Missing '}'/,
      );
      return true;
    });
    assert.equal(served(), RULES_V1);
  });

  it("backs off on 429 from the Rules API and then succeeds", async () => {
    rulesServer.inject(`${R}.rulesets.create`, { kind: "rate-limited", retryAfterSeconds: 3 });
    await fabricator.apply(target, "d1");
    assert.deepEqual(access.slept, [3375]);
    assert.equal(served(), RULES_V1);
  });

  it("a 403 on index creation names datastore.indexes.create and its role", async () => {
    indexServer.inject(`${I}.create`, { kind: "permission-denied", permission: "datastore.indexes.create" });
    await assert.rejects(fabricator.apply(target, "d1"), (error: Error) => {
      assert.ok(error instanceof NonRetriableError);
      assert.match(
        error.message,
        /needs permission datastore\.indexes\.create, granted by roles\/datastore\.indexAdmin/,
      );
      return true;
    });
  });

  it("refuses seed documents for a live environment, naming the collection", async () => {
    const plan = await fabricator.plan(targetWith({ users: [{ id: "u1", name: "Ada" }] }));
    assert.deepEqual(
      plan.problems.map((p) => p.path),
      ["firestore.seed.users"],
    );
    assert.match(
      plan.summary,
      /^live: refused: firestore\.seed\.users: found seed documents for a live environment/,
    );
    assert.equal(rulesServer.requests.length, 0, "a refused plan asks Google nothing");
  });

  it("verify reports indexes still building, then healthy once Google says READY", async () => {
    await fabricator.apply(target, "d1");
    const building = await fabricator.verify(target);
    assert.equal(building.status, "degraded");
    assert.match(building.details, /1 index\(es\) still building/);
    const ready = await fabricator.verify(target);
    assert.equal(ready.status, "healthy");
    assert.equal(ready.mode, "live");
    assert.match(
      ready.details,
      /^Google reports the cloud\.firestore rules [0-9a-f]{12} and 1 composite index\(es\) ready/,
    );
  });
});
