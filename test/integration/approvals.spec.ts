/**
 * Approvals of production deployments on the emulators (issue 18), through the API function and
 * the deployment trigger: with `base.access.production_requires_approval`, a production
 * deployment waits in `awaiting_approval` until a second person with the approve action decides;
 * the requester and a viewer are refused and change nothing; a second approval is refused; an
 * expired request cannot be approved and is cancelled (by the approver's try or by the sweeper);
 * a rejection ends the deployment cancelled; every step is in the audit chain.
 */
import assert from "node:assert/strict";
import { AUDIT_COLLECTIONS } from "../../functions/src/domain/audit.js";
import { COLLECTIONS } from "../../functions/src/domain/model.js";
import { configWith } from "../support/config-builder.js";
import { adminDb, api, clearFirestore, requireEmulators, waitFor } from "../support/emulators.js";
import { engineStore, prodAwaitingApproval, settled } from "../support/engine.js";

const SIMULATED = { driver: "simulated" };

describe("approvals of production deployments", function () {
  this.timeout(180_000);
  const store = engineStore();

  before(async function () {
    requireEmulators(this);
    await clearFirestore();
    const config = configWith((c) => {
      c.base.access = { production_requires_approval: true, approval_ttl_hours: 2 };
    });
    const loaded = await api("POST", "/config", config);
    assert.equal(loaded.status, 200, JSON.stringify(loaded.body));
  });

  /** A prod deployment requested by `as`, parked for approval, and its document then. */
  async function awaitingProd(as: "admin" | "operator" = "admin") {
    const waiting = await prodAwaitingApproval(as);
    return { id: waiting.id, waiting };
  }

  /**
   * The chained audit records about one deployment, oldest first, once they include its last
   * transition: records reach the chain through the inbox, which another drain may still hold
   * when a sweep runs, so this sweeps until the end is chained.
   */
  async function auditOf(id: string, last: string) {
    return waitFor(`the audit of ${id} to reach "${last}"`, async () => {
      const swept = await api("POST", "/jobs/sweep", undefined);
      assert.equal(swept.status, 200, JSON.stringify(swept.body));
      const snap = await adminDb().collection(AUDIT_COLLECTIONS.log).orderBy("seq").get();
      const records = snap.docs
        .map((doc) => doc.data())
        .filter((record) => record.target === id || record.correlation_id === id);
      return records.some((record) => record.action === last) && records;
    });
  }

  it("waits for a second person: requester and viewer refused, another approves, a duplicate is refused", async () => {
    const { id, waiting } = await awaitingProd("admin");
    assert.equal(waiting.task_ids.length, 0, "no task is written before the approval");
    assert.equal((await store.tasksOf(id)).length, 0);
    const ttl =
      (waiting.approval?.expires_at.getTime() ?? 0) - (waiting.approval?.requested_at.getTime() ?? 0);
    assert.equal(ttl, 2 * 3600_000, "expires after the configured 2 hours");

    const own = await api("POST", `/deployments/${id}/approve`, undefined, {}, "admin");
    assert.equal(own.status, 403, JSON.stringify(own.body));
    assert.match(own.body.error.message, /requested this deployment and cannot approve or reject it/);

    const viewer = await api("POST", `/deployments/${id}/approve`, undefined, {}, "viewer");
    assert.equal(viewer.status, 403, JSON.stringify(viewer.body));
    assert.match(viewer.body.error.message, /role viewer .*approve needs operator or admin/);

    const ownReject = await api("POST", `/deployments/${id}/reject`, { reason: "mine" }, {}, "admin");
    assert.equal(ownReject.status, 403);
    assert.equal((await store.getDeployment(id))?.status, "awaiting_approval", "refusals changed nothing");

    const approved = await api("POST", `/deployments/${id}/approve`, undefined, {}, "operator");
    assert.equal(approved.status, 200, JSON.stringify(approved.body));
    assert.equal(approved.body.deployment.status, "approved");
    assert.match(approved.body.deployment.approval.decided_by, /^user:operator-/);

    const again = await api("POST", `/deployments/${id}/approve`, undefined, {}, "operator");
    assert.equal(again.status, 409, JSON.stringify(again.body));
    assert.match(again.body.error.message, /not awaiting approval/);

    const { deployment, tasks } = await settled(id);
    assert.equal(deployment.status, "succeeded", deployment.error_message ?? "");
    assert.equal(tasks.length, 2);
    assert.equal(deployment.approval?.decision, "approved");

    const records = await auditOf(id, "deployment.running->succeeded");
    const actions = records.map((record) => `${record.action} ${record.outcome} ${record.actor.kind}`);
    for (const expected of [
      "POST /deploy ok user",
      "deployment.requested->awaiting_approval ok system",
      "POST /deployments/{id}/approve refused user",
      "POST /deployments/{id}/reject refused user",
      "deployment.awaiting_approval->approved ok user",
      "deployment.approved->running ok system",
      "deployment.running->succeeded ok system",
    ])
      assert.ok(actions.includes(expected), `audit lacks "${expected}": ${actions.join(" | ")}`);
    const approval = records.find((record) => record.action === "deployment.awaiting_approval->approved");
    assert.match(String(approval?.actor.id), /^operator-/, "the approver is the actor of the approval");
    // Three refused decisions (requester twice, viewer once) and one refused duplicate.
    assert.equal(records.filter((record) => record.outcome === "refused").length, 4);
  });

  it("a rejection ends the deployment cancelled with the reason, and starts nothing", async () => {
    const { id } = await awaitingProd("operator");
    const empty = await api("POST", `/deployments/${id}/reject`, { reason: "  " }, {}, "admin");
    assert.equal(empty.status, 400, JSON.stringify(empty.body));
    const rejected = await api("POST", `/deployments/${id}/reject`, { reason: "change freeze" }, {}, "admin");
    assert.equal(rejected.status, 200, JSON.stringify(rejected.body));
    const { deployment, tasks } = await settled(id);
    assert.equal(deployment.status, "cancelled");
    assert.match(deployment.error_message ?? "", /^approval rejected by user:admin-.*: change freeze$/);
    assert.equal(tasks.length, 0);
    const late = await api("POST", `/deployments/${id}/approve`, undefined, {}, "operator");
    assert.equal(late.status, 409);
  });

  it("an expired request cannot be approved; the sweeper cancels one nobody decided", async () => {
    // Two hours cannot pass in a test: the open requests' expiry is moved into the past instead.
    const expire = async (id: string) => {
      const ref = adminDb().collection(COLLECTIONS.deployments).doc(id);
      const approval = (await ref.get()).get("approval") as Record<string, unknown>;
      await ref.update({ approval: { ...approval, expires_at: new Date(Date.now() - 1000) } });
    };
    const tried = await awaitingProd("admin");
    const untouched = await awaitingProd("admin");
    await expire(tried.id);
    await expire(untouched.id);

    const late = await api("POST", `/deployments/${tried.id}/approve`, undefined, {}, "operator");
    assert.equal(late.status, 409, JSON.stringify(late.body));
    assert.match(late.body.error.message, /the approval request expired at .*; the deployment is cancelled/);
    const triedEnd = await settled(tried.id);
    assert.equal(triedEnd.deployment.status, "cancelled");
    assert.equal(triedEnd.deployment.approval?.decision, "expired");
    assert.equal(triedEnd.tasks.length, 0);

    assert.equal((await store.getDeployment(untouched.id))?.status, "awaiting_approval");
    const swept = await api("POST", "/jobs/sweep", undefined);
    assert.equal(swept.status, 200);
    const sweptEnd = await store.getDeployment(untouched.id);
    assert.equal(sweptEnd?.status, "cancelled");
    assert.match(sweptEnd?.error_message ?? "", /^approval expired: nobody approved it before /);
  });

  it("environments other than production start at once", async () => {
    const requested = await api("POST", "/deploy", {
      environment: "staging",
      integrations: ["auth"],
      configuration: SIMULATED,
    });
    assert.equal(requested.status, 202);
    const { deployment } = await settled(requested.body.deployment_id as string);
    assert.equal(deployment.status, "succeeded");
    assert.equal(deployment.approval, null);
  });
});
