import assert from "node:assert/strict";
import type { IntegrationSettings } from "../../functions/src/domain/config-schema.js";
import { NonRetriableError } from "../../functions/src/domain/errors.js";
import { createFabricator } from "../../functions/src/drivers/fabricator.js";
import { liveSecuritySpec } from "../../functions/src/drivers/live/security-live.js";
import { byMode } from "../../functions/src/drivers/registry.js";
import { securityDriver } from "../../functions/src/drivers/security.js";
import type { DriverTarget } from "../../functions/src/drivers/types.js";
import {
  ContractServer,
  firebaseAppCheckModel,
  iamPolicyModel,
  type AppCheckModel,
  type IamPolicyModel,
  type StoredBinding,
} from "../../scripts/contract-server/index.js";
import { contractAccess, liveEnvironment, liveIO, memoryReleases, memorySources } from "../support/live.js";

const PROJECT = "acme-prod";
const RESOURCE = `projects/${PROJECT}`;
const GET = `cloudresourcemanager.projects.getIamPolicy ${RESOURCE}`;
const SET = `cloudresourcemanager.projects.setIamPolicy ${RESOURCE}`;

const VIEWER = "roles/firebase.viewer";
const DATASTORE_USER = "roles/datastore.user";
const ANN = "user:ann@acme.dev";
const BOB = "user:bob@acme.dev";
const OLD = "user:old@acme.dev";
const OPS = "group:ops@acme.dev";
const API_SA = "serviceAccount:api@acme-prod.iam.gserviceaccount.com";
// What a project holds before the control plane manages it: Google's service agent on roles/editor
// (a role the config does not own), a member of an owned role the config does not list, and a
// conditional binding of an owned role.
const SERVICE_AGENT: StoredBinding = {
  role: "roles/editor",
  members: ["serviceAccount:123456789@cloudservices.gserviceaccount.com"],
};
const CONDITIONAL: StoredBinding = {
  role: DATASTORE_USER,
  members: ["user:contractor@acme.dev"],
  condition: { title: "until 2027", expression: "request.time < timestamp('2027-01-01T00:00:00Z')" },
};
const INITIAL: StoredBinding[] = [SERVICE_AGENT, { role: VIEWER, members: [OLD] }, CONDITIONAL];

type Bindings = IntegrationSettings<"security">["iam_bindings"];
const CONFIG: Bindings = [
  { role: VIEWER, members: [ANN, OPS] },
  { role: DATASTORE_USER, members: [API_SA] },
];

