import assert from "node:assert/strict";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { validateConfig } from "../../functions/src/domain/config.js";
import type { ResolvedEnvironment } from "../../functions/src/domain/config-schema.js";
import { NonRetriableError } from "../../functions/src/domain/errors.js";
import { analyticsDriver } from "../../functions/src/drivers/analytics.js";
import { cicdDriver } from "../../functions/src/drivers/cicd.js";
import { createFabricator } from "../../functions/src/drivers/fabricator.js";
import { hostingDriver } from "../../functions/src/drivers/hosting.js";
import { securityDriver } from "../../functions/src/drivers/security.js";
import { directorySourceReader } from "../../functions/src/drivers/sources.js";
import { storageDriver } from "../../functions/src/drivers/storage.js";
import type { DriverIO, DriverTarget } from "../../functions/src/drivers/types.js";
import { createReleaseStore } from "../../functions/src/store/releases.js";
import { exampleConfig } from "../support/config-builder.js";
import { adminDb, clearFirestore, requireEmulators } from "../support/emulators.js";
import { contentHash } from "../../functions/src/domain/digest.js";

const REPO = path.resolve(fileURLToPath(new URL("../..", import.meta.url)));
const KINDS = ["hosting", "storage", "security", "analytics", "cicd"] as const;
type StagedKind = (typeof KINDS)[number];

function environment(name: string): ResolvedEnvironment {
  const result = validateConfig(exampleConfig());
  assert.ok(result.ok, "the example config is valid");
  const env = result.config.environments.find((candidate) => candidate.name === name);
  assert.ok(env);
  return env;
}

function target<K extends StagedKind>(kind: K, envName = "dev"): DriverTarget<K> {
  const env = environment(envName);
  const integration = env.integrations.find((candidate) => candidate.kind === kind);
  assert.ok(integration);
  return { environment: env, integration: kind, kind, settings: integration.settings as any };
}

