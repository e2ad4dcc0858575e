import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { getAuth } from "firebase-admin/auth";
import { createAccessControl, type AccessControl } from "../../functions/src/auth/access-control.js";
import type { Principal } from "../../functions/src/domain/access.js";
import {
  BadInputError,
  ForbiddenError,
  NotFoundError,
  UnauthenticatedError,
} from "../../functions/src/domain/errors.js";
import { API_KEYS_COLLECTION, TOUCH_INTERVAL_MS } from "../../functions/src/store/api-keys.js";
import { adminDb, clearFirestore, projectId, requireEmulators } from "../support/emulators.js";

const PASSWORD = "correct-horse-9";
const OTHER_PROJECT = "demo-orchestration-elsewhere";

const authUrl = (path: string) =>
  `http://${process.env.FIREBASE_AUTH_EMULATOR_HOST}/identitytoolkit.googleapis.com/v1/${path}`;

async function authRest(path: string, body: unknown, owner = false): Promise<Record<string, any>> {
  const response = await fetch(authUrl(path), {
    method: "POST",
    headers: { "content-type": "application/json", ...(owner ? { authorization: "Bearer owner" } : {}) },
    body: JSON.stringify(body),
  });
  const json = (await response.json()) as Record<string, any>;
  if (!response.ok) throw new Error(`${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

let counter = 0;
const uniqueEmail = (tag: string) => `${tag}-${Date.now()}-${++counter}@acme.dev`;

/** A user of the stack's project with the given custom claims, signed in: its uid and a real ID token. */
async function signedInUser(
  claims: Record<string, unknown> | null,
  tag = "user",
): Promise<{ uid: string; email: string; idToken: string }> {
  const email = uniqueEmail(tag);
  const { uid } = await getAuth().createUser({ email, password: PASSWORD });
  if (claims) await getAuth().setCustomUserClaims(uid, claims);
  const { idToken } = await authRest("accounts:signInWithPassword?key=any", {
    email,
    password: PASSWORD,
    returnSecureToken: true,
  });
  return { uid, email, idToken: idToken as string };
}

/** An unsigned (alg "none") ID token, as the Auth emulator issues them, with the given payload. */
function craftToken(payload: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "none", typ: "JWT" })}.${part(payload)}.`;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Asserts the promise rejects with `type`, a message matching `pattern`, and without `secret` in it. */
async function refused(
  promise: Promise<unknown>,
  type: new (...args: any[]) => Error,
  pattern: RegExp,
  secret?: string,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`);
    assert.match(error.message, pattern);
    if (secret) assert.ok(!error.message.includes(secret), "the message must not contain the credential");
    return true;
  });
}

describe("access control on the emulators", function () {
  let now: Date;
  const clock = { now: () => now };
  let access: AccessControl;
  const admin: Principal = {
    kind: "user",
    uid: "u-admin",
    email: "admin@acme.dev",
    role: "admin",
    environments: null,
  };

  before(function () {
    requireEmulators(this);
    adminDb();
  });
  beforeEach(async () => {
    await clearFirestore();
    now = new Date("2026-03-01T12:00:00.000Z");
    access = createAccessControl({
      db: adminDb(),
      verifyIdToken: (token) => getAuth().verifyIdToken(token, true),
      projectId: projectId(),
      clock,
    });
  });

  describe("Firebase ID tokens", () => {
    it("no credential header → undefined (the caller decides on 401)", async () => {
      assert.equal(await access.authenticate({}), undefined);
      assert.equal(
        await access.authenticate({ "content-type": "application/json", authorization: undefined }),
        undefined,
      );
    });

    for (const role of ["viewer", "operator", "admin"] as const) {
      it(`a real ID token with role ${role} becomes a user principal with that role`, async () => {
        const { uid, email, idToken } = await signedInUser({ role }, role);
        assert.deepEqual(await access.authenticate(bearer(idToken)), {
          kind: "user",
          uid,
          email,
          role,
          environments: null,
        });
      });
    }

    it("reads the environments claim as the principal's scope, whatever the header's case", async () => {
      const { uid, idToken } = await signedInUser({ role: "operator", environments: ["dev", "staging"] });
      const principal = await access.authenticate({ Authorization: `bearer  ${idToken}` });
      assert.equal(principal?.kind === "user" && principal.uid, uid);
      assert.deepEqual(principal?.environments, ["dev", "staging"]);
    });

    it("a user without a role, or with an unknown or malformed one, is refused with 403", async () => {
      const none = await signedInUser(null, "norole");
      await refused(
        access.authenticate(bearer(none.idToken)),
        ForbiddenError,
        /has no role; an admin must grant one/,
      );
      const odd = await signedInUser({ role: "owner" }, "oddrole");
      await refused(access.authenticate(bearer(odd.idToken)), ForbiddenError, /unknown role claim/);
      const scope = await signedInUser({ role: "viewer", environments: "dev" }, "oddscope");
      await refused(
        access.authenticate(bearer(scope.idToken)),
        ForbiddenError,
        /malformed "environments" claim/,
      );
    });

    it("refuses a header that is not a bearer token, and garbage tokens, without echoing them", async () => {
      await refused(
        access.authenticate({ authorization: "Basic dXNlcjpwYXNz" }),
        UnauthenticatedError,
        /must be "Bearer/,
        "dXNlcjpwYXNz",
      );
      await refused(
        access.authenticate({ authorization: "Bearer" }),
        UnauthenticatedError,
        /must be "Bearer/,
      );
      await refused(
        access.authenticate(bearer("not-a-jwt-at-all")),
        UnauthenticatedError,
        /ID token is not valid/,
        "not-a-jwt-at-all",
      );
    });

    it("emulator mode trusts unsigned tokens (so this is local only) but refuses an expired one", async () => {
      const { uid, idToken } = await signedInUser({ role: "admin" }, "expiring");
      const seconds = Math.floor(Date.now() / 1000);
      const base = {
        iss: `https://securetoken.google.com/${projectId()}`,
        aud: projectId(),
        sub: uid,
        user_id: uid,
        role: "admin",
        firebase: { sign_in_provider: "password", identities: {} },
      };
      // What the emulator issues is unsigned too: the header says alg "none".
      assert.equal(JSON.parse(Buffer.from(idToken.split(".")[0] ?? "", "base64url").toString()).alg, "none");
      const fresh = craftToken({ ...base, auth_time: seconds, iat: seconds, exp: seconds + 3600 });
      assert.equal((await access.authenticate(bearer(fresh)))?.role, "admin");

      const expired = craftToken({
        ...base,
        auth_time: seconds - 7200,
        iat: seconds - 7200,
        exp: seconds - 3600,
      });
      await assert.rejects(getAuth().verifyIdToken(expired, true), { code: "auth/id-token-expired" });
      await refused(
        access.authenticate(bearer(expired)),
        UnauthenticatedError,
        /has expired; sign in again/,
        expired,
      );
    });

    it("refuses a token issued for another project (the audience check)", async () => {
      const email = uniqueEmail("foreign");
      await authRest(`projects/${OTHER_PROJECT}/accounts`, { email, password: PASSWORD }, true);
      const { idToken } = await authRest(
        "accounts:signInWithPassword",
        { email, password: PASSWORD, returnSecureToken: true, targetProjectId: OTHER_PROJECT },
        true,
      );
      const payload = JSON.parse(Buffer.from(String(idToken).split(".")[1] ?? "", "base64url").toString());
      assert.equal(payload.aud, OTHER_PROJECT);
      await assert.rejects(getAuth().verifyIdToken(idToken, true), (error: any) => {
        assert.equal(error.code, "auth/argument-error");
        assert.match(error.message, /incorrect "aud"/);
        return true;
      });
      await refused(access.authenticate(bearer(idToken)), UnauthenticatedError, /another project/, idToken);
    });

    it("also checks the audience itself, should a verifier not", async () => {
      const lax = createAccessControl({
        db: adminDb(),
        verifyIdToken: () => Promise.resolve({ uid: "u1", role: "admin", aud: OTHER_PROJECT }),
        projectId: projectId(),
        clock,
      });
      await refused(
        lax.authenticate(bearer("whatever")),
        UnauthenticatedError,
        new RegExp(`issued for project "${OTHER_PROJECT}"`),
      );
    });

    it("refuses tokens of a user whose sessions were revoked, or who was disabled", async () => {
      const revoked = await signedInUser({ role: "operator" }, "revoked");
      await new Promise((resolve) => setTimeout(resolve, 1100)); // validity is kept in whole seconds
      await getAuth().revokeRefreshTokens(revoked.uid);
      await refused(
        access.authenticate(bearer(revoked.idToken)),
        UnauthenticatedError,
        /revoked/,
        revoked.idToken,
      );

      const disabled = await signedInUser({ role: "operator" }, "disabled");
      await getAuth().updateUser(disabled.uid, { disabled: true });
      await refused(
        access.authenticate(bearer(disabled.idToken)),
        UnauthenticatedError,
        /disabled/,
        disabled.idToken,
      );
    });

    it("refuses a request that sends both a token and a key", async () => {
      await refused(
        access.authenticate({ authorization: "Bearer x", "x-api-key": "orch_y" }),
        UnauthenticatedError,
        /either an Authorization header or an X-Api-Key header, not both/,
      );
    });
  });

  describe("API keys", () => {
    it("create → authenticate → revoke → refused; only the hash is stored", async () => {
      const created = await access.createKey(
        { role: "operator", environments: ["dev"], label: "ci main" },
        admin,
      );
      assert.match(created.key, /^orch_[A-Za-z0-9_-]{43}$/);
      assert.equal(created.prefix, created.key.slice(0, 8));

      const raw = (await adminDb().collection(API_KEYS_COLLECTION).doc(created.id).get()).data();
      assert.ok(raw);
      assert.ok(!JSON.stringify(raw).includes(created.key.slice(5)), "the stored document holds no secret");
      assert.equal(raw.key_hash, createHash("sha256").update(created.key).digest("hex"));
      assert.deepEqual(Object.keys(raw).sort(), [
        "created_at",
        "created_by",
        "environments",
        "key_hash",
        "label",
        "last_used_at",
        "prefix",
        "revoked_at",
        "role",
      ]);
      assert.equal(raw.created_by, "user:u-admin");

      const principal = await access.authenticate({ "X-Api-Key": created.key });
      assert.deepEqual(principal, {
        kind: "key",
        keyId: created.id,
        role: "operator",
        environments: ["dev"],
        label: "ci main",
      });

      await access.revokeKey(created.id, admin);
      await refused(
        access.authenticate({ "x-api-key": created.key }),
        UnauthenticatedError,
        /was revoked at 2026-03-01T12:00:00\.000Z/,
        created.key,
      );
      // Revoking twice is harmless and keeps the first time; an unknown id is 404.
      now = new Date("2026-03-02T00:00:00.000Z");
      await access.revokeKey(created.id, admin);
      assert.deepEqual((await access.listKeys())[0]?.revoked_at, new Date("2026-03-01T12:00:00.000Z"));
      await refused(access.revokeKey("k_nope", admin), NotFoundError, /k_nope does not exist/);
    });

    it("lists keys without hashes or secrets", async () => {
      const one = await access.createKey({ role: "viewer", environments: null, label: "dashboards" }, admin);
      now = new Date(now.getTime() + 1000);
      const two = await access.createKey({ role: "admin", environments: null, label: "bootstrap" }, admin);
      const listed = await access.listKeys();
      assert.deepEqual(
        listed.map((key) => [key.id, key.label, key.role, key.prefix]),
        [
          [one.id, "dashboards", "viewer", one.prefix],
          [two.id, "bootstrap", "admin", two.prefix],
        ],
      );
      const text = JSON.stringify(listed);
      assert.ok(!text.includes("key_hash"));
      for (const created of [one, two]) {
        assert.ok(!text.includes(created.key));
        assert.ok(!text.includes(createHash("sha256").update(created.key).digest("hex")));
      }
    });

    it("records the last use at most once a minute per key", async () => {
      const { id, key } = await access.createKey(
        { role: "viewer", environments: null, label: "busy ci" },
        admin,
      );
      const lastUsed = async () => (await access.listKeys()).find((k) => k.id === id)?.last_used_at;
      assert.equal(await lastUsed(), null);
      const first = new Date(now);
      await access.authenticate({ "x-api-key": key });
      assert.deepEqual(await lastUsed(), first);

      now = new Date(first.getTime() + 30_000);
      await access.authenticate({ "x-api-key": key });
      assert.deepEqual(await lastUsed(), first, "within a minute: no write");

      // Another instance (a second function instance) reads the stored value and holds back too.
      const other = createAccessControl({
        db: adminDb(),
        verifyIdToken: () => Promise.reject(new Error("unused")),
        projectId: projectId(),
        clock,
      });
      await other.authenticate({ "x-api-key": key });
      assert.deepEqual(await lastUsed(), first);

      now = new Date(first.getTime() + TOUCH_INTERVAL_MS + 1);
      await access.authenticate({ "x-api-key": key });
      assert.deepEqual(await lastUsed(), now);
    });

    it("refuses unknown and malformed keys without echoing them", async () => {
      const unknown = `orch_${"A".repeat(43)}`;
      await refused(
        access.authenticate({ "x-api-key": unknown }),
        UnauthenticatedError,
        /API key is not known/,
        unknown,
      );
      await refused(
        access.authenticate({ "x-api-key": "hunter2" }),
        UnauthenticatedError,
        /does not hold an API key/,
        "hunter2",
      );
    });

    it("only admins manage keys", async () => {
      const { key } = await access.createKey({ role: "operator", environments: null, label: "ci" }, admin);
      const operatorKey = await access.authenticate({ "x-api-key": key });
      assert.ok(operatorKey);
      await refused(
        access.createKey({ role: "admin", environments: null, label: "escalate" }, operatorKey),
        ForbiddenError,
        /key "ci" \(k_[0-9a-f]+\) \(role operator\) may not manage_keys/,
      );
      const target = (await access.listKeys())[0]?.id ?? "";
      await refused(access.revokeKey(target, operatorKey), ForbiddenError, /may not manage_keys/);
      const viewer: Principal = { kind: "user", uid: "v", email: null, role: "viewer", environments: null };
      await refused(
        access.revokeKey(target, viewer),
        ForbiddenError,
        /user v \(role viewer\) may not manage_keys/,
      );
      assert.equal((await access.listKeys()).length, 1);
    });

    it("a scoped admin cannot mint a key that reaches further than itself", async () => {
      const scopedAdmin: Principal = { ...admin, environments: ["dev"] };
      await refused(
        access.createKey({ role: "operator", environments: null, label: "wide" }, scopedAdmin),
        ForbiddenError,
        /may not create a key for \(all environments\)/,
      );
      await refused(
        access.createKey({ role: "operator", environments: ["dev", "prod"], label: "wide" }, scopedAdmin),
        ForbiddenError,
        /may not create a key for prod: its environments are dev/,
      );
      const ok = await access.createKey(
        { role: "operator", environments: ["dev"], label: "narrow" },
        scopedAdmin,
      );
      assert.match(ok.id, /^k_/);
    });

    it("refuses bad key input, naming each field", async () => {
      await assert.rejects(
        access.createKey({ role: "root" as any, environments: [], label: " " }, admin),
        (error: unknown) => {
          assert.ok(error instanceof BadInputError);
          assert.deepEqual(error.problems.map((p) => p.path).sort(), ["environments", "label", "role"]);
          return true;
        },
      );
      assert.equal((await access.listKeys()).length, 0);
    });
  });
});
