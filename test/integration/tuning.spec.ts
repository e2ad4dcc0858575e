/**
 * Tuning under guardrails on the emulators: a recommended concurrency change applied by a person
 * with one call (refused to an operator, without a reason, for an unknown id, and while a canary of
 * the same setting runs), in force for planning and the engine, listed with who, when and why; then
 * reverted by its canary when the next deployments take three times their plans (with an alert and
 * an audit record), and kept when they take what their plans said.
 */
import assert from "node:assert/strict";
import { validateConfig } from "../../functions/src/domain/config.js";
import type { DeploymentDoc, TaskDoc } from "../../functions/src/domain/engine-model.js";
import { planDeployment } from "../../functions/src/domain/planner.js";
import { createEngineStore } from "../../functions/src/store/engine-store.js";
import { configWith } from "../support/config-builder.js";
import { adminDb, api, clearFirestore, requireEmulators, waitFor } from "../support/emulators.js";

const CONFIG = configWith((c) => (c.base.tuning = { canary_deployments: 3, canary_margin: 0.2 }));
const INTEGRATIONS = ["security", "firestore"];
/** What each deployment's plan says: history-free plans of these two take the catalog's time. */
const staging = (() => {
  const loaded = validateConfig(CONFIG);
  assert.ok(loaded.ok);
  return loaded.config.environments.find((env) => env.name === "staging")!;
})();

/**
 * Writes a finished deployment of staging that took `ratio` x its plan, with its tasks run one
 * after the other (so at most one ran at a time under the limit of 4); `withTasks` false writes the
 * deployment alone (a canary reads only deployments, and tasks would count towards the peak).
 */
async function writeDeployment(id: string, created: Date, ratio: number, withTasks = true): Promise<void> {
  const planned = planDeployment(
    id,
    { environment: "staging", integrations: INTEGRATIONS, configuration: {}, requested_by: "tuning.spec" },
    staging,
    created,
  );
  assert.ok(planned.ok);
  const engine = createEngineStore(adminDb());
  let clock = created.getTime();
  const tasks = planned.plan.tasks.map(({ id: taskId, ...doc }): [string, TaskDoc] => {
    const start = clock;
    clock += doc.estimated_duration * ratio * 1000;
    return [
      taskId,
      {
        ...doc,
        status: "succeeded",
        started_at: new Date(start),
        completed_at: new Date(clock),
        actual_duration: (clock - start) / 1000,
        attempt: 1,
        applied: true,
      },
    ];
  });
  const deployment: DeploymentDoc = {
    status: "succeeded",
    environment: "staging",
    integrations: INTEGRATIONS,
    configuration: {},
    requested_by: "tuning.spec",
    rollback_policy: "failed-only",
    created_at: created,
    task_ids: withTasks ? tasks.map(([taskId]) => taskId) : [],
    estimated_completion: planned.plan.estimatedCompletion,
    critical_path: planned.plan.criticalPath,
    started_at: created,
    completed_at: new Date(clock),
    actual_duration: (clock - created.getTime()) / 1000,
    error_message: null,
    correlation_id: id,
    approval: null,
    expire_at: null,
  };
  await engine.deployments.doc(id).set(deployment);
  if (withTasks) await Promise.all(tasks.map(([taskId, task]) => engine.tasks.doc(taskId).set(task)));
}

interface TuningActionView {
  id: string;
  recommendation_id: string;
  change: { setting: string; path: string; before: number; after: number };
  mode: string;
  applied_by: string;
  reason: string;
  status: string;
  decision: string | null;
  canary: {
    baseline_mean: number;
    baseline_deployments: number;
    allowed_mean: number;
    deployments_needed: number;
    observed_mean: number | null;
    watched: string[];
  };
  expected_gain: { metric: string; value: number };
}

const plannedConcurrency = async (): Promise<number> => {
  const plan = await api("POST", "/plan", { environments: ["staging"] });
  assert.equal(plan.status, 200, JSON.stringify(plan.body));
  return plan.body.resource_requirements[0].concurrency as number;
};