describe("live security: IAM bindings through Resource Manager v3 get/setIamPolicy with the etag (contract server)", () => {
  let server: ContractServer;
  let iam: IamPolicyModel;
  let access: Awaited<ReturnType<typeof contractAccess>>;
  let fabricator: ReturnType<typeof createFabricator>;
  const targetWith = (iam_bindings: Bindings): DriverTarget<"security"> => {
    const environment = liveEnvironment(["security"], { security: { iam_bindings } });
    return {
      environment,
      integration: "security",
      kind: "security",
      settings: environment.integrations[0]!.settings as DriverTarget<"security">["settings"],
    };
  };
  const target = targetWith(CONFIG);

  beforeEach(async () => {
    server = ContractServer.fromRepository("cloudresourcemanager-v3");
    iam = iamPolicyModel(server);
    iam.seed(PROJECT, INITIAL);
    const { url } = await server.start();
    access = await contractAccess({ cloudresourcemanager: url });
    fabricator = createFabricator(
      { security: byMode(securityDriver, liveSecuritySpec) },
      memoryReleases(),
      liveIO(memorySources({}), access),
    );
  });
  afterEach(() => server.stop());

  const policy = () => iam.policies.get(PROJECT)!;
  const bindingOf = (role: string) => policy().bindings.filter((b) => b.role === role && !b.condition);
  const withinContract = () => server.requests.every((r) => r.violations.length === 0 && r.methodId !== null);

  it("plans read-only: only getIamPolicy, with each owned role's members from and to", async () => {
    const plan = await fabricator.plan(target);
    assert.equal(plan.mode, "live");
    assert.deepEqual(plan.problems, []);
    assert.deepEqual(plan.changes, [
      { path: `iam_bindings.${DATASTORE_USER}`, from: [], to: [API_SA] },
      { path: `iam_bindings.${VIEWER}`, from: [OLD], to: [OPS, ANN] },
    ]);
    assert.deepEqual(server.calls(), [GET]);
    assert.deepEqual(server.requests[0]?.body, { options: { requestedPolicyVersion: 3 } });
  });

  it("first apply writes the owned roles with the etag read, leaving other bindings; the second writes nothing", async () => {
    const etagBefore = policy().etag;
    const first = await fabricator.apply(target, "d1");
    assert.equal(first.changed, true);
    assert.deepEqual(server.calls(), [GET, GET, SET]);
    const sent = (server.requests[2]?.body as { policy: { etag: string } }).policy;
    assert.equal(sent.etag, etagBefore, "the write carries the etag of the read before it");
    assert.deepEqual(bindingOf(VIEWER), [{ role: VIEWER, members: [OPS, ANN] }]);
    assert.deepEqual(bindingOf(DATASTORE_USER), [{ role: DATASTORE_USER, members: [API_SA] }]);
    assert.deepEqual(bindingOf("roles/editor"), [SERVICE_AGENT], "an unowned role is untouched");
    assert.deepEqual(
      policy().bindings.filter((b) => b.condition),
      [CONDITIONAL],
      "a conditional binding of an owned role is untouched",
    );
    assert.equal(policy().version, 3, "a policy with a condition is written as version 3");
    assert.ok(withinContract(), "every request within the contract");

    const etagAfter = policy().etag;
    const second = await fabricator.apply(target, "d2");
    assert.equal(second.changed, false);
    assert.deepEqual(server.calls().slice(3), [GET]);
    assert.equal(policy().etag, etagAfter);
  });

  it("a member removed from the config leaves its role; roles the config does not own keep theirs", async () => {
    await fabricator.apply(target, "d1");
    const narrower = targetWith([
      { role: VIEWER, members: [ANN] },
      { role: DATASTORE_USER, members: [API_SA] },
    ]);
    const plan = await fabricator.plan(narrower);
    assert.deepEqual(plan.changes, [{ path: `iam_bindings.${VIEWER}`, from: [OPS, ANN], to: [ANN] }]);
    await fabricator.apply(narrower, "d2");
    assert.deepEqual(bindingOf(VIEWER), [{ role: VIEWER, members: [ANN] }]);
    assert.deepEqual(bindingOf("roles/editor"), [SERVICE_AGENT]);
    assert.deepEqual(bindingOf(DATASTORE_USER), [{ role: DATASTORE_USER, members: [API_SA] }]);
  });

  it("a concurrent change (stale etag, 409 ABORTED) is read again and the change redone on top of it", async () => {
    const eve: StoredBinding = { role: "roles/storage.objectViewer", members: ["user:eve@acme.dev"] };
    iam.concurrent.push((p) => p.bindings.push(structuredClone(eve)));
    await fabricator.apply(target, "d1");
    assert.deepEqual(server.calls(), [GET, GET, SET, GET, SET]);
    assert.equal(server.requests[2]?.status, 409);
    assert.equal(server.requests[4]?.status, 200);
    // The exponential back-off of attempt 1 (2 s) plus 25% of it times random() = 0.5.
    assert.deepEqual(access.slept, [2250]);
    assert.deepEqual(bindingOf("roles/storage.objectViewer"), [eve], "the other writer's binding is kept");
    assert.deepEqual(bindingOf(VIEWER), [{ role: VIEWER, members: [OPS, ANN] }]);
  });

  it("gives up after five read-modify-writes that each lost to a concurrent change, as a retriable error", async () => {
    for (let i = 0; i < 5; i += 1)
      iam.concurrent.push((p) => p.bindings.push({ role: "roles/x.y", members: [BOB] }));
    await assert.rejects(fabricator.apply(target, "d1"), (error: Error) => {
      assert.ok(!(error instanceof NonRetriableError));
      assert.match(error.message, /the policy changed under each of 5 read-modify-writes \(HTTP 409 ABORTED/);
      return true;
    });
    assert.equal(server.calls().filter((c) => c === SET).length, 5);
    assert.deepEqual(bindingOf(VIEWER), [{ role: VIEWER, members: [OLD] }], "nothing of ours was written");
  });

  it("rollback restores the owned roles' members of the previous release", async () => {
    await fabricator.apply(target, "d1");
    const changed = targetWith([
      { role: VIEWER, members: [ANN, BOB] },
      { role: DATASTORE_USER, members: [API_SA] },
    ]);
    await fabricator.apply(changed, "d2");
    assert.deepEqual(bindingOf(VIEWER), [{ role: VIEWER, members: [ANN, BOB] }]);

    const undone = await fabricator.rollback(changed, "d2");
    assert.match(undone.summary, /^live: rolled back to the state of release 1/);
    assert.deepEqual(bindingOf(VIEWER), [{ role: VIEWER, members: [OPS, ANN] }]);
    assert.deepEqual(bindingOf("roles/editor"), [SERVICE_AGENT]);
  });

  it("backs off on 429 and then succeeds", async () => {
    server.inject(
      "cloudresourcemanager.projects.setIamPolicy",
      { kind: "rate-limited", retryAfterSeconds: 2 },
      2,
    );
    await fabricator.apply(target, "d1");
    // Retry-After 2 s plus 25% of it times random() = 0.5: 2250 ms, twice.
    assert.deepEqual(access.slept, [2250, 2250]);
    assert.deepEqual(bindingOf(VIEWER), [{ role: VIEWER, members: [OPS, ANN] }]);
  });

  it("a 403 on the write names resourcemanager.projects.setIamPolicy and its role", async () => {
    server.inject("cloudresourcemanager.projects.setIamPolicy", {
      kind: "permission-denied",
      permission: "resourcemanager.projects.setIamPolicy",
    });
    await assert.rejects(fabricator.apply(target, "d1"), (error: Error) => {
      assert.ok(error instanceof NonRetriableError);
      assert.match(
        error.message,
        /needs permission resourcemanager\.projects\.setIamPolicy, granted by roles\/resourcemanager\.projectIamAdmin/,
      );
      return true;
    });
    assert.deepEqual(bindingOf(VIEWER), [{ role: VIEWER, members: [OLD] }]);
  });

  it("refuses dangerous bindings at plan, naming each field, and asks Google nothing", async () => {
    const plan = await fabricator.plan(
      targetWith([
        { role: "roles/owner", members: [ANN] },
        { role: "roles/firebase.admin", members: ["allUsers", "user:bob", "domain:acme.dev"] },
        { role: "roles/resourcemanager.projectIamAdmin", members: [API_SA] },
        { role: "roles/firebase.serviceAgent", members: [API_SA] },
      ]),
    );
    assert.match(plan.summary, /^live: refused: /);
    assert.deepEqual(
      plan.problems.map((p) => p.path),
      [
        "integrations.security.iam_bindings[1].members[0]",
        "integrations.security.iam_bindings[0].role",
        "integrations.security.iam_bindings[1].members[1]",
        "integrations.security.iam_bindings[1].members[2]",
        "integrations.security.iam_bindings[2].role",
        "integrations.security.iam_bindings[3].role",
      ],
    );
    const text = plan.problems.map((p) => p.message).join("\n");
    assert.match(text, /iam_bindings\[0\]\.role: found "roles\/owner", a basic role/);
    assert.match(text, /members\[0\]: found "allUsers"; allowed: .*never allUsers/);
    assert.match(text, /members\[1\]: found "user:bob" \(no email address after user:\)/);
    assert.match(text, /members\[2\]: found "domain:acme\.dev" on the admin role roles\/firebase\.admin/);
    assert.match(
      text,
      /iam_bindings\[2\]\.role: found "roles\/resourcemanager\.projectIamAdmin", a role that grants IAM itself/,
    );
    assert.match(
      text,
      /iam_bindings\[3\]\.role: found "roles\/firebase\.serviceAgent", a service agent role/,
    );
    assert.equal(server.requests.length, 0);
    await assert.rejects(
      fabricator.apply(targetWith([{ role: "roles/owner", members: [ANN] }]), "d1"),
      NonRetriableError,
    );
    assert.equal(server.requests.length, 0);
  });

  it("the contract server holds the model to Google's rules: a stale etag is 409, allUsers is refused", async () => {
    const { cloudresourcemanager_v3 } = await import("googleapis/build/src/apis/cloudresourcemanager/v3.js");
    const api = new cloudresourcemanager_v3.Cloudresourcemanager({
      auth: await access.auth(),
      rootUrl: access.rootUrls.cloudresourcemanager,
      retry: false,
    });
    const stale = policy().etag;
    iam.seed(PROJECT, INITIAL);
    await assert.rejects(
      api.projects.setIamPolicy({
        resource: RESOURCE,
        requestBody: { policy: { etag: stale, bindings: [] } },
      }),
      (error: { response?: { status: number; data: { error: { status: string } } } }) =>
        error.response?.status === 409 && error.response.data.error.status === "ABORTED",
    );
    await assert.rejects(
      api.projects.setIamPolicy({
        resource: RESOURCE,
        requestBody: { policy: { bindings: [{ role: VIEWER, members: ["allUsers"] }] } },
      }),
      (error: { response?: { status: number } }) => error.response?.status === 400,
    );
    assert.deepEqual(policy().bindings, INITIAL);
  });

  it("verify is healthy from Google's answer, degraded when an owned role was changed outside", async () => {
    await fabricator.apply(target, "d1");
    const healthy = await fabricator.verify(target);
    assert.equal(healthy.status, "healthy");
    assert.match(
      healthy.details,
      /^Google reports the 2 owned role\(s\) of projects\/acme-prod with their configured members; App Check: no Firestore or Storage integration/,
    );
    bindingOf(VIEWER)[0]!.members.push(BOB);
    const drifted = await fabricator.verify(target);
    assert.equal(drifted.status, "degraded");
    assert.match(
      drifted.details,
      /the members of roles\/firebase\.viewer on projects\/acme-prod differ from release 1/,
    );
  });
});

const FIRESTORE_SERVICE = `${RESOURCE}/services/firestore.googleapis.com`;
const STORAGE_SERVICE = `${RESOURCE}/services/firebasestorage.googleapis.com`;
const A = "firebaseappcheck.projects.services";
const RULES = {
  "environments/firestore.rules":
    "rules_version = '2';\nservice cloud.firestore {\n  match /databases/{db}/documents {\n    match /{doc=**} { allow read, write: if request.auth != null; }\n  }\n}\n",
  "environments/storage.rules":
    "rules_version = '2';\nservice firebase.storage {\n  match /b/{bucket}/o {\n    match /{path=**} { allow read, write: if request.auth != null; }\n  }\n}\n",
};

describe("live security: App Check enforcement through Firebase App Check v1 projects.services (contract server)", () => {
  let iamServer: ContractServer;
  let appCheckServer: ContractServer;
  let appCheck: AppCheckModel;
  let access: Awaited<ReturnType<typeof contractAccess>>;
  let fabricator: ReturnType<typeof createFabricator>;
  const targetWith = (
    mode: "off" | "monitor" | "enforce",
    kinds: ("firestore" | "storage")[] = ["firestore", "storage"],
  ) => {
    const environment = liveEnvironment([...kinds, "auth", "security"], { security: { app_check: mode } });
    const security = environment.integrations.find((i) => i.kind === "security")!;
    return {
      environment,
      integration: "security",
      kind: "security",
      settings: security.settings,
    } as DriverTarget<"security">;
  };
  const mode = (name: string) => appCheck.services.get(name)?.enforcementMode ?? "OFF";

  beforeEach(async () => {
    iamServer = ContractServer.fromRepository("cloudresourcemanager-v3");
    appCheckServer = ContractServer.fromRepository("firebaseappcheck-v1");
    iamPolicyModel(iamServer).seed(PROJECT, INITIAL);
    appCheck = firebaseAppCheckModel(appCheckServer, [PROJECT]);
    const [i, a] = await Promise.all([iamServer.start(), appCheckServer.start()]);
    access = await contractAccess({ cloudresourcemanager: i.url, firebaseappcheck: a.url });
    fabricator = createFabricator(
      { security: byMode(securityDriver, liveSecuritySpec) },
      memoryReleases(),
      liveIO(memorySources({ ...RULES }), access),
    );
  });
  afterEach(() => Promise.all([iamServer.stop(), appCheckServer.stop()]));

  it("plans read-only: each declared product's mode from and to (auth is no App Check v1 service)", async () => {
    const plan = await fabricator.plan(targetWith("enforce"));
    assert.deepEqual(plan.problems, []);
    assert.deepEqual(plan.changes, [
      { path: "app_check.firebasestorage.googleapis.com", from: "OFF", to: "ENFORCED" },
      { path: "app_check.firestore.googleapis.com", from: "OFF", to: "ENFORCED" },
    ]);
    assert.deepEqual(appCheckServer.calls(), [
      `${A}.get ${STORAGE_SERVICE}`,
      `${A}.get ${FIRESTORE_SERVICE}`,
    ]);
    assert.ok(appCheckServer.requests.every((r) => r.httpMethod === "GET"));
  });

  it("first apply enforces with the update mask, the second changes nothing; rollback goes back to monitoring", async () => {
    await fabricator.apply(targetWith("monitor"), "d1");
    assert.equal(mode(FIRESTORE_SERVICE), "UNENFORCED");
    assert.equal(mode(STORAGE_SERVICE), "UNENFORCED");
    const enforce = targetWith("enforce");
    const first = await fabricator.apply(enforce, "d2");
    assert.equal(first.changed, true);
    assert.equal(mode(FIRESTORE_SERVICE), "ENFORCED");
    assert.equal(mode(STORAGE_SERVICE), "ENFORCED");
    const patch = appCheckServer.requests.filter((r) => r.methodId === `${A}.patch`).at(-1);
    assert.equal(patch?.query.updateMask, "enforcementMode");
    assert.deepEqual(patch?.body, { name: FIRESTORE_SERVICE, enforcementMode: "ENFORCED" });
    assert.ok(appCheckServer.requests.every((r) => r.violations.length === 0 && r.status === 200));

    const before = appCheckServer.calls().length;
    const second = await fabricator.apply(enforce, "d3");
    assert.equal(second.changed, false);
    assert.ok(
      !appCheckServer
        .calls()
        .slice(before)
        .some((c) => c.startsWith(`${A}.patch`)),
    );

    await fabricator.rollback(enforce, "d2");
    assert.equal(mode(FIRESTORE_SERVICE), "UNENFORCED");
    assert.equal(mode(STORAGE_SERVICE), "UNENFORCED");
  });

  it("turning App Check off lowers replay protection with it (it may not exceed the mode)", async () => {
    appCheck.services.set(FIRESTORE_SERVICE, {
      enforcementMode: "ENFORCED",
      replayProtection: "ENFORCED",
      etag: "7",
    });
    await fabricator.apply(targetWith("off", ["firestore"]), "d1");
    assert.deepEqual(appCheck.services.get(FIRESTORE_SERVICE)?.enforcementMode, "OFF");
    assert.deepEqual(appCheck.services.get(FIRESTORE_SERVICE)?.replayProtection, "OFF");
    const patch = appCheckServer.requests.find((r) => r.methodId === `${A}.patch`);
    assert.equal(patch?.query.updateMask, "enforcementMode,replayProtection");
  });

  it("backs off on 429 from App Check and then succeeds", async () => {
    appCheckServer.inject(`${A}.patch`, { kind: "rate-limited", retryAfterSeconds: 1 }, 1);
    await fabricator.apply(targetWith("enforce", ["firestore"]), "d1");
    // Retry-After 1 s plus 25% of it times random() = 0.5.
    assert.deepEqual(access.slept, [1125]);
    assert.equal(mode(FIRESTORE_SERVICE), "ENFORCED");
  });

  it("a 403 names firebaseappcheck.services.update and its role", async () => {
    appCheckServer.inject(`${A}.patch`, {
      kind: "permission-denied",
      permission: "firebaseappcheck.services.update",
    });
    await assert.rejects(fabricator.apply(targetWith("enforce", ["firestore"]), "d1"), (error: Error) => {
      assert.ok(error instanceof NonRetriableError);
      assert.match(
        error.message,
        /needs permission firebaseappcheck\.services\.update, granted by roles\/firebaseappcheck\.admin/,
      );
      return true;
    });
  });

  it("verify reports the modes, degraded when one was changed in the console", async () => {
    const target = targetWith("enforce");
    await fabricator.apply(target, "d1");
    const healthy = await fabricator.verify(target);
    assert.equal(healthy.status, "healthy");
    assert.match(
      healthy.details,
      /App Check: firebasestorage\.googleapis\.com ENFORCED, firestore\.googleapis\.com ENFORCED$/,
    );
    appCheck.services.get(STORAGE_SERVICE)!.enforcementMode = "UNENFORCED";
    const drifted = await fabricator.verify(target);
    assert.equal(drifted.status, "degraded");
    assert.match(
      drifted.details,
      /^App Check on firebasestorage\.googleapis\.com \(UNENFORCED\) on projects\/acme-prod differ/,
    );
  });

  it("the contract server holds App Check to its reference: an unsupported service and replay above the mode are 400", async () => {
    const { firebaseappcheck_v1 } = await import("googleapis/build/src/apis/firebaseappcheck/v1.js");
    const api = new firebaseappcheck_v1.Firebaseappcheck({
      auth: await access.auth(),
      rootUrl: access.rootUrls.firebaseappcheck,
      retry: false,
    });
    const status = (error: { response?: { status: number } }) => error.response?.status;
    await assert.rejects(
      api.projects.services.get({ name: `${RESOURCE}/services/identitytoolkit.googleapis.com` }),
      (error: { response?: { status: number } }) => status(error) === 400,
    );
    await assert.rejects(
      api.projects.services.patch({
        name: FIRESTORE_SERVICE,
        updateMask: "replayProtection",
        requestBody: { replayProtection: "ENFORCED" },
      }),
      (error: { response?: { status: number } }) => status(error) === 400,
    );
    assert.equal(appCheck.services.size, 0);
  });
});
