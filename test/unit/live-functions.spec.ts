import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { NonRetriableError } from "../../functions/src/domain/errors.js";
import { createFabricator } from "../../functions/src/drivers/fabricator.js";
import { functionsDriver } from "../../functions/src/drivers/functions.js";
import { createLiveFunctionsSpec } from "../../functions/src/drivers/live/functions-live.js";
import { cloudBuildApi } from "../../functions/src/drivers/live/google.js";
import { byMode } from "../../functions/src/drivers/registry.js";
import type { DriverTarget } from "../../functions/src/drivers/types.js";
import { ContractServer } from "../../scripts/contract-server/server.js";
import {
  bundleUploadModel,
  cloudBuildModel,
  type CloudBuildModel,
  type StoredBuild,
} from "../../scripts/contract-server/models/cloudbuild.js";
import { contractAccess, liveEnvironment, liveIO, memoryReleases, memorySources } from "../support/live.js";

const PROJECT = "acme-prod";
const B = "cloudbuild.projects.builds";
const DIR = "environments/functions";
const sha = (text: string) => createHash("sha256").update(text).digest("hex");
/** The bundle digest as the functions driver documents it: sha256 over "path sha256\n" lines, in path order. */
const digestOf = (files: Record<string, string>) =>
  sha(
    Object.keys(files)
      .sort()
      .map((path) => `${path} ${sha(files[path] ?? "")}\n`)
      .join(""),
  );
/** The version the repository pins, read from package.json, not from the driver. */
const PINNED = (
  JSON.parse(readFileSync("package.json", "utf8")) as { devDependencies: Record<string, string> }
).devDependencies["firebase-tools"];

