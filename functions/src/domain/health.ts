/** Health rules: how checks roll up, and when an alert opens, escalates or resolves (one alert per incident). */
import type { HealthRecord } from "./model.js";

export const ALERT_LEVELS = ["critical", "warning", "info"] as const;
export type AlertLevel = (typeof ALERT_LEVELS)[number];

/** The worst status wins: one integration down makes its environment down. */
export function rollUp(
  statuses: readonly HealthRecord["status"][],
): "healthy" | "degraded" | "down" | "unknown" {
  if (statuses.length === 0) return "unknown";
  if (statuses.includes("down")) return "down";
  if (statuses.includes("degraded")) return "degraded";
  return "healthy";
}

/** What an unhealthy status is worth: down is critical, degraded a warning. */
export function levelFor(status: HealthRecord["status"]): AlertLevel | undefined {
  if (status === "down") return "critical";
  if (status === "degraded") return "warning";
  return undefined;
}

export type AlertDecision =
  | { action: "none" }
  | { action: "open"; level: AlertLevel }
  | { action: "escalate"; level: AlertLevel }
  | { action: "resolve" };

/**
 * Given the open alert of an integration (if any) and a new health check: open an alert when
 * health has been lost for `afterChecks` consecutive checks, escalate when it gets worse, resolve when it returns, and otherwise nothing,
 * so a persisting problem is one alert, not one per check.
 */
export function decideAlert(
  open: { level: AlertLevel } | undefined,
  health: Pick<HealthRecord, "status">,
  duration: { unhealthyChecks: number; afterChecks: number } = { unhealthyChecks: 1, afterChecks: 1 },
): AlertDecision {
  const level = levelFor(health.status);
  if (!open) {
    // One bad probe is not an incident: it opens after `afterChecks` unhealthy checks in a row.
    return level && duration.unhealthyChecks >= duration.afterChecks
      ? { action: "open", level }
      : { action: "none" };
  }
  if (!level) return { action: "resolve" };
  if (level === "critical" && open.level !== "critical") return { action: "escalate", level };
  return { action: "none" };
}
