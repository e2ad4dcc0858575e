/**
 * The compliance report's own section (SOC 2 style evidence): who holds which role and when they
 * last acted, every production change with its requester and approver, and whether the audit
 * chain verifies. Pure: people, audit records and deployments are loaded by the caller.
 */
import type { Deployment } from "./engine-model.js";

// Structural copies of audit.ts's AuditActor and VerifyResult: the dashboard bundles the reports
// (and so this module), and audit.ts needs node:crypto.
/** Who acted, as an audit record says. */
export interface AuditActor {
  kind: "user" | "key" | "system" | "anonymous";
  id: string | null;
  role: string | null;
}
/** The audit chain's verification. */
export type VerifyResult =
  | { ok: true; count: number }
  | { ok: false; seq: number; problem: "changed" | "removed" | "reordered"; message: string };

/** A person or system holding a role: an Auth user with a `role` claim, or an API key. */
export interface RoleHolder {
  /** As `requested_by` names them: `user:<email>`, `uid:<uid>`, `key:<id>`. */
  principal: string;
  kind: "user" | "key";
  role: string;
  /** null: every environment. */
  environments: string[] | null;
  /** False for a disabled user or a revoked key. */
  active: boolean;
  /** A key's label; null for users. */
  label: string | null;
}

export interface ComplianceInput {
  people: RoleHolder[];
  /** Audit records, any order. */
  audit: { actor: AuditActor; action: string; at: Date; outcome: string }[];
  /** Names of the environments of type production. */
  production: readonly string[];
  /** Deployments of the report's range. */
  deployments: readonly Deployment[];
  verification: VerifyResult;
}

/** How an audit actor is named as a principal (`requested_by` forms). */
export function principalOfActor(actor: AuditActor): string | null {
  if (actor.id === null) return null;
  if (actor.kind === "key") return `key:${actor.id}`;
  if (actor.kind === "user") return actor.id.includes("@") ? `user:${actor.id}` : `uid:${actor.id}`;
  return null;
}

/** Statuses in which a deployment has changed (or was changing) its environment. */
const CHANGED = new Set(["running", "cancelling", "rolling_back", "succeeded", "failed", "rolled_back"]);

export function complianceSection(input: ComplianceInput) {
  const last = new Map<string, { at: Date; action: string }>();
  for (const record of input.audit) {
    const who = principalOfActor(record.actor);
    if (!who) continue;
    const seen = last.get(who);
    if (!seen || record.at > seen.at) last.set(who, { at: record.at, action: record.action });
  }
  const people = [...input.people]
    .sort((a, b) => a.principal.localeCompare(b.principal))
    .map((holder) => {
      const acted = last.get(holder.principal);
      return {
        ...holder,
        last_action_at: acted?.at.toISOString() ?? null,
        last_action: acted?.action ?? null,
      };
    });
  const production = new Set(input.production);
  const changes = input.deployments
    .filter((deployment) => production.has(deployment.environment))
    .map((deployment) => {
      const approval = deployment.approval;
      const approvedBy = approval?.decision === "approved" ? approval.decided_by : null;
      return {
        deployment_id: deployment.id,
        environment: deployment.environment,
        status: deployment.status,
        requested_by: deployment.requested_by,
        requested_at: deployment.created_at.toISOString(),
        approval: approval?.decision ?? (approval ? "pending" : "not required"),
        approved_by: approvedBy,
        decided_by: approval?.decided_by ?? null,
        decided_at: approval?.decided_at?.toISOString() ?? null,
        /** A second person approved before anything changed. */
        four_eyes: approvedBy !== null && approvedBy !== deployment.requested_by,
        changed: CHANGED.has(deployment.status),
      };
    })
    .sort(
      (a, b) =>
        b.requested_at.localeCompare(a.requested_at) || a.deployment_id.localeCompare(b.deployment_id),
    );
  const unapproved = changes.filter((change) => change.changed && !change.four_eyes);
  const findings = [
    ...(unapproved.length > 0
      ? [
          `${unapproved.length} production change(s) ran without a second person's approval: ${unapproved
            .slice(0, 10)
            .map((change) => change.deployment_id)
            .join(", ")}${unapproved.length > 10 ? ", ..." : ""}`,
        ]
      : []),
    ...(input.verification.ok ? [] : [`the audit chain does not verify: ${input.verification.message}`]),
    ...people
      .filter((person) => person.active && person.role === "admin" && person.last_action_at === null)
      .map((person) => `${person.principal} holds admin and has no recorded action`),
  ];
  return {
    people,
    production_changes: changes,
    audit_chain: input.verification.ok
      ? { verified: true, records: input.verification.count, first_problem: null }
      : {
          verified: false,
          records: null,
          first_problem: {
            seq: input.verification.seq,
            problem: input.verification.problem,
            message: input.verification.message,
          },
        },
    findings,
  };
}

export type ComplianceSection = ReturnType<typeof complianceSection>;
