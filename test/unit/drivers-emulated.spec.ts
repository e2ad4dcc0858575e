import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  INTEGRATION_DEFAULTS,
  type IntegrationSettings,
  type ResolvedEnvironment,
} from "../../functions/src/domain/config-schema.js";
import { NonRetriableError } from "../../functions/src/domain/errors.js";
import type { IntegrationKind } from "../../functions/src/domain/integrations.js";
import type { Problem } from "../../functions/src/domain/problems.js";
import { authDriver, buildAuthDesired } from "../../functions/src/drivers/auth.js";
import {
  buildBackupDesired,
  createBackupDriver,
  listExports,
  pruneExports,
} from "../../functions/src/drivers/backup.js";
import {
  ensureOk,
  fromFirestoreFields,
  toFirestoreFields,
  type Json,
} from "../../functions/src/drivers/emulator-rest.js";
import { buildSeed, firestoreDriver, parseIndexesFile } from "../../functions/src/drivers/firestore.js";
import {
  buildBundle,
  checkFunctionsSettings,
  checkPackage,
  functionsDriver,
} from "../../functions/src/drivers/functions.js";
import { buildMonitoringDesired } from "../../functions/src/drivers/monitoring.js";
import { directorySourceReader } from "../../functions/src/drivers/sources.js";
import type { DriverIO, DriverTarget, SourceReader } from "../../functions/src/drivers/types.js";

const repoRoot = path.resolve(fileURLToPath(new URL("../..", import.meta.url)));

function environment(overrides: Partial<ResolvedEnvironment> = {}): ResolvedEnvironment {
  return {
    name: "dev",
    type: "development",
    project_id: "demo-unit-dev",
    region: "us-central1",
    mode: "emulated",
    concurrency: 4,
    rollback_policy: "failed-only",
    engine: {},
    integrations: [
      { kind: "auth", name: "auth", settings: INTEGRATION_DEFAULTS.auth },
      { kind: "firestore", name: "firestore", settings: INTEGRATION_DEFAULTS.firestore },
      { kind: "monitoring", name: "monitoring", settings: INTEGRATION_DEFAULTS.monitoring },
    ],
    ...overrides,
  };
}

function target<K extends IntegrationKind>(
  kind: K,
  settings: Partial<IntegrationSettings<K>> = {},
  env = environment(),
): DriverTarget<K> {
  return {
    environment: env,
    integration: kind,
    kind,
    settings: { ...INTEGRATION_DEFAULTS[kind], ...settings },
  };
}

/** In-memory sources: path -> text. */
function memorySources(files: Record<string, string>): SourceReader {
  return {
    readText: (p) => Promise.resolve(files[p]),
    readBytes: (p) => Promise.resolve(files[p] === undefined ? undefined : Buffer.from(files[p])),
    listFiles: (dir) =>
      Promise.resolve(
        Object.keys(files)
          .filter((p) => p.startsWith(`${dir}/`))
          .map((p) => p.slice(dir.length + 1))
          .sort(),
      ),
  };
}

/** I/O that must not reach any emulator. */
function offlineIO(sources: SourceReader, emulators: DriverIO["emulators"] = {}): DriverIO {
  return {
    sources,
    emulators,
    fetch: () => Promise.reject(new Error("no network in unit tests")),
    now: () => new Date("2026-01-10T00:00:00.000Z"),
  };
}

/** Asserts exactly these problem paths, each message starting with its path and containing `includes`. */
function assertProblems(problems: Problem[], expected: [path: string, includes: string][]) {
  assert.deepEqual(
    problems.map((p) => p.path),
    expected.map(([p]) => p),
    JSON.stringify(problems, null, 2),
  );
  expected.forEach(([p, includes], index) => {
    const message = problems[index]!.message;
    assert.ok(message.startsWith(`${p}: found `), message);
    assert.ok(message.includes(includes), `"${message}" should mention "${includes}"`);
  });
}

