/**
 * Notification channels for alerts (issue 18): a webhook (Slack, Google Chat or anything that takes
 * a JSON POST) or email through the `mail` collection the Firebase Trigger Email extension reads.
 * Pure: the channel schema, which channels an alert goes to, the dedupe key of one delivery, the
 * rate limit, and what is sent.
 */
import { z } from "zod";
import { isSecretReference, SECRET_REFERENCE_FORMAT } from "./secrets.js";

/** A webhook's URL: plain when it holds no credential, or a Secret Manager reference resolved when it is sent. */
const webhookUrl = z
  .string()
  .refine((value) => isSecretReference(value) || /^https?:\/\/[^\s]+$/.test(value), {
    error: `an http(s) URL, or a Secret Manager reference ${SECRET_REFERENCE_FORMAT} when the URL holds a credential`,
  });

export const channelSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("webhook"), url: webhookUrl }),
  z.strictObject({ type: z.literal("email"), to: z.array(z.email()).min(1).max(20) }),
]);
export type Channel = z.infer<typeof channelSchema>;

/** `base.notifications` in the config: the named channels, and how many deliveries each may make an hour. */
export const notificationsConfigSchema = z.strictObject({
  channels: z.record(
    z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, { error: "1-40 lowercase letters, digits or hyphens" }),
    channelSchema,
  ),
  max_per_hour: z.int().min(1).max(10_000).optional(),
});

export const DEFAULT_MAX_PER_HOUR = 30;

export interface NotificationsConfig {
  channels: Record<string, Channel>;
  max_per_hour: number;
}

/** What happened to an alert, as the health check and the deployment finisher say it. */
export const ALERT_CHANGES = ["opened", "escalated", "resolved", "raised"] as const;
export type AlertChange = (typeof ALERT_CHANGES)[number];

export const DELIVERY_STATUSES = ["sending", "sent", "queued", "failed", "rate_limited", "skipped"] as const;

/** `notifications/{id}`: one delivery of one alert change to one channel, and how it went. */
export const deliveryDocSchema = z.strictObject({
  channel: z.string(),
  type: z.enum(["webhook", "email", "unknown"]),
  alert_id: z.string(),
  change: z.enum(ALERT_CHANGES),
  level: z.enum(["critical", "warning", "info"]),
  environment: z.string(),
  status: z.enum(DELIVERY_STATUSES),
  /** The webhook's HTTP status, when it answered. */
  http_status: z.int().nullable(),
  /** Why it failed or was not sent (never a URL that came from a secret). */
  detail: z.string().nullable(),
  created_at: z.date(),
  delivered_at: z.date().nullable(),
});
export type DeliveryDoc = z.infer<typeof deliveryDocSchema>;

/**
 * One delivery per alert, change, level and channel: the id is the dedupe key, so a second check
 * or a duplicate trigger that reports the same change finds it taken and sends nothing.
 */
export function deliveryId(alertId: string, change: AlertChange, level: string, channel: string): string {
  return `${alertId}__${change}__${level}__${channel}`.replace(/\//g, "_");
}

/** Whether a channel that made `sentLastHour` deliveries in the last hour may make one more. */
export function withinRateLimit(sentLastHour: number, maxPerHour: number): boolean {
  return sentLastHour < maxPerHour;
}

/** What a webhook receives and an email says. */
export interface AlertNotice {
  alert_id: string;
  change: AlertChange;
  level: "critical" | "warning" | "info";
  status: "open" | "resolved";
  environment: string;
  integration: string | null;
  deployment_id: string | null;
  message: string;
  at: string;
}

/** The webhook body: the notice, plus `text` for Slack and Google Chat, which show that field. */
export function webhookBody(notice: AlertNotice): Record<string, unknown> {
  return { text: `[${notice.level}] ${notice.change}: ${notice.message}`, ...notice };
}

/** A Trigger Email extension document (`mail/{id}`): `to` and `message.subject` / `message.text`. */
export function mailDocument(to: readonly string[], notice: AlertNotice) {
  return {
    to: [...to],
    message: {
      subject: `[${notice.level}] ${notice.environment}: alert ${notice.change}`,
      text: `${notice.message}\n\nalert ${notice.alert_id}, ${notice.change} at ${notice.at}`,
    },
  };
}
