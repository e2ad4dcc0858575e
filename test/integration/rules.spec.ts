import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  assertFails,
  assertSucceeds,
  initializeTestEnvironment,
  type RulesTestEnvironment,
} from "@firebase/rules-unit-testing";
import { setLogLevel } from "firebase/firestore";
import { projectId, requireEmulators } from "../support/emulators.js";

const RULES = readFileSync(fileURLToPath(new URL("../../firestore.rules", import.meta.url)), "utf8");

/** One document per collection the rules speak about; `environment` where the collection has one. */
const SEEDS: Record<string, Record<string, unknown>> = {
  "environments/dev": { name: "dev", type: "development" },
  "environments/prod": { name: "prod", type: "production" },
  "integrations/dev__auth": { name: "auth", environment: "dev", status: "deployed" },
  "integrations/prod__auth": { name: "auth", environment: "prod", status: "deployed" },
  "orchestration_tasks/rules-seed__auth": { environment: "dev", status: "succeeded" },
  "deployments/rules-seed": { environment: "dev", status: "succeeded", integrations: ["auth"] },
  "alerts/a1": { environment: "prod", level: "info", status: "open" },
  "releases/dev__auth__000001": { environment: "dev", integration: "auth", number: 1 },
  "orchestration_config/rules-seed": { config_type: "orchestration" },
  "orchestration_config/current": {
    config_type: "orchestration",
    config_data: { access: { production_requires_admin: true } },
  },
  "audit_log/l1": { action: "deploy", by: "user:someone" },
  "api_keys/k_1": { key_hash: "0".repeat(64), role: "admin" },
  "orchestration_slots/dev__0": { holder: null },
};

const READABLE = [
  "environments/dev",
  "integrations/dev__auth",
  "orchestration_tasks/rules-seed__auth",
  "deployments/rules-seed",
  "alerts/a1",
  "releases/dev__auth__000001",
  "orchestration_config/rules-seed",
];

/** Collections only the functions write; clients must not create, update or delete anything there. */
const FUNCTION_ONLY = [
  "environments/dev",
  "integrations/dev__auth",
  "orchestration_tasks/rules-seed__auth",
  "alerts/a1",
  "releases/dev__auth__000001",
  "orchestration_config/rules-seed",
  "audit_log/l1",
  "api_keys/k_1",
  "orchestration_slots/dev__0",
  "deployments/rules-seed",
];

type Claims = { role?: unknown; environments?: unknown };

