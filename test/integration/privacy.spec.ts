/**
 * A person's data on the emulators: an operator requests a production deployment that an admin
 * approves; an admin exports what the control plane holds about the operator, then erases it. After
 * the erasure no document of any collection and no warehouse event holds the operator's email or
 * uid, the same pseudonym stands in everywhere, and the audit chain still verifies. Only an admin of
 * every environment may do either; bad requests are refused naming the field and change nothing.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { getFirestore } from "firebase-admin/firestore";
import {
  api,
  clearFirestore,
  requireEmulators,
  signInDetails,
  tokenFor,
  waitFor,
} from "../support/emulators.js";
import {
  engineStore,
  loadConfigRequiringApproval,
  prodAwaitingApproval,
  settled,
} from "../support/engine.js";
import { publishToWarehouse, requireWarehouse, warehouseStatus } from "../support/warehouse.js";
import type { OrchestrationEvent } from "../../functions/src/bus.js";

const PSEUDONYM = /^pseudonym:[0-9a-f]{64}$/;

/** Every document of every collection, as JSON text with its path: what a canary sweep reads. */
async function everyDocument(): Promise<{ path: string; json: string }[]> {
  const db = getFirestore();
  const found: { path: string; json: string }[] = [];
  for (const collection of await db.listCollections()) {
    for (const doc of (await collection.get()).docs)
      found.push({ path: doc.ref.path, json: JSON.stringify(doc.data()) });
  }
  return found;
}

/** Waits until the warehouse holds every event the finished deployment published (its count stops rising). */
async function warehouseCaughtUpWithEngine(): Promise<void> {
  let last = -1;
  await waitFor(
    "the warehouse to hold the deployment's events",
    async () => {
      const { events } = await warehouseStatus();
      const steady = events === last;
      last = events;
      return steady && (await warehouseStatus()).uncommitted === 0;
    },
    60_000,
    1_500,
  );
}

