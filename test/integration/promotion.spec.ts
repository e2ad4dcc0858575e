/**
 * Artifact promotion on the emulators: dev -> staging -> prod carries dev's exact artifacts (site
 * file hashes, the ruleset loaded in each project's Firestore emulator, the function bundle, the
 * sign-in config) with each target's own overrides kept; a tampered pin fails verification and the
 * promotion rolls back as one unit; an unverified source release is refused, naming it.
 * Expected hashes are sha256 sums of the repository's files computed here.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createReleaseStore } from "../../functions/src/store/releases.js";
import { configWith } from "../support/config-builder.js";
import { adminDb, api, clearFirestore, requireEmulators } from "../support/emulators.js";
import { settled } from "../support/engine.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const scratch = path.join(".stack", `promotion-${process.pid}`);
const rulesOf = (env: string) => path.join(scratch, `${env}.firestore.rules`);
const sha = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
const KINDS = ["auth", "firestore", "functions", "hosting"];
const PROJECTS: Record<string, string> = {
  dev: "demo-acme-dev",
  staging: "demo-acme-staging",
  prod: "demo-acme-prod",
};

/** The rules text a project's Firestore emulator has loaded, read straight from the emulator. */
async function loadedRules(env: string): Promise<string> {
  const response = await fetch(
    `http://${process.env.FIRESTORE_EMULATOR_HOST}/emulator/v1/projects/${PROJECTS[env]}:securityRules`,
  );
  const body = (await response.json()) as { rules?: { files?: { content?: string }[] } };
  return body.rules?.files?.[0]?.content ?? "";
}

async function promote(from: string, to: string) {
  const response = await api("POST", "/promote", { from, to });
  assert.equal(response.status, 202, JSON.stringify(response.body));
  const { deployment, tasks } = await settled(response.body.deployment_id, 180_000);
  return { plan: response.body.promotion_plan, deployment, tasks };
}

