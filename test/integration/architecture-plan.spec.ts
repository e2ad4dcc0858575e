import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { adminDb, api, clearFirestore, requireEmulators } from "../support/emulators.js";
import { settled } from "../support/engine.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const goalsFile = (name: string) =>
  JSON.parse(readFileSync(`${repoRoot}/docs/planning/${name}.goals.json`, "utf8"));

/**
 * Waits for a deployment to end, running the sweeper every 30 s as the scheduler does every minute
 * in production (the Emulator Suite runs no schedules): on a loaded machine the Functions emulator
 * may drop a trigger while a worker starts, and the sweeper is what recovers it.
 */
async function settledWithSweeper(
  id: string,
  timeoutMs: number,
): Promise<Awaited<ReturnType<typeof settled>>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await settled(id, 30_000);
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await api("POST", "/jobs/sweep");
    }
  }
}

describe("POST /plan from goals on the emulators: plan, load the config, deploy it", function () {
  this.timeout(300_000);

  before(async function () {
    requireEmulators(this);
    await clearFirestore();
  });

  it("plans an EU, GDPR architecture within budget, then POST /config and POST /deploy carry it out", async () => {
    const request = goalsFile("eu-gdpr");
    const planned = await api("POST", "/plan", request);
    assert.equal(planned.status, 200, JSON.stringify(planned.body));
    const plan = planned.body.architecture_plan;
    assert.equal(plan.feasible, true);
    assert.ok(plan.monthly_cost_usd.total <= request.constraints.monthly_budget_usd);
    assert.ok(plan.availability.achieved >= request.goals.availability);
    assert.ok(plan.recovery.rpo_minutes.achieved <= request.goals.rpo_minutes);
    assert.ok(plan.risks.length > 0 && plan.risks.every((r: any) => r.mitigation && r.residual_risk));
    assert.deepEqual(
      plan.config.environments.map((e: any) => e.name),
      ["dev", "staging", "prod"],
    );
    for (const env of plan.config.environments) {
      assert.match(env.region, /^europe-/);
      assert.match(env.overrides.firestore.location, /^(europe-|eur3)/);
    }

    const loaded = await api("POST", "/config", plan.config);
    assert.equal(loaded.status, 200, JSON.stringify(loaded.body));
    const prod = plan.config.environments.find((e: any) => e.name === "prod");
    const deploy = await api("POST", "/deploy", { environment: "prod", integrations: prod.integrations });
    assert.equal(deploy.status, 202, JSON.stringify(deploy.body));
    const { deployment, tasks } = await settledWithSweeper(deploy.body.deployment_id, 240_000);
    assert.equal(deployment.status, "succeeded", deployment.error_message ?? "");
    assert.equal(tasks.length, prod.integrations.length);
    for (const task of tasks)
      assert.equal(task.driver, "integration", `${task.integration} ran the real driver`);
    const environments = await api("GET", "/environments");
    const deployed = environments.body.environments.find((e: any) => e.name === "prod");
    assert.equal(deployed.project_id, "demo-planned-prod");
    const integrations = await adminDb().collection("integrations").where("environment", "==", "prod").get();
    assert.equal(integrations.size, prod.integrations.length);
  });

  it("answers 422 with the conflicting fields and their relaxations when nothing fits", async () => {
    const response = await api("POST", "/plan", goalsFile("infeasible"));
    assert.equal(response.status, 422, JSON.stringify(response.body));
    assert.equal(response.body.error.code, "infeasible");
    assert.equal(response.body.architecture_plan.feasible, false);
    const fields = response.body.infeasible.conflicts.map((c: any) => c.field).sort();
    assert.deepEqual(fields, ["constraints.monthly_budget_usd", "goals.availability"]);
    for (const relaxation of response.body.infeasible.relaxations) {
      assert.ok(relaxation.nearest_feasible_value !== null, relaxation.field);
      assert.equal(typeof relaxation.monthly_cost_usd, "number");
    }
  });

  const bad: [unknown, string][] = [
    [{ goals: ["99.9% uptime"] }, "goals"],
    [{ goals: { availability: 2 } }, "goals.availability"],
    [{ goals: {}, constraints: { compliance: ["pci"] } }, "constraints.compliance[0]"],
    [{ goals: {}, constraints: { data_residency: "mars" } }, "constraints.data_residency"],
    [{ goals: {}, environments: ["prod"] }, "environments"],
    [{ constraints: { monthly_budget_usd: 10 } }, "goals"],
    [{ goals: {}, objective: "fastest" }, "objective"],
  ];
  for (const [body, field] of bad) {
    it(`400 naming ${field} for ${JSON.stringify(body)}`, async () => {
      const response = await api("POST", "/plan", body);
      assert.equal(response.status, 400, JSON.stringify(response.body));
      const paths = (response.body.error.problems ?? []).map((p: any) => p.path);
      assert.ok(paths.includes(field), `problems ${JSON.stringify(paths)}`);
    });
  }

  it("without goals, POST /plan still answers task graphs and timelines of configured environments", async () => {
    const response = await api("POST", "/plan", { environments: ["prod"] });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.equal(response.body.architecture_plan[0].environment, "prod");
    assert.ok(Array.isArray(response.body.timeline));
    assert.equal(response.body.not_used_yet, undefined);
  });
});
