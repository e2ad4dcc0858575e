import assert from "node:assert/strict";
import { cpSync, mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { orchestrationEventSchema } from "../../functions/src/bus.js";
import { validateConfig } from "../../functions/src/domain/config.js";
import type { ResolvedEnvironment, ResolvedIntegration } from "../../functions/src/domain/config-schema.js";
import { NonRetriableError } from "../../functions/src/domain/errors.js";
import type { IntegrationKind } from "../../functions/src/domain/integrations.js";
import type { Problem } from "../../functions/src/domain/problems.js";
import { analyticsDriver, eventTableFields } from "../../functions/src/drivers/analytics.js";
import { checkWorkflowText, cicdDriver } from "../../functions/src/drivers/cicd.js";
import { hostingDriver } from "../../functions/src/drivers/hosting.js";
import { findOpenWrites, lintRules } from "../../functions/src/drivers/rules-lint.js";
import { securityDriver } from "../../functions/src/drivers/security.js";
import { directorySourceReader } from "../../functions/src/drivers/sources.js";
import { storageDriver } from "../../functions/src/drivers/storage.js";
import type { DriverIO, DriverSpec, DriverTarget, Release } from "../../functions/src/drivers/types.js";
import { exampleConfig } from "../support/config-builder.js";

const REPO = path.resolve(fileURLToPath(new URL("../..", import.meta.url)));
const KINDS = ["hosting", "storage", "security", "analytics", "cicd"] as const;
type StagedKind = (typeof KINDS)[number];
const SPECS: { [K in StagedKind]: DriverSpec<K, any> } = {
  hosting: hostingDriver,
  storage: storageDriver,
  security: securityDriver,
  analytics: analyticsDriver,
  cicd: cicdDriver,
};

function environment(name: string): ResolvedEnvironment {
  const result = validateConfig(exampleConfig());
  assert.ok(result.ok, "the example config is valid");
  const env = result.config.environments.find((candidate) => candidate.name === name);
  assert.ok(env, `the example config declares ${name}`);
  return env;
}

/** The target of one kind in an environment of the example config, with settings bent by `change`. */
function target<K extends StagedKind>(
  kind: K,
  envName = "dev",
  change: (settings: any, env: ResolvedEnvironment) => void = () => {},
): DriverTarget<K> {
  const env = structuredClone(environment(envName));
  const integration = env.integrations.find((candidate) => candidate.kind === kind);
  assert.ok(integration, `${envName} declares ${kind}`);
  change(integration.settings, env);
  return { environment: env, integration: kind, kind, settings: integration.settings as any };
}

/** A `change` for `target` that adds instance `name` of `kind`: the kind's first instance's settings with `overrides`. */
function withInstance(kind: IntegrationKind, name: string, overrides: Record<string, unknown>) {
  return (_settings: unknown, env: ResolvedEnvironment) => {
    const base = env.integrations.find((integration) => integration.kind === kind)!;
    env.integrations.push({
      kind,
      name,
      settings: { ...base.settings, ...overrides },
    } as ResolvedIntegration);
  };
}

function ioAt(root: string): DriverIO {
  return {
    sources: directorySourceReader(root),
    emulators: {},
    fetch,
    now: () => new Date("2025-03-01T12:00:00.000Z"),
  };
}
const repoIo = ioAt(REPO);

/** A temporary copy of the repo's environments/ folder, to break files in. */
let temp: string;
beforeEach(() => {
  temp = mkdtempSync(path.join(tmpdir(), "drivers-staged-"));
  cpSync(path.join(REPO, "environments"), path.join(temp, "environments"), { recursive: true });
});
afterEach(() => rmSync(temp, { recursive: true, force: true }));
const write = (relative: string, text: string) => {
  mkdirSync(path.dirname(path.join(temp, relative)), { recursive: true });
  writeFileSync(path.join(temp, relative), text);
};

async function problemsOf<K extends StagedKind>(t: DriverTarget<K>, io = repoIo): Promise<Problem[]> {
  return (await SPECS[t.kind].desired(t, io)).problems;
}

/** Asserts that one problem at `path` has the message `message` (or one matching it), in the Problem format. */
function assertProblem(problems: Problem[], path: string, message: string | RegExp) {
  const matches = problems.filter(
    (problem) =>
      problem.path === path &&
      (typeof message === "string" ? problem.message === message : message.test(problem.message)),
  );
  assert.equal(
    matches.length,
    1,
    `one problem at ${path} like ${String(message)}, got: ${JSON.stringify(problems, null, 2)}`,
  );
  const found = matches[0]!;
  assert.equal(found.message, `${path}: found ${found.found}; allowed: ${found.allowed}`);
}

function release(
  kind: IntegrationKind,
  state: unknown,
  artifact: Release["artifact"] = null,
  number = 1,
): Release {
  return {
    environment: "dev",
    integration: kind,
    kind,
    number,
    mode: "staged",
    state,
    digest: "x",
    undoes: null,
    artifact,
    deployment_id: null,
    action: "apply",
    created_at: new Date(),
  };
}

describe("staged drivers: the repository's environments pass", () => {
  for (const envName of ["dev", "staging", "prod"]) {
    for (const kind of KINDS) {
      it(`${kind} in ${envName}: no problems, a stable artifact, staged mode`, async () => {
        const spec = SPECS[kind];
        const t = target(kind, envName);
        const first = await spec.desired(t as any, repoIo);
        const second = await spec.desired(t as any, repoIo);
        assert.deepEqual(first.problems, []);
        assert.ok(first.artifact, "a staged kind builds an artifact");
        assert.equal(first.artifact.content, second.artifact?.content, "the artifact is the same every time");
        assert.deepEqual(first.state, second.state);
        assert.equal(spec.mode(t.environment), "staged");
        assert.equal(await spec.observe(t as any, repoIo), undefined);
        assert.doesNotMatch(first.artifact.content, /deployed/i);
      });
    }
  }

  it("hosting: the release manifest hashes every file of the site and keeps the rewrites", async () => {
    const desired = await hostingDriver.desired(target("hosting"), repoIo);
    assert.deepEqual(Object.keys(desired.state.files), ["404.html", "index.html"]);
    assert.match(desired.state.files["index.html"]!.sha256, /^[0-9a-f]{64}$/);
    assert.equal(desired.state.file_count, 2);
    assert.equal(
      desired.state.total_bytes,
      Object.values(desired.state.files).reduce((sum, file) => sum + file.bytes, 0),
    );
    assert.deepEqual(desired.state.rewrites, [{ source: "/api/**", function: "api" }]);
    const manifest = JSON.parse(desired.artifact!.content);
    assert.equal(manifest.site, "acme-app");
    assert.equal(manifest.clean_urls, true);
    assert.equal(desired.artifact!.name, "hosting/dev/acme-app/release.json");
  });

  it("storage: the artifact is the bucket config with the rules digest", async () => {
    const desired = await storageDriver.desired(target("storage", "prod"), repoIo);
    const artifact = JSON.parse(desired.artifact!.content);
    assert.equal(artifact.bucket, "demo-acme-prod.firebasestorage.app");
    assert.equal(artifact.location, "europe-west1");
    assert.deepEqual(artifact.lifecycle.rule[0].condition, { age: 30 });
    assert.equal(artifact.rules.file, "environments/storage.rules");
    assert.match(artifact.rules.sha256, /^[0-9a-f]{64}$/);
  });

  it("security: App Check per declared product and IAM bindings as role -> members", async () => {
    const t = target("security", "prod", (settings, env) => {
      settings.iam_bindings = [
        { role: "roles/firebase.viewer", members: ["user:b@example.com", "user:a@example.com"] },
        { role: "roles/firebase.admin", members: ["group:ops@example.com"] },
        { role: "roles/firebase.viewer", members: ["user:a@example.com", "domain:example.com"] },
      ];
      env.integrations = env.integrations.filter((integration) => integration.kind !== "storage");
    });
    const desired = await securityDriver.desired(t, repoIo);
    assert.deepEqual(desired.problems, []);
    const plan = JSON.parse(desired.artifact!.content);
    assert.deepEqual(plan.app_check, { auth: "enforce", firestore: "enforce", functions: "enforce" });
    assert.deepEqual(plan.iam_bindings, {
      "roles/firebase.admin": ["group:ops@example.com"],
      "roles/firebase.viewer": ["domain:example.com", "user:a@example.com", "user:b@example.com"],
    });
    assert.equal(plan.forbid_open_rules, true);
    assert.deepEqual(Object.keys(plan.rules_checked), ["firestore", "storage"]);
  });

  it("analytics: a dataset and an events table with the bus's event fields, partitioned by day on at", async () => {
    const desired = await analyticsDriver.desired(target("analytics", "prod"), repoIo);
    const definition = JSON.parse(desired.artifact!.content);
    assert.deepEqual(definition.dataset.datasetReference, {
      projectId: "demo-acme-prod",
      datasetId: "app_events",
    });
    assert.equal(definition.dataset.location, "EU");
    assert.equal(definition.table.tableReference.tableId, "orchestration_events");
    assert.deepEqual(
      definition.table.schema.fields.map((field: any) => field.name),
      Object.keys(orchestrationEventSchema.shape),
    );
    assert.deepEqual(
      definition.table.schema.fields.find((field: any) => field.name === "at"),
      { name: "at", type: "TIMESTAMP", mode: "REQUIRED" },
    );
    assert.equal(
      definition.table.schema.fields.find((field: any) => field.name === "attempt").type,
      "INTEGER",
    );
    assert.equal(
      definition.table.schema.fields.find((field: any) => field.name === "task_id").mode,
      "NULLABLE",
    );
    assert.deepEqual(definition.table.timePartitioning, {
      type: "DAY",
      field: "at",
      expirationMs: String(400 * 86_400_000),
    });
    assert.equal(desired.state.partitioning.expiration_ms, 400 * 86_400_000);
  });

  it("cicd: dev's workflow parses, deploys its project on a push to develop and promotes to staging", async () => {
    const desired = await cicdDriver.desired(target("cicd", "dev"), repoIo);
    assert.equal(desired.artifact!.name, ".github/workflows/deploy-dev.yml");
    const workflow = parse(desired.artifact!.content);
    assert.deepEqual(workflow.on.push.branches, ["develop"]);
    assert.deepEqual(Object.keys(workflow.jobs), ["test", "deploy", "promote"]);
    assert.deepEqual(workflow.jobs.deploy.needs, ["test"]);
    assert.deepEqual(workflow.jobs.promote.needs, ["deploy"]);
    assert.ok(workflow.jobs.test.steps.some((step: any) => step.run === "npm ci"));
    assert.ok(workflow.jobs.test.steps.some((step: any) => step.run === "npm test"));
    assert.ok(
      workflow.jobs.deploy.steps.some((step: any) =>
        /firebase deploy --project demo-acme-dev\b/.test(step.run ?? ""),
      ),
    );
    assert.equal(workflow.jobs.promote.environment.name, "staging");
    assert.deepEqual(desired.state.github_environments, [
      { name: "dev", required_reviewers: false },
      { name: "staging", required_reviewers: false },
    ]);
  });

  it("cicd: staging's promotion to prod is gated by prod's required reviewers; prod promotes nowhere", async () => {
    const staging = await cicdDriver.desired(target("cicd", "staging"), repoIo);
    assert.deepEqual(staging.state.github_environments, [
      { name: "staging", required_reviewers: false },
      { name: "prod", required_reviewers: true },
    ]);
    assert.match(
      staging.artifact!.content,
      /# Approval: give the GitHub environment\(s\) prod required reviewers/,
    );
    const prod = await cicdDriver.desired(target("cicd", "prod"), repoIo);
    const workflow = parse(prod.artifact!.content);
    assert.equal(workflow.jobs.promote, undefined);
    assert.deepEqual(prod.state.github_environments, [{ name: "prod", required_reviewers: true }]);
    assert.doesNotMatch(prod.artifact!.content, /&a\d|\*a\d/, "no YAML anchors: every step is spelled out");
  });
});

describe("staged drivers: apply, mode and live environments", () => {
  for (const kind of KINDS) {
    it(`${kind}: apply refuses (staged has no live apply; live is not implemented yet)`, async () => {
      const spec = SPECS[kind];
      const t = target(kind);
      await assert.rejects(spec.apply(t as any, {}, repoIo), (error: unknown) => {
        assert.ok(error instanceof NonRetriableError);
        assert.equal(error.message, "staged integrations have no live apply");
        return true;
      });
      const live = target(kind, "dev", (_settings, env) => (env.mode = "live"));
      assert.equal(spec.mode(live.environment), "staged");
      await assert.rejects(spec.apply(live as any, {}, repoIo), /live mode is not implemented yet/);
      const health = await spec.verify(live as any, repoIo, undefined);
      assert.equal(health.status, "degraded");
      assert.match(health.details, /^staged: no release of/);
      assert.match(health.details, /live mode is not implemented yet/);
    });
  }
});

describe("hosting: bad inputs", () => {
  it("a site directory that does not exist", async () => {
    const problems = await problemsOf(
      target("hosting", "dev", (s) => (s.public_dir = "environments/nowhere")),
    );
    assertProblem(
      problems,
      "integrations.hosting.public_dir",
      'integrations.hosting.public_dir: found "environments/nowhere", which is missing or has no files; allowed: a directory of the repository holding the site\'s files',
    );
  });

  it("an empty site directory", async () => {
    mkdirSync(path.join(temp, "environments/empty"));
    const problems = await problemsOf(
      target("hosting", "dev", (s) => (s.public_dir = "environments/empty")),
      ioAt(temp),
    );
    assertProblem(
      problems,
      "integrations.hosting.public_dir",
      /"environments\/empty", which is missing or has no files/,
    );
  });

  it("a site directory that is a file", async () => {
    const problems = await problemsOf(
      target("hosting", "dev", (s) => (s.public_dir = "environments/storage.rules")),
      ioAt(temp),
    );
    assertProblem(problems, "integrations.hosting.public_dir", /which is a file, not a directory/);
  });

  it("a rewrite to a function the functions source does not export", async () => {
    const problems = await problemsOf(
      target("hosting", "dev", (s) => s.rewrites.push({ source: "/orders/**", function: "placeOrder" })),
    );
    assertProblem(
      problems,
      "integrations.hosting.rewrites[1].function",
      'integrations.hosting.rewrites[1].function: found "placeOrder", which environments/functions/index.js does not export; allowed: a function of the environment: api, processOrder, sendEmail',
    );
  });

  it("a rewrite when the environment's functions source is missing", async () => {
    const t = target("hosting", "dev", (_s, env) => {
      const functions = env.integrations.find((integration) => integration.kind === "functions")!;
      (functions.settings as any).source = "environments/no-functions";
    });
    assertProblem(
      await problemsOf(t),
      "integrations.hosting.rewrites[0].function",
      /found "api", but the functions source environments\/no-functions\/index.js does not exist/,
    );
  });

  it("a rewrite may name a function of any functions instance; one exported by none names them all", async () => {
    write("environments/orders-fn/index.js", "export const placeOrder = () => {};\n");
    const t = target("hosting", "dev", (s, env) => {
      s.rewrites.push({ source: "/orders/**", function: "placeOrder" });
      s.rewrites.push({ source: "/refunds/**", function: "refund" });
      withInstance("functions", "functions:orders", { source: "environments/orders-fn" })(s, env);
    });
    const problems = await problemsOf(t, ioAt(temp));
    assert.equal(problems.length, 1, JSON.stringify(problems, null, 2));
    assertProblem(
      problems,
      "integrations.hosting.rewrites[2].function",
      'integrations.hosting.rewrites[2].function: found "refund", which none of environments/functions/index.js, environments/orders-fn/index.js exports; allowed: a function of the environment: api, placeOrder, processOrder, sendEmail',
    );
  });

  it("an unreadable second codebase: rewrites the first exports pass, others name the missing source", async () => {
    const t = target("hosting", "dev", (s, env) => {
      s.rewrites.push({ source: "/orders/**", function: "placeOrder" });
      withInstance("functions", "functions:orders", { source: "environments/no-orders" })(s, env);
    });
    const problems = await problemsOf(t, ioAt(temp));
    assert.deepEqual(
      problems.map((problem) => problem.path),
      ["integrations.hosting.rewrites[1].function"],
    );
    assert.match(
      problems[0]!.message,
      /found "placeOrder", but the functions source environments\/no-orders\/index.js does not exist/,
    );
  });

  it("exports are read from the functions source's package.json main, in every export form", async () => {
    write("environments/fns/package.json", JSON.stringify({ main: "./lib/main.js" }));
    write(
      "environments/fns/lib/main.js",
      [
        "// export const commented = 1;",
        "export async function api() {}",
        "const a = 1, b = 2;",
        "export { a as renamed, b };",
        'const text = "export const inString = 1";',
      ].join("\n"),
    );
    const t = target("hosting", "dev", (s, env) => {
      s.rewrites = ["api", "renamed", "b", "commented", "a"].map((name, index) => ({
        source: `/r${index}/**`,
        function: name,
      }));
      const functions = env.integrations.find((integration) => integration.kind === "functions")!;
      (functions.settings as any).source = "environments/fns";
    });
    const problems = await problemsOf(t, ioAt(temp));
    assert.deepEqual(
      problems.map((problem) => problem.path),
      ["integrations.hosting.rewrites[3].function", "integrations.hosting.rewrites[4].function"],
    );
    assert.match(problems[0]!.message, /a function of the environment: api, b, renamed$/);
  });

  const sourceCases: [string, string, RegExp][] = [
    ["api/**", "a glob starting with '/'", /found "api\/\*\*"/],
    ["/api /x", "a glob without spaces", /found "\/api \/x"/],
    ["/{a,b", "a glob with balanced, unnested {...} groups", /found "\/\{a,b"/],
  ];
  for (const [source, allowed, found] of sourceCases) {
    it(`a rewrite source ${JSON.stringify(source)}`, async () => {
      const problems = await problemsOf(target("hosting", "dev", (s) => (s.rewrites[0].source = source)));
      assertProblem(problems, "integrations.hosting.rewrites[0].source", found);
      assert.equal(problems[0]!.allowed, allowed);
    });
  }

  it("redirects: bad source, empty and relative destinations, a type other than 301/302, duplicates", async () => {
    const problems = await problemsOf(
      target("hosting", "dev", (s) => {
        s.redirects = [
          { source: "old", destination: "/new", type: 301 },
          { source: "/a", destination: " ", type: 302 },
          { source: "/b", destination: "new-page", type: 301 },
          { source: "/c", destination: "https://example.com/c", type: 307 },
          { source: "/a", destination: "/again", type: 301 },
        ];
      }),
    );
    assertProblem(
      problems,
      "integrations.hosting.redirects[0].source",
      /found "old"; allowed: a glob starting with '\/'/,
    );
    assertProblem(
      problems,
      "integrations.hosting.redirects[1].destination",
      "integrations.hosting.redirects[1].destination: found \" \"; allowed: a path starting with '/' or an http(s):// URL",
    );
    assertProblem(problems, "integrations.hosting.redirects[2].destination", /found "new-page"/);
    assertProblem(
      problems,
      "integrations.hosting.redirects[3].type",
      "integrations.hosting.redirects[3].type: found 307; allowed: 301 or 302",
    );
    assertProblem(
      problems,
      "integrations.hosting.redirects[4].source",
      /found "\/a", already matched by redirects\[1\] \(this one can never apply\)/,
    );
    assert.equal(problems.length, 5);
  });

  it("a rewrite that a redirect of the same source shadows, and a duplicate rewrite", async () => {
    const problems = await problemsOf(
      target("hosting", "dev", (s) => {
        s.redirects = [{ source: "/api/**", destination: "/v2/api", type: 301 }];
        s.rewrites.push({ source: "/api/**", function: "api" });
      }),
    );
    assert.deepEqual(
      problems.map((problem) => problem.path),
      [
        "integrations.hosting.rewrites[0].source",
        "integrations.hosting.rewrites[1].source",
        "integrations.hosting.rewrites[1].source",
      ],
    );
    assert.match(problems[0]!.message, /which redirects\[0\] redirects first/);
    assert.match(problems[1]!.message, /already matched by rewrites\[0\]/);
  });
});

describe("hosting: verify compares the recorded release with the site", () => {
  async function staged() {
    const t = target("hosting", "dev");
    const desired = await hostingDriver.desired(t, ioAt(temp));
    return { t, recorded: release("hosting", desired.state, desired.artifact ?? null, 4) };
  }

  it("healthy while every file matches its hash", async () => {
    const { t, recorded } = await staged();
    const health = await hostingDriver.verify(t, ioAt(temp), recorded);
    assert.equal(health.status, "healthy");
    assert.match(
      health.details,
      /^staged release 4 of site acme-app matches environments\/hosting \(2 files\)/,
    );
  });

  it("degraded, naming the file, when a file changed, vanished or appeared", async () => {
    const { t, recorded } = await staged();
    write("environments/hosting/index.html", "<h1>changed</h1>");
    unlinkSync(path.join(temp, "environments/hosting/404.html"));
    write("environments/hosting/new.css", "body{}");
    const health = await hostingDriver.verify(t, ioAt(temp), recorded);
    assert.equal(health.status, "degraded");
    assert.equal(
      health.details,
      "staged release 4 of site acme-app no longer matches the site: environments/hosting/404.html is missing; environments/hosting/index.html changed; environments/hosting/new.css is new",
    );
  });

  it("degraded when nothing was staged or the release is not a hosting manifest", async () => {
    const t = target("hosting", "dev");
    assert.equal((await hostingDriver.verify(t, repoIo, undefined)).status, "degraded");
    const health = await hostingDriver.verify(t, repoIo, release("hosting", { other: 1 }));
    assert.equal(health.status, "degraded");
    assert.match(health.details, /holds no hosting manifest/);
  });
});

const GOOD_STORAGE_RULES = `rules_version = '2';
service firebase.storage {
  match /b/{bucket}/o {
    match /public/{allPaths=**} {
      allow read: if true;
    }
  }
}
`;

describe("storage: bad inputs", () => {
  const withRules = async (text: string) => {
    write("environments/storage.rules", text);
    return problemsOf(target("storage"), ioAt(temp));
  };

  it("a rules file that does not exist", async () => {
    const problems = await problemsOf(
      target("storage", "dev", (s) => (s.rules_file = "environments/missing.rules")),
    );
    assertProblem(
      problems,
      "integrations.storage.rules_file",
      'integrations.storage.rules_file: found "environments/missing.rules", which does not exist; allowed: a storage rules file of the repository',
    );
  });

  it("rules for another service, at the line and column of the declaration", async () => {
    const problems = await withRules(
      GOOD_STORAGE_RULES.replace("service firebase.storage", "service cloud.firestore"),
    );
    assertProblem(
      problems,
      "environments/storage.rules:2:1",
      "environments/storage.rules:2:1: found service cloud.firestore; allowed: service firebase.storage",
    );
  });

  it("no service declaration at all", async () => {
    const problems = await withRules("rules_version = '2';\n");
    assertProblem(
      problems,
      "environments/storage.rules:1:1",
      /found no service declaration; allowed: service firebase.storage/,
    );
  });

  it("no rules_version, or rules_version '1'", async () => {
    const missing = await withRules(GOOD_STORAGE_RULES.replace("rules_version = '2';\n", "// version 2\n"));
    assertProblem(
      missing,
      "environments/storage.rules:1:1",
      "environments/storage.rules:1:1: found no rules_version declaration; allowed: rules_version = '2'; first",
    );
    const one = await withRules(`// header\n  ${GOOD_STORAGE_RULES.replace("'2'", "'1'")}`);
    assertProblem(
      one,
      "environments/storage.rules:2:3",
      /found rules_version = '1'; allowed: rules_version = '2'/,
    );
  });

  it("an unclosed brace, at its line and column", async () => {
    const problems = await withRules(
      GOOD_STORAGE_RULES.replace("allow read: if true;\n    }", "allow read: if true;\n"),
    );
    // Braces pair innermost first, so the brace left open is the outermost one, the service's.
    assertProblem(
      problems,
      "environments/storage.rules:2:26",
      "environments/storage.rules:2:26: found a '{' that is never closed; allowed: balanced braces",
    );
    assert.equal(problems.length, 1);
  });

  it("a closing brace too many, at its line and column", async () => {
    const problems = await withRules(`${GOOD_STORAGE_RULES}  }\n`);
    assertProblem(problems, "environments/storage.rules:9:3", /found a '}' with no '{' before it/);
  });

  it("braces inside comments and strings do not count", async () => {
    const text = GOOD_STORAGE_RULES.replace(
      "allow read: if true;",
      "// a { in a comment\n      /* and } here */\n      allow read: if resource.name != '{';",
    );
    assert.deepEqual(await withRules(text), []);
  });

  it("an unclosed block comment", async () => {
    const problems = await withRules(`${GOOD_STORAGE_RULES}/* trailing`);
    assertProblem(problems, "environments/storage.rules:9:1", /found a \/\* comment that is never closed/);
  });

  it("rules without a match /b/{bucket}/o block", async () => {
    const problems = await withRules(GOOD_STORAGE_RULES.replace("match /b/{bucket}/o", "match /files"));
    assertProblem(problems, "environments/storage.rules:1:1", /found no match \/b\/\{bucket\}\/o block/);
  });

  it("CORS: bad origins, unknown and repeated methods, max age out of range", async () => {
    const problems = await problemsOf(
      target("storage", "dev", (s) => {
        s.cors = [
          {
            origin: [
              "*",
              "https://app.example.com",
              "http://localhost:5000",
              "ftp://files.example.com",
              "https://app.example.com/path",
            ],
            method: ["GET", "PATCH", "GET"],
            max_age_seconds: 90000,
          },
          { origin: [], method: [], max_age_seconds: 10 },
        ];
      }),
    );
    assertProblem(
      problems,
      "integrations.storage.cors[0].origin[3]",
      /found "ftp:\/\/files.example.com"; allowed: "\*" or an http\(s\) origin/,
    );
    assertProblem(
      problems,
      "integrations.storage.cors[0].origin[4]",
      /found "https:\/\/app.example.com\/path"/,
    );
    assertProblem(
      problems,
      "integrations.storage.cors[0].method[1]",
      /found "PATCH"; allowed: one of GET, HEAD/,
    );
    assertProblem(
      problems,
      "integrations.storage.cors[0].method[2]",
      'integrations.storage.cors[0].method[2]: found "GET" listed twice; allowed: each method once',
    );
    assertProblem(
      problems,
      "integrations.storage.cors[0].max_age_seconds",
      "integrations.storage.cors[0].max_age_seconds: found 90000; allowed: an integer from 0 to 86400",
    );
    assertProblem(problems, "integrations.storage.cors[1].origin", /found no origins/);
    assertProblem(problems, "integrations.storage.cors[1].method", /found no methods/);
    assert.equal(problems.length, 7);
  });

  it("lifecycle days and location out of range", async () => {
    const problems = await problemsOf(
      target("storage", "dev", (s) => {
        s.lifecycle_delete_after_days = 0;
        s.location = "Mars";
      }),
    );
    assertProblem(
      problems,
      "integrations.storage.lifecycle_delete_after_days",
      "integrations.storage.lifecycle_delete_after_days: found 0; allowed: null (keep objects) or an integer from 1 to 3650",
    );
    assertProblem(problems, "integrations.storage.location", /found "Mars"/);
  });

  it("verify: healthy while the rules match the staged digest, degraded once they change", async () => {
    const t = target("storage");
    const desired = await storageDriver.desired(t, ioAt(temp));
    const recorded = release("storage", desired.state, desired.artifact ?? null, 2);
    const healthy = await storageDriver.verify(t, ioAt(temp), recorded);
    assert.equal(healthy.status, "healthy");
    assert.match(healthy.details, /^staged release 2 of bucket demo-acme-dev.firebasestorage.app matches/);
    write("environments/storage.rules", GOOD_STORAGE_RULES);
    const changed = await storageDriver.verify(t, ioAt(temp), recorded);
    assert.equal(changed.status, "degraded");
    assert.match(changed.details, /environments\/storage.rules changed since it was staged/);
  });
});

describe("security: the open-rules policy", () => {
  const OPEN_FIRESTORE = `rules_version = '2';
service cloud.firestore {
  match /databases/{database}/documents {
    match /a/{id} { allow read, write: if true; }
    match /b/{id} {
      allow write:if true
    }
    match /c/{id} {
      allow  create :  if   true ;
      allow update: if request.auth != null || true;
      allow delete;
      allow read: if true;
      // allow write: if true;
      allow write: if request.auth != null;
    }
  }
}
`;

  it("production refuses every open write, naming file, line and column", async () => {
    write("environments/firestore.rules", OPEN_FIRESTORE);
    const problems = await problemsOf(target("security", "prod"), ioAt(temp));
    assert.deepEqual(
      problems.map((problem) => problem.path),
      [
        "environments/firestore.rules:4:21",
        "environments/firestore.rules:6:7",
        "environments/firestore.rules:9:7",
        "environments/firestore.rules:10:7",
        "environments/firestore.rules:11:7",
      ],
    );
    assert.equal(
      problems[0]!.message,
      'environments/firestore.rules:4:21: found "allow read, write: if true;", which lets anyone read, write; allowed: a condition on writes (forbid_open_rules is on, as always in production)',
    );
    assert.match(problems[4]!.message, /found "allow delete;", which lets anyone delete/);
  });

  it("production refuses open rules even if forbid_open_rules were off", async () => {
    write(
      "environments/storage.rules",
      GOOD_STORAGE_RULES.replace("allow read: if true;", "allow read, write: if true;"),
    );
    const t = target("security", "prod", (s) => (s.forbid_open_rules = false));
    const desired = await securityDriver.desired(t, ioAt(temp));
    assertProblem(desired.problems, "environments/storage.rules:5:7", /lets anyone read, write/);
    assert.equal(desired.state.forbid_open_rules, true);
  });

  it("a development environment that allows open rules lists them without refusing", async () => {
    write("environments/firestore.rules", OPEN_FIRESTORE);
    const t = target("security", "dev", (s) => (s.forbid_open_rules = false));
    const desired = await securityDriver.desired(t, ioAt(temp));
    assert.deepEqual(desired.problems, []);
    assert.equal(desired.state.rules.firestore?.open_writes.length, 5);
    assert.equal(desired.state.rules.firestore?.open_writes[0]?.at, "environments/firestore.rules:4:21");
  });

  it("the rules files come from the environment's firestore and storage settings", async () => {
    write(
      "environments/custom/fs.rules",
      "rules_version = '2';\nservice cloud.firestore {\n  allow write: if true;\n}\n",
    );
    const t = target("security", "staging", (_s, env) => {
      const firestore = env.integrations.find((integration) => integration.kind === "firestore")!;
      (firestore.settings as any).rules_file = "environments/custom/fs.rules";
    });
    const problems = await problemsOf(t, ioAt(temp));
    assertProblem(problems, "environments/custom/fs.rules:3:3", /allow write: if true;/);
  });

  it("a declared product whose rules file is missing", async () => {
    const t = target("security", "dev", (_s, env) => {
      const storage = env.integrations.find((integration) => integration.kind === "storage")!;
      (storage.settings as any).rules_file = "environments/none.rules";
    });
    assertProblem(
      await problemsOf(t),
      "integrations.storage.rules_file",
      'integrations.storage.rules_file: found "environments/none.rules", which does not exist; allowed: the storage rules file the security policy checks',
    );
  });

  const withUploads = (file: string) => withInstance("storage", "storage:uploads", { rules_file: file });
  const OPEN_UPLOADS = GOOD_STORAGE_RULES.replace("allow read: if true;", "allow read, write: if true;");

  it("every Storage instance's rules are checked: an open second bucket is refused in production", async () => {
    write("environments/uploads.rules", OPEN_UPLOADS);
    const t = target("security", "prod", withUploads("environments/uploads.rules"));
    const desired = await securityDriver.desired(t, ioAt(temp));
    assert.deepEqual(
      desired.problems.map((problem) => problem.path),
      ["environments/uploads.rules:5:7"],
    );
    assert.match(desired.problems[0]!.message, /lets anyone read, write/);
    assert.deepEqual(Object.keys(desired.state.rules).sort(), ["firestore", "storage", "storage:uploads"]);
    assert.equal(desired.state.rules["storage:uploads"]?.file, "environments/uploads.rules");
    assert.deepEqual(desired.state.rules.storage?.open_writes, []);
  });

  it("two instances naming one rules file (Firestore databases in an emulated project): its open writes are reported once", async () => {
    write("environments/firestore.rules", OPEN_FIRESTORE);
    const t = target(
      "security",
      "prod",
      withInstance("firestore", "firestore:analytics-db", { rules_file: "environments/firestore.rules" }),
    );
    const problems = await problemsOf(t, ioAt(temp));
    assert.equal(problems.length, 5, JSON.stringify(problems, null, 2));
  });

  it("an instance whose rules file is missing is named by its own setting path", async () => {
    const t = target("security", "dev", withUploads("environments/none.rules"));
    assertProblem(
      await problemsOf(t),
      'integrations["storage:uploads"].rules_file',
      'integrations["storage:uploads"].rules_file: found "environments/none.rules", which does not exist; allowed: the storage rules file the security policy checks',
    );
  });

  it("verify: degraded once the second bucket's rules open up", async () => {
    write("environments/uploads.rules", GOOD_STORAGE_RULES);
    const t = target("security", "prod", withUploads("environments/uploads.rules"));
    const desired = await securityDriver.desired(t, ioAt(temp));
    assert.deepEqual(desired.problems, []);
    const recorded = release("security", desired.state, desired.artifact ?? null, 4);
    assert.equal((await securityDriver.verify(t, ioAt(temp), recorded)).status, "healthy");
    write("environments/uploads.rules", OPEN_UPLOADS);
    const degraded = await securityDriver.verify(t, ioAt(temp), recorded);
    assert.equal(degraded.status, "degraded");
    assert.match(degraded.details, /open write at environments\/uploads.rules:5:7/);
    assert.match(degraded.details, /environments\/uploads.rules changed since release 4/);
    assert.doesNotMatch(degraded.details, /environments\/storage.rules/);
  });

  it("IAM bindings with a bad role or member (allUsers is never accepted)", async () => {
    const problems = await problemsOf(
      target("security", "dev", (s) => {
        s.iam_bindings = [
          { role: "owner", members: ["user:a@example.com"] },
          { role: "roles/viewer", members: ["allUsers"] },
          { role: "roles/editor", members: [] },
        ];
      }),
    );
    assertProblem(
      problems,
      "integrations.security.iam_bindings[0].role",
      /found "owner"; allowed: an IAM role/,
    );
    assertProblem(
      problems,
      "integrations.security.iam_bindings[1].members[0]",
      /found "allUsers"; allowed: user:, serviceAccount:/,
    );
    assertProblem(problems, "integrations.security.iam_bindings[2].members", /found no members/);
  });

  it("verify: healthy on the repo's rules, degraded once an open write appears", async () => {
    const t = target("security", "prod");
    const desired = await securityDriver.desired(t, ioAt(temp));
    const recorded = release("security", desired.state, desired.artifact ?? null, 3);
    const healthy = await securityDriver.verify(t, ioAt(temp), recorded);
    assert.equal(healthy.status, "healthy");
    assert.match(healthy.details, /^staged security plan 3: rules pass the policy/);
    write("environments/firestore.rules", OPEN_FIRESTORE);
    const degraded = await securityDriver.verify(t, ioAt(temp), recorded);
    assert.equal(degraded.status, "degraded");
    assert.match(degraded.details, /open write at environments\/firestore.rules:4:21/);
    assert.match(degraded.details, /environments\/firestore.rules changed since release 3/);
  });

  it("findOpenWrites ignores reads, conditions and comments", () => {
    const found = findOpenWrites(
      "allow read: if true;\nallow get, list;\nallow write: if a && true;\n/* allow write: if true; */\nallow write : if (true);\n",
      "x.rules",
    );
    assert.deepEqual(
      found.map((rule) => [rule.line, rule.column, rule.statement]),
      [[5, 1, "allow write : if (true);"]],
    );
  });
});

describe("analytics: bad inputs and the location policy", () => {
  const cases: [string, string, string | undefined][] = [
    ["us-central1", "EU", undefined],
    ["europe-west1", "US", undefined],
    ["us-central1", "us-east1", undefined],
    ["us-central1", "northamerica-northeast1", undefined],
    ["europe-west1", "europe-west3", undefined],
    [
      "us-central1",
      "europe-west1",
      'integrations.analytics.location: found "europe-west1" for an environment in us-central1; allowed: a location in the environment\'s geography (north america, region us-central1), or the multi-region US or EU',
    ],
    ["europe-west1", "asia-east1", undefined],
  ];
  cases[6]![2] =
    'integrations.analytics.location: found "asia-east1" for an environment in europe-west1; allowed: a location in the environment\'s geography (europe, region europe-west1), or the multi-region US or EU';
  for (const [region, location, message] of cases) {
    it(`dataset in ${location} for an environment in ${region}: ${message ? "a problem" : "fine"}`, async () => {
      const problems = await problemsOf(
        target("analytics", "dev", (s, env) => {
          s.location = location;
          env.region = region as ResolvedEnvironment["region"];
        }),
      );
      if (message) assertProblem(problems, "integrations.analytics.location", message);
      else assert.deepEqual(problems, []);
    });
  }

  it("retention outside 1..3650 days and a dataset id BigQuery refuses", async () => {
    for (const days of [0, 3651, 1.5]) {
      const problems = await problemsOf(target("analytics", "dev", (s) => (s.retention_days = days)));
      assertProblem(
        problems,
        "integrations.analytics.retention_days",
        `integrations.analytics.retention_days: found ${days}; allowed: an integer from 1 to 3650`,
      );
    }
    const problems = await problemsOf(target("analytics", "dev", (s) => (s.dataset = "app-events")));
    assertProblem(
      problems,
      "integrations.analytics.dataset",
      /found "app-events"; allowed: a BigQuery dataset id/,
    );
  });

  it("verify: healthy while the staged table matches the event schema, degraded when it no longer does", async () => {
    const t = target("analytics");
    const desired = await analyticsDriver.desired(t, repoIo);
    const healthy = await analyticsDriver.verify(t, repoIo, release("analytics", desired.state));
    assert.equal(healthy.status, "healthy");
    assert.match(
      healthy.details,
      /^staged table app_events.orchestration_events \(release 1\) matches the event schema/,
    );
    const old = {
      ...desired.state,
      fields: [
        ...eventTableFields().filter((field) => field.name !== "detail"),
        { name: "legacy", type: "STRING", mode: "NULLABLE" },
      ],
    };
    const degraded = await analyticsDriver.verify(t, repoIo, release("analytics", old));
    assert.equal(degraded.status, "degraded");
    assert.match(
      degraded.details,
      /missing detail:STRING:NULLABLE; no longer emitted legacy:STRING:NULLABLE/,
    );
  });
});

describe("cicd: bad inputs and the workflow check", () => {
  it("a branch git refuses, a provider other than github-actions, promotion to itself", async () => {
    for (const branch of ["feature..x", "-x", "release/", "a.lock", "x/.hidden"]) {
      const problems = await problemsOf(target("cicd", "dev", (s) => (s.branch = branch)));
      assertProblem(
        problems,
        "integrations.cicd.branch",
        new RegExp(
          `found ${JSON.stringify(branch).replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}; allowed: a git branch name`,
        ),
      );
    }
    const provider = await problemsOf(target("cicd", "dev", (s) => (s.provider = "gitlab")));
    assertProblem(
      provider,
      "integrations.cicd.provider",
      'integrations.cicd.provider: found "gitlab"; allowed: "github-actions"',
    );
    const self = await problemsOf(target("cicd", "dev", (s) => (s.promote_to = "dev")));
    assertProblem(
      self,
      "integrations.cicd.promote_to",
      'integrations.cicd.promote_to: found "dev"; allowed: another environment of the config',
    );
  });

  it("the structural check finds broken YAML, dangling and cyclic needs, bad steps and a missing deploy", async () => {
    const { artifact } = await cicdDriver.desired(target("cicd", "dev"), repoIo);
    const expect = { branch: "develop", project_id: "demo-acme-dev", promote_to: "staging" };
    assert.deepEqual(checkWorkflowText(artifact!.content, expect), []);
    assert.match(checkWorkflowText("jobs: [unclosed", expect)[0]![1], /^not valid YAML/);
    const workflow = parse(artifact!.content);
    workflow.jobs.test.needs = ["promote"];
    workflow.jobs.deploy.steps[0] = { name: "both", run: "x", uses: "y" };
    workflow.jobs.promote.needs = ["deploy", "nope"];
    workflow.jobs.deploy.steps = workflow.jobs.deploy.steps.filter(
      (step: any) => !/firebase deploy/.test(step.run ?? ""),
    );
    workflow.on.push.branches = ["main"];
    const { stringify } = await import("yaml");
    const found = checkWorkflowText(stringify(workflow), expect);
    assert.deepEqual(found, [
      ["on.push.branches", 'does not list the branch "develop"'],
      ["jobs.deploy.steps[0]", "needs exactly one of run or uses"],
      ["jobs.promote.needs", 'names "nope", no such job'],
      ["jobs.test.needs", "is part of a cycle"],
      ["jobs.deploy.steps", "no step runs firebase deploy --project demo-acme-dev"],
    ]);
  });

  it("verify: healthy for the staged workflow, degraded for a tampered one", async () => {
    const t = target("cicd", "staging");
    const desired = await cicdDriver.desired(t, repoIo);
    const healthy = await cicdDriver.verify(
      t,
      repoIo,
      release("cicd", desired.state, desired.artifact ?? null),
    );
    assert.equal(healthy.status, "healthy");
    assert.match(
      healthy.details,
      /^staged workflow .github\/workflows\/deploy-staging.yml \(release 1\) parses and is well formed/,
    );
    const tampered = {
      name: desired.artifact!.name,
      content: desired.artifact!.content.replace("needs:\n      - deploy", "needs:\n      - ship"),
    };
    const degraded = await cicdDriver.verify(t, repoIo, release("cicd", desired.state, tampered));
    assert.equal(degraded.status, "degraded");
    assert.match(degraded.details, /jobs.promote.needs names "ship", no such job/);
    assert.match(degraded.details, /does not match its digest/);
  });
});

describe("rules lint helper", () => {
  it("a clean firestore rules file has no problems", () => {
    assert.deepEqual(
      lintRules(`rules_version = "2";\nservice cloud.firestore {\n}\n`, "f.rules", "cloud.firestore"),
      [],
    );
  });
});
