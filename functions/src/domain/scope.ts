/**
 * What a caller scoped to some environments may see of lists and aggregates: every route that
 * answers about several environments filters through here, so a person scoped to one environment
 * never learns about another. Pure.
 */
import { describePrincipal, inScope, type Principal } from "./access.js";
import type { History } from "./optimize.js";

/** True when the principal sees every environment (no scope). */
export function unscoped(principal: Principal | undefined): boolean {
  return principal !== undefined && principal.environments === null;
}

/**
 * The environments a read of the warehouse covers: the one asked for (the route has checked it is
 * in scope), else every one (null) for an unscoped caller, else the caller's own (none without a
 * principal).
 */
export function readScope(principal: Principal | undefined, environment?: string): string[] | null {
  if (environment !== undefined) return [environment];
  return unscoped(principal) ? null : [...(principal?.environments ?? [])];
}

/** The items whose `environment` the principal's scope reaches (nothing without a principal). */
export function withinScope<T extends { environment: string }>(
  principal: Principal | undefined,
  items: readonly T[],
): T[] {
  return principal ? items.filter((item) => inScope(principal, item.environment)) : [];
}

/** The names the principal's scope reaches, in their order. */
export function namesWithinScope(principal: Principal | undefined, names: readonly string[]): string[] {
  return principal ? names.filter((name) => inScope(principal, name)) : [];
}

/** The names outside the principal's scope: a request naming any of them is refused. */
export function outsideScope(principal: Principal | undefined, names: readonly string[]): string[] {
  return principal ? names.filter((name) => !inScope(principal, name)) : [...names];
}

/** The refusal for names outside the scope: who, which environments, what the scope is. */
export function outsideScopeReason(principal: Principal, names: readonly string[]): string {
  return `${describePrincipal(principal)} (role ${principal.role}) may not see environment(s) ${names.join(", ")}: its environments are ${(principal.environments ?? []).join(", ") || "none"}`;
}

/** A history limited to what the principal's scope reaches: deployments, their tasks, integrations, alerts. */
export function historyWithinScope(principal: Principal | undefined, history: History): History {
  if (unscoped(principal)) return history;
  const deployments = withinScope(principal, history.deployments);
  const kept = new Set(deployments.map((deployment) => deployment.id));
  return {
    ...history,
    deployments,
    tasks: history.tasks.filter((task) => kept.has(task.deployment_id)),
    integrations: withinScope(principal, history.integrations),
    alerts: withinScope(principal, history.alerts),
  };
}
