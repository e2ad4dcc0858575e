import assert from "node:assert/strict";
import { validateConfig, validateConfigText, diffEnvironments } from "../../functions/src/domain/config.js";
import { configWith, exampleConfig } from "../support/config-builder.js";

interface BadCase {
  name: string;
  config: unknown;
  path: string;
  message: string;
}

const cases: BadCase[] = [
  {
    name: "the document is not an object",
    config: [],
    path: "$",
    message: "$: found an array of 0; allowed: an object",
  },
  {
    name: "version missing",
    config: configWith((c) => delete c.version),
    path: "version",
    message: "version: found nothing; allowed: 1",
  },
  {
    name: "version is a string",
    config: configWith((c) => (c.version = "1")),
    path: "version",
    message: 'version: found string "1"; allowed: 1',
  },
  {
    name: "unknown top-level key",
    config: configWith((c) => (c.environmnets = [])),
    path: "environmnets",
    message:
      'environmnets: found unknown key "environmnets"; allowed: the keys $schema, version, base, environments',
  },
  {
    name: "no environments",
    config: configWith((c) => (c.environments = [])),
    path: "environments",
    message: "environments: found an array of 0; allowed: at least 1 item(s)",
  },
  {
    name: "environments is an object",
    config: configWith((c) => (c.environments = { dev: {} })),
    path: "environments",
    message: "environments: found an object; allowed: an array",
  },
  {
    name: "missing project_id",
    config: configWith((c) => delete c.environments[0].project_id),
    path: "environments[0].project_id",
    message: "environments[0].project_id: found nothing (the field is required); allowed: a string",
  },
  {
    name: "project_id of the wrong type",
    config: configWith((c) => (c.environments[1].project_id = 42)),
    path: "environments[1].project_id",
    message: "environments[1].project_id: found number 42; allowed: a string",
  },
  {
    name: "project_id with capitals",
    config: configWith((c) => (c.environments[0].project_id = "Demo-Acme")),
    path: "environments[0].project_id",
    message:
      'environments[0].project_id: found string "Demo-Acme"; allowed: a Firebase project id: 6-30 lowercase letters, digits or hyphens, starting with a letter',
  },
  {
    name: "unknown environment type",
    config: configWith((c) => (c.environments[0].type = "qa")),
    path: "environments[0].type",
    message:
      'environments[0].type: found string "qa"; allowed: one of "development", "staging", "production"',
  },
  {
    name: "bad region",
    config: configWith((c) => (c.environments[2].region = "mars-north1")),
    path: "environments[2].region",
    message: 'environments[2].region: found string "mars-north1"; allowed: one of "us-central1"',
  },
  {
    name: "bad base region",
    config: configWith((c) => (c.base.region = "US")),
    path: "base.region",
    message: 'base.region: found string "US"; allowed: one of "us-central1"',
  },
  {
    name: "unknown mode",
    config: configWith((c) => (c.environments[0].mode = "cloud")),
    path: "environments[0].mode",
    message: 'environments[0].mode: found string "cloud"; allowed: one of "emulated", "live"',
  },
  {
    name: "unknown integration in the list",
    config: configWith((c) => c.environments[0].integrations.push("crashlytics")),
    path: "environments[0].integrations[10]",
    message:
      'environments[0].integrations[10]: found string "crashlytics"; allowed: one of "auth", "firestore", "storage", "functions", "hosting", "monitoring", "backup", "security", "analytics", "cicd"',
  },
  {
    name: "unknown integration in base settings",
    config: configWith((c) => (c.base.integrations.realtime_db = {})),
    path: "base.integrations.realtime_db",
    message:
      'base.integrations.realtime_db: found unknown key "realtime_db"; allowed: the keys auth, firestore, storage, functions, hosting, monitoring, backup, security, analytics, cicd',
  },
  {
    name: "duplicate environment name",
    config: configWith((c) => (c.environments[1].name = "dev")),
    path: "environments[1].name",
    message:
      'environments[1].name: found "dev", already used by environments[0]; allowed: a name no other environment uses',
  },
  {
    name: "duplicate project id",
    config: configWith((c) => (c.environments[2].project_id = "demo-acme-dev")),
    path: "environments[2].project_id",
    message:
      'environments[2].project_id: found "demo-acme-dev", already used by environments[0]; allowed: a project id no other environment uses',
  },
  {
    name: "override of an undeclared integration",
    config: configWith((c) => {
      c.environments[0].integrations = ["auth", "firestore"];
    }),
    path: "environments[0].overrides.cicd",
    message:
      'environments[0].overrides.cicd: found an override of "cicd", which this environment does not declare; allowed: overrides of its integrations: auth, firestore',
  },
  {
    name: "integration listed twice",
    config: configWith((c) => c.environments[1].integrations.push("auth")),
    path: "environments[1].integrations[10]",
    message: 'environments[1].integrations[10]: found "auth" listed twice; allowed: each integration once',
  },
  {
    name: "backup without firestore",
    config: configWith((c) => {
      c.environments[0].integrations = ["auth", "backup", "cicd"];
      delete c.environments[0].overrides.auth;
    }),
    path: "environments[0].integrations",
    message:
      'environments[0].integrations: found "backup" without "firestore"; allowed: "backup" together with "firestore", which it needs',
  },
  {
    name: "emulated mode with a real project id",
    config: configWith((c) => (c.environments[0].project_id = "acme-dev")),
    path: "environments[0].project_id",
    message:
      'environments[0].project_id: found "acme-dev" with mode "emulated"; allowed: a "demo-" project id, which the Emulator Suite keeps offline',
  },
  {
    name: "live mode with a demo project id",
    config: configWith((c) => (c.environments[2].mode = "live")),
    path: "environments[2].project_id",
    message:
      'environments[2].project_id: found "demo-acme-prod" with mode "live"; allowed: a real project id; "demo-" ids exist only in the Emulator Suite',
  },
  {
    name: "concurrency zero",
    config: configWith((c) => (c.environments[0].concurrency = 0)),
    path: "environments[0].concurrency",
    message: "environments[0].concurrency: found number 0; allowed: at least 1",
  },
  {
    name: "concurrency not an integer",
    config: configWith((c) => (c.base.concurrency = 2.5)),
    path: "base.concurrency",
    message: "base.concurrency: found number 2.5; allowed: an integer",
  },
  {
    name: "concurrency too high",
    config: configWith((c) => (c.environments[2].concurrency = 1000)),
    path: "environments[2].concurrency",
    message: "environments[2].concurrency: found number 1000; allowed: at most 100",
  },
  {
    name: "unknown setting of an integration",
    config: configWith((c) => (c.environments[2].overrides.functions.cpu = 2)),
    path: "environments[2].overrides.functions.cpu",
    message:
      'environments[2].overrides.functions.cpu: found unknown key "cpu"; allowed: the keys runtime, source, memory, min_instances, max_instances, concurrency, timeout_seconds, topics',
  },
  {
    name: "decommissioned functions runtime",
    config: configWith((c) => (c.base.integrations.functions.runtime = "nodejs20")),
    path: "base.integrations.functions.runtime",
    message: 'base.integrations.functions.runtime: found string "nodejs20"; allowed: "nodejs22"',
  },
  {
    name: "unknown memory size",
    config: configWith((c) => (c.environments[2].overrides.functions.memory = "3GiB")),
    path: "environments[2].overrides.functions.memory",
    message:
      'environments[2].overrides.functions.memory: found string "3GiB"; allowed: one of "128MiB", "256MiB", "512MiB", "1GiB", "2GiB", "4GiB", "8GiB", "16GiB", "32GiB"',
  },
  {
    name: "min_instances above max_instances from an override",
    config: configWith((c) => (c.environments[1].overrides.functions.min_instances = 30)),
    path: "environments[1].overrides.functions.min_instances",
    message:
      "environments[1].overrides.functions.min_instances: found min_instances 30 above max_instances 20; allowed: min_instances <= max_instances",
  },
  {
    name: "min_instances above max_instances from base",
    config: configWith((c) => (c.base.integrations.functions.min_instances = 6)),
    path: "base.integrations.functions.min_instances",
    message:
      "base.integrations.functions.min_instances: found min_instances 6 above max_instances 5; allowed: min_instances <= max_instances",
  },
  {
    name: "unknown auth provider",
    config: configWith((c) => (c.environments[0].overrides.auth.providers = ["password", "myspace"])),
    path: "environments[0].overrides.auth.providers[1]",
    message:
      'environments[0].overrides.auth.providers[1]: found string "myspace"; allowed: one of "password", "email_link", "google", "github", "anonymous", "phone"',
  },
  {
    name: "password policy too short",
    config: configWith((c) => (c.base.integrations.auth.password_policy.min_length = 4)),
    path: "base.integrations.auth.password_policy.min_length",
    message: "base.integrations.auth.password_policy.min_length: found number 4; allowed: at least 6",
  },
  {
    name: "authorized domain with a scheme",
    config: configWith(
      (c) => (c.environments[2].overrides.auth.authorized_domains = ["https://acme.example.com"]),
    ),
    path: "environments[2].overrides.auth.authorized_domains[0]",
    message:
      'environments[2].overrides.auth.authorized_domains[0]: found string "https://acme.example.com"; allowed: a host name such as app.example.com',
  },
  {
    name: "rules file outside the repository",
    config: configWith((c) => (c.base.integrations.firestore.rules_file = "../secrets/firestore.rules")),
    path: "base.integrations.firestore.rules_file",
    message: `base.integrations.firestore.rules_file: found string "../secrets/firestore.rules"; allowed: a relative path inside the repository (no '..')`,
  },
  {
    name: "cron with four fields",
    config: configWith((c) => (c.environments[2].overrides.backup.schedule = "0 */6 * *")),
    path: "environments[2].overrides.backup.schedule",
    message: `environments[2].overrides.backup.schedule: found string "0 */6 * *"; allowed: a cron schedule with five fields, e.g. '0 3 * * *'`,
  },
  {
    name: "negative retention",
    config: configWith((c) => (c.base.integrations.backup.retention_days = -1)),
    path: "base.integrations.backup.retention_days",
    message: "base.integrations.backup.retention_days: found number -1; allowed: at least 1",
  },
  {
    name: "monitoring warning above critical",
    config: configWith((c) => (c.base.integrations.monitoring.error_rate_warning = 0.5)),
    path: "base.integrations.monitoring.error_rate_warning",
    message:
      "base.integrations.monitoring.error_rate_warning: found error_rate_warning 0.5 not below error_rate_critical 0.1; allowed: error_rate_warning < error_rate_critical",
  },
  {
    name: "promotion to an undeclared environment",
    config: configWith((c) => (c.environments[1].overrides.cicd.promote_to = "production")),
    path: "environments[1].overrides.cicd.promote_to",
    message:
      'environments[1].overrides.cicd.promote_to: found "production"; allowed: another declared environment: dev, prod',
  },
  {
    name: "open rules allowed in production",
    config: configWith((c) => (c.environments[2].overrides.security.forbid_open_rules = false)),
    path: "environments[2].overrides.security.forbid_open_rules",
    message:
      "environments[2].overrides.security.forbid_open_rules: found false in a production environment; allowed: true: production never accepts open rules",
  },
  {
    name: "IAM member without a kind",
    config: configWith(
      (c) =>
        (c.environments[2].overrides.security.iam_bindings = [
          { role: "roles/firebase.viewer", members: ["alice@example.com"] },
        ]),
    ),
    path: "environments[2].overrides.security.iam_bindings[0].members[0]",
    message:
      'environments[2].overrides.security.iam_bindings[0].members[0]: found string "alice@example.com"; allowed: user:, serviceAccount:, group: or domain: followed by an id',
  },
  {
    name: "environment name with spaces",
    config: configWith((c) => (c.environments[0].name = "my dev")),
    path: "environments[0].name",
    message:
      'environments[0].name: found string "my dev"; allowed: 2-30 lowercase letters, digits or hyphens, starting with a letter',
  },
  {
    name: "engine settings of an integration the environment does not declare",
    config: configWith((c) => {
      c.environments[0].integrations = ["auth", "firestore"];
      c.environments[0].overrides = {};
      c.environments[0].engine = { hosting: { max_retries: 2 } };
    }),
    path: "environments[0].engine.hosting",
    message:
      'environments[0].engine.hosting: found engine settings of "hosting", which this environment does not declare; allowed: engine settings of its integrations: auth, firestore',
  },
  {
    name: "max_retries above 10",
    config: configWith((c) => (c.environments[0].engine = { auth: { max_retries: 11 } })),
    path: "environments[0].engine.auth.max_retries",
    message: "environments[0].engine.auth.max_retries: found number 11; allowed: at most 10",
  },
  {
    name: "a lease of 0 seconds",
    config: configWith((c) => (c.environments[0].engine = { auth: { lease_seconds: 0 } })),
    path: "environments[0].engine.auth.lease_seconds",
    message: "environments[0].engine.auth.lease_seconds: found number 0; allowed: at least 1",
  },
  {
    name: "a retry backoff given as text",
    config: configWith((c) => (c.environments[0].engine = { auth: { retry_base_ms: "2s" } })),
    path: "environments[0].engine.auth.retry_base_ms",
    message: 'environments[0].engine.auth.retry_base_ms: found string "2s"; allowed: a number',
  },
  {
    name: "an unknown engine setting",
    config: configWith((c) => (c.environments[0].engine = { auth: { timeout_seconds: 30 } })),
    path: "environments[0].engine.auth.timeout_seconds",
    message:
      'environments[0].engine.auth.timeout_seconds: found unknown key "timeout_seconds"; allowed: the keys max_retries, retry_base_ms, lease_seconds',
  },
  {
    name: "tuning may auto-apply only the tunable settings",
    config: configWith((c) => (c.base.tuning = { auto_apply: ["timeouts"] })),
    path: "base.tuning.auto_apply[0]",
    message:
      'base.tuning.auto_apply[0]: found string "timeouts"; allowed: one of "concurrency", "max_retries", "retry_base_ms", "lease_seconds"',
  },
  {
    name: "hosting redirect with a bad status",
    config: configWith(
      (c) => (c.base.integrations.hosting.redirects = [{ source: "/old", destination: "/new", type: 307 }]),
    ),
    path: "base.integrations.hosting.redirects[0].type",
    message: "base.integrations.hosting.redirects[0].type: found number 307; allowed: one of 301, 302",
  },
];

