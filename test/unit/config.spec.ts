import assert from "node:assert/strict";
import { validateConfig, validateConfigText, diffEnvironments } from "../../functions/src/domain/config.js";
import type { ResolvedEnvironment } from "../../functions/src/domain/config-schema.js";
import { planDeployment } from "../../functions/src/domain/planner.js";
import { scaleConfig } from "../../scripts/lib/scale-config.js";
import { configWith, exampleConfig } from "../support/config-builder.js";

interface BadCase {
  name: string;
  config: unknown;
  path: string;
  message: string;
}

/** The example config with instances declared in dev (environments[0]); `change` bends it further. */
const withInstances = (names: string[], change: (config: Record<string, any>) => void = () => {}) =>
  configWith((c) => {
    c.environments[0].integrations.push(...names);
    change(c);
  });

/** Bad inputs about integration instances (`kind:instance`). */
const instanceCases: BadCase[] = [
  {
    name: "an instance of an unknown kind",
    config: withInstances(["crashlytics:ios"]),
    path: "environments[0].integrations[10]",
    message:
      'environments[0].integrations[10]: found string "crashlytics:ios"; allowed: one of "auth", "firestore", "storage", "functions", "hosting", "monitoring", "backup", "security", "analytics", "cicd", or an instance of one such as "functions:orders"',
  },
  {
    name: "an instance name with capitals",
    config: withInstances(["functions:Orders"]),
    path: "environments[0].integrations[10]",
    message:
      'environments[0].integrations[10]: found string "functions:Orders"; allowed: "functions" or "functions:<instance>", the instance 2-24 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen',
  },
  {
    name: "an empty instance name",
    config: withInstances(["hosting:"]),
    path: "environments[0].integrations[10]",
    message:
      'environments[0].integrations[10]: found string "hosting:"; allowed: "hosting" or "hosting:<instance>", the instance 2-24 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen',
  },
  {
    name: "an instance name with a second colon",
    config: withInstances(["functions:orders:eu"]),
    path: "environments[0].integrations[10]",
    message:
      'environments[0].integrations[10]: found string "functions:orders:eu"; allowed: "functions" or "functions:<instance>", the instance without a second \':\' and 2-24 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen',
  },
  {
    name: "an instance name starting with a digit",
    config: withInstances(["storage:1media"]),
    path: "environments[0].integrations[10]",
    message:
      'environments[0].integrations[10]: found string "storage:1media"; allowed: "storage" or "storage:<instance>", the instance 2-24 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen',
  },
  {
    name: "an instance name longer than 24 characters",
    config: withInstances(["analytics:a-very-long-instance-name-x"]),
    path: "environments[0].integrations[10]",
    message:
      'environments[0].integrations[10]: found string "analytics:a-very-long-instance-name-x"; allowed: "analytics" or "analytics:<instance>", the instance 2-24 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen',
  },
  {
    name: "the same instance twice",
    config: withInstances(["functions:orders", "functions:orders"], (c) => {
      c.environments[0].overrides["functions:orders"] = { topics: ["order-events"] };
    }),
    path: "environments[0].integrations[11]",
    message:
      'environments[0].integrations[11]: found "functions:orders" listed twice; allowed: each integration once',
  },
  {
    name: "a second instance of auth",
    config: withInstances(["auth:partners"]),
    path: "environments[0].integrations[10]",
    message:
      'environments[0].integrations[10]: found "auth:partners", a second instance of "auth"; allowed: one instance of "auth" per environment: a project has one Authentication (Identity Platform) configuration',
  },
  {
    name: "a second instance of security",
    config: withInstances(["security:strict"]),
    path: "environments[0].integrations[10]",
    message:
      'environments[0].integrations[10]: found "security:strict", a second instance of "security"; allowed: one instance of "security" per environment: a project has one IAM policy and one App Check configuration',
  },
  {
    name: "two instances of monitoring, neither the default one",
    config: configWith((c) => {
      c.environments[0].integrations = c.environments[0].integrations
        .filter((name: string) => name !== "monitoring")
        .concat(["monitoring:a1", "monitoring:b2"]);
    }),
    path: "environments[0].integrations[10]",
    message:
      'environments[0].integrations[10]: found "monitoring:b2", a second instance of "monitoring"; allowed: one instance of "monitoring" per environment: its thresholds and channels are the environment\'s health and alerting policy, which health checks and notifications read once',
  },
  {
    name: "backup whose only firestore is missing, though an instance of another kind is there",
    config: configWith((c) => {
      c.environments[0].integrations = ["auth", "backup", "functions:jobs"];
      c.environments[0].overrides = {};
    }),
    path: "environments[0].integrations",
    message:
      'environments[0].integrations: found "backup" without "firestore"; allowed: "backup" together with "firestore" (any instance of it), which it needs',
  },
  {
    name: "an override of an instance the environment does not declare",
    config: withInstances(["hosting:marketing"], (c) => {
      c.environments[0].overrides["hosting:marketing"] = { site: "acme-marketing" };
      c.environments[0].overrides["hosting:docs"] = { site: "acme-docs" };
    }),
    path: 'environments[0].overrides["hosting:docs"]',
    message:
      'environments[0].overrides["hosting:docs"]: found an override of "hosting:docs", which this environment does not declare; allowed: overrides of its integrations (or their kinds): auth, firestore, storage, functions, hosting, monitoring, backup, security, analytics, cicd, hosting:marketing',
  },
  {
    name: "an override key that is no integration name",
    config: configWith((c) => (c.environments[0].overrides["hosting:Docs"] = { site: "acme-docs" })),
    path: 'environments[0].overrides["hosting:Docs"]',
    message:
      'environments[0].overrides["hosting:Docs"]: found an override of "hosting:Docs", which is no integration name; allowed: "hosting" or "hosting:<instance>", the instance 2-24 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen',
  },
  {
    name: "an override key of an unknown kind",
    config: configWith((c) => (c.environments[0].overrides.crashlytics = {})),
    path: "environments[0].overrides.crashlytics",
    message:
      'environments[0].overrides.crashlytics: found an override of "crashlytics", which is no integration name; allowed: one of "auth", "firestore", "storage", "functions", "hosting", "monitoring", "backup", "security", "analytics", "cicd", or an instance of one such as "functions:orders"',
  },
  {
    name: "an instance override with a field its kind does not have",
    config: withInstances(["hosting:marketing"], (c) => {
      c.environments[0].overrides["hosting:marketing"] = { site: "acme-marketing", memory: "1GiB" };
    }),
    path: 'environments[0].overrides["hosting:marketing"].memory',
    message:
      'environments[0].overrides["hosting:marketing"].memory: found unknown key "memory"; allowed: the keys site, public_dir, clean_urls, rewrites, redirects',
  },
  {
    name: "an instance override with a value of the wrong type",
    config: withInstances(["functions:orders"], (c) => {
      c.environments[0].overrides["functions:orders"] = { topics: ["order-events"], max_instances: "ten" };
    }),
    path: 'environments[0].overrides["functions:orders"].max_instances',
    message:
      'environments[0].overrides["functions:orders"].max_instances: found string "ten"; allowed: a number',
  },
  {
    name: "an instance override deep inside a list",
    config: withInstances(["hosting:marketing"], (c) => {
      c.environments[0].overrides["hosting:marketing"] = {
        site: "acme-marketing",
        redirects: [{ source: "/old", destination: "/new", type: 307 }],
      };
    }),
    path: 'environments[0].overrides["hosting:marketing"].redirects[0].type',
    message:
      'environments[0].overrides["hosting:marketing"].redirects[0].type: found number 307; allowed: one of 301, 302',
  },
  {
    name: "an instance override that is not an object",
    config: withInstances(["storage:media"], (c) => (c.environments[0].overrides["storage:media"] = "eu")),
    path: 'environments[0].overrides["storage:media"]',
    message: 'environments[0].overrides["storage:media"]: found string "eu"; allowed: an object',
  },
  {
    name: "engine settings of an undeclared instance",
    config: withInstances(["functions:orders"], (c) => {
      c.environments[0].overrides["functions:orders"] = { topics: ["order-events"] };
      c.environments[0].engine = { "functions:billing": { max_retries: 1 } };
    }),
    path: 'environments[0].engine["functions:billing"]',
    message:
      'environments[0].engine["functions:billing"]: found engine settings of "functions:billing", which this environment does not declare; allowed: engine settings of its integrations (or their kinds): auth, firestore, storage, functions, hosting, monitoring, backup, security, analytics, cicd, functions:orders',
  },
  {
    name: "an instance's min_instances above its own max_instances",
    config: withInstances(["functions:orders"], (c) => {
      c.environments[0].overrides["functions:orders"] = { topics: ["order-events"], min_instances: 9 };
    }),
    path: 'environments[0].overrides["functions:orders"].min_instances',
    message:
      'environments[0].overrides["functions:orders"].min_instances: found min_instances 9 above max_instances 5; allowed: min_instances <= max_instances',
  },
  {
    name: "a second firestore database in a live environment",
    config: configWith((c) => {
      c.environments[2].mode = "live";
      c.environments[2].project_id = "acme-prod-1234";
      c.environments[2].integrations.push("firestore:analytics-db");
    }),
    path: "environments[2].integrations[10]",
    message:
      'environments[2].integrations[10]: found "firestore:analytics-db", an instance of "firestore" in a live environment; allowed: "firestore" alone in a live environment: the live firestore driver manages the (default) database only (instances work in emulated environments)',
  },
  {
    name: "two hosting instances serving the same site",
    config: withInstances(["hosting:marketing"]),
    path: "base.integrations.hosting.site",
    message:
      'base.integrations.hosting.site: found site "acme-app" of "hosting:marketing", already used by "hosting"; allowed: a site no other instance of hosting uses (set it in overrides["hosting:marketing"].site)',
  },
  {
    name: "two functions instances listening on the same topic",
    config: withInstances(["functions:orders"]),
    path: "base.integrations.functions.topics",
    message:
      'base.integrations.functions.topics: found topic "orders" of "functions:orders", already used by "functions"; allowed: a topic no other instance of functions uses (set it in overrides["functions:orders"].topics)',
  },
  {
    name: "two analytics instances exporting to the same dataset",
    config: withInstances(
      ["analytics:eu"],
      (c) => (c.environments[0].overrides["analytics:eu"] = { location: "EU" }),
    ),
    path: "base.integrations.analytics.dataset",
    message:
      'base.integrations.analytics.dataset: found dataset "app_events" of "analytics:eu", already used by "analytics"; allowed: a dataset no other instance of analytics uses (set it in overrides["analytics:eu"].dataset)',
  },
];

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
      'environments[0].integrations[10]: found string "crashlytics"; allowed: one of "auth", "firestore", "storage", "functions", "hosting", "monitoring", "backup", "security", "analytics", "cicd", or an instance of one such as "functions:orders"',
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
      'environments[0].overrides.cicd: found an override of "cicd", which this environment does not declare; allowed: overrides of its integrations (or their kinds): auth, firestore',
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
      'environments[0].integrations: found "backup" without "firestore"; allowed: "backup" together with "firestore" (any instance of it), which it needs',
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
      'environments[0].engine.hosting: found engine settings of "hosting", which this environment does not declare; allowed: engine settings of its integrations (or their kinds): auth, firestore',
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

  it(`has at least 20 distinct bad configs about instances (has ${instanceCases.length})`, () => {
    assert.ok(instanceCases.length >= 20);
    assert.equal(new Set(instanceCases.map((c) => c.path + c.message)).size, instanceCases.length);
  });

  for (const bad of [...cases, ...instanceCases]) {
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

  describe("integration instances", () => {
    const resolve = (config: unknown) => {
      const result = validateConfig(config);
      assert.ok(result.ok, JSON.stringify(!result.ok && result.problems.map((p) => p.message)));
      return result.config;
    };
    const dev = (config: unknown) => resolve(config).environments[0]!;
    const named = (env: ResolvedEnvironment, name: string) => {
      const found = env.integrations.find((integration) => integration.name === name);
      assert.ok(found, name);
      return found;
    };

    it("keeps every existing name: a bare kind is its default instance, named after the kind", () => {
      for (const env of resolve(exampleConfig()).environments)
        for (const integration of env.integrations) assert.equal(integration.name, integration.kind);
    });

    it("layers defaults < base[kind] < overrides[kind] < overrides[kind:instance], field by field", () => {
      const env = dev(
        configWith((c) => {
          c.environments[0].integrations.push("functions:orders", "functions:billing");
          c.environments[0].overrides.functions = { memory: "512MiB", timeout_seconds: 30 };
          c.environments[0].overrides["functions:orders"] = { topics: ["order-events"], memory: "2GiB" };
          c.environments[0].overrides["functions:billing"] = { topics: [] };
        }),
      );
      const functions = named(env, "functions");
      const orders = named(env, "functions:orders");
      const billing = named(env, "functions:billing");
      assert.equal(orders.kind, "functions");
      if (functions.kind !== "functions" || orders.kind !== "functions" || billing.kind !== "functions")
        throw new Error("kinds");
      assert.equal(functions.settings.memory, "512MiB", "the kind's override");
      assert.deepEqual(functions.settings.topics, ["orders", "emails"], "base");
      assert.equal(orders.settings.memory, "2GiB", "the instance's override wins");
      assert.equal(orders.settings.timeout_seconds, 30, "the kind's override reaches every instance");
      assert.equal(orders.settings.max_instances, 5, "base reaches every instance");
      assert.equal(orders.settings.concurrency, 80, "the defaults fill the rest");
      assert.deepEqual(orders.settings.topics, ["order-events"]);
      assert.equal(billing.settings.memory, "512MiB");
      assert.deepEqual(billing.settings.topics, []);
    });

    it("layers the engine block the same way: defaults < engine[kind] < engine[kind:instance]", () => {
      const env = dev(
        configWith((c) => {
          c.environments[0].integrations.push("hosting:marketing", "hosting:docs");
          c.environments[0].overrides["hosting:marketing"] = { site: "acme-marketing" };
          c.environments[0].overrides["hosting:docs"] = { site: "acme-docs" };
          c.environments[0].engine = { hosting: { max_retries: 5 }, "hosting:docs": { lease_seconds: 30 } };
        }),
      );
      assert.deepEqual(env.engine.hosting, { max_retries: 5, retry_base_ms: 2000, lease_seconds: 120 });
      assert.deepEqual(env.engine["hosting:marketing"], {
        max_retries: 5,
        retry_base_ms: 2000,
        lease_seconds: 120,
      });
      assert.deepEqual(env.engine["hosting:docs"], {
        max_retries: 5,
        retry_base_ms: 2000,
        lease_seconds: 30,
      });
    });

    it("accepts instances without the kind's default instance, and requires satisfied by any instance", () => {
      const env = dev(
        configWith((c) => {
          c.environments[0].integrations = ["firestore:analytics-db", "backup:nightly"];
          c.environments[0].overrides = {};
        }),
      );
      assert.deepEqual(
        env.integrations.map((integration) => [integration.name, integration.kind]),
        [
          ["firestore:analytics-db", "firestore"],
          ["backup:nightly", "backup"],
        ],
      );
    });

    it("shows how two environments' instances differ, by name", () => {
      const config = resolve(
        configWith((c) => {
          for (const env of [c.environments[1], c.environments[2]]) {
            env.integrations.push("hosting:marketing");
            env.overrides["hosting:marketing"] = { site: "acme-marketing" };
          }
          c.environments[2].overrides["hosting:marketing"].clean_urls = false;
        }),
      );
      const paths = diffEnvironments(config.environments[1]!, config.environments[2]!).map((d) => d.path);
      assert.ok(paths.includes('integrations["hosting:marketing"].clean_urls'), paths.join(", "));
    });
  });

  describe("a generated config at the specification's scale (10 environments x 50 integrations)", () => {
    const config = scaleConfig({ base: exampleConfig().base, environments: 10, integrations: 50 });

    it("validates and resolves every environment with 50 distinct integrations", () => {
      const result = validateConfig(config);
      assert.ok(result.ok, JSON.stringify(!result.ok && result.problems.slice(0, 5)));
      assert.equal(result.config.environments.length, 10);
      for (const env of result.config.environments) {
        assert.equal(env.integrations.length, 50);
        assert.equal(new Set(env.integrations.map((integration) => integration.name)).size, 50);
        assert.equal(Object.keys(env.engine).length, 50);
      }
    });

    it("plans a deployment of all 50 in one environment in dependency order", () => {
      const result = validateConfig(config);
      assert.ok(result.ok);
      const env = result.config.environments[3]!;
      const names = env.integrations.map((integration) => integration.name);
      const planned = planDeployment(
        "scale-1",
        { environment: env.name, integrations: names, configuration: {}, requested_by: "config.spec" },
        env,
        new Date("2026-01-01T00:00:00.000Z"),
      );
      assert.ok(planned.ok, JSON.stringify(!planned.ok && planned.problems.slice(0, 3)));
      const { tasks } = planned.plan;
      assert.equal(tasks.length, 50);
      const position = new Map(tasks.map((task, index) => [task.id, index]));
      for (const task of tasks)
        for (const dependency of task.dependencies)
          assert.ok(position.get(dependency)! < position.get(task.id)!, `${dependency} before ${task.id}`);
      // Kind-level ordering across instances: every functions instance waits for every instance
      // of auth, firestore and storage; every hosting instance for every functions instance.
      const byName = new Map(tasks.map((task) => [task.integration, task]));
      const instancesOf = (kind: string) => tasks.filter((task) => task.kind === kind);
      assert.ok(instancesOf("functions").length > 1 && instancesOf("firestore").length > 1);
      for (const functions of instancesOf("functions"))
        for (const before of [...instancesOf("auth"), ...instancesOf("firestore"), ...instancesOf("storage")])
          assert.ok(
            functions.dependencies.includes(before.id),
            `${functions.integration} after ${before.integration}`,
          );
      for (const hosting of instancesOf("hosting"))
        for (const functions of instancesOf("functions"))
          assert.ok(
            hosting.dependencies.includes(functions.id),
            `${hosting.integration} after ${functions.integration}`,
          );
      assert.equal(byName.get("monitoring")?.dependencies.length, 49, "monitoring waits for all the others");
      assert.equal(tasks[0]?.integration, "security");
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
