/**
 * Artifact promotion without emulators: which part of a release a promotion carries and which the
 * target keeps (against states written here), and a promoted hosting release applied through the
 * integration driver, its file hashes compared with sha256 sums computed in this test.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { validateConfig } from "../../functions/src/domain/config.js";
import type { ResolvedEnvironment } from "../../functions/src/domain/config-schema.js";
import { NonRetriableError } from "../../functions/src/domain/errors.js";
import type { Task } from "../../functions/src/domain/engine-model.js";
import { createFabricator } from "../../functions/src/drivers/fabricator.js";
import { hostingDriver } from "../../functions/src/drivers/hosting.js";
import { createIntegrationDriver, targetFor } from "../../functions/src/drivers/integration-driver.js";
import {
  artifactDigest,
  artifactHashes,
  promotedState,
  targetOverrides,
} from "../../functions/src/drivers/promotion.js";
import type { DriverIO } from "../../functions/src/drivers/types.js";
import { configWith } from "../support/config-builder.js";
import { memoryReleases, memorySources } from "../support/live.js";

const sha = (text: string) => createHash("sha256").update(text).digest("hex");

describe("promotion: the artifact a release carries and what the target keeps", () => {
  const source = {
    staged_service: {
      runtime: "nodejs22",
      memory: "256MiB",
      min_instances: 0,
      max_instances: 5,
      concurrency: 80,
      timeout_seconds: 60,
      bundle_digest: "a".repeat(64),
      bundle_files: 3,
    },
    topics: { orders: { subscription: "orders-sub" } },
  };
  const target = {
    staged_service: {
      runtime: "nodejs22",
      memory: "1GiB",
      min_instances: 2,
      max_instances: 100,
      concurrency: 80,
      timeout_seconds: 60,
      bundle_digest: "b".repeat(64),
      bundle_files: 4,
    },
    topics: { emails: { subscription: "emails-sub" } },
  };

  it("functions: the bundle and topics come from the source, instances and memory stay the target's", () => {
    assert.deepEqual(promotedState("functions", source, target), {
      staged_service: { ...target.staged_service, bundle_digest: "a".repeat(64), bundle_files: 3 },
      topics: { orders: { subscription: "orders-sub" } },
    });
    assert.deepEqual(targetOverrides("functions", source, target), [
      { path: "staged_service.max_instances", source: 5, target: 100 },
      { path: "staged_service.memory", source: "256MiB", target: "1GiB" },
      { path: "staged_service.min_instances", source: 0, target: 2 },
    ]);
    assert.deepEqual(artifactHashes("functions", source), {
      artifact_sha256: artifactDigest("functions", source),
      bundle_sha256: "a".repeat(64),
      bundle_files: 3,
      runtime: "nodejs22",
      topics: ["orders"],
    });
  });

  it("the artifact digest ignores what the target keeps and changes with the artifact", () => {
    const promoted = promotedState("functions", source, target);
    assert.equal(artifactDigest("functions", promoted), artifactDigest("functions", source));
    assert.notEqual(artifactDigest("functions", target), artifactDigest("functions", source));
    const reordered = { topics: source.topics, staged_service: { ...source.staged_service, memory: "2GiB" } };
    assert.equal(artifactDigest("functions", reordered), artifactDigest("functions", source));
  });

  it("firestore: the ruleset hash and index set come from the source, seed data stays the target's", () => {
    const rules = "rules_version = '2';\n";
    const index = { collectionGroup: "orders", queryScope: "COLLECTION", fields: [] };
    const from = { rules, indexes: [index], seed: { a: { x: { n: 1 } } } };
    const to = { rules: "other", indexes: [], seed: { b: { y: { n: 2 } } } };
    assert.deepEqual(promotedState("firestore", from, to), {
      rules,
      indexes: [index],
      seed: { b: { y: { n: 2 } } },
    });
    assert.deepEqual(artifactHashes("firestore", from).ruleset_sha256, sha(rules));
    assert.deepEqual(artifactHashes("firestore", from).indexes, [index]);
  });

  it("auth: sign-in and password policy come from the source, domains and MFA stay the target's", () => {
    const from = {
      config: {
        signIn: { anonymous: { enabled: true } },
        authorizedDomains: ["localhost"],
        mfa: { state: "DISABLED" },
        passwordPolicyConfig: { min: 10 },
      },
      role_accounts: [],
    };
    const to = {
      config: {
        signIn: { anonymous: { enabled: false } },
        authorizedDomains: ["acme.example.com"],
        mfa: { state: "MANDATORY" },
        passwordPolicyConfig: { min: 8 },
      },
      role_accounts: [{ email: "a@b.c", role: "admin" }],
    };
    assert.deepEqual(promotedState("auth", from, to), {
      config: {
        signIn: { anonymous: { enabled: true } },
        authorizedDomains: ["acme.example.com"],
        mfa: { state: "MANDATORY" },
        passwordPolicyConfig: { min: 10 },
      },
      role_accounts: [{ email: "a@b.c", role: "admin" }],
    });
    assert.deepEqual(
      targetOverrides("auth", from, to).map((override) => override.path),
      ["config.authorizedDomains", "config.mfa.state", "role_accounts"],
    );
  });
});

describe("promotion: a hosting release carried from dev to staging through the integration driver", () => {
  const v1 = { "site/index.html": "<h1>v1</h1>", "site/app.js": "console.log(1)" };
  const v2 = { "site/index.html": "<h1>v2</h1>", "site/app.js": "console.log(2)", "site/new.css": "a{}" };
  const environments = (() => {
    const result = validateConfig(
      configWith((config) => {
        config.base.integrations.hosting = { site: "acme-app", public_dir: "site", rewrites: [] };
        config.environments[1].overrides.hosting = { site: "acme-staging" };
      }),
    );
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    return new Map(result.config.environments.map((env) => [env.name, env]));
  })();
  const env = (name: string): ResolvedEnvironment => environments.get(name)!;
  const files: Record<string, string> = { ...v1 };
  const io: DriverIO = {
    sources: memorySources(files),
    emulators: {},
    fetch,
    now: () => new Date("2026-12-01T10:00:00.000Z"),
  };
  const releases = memoryReleases();
  const fabricator = createFabricator({ hosting: hostingDriver }, releases, io);
  const driver = createIntegrationDriver(fabricator, (name) => Promise.resolve(env(name)));
  const task = (environment: string, deployment: string) =>
    ({
      id: `${deployment}__hosting`,
      environment,
      integration: "hosting",
      deployment_id: deployment,
    }) as Task;
  const fence = (deployment: string) => ({ path: `orchestration_tasks/${deployment}__hosting`, attempt: 1 });

  it("applies dev's files to staging after the repository moved on, keeping staging's site", async () => {
    const devRelease = await fabricator.apply(targetFor(env("dev"), "hosting"), "deploy-dev");
    for (const name of Object.keys(v1)) delete files[name];
    Object.assign(files, v2);
    const pins = {
      from: "dev",
      releases: {
        hosting: {
          release: devRelease.release!.number,
          artifact_sha256: artifactDigest("hosting", devRelease.release!.state),
        },
      },
    };
    const outcome = await driver.apply({
      task: task("staging", "promote-1"),
      attempt: 1,
      configuration: { promotion: pins },
      fence: fence("promote-1"),
    });
    assert.match(outcome.summary, /verified: artifact [0-9a-f]{12} of dev release 1 matches release 1/);
    const staged = releases.all.find((release) => release.environment === "staging")!;
    const state = staged.state as { site: string; files: Record<string, { sha256: string }> };
    assert.equal(state.site, "acme-staging");
    assert.deepEqual(
      Object.fromEntries(Object.entries(state.files).map(([name, file]) => [name, file.sha256])),
      { "app.js": sha(v1["site/app.js"]), "index.html": sha(v1["site/index.html"]) },
    );
    assert.deepEqual(staged.promoted_from, {
      environment: "dev",
      release: 1,
      artifact_sha256: pins.releases.hosting.artifact_sha256,
    });
    // A normal deployment of staging now would ship the repository's files: v2, another artifact.
    const own = await fabricator.plan(targetFor(env("staging"), "hosting"));
    assert.ok(own.changes.some((change) => change.path === "files.new.css.sha256"));
  });

  it("refuses a pin whose release no longer holds the artifact the plan saw, naming both digests", async () => {
    const before = releases.all.length;
    await assert.rejects(
      driver.apply({
        task: task("staging", "promote-2"),
        attempt: 1,
        configuration: {
          promotion: { from: "dev", releases: { hosting: { release: 1, artifact_sha256: "0".repeat(64) } } },
        },
        fence: fence("promote-2"),
      }),
      (error: unknown) =>
        error instanceof NonRetriableError &&
        /release 1 of dev\/hosting holds artifact [0-9a-f]{12}, not the 000000000000 the plan pinned/.test(
          error.message,
        ),
    );
    await assert.rejects(
      driver.apply({
        task: task("staging", "promote-3"),
        attempt: 1,
        configuration: { promotion: { from: "dev", releases: { hosting: { release: "one" } } } },
        fence: fence("promote-3"),
      }),
      /configuration\.promotion\.releases\.hosting\.release: .*allowed: the pins POST \/promote writes/,
    );
    assert.equal(releases.all.length, before, "a refused pin records nothing");
  });
});
