import assert from "node:assert/strict";
import { runDoctor } from "../../functions/src/drivers/live/doctor.js";
import type { GoogleAccess } from "../../functions/src/drivers/live/google.js";
import { ContractServer, resourceManagerModel } from "../../scripts/contract-server/index.js";
import { contractAccess, liveEnvironment } from "../support/live.js";

/** What the README's IAM table promises per live driver (written here, independently of the code's table). */
const HOSTING = ["firebasehosting.sites.get", "firebasehosting.sites.update"];
const AUTH = ["firebaseauth.configs.get", "firebaseauth.configs.update"];
const INDEXES = ["datastore.indexes.create", "datastore.indexes.delete", "datastore.indexes.list"];
const BUCKET = ["storage.buckets.get", "storage.buckets.update"];
const IAM = ["resourcemanager.projects.getIamPolicy", "resourcemanager.projects.setIamPolicy"];
const APP_CHECK = ["firebaseappcheck.services.get", "firebaseappcheck.services.update"];
const SECURITY = [...IAM, ...APP_CHECK];
// The Workload Identity calls of the cicd driver, in its order: pools, then providers (roles/iam.workloadIdentityPoolAdmin).
const POOLS = [
  "iam.workloadIdentityPools.get",
  "iam.workloadIdentityPools.create",
  "iam.workloadIdentityPools.update",
  "iam.workloadIdentityPools.undelete",
  "iam.workloadIdentityPoolProviders.get",
  "iam.workloadIdentityPoolProviders.create",
  "iam.workloadIdentityPoolProviders.update",
  "iam.workloadIdentityPoolProviders.undelete",
];
const SERVICE_ACCOUNT_POLICY = ["iam.serviceAccounts.getIamPolicy", "iam.serviceAccounts.setIamPolicy"];
const CICD = [...POOLS, ...SERVICE_ACCOUNT_POLICY];
const RULES = [
  "firebaserules.releases.create",
  "firebaserules.releases.get",
  "firebaserules.releases.update",
  "firebaserules.rulesets.create",
  "firebaserules.rulesets.get",
];

