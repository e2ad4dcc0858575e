/**
 * The compliance report on the emulators: an operator's production deployment approved by an
 * admin shows up with its requester and approver; the role holders are the Auth emulator's users
 * with a role claim and the API keys, each with their last audited action; the audit chain is
 * verified; only an unscoped admin may read it (it names people).
 */
import assert from "node:assert/strict";
import { api, clearFirestore, requireEmulators, signInDetails } from "../support/emulators.js";
import { loadConfigRequiringApproval, prodAwaitingApproval, settled } from "../support/engine.js";

describe("compliance report: roles, production changes with requester and approver, the audit chain", function () {
  this.timeout(180_000);

  before(async function () {
    requireEmulators(this);
    await clearFirestore();
    await loadConfigRequiringApproval();
  });

  it("lists the approved production change, who requested and who approved it, and a verified chain", async () => {
    const operator = (await signInDetails("operator")).email;
    const admin = (await signInDetails("admin")).email;
    await signInDetails("viewer");
    const key = await api("POST", "/keys", { role: "operator", environments: ["dev"], label: "ci" });
    assert.equal(key.status, 201, JSON.stringify(key.body));
    const { id } = await prodAwaitingApproval("operator", ["auth"]);
    const approved = await api("POST", `/deployments/${id}/approve`, undefined, {}, "admin");
    assert.equal(approved.status, 200, JSON.stringify(approved.body));
    assert.equal((await settled(id, 120_000)).deployment.status, "succeeded");
    // The audit records are chained off the request path: the sweeper drains them.
    assert.equal((await api("POST", "/jobs/sweep")).status, 200);

    const response = await api("GET", "/reports?report_type=compliance&time_range=24h");
    assert.equal(response.status, 200, JSON.stringify(response.body));
    const section = response.body.comprehensive_report.compliance;
    const change = section.production_changes.find((c: any) => c.deployment_id === id);
    assert.deepEqual(
      [change.requested_by, change.approval, change.approved_by, change.four_eyes],
      [`user:${operator}`, "approved", `user:${admin}`, true],
    );
    const people = new Map<string, any>(section.people.map((p: any) => [p.principal, p]));
    assert.equal(people.get(`user:${operator}`)?.role, "operator");
    assert.equal(people.get(`user:${operator}`)?.last_action, "POST /deploy");
    assert.equal(people.get(`user:${admin}`)?.role, "admin");
    assert.ok(people.get(`user:${admin}`)?.last_action_at, "the admin's approval is their last action");
    assert.deepEqual(people.get(`key:${key.body.id}`)?.environments, ["dev"]);
    assert.equal(section.audit_chain.verified, true);
    assert.ok(section.audit_chain.records > 0);

    const pdf = await api("GET", "/reports?report_type=compliance&time_range=24h&format=csv");
    assert.equal(pdf.status, 200);
    assert.match(String(pdf.body), /compliance\.production_changes,prod,approved_by,user:/);
  });

  it("is refused to anyone but an admin of every environment, naming why", async () => {
    for (const as of ["operator", "viewer"] as const) {
      const refused = await api("GET", "/reports?report_type=compliance", undefined, {}, as);
      assert.equal(refused.status, 403, JSON.stringify(refused.body));
      assert.match(refused.body.error.message, /may not read the compliance report: it names people/);
    }
  });
});
