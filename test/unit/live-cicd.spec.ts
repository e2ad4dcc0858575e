import assert from "node:assert/strict";
import { parse } from "yaml";
import type { IntegrationSettings } from "../../functions/src/domain/config-schema.js";
import { NonRetriableError } from "../../functions/src/domain/errors.js";
import { LIVE_SUPPORT } from "../../functions/src/domain/live-permissions.js";
import { cicdDriver } from "../../functions/src/drivers/cicd.js";
import { createFabricator } from "../../functions/src/drivers/fabricator.js";
import {
  conditionProblem,
  createLiveCicdSpec,
  type CicdLiveState,
} from "../../functions/src/drivers/live/cicd-live.js";
import { byMode } from "../../functions/src/drivers/registry.js";
import type { DriverTarget } from "../../functions/src/drivers/types.js";
import { ContractServer, type StoredBinding } from "../../scripts/contract-server/index.js";
import { iamModel, type IamModel } from "../../scripts/contract-server/models/iam.js";
import { contractAccess, liveEnvironment, liveIO, memoryReleases, memorySources } from "../support/live.js";

const PROJECT = "acme-prod";
const NUMBER = "123456789012";
const POOL = "github-actions";
const POOL_NAME = `projects/${NUMBER}/locations/global/workloadIdentityPools/${POOL}`;
const PROVIDER_NAME = `${POOL_NAME}/providers/github`;
// What the driver asks for: the environment's project id in the path (Google answers with the number).
const POOL_PATH = `projects/${PROJECT}/locations/global/workloadIdentityPools/${POOL}`;
const PROVIDER_PATH = `${POOL_PATH}/providers/github`;
const SA = "deployer@acme-prod.iam.gserviceaccount.com";
const SA_RESOURCE = `projects/${PROJECT}/serviceAccounts/${SA}`;
const SHOP = `principalSet://iam.googleapis.com/${POOL_NAME}/attribute.repository/acme/shop`;
const STORE = `principalSet://iam.googleapis.com/${POOL_NAME}/attribute.repository/acme/store`;
const USER = "roles/iam.workloadIdentityUser";

const GET_POOL = `iam.projects.locations.workloadIdentityPools.get ${POOL_PATH}`;
const GET_PROVIDER = `iam.projects.locations.workloadIdentityPools.providers.get ${PROVIDER_PATH}`;
const GET_POLICY = `iam.projects.serviceAccounts.getIamPolicy ${SA_RESOURCE}`;
const SET_POLICY = `iam.projects.serviceAccounts.setIamPolicy ${SA_RESOURCE}`;
const CREATE_POOL = "iam.projects.locations.workloadIdentityPools.create projects/acme-prod/locations/global";
const CREATE_PROVIDER = `iam.projects.locations.workloadIdentityPools.providers.create ${POOL_PATH}`;
const POOL_OP = `iam.projects.locations.workloadIdentityPools.operations.get ${POOL_NAME}/operations/op-1`;
const PROVIDER_OP = `iam.projects.locations.workloadIdentityPools.providers.operations.get ${PROVIDER_NAME}/operations/op-2`;
const WRITES = /\.(create|patch|undelete|setIamPolicy) /;

// A member of the role the driver does not own (a person allowed to impersonate the deployer) and
// another role on the account: both must survive every write.
const OPS: StoredBinding = { role: USER, members: ["user:ops@acme.dev"] };
const TOKEN_CREATOR: StoredBinding = {
  role: "roles/iam.serviceAccountTokenCreator",
  members: ["group:release@acme.dev"],
};

type Settings = Partial<IntegrationSettings<"cicd">>;
const SETTINGS: Settings = {
  github_repository: "acme/shop",
  deployer_service_account: SA,
  project_number: NUMBER,
};

