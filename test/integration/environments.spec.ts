import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { configWith } from "../support/config-builder.js";
import { adminDb, api, clearFirestore, requireEmulators } from "../support/emulators.js";
import { ALL_TEN, settled } from "../support/engine.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
/** Rules the tests break and mend, inside the repository (the drivers read sources from there) but ignored by git. */
const scratch = path.join(".stack", `e2e-${process.pid}`);
const scratchRules = (env: string) => path.join(scratch, `${env}.firestore.rules`);
const OPEN_WRITE =
  "\n// broken on purpose\nservice cloud.firestore { match /databases/{d}/documents { match /x/{y} { allow write: if true; } } }\n";

function configWithScratchRules() {
  return configWith((c) => {
    for (const env of c.environments) {
      env.overrides = {
        ...env.overrides,
        firestore: { ...(env.overrides?.firestore ?? {}), rules_file: scratchRules(env.name) },
      };
    }
  });
}

async function provision(name: string): Promise<string> {
  const response = await api("POST", `/environments/${name}/provision`);
  assert.equal(response.status, 202, JSON.stringify(response.body));
  return response.body.deployment_id as string;
}

/** A recorded health check (what the scheduler runs): GET /status only reads. */
async function status(environment?: string): Promise<any> {
  const response = await api("POST", `/jobs/health${environment ? `?environment=${environment}` : ""}`);
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return response.body;
}

