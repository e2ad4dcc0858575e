import assert from "node:assert/strict";
import {
  ACTIONS,
  ROLES,
  authorize,
  inScope,
  isRole,
  type Action,
  type Principal,
  type Role,
} from "../../functions/src/domain/access.js";

const TYPES = ["development", "staging", "production"] as const;
const ENV_OF = { development: "dev", staging: "staging", production: "prod" } as const;

/**
 * The expected decision for an unscoped principal, per role and action, for development, staging and
 * production (y = allowed, n = 403), with productionRequiresAdmin off and on.
 */
const MATRIX: Record<Role, Record<Action, { off: string; on: string }>> = {
  viewer: {
    read: { off: "yyy", on: "yyy" },
    plan: { off: "yyy", on: "yyy" },
    deploy: { off: "nnn", on: "nnn" },
    cancel: { off: "nnn", on: "nnn" },
    approve: { off: "nnn", on: "nnn" },
    optimize: { off: "nnn", on: "nnn" },
    manage_keys: { off: "nnn", on: "nnn" },
    manage_config: { off: "nnn", on: "nnn" },
    run_jobs: { off: "nnn", on: "nnn" },
    manage_personal_data: { off: "nnn", on: "nnn" },
  },
  operator: {
    read: { off: "yyy", on: "yyy" },
    plan: { off: "yyy", on: "yyy" },
    deploy: { off: "yyy", on: "yyn" },
    cancel: { off: "yyy", on: "yyn" },
    approve: { off: "yyy", on: "yyn" },
    optimize: { off: "yyy", on: "yyy" },
    manage_keys: { off: "nnn", on: "nnn" },
    manage_config: { off: "nnn", on: "nnn" },
    run_jobs: { off: "nnn", on: "nnn" },
    manage_personal_data: { off: "nnn", on: "nnn" },
  },
  admin: {
    read: { off: "yyy", on: "yyy" },
    plan: { off: "yyy", on: "yyy" },
    deploy: { off: "yyy", on: "yyy" },
    cancel: { off: "yyy", on: "yyy" },
    approve: { off: "yyy", on: "yyy" },
    optimize: { off: "yyy", on: "yyy" },
    manage_keys: { off: "yyy", on: "yyy" },
    manage_config: { off: "yyy", on: "yyy" },
    run_jobs: { off: "yyy", on: "yyy" },
    manage_personal_data: { off: "yyy", on: "yyy" },
  },
};

const user = (role: Role, environments: string[] | null = null): Principal => ({
  kind: "user",
  uid: `uid-${role}`,
  email: `${role}@acme.dev`,
  role,
  environments,
});
const key = (role: Role, environments: string[] | null = null): Principal => ({
  kind: "key",
  keyId: `k_${role}`,
  role,
  environments,
  label: `ci-${role}`,
});