describe("live cicd: Workload Identity pool, GitHub provider and deployer binding through IAM v1 (contract server)", () => {
  let server: ContractServer;
  let iam: IamModel;
  let access: Awaited<ReturnType<typeof contractAccess>>;
  let fabricator: ReturnType<typeof createFabricator>;
  const spec = createLiveCicdSpec({ polls: 3, intervalMs: 10 });
  const targetWith = (settings: Settings): DriverTarget<"cicd"> => {
    const environment = liveEnvironment(["cicd"], { cicd: { ...SETTINGS, ...settings } });
    return {
      environment,
      integration: "cicd",
      kind: "cicd",
      settings: environment.integrations[0]!.settings as DriverTarget<"cicd">["settings"],
    };
  };
  const target = targetWith({});

  beforeEach(async () => {
    server = ContractServer.fromRepository("iam-v1");
    iam = iamModel(server);
    iam.projects.set(PROJECT, NUMBER);
    iam.seedAccount(SA, [OPS, TOKEN_CREATOR]);
    const { url } = await server.start();
    access = await contractAccess({ iam: url });
    fabricator = createFabricator(
      { cicd: byMode(cicdDriver, spec) },
      memoryReleases(),
      liveIO(memorySources({}), access),
    );
  });
  afterEach(() => server.stop());

  const binding = (role: string) => iam.accountPolicies.get(SA)!.bindings.filter((b) => b.role === role);
  const withinContract = () => server.requests.every((r) => r.violations.length === 0 && r.methodId !== null);
  const writes = () => server.calls().filter((c) => WRITES.test(c));

  it("plans read-only (GETs only) with the pool, provider, workflow and members as changes, and a keyless workflow", async () => {
    const plan = await fabricator.plan(target);
    assert.equal(plan.mode, "live");
    assert.deepEqual(plan.problems, []);
    assert.deepEqual(
      server.calls(),
      [GET_POOL, GET_POLICY],
      "no provider is read in a pool that is not there",
    );
    assert.deepEqual(
      plan.changes.map((c) => c.path),
      ["binding.members", "pool", "provider", "workflow"],
    );
    assert.deepEqual(plan.changes[0], { path: "binding.members", from: [], to: [SHOP] });
    const workflow = parse(plan.artifact!.content) as {
      jobs: {
        deploy: {
          permissions: Record<string, string>;
          steps: { uses?: string; with?: Record<string, string> }[];
        };
      };
    };
    const auth = workflow.jobs.deploy.steps.find((s) => s.uses === "google-github-actions/auth@v2");
    assert.deepEqual(auth?.with, { workload_identity_provider: PROVIDER_NAME, service_account: SA });
    assert.deepEqual(workflow.jobs.deploy.permissions, { contents: "read", "id-token": "write" });
    assert.doesNotMatch(plan.artifact!.content, /credentials_json|FIREBASE_SERVICE_ACCOUNT/);
    assert.match(plan.artifact!.content, /nothing is pushed to GitHub/);
  });

  it("first apply creates the pool, the provider and the binding; the second writes nothing", async () => {
    const first = await fabricator.apply(target, "d1");
    assert.equal(first.changed, true);
    assert.deepEqual(server.calls().slice(2), [
      GET_POOL,
      GET_POLICY,
      CREATE_POOL,
      POOL_OP,
      CREATE_PROVIDER,
      PROVIDER_OP,
      GET_POLICY,
      SET_POLICY,
    ]);
    assert.equal(server.requests[4]?.query.workloadIdentityPoolId, POOL);
    const pool = iam.pools.get(POOL_NAME);
    assert.equal(pool?.state, "ACTIVE");
    const provider = iam.providers.get(PROVIDER_NAME);
    assert.deepEqual(provider?.oidc, { issuerUri: "https://token.actions.githubusercontent.com" });
    assert.deepEqual(provider?.attributeMapping, {
      "google.subject": "assertion.sub",
      "attribute.repository": "assertion.repository",
    });
    assert.equal(provider?.attributeCondition, "assertion.repository == 'acme/shop'");
    assert.match(
      provider?.description ?? "",
      /workflow \.github\/workflows\/deploy-prod\.yml \(sha256 [0-9a-f]{16}\)/,
    );
    assert.deepEqual(binding(USER), [{ role: USER, members: ["user:ops@acme.dev", SHOP] }]);
    assert.deepEqual(binding(TOKEN_CREATOR.role), [TOKEN_CREATOR], "another role is untouched");
    const sent = (
      server.requests.find((r) => r.methodId === "iam.projects.serviceAccounts.setIamPolicy")?.body as {
        policy: { etag: string };
      }
    ).policy;
    assert.ok(sent.etag, "the write carries the etag read");
    assert.ok(withinContract(), "every request within the contract");

    const before = server.calls().length;
    const second = await fabricator.apply(target, "d2");
    assert.equal(second.changed, false);
    assert.deepEqual(server.calls().slice(before), [GET_POOL, GET_PROVIDER, GET_POLICY]);
    assert.equal(writes().length, 3, "no write since the first apply");
  });

  it("a changed repository patches the condition and moves the binding; rollback restores both", async () => {
    await fabricator.apply(target, "d1");
    const store = targetWith({ github_repository: "acme/store" });
    const plan = await fabricator.plan(store);
    assert.deepEqual(plan.changes, [
      { path: "binding.members", from: [SHOP], to: [STORE] },
      {
        path: "provider.attribute_condition",
        from: "assertion.repository == 'acme/shop'",
        to: "assertion.repository == 'acme/store'",
      },
    ]);
    const before = server.requests.length;
    await fabricator.apply(store, "d2");
    const patch = server.requests
      .slice(before)
      .find((r) => r.methodId === "iam.projects.locations.workloadIdentityPools.providers.patch");
    assert.equal(patch?.query.updateMask, "attributeCondition");
    assert.equal(
      iam.providers.get(PROVIDER_NAME)?.attributeCondition,
      "assertion.repository == 'acme/store'",
    );
    assert.deepEqual(binding(USER), [{ role: USER, members: ["user:ops@acme.dev", STORE] }]);

    const undone = await fabricator.rollback(store, "d2");
    assert.match(undone.summary, /^live: rolled back to the state of release 1/);
    assert.equal(iam.providers.get(PROVIDER_NAME)?.attributeCondition, "assertion.repository == 'acme/shop'");
    assert.deepEqual(binding(USER), [{ role: USER, members: ["user:ops@acme.dev", SHOP] }]);
    assert.ok(withinContract());
  });

  it("backs off on 429 (Retry-After) and then succeeds", async () => {
    server.inject(
      "iam.projects.locations.workloadIdentityPools.create",
      { kind: "rate-limited", retryAfterSeconds: 2 },
      2,
    );
    await fabricator.apply(target, "d1");
    // Retry-After 2 s plus 25% of it times random() = 0.5: 2250 ms, twice; then the operations' 10 ms polls.
    assert.deepEqual(access.slept, [2250, 2250, 10, 10]);
    assert.equal(iam.pools.get(POOL_NAME)?.state, "ACTIVE");
  });

  it("a 403 names the permission (and its role) and writes nothing else", async () => {
    server.inject("iam.projects.locations.workloadIdentityPools.create", {
      kind: "permission-denied",
      permission: "iam.workloadIdentityPools.create",
    });
    await assert.rejects(fabricator.apply(target, "d1"), (error: Error) => {
      assert.ok(error instanceof NonRetriableError);
      assert.match(error.message, /creating Workload Identity pool .*HTTP 403 PERMISSION_DENIED/);
      assert.match(error.message, /needs permission iam\.workloadIdentityPools\.create/);
      // The role comes from LIVE_SUPPORT, which names cicd's permissions once its live path is registered.
      if (LIVE_SUPPORT.cicd.built)
        assert.match(error.message, /granted by roles\/iam\.workloadIdentityPoolAdmin/);
      return true;
    });
    assert.equal(iam.pools.size, 0);
    assert.deepEqual(binding(USER), [OPS]);
  });

  it("a concurrent change to the account's policy (stale etag, 409 ABORTED) is read again and redone on top of it", async () => {
    const eve: StoredBinding = { role: "roles/iam.serviceAccountUser", members: ["user:eve@acme.dev"] };
    iam.concurrent.push((p) => p.bindings.push(structuredClone(eve)));
    await fabricator.apply(target, "d1");
    const sets = server.requests.filter((r) => r.methodId === "iam.projects.serviceAccounts.setIamPolicy");
    assert.deepEqual(
      sets.map((r) => r.status),
      [409, 200],
    );
    assert.ok(access.slept.includes(2250), "the exponential back-off of attempt 1 (2 s + 25% x 0.5)");
    assert.deepEqual(binding(eve.role), [eve], "the other writer's binding is kept");
    assert.deepEqual(binding(USER), [{ role: USER, members: ["user:ops@acme.dev", SHOP] }]);
  });

  it("a soft-deleted pool and provider are undeleted (their ids cannot be created again), then patched", async () => {
    iam.pools.set(POOL_NAME, { name: POOL_NAME, displayName: "old", state: "DELETED" });
    iam.providers.set(PROVIDER_NAME, {
      name: PROVIDER_NAME,
      state: "DELETED",
      attributeMapping: { "google.subject": "assertion.sub" },
      attributeCondition: "assertion.repository == 'acme/shop'",
      oidc: { issuerUri: "https://token.actions.githubusercontent.com" },
    });
    const plan = await fabricator.plan(target);
    assert.ok(plan.changes.some((c) => c.path === "pool.state" && c.from === "DELETED" && c.to === "ACTIVE"));
    await fabricator.apply(target, "d1");
    const calls = server.calls();
    assert.ok(calls.includes(`iam.projects.locations.workloadIdentityPools.undelete ${POOL_PATH}`));
    assert.ok(
      calls.includes(`iam.projects.locations.workloadIdentityPools.providers.undelete ${PROVIDER_PATH}`),
    );
    assert.ok(
      !calls.some((c) =>
        / (iam\.projects\.locations\.workloadIdentityPools(\.providers)?\.create) /.test(` ${c}`),
      ),
    );
    const patch = server.requests.find(
      (r) => r.methodId === "iam.projects.locations.workloadIdentityPools.patch",
    );
    // disabled is already false (left out of the answer): not in the mask.
    assert.equal(patch?.query.updateMask, "displayName,description");
    assert.equal(iam.pools.get(POOL_NAME)?.state, "ACTIVE");
    assert.equal(iam.pools.get(POOL_NAME)?.displayName, "GitHub Actions");
    const provider = iam.providers.get(PROVIDER_NAME);
    assert.equal(provider?.state, "ACTIVE");
    assert.equal(provider?.attributeMapping?.["attribute.repository"], "assertion.repository");
    assert.ok(withinContract());
  });

  it("refuses bad settings at plan, naming each field, and asks Google nothing", async () => {
    const plan = await fabricator.plan(
      targetWith({
        github_repository: "",
        deployer_service_account: "deployer",
        project_number: "acme-prod",
        workload_identity_pool: "gcp-pool",
      }),
    );
    assert.match(plan.summary, /^live: refused: /);
    assert.deepEqual(
      plan.problems.map((p) => p.path),
      [
        "integrations.cicd.github_repository",
        "integrations.cicd.workload_identity_pool",
        "integrations.cicd.deployer_service_account",
        "integrations.cicd.project_number",
      ],
    );
    assert.match(plan.problems[0]!.message, /admits every repository's workflows/);
    assert.equal(server.requests.length, 0);
  });

  it("refuses, before any request, a state whose condition would admit more than one repository", async () => {
    const { state } = await spec.desired(target, liveIO(memorySources({}), access));
    const open: CicdLiveState = {
      ...state,
      provider: { ...state.provider!, attribute_condition: "assertion.repository_owner == 'acme'" },
    };
    await assert.rejects(spec.apply(target, open, liveIO(memorySources({}), access)), (error: Error) => {
      assert.ok(error instanceof NonRetriableError);
      assert.match(
        error.message,
        /integrations\.cicd\.github_repository: .*does not restrict to one repository/,
      );
      return true;
    });
    assert.equal(server.requests.length, 0);
    assert.deepEqual(conditionProblem("assertion.repository == 'acme/shop'"), { repository: "acme/shop" });
    assert.deepEqual(
      conditionProblem("assertion.ref == 'refs/heads/main' && attribute.repository == \"acme/shop\""),
      { repository: "acme/shop" },
    );
    for (const loose of [
      "",
      "true",
      "assertion.repository == 'acme/shop' || true",
      "assertion.repository.startsWith('acme/')",
      "assertion.repository != 'acme/evil'",
      "assertion.repository == 'acme/shop' && assertion.repository == 'acme/store'",
    ])
      assert.ok(conditionProblem(loose).problem, `refused: ${loose}`);
  });

  it("refuses a pool Google names with another project number, and a missing deployer account, before writing", async () => {
    iam.pools.set(`projects/999999999999/locations/global/workloadIdentityPools/${POOL}`, {
      name: `projects/999999999999/locations/global/workloadIdentityPools/${POOL}`,
      state: "ACTIVE",
    });
    iam.projects.set(PROJECT, "999999999999");
    await assert.rejects(
      fabricator.apply(target, "d1"),
      /integrations\.cicd\.project_number: .*999999999999/,
    );
    assert.deepEqual(writes(), []);

    iam.projects.set(PROJECT, NUMBER);
    iam.accountPolicies.delete(SA);
    const plan = await fabricator.plan(target);
    assert.ok(plan.changes.some((c) => c.path === "binding.exists" && c.from === false && c.to === true));
    await assert.rejects(
      fabricator.apply(target, "d2"),
      /integrations\.cicd\.deployer_service_account: .*does not exist/,
    );
    assert.deepEqual(writes(), []);
  });

  it("verify reads back: healthy after apply, degraded when the condition is changed outside", async () => {
    await fabricator.apply(target, "d1");
    const healthy = await fabricator.verify(target);
    assert.equal(healthy.status, "healthy");
    assert.match(healthy.details, /admitting only acme\/shop/);
    assert.match(healthy.details, /nothing pushed to GitHub/);
    iam.providers.get(PROVIDER_NAME)!.attributeCondition = "assertion.repository_owner == 'acme'";
    const drifted = await fabricator.verify(target);
    assert.equal(drifted.status, "degraded");
    assert.match(drifted.details, /provider of .* differ from release 1/);
  });

  it("the contract server holds requests to the discovery document and the model to IAM's rules", async () => {
    const { iam_v1 } = await import("googleapis/build/src/apis/iam/v1.js");
    const api = new iam_v1.Iam({ auth: await access.auth(), rootUrl: access.rootUrls.iam, retry: false });
    const pools = api.projects.locations.workloadIdentityPools;
    // A field of later revisions (managed identities' `mode`) is not in revision 20211013.
    await assert.rejects(
      pools.create({
        parent: `projects/${PROJECT}/locations/global`,
        workloadIdentityPoolId: POOL,
        requestBody: { displayName: "x", mode: "FEDERATION_ONLY" },
      }),
      (error: { response?: { status: number; data: { error: { message: string } } } }) => {
        assert.equal(error.response?.status, 400);
        assert.match(error.response?.data.error.message ?? "", /mode/);
        return true;
      },
    );
    await pools.create({
      parent: `projects/${PROJECT}/locations/global`,
      workloadIdentityPoolId: POOL,
      requestBody: {},
    });
    // An update mask naming no field of WorkloadIdentityPool.
    await assert.rejects(
      pools.patch({ name: POOL_PATH, updateMask: "colour", requestBody: {} }),
      (error: { response?: { status: number } }) => error.response?.status === 400,
    );
    // Google refuses a GitHub provider without an attribute condition.
    await assert.rejects(
      pools.providers.create({
        parent: POOL_PATH,
        workloadIdentityPoolProviderId: "github",
        requestBody: {
          attributeMapping: { "google.subject": "assertion.sub" },
          oidc: { issuerUri: "https://token.actions.githubusercontent.com" },
        },
      }),
      (error: { response?: { status: number; data: { error: { message: string } } } }) => {
        assert.equal(error.response?.status, 400);
        assert.match(error.response?.data.error.message ?? "", /attribute condition must reference/);
        return true;
      },
    );
    // A soft-deleted pool's id cannot be created again.
    iam.softDelete(POOL_NAME);
    await assert.rejects(
      pools.create({
        parent: `projects/${PROJECT}/locations/global`,
        workloadIdentityPoolId: POOL,
        requestBody: {},
      }),
      (error: { response?: { status: number; data: { error: { status: string } } } }) => {
        assert.equal(error.response?.status, 409);
        assert.equal(error.response?.data.error.status, "ALREADY_EXISTS");
        return true;
      },
    );
    const missing = await pools
      .get({ name: `projects/${PROJECT}/locations/global/workloadIdentityPools/nope` })
      .catch((error: { response?: { status: number } }) => error.response?.status);
    assert.equal(missing, 404);
  });
});