describe("emulated drivers: desired state and validation (no emulator)", () => {
  describe("auth", () => {
    it("maps the defaults onto the Identity Toolkit config", () => {
      const { state, problems, idpProviders } = buildAuthDesired("auth", INTEGRATION_DEFAULTS.auth);
      assert.deepEqual(problems, []);
      assert.deepEqual(idpProviders, []);
      assert.deepEqual(state.config.signIn, {
        email: { enabled: true, passwordRequired: true },
        anonymous: { enabled: false },
        phoneNumber: { enabled: false },
      });
      assert.deepEqual(state.config.mfa, { state: "DISABLED" });
      assert.deepEqual(state.config.authorizedDomains, ["localhost"]);
      assert.equal(
        state.config.passwordPolicyConfig.passwordPolicyVersions[0]?.customStrengthOptions.minPasswordLength,
        8,
      );
      assert.deepEqual(state.role_accounts, []);
    });

    it("maps email link, phone, anonymous, MFA and password rules", () => {
      const { state } = buildAuthDesired("auth", {
        ...INTEGRATION_DEFAULTS.auth,
        providers: ["email_link", "phone", "anonymous"],
        mfa: "required",
        password_policy: { min_length: 12, require_symbol: true, require_uppercase: true },
      });
      assert.deepEqual(state.config.signIn.email, { enabled: true, passwordRequired: false });
      assert.equal(state.config.signIn.phoneNumber.enabled, true);
      assert.equal(state.config.signIn.anonymous.enabled, true);
      assert.deepEqual(state.config.mfa, { state: "MANDATORY", enabledProviders: ["PHONE_SMS"] });
      assert.deepEqual(state.config.passwordPolicyConfig.passwordPolicyVersions[0]?.customStrengthOptions, {
        minPasswordLength: 12,
        containsUppercaseCharacter: true,
        containsLowercaseCharacter: false,
        containsNumericCharacter: false,
        containsNonAlphanumericCharacter: true,
      });
    });

    it("keeps google and github out of the state (the emulator cannot configure them) and names them", () => {
      const { state, idpProviders } = buildAuthDesired("auth", {
        ...INTEGRATION_DEFAULTS.auth,
        providers: ["password", "google", "github"],
      });
      assert.deepEqual(idpProviders, ["google", "github"]);
      assert.ok(!JSON.stringify(state).includes("google"));
    });

    it("sorts role accounts by lower-cased email", () => {
      const { state } = buildAuthDesired("auth", {
        ...INTEGRATION_DEFAULTS.auth,
        role_accounts: [
          { email: "Zed@example.com", role: "viewer" },
          { email: "amy@example.com", role: "admin" },
        ],
      });
      assert.deepEqual(state.role_accounts, [
        { email: "amy@example.com", role: "admin" },
        { email: "zed@example.com", role: "viewer" },
      ]);
    });

    const bad: [string, Partial<IntegrationSettings<"auth">>, [string, string][]][] = [
      [
        "a provider listed twice",
        { providers: ["password", "anonymous", "password"] },
        [["auth.providers[2]", '"password" a second time']],
      ],
      ["no provider", { providers: [] }, [["auth.providers", "an empty list"]]],
      [
        "a domain listed twice",
        { authorized_domains: ["localhost", "a.example.com", "localhost"] },
        [["auth.authorized_domains[2]", "each domain once"]],
      ],
      [
        "MFA without an email provider",
        { providers: ["phone"], mfa: "optional" },
        [["auth.mfa", 'string "optional" without an email provider']],
      ],
      [
        "one account twice (case-insensitive)",
        {
          role_accounts: [
            { email: "a@example.com", role: "admin" },
            { email: "A@example.com", role: "viewer" },
          ],
        },
        [["auth.role_accounts[1].email", "already given at role_accounts[0]"]],
      ],
      [
        "several problems at once",
        { providers: ["anonymous", "anonymous"], mfa: "required" },
        [
          ["auth.providers[1]", "a second time"],
          ["auth.mfa", "multi-factor needs an email first factor"],
        ],
      ],
    ];
    for (const [name, settings, expected] of bad) {
      it(`refuses ${name}`, () => {
        assertProblems(
          buildAuthDesired("auth", { ...INTEGRATION_DEFAULTS.auth, ...settings }).problems,
          expected,
        );
      });
    }

    it("desired() refuses an emulated environment without an Auth emulator host, naming the variable", async () => {
      const desired = await authDriver.desired(target("auth"), offlineIO(memorySources({})));
      assertProblems(desired.problems, [["emulators.auth", "FIREBASE_AUTH_EMULATOR_HOST"]]);
      assert.equal(desired.artifact?.name, "identity-toolkit-config.json");
    });

    it("live mode is a clean seam where no live path is built (functions): observe and apply refuse without retrying", async () => {
      const live = target("functions", {}, environment({ mode: "live", project_id: "acme-prod-1" }));
      assert.equal(functionsDriver.mode(live.environment), "live");
      await assert.rejects(functionsDriver.observe(live, offlineIO(memorySources({}))), (error: Error) => {
        assert.ok(error instanceof NonRetriableError);
        assert.match(error.message, /^live mode is not implemented yet: the functions driver/);
        return true;
      });
      await assert.rejects(
        functionsDriver.apply(
          live,
          {} as Parameters<typeof functionsDriver.apply>[1],
          offlineIO(memorySources({})),
        ),
        NonRetriableError,
      );
    });
  });

  describe("firestore", () => {
    const file = "idx.json";
    const valid = {
      indexes: [
        {
          collectionGroup: "orders",
          queryScope: "COLLECTION",
          fields: [
            { fieldPath: "owner", order: "ASCENDING" },
            { fieldPath: "tags", arrayConfig: "CONTAINS" },
          ],
        },
      ],
      fieldOverrides: [],
    };
    const withIndex = (change: (index: any) => void) => {
      const copy = structuredClone(valid) as any;
      change(copy.indexes[0]);
      return JSON.stringify(copy);
    };

    it("parses a valid indexes file into plain definitions", () => {
      const { indexes, problems } = parseIndexesFile(file, JSON.stringify(valid));
      assert.deepEqual(problems, []);
      assert.deepEqual(indexes, [
        {
          collectionGroup: "orders",
          queryScope: "COLLECTION",
          fields: [
            { fieldPath: "owner", order: "ASCENDING" },
            { fieldPath: "tags", arrayConfig: "CONTAINS" },
          ],
        },
      ]);
    });

    const badIndexes: [string, string, [string, string][]][] = [
      ["text that is not JSON", "{ indexes: [", [["idx.json:$", "text that is not JSON"]]],
      ["no indexes array", "{}", [["idx.json:indexes", "nothing (the field is required)"]]],
      [
        "a missing queryScope",
        withIndex((i) => delete i.queryScope),
        [["idx.json:indexes[0].queryScope", '"COLLECTION", "COLLECTION_GROUP"']],
      ],
      [
        "a bad order",
        withIndex((i) => (i.fields[0].order = "UP")),
        [["idx.json:indexes[0].fields[0].order", 'string "UP"']],
      ],
      [
        "an unknown key",
        withIndex((i) => (i.colour = "red")),
        [["idx.json:indexes[0].colour", 'unknown key "colour"']],
      ],
      [
        "a bad collection group",
        withIndex((i) => (i.collectionGroup = "a/b")),
        [["idx.json:indexes[0].collectionGroup", "a collection id"]],
      ],
      [
        "no fields",
        withIndex((i) => (i.fields = [])),
        [["idx.json:indexes[0].fields", "at least 1 item(s)"]],
      ],
      [
        "a field with both order and arrayConfig",
        withIndex((i) => (i.fields[1].order = "ASCENDING")),
        [["idx.json:indexes[0].fields[1]", "both order and arrayConfig"]],
      ],
      [
        "a field with neither",
        withIndex((i) => delete i.fields[1].arrayConfig),
        [["idx.json:indexes[0].fields[1]", "neither order nor arrayConfig"]],
      ],
      [
        "a field twice",
        withIndex((i) => i.fields.push({ fieldPath: "owner", order: "DESCENDING" })),
        [["idx.json:indexes[0].fields[2].fieldPath", '"owner" a second time']],
      ],
      [
        "the same index twice",
        JSON.stringify({ indexes: [valid.indexes[0], valid.indexes[0]] }),
        [["idx.json:indexes[1]", "the same index as indexes[0]"]],
      ],
    ];
    for (const [name, text, expected] of badIndexes) {
      it(`refuses an indexes file with ${name}`, () => {
        assertProblems(parseIndexesFile(file, text).problems, expected);
      });
    }

    it("gives seed documents stable ids: their string id, else seed-<position>", () => {
      const { seed, problems } = buildSeed("firestore", {
        public: [{ id: "welcome", title: "Hi" }, { title: "no id" }],
      });
      assert.deepEqual(problems, []);
      assert.deepEqual(Object.keys(seed.public!), ["welcome", "seed-2"]);
      assert.deepEqual(seed.public!.welcome, { id: "welcome", title: "Hi" });
    });

    const badSeeds: [string, Record<string, Record<string, unknown>[]>, [string, string][]][] = [
      ["a numeric id", { orders: [{ id: 7 }] }, [["firestore.seed.orders[0].id", "number 7"]]],
      ["an id with a slash", { orders: [{ id: "a/b" }] }, [["firestore.seed.orders[0].id", "no '/'"]]],
      ["a reserved id", { orders: [{ id: "__x__" }] }, [["firestore.seed.orders[0].id", "not __reserved__"]]],
      [
        "an id twice",
        { orders: [{ id: "a" }, { id: "a" }] },
        [["firestore.seed.orders[1].id", 'id "a" a second time in orders']],
      ],
      [
        "an array inside an array",
        { orders: [{ grid: [[1, 2]] }] },
        [["firestore.seed.orders[0].grid[0]", "an array inside an array"]],
      ],
      [
        "a reserved field name",
        { orders: [{ nested: { __name__: 1 } }] },
        [["firestore.seed.orders[0].nested.__name__", "field name"]],
      ],
      [
        "a non-finite number",
        { orders: [{ n: Infinity }] },
        [["firestore.seed.orders[0].n", "a finite number"]],
      ],
      [
        "an unsafe integer",
        { orders: [{ n: 2 ** 60 }] },
        [["firestore.seed.orders[0].n", "an integer within"]],
      ],
      [
        "the driver's own collection",
        { _orchestration: [{}] },
        [["firestore.seed._orchestration", "the driver's own"]],
      ],
    ];
    for (const [name, seed, expected] of badSeeds) {
      it(`refuses seed data with ${name}`, () => {
        assertProblems(buildSeed("firestore", seed).problems, expected);
      });
    }

    it("desired() names a missing rules file and a missing indexes file by path", async () => {
      const desired = await firestoreDriver.desired(
        target("firestore", { rules_file: "nope/firestore.rules", indexes_file: "nope/idx.json" }),
        offlineIO(memorySources({}), { firestore: "127.0.0.1:1" }),
      );
      assertProblems(desired.problems, [
        ["firestore.rules_file", '"nope/firestore.rules", which does not exist'],
        ["firestore.indexes_file", '"nope/idx.json", which does not exist'],
      ]);
    });

    it("desired() reads the repo's sample rules and indexes (live: no compile check, no network)", async () => {
      const desired = await firestoreDriver.desired(
        target("firestore", {}, environment({ mode: "live", project_id: "acme-prod-1" })),
        offlineIO(directorySourceReader(repoRoot)),
      );
      assert.deepEqual(desired.problems, []);
      assert.match(desired.state.rules, /service cloud\.firestore/);
      assert.equal(desired.state.indexes[0]?.collectionGroup, "orders");
      assert.deepEqual(desired.state.seed, {});
    });

    it("desired() refuses an emulated environment without a Firestore host", async () => {
      const desired = await firestoreDriver.desired(
        target("firestore"),
        offlineIO(directorySourceReader(repoRoot)),
      );
      assertProblems(desired.problems, [["emulators.firestore", "FIRESTORE_EMULATOR_HOST"]]);
    });
  });

  describe("functions", () => {
    const pkg = (fields: Record<string, unknown>) => JSON.stringify({ name: "x", ...fields });

    const badSettings: [string, Partial<IntegrationSettings<"functions">>, [string, string][]][] = [
      [
        "min above max",
        { min_instances: 5, max_instances: 2 },
        [["functions.min_instances", "5, above max_instances 2"]],
      ],
      ["another runtime", { runtime: "nodejs20" as "nodejs22" }, [["functions.runtime", '"nodejs22"']]],
      [
        "a topic twice",
        { topics: ["orders", "orders"] },
        [["functions.topics[1]", '"orders" a second time']],
      ],
      ["a goog topic", { topics: ["google-things"] }, [["functions.topics[0]", 'not starting with "goog"']]],
      [
        "a topic too long for its subscription",
        { topics: [`t${"x".repeat(252)}`] },
        [["functions.topics[0]", "exceed 255 characters"]],
      ],
    ];
    for (const [name, settings, expected] of badSettings) {
      it(`refuses ${name}`, () => {
        assertProblems(
          checkFunctionsSettings("functions", { ...INTEGRATION_DEFAULTS.functions, ...settings }),
          expected,
        );
      });
    }

    const badPackages: [string, string[], string | undefined, [string, string][]][] = [
      [
        "a missing source directory",
        [],
        undefined,
        [["functions.source", '"src", which is missing or empty']],
      ],
      ["no package.json", ["index.js"], undefined, [["functions.source", "without a package.json"]]],
      [
        "a package.json that is not JSON",
        ["index.js", "package.json"],
        "{",
        [["src/package.json:$", "text that is not JSON"]],
      ],
      [
        "a package.json that is an array",
        ["index.js", "package.json"],
        "[]",
        [["src/package.json:$", "not an object"]],
      ],
      [
        "engines.node 20",
        ["index.js", "package.json"],
        pkg({ engines: { node: "20" } }),
        [["src/package.json:engines.node", '"20"']],
      ],
      ["no engines", ["index.js", "package.json"], pkg({}), [["src/package.json:engines.node", "nothing"]]],
      [
        "a main file that is not there",
        ["package.json"],
        pkg({ engines: { node: "22" }, main: "lib/main.js" }),
        [["src/package.json:main", '"lib/main.js", which is not in src']],
      ],
      [
        "the default main missing",
        ["package.json", "other.js"],
        pkg({ engines: { node: "22" } }),
        [["src/package.json:main", '"index.js"']],
      ],
      [
        "a main that is not a string",
        ["index.js", "package.json"],
        pkg({ engines: { node: "22" }, main: 3 }),
        [["src/package.json:main", "a string"]],
      ],
    ];
    for (const [name, files, text, expected] of badPackages) {
      it(`refuses ${name}`, () => {
        assertProblems(checkPackage("functions", "src", files, text), expected);
      });
    }

    it("accepts a package with engines.node 22 and its main file", () => {
      assert.deepEqual(
        checkPackage(
          "functions",
          "src",
          ["main.js", "package.json"],
          pkg({ engines: { node: "22" }, main: "./main.js" }),
        ),
        [],
      );
    });

    it("builds a bundle: every file with its sha256, node_modules left out, a digest that follows the content", async () => {
      const files = {
        "src/index.js": "export const a = 1;\n",
        "src/package.json": pkg({ engines: { node: "22" } }),
        "src/node_modules/dep/index.js": "ignored",
      };
      const first = await buildBundle(memorySources(files), "src");
      assert.deepEqual(
        first.files.map((f) => f.path),
        ["index.js", "package.json"],
      );
      assert.match(first.files[0]!.sha256, /^[0-9a-f]{64}$/);
      assert.equal((await buildBundle(memorySources(files), "src")).digest, first.digest);
      const changed = await buildBundle(
        memorySources({ ...files, "src/index.js": "export const a = 2;\n" }),
        "src",
      );
      assert.notEqual(changed.digest, first.digest);
    });

    it("desired() on the repo's sample functions: no problems, topics with -sub, a staged manifest", async () => {
      const desired = await functionsDriver.desired(
        target("functions", { topics: ["orders", "emails"] }),
        offlineIO(directorySourceReader(repoRoot), { pubsub: "127.0.0.1:1", firestore: "127.0.0.1:2" }),
      );
      assert.deepEqual(desired.problems, []);
      assert.deepEqual(desired.state.topics, {
        emails: { subscription: "emails-sub" },
        orders: { subscription: "orders-sub" },
      });
      assert.equal(desired.state.staged_service.bundle_files, 2);
      const manifest = JSON.parse(desired.artifact!.content);
      assert.match(manifest.status, /^staged: built and validated, not deployed/);
      assert.deepEqual(
        manifest.files.map((f: { path: string }) => f.path),
        ["index.js", "package.json"],
      );
    });

    it("desired() names missing Pub/Sub and Firestore hosts", async () => {
      const desired = await functionsDriver.desired(
        target("functions"),
        offlineIO(directorySourceReader(repoRoot)),
      );
      assertProblems(desired.problems, [
        ["emulators.pubsub", "PUBSUB_EMULATOR_HOST"],
        ["emulators.firestore", "FIRESTORE_EMULATOR_HOST"],
      ]);
    });
  });

  describe("backup", () => {
    it("keeps schedule, retention and collections as the policy", () => {
      const { state, problems } = buildBackupDesired("backup", {
        ...INTEGRATION_DEFAULTS.backup,
        collections: ["orders"],
      });
      assert.deepEqual(problems, []);
      assert.deepEqual(state, { schedule: "0 3 * * *", retention_days: 14, collections: ["orders"] });
    });

    const bad: [string, string[], [string, string][]][] = [
      ["a path instead of a collection id", ["orders/x"], [["backup.collections[0]", '"orders/x"']]],
      ["a reserved collection", ["__all__"], [["backup.collections[0]", "not __reserved__"]]],
      [
        "a collection twice",
        ["orders", "users", "orders"],
        [["backup.collections[2]", '"orders" a second time']],
      ],
    ];
    for (const [name, collections, expected] of bad) {
      it(`refuses ${name}`, () => {
        assertProblems(
          buildBackupDesired("backup", { ...INTEGRATION_DEFAULTS.backup, collections }).problems,
          expected,
        );
      });
    }

    it("refuses a relative backup root", () => {
      assert.throws(() => createBackupDriver({ backupRoot: "relative/dir" }), /absolute path/);
    });

    it("prunes exports older than the retention, judged by the given clock, and always keeps the newest", async () => {
      const root = await mkdtemp(path.join(os.tmpdir(), "backup-unit-"));
      try {
        const write = async (id: string, createdAt: string) => {
          const dir = path.join(root, "dev", id);
          await mkdir(dir, { recursive: true });
          await writeFile(
            path.join(dir, "orchestration-backup.json"),
            JSON.stringify({
              export_id: id,
              created_at: createdAt,
              schedule: "0 3 * * *",
              retention_days: 7,
              collections: [],
            }),
          );
        };
        await write("old", "2026-01-01T00:00:00.000Z");
        await write("mid", "2026-01-05T00:00:00.000Z");
        await write("new", "2026-01-09T00:00:00.000Z");
        await mkdir(path.join(root, "dev", "not-an-export"));
        const removed = await pruneExports(root, "dev", 7, new Date("2026-01-10T00:00:00.000Z"));
        assert.deepEqual(removed, ["old"]);
        assert.deepEqual(
          (await listExports(root, "dev")).map((e) => e.export_id),
          ["new", "mid"],
        );
        // Far in the future: everything is past retention except the newest, which stays.
        assert.deepEqual(await pruneExports(root, "dev", 1, new Date("2030-01-01T00:00:00.000Z")), ["mid"]);
        assert.deepEqual((await readdir(path.join(root, "dev"))).sort(), ["new", "not-an-export"]);
      } finally {
        await rm(root, { recursive: true, force: true });
      }
    });
  });

  describe("monitoring", () => {
    it("installs a probe per other integration and critical, warning and info rules from settings", () => {
      const { state, problems } = buildMonitoringDesired(
        "monitoring",
        INTEGRATION_DEFAULTS.monitoring,
        environment(),
      );
      assert.deepEqual(problems, []);
      assert.deepEqual(state.probes, [
        { integration: "auth", interval_seconds: 60 },
        { integration: "firestore", interval_seconds: 60 },
      ]);
      assert.deepEqual(
        state.alert_rules.map((r) => [r.id, r.severity, r.threshold]),
        [
          ["error-rate-critical", "critical", 0.1],
          ["error-rate-warning", "warning", 0.02],
          ["latency-critical", "critical", 5000],
          ["latency-warning", "warning", 1000],
          ["deployment-failure-rate-critical", "critical", 0.5],
          ["deployment-failure-rate-warning", "warning", 0.25],
          ["deployment-p95-critical", "critical", 1800],
          ["deployment-p95-warning", "warning", 900],
          ["probe-degraded", "info", "degraded"],
        ],
      );
    });

    const bad: [string, Partial<IntegrationSettings<"monitoring">>, [string, string][]][] = [
      [
        "an error-rate warning above critical",
        { error_rate_warning: 0.5, error_rate_critical: 0.1 },
        [["monitoring.error_rate_warning", "0.5, not below error_rate_critical 0.1"]],
      ],
      [
        "equal latency thresholds",
        { latency_ms_warning: 900, latency_ms_critical: 900 },
        [["monitoring.latency_ms_warning", "not below latency_ms_critical 900"]],
      ],
      [
        "a channel twice",
        { notification_channels: ["ops", "ops"] },
        [["monitoring.notification_channels[1]", '"ops" a second time']],
      ],
    ];
    for (const [name, settings, expected] of bad) {
      it(`refuses ${name}`, () => {
        assertProblems(
          buildMonitoringDesired(
            "monitoring",
            { ...INTEGRATION_DEFAULTS.monitoring, ...settings },
            environment(),
          ).problems,
          expected,
        );
      });
    }
  });

  describe("emulator REST helpers", () => {
    it("round-trips JSON through Firestore REST values", () => {
      const data: { [key: string]: Json } = {
        s: "x",
        i: 3,
        d: 1.5,
        b: true,
        n: null,
        a: [1, "two", { m: 1 }],
        m: { deep: { er: [] } },
      };
      assert.deepEqual(fromFirestoreFields(toFirestoreFields(data)), data);
      assert.deepEqual(toFirestoreFields({ i: 3 }), { i: { integerValue: "3" } });
    });

    it("treats a 4xx as not worth retrying and a 5xx as worth retrying", () => {
      assert.throws(
        () => ensureOk({ status: 400, ok: false, body: { error: { message: "bad" } } }, "doing x"),
        (error: Error) => error instanceof NonRetriableError && error.message === "doing x: HTTP 400: bad",
      );
      assert.throws(
        () => ensureOk({ status: 503, ok: false, body: "busy" }, "doing x"),
        (error: Error) => !(error instanceof NonRetriableError) && /HTTP 503: busy/.test(error.message),
      );
      assert.throws(
        () => ensureOk({ status: 429, ok: false, body: "" }, "x"),
        (error: Error) => !(error instanceof NonRetriableError),
      );
    });
  });
});
