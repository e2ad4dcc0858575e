import assert from "node:assert/strict";
import { NonRetriableError } from "../../functions/src/domain/errors.js";
import { authDriver } from "../../functions/src/drivers/auth.js";
import { createFabricator } from "../../functions/src/drivers/fabricator.js";
import { liveAuthSpec } from "../../functions/src/drivers/live/auth-live.js";
import { byMode } from "../../functions/src/drivers/registry.js";
import type { DriverTarget } from "../../functions/src/drivers/types.js";
import {
  ContractServer,
  identityToolkitModel,
  type ResourceCollection,
} from "../../scripts/contract-server/index.js";
import { contractAccess, liveEnvironment, liveIO, memoryReleases, memorySources } from "../support/live.js";

const CONFIG = "projects/acme-prod/config";
const GET = `identitytoolkit.projects.getConfig ${CONFIG}`;
const UPDATE = `identitytoolkit.projects.updateConfig ${CONFIG}`;

describe("live auth through googleapis against the Identity Toolkit v2 config contract", () => {
  let server: ContractServer;
  let configs: ResourceCollection;
  let access: Awaited<ReturnType<typeof contractAccess>>;
  let fabricator: ReturnType<typeof createFabricator>;
  const targetWith = (settings: Partial<DriverTarget<"auth">["settings"]> = {}): DriverTarget<"auth"> => {
    const environment = liveEnvironment(["auth"], {
      auth: {
        providers: ["password", "google"],
        authorized_domains: ["acme.example", "localhost"],
        mfa: "optional",
        password_policy: { min_length: 10, require_numeric: true },
        ...settings,
      },
    });
    return {
      environment,
      integration: "auth",
      kind: "auth",
      settings: environment.integrations[0]!.settings as DriverTarget<"auth">["settings"],
    };
  };
  const target = targetWith();

  beforeEach(async () => {
    server = ContractServer.fromRepository("identitytoolkit-v2");
    configs = identityToolkitModel(server, ["acme-prod"]);
    const { url } = await server.start();
    access = await contractAccess({ identitytoolkit: url });
    fabricator = createFabricator(
      { auth: byMode(authDriver, liveAuthSpec) },
      memoryReleases(),
      liveIO(memorySources({}), access),
    );
  });
  afterEach(() => server.stop());

  it("plans read-only, field by field", async () => {
    const plan = await fabricator.plan(target);
    assert.equal(plan.mode, "live");
    // What the settings ask for that a fresh project lacks (anonymous and phone stay off on both sides).
    assert.deepEqual(
      plan.changes.map((c) => c.path),
      [
        "config.authorizedDomains",
        "config.mfa.enabledProviders",
        "config.mfa.state",
        "config.passwordPolicyConfig.passwordPolicyEnforcementState",
        "config.passwordPolicyConfig.passwordPolicyVersions",
        "config.signIn.email.enabled",
        "config.signIn.email.passwordRequired",
      ],
    );
    assert.deepEqual(server.calls(), [GET]);
  });

  it("first apply writes the masked fields; the second reads Google's proto3 answer back and changes nothing", async () => {
    await fabricator.apply(target, "d1");
    assert.deepEqual(server.calls(), [GET, UPDATE]);
    const patch = server.requests[1]!;
    assert.equal(patch.verdict, "accepted");
    assert.equal(
      patch.query.updateMask,
      "signIn.email,signIn.anonymous,signIn.phoneNumber,authorizedDomains,mfa,passwordPolicyConfig",
    );
    const stored = configs.get(CONFIG) as { mfa?: { state?: string }; passwordPolicyConfig?: unknown };
    assert.equal(stored.mfa?.state, "ENABLED");
    const second = await fabricator.apply(target, "d2");
    assert.equal(second.changed, false);
    assert.deepEqual(server.calls(), [GET, UPDATE, GET]);
  });

  it("rollback writes the previous release's config back", async () => {
    await fabricator.apply(target, "d1");
    const off = targetWith({ mfa: "off" });
    await fabricator.apply(off, "d2");
    assert.equal((configs.get(CONFIG) as { mfa?: { state?: string } }).mfa?.state, "DISABLED");
    await fabricator.rollback(off, "d2");
    assert.equal((configs.get(CONFIG) as { mfa?: { state?: string } }).mfa?.state, "ENABLED");
    const health = await fabricator.verify(off);
    assert.equal(health.status, "healthy");
    assert.match(health.details, /^Google reports the Auth config of acme-prod matches release 3/);
  });

  it("429 then success; 403 names firebaseauth.configs.update and its role", async () => {
    server.inject("identitytoolkit.projects.updateConfig", { kind: "rate-limited", retryAfterSeconds: 2 });
    await fabricator.apply(target, "d1");
    assert.deepEqual(access.slept, [2250]);
    server.inject("identitytoolkit.projects.updateConfig", {
      kind: "permission-denied",
      permission: "firebaseauth.configs.update",
    });
    await assert.rejects(fabricator.apply(targetWith({ mfa: "off" }), "d2"), (error: Error) => {
      assert.ok(error instanceof NonRetriableError);
      assert.match(
        error.message,
        /needs permission firebaseauth\.configs\.update, granted by roles\/firebaseauth\.admin/,
      );
      return true;
    });
  });

  it("refuses role accounts for a live environment, and says what to do when Auth is not set up", async () => {
    const plan = await fabricator.plan(
      targetWith({ role_accounts: [{ email: "ops@acme.example", role: "admin" }] }),
    );
    assert.deepEqual(
      plan.problems.map((p) => p.path),
      ["auth.role_accounts[0]"],
    );
    assert.equal(server.requests.length, 0);
    configs.delete(CONFIG);
    await assert.rejects(
      fabricator.plan(target),
      /Authentication is not set up in project acme-prod \(CONFIGURATION_NOT_FOUND\).*Get started/,
    );
  });

  it("the contract server refuses an update mask naming no Config field and a wrong enum", async () => {
    const url = (access.rootUrls.identitytoolkit ?? "").replace(/\/$/, "");
    const send = (mask: string, body: unknown) =>
      fetch(`${url}/v2/${CONFIG}?updateMask=${mask}`, {
        method: "PATCH",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      }).then(async (r) => ({
        status: r.status,
        message: ((await r.json()) as { error: { message: string } }).error.message,
      }));
    const mask = await send("signIn.emailz", {});
    assert.equal(mask.status, 400);
    assert.match(mask.message, /"signIn\.emailz" names no field/);
    const state = await send("mfa", { mfa: { state: "ON" } });
    assert.match(
      state.message,
      /mfa\.state: "ON" is not one of STATE_UNSPECIFIED, DISABLED, ENABLED, MANDATORY/,
    );
  });
});
