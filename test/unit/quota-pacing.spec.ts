import assert from "node:assert/strict";
import type { IntegrationSettings } from "../../functions/src/domain/config-schema.js";
import {
  KNOWN_QUOTAS,
  QuotaPacer,
  pacedCall,
  type KnownQuota,
  type MethodClass,
} from "../../functions/src/domain/quota-pacing.js";
import { createFabricator } from "../../functions/src/drivers/fabricator.js";
import { callGoogleData, monitoringApi } from "../../functions/src/drivers/live/google.js";
import { liveMonitoringSpec } from "../../functions/src/drivers/live/monitoring-live.js";
import { liveStorageSpec } from "../../functions/src/drivers/live/storage-live.js";
import { byMode } from "../../functions/src/drivers/registry.js";
import { storageDriver } from "../../functions/src/drivers/storage.js";
import type { DriverTarget } from "../../functions/src/drivers/types.js";
import {
  ContractServer,
  firebaseRulesModel,
  monitoringModel,
  storageModel,
  type StorageModel,
} from "../../scripts/contract-server/index.js";
import { contractAccess, liveEnvironment, liveIO, memoryReleases, memorySources } from "../support/live.js";

const MINUTE = 60_000;
const T0 = Date.parse("2026-12-01T10:00:00.000Z");

/** A call as the pacer counts it. */
const call = (
  api: string,
  method: MethodClass,
  project = "acme-prod",
  path = `/v1/projects/${project}/x`,
) => ({
  api,
  method,
  project,
  path,
});

/** Waits answered for `count` reservations of the same call at `at`. */
const reserveMany = (pacer: QuotaPacer, c: ReturnType<typeof call>, count: number, at: number) =>
  Array.from({ length: count }, () => pacer.reserve(c, at));