describe("access: authorize", () => {
  it("the matrix covers every role and action", () => {
    assert.deepEqual(Object.keys(MATRIX), [...ROLES]);
    for (const role of ROLES) assert.deepEqual(Object.keys(MATRIX[role]).sort(), [...ACTIONS].sort());
  });

  for (const role of ROLES) {
    for (const action of ACTIONS) {
      for (const policy of ["off", "on"] as const) {
        it(`${role} ${action}, productionRequiresAdmin ${policy}: ${MATRIX[role][action][policy]}`, () => {
          TYPES.forEach((type, index) => {
            const expected = MATRIX[role][action][policy][index] === "y";
            const target = { environment: ENV_OF[type], type };
            const productionRequiresAdmin = policy === "on";
            for (const principal of [user(role), key(role)]) {
              const decision = authorize(principal, action, target, { productionRequiresAdmin });
              assert.equal(decision.allowed, expected, `${principal.kind} ${role} ${action} ${type}`);
              if (!decision.allowed) {
                assert.equal(decision.status, 403);
                assert.match(decision.reason, new RegExp(`role ${role}`));
                assert.match(decision.reason, new RegExp(`may not ${action}`));
                assert.match(decision.reason, new RegExp(`environment "${ENV_OF[type]}" \\(${type}\\)`));
              }
            }
          });
          // Without a target (a list, a cross-environment plan) only the role counts, never the policy.
          const untargeted = authorize(user(role), action, undefined, {
            productionRequiresAdmin: policy === "on",
          });
          assert.equal(untargeted.allowed, MATRIX[role][action].off[0] === "y");
        });
      }
    }
  }

  it("without a policy, production deploy is open to operators", () => {
    assert.equal(
      authorize(user("operator"), "deploy", { environment: "prod", type: "production" }).allowed,
      true,
    );
  });

  for (const action of ACTIONS) {
    it(`no principal is 401 for ${action}, with or without a target`, () => {
      for (const target of [undefined, { environment: "prod", type: "production" as const }]) {
        const decision = authorize(undefined, action, target, { productionRequiresAdmin: true });
        assert.equal(decision.allowed, false);
        assert.ok(!decision.allowed && decision.status === 401);
        assert.match(!decision.allowed ? decision.reason : "", /Authorization: Bearer .*X-Api-Key/);
      }
    });
  }

  describe("environment scopes", () => {
    for (const role of ROLES) {
      for (const make of [user, key]) {
        it(`${make(role).kind} ${role} scoped to [dev, staging] holds its actions there and nothing in prod`, () => {
          const scoped = make(role, ["dev", "staging"]);
          for (const action of ACTIONS) {
            TYPES.forEach((type, index) => {
              const decision = authorize(scoped, action, { environment: ENV_OF[type], type });
              const expected = type !== "production" && MATRIX[role][action].off[index] === "y";
              assert.equal(decision.allowed, expected, `${role} ${action} ${type}`);
              if (!decision.allowed && type === "production" && MATRIX[role][action].off[index] === "y") {
                assert.equal(decision.status, 403);
                assert.match(
                  decision.reason,
                  /environment "prod" \(production\): its environments are dev, staging/,
                );
              }
            });
          }
        });
      }
    }

    it("an empty scope reaches no environment, yet untargeted actions still follow the role", () => {
      const none = user("operator", []);
      const decision = authorize(none, "read", { environment: "dev", type: "development" });
      assert.ok(
        !decision.allowed && decision.status === 403 && /its environments are none/.test(decision.reason),
      );
      assert.equal(authorize(none, "plan").allowed, true);
    });

    it("the role is checked before the scope, so the reason names what is missing first", () => {
      const decision = authorize(user("viewer", ["dev"]), "deploy", {
        environment: "prod",
        type: "production",
      });
      assert.ok(!decision.allowed);
      assert.match(
        decision.reason,
        /^user viewer@acme\.dev \(role viewer\) may not deploy in environment "prod"/,
      );
      assert.match(decision.reason, /role viewer allows read, plan; deploy needs operator or admin/);
    });

    it("the production policy's reason says production requires admin", () => {
      const decision = authorize(
        key("operator"),
        "cancel",
        { environment: "prod", type: "production" },
        {
          productionRequiresAdmin: true,
        },
      );
      assert.ok(!decision.allowed);
      assert.equal(
        decision.reason,
        'key "ci-operator" (k_operator) (role operator) may not cancel in environment "prod" (production): production requires admin for deploy, cancel and approve',
      );
    });

    it("admin-only actions name the role they need", () => {
      const decision = authorize(user("operator"), "manage_keys");
      assert.ok(!decision.allowed && decision.status === 403);
      assert.match(decision.reason, /manage_keys needs admin/);
    });

    it("inScope: null reaches everything, a list only its names", () => {
      assert.equal(inScope(user("viewer"), "anything"), true);
      assert.equal(inScope(user("viewer", ["dev"]), "dev"), true);
      assert.equal(inScope(user("viewer", ["dev"]), "prod"), false);
    });

    it("isRole accepts exactly the three roles", () => {
      for (const role of ROLES) assert.equal(isRole(role), true);
      for (const other of ["Admin", "owner", "", null, undefined, 1, ["admin"]])
        assert.equal(isRole(other), false);
    });
  });
  describe("an environment whose type is unknown (config unreadable or not declaring it)", () => {
    const who = (role: Role, environments: string[] | null = null): Principal => ({
      kind: "key",
      keyId: `k_${role}`,
      role,
      environments,
      label: role,
    });
    const unknown = { environment: "prod", type: "unknown" as const };
    // Expected from the spec: unknown is treated as production; scope is checked regardless.
    const TABLE: [Role, string[] | null, Action, boolean, boolean][] = [
      // role, scope, action, policy requires admin, allowed
      ["operator", null, "deploy", true, false],
      ["operator", null, "cancel", true, false],
      ["operator", null, "read", true, true],
      ["operator", null, "deploy", false, true],
      ["admin", null, "deploy", true, true],
      ["viewer", null, "read", true, true],
      ["viewer", ["dev"], "read", true, false],
      ["admin", ["dev"], "deploy", true, false],
      ["operator", ["prod"], "read", false, true],
    ];
    for (const [role, scope, action, requiresAdmin, allowed] of TABLE) {
      it(`${role} scoped ${scope?.join(",") ?? "*"} ${action}, requires admin ${requiresAdmin}: ${allowed ? "allowed" : "403"}`, () => {
        const decision = authorize(who(role, scope), action, unknown, {
          productionRequiresAdmin: requiresAdmin,
        });
        assert.equal(decision.allowed, allowed, JSON.stringify(decision));
        if (!decision.allowed && scope === null) assert.match(decision.reason, /type is unknown/);
        if (!decision.allowed && scope !== null) assert.match(decision.reason, /its environments are dev/);
      });
    }
  });
});