describe("orchestration config schema", () => {
  it("accepts the example config that ships with the repo", () => {
    const result = validateConfig(exampleConfig());
    assert.ok(result.ok, JSON.stringify(!result.ok && result.problems));
    assert.deepEqual(
      result.config.environments.map((env) => env.name),
      ["dev", "staging", "prod"],
    );
  });

  it(`has at least 25 distinct bad configs (has ${cases.length})`, () => {
    assert.ok(cases.length >= 25);
    assert.equal(new Set(cases.map((c) => c.path + c.message)).size, cases.length);
  });

  for (const bad of cases) {
    it(`refuses: ${bad.name}`, () => {
      const result = validateConfig(bad.config);
      assert.equal(result.ok, false, "the config was accepted");
      if (result.ok) return;
      const match = result.problems.find((p) => p.path === bad.path);
      assert.ok(
        match,
        `no problem at ${bad.path}; got ${JSON.stringify(result.problems.map((p) => p.message))}`,
      );
      if (bad.message.endsWith('"us-central1"')) {
        assert.ok(match.message.startsWith(bad.message), match.message);
      } else {
        assert.equal(match.message, bad.message);
      }
    });
  }

  it("reports a JSON syntax error as a problem at $", () => {
    const result = validateConfigText('{"version": 1,');
    assert.equal(result.ok, false);
    if (!result.ok) assert.equal(result.problems[0]?.path, "$");
  });

  it("reports every problem at once, not just the first", () => {
    const result = validateConfig(
      configWith((c) => {
        c.environments[0].type = "qa";
        c.environments[1].mode = "cloud";
      }),
    );
    assert.equal(result.ok, false);
    if (!result.ok)
      assert.deepEqual(result.problems.map((p) => p.path).sort(), [
        "environments[0].type",
        "environments[1].mode",
      ]);
  });

  describe("resolution", () => {
    const resolved = (() => {
      const result = validateConfig(exampleConfig());
      if (!result.ok) throw new Error("example config must be valid");
      return result.config;
    })();
    const env = (name: string) => {
      const found = resolved.environments.find((e) => e.name === name);
      if (!found) throw new Error(name);
      return found;
    };
    const settings = (name: string, kind: string) =>
      env(name).integrations.find((i) => i.kind === kind)?.settings as Record<string, unknown>;

    it("fills defaults, applies base, then the environment's overrides", () => {
      assert.equal(settings("dev", "functions").max_instances, 5, "from base");
      assert.equal(settings("staging", "functions").max_instances, 20, "from the staging override");
      assert.equal(settings("prod", "functions").memory, "1GiB");
      assert.equal(settings("dev", "functions").timeout_seconds, 60, "from the defaults");
    });

    it("merges nested settings key by key", () => {
      const policy = settings("dev", "auth").password_policy as Record<string, unknown>;
      assert.equal(policy.min_length, 10);
      assert.equal(policy.require_numeric, true);
      assert.equal(policy.require_symbol, false);
    });

    it("defaults the rollback policy to all for production, failed-only elsewhere", () => {
      assert.equal(env("prod").rollback_policy, "all");
      assert.equal(env("dev").rollback_policy, "failed-only");
    });

    it("inherits region and concurrency from base unless overridden", () => {
      assert.equal(env("dev").region, "us-central1");
      assert.equal(env("prod").region, "europe-west1");
      assert.equal(env("dev").concurrency, 4);
      assert.equal(env("prod").concurrency, 6);
    });

    it("shows exactly how staging and prod differ", () => {
      const paths = diffEnvironments(env("staging"), env("prod")).map((d) => d.path);
      assert.ok(paths.includes("integrations.functions.memory"));
      assert.ok(paths.includes("region"));
      assert.ok(!paths.includes("integrations.hosting.site"), "hosting is the same in both");
    });
  });
});

describe("the JSON Schema for editors", () => {
  it("is generated from the zod schema and committed up to date (run `npm run schema` after changing the schema)", async () => {
    const { readFileSync } = await import("node:fs");
    const { configJsonSchema } = await import("../../functions/src/domain/config-json-schema.js");
    const committed = JSON.parse(
      readFileSync(new URL("../../orchestration.schema.json", import.meta.url), "utf8"),
    ) as unknown;
    assert.deepEqual(committed, JSON.parse(JSON.stringify(configJsonSchema())));
  });
});