describe("staged drivers through the fabricator, releases in the Firestore emulator", function () {
  let temp: string;
  let clock = 0;
  const io = (): DriverIO => ({
    sources: directorySourceReader(temp),
    emulators: {},
    fetch,
    now: () => new Date(Date.UTC(2025, 2, 1, 12, 0, clock++)),
  });
  const store = () => createReleaseStore(adminDb());
  const fabricator = () =>
    createFabricator(
      {
        hosting: hostingDriver,
        storage: storageDriver,
        security: securityDriver,
        analytics: analyticsDriver,
        cicd: cicdDriver,
      },
      store(),
      io(),
    );
  const write = (relative: string, text: string) => writeFileSync(path.join(temp, relative), text);

  before(function () {
    requireEmulators(this);
  });
  beforeEach(async () => {
    await clearFirestore();
    temp = mkdtempSync(path.join(tmpdir(), "drivers-staged-it-"));
    cpSync(path.join(REPO, "environments"), path.join(temp, "environments"), { recursive: true });
  });
  afterEach(() => rmSync(temp, { recursive: true, force: true }));

  it("plans every staged kind against an empty environment: changes listed, staged, an artifact", async () => {
    for (const kind of KINDS) {
      const plan = await fabricator().plan(target(kind));
      assert.equal(plan.mode, "staged", kind);
      assert.deepEqual(plan.problems, [], kind);
      assert.ok(plan.changes.length > 0, `${kind} lists changes`);
      assert.ok(plan.changes.every((change) => change.from === undefined));
      assert.match(plan.summary, /change\(s\) \(nothing there yet\)$/);
      assert.ok(plan.artifact && plan.artifact.content.length > 0, `${kind} builds an artifact`);
    }
    const hosting = await fabricator().plan(target("hosting"));
    assert.ok(hosting.changes.some((change) => change.path === "files.index.html.sha256"));
    assert.deepEqual(await store().list("dev", "hosting"), [], "a plan records nothing");
  });

  it("applies twice: the first records a staged release with its artifact, the second changes nothing", async () => {
    for (const kind of KINDS) {
      const first = await fabricator().apply(target(kind), "dep-1");
      assert.equal(first.changed, true, kind);
      assert.match(
        first.summary,
        /^staged \(artifact built and validated, nothing live touched\): release 1, \d+ change\(s\)$/,
      );
      assert.equal(first.release?.mode, "staged");
      const second = await fabricator().apply(target(kind), "dep-2");
      assert.equal(second.changed, false, kind);
      assert.equal(second.summary, "staged: no changes", kind);
      assert.equal(
        second.release?.number,
        first.release?.number,
        `${kind}: the latest release stays current`,
      );
      const releases = await store().list("dev", kind);
      assert.equal(releases.length, 1, kind);
      const recorded = releases[0]!;
      assert.equal(recorded.deployment_id, "dep-1");
      assert.equal(recorded.digest, contentHash(recorded.state));
      assert.ok(recorded.artifact, "the artifact is kept with the release");
      const health = await fabricator().verify(target(kind));
      assert.equal(health.status, "healthy", `${kind}: ${health.details}`);
      assert.equal(health.mode, "staged");
    }
    const cicd = await store().latest("dev", "cicd");
    assert.equal(cicd?.artifact?.name, ".github/workflows/deploy-dev.yml");
  });

  it("a drifted site: the plan shows the changed file and verify names it", async () => {
    await fabricator().apply(target("hosting"), "dep-1");
    write("environments/hosting/index.html", "<h1>new landing page</h1>\n");
    const plan = await fabricator().plan(target("hosting"));
    assert.deepEqual(
      plan.changes.map((change) => change.path),
      ["files.index.html.bytes", "files.index.html.sha256", "total_bytes"],
    );
    const health = await fabricator().verify(target("hosting"));
    assert.equal(health.status, "degraded");
    assert.match(health.details, /environments\/hosting\/index.html changed/);
    const applied = await fabricator().apply(target("hosting"), "dep-2");
    assert.match(applied.summary, /^staged .*: release 2, 3 change\(s\)$/);
    assert.equal((await fabricator().verify(target("hosting"))).status, "healthy");
  });

  it("a failing apply (broken rules) throws NonRetriableError, records nothing, keeps the previous release latest", async () => {
    const first = await fabricator().apply(target("storage"), "dep-1");
    assert.equal(first.release?.number, 1);
    write(
      "environments/storage.rules",
      "rules_version = '2';\nservice firebase.storage {\n  match /b/{bucket}/o {\n",
    );
    await assert.rejects(fabricator().apply(target("storage"), "dep-2"), (error: unknown) => {
      assert.ok(error instanceof NonRetriableError);
      assert.match(
        error.message,
        /^staged: refused: environments\/storage.rules:2:26: found a '\{' that is never closed/,
      );
      return true;
    });
    const releases = await store().list("dev", "storage");
    assert.equal(releases.length, 1);
    assert.equal((await store().latest("dev", "storage"))?.deployment_id, "dep-1");

    write(
      "environments/firestore.rules",
      "rules_version = '2';\nservice cloud.firestore {\n  allow write: if true;\n}\n",
    );
    await assert.rejects(fabricator().apply(target("security", "prod"), "dep-3"), NonRetriableError);
    assert.deepEqual(await store().list("prod", "security"), []);
  });

  it("rolls back a release once: a second rollback of the same deployment changes nothing", async () => {
    const v1 = await fabricator().apply(target("hosting"), "dep-1");
    write("environments/hosting/index.html", "<h1>v2</h1>\n");
    await fabricator().apply(target("hosting"), "dep-2");
    await fabricator().rollback(target("hosting"), "dep-2");
    // Before the fix, this re-applied release 2 (the failed state) and recorded it as release 4.
    const again = await fabricator().rollback(target("hosting"), "dep-2");
    assert.equal(again.summary, "already rolled back: release 3 undid release 2");
    const releases = await store().list("dev", "hosting");
    assert.deepEqual(
      releases.map((release) => [release.number, release.action, release.undoes]),
      [
        [3, "rollback", 2],
        [2, "apply", null],
        [1, "apply", null],
      ],
    );
    assert.equal((await store().latest("dev", "hosting"))?.digest, v1.release?.digest);
  });

  it("rolls back: a new release is recorded with the previous release's state", async () => {
    const v1 = await fabricator().apply(target("hosting"), "dep-1");
    write("environments/hosting/index.html", "<h1>v2</h1>\n");
    const v2 = await fabricator().apply(target("hosting"), "dep-2");
    assert.equal(v2.release?.number, 2);
    const rolled = await fabricator().rollback(target("hosting"), "dep-2");
    assert.equal(
      rolled.summary,
      "staged: rolled back to the state of release 1 (recorded as release 3, undoing release 2)",
    );
    const latest = await store().latest("dev", "hosting");
    assert.equal(latest?.number, 3);
    assert.equal(latest?.action, "rollback");
    assert.equal(latest?.mode, "staged");
    assert.equal(latest?.digest, v1.release?.digest);
    assert.deepEqual(latest?.state, v1.release?.state);
    assert.deepEqual(latest?.artifact, v1.release?.artifact);
    // The site still holds v2, so the rolled-back release no longer matches it.
    const health = await fabricator().verify(target("hosting"));
    assert.equal(health.status, "degraded");
    assert.match(health.details, /^staged release 3 .*index.html changed/);
  });

  it("every plan, apply and verify says staged, and nothing ever claims to be deployed", async () => {
    const texts: string[] = [];
    for (const kind of KINDS) {
      for (const envName of ["dev", "prod"]) {
        const t = target(kind, envName);
        const before = await fabricator().verify(t);
        assert.equal(before.mode, "staged");
        assert.match(before.details, /^staged/);
        const plan = await fabricator().plan(t);
        assert.equal(plan.mode, "staged");
        const applied = await fabricator().apply(t, `dep-${kind}-${envName}`);
        assert.match(applied.summary, /^staged/);
        const again = await fabricator().apply(t, null);
        assert.match(again.summary, /^staged/);
        const after = await fabricator().verify(t);
        assert.equal(after.mode, "staged");
        assert.match(after.details, /^staged/);
        const rollback = await fabricator().rollback(t, null);
        texts.push(
          before.details,
          plan.summary,
          applied.summary,
          again.summary,
          after.details,
          rollback.summary,
        );
        texts.push(plan.artifact?.content ?? "");
      }
    }
    for (const text of texts) assert.doesNotMatch(text, /deployed/i);
  });
});