describe("environments on the emulators: provisioning, health and alerts, promotion", function () {
  this.timeout(240_000);

  before(async function () {
    requireEmulators(this);
    await clearFirestore();
    mkdirSync(path.join(repoRoot, scratch), { recursive: true });
    for (const env of ["dev", "staging", "prod"])
      copyFileSync(
        path.join(repoRoot, "environments/firestore.rules"),
        path.join(repoRoot, scratchRules(env)),
      );
    const loaded = await api("POST", "/config", configWithScratchRules());
    assert.equal(loaded.status, 200, JSON.stringify(loaded.body));
  });
  after(() => rmSync(path.join(repoRoot, scratch), { recursive: true, force: true }));

  it("provisions dev, staging and prod with all ten integrations, each with its mode and health", async () => {
    const ids = await Promise.all(["dev", "staging", "prod"].map(provision));
    for (const id of ids) {
      const { deployment, tasks } = await settled(id, 180_000);
      assert.equal(deployment.status, "succeeded", `${id}: ${deployment.error_message ?? ""}`);
      assert.equal(tasks.length, 10);
      for (const task of tasks) assert.equal(task.driver, "integration");
    }
    const report = await status();
    assert.equal(report.integration_status.length, 30);
    for (const env of report.environment_status)
      assert.equal(env.status, "ready", `${env.name} is ${env.status}`);
    const modes = new Map<string, string>(report.integration_status.map((i: any) => [i.name, i.mode]));
    for (const kind of ["auth", "firestore", "functions", "backup", "monitoring"])
      assert.equal(modes.get(kind), "emulated", kind);
    for (const kind of ["hosting", "storage", "security", "analytics", "cicd"])
      assert.equal(modes.get(kind), "staged", kind);
    const unhealthy = report.integration_status.filter((i: any) => i.health !== "healthy");
    assert.deepEqual(unhealthy, [], "every integration is healthy after provisioning");
    const environments = await api("GET", "/environments");
    for (const env of environments.body.environments) {
      for (const integration of env.integrations) {
        assert.ok(
          ["deployed", "staged"].includes(integration.status),
          `${env.name}/${integration.name} is ${integration.status}`,
        );
        assert.equal(
          integration.status === "staged",
          modes.get(integration.name) === "staged",
          "staged integrations never say deployed",
        );
        assert.ok(
          integration.release >= 1,
          `${env.name}/${integration.name} has release ${integration.release}`,
        );
      }
    }
    const info = await api("GET", "/alerts");
    assert.ok(
      info.body.alerts.some((alert: any) => alert.level === "info" && /succeeded/.test(alert.message)),
      "successful deployments raise info alerts",
    );
  });

  it("provisions by a document write too: a deployment request with configuration.provision", async () => {
    await adminDb()
      .collection("deployments")
      .doc("provision-dev-by-document")
      .set({
        status: "requested",
        environment: "dev",
        integrations: ALL_TEN,
        configuration: { provision: true },
        requested_by: "system:environments.spec",
      });
    const { deployment } = await settled("provision-dev-by-document", 180_000);
    assert.equal(deployment.status, "succeeded", deployment.error_message ?? "");
    const report = await status("dev");
    assert.equal(report.environment_status[0].status, "ready");
  });

  it("shows exactly how staging and prod differ", async () => {
    const response = await api("POST", "/plan", { environments: ["staging", "prod"] });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    const paths = response.body.differences[0].changes.map((change: any) => change.path);
    for (const expected of [
      "region",
      "integrations.functions.memory",
      "integrations.functions.min_instances",
      "integrations.auth.mfa",
    ]) {
      assert.ok(paths.includes(expected), `${expected} missing from ${paths.join(", ")}`);
    }
    assert.ok(!paths.includes("integrations.hosting.site"));
    assert.equal(response.body.architecture_plan.length, 2);
    for (const plan of response.body.architecture_plan) {
      for (const integration of plan.integrations)
        assert.deepEqual(integration.problems, [], `${plan.environment}/${integration.integration}`);
    }
  });

  it("raises one alert when health is lost and resolves it when health returns", async () => {
    const rules = path.join(repoRoot, scratchRules("prod"));
    const good = readFileSync(rules, "utf8");
    writeFileSync(rules, good + OPEN_WRITE);
    try {
      const broken = await status("prod");
      const security = broken.integration_status.find((i: any) => i.name === "security");
      assert.notEqual(security.health, "healthy", "open rules in production are a health problem");
      assert.ok(security.open_alert, "an alert is open");
      const again = await status("prod");
      assert.equal(
        again.integration_status.find((i: any) => i.name === "security").open_alert,
        security.open_alert,
        "the same incident, not a new alert",
      );
      const open = (await api("GET", "/alerts?status=open")).body.alerts.filter(
        (alert: any) => alert.integration === "security",
      );
      assert.equal(open.length, 1);
      assert.ok(["warning", "critical"].includes(open[0].level));
    } finally {
      writeFileSync(rules, good);
    }
    const mended = await status("prod");
    assert.equal(mended.integration_status.find((i: any) => i.name === "security").health, "healthy");
    const resolved = (await api("GET", "/alerts?status=resolved")).body.alerts.filter(
      (alert: any) => alert.integration === "security",
    );
    assert.equal(resolved.length, 1);
    assert.ok(resolved[0].resolved_at);
  });

  it("refuses to promote from an unhealthy environment, then promotes dev to staging once it is healthy", async () => {
    const rules = path.join(repoRoot, scratchRules("dev"));
    const good = readFileSync(rules, "utf8");
    writeFileSync(rules, good + OPEN_WRITE);
    try {
      const refused = await api("POST", "/promote", { from: "dev", to: "staging" });
      assert.equal(refused.status, 409, JSON.stringify(refused.body));
      assert.match(refused.body.error.message, /dev is not healthy: .*security/);
    } finally {
      writeFileSync(rules, good);
    }
    const accepted = await api("POST", "/promote", { from: "dev", to: "staging" });
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    const { deployment } = await settled(accepted.body.deployment_id, 180_000);
    assert.equal(deployment.status, "succeeded", deployment.error_message ?? "");
    assert.equal(deployment.configuration.promoted_from, "dev");
  });

  it("plans and applies a scaling change as just another deployment", async () => {
    const scaled = configWithScratchRules();
    scaled.environments[2].overrides.functions.max_instances = 150;
    assert.equal((await api("POST", "/config", scaled)).status, 200);
    const plan = await api("POST", "/plan", { environments: ["prod"] });
    const functions = plan.body.architecture_plan[0].integrations.find(
      (i: any) => i.integration === "functions",
    );
    assert.ok(
      functions.changes.some((change: any) => /max_instances/.test(change.path) && change.to === 150),
      JSON.stringify(functions.changes),
    );
    const deploy = await api("POST", "/deploy", { environment: "prod", integrations: ["functions"] });
    assert.equal(deploy.status, 202);
    const { deployment } = await settled(deploy.body.deployment_id, 120_000);
    assert.equal(deployment.status, "succeeded", deployment.error_message ?? "");
    const after = await api("POST", "/plan", { environments: ["prod"] });
    const functionsAfter = after.body.architecture_plan[0].integrations.find(
      (i: any) => i.integration === "functions",
    );
    assert.match(functionsAfter.summary, /no changes/);
  });

  for (const [name, body, code] of [
    ["no body", undefined, 400],
    ["an unknown environment", { from: "dev", to: "qa" }, 400],
    ["the same environment twice", { from: "dev", to: "dev" }, 400],
    ["an unknown field", { from: "dev", to: "staging", force: true }, 400],
    ["a number for from", { from: 1, to: "staging" }, 400],
  ] as const) {
    it(`refuses a promotion with ${name}`, async () => {
      const response = await api("POST", "/promote", body);
      assert.equal(response.status, code, JSON.stringify(response.body));
      assert.ok(response.body.error.message);
    });
  }

  it("refuses to provision an undeclared environment", async () => {
    const response = await api("POST", "/environments/qa/provision");
    assert.equal(response.status, 400);
    assert.match(response.body.error.message, /environment "qa" is not declared/);
  });
});
