import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  INTEGRATION_DEFAULTS,
  type IntegrationSettings,
  type ResolvedEnvironment,
} from "../../functions/src/domain/config-schema.js";
import { NonRetriableError } from "../../functions/src/domain/errors.js";
import type { IntegrationKind } from "../../functions/src/domain/integrations.js";
import { authDriver, type AuthState } from "../../functions/src/drivers/auth.js";
import { createBackupDriver, listExports } from "../../functions/src/drivers/backup.js";
import { createFabricator } from "../../functions/src/drivers/fabricator.js";
import { firestoreDriver, type FirestoreState } from "../../functions/src/drivers/firestore.js";
import { functionsDriver } from "../../functions/src/drivers/functions.js";
import { ALERT_RULES, createMonitoringDriver } from "../../functions/src/drivers/monitoring.js";
import { directorySourceReader } from "../../functions/src/drivers/sources.js";
import type { DriverIO, DriverTarget } from "../../functions/src/drivers/types.js";
import { createReleaseStore } from "../../functions/src/store/releases.js";
import { adminDb, requireEmulators } from "../support/emulators.js";

/** A fresh suffix per run, so projects start empty and release histories do not mix across runs. */
const RUN = Date.now().toString(36);
let counter = 0;

const hosts = () => ({
  firestore: process.env.FIRESTORE_EMULATOR_HOST,
  auth: process.env.FIREBASE_AUTH_EMULATOR_HOST,
  pubsub: process.env.PUBSUB_EMULATOR_HOST,
  hub: process.env.FIREBASE_EMULATOR_HUB,
});

/** An environment on its own fresh emulator project: demo-drv-<kind>-<run>-<n>. */
function environment(kind: string): ResolvedEnvironment {
  counter += 1;
  return {
    name: `drv-${kind}-${RUN}-${counter}`,
    type: "development",
    project_id: `demo-drv-${kind}-${RUN}-${counter}`,
    region: "us-central1",
    mode: "emulated",
    concurrency: 4,
    rollback_policy: "failed-only",
    engine: {},
    integrations: [
      { kind: "auth", name: "auth", settings: INTEGRATION_DEFAULTS.auth },
      { kind: "firestore", name: "firestore", settings: INTEGRATION_DEFAULTS.firestore },
      { kind: "functions", name: "functions", settings: INTEGRATION_DEFAULTS.functions },
      { kind: "backup", name: "backup", settings: INTEGRATION_DEFAULTS.backup },
      { kind: "monitoring", name: "monitoring", settings: INTEGRATION_DEFAULTS.monitoring },
    ],
  };
}

function target<K extends IntegrationKind>(
  kind: K,
  env: ResolvedEnvironment,
  settings: Partial<IntegrationSettings<K>> = {},
): DriverTarget<K> {
  return {
    environment: env,
    integration: kind,
    kind,
    settings: { ...INTEGRATION_DEFAULTS[kind], ...settings },
  };
}

async function call(method: string, url: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method,
    headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : {} };
}
const OWNER = { Authorization: "Bearer owner" };
/** A plan that finds nothing to do (the summary names the mode first: "emulated: no changes"). */
function assertNoChanges(plan: { changes: unknown[]; summary: string }) {
  assert.deepEqual(plan.changes, []);
  assert.match(plan.summary, /(^|: )no changes$/);
}
/** The top-level fields a plan changes. */
const topLevel = (changes: { path: string }[]) =>
  [...new Set(changes.map((c) => c.path.split(".")[0]))].sort();
const docUrl = (projectId: string, documentPath: string) =>
  `http://${hosts().firestore}/v1/projects/${projectId}/databases/(default)/documents/${documentPath}`;

