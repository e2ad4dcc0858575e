import assert from "node:assert/strict";
import { createStore } from "../../functions/src/store/store.js";
import { CorruptDocumentError } from "../../functions/src/domain/errors.js";
import { configWith, exampleConfig } from "../support/config-builder.js";
import { adminDb, api, clearFirestore, requireEmulators } from "../support/emulators.js";

describe("foundation on the emulators", function () {
  before(function () {
    requireEmulators(this);
  });
  beforeEach(clearFirestore);

  it("loads a config through the api function and reads it back from Firestore", async () => {
    const response = await api("POST", "/config", exampleConfig());
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.deepEqual(response.body.environments, ["dev", "staging", "prod"]);

    const store = createStore(adminDb());
    const environments = await store.listEnvironments();
    assert.deepEqual(
      environments.map((env) => [env.name, env.type, env.project_id, env.region, env.status]),
      [
        ["dev", "development", "demo-acme-dev", "us-central1", "declared"],
        ["prod", "production", "demo-acme-prod", "europe-west1", "declared"],
        ["staging", "staging", "demo-acme-staging", "us-central1", "declared"],
      ],
    );
    const prodFunctions = (await store.listIntegrations("prod")).find((i) => i.name === "functions");
    assert.equal(prodFunctions?.configuration.memory, "1GiB");
    assert.equal((await store.listIntegrations()).length, 30);
    assert.ok(environments[0]?.created_at instanceof Date, "timestamps come back as Dates");
  });

  it("loading the same config twice writes nothing the second time and keeps created_at", async () => {
    await api("POST", "/config", exampleConfig());
    const before = await createStore(adminDb()).getEnvironment("dev");
    const again = await api("POST", "/config", exampleConfig());
    assert.deepEqual(again.body.written, { config: 0, environments: 0, integrations: 0 });
    const after = await createStore(adminDb()).getEnvironment("dev");
    assert.deepEqual(after?.created_at, before?.created_at);
  });

  it("a changed config rewrites only what changed, and marks dropped integrations removed", async () => {
    await api("POST", "/config", exampleConfig());
    const changed = configWith((c) => {
      c.environments[0].integrations = c.environments[0].integrations.filter(
        (kind: string) => kind !== "analytics",
      );
    });
    const response = await api("POST", "/config", changed);
    assert.equal(response.status, 200);
    assert.deepEqual(response.body.written, { config: 1, environments: 0, integrations: 1 });
    const analytics = (await createStore(adminDb()).listIntegrations("dev")).find(
      (i) => i.name === "analytics",
    );
    assert.equal(analytics?.status, "removed");
  });

  it("refuses a bad config with 400, naming each path, and writes nothing", async () => {
    const bad = configWith((c) => {
      c.environments[1].project_id = 42;
      c.environments[0].type = "qa";
    });
    const response = await api("POST", "/config", bad);
    assert.equal(response.status, 400);
    const paths = response.body.error.problems.map((p: { path: string }) => p.path).sort();
    assert.deepEqual(paths, ["environments[0].type", "environments[1].project_id"]);
    assert.equal((await adminDb().collection("environments").get()).size, 0);
    assert.equal((await adminDb().collection("orchestration_config").get()).size, 0);
  });

  for (const [name, body, contentType, status] of [
    ["malformed JSON", '{"version": 1,', "text/plain", 400],
    ["an empty body", "", "application/json", 400],
    ["a form-encoded body", "version=1", "application/x-www-form-urlencoded", 400],
    ["a body over the size limit", JSON.stringify({ pad: "x".repeat(300 * 1024) }), "application/json", 413],
  ] as const) {
    it(`refuses ${name} with ${status} and writes nothing`, async () => {
      const response = await api("POST", "/config", body, { "content-type": contentType });
      assert.equal(response.status, status, JSON.stringify(response.body));
      assert.ok(response.body.error.message.length > 0);
      assert.equal((await adminDb().collection("environments").get()).size, 0);
    });
  }

  it("answers unknown endpoints with 404 and wrong methods with 405", async () => {
    assert.equal((await api("GET", "/nope")).status, 404);
    const wrong = await api("DELETE", "/config");
    assert.equal(wrong.status, 405);
    assert.match(wrong.body.error.message, /use GET or POST/);
  });

  it("round-trips documents through the typed store, timestamps included", async () => {
    const store = createStore(adminDb());
    const now = new Date("2026-01-02T03:04:05.678Z");
    await store.environments.doc("qa").set({
      name: "qa",
      type: "staging",
      project_id: "demo-qa",
      region: "europe-west1",
      mode: "emulated",
      concurrency: 3,
      rollback_policy: "all",
      status: "ready",
      created_at: now,
      last_updated: now,
    });
    const read = await store.getEnvironment("qa");
    assert.deepEqual(read, {
      name: "qa",
      type: "staging",
      project_id: "demo-qa",
      region: "europe-west1",
      mode: "emulated",
      concurrency: 3,
      rollback_policy: "all",
      status: "ready",
      created_at: now,
      last_updated: now,
    });
  });

  it("refuses to write an invalid document through the typed store", async () => {
    const store = createStore(adminDb());
    await assert.rejects(
      // @ts-expect-error: the point is to write what the types forbid
      async () => store.environments.doc("bad").set({ name: "bad", type: "qa" }),
      (error: unknown) => error instanceof CorruptDocumentError && /type/.test(error.message),
    );
    assert.equal((await adminDb().collection("environments").doc("bad").get()).exists, false);
  });

  it("rejects on read a document written by hand that breaks the schema, naming the document and field", async () => {
    await adminDb()
      .collection("environments")
      .doc("hand-made")
      .set({ name: "hand-made", type: "qa", project_id: 7 });
    const store = createStore(adminDb());
    await assert.rejects(store.getEnvironment("hand-made"), (error: unknown) => {
      assert.ok(error instanceof CorruptDocumentError);
      assert.match(error.message, /^environments\/hand-made is not a valid document/);
      assert.match(error.message, /type: found string "qa"/);
      assert.match(error.message, /project_id: found number 7; allowed: a string/);
      return true;
    });
    const status = await api("GET", "/environments");
    assert.equal(status.status, 500);
    assert.match(status.body.error.message, /environments\/hand-made/);
  });

  it("repairs a damaged document by loading the config that declares it", async () => {
    await adminDb().collection("environments").doc("dev").set({ name: "dev", type: "qa" });
    const response = await api("POST", "/config", exampleConfig());
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.equal((await createStore(adminDb()).getEnvironment("dev"))?.type, "development");
  });
});
