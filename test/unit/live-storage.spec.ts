import assert from "node:assert/strict";
import type { IntegrationSettings } from "../../functions/src/domain/config-schema.js";
import { NonRetriableError } from "../../functions/src/domain/errors.js";
import { createFabricator } from "../../functions/src/drivers/fabricator.js";
import { liveStorageSpec } from "../../functions/src/drivers/live/storage-live.js";
import { byMode } from "../../functions/src/drivers/registry.js";
import { storageDriver } from "../../functions/src/drivers/storage.js";
import type { DriverTarget } from "../../functions/src/drivers/types.js";
import {
  ContractServer,
  firebaseRulesModel,
  storageModel,
  type RulesModel,
  type StorageModel,
} from "../../scripts/contract-server/index.js";
import { contractAccess, liveEnvironment, liveIO, memoryReleases, memorySources } from "../support/live.js";

const PROJECT = "acme-prod";
const BUCKET = `${PROJECT}.firebasestorage.app`;
const RELEASE = `projects/${PROJECT}/releases/firebase.storage/${BUCKET}`;
const S = "storage.buckets";
const R = "firebaserules.projects";

const RULES_V1 = `rules_version = '2';
service firebase.storage {
  match /b/{bucket}/o {
    match /avatars/{uid} { allow read: if request.auth != null; }
  }
}
`;
const RULES_V2 = RULES_V1.replace("allow read", "allow read, write");
const APP_CORS = {
  origin: ["https://app.acme.dev"],
  method: ["GET", "PUT"] as ("GET" | "PUT")[],
  max_age_seconds: 3600,
};