describe("firestore.rules on the emulator", function () {
  let env: RulesTestEnvironment;
  let counter = 0;

  before(async function () {
    requireEmulators(this);
    setLogLevel("silent"); // every refused write is otherwise logged as an error
    const [host = "127.0.0.1", port = "8080"] = (process.env.FIRESTORE_EMULATOR_HOST ?? "").split(":");
    env = await initializeTestEnvironment({
      projectId: projectId(),
      firestore: { host, port: Number(port), rules: RULES },
    });
  });
  after(async () => {
    await env?.cleanup();
  });
  beforeEach(async () => {
    await env.clearFirestore();
    await env.withSecurityRulesDisabled(async (context) => {
      const db = context.firestore();
      await Promise.all(Object.entries(SEEDS).map(([path, data]) => db.doc(path).set(data)));
    });
  });

  const as = (uid: string, claims: Claims) => env.authenticatedContext(uid, claims).firestore();
  const request = (uid: string, extra: Record<string, unknown> = {}) => ({
    status: "requested",
    environment: "dev",
    integrations: ["auth"],
    configuration: { driver: "simulated" },
    requested_by: `uid:${uid}`,
    ...extra,
  });
  const newId = () => `rules-${Date.now()}-${++counter}`;

  for (const role of ["viewer", "operator", "admin"]) {
    it(`${role} reads environments, integrations, tasks, deployments, alerts, releases and the config`, async () => {
      const db = as(`u-${role}`, { role });
      for (const path of READABLE) await assertSucceeds(db.doc(path).get());
      await assertSucceeds(db.collection("integrations").get());
      await assertSucceeds(db.collection("deployments").get());
    });

    it(`${role} cannot read api_keys or engine internals${role === "admin" ? "" : ", nor the audit log"}`, async () => {
      const db = as(`u-${role}`, { role });
      await assertFails(db.doc("api_keys/k_1").get());
      await assertFails(db.collection("api_keys").get());
      await assertFails(db.doc("orchestration_slots/dev__0").get());
      if (role === "admin") await assertSucceeds(db.doc("audit_log/l1").get());
      else await assertFails(db.doc("audit_log/l1").get());
    });

    it(`${role} cannot write what only the functions write`, async () => {
      const db = as(`u-${role}`, { role });
      for (const path of FUNCTION_ONLY) {
        await assertFails(db.doc(path).set({ environment: "dev", status: "hacked" }));
        await assertFails(db.doc(path).update({ status: "hacked" }));
        await assertFails(db.doc(path).delete());
        const collection = path.split("/")[0] ?? "";
        if (collection !== "deployments") {
          await assertFails(db.collection(collection).doc(newId()).set({ environment: "dev" }));
        }
      }
    });
  }

  it("unauthenticated callers read nothing and write nothing", async () => {
    const db = env.unauthenticatedContext().firestore();
    for (const path of Object.keys(SEEDS)) await assertFails(db.doc(path).get());
    await assertFails(db.collection("deployments").get());
    await assertFails(db.doc(`deployments/${newId()}`).set(request("nobody")));
  });

  it("a signed-in user without a role, or with an unknown one, reads nothing", async () => {
    for (const claims of [{}, { role: "owner" }, { role: ["admin"] }]) {
      const db = as("u-none", claims);
      for (const path of READABLE) await assertFails(db.doc(path).get());
      await assertFails(db.doc(`deployments/${newId()}`).set(request("u-none")));
    }
  });

  for (const role of ["operator", "admin"]) {
    it(`${role} creates a valid deployment request, with or without configuration`, async () => {
      const db = as(`u-${role}`, { role });
      await assertSucceeds(db.doc(`deployments/${newId()}`).set(request(`u-${role}`)));
      const { configuration: _omitted, ...minimal } = request(`u-${role}`);
      await assertSucceeds(db.doc(`deployments/${newId()}`).set(minimal));
    });
  }

  it("a viewer cannot create a deployment request", async () => {
    await assertFails(
      as("u-viewer", { role: "viewer" }).doc(`deployments/${newId()}`).set(request("u-viewer")),
    );
  });

  for (const [name, extra] of [
    ["an extra field", { priority: "high" }],
    ["another user's requested_by", { requested_by: "uid:someone-else" }],
    ["a bare uid as requested_by (the old form)", { requested_by: "u-op" }],
    ["a requested_by naming an API key", { requested_by: "key:k_1" }],
    ["a requested_by claiming to be the system", { requested_by: "system:engine" }],
    ["an environment that is not declared", { environment: "qa" }],
    ["an environment name that is a path", { environment: "dev/../prod" }],
    ["a status other than requested", { status: "running" }],
    ["a non-string environment", { environment: 7 }],
    ["integrations that are not a list", { integrations: "auth" }],
    ["no integrations", { integrations: [] }],
    ["a configuration that is not a map", { configuration: "fast" }],
  ] as const) {
    it(`an operator cannot create a deployment request with ${name}`, async () => {
      const db = as("u-op", { role: "operator" });
      await assertFails(db.doc(`deployments/${newId()}`).set(request("u-op", extra)));
    });
  }

  it("an operator cannot create a deployment request missing a required field", async () => {
    const db = as("u-op", { role: "operator" });
    for (const field of ["status", "environment", "integrations", "requested_by"] as const) {
      const { [field]: _dropped, ...rest } = request("u-op");
      await assertFails(db.doc(`deployments/${newId()}`).set(rest));
    }
  });

  it("an operator cannot change a deployment request once written, nor delete it", async () => {
    const db = as("u-op", { role: "operator" });
    const id = newId();
    await assertSucceeds(db.doc(`deployments/${id}`).set(request("u-op")));
    await assertFails(db.doc(`deployments/${id}`).update({ status: "cancelled" }));
    await assertFails(db.doc(`deployments/${id}`).delete());
  });

  describe("production_requires_admin in the loaded config", () => {
    const prod = (uid: string) => request(uid, { environment: "prod" });
    const setPolicy = (value: boolean | undefined) =>
      env.withSecurityRulesDisabled(async (context) => {
        await context
          .firestore()
          .doc("orchestration_config/current")
          .set({
            config_type: "orchestration",
            config_data: value === undefined ? {} : { access: { production_requires_admin: value } },
          });
      });

    it("refuses an operator's direct write of a production request when it is set", async () => {
      await assertFails(as("u-op", { role: "operator" }).doc(`deployments/${newId()}`).set(prod("u-op")));
      await assertSucceeds(
        as("u-op", { role: "operator" }).doc(`deployments/${newId()}`).set(request("u-op")),
      );
    });

    it("admits an admin's production request when it is set", async () => {
      await assertSucceeds(as("u-adm", { role: "admin" }).doc(`deployments/${newId()}`).set(prod("u-adm")));
    });

    it("admits an operator's production request when it is false or absent, not when no config is loaded", async () => {
      const operator = () => as("u-op", { role: "operator" }).doc(`deployments/${newId()}`);
      await setPolicy(false);
      await assertSucceeds(operator().set(prod("u-op")));
      await setPolicy(undefined);
      await assertSucceeds(operator().set(prod("u-op")));
      await env.withSecurityRulesDisabled((context) =>
        context.firestore().doc("orchestration_config/current").delete(),
      );
      await assertFails(operator().set(prod("u-op")));
      await assertSucceeds(operator().set(request("u-op")));
    });
  });

  describe("the environments claim scopes reads and requests", () => {
    const scoped = () => as("u-scoped", { role: "operator", environments: ["dev"] });

    it("reads documents of its environments and not of others", async () => {
      const db = scoped();
      await assertSucceeds(db.doc("environments/dev").get());
      await assertSucceeds(db.doc("integrations/dev__auth").get());
      await assertFails(db.doc("environments/prod").get());
      await assertFails(db.doc("integrations/prod__auth").get());
      await assertFails(db.doc("alerts/a1").get());
    });

    it("lists only with a query confined to its environments", async () => {
      const db = scoped();
      await assertFails(db.collection("integrations").get());
      const dev = await assertSucceeds(db.collection("integrations").where("environment", "==", "dev").get());
      if (dev.size !== 1) throw new Error(`expected 1 dev integration, got ${dev.size}`);
      await assertFails(db.collection("integrations").where("environment", "==", "prod").get());
    });

    it("requests deployments only in its environments", async () => {
      const db = scoped();
      await assertSucceeds(db.doc(`deployments/${newId()}`).set(request("u-scoped")));
      await assertFails(db.doc(`deployments/${newId()}`).set(request("u-scoped", { environment: "prod" })));
    });

    it("a scope that is not a list reaches nothing", async () => {
      const db = as("u-odd", { role: "viewer", environments: "dev" });
      await assertFails(db.doc("environments/dev").get());
    });
  });
});