describe("emulated drivers through the fabricator, against the emulators", function () {
  let temp: string;
  let now = () => new Date();
  const io = (): DriverIO => ({
    sources: directorySourceReader(temp),
    emulators: hosts(),
    fetch,
    now: () => now(),
  });
  const releases = () => createReleaseStore(adminDb());
  let backupRoot: string;
  const fabricator = () =>
    createFabricator(
      {
        auth: authDriver,
        firestore: firestoreDriver,
        functions: functionsDriver,
        backup: createBackupDriver({ backupRoot }),
        monitoring: createMonitoringDriver(adminDb()),
      },
      releases(),
      io(),
    );
  const write = (relative: string, content: string) => {
    mkdirSync(path.dirname(path.join(temp, relative)), { recursive: true });
    writeFileSync(path.join(temp, relative), content);
  };

  before(function () {
    requireEmulators(this);
  });
  beforeEach(() => {
    now = () => new Date();
    temp = mkdtempSync(path.join(tmpdir(), "drivers-emulated-"));
    backupRoot = path.join(temp, ".stack", "backups");
    write("rules/v1.rules", RULES_V1);
    write("rules/v2.rules", RULES_V2);
    write("rules/bad.rules", RULES_BAD);
    write(
      "firestore.indexes.json",
      readFileSync(path.resolve("environments/firestore.indexes.json"), "utf8"),
    );
    write(
      "functions/package.json",
      JSON.stringify({ name: "f", type: "module", main: "index.js", engines: { node: "22" } }),
    );
    write("functions/index.js", "export const a = 1;\n");
  });
  afterEach(() => rmSync(temp, { recursive: true, force: true }));

  describe("auth", () => {
    const settings = (
      more: Partial<IntegrationSettings<"auth">> = {},
    ): Partial<IntegrationSettings<"auth">> => ({
      providers: ["password"],
      role_accounts: [{ email: "ops@example.com", role: "operator" }],
      ...more,
    });
    const authUrl = (projectId: string, suffix: string) =>
      `http://${hosts().auth}/identitytoolkit.googleapis.com/${suffix.startsWith("config") ? "v2" : "v1"}/projects/${projectId}/${suffix}`;

    it("plans an empty project, applies, and a second apply changes nothing", async () => {
      const t = target(
        "auth",
        environment("auth"),
        settings({ mfa: "optional", authorized_domains: ["localhost", "app.example.com"] }),
      );
      const plan = await fabricator().plan(t);
      assert.deepEqual(plan.problems, []);
      assert.equal(plan.mode, "emulated");
      const paths = plan.changes.map((c) => c.path);
      for (const expected of [
        "config.signIn.email",
        "config.mfa",
        "config.authorizedDomains",
        "config.passwordPolicyConfig",
        "role_accounts",
      ])
        assert.ok(
          paths.some((p) => p.startsWith(expected)),
          `${expected} in ${paths.join(", ")}`,
        );

      const first = await fabricator().apply(t, "dep-1");
      assert.equal(first.changed, true);
      assert.equal(first.release?.number, 1);
      const config = await call("GET", authUrl(t.environment.project_id, "config"), undefined, OWNER);
      assert.deepEqual(config.body.signIn.email, { enabled: true, passwordRequired: true });
      assert.deepEqual(config.body.mfa, { state: "ENABLED", enabledProviders: ["PHONE_SMS"] });
      assert.deepEqual(config.body.authorizedDomains, ["localhost", "app.example.com"]);
      const users = await call(
        "POST",
        authUrl(t.environment.project_id, "accounts:query"),
        { returnUserInfo: true },
        OWNER,
      );
      assert.deepEqual(
        users.body.userInfo.map((u: any) => [u.email, JSON.parse(u.customAttributes).role]),
        [["ops@example.com", "operator"]],
      );

      const second = await fabricator().apply(t, "dep-2");
      assert.deepEqual([second.changed, second.summary], [false, "emulated: no changes"]);
      const health = await fabricator().verify(t);
      assert.equal(health.status, "healthy", health.details);
      assert.equal(health.mode, "emulated");
    });

    it("shows drift made behind its back, and apply repairs it", async () => {
      const t = target("auth", environment("auth"), settings());
      await fabricator().apply(t, "dep-1");
      const projectId = t.environment.project_id;
      await call(
        "PATCH",
        `${authUrl(projectId, "config")}?updateMask=signIn.anonymous`,
        { signIn: { anonymous: { enabled: true } } },
        OWNER,
      );
      const users = await call("POST", authUrl(projectId, "accounts:query"), { returnUserInfo: true }, OWNER);
      await call(
        "POST",
        authUrl(projectId, "accounts:update"),
        { localId: users.body.userInfo[0].localId, customAttributes: '{"role":"admin"}' },
        OWNER,
      );

      const plan = await fabricator().plan(t);
      assert.deepEqual(
        plan.changes.map((c) => [c.path, c.from, c.to]),
        [
          ["config.signIn.anonymous.enabled", true, false],
          [
            "role_accounts",
            [{ email: "ops@example.com", role: "admin" }],
            [{ email: "ops@example.com", role: "operator" }],
          ],
        ],
      );
      assert.equal((await fabricator().verify(t)).status, "degraded");
      assert.equal((await fabricator().apply(t, "dep-2")).changed, true);
      assertNoChanges(await fabricator().plan(t));
    });

    it("rollback restores the previous release: providers, MFA and role claims", async () => {
      const env = environment("auth");
      const v1 = target("auth", env, settings());
      const v2 = target(
        "auth",
        env,
        settings({
          providers: ["password", "anonymous"],
          mfa: "required",
          role_accounts: [{ email: "boss@example.com", role: "admin" }],
        }),
      );
      await fabricator().apply(v1, "dep-1");
      await fabricator().apply(v2, "dep-2");
      const observed2 = (await authDriver.observe(v2, io())) as AuthState;
      assert.equal(observed2.config.mfa.state, "MANDATORY");
      assert.deepEqual(observed2.role_accounts, [{ email: "boss@example.com", role: "admin" }]);

      const rollback = await fabricator().rollback(v2, "dep-2");
      assert.match(
        rollback.summary,
        /rolled back to the state of release 1 \(recorded as release 3, undoing release 2\)/,
      );
      assertNoChanges(await fabricator().plan(v1));
      const observed = (await authDriver.observe(v1, io())) as AuthState;
      assert.deepEqual(observed.config.signIn.anonymous, { enabled: false });
      assert.deepEqual(observed.config.mfa, { state: "DISABLED" });
      assert.deepEqual(observed.role_accounts, [{ email: "ops@example.com", role: "operator" }]);
    });

    it("google sign-in, which the emulator cannot configure, causes no perpetual diff and is named", async () => {
      const t = target("auth", environment("auth"), settings({ providers: ["password", "google"] }));
      const plan = await fabricator().plan(t);
      assert.deepEqual(JSON.parse(plan.artifact!.content).not_applied_in_emulator, ["google"]);
      await fabricator().apply(t, "dep-1");
      assertNoChanges(await fabricator().plan(t));
      const health = await fabricator().verify(t);
      assert.equal(health.status, "healthy");
      assert.match(
        health.details,
        /google sign-in not applied: the Auth emulator does not implement defaultSupportedIdpConfigs/,
      );
    });
  });

  describe("firestore", () => {
    const settings = (rules = "rules/v1.rules", more: Partial<IntegrationSettings<"firestore">> = {}) => ({
      rules_file: rules,
      indexes_file: "firestore.indexes.json",
      seed: { public: [{ id: "welcome", title: "Hello", tags: ["a", "b"], n: 2 }, { title: "second" }] },
      ...more,
    });
    /** An unauthenticated read, as a client would make it: rules decide. */
    const clientRead = async (projectId: string, documentPath: string) =>
      (await call("GET", docUrl(projectId, documentPath))).status;

    it("plans an empty project, applies rules, seed and marker, and a second apply changes nothing", async () => {
      const t = target("firestore", environment("firestore"), settings());
      const plan = await fabricator().plan(t);
      assert.deepEqual(plan.problems, []);
      assert.deepEqual(topLevel(plan.changes), ["indexes", "rules", "seed"]);
      assert.equal(plan.artifact?.name, "firestore.indexes.json");

      const first = await fabricator().apply(t, "dep-1");
      assert.equal(first.changed, true);
      const projectId = t.environment.project_id;
      const welcome = await call("GET", docUrl(projectId, "public/welcome"), undefined, OWNER);
      assert.deepEqual(welcome.body.fields.title, { stringValue: "Hello" });
      assert.equal((await call("GET", docUrl(projectId, "public/seed-2"), undefined, OWNER)).status, 200);
      assert.equal(await clientRead(projectId, "public/welcome"), 200, "v1 rules allow public reads");
      assert.equal(await clientRead(projectId, "private/x"), 403, "v1 rules deny everything else");

      const second = await fabricator().apply(t, "dep-2");
      assert.deepEqual([second.changed, second.summary], [false, "emulated: no changes"]);
      const health = await fabricator().verify(t);
      assert.equal(health.status, "healthy", health.details);
      assert.match(health.details, /marker read back/);
    });

    it("shows drift made behind its back (rules replaced, a seed doc deleted), and apply repairs it", async () => {
      const t = target("firestore", environment("firestore"), settings());
      await fabricator().apply(t, "dep-1");
      const projectId = t.environment.project_id;
      await call("DELETE", docUrl(projectId, "public/welcome"), undefined, OWNER);
      await call("PUT", `http://${hosts().firestore}/emulator/v1/projects/${projectId}:securityRules`, {
        rules: { files: [{ name: "firestore.rules", content: RULES_V2 }] },
      });
      const plan = await fabricator().plan(t);
      assert.deepEqual(
        plan.changes.map((c) => c.path),
        [
          "rules",
          "seed.public.welcome.id",
          "seed.public.welcome.n",
          "seed.public.welcome.tags",
          "seed.public.welcome.title",
        ],
      );
      assert.equal(plan.changes[0]?.from, RULES_V2);
      assert.ok(plan.changes.slice(1).every((c) => c.from === undefined));
      assert.equal((await fabricator().verify(t)).status, "degraded");
      await fabricator().apply(t, "dep-2");
      assertNoChanges(await fabricator().plan(t));
    });

    it("rules that do not compile: the plan refuses with the emulator's line and column, and the previous release stays", async () => {
      const env = environment("firestore");
      const good = target("firestore", env, settings());
      await fabricator().apply(good, "dep-1");
      const bad = target("firestore", env, settings("rules/bad.rules"));

      const plan = await fabricator().plan(bad);
      assert.equal(plan.problems.length, 1);
      assert.equal(plan.problems[0]?.path, "firestore.rules_file");
      assert.match(plan.problems[0].message, /rules\/bad\.rules with rules that do not compile: L5:\d+ /);
      await assert.rejects(fabricator().apply(bad, "dep-2"), (error: Error) => {
        assert.ok(error instanceof NonRetriableError);
        assert.match(error.message, /refused: .*L5:\d+ /);
        return true;
      });
      assert.equal((await releases().latest(env.name, "firestore"))?.number, 1);

      // Straight to the emulator (as if the plan were skipped): it refuses and keeps the old rules.
      const badState: FirestoreState = {
        ...(await firestoreDriver.desired(good, io())).state,
        rules: RULES_BAD,
      };
      await assert.rejects(firestoreDriver.apply(bad, badState, io()), (error: Error) => {
        assert.ok(error instanceof NonRetriableError);
        assert.match(error.message, /the previous rules stay loaded\): L5:\d+ /);
        return true;
      });
      assert.equal(
        await clientRead(env.project_id, "public/welcome"),
        200,
        "the old rules still allow the public read",
      );
      assertNoChanges(await fabricator().plan(good));
    });

    it("rollback restores the previous release's rules", async () => {
      const env = environment("firestore");
      await fabricator().apply(target("firestore", env, settings()), "dep-1");
      const v2 = target("firestore", env, settings("rules/v2.rules"));
      await fabricator().apply(v2, "dep-2");
      assert.equal(await clientRead(env.project_id, "public/welcome"), 403, "v2 closes public reads");
      const rollback = await fabricator().rollback(v2, "dep-2");
      assert.match(rollback.summary, /release 1/);
      assert.equal(await clientRead(env.project_id, "public/welcome"), 200, "v1 is back");
      assertNoChanges(await fabricator().plan(target("firestore", env, settings())));
    });
  });

  describe("functions", () => {
    const pubsub = (projectId: string, suffix: string) =>
      `http://${hosts().pubsub}/v1/projects/${projectId}/${suffix}`;
    const topicsOf = async (projectId: string) =>
      ((await call("GET", pubsub(projectId, "topics"))).body.topics ?? [])
        .map((t: any) => t.name.split("/").pop())
        .sort();

    it("plans an empty project, creates topics and subscriptions, stages the bundle, and a second apply changes nothing", async () => {
      const t = target("functions", environment("functions"), {
        source: "functions",
        topics: ["orders", "emails"],
      });
      const plan = await fabricator().plan(t);
      assert.deepEqual(plan.problems, []);
      assert.deepEqual(topLevel(plan.changes), ["staged_service", "topics"]);
      assert.ok(plan.changes.some((c) => c.path === "topics.orders.subscription" && c.to === "orders-sub"));
      assert.match(JSON.parse(plan.artifact!.content).status, /not deployed/);

      assert.equal((await fabricator().apply(t, "dep-1")).changed, true);
      const projectId = t.environment.project_id;
      assert.deepEqual(await topicsOf(projectId), ["emails", "orders"]);
      const subs = (await call("GET", pubsub(projectId, "subscriptions"))).body.subscriptions.map(
        (s: any) => [s.name.split("/").pop(), s.topic],
      );
      assert.deepEqual(subs.sort(), [
        ["emails-sub", `projects/${projectId}/topics/emails`],
        ["orders-sub", `projects/${projectId}/topics/orders`],
      ]);
      const second = await fabricator().apply(t, "dep-2");
      assert.deepEqual([second.changed, second.summary], [false, "emulated: no changes"]);
      const health = await fabricator().verify(t);
      assert.equal(health.status, "healthy", health.details);
      assert.match(health.details, /is staged, not deployed/);
    });

    it("shows a deleted subscription and a changed source file as drift, and apply repairs it", async () => {
      const t = target("functions", environment("functions"), { source: "functions", topics: ["orders"] });
      await fabricator().apply(t, "dep-1");
      const projectId = t.environment.project_id;
      await call("DELETE", pubsub(projectId, "subscriptions/orders-sub"));
      write("functions/index.js", "export const a = 2;\n");
      const plan = await fabricator().plan(t);
      assert.deepEqual(
        plan.changes.map((c) => [c.path, c.to]),
        [
          [
            "staged_service.bundle_digest",
            (await functionsDriver.desired(t, io())).state.staged_service.bundle_digest,
          ],
          ["topics.orders.subscription", "orders-sub"],
        ],
      );
      assert.equal((await fabricator().verify(t)).status, "degraded");
      await fabricator().apply(t, "dep-2");
      assertNoChanges(await fabricator().plan(t));
    });

    it("refuses a source without engines.node 22 before touching anything", async () => {
      write("functions/package.json", JSON.stringify({ main: "index.js", engines: { node: "20" } }));
      const t = target("functions", environment("functions"), { source: "functions", topics: ["orders"] });
      await assert.rejects(
        fabricator().apply(t, "dep-1"),
        /functions\/package\.json:engines\.node: found "20"/,
      );
      assert.deepEqual(await topicsOf(t.environment.project_id), []);
    });

    it("rollback restores the previous topics (and removes the ones it had added)", async () => {
      const env = environment("functions");
      await fabricator().apply(
        target("functions", env, { source: "functions", topics: ["orders", "emails"] }),
        "dep-1",
      );
      const v2 = target("functions", env, { source: "functions", topics: ["orders", "audit"] });
      await fabricator().apply(v2, "dep-2");
      assert.deepEqual(await topicsOf(env.project_id), ["audit", "orders"]);
      await fabricator().rollback(v2, "dep-2");
      assert.deepEqual(await topicsOf(env.project_id), ["emails", "orders"]);
    });
  });

  describe("backup", () => {
    const seedDoc = (projectId: string) =>
      call("PATCH", docUrl(projectId, "orders/o1"), { fields: { owner: { stringValue: "u1" } } }, OWNER);

    it("exports the environment's data, verifies a restore into a scratch project, and a second apply changes nothing", async () => {
      const t = target("backup", environment("backup"), { retention_days: 7 });
      const projectId = t.environment.project_id;
      await seedDoc(projectId);
      await call(
        "POST",
        `http://${hosts().auth}/identitytoolkit.googleapis.com/v1/projects/${projectId}/accounts`,
        { email: "u@example.com" },
        OWNER,
      );
      const plan = await fabricator().plan(t);
      assert.deepEqual(
        plan.changes.map((c) => c.path),
        ["collections", "retention_days", "schedule"],
      );
      assert.match(plan.summary, /nothing there yet/);

      assert.equal((await fabricator().apply(t, "dep-1")).changed, true);
      const [latest] = await listExports(backupRoot, t.environment.name);
      assert.ok(latest);
      assert.ok(latest.dir.startsWith(path.join(backupRoot, t.environment.name)));
      assert.deepEqual(latest.contents, ["firestore", "auth"]);
      assert.ok(
        existsSync(path.join(latest.dir, "firestore_export", "firestore_export.overall_export_metadata")),
      );
      assert.ok(existsSync(path.join(latest.dir, "firebase-export-metadata.json")));
      const accounts = JSON.parse(
        readFileSync(path.join(latest.dir, "auth_export", "accounts.json"), "utf8"),
      );
      assert.deepEqual(
        accounts.users.map((u: any) => u.email),
        ["u@example.com"],
      );

      const second = await fabricator().apply(t, "dep-2");
      assert.deepEqual([second.changed, second.summary], [false, "emulated: no changes"]);
      const health = await fabricator().verify(t);
      assert.equal(health.status, "healthy", health.details);
      assert.match(
        health.details,
        /restored into demo-restore-[0-9a-f]{12} and _orchestration\/backup read back, 1 user/,
      );
    });

    it("a deleted export shows as drift; retention prunes old exports by the injected clock; rollback restores the policy", async () => {
      const env = environment("backup");
      await seedDoc(env.project_id);
      let day = 0;
      now = () => new Date(Date.UTC(2026, 0, 1 + day));
      const v1 = target("backup", env, { retention_days: 3 });
      await fabricator().apply(v1, "dep-1");
      const first = (await listExports(backupRoot, env.name))[0]!;
      rmSync(first.dir, { recursive: true });
      assert.deepEqual(
        (await fabricator().plan(v1)).changes.map((c) => c.path),
        ["collections", "retention_days", "schedule"],
      );
      await fabricator().apply(v1, "dep-2");

      day = 10;
      const v2 = target("backup", env, { retention_days: 5, schedule: "0 */6 * * *" });
      const plan = await fabricator().plan(v2);
      assert.deepEqual(
        plan.changes.map((c) => c.path),
        ["retention_days", "schedule"],
      );
      await fabricator().apply(v2, "dep-3");
      const kept = await listExports(backupRoot, env.name);
      assert.deepEqual(
        kept.map((e) => e.created_at),
        ["2026-01-11T00:00:00.000Z"],
        "the day-1 export is past 5 days",
      );

      day = 11;
      await fabricator().rollback(v2, "dep-3");
      assertNoChanges(await fabricator().plan(v1));
      assert.equal((await fabricator().verify(v1)).status, "healthy");
    });
  });

  describe("two instances of a kind in one environment", () => {
    /** The target of an instance: the instance's name, its kind's driver. */
    const instance = <K extends IntegrationKind>(
      kind: K,
      name: string,
      env: ResolvedEnvironment,
      settings: Partial<IntegrationSettings<K>> = {},
    ): DriverTarget<K> => ({ ...target(kind, env, settings), integration: name });
    const dbUrl = (projectId: string, database: string, documentPath: string) =>
      `http://${hosts().firestore}/v1/projects/${projectId}/databases/${database}/documents/${documentPath}`;

    it("firestore: an instance is a named database with its own seed and marker; neither apply touches the other", async () => {
      const env = environment("fsinst");
      const common = { rules_file: "rules/v1.rules", indexes_file: "firestore.indexes.json" };
      const main = target("firestore", env, { ...common, seed: { public: [{ id: "a", from: "default" }] } });
      const analytics = instance("firestore", "firestore:analytics-db", env, {
        ...common,
        seed: { events: [{ id: "e1", from: "analytics" }] },
      });
      // Declared as the config would resolve them: both instances with the same rules file.
      env.integrations = [
        ...env.integrations.filter((integration) => integration.kind !== "firestore"),
        { kind: "firestore", name: main.integration, settings: main.settings },
        { kind: "firestore", name: analytics.integration, settings: analytics.settings },
      ];
      await fabricator().apply(main, "dep-1");
      await fabricator().apply(analytics, "dep-1");
      const projectId = env.project_id;
      const read = async (database: string, documentPath: string) =>
        (await call("GET", dbUrl(projectId, database, documentPath), undefined, OWNER)).status;
      assert.equal(await read("(default)", "public/a"), 200);
      assert.equal(
        await read("(default)", "events/e1"),
        404,
        "the instance's seed is not in the default database",
      );
      assert.equal(await read("analytics-db", "events/e1"), 200);
      assert.equal(await read("analytics-db", "_orchestration/firestore:analytics-db"), 200);
      assert.equal(await read("(default)", "_orchestration/firestore"), 200);

      // Each sees only its own state: a second apply of either changes nothing.
      assertNoChanges(await fabricator().plan(main));
      assertNoChanges(await fabricator().plan(analytics));
      for (const t of [main, analytics]) {
        const health = await fabricator().verify(t);
        assert.equal(health.status, "healthy", `${t.integration}: ${health.details}`);
      }
      assert.match((await fabricator().verify(analytics)).details, /database analytics-db/);
      const [mainRelease, analyticsRelease] = await Promise.all([
        releases().latest(env.name, "firestore"),
        releases().latest(env.name, "firestore:analytics-db"),
      ]);
      assert.deepEqual([mainRelease?.number, analyticsRelease?.number], [1, 1], "one release history each");
    });

    it("firestore: instances of an emulated environment must share the rules file (one ruleset per project)", async () => {
      const env = environment("fsrules");
      const other = instance("firestore", "firestore:analytics-db", env, {
        rules_file: "rules/v2.rules",
        indexes_file: "firestore.indexes.json",
      });
      env.integrations.push({ kind: "firestore", name: other.integration, settings: other.settings });
      const plan = await fabricator().plan(other);
      assert.deepEqual(
        plan.problems.map((p) => p.path),
        ['["firestore:analytics-db"].rules_file'],
      );
      assert.match(plan.problems[0]!.message, /while firestore names "environments\/firestore.rules"/);
    });

    it("functions: each instance creates, keeps and deletes only its own topics and marker", async () => {
      const env = environment("fninst");
      const projectId = env.project_id;
      const main = target("functions", env, { source: "functions", topics: ["orders"] });
      const billing = instance("functions", "functions:billing", env, {
        source: "functions",
        topics: ["invoices"],
      });
      await fabricator().apply(main, "dep-1");
      await fabricator().apply(billing, "dep-1");
      const topics = async () =>
        ((await call("GET", `http://${hosts().pubsub}/v1/projects/${projectId}/topics`)).body.topics ?? [])
          .map((t: any) => t.name.split("/").pop())
          .sort();
      assert.deepEqual(await topics(), ["invoices", "orders"]);
      // The default instance drops its topic: the billing instance's stays.
      const shrunk = target("functions", env, { source: "functions", topics: [] });
      await fabricator().apply(shrunk, "dep-2");
      assert.deepEqual(await topics(), ["invoices"]);
      assertNoChanges(await fabricator().plan(billing));
      assert.equal(
        (await call("GET", docUrl(projectId, "_orchestration/functions:billing"), undefined, OWNER)).status,
        200,
      );
      for (const t of [shrunk, billing]) {
        const health = await fabricator().verify(t);
        assert.equal(health.status, "healthy", `${t.integration}: ${health.details}`);
      }
    });

    it("backup: each instance keeps its own exports and restore-checks them at the same time", async () => {
      const env = environment("bkinst");
      const main = target("backup", env, { retention_days: 7 });
      const weekly = instance("backup", "backup:weekly", env, { retention_days: 30, schedule: "0 4 * * 0" });
      await call(
        "PATCH",
        docUrl(env.project_id, "orders/o1"),
        { fields: { n: { integerValue: "1" } } },
        OWNER,
      );
      await fabricator().apply(main, "dep-1");
      await fabricator().apply(weekly, "dep-1");
      const mainExports = await listExports(backupRoot, env.name);
      const weeklyExports = await listExports(backupRoot, path.join(env.name, "weekly"));
      assert.equal(mainExports.length, 1);
      assert.equal(weeklyExports.length, 1);
      assert.equal(weeklyExports[0]!.retention_days, 30);
      assert.notEqual(mainExports[0]!.dir, weeklyExports[0]!.dir);
      assertNoChanges(await fabricator().plan(weekly));
      const [mainHealth, weeklyHealth] = await Promise.all([
        fabricator().verify(main),
        fabricator().verify(weekly),
      ]);
      assert.equal(mainHealth.status, "healthy", mainHealth.details);
      assert.equal(weeklyHealth.status, "healthy", weeklyHealth.details);
      assert.match(weeklyHealth.details, /_orchestration\/backup:weekly read back/);
    });
  });

  describe("monitoring", () => {
    it("installs probes and alert rules in the control plane, idempotently, shows drift, rolls back", async () => {
      const env = environment("monitoring");
      const v1 = target("monitoring", env);
      const plan = await fabricator().plan(v1);
      assert.match(plan.summary, /nothing there yet/);
      assert.equal((await fabricator().apply(v1, "dep-1")).changed, true);
      const doc = await adminDb().collection(ALERT_RULES).doc(env.name).get();
      // Error rate, latency, deployment failure rate and p95 (critical and warning each), degraded probes.
      assert.equal(doc.get("alert_rules").length, 9);
      assert.deepEqual(
        doc.get("probes").map((p: any) => p.integration),
        ["auth", "firestore", "functions", "backup"],
      );
      assert.equal((await fabricator().apply(v1, "dep-2")).summary, "emulated: no changes");
      assert.equal((await fabricator().verify(v1)).status, "healthy");

      await adminDb()
        .collection(ALERT_RULES)
        .doc(env.name)
        .update({ notification_channels: ["someone"] });
      assert.deepEqual(
        (await fabricator().plan(v1)).changes.map((c) => c.path),
        ["notification_channels"],
      );

      const v2 = target("monitoring", env, { error_rate_critical: 0.2, notification_channels: ["ops"] });
      await fabricator().apply(v2, "dep-3");
      await fabricator().rollback(v2, "dep-3");
      assertNoChanges(await fabricator().plan(v1));
    });
  });
});

const RULES_V1 = `rules_version = '2';
service cloud.firestore {
  match /databases/{database}/documents {
    match /public/{doc} {
      allow read: if true;
    }
  }
}
`;

const RULES_V2 = `rules_version = '2';
service cloud.firestore {
  match /databases/{database}/documents {
    match /public/{doc} {
      allow read: if request.auth != null;
    }
  }
}
`;

const RULES_BAD = `rules_version = '2';
service cloud.firestore {
  match /databases/{database}/documents {
    match /public/{doc} {
      allow read: if (;
    }
  }
}
`;