describe("live storage: bucket CORS and lifecycle through Cloud Storage JSON v1, rules through Firebase Rules v1 (contract servers)", () => {
  let storageServer: ContractServer;
  let rulesServer: ContractServer;
  let buckets: StorageModel;
  let rules: RulesModel;
  let files: Record<string, string>;
  let access: Awaited<ReturnType<typeof contractAccess>>;
  let fabricator: ReturnType<typeof createFabricator>;
  const targetWith = (settings: Partial<IntegrationSettings<"storage">> = {}): DriverTarget<"storage"> => {
    const environment = liveEnvironment(["storage"], {
      storage: { rules_file: "storage.rules", location: "us-central1", ...settings },
    });
    return {
      environment,
      integration: "storage",
      kind: "storage",
      settings: environment.integrations[0]!.settings as DriverTarget<"storage">["settings"],
    };
  };
  const target = targetWith({ cors: [APP_CORS], lifecycle_delete_after_days: 30 });

  beforeEach(async () => {
    storageServer = ContractServer.fromRepository("storage-v1");
    rulesServer = ContractServer.fromRepository("firebaserules-v1");
    buckets = storageModel(storageServer);
    rules = firebaseRulesModel(rulesServer);
    // The default bucket as the Firebase console creates it: no CORS, no lifecycle.
    buckets.buckets.set(BUCKET, {
      kind: "storage#bucket",
      name: BUCKET,
      id: BUCKET,
      location: "US-CENTRAL1",
      locationType: "region",
      metageneration: "1",
      storageClass: "STANDARD",
    });
    const [s, r] = await Promise.all([storageServer.start(), rulesServer.start()]);
    access = await contractAccess({ storage: s.url, firebaserules: r.url });
    files = { "storage.rules": RULES_V1 };
    fabricator = createFabricator(
      { storage: byMode(storageDriver, liveStorageSpec) },
      memoryReleases(),
      liveIO(memorySources(files), access),
    );
  });
  afterEach(() => Promise.all([storageServer.stop(), rulesServer.stop()]));

  const bucket = () => buckets.buckets.get(BUCKET)!;
  const served = () => {
    const release = rules.releases.get(RELEASE);
    return release ? rules.rulesets.get(release.rulesetName)?.source.files[0] : undefined;
  };
  const everyRequestWithinContract = () =>
    [...storageServer.requests, ...rulesServer.requests].every(
      (r) => r.verdict === "accepted" || r.status === 404,
    );

  it("plans read-only: CORS, lifecycle and rules differ from the bare bucket", async () => {
    const plan = await fabricator.plan(target);
    assert.equal(plan.mode, "live");
    assert.deepEqual(
      plan.changes.map((c) => c.path),
      ["cors", "lifecycle", "rules"],
    );
    assert.deepEqual(storageServer.calls(), [`${S}.get ${BUCKET}`]);
    assert.deepEqual(rulesServer.calls(), [`${R}.releases.get ${RELEASE}`]);
    assert.ok([...storageServer.requests, ...rulesServer.requests].every((r) => r.httpMethod === "GET"));
  });

  it("first apply patches CORS and lifecycle and releases the rules; the second changes nothing", async () => {
    const first = await fabricator.apply(target, "d1");
    assert.equal(first.changed, true);
    // Cloud Storage's spelling, from the JSON API reference (written here, not taken from the driver).
    assert.deepEqual(bucket().cors, [
      { origin: ["https://app.acme.dev"], method: ["GET", "PUT"], maxAgeSeconds: 3600 },
    ]);
    assert.deepEqual(bucket().lifecycle, { rule: [{ action: { type: "Delete" }, condition: { age: 30 } }] });
    assert.equal(bucket().metageneration, "2");
    assert.deepEqual(served(), { name: "storage.rules", content: RULES_V1 });
    assert.ok(everyRequestWithinContract(), "every request within the contract");

    const before = [storageServer.calls().length, rulesServer.calls().length] as const;
    const second = await fabricator.apply(target, "d2");
    assert.equal(second.changed, false);
    assert.deepEqual(storageServer.calls().slice(before[0]), [`${S}.get ${BUCKET}`]);
    assert.ok(
      !rulesServer
        .calls()
        .slice(before[1])
        .some((c) => c.includes(".create") || c.includes(".patch")),
    );
    assert.equal(bucket().metageneration, "2", "the bucket is not patched again");
  });

  it("rollback restores the previous CORS, lifecycle and rules", async () => {
    await fabricator.apply(target, "d1");
    files["storage.rules"] = RULES_V2;
    const changedTarget = targetWith({ cors: [], lifecycle_delete_after_days: null });
    await fabricator.apply(changedTarget, "d2");
    assert.equal(bucket().cors, undefined, "an empty CORS list clears it");
    assert.equal(bucket().lifecycle, undefined);
    assert.equal(served()?.content, RULES_V2);

    const undone = await fabricator.rollback(changedTarget, "d2");
    assert.match(undone.summary, /^live: rolled back to the state of release 1/);
    assert.deepEqual(bucket().lifecycle, { rule: [{ action: { type: "Delete" }, condition: { age: 30 } }] });
    assert.deepEqual(bucket().cors, [
      { origin: ["https://app.acme.dev"], method: ["GET", "PUT"], maxAgeSeconds: 3600 },
    ]);
    assert.equal(served()?.content, RULES_V1);
    assert.equal(rules.releases.size, 1, "the release is patched, not duplicated");
  });

  it("refuses a location other than the bucket's, changing nothing", async () => {
    await assert.rejects(fabricator.apply(targetWith({ location: "europe-west1" }), "d1"), (error: Error) => {
      assert.ok(error instanceof NonRetriableError);
      assert.match(
        error.message,
        /bucket acme-prod\.firebasestorage\.app is in US-CENTRAL1, the config asks for EUROPE-WEST1/,
      );
      return true;
    });
    assert.equal(bucket().metageneration, "1");
    assert.equal(rules.rulesets.size, 0);
  });

  it("a missing bucket says how to create it", async () => {
    buckets.buckets.clear();
    await assert.rejects(
      fabricator.plan(target),
      /bucket acme-prod\.firebasestorage\.app was not found .*Firebase console/,
    );
  });

  it("backs off on 429 from Cloud Storage and then succeeds", async () => {
    storageServer.inject(`${S}.patch`, { kind: "rate-limited", retryAfterSeconds: 2 }, 2);
    await fabricator.apply(target, "d1");
    // Retry-After 2 s plus 25% of it times random() = 0.5: 2250 ms, twice.
    assert.deepEqual(access.slept, [2250, 2250]);
    assert.equal(bucket().metageneration, "2");
  });

  it("a 403 on the bucket patch names storage.buckets.update and its role", async () => {
    storageServer.inject(`${S}.patch`, { kind: "permission-denied", permission: "storage.buckets.update" });
    await assert.rejects(fabricator.apply(target, "d1"), (error: Error) => {
      assert.ok(error instanceof NonRetriableError);
      assert.match(
        error.message,
        /needs permission storage\.buckets\.update, granted by roles\/storage\.admin/,
      );
      return true;
    });
  });

  it("verify says healthy from Google's answer, degraded when the bucket was changed outside", async () => {
    await fabricator.apply(target, "d1");
    const healthy = await fabricator.verify(target);
    assert.equal(healthy.status, "healthy");
    assert.match(
      healthy.details,
      /^Google reports bucket acme-prod\.firebasestorage\.app in US-CENTRAL1 with 1 CORS entry, 1 lifecycle rule\(s\)/,
    );
    bucket().cors = [{ origin: ["*"], method: ["GET"] }];
    const drifted = await fabricator.verify(target);
    assert.equal(drifted.status, "degraded");
    assert.match(drifted.details, /differ from release 1/);
  });
});
