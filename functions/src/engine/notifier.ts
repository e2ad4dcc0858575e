/**
 * Sends alert changes to the notification channels an environment's monitoring lists: a webhook
 * (JSON POST; its URL resolved from Secret Manager at send time when it is a reference) or an email
 * through the Trigger Email extension's `mail` collection. Every delivery is a `notifications/{id}`
 * document created before anything is sent: its id is the dedupe key (a second report of the same
 * change sends nothing), the channel's hourly limit is checked against those documents, and the
 * document records how the delivery went.
 */
import type { Firestore } from "firebase-admin/firestore";
import type { Clock } from "../app.js";
import type { AlertDoc } from "../domain/model.js";
import {
  deliveryDocSchema,
  deliveryId,
  mailDocument,
  webhookBody,
  withinRateLimit,
  type AlertChange,
  type AlertNotice,
  type DeliveryDoc,
} from "../domain/notifications.js";
import { isSecretReference } from "../domain/secrets.js";
import type { Logger } from "../logs.js";
import type { SecretResolver } from "../store/secret-store.js";
import { typedCollection } from "../store/typed-collection.js";
import type { EnvironmentResolver } from "./environments.js";

export const NOTIFICATIONS = "notifications";
/** The collection the Firebase Trigger Email extension sends from. */
export const MAIL = "mail";

/** How long a webhook may take to answer. */
const WEBHOOK_TIMEOUT_MS = 5_000;

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

export function createNotifier(deps: {
  db: Firestore;
  environments: EnvironmentResolver;
  secrets: SecretResolver;
  clock: Clock;
  log: Logger;
}) {
  const { db, clock, log } = deps;
  const deliveries = typedCollection(db, NOTIFICATIONS, deliveryDocSchema);

  /** The channel names the environment's monitoring lists (none when it has no monitoring). */
  async function channelsOf(environment: string): Promise<string[]> {
    try {
      const env = await deps.environments.environment(environment);
      const monitoring = env.integrations.find((integration) => integration.kind === "monitoring");
      return monitoring?.kind === "monitoring" ? monitoring.settings.notification_channels : [];
    } catch {
      // An environment no longer declared (a deployment alert after a config change) has no channels.
      return [];
    }
  }

  async function sentLastHour(channel: string, now: Date): Promise<number> {
    const snap = await deliveries
      .where("channel", "==", channel)
      .where("created_at", ">", new Date(now.getTime() - 3_600_000))
      .count()
      .get();
    return snap.data().count;
  }

  async function webhook(url: string, notice: AlertNotice): Promise<{ status: number }> {
    const target = isSecretReference(url) ? await deps.secrets.resolve(url) : url;
    const response = await fetch(target, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(webhookBody(notice)),
      signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
    });
    await response.arrayBuffer();
    return { status: response.status };
  }

  /** Delivers one alert change to one channel, at most once. */
  async function deliver(
    channel: string,
    notice: AlertNotice,
    config: Awaited<ReturnType<EnvironmentResolver["config"]>>,
  ): Promise<DeliveryDoc["status"] | "duplicate"> {
    const now = clock.now();
    const id = deliveryId(notice.alert_id, notice.change, notice.level, channel);
    const definition = config.notifications.channels[channel];
    const base: DeliveryDoc = {
      channel,
      type: definition?.type ?? "unknown",
      alert_id: notice.alert_id,
      change: notice.change,
      level: notice.level,
      environment: notice.environment,
      status: "sending",
      http_status: null,
      detail: null,
      created_at: now,
      delivered_at: null,
    };
    const limited = !withinRateLimit(await sentLastHour(channel, now), config.notifications.max_per_hour);
    const first: DeliveryDoc = !definition
      ? {
          ...base,
          status: "skipped",
          detail: `channel "${channel}" is not defined in base.notifications.channels`,
        }
      : limited
        ? {
            ...base,
            status: "rate_limited",
            detail: `channel "${channel}" made ${config.notifications.max_per_hour} deliveries in the last hour`,
          }
        : base;
    try {
      await deliveries.doc(id).create(first);
    } catch {
      return "duplicate"; // this change was already delivered (or is being delivered) to this channel
    }
    if (first.status !== "sending" || !definition) return first.status;
    let outcome: DeliveryDoc;
    if (definition.type === "email") {
      // Written under the delivery's own id: the extension sends it once.
      await db.collection(MAIL).doc(id).set(mailDocument(definition.to, notice));
      outcome = { ...first, status: "queued", delivered_at: clock.now() };
    } else {
      try {
        const { status } = await webhook(definition.url, notice);
        outcome = {
          ...first,
          status: status >= 200 && status < 300 ? "sent" : "failed",
          http_status: status,
          detail: status >= 200 && status < 300 ? null : `the webhook answered ${status}`,
          delivered_at: clock.now(),
        };
      } catch (error) {
        // The message of a failed fetch can quote the URL: only its kind is kept.
        const name = error instanceof Error ? error.name : "Error";
        outcome = { ...first, status: "failed", detail: `the webhook could not be reached (${name})` };
        log.warn("webhook delivery failed", { channel, alert_id: notice.alert_id, error: name });
      }
    }
    await deliveries.doc(id).set(outcome);
    return outcome.status;
  }

  return {
    /** Sends an alert change to every channel of its environment; answers each channel's outcome. */
    async notify(alertId: string, alert: AlertDoc, change: AlertChange): Promise<Record<string, string>> {
      const channels = await channelsOf(alert.environment);
      if (channels.length === 0) return {};
      const config = await deps.environments.config();
      const notice: AlertNotice = {
        alert_id: alertId,
        change,
        level: alert.level,
        status: alert.status,
        environment: alert.environment,
        integration: alert.integration,
        deployment_id: alert.deployment_id,
        message: alert.message,
        at: clock.now().toISOString(),
      };
      const outcomes: Record<string, string> = {};
      for (const channel of channels) {
        try {
          outcomes[channel] = await deliver(channel, notice, config);
        } catch (error) {
          outcomes[channel] = "failed";
          log.error("notification failed", { channel, alert_id: alertId, error: errorText(error) });
        }
      }
      return outcomes;
    },
  };
}

export type Notifier = ReturnType<typeof createNotifier>;
