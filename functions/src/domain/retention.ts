/**
 * Firestore keeps hot state only: a record that has ended (a task or deployment that finished, an
 * alert resolved, a job run done) carries `expire_at`, the time Firestore's TTL policy may delete it,
 * `base.schedules.retention_days` after it ended. A record still live never has one (null or
 * absent), so TTL never deletes what the engine, the health monitor or the job runner still works
 * on. The warehouse keeps the long-term record (events 90 days, audit records a year). Pure.
 */
import { z } from "zod";
import type { AlertDoc } from "./model.js";
import { SCHEDULE_DEFAULTS } from "./schedules.js";

const DAY_MS = 86_400_000;

/** The field Firestore's TTL policies read, on every collection group that has one. */
export const EXPIRE_AT = "expire_at";

/** When a record that ended at `end` expires: `days` whole days later. */
export function expiryAfter(end: Date, days: number): Date {
  return new Date(end.getTime() + days * DAY_MS);
}

/** A resolved alert expires `days` after it was resolved; an open alert never does (null). */
export function alertExpireAt(
  alert: { status: "open" | "resolved"; resolved_at: Date | null; last_seen_at: Date },
  days: number,
): Date | null {
  return alert.status === "resolved" ? expiryAfter(alert.resolved_at ?? alert.last_seen_at, days) : null;
}

/** An alert resolved at `now`: it expires `days` later. */
export function resolvedAlert(alert: AlertDoc, now: Date, days: number): AlertDoc {
  const resolved = { ...alert, status: "resolved" as const, resolved_at: now, last_seen_at: now };
  return { ...resolved, expire_at: alertExpireAt(resolved, days) };
}

/** An alert as it is written: a resolved one with its expiry, an open one without any. */
export function withAlertExpiry(alert: AlertDoc, days: number): AlertDoc {
  const { expire_at: _dropped, ...rest } = alert;
  const expireAt = alertExpireAt(alert, days);
  return expireAt === null ? rest : { ...rest, expire_at: expireAt };
}

/** A job run expires `days` after it finished (or was recorded missed or skipped); a running one never does. */
export function jobRunExpireAt(
  run: { outcome: string; finished_at: Date | null },
  days: number,
): Date | null {
  return run.outcome === "running" || run.finished_at === null ? null : expiryAfter(run.finished_at, days);
}

/**
 * A task or deployment that reached a terminal state expires `days` after it completed; one still
 * live, or one without a retention (written before retention was kept), gets none.
 */
export function endedExpireAt(
  ended: boolean,
  completedAt: Date | null,
  days: number | null | undefined,
): Date | null {
  return ended && completedAt !== null && days !== null && days !== undefined
    ? expiryAfter(completedAt, days)
    : null;
}

const storedRetention = z.object({
  base: z.object({
    schedules: z.object({ retention_days: z.int().min(1).optional() }).optional(),
  }),
});

/**
 * `base.schedules.retention_days` of a stored config as loaded (`orchestration_config/current`'s
 * `config_data`, validated when it was loaded); the default when none is loaded or none is set.
 */
export function retentionDaysOf(configData: unknown): number {
  const parsed = storedRetention.safeParse(configData);
  return (
    (parsed.success ? parsed.data.base.schedules?.retention_days : undefined) ??
    SCHEDULE_DEFAULTS.retention_days
  );
}
