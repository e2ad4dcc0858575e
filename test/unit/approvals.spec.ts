/**
 * Approvals of production deployments (issue 18): the deployment state machine's approval states,
 * the four-eyes rule, expiry, and the config that turns it on. Expectations come from the issue:
 * a production deployment waits in `awaiting_approval` until a second person approves; the
 * requester cannot approve their own; approvals expire (default 24 h); a rejection ends it.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { approvalPolicyFor, validateConfig } from "../../functions/src/domain/config.js";
import {
  decisionRefusal,
  deploymentDocSchema,
  isRefusal,
  isTerminalDeployment,
  transitionDeployment,
  type DeploymentDoc,
  type DeploymentEvent,
} from "../../functions/src/domain/engine-model.js";
import { exampleConfig } from "../support/config-builder.js";

const T0 = new Date("2026-03-01T09:00:00.000Z");
const at = (minutes: number) => new Date(T0.getTime() + minutes * 60_000);
const REQUESTER = "user:alice@acme.dev";
const SECOND = ["user:bob@acme.dev", "uid:bob-uid"];

function requested(): DeploymentDoc {
  return deploymentDocSchema.parse({
    status: "requested",
    environment: "prod",
    integrations: ["auth"],
    requested_by: REQUESTER,
    created_at: T0,
  });
}

function apply(doc: DeploymentDoc, event: DeploymentEvent): DeploymentDoc {
  const next = transitionDeployment(doc, event);
  assert.ok(!isRefusal(next), isRefusal(next) ? next.refused : "");
  return deploymentDocSchema.parse(next);
}

/** Waiting for approval for one hour from T0. */
const waiting = () => apply(requested(), { type: "await_approval", now: T0, expiresAt: at(60) });

const startEvent = (minutes: number): DeploymentEvent => ({
  type: "start",
  now: at(minutes),
  taskIds: ["t1"],
  estimatedCompletion: at(minutes + 5),
  criticalPath: ["t1"],
  correlationId: "c",
  rollbackPolicy: "all",
});

