import assert from "node:assert/strict";
import { getAuth } from "firebase-admin/auth";
import { createAccessControl, type AccessControl } from "../../functions/src/auth/access-control.js";
import { createEnvironmentResolver } from "../../functions/src/engine/environments.js";
import { createStore } from "../../functions/src/store/store.js";
import { configWith } from "../support/config-builder.js";
import { adminDb, api, clearFirestore, projectId, requireEmulators } from "../support/emulators.js";

/**
 * Defect 12: a deployment document that got past the rules (the Admin SDK writes anything) is
 * checked again before the engine plans it, against who `requested_by` names now.
 */
describe("authorizeRequest: the engine's second check of a document-write request", function () {
  this.timeout(120_000);
  let access: AccessControl;
  const users: Record<string, { uid: string; email: string }> = {};
  const keys: Record<string, string> = {};
  let brokenConfig = false;

  async function user(tag: string, claims: Record<string, unknown>, disabled = false) {
    const email = `${tag}-${Date.now()}@acme.dev`;
    const { uid } = await getAuth().createUser({ email, password: "authorize-request-9", disabled });
    await getAuth().setCustomUserClaims(uid, claims);
    users[tag] = { uid, email };
  }

  before(async function () {
    requireEmulators(this);
    // Initializes the Admin SDK's default app, which getAuth() below needs when this spec runs alone.
    const db = adminDb();
    await clearFirestore();
    const strict = configWith((c) => (c.base.access = { production_requires_admin: true }));
    assert.equal((await api("POST", "/config", strict)).status, 200);
    await user("operator", { role: "operator" });
    await user("admin", { role: "admin" });
    await user("dev-operator", { role: "operator", environments: ["dev"] });
    await user("viewer", { role: "viewer" });
    await user("no-role", {});
    await user("disabled-admin", { role: "admin" }, true);
    for (const [label, role] of [
      ["ci-operator", "operator"],
      ["ci-admin", "admin"],
      ["ci-revoked", "admin"],
    ] as const) {
      const created = await api("POST", "/keys", { role, label });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      keys[label] = created.body.id as string;
    }
    assert.equal((await api("DELETE", `/keys/${keys["ci-revoked"]}`)).status, 200);
    const environments = createEnvironmentResolver(createStore(db));
    access = createAccessControl({
      db,
      verifyIdToken: (token) => getAuth().verifyIdToken(token, true),
      lookupUser: (uid) =>
        getAuth()
          .getUser(uid)
          .catch(() => undefined),
      lookupUserByEmail: (email) =>
        getAuth()
          .getUserByEmail(email)
          .catch(() => undefined),
      config: () => (brokenConfig ? Promise.reject(new Error("config unreadable")) : environments.config()),
      projectId: projectId(),
      clock: { now: () => new Date() },
    });
  });

  /**
   * requested_by (by tag), environment, and the answer the specification asks for: null (allowed)
   * or a pattern the refusal must match. production_requires_admin is set; prod is production.
   */
  const CASES: [string, string, RegExp | null][] = [
    ["uid:operator", "dev", null],
    [
      "uid:operator",
      "prod",
      /role operator\) may not deploy in environment "prod" \(production\): production requires admin/,
    ],
    ["uid:admin", "prod", null],
    ["user:operator", "prod", /production requires admin/],
    ["user:admin", "prod", null],
    ["uid:dev-operator", "dev", null],
    ["uid:dev-operator", "staging", /may not deploy in environment "staging".*its environments are dev/],
    ["uid:viewer", "dev", /role viewer allows read, plan; deploy needs operator or admin/],
    ["uid:no-role", "dev", /has no role claim/],
    ["uid:disabled-admin", "prod", /is disabled/],
    ["uid:nobody-at-all", "dev", /no user nobody-at-all exists/],
    ["key:ci-operator", "prod", /production requires admin/],
    ["key:ci-admin", "prod", null],
    ["key:ci-revoked", "prod", /was revoked/],
    ["key:k_does_not_exist", "dev", /API key k_does_not_exist does not exist/],
    ["alice", "dev", /names no requester; allowed: uid:<id>, user:<id>, key:<id>, system:<id>/],
    ["uid:", "dev", /names no requester/],
    ["system:demo", "prod", null],
    ["uid:admin", "qa", /environment is not declared/],
  ];

  function resolve(requester: string): string {
    const [kind, tag = ""] = requester.split(/:(.*)/s);
    if (kind === "uid" && users[tag]) return `uid:${users[tag].uid}`;
    if (kind === "user" && users[tag]) return `user:${users[tag].email}`;
    if (kind === "key" && keys[tag]) return `key:${keys[tag]}`;
    return requester;
  }

  for (const [requester, environment, expected] of CASES) {
    it(`${requester} in ${environment}: ${expected ? "refused" : "allowed"}`, async () => {
      const requested_by = resolve(requester);
      const answer = await access.authorizeRequest({ environment, requested_by });
      if (expected === null) assert.equal(answer, null);
      else {
        assert.ok(answer !== null, `expected a refusal for ${requested_by}`);
        assert.match(answer, expected);
        assert.ok(answer.includes(requested_by), "the refusal names the requester");
      }
    });
  }

  it("refuses, naming why, when the config cannot be read (never allows blind)", async () => {
    brokenConfig = true;
    try {
      const answer = await access.authorizeRequest({
        environment: "dev",
        requested_by: `uid:${users.admin!.uid}`,
      });
      assert.match(
        answer ?? "",
        /the config could not be read \(config unreadable\); refused rather than trusted/,
      );
    } finally {
      brokenConfig = false;
    }
  });

  it("refuses when no user directory is wired rather than trusting the name", async () => {
    const bare = createAccessControl({
      db: adminDb(),
      verifyIdToken: (token) => getAuth().verifyIdToken(token, true),
      projectId: projectId(),
      clock: { now: () => new Date() },
    });
    assert.match(
      (await bare.authorizeRequest({ environment: "dev", requested_by: `uid:${users.admin!.uid}` })) ?? "",
      /no user directory is wired/,
    );
  });
});