describe("tuning under guardrails (emulators)", function () {
  this.timeout(120_000);
  const RECOMMENDATION = "cost:lower-limit:staging";
  let first: TuningActionView;
  /** When the last of the reverted canary's slow deployments was created (written ahead of the clock). */
  let lastSlowCreated = 0;

  before(async function () {
    requireEmulators(this);
    await clearFirestore();
    const loaded = await api("POST", "/config", CONFIG);
    assert.equal(loaded.status, 200, JSON.stringify(loaded.body));
    // Four deployments in the last hour, each as long as its plan, one task at a time under 4 slots.
    for (let index = 0; index < 4; index++)
      await writeDeployment(`base-${index}`, new Date(Date.now() - (60 - index * 10) * 60_000), 1);
  });

  it("POST /optimize proposes lowering staging's limit as one setting change, applied with one call", async () => {
    const answer = await api("POST", "/optimize", { optimization_targets: ["cost"] });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const recommendation = answer.body.optimization_plan.find((r: { id: string }) => r.id === RECOMMENDATION);
    assert.ok(recommendation, JSON.stringify(answer.body.optimization_plan));
    assert.deepEqual(recommendation.change, {
      setting: "concurrency",
      environment: "staging",
      integration: null,
      path: "environments[name=staging].concurrency",
      before: 4,
      after: 2,
    });
    assert.match(recommendation.how, /^POST \/optimize\/cost:lower-limit:staging\/apply/);
  });

  it("is refused to an operator, without a reason, and for an id not recommended now; nothing changes", async () => {
    const operator = await api("POST", `/optimize/${RECOMMENDATION}/apply`, { reason: "x" }, {}, "operator");
    assert.equal(operator.status, 403);
    const noReason = await api("POST", `/optimize/${RECOMMENDATION}/apply`, {});
    assert.equal(noReason.status, 400);
    assert.match(noReason.body.error.message, /reason/);
    const unknown = await api("POST", "/optimize/cost:lower-limit:prod/apply", { reason: "x" });
    assert.equal(unknown.status, 404);
    assert.match(unknown.body.error.message, /no current recommendation "cost:lower-limit:prod"/);
    assert.equal(await plannedConcurrency(), 4);
    assert.deepEqual((await api("GET", "/tuning")).body.tuning_actions, []);
  });

  it("an admin applies it: recorded with who, when, why and the canary; in force for plans; once at a time", async () => {
    const applied = await api("POST", `/optimize/${RECOMMENDATION}/apply`, { reason: "slots sit idle" });
    assert.equal(applied.status, 201, JSON.stringify(applied.body));
    first = applied.body.tuning_action as TuningActionView;
    assert.equal(first.status, "canary");
    assert.equal(first.mode, "manual");
    assert.match(first.applied_by, /^user:/);
    assert.match(first.reason, /lower concurrency of staging from 4 to 2.*; slots sit idle$/);
    assert.equal(first.expected_gain.metric, "firestore_reads");
    // Four deployments that took their plans: ratio 1 each, no spread; 1 + 0 + 0.2 x 1.
    assert.equal(first.canary.baseline_mean, 1);
    assert.equal(first.canary.allowed_mean, 1.2);
    assert.equal(first.canary.deployments_needed, 3);
    assert.equal(await plannedConcurrency(), 2);
    const again = await api("POST", `/optimize/${RECOMMENDATION}/apply`, { reason: "twice" });
    assert.equal(again.status, 409);
    assert.match(again.body.error.message, /already being watched as the canary of/);
    assert.match(again.body.error.message, /one change per environment is watched at a time/);
    const listed = (await api("GET", "/tuning", undefined, {}, "viewer")).body
      .tuning_actions as TuningActionView[];
    assert.deepEqual(
      listed.map((action) => [action.id, action.status]),
      [[first.id, "canary"]],
    );
  });

  it("three deployments at 3x their plans: the optimization job reverts it, with an alert and an audit record", async () => {
    const after = Date.now() + 1000;
    for (let index = 0; index < 3; index++)
      await writeDeployment(`slow-${index}`, new Date(after + index * 1000), 3, false);
    lastSlowCreated = after + 2000;
    const run = await api("POST", "/jobs/optimization/run");
    assert.equal(run.status, 200, JSON.stringify(run.body));
    assert.match(run.body.run.summary, new RegExp(`${first.id} revert`));
    const [action] = (await api("GET", "/tuning")).body.tuning_actions as TuningActionView[];
    assert.equal(action?.status, "reverted");
    assert.equal(action.canary.observed_mean, 3);
    assert.deepEqual(action.canary.watched, ["slow-0", "slow-1", "slow-2"]);
    assert.match(action.decision ?? "", /took 3x their plans on average, beyond the 1\.2 allowed/);
    assert.equal(await plannedConcurrency(), 4);
    const alerts = (await api("GET", "/alerts?status=open")).body.alerts as {
      id: string;
      source: string;
      level: string;
      message: string;
    }[];
    const alert = alerts.find((candidate) => candidate.id === `tuning__${first.id}`);
    assert.ok(alert, JSON.stringify(alerts.map((a) => a.id)));
    assert.equal(alert.source, "tuning");
    assert.equal(alert.level, "warning");
    assert.match(alert.message, /environments\[name=staging\]\.concurrency reverted from 2/);
    const audited = await waitFor("the revert's audit record", async () => {
      const [staged, chained] = await Promise.all([
        adminDb().collection("audit_inbox").where("entry.action", "==", "tuning.revert").get(),
        adminDb().collection("audit_log").where("action", "==", "tuning.revert").get(),
      ]);
      return staged.size + chained.size > 0 && staged.size + chained.size;
    });
    assert.equal(audited, 1);
  });

  it("applied again and met by deployments that take their plans, it is kept and stays in force", async () => {
    // A canary watches the deployments created after its change: apply once the slow ones are past.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, lastSlowCreated + 200 - Date.now())));
    const applied = await api("POST", `/optimize/${RECOMMENDATION}/apply`, { reason: "once more" });
    assert.equal(applied.status, 201, JSON.stringify(applied.body));
    const second = applied.body.tuning_action as TuningActionView;
    // Its baseline is the four deployments that took their plans: the reverted canary's slow
    // deployments ran under a limit no longer in force and are left out.
    assert.equal(second.canary.baseline_mean, 1);
    assert.equal(second.canary.baseline_deployments, 4);
    const after = Date.now() + 1000;
    for (let index = 0; index < 3; index++)
      await writeDeployment(`fine-${index}`, new Date(after + index * 1000), 1, false);
    await api("POST", "/jobs/optimization/run");
    const actions = (await api("GET", "/tuning")).body.tuning_actions as TuningActionView[];
    const kept = actions.find((action) => action.id === second.id);
    assert.equal(kept?.status, "kept");
    assert.equal(kept.canary.observed_mean, 1);
    assert.equal(await plannedConcurrency(), 2);
    // A real deployment plans under the limit in force.
    const deployed = await api("POST", "/deploy", {
      environment: "staging",
      integrations: ["security"],
      configuration: { driver: "simulated" },
    });
    assert.equal(deployed.status, 202, JSON.stringify(deployed.body));
    // The engine writes the tasks when its trigger starts the deployment.
    const tasks = await waitFor("the deployment's tasks", async () => {
      const read = await api("GET", `/deployments/${deployed.body.deployment_id}`);
      const found = read.body.tasks as { concurrency_limit: number }[] | undefined;
      return found !== undefined && found.length > 0 && found;
    });
    assert.deepEqual(
      tasks.map((task) => task.concurrency_limit),
      [2],
    );
  });

  it("a retry policy of one integration: fewer retries where they never recovered, in force for that integration only", async () => {
    // Six deployments of dev with security: every other one failed after its 3 retries, none
    // recovered; the replay finds 1 retry fails the same runs sooner.
    const dev = (() => {
      const loaded = validateConfig(CONFIG);
      assert.ok(loaded.ok);
      return loaded.config.environments.find((env) => env.name === "dev")!;
    })();
    const engine = createEngineStore(adminDb());
    for (let index = 0; index < 6; index++) {
      const id = `retry-${index}`;
      const created = new Date(Date.now() - (50 - index * 5) * 60_000);
      const planned = planDeployment(
        id,
        { environment: "dev", integrations: ["security"], configuration: {}, requested_by: "tuning.spec" },
        dev,
        created,
      );
      assert.ok(planned.ok);
      const failed = index % 2 === 1;
      const [{ id: taskId, ...doc }] = planned.plan.tasks as [(typeof planned.plan.tasks)[number]];
      const completed = new Date(created.getTime() + 30_000);
      const ended: TaskDoc = {
        ...doc,
        status: failed ? ("failed" as const) : ("succeeded" as const),
        started_at: created,
        completed_at: completed,
        actual_duration: 30,
        retry_count: failed ? 3 : 0,
        attempt: failed ? 4 : 1,
        applied: !failed,
        error_message: failed ? "attempt 4 of 4: quota exceeded" : null,
      };
      await engine.tasks.doc(taskId).set(ended);
      await engine.deployments.doc(id).set({
        status: failed ? "failed" : "succeeded",
        environment: "dev",
        integrations: ["security"],
        configuration: {},
        requested_by: "tuning.spec",
        rollback_policy: "failed-only",
        created_at: created,
        task_ids: [taskId],
        estimated_completion: planned.plan.estimatedCompletion,
        critical_path: planned.plan.criticalPath,
        started_at: created,
        completed_at: completed,
        actual_duration: 30,
        error_message: failed ? "security failed" : null,
        correlation_id: id,
        approval: null,
        expire_at: null,
      });
    }
    const answer = await api("POST", "/optimize", { optimization_targets: ["duration"] });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const id = "duration:max-retries:dev:security";
    const recommendation = answer.body.optimization_plan.find((r: { id: string }) => r.id === id);
    assert.ok(recommendation, JSON.stringify(answer.body.optimization_plan.map((r: { id: string }) => r.id)));
    assert.deepEqual(recommendation.change, {
      setting: "max_retries",
      environment: "dev",
      integration: "security",
      path: "environments[name=dev].engine.security.max_retries",
      before: 3,
      after: 1,
    });
    assert.ok(recommendation.expected_improvement.simulated.change_p95_seconds < 0);
    const applied = await api("POST", `/optimize/${id}/apply`, { reason: "its retries never recovered" });
    assert.equal(applied.status, 201, JSON.stringify(applied.body));
    assert.equal(
      applied.body.tuning_action.change.path,
      "environments[name=dev].engine.security.max_retries",
    );
    const deployed = await api("POST", "/deploy", {
      environment: "dev",
      integrations: ["security", "firestore"],
      configuration: { driver: "simulated" },
    });
    assert.equal(deployed.status, 202, JSON.stringify(deployed.body));
    const tasks = await waitFor("the deployment's tasks", async () => {
      const read = await api("GET", `/deployments/${deployed.body.deployment_id}`);
      const found = read.body.tasks as { integration: string; max_retries: number }[] | undefined;
      return found !== undefined && found.length === 2 && found;
    });
    assert.deepEqual(Object.fromEntries(tasks.map((task) => [task.integration, task.max_retries])), {
      security: 1,
      firestore: 3,
    });
  });
});