describe("approvals: the deployment state machine", () => {
  it("a request waits in awaiting_approval with the open request recorded", () => {
    const doc = waiting();
    assert.equal(doc.status, "awaiting_approval");
    assert.deepEqual(doc.approval, {
      requested_at: T0,
      expires_at: at(60),
      decision: null,
      decided_by: null,
      decided_at: null,
      note: null,
    });
    assert.equal(isTerminalDeployment(doc.status), false);
  });

  it("a waiting deployment cannot start; an approved one starts", () => {
    const doc = waiting();
    assert.ok(isRefusal(transitionDeployment(doc, startEvent(1))));
    const approved = apply(doc, { type: "approve", now: at(10), by: SECOND });
    assert.equal(approved.status, "approved");
    assert.equal(approved.approval?.decision, "approved");
    assert.equal(approved.approval?.decided_by, "user:bob@acme.dev");
    assert.deepEqual(approved.approval?.decided_at, at(10));
    const running = apply(approved, startEvent(11));
    assert.equal(running.status, "running");
    // The approval stays on the deployment for the compliance record.
    assert.equal(running.approval?.decided_by, "user:bob@acme.dev");
  });

  it("the requester cannot approve or reject their own request, under any of their names", () => {
    const doc = waiting();
    for (const by of [[REQUESTER], ["uid:alice-uid", REQUESTER]]) {
      for (const event of [
        { type: "approve", now: at(5), by } as const,
        { type: "decline", now: at(5), by, reason: "no" } as const,
      ]) {
        const next = transitionDeployment(doc, event);
        assert.ok(isRefusal(next));
        assert.equal(decisionRefusal(doc, by, at(5))?.reason, "own_request");
        assert.match(next.refused, /user:alice@acme\.dev requested this deployment and cannot approve/);
      }
    }
  });

  it("a rejection ends the deployment cancelled, saying who and why", () => {
    const rejected = apply(waiting(), { type: "decline", now: at(3), by: SECOND, reason: "freeze week" });
    assert.equal(rejected.status, "cancelled");
    assert.equal(rejected.error_message, "approval rejected by user:bob@acme.dev: freeze week");
    assert.equal(rejected.approval?.decision, "rejected");
    assert.equal(rejected.approval?.note, "freeze week");
    assert.ok(isTerminalDeployment(rejected.status));
  });

  it("an approval at or after its expiry is refused; expiry before it is refused; after it ends cancelled", () => {
    const doc = waiting();
    const late = transitionDeployment(doc, { type: "approve", now: at(60), by: SECOND });
    assert.ok(isRefusal(late));
    assert.equal(decisionRefusal(doc, SECOND, at(60))?.reason, "expired");
    assert.match(late.refused, /expired at 2026-03-01T10:00:00\.000Z/);
    assert.ok(isRefusal(transitionDeployment(doc, { type: "expire_approval", now: at(59) })));
    const expired = apply(doc, { type: "expire_approval", now: at(61) });
    assert.equal(expired.status, "cancelled");
    assert.equal(expired.approval?.decision, "expired");
    assert.equal(expired.approval?.decided_by, null);
    assert.match(
      expired.error_message ?? "",
      /^approval expired: nobody approved it before 2026-03-01T10:00:00/,
    );
  });

  it("a second decision is refused as not awaiting, naming the first", () => {
    const approved = apply(waiting(), { type: "approve", now: at(10), by: SECOND });
    const again = transitionDeployment(approved, {
      type: "approve",
      now: at(11),
      by: ["user:carol@acme.dev"],
    });
    assert.ok(isRefusal(again));
    assert.equal(decisionRefusal(approved, ["user:carol@acme.dev"], at(11))?.reason, "not_awaiting");
    assert.match(
      again.refused,
      /the deployment is approved \(approved by user:bob@acme\.dev\), not awaiting approval/,
    );
  });

  it("a waiting or approved deployment can be cancelled by an operator", () => {
    assert.equal(apply(waiting(), { type: "cancel", now: at(1) }).status, "cancelling");
    const approved = apply(waiting(), { type: "approve", now: at(10), by: SECOND });
    assert.equal(apply(approved, { type: "cancel", now: at(11) }).status, "cancelling");
  });

  it("property: whatever events arrive, a deployment runs only after a decision by someone other than its requester", () => {
    const people = fc.constantFrom(REQUESTER, "user:bob@acme.dev", "key:k_ci", "uid:alice-uid");
    const event: fc.Arbitrary<(minutes: number) => DeploymentEvent> = fc.oneof(
      fc.constant((m: number) => startEvent(m)),
      people.map((who) => (m: number): DeploymentEvent => ({ type: "approve", now: at(m), by: [who] })),
      people.map((who) => (m: number): DeploymentEvent => ({
        type: "decline",
        now: at(m),
        by: [who],
        reason: "r",
      })),
      fc.constant((m: number): DeploymentEvent => ({ type: "expire_approval", now: at(m) })),
      fc.constant((m: number): DeploymentEvent => ({ type: "cancel", now: at(m) })),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(event, fc.integer({ min: 0, max: 120 })), { maxLength: 12 }), (steps) => {
        let doc = waiting();
        let approver: string | null = null;
        for (const [make, minutes] of steps) {
          const e = make(minutes);
          const next = transitionDeployment(doc, e);
          if (isRefusal(next)) continue;
          if (e.type === "approve") {
            assert.notEqual(e.by[0], REQUESTER);
            assert.ok(minutes < 60, "approved after expiry");
            approver = e.by[0] ?? null;
          }
          if (next.status === "running") assert.ok(approver !== null, "started without an approval");
          doc = deploymentDocSchema.parse(next);
        }
      }),
    );
  });
});

describe("approvals: the config", () => {
  const withAccess = (access: Record<string, unknown> | undefined) => {
    const raw = exampleConfig() as { base: Record<string, unknown> };
    if (access === undefined) delete raw.base.access;
    else raw.base.access = access;
    const result = validateConfig(raw);
    assert.ok(result.ok, result.ok ? "" : result.problems.map((p) => p.message).join("; "));
    return result.config;
  };

  it("off by default; on only for production environments, 24 h unless configured", () => {
    const off = withAccess(undefined);
    for (const type of ["development", "staging", "production"] as const)
      assert.equal(approvalPolicyFor(off, { type }), null);
    const on = withAccess({ production_requires_approval: true });
    assert.equal(approvalPolicyFor(on, { type: "development" }), null);
    assert.equal(approvalPolicyFor(on, { type: "staging" }), null);
    assert.deepEqual(approvalPolicyFor(on, { type: "production" }), { ttl_hours: 24 });
    const short = withAccess({ production_requires_approval: true, approval_ttl_hours: 2 });
    assert.deepEqual(approvalPolicyFor(short, { type: "production" }), { ttl_hours: 2 });
  });

  it("refuses a bad ttl naming the field", () => {
    const raw = exampleConfig() as { base: Record<string, unknown> };
    raw.base.access = { production_requires_approval: true, approval_ttl_hours: 0 };
    const result = validateConfig(raw);
    assert.ok(!result.ok);
    assert.ok(
      result.problems.some((p) => p.path === "base.access.approval_ttl_hours"),
      JSON.stringify(result.problems),
    );
  });
});