describe("live functions: firebase deploy run by Cloud Build v1 (contract servers)", () => {
  let cloudbuild: ContractServer;
  let storage: ContractServer;
  let model: CloudBuildModel;
  let access: Awaited<ReturnType<typeof contractAccess>>;
  let files: Record<string, string>;
  let releases: ReturnType<typeof memoryReleases>;
  let fabricator: ReturnType<typeof createFabricator>;
  const environment = liveEnvironment(["functions"]);
  const target: DriverTarget<"functions"> = {
    environment,
    integration: "functions",
    kind: "functions",
    settings: environment.integrations[0]!.settings as DriverTarget<"functions">["settings"],
  };
  const bundle = () =>
    digestOf(Object.fromEntries(Object.entries(files).map(([p, t]) => [p.slice(DIR.length + 1), t])));

  beforeEach(async () => {
    cloudbuild = ContractServer.fromRepository("cloudbuild-v1");
    storage = ContractServer.fromRepository("storage-v1");
    model = cloudBuildModel(cloudbuild);
    bundleUploadModel(storage, model);
    const [cb, st] = await Promise.all([cloudbuild.start(), storage.start()]);
    access = await contractAccess({ cloudbuild: cb.url, storage: st.url });
    files = {
      [`${DIR}/package.json`]: '{"name":"fns","main":"index.js","engines":{"node":"22"}}\n',
      [`${DIR}/index.js`]: "exports.hello = 1;\n",
    };
    releases = memoryReleases();
    fabricator = createFabricator(
      { functions: byMode(functionsDriver, createLiveFunctionsSpec({ polls: 5, intervalMs: 1000 })) },
      releases,
      liveIO(memorySources(files), access),
    );
  });
  afterEach(async () => {
    await cloudbuild.stop();
    await storage.stop();
  });

  const creates = () => cloudbuild.requests.filter((r) => r.methodId === `${B}.create`);
  const createdBodies = () => creates().map((r) => r.body as StoredBuild);

  it("plans read-only: one list of our successful builds, the service and source to deploy", async () => {
    const plan = await fabricator.plan(target);
    assert.equal(plan.mode, "live");
    assert.deepEqual(cloudbuild.calls(), [`${B}.list ${PROJECT}`]);
    assert.deepEqual(
      cloudbuild.requests[0]?.query.filter,
      'tags="orchestrator" AND tags="env-prod" AND tags="integration-functions" AND status="SUCCESS"',
    );
    assert.equal(storage.requests.length, 0);
    const digest = bundle();
    assert.deepEqual(
      plan.changes.find((c) => c.path === "service.bundle_digest"),
      { path: "service.bundle_digest", from: undefined, to: digest },
    );
    assert.deepEqual(
      plan.changes.find((c) => c.path === "source.object")?.to,
      `orchestration-functions/prod/functions/${digest}.tar.gz`,
    );
  });

  it("first apply uploads the bundle, creates one build and waits for it; the second changes nothing", async () => {
    const first = await fabricator.apply(target, "d1");
    assert.equal(first.changed, true);
    const digest = bundle();
    assert.deepEqual(model.uploads, [
      {
        bucket: `${PROJECT}.firebasestorage.app`,
        name: `orchestration-functions/prod/functions/${digest}.tar.gz`,
        files: ["firebase.json", "functions/index.js", "functions/package.json"],
      },
    ]);
    const [sent] = createdBodies();
    assert.deepEqual(sent?.source, {
      storageSource: {
        bucket: `${PROJECT}.firebasestorage.app`,
        object: `orchestration-functions/prod/functions/${digest}.tar.gz`,
      },
    });
    const deploy = sent?.steps?.at(-1);
    assert.equal(deploy?.name, "node:22");
    assert.deepEqual(deploy?.args, [
      "--yes",
      `firebase-tools@${PINNED}`,
      "deploy",
      "--only",
      "functions:functions",
      "--project",
      PROJECT,
      "--non-interactive",
      "--force",
    ]);
    assert.deepEqual(sent?.steps?.[0]?.args?.[0], "install", "no lockfile: npm install");
    assert.deepEqual(sent?.tags, [
      "orchestrator",
      "env-prod",
      "integration-functions",
      `bundle-${digest.slice(0, 12)}`,
    ]);
    const [build] = [...model.builds.values()];
    assert.equal(build?.status, "SUCCESS", "apply waited for the build to finish");
    assert.deepEqual(
      access.slept,
      [1000, 1000],
      "two polls (QUEUED -> WORKING -> SUCCESS) one interval apart",
    );
    assert.ok(
      cloudbuild.requests.every((r) => r.verdict === "accepted"),
      "every request within the contract",
    );

    const before = cloudbuild.calls().length;
    const second = await fabricator.apply(target, "d2");
    assert.equal(second.changed, false);
    assert.deepEqual(cloudbuild.calls().slice(before), [`${B}.list ${PROJECT}`], "no builds.create sent");
    assert.equal(model.uploads.length, 1);

    const health = await fabricator.verify(target);
    assert.equal(health.status, "healthy", health.details);
    assert.match(health.details, new RegExp(`build ${build?.id}`));
  });

  it("a changed memory setting alone deploys again, with the same bundle object", async () => {
    await fabricator.apply(target, "d1");
    const bigger = { ...target, settings: { ...target.settings, memory: "1GiB" as const } };
    const plan = await fabricator.plan(bigger);
    assert.deepEqual(plan.changes, [{ path: "service.memory", from: target.settings.memory, to: "1GiB" }]);
    await fabricator.apply(bigger, "d2");
    assert.equal(creates().length, 2);
    assert.ok(createdBodies()[1]?.steps?.at(-1)?.env?.includes("ORCHESTRATION_FUNCTIONS_MEMORY=1GiB"));
    assert.equal(createdBodies()[1]?.substitutions?._MEMORY, "1GiB");
  });

  it("rollback deploys the previous bundle's object again, uploading nothing", async () => {
    await fabricator.apply(target, "d1");
    const firstDigest = bundle();
    files[`${DIR}/index.js`] = "exports.hello = 2;\n";
    await fabricator.apply(target, "d2");
    assert.notEqual(bundle(), firstDigest);
    assert.equal(model.uploads.length, 2);
    const undone = await fabricator.rollback(target, "d2");
    assert.match(undone.summary, /^live: rolled back to the state of release 1/);
    assert.equal(model.uploads.length, 2, "the first bundle's object is reused");
    const third = createdBodies()[2];
    assert.equal(
      third?.source?.storageSource?.object,
      `orchestration-functions/prod/functions/${firstDigest}.tar.gz`,
    );
    assert.equal(third?.substitutions?._BUNDLE_DIGEST, firstDigest);
    const plan = await fabricator.plan({ ...target });
    // The sources still hold the second bundle: the plan says what a deploy of them would change.
    assert.deepEqual(plan.changes.find((c) => c.path === "service.bundle_digest")?.from, firstDigest);
  });

  it("backs off on 429 when creating the build (Retry-After), then succeeds", async () => {
    cloudbuild.inject(`${B}.create`, { kind: "rate-limited", retryAfterSeconds: 4 });
    await fabricator.apply(target, "d1");
    // 4 s plus 25% of the fixed 0.5 jitter, then the two polls.
    assert.deepEqual(access.slept, [4500, 1000, 1000]);
    assert.equal(creates().length, 2);
    assert.equal([...model.builds.values()].length, 1);
  });

  it("a 403 names the permission and its role, and is not retried", async () => {
    cloudbuild.inject(`${B}.create`, { kind: "permission-denied", permission: "cloudbuild.builds.create" });
    await assert.rejects(fabricator.apply(target, "d1"), (error: Error) => {
      assert.ok(error instanceof NonRetriableError);
      assert.match(
        error.message,
        /needs permission cloudbuild\.builds\.create, granted by roles\/cloudbuild\.builds\.editor/,
      );
      return true;
    });
    assert.equal(creates().length, 1);
  });

  it("a FAILURE build is an error naming the build and its log; verify says degraded", async () => {
    model.outcomes.push({ status: "FAILURE", detail: 'Build failed; step 1 "deploy" exited 1' });
    await assert.rejects(fabricator.apply(target, "d1"), (error: Error) => {
      const [build] = [...model.builds.values()];
      assert.ok(error instanceof NonRetriableError);
      assert.ok(error.message.includes(`build ${build?.id}`), error.message);
      assert.ok(error.message.includes(`https://console.cloud.google.com/cloud-build/builds/${build?.id}`));
      assert.match(error.message, /ended FAILURE: Build failed; step 1 "deploy" exited 1/);
      return true;
    });
    const health = await fabricator.verify(target);
    assert.equal(health.status, "degraded");
    assert.match(health.details, /FAILURE/);
  });

  it("a build outliving the budget is named; the next apply waits for it instead of starting another", async () => {
    const short = createFabricator(
      { functions: byMode(functionsDriver, createLiveFunctionsSpec({ polls: 1, intervalMs: 1000 })) },
      releases,
      liveIO(memorySources(files), access),
    );
    await assert.rejects(short.apply(target, "d1"), /still WORKING after 1 polls .*next apply waits for it/);
    await fabricator.apply(target, "d1");
    assert.equal(creates().length, 1, "one build in all");
    assert.equal([...model.builds.values()][0]?.status, "SUCCESS");
  });

  it("the model holds requests to the 2018 discovery document and Cloud Build's own rules", async () => {
    const api = await cloudBuildApi(access);
    const object = "orchestration-functions/x.tar.gz";
    model.objects.set(`b/${object}`, Buffer.alloc(0));
    const attempt = async (requestBody: Record<string, unknown>) => {
      try {
        await api.projects.builds.create({ projectId: PROJECT, requestBody });
        return 200;
      } catch (error) {
        return (error as { response?: { status?: number } }).response?.status;
      }
    };
    const step = { name: "node:22", args: ["true"] };
    const source = { storageSource: { bucket: "b", object } };
    // serviceAccount came after that revision: unknown, refused.
    assert.equal(
      await attempt({ steps: [step], source, serviceAccount: "sa@x.iam.gserviceaccount.com" }),
      400,
    );
    assert.equal(await attempt({ source }), 400, "steps are required");
    assert.equal(await attempt({ steps: [{ args: ["x"] }], source }), 400, "a step needs its image name");
    assert.equal(await attempt({ steps: [step], source, timeout: "20 minutes" }), 400, "a google-duration");
    assert.equal(await attempt({ steps: [step], source, tags: ["has space"] }), 400);
    assert.equal(
      await attempt({ steps: [step], source, substitutions: { _UNUSED: "x" } }),
      400,
      "MUST_MATCH",
    );
    assert.equal(
      await attempt({ steps: [step], source: { storageSource: { bucket: "b", object: "missing" } } }),
      400,
    );
    assert.equal(await attempt({ steps: [step], source }), 200);
    await assert.rejects(
      api.projects.builds.list({ projectId: PROJECT, filter: "tags:orchestrator" }),
      /Invalid filter/,
    );
    assert.equal(cloudbuild.requests.filter((r) => r.verdict === "refused").length, 4);
  });
});