describe("doctor: credentials and testIamPermissions against the Resource Manager v3 contract", () => {
  let server: ContractServer;
  let access: GoogleAccess;
  let granted: Map<string, Set<string>>;
  const environment = liveEnvironment(["hosting", "firestore", "auth", "storage", "security", "cicd"]);

  beforeEach(async () => {
    server = ContractServer.fromRepository("cloudresourcemanager-v3");
    granted = new Map();
    resourceManagerModel(server, granted);
    const { url } = await server.start();
    access = await contractAccess({ cloudresourcemanager: url });
  });
  afterEach(() => server.stop());

  it("names each missing permission with its role; hosting and auth ready", async () => {
    granted.set(
      "acme-prod",
      new Set([...HOSTING, ...AUTH, ...INDEXES, "firebaserules.releases.get", "firebaserules.rulesets.get"]),
    );
    const report = await runDoctor(environment, access);
    assert.equal(report.ok, false);
    assert.equal(report.credentials.ok, true);
    const byName = Object.fromEntries(report.integrations.map((i) => [i.integration, i]));
    assert.equal(byName.hosting?.status, "ready");
    assert.equal(byName.firestore?.status, "missing permissions");
    assert.deepEqual(
      byName.firestore?.missing.map((m) => [m.permission, m.role]),
      [
        ["firebaserules.rulesets.create", "roles/firebaserules.admin"],
        ["firebaserules.releases.update", "roles/firebaserules.admin"],
        ["firebaserules.releases.create", "roles/firebaserules.admin"],
      ],
    );
    assert.match(
      byName.firestore?.details ?? "",
      /missing firebaserules\.rulesets\.create \(roles\/firebaserules\.admin\)/,
    );
    assert.equal(byName.auth?.status, "ready");
    assert.equal(byName.storage?.status, "missing permissions");
    assert.deepEqual(
      byName.storage?.missing.map((m) => [m.permission, m.role]),
      [
        ["storage.buckets.get", "roles/storage.admin"],
        ["storage.buckets.update", "roles/storage.admin"],
        ["firebaserules.rulesets.create", "roles/firebaserules.admin"],
        ["firebaserules.releases.update", "roles/firebaserules.admin"],
        ["firebaserules.releases.create", "roles/firebaserules.admin"],
      ],
    );
    assert.equal(byName.security?.status, "missing permissions");
    assert.deepEqual(
      byName.security?.missing.map((m) => [m.permission, m.role]),
      [
        ...IAM.map((permission) => [permission, "roles/resourcemanager.projectIamAdmin"]),
        ...APP_CHECK.map((permission) => [permission, "roles/firebaseappcheck.admin"]),
      ],
    );
    assert.equal(byName.cicd?.status, "missing permissions");
    assert.deepEqual(
      byName.cicd?.missing.map((m) => [m.permission, m.role]),
      [
        ...POOLS.map((permission) => [permission, "roles/iam.workloadIdentityPoolAdmin"]),
        ...SERVICE_ACCOUNT_POLICY.map((permission) => [permission, "roles/iam.serviceAccountAdmin"]),
      ],
    );
    // One read-only call, within the contract, asking exactly the permissions of the live drivers.
    assert.deepEqual(server.calls(), ["cloudresourcemanager.projects.testIamPermissions projects/acme-prod"]);
    assert.equal(server.requests[0]?.verdict, "accepted");
    assert.deepEqual(
      (server.requests[0]?.body as { permissions: string[] }).permissions,
      [...HOSTING, ...RULES, ...INDEXES, ...AUTH, ...BUCKET, ...SECURITY, ...CICD].sort(),
    );
  });

  it("is ok when every permission is held", async () => {
    granted.set(
      "acme-prod",
      new Set([...HOSTING, ...RULES, ...INDEXES, ...AUTH, ...BUCKET, ...SECURITY, ...CICD]),
    );
    const report = await runDoctor(environment, access);
    assert.equal(report.ok, true);
    assert.match(report.summary, /^6 live integration\(s\) ready, 0 missing permissions$/);
  });

  it("says so when the project is invisible to the credentials (403 from Google)", async () => {
    const report = await runDoctor(environment, access);
    assert.equal(report.ok, false);
    const hosting = report.integrations.find((i) => i.integration === "hosting");
    assert.deepEqual(
      hosting?.missing.map((m) => m.permission),
      HOSTING,
    );
    assert.match(hosting?.details ?? "", /Google answered 403.*project id may be wrong/);
  });

  it("reports credentials that give no token, and asks Google nothing", async () => {
    const broken: GoogleAccess = {
      ...access,
      auth: () => Promise.reject(new Error("Could not load the default credentials")),
    };
    const report = await runDoctor(environment, broken);
    assert.equal(report.ok, false);
    assert.match(
      report.credentials.details,
      /Could not load the default credentials.*gcloud auth application-default login/,
    );
    assert.ok(
      report.integrations.filter((i) => i.live_path === "built").every((i) => i.status === "not checked"),
    );
    assert.equal(server.requests.length, 0);
  });

  it("has nothing to check for an emulated environment", async () => {
    const report = await runDoctor({ ...environment, mode: "emulated" }, access);
    assert.equal(report.ok, true);
    assert.equal(server.requests.length, 0);
  });

  it("the contract server refuses a malformed testIamPermissions request, naming the field", async () => {
    const { url } = { url: (access.rootUrls.cloudresourcemanager ?? "").replace(/\/$/, "") };
    const answer = await fetch(`${url}/v3/projects/acme-prod:testIamPermissions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ permissions: "firebasehosting.sites.get" }),
    });
    assert.equal(answer.status, 400);
    assert.match(
      ((await answer.json()) as { error: { message: string } }).error.message,
      /permissions: expected an array/,
    );
    const path = await fetch(`${url}/v3/folders/1:testIamPermissions`, { method: "POST", body: "{}" });
    assert.equal(path.status, 400, "a resource outside ^projects/[^/]+$ is refused");
  });
});
