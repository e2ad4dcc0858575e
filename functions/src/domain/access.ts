/**
 * Who may do what: roles, principals and the one authorization decision. Pure: the adapters
 * (auth/access-control.ts, the API) authenticate and then ask `authorize`.
 */
import type { ENVIRONMENT_TYPES } from "./config-schema.js";

type EnvironmentType = (typeof ENVIRONMENT_TYPES)[number];

export const ROLES = ["viewer", "operator", "admin"] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === "string" && (ROLES as readonly string[]).includes(value);
}

/**
 * An authenticated caller: a Firebase Auth user (role from the `role` custom claim) or an API key.
 * `environments` restricts every environment-targeted action to those environments; null = all.
 */
export type Principal =
  | { kind: "user"; uid: string; email: string | null; role: Role; environments: string[] | null }
  | { kind: "key"; keyId: string; role: Role; environments: string[] | null; label: string };

export const ACTIONS = [
  "read",
  "plan",
  "deploy",
  "cancel",
  /** Decide (approve or reject) another person's production deployment that waits for approval. */
  "approve",
  "optimize",
  "manage_keys",
  "manage_config",
  "run_jobs",
  /** Export or erase what the control plane holds about a person (GDPR access and erasure requests). */
  "manage_personal_data",
] as const;
export type Action = (typeof ACTIONS)[number];

/**
 * The environment an action touches, when it touches one. `unknown` when its type could not be
 * established (the config could not be read, or does not declare it): production rules then apply.
 */
export interface AccessTarget {
  environment: string;
  type: EnvironmentType | "unknown";
}

export interface AccessPolicy {
  /** Deploying to, cancelling in or approving for a production environment needs the admin role. */
  productionRequiresAdmin: boolean;
}

export type AccessDecision = { allowed: true } | { allowed: false; status: 401 | 403; reason: string };

/** The actions each role holds (everywhere its environment scope reaches). */
export const ROLE_ACTIONS: Readonly<Record<Role, readonly Action[]>> = {
  // Planning only computes what a deployment would do, so a viewer may look before asking an operator.
  viewer: ["read", "plan"],
  operator: ["read", "plan", "deploy", "cancel", "approve", "optimize"],
  admin: ACTIONS,
};

/** Actions that production can reserve to admins (policy.productionRequiresAdmin). */
const PRODUCTION_GUARDED: readonly Action[] = ["deploy", "cancel", "approve"];
const guardedList = `${PRODUCTION_GUARDED.slice(0, -1).join(", ")} and ${PRODUCTION_GUARDED.at(-1) ?? ""}`;

/** How a principal is named in reasons and audit records: `user alice@acme.dev` or `key "ci" (k_1a2b)`. */
export function describePrincipal(principal: Principal): string {
  return principal.kind === "user"
    ? `user ${principal.email ?? principal.uid}`
    : `key "${principal.label}" (${principal.keyId})`;
}

/** Whether the principal's environment scope reaches `environment` (null scope = every environment). */
export function inScope(principal: Principal, environment: string): boolean {
  return principal.environments === null || principal.environments.includes(environment);
}

/**
 * Decides whether `principal` may do `action` (on `target`, when the action touches one environment).
 * No principal → 401. Otherwise 403 when the role does not hold the action, when the target is
 * outside the principal's environment scope (applies to every role), or when the policy reserves
 * production deploy/cancel to admins. Without a target the scope is not checked: callers listing
 * several environments filter them with `inScope`.
 */
export function authorize(
  principal: Principal | undefined,
  action: Action,
  target?: AccessTarget,
  policy?: AccessPolicy,
): AccessDecision {
  if (!principal) {
    return {
      allowed: false,
      status: 401,
      reason: `${action} needs authentication: send "Authorization: Bearer <Firebase ID token>" or "X-Api-Key: <key>"`,
    };
  }
  const who = `${describePrincipal(principal)} (role ${principal.role})`;
  const where = target ? ` in environment "${target.environment}" (${target.type})` : "";
  const deny = (why: string): AccessDecision => ({
    allowed: false,
    status: 403,
    reason: `${who} may not ${action}${where}: ${why}`,
  });

  const held = ROLE_ACTIONS[principal.role];
  if (!held.includes(action)) {
    const needed = ROLES.filter((role) => ROLE_ACTIONS[role].includes(action));
    return deny(`role ${principal.role} allows ${held.join(", ")}; ${action} needs ${needed.join(" or ")}`);
  }
  if (target && !inScope(principal, target.environment)) {
    return deny(`its environments are ${(principal.environments ?? []).join(", ") || "none"}`);
  }
  if (
    (target?.type === "production" || target?.type === "unknown") &&
    policy?.productionRequiresAdmin === true &&
    PRODUCTION_GUARDED.includes(action) &&
    principal.role !== "admin"
  ) {
    return deny(
      target.type === "unknown"
        ? `its type is unknown (not in the config, or the config could not be read), so it is treated as production, and production requires admin for ${guardedList}`
        : `production requires admin for ${guardedList}`,
    );
  }
  return { allowed: true };
}