describe("quota pacing: the published quotas, written out again here", () => {
  // Expected independently of the module: [api, methods, limit, window ms, a path it counts, a path it does not].
  const expected: [string, MethodClass | "all", number, number, string?, string?][] = [
    ["iam", "read", 6000, MINUTE],
    ["iam", "write", 600, MINUTE],
    [
      "iam",
      "read",
      600,
      MINUTE,
      "/v1/projects/p/locations/global/workloadIdentityPools/ci",
      "/v1/projects/p/serviceAccounts",
    ],
    [
      "iam",
      "write",
      60,
      MINUTE,
      "/v1/projects/p/locations/global/workloadIdentityPools",
      "/v1/projects/p/serviceAccounts/a",
    ],
    ["cloudresourcemanager", "read", 600, MINUTE],
    ["cloudresourcemanager", "write", 600, MINUTE],
    ["storage", "write", 1, 1000, "/storage/v1/b/acme.appspot.com", "/storage/v1/b/acme.appspot.com/o/a.txt"],
    ["bigquery", "all", 100, 1000],
    [
      "bigquery",
      "write",
      5,
      10_000,
      "/bigquery/v2/projects/p/datasets/d",
      "/bigquery/v2/projects/p/datasets",
    ],
    [
      "bigquery",
      "write",
      5,
      10_000,
      "/bigquery/v2/projects/p/datasets/d/tables/t",
      "/bigquery/v2/projects/p/datasets/d/tables",
    ],
  ];

  it("has exactly these rows, each with its source", () => {
    assert.equal(KNOWN_QUOTAS.length, expected.length);
    expected.forEach(([api, methods, limit, windowMs, counted, notCounted], i) => {
      const row: KnownQuota = KNOWN_QUOTAS[i]!;
      assert.deepEqual(
        [row.api, row.methods ?? "all", row.limit, row.windowMs],
        [api, methods, limit, windowMs],
        `row ${i}`,
      );
      assert.match(row.source, /cloud\.google\.com\//, `row ${i} names where Google publishes it`);
      if (counted) assert.ok(row.path?.test(counted), `row ${i} counts ${counted}`);
      if (notCounted) assert.ok(!row.path?.test(notCounted), `row ${i} does not count ${notCounted}`);
      if (!counted) assert.equal(row.path, undefined, `row ${i} counts every path`);
    });
  });

  for (const api of [
    "firebasehosting",
    "firebaserules",
    "firestore",
    "identitytoolkit",
    "monitoring",
    "firebaseappcheck",
    "cloudbuild",
  ])
    it(`${api}: no published per-minute quota, so 10,000 calls at once never wait`, () => {
      const pacer = new QuotaPacer();
      for (const method of ["read", "write"] as const)
        assert.ok(reserveMany(pacer, call(api, method), 10_000, T0).every((wait) => wait === 0));
    });
});

describe("quota pacing: QuotaPacer", () => {
  const perMinute60: KnownQuota = { api: "demo", limit: 60, windowMs: MINUTE, source: "test" };

  it("60 a minute: the 61st call within the minute waits exactly until the first leaves the window", () => {
    const pacer = new QuotaPacer([perMinute60]);
    // 60 calls half a second apart, all within the first 30 s.
    for (let i = 0; i < 60; i += 1) assert.equal(pacer.reserve(call("demo", "write"), T0 + i * 500), 0);
    // At 40 s the window (T0 - 20 s, T0 + 40 s] holds all 60: wait until T0 + 60 s.
    assert.equal(pacer.reserve(call("demo", "write"), T0 + 40_000), 20_000);
    // The 62nd asked at the same moment queues behind it, until the second call leaves.
    assert.equal(pacer.reserve(call("demo", "write"), T0 + 40_000), 20_500);
  });

  it("a call asked after the window has moved on goes at once", () => {
    const pacer = new QuotaPacer([perMinute60]);
    assert.ok(reserveMany(pacer, call("demo", "read"), 60, T0).every((wait) => wait === 0));
    assert.equal(pacer.reserve(call("demo", "read"), T0 + MINUTE), 0);
  });

  it("concurrent callers get successive slots, not the same one", () => {
    const pacer = new QuotaPacer([{ api: "demo", limit: 1, windowMs: 1000, source: "test" }]);
    assert.deepEqual(reserveMany(pacer, call("demo", "write"), 4, T0), [0, 1000, 2000, 3000]);
  });

  it("reads and writes are counted apart where the table separates them (IAM: 600 writes, 6,000 reads a minute)", () => {
    const pacer = new QuotaPacer();
    assert.ok(reserveMany(pacer, call("iam", "write"), 600, T0).every((wait) => wait === 0));
    assert.equal(pacer.reserve(call("iam", "write"), T0), MINUTE, "the 601st write waits a minute");
    assert.equal(pacer.reserve(call("iam", "read"), T0), 0, "a read does not");
    assert.ok(reserveMany(pacer, call("iam", "read"), 5999, T0).every((wait) => wait === 0));
    assert.equal(pacer.reserve(call("iam", "read"), T0), MINUTE, "the 6,001st read waits");
  });

  it("Workload Identity Federation writes wait after 60 a minute, other IAM writes after 600", () => {
    const pacer = new QuotaPacer();
    const pools = call(
      "iam",
      "write",
      "acme-prod",
      "/v1/projects/acme-prod/locations/global/workloadIdentityPools",
    );
    const accounts = call("iam", "write", "acme-prod", "/v1/projects/acme-prod/serviceAccounts/ci");
    assert.ok(reserveMany(pacer, pools, 60, T0).every((wait) => wait === 0));
    // 61 of the IAM-wide 600 writes taken: a service-account write still goes at once.
    assert.equal(pacer.reserve(accounts, T0), 0);
    assert.equal(pacer.reserve(pools, T0), MINUTE, "the 61st pool write waits a minute");
    // Calls keep their order on a quota they share: this one queues behind the waiting pool write.
    assert.equal(pacer.reserve(accounts, T0), MINUTE);
  });

  it("different projects do not share a bucket", () => {
    const pacer = new QuotaPacer();
    assert.ok(
      reserveMany(pacer, call("cloudresourcemanager", "write", "acme-prod"), 600, T0).every((w) => w === 0),
    );
    assert.equal(pacer.reserve(call("cloudresourcemanager", "write", "acme-prod"), T0), MINUTE);
    assert.equal(pacer.reserve(call("cloudresourcemanager", "write", "acme-dev"), T0), 0);
  });

  it("a quota on one resource counts per resource: one bucket's metadata once a second, another's apart", () => {
    const pacer = new QuotaPacer();
    const patch = (bucket: string) => call("storage", "write", "", `/storage/v1/b/${bucket}`);
    assert.equal(pacer.reserve(patch("a"), T0), 0);
    assert.equal(pacer.reserve(patch("a"), T0 + 200), 800);
    assert.equal(pacer.reserve(patch("b"), T0 + 200), 0);
    assert.equal(
      pacer.reserve(call("storage", "read", "", "/storage/v1/b/a"), T0 + 200),
      0,
      "reads are not paced",
    );
  });

  it("BigQuery: the sixth metadata update of one table within 10 s waits; another table's does not", () => {
    const pacer = new QuotaPacer();
    const table = (t: string) =>
      call("bigquery", "write", "p", `/bigquery/v2/projects/p/datasets/d/tables/${t}`);
    assert.deepEqual(reserveMany(pacer, table("events"), 6, T0), [0, 0, 0, 0, 0, 10_000]);
    assert.equal(pacer.reserve(table("other"), T0), 10_000, "behind the queued call: calls keep their order");
    const fresh = new QuotaPacer();
    reserveMany(fresh, table("events"), 5, T0);
    assert.equal(fresh.reserve(table("other"), T0), 0);
  });

  it("a Retry-After hold delays every call of that API and project, not other APIs or projects", () => {
    const pacer = new QuotaPacer();
    pacer.hold({ api: "monitoring", project: "acme-prod" }, T0 + 7000);
    assert.equal(pacer.reserve(call("monitoring", "read"), T0), 7000);
    assert.equal(pacer.reserve(call("monitoring", "write"), T0 + 1000), 6000);
    assert.equal(pacer.reserve(call("firebasehosting", "write"), T0), 0);
    assert.equal(pacer.reserve(call("monitoring", "write", "acme-dev"), T0), 0);
    assert.equal(pacer.heldFor({ api: "monitoring", project: "acme-prod" }, T0 + 5000), 2000);
    assert.equal(pacer.heldFor({ api: "monitoring", project: "acme-prod" }, T0 + 8000), 0);
    // A shorter hold never shortens a longer one.
    pacer.hold({ api: "monitoring", project: "acme-prod" }, T0 + 1000);
    assert.equal(pacer.heldFor({ api: "monitoring", project: "acme-prod" }, T0), 7000);
  });
});

describe("quota pacing: pacedCall reads a request", () => {
  const table: [string, string, string, { project: string; method: MethodClass }][] = [
    [
      "monitoring",
      "GET",
      "https://monitoring.googleapis.com/v3/projects/acme/alertPolicies",
      { project: "acme", method: "read" },
    ],
    [
      "monitoring",
      "POST",
      "https://monitoring.googleapis.com/v3/projects/acme/alertPolicies",
      { project: "acme", method: "write" },
    ],
    [
      "cloudresourcemanager",
      "POST",
      "https://cloudresourcemanager.googleapis.com/v3/projects/acme:getIamPolicy",
      { project: "acme", method: "read" },
    ],
    [
      "cloudresourcemanager",
      "POST",
      "https://cloudresourcemanager.googleapis.com/v3/projects/acme:setIamPolicy",
      { project: "acme", method: "write" },
    ],
    [
      "storage",
      "POST",
      "https://storage.googleapis.com/storage/v1/b?project=acme",
      { project: "acme", method: "write" },
    ],
    [
      "storage",
      "PATCH",
      "https://storage.googleapis.com/storage/v1/b/acme.appspot.com",
      { project: "", method: "write" },
    ],
    [
      "firebasehosting",
      "DELETE",
      "http://127.0.0.1:9/v1beta1/sites/acme-web/versions/1",
      { project: "", method: "write" },
    ],
  ];
  for (const [api, verb, url, want] of table)
    it(`${verb} ${url}`, () => {
      const got = pacedCall(api, verb, url);
      assert.deepEqual({ project: got.project, method: got.method }, want);
    });
});

describe("quota pacing through the live drivers (contract servers)", () => {
  const PROJECT = "acme-prod";
  const BUCKET = `${PROJECT}.firebasestorage.app`;
  const RULES =
    "rules_version = '2';\nservice firebase.storage {\n  match /b/{bucket}/o {\n    match /avatars/{uid} { allow read: if request.auth != null; }\n  }\n}\n";

  describe("storage: bucket metadata, one update a second (the published figure)", () => {
    let storageServer: ContractServer;
    let rulesServer: ContractServer;
    let buckets: StorageModel;
    let urls: { storage: string; firebaserules: string };
    const targetWith = (settings: Partial<IntegrationSettings<"storage">>): DriverTarget<"storage"> => {
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

    beforeEach(async () => {
      storageServer = ContractServer.fromRepository("storage-v1");
      rulesServer = ContractServer.fromRepository("firebaserules-v1");
      buckets = storageModel(storageServer);
      firebaseRulesModel(rulesServer);
      buckets.buckets.set(BUCKET, {
        kind: "storage#bucket",
        name: BUCKET,
        id: BUCKET,
        location: "US-CENTRAL1",
        locationType: "region",
        metageneration: "1",
        storageClass: "STANDARD",
      });
      const [st, ru] = await Promise.all([storageServer.start(), rulesServer.start()]);
      urls = { storage: st.url, firebaserules: ru.url };
    });
    afterEach(() => Promise.all([storageServer.stop(), rulesServer.stop()]));

    it("two applies in the same second: the second patch waits out the second instead of drawing a 429", async () => {
      const access = await contractAccess(urls);
      const fabricator = createFabricator(
        { storage: byMode(storageDriver, liveStorageSpec) },
        memoryReleases(),
        liveIO(memorySources({ "storage.rules": RULES }), access),
      );
      await fabricator.apply(targetWith({ lifecycle_delete_after_days: 30 }), "d1");
      assert.deepEqual(access.slept, [], "the first patch goes at once");
      await fabricator.apply(targetWith({ lifecycle_delete_after_days: 60 }), "d2");
      assert.deepEqual(
        access.slept,
        [1000],
        "the second waits the rest of the second (the fake clock has not moved)",
      );
      assert.equal(buckets.buckets.get(BUCKET)?.metageneration, "3");
      assert.ok(
        storageServer.requests.every((r) => r.verdict === "accepted" && r.status !== 429),
        "Google never had to refuse one",
      );
    });
  });

  describe("a 429 with Retry-After holds the API for the next callers", () => {
    let server: ContractServer;
    let url: string;
    beforeEach(async () => {
      server = ContractServer.fromRepository("monitoring-v3");
      monitoringModel(server);
      ({ url } = await server.start());
    });
    afterEach(() => server.stop());

    it("a call given up on a 429 leaves a hold: the next Monitoring call waits it out before asking", async () => {
      const access = await contractAccess({ monitoring: url }, { maxAttempts: 1 });
      const api = await monitoringApi(access);
      const parent = `projects/${PROJECT}`;
      server.inject("monitoring.projects.alertPolicies.list", { kind: "rate-limited", retryAfterSeconds: 5 });
      await assert.rejects(
        callGoogleData(access, "listing", "monitoring.alertPolicies.list", () =>
          api.projects.alertPolicies.list({ name: parent }),
        ),
        /HTTP 429/,
      );
      assert.deepEqual(access.slept, [], "one attempt only: callGoogle did not sleep");
      await callGoogleData(access, "listing", "monitoring.uptimeCheckConfigs.list", () =>
        api.projects.uptimeCheckConfigs.list({ parent }),
      );
      assert.deepEqual(access.slept, [5000], "the other call waited for the hold");
    });
  });

  describe("monitoring: many creates under a quota the test gives (Google publishes none for Monitoring)", () => {
    let server: ContractServer;
    let url: string;
    beforeEach(async () => {
      server = ContractServer.fromRepository("monitoring-v3");
      monitoringModel(server);
      ({ url } = await server.start());
    });
    afterEach(() => server.stop());

    it("2 writes a minute: the uptime check and four policies go two a minute, reads unpaced, no 429", async () => {
      const pacer = new QuotaPacer([
        { api: "monitoring", methods: "write", limit: 2, windowMs: MINUTE, source: "test" },
      ]);
      const access = await contractAccess({ monitoring: url }, { pacer });
      const environment = liveEnvironment(["hosting", "monitoring"], {
        hosting: { site: "acme-web" },
        monitoring: { notification_channels: ["projects/acme-prod/notificationChannels/42"] },
      });
      const target: DriverTarget<"monitoring"> = {
        environment,
        integration: "monitoring",
        kind: "monitoring",
        settings: environment.integrations.find((i) => i.kind === "monitoring")!.settings,
      };
      const fabricator = createFabricator(
        { monitoring: liveMonitoringSpec },
        memoryReleases(),
        liveIO(memorySources({}), access),
      );
      await fabricator.apply(target, "d1");
      const writes = server.requests.filter((r) => r.httpMethod !== "GET");
      assert.equal(writes.length, 5, "an uptime check and four alert policies");
      // Writes 1-2 at once, 3-4 a minute later, 5 a minute after that.
      assert.deepEqual(access.slept, [MINUTE, MINUTE]);
      assert.equal(access.clock.ms, T0 + 2 * MINUTE);
      assert.ok(
        server.requests.every((r) => r.verdict === "accepted"),
        "no 429 was needed",
      );
    });
  });
});