describe("artifact promotion on the emulators: dev -> staging -> prod with hashes compared", function () {
  this.timeout(300_000);
  // dev's rules differ from staging's and prod's own files: what lands there must be dev's.
  const devRules = `${readFileSync(path.join(repoRoot, "environments/firestore.rules"), "utf8")}\n// dev's build 42\n`;

  before(async function () {
    requireEmulators(this);
    await clearFirestore();
    mkdirSync(path.join(repoRoot, scratch), { recursive: true });
    for (const env of ["staging", "prod"])
      copyFileSync(path.join(repoRoot, "environments/firestore.rules"), path.join(repoRoot, rulesOf(env)));
    writeFileSync(path.join(repoRoot, rulesOf("dev")), devRules);
    const config = configWith((c) => {
      for (const env of c.environments) {
        env.integrations = KINDS;
        env.overrides = {
          ...env.overrides,
          firestore: { ...env.overrides?.firestore, rules_file: rulesOf(env.name) },
        };
        for (const kind of Object.keys(env.overrides)) if (!KINDS.includes(kind)) delete env.overrides[kind];
      }
    });
    const loaded = await api("POST", "/config", config);
    assert.equal(loaded.status, 200, JSON.stringify(loaded.body));
    const provisioned = await api("POST", "/environments/dev/provision");
    assert.equal(provisioned.status, 202, JSON.stringify(provisioned.body));
    const { deployment } = await settled(provisioned.body.deployment_id, 180_000);
    assert.equal(deployment.status, "succeeded", deployment.error_message ?? "");
  });
  after(() => rmSync(path.join(repoRoot, scratch), { recursive: true, force: true }));

  let devHashes: Record<string, string>;

  it("plans dev -> staging: dev's releases with their hashes, staging's overrides, what would change", async () => {
    const response = await api("POST", "/promote/plan", { from: "dev", to: "staging" });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    const plan = response.body.promotion_plan;
    assert.equal(plan.promotable, true, plan.refusals.join("; "));
    assert.deepEqual(plan.integrations.map((entry: any) => entry.integration).sort(), KINDS);
    const by = new Map<string, any>(plan.integrations.map((entry: any) => [entry.integration, entry]));
    const site = path.join(repoRoot, "environments/hosting");
    assert.deepEqual(
      by.get("hosting").source.files,
      Object.fromEntries(
        readdirSync(site)
          .sort()
          .map((name) => [name, sha(readFileSync(path.join(site, name)))]),
      ),
    );
    assert.equal(by.get("firestore").source.ruleset_sha256, sha(devRules));
    assert.match(by.get("functions").source.bundle_sha256, /^[0-9a-f]{64}$/);
    assert.equal(by.get("hosting").target.release, null, "staging was never deployed");
    assert.ok(by.get("firestore").changes.length > 0);
    devHashes = Object.fromEntries(
      plan.integrations.map((entry: any) => [entry.integration, entry.source.artifact_sha256]),
    );
    // dev's own overrides (MFA off, an anonymous provider) are dev's: staging keeps its own MFA.
    assert.ok(
      by.get("auth").target_overrides.some((o: any) => o.path === "config.mfa.state"),
      JSON.stringify(by.get("auth").target_overrides),
    );
  });

  it("promotes dev to staging: staging now holds dev's ruleset, not its own rules file", async () => {
    const { plan, deployment, tasks } = await promote("dev", "staging");
    assert.equal(deployment.status, "succeeded", deployment.error_message ?? "");
    assert.equal(deployment.rollback_policy, "all");
    assert.deepEqual(tasks.map((task) => task.integration).sort(), KINDS);
    assert.deepEqual(
      Object.fromEntries(
        plan.integrations.map((entry: any) => [entry.integration, entry.source.artifact_sha256]),
      ),
      devHashes,
    );
    assert.equal(sha(await loadedRules("staging")), sha(devRules));
    const releases = createReleaseStore(adminDb());
    for (const kind of KINDS) {
      const latest = await releases.latest("staging", kind);
      assert.equal(latest?.promoted_from?.environment, "dev", kind);
      assert.equal(latest?.promoted_from?.artifact_sha256, devHashes[kind], kind);
    }
  });

  it("promotes staging to prod: prod's hashes equal dev's, prod keeps its memory, instances and domains", async () => {
    const { plan, deployment } = await promote("staging", "prod");
    assert.equal(deployment.status, "succeeded", deployment.error_message ?? "");
    const functions = plan.integrations.find((entry: any) => entry.integration === "functions");
    assert.deepEqual(Object.fromEntries(functions.target_overrides.map((o: any) => [o.path, o.target])), {
      "staged_service.max_instances": 100,
      "staged_service.memory": "1GiB",
      "staged_service.min_instances": 2,
    });
    const auth = plan.integrations.find((entry: any) => entry.integration === "auth");
    assert.ok(auth.target_overrides.some((o: any) => o.path === "config.authorizedDomains"));
    assert.equal(sha(await loadedRules("prod")), sha(devRules));
    const releases = createReleaseStore(adminDb());
    for (const kind of KINDS) {
      const latest = await releases.latest("prod", kind);
      assert.equal(latest?.promoted_from?.artifact_sha256, devHashes[kind], kind);
    }
    const prodFunctions = (await releases.latest("prod", "functions"))?.state as any;
    assert.equal(prodFunctions.staged_service.memory, "1GiB");
    assert.equal(prodFunctions.staged_service.min_instances, 2);
  });

  it("rolls a promotion back as one unit when a pin fails verification", async () => {
    const releases = createReleaseStore(adminDb());
    const original = sha(readFileSync(path.join(repoRoot, "environments/firestore.rules")));
    // staging deploys its own rules file again, so that the firestore pin (dev's ruleset) is a change.
    const own = await api("POST", "/deploy", { environment: "staging", integrations: ["firestore"] });
    assert.equal((await settled(own.body.deployment_id, 120_000)).deployment.status, "succeeded");
    assert.equal(sha(await loadedRules("staging")), original);
    const pins = {
      from: "dev",
      releases: {
        firestore: {
          release: (await releases.latest("dev", "firestore"))!.number,
          artifact_sha256: devHashes.firestore,
        },
        // functions runs after firestore, so firestore has changed staging when this pin fails.
        functions: {
          release: (await releases.latest("dev", "functions"))!.number,
          artifact_sha256: "f".repeat(64),
        },
      },
    };
    await adminDb()
      .collection("deployments")
      .doc("tampered-promotion")
      .set({
        status: "requested",
        environment: "staging",
        integrations: ["firestore", "functions"],
        configuration: { promoted_from: "dev", promotion: pins },
        requested_by: "system:promotion.spec",
      });
    const { deployment, tasks } = await settled("tampered-promotion", 120_000);
    assert.equal(deployment.status, "rolled_back", deployment.error_message ?? "");
    const functions = tasks.find((task) => task.integration === "functions");
    assert.match(functions?.error_message ?? "", /not the ffffffffffff the plan pinned/);
    const firestore = tasks.find((task) => task.integration === "firestore");
    assert.equal(firestore?.status, "rolled_back");
    assert.equal(sha(await loadedRules("staging")), original, "staging's rules are back to its own");
  });

  it("refuses to promote a source release that was never verified, naming it", async () => {
    const releases = createReleaseStore(adminDb());
    const latest = await releases.latest("dev", "hosting");
    const planted = await releases.record({
      ...latest!,
      deployment_id: "never-finished",
      created_at: new Date(),
    });
    const refused = await api("POST", "/promote", { from: "dev", to: "staging" });
    assert.equal(refused.status, 409, JSON.stringify(refused.body));
    assert.match(
      refused.body.error.message,
      new RegExp(
        `promotion of dev to staging refused: release ${planted.number} of dev/hosting was recorded by deployment never-finished, which no longer exists: never verified`,
      ),
    );
    const plan = await api("POST", "/promote/plan", { from: "dev", to: "staging" });
    assert.equal(plan.body.promotion_plan.promotable, false);
  });
});