describe("personal data: export and erasure of a person, the audit chain still verified", function () {
  this.timeout(240_000);
  let operator: { email: string; uid: string };
  let deploymentId: string;

  before(async function () {
    requireEmulators(this);
    requireWarehouse(this, "personal data");
    await clearFirestore();
    await loadConfigRequiringApproval();
    const details = await signInDetails("operator");
    // The uid is the ID token's subject.
    const token = await tokenFor("operator");
    const claims = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString("utf8")) as {
      sub: string;
    };
    operator = { email: details.email, uid: claims.sub };
    deploymentId = (await prodAwaitingApproval("operator", ["auth"])).id;
    assert.equal((await api("POST", `/deployments/${deploymentId}/approve`)).status, 200);
    assert.equal((await settled(deploymentId, 120_000)).deployment.status, "succeeded");
    // Events about the operator in the warehouse: one as actor, one naming them in its detail.
    const event = (overrides: Partial<OrchestrationEvent>): OrchestrationEvent => ({
      event_id: randomUUID(),
      kind: "deployment",
      at: new Date().toISOString(),
      environment: "prod",
      integration: null,
      deployment_id: deploymentId,
      task_id: null,
      from: "running",
      to: "succeeded",
      attempt: null,
      duration: 1,
      detail: null,
      correlation_id: deploymentId,
      actor: null,
      payload: null,
      ...overrides,
    });
    // The engine's events of the deployment stream in; the erasure covers what has arrived.
    await warehouseCaughtUpWithEngine();
    await publishToWarehouse([
      event({ actor: `user:${operator.email}` }),
      event({ detail: `requested by ${operator.email.toUpperCase()}` }),
    ]);
  });

  it("exports what names the operator: their deployment, their audit records, their warehouse events", async () => {
    const response = await api("POST", "/privacy/export", { email: operator.email });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    const exported = response.body;
    assert.deepEqual(exported.person, operator, "Auth fills in the uid of the email");
    const deployment = exported.documents.find(
      (d: any) => d.collection === "deployments" && d.id === deploymentId,
    );
    assert.deepEqual(deployment?.fields, { requested_by: `user:${operator.email}` });
    const actions = exported.audit_records.map((r: any) => r.action);
    assert.ok(actions.includes("POST /deploy"), actions.join(", "));
    assert.ok(
      exported.audit_records.every(
        (r: any) => r.actor.id === operator.email || r.actor.id === `user:${operator.email}`,
      ),
    );
    // The two published here and the engine's own events of the operator's deployment.
    assert.ok(exported.warehouse_events >= 2, String(exported.warehouse_events));
    assert.ok(exported.not_covered.length > 0, "the export says what it does not cover");
  });

  it("refuses bad requests naming the field, and changes nothing", async () => {
    const before = await everyDocument();
    const cases: [unknown, RegExp][] = [
      [{}, /email.*name the person by email, uid or both/],
      [{ email: "not-an-email" }, /email/],
      [{ email: "" }, /email/],
      [{ uid: "a/b" }, /uid.*no spaces, slashes or colons/],
      [{ uid: "" }, /uid/],
      [{ email: operator.email, extra: 1 }, /extra/],
      [{ email: 42 }, /email/],
      [{ email: ["ann@acme.dev"] }, /email/],
      [{ uid: "x".repeat(129) }, /uid/],
    ];
    for (const [body, message] of cases) {
      const refused = await api("POST", "/privacy/erase", body);
      assert.equal(refused.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(refused.body)}`);
      const error = JSON.stringify(refused.body.error);
      assert.match(error, message, `${JSON.stringify(body)}: ${error}`);
    }
    const after = await everyDocument();
    const withoutAudit = (docs: { path: string; json: string }[]) =>
      docs.filter((d) => !/^audit_|^job_|^request_/.test(d.path)).map((d) => `${d.path} ${d.json}`);
    assert.deepEqual(withoutAudit(after), withoutAudit(before));
  });

  it("is refused to an operator, and to an admin limited to some environments", async () => {
    const refused = await api("POST", "/privacy/export", { email: operator.email }, {}, "operator");
    assert.equal(refused.status, 403, JSON.stringify(refused.body));
    const key = await api("POST", "/keys", { role: "admin", environments: ["dev"], label: "scoped admin" });
    assert.equal(key.status, 201, JSON.stringify(key.body));
    for (const path of ["/privacy/export", "/privacy/erase"]) {
      const scoped = await api(
        "POST",
        path,
        { email: operator.email },
        {},
        { headers: { "x-api-key": key.body.key } },
      );
      assert.equal(scoped.status, 403, JSON.stringify(scoped.body));
      assert.match(scoped.body.error.message, /limited to environments \["dev"\]/);
    }
  });

  it("erases the operator everywhere with one pseudonym; the chain and the compliance report still hold", async () => {
    const response = await api("POST", "/privacy/erase", { email: operator.email });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    const erased = response.body;
    assert.match(erased.pseudonym, PSEUDONYM);
    assert.ok(erased.documents.deployments >= 1, JSON.stringify(erased.documents));
    assert.ok(erased.documents.audit_log >= 2, JSON.stringify(erased.documents));
    assert.ok(erased.warehouse_events >= 2, String(erased.warehouse_events));
    assert.equal(erased.audit_chain.ok, true, JSON.stringify(erased.audit_chain));

    // The canary sweep: no document anywhere holds the operator's email or uid (any case).
    const leaks = (await everyDocument()).filter(
      (d) => d.json.toLowerCase().includes(operator.email.toLowerCase()) || d.json.includes(operator.uid),
    );
    assert.deepEqual(
      leaks.map((d) => d.path),
      [],
    );
    const deployment = await engineStore().getDeployment(deploymentId);
    assert.match(deployment?.requested_by ?? "", PSEUDONYM);

    const again = await api("POST", "/privacy/export", { email: operator.email });
    assert.equal(again.status, 200);
    assert.deepEqual(
      [again.body.documents.length, again.body.audit_records.length, again.body.warehouse_events],
      [0, 0, 0],
    );

    // The same person keeps one pseudonym in every store: the four-eyes check still reads it.
    assert.equal((await api("POST", "/jobs/sweep")).status, 200);
    const report = await api("GET", "/reports?report_type=compliance&time_range=24h");
    assert.equal(report.status, 200, JSON.stringify(report.body));
    const section = report.body.comprehensive_report.compliance;
    assert.equal(section.audit_chain.verified, true);
    const change = section.production_changes.find((c: any) => c.deployment_id === deploymentId);
    assert.match(change.requested_by, PSEUDONYM);
    assert.equal(change.four_eyes, true);
  });
});
